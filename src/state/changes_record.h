// The changes record: what a follower has changed in QEMU or libvirt and
// must put back (ChangesInForce), written before each change is sent. A
// follower killed at any moment leaves it behind; the next one for the same
// migration (attach of that VM, or watch's next helper) adopts it: it
// follows the migration on with those changes as its own, or, when the
// migration ended meanwhile, puts them back. Gone once its follower ends.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "src/base/status.h"
#include "src/control/controller.h"
#include "src/state/paths.h"

namespace vc {

/// Writes \a changes as the record of migration \a id (atomically, 0600).
Status WriteChangesRecord(const StatePaths& paths, const std::string& id, const ChangesInForce& changes);
/// The record of \a id, nullopt when there is none; an unreadable or
/// malformed record is an error naming the file.
Result<std::optional<ChangesInForce>> ReadChangesRecord(const StatePaths& paths, const std::string& id);
/// The migrations whose changes records are under \a paths' run directory,
/// by id: those a follower holds and those whose follower died.
std::vector<std::string> ChangesRecordIds(const StatePaths& paths);
/// Removes the record of \a id (none is fine).
void RemoveChangesRecord(const StatePaths& paths, const std::string& id);
/// "downtime-limit=300 (ours 700), the guest paused": what \a changes holds.
std::string DescribeChanges(const ChangesInForce& changes);

}  // namespace vc
