// Reaction: what turns samples of a migration into decisions: the built-in
// reaction (DefaultReaction), a policy's schedule (ScheduleRunner), and the
// adaptive mode (AdaptiveReaction, which runs a schedule too). All are pure:
// the Controller applies the decisions.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "src/backend/migration_backend.h"

namespace vc {

/// What the controller asks for; \a action names a plugin.
struct Decision {
  std::string action;
  int64_t value = 0;
  std::string reason;
};

/// What a reaction needs to know besides the samples.
struct ReactionInputs {
  int64_t downtime_limit_ms = 300;  // QEMU's current downtime-limit
  bool postcopy_possible = false;
  bool throttle_possible = false;     // auto-converge on, and its parameters settable
  std::string throttle_refusal = "auto-converge is off";  // why not, when not
  bool dirty_limit_possible = false;  // QEMU 8.1+ with the dirty-limit capability on
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
  /// "the built-in reaction", "policy (3 files)".
  virtual std::string Describe() const = 0;
};

}  // namespace vc
