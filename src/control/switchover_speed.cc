#include "src/control/switchover_speed.h"

#include <algorithm>
#include <cmath>

#include "src/base/units.h"

namespace vc {

namespace {

// Copies at least 1/kLikeSize of a size predict it; a size more than
// kLikeSize times the largest copy is an extrapolation.
constexpr double kLikeSize = 4;
// The assumed speed is 1/kShare of the slowest like copy's.
constexpr double kShare = 2;

}  // namespace

SwitchoverSpeed SwitchoverSpeed::Stated(double rate) {
  SwitchoverSpeed s;
  s.stated_ = std::max(rate, 0.0);
  return s;
}

SwitchoverSpeed SwitchoverSpeed::Learned(std::vector<SwitchoverCopy> copies) {
  SwitchoverSpeed s;
  std::erase_if(copies, [](const SwitchoverCopy& c) { return c.bytes == 0 || c.downtime_ms <= 0; });
  std::sort(copies.begin(), copies.end(),
            [](const SwitchoverCopy& a, const SwitchoverCopy& b) { return a.bytes < b.bytes; });
  s.copies_ = std::move(copies);
  return s;
}

double SwitchoverSpeed::RawTimeMs(double bytes) const {
  const SwitchoverCopy& largest = copies_.back();
  const double largest_bytes = static_cast<double>(largest.bytes);
  if (bytes > largest_bytes * kLikeSize) {
    // Trusted the less the further it is from anything seen.
    return bytes * 1000 / (largest.rate() / kShare * std::sqrt(largest_bytes / bytes));
  }
  double slowest = 0;
  for (const SwitchoverCopy& c : copies_) {
    if (static_cast<double>(c.bytes) * kLikeSize < bytes) continue;
    slowest = slowest > 0 ? std::min(slowest, c.rate()) : c.rate();
  }
  return bytes * 1000 / (slowest / kShare);
}

double SwitchoverSpeed::TimeMs(double bytes) const {
  if (bytes <= 0) return 0;
  if (stated_ > 0) return bytes * 1000 / stated_;
  if (copies_.empty()) return 0;
  // Past kLikeSize times a copy, that copy no longer counts and the raw
  // figure may drop; the time there is the least for anything larger.
  double ms = RawTimeMs(bytes);
  for (const SwitchoverCopy& c : copies_) {
    const double edge = static_cast<double>(c.bytes) * kLikeSize;
    if (edge < bytes) ms = std::max(ms, RawTimeMs(edge));
  }
  return ms;
}

double SwitchoverSpeed::RateFor(double bytes) const {
  if (!known()) return 0;
  if (stated_ > 0) return stated_;
  const double b = std::max(bytes, 1.0);
  return b * 1000 / TimeMs(b);
}

double SwitchoverSpeed::BytesWithin(double ms) const {
  if (!known() || ms <= 0) return 0;
  if (stated_ > 0) return stated_ * ms / 1000;
  // TimeMs never falls with size: double until it is too long, then bisect.
  double high = 1;
  while (TimeMs(high) <= ms && high < 1e18) high *= 2;
  double low = high >= 2 ? high / 2 : 0;
  for (int i = 0; i < 64 && high - low > 1; i++) {
    const double mid = (low + high) / 2;
    (TimeMs(mid) <= ms ? low : high) = mid;
  }
  return low;
}

std::string SwitchoverSpeed::Describe() const {
  if (stated_ > 0) return FormatRate(stated_) + " stated";
  if (copies_.empty()) return "unknown";
  const size_t n = copies_.size();
  std::string out = "learned from " + std::to_string(n) + " final cop" + (n == 1 ? "y" : "ies") + " of " +
                    FormatBytes(static_cast<double>(copies_.front().bytes));
  if (n > 1) out += " to " + FormatBytes(static_cast<double>(copies_.back().bytes));
  return out;
}

}  // namespace vc
