// PolicyReaction: what a resolved policy does with a migration. The
// schedule and the budget run exactly as written (ScheduleRunner); with
// [Adaptive] Enabled=yes the adaptive mode takes its own steps in between.
// A scheduled step that ends the migration (post-copy, pause, abort) ends
// the adaptive mode too.
#pragma once

#include <string>

#include "src/control/adaptive.h"
#include "src/control/schedule_runner.h"

namespace vc {

class PolicyReaction final : public Reaction {
 public:
  /// \a learned: this host's earlier final copies to the destination, for
  /// a policy that learns the switch-over speed.
  PolicyReaction(policy::Policy p, std::string description, SwitchoverSpeed learned = {});

  /// Takes a new policy; progress so far is kept.
  void Reload(policy::Policy p, std::string description, SwitchoverSpeed learned = {});
  std::vector<Decision> Decide(const MigrationSample& s, bool after_sync, const ReactionInputs& in) override;
  void Applied(const Decision& d, bool ok) override;
  std::string Describe() const override;

  const policy::Policy& policy() const { return policy_; }
  const ScheduleRunner& schedule() const { return schedule_; }
  const AdaptiveMode& adaptive() const { return adaptive_; }

 private:
  policy::Policy policy_;  // for the budget
  bool adaptive_on_;
  ScheduleRunner schedule_;
  AdaptiveMode adaptive_;
  bool ended_ = false;
};

}  // namespace vc
