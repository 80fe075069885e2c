// The fixture of suite 'libvirt': one two-host bed per test binary
// (tests/tools/libvirt-bed), brought up once for all its tests, and the
// helpers they share.
#pragma once

#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "tests/support/libvirt_bed.h"
#include "tests/support/policy_tree.h"
#include "tests/support/skip.h"
#include "tests/support/virt_converge_run.h"

namespace vc::testing {

namespace fs = std::filesystem;

/// Polls `virsh domstate --reason` of \a name on \a host until it says
/// \a state ("running", "paused (post-copy)"); false (the last state
/// printed) after \a timeout.
inline bool WaitDomState(LibvirtBed& bed, char host, const std::string& name, const std::string& state,
                         Millis timeout) {
  Deadline deadline = Clock::now() + timeout;
  std::string out;
  while (Clock::now() < deadline) {
    bed.Virsh(host, {"domstate", "--reason", name}, &out);
    if (out.find(state) != std::string::npos) return true;
    std::this_thread::sleep_for(Millis(200));
  }
  std::fprintf(stderr, "domstate of %s on %c: %s\n", name.c_str(), host, out.c_str());
  return false;
}

class LibvirtTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    Result<std::unique_ptr<LibvirtBed>> b = LibvirtBed::Start();
    if (b.ok()) {
      bed_ = std::move(*b);
    } else {
      skip_reason_ = b.status().ToString();
    }
  }
  static void TearDownTestSuite() { bed_.reset(); }
  void SetUp() override {
    if (!bed_) VC_CANNOT_RUN("the two-host libvirt bed: " << skip_reason_);
  }

  /// Whether libvirtd on \a host logged domain \a name as tainted custom-monitor.
  static bool TaintedCustomMonitor(char host, const std::string& name) {
    std::istringstream log(bed_->DaemonLog(host));
    for (std::string line; std::getline(log, line);) {
      if (line.find("name='" + name + "'") != std::string::npos &&
          line.find("tainted: custom-monitor") != std::string::npos) {
        return true;
      }
    }
    return false;
  }

  /// The libvirt version of \a host's daemon (major * 1000000 + minor *
  /// 1000), 0 when virsh does not say.
  static unsigned long DaemonVersion(char host) {
    std::string version;
    bed_->Virsh(host, {"version", "--daemon"}, &version);
    const std::string daemon = "Running against daemon: ";
    const size_t at = version.find(daemon);
    if (at == std::string::npos) return 0;
    int maj = 0, min = 0;
    std::sscanf(version.c_str() + at + daemon.size(), "%d.%d", &maj, &min);
    return static_cast<unsigned long>(maj) * 1000000 + static_cast<unsigned long>(min) * 1000;
  }

  /// A policy root holding the vendor default and, if given, one more file.
  std::string PolicyRoot(const std::string& tag, const std::string& extra = "") {
    std::string root = bed_->dir().File("policy-" + tag);
    PolicyTree tree = PolicyTree::Under(root);
    tree.InstallVendorDefault();
    if (!extra.empty()) tree.Write("60-test.conf", extra, "usr/lib");
    return root;
  }

  std::string Uuid(char host, const std::string& name) {
    std::string out;
    EXPECT_EQ(bed_->Virsh(host, {"domuuid", name}, &out), 0) << out;
    while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
    return out;
  }

  /// Starts `virsh migrate` of \a name to \a to in the background.
  Subprocess StartVirshMigrate(const std::string& name, char to, const std::vector<std::string>& extra,
                               const std::string& log) {
    char from = to == 'B' ? 'A' : 'B';
    std::vector<std::string> argv = {"virsh", "-q", "-c", bed_->uri(from)};
    for (const std::string& a : bed_->MigrateArgs(name, to)) argv.push_back(a);
    argv.insert(argv.end(), extra.begin(), extra.end());
    Result<Subprocess> p = Subprocess::Start(argv, log);
    EXPECT_TRUE(p.ok()) << p.status().ToString();
    return std::move(*p);
  }

  /// Starts `virt-converge watch` for \a host (it has no summary).
  std::optional<VirtConvergeRun> StartWatch(char host, const std::string& run_dir,
                                            const std::vector<std::string>& extra) {
    std::vector<std::string> argv = {VirtConvergeBinary(), "watch", "--connect", bed_->uri(host), "--run-dir", run_dir};
    argv.insert(argv.end(), extra.begin(), extra.end());
    VirtConvergeRun run;
    run.log_path = bed_->dir().File("watch-" + std::to_string(watches_++) + ".log");
    Result<Subprocess> p = Subprocess::Start(argv, run.log_path);
    EXPECT_TRUE(p.ok()) << p.status().ToString();
    if (!p.ok()) return std::nullopt;
    run.process = std::move(*p);
    return run;
  }

  /// Waits until \a path contains \a text.
  static bool WaitFileText(const std::string& path, const std::string& text, Millis timeout) {
    Deadline deadline = Clock::now() + timeout;
    while (ReadFile(path).find(text) == std::string::npos) {
      if (Clock::now() > deadline) return false;
      std::this_thread::sleep_for(Millis(100));
    }
    return true;
  }

  static size_t Count(const std::string& text, const std::string& what) {
    size_t n = 0;
    for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) n++;
    return n;
  }

  /// The CPU affinity `virsh vcpupin DOMAIN --vcpu 0` prints (" 0   1").
  static std::string Vcpu0Affinity(const std::string& out) {
    std::istringstream in(out);
    std::string vcpu, affinity;
    return in >> vcpu >> affinity && vcpu == "0" ? affinity : "";
  }

  static int ExitCode(const std::optional<int>& st) { return st && WIFEXITED(*st) ? WEXITSTATUS(*st) : -1; }

  static inline std::unique_ptr<LibvirtBed> bed_;
  static inline std::string skip_reason_;
  int watches_ = 0;
};

}  // namespace vc::testing
