// PolicyReaction: what a resolved policy does with a migration. The
// schedule and the budget run exactly as written (ScheduleRunner); with
// [Adaptive] Enabled=yes the adaptive mode takes its own steps in between.
// A scheduled step that ends the migration (post-copy, pause, abort) ends
// the adaptive mode too. With [Start] FromHistory=yes the migration first
// starts where the VM's last one ended (HistoryStart).
#pragma once

#include <string>

#include "src/control/adaptive.h"
#include "src/control/history_start.h"
#include "src/control/schedule_runner.h"

namespace vc {

class PolicyReaction final : public Reaction {
 public:
  /// \a learned: this host's earlier final copies to the destination, for
  /// a policy that learns the switch-over speed.
  /// \a history: where the VM's last migration ended, for FromHistory=.
  PolicyReaction(policy::Policy p, std::string description, SwitchoverSpeed learned = {},
                 HistoryStart history = {});

  /// Takes a new policy; progress so far is kept (what history started
  /// stays as it was).
  void Reload(policy::Policy p, std::string description, SwitchoverSpeed learned = {});
  std::vector<Decision> Decide(const MigrationSample& s, bool after_sync, const ReactionInputs& in) override;
  void Applied(const Decision& d, bool ok) override;
  std::vector<std::string> TakeNotes() override { return adaptive_.TakeNotes(); }
  std::string Describe() const override;

  const policy::Policy& policy() const { return policy_; }
  const ScheduleRunner& schedule() const { return schedule_; }
  const AdaptiveMode& adaptive() const { return adaptive_; }

 private:
  policy::Policy policy_;  // for the budget
  bool adaptive_on_;
  ScheduleRunner schedule_;
  AdaptiveMode adaptive_;
  HistoryStart history_;
  bool ended_ = false;
};

}  // namespace vc
