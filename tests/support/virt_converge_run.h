// Runs the real virt-converge binary (tests/support/artifacts.h) as a child process, the way
// an operator would, and reads its JSON summary.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "src/base/json.h"
#include "tests/support/process.h"
#include "tests/support/temp_dir.h"

namespace vc::testing {

struct VirtConvergeRun {
  Subprocess process;
  std::string log_path;
  std::string summary_path;

  /// Waits for the exit; returns the exit code, or -1 on timeout/signal.
  int WaitExit(Millis timeout);
  std::string Output() const { return ReadFile(log_path); }
  /// The --summary-json file, parsed.
  std::optional<Json> Summary() const;
  /// Waits until \a text appears in the output.
  bool WaitOutput(const std::string& text, Millis timeout);
};

/// Starts `virt-converge ARGS --summary-json DIR/NAME.json` with output to
/// DIR/NAME.log.
Result<VirtConvergeRun> StartVirtConverge(const TempDir& dir, const std::string& name,
                                          const std::vector<std::string>& args);
/// The virt-converge binary, or "" when there is none.
std::string VirtConvergeBinary();

/// Of a summary's or history record's "samples", how many of the bulk pass
/// (pass 1) came at most \a within_ms after the one before.
int BulkSamplesWithin(const Json& samples, int64_t within_ms);

/// A short-lived command (list, status, cancel, policy show, ...) run to
/// its end: its exit code (-1 on timeout or signal) and its output.
struct CommandOutcome {
  int code = -1;
  std::string out;
};
CommandOutcome RunVirtConverge(const TempDir& dir, const std::string& name, const std::vector<std::string>& args,
                               Millis timeout = Millis(60000));

}  // namespace vc::testing
