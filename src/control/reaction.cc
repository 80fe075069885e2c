#include "src/control/reaction.h"

#include <array>
#include <utility>

namespace vc {
namespace {

constexpr std::array<std::pair<DecisionKind, std::string_view>, 11> kNames = {{
    {DecisionKind::kScheduleStep, "schedule"},
    {DecisionKind::kBudget, "budget"},
    {DecisionKind::kSwitchoverCorrection, "switchover-correction"},
    {DecisionKind::kSwitchover, "switchover"},
    {DecisionKind::kThrottle, "throttle"},
    {DecisionKind::kThrottleUndo, "throttle-undo"},
    {DecisionKind::kEscalation, "escalation"},
    {DecisionKind::kHostShare, "host-share"},
    {DecisionKind::kOperator, "operator"},
    {DecisionKind::kHistory, "history"},
    {DecisionKind::kEarly, "early"},
}};

}  // namespace

std::string_view DecisionKindName(DecisionKind kind) {
  for (const auto& [k, name] : kNames) {
    if (k == kind) return name;
  }
  return "?";
}

std::optional<DecisionKind> DecisionKindNamed(std::string_view name) {
  for (const auto& [k, n] : kNames) {
    if (n == name) return k;
  }
  return std::nullopt;
}

}  // namespace vc
