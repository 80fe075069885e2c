#include "src/control/history_start.h"

#include <algorithm>

namespace vc {

namespace {

bool Done(const ActionRecord& a) { return a.result == "done"; }

bool MayPostcopy(policy::FinalAction a) {
  return a == policy::FinalAction::kPostcopy || a == policy::FinalAction::kPostcopyOrPause;
}

/// Whether \a p itself may switch a migration to post-copy: an operator's
/// post-copy last time is no reason for the policy to take one now.
bool PolicyMayPostcopy(const policy::Policy& p) {
  if (p.postcopy.value || MayPostcopy(p.final_action.value)) return true;
  if (p.adaptive.value && MayPostcopy(p.adaptive_escalate.value)) return true;
  for (const policy::Step& s : p.steps.value) {
    for (const policy::StepAction& a : s.actions) {
      if (a.name == "start-postcopy") return true;
    }
  }
  return false;
}

}  // namespace

HistoryStart HistoryStart::From(const std::vector<ActionRecord>& last_actions, bool went_postcopy,
                                const policy::Policy& p, std::string source) {
  HistoryStart h;
  h.source_ = std::move(source);
  std::optional<int64_t> downtime, throttle;
  bool policy_postcopy = false;
  // The values in force when it ended: the last of each that was done.
  for (const ActionRecord& a : last_actions) {
    if (!Done(a)) continue;
    if (a.action == "set-downtime") downtime = a.value;
    if (a.action == "set-throttle-level") throttle = a.value;
    if (a.action == "start-postcopy" && a.kind != DecisionKind::kOperator) policy_postcopy = true;
  }
  if (downtime && *downtime > p.downtime.value) {
    h.downtime_ms_ = std::min(*downtime, p.adaptive_max_downtime.value);
  }
  if (throttle && *throttle > 0 && p.adaptive_throttle.value) {
    h.throttle_percent_ = std::min(*throttle, p.adaptive_max_throttle.value);
  }
  h.postcopy_ = went_postcopy && policy_postcopy && PolicyMayPostcopy(p);
  return h;
}

std::string HistoryStart::Describe() const {
  std::string out;
  auto add = [&out](const std::string& part) { out += (out.empty() ? "" : ", ") + part; };
  if (downtime_ms_) add("downtime-limit " + std::to_string(*downtime_ms_) + " ms");
  if (throttle_percent_) add("throttle " + std::to_string(*throttle_percent_) + "%");
  if (postcopy_) add("post-copy after the bulk pass");
  return out.empty() ? "nothing" : out;
}

std::vector<Decision> HistoryStart::Decide(const MigrationSample& s, const ReactionInputs& in) {
  std::vector<Decision> out;
  if (empty() || s.status != "active" || s.switching_over()) return out;
  const std::string why = std::string(kReasonPrefix) + " " + source_ + " ended with ";
  if (!started_) {
    started_ = true;
    if (downtime_ms_ && *downtime_ms_ > in.downtime_limit_ms) {
      out.push_back({DecisionKind::kHistory, "set-downtime", *downtime_ms_,
                     why + "downtime-limit " + std::to_string(*downtime_ms_) + " ms (FromHistory=)"});
    }
    if (throttle_percent_ && in.throttle_possible && s.throttle_percent < *throttle_percent_) {
      out.push_back({DecisionKind::kHistory, "set-throttle-level", *throttle_percent_,
                     why + "the throttle at " + std::to_string(*throttle_percent_) + "% (FromHistory=)"});
    }
  }
  // Once the bulk pass has sent every page: switched before, the guest
  // would fault on every page not sent yet.
  if (postcopy_ && !postcopy_asked_ && s.pass >= 2 && in.postcopy_possible) {
    postcopy_asked_ = true;
    out.push_back({DecisionKind::kHistory, "start-postcopy", 0, why + "post-copy (FromHistory=)"});
  }
  return out;
}

}  // namespace vc
