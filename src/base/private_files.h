// Files of root's alone, under the run and state directories: what every
// writer there uses, so that no local user can read a record or take a
// lock (flock works on any descriptor a user can open, even read-only).
#pragma once

#include <sys/types.h>

#include <string>

#include "src/base/status.h"
#include "src/base/time.h"
#include "src/base/unique_fd.h"

namespace vc {

/// Makes \a dir and any missing parent, each mode 0700. An existing one is
/// left as it is (tmpfiles.d sets the host's), unless it is a symlink or
/// not a directory: an error.
Status MakePrivateDirectories(const std::string& dir);

/// Writes \a text to \a path: into a temp file beside it (a dot name of
/// its own, mode 0600, or \a mode for a file others must read), flushed to
/// disk, then renamed over \a path, so a reader sees the old file or the
/// new one, whole, even after a crash. Missing directories are made 0700.
/// On failure nothing is left but the old file.
Status WriteFileAtomically(const std::string& path, const std::string& text, mode_t mode = 0600);

/// Removes \a path and the temp files WriteFileAtomically of it left
/// where its writer was killed mid-write (none is fine). Only the file's
/// one writer calls it: a live writer's temp file would go too.
void RemovePrivateFile(const std::string& path);

/// The whole of \a path, refusing a symlink; kNotFound when it is missing.
Result<std::string> ReadPrivateFile(const std::string& path);

/// open(2) of \a path with \a flags (plus O_CLOEXEC and O_NOFOLLOW: a
/// symlink planted in its place is refused); created mode 0600.
Result<UniqueFd> OpenPrivateFile(const std::string& path, int flags);

/// flock(\a fd, \a operation) (LOCK_EX or LOCK_SH), waiting at most
/// \a limit for a holder to let go: a lock held that long is held by a
/// process that is stuck, and no wait of ours is unbounded. kBusy-coded
/// CommandFailed naming \a path when the limit passes.
Status LockWithin(int fd, int operation, Millis limit, const std::string& path);

}  // namespace vc
