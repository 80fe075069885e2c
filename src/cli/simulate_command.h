// `virt-converge simulate`: what a policy would do with a migration, on the
// simulator, and the predicted outcome.
#pragma once

#include <CLI/CLI.hpp>

namespace vc {

/// Adds the "simulate" subcommand to \a app; the returned function runs it.
std::function<int()> AddSimulateCommand(CLI::App* app);

}  // namespace vc
