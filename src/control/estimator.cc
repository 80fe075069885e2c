#include "src/control/estimator.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "src/base/units.h"

namespace vc {

namespace {

// Bandwidth follows bytes sent with a ~3 s time constant: long enough to
// ride over QEMU's 100 ms windows, short enough to see a new cap at once.
constexpr double kBandwidthTauMs = 3000;
// QEMU's rate limit hands out max-bandwidth in 100 ms slices, each sent as
// a burst at its start, so bytes over a few ms read as many times the cap:
// the first 8 ms of a migration capped at 32 MiB/s "ran" at 400 MB/s, and
// that seed kept the smoothed figure above 160 MiB/s for 3 s. A rate is
// taken over at least this much time.
constexpr int64_t kMinRateWindowMs = 500;
// Each sync's dirty rate is weighed half against the history.
constexpr double kDirtyWeight = 0.5;

// A sync with more than this share of what remains still unsent from the
// bulk pass cut that pass short (see BulkCutShort).
constexpr double kBulkLeftShare = 0.25;

// QEMU syncs the dirty bitmap once what remains is under bandwidth x
// downtime-limit. Under a large limit (the switch-over correction) that
// happens inside the bulk pass, and the ratio of a pass cut short reads
// low: it says nothing of how fast the guest dirties.
bool BulkCutShort(const MigrationSample& s) {
  return static_cast<double>(s.bulk_unsent()) > kBulkLeftShare * static_cast<double>(s.ram_remaining);
}

int64_t MsFor(double bytes, double rate) {
  if (rate <= 0) return bytes > 0 ? INT64_MAX / 4 : 0;
  return static_cast<int64_t>(std::ceil(bytes * 1000.0 / rate));
}

}  // namespace

void Estimator::Update(const MigrationSample& s, bool after_sync) {
  if (!s.running() || s.in_postcopy()) return;
  // Bandwidth: bytes really sent since the window began.
  if (!window_start_ || s.total_time_ms < window_start_->total_time_ms ||
      s.ram_transferred < window_start_->ram_transferred) {
    window_start_ = s;  // the first sample, or counters that went back
  } else if (s.total_time_ms - window_start_->total_time_ms >= kMinRateWindowMs) {
    const double dt = static_cast<double>(s.total_time_ms - window_start_->total_time_ms);
    const double rate = static_cast<double>(s.ram_transferred - window_start_->ram_transferred) * 1000 / dt;
    const double w = 1 - std::exp(-dt / kBandwidthTauMs);
    e_.bandwidth = measured_ ? e_.bandwidth + w * (rate - e_.bandwidth) : rate;
    measured_ = true;
    e_.bandwidth_measured = true;
    window_start_ = s;
  }
  if (!measured_ && s.bandwidth > 0) {
    e_.bandwidth = s.bandwidth;  // QEMU's 100 ms window, until we have our own
  }
  e_.throttle_percent = s.throttle_percent;
  // The level each sample saw held until the next one.
  if (last_sample_ms_ && s.total_time_ms > *last_sample_ms_) {
    const int64_t dt = s.total_time_ms - *last_sample_ms_;
    throttle_weighted_ += static_cast<double>(last_throttle_) * static_cast<double>(dt);
    throttle_period_ms_ += dt;
  }
  last_sample_ms_ = s.total_time_ms;
  last_throttle_ = s.throttle_percent;

  const bool new_sync = after_sync && s.pass >= 2 && s.pass != last_sync_pass_;
  if (new_sync) {
    const uint64_t passes = last_sync_pass_ >= 2 ? s.pass - last_sync_pass_ : 1;
    last_sync_pass_ = s.pass;
    // The first sync counts a page once over the whole bulk pass: a rate
    // sampled over a short window of it says more of a guest that rewrites
    // its pages faster than that.
    e_.dirty_rate_sampled = !e_.valid && s.sampled_dirty_rate > s.dirty_rate;
    const double dirty = e_.dirty_rate_sampled ? s.sampled_dirty_rate : s.dirty_rate;
    e_.dirty_rate = e_.valid ? e_.dirty_rate + kDirtyWeight * (dirty - e_.dirty_rate) : dirty;
    e_.measured_throttle_percent =
        throttle_period_ms_ > 0 ? throttle_weighted_ / static_cast<double>(throttle_period_ms_) : s.throttle_percent;
    throttle_weighted_ = 0;
    throttle_period_ms_ = 0;
    const double unthrottled = dirty / (1 - std::clamp(e_.measured_throttle_percent, 0.0, 99.0) / 100);
    e_.unthrottled_dirty_rate =
        e_.valid ? e_.unthrottled_dirty_rate + kDirtyWeight * (unthrottled - e_.unthrottled_dirty_rate) : unthrottled;
    double r = 0;
    if (last_sync_remaining_ > 0 && passes == 1) {
      r = static_cast<double>(s.ram_remaining) / static_cast<double>(last_sync_remaining_);
      e_.pass_ratio = e_.pass_ratio > 0 ? e_.pass_ratio + kDirtyWeight * (r - e_.pass_ratio) : r;
    }
    last_raw_ratio_ = std::max(r, e_.bandwidth > 0 ? dirty / e_.bandwidth : 0);
    last_sync_remaining_ = s.ram_remaining;
    e_.bulk_cut_short = BulkCutShort(s);
    if (e_.bulk_cut_short) {
      // What remains holds bulk pages never sent, which the next pass
      // sends for good: its ratio would say pre-copy converges when it
      // may not. Ratios count from a sync after the bulk.
      last_sync_remaining_ = 0;
    }
    e_.remaining = s.ram_remaining;
    // A final copy now would hold the bulk pages still unsent, which copy
    // slower than re-sent ones (SwitchoverSpeed).
    e_.never_sent_share = s.ram_remaining > 0 ? static_cast<double>(std::min(s.bulk_unsent(), s.ram_remaining)) /
                                                    static_cast<double>(s.ram_remaining)
                                              : 0;
    if (!e_.valid || s.ram_remaining < e_.floor) {
      e_.floor = s.ram_remaining;
      e_.floor_never_sent_share = e_.never_sent_share;
      e_.passes_at_floor = 0;
    } else {
      e_.passes_at_floor += passes;
    }
    e_.valid = true;
  }
  if (!e_.valid) return;
  e_.last_ratio = last_raw_ratio_;
  e_.ratio = std::max(e_.bandwidth > 0 ? e_.dirty_rate / e_.bandwidth : 0, e_.pass_ratio);
  e_.switchover_bandwidth =
      switchover_.RateFor(static_cast<double>(e_.remaining), e_.never_sent_share, e_.bandwidth);
  e_.downtime_now_ms = MsFor(static_cast<double>(e_.remaining), e_.switchover_bandwidth);
  e_.floor_switchover_bandwidth =
      switchover_.RateFor(static_cast<double>(e_.floor), e_.floor_never_sent_share, e_.bandwidth);
  e_.floor_downtime_ms = MsFor(static_cast<double>(e_.floor), e_.floor_switchover_bandwidth);
  e_.limit_for_floor_ms = MsFor(static_cast<double>(e_.floor), e_.bandwidth);
}

std::optional<int64_t> PassesMs(double remaining, double ratio, double goal, double bandwidth) {
  if (bandwidth <= 0) return std::nullopt;
  if (remaining <= goal) return 0;
  if (ratio >= 0.99) return std::nullopt;
  // Pass k sends r*ratio^k; QEMU switches once that is below the goal.
  const double passes = std::ceil(std::log(goal / remaining) / std::log(ratio));
  return static_cast<int64_t>(remaining / bandwidth * (1 - std::pow(ratio, passes)) / (1 - ratio) * 1000);
}

std::optional<int64_t> Estimates::ConvergeMs(int64_t limit_ms) const {
  if (!valid) return std::nullopt;
  return PassesMs(static_cast<double>(remaining), ratio, bandwidth * static_cast<double>(limit_ms) / 1000, bandwidth);
}

std::string Estimates::ToString() const {
  if (!valid) return "no estimates yet (bulk pass)";
  const std::string ratio_text = FormatFixed(ratio, 2);
  std::string out = "bandwidth " + FormatRate(bandwidth) + ", dirty " + FormatRate(dirty_rate) +
                    (dirty_rate_sampled ? " (sampled in the bulk pass)" : "");
  const long measured_under = std::lround(measured_throttle_percent);
  if (throttle_percent > 0 || measured_under > 0) {
    out += " at throttle " + std::to_string(measured_under) + "% (" + FormatRate(unthrottled_dirty_rate) +
           " unthrottled)";
    if (measured_under != throttle_percent) out += ", throttle now " + std::to_string(throttle_percent) + "%";
  }
  out += ", ratio " + ratio_text + ", remaining " + FormatBytes(static_cast<double>(remaining));
  if (never_sent_share > 0) {
    out += " (" + std::to_string(static_cast<int>(std::lround(never_sent_share * 100))) + "% bulk never sent)";
  }
  out += ", floor " + FormatBytes(static_cast<double>(floor)) + " (" + std::to_string(passes_at_floor) +
         " passes ago) = " + FormatMillis(static_cast<double>(floor_downtime_ms)) + " downtime at " +
         FormatRate(floor_switchover_bandwidth);
  return out;
}

}  // namespace vc
