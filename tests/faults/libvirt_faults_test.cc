// Suite 'faults' on the two-host libvirt bed (issue 24): faults injected
// into real libvirtds and QEMUs, and what virt-converge makes of them. The
// promise each case keeps: no VM harmed by us, no parameter left behind, no
// record lost, and an outcome that says what really happened.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/mount.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

#include "src/backend/libvirt_backend.h"
#include "src/backend/libvirt_handles.h"
#include "src/base/unique_fd.h"
#include "src/state/migration_record.h"
#include "tests/faults/fault_checks.h"
#include "tests/libvirt/libvirt_test_base.h"
#include "tests/support/libvirt_bed.h"
#include "tests/support/process.h"
#include "tests/support/skip.h"

namespace vc::testing {
namespace {

// A guest started, or the test stops saying why not.
#define ASSERT_OK_GUEST(expr)                     \
  do {                                            \
    const Status started_ = (expr);               \
    ASSERT_TRUE(started_.ok()) << started_.ToString(); \
  } while (0)

/// 32 MiB rewritten flat out: at 8 MiB/s it never converges by itself.
const GuestParams kNeverConverging{.ram_mib = 128, .wss = "32M", .rate = "0"};

class LibvirtFaultsTest : public LibvirtTest {
 protected:
  /// A libvirtd of the bed that died in an earlier case (CI once saw every
  /// case after the first fail to start a guest on host A) is said and
  /// started again, so that one death fails one case, not all that follow.
  void SetUp() override {
    LibvirtTest::SetUp();
    if (!bed_) return;
    for (char host : {'A', 'B'}) {
      const pid_t pid = LibvirtdPid(host);
      if (pid > 1 && ::kill(pid, 0) == 0) continue;
      ADD_FAILURE() << "libvirtd of host " << host << " (pid " << pid << ") died before this case; starting it again";
      Status again = bed_->RestartDaemon(host);
      ASSERT_TRUE(again.ok()) << again.ToString();
    }
  }

  /// The pid of \a name's QEMU on \a host (libvirt's pid file there).
  pid_t QemuPid(char host, const std::string& name) {
    std::string text = ReadFile(bed_->dir().path() + "/hosts/" + host + "/run/qemu/" + name + ".pid");
    return static_cast<pid_t>(std::atol(text.c_str()));
  }

  /// Whether \a pid has died within \a timeout: gone, or a zombie whose
  /// threads are all gone (only then are its sockets closed; a leader
  /// reads "Z" while its other threads still exit).
  static bool WaitUntilDead(pid_t pid, Millis timeout) {
    const std::string proc = "/proc/" + std::to_string(pid);
    const Deadline deadline = Clock::now() + timeout;
    do {
      const std::string stat = ReadFile(proc + "/stat");
      const size_t paren = stat.rfind(')');
      if (stat.empty()) return true;
      std::error_code ec;
      const auto threads = std::distance(std::filesystem::directory_iterator(proc + "/task", ec),
                                         std::filesystem::directory_iterator());
      if (paren != std::string::npos && stat.compare(paren, 4, ") Z ") == 0 && !ec && threads <= 1) return true;
      std::this_thread::sleep_for(Millis(5));
    } while (Clock::now() < deadline);
    return false;
  }

  /// The pid of \a host's libvirtd (its pid file).
  pid_t LibvirtdPid(char host) {
    return static_cast<pid_t>(std::atol(ReadFile(bed_->dir().path() + "/hosts/" + host + "/run/libvirtd.pid").c_str()));
  }

  /// What \a run_dir holds besides helpers' logs (watch's journal here),
  /// once that is nothing or 60 s have passed.
  static std::string LeftOnceSettled(const std::string& run_dir) {
    auto left = [&] {
      std::string kept;
      std::istringstream lines(LeftInRunDir(run_dir));
      for (std::string line; std::getline(lines, line);) {
        if (line.size() < 4 || line.compare(line.size() - 4, 4, ".log") != 0) kept += line + "\n";
      }
      return kept;
    };
    const Deadline settled = Clock::now() + Millis(60000);
    while (!left().empty() && Clock::now() < settled) std::this_thread::sleep_for(Millis(200));
    return left();
  }

  /// Where \a name runs: "A", "B", "both" or "neither".
  std::string RunsOn(const std::string& name) {
    std::string on_a, on_b;
    bed_->Virsh('A', {"domstate", name}, &on_a);
    bed_->Virsh('B', {"domstate", name}, &on_b);
    const bool a = on_a.find("running") != std::string::npos, b = on_b.find("running") != std::string::npos;
    return a && b ? "both" : a ? "A" : b ? "B" : "neither";
  }

  /// libvirt's downtime limit of \a name on \a host, as virsh prints it.
  std::string MaxDowntime(char host, const std::string& name) {
    std::string out;
    bed_->Virsh(host, {"migrate-getmaxdowntime", name}, &out);
    while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
    return out;
  }

  /// `attach NAME` on host A with its own run and state directories, and
  /// \a extra arguments (a --policy-root; else the built-in default).
  Result<VirtConvergeRun> AttachOnA(const std::string& name, std::vector<std::string> extra) {
    std::vector<std::string> args = {"attach", name, "--connect", bed_->uri('A'), "--run-dir",
                                     bed_->dir().File("run-" + name), "--state-dir", bed_->dir().File("state-" + name)};
    args.insert(args.end(), extra.begin(), extra.end());
    return StartVirtConverge(bed_->dir(), "attach-" + name, args);
  }

  /// The end every case shares: \a name's memory checked page by page where
  /// it runs (\a where: "A" or "B"), nothing of it left in its run directory
  /// (\a out says what happened); then it goes from both hosts.
  void ExpectWholeThenRemove(const std::string& where, const std::string& name, const std::string& out) {
    if (where == "A" || where == "B") {
      Status checked = bed_->StopAndCheckGuest(where[0], name);
      EXPECT_TRUE(checked.ok()) << checked.ToString();
    }
    EXPECT_EQ(LeftInRunDir(bed_->dir().File("run-" + name)), "") << out;
    bed_->Virsh('A', {"destroy", name});
    bed_->Virsh('B', {"destroy", name});
  }

  /// The outcome \a summary records, told on stderr as "[fault] outcome X:
  /// detail" so that a CI log says what each fault came to.
  static std::string TellOutcome(const std::string& fault, const Json& summary) {
    const std::string outcome = summary.GetString("outcome").value_or("");
    std::fprintf(stderr, "[%s] outcome %s: %s\n", fault.c_str(), outcome.c_str(),
                 summary.GetString("detail").value_or("").c_str());
    return outcome;
  }

  /// `domstate --reason` of \a name on \a host once it reads "running", or
  /// as it reads after 20 s (libvirt resumes a source a moment after the
  /// job ends).
  std::string StateOnceRunning(char host, const std::string& name) {
    std::string state;
    Deadline deadline = Clock::now() + Millis(20000);
    do {
      bed_->Virsh(host, {"domstate", "--reason", name}, &state);
    } while (state.rfind("running", 0) != 0 && Clock::now() < deadline &&
             (std::this_thread::sleep_for(Millis(200)), true));
    return state;
  }

