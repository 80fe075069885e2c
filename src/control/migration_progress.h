// MigrationProgress: what one sample of a migration means, for the
// follower (`attach`) and the simulator alike, so that what `simulate`
// predicts is what `attach` does.
//
// Pure: samples in, meanings out. It tells whether a sample follows a
// dirty-bitmap sync, keeps the few earlier samples the end needs, and at the
// end gives the outcome, the statistics and what the final copy witnessed
// of the switch-over speed.
#pragma once

#include <cstdint>
#include <optional>

#include "src/backend/migration_backend.h"
#include "src/backend/migration_outcome.h"
#include "src/control/switchover_speed.h"

namespace vc {

class MigrationProgress {
 public:
  /// Starts from \a first, the first sample of a running migration (its
  /// pass is the baseline: a sync is a later change of it).
  explicit MigrationProgress(const MigrationSample& first);

  /// Takes \a s in; \a pass_event: the backend reported a pass (a
  /// MIGRATION_PASS or libvirt's iteration event) since the last sample.
  /// True when \a s was taken after a dirty-bitmap sync: an event said so,
  /// or the pass count moved (events can be off, or missed).
  bool Observe(const MigrationSample& s, bool pass_event);

  const MigrationSample& last() const { return last_; }
  bool saw_postcopy() const { return saw_postcopy_; }

  /// How a migration whose last sample is \a end (finished()) ended;
  /// \a aborted_by_us: we aborted it, so any end but completion is ours.
  MigrationOutcome OutcomeOf(const MigrationSample& end, bool aborted_by_us) const;
  /// The sample the end statistics come from: QEMU zeroes its counters
  /// when a migration fails or is cancelled, so then the last running one.
  const MigrationSample& StatisticsOf(const MigrationSample& end) const;
  /// What the final copy of a completed pre-copy migration (\a end) says
  /// of the switch-over speed; \a max_bandwidth: QEMU's cap at the end
  /// (the passes no sample saw sent at most that); \a facts: capabilities
  /// (pages sent by other ways, xbzrle or compression, are not counted).
  /// Nothing when it cannot tell, or when the migration ran in post-copy.
  std::optional<SwitchoverCopy> WitnessSwitchover(const MigrationSample& end, std::optional<uint64_t> max_bandwidth,
                                                  const BackendFacts& facts) const;

 private:
  bool CopyBeganAtLastSync(const MigrationSample& end) const;
  std::optional<uint64_t> CopyBytesSinceLastSync(const MigrationSample& end,
                                                 std::optional<uint64_t> max_bandwidth) const;
  std::optional<uint64_t> NeverSentAtLeast(const MigrationSample& end, const BackendFacts& facts) const;

  MigrationSample last_;
  uint64_t last_pass_ = 0;
  bool saw_postcopy_ = false;
  std::optional<MigrationSample> last_running_;
  /// The last running sample with something left to send: QEMU answers a
  /// query-migrate it held through the final copy while still "active",
  /// with nothing left, and that one is not from before the copy.
  std::optional<MigrationSample> last_before_copy_;
  std::optional<MigrationSample> last_sync_;  // the last taken after a sync
};

}  // namespace vc
