// SpawnLogged: starts a child program with its standard output and error
// going to a log file and its standard input from /dev/null. The caller
// reaps it (waitpid).
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "src/base/status.h"

namespace vc {

/// Starts \a argv (argv[0] a path) with stdout and stderr to \a log
/// (created or truncated, 0600). Its pid.
Result<pid_t> SpawnLogged(const std::vector<std::string>& argv, const std::string& log);

}  // namespace vc
