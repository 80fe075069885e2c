#include "src/control/adaptive.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

#include "src/base/units.h"

namespace vc {

namespace {

// Pre-copy is getting there by itself when each pass clearly leaves less
// than the one before (and the forecast fits the budget).
constexpr double kConvergingRatio = 0.9;
// A migration getting there by itself, but slowly, is switched over at
// the floor (within MaxDowntime) when that saves at least this many times
// the real downtime it adds: the guest runs dirty-logged and the link stays
// busy for every second pre-copy goes on, but stops for every second of
// downtime (docs/tuning-notes.md).
constexpr double kSavedPerDowntimeAdded = 10;
// A migration getting there by itself, but slowly, is throttled when that
// saves at least this many seconds of migration per second of guest CPU
// the throttle takes (level x time under it): each second saved is a
// second less of dirty logging, of a busy link, and of a switch-over
// still to come (docs/tuning-notes.md).
constexpr double kSavedPerThrottleCost = 1;
// What a throttle or dirty limit aims at: each pass leaving 15% of the one
// before. A harder, shorter throttle costs the guest less in all than a
// gentle, long one (p / (1 - ratio) over the passes), and the downtime
// lever takes over as soon as the floor fits MaxDowntime.
constexpr double kTargetRatio = 0.15;
// A throttle no longer needed: the throttled guest dirties this little
// (well below the target).
constexpr double kUndoRatio = 0.1;
// Headroom on a computed downtime-limit, for the next pass's noise.
constexpr double kLimitMargin = 1.25;
// Plans must fit this share of the budget left.
constexpr double kBudgetShare = 0.8;
// Escalate this long before the budget would run out mid-pass.
constexpr double kDeadlineSlackMs = 2000;
// EarlyPostcopy=: post-copy in the bulk pass when pre-copy would take this
// many times as long: a clear gain, for a guest that runs split across two
// hosts until its last page arrives (a broken link then pauses it).
constexpr double kEarlyPostcopyGain = 1.5;
// Below this ratio throttling would have to stop the guest: escalate.
constexpr double kLeastTargetRatio = 0.1;
// The switch-over correction is made when it allows this much more than
// the base limit, and moved when its limit would change by this factor.
constexpr double kCorrectionWorth = 1.2;
constexpr double kCorrectionStep = 1.25;

int RoundUpTo5(double percent) { return static_cast<int>(std::ceil(percent / 5) * 5); }

}  // namespace

AdaptiveConfig AdaptiveConfig::From(const policy::Policy& p, const SwitchoverSpeed& learned) {
  AdaptiveConfig c;
  c.base_downtime_ms = p.downtime.value;
  c.max_downtime_ms = p.adaptive_max_downtime.value;
  if (p.switchover_bandwidth.value) {
    c.switchover = SwitchoverSpeed::Stated(static_cast<double>(p.switchover_bandwidth.value));
  } else if (p.learn_switchover.value) {
    c.switchover = learned;
  }
  c.throttle = p.adaptive_throttle.value;
  c.max_throttle = static_cast<int>(p.adaptive_max_throttle.value);
  c.dirty_limit = p.adaptive_dirty_limit.value;
  c.patience = static_cast<uint64_t>(p.adaptive_patience.value);
  c.escalate = p.adaptive_escalate.value;
  c.early_postcopy = p.adaptive_early_postcopy.value;
  return c;
}

uint64_t AdaptiveConfig::StartSwitchoverBandwidth(std::optional<uint64_t> max_bandwidth) const {
  if (!switchover.known() || !max_bandwidth || *max_bandwidth == 0) return 0;
  const double ms = static_cast<double>(std::max<int64_t>(1, base_downtime_ms));
  const double rate = switchover.WorstBytesWithin(ms, 1e18, static_cast<double>(*max_bandwidth)) * 1000 / ms;
  return rate > static_cast<double>(*max_bandwidth) * kCorrectionWorth ? static_cast<uint64_t>(rate) : 0;
}

std::string AdaptiveMode::Inputs(const ReactionInputs& in) const {
  return estimator_.estimates().ToString() + ", downtime-limit " + std::to_string(in.downtime_limit_ms) + " ms";
}

std::vector<Decision> AdaptiveMode::Decide(const MigrationSample& s, bool after_sync, const ReactionInputs& given,
                                           std::optional<int64_t> budget_ms) {
  std::vector<Decision> out;
  if (!s.running() || s.in_postcopy()) return out;
  estimator_.Update(s, after_sync);
  const Estimates& e = estimator_.estimates();
  // The switch-over correction needs only the bandwidth: made early, it
  // lets QEMU switch over even before the bulk pass ends, as far as the
  // copies learned vouch for; raised as the bulk pages unsent become fewer.
  // It is not a step: a limit it set is kept in line with max-bandwidth
  // even after Escalate=. What follows sees the limit it set.
  ReactionInputs in = given;
  if (in.switchover_bandwidth_fixed > 0) told_rate_ = in.switchover_bandwidth_fixed;
  if (e.bandwidth_measured && s.total_time_ms >= 1000) {
    if (Telling(in)) {
      TellSwitchoverSpeed(s, &in, &out);
    } else {
      Correct(s, &in, &out);
    }
  }
  if (EarlyPostcopy(s, in, &out)) return out;
  if (ended_ || !e.valid || e.bandwidth <= 0) return out;
  // The budget left, in ms; -1 = no budget.
  const int64_t left = budget_ms ? std::max<int64_t>(0, *budget_ms - s.total_time_ms) : -1;
  const std::optional<int64_t> converge = e.ConvergeMs(in.downtime_limit_ms);
  const bool in_time = converge && (left < 0 || static_cast<double>(*converge) <= kBudgetShare * static_cast<double>(left));
  if (!in_time && left >= 0) {
    // The next pass end comes too late to act before the budget runs out
    // (and the budget's own action is the last resort): escalate now.
    const double pass_left_ms = static_cast<double>(s.ram_remaining) * 1000 / e.bandwidth;
    if (static_cast<double>(left) < pass_left_ms + kDeadlineSlackMs) {
      const std::string why =
          "the budget ends in " + FormatMillis(static_cast<double>(left)) + ", before pre-copy can finish";
      // A switch-over now may still fit MaxDowntime (the final copy runs
      // at the switch-over bandwidth): that costs less than Escalate=.
      if (!TryDowntime(in, why, /*now=*/true, &out)) Escalate(s, in, why, &out);
      return out;
    }
  }
  if (!after_sync) return out;
  if (s.pass < wait_until_pass_) return out;
  if (in_time && e.ratio < kConvergingRatio && e.passes_at_floor <= config_.patience) {
    // Pre-copy gets there by itself, within the budget.
    if (!ShortenSlowConvergence(*converge, in, &out) && !ThrottleSlowConvergence(s, *converge, in, &out)) {
      UndoThrottle(s, in, &out);
    }
    return out;
  }
  std::string why;
  if (e.passes_at_floor > config_.patience) {
    why = "no new minimum for " + std::to_string(e.passes_at_floor) + " passes";
  } else if (!converge) {
    why = "pre-copy cannot converge at ratio " + FormatFixed(e.ratio, 2);
  } else if (e.ratio >= kConvergingRatio) {
    why = "each pass leaves " + FormatFixed(e.ratio, 2) + " of the one before: too slow to rely on";
  } else {
    why = "pre-copy would need " + FormatMillis(static_cast<double>(*converge)) + " but the budget has " +
          FormatMillis(static_cast<double>(left)) + " left";
  }
  if (TryDowntime(in, why, /*now=*/false, &out)) return out;
  // QEMU applies the throttle at its next trigger, and a dirty rate shows
  // it one sync later (long passes on a slow link): wait for both.
  if (throttle_target_ > 0 && !MeasuredUnder(throttle_target_) &&
      s.pass < throttle_asked_pass_ + 3 * config_.patience) {
    return out;
  }
  // The ratio to aim at: kTargetRatio, or less when the budget is short
  // (the passes then add up to remaining / bandwidth / (1 - ratio)).
  double target = kTargetRatio;
  if (left >= 0) {
    const double need = static_cast<double>(e.remaining) / e.bandwidth * 1000 /
                        std::max(1.0, kBudgetShare * static_cast<double>(left));
    target = std::min(target, 1 - need);
  }
  if (target < kLeastTargetRatio) {
    Escalate(s, in, why + "; too little budget is left for pre-copy to finish", &out);
    return out;
  }
  if (TryDirtyLimit(in, target, &out) ||
      TryThrottle(s, in, target,
                  "downtime alone would exceed MaxDowntime " + FormatMillis(static_cast<double>(config_.max_downtime_ms)),
                  &out)) {
    return out;
  }
  Escalate(s, in, why, &out);
  return out;
}

void AdaptiveMode::Correct(const MigrationSample& s, ReactionInputs* in, std::vector<Decision>* out) {
  // QEMU judges downtime at the rate-limited bandwidth, but copies the
  // last bytes unthrottled: with a known faster link the same real
  // downtime allows a larger limit, so QEMU switches over passes sooner.
  const Estimates& e = estimator_.estimates();
  const double bandwidth = CappedBandwidth(*in);
  const double base_ms = static_cast<double>(config_.base_downtime_ms);
  const auto [in_bulk, unsent] = CopyBound(s);
  const double bytes = config_.switchover.WorstBytesWithin(base_ms, unsent);
  const bool worth_it = bytes > bandwidth * base_ms / 1000 * kCorrectionWorth;
  const int64_t limit = worth_it ? static_cast<int64_t>(bytes * 1000 / bandwidth) : config_.base_downtime_ms;
  const std::string inputs = "max-bandwidth " + FormatRate(bandwidth) + ", measured " + FormatRate(e.bandwidth) +
                             ", downtime-limit " + std::to_string(in->downtime_limit_ms) + " ms";
  if (corrected_limit_ > 0 && in->downtime_limit_ms == corrected_limit_ &&
      static_cast<double>(limit) * kCorrectionStep <= static_cast<double>(corrected_limit_)) {
    // The migration's bandwidth rose (a share of the host's grew): the
    // limit that allowed the copy at the old one now allows more.
    out->push_back({DecisionKind::kSwitchoverCorrection, "set-downtime", limit,
                    "adaptive: switch-over correction: max-bandwidth is now " + FormatRate(bandwidth) + "; " +
                        FormatMillis(base_ms) + " of real downtime copies " + FormatBytes(bytes) + ", a limit of " +
                        std::to_string(limit) + " ms (was " + std::to_string(corrected_limit_) + " ms) (" + inputs + ")"});
    corrected_limit_ = in->downtime_limit_ms = limit;
    return;
  }
  if (!worth_it || limit <= in->downtime_limit_ms) return;
  // Raised in steps as the bulk pages unsent become fewer (not at every
  // sample), and once more to its final value when none are left.
  const bool final_value = !in_bulk && !corrected_after_bulk_;
  if (corrected_limit_ > 0 && !final_value &&
      static_cast<double>(limit) < static_cast<double>(corrected_limit_) * kCorrectionStep) {
    return;
  }
  if (!in_bulk) corrected_after_bulk_ = true;
  std::string makeup;  // a stated speed holds for pages of any kind
  if (config_.switchover.learned()) {
    if (!in_bulk) {
      makeup = " of pages sent before";
    } else if (unsent >= bytes) {
      makeup = " of pages never sent before";
    } else {
      makeup = ", at most " + FormatBytes(unsent) + " of them pages never sent before (the bulk pages still unsent),";
    }
  }
  const double worst_ms = config_.switchover.WorstTimeMs(bytes, unsent);
  out->push_back({DecisionKind::kSwitchoverCorrection, "set-downtime", limit,
                  "adaptive: switch-over correction" + std::string(in_bulk ? " in the bulk pass" : " after the bulk pass") +
                      ": " + FormatMillis(base_ms) + " of real downtime copies " + FormatBytes(bytes) + makeup +
                      " at the switch-over bandwidth " + FormatRate(worst_ms > 0 ? bytes * 1000 / worst_ms : 0) +
                      " (" + config_.switchover.Describe() + "), a limit of " + std::to_string(limit) +
                      " ms at the migration's " + FormatRate(bandwidth) + " (" + inputs + ")"});
  corrected_limit_ = in->downtime_limit_ms = limit;
}

double AdaptiveMode::CappedBandwidth(const ReactionInputs& in) const {
  // QEMU holds the migration to max-bandwidth; early measurements swing
  // both ways (setup, the first bursts), so the cap is the figure to use.
  return in.tuning.max_bandwidth && *in.tuning.max_bandwidth > 0 ? static_cast<double>(*in.tuning.max_bandwidth)
                                                                 : estimator_.estimates().bandwidth;
}

AdaptiveMode::PendingCopy AdaptiveMode::CopyBound(const MigrationSample& s) {
  // Of the copy QEMU would switch over with, at most the bulk pages still
  // unsent were never sent before (all of it while QEMU does not say).
  const bool in_bulk = s.pass <= 1 || s.bulk_unsent() > 0;
  return {in_bulk, !in_bulk ? 0 : s.bulk_unsent() > 0 ? static_cast<double>(s.bulk_unsent()) : 1e18};
}

double AdaptiveMode::JudgedRate() const {
  return told_rate_ > 0 ? static_cast<double>(told_rate_) : estimator_.estimates().bandwidth;
}

void AdaptiveMode::TellSwitchoverSpeed(const MigrationSample& s, ReactionInputs* given,
                                       std::vector<Decision>* out) {
  if (told_by_step_) return;  // a switch-over step told QEMU the speed for its copy
  const ReactionInputs& in = *given;
  if (in.switchover_bandwidth_fixed > 0) {
    // QEMU has its speed from the start: the limit is the policy's downtime.
    const int64_t base = config_.base_downtime_ms;
    if (base > in.downtime_limit_ms && corrected_limit_ != base) {
      out->push_back({DecisionKind::kSwitchoverCorrection, "set-downtime", base,
                      "adaptive: switch-over correction: the policy's " + FormatMillis(static_cast<double>(base)) +
                          " of real downtime, at the " + FormatRate(static_cast<double>(told_rate_)) +
                          " QEMU was given at the start (avail-switchover-bandwidth; downtime-limit " +
                          std::to_string(in.downtime_limit_ms) + " ms)"});
      corrected_limit_ = base;
      given->downtime_limit_ms = base;
    }
    return;
  }
  const Estimates& e = estimator_.estimates();
  const double bandwidth = CappedBandwidth(in);
  // The downtime meant: the policy's, or more where QEMU already has more.
  const int64_t meant_ms = std::max<int64_t>({1, config_.base_downtime_ms, in.downtime_limit_ms});
  const double limit_ms = static_cast<double>(meant_ms);
  const auto [in_bulk, unsent] = CopyBound(s);
  const double bytes = config_.switchover.WorstBytesWithin(limit_ms, unsent);
  const double rate_exact = bytes * 1000 / limit_ms;
  // Not faster than the migration: QEMU's own estimate is as good.
  const uint64_t rate = rate_exact > bandwidth * kCorrectionWorth ? static_cast<uint64_t>(rate_exact) : 0;
  if (rate == told_rate_) return;
  // Moved in steps as the bulk pages unsent become fewer, once more when
  // none are left, and back when the migration's bandwidth caught up.
  const bool final_value = !in_bulk && !corrected_after_bulk_;
  if (told_rate_ > 0 && rate > 0 && !final_value &&
      static_cast<double>(rate) < static_cast<double>(told_rate_) * kCorrectionStep &&
      static_cast<double>(rate) * kCorrectionStep > static_cast<double>(told_rate_)) {
    return;
  }
  if (!in_bulk) corrected_after_bulk_ = true;
  const std::string inputs = "max-bandwidth " + FormatRate(bandwidth) + ", measured " + FormatRate(e.bandwidth) +
                             ", downtime-limit " + std::to_string(in.downtime_limit_ms) + " ms";
  std::string reason;
  if (rate == 0) {
    reason = "adaptive: switch-over correction: the migration's " + FormatRate(bandwidth) +
             " is as fast as its final copy would be; QEMU judges the copy by its own estimate again (" + inputs + ")";
  } else {
    reason = "adaptive: switch-over correction" + std::string(in_bulk ? " in the bulk pass" : " after the bulk pass") +
             ": " + FormatMillis(limit_ms) + " of real downtime copies " + FormatBytes(bytes) + " at " +
             FormatRate(static_cast<double>(rate)) + " (" + config_.switchover.Describe() +
             "); QEMU judges the final copy at that speed (avail-switchover-bandwidth), and downtime-limit is " +
             std::to_string(meant_ms) + " ms of real downtime (" + inputs + ")";
  }
  out->push_back({DecisionKind::kSwitchoverCorrection, "set-switchover-bandwidth", static_cast<int64_t>(rate), reason});
  told_rate_ = rate;
  if (rate > 0 && meant_ms > in.downtime_limit_ms) {
    // As before 8.2, where the correction's limit gave the policy's downtime.
    out->push_back({DecisionKind::kSwitchoverCorrection, "set-downtime", meant_ms,
                    "adaptive: switch-over correction: the policy's " + FormatMillis(limit_ms) +
                        " of real downtime, at the speed QEMU was told (" + inputs + ")",
                    /*only_after_previous=*/true});
    given->downtime_limit_ms = meant_ms;
  }
}

bool AdaptiveMode::TryDowntime(const ReactionInputs& in, const std::string& why, bool now,
                               std::vector<Decision>* out) {
  const Estimates& e = estimator_.estimates();
  const double now_ms = static_cast<double>(e.remaining) * 1000 / JudgedRate();
  // What remains already fits under the limit QEMU has: it switches over at
  // its next check (every 100 ms), and a raise now would only wait for the
  // reply until its stop-and-copy is done. Once per limit: if QEMU's own
  // bandwidth figure is lower than ours and it does not, the next pass acts.
  if (now_ms <= static_cast<double>(in.downtime_limit_ms) && waited_at_limit_ != in.downtime_limit_ms) {
    waited_at_limit_ = in.downtime_limit_ms;
    return true;
  }
  if (Telling(in)) return TryDowntimeTold(in, why, now, out);
  // QEMU switches over once remaining <= bandwidth x limit; aim at the
  // floor, or at what remains now when the floor was a dip or there is no
  // time to wait for it. `least` is the limit that copy needs; `need`
  // adds the margin.
  double least = static_cast<double>(e.limit_for_floor_ms);
  if (now || least * kLimitMargin <= static_cast<double>(in.downtime_limit_ms)) {
    least = now_ms;
    now = true;
  }
  int64_t need = static_cast<int64_t>(std::ceil(least * kLimitMargin));
  const int64_t real_ms = now ? e.downtime_now_ms : e.floor_downtime_ms;
  std::string disagreed;
  if (need <= in.downtime_limit_ms) {
    // Waited, and QEMU did not go: it measures less bandwidth than we do
    // (it counts the bytes of its own iteration), so what fits in our terms
    // does not in its. Ask the margin more than it has.
    least = static_cast<double>(in.downtime_limit_ms) + 1;
    need = static_cast<int64_t>(std::ceil(static_cast<double>(in.downtime_limit_ms) * kLimitMargin));
    disagreed = "QEMU did not switch over under " + std::to_string(in.downtime_limit_ms) +
                " ms though what remains fits it at the bandwidth measured; ";
  }
  // The most QEMU may be told, in its terms: the bytes a final copy like
  // this one (as much of it never sent) may hold within MaxDowntime, at
  // the migration bandwidth. The copy must fit it; the margin only up to it.
  const double max_ms = static_cast<double>(config_.max_downtime_ms);
  const double allowed_bytes = config_.switchover.BytesWithin(
      max_ms, now ? e.never_sent_share : e.floor_never_sent_share, e.bandwidth);
  const int64_t allowed = static_cast<int64_t>(allowed_bytes * 1000 / e.bandwidth);
  if (least > static_cast<double>(allowed)) return false;
  need = std::min(need, allowed);
  out->push_back({DecisionKind::kSwitchover, "set-downtime", need,
                  "adaptive: " + why + "; " + disagreed + "a limit of " + std::to_string(need) + " ms switches over " +
                      (now ? "now" : "at the floor") + " with " + FormatMillis(static_cast<double>(real_ms)) +
                      " of real downtime, within MaxDowntime " +
                      FormatMillis(static_cast<double>(config_.max_downtime_ms)) + " (" + Inputs(in) + ")"});
  wait_until_pass_ = 0;  // QEMU acts on it at once
  return true;
}

bool AdaptiveMode::TryDowntimeTold(const ReactionInputs& in, const std::string& why, bool now,
                                   std::vector<Decision>* out) {
  const Estimates& e = estimator_.estimates();
  // Switch over at the floor, or now when the floor already fits what QEMU
  // has (it was a dip) or there is no time to wait for it.
  if (!now && static_cast<double>(e.floor) * 1000 / JudgedRate() * kLimitMargin <=
                  static_cast<double>(in.downtime_limit_ms)) {
    now = true;
  }
  const int64_t real_ms = now ? e.downtime_now_ms : e.floor_downtime_ms;
  // Where the speed was given at the start it stays; QEMU judges the copy
  // meant at it. Otherwise QEMU is told that copy's own speed.
  const bool fixed = in.switchover_bandwidth_fixed > 0;
  const auto rate = fixed ? told_rate_ : static_cast<uint64_t>(now ? e.switchover_bandwidth : e.floor_switchover_bandwidth);
  const int64_t max_ms = config_.max_downtime_ms;
  if (real_ms > max_ms || rate == 0) return false;
  const double judged_ms =
      fixed ? static_cast<double>(now ? e.remaining : e.floor) * 1000 / static_cast<double>(rate) : static_cast<double>(real_ms);
  int64_t need = static_cast<int64_t>(std::ceil(judged_ms * kLimitMargin));
  std::string disagreed;
  if (need <= in.downtime_limit_ms && rate == told_rate_) {
    // QEMU was told this speed and limit and did not go: what it counts as
    // remaining is more than ours. Ask the margin more than it has.
    need = static_cast<int64_t>(std::ceil(static_cast<double>(in.downtime_limit_ms) * kLimitMargin));
    disagreed = "QEMU did not switch over under " + std::to_string(in.downtime_limit_ms) +
                " ms though what remains fits it; ";
  }
  need = std::min(need, max_ms);  // the limit is real downtime now
  if (need <= in.downtime_limit_ms && rate == told_rate_) return false;  // nothing more within MaxDowntime
  const std::string at = FormatRate(static_cast<double>(rate)) + (fixed ? " (given at the start)" : "");
  const bool tell = !fixed && rate != told_rate_;
  if (tell) {
    out->push_back({DecisionKind::kSwitchover, "set-switchover-bandwidth", static_cast<int64_t>(rate),
                    "adaptive: " + why + "; the final copy " + (now ? "now" : "at the floor") + " runs at " + at +
                        " (" + config_.switchover.Describe() + "): QEMU judges it at that speed (" + Inputs(in) + ")"});
    told_rate_ = rate;
    told_by_step_ = true;
  }
  out->push_back({DecisionKind::kSwitchover, "set-downtime", need,
                  "adaptive: " + why + "; " + disagreed + "a limit of " + std::to_string(need) + " ms at " + at +
                      " switches over " + (now ? "now" : "at the floor") + " with " +
                      FormatMillis(static_cast<double>(real_ms)) + " of real downtime, within MaxDowntime " +
                      FormatMillis(static_cast<double>(max_ms)) + " (" + Inputs(in) + ")",
                  /*only_after_previous=*/tell});
  wait_until_pass_ = 0;  // QEMU acts on it at once
  return true;
}

bool AdaptiveMode::ShortenSlowConvergence(int64_t converge_ms, const ReactionInputs& in,
                                          std::vector<Decision>* out) {
  const Estimates& e = estimator_.estimates();
  // QEMU gets down to the floor within about a pass either way: that pass
  // is not saved.
  const double pass_ms = static_cast<double>(e.remaining) * 1000 / e.bandwidth;
  const double saved_ms = static_cast<double>(converge_ms) - pass_ms;
  const double added_ms = std::max<double>(0, static_cast<double>(e.floor_downtime_ms - config_.base_downtime_ms));
  if (saved_ms <= 0 || saved_ms < kSavedPerDowntimeAdded * added_ms) return false;
  const std::string why = "pre-copy gets under the limit by itself at ratio " + FormatFixed(e.ratio, 2) + ", but only in " +
                          FormatMillis(static_cast<double>(converge_ms)) + "; switching over at the floor saves about " +
                          FormatMillis(saved_ms) + " for " + FormatMillis(added_ms) + " more downtime";
  return TryDowntime(in, why, /*now=*/false, out);
}

bool AdaptiveMode::ThrottleSlowConvergence(const MigrationSample& s, int64_t converge_ms, const ReactionInputs& in,
                                           std::vector<Decision>* out) {
  // Once: a throttle already asked for is followed by the usual path.
  if (!config_.throttle || !in.throttle_possible || throttle_target_ > 0) return false;
  const Estimates& e = estimator_.estimates();
  if (e.bulk_cut_short) return false;  // its ratio may yet turn out > 1
  const int level = ThrottleLevel(s.throttle_percent, e.ratio, kTargetRatio);
  if (level <= s.throttle_percent) return false;
  // QEMU applies a throttle at its next trigger: the next sync while it has
  // not throttled yet, every second one after. Until then passes go on at
  // the ratio measured.
  const int passes_before = s.throttle_percent > 0 ? 2 : 1;
  const double bandwidth = e.bandwidth;
  const double goal = bandwidth * static_cast<double>(in.downtime_limit_ms) / 1000;
  double left = static_cast<double>(e.remaining);
  double before_ms = 0;
  for (int i = 0; i < passes_before && left > goal; ++i) {
    before_ms += left * 1000 / bandwidth;
    left *= e.ratio;
  }
  const std::optional<int64_t> under = PassesMs(left, kTargetRatio, goal, bandwidth);
  if (!under) return false;
  const double throttled_ms = static_cast<double>(*under);
  const double saved_ms = static_cast<double>(converge_ms) - before_ms - throttled_ms;
  const double cost_ms = static_cast<double>(level) / 100 * throttled_ms;
  if (saved_ms <= 0 || saved_ms < kSavedPerThrottleCost * cost_ms) return false;
  const std::string why = "pre-copy gets under the limit by itself at ratio " + FormatFixed(e.ratio, 2) + ", but only in " +
                          FormatMillis(static_cast<double>(converge_ms)) + "; a throttle saves about " +
                          FormatMillis(saved_ms) + " for " + FormatMillis(cost_ms) + " of the guest's CPU";
  return TryThrottle(s, in, kTargetRatio, why, out);
}

bool AdaptiveMode::TryDirtyLimit(const ReactionInputs& in, double target_ratio, std::vector<Decision>* out) {
  if (!config_.dirty_limit || !in.dirty_limit_possible) return false;
  const Estimates& e = estimator_.estimates();
  // vcpu-dirty-limit is per vCPU and penalises only writers; aiming every
  // vCPU at the whole target is right for one writer and mild for many.
  const uint64_t target = std::max<uint64_t>(1ull << 20, static_cast<uint64_t>(e.bandwidth * target_ratio));
  if (dirty_limit_ && target >= dirty_limit_ * 3 / 4) return false;  // no better than the last one
  dirty_limit_ = target;
  out->push_back({DecisionKind::kThrottle, "set-dirty-limit", static_cast<int64_t>(target),
                  "adaptive: downtime alone would exceed MaxDowntime; limiting writers to " + FormatRate(static_cast<double>(target)) +
                      " (" + FormatFixed(target_ratio, 2) + " of the bandwidth) (" + Inputs(in) + ")"});
  wait_until_pass_ = 0;
  return true;
}

int AdaptiveMode::ThrottleLevel(int now, double ratio, double target_ratio) const {
  // Throttling by p scales a CPU-bound writer's rate by (1 - p). When the
  // last level showed no effect, the guest rewrote its whole working set
  // every pass even throttled, so the measured ratio is only a lower bound
  // (QEMU counts a page once per period): the same formula, applied again
  // from the new level, still moves towards what is needed.
  const double keep = std::min(1.0, target_ratio / std::max(ratio, 1e-9));
  const int level = RoundUpTo5(100 - (100 - now) * keep);
  return std::clamp(std::max(level, now + 10), 5, config_.max_throttle);
}

bool AdaptiveMode::TryThrottle(const MigrationSample& s, const ReactionInputs& in, double target_ratio,
                               const std::string& why, std::vector<Decision>* out) {
  if (!config_.throttle || !in.throttle_possible) return false;
  const Estimates& e = estimator_.estimates();
  const int now = s.throttle_percent;
  if (now >= config_.max_throttle) return false;
  const bool no_effect =
      throttle_target_ > 0 && MeasuredUnder(throttle_target_) && e.ratio > 0.8 * ratio_before_throttle_;
  const int level = ThrottleLevel(now, e.ratio, target_ratio);
  if (level <= now) return false;
  std::string how = "throttle " + std::to_string(now) + "% -> " + std::to_string(level) + "% brings dirty/bandwidth from " +
                    FormatFixed(e.ratio, 2) + " to about " + FormatFixed(target_ratio, 2);
  if (no_effect) {
    how = "the throttle at " + std::to_string(now) + "% showed no visible effect (ratio " +
          FormatFixed(ratio_before_throttle_, 2) + " -> " + FormatFixed(e.ratio, 2) + ": the working set is rewritten every pass); " + how;
  }
  const std::string reason = "adaptive: " + why + "; " + how + " (" + Inputs(in) + ")";
  // One call sets all three bounds: no round trips between the pass and
  // the throttle.
  out->push_back({DecisionKind::kThrottle, "set-throttle-level", level, reason});
  ratio_before_throttle_ = e.ratio;
  throttle_target_ = level;
  throttle_asked_pass_ = s.pass;
  wait_until_pass_ = s.pass + config_.patience;
  return true;
}

void AdaptiveMode::UndoThrottle(const MigrationSample& s, const ReactionInputs& in, std::vector<Decision>* out) {
  const Estimates& e = estimator_.estimates();
  // Judged on the last pass alone: the smoothed ratio lags a calmer guest.
  if (throttle_target_ <= 5 || s.throttle_percent == 0 || e.last_ratio >= kUndoRatio) return;
  // The level that would still give the target ratio, judged unthrottled.
  const double unthrottled = e.last_ratio / (1 - std::min(99.0, e.measured_throttle_percent) / 100.0);
  const int level = std::max(
      1, RoundUpTo5(100 * (1 - std::min(1.0, kTargetRatio / std::max(unthrottled, 1e-9)))));
  if (level >= throttle_target_ - 5) return;
  const std::string reason = "adaptive: the throttle is no longer needed (" + Inputs(in) + "); capping it at " +
                             std::to_string(level) + "%: QEMU lowers it at its next throttle step";
  out->push_back({DecisionKind::kThrottleUndo, "set-throttle-level", level, reason});
  throttle_target_ = level;
  wait_until_pass_ = s.pass + config_.patience;
}

void AdaptiveMode::Escalate(const MigrationSample& s, const ReactionInputs& in, const std::string& why,
                            std::vector<Decision>* out) {
  using policy::FinalAction;
  const Estimates& e = estimator_.estimates();
  std::string reason = "adaptive: " + why + ", and neither downtime within MaxDowntime " +
                       FormatMillis(static_cast<double>(config_.max_downtime_ms)) + " nor " +
                       (in.throttle_possible && config_.throttle
                            ? "throttling (now " + std::to_string(s.throttle_percent) + "%, max " +
                                  std::to_string(config_.max_throttle) + "%)"
                            : "throttling (" + (config_.throttle ? in.throttle_refusal : std::string("off in the policy")) +
                                  ")") +
                       " can finish it (" + Inputs(in) + ")";
  FinalAction a = config_.escalate;
  const bool postcopy_possible = in.postcopy_possible && !postcopy_refused_;
  if (a == FinalAction::kPostcopyOrPause) a = postcopy_possible ? FinalAction::kPostcopy : FinalAction::kPause;
  ended_ = true;
  switch (a) {
    case FinalAction::kNone:
      return;
    case FinalAction::kPostcopy:
      if (!postcopy_possible) {
        ended_ = false;
        wait_until_pass_ = s.pass + 10 * config_.patience;  // say it again later, not every pass
        out->push_back({DecisionKind::kEscalation, "start-postcopy", 0,
                        reason + "; Escalate=postcopy, but " +
                            (postcopy_refused_ ? "post-copy was refused before" : "postcopy-ram is off")});
        return;
      }
      out->push_back({DecisionKind::kEscalation, "start-postcopy", 0, reason + "; Escalate=postcopy"});
      return;
    case FinalAction::kPause: {
      out->push_back({DecisionKind::kEscalation, "pause-guest", 0, reason + "; Escalate=pause"});
      // Paused, nothing dirties: let QEMU switch over at its next check.
      const int64_t limit = static_cast<int64_t>(std::ceil(static_cast<double>(e.remaining) * 1000 / JudgedRate() * 2));
      if (limit > in.downtime_limit_ms) {
        out->push_back({DecisionKind::kEscalation, "set-downtime", limit,
                        "adaptive: the guest is paused; switch over at once", /*only_after_previous=*/true});
      }
      return;
    }
    case FinalAction::kAbort:
      out->push_back({DecisionKind::kEscalation, "abort", 0, reason + "; Escalate=abort"});
      return;
    case FinalAction::kPostcopyOrPause:
      return;  // resolved above
  }
}

bool AdaptiveMode::EarlyPostcopy(const MigrationSample& s, const ReactionInputs& in, std::vector<Decision>* out) {
  const Estimates& e = estimator_.estimates();
  if (!config_.early_postcopy || early_judged_ || ended_ || s.pass != 1) return false;
  if (s.sampled_dirty_rate <= 0 || !e.bandwidth_measured || e.bandwidth <= 0 || s.bulk_unsent() == 0) return false;
  early_judged_ = true;
  if (!in.postcopy_possible || postcopy_refused_) {
    notes_.push_back("adaptive: EarlyPostcopy=yes, but this migration " +
                     std::string(postcopy_refused_ ? "refused post-copy" : "does not allow post-copy") +
                     ": staying in pre-copy");
    return false;
  }
  const double bandwidth = e.bandwidth;
  const double dirty = s.sampled_dirty_rate;
  const double unsent = static_cast<double>(s.bulk_unsent());
  const double sent = static_cast<double>(s.ram_total) - unsent;
  const double elapsed_s = static_cast<double>(s.total_time_ms) / 1000;
  const double dirtied = std::min(sent, dirty * elapsed_s);
  const double postcopy_ms = (unsent + dirtied) * 1000 / bandwidth;
  const double bulk_ms = unsent * 1000 / bandwidth;
  const double at_sync = std::min(static_cast<double>(s.ram_total), dirty * (elapsed_s + bulk_ms / 1000));
  const double ratio = dirty / bandwidth;
  const std::optional<int64_t> passes =
      PassesMs(at_sync, ratio, bandwidth * static_cast<double>(in.downtime_limit_ms) / 1000, bandwidth);
  const double precopy_ms = passes ? bulk_ms + static_cast<double>(*passes) : 0;
  const std::string precopy =
      passes ? "about " + FormatMillis(precopy_ms) + " (the bulk pass's rest, then passes from about " +
                   FormatBytes(at_sync) + " dirtied, each leaving " + FormatFixed(ratio, 2) + " of the one before)"
             : "never converge (each pass would leave " + FormatFixed(ratio, 2) + " of the one before)";
  const std::string inputs = "(bandwidth " + FormatRate(bandwidth) + ", dirty " + FormatRate(dirty) +
                             " sampled in the bulk pass, ratio " + FormatFixed(ratio, 2) + ")";
  if (passes && precopy_ms < kEarlyPostcopyGain * postcopy_ms) {
    notes_.push_back("adaptive: staying in pre-copy: by itself it would take " + precopy + ", post-copy from here about " +
                     FormatMillis(postcopy_ms) + " (pre-copy takes under " + FormatFixed(kEarlyPostcopyGain, 2) + "x as long) " + inputs +
                     "; EarlyPostcopy=yes");
    return false;
  }
  out->push_back({DecisionKind::kEarly, "start-postcopy", 0,
                  "adaptive: in the bulk pass, pre-copy by itself would " + (passes ? "take " : std::string()) +
                      precopy + "; post-copy from here about " + FormatMillis(postcopy_ms) + " (" +
                      FormatBytes(unsent) + " of the bulk unsent and about " + FormatBytes(dirtied) +
                      " sent and dirtied since) " + inputs + "; EarlyPostcopy=yes"});
  ended_ = true;
  return true;
}

void AdaptiveMode::NoteThrottleAsked(int level, uint64_t pass) {
  throttle_target_ = level;
  throttle_asked_pass_ = pass;
  // No ratio was measured before it: it is never judged to show no effect
  // against one; a level too low is raised from where it is, as usual.
  ratio_before_throttle_ = std::numeric_limits<double>::infinity();
}

void AdaptiveMode::Applied(const Decision& d, bool ok) {
  if (ok) return;
  if (d.action == "start-postcopy" || d.action == "pause-guest" || d.action == "abort") ended_ = false;
  // Refused (libvirt: the migration was not started with post-copy allowed,
  // which it cannot tell beforehand): Escalate=postcopy-or-pause pauses next.
  if (d.action == "start-postcopy") postcopy_refused_ = true;
  if (d.action == "set-throttle-level") throttle_target_ = 0;
  if (d.action == "set-dirty-limit") dirty_limit_ = 0;
  if (d.action == "set-switchover-bandwidth") {
    // QEMU would not take it: judge as before 8.2 from now on.
    telling_refused_ = true;
    told_rate_ = 0;
  }
}

}  // namespace vc
