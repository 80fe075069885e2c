// The host's cost budget (issue 7, points 1 and 3): the order queued
// migrations start in, and many real processes queueing, running, giving
// back disk units and being killed — never more in use than the budget.
#include "src/coord/admission.h"

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

AdmissionEntry Queued(std::string id, int64_t cost, int64_t priority, int64_t arrival) {
  AdmissionEntry e;
  e.id = id;
  e.vm = id;
  e.cost = cost;
  e.priority = priority;
  e.arrival_ns = arrival;
  return e;
}

AdmissionEntry Running(std::string id, int64_t cost) {
  AdmissionEntry e = Queued(std::move(id), cost, 0, 0);
  e.running = true;
  return e;
}

TEST(Admission, PriorityThenArrivalAndASmallOnePassesABigOne) {
  // Budget 4, 2 in use: "big" (cost 3) is first in line but does not fit;
  // "small" (cost 1) behind it does, and "next" (cost 1) too.
  std::vector<AdmissionEntry> live = {Running("r", 2), Queued("big", 3, 0, 1), Queued("small", 1, 0, 2),
                                      Queued("next", 1, 0, 3), Queued("late", 1, 0, 4)};
  EXPECT_EQ(Admissible(live, 4), (std::vector<std::string>{"small", "next"}));
  // A higher priority goes first, whenever it came.
  live.push_back(Queued("urgent", 1, 5, 9));
  EXPECT_EQ(Admissible(live, 4), (std::vector<std::string>{"urgent", "small"}));
  // Once "r" has ended, the big one starts before anyone behind it.
  live.erase(live.begin());
  EXPECT_EQ(Admissible(live, 4), (std::vector<std::string>{"urgent", "big"}));
}

TEST(Admission, ACostAboveTheBudgetRunsAlone) {
  EXPECT_EQ(Admissible({Queued("huge", 9, 0, 1)}, 2), (std::vector<std::string>{"huge"}));
  EXPECT_TRUE(Admissible({Running("r", 1), Queued("huge", 9, 0, 1)}, 2).empty());
}

TEST(Admission, EntryTextRoundTripsAndToleratesJunk) {
  AdmissionEntry e = Queued("uuid-1", 3, -2, 12345);
  e.vm = "db one";
  e.peer = "qemu+ssh://b/system";
  AdmissionEntry back = AdmissionEntry::Parse("uuid-1", e.ToText());
  EXPECT_EQ(back.vm, "db one");
  EXPECT_EQ(back.peer, "qemu+ssh://b/system");
  EXPECT_EQ(back.cost, 3);
  EXPECT_EQ(back.priority, -2);
  EXPECT_EQ(back.arrival_ns, 12345);
  EXPECT_FALSE(back.running);
  AdmissionEntry junk = AdmissionEntry::Parse("x", "cost banana\nnew-key 7\n");
  EXPECT_EQ(junk.cost, 1);
  EXPECT_EQ(junk.vm, "x");
}

// The disk units come back one by one: a queued VM starts when enough did.
TEST(Admission, AQueuedVmStartsWhenADiskOfAnotherIsReady) {
  testing::TempDir dir("admission");
  Result<AdmissionTicket> a = AdmissionTicket::Enter(dir.path(), Queued("a", 2, 0, 0));
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  ASSERT_TRUE(a->TryStart(3)->admitted);
  Result<AdmissionTicket> b = AdmissionTicket::Enter(dir.path(), Queued("b", 2, 0, 0));
  ASSERT_TRUE(b.ok());
  Result<AdmissionVerdict> v = b->TryStart(3);
  ASSERT_TRUE(v.ok());
  EXPECT_FALSE(v->admitted);
  EXPECT_EQ(v->Describe(b->entry(), 3), "cost 2; 2 of 3 in use (a)");
  ASSERT_TRUE(a->SetCost(1).ok());  // a's disk is copied
  EXPECT_TRUE(b->TryStart(3)->admitted);
  Result<std::vector<AdmissionEntry>> live = LiveAdmissions(dir.path());
  ASSERT_TRUE(live.ok());
  ASSERT_EQ(live->size(), 2u);
  EXPECT_TRUE((*live)[0].running && (*live)[1].running);
}

// Children queue with random costs, wait their turn, run a random while
// giving back disk units, and leave — or are SIGKILLed in any state. At
// every reading the running entries fit in the budget (or one runs
// alone), and every child that was not killed got its turn.
TEST(Admission, ManyProcessesNeverOverTheBudget) {
  testing::TempDir dir("admission");
  const int64_t budget = 4;
  std::mt19937 rng(11);
  std::map<pid_t, bool> children;  // pid -> killed by us
  auto spawn = [&] {
    int64_t cost = 1 + rng() % 4;
    unsigned hold_ms = 5 + rng() % 40;
    int64_t priority = rng() % 3;
    pid_t pid = ::fork();
    if (pid == 0) {
      AdmissionEntry e = Queued("m" + std::to_string(::getpid()), cost, priority, 0);
      Result<AdmissionTicket> t = AdmissionTicket::Enter(dir.path(), e);
      if (!t.ok() || !t->WaitTurn(budget, nullptr, Millis(200)).ok()) ::_exit(2);
      for (int64_t c = cost; c > 1; c--) {  // its disks get ready one by one
        std::this_thread::sleep_for(std::chrono::milliseconds(hold_ms / 4));
        if (!t->SetCost(c - 1).ok()) ::_exit(3);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(hold_ms));
      ::_exit(0);
    }
    children[pid] = false;
  };
  int readings = 0, killed = 0, finished = 0, max_running = 0;
  // Two seconds of churn, longer on a loaded machine until enough were
  // killed and finished to say something (20 s at most).
  const auto start = std::chrono::steady_clock::now();
  auto churning = [&] {
    const auto spent = std::chrono::steady_clock::now() - start;
    return spent < std::chrono::milliseconds(2000) ||
           ((killed <= 5 || finished <= 20) && spent < std::chrono::milliseconds(20000));
  };
  while (churning()) {
    while (children.size() < 10) spawn();
    if (rng() % 6 == 0) {  // kill one, queued or running
      auto it = children.begin();
      std::advance(it, rng() % children.size());
      if (!it->second && ::kill(it->first, SIGKILL) == 0) {
        it->second = true;
        killed++;
      }
    }
    Result<std::vector<AdmissionEntry>> live = LiveAdmissions(dir.path());
    ASSERT_TRUE(live.ok());
    int64_t in_use = 0;
    int running = 0;
    for (const AdmissionEntry& e : *live) {
      if (!e.running) continue;
      running++;
      in_use += std::min(e.cost, budget);
    }
    EXPECT_LE(in_use, budget) << running << " running";
    max_running = std::max(max_running, running);
    readings++;
    for (int st = 0;;) {
      pid_t done = ::waitpid(-1, &st, WNOHANG);
      if (done <= 0) break;
      if (!children[done]) {
        EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << "child " << done << " failed: " << st;
        finished++;
      }
      children.erase(done);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  for (auto& [pid, k] : children) ::kill(pid, SIGKILL);
  for (auto& [pid, k] : children) ::waitpid(pid, nullptr, 0);
  EXPECT_GT(killed, 5);
  EXPECT_GT(finished, 20);
  EXPECT_GT(max_running, 1);
  Result<std::vector<AdmissionEntry>> left = LiveAdmissions(dir.path());
  ASSERT_TRUE(left.ok());
  EXPECT_TRUE(left->empty()) << left->size() << " entries outlived their processes";
}

}  // namespace
}  // namespace vc
