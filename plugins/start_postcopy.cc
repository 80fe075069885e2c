// start-postcopy: switch a running pre-copy migration to post-copy. Only
// possible when postcopy-ram was enabled on both sides before it started.
#include "plugins/builtin_actions.h"

namespace vc {
namespace {

class StartPostcopy final : public Action {
 public:
  std::string_view name() const override { return "start-postcopy"; }
  std::string_view policy_word() const override { return "postcopy"; }
  policy::ValueKind value_kind() const override { return policy::ValueKind::kNone; }
  Status CheckPossible(const ActionContext& ctx) const override {
    if (!ctx.facts.postcopy_ram) {
      return Status::NotSupported(
          "start-postcopy",
          "not possible here because the migration was started without postcopy-ram");
    }
    if (ctx.sample.in_postcopy()) {
      return Status::NotSupported("start-postcopy", "not possible here because it is in post-copy already");
    }
    return Status::Ok();
  }
  Result<ActionEffect> Effect(const ActionContext&, int64_t) const override {
    ActionEffect e;
    e.starts_postcopy = true;
    return e;
  }
  Status Apply(ActionContext& ctx, const ActionEffect&) const override { return ctx.backend.StartPostcopy(); }
};

}  // namespace

const Action& StartPostcopyAction() {
  static const StartPostcopy kAction;
  return kAction;
}

}  // namespace vc
