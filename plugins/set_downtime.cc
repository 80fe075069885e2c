// set-downtime: the downtime limit QEMU switches over at (ms). Takes effect
// at once: QEMU recomputes its threshold every 100 ms.
#include "plugins/builtin_actions.h"

namespace vc {
namespace {

class SetDowntime final : public ParameterAction {
 public:
  std::string_view name() const override { return "set-downtime"; }
  std::string_view policy_word() const override { return "downtime"; }
  policy::ValueKind value_kind() const override { return policy::ValueKind::kMillis; }
  Status CheckPossible(const ActionContext& ctx) const override {
    if (ctx.sample.in_postcopy()) {
      return Status::NotSupported("set-downtime", "not possible here because the migration is in post-copy");
    }
    return Status::Ok();
  }
  Result<ActionEffect> Effect(const ActionContext&, int64_t ms) const override {
    if (ms < 0 || ms > 2000000) {
      return Status::InvalidArgument("set-downtime", std::to_string(ms) + " ms is outside 0..2000000");
    }
    ActionEffect e;
    e.tuning.downtime_limit_ms = ms;
    return e;
  }
};

}  // namespace

const Action& SetDowntimeAction() {
  static const SetDowntime kAction;
  return kAction;
}

}  // namespace vc
