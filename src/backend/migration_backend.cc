#include "src/backend/migration_backend.h"

namespace vc {

bool MigrationSample::finished() const {
  return status == "completed" || status == "failed" || status == "cancelled";
}
bool MigrationSample::running() const {
  return !status.empty() && status != "none" && !finished();
}
bool MigrationSample::in_postcopy() const { return status.rfind("postcopy", 0) == 0; }

}  // namespace vc
