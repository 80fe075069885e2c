#include "src/control/schedule_runner.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <iterator>

#include "plugins/action.h"
#include "src/base/units.h"
#include "src/policy/schedule.h"
#include "src/policy/values.h"

namespace vc {

using policy::Condition;

namespace {

StallConfig StallConfigOf(const policy::Policy& p) {
  return {static_cast<double>(p.tolerance.value) / 100, p.stall_passes.value, p.stall_time.value};
}

// KubeVirt's stall detector smooths the bandwidth it divides by so (VEP 248).
constexpr double kKubevirtBandwidthAlpha = 0.4;

std::string TryTimes() { return FormatFixed(kDowntimeOrAbortTry, 1) + "x"; }

}  // namespace

ScheduleRunner::ScheduleRunner(policy::Policy p, std::string description)
    : p_(std::move(p)), description_(std::move(description)), detector_(StallConfigOf(p_)) {}

void ScheduleRunner::Reload(policy::Policy p, std::string description) {
  p_ = std::move(p);
  description_ = std::move(description);
  detector_.set_config(StallConfigOf(p_));
}

void ScheduleRunner::Fire(const policy::Step& step, const MigrationSample& s, const std::string& why,
                          const ReactionInputs& in, std::vector<Decision>* out) {
  fired_[step.ToString()] = s.total_time_ms;
  const std::string reason =
      "policy step '" + step.ToString() + "' (" + step.origin.ToString() + "): " + why;
  for (const policy::StepAction& a : step.actions) {
    if (a.name == kDowntimeOrAbort) {
      out->push_back(DowntimeOrAbort(a.value, s, reason));
      continue;
    }
    std::string action = a.name;
    if (action == kPostcopyOrPause) action = in.postcopy_possible ? "start-postcopy" : "pause-guest";
    out->push_back({DecisionKind::kScheduleStep, action, a.value, reason});
  }
}

Decision ScheduleRunner::DowntimeOrAbort(int64_t limit_ms, const MigrationSample& s, const std::string& reason) const {
  const double bandwidth = bandwidth_ewma_ > 0 ? bandwidth_ewma_ : s.bandwidth;
  const std::string at = "remaining " + FormatBytes(static_cast<double>(s.ram_remaining)) + " at " +
                         FormatRate(bandwidth) + " (smoothed)";
  // Nothing to judge by is no reason to end the migration: tried at the limit.
  if (bandwidth <= 0) {
    return {DecisionKind::kScheduleStep, "set-downtime", limit_ms,
            reason + "; no bandwidth measured yet: tried at the limit"};
  }
  const int64_t implied = static_cast<int64_t>(std::ceil(static_cast<double>(s.ram_remaining) * 1000 / bandwidth));
  const std::string implies = "; " + at + " implies " + std::to_string(implied) + " ms of downtime";
  if (static_cast<double>(implied) > kDowntimeOrAbortTry * static_cast<double>(limit_ms)) {
    return {DecisionKind::kScheduleStep, "abort", 0,
            reason + implies + ", over " + TryTimes() + " " + std::to_string(limit_ms) + " ms"};
  }
  const int64_t downtime = std::min(implied, limit_ms);
  return {DecisionKind::kScheduleStep, "set-downtime", downtime,
          reason + implies + (implied > limit_ms ? ", within " + TryTimes() + " " +
                                                       std::to_string(limit_ms) + " ms: tried at the limit"
                                                 : "")};
}

std::optional<uint64_t> ScheduleRunner::LowestSetUntil(int64_t t_ms) const {
  auto after = std::upper_bound(pass_ends_.begin(), pass_ends_.end(), t_ms,
                                [](int64_t t, const PassEnd& e) { return t < e.t_ms; });
  if (after == pass_ends_.begin()) return std::nullopt;
  return std::prev(after)->lowest;
}

std::string ScheduleRunner::Copies(const MigrationSample& s) const {
  if (p_.budget_copies.value == 0 || s.ram_total == 0) return "";
  char buf[96];
  std::snprintf(buf, sizeof buf, " and RAM gone through %.1f times (Copies=%lld)",
                static_cast<double>(s.ram_walked()) / static_cast<double>(s.ram_total),
                static_cast<long long>(p_.budget_copies.value));
  return buf;
}

void ScheduleRunner::FinalAction(const MigrationSample& s, int64_t budget, const ReactionInputs& in,
                                 std::vector<Decision>* out) {
  budget_fired_ = true;
  std::string why = "budget " + FormatMillis(static_cast<double>(budget)) + " (" +
                    policy::FormatMillisExact(p_.budget_per_gib.value) + "/GiB, " +
                    p_.budget_per_gib.origin.ToString() + ") used up after " +
                    FormatMillis(static_cast<double>(s.total_time_ms)) + Copies(s) + ": remaining " +
                    FormatBytes(static_cast<double>(s.ram_remaining)) + ", QEMU expects " +
                    std::to_string(s.expected_downtime_ms) + " ms downtime";
  switch (p_.final_action.value) {
    case policy::FinalAction::kNone:
      return;
    case policy::FinalAction::kAbort:
      out->push_back({DecisionKind::kBudget, "abort", 0, why + "; Budget.Action=abort"});
      return;
    case policy::FinalAction::kPause:
      out->push_back({DecisionKind::kBudget, "pause-guest", 0, why + "; Budget.Action=pause"});
      return;
    case policy::FinalAction::kPostcopy:
      if (in.postcopy_possible) {
        out->push_back({DecisionKind::kBudget, "start-postcopy", 0, why + "; Budget.Action=postcopy"});
      } else {
        out->push_back({DecisionKind::kBudget, "abort", 0, why + "; Budget.Action=postcopy, but postcopy-ram is off: aborting"});
      }
      return;
    case policy::FinalAction::kPostcopyOrPause:
      out->push_back({DecisionKind::kBudget, in.postcopy_possible ? "start-postcopy" : "pause-guest", 0,
                      why + "; Budget.Action=postcopy-or-pause"});
      return;
  }
}

std::vector<Decision> ScheduleRunner::Decide(const MigrationSample& s, bool after_sync,
                                             const ReactionInputs& in) {
  std::vector<Decision> out;
  if (!s.running() || s.in_postcopy() || ended_) return out;
  if (!started_) {
    started_ = true;
    initial_pass_ = std::max<uint64_t>(1, s.pass);
    last_iteration_pass_ = s.pass;
    progress_at_ms_ = s.total_time_ms;
  }
  if (detector_.Update(s, after_sync)) stalls_++;
  bool no_progress_moved = !previous_remaining_ || s.ram_remaining < *previous_remaining_;
  if (no_progress_moved) progress_at_ms_ = s.total_time_ms;
  previous_remaining_ = s.ram_remaining;
  if (s.bandwidth > 0) {
    bandwidth_ewma_ = bandwidth_ewma_ > 0 ? kKubevirtBandwidthAlpha * s.bandwidth +
                                                (1 - kKubevirtBandwidthAlpha) * bandwidth_ewma_
                                          : s.bandwidth;
  }
  // A pass end of pre-copy proper: the dirty set QEMU judges the switch-over by.
  const bool pass_end = after_sync && s.pass >= 2 && (pass_ends_.empty() || s.total_time_ms > pass_ends_.back().t_ms);
  if (pass_end) {
    pass_ends_.push_back({s.total_time_ms, pass_ends_.empty() ? s.ram_remaining
                                                              : std::min(pass_ends_.back().lowest, s.ram_remaining)});
  }

  const bool new_iteration = after_sync && s.pass > last_iteration_pass_;
  if (new_iteration) last_iteration_pass_ = s.pass;
  const uint64_t k = s.pass > initial_pass_ ? s.pass - initial_pass_ : 0;
  const uint64_t ram = s.ram_total;
  bool iteration_used = false;

  const policy::Step* before = nullptr;  // the step above this one
  for (const policy::Step& step : p_.steps.value) {
    const policy::Step* previous = before;
    before = &step;
    if (fired_.count(step.ToString())) continue;
    const Condition& c = step.when;
    switch (c.kind) {
      case Condition::Kind::kStart:
        Fire(step, s, "the migration started", in, &out);
        break;
      case Condition::Kind::kStall:
        if (stalls_ >= static_cast<int>(c.count)) {
          Fire(step, s, "stall " + std::to_string(stalls_) + ": no new minimum of remaining (" +
                         FormatBytes(static_cast<double>(detector_.min_remaining().value_or(0))) +
                         ") for Stall.Passes=" + std::to_string(p_.stall_passes.value) +
                         " passes or Stall.Time=" + policy::FormatMillisExact(p_.stall_time.value),
               in, &out);
        }
        break;
      case Condition::Kind::kIteration:
        // In order: the first unfired iteration step blocks the later ones.
        if (iteration_used) break;
        iteration_used = true;
        if (new_iteration && k > c.count) {
          Fire(step, s, "new iteration " + std::to_string(k) + " > " + std::to_string(c.count), in, &out);
        }
        break;
      case Condition::Kind::kElapsed: {
        if (c.per_gib && ram == 0) break;  // the size is not known yet (setup)
        double factor = c.per_gib ? policy::DataSize(p_, ram, 0) : 1.0;
        int64_t at = c.per_gib ? static_cast<int64_t>(static_cast<double>(c.ms) * factor) : c.ms;
        if (s.total_time_ms >= at) {
          Fire(step, s, FormatMillis(static_cast<double>(s.total_time_ms)) + " elapsed", in, &out);
        }
        break;
      }
      case Condition::Kind::kExpectedDowntime:
        if (after_sync && s.pass >= 2 && s.expected_downtime_ms > c.ms) {
          Fire(step, s, "QEMU expects " + std::to_string(s.expected_downtime_ms) + " ms of downtime", in, &out);
        }
        break;
      case Condition::Kind::kAfterPrevious: {
        int64_t since = 0;  // the first step counts from the start
        if (previous) {
          auto fired = fired_.find(previous->ToString());
          if (fired == fired_.end()) break;
          since = fired->second;
        }
        if (s.total_time_ms - since >= c.ms) {
          Fire(step, s,
               FormatMillis(static_cast<double>(s.total_time_ms - since)) +
                   (previous ? " after the step before ('" + previous->ToString() + "')" : " after the start"),
               in, &out);
        }
        break;
      }
      case Condition::Kind::kStalled: {
        if (!pass_end) break;
        const double margin = static_cast<double>(p_.tolerance.value) / 100;
        const double set = static_cast<double>(s.ram_remaining);
        if (!stalled_.count(step.ToString())) {
          const std::optional<uint64_t> old = LowestSetUntil(s.total_time_ms - c.ms);
          if (!old || set < (1 - margin) * static_cast<double>(*old)) break;
          stalled_.insert(step.ToString());
        }
        const double lowest = static_cast<double>(pass_ends_.back().lowest);
        if (set <= (1 + margin) * lowest) {
          Fire(step, s,
               "stalled: the dirty set at pass ends has not gone " + std::to_string(p_.tolerance.value) +
                   "% (Stall.Tolerance) below its lowest from " + FormatMillis(static_cast<double>(c.ms)) +
                   " before; now at a local minimum (" + FormatBytes(set) + ", lowest " + FormatBytes(lowest) + ")",
               in, &out);
        }
        break;
      }
      case Condition::Kind::kNoProgress:
        if (s.total_time_ms - progress_at_ms_ >= c.ms) {
          Fire(step, s, "remaining has not dropped for " +
                         FormatMillis(static_cast<double>(s.total_time_ms - progress_at_ms_)),
               in, &out);
        }
        break;
    }
  }
  // QEMU reports no RAM figures during setup: a budget counted from 0 bytes
  // would end the migration before it began.
  std::optional<int64_t> budget = ram > 0 ? policy::BudgetMsAt(p_, ram, 0, s.ram_walked(), s.total_time_ms) : std::nullopt;
  if (budget && !budget_fired_ && s.total_time_ms >= *budget) FinalAction(s, *budget, in, &out);
  for (const Decision& d : out) {
    if (d.action == "abort" || d.action == "start-postcopy" || d.action == "pause-guest") ended_ = true;
  }
  return out;
}

void ScheduleRunner::Applied(const Decision& d, bool ok) {
  // A switch that did not work leaves the rest of the schedule to run, as
  // VDSM moves on to its next item.
  if (!ok && (d.action == "abort" || d.action == "start-postcopy" || d.action == "pause-guest")) {
    ended_ = false;
  }
}

}  // namespace vc
