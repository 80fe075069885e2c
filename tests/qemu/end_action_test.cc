// The end actions of a policy on real QEMU (issue #4, "what must be shown",
// point 2): a guest paused so its migration finishes runs again on the
// destination, or on the source when the migration then fails; an abort
// leaves the source running, with the parameters it had before
// virt-converge changed them; a guest nobody could start on the
// destination is never paused.
#include <signal.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "tests/qemu/qemu_test_base.h"
#include "tests/support/policy_tree.h"

namespace vc::testing {
namespace {

namespace fs = std::filesystem;

class EndActionTest : public QemuTest {
 protected:
  /// `migrate` of \a pair at \a bandwidth with \a policy as the only file.
  std::optional<Json> Migrate(MigrationPair& pair, const std::string& policy, const std::string& bandwidth,
                                   int exit_code, std::string* out) {
    return QemuTest::Migrate(pair, bandwidth, OnlyPolicy(pair, policy), {}, exit_code, out);
  }
};

/// Whether the guest on \a vm writes: its cursor moves within half a second.
void ExpectGuestWrites(QemuVm& vm) {
  auto before = vm.GuestStatus();
  ASSERT_TRUE(before.ok()) << before.status().ToString();
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  auto after = vm.GuestStatus();
  ASSERT_TRUE(after.ok()) << after.status().ToString();
  EXPECT_GT(after->cursor, before->cursor) << "the guest does not run on " << vm.name();
}

/// The source's run state and migration status are \a run and \a migration.
void ExpectSource(MigrationPair& pair, const std::string& run, const std::string& migration) {
  auto state = qmp::QueryStatus(pair.src().qmp());
  ASSERT_TRUE(state.ok()) << state.status().ToString();
  EXPECT_EQ(state->status, run);
  auto info = qmp::QueryMigrate(pair.src().qmp());
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_EQ(info->status, migration);
}

// The hot set never converges at 50 ms; the budget's end pauses the guest.
// QEMU's destination keeps the run state the source had at the switch-over
// (paused), so whoever paused the guest must start it there.
TEST_F(EndActionTest, APausedGuestRunsAgainOnTheDestination) {
  auto pair = MigrationPair::Start(NeverConvergingGuest(), "end-pause");
  ASSERT_TRUE(pair.ok()) << pair.status().ToString();
  std::string out;
  std::optional<Json> sum =
      Migrate(**pair, "[Start]\nDowntime=50ms\n[Budget]\nPerGiB=0\nMinimum=8s\nCopies=0\nAction=pause\n",
              "32MiB/s", 0, &out);
  ASSERT_TRUE(sum) << out;
  EXPECT_EQ(sum->GetString("outcome"), "completed") << out;
  EXPECT_NE(out.find("action pause-guest [done]"), std::string::npos) << out;
  // The guest runs on the destination and goes on writing there.
  Status running = WaitRunState((*pair)->dst().qmp(), "running", Millis(10000));
  EXPECT_TRUE(running.ok()) << running.ToString() << "\n" << out;
  ExpectGuestWrites((*pair)->dst());
  EXPECT_NE(out.find("the guest virt-converge paused runs again: started on the destination"),
            std::string::npos)
      << out;
  // The source stays as a finished migration leaves it.
  ExpectSource(**pair, "postmigrate", "completed");
  Status check = (*pair)->CheckDestination();
  EXPECT_TRUE(check.ok()) << check.ToString();
}

// The guest is paused, and then the migration fails: the destination is
// frozen right after the pause (so the copy cannot finish; before it, the
// pause would be refused: nobody could start the guest there) and killed.
// The guest runs on the source again, with the parameters it had.
TEST_F(EndActionTest, APausedGuestWhoseMigrationFailsRunsAgainOnTheSource) {
  auto pair = MigrationPair::Start(NeverConvergingGuest(), "end-pause-fail");
  ASSERT_TRUE(pair.ok()) << pair.status().ToString();
  qmp::Session& src = (*pair)->src().qmp();
  auto own = qmp::QueryMigrateParameters(src);
  ASSERT_TRUE(own.ok()) << own.status().ToString();
  auto run = StartMigrate(**pair, "8MiB/s",
                          OnlyPolicy(**pair, "[Start]\nDowntime=50ms\n[Budget]\nPerGiB=0\nMinimum=6s\nCopies=0\nAction=pause\n"),
                          {});
  ASSERT_TRUE(run.ok()) << run.status().ToString();
  ASSERT_TRUE(run->WaitOutput("action pause-guest [done]", Millis(30000))) << run->Output();
  (*pair)->dst().process().Signal(SIGSTOP);
  ASSERT_TRUE(WaitRunState(src, "paused", Millis(5000)).ok());
  (*pair)->dst().process().Kill();
  EXPECT_EQ(run->WaitExit(Millis(60000)), 1) << run->Output();
  const std::string out = run->Output();
  EXPECT_NE(out.find("resumed the guest virt-converge had paused (the migration did not complete)"),
            std::string::npos)
      << out;
  ExpectSource(**pair, "running", "failed");
  auto params = qmp::QueryMigrateParameters(src);
  ASSERT_TRUE(params.ok()) << params.status().ToString();
  EXPECT_EQ(params->downtime_limit, own->downtime_limit) << out;
  EXPECT_EQ(params->max_bandwidth, own->max_bandwidth) << out;
  ExpectGuestWrites((*pair)->src());
}

// The budget's end aborts a migration a downtime step did not help: the
// source runs on, with the downtime-limit and max-bandwidth it had before
// `migrate` set its start settings and the step its own.
TEST_F(EndActionTest, AnAbortLeavesTheSourceRunningWithItsOwnParameters) {
  auto pair = MigrationPair::Start(NeverConvergingGuest(), "end-abort");
  ASSERT_TRUE(pair.ok()) << pair.status().ToString();
  qmp::Session& src = (*pair)->src().qmp();
  auto own = qmp::QueryMigrateParameters(src);
  ASSERT_TRUE(own.ok()) << own.status().ToString();
  std::string out;
  std::optional<Json> sum = Migrate(**pair,
                                         "[Start]\nDowntime=50ms\n"
                                         "[Schedule]\nStep=elapsed>=3s downtime=60ms\n"
                                         "[Budget]\nPerGiB=0\nMinimum=8s\nCopies=0\nAction=abort\n",
                                         "32MiB/s", 1, &out);
  ASSERT_TRUE(sum) << out;
  EXPECT_EQ(sum->GetString("outcome"), "aborted") << out;
  EXPECT_NE(out.find("action set-downtime 60 ms [done]"), std::string::npos) << out;
  EXPECT_NE(out.find("action abort [done]"), std::string::npos) << out;
  ExpectSource(**pair, "running", "cancelled");
  auto params = qmp::QueryMigrateParameters(src);
  ASSERT_TRUE(params.ok()) << params.status().ToString();
  EXPECT_EQ(params->downtime_limit, own->downtime_limit) << out;
  EXPECT_EQ(params->max_bandwidth, own->max_bandwidth) << out;
  EXPECT_NE(out.find("restored QEMU's own settings: downtime-limit=" +
                     std::to_string(*own->downtime_limit) +
                     ", max-bandwidth=" + std::to_string(*own->max_bandwidth)),
            std::string::npos)
      << out;
  ExpectGuestWrites((*pair)->src());
}

// Attached to a plain-QEMU migration without the destination's QMP socket,
// nobody could start a paused guest there: the pause is refused, saying
// why, and the guest runs on.
TEST_F(EndActionTest, NoPauseWhereNobodyCouldStartTheGuestOnTheDestination) {
  auto pair = MigrationPair::Start(NeverConvergingGuest(), "end-no-pause");
  ASSERT_TRUE(pair.ok()) << pair.status().ToString();
  const std::string root = OnlyPolicy(**pair, "[Budget]\nPerGiB=0\nMinimum=6s\nCopies=0\nAction=pause\n");
  qmp::Session& src = (*pair)->src().qmp();
  qmp::MigrationParameters p;
  p.downtime_limit = 50;
  ASSERT_TRUE(qmp::MigrateSetParameters(src, p).ok());
  VirtConvergeRun attach = Attach(**pair, {"--policy-root", root});
  StartMigration(**pair, kHotSetBandwidth);
  ASSERT_TRUE(attach.WaitOutput(
      "action pause-guest [Not supported: pause-guest: not possible here because the "
      "destination's QMP socket is not known",
      Millis(60000)))
      << attach.Output();
  ExpectSource(**pair, "running", "active");
  ASSERT_TRUE(qmp::MigrateCancel(src).ok());
  EXPECT_EQ(attach.WaitExit(Millis(30000)), 1) << attach.Output();
}

// Issue 24, point 5: a migration that never starts leaves none of its start
// settings behind, neither parameters nor capabilities: the next attempt
// would take them for QEMU's own. Both ways it can fail to start: QEMU
// refuses the `migrate` command, or it takes it and fails to connect.
TEST_F(EndActionTest, AMigrationThatNeverStartsLeavesNoStartSettingsBehind) {
  auto pair = MigrationPair::Start(QuietGuest(), "never");
  ASSERT_TRUE(pair.ok()) << pair.status().ToString();
  qmp::Session& src = (*pair)->src().qmp();
  auto params = qmp::QueryMigrateParameters(src);
  ASSERT_TRUE(params.ok()) << params.status().ToString();
  auto caps = qmp::QueryMigrateCapabilities(src);
  ASSERT_TRUE(caps.ok()) << caps.status().ToString();
  const std::string root = OnlyPolicy(**pair, "[Start]\nAutoConverge=yes\nPostcopy=yes\nThrottleInitial=30%\n"
                                              "ThrottleMax=60%\nDowntime=50ms\nBandwidth=16MiB/s\n");
  // "nonsense:" QEMU refuses; nothing listens on port 1, so that one fails.
  for (const std::string uri : {"nonsense:1", "tcp:127.0.0.1:1"}) {
    auto run = StartVirtConverge((*pair)->dir(), "migrate-" + uri.substr(0, 3),
                                 {"migrate", "--qmp", (*pair)->src().spare_qmp_path(), "--policy-root", root, uri});
    ASSERT_TRUE(run.ok()) << run.status().ToString();
    EXPECT_EQ(run->WaitExit(Millis(30000)), 1) << run->Output();
    if (uri[0] == 't') {
      std::optional<Json> sum = run->Summary();
      ASSERT_TRUE(sum) << run->Output();
      EXPECT_EQ(sum->GetString("outcome"), "not-started") << run->Output();
    }
    auto now = qmp::QueryMigrateParameters(src);
    ASSERT_TRUE(now.ok()) << now.status().ToString();
    EXPECT_EQ(now->downtime_limit, params->downtime_limit) << uri << "\n" << run->Output();
    EXPECT_EQ(now->max_bandwidth, params->max_bandwidth) << uri << "\n" << run->Output();
    EXPECT_EQ(now->cpu_throttle_initial, params->cpu_throttle_initial) << uri << "\n" << run->Output();
    EXPECT_EQ(now->max_cpu_throttle, params->max_cpu_throttle) << uri << "\n" << run->Output();
    auto caps_now = qmp::QueryMigrateCapabilities(src);
    ASSERT_TRUE(caps_now.ok()) << caps_now.status().ToString();
    for (const char* cap : {"auto-converge", "postcopy-ram"}) {
      EXPECT_EQ(caps_now->at(cap), caps->at(cap)) << cap << " after " << uri << "\n" << run->Output();
    }
  }
  ExpectGuestWrites((*pair)->src());
}

}  // namespace
}  // namespace vc::testing
