// `virt-converge list` and `virt-converge status VM`: the migrations of this
// host, from the followers' live records, libvirt's jobs (in and out, ours
// or not) and the history records.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>

namespace vc {

/// Adds "list" and "status" to \a app; the returned function runs whichever
/// was parsed (and returns the exit code), or returns -1 when neither was.
std::function<int()> AddListCommands(CLI::App* app);

}  // namespace vc
