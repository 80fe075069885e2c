// The table of convergence actions. Adding one: a file in plugins/, its
// accessor declared here, a row in kActions.
#include "plugins/builtin_actions.h"

namespace vc {
namespace {

using Accessor = const Action& (*)();
constexpr Accessor kActions[] = {
    &SetDowntimeAction,
    &StartPostcopyAction,
    &AbortAction,
    &SetBandwidthAction,
    &PauseGuestAction,
    &SetThrottleInitialAction,
    &SetThrottleIncrementAction,
    &SetThrottleMaxAction,
    &SetThrottleLevelAction,
    &SetThrottleTailslowAction,
    &SetXbzrleCacheAction,
    &SetDirtyLimitAction,
};

}  // namespace

const Action* FindAction(std::string_view name) {
  for (Accessor a : kActions) {
    if (a().name() == name) return &a();
  }
  return nullptr;
}

std::vector<const Action*> AllActions() {
  std::vector<const Action*> all;
  for (Accessor a : kActions) all.push_back(&a());
  return all;
}

}  // namespace vc
