// set-xbzrle-cache: a larger XBZRLE cache (bytes, a power of two), resized by
// QEMU at once. Only useful when the migration runs with xbzrle.
#include "plugins/builtin_actions.h"

namespace vc {
namespace {

class SetXbzrleCache final : public ParameterAction {
 public:
  std::string_view name() const override { return "set-xbzrle-cache"; }
  std::string_view policy_word() const override { return "xbzrle-cache"; }
  policy::ValueKind value_kind() const override { return policy::ValueKind::kSize; }
  Status CheckPossible(const ActionContext& ctx) const override {
    if (!ctx.facts.CapabilityOn("xbzrle")) {
      return Status::NotSupported(
          "set-xbzrle-cache", "not possible here because the migration runs without xbzrle "
                              "compression (capabilities cannot change once it runs)");
    }
    return Status::Ok();
  }
  Result<ActionEffect> Effect(const ActionContext&, int64_t bytes) const override {
    uint64_t b = static_cast<uint64_t>(bytes);
    if (bytes < 4096 || (b & (b - 1)) != 0) {
      return Status::InvalidArgument("set-xbzrle-cache",
                                     std::to_string(bytes) + " bytes is not a power of two of at least 4 KiB");
    }
    ActionEffect e;
    e.tuning.xbzrle_cache = b;
    return e;
  }
};

}  // namespace

const Action& SetXbzrleCacheAction() {
  static const SetXbzrleCache kAction;
  return kAction;
}

}  // namespace vc
