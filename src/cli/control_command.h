// `virt-converge cancel|postcopy|resume VM`: steer a running migration.
// The follower of the migration acts (through its control socket); for a
// libvirt migration nobody here follows, libvirt is asked directly.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>

namespace vc {

/// Adds "cancel", "postcopy" and "resume" to \a app; the returned function
/// runs whichever was parsed, or returns -1 when none was.
std::function<int()> AddControlCommands(CLI::App* app);

}  // namespace vc
