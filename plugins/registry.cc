// The table of convergence actions. Adding one: a file in plugins/, its
// accessor declared here, a row in kActions.
#include "plugins/builtin_actions.h"

#include <vector>

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
    &SetSwitchoverBandwidthAction,
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

policy::ActionVocabulary StepVocabulary() {
  static const std::vector<policy::ActionWord> kWords = [] {
    std::vector<policy::ActionWord> words;
    for (Accessor a : kActions) words.push_back({a().policy_word(), a().name(), a().value_kind()});
    words.push_back({kPostcopyOrPause, kPostcopyOrPause, policy::ValueKind::kNone});
    words.push_back({kDowntimeOrAbort, kDowntimeOrAbort, policy::ValueKind::kMillis});
    return words;
  }();
  return kWords;
}

std::string ActionValueText(std::string_view action, int64_t value) {
  const Action* a = FindAction(action);
  return a ? a->ValueText(value) : "";
}

}  // namespace vc
