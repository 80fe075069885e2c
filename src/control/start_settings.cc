#include "src/control/start_settings.h"

#include "src/policy/values.h"

namespace vc {

MigrationStart StartFromPolicy(const policy::Policy& p) {
  MigrationStart start;
  start.postcopy = p.postcopy.value;
  start.postcopy_preempt = p.postcopy.value && p.postcopy_preempt.value;
  start.auto_converge = p.auto_converge.value;
  start.dirty_limit = p.dirty_limit.value;
  start.throttle_initial = p.throttle_initial.value;
  start.throttle_increment = p.throttle_increment.value;
  start.throttle_max = p.throttle_max.value;
  start.throttle_tailslow = p.throttle_tailslow.value;
  start.compression = policy::FormatCompression(p.compression.value);
  start.xbzrle_cache = p.xbzrle_cache.value;
  start.compression_level = p.compression_level.value;
  start.multifd_channels = p.multifd_channels.value;
  if (p.postcopy_bandwidth.value) start.postcopy_bandwidth = p.postcopy_bandwidth.value;
  if (p.bandwidth.value) start.tuning.max_bandwidth = p.bandwidth.value;
  start.tuning.downtime_limit_ms = p.downtime.value;
  return start;
}

}  // namespace vc
