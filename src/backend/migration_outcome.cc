#include "src/backend/migration_outcome.h"

#include <array>
#include <utility>

namespace vc {
namespace {

constexpr std::array<std::pair<MigrationOutcome, std::string_view>, 9> kNames = {{
    {MigrationOutcome::kCompleted, "completed"},
    {MigrationOutcome::kCompletedPostcopy, "completed-postcopy"},
    {MigrationOutcome::kAborted, "aborted"},
    {MigrationOutcome::kCancelled, "cancelled"},
    {MigrationOutcome::kFailed, "failed"},
    {MigrationOutcome::kNotStarted, "not-started"},
    {MigrationOutcome::kDetached, "detached"},
    {MigrationOutcome::kLost, "lost"},
    {MigrationOutcome::kTimeout, "timeout"},
}};

}  // namespace

std::string_view OutcomeName(MigrationOutcome o) {
  for (const auto& [value, name] : kNames) {
    if (value == o) return name;
  }
  return "?";
}

std::optional<MigrationOutcome> ParseOutcome(std::string_view name) {
  for (const auto& [value, n] : kNames) {
    if (n == name) return value;
  }
  return std::nullopt;
}

}  // namespace vc
