#include "src/backend/migration_backend.h"

namespace vc {

bool MigrationSample::finished() const {
  return status == "completed" || status == "failed" || status == "cancelled";
}
bool MigrationSample::running() const {
  return !status.empty() && status != "none" && !finished();
}
bool MigrationSample::in_postcopy() const { return status.rfind("postcopy", 0) == 0; }
bool MigrationSample::switching_over() const {
  if (status == "device" || status == "pre-switchover") return true;
  return status == "active" && (source_completed || (ram_total > 0 && ram_transferred > 0 && ram_remaining == 0));
}
uint64_t MigrationSample::bulk_unsent() const {
  return ram_visited > 0 && ram_visited < ram_total ? ram_total - ram_visited : 0;
}

MigrationTuning StartTuning(const MigrationStart& start) {
  MigrationTuning t;
  t.downtime_limit_ms = start.tuning.downtime_limit_ms;
  t.max_bandwidth = start.tuning.max_bandwidth;
  if (start.auto_converge) {
    t.throttle_initial = start.throttle_initial;
    t.throttle_increment = start.throttle_increment;
    t.throttle_max = start.throttle_max;
    t.throttle_tailslow = start.throttle_tailslow;
  }
  if (start.compression == "xbzrle") t.xbzrle_cache = start.xbzrle_cache;
  return t;
}

}  // namespace vc
