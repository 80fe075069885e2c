#include "tests/support/virt_converge_run.h"

#include <sys/wait.h>

#include <cstdlib>
#include <thread>

#include "tests/support/artifacts.h"

namespace vc::testing {

std::string VirtConvergeBinary() {
  Result<std::string> bin = LocateVirtConverge();
  return bin.ok() ? *bin : "";
}

Result<VirtConvergeRun> StartVirtConverge(const TempDir& dir, const std::string& name,
                                          const std::vector<std::string>& args) {
  Result<std::string> bin = LocateVirtConverge();
  if (!bin.ok()) return bin.status();
  VirtConvergeRun run;
  run.log_path = dir.File(name + ".log");
  run.summary_path = dir.File(name + ".json");
  std::vector<std::string> argv = {*bin};
  argv.insert(argv.end(), args.begin(), args.end());
  // The built-in default unless the test names a policy root: policies
  // installed on the machine must not change what a test proves.
  bool has_root = false, has_run_dir = false, has_state_dir = false, has_metrics_dir = false;
  for (const std::string& a : args) {
    has_root |= a == "--policy-root";
    has_run_dir |= a == "--run-dir";
    has_state_dir |= a == "--state-dir";
    has_metrics_dir |= a == "--metrics-dir";
  }
  const bool follows = !args.empty() && (args[0] == "attach" || args[0] == "migrate");
  if (follows) {
    argv.push_back("--summary-json");
    argv.push_back(run.summary_path);
  }
  if (!has_root && follows) argv.push_back("--no-policy");
  // Nor may the host's /run/virt-converge: a test's migrations share only
  // with the migrations the test runs.
  if (!has_run_dir && follows) {
    argv.push_back("--run-dir");
    argv.push_back(dir.File("vc-run"));
  }
  // Nor what the host learned (the switch-over speed) or its history.
  if (!has_state_dir && follows) {
    argv.push_back("--state-dir");
    argv.push_back(dir.File("vc-state"));
  }
  // Nor node_exporter's directory, where the machine has one: a directory
  // that does not exist, so no metrics unless the test asks for them.
  if (!has_metrics_dir && follows) {
    argv.push_back("--metrics-dir");
    argv.push_back(dir.File("vc-metrics"));
  }
  Result<Subprocess> p = Subprocess::Start(argv, run.log_path);
  if (!p.ok()) return p.status();
  run.process = std::move(*p);
  return run;
}

CommandOutcome RunVirtConverge(const TempDir& dir, const std::string& name, const std::vector<std::string>& args,
                               Millis timeout) {
  Result<VirtConvergeRun> run = StartVirtConverge(dir, name, args);
  if (!run.ok()) return {-1, run.status().ToString()};
  int code = run->WaitExit(timeout);
  return {code, run->Output()};
}

int VirtConvergeRun::WaitExit(Millis timeout) {
  std::optional<int> st = process.Wait(timeout);
  if (!st || !WIFEXITED(*st)) return -1;
  return WEXITSTATUS(*st);
}

std::optional<Json> VirtConvergeRun::Summary() const {
  Result<Json> j = Json::Parse(ReadFile(summary_path));
  if (!j.ok()) return std::nullopt;
  return *j;
}

bool VirtConvergeRun::WaitOutput(const std::string& text, Millis timeout) {
  Deadline deadline = Clock::now() + timeout;
  while (Clock::now() < deadline) {
    if (Output().find(text) != std::string::npos) return true;
    if (process.Wait(Millis(0))) return Output().find(text) != std::string::npos;
    std::this_thread::sleep_for(Millis(100));
  }
  return false;
}

int BulkSamplesWithin(const Json& samples, int64_t within_ms) {
  int n = 0;
  for (size_t i = 1; i < samples.ArraySize(); i++) {
    const Json a = samples.At(i - 1), b = samples.At(i);
    if (a.GetInt("pass") != 1 || b.GetInt("pass") != 1) continue;
    const int64_t gap = b.GetInt("t-ms").value_or(0) - a.GetInt("t-ms").value_or(0);
    if (gap > 0 && gap <= within_ms) n++;
  }
  return n;
}

}  // namespace vc::testing
