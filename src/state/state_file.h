// How the state layer writes a file under the run or state directory:
// root's alone (directories 0700, files 0600), whole or not at all.
#pragma once

#include <string>

#include "src/base/status.h"

namespace vc {

/// Writes \a text to \a path: into a temp file of a unique name beside it
/// (mode 0600), flushed to disk, then renamed over \a path, so a reader
/// sees the old file or the new one, whole, even after a crash. Missing
/// directories are made 0700. On failure nothing is left but the old file.
Status WriteFileAtomically(const std::string& path, const std::string& text);

/// The whole of \a path, refusing a symlink; kNotFound when it is missing.
Result<std::string> ReadStateFile(const std::string& path);

}  // namespace vc
