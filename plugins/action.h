// Convergence actions: one per file in plugins/, listed in the table of
// registry.cc. The controller names actions; it never includes them.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "src/backend/migration_backend.h"
#include "src/base/status.h"

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
  /// The name policies and decisions use, e.g. "set-downtime".
  virtual std::string_view name() const = 0;
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

}  // namespace vc
