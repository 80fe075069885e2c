// Convergence actions: one per file in plugins/, listed in the table of
// registry.cc. Each owns its whole description: its name, the word a
// policy's Step= calls it by, its value's kind and how that is shown, what
// it would change and how it changes it.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "src/backend/migration_backend.h"
#include "src/base/status.h"
#include "src/policy/action_words.h"

namespace vc {

/// What an action may look at and act on.
struct ActionContext {
  MigrationBackend& backend;
  const BackendFacts& facts;
  const MigrationSample& sample;
};

/// What an action changes in QEMU or libvirt: the parameters it sets (to
/// these values), and whether it pauses the guest, switches to post-copy or
/// cancels the migration. Whoever acts records it first, and puts back
/// what it changed when the migration does not complete.
struct ActionEffect {
  MigrationTuning tuning;
  bool pauses_guest = false;
  bool starts_postcopy = false;
  bool cancels_migration = false;
};

class Action {
 public:
  virtual ~Action() = default;
  /// The name decisions, records and lines use, e.g. "set-downtime".
  virtual std::string_view name() const = 0;
  /// The word a policy's Step= writes for it, e.g. "downtime".
  virtual std::string_view policy_word() const = 0;
  /// What its value is (kNone: it takes none).
  virtual policy::ValueKind value_kind() const = 0;
  /// How \a value reads after its name: " 400 ms", " 32.0 MiB/s", "".
  virtual std::string ValueText(int64_t value) const { return policy::ShowActionValue(value_kind(), value); }
  /// OK when the action is possible here; otherwise kNotSupported saying
  /// "not possible here because ...". Never changes anything.
  virtual Status CheckPossible(const ActionContext& ctx) const = 0;
  /// What carrying the action out with \a value (its meaning is the
  /// action's) would change; kInvalidArgument for a value it cannot take.
  /// Never changes anything.
  virtual Result<ActionEffect> Effect(const ActionContext& ctx, int64_t value) const = 0;
  /// Makes the change \a effect (from Effect()) describes.
  virtual Status Apply(ActionContext& ctx, const ActionEffect& effect) const = 0;
};

/// An action that sets migration parameters: Apply sets effect.tuning.
class ParameterAction : public Action {
 public:
  Status Apply(ActionContext& ctx, const ActionEffect& effect) const final {
    return ctx.backend.SetTuning(effect.tuning);
  }
};

/// The throttle-trigger-threshold set-throttle-level sets (QEMU 5.0+), in
/// percent: any sync period in which the guest dirtied anything counts
/// towards QEMU's throttle step. At QEMU's own 50% a guest dirtying about
/// half of what is sent may never qualify, and the level asked is never
/// applied.
constexpr int64_t kThrottleLevelTrigger = 1;

/// The action registered under \a name, or nullptr.
const Action* FindAction(std::string_view name);
/// Every registered action, in table order.
std::vector<const Action*> AllActions();

/// The schedule's composite word: start-postcopy where the migration allows
/// it, else pause-guest (src/control/schedule_runner.cc resolves it).
inline constexpr std::string_view kPostcopyOrPause = "postcopy-or-pause";
/// The schedule's composite word of KubeVirt's stall detector (VEP 248),
/// with a limit T: set-downtime to what the bytes remaining imply at the
/// bandwidth, at most T, where they imply up to kDowntimeOrAbortTry x T
/// (T with no bandwidth measured); else abort (src/control/schedule_runner.cc
/// resolves it).
inline constexpr std::string_view kDowntimeOrAbort = "downtime-or-abort";
inline constexpr double kDowntimeOrAbortTry = 1.5;
/// Every word Step= knows: each action's, kPostcopyOrPause and kDowntimeOrAbort.
policy::ActionVocabulary StepVocabulary();
/// How \a action's \a value reads after its name (Action::ValueText); ""
/// for an action this build does not know.
std::string ActionValueText(std::string_view action, int64_t value);

}  // namespace vc
