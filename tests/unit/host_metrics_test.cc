// Issue 25, point 7: the host's migration metrics, as node_exporter's
// textfile collector reads them and promtool lints them.
#include "src/state/host_metrics.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "tests/support/process.h"
#include "tests/support/temp_dir.h"

namespace vc {
namespace {

MigrationSummary Completed(int64_t downtime_ms, int64_t total_ms) {
  MigrationSummary s;
  s.outcome = MigrationOutcome::kCompleted;
  s.code = "completed.precopy";
  s.downtime_ms = downtime_ms;
  s.total_time_ms = total_ms;
  s.bytes_sent = 3ull << 30;
  ActionRecord a{4, "set-downtime", 600, "stall", "done"};
  a.kind = DecisionKind::kSwitchover;
  s.actions.push_back(a);
  ActionRecord t{5, "set-throttle-level", 30, "dirty", "done"};
  t.kind = DecisionKind::kThrottle;
  s.actions.push_back(t);
  s.samples = {{1000, "active", 1, 0, 0, 0, 0, 0, 0}, {5000, "active", 2, 0, 0, 0, 0, 0, 30},
               {8000, "active", 3, 0, 0, 0, 0, 0, 30}, {9000, "completed", 4, 0, 0, 0, 0, 0, 0}};
  return s;
}

TEST(HostMetrics, EachEndIsCountedByCodeKindAndBucket) {
  MetricSeries s;
  CountMigrationEnd(Completed(40, 12000), &s);
  MigrationSummary aborted;
  aborted.outcome = MigrationOutcome::kAborted;
  aborted.code = "budget.abort";
  aborted.total_time_ms = 90000;
  ActionRecord abort{90, "abort", 0, "budget", "done"};
  abort.kind = DecisionKind::kBudget;
  aborted.actions.push_back(abort);
  CountMigrationEnd(aborted, &s);
  MigrationRecord flying;
  flying.direction = "out";
  const std::string text = MetricsText(s, {flying});
  for (const char* line : {
           "virt_converge_migrations_in_flight{direction=\"out\"} 1\n",
           "virt_converge_migrations_in_flight{direction=\"in\"} 0\n",
           "virt_converge_migrations_total{outcome=\"completed\",code=\"completed.precopy\"} 1\n",
           "virt_converge_migrations_total{outcome=\"aborted\",code=\"budget.abort\"} 1\n",
           "virt_converge_actions_total{kind=\"budget\",action=\"abort\",result=\"done\"} 1\n",
           "virt_converge_actions_total{kind=\"throttle\",action=\"set-throttle-level\",result=\"done\"} 1\n",
           // 40 ms: in every bucket from 50 ms up; only completions count.
           "virt_converge_downtime_seconds_bucket{le=\"0.025\"} 0\n",
           "virt_converge_downtime_seconds_bucket{le=\"0.05\"} 1\n",
           "virt_converge_downtime_seconds_count 1\n",
           "virt_converge_migration_duration_seconds_bucket{le=\"30\"} 1\n",
           "virt_converge_migration_duration_seconds_bucket{le=\"+Inf\"} 2\n",
           "virt_converge_migration_duration_seconds_sum 102\n",
           "virt_converge_sent_bytes_total 3221225472\n",
           // Throttled from 5 s to 9 s of the samples.
           "virt_converge_throttle_seconds_total 4\n",
       }) {
    EXPECT_NE(text.find(line), std::string::npos) << line << "\n" << text;
  }
  // Buckets in the order of their bounds, +Inf last, then _sum and _count.
  EXPECT_LT(text.find("downtime_seconds_bucket{le=\"5\"}"), text.find("downtime_seconds_bucket{le=\"+Inf\"}"));
  EXPECT_LT(text.find("downtime_seconds_bucket{le=\"+Inf\"}"), text.find("downtime_seconds_sum"));
  EXPECT_LT(text.find("downtime_seconds_sum"), text.find("downtime_seconds_count"));
}

// Followers of one host add to one set of counters; the file is replaced
// whole, readable by node_exporter's user, and promtool finds nothing wrong.
TEST(HostMetrics, FollowersAddToTheHostsCountersAndTheFileLints) {
  testing::TempDir dir("metrics");
  std::filesystem::create_directories(dir.File("node-exporter"));
  const StatePaths paths = StatePaths(dir.File("run"), dir.File("state")).WithMetricsDir(dir.File("node-exporter"));
  ASSERT_TRUE(RecordMigrationEnd(paths, Completed(40, 12000)).ok());
  ASSERT_TRUE(RecordMigrationEnd(paths, Completed(400, 70000)).ok());
  const std::string text = testing::ReadFile(paths.MetricsTextFile());
  EXPECT_NE(text.find("virt_converge_migrations_total{outcome=\"completed\",code=\"completed.precopy\"} 2\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("virt_converge_downtime_seconds_count 2\n"), std::string::npos) << text;
  struct stat st{};
  ASSERT_EQ(::stat(paths.MetricsTextFile().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0644u);
  ASSERT_EQ(::stat(paths.MetricsCountersFile().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u) << "the counters are root's";
  size_t files = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir.File("node-exporter"))) files += e.exists();
  EXPECT_EQ(files, 1u) << "no temp file left";
  // No metrics directory: nothing written, nothing wrong.
  EXPECT_TRUE(RecordMigrationEnd(StatePaths(dir.File("run"), dir.File("state2")), Completed(1, 1)).ok());
  EXPECT_FALSE(std::filesystem::exists(dir.File("state2")));

  const std::string cmd = "promtool check metrics < " + paths.MetricsTextFile() + " 2>&1";
  FILE* p = ::popen(cmd.c_str(), "r");
  ASSERT_NE(p, nullptr);
  std::string said;
  char buf[512];
  while (std::fgets(buf, sizeof buf, p)) said += buf;
  EXPECT_EQ(::pclose(p), 0) << "promtool (scripts/install-deps installs prometheus): " << said;
}

}  // namespace
}  // namespace vc
