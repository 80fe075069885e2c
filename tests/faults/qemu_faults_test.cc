// Suite 'faults' on plain QEMU pairs (issue 24): faults injected into real
// QEMUs under `migrate --qmp`, and what virt-converge makes of them.
#include <signal.h>
#include <sys/mount.h>
#include <unistd.h>

#include <fstream>
#include <string>
#include <thread>

#include "src/state/follow_lock.h"
#include "tests/faults/fault_checks.h"
#include "tests/qemu/qemu_test_base.h"
#include "tests/support/policy_tree.h"

namespace vc::testing {
namespace {

class QemuFaultsTest : public QemuTest {
 protected:
  /// The kill cases' policy: a 60 ms downtime step at the start, nothing
  /// else acts; kDowntimeStepDone is its action line.
  static std::string DowntimeStepPolicy(MigrationPair& pair) {
    return OnlyPolicy(pair, "[Budget]\nAction=none\n[Schedule]\nStep=start downtime=60ms\n");
  }
  static constexpr char kDowntimeStepDone[] = "action set-downtime 60 ms [done]";
  /// `attach` of \a pair's source as run \a name, its run and state
  /// directories in the pair's, with \a extra arguments.
  VirtConvergeRun AttachAs(MigrationPair& pair, const std::string& name, std::vector<std::string> extra) {
    extra.insert(extra.begin(), {"--run-dir", RunDir(pair), "--state-dir", pair.dir().File("vc-state")});
    return Attach(pair, extra, name);
  }
  static std::string RunDir(MigrationPair& pair) { return pair.dir().File("vc-run"); }
  static int64_t DowntimeLimit(MigrationPair& pair) {
    auto p = qmp::QueryMigrateParameters(pair.src().qmp());
    EXPECT_TRUE(p.ok()) << p.status().ToString();
    return p.ok() ? p->downtime_limit.value_or(-1) : -1;
  }
  /// Starts a migration of \a pair followed by an `attach` under \a policy
  /// (the root of OnlyPolicy), and SIGKILLs that follower once it has
  /// printed \a after. False (said) when it never did.
  bool KillFollowerAfter(MigrationPair& pair, const std::string& policy_root, std::vector<std::string> extra,
                         const std::string& after) {
    extra.insert(extra.begin(), {"--policy-root", policy_root});
    VirtConvergeRun first = AttachAs(pair, "attach-1", extra);
    StartMigration(pair, 32 << 20);
    const bool seen = first.WaitOutput(after, Millis(30000));
    EXPECT_TRUE(seen) << first.Output();
    first.process.Signal(SIGKILL);
    first.process.Wait(Millis(5000));
    return seen;
  }

  /// A quiet pair whose source has a device (hot-plugged) the destination
  /// lacks: the destination fails on its section, sent with the guest
  /// stopped after the RAM, and exits.
  static Result<std::unique_ptr<MigrationPair>> PairWhoseDestinationCannotLoad(const std::string& tag) {
    auto pair = MigrationPair::Start(QuietGuest(), tag);
    if (!pair.ok()) return pair.status();
    Result<Json> plugged = (*pair)->src().qmp().Execute(
        "device_add", Json::Object().Set("driver", Json::String("virtio-rng-pci")).Set("id", Json::String("rng-src-only")));
    if (!plugged.ok()) return plugged.status();
    return pair;
  }

