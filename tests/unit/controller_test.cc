// The controller applies decisions through the plugins and keeps a record
// of each: what, why, and how long after the pass it took effect.
#include "src/control/controller.h"

#include <gtest/gtest.h>

#include "src/control/schedule_runner.h"
#include "tests/support/fake_backend.h"
#include "tests/support/samples.h"

namespace vc {
namespace {

// QEMU answers a command only once it lets go of its lock, which it holds
// through a stop-and-copy: such a reply can come hundreds of milliseconds
// late. The record tells our part (until the command went) from QEMU's.
TEST(Controller, RecordsWhenTheCommandWentAndWhenQemuAnswered) {
  testing::FakeBackend backend;
  backend.facts.hypervisor = "QEMU 7.2.0";
  backend.facts.qemu_major = 7;
  backend.facts.qemu_minor = 2;
  backend.set_tuning_delay = std::chrono::milliseconds(60);
  Controller c(backend, backend.facts, nullptr, /*dry_run=*/false, [](const std::string&) {});
  // The sample came in 20 ms before the decision was applied.
  MigrationSample s = testing::ActiveSample(5000, 3, 1 << 20, 1ull << 30);
  s.at = Clock::now() - std::chrono::milliseconds(20);
  (void)c.Impose(s, {DecisionKind::kOperator, "set-downtime", 500, "test"});
  ASSERT_EQ(c.actions().size(), 1u);
  const ActionRecord& a = c.actions()[0];
  EXPECT_EQ(a.result, "done");
  EXPECT_GE(a.latency_ms, 80);
  EXPECT_GE(a.sent_ms, 20) << "counted from the sample";
  EXPECT_LT(a.sent_ms, 50) << "nothing of ours waits between the sample and the command";
  EXPECT_LE(a.sent_ms + 60, a.latency_ms) << "QEMU's answer comes after the command went";
  EXPECT_EQ(backend.tuning.downtime_limit_ms, 500);
}

// QEMU sends no event in the bulk pass, and its first sync (and any
// switch-over inside the bulk) comes at the bulk's end: over its last two
// sampling intervals the sampling is every 100 ms.
TEST(Controller, SamplesEvery100MsOverTheBulkPassesLastStretch) {
  const uint64_t gib = 1ull << 30, mib = 1ull << 20;
  MigrationSample s = testing::ActiveSample(1000, 1, gib - 32 * mib, gib);
  s.bandwidth = 32.0 * mib;
  s.ram_visited = 32 * mib;
  EXPECT_EQ(NextSampleInMs(s, 1000), 1000) << "31 s of bulk left";
  s.ram_visited = gib - 64 * mib;
  EXPECT_EQ(NextSampleInMs(s, 1000), 100) << "2 s left";
  EXPECT_EQ(NextSampleInMs(s, 50), 50) << "a timer faster already";
  s.ram_visited = 0;
  EXPECT_EQ(NextSampleInMs(s, 1000), 1000) << "QEMU does not say what it visited";
  s.ram_visited = gib;
  s.pass = 2;
  EXPECT_EQ(NextSampleInMs(s, 1000), 1000) << "the bulk is done: passes send events";
  s.ram_visited = gib - mib;
  s.status = "postcopy-active";
  EXPECT_EQ(NextSampleInMs(s, 1000), 1000);
}

// A guest paused so the stop-and-copy finishes must run again wherever the
// VM ends up: on the destination once the migration completes, on the
// source otherwise. Where nobody could start it on the destination, it is
// never paused.
TEST(Controller, AGuestItPausedRunsAgainWhereTheVmEndsUp) {
  for (const char* end : {"completed", "failed", "cancelled"}) {
    testing::FakeBackend backend;
    std::vector<std::string> said;
    Controller c(backend, backend.facts, nullptr, /*dry_run=*/false,
                 [&said](const std::string& line) { said.push_back(line); });
    (void)c.Impose(testing::ActiveSample(5000, 3, 1 << 20, 1ull << 30), {DecisionKind::kOperator, "pause-guest", 0, "test"});
    MigrationSample last = testing::ActiveSample(6000, 4, 0, 1ull << 30);
    last.status = end;
    c.OnFinished(last);
    const std::string expected =
        std::string(end) == "completed" ? "StartGuestOnDestination" : "ResumeGuest";
    EXPECT_EQ(backend.calls, (std::vector<std::string>{"PauseGuest", expected})) << end;
    ASSERT_FALSE(said.empty());
    EXPECT_NE(said.back().find(std::string(end) == "completed" ? "started on the destination"
                                                               : "resumed the guest"),
              std::string::npos)
        << said.back();
  }
  testing::FakeBackend backend;
  backend.guest_runs_on_destination =
      Status::NotSupported("pause-guest", "not possible here because of the test");
  Controller c(backend, backend.facts, nullptr, /*dry_run=*/false, [](const std::string&) {});
  (void)c.Impose(testing::ActiveSample(5000, 3, 1 << 20, 1ull << 30), {DecisionKind::kOperator, "pause-guest", 0, "test"});
  EXPECT_TRUE(backend.calls.empty());
  ASSERT_EQ(c.actions().size(), 1u);
  EXPECT_EQ(c.actions()[0].result,
            "Not supported: pause-guest: not possible here because of the test");
}

// Issue 24: the link slowed to 1 Mbit/s under a paused guest's final copy.
// QEMU held its lock through it, and the first sample after, long past the
// budget, read "active" with nothing left: the budget's abort went out and
// libvirt cancelled the migration at its very end. Once the switch-over is
// under way nothing is decided or applied (the budget is not used up: a
// migration that goes on after all still meets it), nor asked by the
// operator.
TEST(Controller, NothingIsDecidedOrAppliedOnceTheSwitchoverIsUnderWay) {
  constexpr uint64_t kGiB = 1ull << 30, kMiB = 1ull << 20;
  policy::Policy p;
  p.budget_per_gib = policy::Setting<int64_t>(0);
  p.budget_minimum = policy::Setting<int64_t>(30000);
  p.final_action = policy::Setting<policy::FinalAction>(policy::FinalAction::kAbort);
  ScheduleRunner budget(p, "test");
  testing::FakeBackend backend;
  std::vector<std::string> said;
  Controller c(backend, backend.facts, &budget, /*dry_run=*/false,
               [&said](const std::string& line) { said.push_back(line); });

  MigrationSample held = testing::ActiveSample(101000, 4, 0, kGiB);
  held.ram_transferred = 900 * kMiB;
  ASSERT_TRUE(held.switching_over());
  c.OnSample(held, /*after_sync=*/true);
  MigrationSample finishing = testing::ActiveSample(102000, 4, 25 * kMiB, kGiB);
  finishing.ram_transferred = 900 * kMiB;
  finishing.source_completed = true;  // libvirt finishing on the destination
  ASSERT_TRUE(finishing.switching_over());
  c.OnSample(finishing, /*after_sync=*/false);
  EXPECT_TRUE(c.actions().empty());
  EXPECT_TRUE(backend.calls.empty());
  ASSERT_EQ(said.size(), 1u) << "told once";
  EXPECT_EQ(said[0], "the switch-over is under way: no more decisions until the migration ends");

  OperatorReply cancel = c.Cancel(finishing);
  EXPECT_FALSE(cancel.ok);
  EXPECT_NE(cancel.text.find("not possible now: the switch-over is under way (QEMU has sent everything and libvirt "
                             "is finishing on the destination)"),
            std::string::npos)
      << cancel.text;
  OperatorReply complete = c.CompleteNow(held);
  EXPECT_TRUE(complete.ok) << complete.text;
  EXPECT_TRUE(backend.calls.empty()) << "nothing sent";
  for (const char* status : {"device", "pre-switchover"}) {
    MigrationSample s = testing::ActiveSample(103000, 4, 25 * kMiB, kGiB);
    s.status = status;
    EXPECT_TRUE(s.switching_over()) << status;
  }

  // An "active" sample with something left: the migration goes on, and the
  // budget it is over is met.
  MigrationSample goes_on = testing::ActiveSample(104000, 5, 25 * kMiB, kGiB);
  goes_on.ram_transferred = 925 * kMiB;
  ASSERT_FALSE(goes_on.switching_over());
  c.OnSample(goes_on, /*after_sync=*/true);
  EXPECT_EQ(backend.calls, std::vector<std::string>{"Cancel"});
  // Its reason code, for the outcome, the journal and the metrics.
  EXPECT_EQ(c.abort_code(), "budget.abort");
  EXPECT_EQ(ActionCode(c.actions().back()), "budget.abort");
  EXPECT_NE(said.back().find("[budget.abort]"), std::string::npos) << said.back();
  // The operator's cancel is the operator's.
  testing::FakeBackend other;
  Controller o(other, other.facts, nullptr, /*dry_run=*/false, [](const std::string&) {});
  EXPECT_TRUE(o.Cancel(goes_on).ok);
  EXPECT_EQ(o.abort_code(), "operator.abort");
}

// Issue 24, point 11: a destination still loading the migration is asked
// again by whoever runs the controller, never waited for inside it.
TEST(Controller, AGuestItPausedStartsOnTheDestinationOnceThatHasLoadedWithoutWaitingInside) {
  testing::FakeBackend backend;
  backend.destination_loading = 3;
  std::vector<std::string> said;
  Controller c(backend, backend.facts, nullptr, /*dry_run=*/false,
               [&said](const std::string& line) { said.push_back(line); });
  (void)c.Impose(testing::ActiveSample(5000, 3, 1 << 20, 1ull << 30), {DecisionKind::kOperator, "pause-guest", 0, "test"});
  const Clock::time_point before = Clock::now();
  c.OnFinished(testing::CompletedSample(6000, 4, 1ull << 30));
  EXPECT_LT(Clock::now() - before, Millis(50));
  EXPECT_TRUE(c.awaits_destination());
  EXPECT_TRUE(c.changes().guest_paused);
  for (int i = 0; i < 2; i++) c.StartOnDestinationAgain();
  EXPECT_TRUE(c.awaits_destination());
  c.StartOnDestinationAgain();
  EXPECT_FALSE(c.awaits_destination());
  EXPECT_FALSE(c.changes().guest_paused);
  EXPECT_EQ(backend.calls, (std::vector<std::string>{"PauseGuest", "StartGuestOnDestination"}));
  ASSERT_GE(said.size(), 2u);
  EXPECT_NE(said[said.size() - 2].find("once it has loaded the migration"), std::string::npos) << said[said.size() - 2];
  EXPECT_NE(said.back().find("started on the destination"), std::string::npos) << said.back();
}

// Issue 24, point 4: detached during post-copy, the guest lives on the
// destination. A guest we paused is started there; the source's copy is
// never resumed (two running copies of one guest), and its parameters are
// left alone.
TEST(Controller, LeavingInPostcopyNeverResumesTheSource) {
  testing::FakeBackend backend;
  std::vector<std::string> said;
  Controller c(backend, backend.facts, nullptr, /*dry_run=*/false,
               [&said](const std::string& line) { said.push_back(line); });
  (void)c.Impose(testing::ActiveSample(5000, 3, 1 << 20, 1ull << 30), {DecisionKind::kOperator, "pause-guest", 0, "test"});
  c.Leave(/*in_postcopy=*/true);
  EXPECT_EQ(backend.calls, (std::vector<std::string>{"PauseGuest", "StartGuestOnDestination"}));
  ASSERT_FALSE(said.empty());
  EXPECT_NE(said.back().find("started on the destination"), std::string::npos) << said.back();
  // Before post-copy the guest is still the source's: resumed there.
  testing::FakeBackend precopy;
  Controller p(precopy, precopy.facts, nullptr, /*dry_run=*/false, [](const std::string&) {});
  (void)p.Impose(testing::ActiveSample(5000, 3, 1 << 20, 1ull << 30), {DecisionKind::kOperator, "pause-guest", 0, "test"});
  p.Leave(/*in_postcopy=*/false);
  EXPECT_EQ(precopy.calls, (std::vector<std::string>{"PauseGuest", "ResumeGuest"}));
}

// A migration that does not complete leaves the VM on the source: what we
// set goes back to what QEMU had, `migrate`'s start settings included;
// what someone else changed after us stays.
TEST(Controller, AMigrationThatDoesNotCompleteGivesTheSourceItsOwnParametersBack) {
  testing::FakeBackend backend;
  MigrationTuning before;
  before.downtime_limit_ms = 300;
  before.max_bandwidth = 128ull << 20;
  before.xbzrle_cache = 64ull << 20;
  MigrationTuning start;  // what `migrate` set, now in force
  start.downtime_limit_ms = 50;
  start.max_bandwidth = 32ull << 20;
  backend.tuning = before;
  backend.tuning.downtime_limit_ms = start.downtime_limit_ms;
  backend.tuning.max_bandwidth = start.max_bandwidth;
  Controller c(backend, backend.facts, nullptr, /*dry_run=*/false, [](const std::string&) {});
  c.AdoptStartSettings(before, start);
  (void)c.Impose(testing::ActiveSample(5000, 3, 1 << 20, 1ull << 30), {DecisionKind::kOperator, "set-downtime", 60, "test"});
  (void)c.Impose(testing::ActiveSample(6000, 4, 1 << 20, 1ull << 30),
           {DecisionKind::kOperator, "set-xbzrle-cache", 32 << 20, "test"});
  backend.tuning.xbzrle_cache = 16ull << 20;  // someone else's, after ours
  MigrationSample last = testing::ActiveSample(7000, 5, 1 << 20, 1ull << 30);
  last.status = "cancelled";
  c.OnFinished(last);
  EXPECT_EQ(backend.tuning.downtime_limit_ms, 300);
  EXPECT_EQ(backend.tuning.max_bandwidth, 128ull << 20);
  EXPECT_EQ(backend.tuning.xbzrle_cache, 16ull << 20);

  // Completed: the source's parameters no longer matter, none is touched.
  testing::FakeBackend done;
  done.tuning = before;
  Controller d(done, done.facts, nullptr, /*dry_run=*/false, [](const std::string&) {});
  (void)d.Impose(testing::ActiveSample(5000, 3, 1 << 20, 1ull << 30), {DecisionKind::kOperator, "set-downtime", 60, "test"});
  last.status = "completed";
  d.OnFinished(last);
  EXPECT_EQ(done.tuning.downtime_limit_ms, 60);
  // ...and nothing of ours is in force where the VM runs now.
  EXPECT_TRUE(d.changes().empty());
  EXPECT_FALSE(d.changes().original);
}

// What each action changed is recorded from the action's own account of
// it, so every parameter any action sets goes back exactly as it was:
// the throttle level's trigger too, and the dirty limit in QEMU's unit.
TEST(Controller, EveryParameterAnyActionSetGoesBackAsItWas) {
  testing::FakeBackend backend;
  backend.facts.hypervisor = "QEMU 8.2.0";
  backend.facts.qemu_major = 8;
  backend.facts.qemu_minor = 2;
  backend.facts.capabilities = {{"auto-converge", true}, {"xbzrle", true}, {"dirty-limit", true}};
  MigrationTuning before;
  before.downtime_limit_ms = 300;
  before.max_bandwidth = 128ull << 20;
  before.throttle_initial = 20;
  before.throttle_increment = 10;
  before.throttle_max = 99;
  before.throttle_tailslow = false;
  before.throttle_trigger = 50;
  before.xbzrle_cache = 64ull << 20;
  before.vcpu_dirty_limit = 1;
  backend.tuning = before;
  std::string said;
  Controller c(backend, backend.facts, nullptr, /*dry_run=*/false, [&](const std::string& l) { said += l + "\n"; });
  int64_t t = 5000;
  for (const Decision& d : std::vector<Decision>{{DecisionKind::kOperator, "set-downtime", 900, "test"},
                                                 {DecisionKind::kOperator, "set-bandwidth", 32 << 20, "test"},
                                                 {DecisionKind::kOperator, "set-throttle-level", 70, "test"},
                                                 {DecisionKind::kOperator, "set-throttle-tailslow", 1, "test"},
                                                 {DecisionKind::kOperator, "set-xbzrle-cache", 32 << 20, "test"},
                                                 {DecisionKind::kOperator, "set-dirty-limit", 48 << 20, "test"}}) {
    EXPECT_TRUE(c.Impose(testing::ActiveSample(t, 3, 1 << 20, 1ull << 30), d).ok()) << said;
    t += 100;
  }
  ASSERT_EQ(backend.tuning.vcpu_dirty_limit, 48u) << said;
  ASSERT_EQ(backend.tuning.throttle_trigger, 1) << said;
  MigrationSample last = testing::ActiveSample(t, 4, 1 << 20, 1ull << 30);
  last.status = "cancelled";
  c.OnFinished(last);
  EXPECT_EQ(backend.tuning, before) << said;
}

// "Complete now" and "cancel" act only on a migration that runs: a VM that
// is idle, or whose migration has just ended, is never paused (issue 24).
TEST(Controller, AnOperatorsRequestOnAMigrationThatIsNotRunningChangesNothing) {
  for (const char* status : {"none", "completed", "failed", "cancelled"}) {
    testing::FakeBackend backend;
    backend.facts.capabilities = {{"postcopy-ram", false}};
    Controller c(backend, backend.facts, nullptr, /*dry_run=*/false, [](const std::string&) {});
    MigrationSample s = testing::ActiveSample(5000, 3, 1 << 20, 1ull << 30);
    s.status = status;
    OperatorReply now = c.CompleteNow(s);
    EXPECT_FALSE(now.ok) << status;
    EXPECT_NE(now.text.find("no migration is running"), std::string::npos) << now.text;
    EXPECT_FALSE(c.Cancel(s).ok) << status;
    EXPECT_TRUE(backend.calls.empty()) << status << ": " << backend.calls.front();
  }
  // Running, without post-copy: a pause, and the reply says so.
  testing::FakeBackend backend;
  backend.facts.capabilities = {{"postcopy-ram", false}};
  Controller c(backend, backend.facts, nullptr, /*dry_run=*/false, [](const std::string&) {});
  OperatorReply now = c.CompleteNow(testing::ActiveSample(5000, 3, 1 << 20, 1ull << 30));
  EXPECT_TRUE(now.ok) << now.text;
  EXPECT_EQ(now.text, "pause-guest: done");
  EXPECT_EQ(backend.calls, std::vector<std::string>{"PauseGuest"});
}

// Issue 24, point 2: a command whose reply never came may still have been
// carried out. What the controller was about to change counts as its own
// from before it acts, so a guest paused by a `stop` whose reply timed out
// is resumed, and a parameter set so goes back, when the migration does not
// complete.
TEST(Controller, WhatAnActionWhoseReplyTimedOutChangedCountsAsOurs) {
  testing::FakeBackend backend;
  backend.facts.capabilities = {{"postcopy-ram", false}};
  backend.tuning.downtime_limit_ms = 300;
  backend.answers["PauseGuest"] = Status::Timeout("stop", "no reply within 10000 ms");
  backend.answers["SetTuning"] = Status::Timeout("migrate-set-parameters", "no reply within 10000 ms");
  Controller c(backend, backend.facts, nullptr, /*dry_run=*/false, [](const std::string&) {});
  EXPECT_FALSE(c.Impose(testing::ActiveSample(5000, 3, 1 << 20, 1ull << 30),
                        {DecisionKind::kOperator, "set-downtime", 900, "test"})
                   .ok());
  EXPECT_FALSE(c.Impose(testing::ActiveSample(6000, 4, 1 << 20, 1ull << 30),
                        {DecisionKind::kOperator, "pause-guest", 0, "test"})
                   .ok());
  ASSERT_EQ(backend.tuning.downtime_limit_ms, 900);  // QEMU did it all the same
  backend.answers.clear();
  MigrationSample last = testing::ActiveSample(7000, 5, 1 << 20, 1ull << 30);
  last.status = "failed";
  c.OnFinished(last);
  EXPECT_EQ(backend.tuning.downtime_limit_ms, 300);
  EXPECT_EQ(backend.calls, (std::vector<std::string>{"SetTuning", "PauseGuest", "SetTuning", "ResumeGuest"}));
}

// A reaction that decides the same list on every sample.
class ScriptedReaction : public Reaction {
 public:
  explicit ScriptedReaction(std::vector<Decision> decisions) : decisions_(std::move(decisions)) {}
  std::vector<Decision> Decide(const MigrationSample&, bool, const ReactionInputs&) override { return decisions_; }
  void Applied(const Decision& d, bool ok) override { applied.push_back(d.action + (ok ? ": done" : ": not done")); }
  std::string Describe() const override { return "scripted"; }
  std::vector<std::string> applied;

