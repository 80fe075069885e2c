// set-switchover-bandwidth: the speed QEMU assumes for the final
// stop-and-copy when it judges whether what remains fits downtime-limit
// (avail-switchover-bandwidth, bytes/s; QEMU 8.2 and later). QEMU copies
// the last bytes without max-bandwidth's cap, so with the real speed told
// downtime-limit means real downtime again. 0 gives QEMU back its own
// estimate. Takes effect at QEMU's next check (every 100 ms).
#include "plugins/builtin_actions.h"

namespace vc {
namespace {

class SetSwitchoverBandwidth final : public ParameterAction {
 public:
  std::string_view name() const override { return "set-switchover-bandwidth"; }
  std::string_view policy_word() const override { return "switchover-bandwidth"; }
  policy::ValueKind value_kind() const override { return policy::ValueKind::kRate; }
  Status CheckPossible(const ActionContext& ctx) const override {
    if (!ctx.facts.passthrough_refusal.empty()) {
      return Status::NotSupported("set-switchover-bandwidth", ctx.facts.passthrough_refusal);
    }
    if (!ctx.facts.QemuAtLeast(8, 2)) {
      return Status::NotSupported("set-switchover-bandwidth",
                                  "not possible here because " + ctx.facts.hypervisor +
                                      " has no avail-switchover-bandwidth (QEMU 8.2 and later)");
    }
    if (ctx.sample.in_postcopy()) {
      return Status::NotSupported("set-switchover-bandwidth",
                                  "not possible here because the migration is in post-copy");
    }
    return Status::Ok();
  }
  Result<ActionEffect> Effect(const ActionContext&, int64_t bytes_per_second) const override {
    if (bytes_per_second < 0) {
      return Status::InvalidArgument("set-switchover-bandwidth",
                                     std::to_string(bytes_per_second) + " B/s is negative");
    }
    ActionEffect e;
    e.tuning.avail_switchover_bandwidth = static_cast<uint64_t>(bytes_per_second);
    return e;
  }
};

}  // namespace

const Action& SetSwitchoverBandwidthAction() {
  static const SetSwitchoverBandwidth kAction;
  return kAction;
}

}  // namespace vc
