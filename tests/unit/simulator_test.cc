// The simulator (issue #4): its model behaves as QEMU does (reference/
// qemu-libvirt.md §1.5, §1.8, §4.1), and every preset's schedule, run by
// the very same controller code on it, fires exactly as its expansion
// (the golden files) says.
#include "plugins/action.h"
#include "src/control/simulator.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "src/base/units.h"
#include "src/control/policy_reaction.h"
#include "src/control/start_settings.h"
#include "src/policy/ini.h"
#include "src/policy/resolve.h"
#include "src/policy/schedule.h"

namespace vc {
namespace {

namespace fs = std::filesystem;
constexpr uint64_t kMiB = 1ull << 20;
constexpr uint64_t kGiB = 1ull << 30;

/// Decides nothing: QEMU's own behaviour.
class HandsOff final : public Reaction {
 public:
  std::vector<Decision> Decide(const MigrationSample&, bool, const ReactionInputs&) override { return {}; }
  void Applied(const Decision&, bool) override {}
  std::string Describe() const override { return "nothing"; }
};

/// Asks for one action at a given pass.
class AtPass final : public Reaction {
 public:
  AtPass(uint64_t pass, std::string action) : pass_(pass), action_(std::move(action)) {}
  std::vector<Decision> Decide(const MigrationSample& s, bool, const ReactionInputs&) override {
    if (done_ || s.pass < pass_) return {};
    done_ = true;
    return {{DecisionKind::kScheduleStep, action_, 0, "test"}};
  }
  void Applied(const Decision&, bool) override {}
  std::string Describe() const override { return "test"; }

