// pause-guest: "suspend workload": stop the vCPUs so nothing is dirtied and
// the migration finishes as a stop-and-copy. The destination resumes the
// guest; if the migration then fails, the caller must resume it on the
// source (the follower does).
#include "plugins/builtin_actions.h"

namespace vc {
namespace {

class PauseGuest final : public Action {
 public:
  std::string_view name() const override { return "pause-guest"; }
  Status CheckPossible(const ActionContext& ctx) const override {
    if (ctx.sample.in_postcopy()) {
      return Status::NotSupported("pause-guest", "not possible here because the migration is in post-copy");
    }
    return Status::Ok();
  }
  Status Apply(ActionContext& ctx, int64_t) const override { return ctx.backend.PauseGuest(); }
};

}  // namespace

const Action& PauseGuestAction() {
  static const PauseGuest kAction;
  return kAction;
}

}  // namespace vc
