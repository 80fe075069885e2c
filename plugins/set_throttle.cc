// set-throttle-initial / -increment / -max / -tailslow, and -level (all
// three bounds at once, to hold the throttle at one level): auto-converge's
// CPU throttle, changed while the migration runs. QEMU reads them at its next
// dirty-bitmap sync, so they take effect then, not at once. Without the
// auto-converge capability they would never engage: that is said, not done.
#include "plugins/builtin_actions.h"

namespace vc {
namespace {

enum class ThrottleField { kInitial, kIncrement, kMax, kTailslow, kLevel };

class SetThrottle final : public ParameterAction {
 public:
  SetThrottle(std::string_view name, std::string_view word, ThrottleField field)
      : name_(name), word_(word), field_(field) {}
  std::string_view name() const override { return name_; }
  std::string_view policy_word() const override { return word_; }
  policy::ValueKind value_kind() const override {
    return field_ == ThrottleField::kTailslow ? policy::ValueKind::kBool : policy::ValueKind::kPercent;
  }

  Status CheckPossible(const ActionContext& ctx) const override {
    if (!ctx.facts.passthrough_refusal.empty()) {
      return Status::NotSupported(name_, ctx.facts.passthrough_refusal);
    }
    if (!ctx.facts.CapabilityOn("auto-converge")) {
      return Status::NotSupported(
          name_, "not possible here because the migration runs without auto-converge, so QEMU "
                 "never throttles (capabilities cannot change once it runs)");
    }
    if (field_ == ThrottleField::kTailslow && !ctx.facts.QemuAtLeast(5, 1)) {
      return Status::NotSupported(name_, "not possible here because cpu-throttle-tailslow needs QEMU 5.1");
    }
    if (ctx.sample.in_postcopy()) {
      return Status::NotSupported(name_, "not possible here because the migration is in post-copy");
    }
    return Status::Ok();
  }

  Result<ActionEffect> Effect(const ActionContext& ctx, int64_t value) const override {
    ActionEffect e;
    MigrationTuning& t = e.tuning;
    if (field_ == ThrottleField::kTailslow) {
      t.throttle_tailslow = value != 0;
      return e;
    }
    if (value < 1 || value > 99) {
      return Status::InvalidArgument(name_, std::to_string(value) + "% is outside 1%..99%");
    }
    if (field_ == ThrottleField::kLevel) {
      // One migrate-set-parameters: QEMU's next throttle step goes to the
      // level (initial when it starts, min(now + increment, max) after) and
      // stays there.
      t.throttle_initial = t.throttle_max = t.throttle_increment = value;
      // QEMU steps the throttle only after two sync periods in which the
      // guest dirtied more than throttle-trigger-threshold of what was
      // sent; the level was asked because the guest is too fast, whatever
      // that share is.
      if (ctx.facts.QemuAtLeast(5, 0)) t.throttle_trigger = kThrottleLevelTrigger;
      return e;
    }
    (field_ == ThrottleField::kInitial     ? t.throttle_initial
     : field_ == ThrottleField::kIncrement ? t.throttle_increment
                                           : t.throttle_max) = value;
    return e;
  }

 private:
  std::string_view name_, word_;
  ThrottleField field_;
};

}  // namespace

const Action& SetThrottleInitialAction() {
  static const SetThrottle kAction("set-throttle-initial", "throttle-initial", ThrottleField::kInitial);
  return kAction;
}
const Action& SetThrottleIncrementAction() {
  static const SetThrottle kAction("set-throttle-increment", "throttle-increment", ThrottleField::kIncrement);
  return kAction;
}
const Action& SetThrottleMaxAction() {
  static const SetThrottle kAction("set-throttle-max", "throttle-max", ThrottleField::kMax);
  return kAction;
}
const Action& SetThrottleLevelAction() {
  static const SetThrottle kAction("set-throttle-level", "throttle", ThrottleField::kLevel);
  return kAction;
}
const Action& SetThrottleTailslowAction() {
  static const SetThrottle kAction("set-throttle-tailslow", "throttle-tailslow", ThrottleField::kTailslow);
  return kAction;
}

}  // namespace vc
