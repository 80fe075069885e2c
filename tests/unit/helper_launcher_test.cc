// How `watch` starts its helpers: transient systemd units (against the
// manager API on a private socket, as systemd serves /run/systemd/private;
// against the real manager where systemd is PID 1) and fork/exec.
#include "src/watch/helper_launcher.h"

#include <gtest/gtest.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include <filesystem>
#include <thread>

#include "src/base/time.h"
#include "tests/support/process.h"
#include "tests/support/skip.h"
#include "tests/support/systemd_stub.h"
#include "tests/support/temp_dir.h"

namespace vc::testing {
namespace {

const char kUuid[] = "0b6c3a52-3d4f-4c8e-9a51-7d2f1e0c9b11";

bool WaitFor(const std::function<bool()>& done, Millis timeout = Millis(10000)) {
  Deadline deadline = Clock::now() + timeout;
  while (!done()) {
    if (Clock::now() > deadline) return false;
    std::this_thread::sleep_for(Millis(10));
  }
  return true;
}

TEST(SystemdLauncherTest, StartsOneTransientUnitPerDomainWithTheHelpersCommandLine) {
  TempDir dir("launch");
  Result<std::unique_ptr<SystemdStub>> stub = SystemdStub::Start(dir.File("private"), dir.path());
  ASSERT_TRUE(stub.ok()) << stub.status().ToString();
  Result<std::unique_ptr<SystemdLauncher>> launcher = SystemdLauncher::Connect((*stub)->address());
  ASSERT_TRUE(launcher.ok()) << launcher.status().ToString();

  std::string marker = dir.File("ran");
  HelperCommand cmd{kUuid, "vm1", {"/bin/sh", "-c", "echo \"$0 $1\" > " + marker + "; echo to-stdout; sleep 30", "attach", kUuid}};
  Result<std::string> started = (*launcher)->Start(cmd);
  ASSERT_TRUE(started.ok()) << started.status().ToString();
  const std::string unit = "virt-converge-follow-" + std::string(kUuid) + ".service";
  EXPECT_EQ(*started, "unit " + unit + " (journalctl -u " + unit + ")");

  std::vector<SystemdStub::Unit> units = (*stub)->units();
  ASSERT_EQ(units.size(), 1u);
  EXPECT_EQ(units[0].name, unit);
  EXPECT_EQ(units[0].mode, "fail");
  EXPECT_EQ(units[0].exec_path, "/bin/sh");
  EXPECT_EQ(units[0].exec_argv, cmd.argv);
  EXPECT_EQ(units[0].properties["Type"], "exec");
  EXPECT_EQ(units[0].properties["CollectMode"], "inactive-or-failed");
  EXPECT_EQ(units[0].properties["Description"], "virt-converge follows the migration of vm1");
  ASSERT_TRUE(WaitFor([&] { return ReadFile(marker) == "attach " + std::string(kUuid) + "\n"; })) << ReadFile(marker);
  // The stub, as systemd, keeps the unit's output (systemd: in the journal).
  EXPECT_TRUE(WaitFor([&] { return ReadFile(dir.File(unit + ".log")) == "to-stdout\n"; })) << ReadFile(dir.File(unit + ".log"));

  // The same domain again while its helper runs: the unit name refuses it.
  Result<std::string> again = (*launcher)->Start(cmd);
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.status().error_class(), kHelperRuns) << again.status().ToString();
}

TEST(SystemdLauncherTest, UnreachableManagerIsAnErrorNamingTheAddress) {
  TempDir dir("launch");
  Result<std::unique_ptr<SystemdLauncher>> launcher = SystemdLauncher::Connect("unix:path=" + dir.File("none"));
  ASSERT_FALSE(launcher.ok());
  EXPECT_NE(launcher.status().ToString().find(dir.File("none")), std::string::npos) << launcher.status().ToString();
}

// The real manager, where this machine has one (not in CI containers).
TEST(SystemdLauncherTest, RealSystemdRunsTheUnit) {
  if (sd_booted() <= 0) VC_SKIP_MISSING_CAPABILITY("systemd is not PID 1 here: no manager to start units");
  if (geteuid() != 0) VC_CANNOT_RUN("starting system units needs root");
  Result<std::unique_ptr<SystemdLauncher>> launcher = SystemdLauncher::Connect();
  ASSERT_TRUE(launcher.ok()) << launcher.status().ToString();
  TempDir dir("launch");
  std::string marker = dir.File("ran");
  Result<std::string> started =
      (*launcher)->Start({kUuid, "vm1", {"/bin/sh", "-c", "echo ran > " + marker}});
  ASSERT_TRUE(started.ok()) << started.status().ToString();
  EXPECT_TRUE(WaitFor([&] { return ReadFile(marker) == "ran\n"; }));
}

TEST(ForkLauncherTest, StartsTheHelperWithItsOutputInItsLogAndReapsIt) {
  TempDir dir("launch");
  std::filesystem::create_directories(dir.File("follow"));
  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGCHLD);
  sigprocmask(SIG_BLOCK, &mask, nullptr);
  sd_event* e = nullptr;
  ASSERT_GE(sd_event_new(&e), 0);
  std::vector<std::string> lines;
  {
    ForkLauncher launcher(e, StatePaths(dir.path(), ""), [&](const std::string& l) { lines.push_back(l); });
    Result<std::string> started = launcher.Start({kUuid, "vm1", {"/bin/sh", "-c", "echo following; exit 3"}});
    ASSERT_TRUE(started.ok()) << started.status().ToString();
    std::string log = dir.File("follow/" + std::string(kUuid) + ".log");
    EXPECT_NE(started->find("(log " + log + ")"), std::string::npos) << *started;
    Deadline deadline = Clock::now() + Millis(10000);
    while (lines.empty() && Clock::now() < deadline) sd_event_run(e, 100000);
    ASSERT_EQ(lines.size(), 1u);
    EXPECT_NE(lines[0].find("for vm1 exited with 3"), std::string::npos) << lines[0];
    EXPECT_EQ(ReadFile(log), "following\n");
  }
  sd_event_unref(e);
}

}  // namespace
}  // namespace vc::testing
