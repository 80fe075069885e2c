// The built-in reaction on synthetic sample series: what it does on a
// stall, at the top of the ladder, at the end of the budget, and that it
// leaves a converging or bulk-pass migration alone.
#include "src/control/default_reaction.h"

#include <gtest/gtest.h>

#include "tests/support/samples.h"

namespace vc {
namespace {

constexpr uint64_t kMiB = 1024 * 1024;

MigrationSample At(int64_t ms, uint64_t pass, uint64_t remaining, uint64_t ram = 256 * kMiB) {
  return testing::ActiveSample(ms, pass, remaining, ram, 1000);
}

// Feeds one sample per pass, a second apart, with the same remaining:
// a hot working set that never shrinks.
struct Series {
  DefaultReaction reaction;
  ReactionInputs in;
  std::vector<Decision> decisions;
  explicit Series(ReactionConfig c = {}) : reaction(c) {}
  void Pass(int64_t ms, uint64_t pass, uint64_t remaining) {
    auto d = reaction.OnSample(At(ms, pass, remaining), true, in);
    if (d) {
      decisions.push_back(*d);
      reaction.Applied(*d, true);
      if (d->action == "set-downtime") in.downtime_limit_ms = d->value;
    }
  }
};

TEST(DefaultReaction, BulkPassIsNeverAStall) {
  Series r;
  for (int64_t t = 0; t < 25000; t += 1000) r.Pass(t, 1, 100 * kMiB);
  EXPECT_TRUE(r.decisions.empty());
}

TEST(DefaultReaction, ConvergingMigrationIsLeftAlone) {
  Series r;
  uint64_t remaining = 200 * kMiB;
  for (uint64_t pass = 2; pass < 12; pass++) {
    r.Pass(static_cast<int64_t>(pass) * 1000, pass, remaining);
    remaining = remaining * 7 / 10;
  }
  EXPECT_TRUE(r.decisions.empty());
}

TEST(DefaultReaction, StallRaisesDowntimeStepByStepThenPostcopy) {
  Series r;
  r.in.postcopy_possible = true;
  for (uint64_t pass = 2; pass < 20; pass++) r.Pass(static_cast<int64_t>(pass) * 1000, pass, 32 * kMiB);
  ASSERT_EQ(r.decisions.size(), 4u);
  EXPECT_EQ(r.decisions[0].action, "set-downtime");
  EXPECT_EQ(r.decisions[0].value, 600);
  EXPECT_NE(r.decisions[0].reason.find("no new minimum of remaining (32.0 MiB at pass 2) for 3 passes"),
            std::string::npos)
      << r.decisions[0].reason;
  EXPECT_NE(r.decisions[0].reason.find("300 → 600 ms"), std::string::npos);
  EXPECT_EQ(r.decisions[1].value, 1200);
  EXPECT_EQ(r.decisions[2].value, 2000);  // capped at the maximum
  EXPECT_EQ(r.decisions[3].action, "start-postcopy");
  EXPECT_NE(r.decisions[3].reason.find("at its maximum (2000 ms)"), std::string::npos);
}

TEST(DefaultReaction, SmallImprovementsWithinToleranceStillStall) {
  Series r;
  uint64_t remaining = 100 * kMiB;
  for (uint64_t pass = 2; pass < 7; pass++) {
    r.Pass(static_cast<int64_t>(pass) * 1000, pass, remaining);
    remaining -= remaining / 200;  // 0.5 % per pass: below the 2 % tolerance
  }
  ASSERT_FALSE(r.decisions.empty());
  EXPECT_EQ(r.decisions[0].action, "set-downtime");
}

TEST(DefaultReaction, TimeWithoutProgressIsAStallToo) {
  ReactionConfig c;
  c.stall_passes = 100;
  c.stall_time = Millis(5000);
  DefaultReaction reaction(c);
  ReactionInputs in;
  EXPECT_FALSE(reaction.OnSample(At(2000, 2, 50 * kMiB), true, in));
  EXPECT_FALSE(reaction.OnSample(At(6000, 2, 50 * kMiB), false, in));
  auto d = reaction.OnSample(At(7100, 2, 50 * kMiB), false, in);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->action, "set-downtime");
}

TEST(DefaultReaction, BudgetAbortsWithoutPostcopyAndSaysWhy) {
  Series r;
  r.in.postcopy_possible = false;
  for (int64_t t = 2000; t <= 40000; t += 1000) {
    r.Pass(t, static_cast<uint64_t>(t / 1000), 64 * kMiB);
  }
  ASSERT_FALSE(r.decisions.empty());
  const Decision& last = r.decisions.back();
  EXPECT_EQ(last.action, "abort");
  EXPECT_NE(last.reason.find("time budget 30.0 s"), std::string::npos) << last.reason;
  EXPECT_NE(last.reason.find("postcopy-ram is off"), std::string::npos) << last.reason;
  // Nothing after an abort.
  for (const Decision& d : r.decisions) {
    if (&d != &last) {
      EXPECT_EQ(d.action, "set-downtime");
    }
  }
}

TEST(DefaultReaction, BudgetGrowsWithRam) {
  DefaultReaction r{ReactionConfig{}};
  EXPECT_EQ(r.BudgetMs(256 * kMiB), 30000);           // the floor
  EXPECT_EQ(r.BudgetMs(4096 * kMiB), 4 * 64 * 1000);  // 64 s per GiB
}

TEST(DefaultReaction, FailedPostcopySwitchFallsBackToTheBudget) {
  Series r;
  r.in.postcopy_possible = true;
  r.in.downtime_limit_ms = 2000;
  DefaultReaction& re = r.reaction;
  std::optional<Decision> d;
  for (uint64_t pass = 2; pass < 8 && !d; pass++) {
    d = re.OnSample(At(static_cast<int64_t>(pass) * 1000, pass, 32 * kMiB), true, r.in);
  }
  ASSERT_TRUE(d);
  EXPECT_EQ(d->action, "start-postcopy");
  re.Applied(*d, false);
  auto late = re.OnSample(At(31000, 40, 32 * kMiB), true, r.in);
  ASSERT_TRUE(late);
  EXPECT_EQ(late->action, "abort");
  EXPECT_NE(late->reason.find("the switch failed"), std::string::npos);
}

TEST(DefaultReaction, NothingInPostcopyOrWhenFinished) {
  DefaultReaction r{ReactionConfig{}};
  ReactionInputs in;
  MigrationSample s = At(100000, 50, 64 * kMiB);
  s.status = "postcopy-active";
  EXPECT_FALSE(r.OnSample(s, true, in));
  s.status = "completed";
  EXPECT_FALSE(r.OnSample(s, true, in));
}

}  // namespace
}  // namespace vc
