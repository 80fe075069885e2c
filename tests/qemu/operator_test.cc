// The operator's commands on real QEMU migrations (issue #7, operator CLI):
// list and status while a migration runs and from its history record
// after; cancel; postcopy (force-complete); resume of a post-copy whose
// connection broke.
#include <netinet/in.h>
#include <sys/socket.h>

#include <filesystem>
#include <fstream>

#include "tests/qemu/qemu_test_base.h"
#include "tests/support/policy_tree.h"

namespace vc::testing {
namespace {

namespace fs = std::filesystem;
constexpr Millis kMigrationTimeout{150000};

class OperatorTest : public QemuTest {
 protected:
  void SetUp() override {
    QemuTest::SetUp();
    if (IsSkipped()) return;
    // No reaction of its own: what happens is what the operator asks.
    PolicyTree::Under(root_.path()).Write("50-hands-off.conf", "[Budget]\nPerGiB=0\nMinimum=0\nAction=none\n[Adaptive]\nEnabled=no\n");
  }

  std::vector<std::string> Dirs() const {
    return {"--run-dir", run_.path(), "--state-dir", state_.path(), "--policy-root", root_.path()};
  }

  // Runs a short-lived virt-converge command on this test's run dir.
  CommandOutcome Command(std::vector<std::string> args, const std::string& name) {
    args.push_back("--run-dir");
    args.push_back(run_.path());
    return RunVirtConverge(root_, name, args);
  }

