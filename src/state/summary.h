// MigrationSummary: what attach reports when a migration ends (or it stops
// following it).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "src/backend/migration_outcome.h"
#include "src/base/json.h"
#include "src/control/controller.h"
#include "src/control/switchover_speed.h"

namespace vc {

/// One point of the series attach keeps (every sample it took).
struct SamplePoint {
  int64_t t_ms = 0;             // QEMU's total-time
  std::string status;
  uint64_t pass = 0, remaining = 0, transferred = 0;
  double bandwidth = 0, dirty_rate = 0;  // bytes/s
  int64_t expected_downtime_ms = 0;
  int throttle_percent = 0;
};

/// The final copy of a migration completed in pre-copy, beside what the
/// switch-over speed the migration was judged by predicted for it: how a
/// learned speed holds for copies other than those it was learned from.
struct SwitchoverReport {
  SwitchoverCopy copy;  // as remembered (QEMU's downtime + 1 ms)
  /// That speed's time for this copy (its bytes and never-sent share), at
  /// most max-bandwidth's; 0 when neither was known.
  double predicted_ms = 0;
  std::string speed;  // how it was known: SwitchoverSpeed::Describe() or "max-bandwidth"
  /// The real downtime over the predicted; 0 when nothing was predicted.
  double ratio() const { return predicted_ms > 0 ? static_cast<double>(copy.downtime_ms) / predicted_ms : 0; }
  /// "67.0 MiB (35.3 MiB never sent before) in 106 ms, predicted 300 ms by ...".
  std::string ToText() const;
  Json ToJson() const;
  static SwitchoverReport FromJson(const Json& j);
};

struct MigrationSummary {
  /// detached also when no migration had started.
  MigrationOutcome outcome = MigrationOutcome::kLost;
  std::string detail;       // why, in words
  /// Why, as a stable reason code: "<outcome>.<cause>" ("completed.precopy",
  /// "lost.connection", ...), or for an abort the code of the action that
  /// aborted it ("budget.abort"). Listed in virt-converge(8).
  std::string code;
  std::optional<int64_t> total_time_ms, downtime_ms;
  std::optional<uint64_t> passes, bytes_sent, ram_total;
  bool postcopy = false;
  /// Not started because the destination is busy for now (its hook's
  /// IncomingMax or IncomingCost): the same move may be let in later.
  bool try_later = false;
  /// Completed in pre-copy with its final copy known.
  std::optional<SwitchoverReport> switchover;
  std::vector<ActionRecord> actions;
  std::vector<SamplePoint> samples;

  std::string ToText() const;
  Json ToJson() const;
  static MigrationSummary FromJson(const Json& j);
};

Json SamplePointToJson(const SamplePoint& p);
SamplePoint SamplePointFromJson(const Json& j);
Json ActionRecordToJson(const ActionRecord& a);
ActionRecord ActionRecordFromJson(const Json& j);
/// The "actions" and "samples" lists of a summary or a record.
Json ActionsToJson(const std::vector<ActionRecord>& actions);
Json SamplesToJson(const std::vector<SamplePoint>& samples);
/// \a parent's "actions" / "samples"; empty when it has none.
std::vector<ActionRecord> ActionsFromJson(const Json& parent);
std::vector<SamplePoint> SamplesFromJson(const Json& parent);

}  // namespace vc
