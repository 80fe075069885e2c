// `virt-converge migrate`: starts a live migration (libvirt or plain QEMU)
// with the policy's [Start] settings once it has its place in the host's
// cost budget, then follows it.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>

namespace vc {

/// Adds "migrate" to \a app; the returned function runs it (and returns
/// the exit code), or returns -1 when it was not parsed.
std::function<int()> AddMigrateCommand(CLI::App* app);

}  // namespace vc
