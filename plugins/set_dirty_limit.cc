// set-dirty-limit: the per-vCPU dirty page rate QEMU enforces during the
// migration (vcpu-dirty-limit, MiB/s). It slows only the vCPUs that dirty
// memory, unlike auto-converge. Needs QEMU 8.1 and a migration started with
// the dirty-limit capability, which needs KVM's dirty ring
// (-accel kvm,dirty-ring-size=N); both are checked, and said when missing.
#include "plugins/builtin_actions.h"

namespace vc {
namespace {

class SetDirtyLimit final : public ParameterAction {
 public:
  std::string_view name() const override { return "set-dirty-limit"; }
  std::string_view policy_word() const override { return "dirty-limit"; }
  policy::ValueKind value_kind() const override { return policy::ValueKind::kRate; }
  Status CheckPossible(const ActionContext& ctx) const override {
    if (!ctx.facts.passthrough_refusal.empty()) {
      return Status::NotSupported("set-dirty-limit", ctx.facts.passthrough_refusal);
    }
    if (!ctx.facts.QemuAtLeast(8, 1)) {
      return Status::NotSupported(
          "set-dirty-limit", "not possible here because " + ctx.facts.hypervisor +
                                 " has no dirty-limit during migration (QEMU 8.1 and later)");
    }
    if (!ctx.facts.CapabilityOn("dirty-limit")) {
      return Status::NotSupported(
          "set-dirty-limit", "not possible here because the migration runs without the dirty-limit "
                             "capability (it needs KVM's dirty ring, and is set before migrating)");
    }
    if (ctx.sample.in_postcopy()) {
      return Status::NotSupported("set-dirty-limit", "not possible here because the migration is in post-copy");
    }
    return Status::Ok();
  }
  Result<ActionEffect> Effect(const ActionContext&, int64_t bytes_per_second) const override {
    int64_t mib = bytes_per_second >> 20;
    if (mib < 1) {
      return Status::InvalidArgument("set-dirty-limit",
                                     std::to_string(bytes_per_second) + " B/s is below QEMU's 1 MiB/s");
    }
    ActionEffect e;
    e.tuning.vcpu_dirty_limit = static_cast<uint64_t>(mib);  // QEMU's unit: MiB/s per vCPU
    return e;
  }
};

}  // namespace

const Action& SetDirtyLimitAction() {
  static const SetDirtyLimit kAction;
  return kAction;
}

}  // namespace vc