  /// Brings the link back, uncapped, however the test ends.
  struct LinkBack {
    LibvirtBed* bed;
    ~LinkBack() {
      (void)bed->SetLink(true);
      (void)bed->ShapeLink("");
    }
  };
};

// Issue 24, point 7. The source QEMU dies mid-migration; the sample taken
// before libvirt's lifecycle event reaches us (here: no events at all) finds
// the domain gone. That is not a completion.
TEST_F(LibvirtFaultsTest, ASourceQemuKilledMidMigrationIsNeverCompleted) {
  const std::string name = "srckill";
  ASSERT_OK_GUEST(bed_->StartGuest('A', name, kNeverConverging));
  Subprocess virsh = StartVirshMigrate(name, 'B', {"--bandwidth", "8"}, bed_->dir().File("virsh-" + name + ".log"));
  Result<std::unique_ptr<LibvirtBackend>> backend =
      LibvirtBackend::Connect(bed_->uri('A'), name, {.allow_passthrough = false, .events = false, .sample_dirty_rate = false, .note = {}});
  ASSERT_TRUE(backend.ok()) << backend.status().ToString();
  // Follow it until its job is seen running and has sent something.
  Deadline seen = Clock::now() + Millis(60000);
  bool running = false;
  while (!running && Clock::now() < seen) {
    Result<MigrationSample> s = (*backend)->Sample();
    running = s.ok() && s->running() && s->ram_transferred > 0;
    if (!running) std::this_thread::sleep_for(Millis(100));
  }
  ASSERT_TRUE(running) << ReadFile(bed_->dir().File("virsh-" + name + ".log"));
  const pid_t qemu = QemuPid('A', name);
  ASSERT_GT(qemu, 1);
  ASSERT_NE(qemu, LibvirtdPid('A'));
  ASSERT_EQ(::kill(qemu, SIGKILL), 0);
  // Sampling starts once QEMU is dead: a job-stats call still waiting on
  // the monitor as QEMU's socket resets trips libvirt 9.0's own defect (its
  // migration thread reads a cleared job and libvirtd crashes; see
  // docs/faults.md), which is not what this case asks about.
  ASSERT_TRUE(WaitUntilDead(qemu, Millis(10000))) << "QEMU " << qemu << " still runs 10 s after SIGKILL";
  // Every later sample, taken at any moment of libvirt's teardown and
  // after it: an error, or a status that is not "completed".
  std::string told;
  Deadline settle = Clock::now() + Millis(5000);
  while (Clock::now() < settle) {
    Result<MigrationSample> s = (*backend)->Sample();
    const std::string now = s.ok() ? s->status : "error: " + s.status().ToString();
    if (now != told) std::fprintf(stderr, "after the kill: %s\n", now.c_str());
    told = now;
    if (s.ok()) {
      EXPECT_NE(s->status, "completed") << "the source QEMU was killed, yet the migration reads as completed";
    }
    std::this_thread::sleep_for(Millis(50));
  }
  EXPECT_NE(told, "active") << "the samples never told the migration ended";
  EXPECT_EQ(::kill(LibvirtdPid('A'), 0), 0) << "host A's libvirtd died when its QEMU was killed";
  EXPECT_NE(virsh.Wait(Millis(60000)), std::optional<int>(0)) << "virsh migrate succeeded?";
  // Nothing runs it any more: the destination's incoming QEMU went too.
  std::string state;
  bed_->Virsh('B', {"domstate", name}, &state);
  EXPECT_EQ(state.find("running"), std::string::npos) << state;
}

// The same fault under `attach`, with libvirt's events: its outcome says
// the migration failed, and why.
TEST_F(LibvirtFaultsTest, AttachReportsASourceQemuKilledMidMigrationAsFailed) {
  const std::string name = "srckill2";
  ASSERT_OK_GUEST(bed_->StartGuest('A', name, kNeverConverging));
  const std::string run_dir = bed_->dir().File("run-" + name);
  auto attach = StartVirtConverge(bed_->dir(), "attach-" + name,
                                  {"attach", name, "--connect", bed_->uri('A'), "--run-dir", run_dir,
                                   "--state-dir", bed_->dir().File("state-" + name), "--policy-root",
                                   PolicyRoot(name, "[Adaptive]\nEnabled=no\n[Budget]\nAction=none\n")});
  ASSERT_TRUE(attach.ok()) << attach.status().ToString();
  Subprocess virsh = StartVirshMigrate(name, 'B', {"--bandwidth", "8"}, bed_->dir().File("virsh-" + name + ".log"));
  ASSERT_TRUE(attach->WaitOutput("following the migration", Millis(60000))) << attach->Output();
  std::this_thread::sleep_for(Millis(2000));
  const pid_t qemu = QemuPid('A', name);
  ASSERT_GT(qemu, 1);
  ASSERT_EQ(::kill(qemu, SIGKILL), 0);
  attach->WaitExit(Millis(60000));
  std::optional<Json> summary = attach->Summary();
  ASSERT_TRUE(summary) << attach->Output();
  const std::string outcome = summary->GetString("outcome").value_or("");
  EXPECT_EQ(outcome, "failed") << attach->Output();
  EXPECT_NE(summary->GetString("detail").value_or("").find("during the migration"), std::string::npos)
      << attach->Output();
  EXPECT_NE(virsh.Wait(Millis(60000)), std::optional<int>(0));
  EXPECT_EQ(LeftInRunDir(run_dir), "");
}

// Issue 24, point 9 (faults case 10): `evacuate` with its migrate child
// killed mid-migration. The VM runs on exactly one host, and the report
// says which (before: "lost ... with no summary", saying neither).
TEST_F(LibvirtFaultsTest, EvacuateWithItsMigrateChildKilledReportsWhereTheVmRuns) {
  const std::string name = "evkill";
  ASSERT_OK_GUEST(bed_->StartGuest('A', name, kNeverConverging));
  const std::string run_dir = bed_->dir().File("run-" + name);
  const std::string report_path = bed_->dir().File("report-" + name + ".json");
  auto ev = StartVirtConverge(
      bed_->dir(), "evacuate-" + name,
      {"evacuate", bed_->uri('B'), "--connect", bed_->uri('A'), "--migrate-uri", "tcp://" + bed_->address('B'),
       "--run-dir", run_dir, "--state-dir", bed_->dir().File("state-" + name), "--policy-root",
       PolicyRoot(name, "[Start]\nBandwidth=8MiB/s\n[Adaptive]\nEnabled=no\n[Budget]\nAction=none\n"),
       "--report-json", report_path, "--vm", name});
  ASSERT_TRUE(ev.ok()) << ev.status().ToString();
  // The migrate child is the follower its live record names.
  int64_t child = 0;
  Deadline deadline = Clock::now() + Millis(60000);
  while (child == 0 && Clock::now() < deadline) {
    for (const MigrationRecord& r : ReadLiveRecords(StatePaths(run_dir, ""))) {
      if (r.vm == name && r.transferred > 0) child = r.pid;
    }
    std::this_thread::sleep_for(Millis(200));
  }
  ASSERT_GT(child, 0) << ev->Output();
  ASSERT_EQ(::kill(static_cast<pid_t>(child), SIGKILL), 0);
  ASSERT_TRUE(ev->process.Wait(Millis(120000))) << ev->Output();
  const std::string said = ev->Output();
  std::string on_a, on_b;
  bed_->Virsh('A', {"domstate", name}, &on_a);
  bed_->Virsh('B', {"domstate", name}, &on_b);
  const bool runs_a = on_a.find("running") != std::string::npos, runs_b = on_b.find("running") != std::string::npos;
  EXPECT_NE(runs_a, runs_b) << "A: " << on_a << "B: " << on_b;
  Result<Json> report = Json::Parse(ReadFile(report_path));
  ASSERT_TRUE(report.ok()) << report.status().ToString() << "\n" << said;
  Json vm = report->Get("vms")->At(0);
  const std::string outcome = vm.GetString("outcome").value_or(""), detail = vm.GetString("detail").value_or("");
  std::fprintf(stderr, "report: %s — %s\n", outcome.c_str(), detail.c_str());
  EXPECT_NE(detail.find("its migrate process was killed (signal 9)"), std::string::npos) << detail;
  EXPECT_EQ(vm.GetString("code").value_or(""), outcome + ".child");
  if (runs_a) {
    EXPECT_EQ(outcome, "failed");
    EXPECT_NE(detail.find("it runs on here"), std::string::npos) << detail;
  } else {
    EXPECT_EQ(outcome, "completed");
    EXPECT_NE(detail.find("it runs on " + bed_->uri('B')), std::string::npos) << detail;
  }
  bed_->Virsh(runs_a ? 'A' : 'B', {"destroy", name});
}

// Issue 24, faults case 3: the link between the hosts cut for 5 s in the
// bulk pass. TCP holds the connection; the migration goes on when the link
// is back and completes under the built-in default; the guest is whole.
TEST_F(LibvirtFaultsTest, ALinkCutForFiveSecondsInPrecopyOnlyDelaysTheMigration) {
  const std::string name = "cut5";
  ASSERT_OK_GUEST(bed_->StartGuest('A', name, QuietGuest()));
  LinkBack link{bed_.get()};
  auto attach = AttachOnA(name, {});
  ASSERT_TRUE(attach.ok()) << attach.status().ToString();
  Subprocess virsh = StartVirshMigrate(name, 'B', {"--bandwidth", "8"}, bed_->dir().File("virsh-" + name + ".log"));
  ASSERT_TRUE(attach->WaitOutput("following the migration", Millis(60000))) << attach->Output();
  std::this_thread::sleep_for(Millis(3000));
  ASSERT_TRUE(bed_->SetLink(false).ok());
  std::this_thread::sleep_for(Millis(5000));
  ASSERT_TRUE(bed_->SetLink(true).ok());
  EXPECT_EQ(attach->WaitExit(Millis(180000)), 0) << attach->Output();
  std::optional<Json> summary = attach->Summary();
  ASSERT_TRUE(summary) << attach->Output();
  EXPECT_EQ(summary->GetString("outcome").value_or(""), "completed") << attach->Output();
  EXPECT_EQ(virsh.Wait(Millis(60000)), std::optional<int>(0)) << ReadFile(bed_->dir().File("virsh-" + name + ".log"));
  EXPECT_EQ(RunsOn(name), "B");
  ExpectWholeThenRemove("B", name, attach->Output());
}

// The link cut for good in pre-copy, after a downtime step: nothing moves
// any more, and the policy's budget (20 s, then abort) ends it. The VM runs
// on the source, not paused, with libvirt's own downtime limit; its memory
// is whole; the destination runs nothing.
TEST_F(LibvirtFaultsTest, ALinkCutForGoodInPrecopyEndsAtTheBudgetWithTheVmAsItWas) {
  const std::string name = "cutgood";
  ASSERT_OK_GUEST(bed_->StartGuest('A', name, kNeverConverging));
  const std::string own = MaxDowntime('A', name);
  LinkBack link{bed_.get()};
  auto attach = AttachOnA(name, {"--policy-root", PolicyRoot(name, "[Adaptive]\nEnabled=no\n[Budget]\nPerGiB=0\n"
                                                                    "Minimum=20s\nCopies=0\nAction=abort\n[Schedule]\n"
                                                                    "Step=start downtime=500ms\n")});
  ASSERT_TRUE(attach.ok()) << attach.status().ToString();
  Subprocess virsh = StartVirshMigrate(name, 'B', {"--bandwidth", "8"}, bed_->dir().File("virsh-" + name + ".log"));
  ASSERT_TRUE(attach->WaitOutput("action set-downtime 500 ms [done]", Millis(60000))) << attach->Output();
  std::this_thread::sleep_for(Millis(3000));
  ASSERT_TRUE(bed_->SetLink(false).ok());
  attach->WaitExit(Millis(120000));
  const std::string out = attach->Output();
  std::optional<Json> summary = attach->Summary();
  ASSERT_TRUE(summary) << out;
  const std::string outcome = TellOutcome("link cut for good", *summary);
  EXPECT_EQ(outcome, "aborted") << out;
  EXPECT_NE(virsh.Wait(Millis(60000)), std::optional<int>(0));
  ASSERT_TRUE(bed_->SetLink(true).ok());
  EXPECT_EQ(RunsOn(name), "A") << out;
  std::string state;
  bed_->Virsh('A', {"domstate", name}, &state);
  EXPECT_EQ(state.find("paused"), std::string::npos) << state;
  EXPECT_EQ(MaxDowntime('A', name), own) << out;
  ExpectWholeThenRemove("A", name, out);
}

// The link cut for 5 s in post-copy: the guest, running on the destination,
// waits for the pages it faults on; when the link is back the post-copy
// completes and every page is there. The source is never resumed.
TEST_F(LibvirtFaultsTest, ALinkCutForFiveSecondsInPostcopyStallsItAndThenItCompletes) {
  const std::string name = "cutpc";
  ASSERT_OK_GUEST(bed_->StartGuest('A', name, kNeverConverging));
  LinkBack link{bed_.get()};
  auto attach = AttachOnA(name, {"--policy-root", PolicyRoot(name, "[Adaptive]\nEnabled=no\n[Budget]\nAction=none\n"
                                                                    "[Schedule]\nStep=elapsed>=4s postcopy\n")});
  ASSERT_TRUE(attach.ok()) << attach.status().ToString();
  Subprocess virsh = StartVirshMigrate(name, 'B', {"--bandwidth", "8", "--postcopy", "--postcopy-bandwidth", "8"},
                                       bed_->dir().File("virsh-" + name + ".log"));
  ASSERT_TRUE(attach->WaitOutput("action start-postcopy [done]", Millis(60000))) << attach->Output();
  std::this_thread::sleep_for(Millis(1000));
  ASSERT_TRUE(bed_->SetLink(false).ok());
  std::this_thread::sleep_for(Millis(5000));
  ASSERT_TRUE(bed_->SetLink(true).ok());
  EXPECT_EQ(attach->WaitExit(Millis(180000)), 0) << attach->Output();
  std::optional<Json> summary = attach->Summary();
  ASSERT_TRUE(summary) << attach->Output();
  EXPECT_EQ(summary->GetString("outcome").value_or(""), "completed-postcopy") << attach->Output();
  EXPECT_EQ(virsh.Wait(Millis(60000)), std::optional<int>(0)) << ReadFile(bed_->dir().File("virsh-" + name + ".log"));
  EXPECT_EQ(RunsOn(name), "B");
  ExpectWholeThenRemove("B", name, attach->Output());
}

// Issue 24, faults case 4: the source's libvirtd restarted right after the
// policy paused the guest, under `watch`. The helper loses libvirt and can
// put nothing back: what it changed (the pause) stays recorded. When watch
// is connected again it starts a helper that adopts it: the migration is
// over (libvirt cancels a pre-copy migration whose client went away), so the
// guest runs again. Before: the lost helper dropped its record, and a guest
// libvirt left paused stayed paused.
TEST_F(LibvirtFaultsTest, TheSourcesLibvirtdRestartedAfterAPauseLeavesNoGuestPaused) {
  const std::string name = "rstpause";
  ASSERT_OK_GUEST(bed_->StartGuest('A', name, kNeverConverging));
  const std::string uuid = Uuid('A', name);
  const std::string run_dir = bed_->dir().File("run-" + name);
  const std::string helper_log = StatePaths(run_dir, "").HelperLogFile(uuid);
  const std::string root = PolicyRoot(name, "[Adaptive]\nEnabled=no\n[Budget]\nPerGiB=0\nMinimum=6s\nCopies=0\nAction=pause\n");
  std::optional<VirtConvergeRun> watch =
      StartWatch('A', run_dir, {"--helper-arg=--policy-root=" + root,
                                "--helper-arg=--state-dir=" + bed_->dir().File("state-" + name)});
  ASSERT_TRUE(watch);
  ASSERT_TRUE(watch->WaitOutput("watching outgoing migrations", Millis(20000))) << watch->Output();
  Subprocess virsh = StartVirshMigrate(name, 'B', {"--bandwidth", "4"}, bed_->dir().File("virsh-" + name + ".log"));
  ASSERT_TRUE(WaitFileText(helper_log, "action pause-guest [done]", Millis(60000))) << ReadFile(helper_log);
  ASSERT_TRUE(bed_->RestartDaemon('A').ok());
  virsh.Wait(Millis(120000));
  ASSERT_TRUE(watch->WaitOutput("connected to libvirt again", Millis(60000))) << watch->Output();
  // Settled: nothing of the migration left.
  const std::string left = LeftOnceSettled(run_dir);
  const std::string helpers = ReadFile(helper_log);
  std::fprintf(stderr, "[watch]\n%s[helpers]\n%s\n", watch->Output().c_str(), helpers.c_str());
  EXPECT_EQ(left, "") << helpers;
  EXPECT_NE(helpers.find("what virt-converge changed stays recorded for the next follower to put back: the guest paused"),
            std::string::npos)
      << helpers;
  EXPECT_NE(helpers.find("a follower of this migration died; adopting what it had changed"), std::string::npos)
      << helpers;
  std::string where;
  Deadline deadline = Clock::now() + Millis(30000);
  while ((where = RunsOn(name)) != "A" && where != "B" && Clock::now() < deadline) std::this_thread::sleep_for(Millis(200));
  EXPECT_TRUE(where == "A" || where == "B") << where << "\n" << helpers;
  std::string state_a, state_b;
  bed_->Virsh('A', {"domstate", "--reason", name}, &state_a);
  bed_->Virsh('B', {"domstate", "--reason", name}, &state_b);
  EXPECT_EQ(state_a.find("paused"), std::string::npos) << "A: " << state_a << "\n" << helpers;
  EXPECT_EQ(state_b.find("paused"), std::string::npos) << "B: " << state_b << "\n" << helpers;
  if (where == "A" || where == "B") {
    Status checked = bed_->StopAndCheckGuest(where[0], name);
    EXPECT_TRUE(checked.ok()) << checked.ToString();
  }
  bed_->Virsh('A', {"destroy", name});
  bed_->Virsh('B', {"destroy", name});
  watch->process.Signal(SIGTERM);
  EXPECT_EQ(watch->WaitExit(Millis(10000)), 0);
}

// The destination's libvirtd restarted in the bulk pass: libvirt ends an
// incoming pre-copy migration whose daemon went away. The VM runs on the
// source, whole, with libvirt's own downtime limit.
TEST_F(LibvirtFaultsTest, TheDestinationsLibvirtdRestartedInTheBulkPassLeavesTheVmOnTheSource) {
  const std::string name = "rstdst";
  ASSERT_OK_GUEST(bed_->StartGuest('A', name, kNeverConverging));
  const std::string own = MaxDowntime('A', name);
  auto attach = AttachOnA(name, {"--policy-root", PolicyRoot(name, "[Adaptive]\nEnabled=no\n[Budget]\nAction=none\n"
                                                                    "[Schedule]\nStep=start downtime=500ms\n")});
  ASSERT_TRUE(attach.ok()) << attach.status().ToString();
  Subprocess virsh = StartVirshMigrate(name, 'B', {"--bandwidth", "8"}, bed_->dir().File("virsh-" + name + ".log"));
  ASSERT_TRUE(attach->WaitOutput("action set-downtime 500 ms [done]", Millis(60000))) << attach->Output();
  std::this_thread::sleep_for(Millis(2000));
  ASSERT_TRUE(bed_->RestartDaemon('B').ok());
  const std::optional<int> virsh_exit = virsh.Wait(Millis(120000));
  attach->WaitExit(Millis(120000));
  const std::string out = attach->Output();
  std::optional<Json> summary = attach->Summary();
  ASSERT_TRUE(summary) << out;
  const std::string outcome = summary->GetString("outcome").value_or("");
  std::fprintf(stderr, "[destination libvirtd restarted] virsh %d, outcome %s: %s\n", virsh_exit.value_or(-1),
               outcome.c_str(), summary->GetString("detail").value_or("").c_str());
  const std::string where = RunsOn(name);
  if (outcome == "completed") {
    EXPECT_EQ(where, "B") << out;
  } else {
    EXPECT_EQ(where, "A") << out;
    EXPECT_EQ(MaxDowntime('A', name), own) << out;
  }
  ExpectWholeThenRemove(where, name, out);
}

// Issue 24, faults case 7, on the real bed: B's hook finds its lock held by
// another process (here: this test) for as long as a VM stops, another
// starts and a third migrates in. Each hook call fails open at its 2 s
// budget (exit 0, nothing changed), so libvirt goes on; the stopped VM's
// `stopped` never reached the records. Once the lock is free, a VM pinned
// to the stopped VM's CPU starts: a running record whose VM has no pid file
// in libvirt's run directory holds nothing.
TEST_F(LibvirtFaultsTest, TheHookUnderAHeldLockFailsOpenAndAStoppedVmsCpuIsFreeAfter) {
  const std::string pin = "  <cputune><vcpupin vcpu='0' cpuset='1'/></cputune>\n";
  GuestParams small = QuietGuest();
  small.ram_mib = 64;
  ASSERT_OK_GUEST(bed_->StartGuest('B', "held1", small, pin));
  ASSERT_EQ(ReadFile(bed_->HookDir('B') + "/running/held1"), "dedicated 1\n");
  ASSERT_OK_GUEST(bed_->StartGuest('A', "held3", small));
  {
    UniqueFd lock(::open((bed_->HookDir('B') + "/lock").c_str(), O_RDWR | O_CLOEXEC));
    ASSERT_TRUE(lock.valid());
    ASSERT_EQ(::flock(lock.get(), LOCK_EX), 0);
    std::string out;
    EXPECT_EQ(bed_->Virsh('B', {"destroy", "held1"}, &out, Millis(60000)), 0) << out;
    EXPECT_TRUE(bed_->StartGuest('B', "held2", small).ok());
    Subprocess virsh = StartVirshMigrate("held3", 'B', {}, bed_->dir().File("virsh-held3.log"));
    EXPECT_EQ(virsh.Wait(Millis(120000)), std::optional<int>(0)) << ReadFile(bed_->dir().File("virsh-held3.log"));
    // What the hook could not do under the lock: held1's record is still there.
    EXPECT_EQ(ReadFile(bed_->HookDir('B') + "/running/held1"), "dedicated 1\n");
  }
  Status started = bed_->StartGuest('B', "held4", small, pin);
  EXPECT_TRUE(started.ok()) << started.ToString();
  EXPECT_FALSE(std::filesystem::exists(bed_->HookDir('B') + "/running/held1"));
  EXPECT_EQ(ReadFile(bed_->HookDir('B') + "/running/held4"), "dedicated 1\n");
  Status checked = bed_->StopAndCheckGuest('B', "held3");
  EXPECT_TRUE(checked.ok()) << checked.ToString();
  for (const char* vm : {"held2", "held3", "held4"}) bed_->Virsh('B', {"destroy", vm});
}

// Issue 24, faults case 11: the hook's other checks on the real bed, reading
// this machine's own sysfs. A NUMA nodeset the host lacks is refused, with
// the reason. With 2 MiB pages reserved (and hugetlbfs where B's libvirtd
// sees it), a VM needing more pages than are free is refused, saying how
// many it needs and how many are free, and one that fits starts and runs.
TEST_F(LibvirtFaultsTest, TheHookRefusesANumaNodeOrHugepagesTheHostLacks) {
  GuestParams small = QuietGuest();
  small.ram_mib = 64;
  Status numa = bed_->StartGuest('B', "numa7", small, "  <numatune><memory mode='strict' nodeset='7'/></numatune>\n");
  ASSERT_FALSE(numa.ok());
  EXPECT_NE(numa.ToString().find("virt-converge [fitness.numa]: VM numa7 cannot run on"), std::string::npos) << numa.ToString();
  EXPECT_NE(numa.ToString().find("numatune memory nodeset 7: this host has NUMA node"), std::string::npos)
      << numa.ToString();

  const std::string pool = "/sys/kernel/mm/hugepages/hugepages-2048kB/";
  if (!std::filesystem::exists(pool + "nr_hugepages")) VC_CANNOT_RUN("this kernel offers no 2 MiB hugepages");
  const std::string before = ReadFile(pool + "nr_hugepages");
  struct Restore {
    std::string path, value;
    bool unmount = false;
    ~Restore() {
      std::ofstream(path) << value;
      if (unmount) ::umount2("/dev/hugepages", MNT_DETACH);
    }
  } restore{pool + "nr_hugepages", before};
  std::ofstream(pool + "nr_hugepages") << 48;
  const int64_t free_pages = std::atoll(ReadFile(pool + "free_hugepages").c_str());
  if (free_pages < 40) VC_CANNOT_RUN("could reserve only " + std::to_string(free_pages) + " 2 MiB hugepages");
  std::string mounts = ReadFile("/proc/mounts");
  if (mounts.find(" /dev/hugepages hugetlbfs ") == std::string::npos) {
    std::filesystem::create_directories("/dev/hugepages");
    ASSERT_EQ(::mount("hugetlbfs", "/dev/hugepages", "hugetlbfs", 0, "pagesize=2M"), 0) << std::strerror(errno);
    restore.unmount = true;
  }
  // B's libvirtd learns its hugetlbfs mounts when it starts.
  ASSERT_TRUE(bed_->RestartDaemon('B').ok());
  const std::string backing = "  <memoryBacking><hugepages/></memoryBacking>\n";
  GuestParams big = small;
  big.ram_mib = 2 * static_cast<uint64_t>(free_pages) + 32;  // more than is free
  Status refused = bed_->StartGuest('B', "huge-big", big, backing);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.ToString().find("virt-converge [fitness.hugepages]: VM huge-big cannot run on"), std::string::npos)
      << refused.ToString();
  EXPECT_NE(refused.ToString().find(std::to_string(free_pages) + " free"), std::string::npos) << refused.ToString();
  Status fits = bed_->StartGuest('B', "huge-fits", small, backing);
  ASSERT_TRUE(fits.ok()) << fits.ToString();
  EXPECT_LT(std::atoll(ReadFile(pool + "free_hugepages").c_str()), free_pages) << "not backed by hugepages?";
  Status checked = bed_->StopAndCheckGuest('B', "huge-fits");
  EXPECT_TRUE(checked.ok()) << checked.ToString();
  bed_->Virsh('B', {"destroy", "huge-fits"});
}

// Issue 24, faults case 2 under libvirt: the policy paused the guest, then
// the destination QEMU is frozen (SIGSTOP) for 30 s and killed. The
// migration fails; the guest runs again on the source (by libvirt or by us,
// never left paused), whole, with libvirt's own downtime limit.
TEST_F(LibvirtFaultsTest, ADestinationFrozenThenKilledAfterAPauseLeavesTheGuestRunningOnTheSource) {
  const std::string name = "dstfrozen";
  ASSERT_OK_GUEST(bed_->StartGuest('A', name, kNeverConverging));
  const std::string own = MaxDowntime('A', name);
  auto attach = AttachOnA(name, {"--policy-root", PolicyRoot(name, "[Adaptive]\nEnabled=no\n[Budget]\nPerGiB=0\n"
                                                                    "Minimum=5s\nCopies=0\nAction=pause\n")});
  ASSERT_TRUE(attach.ok()) << attach.status().ToString();
  Subprocess virsh = StartVirshMigrate(name, 'B', {"--bandwidth", "2"}, bed_->dir().File("virsh-" + name + ".log"));
  ASSERT_TRUE(attach->WaitOutput("action pause-guest [done]", Millis(60000))) << attach->Output();
  const pid_t dst = QemuPid('B', name);
  ASSERT_GT(dst, 1);
  ASSERT_EQ(::kill(dst, SIGSTOP), 0);
  std::this_thread::sleep_for(Millis(30000));
  ASSERT_EQ(::kill(dst, SIGKILL), 0);
  EXPECT_NE(virsh.Wait(Millis(120000)), std::optional<int>(0));
  attach->WaitExit(Millis(120000));
  const std::string out = attach->Output();
  std::optional<Json> summary = attach->Summary();
  ASSERT_TRUE(summary) << out;
  EXPECT_EQ(TellOutcome("destination frozen, then killed", *summary), "failed") << out;
  const std::string state = StateOnceRunning('A', name);
  EXPECT_EQ(state.rfind("running", 0), 0u) << state << "\n" << out;
  EXPECT_EQ(RunsOn(name), "A") << out;
  EXPECT_EQ(MaxDowntime('A', name), own) << out;
  ExpectWholeThenRemove("A", name, out);
}

// Issue 24, faults case 1 under libvirt: watch's helper SIGKILLed after a
// downtime step. The migration's next event brings a new helper, which
// adopts what the dead one changed; when the migration is cancelled it puts
// libvirt's own downtime limit back. Nothing is left.
TEST_F(LibvirtFaultsTest, AKilledHelperIsFollowedOnByWatchsNextOne) {
  const std::string name = "helperkill";
  ASSERT_OK_GUEST(bed_->StartGuest('A', name, kNeverConverging));
  const std::string own = MaxDowntime('A', name);
  const std::string uuid = Uuid('A', name);
  const std::string run_dir = bed_->dir().File("run-" + name);
  const std::string helper_log = StatePaths(run_dir, "").HelperLogFile(uuid);
  const std::string root = PolicyRoot(name, "[Adaptive]\nEnabled=no\n[Budget]\nAction=none\n[Schedule]\n"
                                            "Step=start downtime=700ms\n");
  std::optional<VirtConvergeRun> watch =
      StartWatch('A', run_dir, {"--helper-arg=--policy-root=" + root,
                                "--helper-arg=--state-dir=" + bed_->dir().File("state-" + name)});
  ASSERT_TRUE(watch);
  ASSERT_TRUE(watch->WaitOutput("watching outgoing migrations", Millis(20000))) << watch->Output();
  Subprocess virsh = StartVirshMigrate(name, 'B', {"--bandwidth", "8"}, bed_->dir().File("virsh-" + name + ".log"));
  ASSERT_TRUE(WaitFileText(helper_log, "action set-downtime 700 ms [done]", Millis(60000))) << ReadFile(helper_log);
  std::optional<MigrationRecord> live = FindLiveRecord(StatePaths(run_dir, ""), uuid);
  ASSERT_TRUE(live && live->pid > 1) << ReadFile(helper_log);
  ASSERT_EQ(::kill(static_cast<pid_t>(live->pid), SIGKILL), 0);
  ASSERT_TRUE(WaitFileText(helper_log, "following on from a follower that died", Millis(60000)))
      << ReadFile(helper_log) << watch->Output();
  EXPECT_EQ(MaxDowntime('A', name), "700") << ReadFile(helper_log);
  EXPECT_EQ(bed_->Virsh('A', {"domjobabort", name}), 0);
  EXPECT_NE(virsh.Wait(Millis(60000)), std::optional<int>(0));
  ASSERT_TRUE(WaitFileText(helper_log, "outcome:    cancelled", Millis(30000))) << ReadFile(helper_log);
  const std::string helpers = ReadFile(helper_log);
  std::fprintf(stderr, "[helpers]\n%s\n", helpers.c_str());
  EXPECT_NE(helpers.find("adopting what it had changed: downtime-limit 700"), std::string::npos) << helpers;
  EXPECT_EQ(MaxDowntime('A', name), own) << helpers;
  EXPECT_EQ(RunsOn(name), "A");
  std::string left = LeftInRunDir(run_dir);
  EXPECT_EQ(left.find(".changes"), std::string::npos) << left;
  EXPECT_EQ(left.find(".json"), std::string::npos) << left;
  bed_->Virsh('A', {"destroy", name});
  watch->process.Signal(SIGTERM);
  EXPECT_EQ(watch->WaitExit(Millis(10000)), 0);
}

// Issue 24, faults case 4 in post-copy: the source's libvirtd restarted
// right after the follower switched to post-copy. The guest lives on the
// destination from then on: whatever libvirt does on restart, nothing of
// ours resumes the source, and the guest ends up running on B, whole.
TEST_F(LibvirtFaultsTest, TheSourcesLibvirtdRestartedInPostcopyNeverResumesTheSource) {
  const std::string name = "rstpc";
  ASSERT_OK_GUEST(bed_->StartGuest('A', name, kNeverConverging));
  auto attach = AttachOnA(name, {"--policy-root", PolicyRoot(name, "[Adaptive]\nEnabled=no\n[Budget]\nAction=none\n"
                                                                    "[Schedule]\nStep=elapsed>=4s postcopy\n")});
  ASSERT_TRUE(attach.ok()) << attach.status().ToString();
  Subprocess virsh = StartVirshMigrate(name, 'B', {"--bandwidth", "8", "--postcopy", "--postcopy-bandwidth", "8"},
                                       bed_->dir().File("virsh-" + name + ".log"));
  ASSERT_TRUE(attach->WaitOutput("action start-postcopy [done]", Millis(60000))) << attach->Output();
  std::this_thread::sleep_for(Millis(1000));
  ASSERT_TRUE(bed_->RestartDaemon('A').ok());
  virsh.Wait(Millis(120000));
  attach->WaitExit(Millis(120000));
  const std::string out = attach->Output();
  // B runs it once the post-copy has moved every page.
  std::string on_b;
  Deadline deadline = Clock::now() + Millis(60000);
  do {
    bed_->Virsh('B', {"domstate", "--reason", name}, &on_b);
  } while (on_b.rfind("running", 0) != 0 && Clock::now() < deadline && (std::this_thread::sleep_for(Millis(500)), true));
  std::string on_a;
  bed_->Virsh('A', {"domstate", "--reason", name}, &on_a);
  std::fprintf(stderr, "[source libvirtd restarted in post-copy] A: %s B: %s\n%s\nvirsh: %s\n", on_a.c_str(),
               on_b.c_str(), out.c_str(), ReadFile(bed_->dir().File("virsh-" + name + ".log")).c_str());
  EXPECT_EQ(on_b.rfind("running", 0), 0u) << on_b;
  EXPECT_EQ(on_a.rfind("running", 0), std::string::npos) << "the source runs: " << on_a;
  EXPECT_EQ(out.find("resumed the guest"), std::string::npos) << out;
  if (on_b.rfind("running", 0) == 0) {
    Status checked = bed_->StopAndCheckGuest('B', name);
    EXPECT_TRUE(checked.ok()) << checked.ToString();
  }
  bed_->Virsh('A', {"destroy", name});
  bed_->Virsh('B', {"destroy", name});
}

// Issue 24, faults case 3: the link shaped down to 1 Mbit/s once the bulk
// pass is done, as the final passes and the switch-over come: the adaptive
// mode acts on what it measures, and the budget (30 s, then abort) bounds it.
// However it ends, the guest runs on exactly one host, not paused by us,
// whole; libvirt's downtime limit is its own again unless it completed.
//
// It found a defect (issue 24): the final copy began at 29 s (the guest
// paused by the adaptive mode, downtime-limit 64 s) and libvirt's job
// statistics stood still until 101 s, when they read 0 B remaining; the
// budget's abort fired on that and libvirt cancelled the migration at its
// very end, the VM on the source while the outcome said "completed". Now
// nothing is decided once the switch-over is under way
// (controller_test: NothingIsDecidedOrAppliedOnceTheSwitchoverIsUnderWay).
TEST_F(LibvirtFaultsTest, ALinkShapedToOneMbitAtTheEndHarmsNothing) {
  const std::string name = "slowend";
  ASSERT_OK_GUEST(bed_->StartGuest('A', name, QuietGuest()));
  const std::string own = MaxDowntime('A', name);
  LinkBack link{bed_.get()};
  auto attach = AttachOnA(name, {"--policy-root", PolicyRoot(name, "[Budget]\nPerGiB=0\nMinimum=30s\nCopies=0\nAction=abort\n")});
  ASSERT_TRUE(attach.ok()) << attach.status().ToString();
  Subprocess virsh = StartVirshMigrate(name, 'B', {"--bandwidth", "16"}, bed_->dir().File("virsh-" + name + ".log"));
  ASSERT_TRUE(attach->WaitOutput(" pass 2 ", Millis(60000))) << attach->Output();
  Status shaped = bed_->ShapeLink("1mbit");
  ASSERT_TRUE(shaped.ok()) << shaped.ToString();
  attach->WaitExit(Millis(180000));
  ASSERT_TRUE(bed_->ShapeLink("").ok());
  virsh.Wait(Millis(60000));
  const std::string out = attach->Output();
  std::optional<Json> summary = attach->Summary();
  ASSERT_TRUE(summary) << out;
  const std::string outcome = TellOutcome("link shaped to 1 Mbit/s", *summary);
  const std::string where = RunsOn(name);
  EXPECT_EQ(where, outcome == "completed" ? "B" : "A") << out;
  std::string state;
  bed_->Virsh(where == "B" ? 'B' : 'A', {"domstate", "--reason", name}, &state);
  EXPECT_EQ(state.rfind("running", 0), 0u) << state << "\n" << out;
  if (outcome != "completed") {
    EXPECT_EQ(MaxDowntime('A', name), own) << out;
  }
  ExpectWholeThenRemove(where, name, out);
}

// Issue 24: the destination's libvirtd dies (SIGKILL) while the two QEMUs
// migrate. The source QEMU sends everything and says "completed"; virsh's
// Finish on the destination then fails, and libvirt ends the job with the VM
// running on the source. The outcome follows where the VM is: not
// "completed" (before: QEMU's word, kept from its event, made it so), and
// nothing of ours acted in the switch-over though the budget ran out.
// (Frozen with SIGSTOP instead and thawed after virsh gave up, libvirt 9.0
// on the destination went on with the Finish it had been sent and ran the
// guest there too: libvirt's own doing, so the fault here is a kill.)
TEST_F(LibvirtFaultsTest, ADestinationThatNeverFinishesLeavesTheVmOnTheSourceAndIsNotCompleted) {
  const std::string name = "nofinish";
  GuestParams small = QuietGuest();
  small.ram_mib = 64;
  ASSERT_OK_GUEST(bed_->StartGuest('A', name, small));
  const pid_t libvirtd_b = LibvirtdPid('B');
  ASSERT_GT(libvirtd_b, 1);
  auto attach = AttachOnA(name, {"--policy-root", PolicyRoot(name, "[Adaptive]\nEnabled=no\n[Budget]\nPerGiB=0\n"
                                                                    "Minimum=20s\nCopies=0\nAction=abort\n")});
  ASSERT_TRUE(attach.ok()) << attach.status().ToString();
  Subprocess virsh = StartVirshMigrate(name, 'B', {"--bandwidth", "16"}, bed_->dir().File("virsh-" + name + ".log"));
  // Perform runs between the two QEMUs: libvirt on B is not asked again
  // until Finish.
  ASSERT_TRUE(attach->WaitOutput(" active ", Millis(60000))) << attach->Output();
  ASSERT_EQ(::kill(libvirtd_b, SIGKILL), 0);
  // Whether a sample falls inside the switch-over depends on when the kill
  // lands: the guarantees below hold either way.
  EXPECT_NE(virsh.Wait(Millis(180000)), std::optional<int>(0));
  attach->WaitExit(Millis(60000));
  // Back, libvirt on B finds the incoming QEMU it left and ends it.
  ASSERT_TRUE(bed_->RestartDaemon('B').ok());
  const std::string out = attach->Output();
  std::optional<Json> summary = attach->Summary();
  ASSERT_TRUE(summary) << out;
  std::fprintf(stderr, "[destination never finishes] a sample fell in the switch-over: %s\n",
               out.find("the switch-over is under way") != std::string::npos ? "yes" : "no");
  EXPECT_NE(TellOutcome("destination never finishes", *summary), "completed") << out;
  EXPECT_EQ(out.find("action abort"), std::string::npos) << "the budget is long used up, yet nothing acted\n" << out;
  const std::string state = StateOnceRunning('A', name);
  EXPECT_EQ(state.rfind("running", 0), 0u) << state << "\n" << out;
  EXPECT_EQ(RunsOn(name), "A") << out;
  ExpectWholeThenRemove("A", name, out);
}

// Issue 24, faults case 7: a 5 MiB XML on `stopped`, on the real bed. No
// libvirt call carries that much (4 MiB a string over its RPC), but a
// running VM's metadata grows in steps: two 2.6 MiB elements make its live
// XML 5.2 MiB, which libvirt hands the hook as the VM stops. The hook reads
// up to its cap and frees the VM's CPU all the same: a VM pinned to it
// starts after, and libvirt saw the stop through (no hook error).
TEST_F(LibvirtFaultsTest, AVmStoppedWithAFiveMiBXmlFreesItsCpu) {
  const std::string pin = "  <cputune><vcpupin vcpu='0' cpuset='1'/></cputune>\n";
  GuestParams small = QuietGuest();
  small.ram_mib = 64;
  ASSERT_OK_GUEST(bed_->StartGuest('B', "big", small, pin));
  ASSERT_EQ(ReadFile(bed_->HookDir('B') + "/running/big"), "dedicated 1\n");
  {
    ConnectPtr conn(virConnectOpen(bed_->uri('B').c_str()));
    ASSERT_TRUE(conn);
    DomainPtr dom(virDomainLookupByName(conn.get(), "big"));
    ASSERT_TRUE(dom);
    for (const std::string key : {"a", "b"}) {
      const std::string blob = "<blob>" + std::string(2600 * 1024, 'x') + "</blob>";
      ASSERT_EQ(virDomainSetMetadata(dom.get(), VIR_DOMAIN_METADATA_ELEMENT, blob.c_str(), key.c_str(),
                                     ("http://example.org/virt-converge-test/" + key).c_str(), VIR_DOMAIN_AFFECT_LIVE),
                0)
          << virGetLastErrorMessage();
    }
  }
  // libvirt's own copy of the live XML, the one the hook is given.
  std::error_code ec;
  const auto size = std::filesystem::file_size(bed_->dir().path() + "/hosts/B/run/qemu/big.xml", ec);
  ASSERT_FALSE(ec) << ec.message();
  EXPECT_GT(size, 5u << 20);
  std::string out;
  EXPECT_EQ(bed_->Virsh('B', {"destroy", "big"}, &out, Millis(60000)), 0) << out;
  EXPECT_FALSE(std::filesystem::exists(bed_->HookDir('B') + "/running/big"));
  Status started = bed_->StartGuest('B', "afterbig", small, pin);
  EXPECT_TRUE(started.ok()) << started.ToString();
  EXPECT_EQ(ReadFile(bed_->HookDir('B') + "/running/afterbig"), "dedicated 1\n");
  bed_->Virsh('B', {"destroy", "afterbig"});
}

// Issue 24, faults case 4, at setup. The destination's libvirtd, frozen,
// holds the migration in its setup (virsh waits on its Prepare) while the
// follower has already set the step it takes at the start; then it is
// killed and started again. The migration never runs: the VM runs on the
// source, whole, with libvirt's own downtime limit.
TEST_F(LibvirtFaultsTest, TheDestinationsLibvirtdRestartedAtSetupLeavesTheVmOnTheSource) {
  const std::string name = "rstdstset";
  GuestParams small = QuietGuest();
  small.ram_mib = 64;
  ASSERT_OK_GUEST(bed_->StartGuest('A', name, small));
  const std::string own = MaxDowntime('A', name);
  const pid_t libvirtd_b = LibvirtdPid('B');
  ASSERT_GT(libvirtd_b, 1);
  auto attach = AttachOnA(name, {"--policy-root", PolicyRoot(name, "[Adaptive]\nEnabled=no\n[Budget]\nAction=none\n"
                                                                    "[Schedule]\nStep=start downtime=500ms\n")});
  ASSERT_TRUE(attach.ok()) << attach.status().ToString();
  ASSERT_EQ(::kill(libvirtd_b, SIGSTOP), 0);
  Subprocess virsh = StartVirshMigrate(name, 'B', {}, bed_->dir().File("virsh-" + name + ".log"));
  const bool followed = attach->WaitOutput("following the migration", Millis(10000));
  std::this_thread::sleep_for(Millis(2000));
  ASSERT_EQ(::kill(libvirtd_b, SIGKILL), 0);
  ASSERT_TRUE(bed_->RestartDaemon('B').ok());
  EXPECT_NE(virsh.Wait(Millis(120000)), std::optional<int>(0)) << ReadFile(bed_->dir().File("virsh-" + name + ".log"));
  // A follower that never saw the migration run waits for one: told to go.
  if (!attach->process.Wait(Millis(30000))) attach->process.Signal(SIGTERM);
  attach->WaitExit(Millis(60000));
  const std::string out = attach->Output();
  std::optional<Json> summary = attach->Summary();
  ASSERT_TRUE(summary) << out;
  std::fprintf(stderr, "[destination libvirtd restarted at setup] followed in setup: %s\n", followed ? "yes" : "no");
  EXPECT_NE(TellOutcome("destination libvirtd restarted at setup", *summary), "completed") << out;
  EXPECT_EQ(StateOnceRunning('A', name).rfind("running", 0), 0u) << out;
  EXPECT_EQ(RunsOn(name), "A") << out;
  EXPECT_EQ(MaxDowntime('A', name), own) << out;
  ExpectWholeThenRemove("A", name, out);
}

// The same moment with the source's libvirtd restarted instead: libvirt
// drops a migration job still in its Begin phase when it comes back. The
// follower loses libvirt and keeps what it changed recorded; `watch`, the
// next follower of the host, adopts the record and puts it back. The VM
// runs on the source, whole, with libvirt's own downtime limit.
TEST_F(LibvirtFaultsTest, TheSourcesLibvirtdRestartedAtSetupLeavesTheVmOnTheSource) {
  const std::string name = "rstsrcset";
  GuestParams small = QuietGuest();
  small.ram_mib = 64;
  ASSERT_OK_GUEST(bed_->StartGuest('A', name, small));
  const std::string own = MaxDowntime('A', name);
  const std::string run_dir = bed_->dir().File("run-" + name);
  const std::string root = PolicyRoot(name, "[Adaptive]\nEnabled=no\n[Budget]\nAction=none\n"
                                            "[Schedule]\nStep=start downtime=500ms\n");
  const pid_t libvirtd_b = LibvirtdPid('B');
  ASSERT_GT(libvirtd_b, 1);
  auto attach = AttachOnA(name, {"--policy-root", root});
  ASSERT_TRUE(attach.ok()) << attach.status().ToString();
  ASSERT_EQ(::kill(libvirtd_b, SIGSTOP), 0);
  Subprocess virsh = StartVirshMigrate(name, 'B', {}, bed_->dir().File("virsh-" + name + ".log"));
  const bool followed = attach->WaitOutput("action set-downtime 500 ms [done]", Millis(10000));
  std::this_thread::sleep_for(Millis(1000));
  Status restarted = bed_->RestartDaemon('A');
  // B goes on (or is restarted): whatever Prepare it was sent finds no source.
  ::kill(libvirtd_b, SIGKILL);
  Status restarted_b = bed_->RestartDaemon('B');
  ASSERT_TRUE(restarted.ok()) << restarted.ToString();
  ASSERT_TRUE(restarted_b.ok()) << restarted_b.ToString();
  EXPECT_NE(virsh.Wait(Millis(120000)), std::optional<int>(0)) << ReadFile(bed_->dir().File("virsh-" + name + ".log"));
  if (!attach->process.Wait(Millis(30000))) attach->process.Signal(SIGTERM);
  attach->WaitExit(Millis(60000));
  std::string out = attach->Output();
  std::fprintf(stderr, "[source libvirtd restarted at setup] followed in setup: %s\n%s\n", followed ? "yes" : "no",
               out.c_str());
  // What the lost follower left, the next one settles.
  std::optional<VirtConvergeRun> watch =
      StartWatch('A', run_dir, {"--helper-arg=--policy-root=" + root,
                                "--helper-arg=--state-dir=" + bed_->dir().File("state-" + name)});
  ASSERT_TRUE(watch);
  ASSERT_TRUE(watch->WaitOutput("watching outgoing migrations", Millis(20000))) << watch->Output();
  const std::string left = LeftOnceSettled(run_dir);
  watch->process.Signal(SIGTERM);
  EXPECT_EQ(watch->WaitExit(Millis(10000)), 0);
  const std::string uuid = Uuid('A', name);
  out += watch->Output() + ReadFile(StatePaths(run_dir, "").HelperLogFile(uuid));
  EXPECT_EQ(left, "") << out;
  EXPECT_EQ(StateOnceRunning('A', name).rfind("running", 0), 0u) << out;
  EXPECT_EQ(RunsOn(name), "A") << out;
  EXPECT_EQ(MaxDowntime('A', name), own) << out;
  Status checked = bed_->StopAndCheckGuest('A', name);
  EXPECT_TRUE(checked.ok()) << checked.ToString();
  bed_->Virsh('A', {"destroy", name});
  bed_->Virsh('B', {"destroy", name});
}

// Issue 24, faults case 7: VMs named `x` and `x.tmp` on the real bed keep
// records of their own: `x.tmp` stopping frees nothing of `x`'s (a VM
// pinned to x's CPU is still refused), and `x` stopping frees its CPU.
TEST_F(LibvirtFaultsTest, VmsNamedXAndXTmpKeepTheirOwnRecordsOnTheBed) {
  const std::string pin = "  <cputune><vcpupin vcpu='0' cpuset='1'/></cputune>\n";
  GuestParams small = QuietGuest();
  small.ram_mib = 64;
  ASSERT_OK_GUEST(bed_->StartGuest('B', "x", small, pin));
  ASSERT_OK_GUEST(bed_->StartGuest('B', "x.tmp", small));
  EXPECT_EQ(ReadFile(bed_->HookDir('B') + "/running/x"), "dedicated 1\n");
  EXPECT_EQ(ReadFile(bed_->HookDir('B') + "/running/x.tmp"), "dedicated -\n");
  EXPECT_EQ(bed_->Virsh('B', {"destroy", "x.tmp"}), 0);
  EXPECT_FALSE(std::filesystem::exists(bed_->HookDir('B') + "/running/x.tmp"));
  Status refused = bed_->StartGuest('B', "y", small, pin);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.ToString().find("host CPU 1 is held by VM x (pinned 1:1)"), std::string::npos) << refused.ToString();
  EXPECT_EQ(bed_->Virsh('B', {"destroy", "x"}), 0);
  Status started = bed_->StartGuest('B', "y", small, pin);
  EXPECT_TRUE(started.ok()) << started.ToString();
  bed_->Virsh('B', {"destroy", "y"});
}

