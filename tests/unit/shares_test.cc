// Bandwidth shares (issue 7, point 1): the split, and many real processes
// taking and dropping shares at random — some killed while holding one.
#include "src/coord/shares.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <map>
#include <random>
#include <thread>

#include "tests/support/temp_dir.h"

namespace vc {
namespace {

constexpr uint64_t kMiB = 1 << 20;

uint64_t ShareOf(const std::vector<ShareEntry>& live, const std::string& id, uint64_t budget) {
  return vc::ShareOf(live, id, SplitRule{SplitMode::kEqual, budget, 1});
}

TEST(Shares, EqualPartsAfterWhatIsPinned) {
  std::vector<ShareEntry> live = {{"a", 0}, {"b", 0}, {"c", 100 * kMiB}, {"d", 0}};
  EXPECT_EQ(ShareOf(live, "a", 400 * kMiB), 100 * kMiB);
  EXPECT_EQ(ShareOf(live, "c", 400 * kMiB), 100 * kMiB);
  EXPECT_EQ(ShareOf({{"a", 0}}, "a", 400 * kMiB), 400 * kMiB);
  EXPECT_EQ(ShareOf(live, "gone", 400 * kMiB), 0u);
  // Pinned over the budget: the others keep a floor.
  EXPECT_EQ(ShareOf({{"a", 0}, {"p", 500 * kMiB}}, "a", 400 * kMiB), kMiB);
}

TEST(Shares, ClosestFirstGivesAllButTheFloorsToTheFewestBytesLeft) {
  SplitRule rule{SplitMode::kClosestFirst, 100 * kMiB, 1};
  std::vector<ShareEntry> live = {{"a", 0, 500 * kMiB}, {"b", 0, 80 * kMiB}, {"c", 0, 0}, {"p", 20 * kMiB, 1}};
  EXPECT_EQ(vc::ShareOf(live, "b", rule), 78 * kMiB);  // 100 - 20 pinned - a floor each for a and c
  EXPECT_EQ(vc::ShareOf(live, "a", rule), kMiB);
  EXPECT_EQ(vc::ShareOf(live, "c", rule), kMiB);       // not known yet: farthest
  EXPECT_EQ(vc::ShareOf(live, "p", rule), 20 * kMiB);  // pinned stays pinned
  // Ties go by id, the same answer in every process.
  std::vector<ShareEntry> tie = {{"y", 0, 8 * kMiB}, {"x", 0, 8 * kMiB}};
  EXPECT_EQ(vc::ShareOf(tie, "x", rule), 99 * kMiB);
  EXPECT_EQ(vc::ShareOf(tie, "y", rule), kMiB);
}

TEST(Shares, StaticSplitsByTheSlotsWhoeverRuns) {
  SplitRule rule{SplitMode::kStatic, 120 * kMiB, 4};
  EXPECT_EQ(vc::ShareOf({{"a", 0}}, "a", rule), 30 * kMiB);
  EXPECT_EQ(vc::ShareOf({{"a", 0}, {"b", 0}}, "b", rule), 30 * kMiB);
  EXPECT_EQ(ParseSplitMode("closest-first"), SplitMode::kClosestFirst);
  EXPECT_FALSE(ParseSplitMode("fair"));
}

TEST(Shares, RemainingIsPublishedToTheOthers) {
  testing::TempDir dir("shares");
  Result<ShareHold> a = ShareHold::Take(dir.path(), {"vm1", 0, 0});
  ASSERT_TRUE(a.ok());
  ASSERT_TRUE(a->SetRemaining(123456789).ok());
  Result<std::vector<ShareEntry>> live = LiveShares(dir.path());
  ASSERT_TRUE(live.ok());
  ASSERT_EQ(live->size(), 1u);
  EXPECT_EQ((*live)[0].remaining, 123456789u);
}

TEST(Shares, OneHolderPerIdAndTheEntryGoesWithIt) {
  testing::TempDir dir("shares");
  {
    Result<ShareHold> a = ShareHold::Take(dir.path(), {"vm1", 0});
    ASSERT_TRUE(a.ok()) << a.status().ToString();
    EXPECT_EQ(ShareHold::Take(dir.path(), {"vm1", 0}).status().code(), StatusCode::kCommandFailed);
    Result<std::vector<ShareEntry>> live = LiveShares(dir.path());
    ASSERT_TRUE(live.ok());
    ASSERT_EQ(live->size(), 1u);
    EXPECT_EQ((*live)[0].id, "vm1");
  }
  EXPECT_TRUE(LiveShares(dir.path())->empty());
  EXPECT_EQ(ShareHold::Take(dir.path(), {"../x", 0}).status().code(), StatusCode::kInvalidArgument);
}

// Children take a share each, hold it a random while, and leave — by
// returning, or killed with SIGKILL by the parent. At every reading the
// parent sees only shares of processes that still exist, and the equal
// parts add up to the budget; at the end nothing is left.
TEST(Shares, ManyProcessesComingAndGoingAndKilled) {
  testing::TempDir dir("shares");
  const uint64_t budget = 1024 * kMiB;
  std::mt19937 rng(7);
  std::map<pid_t, bool> children;  // pid -> killed by us
  auto spawn = [&] {
    unsigned hold_ms = 5 + rng() % 60;
    pid_t pid = ::fork();
    if (pid == 0) {
      {
        Result<ShareHold> h = ShareHold::Take(dir.path(), {"m" + std::to_string(::getpid()), 0});
        if (!h.ok()) ::_exit(2);
        std::this_thread::sleep_for(std::chrono::milliseconds(hold_ms));
      }
      ::_exit(0);
    }
    children[pid] = false;
  };
  int readings = 0, killed = 0;
  auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(1500);
  while (std::chrono::steady_clock::now() < until) {
    while (children.size() < 8) spawn();
    if (rng() % 4 == 0) {  // kill one while it holds its share
      auto it = children.begin();
      std::advance(it, rng() % children.size());
      if (!it->second && ::kill(it->first, SIGKILL) == 0) {
        it->second = true;
        killed++;
      }
    }
    Result<std::vector<ShareEntry>> live = LiveShares(dir.path());
    ASSERT_TRUE(live.ok());
    uint64_t sum = 0;
    for (const ShareEntry& s : *live) {
      pid_t pid = static_cast<pid_t>(std::stol(s.id.substr(1)));
      EXPECT_TRUE(children.count(pid)) << s.id << " is not a child still unreaped";
      sum += ShareOf(*live, s.id, budget);
    }
    EXPECT_LE(sum, budget);
    readings++;
    // Reap whoever has ended.
    for (int st = 0;;) {
      pid_t done = ::waitpid(-1, &st, WNOHANG);
      if (done <= 0) break;
      if (!children[done]) {
        EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << "child " << done << " could not take its share";
      }
      children.erase(done);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(3));
  }
  for (auto& [pid, k] : children) ::kill(pid, SIGKILL);
  for (auto& [pid, k] : children) ::waitpid(pid, nullptr, 0);
  EXPECT_GT(killed, 5);
  EXPECT_GT(readings, 50);
  Result<std::vector<ShareEntry>> left = LiveShares(dir.path());
  ASSERT_TRUE(left.ok());
  EXPECT_TRUE(left->empty()) << left->size() << " shares outlived their processes";
}

}  // namespace
}  // namespace vc
