// HistoryStart: where a VM's last migration from this host ended — the
// downtime-limit, throttle and post-copy it needed — so that with [Start]
// FromHistory=yes the next one starts there instead of finding them again
// pass by pass. Pure: the program reads the history record and hands its
// actions here; PolicyReaction asks for the decisions.
//
// Contract: every value is within the policy's limits (downtime at most
// MaxDowntime=, throttle at most MaxThrottle=, post-copy only with
// Postcopy=yes); a last migration that needed none of them leaves nothing,
// so an easy VM starts exactly as the policy says.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "src/control/controller.h"
#include "src/control/reaction.h"
#include "src/policy/policy.h"

namespace vc {

class HistoryStart {
 public:
  HistoryStart() = default;
  /// From the actions of the VM's last migration (those done count) and
  /// whether it went to post-copy, under \a p. \a source names that
  /// migration for reasons ("the migration of 2026-12-05 10:40:11, 67.0 s").
  static HistoryStart From(const std::vector<ActionRecord>& last_actions, bool went_postcopy,
                           const policy::Policy& p, std::string source);

  bool empty() const { return !downtime_ms_ && !throttle_percent_ && !postcopy_; }
  /// "downtime-limit 600 ms, throttle 40%, post-copy after the bulk pass";
  /// "nothing" when empty.
  std::string Describe() const;
  std::optional<int64_t> downtime_ms() const { return downtime_ms_; }
  std::optional<int64_t> throttle_percent() const { return throttle_percent_; }
  bool postcopy() const { return postcopy_; }

  /// The decisions for \a s, each once: the downtime-limit (when above
  /// QEMU's) and the throttle level at the first sample of a running
  /// migration (QEMU applies a throttle at its syncs, not in the bulk pass's
  /// middle); post-copy at the first sample after the bulk pass, where the
  /// migration allows it. None once the switch-over or post-copy is under way.
  std::vector<Decision> Decide(const MigrationSample& s, const ReactionInputs& in);

  /// Reasons of its decisions start so ("history: ...").
  static constexpr std::string_view kReasonPrefix = "history:";

 private:
  std::optional<int64_t> downtime_ms_, throttle_percent_;
  bool postcopy_ = false;
  std::string source_;
  bool started_ = false, postcopy_asked_ = false;
};

}  // namespace vc