// Issue 24, point 5 under libvirt: a `migrate` whose destination cannot be
// reached never starts; the downtime limit its [Start] set (libvirt sets it
// outside the migration job) goes back to libvirt's own, and no record of
// it stays. Before: the start's 1234 ms stayed.
TEST_F(LibvirtFaultsTest, AMigrateThatCannotReachItsDestinationLeavesLibvirtsDowntimeAlone) {
  const std::string name = "nodest";
  GuestParams small = QuietGuest();
  small.ram_mib = 64;
  ASSERT_OK_GUEST(bed_->StartGuest('A', name, small));
  const std::string own = MaxDowntime('A', name);
  const std::string run_dir = bed_->dir().File("run-" + name);
  CommandOutcome r = RunVirtConverge(
      bed_->dir(), "migrate-" + name,
      {"migrate", name, "qemu+unix:///system?socket=" + bed_->dir().File("nobody-listens.sock"), "--connect",
       bed_->uri('A'), "--run-dir", run_dir, "--state-dir", bed_->dir().File("state-" + name), "--policy-root",
       PolicyRoot(name, "[Start]\nDowntime=1234ms\n")});
  EXPECT_NE(r.code, 0) << r.out;
  EXPECT_NE(r.out.find("connecting to the destination"), std::string::npos) << r.out;
  EXPECT_EQ(MaxDowntime('A', name), own) << r.out;
  EXPECT_EQ(LeftInRunDir(run_dir), "") << r.out;
  EXPECT_EQ(RunsOn(name), "A");
  bed_->Virsh('A', {"destroy", name});
}

