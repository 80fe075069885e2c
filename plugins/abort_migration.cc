// abort: cancel the migration; the guest keeps running on the source.
#include "plugins/builtin_actions.h"

namespace vc {
namespace {

class AbortMigration final : public Action {
 public:
  std::string_view name() const override { return "abort"; }
  std::string_view policy_word() const override { return "abort"; }
  policy::ValueKind value_kind() const override { return policy::ValueKind::kNone; }
  Status CheckPossible(const ActionContext& ctx) const override {
    if (ctx.sample.in_postcopy()) {
      // The destination already runs the guest: cancelling would lose it.
      return Status::NotSupported("abort", "not possible here because the migration is in post-copy");
    }
    return Status::Ok();
  }
  Result<ActionEffect> Effect(const ActionContext&, int64_t) const override {
    ActionEffect e;
    e.cancels_migration = true;
    return e;
  }
  Status Apply(ActionContext& ctx, const ActionEffect&) const override { return ctx.backend.Cancel(); }
};

}  // namespace

const Action& AbortAction() {
  static const AbortMigration kAction;
  return kAction;
}

}  // namespace vc
