#include "src/policy/schedule.h"

#include <algorithm>
#include <cmath>

#include "src/policy/values.h"

namespace vc::policy {

double DataSize(const Policy& p, uint64_t ram_bytes, uint64_t disk_bytes) {
  const double bytes = static_cast<double>(ram_bytes) + static_cast<double>(disk_bytes);
  const double floor_bytes = static_cast<double>(p.data_floor.value);
  const double counted = std::max(bytes, floor_bytes);
  if (p.data_unit.value == DataUnit::kGBRoundedUp) return std::ceil(counted / 1e9);
  return counted / (1024.0 * 1024 * 1024);
}

std::optional<int64_t> BudgetMs(const Policy& p, uint64_t ram_bytes, uint64_t disk_bytes) {
  if (p.budget_per_gib.value == 0 && p.budget_per_disk_gib.value == 0 && p.budget_minimum.value == 0) {
    return std::nullopt;
  }
  const double data = DataSize(p, ram_bytes, disk_bytes);
  const double disk = DataSize(p, 0, disk_bytes) * (disk_bytes ? 1 : 0);
  double ms = static_cast<double>(p.budget_per_gib.value) * data;
  ms += static_cast<double>(p.budget_per_disk_gib.value) * disk;
  return std::max<int64_t>(p.budget_minimum.value, std::llround(ms));
}

std::optional<int64_t> BudgetMsAt(const Policy& p, uint64_t ram_bytes, uint64_t disk_bytes, uint64_t ram_walked,
                                  int64_t elapsed_ms) {
  std::optional<int64_t> budget = BudgetMs(p, ram_bytes, disk_bytes);
  if (p.budget_copies.value == 0) return budget;
  if (!budget) budget = 0;  // copies only
  const double copies = static_cast<double>(p.budget_copies.value) * static_cast<double>(ram_bytes);
  // Nothing gone through yet: the pace is unknown, and the copies not made.
  if (ram_walked == 0) return std::max<int64_t>(*budget, elapsed_ms + 1);
  const double at_pace = static_cast<double>(std::max<int64_t>(0, elapsed_ms)) * copies / static_cast<double>(ram_walked);
  return std::max<int64_t>(*budget, std::llround(std::ceil(at_pace)));
}

std::vector<PlannedStep> ExpandSchedule(const Policy& p, uint64_t ram_bytes, uint64_t disk_bytes) {
  std::vector<PlannedStep> out;
  const double data = DataSize(p, ram_bytes, disk_bytes);
  uint64_t last_iteration = 0;
  for (const Step& s : p.steps.value) {
    std::string acts;
    for (const StepAction& a : s.actions) acts += (acts.empty() ? "" : " ") + a.ToString();
    std::string when;
    switch (s.when.kind) {
      case Condition::Kind::kStart:
        when = "start";
        break;
      case Condition::Kind::kIteration: {
        uint64_t k = std::max(s.when.count + 1, last_iteration + 1);
        last_iteration = k;
        when = "iteration " + std::to_string(k);
        break;
      }
      case Condition::Kind::kStall:
        when = "stall " + std::to_string(s.when.count);
        break;
      case Condition::Kind::kElapsed: {
        // Nova truncates the per-step delay to whole seconds first.
        int64_t ms = s.when.ms;
        if (s.when.per_gib) ms = std::llround(std::floor(static_cast<double>(ms) * data / 1000) * 1000);
        when = FormatMillisExact(ms);
        break;
      }
      case Condition::Kind::kExpectedDowntime:
        when = "expected downtime > " + FormatMillisExact(s.when.ms);
        break;
      case Condition::Kind::kNoProgress:
        when = "no progress for " + FormatMillisExact(s.when.ms);
        break;
      case Condition::Kind::kAfterPrevious:
        when = FormatMillisExact(s.when.ms) + (out.empty() ? " after the start" : " after the step before");
        break;
      case Condition::Kind::kStalled:
        when = "stalled for " + FormatMillisExact(s.when.ms) + ", at a local minimum";
        break;
    }
    out.push_back({when, acts});
  }
  if (p.adaptive.value) {
    std::string levers = "downtime<=" + FormatMillisExact(p.adaptive_max_downtime.value);
    if (p.switchover_bandwidth.value) levers += " (switch-over at " + FormatRateExact(p.switchover_bandwidth.value) + ")";
    if (p.adaptive_dirty_limit.value) levers += " dirty-limit";
    if (p.adaptive_throttle.value) levers += " throttle<=" + std::to_string(p.adaptive_max_throttle.value) + "%";
    if (p.adaptive_early_postcopy.value) {
      out.push_back({"adaptive, in the bulk pass", "postcopy when pre-copy would take far longer"});
    }
    out.push_back({"adaptive, at pass ends", levers + " then " + FormatFinalAction(p.adaptive_escalate.value)});
  }
  std::optional<int64_t> budget = BudgetMs(p, ram_bytes, disk_bytes);
  const int64_t copies = p.budget_copies.value;
  if ((budget || copies) && p.final_action.value != FinalAction::kNone) {
    std::string when = "budget " + (budget ? FormatMillisExact(*budget) : std::string());
    if (copies) when += std::string(budget ? " and " : "") + std::to_string(copies) + " copies of RAM";
    out.push_back({when, FormatFinalAction(p.final_action.value)});
  }
  return out;
}

std::string FormatSchedule(const std::vector<PlannedStep>& steps) {
  std::string s;
  for (const PlannedStep& p : steps) s += p.when + ": " + p.actions + "\n";
  return s;
}

}  // namespace vc::policy
