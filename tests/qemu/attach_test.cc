// `virt-converge attach` and `migrate` on real QEMU migrations of the test
// guest (issue #2, "what must be shown", points 2 to 5).
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <filesystem>
#include <thread>

#include "src/backend/qmp_backend.h"
#include "src/base/unique_fd.h"
#include "tests/qemu/qemu_test_base.h"
#include "tests/support/policy_tree.h"

namespace vc::testing {
namespace {

constexpr int64_t kMiB = 1024 * 1024;
/// Bounds on a whole migration: far above what a run takes, so only a hang
/// or a regression hits them.
constexpr Millis kMigrationTimeout{150000};
constexpr Millis kExitTimeout{20000};

class AttachTest : public QemuTest {
 protected:
  /// A policy root whose one file turns the built-in default's adaptive
  /// mode off and runs \a steps: for tests of the follower's mechanics
  /// (detaching, a dry run), not of its judgement.
  static std::string ScheduleOnly(MigrationPair& pair, const std::string& steps) {
    const std::string root = pair.dir().path() + "/root";
    PolicyTree::Under(root).Write("50-schedule.conf",
                                  "[Adaptive]\nEnabled=no\n[Budget]\nPerGiB=0\nMinimum=0\nAction=none\n"
                                  "[Schedule]\n" + steps);
    return root;
  }

