#include "src/backend/qmp_tuning.h"

namespace vc {

MigrationTuning TuningOf(const qmp::MigrationParameters& p) {
  MigrationTuning t;
  t.downtime_limit_ms = p.downtime_limit;
  if (p.max_bandwidth) t.max_bandwidth = static_cast<uint64_t>(*p.max_bandwidth);
  t.throttle_initial = p.cpu_throttle_initial;
  t.throttle_increment = p.cpu_throttle_increment;
  t.throttle_max = p.max_cpu_throttle;
  t.throttle_tailslow = p.cpu_throttle_tailslow;
  t.throttle_trigger = p.throttle_trigger_threshold;
  if (p.xbzrle_cache_size) t.xbzrle_cache = static_cast<uint64_t>(*p.xbzrle_cache_size);
  if (p.vcpu_dirty_limit) t.vcpu_dirty_limit = static_cast<uint64_t>(*p.vcpu_dirty_limit);
  if (p.avail_switchover_bandwidth) {
    t.avail_switchover_bandwidth = static_cast<uint64_t>(*p.avail_switchover_bandwidth);
  }
  return t;
}

qmp::MigrationParameters ParametersOf(const MigrationTuning& t) {
  qmp::MigrationParameters p;
  p.downtime_limit = t.downtime_limit_ms;
  if (t.max_bandwidth) p.max_bandwidth = static_cast<int64_t>(*t.max_bandwidth);
  p.cpu_throttle_initial = t.throttle_initial;
  p.cpu_throttle_increment = t.throttle_increment;
  p.max_cpu_throttle = t.throttle_max;
  p.cpu_throttle_tailslow = t.throttle_tailslow;
  p.throttle_trigger_threshold = t.throttle_trigger;
  if (t.xbzrle_cache) p.xbzrle_cache_size = static_cast<int64_t>(*t.xbzrle_cache);
  if (t.vcpu_dirty_limit) p.vcpu_dirty_limit = static_cast<int64_t>(*t.vcpu_dirty_limit);
  if (t.avail_switchover_bandwidth) {
    p.avail_switchover_bandwidth = static_cast<int64_t>(*t.avail_switchover_bandwidth);
  }
  return p;
}

}  // namespace vc