// Issue 24, faults case 4: the destination's libvirtd restarted in
// post-copy. The guest runs there already; libvirt reconnects to its QEMU and
// the post-copy goes on. Nothing of ours resumes the source; the guest ends
// up running on B, whole.
TEST_F(LibvirtFaultsTest, TheDestinationsLibvirtdRestartedInPostcopyLeavesTheGuestOnTheDestination) {
  const std::string name = "rstdstpc";
  ASSERT_OK_GUEST(bed_->StartGuest('A', name, kNeverConverging));
  auto attach = AttachOnA(name, {"--policy-root", PolicyRoot(name, "[Adaptive]\nEnabled=no\n[Budget]\nAction=none\n"
                                                                    "[Schedule]\nStep=elapsed>=4s postcopy\n")});
  ASSERT_TRUE(attach.ok()) << attach.status().ToString();
  Subprocess virsh = StartVirshMigrate(name, 'B', {"--bandwidth", "8", "--postcopy", "--postcopy-bandwidth", "8"},
                                       bed_->dir().File("virsh-" + name + ".log"));
  ASSERT_TRUE(attach->WaitOutput("action start-postcopy [done]", Millis(60000))) << attach->Output();
  std::this_thread::sleep_for(Millis(1000));
  ASSERT_TRUE(bed_->RestartDaemon('B').ok());
  virsh.Wait(Millis(120000));
  attach->WaitExit(Millis(120000));
  const std::string out = attach->Output();
  std::string on_b;
  Deadline deadline = Clock::now() + Millis(60000);
  do {
    bed_->Virsh('B', {"domstate", "--reason", name}, &on_b);
  } while (on_b.rfind("running", 0) != 0 && Clock::now() < deadline && (std::this_thread::sleep_for(Millis(500)), true));
  std::string on_a;
  bed_->Virsh('A', {"domstate", "--reason", name}, &on_a);
  std::optional<Json> summary = attach->Summary();
  std::fprintf(stderr, "[destination libvirtd restarted in post-copy] A: %s B: %s outcome %s\n", on_a.c_str(),
               on_b.c_str(), summary ? summary->GetString("outcome").value_or("?").c_str() : "none");
  EXPECT_EQ(on_b.rfind("running", 0), 0u) << on_b << "\n" << out;
  EXPECT_EQ(on_a.rfind("running", 0), std::string::npos) << "the source runs: " << on_a << "\n" << out;
  EXPECT_EQ(out.find("resumed the guest"), std::string::npos) << out;
  if (on_b.rfind("running", 0) == 0) {
    Status checked = bed_->StopAndCheckGuest('B', name);
    EXPECT_TRUE(checked.ok()) << checked.ToString();
  }
  EXPECT_EQ(LeftInRunDir(bed_->dir().File("run-" + name)), "") << out;
  bed_->Virsh('A', {"destroy", name});
  bed_->Virsh('B', {"destroy", name});
}

