// pause-guest: "suspend workload": stop the vCPUs so nothing is dirtied and
// the migration finishes as a stop-and-copy. Once it completes the guest
// must run on the destination (libvirt starts it; plain QEMU keeps it paused
// and the controller starts it there); if the migration fails instead, the
// controller resumes it on the source.
#include "plugins/builtin_actions.h"

namespace vc {
namespace {

class PauseGuest final : public Action {
 public:
  std::string_view name() const override { return "pause-guest"; }
  std::string_view policy_word() const override { return "pause"; }
  policy::ValueKind value_kind() const override { return policy::ValueKind::kNone; }
  Status CheckPossible(const ActionContext& ctx) const override {
    if (ctx.sample.in_postcopy()) {
      return Status::NotSupported("pause-guest", "not possible here because the migration is in post-copy");
    }
    // Never a guest left paused on the destination.
    return ctx.backend.CheckGuestRunsOnDestination();
  }
  Result<ActionEffect> Effect(const ActionContext&, int64_t) const override {
    ActionEffect e;
    e.pauses_guest = true;
    return e;
  }
  Status Apply(ActionContext& ctx, const ActionEffect&) const override { return ctx.backend.PauseGuest(); }
};

}  // namespace

const Action& PauseGuestAction() {
  static const PauseGuest kAction;
  return kAction;
}

}  // namespace vc
