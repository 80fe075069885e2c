// HookRefusal: why the destination's hook turned a VM away, as a reason code
// that reaches the migrating side. libvirt passes a hook's refusal on only as
// the text of its error ("Hook script execution failed: … unexpected exit
// status 1: <the hook's stderr>"), so the code travels inside that text in
// one fixed form, written and found here and nowhere else.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "src/hostfit/fitness.h"

namespace vc {

enum class RefusalReason {
  kIncomingMax,         // [Host] IncomingMax migrations arrive already
  kIncomingCost,        // [Host] IncomingCost would be exceeded
  kUnfit,               // the VM cannot run here as its XML asks (a hook older than the kinds below)
  kUnfitCpu,            // its pinning: a CPU the host lacks or another VM holds
  kUnfitNuma,           // a NUMA node set the host lacks
  kUnfitHugepages,      // a page size the host lacks, or too few free pages
  kUnfitLockedMemory,   // more locked memory than the host has
  kUnfitCpuModel,       // a CPU model or feature the host cannot give
};

/// The refusal for \a problem's kind, when a VM does not fit.
RefusalReason UnfitReason(FitnessProblem::Kind problem);

/// The stable code: "incoming.max", "incoming.cost", "fitness",
/// "fitness.cpu", "fitness.numa", "fitness.hugepages",
/// "fitness.locked-memory", "fitness.cpu-model".
std::string_view RefusalCode(RefusalReason reason);

struct HookRefusal {
  RefusalReason reason = RefusalReason::kUnfit;
  std::string message;  // for a person: what is in the way, and the policy's origin

  /// The host is busy, not unfit: the same move may be let in later.
  bool try_later() const {
    return reason == RefusalReason::kIncomingMax || reason == RefusalReason::kIncomingCost;
  }
  /// What the hook prints: "virt-converge [CODE]: MESSAGE".
  std::string ToText() const;
  /// The refusal inside \a error (the hook's own line, or libvirt's error
  /// wrapping it); nullopt when \a error holds none.
  static std::optional<HookRefusal> FindIn(std::string_view error);
};

}  // namespace vc