  /// A plain QEMU pair on two hosts joined by a link, migrating under
  /// `migrate` with a post-copy slow enough to be cut on the way (4 MiB/s,
  /// switched to 3 s in); returns once the destination runs the guest.
  /// Members in teardown order: the follower, the QEMUs, then the link.
  struct PostcopyOverLink {
    std::unique_ptr<NetnsLink> link;
    std::unique_ptr<MigrationPair> pair;
    std::optional<VirtConvergeRun> run;
  };
  void StartPostcopyOverLink(const std::string& tag, PostcopyOverLink* p) {
    auto link = NetnsLink::Up(tag);
    if (!link.ok()) VC_CANNOT_RUN(link.status().ToString());
    p->link = std::move(*link);
    auto pair = MigrationPair::Start(NeverConvergingGuest(), tag + "-pair", p->link.get());
    ASSERT_TRUE(pair.ok()) << pair.status().ToString();
    p->pair = std::move(*pair);
    auto run = StartMigrate(*p->pair, "32MiB/s",
                            OnlyPolicy(*p->pair, "[Start]\nPostcopy=yes\nPostcopyBandwidth=4MiB/s\n[Budget]\nAction=none\n"
                                                 "[Schedule]\nStep=elapsed>=3s postcopy\n"),
                            {"--run-dir", RunDir(*p->pair)});
    ASSERT_TRUE(run.ok()) << run.status().ToString();
    p->run = std::move(*run);
    ASSERT_TRUE(p->run->WaitOutput("action start-postcopy [done]", Millis(60000))) << p->run->Output();
    ASSERT_TRUE(WaitMigrationStatus(p->pair->src().qmp(), {"postcopy-active"}, Millis(20000)).ok());
    // QEMU recovers a post-copy only once the destination runs the guest.
    Status dst_runs = WaitRunState(p->pair->dst().qmp(), "running", Millis(20000));
    ASSERT_TRUE(dst_runs.ok()) << dst_runs.ToString();
  }

};

// Issue 24, point 2. QEMU holds its lock through a long final copy, and a
// QMP command then gets no reply for longer than our 10 s timeout (here the
// source QEMU is frozen for 15 s, right after the policy paused the guest,
// with most of the hot set still to copy). That is not a lost QEMU: the
// follower asks again, and when the migration completes it starts the guest
// it paused on the destination. Before: it ended as "lost" at the first
// timeout, and the guest stayed paused on the destination for good.
TEST_F(QemuFaultsTest, AQemuThatDoesNotAnswerForAWhileIsNotAbandonedWithTheGuestPaused) {
  GuestParams g;
  g.ram_mib = 128;
  g.wss = "64M";
  g.rate = "64M";
  auto pair = MigrationPair::Start(g, "busy-pause");
  ASSERT_TRUE(pair.ok()) << pair.status().ToString();
  auto run = StartMigrate(**pair, "8MiB/s",
                          OnlyPolicy(**pair, "[Start]\nDowntime=50ms\n[Budget]\nPerGiB=0\nMinimum=6s\nCopies=0\nAction=pause\n"),
                          {});
  ASSERT_TRUE(run.ok()) << run.status().ToString();
  ASSERT_TRUE(run->WaitOutput("action pause-guest [done]", Millis(60000))) << run->Output();
  (*pair)->src().process().Signal(SIGSTOP);
  std::this_thread::sleep_for(Millis(15000));
  (*pair)->src().process().Signal(SIGCONT);
  EXPECT_EQ(run->WaitExit(Millis(120000)), 0) << run->Output();
  const std::string out = run->Output();
  std::optional<Json> sum = run->Summary();
  ASSERT_TRUE(sum) << out;
  EXPECT_EQ(sum->GetString("outcome"), "completed") << out;
  EXPECT_NE(out.find("QEMU does not answer (it may hold its lock through a final copy); asking again"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("the guest virt-converge paused runs again: started on the destination"), std::string::npos)
      << out;
  Status running = WaitRunState((*pair)->dst().qmp(), "running", Millis(10000));
  EXPECT_TRUE(running.ok()) << running.ToString() << "\n" << out;
  Status check = (*pair)->CheckDestination();
  EXPECT_TRUE(check.ok()) << check.ToString();
}

// Issue 24, point 3. The pause step needs someone to start the guest on
// the destination after the switch-over; a --dest-qmp that cannot be
// reached is no one. The pause is refused, saying why, and the guest is
// never left paused on the destination. Before: the guest was paused, the
// migration completed, and it stayed paused there.
TEST_F(QemuFaultsTest, NoPauseWhenTheDestinationsQmpCannotBeReached) {
  auto pair = MigrationPair::Start(NeverConvergingGuest(), "unreachable-dest");
  ASSERT_TRUE(pair.ok()) << pair.status().ToString();
  const std::string root =
      OnlyPolicy(**pair, "[Start]\nDowntime=50ms\n[Budget]\nPerGiB=0\nMinimum=4s\nCopies=0\nAction=pause\n");
  VirtConvergeRun attach =
      Attach(**pair, {"--policy-root", root, "--dest-qmp", (*pair)->dir().File("no-such-dest.sock")});
  StartMigration(**pair, 32 << 20);
  ASSERT_TRUE(attach.WaitOutput("action pause-guest", Millis(30000))) << attach.Output();
  const std::string out = attach.Output();
  EXPECT_NE(out.find("action pause-guest [Not supported: pause-guest: not possible here because the destination's "
                     "QMP socket"),
            std::string::npos)
      << out;
  auto state = qmp::QueryStatus((*pair)->src().qmp());
  ASSERT_TRUE(state.ok()) << state.status().ToString();
  EXPECT_EQ(state->status, "running") << out;
  attach.process.Signal(SIGTERM);
  attach.WaitExit(Millis(20000));
  qmp::MigrateCancel((*pair)->src().qmp()).IgnoreError();
}

// Issue 24, point 6: a follower SIGKILLed after a downtime step. What it
// was about to change was recorded first; the next `attach` of that QEMU
// adopts it and follows the migration on, and when the migration is then
// cancelled it puts QEMU's own downtime-limit back.
TEST_F(QemuFaultsTest, AFollowerKilledAfterADowntimeStepIsFollowedOnByTheNext) {
  auto pair = MigrationPair::Start(NeverConvergingGuest(), "kill-follow-on");
  ASSERT_TRUE(pair.ok()) << pair.status().ToString();
  const int64_t own = DowntimeLimit(**pair);
  const std::string root = DowntimeStepPolicy(**pair);
  ASSERT_TRUE(KillFollowerAfter(**pair, root, {}, kDowntimeStepDone));
  ASSERT_EQ(DowntimeLimit(**pair), 60);
  VirtConvergeRun second = AttachAs(**pair, "attach-2", {"--policy-root", root});
  ASSERT_TRUE(second.WaitOutput("following on from a follower that died", Millis(20000))) << second.Output();
  EXPECT_NE(second.Output().find("adopting what it had changed: downtime-limit 60 (was " + std::to_string(own) + ")"),
            std::string::npos)
      << second.Output();
  ASSERT_TRUE(qmp::MigrateCancel((*pair)->src().qmp()).ok());
  second.WaitExit(Millis(30000));
  const std::string out = second.Output();
  EXPECT_NE(out.find("restored QEMU's own settings: downtime-limit=" + std::to_string(own)), std::string::npos) << out;
  EXPECT_EQ(DowntimeLimit(**pair), own) << out;
  EXPECT_EQ(LeftInRunDir(RunDir(**pair)), "") << out;
}

// The same kill, and the migration ends (cancelled by someone) while no
// follower follows it: the next `attach` finds it ended and puts back what
// the dead one had changed, instead of waiting for a migration that never
// comes.
TEST_F(QemuFaultsTest, WhatAKilledFollowerChangedIsPutBackWhenTheMigrationEndedMeanwhile) {
  auto pair = MigrationPair::Start(NeverConvergingGuest(), "kill-orphan");
  ASSERT_TRUE(pair.ok()) << pair.status().ToString();
  const int64_t own = DowntimeLimit(**pair);
  const std::string root = DowntimeStepPolicy(**pair);
  ASSERT_TRUE(KillFollowerAfter(**pair, root, {}, kDowntimeStepDone));
  ASSERT_TRUE(qmp::MigrateCancel((*pair)->src().qmp()).ok());
  ASSERT_TRUE(WaitMigrationStatus((*pair)->src().qmp(), {"cancelled"}, Millis(10000)).ok());
  VirtConvergeRun second = AttachAs(**pair, "attach-2", {"--policy-root", root});
  EXPECT_EQ(second.WaitExit(Millis(30000)), 1) << second.Output();
  const std::string out = second.Output();
  EXPECT_NE(out.find("the migration ended (cancelled) while no follower followed it"), std::string::npos) << out;
  EXPECT_EQ(DowntimeLimit(**pair), own) << out;
  EXPECT_EQ(LeftInRunDir(RunDir(**pair)), "") << out;
}

// The same kill and cancel, and then a new `migrate` of that QEMU: it puts
// back what the dead follower changed before it starts, so that what its
// own migration restores when it fails is QEMU's own value. Before: it took
// the dead one's 60 ms for QEMU's own, and left it.
TEST_F(QemuFaultsTest, TheNextMigrateStartsFromQemusOwnValuesAfterAFollowerWasKilled) {
  auto pair = MigrationPair::Start(NeverConvergingGuest(), "kill-migrate-again");
  ASSERT_TRUE(pair.ok()) << pair.status().ToString();
  const int64_t own = DowntimeLimit(**pair);
  const std::string root = DowntimeStepPolicy(**pair);
  ASSERT_TRUE(KillFollowerAfter(**pair, root, {}, kDowntimeStepDone));
  ASSERT_TRUE(qmp::MigrateCancel((*pair)->src().qmp()).ok());
  ASSERT_TRUE(WaitMigrationStatus((*pair)->src().qmp(), {"cancelled"}, Millis(10000)).ok());
  // Nobody listens on port 1: the new migration fails at once.
  auto next = StartVirtConverge((*pair)->dir(), "migrate-2",
                                {"migrate", "--qmp", (*pair)->src().spare_qmp_path(), "--policy-root", root,
                                 "--run-dir", RunDir(**pair), "--state-dir", (*pair)->dir().File("vc-state"),
                                 "tcp:127.0.0.1:1"});
  ASSERT_TRUE(next.ok()) << next.status().ToString();
  EXPECT_NE(next->WaitExit(Millis(60000)), -1) << next->Output();
  const std::string out = next->Output();
  EXPECT_NE(out.find("adopting what it had changed: downtime-limit 60 (was " + std::to_string(own) + ")"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("the migration it followed ended (cancelled); putting back what it had changed"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("started migration of"), std::string::npos) << out;
  EXPECT_EQ(DowntimeLimit(**pair), own) << out;
  EXPECT_EQ(LeftInRunDir(RunDir(**pair)), "") << out;
}

// A follower SIGKILLed right after its policy paused the guest; the
// migration then completes with the guest paused on the destination. The
// next `attach` (told the destination) starts it there.
TEST_F(QemuFaultsTest, AGuestAKilledFollowerPausedRunsOnTheDestinationOnceTheNextOneComes) {
  auto pair = MigrationPair::Start(NeverConvergingGuest(), "kill-paused");
  ASSERT_TRUE(pair.ok()) << pair.status().ToString();
  const std::string root =
      OnlyPolicy(**pair, "[Start]\nDowntime=50ms\n[Budget]\nPerGiB=0\nMinimum=4s\nCopies=0\nAction=pause\n");
  const std::vector<std::string> dest = {"--dest-qmp", (*pair)->dst().spare_qmp_path()};
  ASSERT_TRUE(KillFollowerAfter(**pair, root, dest, "action pause-guest [done]"));
  ASSERT_TRUE(WaitMigrationStatus((*pair)->src().qmp(), {"completed"}, Millis(60000)).ok());
  VirtConvergeRun second = AttachAs(**pair, "attach-2", {"--policy-root", root, "--dest-qmp", dest[1]});
  EXPECT_EQ(second.WaitExit(Millis(90000)), 0) << second.Output();
  const std::string out = second.Output();
  EXPECT_NE(out.find("the guest virt-converge paused runs again: started on the destination"), std::string::npos)
      << out;
  Status running = WaitRunState((*pair)->dst().qmp(), "running", Millis(10000));
  EXPECT_TRUE(running.ok()) << running.ToString() << "\n" << out;
  Status check = (*pair)->CheckDestination();
  EXPECT_TRUE(check.ok()) << check.ToString();
  EXPECT_EQ(LeftInRunDir(RunDir(**pair)), "") << out;
}

// Issue 24, point 11: one VM has one follower, whichever way it is reached.
// A libvirt domain's follower (`attach DOMAIN`) locks the domain's UUID;
// libvirt gives QEMU that UUID (-uuid), and a follower reaching the same
// QEMU over a QMP socket of its own locks it too. Before: the two took
// different locks (the UUID, the socket's path) and both followed.
TEST_F(QemuFaultsTest, OneFollowerPerVmWhetherReachedByLibvirtOrByQmp) {
  TempDir dir("one-follower");
  VmOptions options;
  options.name = "uuid-vm";
  options.uuid = "5c3b4d2e-1f0a-4b6c-9d8e-7f6a5b4c3d2e";
  options.guest = QuietGuest();
  auto vm = QemuVm::Start(dir, options);
  ASSERT_TRUE(vm.ok()) << vm.status().ToString();
  const StatePaths paths(dir.File("vc-run"), dir.File("vc-state"));
  {
    // As `attach DOMAIN` holds it for the libvirt domain.
    Result<FollowLock> libvirt_follower = FollowLock::Take(paths, options.uuid);
    ASSERT_TRUE(libvirt_follower.ok()) << libvirt_follower.status().ToString();
    CommandOutcome second =
        RunVirtConverge(dir, "attach-qmp", {"attach", "--qmp", (*vm)->spare_qmp_path(), "--wait-at-most", "5s"});
    EXPECT_EQ(second.code, 0) << second.out;
    EXPECT_NE(second.out.find("already followed by virt-converge pid " + std::to_string(::getpid()) +
                              "; leaving it to that one"),
              std::string::npos)
        << second.out;
    EXPECT_EQ(second.out.find("attached to"), std::string::npos) << second.out;
  }
  // And the other way round: a QMP follower holds the VM's key.
  auto first = StartVirtConverge(dir, "attach-first", {"attach", "--qmp", (*vm)->spare_qmp_path(), "--wait-at-most", "60s"});
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  ASSERT_TRUE(first->WaitOutput("attached to", Millis(10000))) << first->Output();
  EXPECT_TRUE(FollowLock::Held(paths, options.uuid));
  first->process.Signal(SIGTERM);
  EXPECT_NE(first->WaitExit(Millis(10000)), -1) << first->Output();
  EXPECT_FALSE(FollowLock::Held(paths, options.uuid));
}

// Policy for the post-copy faults: post-copy allowed, and switched to a few
// seconds in; nothing else acts.
constexpr char kPostcopySoon[] = "[Start]\nPostcopy=yes\n[Budget]\nAction=none\n[Schedule]\nStep=elapsed>=3s postcopy\n";

// Issue 24, fault 5: the destination QEMU killed in post-copy. The guest's
// newest memory died with it; the source holds only a stale copy, and
// running it would corrupt the guest. The source is never resumed: not by
// the follower while the post-copy is broken, not when it leaves.
TEST_F(QemuFaultsTest, TheDestinationKilledInPostcopyNeverResumesTheSource) {
  auto pair = MigrationPair::Start(NeverConvergingGuest(), "dst-killed-postcopy");
  ASSERT_TRUE(pair.ok()) << pair.status().ToString();
  auto run = StartMigrate(**pair, "32MiB/s", OnlyPolicy(**pair, kPostcopySoon), {});
  ASSERT_TRUE(run.ok()) << run.status().ToString();
  ASSERT_TRUE(run->WaitOutput("action start-postcopy [done]", Millis(60000))) << run->Output();
  ASSERT_TRUE(WaitMigrationStatus((*pair)->src().qmp(), {"postcopy-active"}, Millis(20000)).ok());
  (*pair)->dst().process().Signal(SIGKILL);
  auto broken = WaitMigrationStatus((*pair)->src().qmp(), {"postcopy-paused"}, Millis(30000));
  ASSERT_TRUE(broken.ok()) << broken.status().ToString() << "\n" << run->Output();
  std::this_thread::sleep_for(std::chrono::seconds(5));  // the follower's ticks see it broken
  auto state = qmp::QueryStatus((*pair)->src().qmp());
  ASSERT_TRUE(state.ok());
  EXPECT_NE(state->status, "running") << run->Output();
  run->process.Signal(SIGTERM);
  EXPECT_NE(run->WaitExit(Millis(30000)), -1) << run->Output();
  const std::string out = run->Output();
  state = qmp::QueryStatus((*pair)->src().qmp());
  ASSERT_TRUE(state.ok());
  EXPECT_NE(state->status, "running") << out;
  EXPECT_EQ(out.find("resumed the guest"), std::string::npos) << out;
  auto summary = run->Summary();
  ASSERT_TRUE(summary) << out;
  std::fprintf(stderr, "[destination killed in post-copy] outcome %s: %s\n",
               summary->GetString("outcome").value_or("?").c_str(), summary->GetString("detail").value_or("").c_str());
  EXPECT_NE(summary->GetString("outcome").value_or(""), "completed") << out;
  EXPECT_NE(summary->GetString("outcome").value_or(""), "completed-postcopy") << out;
  EXPECT_EQ(LeftInRunDir(RunDir(**pair)), "") << out;
}

// Issue 24, fault 3: the link cut in post-copy, and the post-copy recovered
// with `resume` once it is back. The source and the destination are QEMUs on
// two hosts (network namespaces) joined by one link. With the link down the
// operator breaks the stuck connection on the source (QEMU's migrate-pause,
// what `virsh domjobabort --postcopy` sends); the destination hears nothing
// of it. Once the link is back, `resume --dest-qmp` makes the destination
// drop its end too, listen again, and the source resumes: the guest runs on
// the destination, its memory whole, and the source never runs again.
TEST_F(QemuFaultsTest, APostcopyBrokenByACutLinkIsRecoveredWithResumeOnceTheLinkIsBack) {
  PostcopyOverLink p;
  StartPostcopyOverLink("pc-cut", &p);
  if (HasFatalFailure() || IsSkipped()) return;
  auto& run = p.run;

  ASSERT_TRUE(p.link->SetLink(false).ok());
  std::this_thread::sleep_for(Millis(2000));
  Status broken = qmp::MigratePause(p.pair->src().qmp());
  ASSERT_TRUE(broken.ok()) << broken.ToString();
  auto src_paused = WaitMigrationStatus(p.pair->src().qmp(), {"postcopy-paused"}, Millis(20000));
  ASSERT_TRUE(src_paused.ok()) << src_paused.status().ToString();
  std::this_thread::sleep_for(Millis(3000));
  ASSERT_TRUE(p.link->SetLink(true).ok());
  auto dst_state = qmp::QueryMigrate(p.pair->dst().qmp());
  ASSERT_TRUE(dst_state.ok());
  std::fprintf(stderr, "[link back] the destination's migration is %s\n", dst_state->status.value_or("none").c_str());

  CommandOutcome resume = RunVirtConverge(
      p.pair->dir(), "resume",
      {"resume", p.pair->src().name(), "tcp:" + p.link->address('B') + ":4445", "--dest-qmp",
       p.pair->dst().spare_qmp_path(), "--run-dir", RunDir(*p.pair)});
  EXPECT_EQ(resume.code, 0) << resume.out << run->Output();
  EXPECT_NE(resume.out.find("resume: done"), std::string::npos) << resume.out;
  EXPECT_EQ(run->WaitExit(Millis(120000)), 0) << run->Output();
  const std::string out = run->Output();
  auto summary = run->Summary();
  ASSERT_TRUE(summary) << out;
  EXPECT_EQ(summary->GetString("outcome").value_or(""), "completed-postcopy") << out;
  auto state = qmp::QueryStatus(p.pair->src().qmp());
  ASSERT_TRUE(state.ok());
  EXPECT_NE(state->status, "running") << out;
  Status check = p.pair->CheckDestination();
  EXPECT_TRUE(check.ok()) << check.ToString();
  EXPECT_EQ(LeftInRunDir(RunDir(*p.pair)), "") << out;
}

// Issue 24, fault 3: the link cut for 60 s in post-copy. TCP holds the
// connection (its retransmissions back off, so the migration goes on some
// tens of seconds after the link is back); the guest waits for its pages
// meanwhile. The post-copy then completes: the guest runs on the
// destination only, whole.
TEST_F(QemuFaultsTest, APostcopyWhoseLinkIsCutForSixtySecondsCompletesOnceItIsBack) {
  PostcopyOverLink p;
  StartPostcopyOverLink("pc-60s", &p);
  if (HasFatalFailure() || IsSkipped()) return;
  auto& run = p.run;
  ASSERT_TRUE(p.link->SetLink(false).ok());
  std::this_thread::sleep_for(Millis(60000));
  ASSERT_TRUE(p.link->SetLink(true).ok());
  EXPECT_EQ(run->WaitExit(Millis(240000)), 0) << run->Output();
  const std::string out = run->Output();
  auto summary = run->Summary();
  ASSERT_TRUE(summary) << out;
  EXPECT_EQ(summary->GetString("outcome").value_or(""), "completed-postcopy") << out;
  auto state = qmp::QueryStatus(p.pair->src().qmp());
  ASSERT_TRUE(state.ok());
  EXPECT_NE(state->status, "running") << out;
  Status check = p.pair->CheckDestination();
  EXPECT_TRUE(check.ok()) << check.ToString();
  EXPECT_EQ(LeftInRunDir(RunDir(*p.pair)), "") << out;
}

// Issue 24, fault 3: the link cut for good in post-copy. The guest runs on
// the destination and waits there for pages that never come; the source's
// copy is stale. Nothing of ours may run the source again: not while the
// follower watches the post-copy stand still, not when it leaves.
TEST_F(QemuFaultsTest, APostcopyWhoseLinkIsCutForGoodNeverResumesTheSource) {
  PostcopyOverLink p;
  StartPostcopyOverLink("pc-gone", &p);
  if (HasFatalFailure() || IsSkipped()) return;
  auto& run = p.run;
  ASSERT_TRUE(p.link->SetLink(false).ok());
  std::this_thread::sleep_for(Millis(15000));  // the follower's ticks see it stand still
  auto during = qmp::QueryStatus(p.pair->src().qmp());
  ASSERT_TRUE(during.ok());
  EXPECT_NE(during->status, "running") << run->Output();
  run->process.Signal(SIGTERM);
  EXPECT_NE(run->WaitExit(Millis(30000)), -1) << run->Output();
  const std::string out = run->Output();
  auto after = qmp::QueryStatus(p.pair->src().qmp());
  ASSERT_TRUE(after.ok());
  EXPECT_NE(after->status, "running") << out;
  EXPECT_EQ(out.find("resumed the guest"), std::string::npos) << out;
  auto summary = run->Summary();
  ASSERT_TRUE(summary) << out;
  std::fprintf(stderr, "[link cut for good in post-copy] outcome %s: %s\n",
               summary->GetString("outcome").value_or("?").c_str(), summary->GetString("detail").value_or("").c_str());
  EXPECT_NE(summary->GetString("outcome").value_or(""), "completed-postcopy") << out;
  EXPECT_EQ(LeftInRunDir(RunDir(*p.pair)), "") << out;
}

// Issue 24, fault 1 in post-copy: the follower SIGKILLed once it switched
// to post-copy. The migration completes by itself; the next `attach` finds
// it completed and leaves nothing behind; the guest runs on the destination
// with its memory intact.
TEST_F(QemuFaultsTest, AFollowerKilledInPostcopyLeavesACompletedMigrationWhole) {
  auto pair = MigrationPair::Start(NeverConvergingGuest(), "kill-in-postcopy");
  ASSERT_TRUE(pair.ok()) << pair.status().ToString();
  const std::string root = OnlyPolicy(**pair, kPostcopySoon);
  auto first = StartMigrate(**pair, "32MiB/s", root, {});
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  ASSERT_TRUE(first->WaitOutput("action start-postcopy [done]", Millis(60000))) << first->Output();
  first->process.Signal(SIGKILL);
  first->process.Wait(Millis(5000));
  auto done = WaitMigrationStatus((*pair)->src().qmp(), {"completed"}, Millis(120000));
  ASSERT_TRUE(done.ok()) << done.status().ToString();
  VirtConvergeRun second =
      AttachAs(**pair, "attach-2", {"--policy-root", root, "--dest-qmp", (*pair)->dst().spare_qmp_path()});
  EXPECT_EQ(second.WaitExit(Millis(60000)), 0) << second.Output();
  const std::string out = second.Output();
  EXPECT_NE(out.find("a follower of this migration died"), std::string::npos) << out;
  Status running = WaitRunState((*pair)->dst().qmp(), "running", Millis(10000));
  EXPECT_TRUE(running.ok()) << running.ToString() << "\n" << out;
  auto state = qmp::QueryStatus((*pair)->src().qmp());
  ASSERT_TRUE(state.ok());
  EXPECT_NE(state->status, "running") << out;
  Status check = (*pair)->CheckDestination();
  EXPECT_TRUE(check.ok()) << check.ToString();
  EXPECT_EQ(LeftInRunDir(RunDir(**pair)), "") << out;
}

// A destination that cannot load the guest's last state: the source has a
// device (hot-plugged here) the destination lacks, so the destination fails
// on the device section sent with the guest stopped, after the RAM. With the
// return path `migrate` turns on, the source hears of it, fails the
// migration and runs the guest again; nothing is lost. Without it the source
// counted the migration completed once it had sent the last byte, and the
// guest stayed stopped there with the destination gone.
TEST_F(QemuFaultsTest, ADestinationThatCannotLoadTheGuestLeavesItRunningOnTheSource) {
  auto pair = PairWhoseDestinationCannotLoad("dst-load-fails");
  ASSERT_TRUE(pair.ok()) << pair.status().ToString();
  auto run = StartMigrate(**pair, "64MiB/s", OnlyPolicy(**pair, "[Budget]\nAction=none\n"), {"--run-dir", RunDir(**pair)});
  ASSERT_TRUE(run.ok()) << run.status().ToString();
  EXPECT_NE(run->WaitExit(Millis(120000)), 0) << run->Output();
  const std::string out = run->Output();
  auto summary = run->Summary();
  ASSERT_TRUE(summary) << out;
  std::fprintf(stderr, "[destination cannot load] outcome %s: %s\n", summary->GetString("outcome").value_or("?").c_str(),
               summary->GetString("detail").value_or("").c_str());
  EXPECT_EQ(summary->GetString("outcome").value_or(""), "failed") << out;
  Status running = WaitRunState((*pair)->src().qmp(), "running", Millis(10000));
  EXPECT_TRUE(running.ok()) << running.ToString() << "\n" << out;
  auto caps = qmp::QueryMigrateCapabilities((*pair)->src().qmp());
  ASSERT_TRUE(caps.ok()) << caps.status().ToString();
  EXPECT_FALSE(caps->at("return-path")) << "return-path left on\n" << out;
  EXPECT_EQ(LeftInRunDir(RunDir(**pair)), "") << out;
  Status whole = (*pair)->src().StopAndCheckMemory();
  EXPECT_TRUE(whole.ok()) << whole.ToString();
}

// The same destination under a migration someone else started without the
// return path, followed by `attach --dest-qmp`. The source says completed
// once it has sent the last byte; the destination, failing to load, exits.
// The follower asks the destination before it calls the migration completed:
// `failed`, saying the destination did not load the guest. The guest stays
// stopped on the source: nothing of ours can tell whether the destination
// ran it. Before: `completed`.
TEST_F(QemuFaultsTest, AnAdoptedMigrationWhoseDestinationCannotLoadTheGuestIsNotCompleted) {
  auto pair = PairWhoseDestinationCannotLoad("dst-load-fails-adopted");
  ASSERT_TRUE(pair.ok()) << pair.status().ToString();
  VirtConvergeRun attach = AttachAs(**pair, "attach", {"--policy-root", OnlyPolicy(**pair, "[Budget]\nAction=none\n"),
                                                       "--dest-qmp", (*pair)->dst().spare_qmp_path()});
  StartMigration(**pair, 64 << 20);
  EXPECT_NE(attach.WaitExit(Millis(120000)), 0) << attach.Output();
  const std::string out = attach.Output();
  auto summary = attach.Summary();
  ASSERT_TRUE(summary) << out;
  const std::string detail = summary->GetString("detail").value_or("");
  std::fprintf(stderr, "[adopted, destination cannot load] outcome %s: %s\n",
               summary->GetString("outcome").value_or("?").c_str(), detail.c_str());
  EXPECT_EQ(summary->GetString("outcome").value_or(""), "failed") << out;
  EXPECT_NE(detail.find("destination"), std::string::npos) << out;
  auto state = qmp::QueryStatus((*pair)->src().qmp());
  ASSERT_TRUE(state.ok());
  EXPECT_EQ(state->status, "postmigrate") << out;
  EXPECT_EQ(LeftInRunDir(RunDir(**pair)), "") << out;
}

// A tmpfs mounted at a directory for as long as it lives.
class TinyTmpfs {
 public:
  explicit TinyTmpfs(std::string at) : at_(std::move(at)) {
    std::filesystem::create_directories(at_);
    mounted_ = ::mount("tmpfs", at_.c_str(), "tmpfs", 0, "size=256k,mode=0755") == 0;
  }
  ~TinyTmpfs() {
    if (mounted_) ::umount2(at_.c_str(), MNT_DETACH);
  }
  bool mounted() const { return mounted_; }
  /// Writes a file until the file system is full.
  void Fill() {
    std::ofstream filler(at_ + "/filler", std::ios::binary);
    const std::string block(4096, 'x');
    while (filler.write(block.data(), static_cast<std::streamsize>(block.size())) && filler.flush()) {
    }
  }

 private:
  std::string at_;
  bool mounted_ = false;
};

// Issue 24, fault 9: the run and state directories on a full disk. The
// migration is followed and helped as ever and completes; the follower says
// what it could not record; no temp file of ours is left on that disk.
TEST_F(QemuFaultsTest, AFullDiskHarmsNoMigrationAndLeavesNoTempFile) {
  if (::geteuid() != 0) VC_CANNOT_RUN("mounting a tmpfs needs root");
  auto pair = MigrationPair::Start(QuietGuest(), "full-disk");
  ASSERT_TRUE(pair.ok()) << pair.status().ToString();
  const std::string disk = (*pair)->dir().File("disk");
  TinyTmpfs tmpfs(disk);
  ASSERT_TRUE(tmpfs.mounted()) << "mount tmpfs on " << disk;
  std::filesystem::create_directories(disk + "/run");
  std::filesystem::create_directories(disk + "/state");
  tmpfs.Fill();
  const std::string root = OnlyPolicy(**pair, "[Budget]\nAction=none\n[Schedule]\nStep=start downtime=400ms\n");
  VirtConvergeRun attach = Attach(**pair, {"--policy-root", root, "--run-dir", disk + "/run", "--state-dir", disk + "/state"});
  StartMigration(**pair, 32 << 20);
  EXPECT_EQ(attach.WaitExit(Millis(150000)), 0) << attach.Output();
  const std::string out = attach.Output();
  std::fprintf(stderr, "[full disk]\n%s\n", out.c_str());
  auto summary = attach.Summary();
  ASSERT_TRUE(summary) << out;
  EXPECT_EQ(summary->GetString("outcome").value_or(""), "completed") << out;
  EXPECT_NE(out.find("action set-downtime 400 ms [done]"), std::string::npos) << out;
  EXPECT_NE(out.find("could not record what is about to change"), std::string::npos) << out;
  Status check = (*pair)->CheckDestination();
  EXPECT_TRUE(check.ok()) << check.ToString();
  EXPECT_NE(out.find("could not write the history record"), std::string::npos) << out;
  EXPECT_EQ(LeftInRunDir(disk + "/run"), "") << out;
  EXPECT_EQ(LeftInRunDir(disk + "/state"), "") << out;
}

}  // namespace
}  // namespace vc::testing
