#include "src/control/stall_detector.h"

namespace vc {

std::optional<Stall> StallDetector::Update(const MigrationSample& s, bool after_sync) {
  if (s.pass < 2) return std::nullopt;
  if (after_sync && s.pass != last_pass_) {
    const uint64_t passes = last_pass_ ? s.pass - last_pass_ : 1;
    last_pass_ = s.pass;
    const double bar =
        min_remaining_ ? static_cast<double>(*min_remaining_) * (1.0 - config_.tolerance) : 0;
    if (!min_remaining_ || static_cast<double>(s.ram_remaining) < bar) {
      min_remaining_ = s.ram_remaining;
      min_pass_ = s.pass;
      window_start_ms_ = s.total_time_ms;
      passes_since_min_ = 0;
      return std::nullopt;
    }
    passes_since_min_ += passes;
  }
  if (!min_remaining_) return std::nullopt;
  const int64_t ms = s.total_time_ms - window_start_ms_;
  const bool by_passes = passes_since_min_ >= static_cast<uint64_t>(config_.passes);
  const bool by_time = config_.time_ms > 0 && ms >= config_.time_ms;
  if (!by_passes && !by_time) return std::nullopt;
  Stall stall{*min_remaining_, min_pass_, passes_since_min_, ms};
  passes_since_min_ = 0;
  window_start_ms_ = s.total_time_ms;
  return stall;
}

}  // namespace vc
