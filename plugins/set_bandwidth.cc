// set-bandwidth: max-bandwidth in bytes/s. Takes effect at once (QEMU resets
// its rate limiter); ignored in post-copy, where max-postcopy-bandwidth rules.
#include "plugins/builtin_actions.h"

namespace vc {
namespace {

class SetBandwidth final : public ParameterAction {
 public:
  std::string_view name() const override { return "set-bandwidth"; }
  std::string_view policy_word() const override { return "bandwidth"; }
  policy::ValueKind value_kind() const override { return policy::ValueKind::kRate; }
  Status CheckPossible(const ActionContext& ctx) const override {
    if (ctx.sample.in_postcopy()) {
      return Status::NotSupported("set-bandwidth", "not possible here because the migration is in post-copy");
    }
    return Status::Ok();
  }
  Result<ActionEffect> Effect(const ActionContext&, int64_t bytes_per_second) const override {
    if (bytes_per_second <= 0) {
      return Status::InvalidArgument("set-bandwidth", std::to_string(bytes_per_second) + " B/s is not positive");
    }
    ActionEffect e;
    e.tuning.max_bandwidth = static_cast<uint64_t>(bytes_per_second);
    return e;
  }
};

}  // namespace

const Action& SetBandwidthAction() {
  static const SetBandwidth kAction;
  return kAction;
}

}  // namespace vc