 private:
  std::vector<Decision> decisions_;
};

// Issue 24, point 11: the adaptive mode's escalation to a pause comes with
// a limit that lets the paused guest switch over at once (12.5 s on a
// 32 MiB/s migration). Where the pause is refused the guest is not paused,
// and that limit would be a silent step far past MaxDowntime=: it is not
// taken, and the reaction is told.
TEST(Controller, TheLimitThatGoesWithAPauseIsNotTakenWithoutThePause) {
  for (bool pause_possible : {false, true}) {
    testing::FakeBackend backend;
    backend.tuning.downtime_limit_ms = 300;
    if (!pause_possible) {
      backend.guest_runs_on_destination = Status::NotSupported("pause-guest", "not possible here because test");
    }
    ScriptedReaction reaction({{DecisionKind::kEscalation, "pause-guest", 0, "escalate"},
                               {DecisionKind::kEscalation, "set-downtime", 12500, "the guest is paused",
                                /*only_after_previous=*/true}});
    std::vector<std::string> said;
    Controller c(backend, backend.facts, &reaction, /*dry_run=*/false,
                 [&said](const std::string& line) { said.push_back(line); });
    c.OnSample(testing::ActiveSample(5000, 3, 400 << 20, 1ull << 30), /*after_sync=*/true);
    if (pause_possible) {
      EXPECT_EQ(backend.calls, (std::vector<std::string>{"PauseGuest", "SetTuning"}));
      EXPECT_EQ(backend.tuning.downtime_limit_ms, 12500);
      continue;
    }
    EXPECT_EQ(backend.calls, std::vector<std::string>{}) << "nothing was done";
    EXPECT_EQ(backend.tuning.downtime_limit_ms, 300);
    EXPECT_EQ(reaction.applied, (std::vector<std::string>{"pause-guest: not done", "set-downtime: not done"}));
    ASSERT_FALSE(said.empty());
    EXPECT_EQ(said.back(), "not taking set-downtime 12500 ms: the pause-guest it goes with was not done");
  }
}

}  // namespace
}  // namespace vc
