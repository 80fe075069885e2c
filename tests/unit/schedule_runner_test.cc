// The schedule runner on synthetic samples: every condition kind, the
// budget's final actions, and reloading a policy mid-migration.
#include "plugins/action.h"
#include "src/control/schedule_runner.h"
#include "src/policy/schedule.h"

#include <gtest/gtest.h>

#include "src/base/units.h"
#include "tests/support/samples.h"

namespace vc {
namespace {

constexpr uint64_t kMiB = 1 << 20;

policy::Policy With(std::vector<std::string> steps) {
  policy::Policy p;
  p.budget_per_gib = policy::Setting<int64_t>(0);
  p.budget_minimum = policy::Setting<int64_t>(0);
  p.final_action = policy::Setting<policy::FinalAction>(policy::FinalAction::kNone);
  for (const std::string& s : steps) {
    auto step = policy::ParseStep(s, StepVocabulary());
    EXPECT_TRUE(step.ok()) << s;
    p.steps.value.push_back(*step);
  }
  return p;
}

MigrationSample At(int64_t ms, uint64_t pass, uint64_t remaining, uint64_t ram = 4096 * kMiB) {
  return testing::ActiveSample(ms, pass, remaining, ram, 900);
}

std::string Names(const std::vector<Decision>& ds) {
  std::string s;
  for (const Decision& d : ds) s += (s.empty() ? "" : ",") + d.action + (d.value ? "=" + std::to_string(d.value) : "");
  return s;
}

TEST(ScheduleRunner, VdsmIterationsOnePerNewPassInOrder) {
  ScheduleRunner r(With({"start downtime=100ms", "iteration>1 downtime=150ms", "iteration>2 downtime=200ms",
                         "iteration>6 downtime=500ms", "iteration>0 abort"}),
                   "test");
  ReactionInputs in;
  std::vector<std::string> fired;
  EXPECT_EQ(Names(r.Decide(At(0, 1, 100 * kMiB), false, in)), "set-downtime=100");
  for (uint64_t pass = 2; pass <= 10; pass++) {
    std::string got = Names(r.Decide(At(static_cast<int64_t>(pass) * 1000, pass, 50 * kMiB), true, in));
    // A timer sample in between never fires an iteration step.
    EXPECT_EQ(Names(r.Decide(At(static_cast<int64_t>(pass) * 1000 + 500, pass, 50 * kMiB), false, in)), "");
    fired.push_back(got);
  }
  // k = pass - 1: k2 (pass 3) -> 150, k3 -> 200, k7 -> 500, k8 -> abort.
  EXPECT_EQ(fired, (std::vector<std::string>{"", "set-downtime=150", "set-downtime=200", "", "", "",
                                             "set-downtime=500", "abort", ""}));
}

TEST(ScheduleRunner, StallsElapsedPerGiBAndExpectedDowntime) {
  policy::Policy p = With({"stall>=1 downtime=600ms", "stall>=2 bandwidth=1Gbit/s",
                           "elapsed>=10s/GiB downtime=1s", "expected-downtime>800ms postcopy"});
  p.stall_passes = policy::Setting<int64_t>(2);
  ScheduleRunner r(p, "test");
  ReactionInputs in;
  in.postcopy_possible = true;
  EXPECT_EQ(Names(r.Decide(At(1000, 1, 100 * kMiB), false, in)), "");
  EXPECT_EQ(Names(r.Decide(At(2000, 2, 30 * kMiB), true, in)), "start-postcopy");  // expected 900 > 800
  // After a post-copy switch nothing more fires...
  EXPECT_EQ(Names(r.Decide(At(50000, 9, 30 * kMiB), true, in)), "");
  // ...unless it failed; then the schedule goes on.
  r.Applied({DecisionKind::kBudget, "start-postcopy", 0, ""}, false);
  EXPECT_EQ(Names(r.Decide(At(51000, 10, 30 * kMiB), true, in)), "set-downtime=600,set-downtime=1000");
  EXPECT_EQ(r.stalls(), 1);
  EXPECT_EQ(Names(r.Decide(At(52000, 11, 30 * kMiB), true, in)), "");
  EXPECT_EQ(Names(r.Decide(At(53000, 12, 30 * kMiB), true, in)), "set-bandwidth=125000000");
}

TEST(ScheduleRunner, NoProgressIsKubevirtsTimeout) {
  ScheduleRunner r(With({"no-progress>=150s abort"}), "test");
  ReactionInputs in;
  EXPECT_EQ(Names(r.Decide(At(0, 1, 100 * kMiB), false, in)), "");
  EXPECT_EQ(Names(r.Decide(At(100000, 5, 90 * kMiB), true, in)), "");  // it dropped: progress
  EXPECT_EQ(Names(r.Decide(At(200000, 9, 95 * kMiB), true, in)), "");  // 100 s without
  EXPECT_EQ(Names(r.Decide(At(250000, 12, 95 * kMiB), true, in)), "abort");
}

// Issue 27, point 2: a ramp (KubeVirt's VEP 291). Each after-previous step
// waits for the one above it, then its time; the first of a schedule counts
// from the start.
TEST(ScheduleRunner, AfterPreviousRampsFromTheStepBefore) {
  ScheduleRunner r(With({"iteration>2 downtime=257ms", "after-previous>=10s downtime=364ms",
                         "after-previous>=10s downtime=471ms"}),
                   "test");
  ReactionInputs in;
  EXPECT_EQ(Names(r.Decide(At(0, 1, 100 * kMiB), false, in)), "");
  EXPECT_EQ(Names(r.Decide(At(30000, 2, 90 * kMiB), true, in)), "") << "no step before it fired: none waits";
  EXPECT_EQ(Names(r.Decide(At(40000, 4, 80 * kMiB), true, in)), "set-downtime=257");
  EXPECT_EQ(Names(r.Decide(At(49000, 5, 80 * kMiB), true, in)), "");
  auto d = r.Decide(At(50000, 6, 80 * kMiB), false, in);
  EXPECT_EQ(Names(d), "set-downtime=364");
  EXPECT_NE(d[0].reason.find("10.0 s after the step before ('iteration>2 downtime=257ms')"), std::string::npos)
      << d[0].reason;
  EXPECT_EQ(Names(r.Decide(At(59000, 7, 80 * kMiB), true, in)), "");
  EXPECT_EQ(Names(r.Decide(At(60500, 8, 80 * kMiB), true, in)), "set-downtime=471");

  ScheduleRunner first(With({"after-previous>=5s downtime=200ms"}), "test");
  EXPECT_EQ(Names(first.Decide(At(4000, 1, 100 * kMiB), false, in)), "");
  EXPECT_EQ(Names(first.Decide(At(5000, 1, 100 * kMiB), false, in)), "set-downtime=200");
}

// Issue 27, point 2: KubeVirt's stall detector (VEP 248). At pass ends: the
// dirty set comes down to about 80 MiB and stays there (within 4%). Once it
// is no lower than 96% of the lowest set from 10 s before, the step waits for
// a local minimum (within 4% of the lowest, 79 MiB) and then sets the
// downtime the set implies at the bandwidth: as it is where that fits 900
// ms, 900 ms where it fits 1.5 times that, abort beyond.
TEST(ScheduleRunner, StalledWaitsForALocalMinimumThenSetsTheDowntimeItImpliesOrAborts) {
  struct Case {
    double bandwidth_mib;
    std::string decided;
  };
  for (const Case& c : {Case{128, "set-downtime=633"}, Case{64, "set-downtime=900"}, Case{32, "abort"}}) {
    SCOPED_TRACE(c.decided);
    policy::Policy p = With({"stalled>=10s downtime-or-abort=900ms"});
    p.tolerance = policy::Setting<int64_t>(4);
    ScheduleRunner r(p, "test");
    ReactionInputs in;
    auto at = [&](int64_t ms, uint64_t pass, uint64_t remaining_mib) {
      MigrationSample s = At(ms, pass, remaining_mib * kMiB);
      s.bandwidth = c.bandwidth_mib * kMiB;
      return s;
    };
    EXPECT_EQ(Names(r.Decide(at(0, 1, 1000), false, in)), "");
    const uint64_t sets[] = {200, 150, 100, 80, 82, 79, 81, 83};  // passes 2-9, 2 s apart
    for (uint64_t i = 0; i < std::size(sets); i++) {
      EXPECT_EQ(Names(r.Decide(at(2000 * static_cast<int64_t>(i + 1), i + 2, sets[i]), true, in)), "") << i;
    }
    // 18 s: 84 MiB is no lower than 96% of the 80 MiB lowest by 8 s:
    // stalled, but not at a local minimum. A timer sample is no pass end.
    EXPECT_EQ(Names(r.Decide(at(18000, 10, 84), true, in)), "");
    EXPECT_EQ(Names(r.Decide(at(19000, 10, 20), false, in)), "");
    // 20 s: 81 MiB, within 4% of 79: the local minimum.
    std::vector<Decision> d = r.Decide(at(20000, 11, 81), true, in);
    ASSERT_EQ(Names(d), c.decided);
    EXPECT_NE(d[0].reason.find("now at a local minimum (81.0 MiB, lowest 79.0 MiB)"), std::string::npos) << d[0].reason;
    EXPECT_NE(d[0].reason.find("remaining 81.0 MiB at " + FormatRate(c.bandwidth_mib * kMiB) + " (smoothed) implies"),
              std::string::npos)
        << d[0].reason;
    EXPECT_EQ(Names(r.Decide(at(22000, 12, 79), true, in)), "") << "a step fires once";
  }
  // With no bandwidth measured it never aborts: tried at the limit.
  ScheduleRunner unmeasured(With({"start downtime-or-abort=900ms"}), "test");
  ReactionInputs none;
  EXPECT_EQ(Names(unmeasured.Decide(At(0, 1, 1000 * kMiB), false, none)), "set-downtime=900");
  // A dirty set still coming down is no stall, however long it takes.
  ScheduleRunner falling(With({"stalled>=10s downtime-or-abort=900ms"}), "test");
  ReactionInputs in;
  for (uint64_t pass = 2; pass < 40; pass++) {
    MigrationSample s = At(static_cast<int64_t>(pass) * 5000, pass, (1000 - pass * 20) * kMiB);
    s.bandwidth = 32.0 * kMiB;
    EXPECT_EQ(Names(falling.Decide(s, true, in)), "") << pass;
  }
}

TEST(ScheduleRunner, BudgetActions) {
  policy::Policy p = With({});
  p.budget_per_gib = policy::Setting<int64_t>(10000);
  p.final_action = policy::Setting<policy::FinalAction>(policy::FinalAction::kPostcopyOrPause);
  ReactionInputs in;
  {
    ScheduleRunner r(p, "test");
    EXPECT_EQ(Names(r.Decide(At(39000, 3, kMiB), true, in)), "");
    auto d = r.Decide(At(40000, 3, kMiB), true, in);  // 10 s/GiB x 4 GiB
    EXPECT_EQ(Names(d), "pause-guest");
    EXPECT_NE(d[0].reason.find("budget 40.0 s"), std::string::npos) << d[0].reason;
  }
  p.final_action = policy::Setting<policy::FinalAction>(policy::FinalAction::kPostcopy);
  {
    ScheduleRunner r(p, "test");
    auto d = r.Decide(At(40000, 3, kMiB), true, in);
    EXPECT_EQ(Names(d), "abort");
    EXPECT_NE(d[0].reason.find("postcopy-ram is off: aborting"), std::string::npos);
  }
}

// A budget with Copies= is used up when both the time has run and RAM has
// been gone through that many times: on a slow link it stretches.
TEST(ScheduleRunner, CopiesStretchTheBudgetOnASlowLink) {
  policy::Policy p = With({});
  p.budget_per_gib = policy::Setting<int64_t>(10000);  // 40 s for 4 GiB
  p.budget_copies = policy::Setting<int64_t>(3);
  p.final_action = policy::Setting<policy::FinalAction>(policy::FinalAction::kAbort);
  ReactionInputs in;
  auto walked = [](int64_t ms, uint64_t bytes) {
    MigrationSample s = At(ms, 3, kMiB);
    s.ram_visited = bytes;
    return s;
  };
  {  // 4 GiB at 64 MiB/s: 64 s a copy, 192 s for three
    ScheduleRunner r(p, "test");
    EXPECT_EQ(Names(r.Decide(walked(40000, 2560 * kMiB), true, in)), "");
    EXPECT_EQ(Names(r.Decide(walked(191000, 12224 * kMiB), true, in)), "");
    auto d = r.Decide(walked(192000, 12288 * kMiB), true, in);
    ASSERT_EQ(Names(d), "abort");
    EXPECT_NE(d[0].reason.find("budget 3 min 12 s"), std::string::npos) << d[0].reason;
    EXPECT_NE(d[0].reason.find("RAM gone through 3.0 times (Copies=3)"), std::string::npos) << d[0].reason;
  }
  {  // a fast link: the time budget decides, as without Copies=
    ScheduleRunner r(p, "test");
    EXPECT_EQ(Names(r.Decide(walked(39000, 40960 * kMiB), true, in)), "");
    EXPECT_EQ(Names(r.Decide(walked(40000, 41000 * kMiB), true, in)), "abort");
  }
  {  // where QEMU does not count pages visited, the bytes sent count
    ScheduleRunner r(p, "test");
    MigrationSample s = At(100000, 3, kMiB);
    s.ram_transferred = 8192 * kMiB;
    EXPECT_EQ(Names(r.Decide(s, true, in)), "");
    s.total_time_ms = 150000;
    s.ram_transferred = 12288 * kMiB;
    EXPECT_EQ(Names(r.Decide(s, true, in)), "abort");
  }
}

TEST(ScheduleRunner, CopiesAloneAreABudget) {
  policy::Policy p = With({});
  p.budget_copies = policy::Setting<int64_t>(2);
  p.final_action = policy::Setting<policy::FinalAction>(policy::FinalAction::kAbort);
  EXPECT_EQ(policy::FormatSchedule(policy::ExpandSchedule(p, 4096 * kMiB, 0)), "budget 2 copies of RAM: abort\n");
  ScheduleRunner r(p, "test");
  ReactionInputs in;
  MigrationSample s = At(10000, 2, kMiB);
  s.ram_visited = 8000 * kMiB;
  EXPECT_EQ(Names(r.Decide(s, true, in)), "");
  s.total_time_ms = 10300;
  s.ram_visited = 8192 * kMiB;
  EXPECT_EQ(Names(r.Decide(s, true, in)), "abort");
}

TEST(ScheduleRunner, ReloadKeepsProgressAndAddsNewSteps) {
  policy::Policy p = With({"stall>=1 downtime=400ms"});
  p.stall_passes = policy::Setting<int64_t>(1);
  ScheduleRunner r(p, "v1");
  ReactionInputs in;
  r.Decide(At(1000, 1, 100 * kMiB), false, in);
  r.Decide(At(2000, 2, 30 * kMiB), true, in);
  EXPECT_EQ(Names(r.Decide(At(3000, 3, 30 * kMiB), true, in)), "set-downtime=400");
  policy::Policy p2 = With({"stall>=1 downtime=400ms", "stall>=2 downtime=2s"});
  p2.stall_passes = policy::Setting<int64_t>(1);
  r.Reload(p2, "v2");
  EXPECT_EQ(r.Describe(), "v2");
  // The old step does not fire again; the new one at the next stall.
  EXPECT_EQ(Names(r.Decide(At(4000, 4, 30 * kMiB), true, in)), "set-downtime=2000");
}

TEST(ScheduleRunner, NothingOutsideARunningPrecopy) {
  ScheduleRunner r(With({"start downtime=100ms"}), "test");
  ReactionInputs in;
  MigrationSample s = At(0, 0, 0);
  s.status = "none";
  EXPECT_EQ(Names(r.Decide(s, false, in)), "");
  s.status = "postcopy-active";
  EXPECT_EQ(Names(r.Decide(s, false, in)), "");
}

}  // namespace
}  // namespace vc

namespace vc {
namespace {

// QEMU reports no RAM figures during setup. A budget or a per-GiB step
// counted from 0 bytes would end the migration before it began (found by
// the benchmark: KubeVirt's preset has Minimum=0 and aborted at 0 ms).
TEST(ScheduleRunner, NothingSizedFiresBeforeTheSizeIsKnown) {
  policy::Policy p = With({"start downtime=50ms", "elapsed>=75s/GiB downtime=95ms"});
  p.budget_per_gib = policy::Setting<int64_t>(150000);
  p.budget_minimum = policy::Setting<int64_t>(0);
  p.final_action = policy::Setting<policy::FinalAction>(policy::FinalAction::kAbort);
  ScheduleRunner r(p, "test");
  ReactionInputs in;
  MigrationSample setup;
  setup.status = "setup";  // no ram figures yet
  EXPECT_EQ(Names(r.Decide(setup, false, in)), "set-downtime=50");  // only the start step
  EXPECT_EQ(Names(r.Decide(At(1000, 1, 4000 * kMiB), false, in)), "");
}

}  // namespace
}  // namespace vc