 private:
  uint64_t pass_;
  std::string action_;
  bool done_ = false;
};

SimScenario Scenario(uint64_t memory, uint64_t wss, double dirty, double link) {
  SimScenario sc;
  sc.memory = memory;
  sc.working_set = wss;
  sc.dirty_rate = dirty;
  sc.link = link;
  return sc;
}

TEST(Simulator, AnIdleGuestTakesOnePassAndTheSwitchOver) {
  HandsOff none;
  SimResult r = Simulate(Scenario(1 * kGiB, 0, 0, 32.0 * kMiB), none);
  EXPECT_EQ(r.outcome, MigrationOutcome::kCompleted);
  EXPECT_NEAR(static_cast<double>(r.total_time_ms), 32000 + 5, 20);  // RAM / bandwidth
  EXPECT_EQ(r.passes, 2u);
  // QEMU syncs once a pass is down to bandwidth x downtime-limit, and sends
  // that last part in the stop-and-copy.
  EXPECT_EQ(r.downtime_ms, 300 + 5);
  EXPECT_NEAR(static_cast<double>(r.bytes_sent), static_cast<double>(kGiB), 1);
}

TEST(Simulator, BelowBandwidthConvergesGeometrically) {
  HandsOff none;
  // dirty/bandwidth = 0.5: each pass leaves less than half (writes to
  // pages not yet sent cost nothing), until <= 32 MiB/s x 300 ms.
  SimResult r = Simulate(Scenario(1 * kGiB, 0, 16.0 * kMiB, 32.0 * kMiB), none);
  EXPECT_EQ(r.outcome, MigrationOutcome::kCompleted);
  EXPECT_GT(r.passes, 4u);
  EXPECT_GT(r.total_time_ms, 32000 * 1.2);
  EXPECT_LT(r.total_time_ms, 32000 * 2);
  EXPECT_LE(*r.downtime_ms, 300 + 5);
}

// The test guest sweeps its working set: at 0.65 of the link over half the
// RAM (KubeVirt's case, 1 GiB over 256 Mbit/s), every pass after the bulk
// leaves 0.65 of the one before, as measured on real QEMU (about 0.68; QEMU's
// defaults took 80-87 s, docs/benchmarks.md), where uniform writes to pages
// not yet sent cost nothing and leave about half.
TEST(Simulator, ASweptWorkingSetLeavesTheDirtyShareOfEachPass) {
  HandsOff none;
  const double link = 256e6 / 8;
  SimScenario sc = Scenario(1 * kGiB, 512 * kMiB, 0.65 * link, link);
  sc.writes = GuestWrites::kSweep;
  SimResult swept = Simulate(sc, none);
  EXPECT_EQ(swept.outcome, MigrationOutcome::kCompleted);
  EXPECT_NEAR(static_cast<double>(swept.total_time_ms), 81000, 4000);
  sc.writes = GuestWrites::kUniform;
  SimResult uniform = Simulate(sc, none);
  EXPECT_LT(uniform.total_time_ms, swept.total_time_ms * 0.75);
}

// As QmpBackend: the rate sampled in the bulk pass, in every sample after,
// counting the pages written in the 2 s window once.
TEST(Simulator, TheDirtyRateIsSampledOnceInTheBulkPass) {
  SimScenario sc = Scenario(1 * kGiB, 512 * kMiB, 20.0 * kMiB, 32.0 * kMiB);
  sc.sample_dirty_rate = true;
  SimulatedMigration m(sc);
  m.Advance(0);
  m.Advance(1900);
  EXPECT_EQ(m.Sample()->sampled_dirty_rate, 0);
  m.Advance(1000);
  EXPECT_DOUBLE_EQ(m.Sample()->sampled_dirty_rate, 20.0 * kMiB);
  sc.working_set = 16 * kMiB;  // rewritten twice in the window: counted once
  SimulatedMigration small(sc);
  small.Advance(0);
  small.Advance(3000);
  EXPECT_DOUBLE_EQ(small.Sample()->sampled_dirty_rate, 8.0 * kMiB);
}

TEST(Simulator, AHotSetLargerThanTheLimitNeverConvergesUnderQemusDefaults) {
  HandsOff none;
  SimOptions o;
  o.limit_ms = 10 * 60 * 1000;
  SimResult r = Simulate(Scenario(256 * kMiB, 32 * kMiB, 128.0 * kMiB, 32.0 * kMiB), none, o);
  EXPECT_EQ(r.outcome, MigrationOutcome::kTimeout);
  // ... and the remaining bytes after each sync stay near the hot set.
  uint64_t least = UINT64_MAX;
  for (const SimPoint& p : r.series) {
    if (p.t_s > 60) least = std::min(least, p.remaining);
  }
  EXPECT_GT(least, 9 * kMiB);  // never at 32 MiB/s x 300 ms
}

TEST(Simulator, AutoConvergeStepsAsQemuDoes) {
  HandsOff none;
  SimScenario sc = Scenario(1 * kGiB, 512 * kMiB, 256.0 * kMiB, 32.0 * kMiB);
  sc.auto_converge = true;
  sc.throttle_initial = 20;
  sc.throttle_increment = 10;
  sc.throttle_max = 60;
  SimOptions o;
  o.limit_ms = 30 * 60 * 1000;
  SimResult r = Simulate(sc, none, o);
  std::vector<int> levels;
  for (const SimPoint& p : r.series) {
    if (p.throttle && (levels.empty() || levels.back() != p.throttle)) levels.push_back(p.throttle);
  }
  ASSERT_GE(levels.size(), 2u);
  EXPECT_EQ(levels.front(), 20);  // cpu-throttle-initial first
  for (size_t i = 1; i < levels.size(); i++) EXPECT_EQ(levels[i], std::min(60, levels[i - 1] + 10));
  EXPECT_EQ(*std::max_element(levels.begin(), levels.end()), 60);  // max-cpu-throttle caps it
  EXPECT_GT(r.throttle_integral, 0);
}

TEST(Simulator, PostcopyFinishesAtLinkSpeedWithATinyDowntime) {
  AtPass postcopy(3, "start-postcopy");
  SimScenario sc = Scenario(1 * kGiB, 64 * kMiB, 256.0 * kMiB, 64.0 * kMiB);
  sc.postcopy_ram = true;
  SimResult r = Simulate(sc, postcopy);
  EXPECT_EQ(r.outcome, MigrationOutcome::kCompletedPostcopy);
  EXPECT_EQ(r.downtime_ms, 5);
  EXPECT_LT(r.bytes_sent, 1 * kGiB + 3 * 64 * kMiB);
}

TEST(Simulator, PauseLetsItFinishAndCountsThePause) {
  AtPass pause(3, "pause-guest");
  SimResult r = Simulate(Scenario(256 * kMiB, 32 * kMiB, 128.0 * kMiB, 32.0 * kMiB), pause);
  EXPECT_EQ(r.outcome, MigrationOutcome::kCompleted);
  EXPECT_GT(r.paused_ms, 0);
}

TEST(Simulator, AbortCancels) {
  AtPass abort(3, "abort");
  SimResult r = Simulate(Scenario(256 * kMiB, 32 * kMiB, 128.0 * kMiB, 32.0 * kMiB), abort);
  EXPECT_EQ(r.outcome, MigrationOutcome::kAborted);
}

TEST(Simulator, ParametersAreCheckedAsQemuChecksThem) {
  SimulatedMigration m(Scenario(1 * kGiB, 0, 0, 32.0 * kMiB));
  MigrationTuning t;
  t.throttle_max = 10;  // below cpu-throttle-initial (20)
  EXPECT_FALSE(m.SetTuning(t).ok());
  t.throttle_initial = 5;  // both at once is fine
  EXPECT_TRUE(m.SetTuning(t).ok());
  MigrationTuning limit;
  limit.vcpu_dirty_limit = 10;  // 7.2 has no vcpu-dirty-limit
  EXPECT_FALSE(m.SetTuning(limit).ok());
  EXPECT_FALSE(m.StartPostcopy().ok());  // postcopy-ram is off
}

// --- every preset, on the simulator, fires as its expansion says ---

struct Fired {
  double at_s;
  std::string step;     // the Step= text, or "budget"
  std::vector<std::string> actions;
  std::string reason;
};

std::vector<Fired> FiredSteps(const std::vector<ActionRecord>& actions) {
  std::vector<Fired> out;
  for (const ActionRecord& a : actions) {
    std::string step;
    if (a.reason.rfind("policy step '", 0) == 0) {
      step = a.reason.substr(13, a.reason.find('\'', 13) - 13);
    } else if (a.reason.rfind("budget ", 0) == 0) {
      step = "budget";
    } else {
      continue;  // the adaptive mode's own
    }
    if (out.empty() || out.back().step != step || out.back().at_s != a.at_s) out.push_back({a.at_s, step, {}, a.reason});
    out.back().actions.push_back(a.action);
  }
  return out;
}

TEST(Simulator, EveryPresetFiresAsItsExpansionSays) {
  std::vector<std::string> files = {std::string(VC_SOURCE_DIR) + "/policy.d/50-default.conf"};
  for (const auto& e : fs::directory_iterator(std::string(VC_SOURCE_DIR) + "/policy.d/presets")) {
    files.push_back(e.path().string());
  }
  std::sort(files.begin(), files.end());
  // A 1 GiB guest rewriting 512 MiB at 512 MiB/s over 64 MiB/s: no preset's
  // downtime suffices, so each schedule runs on until its end.
  for (const std::string& f : files) {
    SCOPED_TRACE(f);
    policy::Policy p;
    policy::Diagnostics diags;
    policy::ApplyFile(policy::ReadIni(f, &diags), StepVocabulary(), &p, &diags);
    policy::Validate(&p, &diags);
    ASSERT_TRUE(diags.empty()) << diags.front().ToString();
    SimScenario sc = Scenario(1 * kGiB, 512 * kMiB, 512.0 * kMiB, 64.0 * kMiB);
    sc.Apply(StartFromPolicy(p));
    PolicyReaction reaction(p, "test");
    SimOptions o;
    o.limit_ms = 3 * 3600 * 1000;
    SimResult r = Simulate(sc, reaction, o);

    // ExpandSchedule gives one entry per Step=, in order, then the budget.
    std::vector<policy::PlannedStep> planned = policy::ExpandSchedule(p, 1 * kGiB, 0);
    std::erase_if(planned, [](const policy::PlannedStep& s) { return s.when.rfind("adaptive", 0) == 0; });
    std::vector<std::string> texts;
    for (const policy::Step& st : p.steps.value) texts.push_back(st.ToString());
    texts.push_back("budget");
    std::vector<Fired> fired = FiredSteps(r.actions);
    size_t next = 0;  // planned steps fire in order (VDSM's iteration rule, rising times)
    double previous_at_s = 0;  // when the step before fired (the start, for the first)
    for (const Fired& got : fired) {
      auto it = std::find(texts.begin() + static_cast<std::ptrdiff_t>(next), texts.end(), got.step);
      ASSERT_NE(it, texts.end()) << "fired out of order or unplanned: " << got.reason;
      const size_t i = static_cast<size_t>(it - texts.begin());
      // Only steps that depend on the migration's behaviour may be passed over.
      for (size_t skipped = next; skipped < i; skipped++) {
        const std::string& w = planned[skipped].when;
        EXPECT_TRUE(w.rfind("stall", 0) == 0 || w.rfind("no progress", 0) == 0 || w.rfind("expected", 0) == 0)
            << "'" << w << ": " << planned[skipped].actions << "' did not fire";
      }
      next = i + 1;
      const policy::PlannedStep& want = planned[i];
      SCOPED_TRACE("planned '" + want.when + ": " + want.actions + "', fired at " + std::to_string(got.at_s) +
                   " s: " + got.reason);
      // As many actions as the step names.
      EXPECT_EQ(static_cast<size_t>(std::count(want.actions.begin(), want.actions.end(), ' ') + 1),
                got.actions.size());
      if (want.when == "start") {
        EXPECT_LT(got.at_s, 1.0);
      } else if (want.when.rfind("iteration ", 0) == 0) {
        EXPECT_NE(got.reason.find("new iteration " + want.when.substr(10) + " >"), std::string::npos);
      } else if (want.when.rfind("budget ", 0) == 0) {
        Result<int64_t> ms = ParseMillis(want.when.substr(7));
        ASSERT_TRUE(ms.ok());
        EXPECT_GE(got.at_s * 1000, static_cast<double>(*ms));
        EXPECT_LT(got.at_s * 1000, static_cast<double>(*ms) + 1100);
      } else if (want.when.rfind("stall", 0) == 0 || want.when.rfind("no progress", 0) == 0 ||
                 want.when.rfind("expected", 0) == 0) {
        // behaviour-dependent: the order is all there is to check
      } else if (const size_t after = want.when.find(" after the "); after != std::string::npos) {
        // after-previous: that long after the step before, within a sampling interval
        Result<int64_t> ms = ParseMillis(want.when.substr(0, after));
        ASSERT_TRUE(ms.ok()) << want.when;
        const int64_t since_ms = std::llround((got.at_s - previous_at_s) * 1000);
        EXPECT_GE(since_ms, *ms);
        EXPECT_LT(since_ms, *ms + 1100);
      } else {  // elapsed: within one sampling interval after the planned time
        Result<int64_t> ms = ParseMillis(want.when);
        ASSERT_TRUE(ms.ok()) << want.when;
        EXPECT_GE(got.at_s * 1000, static_cast<double>(*ms));
        EXPECT_LT(got.at_s * 1000, static_cast<double>(*ms) + 1100);
      }
      previous_at_s = got.at_s;
    }
    // What did not fire comes after the end: a step that ended it, or the
    // migration completing.
    if (next < texts.size() && r.outcome != MigrationOutcome::kTimeout) {
      const bool ended_by_a_step = !fired.empty() && (fired.back().actions.back() == "abort" ||
                                                      fired.back().actions.back() == "start-postcopy" ||
                                                      fired.back().actions.back() == "pause-guest");
      EXPECT_TRUE(ended_by_a_step || r.outcome == MigrationOutcome::kCompleted) << OutcomeName(r.outcome);
    }
    if (texts.size() > 1) {
      EXPECT_FALSE(fired.empty()) << OutcomeName(r.outcome);
    }
  }
}

}  // namespace
}  // namespace vc
