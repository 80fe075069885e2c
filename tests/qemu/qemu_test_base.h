// Shared setup for suite 'qemu': cannot run (tests/support/skip.h) when QEMU
// or the guest is missing, and logs the accelerator in use.
#pragma once

#include <gtest/gtest.h>

#include <cstdio>
#include <thread>

#include "tests/support/artifacts.h"
#include "tests/support/policy_tree.h"
#include "tests/support/qemu_vm.h"
#include "tests/support/skip.h"
#include "tests/support/virt_converge_run.h"

namespace vc::testing {

class QemuTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (QemuBinary().empty()) {
      const char* chosen = std::getenv("VC_QEMU");
      if (chosen && *chosen) VC_CANNOT_RUN("VC_QEMU=" << chosen << " is not there (tests/tools/fetch-qemu; scripts/install-deps)");
      VC_CANNOT_RUN("qemu-system-x86_64 is not installed (scripts/install-deps)");
    }
    if (auto guest = LocateGuestKernel(); !guest.ok()) VC_CANNOT_RUN(guest.status().ToString());
    static bool told = false;
    if (!told) {
      Accel a = ChooseAccel();
      std::fprintf(stderr, "[qemu suite] %s, accelerator %s: %s\n", QemuBinary().c_str(), a.name.c_str(),
                   a.reason.c_str());
      told = true;
    }
  }

  /// Starts attach on the source's spare QMP socket and waits until it has
  /// connected (and turned the events capability on). \a name names its
  /// log (and summary) in the pair's directory.
  VirtConvergeRun Attach(MigrationPair& pair, std::vector<std::string> extra = {}, const std::string& name = "attach") {
    std::vector<std::string> args = {"attach", "--qmp", pair.src().spare_qmp_path()};
    args.insert(args.end(), extra.begin(), extra.end());
    auto run = StartVirtConverge(pair.dir(), name, args);
    EXPECT_TRUE(run.ok()) << run.status().ToString();
    EXPECT_TRUE(run->WaitOutput("attached to", Millis(10000))) << run->Output();
    return std::move(*run);
  }

  /// A policy root under \a pair's directory with \a policy as its only
  /// file, the built-in default's adaptive mode off: only \a policy's
  /// schedule and budget act.
  static std::string OnlyPolicy(MigrationPair& pair, const std::string& policy) {
    const std::string root = pair.dir().path() + "/root";
    PolicyTree::Under(root).Write("50-test.conf", policy + "[Adaptive]\nEnabled=no\n");
    return root;
  }

  /// Starts the migration "as someone else" would: over the test's own QMP,
  /// with max-bandwidth capped at \a bandwidth.
  std::string StartMigration(MigrationPair& pair, int64_t bandwidth);

  /// Starts `virt-converge migrate` of \a pair at \a bandwidth, with the
  /// destination's QMP socket, the policy files under \a policy_root and
  /// \a extra arguments.
  Result<VirtConvergeRun> StartMigrate(MigrationPair& pair, const std::string& bandwidth,
                                       const std::string& policy_root, const std::vector<std::string>& extra) {
    auto uri = pair.ListenIncoming();
    if (!uri.ok()) return uri.status();
    std::vector<std::string> args = {"migrate", "--qmp", pair.src().spare_qmp_path(), "--dest-qmp",
                                     pair.dst().spare_qmp_path(), "--bandwidth", bandwidth, "--policy-root",
                                     policy_root};
    args.insert(args.end(), extra.begin(), extra.end());
    args.push_back(*uri);
    return StartVirtConverge(pair.dir(), "migrate", args);
  }

  /// StartMigrate, to its end: its exit code must be \a exit_code. Returns
  /// its summary (nullopt when it wrote none); \a out gets its output.
  std::optional<Json> Migrate(MigrationPair& pair, const std::string& bandwidth, const std::string& policy_root,
                                   const std::vector<std::string>& extra, int exit_code, std::string* out) {
    auto run = StartMigrate(pair, bandwidth, policy_root, extra);
    EXPECT_TRUE(run.ok()) << run.status().ToString();
    if (!run.ok()) return std::nullopt;
    EXPECT_EQ(run->WaitExit(Millis(150000)), exit_code) << run->Output();
    *out = run->Output();
    return run->Summary();
  }
};

/// A guest that never converges at the tests' bandwidths once its
/// downtime-limit is 50 ms: a 32 MiB hot set rewritten every second. For
/// tests where only what they do (share, cancel, post-copy) may end it.
inline GuestParams NeverConvergingGuest() {
  GuestParams g;
  g.ram_mib = 128;
  g.wss = "32M";
  g.rate = "32M";
  return g;
}

inline Status CapBandwidth(qmp::Session& s, int64_t bytes_per_second) {
  qmp::MigrationParameters p;
  p.max_bandwidth = bytes_per_second;
  return qmp::MigrateSetParameters(s, p);
}

inline std::string QemuTest::StartMigration(MigrationPair& pair, int64_t bandwidth) {
  auto uri = pair.ListenIncoming();
  EXPECT_TRUE(uri.ok()) << uri.status().ToString();
  EXPECT_TRUE(CapBandwidth(pair.src().qmp(), bandwidth).ok());
  EXPECT_TRUE(qmp::Migrate(pair.src().qmp(), *uri).ok());
  return *uri;
}

}  // namespace vc::testing
