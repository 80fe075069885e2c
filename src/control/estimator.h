// Estimator: what the samples of a migration say about its future.
//
// QEMU's own numbers are noisy (mbps covers the last 100 ms) or stale
// (dirty-pages-rate and remaining move only at a dirty-bitmap sync), so the
// estimator smooths them: bandwidth from bytes actually sent over windows
// of at least half a second, the dirty rate from each sync. From those it
// predicts what a switch-over now would cost, and whether pre-copy can
// converge at all.
//
// The final stop-and-copy runs without QEMU's rate limit (see
// reference/qemu-libvirt.md §1.5), so when the link is faster than
// max-bandwidth the real downtime is remaining / link speed, not QEMU's
// expected-downtime. That speed may be stated or learned (SwitchoverSpeed,
// which tells bulk pages never sent from re-sent ones); unknown, or slower
// than the migration, it is the migration bandwidth.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>

#include "src/backend/migration_backend.h"
#include "src/control/switchover_speed.h"

namespace vc {

struct Estimates {
  bool valid = false;           // rates measured: a sync after the bulk pass
  double bandwidth = 0;         // bytes/s, smoothed
  bool bandwidth_measured = false;  // from bytes sent (before: QEMU's window)
  double dirty_rate = 0;        // bytes/s as measured (under any throttle)
  /// dirty_rate is the rate sampled in the bulk pass (QMP calc-dirty-rate),
  /// higher than the first sync's: until the next sync.
  bool dirty_rate_sampled = false;
  double unthrottled_dirty_rate = 0;  // what the guest would dirty unthrottled, smoothed
  /// The throttle the last sync's dirty rate was measured under: QEMU's
  /// level over the period it covers, weighted by time (a throttle QEMU
  /// applies at a sync shows in the next one's rate only).
  double measured_throttle_percent = 0;
  /// How much of the remaining bytes each pass leaves: the larger of
  /// dirty/bandwidth and what the last passes really left (QEMU's dirty
  /// rate counts a page once per period, so over long passes it understates
  /// the guest). Pre-copy converges only below 1.
  double ratio = 0;
  double pass_ratio = 0;        // remaining after a sync / after the one before (not
                                // over one that cut the bulk pass short)
  double last_ratio = 0;        // the same two measures at the last sync alone
  /// The last sync cut the bulk pass short: what remains holds bulk pages
  /// never sent, and its pass ratio says little of the guest.
  bool bulk_cut_short = false;
  uint64_t remaining = 0;       // bytes left after the last sync
  double never_sent_share = 0;  // of those, bulk pages never sent (0..1)
  uint64_t floor = 0;           // least remaining after a sync, from pass 2 on
  double floor_never_sent_share = 0;  // the same, at the floor
  uint64_t passes_at_floor = 0; // passes since the floor was last lowered
  double switchover_bandwidth = 0;    // bytes/s of a final copy of what remains
  int64_t downtime_now_ms = 0;  // real downtime if QEMU switched over now
  double floor_switchover_bandwidth = 0;  // the same two at the floor
  int64_t floor_downtime_ms = 0;
  /// The downtime-limit under which QEMU would switch over at the floor.
  int64_t limit_for_floor_ms = 0;
  int throttle_percent = 0;

  /// Predicted time until QEMU switches over under \a limit_ms, if the
  /// ratio holds; nullopt when it never will.
  std::optional<int64_t> ConvergeMs(int64_t limit_ms) const;

  /// "B 32.0 MiB/s, D 96.0 MiB/s (ρ 3.00), remaining 31.9 MiB, floor ..."
  std::string ToString() const;
};

/// The time pre-copy takes from \a remaining bytes, each pass leaving
/// \a ratio of the one before at \a bandwidth bytes/s, until a pass leaves
/// no more than \a goal bytes; nullopt when it never does (ratio >= 0.99).
std::optional<int64_t> PassesMs(double remaining, double ratio, double goal, double bandwidth);

class Estimator {
 public:
  explicit Estimator(SwitchoverSpeed switchover = {}) : switchover_(std::move(switchover)) {}
  void set_switchover(SwitchoverSpeed switchover) { switchover_ = std::move(switchover); }

  /// Feeds one sample of a running migration.
  void Update(const MigrationSample& s, bool after_sync);
  const Estimates& estimates() const { return e_; }

 private:
  SwitchoverSpeed switchover_;
  Estimates e_;
  std::optional<MigrationSample> window_start_;  // where the bandwidth window began
  bool measured_ = false;  // bandwidth from bytes sent, not QEMU's window
  uint64_t last_sync_pass_ = 0;
  // The throttle since the last sync, weighted by time.
  std::optional<int64_t> last_sample_ms_;
  int last_throttle_ = 0;
  double throttle_weighted_ = 0;  // percent x ms
  int64_t throttle_period_ms_ = 0;
  uint64_t last_sync_remaining_ = 0;
  double last_raw_ratio_ = 0;
};

}  // namespace vc
