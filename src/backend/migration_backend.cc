#include "src/backend/migration_backend.h"

namespace vc {

bool MigrationSample::finished() const {
  return status == "completed" || status == "failed" || status == "cancelled";
}
bool MigrationSample::running() const {
  return !status.empty() && status != "none" && !finished();
}
bool MigrationSample::in_postcopy() const { return status.rfind("postcopy", 0) == 0; }
uint64_t MigrationSample::bulk_unsent() const {
  return ram_visited > 0 && ram_visited < ram_total ? ram_total - ram_visited : 0;
}

}  // namespace vc
