// The convergence actions: each checks what it needs and says "not possible
// here because ..." instead of failing; each changes only its parameter.
#include "plugins/action.h"

#include <gtest/gtest.h>

#include <set>

#include "src/policy/policy.h"
#include "tests/support/fake_backend.h"
#include "tests/support/samples.h"

namespace vc {
namespace {

using testing::FakeBackend;

struct Bed {
  FakeBackend backend;
  MigrationSample sample = testing::ActiveSample(5000, 3, 1 << 20, 1ull << 30);
  Bed(int major, int minor, std::map<std::string, bool> caps) {
    backend.facts.hypervisor = "QEMU " + std::to_string(major) + "." + std::to_string(minor) + ".0";
    backend.facts.qemu_major = major;
    backend.facts.qemu_minor = minor;
    backend.facts.capabilities = std::move(caps);
  }
  Status Check(const char* name) {
    ActionContext ctx{backend, backend.facts, sample};
    return FindAction(name)->CheckPossible(ctx);
  }
  /// Effect, then Apply: as the controller does.
  Status Apply(const char* name, int64_t value) {
    ActionContext ctx{backend, backend.facts, sample};
    Result<ActionEffect> effect = FindAction(name)->Effect(ctx, value);
    if (!effect.ok()) return effect.status();
    return FindAction(name)->Apply(ctx, *effect);
  }
};

// Effect() changes nothing, and says exactly what Apply() then changes:
// the parameters the backend is given, or the one command it gets.
TEST(Plugins, EachActionSaysWhatItChangesBeforeItChangesIt) {
  struct Case {
    const char* name;
    int64_t value;
    const char* call;
  } cases[] = {
      {"set-downtime", 700, "SetTuning"},          {"set-bandwidth", 64 << 20, "SetTuning"},
      {"set-throttle-initial", 30, "SetTuning"},   {"set-throttle-increment", 25, "SetTuning"},
      {"set-throttle-max", 80, "SetTuning"},       {"set-throttle-level", 70, "SetTuning"},
      {"set-throttle-tailslow", 1, "SetTuning"},   {"set-xbzrle-cache", 256 << 20, "SetTuning"},
      {"set-dirty-limit", 32 << 20, "SetTuning"},  {"pause-guest", 0, "PauseGuest"},
      {"start-postcopy", 0, "StartPostcopy"},      {"abort", 0, "Cancel"},
      {"set-switchover-bandwidth", 1 << 30, "SetTuning"},
  };
  ASSERT_EQ(std::size(cases), AllActions().size()) << "a case for every action";
  for (const Case& c : cases) {
    Bed b(8, 2, {{"auto-converge", true}, {"xbzrle", true}, {"dirty-limit", true}, {"postcopy-ram", true}});
    ActionContext ctx{b.backend, b.backend.facts, b.sample};
    Result<ActionEffect> effect = FindAction(c.name)->Effect(ctx, c.value);
    ASSERT_TRUE(effect.ok()) << c.name << ": " << effect.status().ToString();
    EXPECT_TRUE(b.backend.calls.empty()) << c.name << ": Effect() called the backend";
    ASSERT_TRUE(FindAction(c.name)->Apply(ctx, *effect).ok()) << c.name;
    EXPECT_EQ(b.backend.calls, std::vector<std::string>{c.call}) << c.name;
    EXPECT_EQ(b.backend.tuning, effect->tuning) << c.name << ": the backend got other parameters than it said";
    EXPECT_EQ(effect->pauses_guest, std::string(c.call) == "PauseGuest") << c.name;
    EXPECT_EQ(effect->starts_postcopy, std::string(c.call) == "StartPostcopy") << c.name;
    EXPECT_EQ(effect->cancels_migration, std::string(c.call) == "Cancel") << c.name;
  }
}

TEST(Plugins, EachActionOwnsItsPolicyWordAndValue) {
  EXPECT_EQ(AllActions().size(), 13u);
  std::set<std::string_view> words;
  for (const Action* a : AllActions()) {
    EXPECT_TRUE(words.insert(a->policy_word()).second) << a->name() << ": its word is taken";
    // Step= knows it by its word, and a step written back reads the same.
    std::string text = "start " + std::string(a->policy_word());
    int64_t value = 0;
    switch (a->value_kind()) {
      case policy::ValueKind::kNone: break;
      case policy::ValueKind::kMillis: text += "=1500ms", value = 1500; break;
      case policy::ValueKind::kRate: text += "=32MiB/s", value = 32 << 20; break;
      case policy::ValueKind::kPercent: text += "=30%", value = 30; break;
      case policy::ValueKind::kBool: text += "=yes", value = 1; break;
      case policy::ValueKind::kSize: text += "=128MiB", value = 128 << 20; break;
    }
    Result<policy::Step> step = policy::ParseStep(text, StepVocabulary());
    ASSERT_TRUE(step.ok()) << text << ": " << step.status().ToString();
    ASSERT_EQ(step->actions.size(), 1u);
    EXPECT_EQ(step->actions[0].name, a->name()) << text;
    EXPECT_EQ(step->actions[0].value, value) << text;
    EXPECT_EQ(step->ToString(), text);
    EXPECT_EQ(ActionValueText(a->name(), value), a->ValueText(value));
  }
  // The schedule's composite words are the ones that name no action.
  EXPECT_EQ(StepVocabulary().size(), AllActions().size() + 2);
  EXPECT_EQ(FindAction(kPostcopyOrPause), nullptr);
  EXPECT_EQ(FindAction(kDowntimeOrAbort), nullptr);
  Result<policy::Step> composite = policy::ParseStep("stalled>=40s downtime-or-abort=900ms", StepVocabulary());
  ASSERT_TRUE(composite.ok()) << composite.status().ToString();
  EXPECT_EQ(composite->actions[0].value, 900);
  EXPECT_EQ(composite->ToString(), "stalled>=40s downtime-or-abort=900ms");
  EXPECT_FALSE(policy::ParseStep("stalled>=0s abort", StepVocabulary()).ok());
  EXPECT_FALSE(policy::ParseStep("stalled>=40s downtime-or-abort", StepVocabulary()).ok());
  EXPECT_EQ(ActionValueText("set-downtime", 400), " 400 ms");
  EXPECT_EQ(ActionValueText("set-bandwidth", 32 << 20), " 32.0 MiB/s");
  EXPECT_EQ(ActionValueText("set-throttle-level", 30), " 30%");
  EXPECT_EQ(ActionValueText("set-xbzrle-cache", 128 << 20), " 128.0 MiB");
  EXPECT_EQ(ActionValueText("abort", 0), "");
  EXPECT_EQ(ActionValueText("no-such-action", 3), "");
}

TEST(Plugins, ThrottleNeedsAutoConverge) {
  Bed off(7, 2, {{"auto-converge", false}});
  Status st = off.Check("set-throttle-increment");
  EXPECT_EQ(st.code(), StatusCode::kNotSupported);
  EXPECT_NE(st.message().find("not possible here because the migration runs without auto-converge"),
            std::string::npos)
      << st.ToString();
  Bed on(7, 2, {{"auto-converge", true}});
  EXPECT_TRUE(on.Check("set-throttle-initial").ok());
  EXPECT_TRUE(on.Apply("set-throttle-initial", 30).ok());
  EXPECT_TRUE(on.Apply("set-throttle-increment", 25).ok());
  EXPECT_TRUE(on.Apply("set-throttle-max", 80).ok());
  EXPECT_TRUE(on.Apply("set-throttle-tailslow", 1).ok());
  EXPECT_EQ(on.backend.tuning.throttle_initial, 30);
  EXPECT_EQ(on.backend.tuning.throttle_increment, 25);
  EXPECT_EQ(on.backend.tuning.throttle_max, 80);
  EXPECT_EQ(on.backend.tuning.throttle_tailslow, true);
  // -level: the three bounds in one call, so the throttle goes there and stays.
  const size_t calls = on.backend.calls.size();
  EXPECT_TRUE(on.Apply("set-throttle-level", 70).ok());
  EXPECT_EQ(on.backend.calls.size(), calls + 1);
  EXPECT_EQ(on.backend.tuning.throttle_initial, 70);
  EXPECT_EQ(on.backend.tuning.throttle_increment, 70);
  EXPECT_EQ(on.backend.tuning.throttle_max, 70);
  EXPECT_EQ(on.backend.tuning.throttle_trigger, 1) << "applied whatever share of the bandwidth the guest dirties";
  EXPECT_FALSE(on.backend.tuning.downtime_limit_ms);  // nothing else touched
  EXPECT_EQ(on.Apply("set-throttle-max", 100).code(), StatusCode::kInvalidArgument);
  Bed old(5, 0, {{"auto-converge", true}});
  EXPECT_NE(old.Check("set-throttle-tailslow").message().find("needs QEMU 5.1"), std::string::npos);
  Bed older(4, 2, {{"auto-converge", true}});
  EXPECT_TRUE(older.Apply("set-throttle-level", 70).ok());
  EXPECT_FALSE(older.backend.tuning.throttle_trigger) << "QEMU 4.2 has no throttle-trigger-threshold";
}

TEST(Plugins, XbzrleCacheNeedsXbzrleAndAPowerOfTwo) {
  Bed off(7, 2, {{"xbzrle", false}});
  EXPECT_NE(off.Check("set-xbzrle-cache").message().find("without xbzrle"), std::string::npos);
  Bed on(7, 2, {{"xbzrle", true}});
  EXPECT_TRUE(on.Check("set-xbzrle-cache").ok());
  EXPECT_EQ(on.Apply("set-xbzrle-cache", 100 << 20).code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(on.Apply("set-xbzrle-cache", 256 << 20).ok());
  EXPECT_EQ(on.backend.tuning.xbzrle_cache, 256u << 20);
}

TEST(Plugins, DirtyLimitIsDetected) {
  Bed q72(7, 2, {{"auto-converge", true}});
  Status st = q72.Check("set-dirty-limit");
  EXPECT_EQ(st.message(), "set-dirty-limit: not possible here because QEMU 7.2.0 has no dirty-limit "
                          "during migration (QEMU 8.1 and later)");
  Bed no_ring(8, 2, {{"dirty-limit", false}});
  EXPECT_NE(no_ring.Check("set-dirty-limit").message().find("needs KVM's dirty ring"), std::string::npos);
  Bed ok(8, 2, {{"dirty-limit", true}});
  EXPECT_TRUE(ok.Check("set-dirty-limit").ok());
  EXPECT_TRUE(ok.Apply("set-dirty-limit", 32 << 20).ok());
  EXPECT_EQ(ok.backend.tuning.vcpu_dirty_limit, 32u);
  EXPECT_EQ(ok.Apply("set-dirty-limit", 1000).code(), StatusCode::kInvalidArgument);
}

TEST(Plugins, SwitchoverBandwidthNeedsQemu82) {
  Bed q81(8, 1, {{"auto-converge", true}});
  EXPECT_EQ(q81.Check("set-switchover-bandwidth").message(),
            "set-switchover-bandwidth: not possible here because QEMU 8.1.0 has no avail-switchover-bandwidth "
            "(QEMU 8.2 and later)");
  Bed ok(10, 0, {{"auto-converge", true}});
  EXPECT_TRUE(ok.Check("set-switchover-bandwidth").ok());
  EXPECT_TRUE(ok.Apply("set-switchover-bandwidth", 1 << 30).ok());
  EXPECT_EQ(ok.backend.tuning.avail_switchover_bandwidth, 1u << 30);
  EXPECT_TRUE(ok.Apply("set-switchover-bandwidth", 0).ok()) << "0: QEMU's own estimate again";
  EXPECT_EQ(ok.Apply("set-switchover-bandwidth", -1).code(), StatusCode::kInvalidArgument);
}

TEST(Plugins, NothingButPostcopyControlsInPostcopy) {
  Bed b(7, 2, {{"auto-converge", true}, {"xbzrle", true}, {"postcopy-ram", true}});
  b.sample.status = "postcopy-active";
  for (const char* name : {"set-downtime", "set-bandwidth", "set-throttle-initial", "abort",
                           "pause-guest", "start-postcopy", "set-switchover-bandwidth"}) {
    EXPECT_EQ(b.Check(name).code(), StatusCode::kNotSupported) << name;
  }
  Bed no_pc(7, 2, {{"postcopy-ram", false}});
  EXPECT_NE(no_pc.Check("start-postcopy").message().find("started without postcopy-ram"), std::string::npos);
}

TEST(Plugins, ActionsCallTheBackend) {
  Bed b(7, 2, {{"postcopy-ram", true}});
  EXPECT_TRUE(b.Apply("start-postcopy", 0).ok());
  EXPECT_TRUE(b.Apply("pause-guest", 0).ok());
  EXPECT_TRUE(b.Apply("abort", 0).ok());
  EXPECT_TRUE(b.Apply("set-bandwidth", 1 << 30).ok());
  EXPECT_EQ(b.Apply("set-bandwidth", 0).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(b.Apply("set-downtime", -1).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(b.backend.calls, (std::vector<std::string>{"StartPostcopy", "PauseGuest", "Cancel", "SetTuning"}));
  EXPECT_EQ(b.backend.tuning.max_bandwidth, 1u << 30);
}

}  // namespace
}  // namespace vc
