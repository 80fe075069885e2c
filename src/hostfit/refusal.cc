#include "src/hostfit/refusal.h"

#include <array>
#include <utility>

namespace vc {
namespace {

constexpr std::string_view kPrefix = "virt-converge [";
constexpr std::string_view kSuffix = "]: ";
constexpr std::array<std::pair<RefusalReason, std::string_view>, 8> kCodes = {{
    {RefusalReason::kIncomingMax, "incoming.max"},
    {RefusalReason::kIncomingCost, "incoming.cost"},
    {RefusalReason::kUnfit, "fitness"},
    {RefusalReason::kUnfitCpu, "fitness.cpu"},
    {RefusalReason::kUnfitNuma, "fitness.numa"},
    {RefusalReason::kUnfitHugepages, "fitness.hugepages"},
    {RefusalReason::kUnfitLockedMemory, "fitness.locked-memory"},
    {RefusalReason::kUnfitCpuModel, "fitness.cpu-model"},
}};

}  // namespace

RefusalReason UnfitReason(FitnessProblem::Kind problem) {
  using K = FitnessProblem::Kind;
  switch (problem) {
    case K::kPinning:
      return RefusalReason::kUnfitCpu;
    case K::kNuma:
      return RefusalReason::kUnfitNuma;
    case K::kHugepageSize:
    case K::kHugepages:
      return RefusalReason::kUnfitHugepages;
    case K::kLockedMemory:
      return RefusalReason::kUnfitLockedMemory;
    case K::kCpuModel:
      return RefusalReason::kUnfitCpuModel;
  }
  return RefusalReason::kUnfit;
}

std::string_view RefusalCode(RefusalReason reason) {
  for (const auto& [r, code] : kCodes) {
    if (r == reason) return code;
  }
  return "fitness";
}

std::string HookRefusal::ToText() const {
  return std::string(kPrefix) + std::string(RefusalCode(reason)) + std::string(kSuffix) + message;
}

std::optional<HookRefusal> HookRefusal::FindIn(std::string_view error) {
  for (size_t at = error.find(kPrefix); at != std::string_view::npos; at = error.find(kPrefix, at + 1)) {
    const size_t code_at = at + kPrefix.size();
    const size_t end = error.find(kSuffix, code_at);
    if (end == std::string_view::npos) return std::nullopt;
    const std::string_view code = error.substr(code_at, end - code_at);
    for (const auto& [reason, known] : kCodes) {
      if (code != known) continue;
      std::string_view message = error.substr(end + kSuffix.size());
      while (!message.empty() && (message.back() == '\n' || message.back() == ' ')) message.remove_suffix(1);
      return HookRefusal{reason, std::string(message)};
    }
  }
  return std::nullopt;
}

}  // namespace vc
