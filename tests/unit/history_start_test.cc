// [Start] FromHistory=: a VM's next migration starts where its last one
// ended, within the policy's limits; an easy VM starts as the policy says.
#include "src/control/history_start.h"

#include <gtest/gtest.h>

#include "src/control/policy_reaction.h"
#include "tests/support/samples.h"

namespace vc {
namespace {

ActionRecord Done(const std::string& action, int64_t value, DecisionKind kind = DecisionKind::kSwitchover) {
  ActionRecord a;
  a.action = action;
  a.value = value;
  a.result = "done";
  a.kind = kind;
  return a;
}

policy::Policy VendorLike() {
  policy::Policy p;
  p.adaptive.value = true;
  p.from_history.value = true;
  p.auto_converge.value = true;
  p.final_action.value = policy::FinalAction::kPostcopy;
  return p;
}

ReactionInputs Inputs() {
  ReactionInputs in;
  in.downtime_limit_ms = 300;
  in.throttle_possible = true;
  in.postcopy_possible = true;
  return in;
}

TEST(HistoryStart, AnEasyLastMigrationLeavesNothing) {
  // It needed no step, or only a bandwidth and a downtime no higher than
  // the policy's own start.
  const policy::Policy p = VendorLike();
  EXPECT_TRUE(HistoryStart::From({}, false, p, "last").empty());
  HistoryStart h = HistoryStart::From({Done("set-bandwidth", 64 << 20), Done("set-downtime", 300)}, false, p, "last");
  EXPECT_TRUE(h.empty());
  EXPECT_EQ(h.Describe(), "nothing");
  EXPECT_TRUE(h.Decide(testing::ActiveSample(1000, 1, 1 << 30, 1ull << 30), Inputs()).empty());
}

TEST(HistoryStart, CarriesWhereTheLastEndedWithinThePolicysLimits) {
  policy::Policy p = VendorLike();
  ActionRecord refused = Done("set-throttle-level", 95, DecisionKind::kThrottle);
  refused.result = "not possible here";
  const std::vector<ActionRecord> last = {Done("set-downtime", 600), Done("set-throttle-level", 40, DecisionKind::kThrottle),
                                          Done("set-downtime", 900), refused};
  HistoryStart h = HistoryStart::From(last, false, p, "last");
  EXPECT_EQ(h.downtime_ms(), 900);  // the last in force, not the first
  EXPECT_EQ(h.throttle_percent(), 40);  // a refused level was never in force
  EXPECT_FALSE(h.postcopy());
  EXPECT_EQ(h.Describe(), "downtime-limit 900 ms, throttle 40%");

  p.adaptive_max_downtime.value = 700;
  p.adaptive_max_throttle.value = 30;
  h = HistoryStart::From(last, false, p, "last");
  EXPECT_EQ(h.downtime_ms(), 700);
  EXPECT_EQ(h.throttle_percent(), 30);

  p.adaptive_throttle.value = false;  // this policy never throttles
  EXPECT_FALSE(HistoryStart::From(last, false, p, "last").throttle_percent());
}

TEST(HistoryStart, StartsThereAtTheFirstSampleOnce) {
  HistoryStart h = HistoryStart::From({Done("set-downtime", 900), Done("set-throttle-level", 40, DecisionKind::kThrottle)},
                                      false, VendorLike(), "the last migration of vm1");
  // Not during setup.
  MigrationSample setup = testing::ActiveSample(0, 0, 0, 0);
  setup.status = "setup";
  EXPECT_TRUE(h.Decide(setup, Inputs()).empty());

  std::vector<Decision> d = h.Decide(testing::ActiveSample(200, 1, 1 << 30, 1ull << 30), Inputs());
  ASSERT_EQ(d.size(), 2u);
  EXPECT_EQ(d[0].kind, DecisionKind::kHistory);
  EXPECT_EQ(d[0].action, "set-downtime");
  EXPECT_EQ(d[0].value, 900);
  EXPECT_EQ(d[0].reason, "history: the last migration of vm1 ended with downtime-limit 900 ms (FromHistory=)");
  EXPECT_EQ(d[1].action, "set-throttle-level");
  EXPECT_EQ(d[1].value, 40);
  EXPECT_TRUE(h.Decide(testing::ActiveSample(1200, 2, 1 << 28, 1ull << 30), Inputs()).empty());

  // A limit already as high, or a throttle QEMU cannot take, is not asked.
  HistoryStart again = HistoryStart::From({Done("set-downtime", 900), Done("set-throttle-level", 40)}, false,
                                          VendorLike(), "last");
  ReactionInputs in = Inputs();
  in.downtime_limit_ms = 1000;
  in.throttle_possible = false;
  EXPECT_TRUE(again.Decide(testing::ActiveSample(200, 1, 1 << 30, 1ull << 30), in).empty());
}

TEST(HistoryStart, PostcopyAfterTheBulkPassOnlyWhereThePolicyMayTakeIt) {
  const std::vector<ActionRecord> by_budget = {Done("start-postcopy", 0, DecisionKind::kBudget)};
  HistoryStart h = HistoryStart::From(by_budget, true, VendorLike(), "last");
  ASSERT_TRUE(h.postcopy());
  EXPECT_TRUE(h.Decide(testing::ActiveSample(500, 1, 1 << 30, 1ull << 30), Inputs()).empty());
  std::vector<Decision> d = h.Decide(testing::ActiveSample(34000, 2, 1 << 28, 1ull << 30), Inputs());
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].action, "start-postcopy");
  EXPECT_EQ(d[0].kind, DecisionKind::kHistory);
  EXPECT_TRUE(h.Decide(testing::ActiveSample(35000, 3, 1 << 28, 1ull << 30), Inputs()).empty());

  // A policy that never takes post-copy does not take it from history.
  policy::Policy never = VendorLike();
  never.final_action.value = policy::FinalAction::kAbort;
  never.adaptive_escalate.value = policy::FinalAction::kAbort;
  EXPECT_FALSE(HistoryStart::From(by_budget, true, never, "last").postcopy());
  // Nor from an operator's post-copy.
  EXPECT_FALSE(HistoryStart::From({Done("start-postcopy", 0, DecisionKind::kOperator)}, true, VendorLike(), "last").postcopy());
  // Nor where this migration does not allow it.
  HistoryStart no_cap = HistoryStart::From(by_budget, true, VendorLike(), "last");
  ReactionInputs in = Inputs();
  in.postcopy_possible = false;
  EXPECT_TRUE(no_cap.Decide(testing::ActiveSample(34000, 2, 1 << 28, 1ull << 30), in).empty());
}

TEST(HistoryStart, PolicyReactionStartsThereBeforeAnyStepOfItsOwn) {
  policy::Policy p = VendorLike();
  PolicyReaction r(p, "test", {}, HistoryStart::From({Done("set-downtime", 900)}, false, p, "last"));
  std::vector<Decision> d = r.Decide(testing::ActiveSample(200, 1, 1 << 30, 1ull << 30), false, Inputs());
  ASSERT_FALSE(d.empty());
  EXPECT_EQ(d[0].kind, DecisionKind::kHistory);
  r.Applied(d[0], true);
  // Without FromHistory's record the same policy starts as written.
  PolicyReaction plain(p, "test");
  for (const Decision& x : plain.Decide(testing::ActiveSample(200, 1, 1 << 30, 1ull << 30), false, Inputs())) {
    EXPECT_NE(x.kind, DecisionKind::kHistory);
  }
}

}  // namespace
}  // namespace vc
