// MigrationOutcome: how a migration ended, as far as virt-converge saw it.
// Its names are the stable words of summaries, records and `--json`.
#pragma once

#include <optional>
#include <string_view>

namespace vc {

enum class MigrationOutcome {
  kCompleted,          // finished in pre-copy
  kCompletedPostcopy,  // finished in post-copy
  kAborted,            // cancelled by virt-converge (a policy's step or budget)
  kCancelled,          // cancelled by someone else
  kFailed,             // QEMU reports it failed
  kNotStarted,         // the migration we started never ran
  kDetached,           // we stopped following; it goes on under QEMU's settings
  kLost,               // we lost QEMU or libvirt, or gave up on our own fault
  kTimeout,            // the simulator's limit ran out
};

/// "completed", "completed-postcopy", "aborted", "cancelled", "failed",
/// "not-started", "detached", "lost", "timeout".
std::string_view OutcomeName(MigrationOutcome o);
/// The outcome named \a name; nullopt for a word no version wrote.
std::optional<MigrationOutcome> ParseOutcome(std::string_view name);
/// The VM is on the destination.
inline bool Completed(MigrationOutcome o) {
  return o == MigrationOutcome::kCompleted || o == MigrationOutcome::kCompletedPostcopy;
}

}  // namespace vc
