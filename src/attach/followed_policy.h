// FollowedPolicy: the policy a follower runs its migration by. Resolved for
// the VM when following starts (its drop-ins merged onto the built-in
// default), reloaded on SIGHUP or when a policy directory changes (the
// changed settings logged), with what this host learned of its switch-over
// speed to the same destination; and at a completed end, what the final
// copy taught is remembered for the next migration; with FromHistory=, the
// VM's last migration from this host says where this one starts.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "src/attach/follow_loop.h"
#include "src/backend/migration_backend.h"
#include "src/control/policy_reaction.h"
#include "src/control/switchover_speed.h"
#include "src/policy/resolve.h"
#include "src/state/paths.h"
#include "src/state/switchover_memory.h"
#include "src/view/live_view.h"

namespace vc {

/// The final copies this host remembers to \a peer, for a policy that
/// learns its switch-over speed (LearnSwitchoverBandwidth=, no
/// SwitchoverBandwidth=); none otherwise, or where nothing was learned.
std::optional<LearnedSwitchover> RecallSwitchover(const policy::Policy& p, const StatePaths& paths,
                                                  const std::string& peer);

class FollowedPolicy {
 public:
  /// \a root: where drop-ins are looked for ("" = the built-in default
  /// alone). \a paths: its state dir keeps the switch-over speeds learned
  /// (none: nothing learned). \a peer: the destination, when known.
  FollowedPolicy(std::string root, StatePaths paths, std::string peer, LiveView& view);
  FollowedPolicy(const FollowedPolicy&) = delete;
  FollowedPolicy& operator=(const FollowedPolicy&) = delete;

  /// Resolves the policy for the VM \a facts describe (\a ram_total
  /// bytes when QEMU reports them) and makes its reaction.
  PolicyReaction& Choose(const BackendFacts& facts, uint64_t ram_total);
  /// Resolves it again, for a reason \a why; the reaction takes the new
  /// values at its next decision. False when there is nothing to reload.
  bool Reload(const BackendFacts& facts, uint64_t ram_total, const std::string& why);
  /// Calls \a on_change when a file in a policy directory changes.
  void Watch(sd_event* e, std::function<void()> on_change);

  /// Null until Choose().
  PolicyReaction* reaction() const { return reaction_.get(); }
  /// Remembers the final copy of a completed migration for the next one.
  void RememberSwitchover(const SwitchoverCopy& copy);

 private:
  policy::Resolved Resolve(const BackendFacts& facts, uint64_t ram_total);
  /// "policy (the built-in default and 2 files under /)".
  std::string Describe(const policy::Resolved& r) const;
  /// LearnSwitchoverBandwidth=: this host's earlier final copies to the
  /// same destination (unknown when \a p does not learn, or states the speed).
  SwitchoverSpeed Learned(const policy::Policy& p);
  /// FromHistory=: where the VM's last migration from this host ended
  /// (nothing when \a p does not ask, or none is recorded); said either way.
  HistoryStart FromHistory(const policy::Policy& p, const BackendFacts& facts);

  std::string root_;
  StatePaths paths_;
  std::string peer_;
  LiveView& view_;
  std::unique_ptr<PolicyReaction> reaction_;
  std::vector<policy::ShownSetting> shown_;
  bool told_learned_ = false;  // the learned switch-over speed is said once
  DirectoryWatch files_;
};

}  // namespace vc
