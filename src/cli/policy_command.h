// `virt-converge policy check|show`.
#pragma once

#include <CLI/CLI.hpp>

namespace vc {

/// Adds the "policy" subcommand with its own subcommands to \a app; the
/// returned function runs whichever was parsed (and returns the exit code).
std::function<int()> AddPolicyCommand(CLI::App* app);

}  // namespace vc