// Issue 24, faults case 3: the link cut for 60 s in the bulk pass, under
// the built-in default. TCP holds the connection through the outage; what
// the policy does meanwhile is its own judgement, but no guest is harmed:
// it runs on exactly one host, not paused, whole, and nothing is left.
TEST_F(LibvirtFaultsTest, ALinkCutForSixtySecondsHarmsNothing) {
  const std::string name = "cut60";
  ASSERT_OK_GUEST(bed_->StartGuest('A', name, QuietGuest()));
  LinkBack link{bed_.get()};
  auto attach = AttachOnA(name, {});
  ASSERT_TRUE(attach.ok()) << attach.status().ToString();
  Subprocess virsh = StartVirshMigrate(name, 'B', {"--bandwidth", "8"}, bed_->dir().File("virsh-" + name + ".log"));
  ASSERT_TRUE(attach->WaitOutput("following the migration", Millis(60000))) << attach->Output();
  std::this_thread::sleep_for(Millis(3000));
  ASSERT_TRUE(bed_->SetLink(false).ok());
  std::this_thread::sleep_for(Millis(60000));
  ASSERT_TRUE(bed_->SetLink(true).ok());
  attach->WaitExit(Millis(300000));
  virsh.Wait(Millis(60000));
  const std::string out = attach->Output();
  std::optional<Json> summary = attach->Summary();
  ASSERT_TRUE(summary) << out;
  const std::string outcome = summary->GetString("outcome").value_or("");
  std::string actions;
  if (std::optional<Json> a = summary->Get("actions")) {
    for (size_t i = 0; i < a->ArraySize(); i++) {
      actions += " " + a->At(i).GetString("action").value_or("?") + " [" + a->At(i).GetString("result").value_or("?") + "]";
    }
  }
  std::fprintf(stderr, "[link cut for 60 s] outcome %s: %s; actions:%s\n", outcome.c_str(),
               summary->GetString("detail").value_or("").c_str(), actions.c_str());
  const std::string where = RunsOn(name);
  EXPECT_TRUE(where == "A" || where == "B") << where << "\n" << out;
  std::string state;
  bed_->Virsh(where == "B" ? 'B' : 'A', {"domstate", "--reason", name}, &state);
  EXPECT_EQ(state.rfind("running", 0), 0u) << state << "\n" << out;
  ExpectWholeThenRemove(where, name, out);
}

}  // namespace
}  // namespace vc::testing
