#include "src/control/default_reaction.h"

#include <algorithm>
#include <cmath>

#include "src/base/units.h"

namespace vc {

int64_t DefaultReaction::BudgetMs(uint64_t ram_bytes) const {
  double gib = static_cast<double>(ram_bytes) / (1024.0 * 1024 * 1024);
  return std::max<int64_t>(config_.min_budget.count(),
                           std::llround(gib * config_.budget_seconds_per_gib * 1000));
}

namespace {

std::string StallText(const Stall& st, const MigrationSample& s) {
  return "no new minimum of remaining (" + FormatBytes(static_cast<double>(st.min_remaining)) +
         " at pass " + std::to_string(st.min_pass) + ") for " + std::to_string(st.passes) +
         " passes / " + FormatMillis(static_cast<double>(st.ms)) + "; QEMU expects " +
         std::to_string(s.expected_downtime_ms) + " ms downtime";
}

}  // namespace

std::optional<Decision> DefaultReaction::OnSample(const MigrationSample& s, bool after_sync,
                                                  const ReactionInputs& in) {
  if (!s.running() || s.in_postcopy() || postcopy_requested_ || aborted_) return std::nullopt;
  const bool postcopy = in.postcopy_possible && !postcopy_failed_;

  const int64_t budget = BudgetMs(s.ram_total);
  if (s.total_time_ms >= budget) {
    std::string why = "time budget " + FormatMillis(static_cast<double>(budget)) + " (" +
                      std::to_string(std::lround(config_.budget_seconds_per_gib)) + " s/GiB × " +
                      FormatBytes(static_cast<double>(s.ram_total)) + ", at least " +
                      FormatMillis(static_cast<double>(config_.min_budget.count())) +
                      ") used up after " + FormatMillis(static_cast<double>(s.total_time_ms)) +
                      " without converging: remaining " +
                      FormatBytes(static_cast<double>(s.ram_remaining)) + ", QEMU expects " +
                      std::to_string(s.expected_downtime_ms) + " ms downtime, limit " +
                      std::to_string(in.downtime_limit_ms) + " ms";
    if (postcopy) {
      postcopy_requested_ = true;
      return Decision{DecisionKind::kBudget, "start-postcopy", 0, why + "; switching to post-copy"};
    }
    aborted_ = true;
    return Decision{DecisionKind::kBudget, "abort", 0,
                    why + "; aborting (post-copy not possible: " +
                        (postcopy_failed_ ? "the switch failed" : "postcopy-ram is off") + ")"};
  }

  std::optional<Stall> stall = stalls_.Update(s, after_sync);
  if (!stall) return std::nullopt;
  const std::string why = StallText(*stall, s);

  if (in.downtime_limit_ms < config_.max_downtime_ms) {
    int64_t next = std::llround(static_cast<double>(in.downtime_limit_ms) * config_.downtime_factor);
    next = std::clamp<int64_t>(next, in.downtime_limit_ms + 1, config_.max_downtime_ms);
    return Decision{DecisionKind::kStall, "set-downtime", next,
                    "stall: " + why + "; raising downtime-limit " +
                        std::to_string(in.downtime_limit_ms) + " → " + std::to_string(next) + " ms"};
  }
  if (postcopy) {
    postcopy_requested_ = true;
    return Decision{DecisionKind::kStall, "start-postcopy", 0,
                    "stall: " + why + "; downtime-limit is at its maximum (" +
                        std::to_string(config_.max_downtime_ms) + " ms); switching to post-copy"};
  }
  return std::nullopt;  // nothing left but waiting for the budget
}

void DefaultReaction::Applied(const Decision& d, bool ok) {
  if (ok) return;
  if (d.action == "start-postcopy") {
    postcopy_requested_ = false;
    postcopy_failed_ = true;
  } else if (d.action == "abort") {
    aborted_ = false;
  }
}

}  // namespace vc
