#include "src/control/policy_reaction.h"

#include "src/policy/schedule.h"

namespace vc {

namespace {

bool EndsMigration(const Decision& d) {
  return d.action == "abort" || d.action == "start-postcopy" || d.action == "pause-guest";
}

}  // namespace

PolicyReaction::PolicyReaction(policy::Policy p, std::string description, SwitchoverSpeed learned,
                               HistoryStart history)
    : policy_(p),
      adaptive_on_(p.adaptive.value),
      schedule_(p, std::move(description)),
      adaptive_(AdaptiveConfig::From(p, learned)),
      history_(std::move(history)) {}

void PolicyReaction::Reload(policy::Policy p, std::string description, SwitchoverSpeed learned) {
  policy_ = p;
  adaptive_on_ = p.adaptive.value;
  adaptive_.set_config(AdaptiveConfig::From(p, learned));
  schedule_.Reload(std::move(p), std::move(description));
}

std::string PolicyReaction::Describe() const {
  return schedule_.Describe() + (adaptive_on_ ? ", adaptive" : "");
}

std::vector<Decision> PolicyReaction::Decide(const MigrationSample& s, bool after_sync, const ReactionInputs& in) {
  std::vector<Decision> out = history_.Decide(s, in);
  for (const Decision& d : out) {
    if (d.action == "set-throttle-level") adaptive_.NoteThrottleAsked(static_cast<int>(d.value), s.pass);
  }
  for (Decision& d : schedule_.Decide(s, after_sync, in)) out.push_back(std::move(d));
  for (const Decision& d : out) ended_ = ended_ || EndsMigration(d);
  // The adaptive mode sees every sample (its estimates need them all) but
  // acts only while the schedule has not ended the migration.
  if (!adaptive_on_ || ended_) {
    adaptive_.Observe(s, after_sync);
  } else {
    const std::optional<int64_t> budget = s.ram_total > 0 ? policy::BudgetMsAt(policy_, s.ram_total, 0, s.ram_walked(), s.total_time_ms) : std::nullopt;
    for (Decision& d : adaptive_.Decide(s, after_sync, in, budget)) {
      ended_ = ended_ || EndsMigration(d);
      out.push_back(std::move(d));
    }
  }
  return out;
}

void PolicyReaction::Applied(const Decision& d, bool ok) {
  if (!ok && EndsMigration(d)) ended_ = false;
  if (d.kind == DecisionKind::kHistory) {
    if (!ok) adaptive_.Applied(d, ok);  // a throttle it waits for, or post-copy refused
    return;
  }
  if (d.reason.rfind("adaptive:", 0) == 0) {
    adaptive_.Applied(d, ok);
  } else {
    schedule_.Applied(d, ok);
  }
}

}  // namespace vc
