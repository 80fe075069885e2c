#include "src/control/switchover_speed.h"

#include <algorithm>
#include <cstdint>

#include "src/base/units.h"

namespace vc {

namespace {

// Copies at least 1/kLikeSize of a size predict it; a size more than
// kLikeSize times a pool's largest copy is predicted by that copy.
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
  for (SwitchoverCopy& c : copies) (c.mostly_never_sent() ? s.never_sent_ : s.resent_).push_back(c);
  return s;
}

double SwitchoverSpeed::PoolTimeMs(const Pool& pool, double bytes) {
  if (pool.empty()) return 0;
  // Half the slowest of the copies like it or larger; beyond kLikeSize
  // times the largest, half the largest's speed.
  const auto raw_ms = [&pool](double b) {
    double slowest = 0;
    for (const SwitchoverCopy& c : pool) {
      if (static_cast<double>(c.bytes) * kLikeSize < b) continue;
      slowest = slowest > 0 ? std::min(slowest, c.rate()) : c.rate();
    }
    if (slowest <= 0) slowest = pool.back().rate();
    return b * 1000 / (slowest / kShare);
  };
  // Past kLikeSize times a copy, that copy no longer counts and the raw
  // figure may drop; the time there is the least for anything larger.
  double ms = raw_ms(bytes);
  for (const SwitchoverCopy& c : pool) {
    const double edge = static_cast<double>(c.bytes) * kLikeSize;
    if (edge < bytes) ms = std::max(ms, raw_ms(edge));
  }
  return ms;
}

double SwitchoverSpeed::PartTimeMs(const Pool& pool, double bytes, double least_rate) {
  const double at_least = least_rate > 0 ? bytes * 1000 / least_rate : -1;
  if (pool.empty()) return at_least;
  const double ms = PoolTimeMs(pool, bytes);
  return at_least >= 0 ? std::min(ms, at_least) : ms;
}

double SwitchoverSpeed::TimeMs(double bytes, double never_sent_share, double least_rate) const {
  if (bytes <= 0) return 0;
  if (stated_ > 0) return bytes * 1000 / std::max(stated_, least_rate);
  if (!learned()) return least_rate > 0 ? bytes * 1000 / least_rate : 0;
  const double share = std::clamp(never_sent_share, 0.0, 1.0);
  double ms = 0;
  if (share < 1) {
    // Re-sent pages with no re-sent copy learned: the never-sent pool's
    // speed, the slower kind.
    const double t = PartTimeMs(resent_.empty() ? never_sent_ : resent_, bytes, least_rate);
    if (t < 0) return 0;
    ms += (1 - share) * t;
  }
  if (share > 0) {
    const double t = PartTimeMs(never_sent_, bytes, least_rate);
    if (t < 0) return 0;
    ms += share * t;
  }
  return ms;
}

double SwitchoverSpeed::TimeMs(const SwitchoverCopy& copy, double least_rate) const {
  if (copy.bytes == 0) return 0;
  const double bytes = static_cast<double>(copy.bytes);
  return TimeMs(bytes, copy.never_sent ? static_cast<double>(*copy.never_sent) / bytes : 0, least_rate);
}

double SwitchoverSpeed::RateFor(double bytes, double never_sent_share, double least_rate) const {
  if (stated_ > 0) return std::max(stated_, least_rate);
  const double b = std::max(bytes, 1.0);
  const double ms = TimeMs(b, never_sent_share, least_rate);
  return ms > 0 ? b * 1000 / ms : 0;
}

template <typename TimeFn>
double SwitchoverSpeed::LargestWithin(double ms, const TimeFn& time_ms) {
  if (ms <= 0 || time_ms(1) <= 0) return 0;  // unknown
  // The time never falls with size: double until it is too long, then bisect.
  double high = 1;
  while (time_ms(high) <= ms && high < 1e18) high *= 2;
  double low = high >= 2 ? high / 2 : 0;
  for (int i = 0; i < 64 && high - low > 1; i++) {
    const double mid = (low + high) / 2;
    (time_ms(mid) <= ms ? low : high) = mid;
  }
  return low;
}

double SwitchoverSpeed::BytesWithin(double ms, double never_sent_share, double least_rate) const {
  if (ms <= 0) return 0;
  if (stated_ > 0) return std::max(stated_, least_rate) * ms / 1000;
  return LargestWithin(ms, [&](double b) { return TimeMs(b, never_sent_share, least_rate); });
}

double SwitchoverSpeed::WorstTimeMs(double bytes, double never_sent_at_most, double least_rate) const {
  if (bytes <= 0) return 0;
  const double most = std::clamp(never_sent_at_most / bytes, 0.0, 1.0);
  const double none = TimeMs(bytes, 0, least_rate);
  if (most <= 0) return none;
  const double all = TimeMs(bytes, most, least_rate);
  return none > 0 && all > 0 ? std::max(none, all) : 0;
}

double SwitchoverSpeed::WorstBytesWithin(double ms, double never_sent_at_most, double least_rate) const {
  if (ms <= 0) return 0;
  if (stated_ > 0) return std::max(stated_, least_rate) * ms / 1000;
  return LargestWithin(ms, [&](double b) { return WorstTimeMs(b, never_sent_at_most, least_rate); });
}

std::string SwitchoverSpeed::Describe() const {
  if (stated_ > 0) return FormatRate(stated_) + " stated";
  if (!learned()) return "unknown";
  const size_t n = resent_.size() + never_sent_.size();
  const auto smallest = [](const Pool& p) { return p.empty() ? UINT64_MAX : p.front().bytes; };
  const auto largest = [](const Pool& p) { return p.empty() ? 0 : p.back().bytes; };
  const uint64_t low = std::min(smallest(resent_), smallest(never_sent_));
  const uint64_t high = std::max(largest(resent_), largest(never_sent_));
  std::string out = "learned from " + std::to_string(n) + " final cop" + (n == 1 ? "y" : "ies") + " of " +
                    FormatBytes(static_cast<double>(low));
  if (n > 1) out += " to " + FormatBytes(static_cast<double>(high));
  if (!never_sent_.empty()) {
    out += ", " + (n == 1 ? std::string("it") : std::to_string(never_sent_.size()) + " of them") +
           " mostly pages never sent before";
  }
  return out;
}

}  // namespace vc
