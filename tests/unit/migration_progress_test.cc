// MigrationProgress: the one per-sample step of the follower and the
// simulator (issue #23, point 1). A recorded run replayed through the
// follower's path and through the simulator's yields the same decisions.
#include "plugins/action.h"
#include "src/control/migration_progress.h"

#include <gtest/gtest.h>

#include <cstdio>

#include "src/attach/follower.h"
#include "src/control/policy_reaction.h"
#include "src/control/simulator.h"
#include "src/policy/resolve.h"
#include "tests/support/fake_backend.h"
#include "tests/support/samples.h"

namespace vc {
namespace {

constexpr uint64_t kMiB = 1ull << 20;

/// A recorded migration: what a backend answered, one sample a second,
/// with events off (the pass count alone tells a sync), to its end.
struct Recording {
  BackendFacts facts;
  MigrationTuning tuning;
  std::vector<MigrationSample> samples;
};

/// The hot set of the tests (256 MiB, 32 MiB rewritten at 128 MiB/s over
/// a 32 MiB/s link), recorded from the simulator with nobody reacting for
/// 40 s, then completed as if someone had let it.
Recording RecordHotSet() {
  SimScenario sc;
  sc.memory = 256 * kMiB;
  sc.working_set = 32 * kMiB;
  sc.dirty_rate = 128.0 * kMiB;
  sc.link = 32.0 * kMiB;
  SimulatedMigration m(sc);
  Recording r;
  r.facts = *m.Facts();
  r.facts.events = false;
  r.tuning = *m.Tuning();
  for (int i = 0; i < 40; i++) {
    for (int step = 0; step < 100; step++) m.Advance(10);  // the simulator's own step
    r.samples.push_back(*m.Sample());
  }
  MigrationSample end = r.samples.back();
  end.status = "completed";
  end.total_time_ms += 1000;
  end.downtime_ms = 900;
  end.ram_remaining = 0;
  r.samples.push_back(end);
  return r;
}

void Load(const Recording& rec, testing::FakeBackend* b) {
  b->facts = rec.facts;
  b->tuning = rec.tuning;
  for (const MigrationSample& s : rec.samples) b->samples.push_back(s);
}

std::vector<std::string> Lines(const std::vector<ActionRecord>& actions) {
  std::vector<std::string> out;
  for (const ActionRecord& a : actions) out.push_back(ActionLine(a));
  return out;
}

TEST(MigrationProgress, TheFollowerAndTheSimulatorDecideAlikeOnARecordedRun) {
  const Recording rec = RecordHotSet();

  // The follower's path: `attach --no-policy` on the recording.
  testing::FakeBackend followed;
  Load(rec, &followed);
  FollowOptions o;
  o.interval = Millis(20);
  o.policy_root = "";
  FILE* out = tmpfile();
  LiveView view(out, false);
  MigrationSummary sum = Follower(followed, o, view).Run();
  std::fclose(out);

  // The simulator's path, one recorded sample per step of its timer.
  testing::FakeBackend simulated;
  Load(rec, &simulated);
  PolicyReaction reaction(policy::ResolveBuiltinOnly(StepVocabulary()).policy, "the built-in default policy");
  int64_t now = 0;
  SimOptions so;
  so.step_ms = so.interval_ms = 1000;
  SimResult sim = RunSimulationLoop(
      simulated,
      [&now](int64_t step) {
        now += step;
        return now;
      },
      reaction, so);

  EXPECT_EQ(sum.outcome, MigrationOutcome::kCompleted);
  EXPECT_EQ(sim.outcome, sum.outcome);
  ASSERT_FALSE(sum.actions.empty()) << "the hot set needs a step: the case proves nothing";
  EXPECT_EQ(Lines(sim.actions), Lines(sum.actions));
  EXPECT_EQ(sim.passes, *sum.passes);
  EXPECT_EQ(sim.bytes_sent, *sum.bytes_sent);
}

TEST(MigrationProgress, APassCountThatMovedIsASyncWithoutAnEvent) {
  MigrationSample first = testing::ActiveSample(1000, 1, 100 << 20, 1ull << 30);
  MigrationProgress p(first);
  EXPECT_FALSE(p.Observe(first, false));
  MigrationSample next = testing::ActiveSample(2000, 2, 50 << 20, 1ull << 30);
  EXPECT_TRUE(p.Observe(next, false));
  EXPECT_FALSE(p.Observe(next, false));
  EXPECT_TRUE(p.Observe(next, true)) << "an event says so too";
}

TEST(MigrationProgress, OutcomesAndTheStatisticsQemuClearedOnCancel) {
  MigrationSample running = testing::ActiveSample(5000, 4, 10 << 20, 1ull << 30);
  MigrationProgress p(running);
  (void)p.Observe(running, true);
  MigrationSample cancelled;
  cancelled.status = "cancelled";
  EXPECT_EQ(p.OutcomeOf(cancelled, false), MigrationOutcome::kCancelled);
  EXPECT_EQ(p.OutcomeOf(cancelled, true), MigrationOutcome::kAborted);
  EXPECT_EQ(p.StatisticsOf(cancelled).pass, 4u) << "QEMU zeroes its counters; the last running sample has them";
  MigrationSample failed;
  failed.status = "failed";
  EXPECT_EQ(p.OutcomeOf(failed, false), MigrationOutcome::kFailed);
  // Our abort of a migration whose link is dead: libvirt may report the job
  // failed rather than cancelled. It ended because we aborted it.
  EXPECT_EQ(p.OutcomeOf(failed, true), MigrationOutcome::kAborted);
  MigrationSample postcopy = running;
  postcopy.status = "postcopy-active";
  (void)p.Observe(postcopy, false);
  MigrationSample done = running;
  done.status = "completed";
  EXPECT_EQ(p.OutcomeOf(done, false), MigrationOutcome::kCompletedPostcopy);
  EXPECT_FALSE(p.WitnessSwitchover(done, std::nullopt, {})) << "a post-copy end says nothing of the final copy";
}

}  // namespace
}  // namespace vc
