// The schedule of a policy, expanded for one VM: which step fires when and
// with what values, and when the budget runs out. Pure arithmetic, so that
// presets can be checked against the numbers of the systems they reproduce.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "src/policy/policy.h"

namespace vc::policy {

/// The data a budget counts for a VM: RAM plus copied disks, in the
/// policy's unit (GiB, or decimal GB rounded up), at least DataFloor.
double DataSize(const Policy& p, uint64_t ram_bytes, uint64_t disk_bytes);

/// The time budget in ms for the VM, or nullopt when the policy has none.
std::optional<int64_t> BudgetMs(const Policy& p, uint64_t ram_bytes, uint64_t disk_bytes);

/// The budget in ms as of \a elapsed_ms into the migration, having gone
/// through \a ram_walked bytes of RAM (over all passes): BudgetMs, or, when
/// Copies= asks for more, the time Copies x \a ram_bytes takes at the pace
/// so far. Used up exactly when the migration has run BudgetMs and gone
/// through RAM Copies times. nullopt when the policy has no budget (no
/// time and no Copies=).
std::optional<int64_t> BudgetMsAt(const Policy& p, uint64_t ram_bytes, uint64_t disk_bytes, uint64_t ram_walked,
                                  int64_t elapsed_ms);

struct PlannedStep {
  /// "start", "iteration 4", "stall 2", "300s", "expected downtime > 5s",
  /// "no progress for 150s", "budget 3200s".
  std::string when;
  std::string actions;  // "downtime=150ms", "abort"
};

/// Expands \a p for a VM of \a ram_bytes (and \a disk_bytes of copied
/// disk). Iteration steps follow VDSM's rule: in order, one per new pass,
/// the step with limit L at the first pass k > L after the previous one.
std::vector<PlannedStep> ExpandSchedule(const Policy& p, uint64_t ram_bytes, uint64_t disk_bytes);

/// The expansion as text, one "when: actions" line per step.
std::string FormatSchedule(const std::vector<PlannedStep>& steps);

}  // namespace vc::policy
