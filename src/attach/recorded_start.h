// StartRecorded: how `migrate` starts a migration, under the rule every
// change of ours follows: what it is about to change is recorded first.
#pragma once

#include <string>
#include <vector>

#include "src/backend/migration_backend.h"
#include "src/base/status.h"
#include "src/state/paths.h"

namespace vc {

/// Starts the migration on \a backend with \a start. Before anything is
/// sent, the changes record of migration \a id under \a paths says what the
/// start changes: QEMU's values before it (\a before) and the start
/// settings that outlive it (\a left_behind), so that a `migrate` killed at
/// any moment leaves a record the next follower adopts (none without a run
/// directory or an id). When the start fails, whatever of it QEMU or libvirt
/// still holds goes back to \a before, and the record goes once nothing of
/// it is in force; otherwise it stays, for the next follower.
Status StartRecorded(MigrationBackend& backend, const MigrationStart& start, const StatePaths& paths,
                     const std::string& id, const MigrationTuning& before, const MigrationTuning& left_behind,
                     std::vector<std::string>* not_honoured);

}  // namespace vc
