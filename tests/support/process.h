// Subprocess: a child process the test owns. It dies with the test (parent
// death signal) and is killed and reaped on destruction, so no QEMU or
// virt-converge outlives a failed assertion.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "src/base/status.h"
#include "src/base/time.h"

namespace vc::testing {

class Subprocess {
 public:
  /// Starts argv[0] (searched in PATH) with stdout and stderr to \a log_path.
  static Result<Subprocess> Start(const std::vector<std::string>& argv, const std::string& log_path);
  /// No process.
  Subprocess() = default;
  Subprocess(Subprocess&& other) noexcept;
  Subprocess& operator=(Subprocess&& other) noexcept;
  ~Subprocess();

  pid_t pid() const { return pid_; }
  /// Sends \a sig (if still running).
  void Signal(int sig);
  /// Waits up to \a timeout for the exit; returns the wait status or nullopt.
  std::optional<int> Wait(Millis timeout);
  /// The exit status once known (WIFEXITED etc. apply).
  std::optional<int> exit_status() const { return status_; }
  /// SIGKILL and reap.
  void Kill();

 private:
  pid_t pid_ = -1;
  std::optional<int> status_;
};

/// Runs argv to its end with its output to \a log: the exit code, or -1
/// when it could not start, was killed by a signal or ran past \a timeout
/// (then it is killed).
int RunTool(const std::vector<std::string>& argv, const std::string& log, Millis timeout);

/// Reads a whole file ("" when missing).
std::string ReadFile(const std::string& path);
/// The same without trailing newlines and spaces (a one-line file's value).
std::string ReadTrimmed(const std::string& path);

}  // namespace vc::testing