  /// The summary must report exactly what query-migrate says at the end.
  void ExpectSummaryMatchesQemu(const Json& summary, qmp::Session& src) {
    auto info = qmp::QueryMigrate(src);
    ASSERT_TRUE(info.ok());
    ASSERT_TRUE(info->ram);
    EXPECT_EQ(summary.GetInt("total-time-ms"), info->total_time);
    EXPECT_EQ(summary.GetInt("downtime-ms"), info->downtime);
    EXPECT_EQ(summary.GetUint("passes"), info->ram->dirty_sync_count);
    EXPECT_EQ(summary.GetUint("bytes-sent"), info->ram->transferred);
  }
};

TEST_F(AttachTest, HotSetDoesNotFinishWithQemuDefaults) {
  auto pair = MigrationPair::Start(HotSetGuest(), "defaults");
  ASSERT_TRUE(pair.ok()) << pair.status().ToString();
  qmp::Session& src = (*pair)->src().qmp();
  ASSERT_TRUE(qmp::MigrateSetCapabilities(src, {{"events", true}}).ok());
  StartMigration(**pair, kHotSetBandwidth);
  // Bounded: the physical lower bound is 8 s; give it more than three times that.
  std::this_thread::sleep_for(Millis(26000));
  auto info = qmp::QueryMigrate(src);
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->status, "active") << "it finished: the case is too easy";
  ASSERT_TRUE(info->ram);
  EXPECT_GE(*info->ram->dirty_sync_count, 5u);
  EXPECT_GT(*info->expected_downtime, 300) << "QEMU expects to meet its limit";
  // Clean up as an operator would; the guest keeps running on the source.
  ASSERT_TRUE(qmp::MigrateCancel(src).ok());
  ASSERT_TRUE(WaitMigrationStatus(src, {"cancelled"}, Millis(20000)).ok());
  auto rs = qmp::QueryStatus(src);
  ASSERT_TRUE(rs.ok());
  EXPECT_TRUE(rs->running);
}

TEST_F(AttachTest, AttachMakesTheHotSetConvergeInPrecopy) {
  auto pair = MigrationPair::Start(HotSetGuest(), "precopy");
  ASSERT_TRUE(pair.ok()) << pair.status().ToString();
  VirtConvergeRun attach = Attach(**pair);
  StartMigration(**pair, kHotSetBandwidth);
  int code = attach.WaitExit(kMigrationTimeout);
  std::string out = attach.Output();
  ASSERT_EQ(code, 0) << out;
  auto summary = attach.Summary();
  ASSERT_TRUE(summary) << out;
  EXPECT_EQ(summary->GetString("outcome"), "completed") << out;
  Json actions = *summary->Get("actions");
  // The built-in default (the vendor policy) raises downtime-limit to what
  // the hot set needs, well within its 2 s.
  ASSERT_GE(actions.ArraySize(), 1u) << out;
  EXPECT_EQ(actions.At(0).GetString("action"), "set-downtime");
  EXPECT_EQ(actions.At(0).GetString("result"), "done");
  EXPECT_EQ(actions.At(0).GetString("kind"), "switchover") << out;
  EXPECT_NE(out.find("reacting with the built-in default policy (--no-policy)"), std::string::npos) << out;
  // Live progress was printed, one line per update (not a terminal).
  EXPECT_NE(out.find("pass 2"), std::string::npos) << out;
  EXPECT_NE(out.find("exp. downtime"), std::string::npos);
  ExpectSummaryMatchesQemu(*summary, (*pair)->src().qmp());
  Status check = (*pair)->CheckDestination();
  EXPECT_TRUE(check.ok()) << check.ToString();
}

TEST_F(AttachTest, MigrateSwitchesToPostcopyWhenDowntimeCannotBeMet) {
  // 96 MiB rewritten every pass at 64 MiB/s: 1.5 s of downtime, above the
  // 600 ms we allow; with the throttle not allowed, only post-copy can
  // finish it.
  GuestParams g;
  g.ram_mib = 256;
  g.wss = "96M";
  g.rate = "256M";
  auto pair = MigrationPair::Start(g, "postcopy");
  ASSERT_TRUE(pair.ok()) << pair.status().ToString();
  auto uri = (*pair)->ListenIncoming();
  ASSERT_TRUE(uri.ok());
  const std::string root = (*pair)->dir().path() + "/root";
  PolicyTree::Under(root).Write("60-tight.conf", "[Adaptive]\nMaxDowntime=600ms\nThrottle=no\n");
  auto run = StartVirtConverge((*pair)->dir(), "migrate",
                               {"migrate", "--qmp", (*pair)->src().spare_qmp_path(), "--postcopy",
                                "--dest-qmp", (*pair)->dst().spare_qmp_path(), "--bandwidth",
                                "64MiB/s", "--policy-root", root, *uri});
  ASSERT_TRUE(run.ok()) << run.status().ToString();
  int code = run->WaitExit(kMigrationTimeout);
  std::string out = run->Output();
  ASSERT_EQ(code, 0) << out;
  auto summary = run->Summary();
  ASSERT_TRUE(summary) << out;
  EXPECT_EQ(summary->GetString("outcome"), "completed-postcopy") << out;
  EXPECT_EQ(summary->GetBool("postcopy"), true);
  Json actions = *summary->Get("actions");
  ASSERT_GE(actions.ArraySize(), 1u) << out;
  EXPECT_EQ(actions.At(actions.ArraySize() - 1).GetString("action"), "start-postcopy") << out;
  ExpectSummaryMatchesQemu(*summary, (*pair)->src().qmp());
  Status check = (*pair)->CheckDestination();
  EXPECT_TRUE(check.ok()) << check.ToString();
}

// The backend samples the guest's dirty rate in the bulk pass of a real
// migration (calc-dirty-rate) and reports it in the samples before the
// first sync: the guest rewrites 32 MiB at 32 MiB/s, so a 2 s window sees
// 32 MiB of distinct pages dirtied, 16 MiB/s; page sampling is coarse.
TEST_F(AttachTest, TheBackendSamplesTheGuestsDirtyRateInTheBulkPass) {
  auto pair = MigrationPair::Start(NeverConvergingGuest(), "dirtyrate");
  ASSERT_TRUE(pair.ok()) << pair.status().ToString();
  auto backend = QmpBackend::Connect((*pair)->src().spare_qmp_path(), {.enable_events = false, .destination_qmp = "", .sample_dirty_rate = true});
  ASSERT_TRUE(backend.ok()) << backend.status().ToString();
  StartMigration(**pair, 8 * kMiB);
  double sampled = 0;
  uint64_t pass = 0;
  const Deadline give_up = Clock::now() + kMigrationTimeout;
  while (Clock::now() < give_up) {
    Result<MigrationSample> s = (*backend)->Sample();
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    pass = s->pass;
    if (s->sampled_dirty_rate > 0 || pass >= 2 || s->finished()) {
      sampled = s->sampled_dirty_rate;
      break;
    }
    std::this_thread::sleep_for(Millis(200));
  }
  EXPECT_TRUE(qmp::MigrateCancel((*pair)->src().qmp()).ok());
  EXPECT_EQ(pass, 1u) << "the bulk pass ended before the rate was measured";
  EXPECT_GE(sampled, 4.0 * kMiB);
  EXPECT_LE(sampled, 64.0 * kMiB);
}

TEST_F(AttachTest, IdleGuestMigratesUntouched) {
  GuestParams g;
  g.ram_mib = 128;
  g.wss = "1M";
  g.rate = "64K";
  auto pair = MigrationPair::Start(g, "idle");
  ASSERT_TRUE(pair.ok()) << pair.status().ToString();
  // Issue 25, point 7: the host's metrics as this real migration leaves them.
  const std::string metrics_dir = (*pair)->dir().path() + "/node-exporter";
  std::filesystem::create_directories(metrics_dir);
  VirtConvergeRun attach =
      Attach(**pair, {"--state-dir", (*pair)->dir().path() + "/state", "--metrics-dir", metrics_dir});
  StartMigration(**pair, 128 * kMiB);
  ASSERT_EQ(attach.WaitExit(kMigrationTimeout), 0) << attach.Output();
  const std::string prom = metrics_dir + "/virt-converge.prom";
  const std::string metrics = ReadFile(prom);
  EXPECT_NE(metrics.find("virt_converge_migrations_total{outcome=\"completed\",code=\"completed.precopy\"} 1\n"),
            std::string::npos)
      << metrics;
  EXPECT_NE(metrics.find("virt_converge_downtime_seconds_count 1\n"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("virt_converge_migrations_in_flight{direction=\"out\"} 0\n"), std::string::npos) << metrics;
  EXPECT_EQ(std::filesystem::status(prom).permissions() & std::filesystem::perms::others_read,
            std::filesystem::perms::others_read)
      << "node_exporter reads it as its own user";
  const std::string lint_log = (*pair)->dir().File("promtool.log");
  Result<Subprocess> lint = Subprocess::Start({"sh", "-c", "promtool check metrics < " + prom}, lint_log);
  ASSERT_TRUE(lint.ok()) << lint.status().ToString();
  EXPECT_EQ(lint->Wait(Millis(30000)), std::optional<int>(0)) << ReadFile(lint_log);
  auto summary = attach.Summary();
  ASSERT_TRUE(summary);
  EXPECT_EQ(summary->GetString("outcome"), "completed");
  EXPECT_EQ(summary->Get("actions")->ArraySize(), 0u) << attach.Output();
  auto params = qmp::QueryMigrateParameters((*pair)->src().qmp());
  ASSERT_TRUE(params.ok());
  EXPECT_EQ(params->downtime_limit, 300);  // untouched
  ExpectSummaryMatchesQemu(*summary, (*pair)->src().qmp());
  Status check = (*pair)->CheckDestination();
  EXPECT_TRUE(check.ok()) << check.ToString();
}

TEST_F(AttachTest, SigtermDetachesAndTheMigrationStillCompletes) {
  auto pair = MigrationPair::Start(HotSetGuest(), "sigterm");
  ASSERT_TRUE(pair.ok()) << pair.status().ToString();
  // One step (300 -> 600 ms) cannot meet the ~1 s the hot set needs, so the
  // migration is surely still running when the signal comes.
  VirtConvergeRun attach = Attach(**pair, {"--policy-root", ScheduleOnly(**pair, "Step=stall>=1 downtime=600ms\n")});
  StartMigration(**pair, kHotSetBandwidth);
  // Wait until it has changed something, so detaching has something to undo.
  ASSERT_TRUE(attach.WaitOutput("action set-downtime", Millis(60000))) << attach.Output();
  // Meanwhile the operator changes something of their own: it must stay.
  ASSERT_TRUE(CapBandwidth((*pair)->src().qmp(), 36 * kMiB).ok());
  attach.process.Signal(SIGTERM);
  EXPECT_EQ(attach.WaitExit(kExitTimeout), 4) << attach.Output();
  auto summary = attach.Summary();
  ASSERT_TRUE(summary) << attach.Output();
  EXPECT_EQ(summary->GetString("outcome"), "detached");
  qmp::Session& src = (*pair)->src().qmp();
  auto info = qmp::QueryMigrate(src);
  ASSERT_TRUE(info.ok());
  ASSERT_EQ(info->status, "active");
  {
    auto params = qmp::QueryMigrateParameters(src);
    ASSERT_TRUE(params.ok());
    EXPECT_EQ(params->downtime_limit, 300) << "QEMU's own setting was not restored";
    EXPECT_EQ(params->max_bandwidth, 36 * kMiB) << "the operator's change was undone";
    EXPECT_NE(attach.Output().find("restored QEMU's own settings: downtime-limit=300\n"),
              std::string::npos)
        << attach.Output();
    // The operator lets it finish (QEMU's test recipe for "converge").
    qmp::MigrationParameters converge;
    converge.max_bandwidth = 1000000000;
    converge.downtime_limit = 30000;
    ASSERT_TRUE(qmp::MigrateSetParameters(src, converge).ok());
  }
  auto done = WaitMigrationStatus(src, {"completed", "failed", "cancelled"}, kMigrationTimeout);
  ASSERT_TRUE(done.ok());
  EXPECT_EQ(done->status, "completed");
  Status check = (*pair)->CheckDestination();
  EXPECT_TRUE(check.ok()) << check.ToString();
}

TEST_F(AttachTest, DryRunObservesOnlyAndReportsACancelBySomeoneElse) {
  auto pair = MigrationPair::Start(HotSetGuest(), "dryrun");
  ASSERT_TRUE(pair.ok()) << pair.status().ToString();
  qmp::Session& src = (*pair)->src().qmp();
  VirtConvergeRun attach = Attach(
      **pair, {"--dry-run", "--policy-root",
               ScheduleOnly(**pair, "Step=stall>=1 downtime=600ms\nStep=stall>=2 downtime=1200ms\n")});
  auto caps = qmp::QueryMigrateCapabilities(src);
  ASSERT_TRUE(caps.ok());
  EXPECT_FALSE(caps->at("events")) << "a dry run must not even turn events on";
  StartMigration(**pair, kHotSetBandwidth);
  ASSERT_TRUE(attach.WaitOutput("[dry run: not applied]", Millis(60000))) << attach.Output();
  auto params = qmp::QueryMigrateParameters(src);
  ASSERT_TRUE(params.ok());
  EXPECT_EQ(params->downtime_limit, 300);
  // It goes on as if the step it only pretended to take had been taken.
  ASSERT_TRUE(attach.WaitOutput("action set-downtime 1200 ms [dry run: not applied]", Millis(60000)))
      << attach.Output();
  ASSERT_TRUE(qmp::MigrateCancel(src).ok());
  EXPECT_EQ(attach.WaitExit(kExitTimeout), 1) << attach.Output();
  auto summary = attach.Summary();
  ASSERT_TRUE(summary);
  EXPECT_EQ(summary->GetString("outcome"), "cancelled");
  EXPECT_EQ(summary->GetString("detail"), "cancelled by someone else");
  EXPECT_GE(summary->Get("samples")->ArraySize(), 10u);  // the series it kept
  params = qmp::QueryMigrateParameters(src);
  ASSERT_TRUE(params.ok());
  EXPECT_EQ(params->downtime_limit, 300);
}

// A unix socket server that says \a banner (or nothing) to whoever connects.
class FakeServer {
 public:
  FakeServer(const std::string& path, std::string banner) : banner_(std::move(banner)) {
    fd_.reset(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path.c_str());
    EXPECT_EQ(::bind(fd_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    EXPECT_EQ(::listen(fd_.get(), 4), 0);
    thread_ = std::thread([this] {
      UniqueFd c(::accept(fd_.get(), nullptr, nullptr));
      if (!banner_.empty()) (void)!::write(c.get(), banner_.data(), banner_.size());
      // Hold the connection until the client gives up (read returns 0).
      char buf[4096];
      while (::read(c.get(), buf, sizeof buf) > 0) {
      }
    });
  }
  ~FakeServer() { thread_.join(); }

 private:
  UniqueFd fd_;
  std::string banner_;
  std::thread thread_;
};

TEST_F(AttachTest, NotAQmpSocketIsAClearErrorNotAHang) {
  TempDir dir("notqmp");
  struct Case {
    std::string name, banner, expect;
  } cases[] = {
      {"ssh", "SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n", "malformed JSON"},
      {"json", "{\"hello\": \"world\"}\r\n", "not a QMP socket"},
      {"silent", "", "no QMP greeting within 5000 ms"},
  };
  for (const Case& c : cases) {
    std::string path = dir.File(c.name + ".sock");
    FakeServer server(path, c.banner);
    auto start = Clock::now();
    auto run = StartVirtConverge(dir, c.name, {"attach", "--qmp", path});
    ASSERT_TRUE(run.ok());
    EXPECT_EQ(run->WaitExit(kExitTimeout), 3) << run->Output();
    EXPECT_LT(SecondsBetween(start, Clock::now()), 8.0) << c.name;
    EXPECT_NE(run->Output().find(c.expect), std::string::npos) << c.name << ": " << run->Output();
  }
  auto missing = StartVirtConverge(dir, "missing", {"attach", "--qmp", dir.File("none.sock")});
  ASSERT_TRUE(missing.ok());
  EXPECT_EQ(missing->WaitExit(kExitTimeout), 3);
  EXPECT_NE(missing->Output().find("No such file or directory"), std::string::npos) << missing->Output();
}

TEST_F(AttachTest, SourceQemuExitingMidMigrationEndsWithAClearError) {
  auto pair = MigrationPair::Start(HotSetGuest(), "srcexit");
  ASSERT_TRUE(pair.ok()) << pair.status().ToString();
  VirtConvergeRun attach = Attach(**pair);
  StartMigration(**pair, kHotSetBandwidth);
  ASSERT_TRUE(attach.WaitOutput("active", Millis(30000))) << attach.Output();
  (*pair)->src().process().Kill();
  auto start = Clock::now();
  EXPECT_EQ(attach.WaitExit(kExitTimeout), 3) << attach.Output();
  EXPECT_LT(SecondsBetween(start, Clock::now()), 5.0);
  std::string out = attach.Output();
  EXPECT_NE(out.find("outcome:    lost"), std::string::npos) << out;
  EXPECT_NE(out.find("QEMU closed the QMP connection"), std::string::npos) << out;
}

TEST_F(AttachTest, DestinationQemuExitingFailsTheMigrationAndSaysSo) {
  auto pair = MigrationPair::Start(HotSetGuest(), "dstexit");
  ASSERT_TRUE(pair.ok()) << pair.status().ToString();
  VirtConvergeRun attach = Attach(**pair);
  StartMigration(**pair, kHotSetBandwidth);
  ASSERT_TRUE(attach.WaitOutput("active", Millis(30000))) << attach.Output();
  (*pair)->dst().process().Kill();
  EXPECT_EQ(attach.WaitExit(kMigrationTimeout), 1) << attach.Output();
  auto summary = attach.Summary();
  ASSERT_TRUE(summary);
  EXPECT_EQ(summary->GetString("outcome"), "failed") << attach.Output();
  // The source guest is unharmed and still running.
  auto rs = qmp::QueryStatus((*pair)->src().qmp());
  ASSERT_TRUE(rs.ok());
  EXPECT_TRUE(rs->running) << rs->status;
}

}  // namespace
}  // namespace vc::testing
