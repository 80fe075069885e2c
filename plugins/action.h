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

class Action {
 public:
  virtual ~Action() = default;
  /// The name policies and decisions use, e.g. "set-downtime".
  virtual std::string_view name() const = 0;
  /// OK when the action is possible here; otherwise kNotSupported saying
  /// "not possible here because ...". Never changes anything.
  virtual Status CheckPossible(const ActionContext& ctx) const = 0;
  /// Carries the action out with \a value (its meaning is the action's).
  virtual Status Apply(ActionContext& ctx, int64_t value) const = 0;
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
