// Live and history records, and the control socket, without QEMU: what
// `list`, `status` and `cancel` rely on when followers come and go.
#include "src/state/migration_record.h"

#include <gtest/gtest.h>
#include <unistd.h>
#include <sys/stat.h>
#include <systemd/sd-event.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "src/state/control_socket.h"
#include "src/state/follow_lock.h"
#include "tests/support/temp_dir.h"

namespace vc {
namespace {

using testing::TempDir;

MigrationRecord Sample(const std::string& id, double started_at) {
  MigrationRecord r;
  r.id = id;
  r.vm = "vm-" + id;
  r.uuid = id;
  r.peer = "qemu+ssh://b/system";
  r.started_at = started_at;
  r.status = "active";
  r.ram_total = 1000;
  r.remaining = 250;
  r.share = 32 << 20;
  r.actions.push_back({1.5, "set-downtime", 500, "stall 1", "done", 3});
  return r;
}

TEST(MigrationRecordTest, JsonRoundTripKeepsEverythingListAndStatusShow) {
  MigrationRecord r = Sample("u1", 1000.5);
  r.samples.push_back({900, "active", 2, 250, 750, 1e6, 2e5, 300, 20});
  MigrationSummary s;
  s.outcome = MigrationOutcome::kCompleted;
  s.detail = "finished in pre-copy";
  s.total_time_ms = 4200;
  r.outcome = s;
  MigrationRecord back = MigrationRecord::FromJson(r.ToJson());
  EXPECT_EQ(back.ToJson(), r.ToJson());
  EXPECT_DOUBLE_EQ(back.progress(), 75);
  ASSERT_EQ(back.actions.size(), 1u);
  EXPECT_EQ(back.actions[0].reason, "stall 1");
  ASSERT_TRUE(back.outcome);
  EXPECT_EQ(back.outcome->total_time_ms, 4200);
}

// Issue 25, points 6 and 8: a live record carries its ETA and the current
// reason code (the last action's), a finished one the outcome's.
TEST(MigrationRecordTest, ARecordTellsItsEtaAndCurrentReasonCode) {
  MigrationRecord r = Sample("u2", 1000.5);
  r.actions.back().kind = DecisionKind::kBudget;
  r.eta_ms = 12500;
  EXPECT_EQ(r.reason_code(), "budget.downtime");
  const Json j = r.ToJson();
  EXPECT_EQ(j.GetString("code").value_or(""), "budget.downtime");
  EXPECT_EQ(j.GetInt("eta-ms").value_or(0), 12500);
  EXPECT_EQ(MigrationRecord::FromJson(j).eta_ms, 12500);
  MigrationSummary ended;
  ended.outcome = MigrationOutcome::kAborted;
  ended.code = "budget.abort";
  r.outcome = ended;
  EXPECT_EQ(r.reason_code(), "budget.abort");
  EXPECT_EQ(MigrationRecord::FromJson(r.ToJson()).reason_code(), "budget.abort");
  EXPECT_EQ(Sample("u3", 1).reason_code(), "") << "a record older than kinds has none";
}

TEST(MigrationRecordTest, AFollowerThatDiedLeavesAStaleRecordNotARunningOne) {
  TempDir run("rec-run");
  TempDir state("rec-state");
  {
    Result<FollowLock> lock = FollowLock::Take(StatePaths(run.path(), state.path()), "u1");
    ASSERT_TRUE(lock.ok());
    RecordWriter w(StatePaths(run.path(), state.path()), "u1");
    ASSERT_TRUE(w.Update(Sample("u1", 10)).ok());
    ASSERT_TRUE(w.AppendSample({100, "active", 1, 900, 100, 1, 0, 0, 0}).ok());
    std::vector<MigrationRecord> live = ReadLiveRecords(StatePaths(run.path(), state.path()));
    ASSERT_EQ(live.size(), 1u);
    EXPECT_FALSE(live[0].stale);
    std::optional<MigrationRecord> found = FindLiveRecord(StatePaths(run.path(), state.path()), "vm-u1");
    ASSERT_TRUE(found);
    EXPECT_EQ(found->samples.size(), 1u);
  }  // the follower is gone, its record not removed
  std::vector<MigrationRecord> live = ReadLiveRecords(StatePaths(run.path(), state.path()));
  ASSERT_EQ(live.size(), 1u);
  EXPECT_TRUE(live[0].stale);
}

TEST(FollowLockTest, TheFileIsRootsAloneAndGoesWithItsHolder) {
  TempDir run("lock-run");
  StatePaths paths(run.path(), "");
  const std::string file = paths.FollowLockFile("u1");
  {
    Result<FollowLock> lock = FollowLock::Take(paths, "u1");
    ASSERT_TRUE(lock.ok()) << lock.status().ToString();
    struct stat st;
    ASSERT_EQ(::stat(file.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);
    EXPECT_TRUE(FollowLock::Held(paths, "u1"));
    Result<FollowLock> second = FollowLock::Take(paths, "u1");
    EXPECT_FALSE(second.ok());
  }
  EXPECT_FALSE(std::filesystem::exists(file)) << "the lock file outlived its holder";
  EXPECT_FALSE(FollowLock::Held(paths, "u1"));
  Result<FollowLock> again = FollowLock::Take(paths, "u1");
  EXPECT_TRUE(again.ok()) << again.status().ToString();
}

TEST(FollowLockTest, ASymlinkInPlaceOfTheLockIsNotFollowed) {
  TempDir run("lock-run");
  StatePaths paths(run.path(), "");
  Result<FollowLock> first = FollowLock::Take(paths, "u0");  // makes the directory
  ASSERT_TRUE(first.ok());
  const std::string target = run.path() + "/elsewhere";
  ASSERT_EQ(::symlink(target.c_str(), paths.FollowLockFile("u2").c_str()), 0);
  Result<FollowLock> lock = FollowLock::Take(paths, "u2");
  EXPECT_FALSE(lock.ok());
  EXPECT_FALSE(std::filesystem::exists(target)) << "the lock was created through a symlink";
}

// Issue 24, point 11: two records of one migration started in the same
// second are two files, and the history is bounded.
TEST(MigrationRecordTest, HistoryKeepsEveryRecordOfASecondAndIsBounded) {
  TempDir run("hist-run");
  TempDir state("hist-state");
  StatePaths paths(run.path(), state.path());
  MigrationRecord r;
  r.id = "u1";
  r.vm = "vm-u1";
  r.started_at = 1764823933.25;
  ASSERT_TRUE(RecordWriter(paths, "u1").Finish(r).ok());
  r.status = "second";
  ASSERT_TRUE(RecordWriter(paths, "u1").Finish(r).ok());
  auto count = [&] {
    size_t n = 0;
    for (const auto& e : std::filesystem::directory_iterator(paths.HistoryDir())) n += e.path().extension() == ".json";
    return n;
  };
  EXPECT_EQ(count(), 2u) << "the second record replaced the first";
  for (size_t i = 0; i < RecordWriter::kKeepHistory + 5; i++) {
    r.started_at = 1764823933.0 + static_cast<double>(i) + 1;
    ASSERT_TRUE(RecordWriter(paths, "u1").Finish(r).ok());
  }
  EXPECT_EQ(count(), RecordWriter::kKeepHistory);
  Result<MigrationRecord> latest = FindHistoryRecord(paths, "vm-u1");
  ASSERT_TRUE(latest.ok());
  EXPECT_DOUBLE_EQ(latest->started_at, 1764823933.0 + static_cast<double>(RecordWriter::kKeepHistory + 5));
}

// A follower SIGKILLed while it rewrote its live record leaves the temp
// file of that write; whoever finishes the record takes it too.
TEST(MigrationRecordTest, FinishTakesTheTempFileOfAWriterKilledMidWrite) {
  TempDir run("rec-run");
  TempDir state("rec-state");
  StatePaths paths(run.path(), state.path());
  RecordWriter w(paths, "u1");
  MigrationRecord r;
  r.id = "u1";
  ASSERT_TRUE(w.Update(r).ok());
  const std::string torn = paths.MigrationsDir() + "/.u1.json.AbC123";
  std::ofstream(torn) << "{\"id\": \"u";
  const std::string other = paths.MigrationsDir() + "/.u10.json.AbC123";  // another migration's
  std::ofstream(other) << "{";
  ASSERT_TRUE(w.Finish(r).ok());
  EXPECT_FALSE(std::filesystem::exists(torn));
  EXPECT_FALSE(std::filesystem::exists(paths.LiveRecordFile("u1")));
  EXPECT_TRUE(std::filesystem::exists(other));
}

TEST(MigrationRecordTest, FinishMovesTheRecordToHistoryAndStatusFindsTheLatest) {
  TempDir run("rec-run");
  TempDir state("rec-state");
  for (double started : {100.0, 5000.0}) {
    RecordWriter w(StatePaths(run.path(), state.path()), "u1");
    MigrationRecord r = Sample("u1", started);
    ASSERT_TRUE(w.Update(r).ok());
    r.outcome = MigrationSummary{};
    r.outcome->outcome = started < 1000 ? MigrationOutcome::kFailed : MigrationOutcome::kCompleted;
    ASSERT_TRUE(w.Finish(r).ok());
  }
  EXPECT_TRUE(ReadLiveRecords(StatePaths(run.path(), state.path())).empty());
  Result<MigrationRecord> h = FindHistoryRecord(StatePaths(run.path(), state.path()), "vm-u1");
  ASSERT_TRUE(h.ok()) << h.status().ToString();
  EXPECT_EQ(h->outcome->outcome, MigrationOutcome::kCompleted);
  EXPECT_EQ(FindHistoryRecord(StatePaths(run.path(), state.path()), "other").status().code(), StatusCode::kNotFound);
}

// FromHistory= looks for the VM's last migration from this host: a later
// incoming one (the VM came back) is not it.
TEST(MigrationRecordTest, TheLatestRecordOfADirection) {
  TempDir run("rec-run");
  TempDir state("rec-state");
  const StatePaths paths(run.path(), state.path());
  for (double started : {100.0, 5000.0}) {
    MigrationRecord r = Sample("u1", started);
    r.direction = started < 1000 ? "out" : "in";
    ASSERT_TRUE(RecordWriter(paths, "u1").Finish(r).ok());
  }
  EXPECT_DOUBLE_EQ(FindHistoryRecord(paths, "vm-u1")->started_at, 5000.0);
  Result<MigrationRecord> out = FindHistoryRecord(paths, "vm-u1", "out");
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_DOUBLE_EQ(out->started_at, 100.0);
  EXPECT_EQ(FindHistoryRecord(paths, "other", "out").status().code(), StatusCode::kNotFound);
}

TEST(ControlSocketTest, OneRequestOneReplyOnTheOwnersLoop) {
  TempDir run("ctl");
  sd_event* e = nullptr;
  ASSERT_GE(sd_event_new(&e), 0);
  std::string seen;
  Result<ControlSocket> sock = ControlSocket::Listen(e, run.File("m.sock"), [&](const std::string& req) {
    seen = req;
    if (req == "resume") return OperatorReply{false, "resume: not yet", /*again=*/true};
    return req == "cancel" ? OperatorReply{true, "abort: done"}
                           : OperatorReply{false, "error: unknown request '" + req + "'"};
  });
  ASSERT_TRUE(sock.ok()) << sock.status().ToString();
  EXPECT_EQ(std::filesystem::status(run.File("m.sock")).permissions() & std::filesystem::perms::others_all,
            std::filesystem::perms::none);
  Result<OperatorReply> reply = Status::Internal("client", "did not run");
  std::thread client([&] { reply = SendControlRequest(run.File("m.sock"), "cancel", Millis(5000)); });
  for (int i = 0; i < 50 && seen.empty(); i++) sd_event_run(e, 100000);
  client.join();
  ASSERT_TRUE(reply.ok()) << reply.status().ToString();
  EXPECT_TRUE(reply->ok);
  EXPECT_EQ(reply->text, "abort: done");
  EXPECT_EQ(seen, "cancel");
  EXPECT_FALSE(reply->again);
  // "Not yet" comes back as such, for the asker to try again.
  seen.clear();
  std::thread asker([&] { reply = SendControlRequest(run.File("m.sock"), "resume", Millis(5000)); });
  for (int i = 0; i < 50 && seen.empty(); i++) sd_event_run(e, 100000);
  asker.join();
  ASSERT_TRUE(reply.ok()) << reply.status().ToString();
  EXPECT_FALSE(reply->ok);
  EXPECT_TRUE(reply->again);
  sock = Status::NotFound("socket", "dropped");  // closes and removes it
  EXPECT_FALSE(std::filesystem::exists(run.File("m.sock")));
  EXPECT_FALSE(SendControlRequest(run.File("m.sock"), "cancel", Millis(100)).ok());
  sd_event_unref(e);
}

}  // namespace
}  // namespace vc
