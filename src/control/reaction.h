// Reaction: what turns samples of a migration into decisions: a policy's
// schedule (ScheduleRunner) and the adaptive mode (AdaptiveReaction), which
// PolicyReaction runs together. All are pure: the Controller applies the
// decisions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "src/backend/migration_backend.h"

namespace vc {

/// Why a decision was taken, as a type: what tests assert, and what
/// records, the journal and metrics classify by (DecisionKindName); the
/// reason says the rest, with its inputs, for a person.
enum class DecisionKind {
  kScheduleStep,          // a step of the policy's [Schedule]
  kBudget,                // the time budget ran out ([Budget] Action=)
  kSwitchoverCorrection,  // adaptive: the limit that gives the downtime meant at the real final-copy speed
  kSwitchover,            // adaptive: a limit that lets QEMU switch over now or at the floor
  kThrottle,              // adaptive: a throttle or dirty limit at a computed level
  kThrottleUndo,          // adaptive: a throttle no longer needed, capped
  kEscalation,            // adaptive: post-copy, pause or abort as Escalate= says
  kHostShare,             // the migration's share of the host's bandwidth changed
  kOperator,              // virt-converge cancel / postcopy
  kHistory,               // [Start] FromHistory=: where the VM's last migration ended
  kEarly,                 // adaptive: post-copy in the bulk pass ([Adaptive] EarlyPostcopy=)
};

/// A stable name: "schedule", "budget", "switchover-correction",
/// "switchover", "throttle", "throttle-undo", "escalation", "host-share",
/// "operator", "history", "early".
std::string_view DecisionKindName(DecisionKind kind);
/// The kind named \a name (DecisionKindName's), if any.
std::optional<DecisionKind> DecisionKindNamed(std::string_view name);

/// What the controller asks for; \a action names a plugin.
struct Decision {
  DecisionKind kind;
  std::string action;
  int64_t value = 0;
  std::string reason;
  /// Applied only when the decision just before it in the same list was
  /// done (the limit that lets a paused guest switch over is no step of
  /// its own: without the pause it is not taken).
  bool only_after_previous = false;
};

/// What a reaction needs to know besides the samples.
struct ReactionInputs {
  int64_t downtime_limit_ms = 300;  // QEMU's current downtime-limit
  bool postcopy_possible = false;
  bool throttle_possible = false;     // auto-converge on, and its parameters settable
  std::string throttle_refusal = "auto-converge is off";  // why not, when not
  bool dirty_limit_possible = false;  // QEMU 8.1+ with the dirty-limit capability on
  /// QEMU 8.2+ reports avail-switchover-bandwidth and it may be set: the
  /// final copy's speed can be told to QEMU, and downtime-limit is then
  /// the real downtime.
  bool switchover_bandwidth_possible = false;
  /// QEMU 8.2+ was given avail-switchover-bandwidth at the start (bytes/s)
  /// and it cannot be changed (libvirt 11.1+ without QMP passthrough):
  /// downtime-limit is the real downtime of a copy at that speed. 0 = not so.
  uint64_t switchover_bandwidth_fixed = 0;
  MigrationTuning tuning;             // QEMU's parameters as last read
};

class Reaction {
 public:
  virtual ~Reaction() = default;
  /// Feeds one sample; \a after_sync when it was taken right after a
  /// dirty-bitmap sync. Returns the decisions to apply, in order.
  virtual std::vector<Decision> Decide(const MigrationSample& s, bool after_sync,
                                       const ReactionInputs& in) = 0;
  /// Reports whether a decision could be applied.
  virtual void Applied(const Decision& d, bool ok) = 0;
  /// What was judged and led to no decision, worth a line in the log (why
  /// nothing was done), since the last call; each is given once.
  virtual std::vector<std::string> TakeNotes() { return {}; }
  /// "the built-in default policy", "policy (the built-in default and 3 files under /)".
  virtual std::string Describe() const = 0;
};

}  // namespace vc