  TempDir root_{"op-root"};
  TempDir run_{"op-run"};
  TempDir state_{"op-state"};
};

// Waits until the migration has done \a passes dirty-bitmap syncs.
bool WaitForPass(qmp::Session& s, uint64_t passes) {
  Deadline end = Clock::now() + Millis(60000);
  while (Clock::now() < end) {
    auto info = qmp::QueryMigrate(s);
    if (info.ok() && info->ram && info->ram->dirty_sync_count.value_or(0) >= passes) return true;
    std::this_thread::sleep_for(Millis(100));
  }
  return false;
}

int FreePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

TEST_F(OperatorTest, ListStatusCancelAndTheHistoryRecord) {
  auto pair = MigrationPair::Start(NeverConvergingGuest(), "op-cancel");
  ASSERT_TRUE(pair.ok()) << pair.status().ToString();
  std::vector<std::string> args = Dirs();
  VirtConvergeRun attach = Attach(**pair, args);
  qmp::MigrationParameters p;
  p.downtime_limit = 50;
  ASSERT_TRUE(qmp::MigrateSetParameters((*pair)->src().qmp(), p).ok());
  StartMigration(**pair, kHotSetBandwidth);
  ASSERT_TRUE(attach.WaitOutput("following the migration", Millis(20000))) << attach.Output();
  ASSERT_TRUE(WaitForPass((*pair)->src().qmp(), 3));

  CommandOutcome list = Command({"list"}, "list");
  ASSERT_EQ(list.code, 0) << list.out;
  EXPECT_NE(list.out.find("VM "), std::string::npos) << list.out;
  EXPECT_NE(list.out.find(" out "), std::string::npos) << list.out;
  EXPECT_NE(list.out.find(" ETA "), std::string::npos) << list.out;
  EXPECT_NE(list.out.find("policy (the built-in default and 1 file under " + root_.path() + ")"), std::string::npos)
      << list.out;

  CommandOutcome json = Command({"list", "--json"}, "list-json");
  ASSERT_EQ(json.code, 0) << json.out;
  auto parsed = Json::Parse(json.out);
  ASSERT_TRUE(parsed.ok()) << json.out;
  ASSERT_EQ(parsed->ArraySize(), 1u) << json.out;
  Json m = parsed->At(0);
  EXPECT_EQ(m.GetString("direction"), "out");
  EXPECT_EQ(m.GetString("status"), "active");
  EXPECT_GE(m.GetUint("pass").value_or(0), 3u) << json.out;
  EXPECT_GT(m.GetDouble("progress").value_or(0), 0) << json.out;
  EXPECT_GT(m.GetInt("elapsed-ms").value_or(0), 0) << json.out;
  EXPECT_GT(m.GetDouble("dirty-rate").value_or(0), 0) << json.out;
  EXPECT_EQ(m.GetInt("downtime-limit-ms"), 50) << json.out;
  EXPECT_NEAR(m.GetDouble("started-at").value_or(0), static_cast<double>(time(nullptr)), 120) << json.out;
  const std::string id = *m.GetString("id");

  CommandOutcome status = Command({"status", id}, "status");
  ASSERT_EQ(status.code, 0) << status.out;
  EXPECT_NE(status.out.find("— running"), std::string::npos) << status.out;
  EXPECT_NE(status.out.find("samples:"), std::string::npos) << status.out;
  EXPECT_NE(status.out.find(" active "), std::string::npos) << status.out;
  // The estimator's time to the switch-over at these rates, or why none.
  EXPECT_TRUE(status.out.find(" to the switch-over, if the rates hold\n") != std::string::npos ||
              status.out.find("eta:        - (not known before the bulk pass ends;") != std::string::npos)
      << status.out;

  CommandOutcome cancel = Command({"cancel", id}, "cancel");
  EXPECT_EQ(cancel.code, 0) << cancel.out;
  EXPECT_NE(cancel.out.find("abort: done"), std::string::npos) << cancel.out;
  ASSERT_EQ(attach.WaitExit(Millis(20000)), 1) << attach.Output();
  auto summary = attach.Summary();
  ASSERT_TRUE(summary);
  EXPECT_EQ(summary->GetString("outcome"), "aborted");
  EXPECT_EQ(summary->GetString("detail"), "aborted by virt-converge: the operator asked (virt-converge cancel)");
  // The VM goes on where it was, with the parameters it had.
  auto run_state = qmp::QueryStatus((*pair)->src().qmp());
  ASSERT_TRUE(run_state.ok());
  EXPECT_EQ(run_state->status, "running");

  // Gone from the list; its history record tells the story.
  CommandOutcome after = Command({"list"}, "list-after");
  EXPECT_NE(after.out.find("(no migration on this host)"), std::string::npos) << after.out;
  CommandOutcome history = Command({"status", id, "--state-dir", state_.path()}, "status-after");
  ASSERT_EQ(history.code, 0) << history.out;
  EXPECT_NE(history.out.find("— ended"), std::string::npos) << history.out;
  EXPECT_NE(history.out.find("outcome:    aborted — aborted by virt-converge: the operator asked"), std::string::npos)
      << history.out;
  EXPECT_NE(history.out.find("abort [done]: the operator asked (virt-converge cancel)"), std::string::npos)
      << history.out;
  EXPECT_EQ(Command({"cancel", id}, "cancel-again").code, 1);
}

TEST_F(OperatorTest, PostcopyForceCompletesAndResumeRecoversABrokenPostcopy) {
  auto pair = MigrationPair::Start(NeverConvergingGuest(), "op-postcopy");
  ASSERT_TRUE(pair.ok()) << pair.status().ToString();
  std::vector<std::string> args = Dirs();
  VirtConvergeRun attach = Attach(**pair, args);
  qmp::MigrationParameters p;
  p.downtime_limit = 50;
  p.max_postcopy_bandwidth = 8 << 20;  // slow enough to break it on the way
  ASSERT_TRUE(qmp::MigrateSetParameters((*pair)->src().qmp(), p).ok());
  ASSERT_TRUE(qmp::MigrateSetCapabilities((*pair)->src().qmp(), {{"postcopy-ram", true}}).ok());
  auto uri = (*pair)->ListenIncoming({{"postcopy-ram", true}});
  ASSERT_TRUE(uri.ok());
  ASSERT_TRUE(CapBandwidth((*pair)->src().qmp(), kHotSetBandwidth).ok());
  ASSERT_TRUE(qmp::Migrate((*pair)->src().qmp(), *uri).ok());
  ASSERT_TRUE(attach.WaitOutput("following the migration", Millis(20000))) << attach.Output();
  ASSERT_TRUE(WaitForPass((*pair)->src().qmp(), 2));

  // By the VM's name (QEMU's -name).
  CommandOutcome force = Command({"postcopy", (*pair)->src().name()}, "postcopy");
  ASSERT_EQ(force.code, 0) << force.out;
  EXPECT_NE(force.out.find("start-postcopy: done"), std::string::npos) << force.out;
  ASSERT_TRUE(WaitMigrationStatus((*pair)->src().qmp(), {"postcopy-active"}, Millis(20000)).ok());
  // QEMU can only recover a post-copy that broke once the destination runs
  // the guest; a break while it still loads the device state ends the
  // incoming QEMU instead (savevm.c: "LISTENING stage is still not enough").
  Status dst_runs = WaitRunState((*pair)->dst().qmp(), "running", Millis(20000));
  ASSERT_TRUE(dst_runs.ok()) << dst_runs.ToString();

  // The connection breaks.
  ASSERT_TRUE(qmp::MigratePause((*pair)->src().qmp()).ok());
  auto src_paused = WaitMigrationStatus((*pair)->src().qmp(), {"postcopy-paused"}, Millis(20000));
  ASSERT_TRUE(src_paused.ok()) << src_paused.status().ToString();
  auto dst_paused = WaitMigrationStatus((*pair)->dst().qmp(), {"postcopy-paused"}, Millis(20000));
  ASSERT_TRUE(dst_paused.ok()) << dst_paused.status().ToString();

  auto listing = Json::Parse(Command({"list", "--json"}, "list-paused").out);
  ASSERT_TRUE(listing.ok() && listing->ArraySize() == 1u);
  EXPECT_EQ(listing->At(0).GetString("status"), "postcopy-paused");
  const std::string id = *listing->At(0).GetString("id");
  const std::string again = "tcp:127.0.0.1:" + std::to_string(FreePort());
  CommandOutcome resume = Command({"resume", id, again, "--dest-qmp", (*pair)->dst().spare_qmp_path()}, "resume");
  ASSERT_EQ(resume.code, 0) << resume.out;
  EXPECT_NE(resume.out.find("resume: done"), std::string::npos) << resume.out;

  ASSERT_EQ(attach.WaitExit(kMigrationTimeout), 0) << attach.Output();
  auto summary = attach.Summary();
  ASSERT_TRUE(summary);
  EXPECT_EQ(summary->GetString("outcome"), "completed-postcopy") << attach.Output();
  Status check = (*pair)->CheckDestination();
  EXPECT_TRUE(check.ok()) << check.ToString();
}

}  // namespace
}  // namespace vc::testing
