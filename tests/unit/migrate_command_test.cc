// `virt-converge migrate --summary-json`: a program that starts `migrate`
// (evacuate) decides from this file, so it is written on every exit,
// including a migration that never started (issue #24, point 9).
#include <sys/wait.h>

#include <gtest/gtest.h>

#include "src/base/json.h"
#include "src/state/summary.h"
#include "tests/support/artifacts.h"
#include "tests/support/process.h"
#include "tests/support/skip.h"
#include "tests/support/temp_dir.h"

namespace vc {
namespace {

class MigrateCommand : public ::testing::Test {
 protected:
  void SetUp() override {
    if (auto bin = testing::LocateVirtConverge(); !bin.ok()) VC_CANNOT_RUN(bin.status().ToString());
  }

  // Runs `migrate ARGS` with private run and state directories; its exit status.
  int Migrate(std::vector<std::string> args) {
    args.insert(args.begin(), {*testing::LocateVirtConverge(), "migrate", "--run-dir", dir_.File("run"),
                               "--state-dir", dir_.File("state"), "--summary-json", summary_path_});
    auto run = testing::Subprocess::Start(args, dir_.File("log"));
    EXPECT_TRUE(run.ok());
    auto st = run->Wait(Millis(30000));
    return st && WIFEXITED(*st) ? WEXITSTATUS(*st) : -1;
  }

  std::optional<MigrationSummary> Summary() const {
    Result<Json> j = Json::Parse(testing::ReadFile(summary_path_));
    if (!j.ok() || !j->is_object()) return std::nullopt;
    return MigrationSummary::FromJson(*j);
  }

  testing::TempDir dir_{"migrate-command"};
  const std::string summary_path_ = dir_.File("summary.json");
};

TEST_F(MigrateCommand, AMigrationThatCannotStartStillWritesItsSummary) {
  const std::string socket = dir_.File("nobody-listens.qmp");
  EXPECT_EQ(Migrate({"--qmp", socket, "--no-policy", "tcp:127.0.0.1:1"}), 3) << testing::ReadFile(dir_.File("log"));
  std::optional<MigrationSummary> s = Summary();
  ASSERT_TRUE(s) << "no summary in " << summary_path_ << "; the log: " << testing::ReadFile(dir_.File("log"));
  EXPECT_EQ(s->outcome, MigrationOutcome::kNotStarted);
  EXPECT_NE(s->detail.find(socket), std::string::npos) << s->detail;
  EXPECT_FALSE(s->try_later);
}

TEST_F(MigrateCommand, AUsageErrorIsNotStartedAndSaysWhy) {
  EXPECT_EQ(Migrate({"--qmp", dir_.File("x.qmp"), "--no-policy", "tcp:127.0.0.1:1", "tcp:127.0.0.1:2"}), 2);
  std::optional<MigrationSummary> s = Summary();
  ASSERT_TRUE(s);
  EXPECT_EQ(s->outcome, MigrationOutcome::kNotStarted);
  EXPECT_NE(s->detail.find("migrate --qmp SOCKET URI"), std::string::npos) << s->detail;
}

TEST(MigrationSummaryJson, TryLaterReadsBack) {
  MigrationSummary busy;
  busy.outcome = MigrationOutcome::kNotStarted;
  busy.try_later = true;
  EXPECT_TRUE(MigrationSummary::FromJson(busy.ToJson()).try_later);
  busy.try_later = false;
  EXPECT_FALSE(MigrationSummary::FromJson(busy.ToJson()).try_later);
}

}  // namespace
}  // namespace vc
