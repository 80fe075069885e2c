// StallDetector: "no new minimum of the bytes remaining after a dirty-bitmap
// sync for N passes or T" — the notion of a stall both reactions share.
//
// Only samples right after a sync count as pass ends, and only from pass 2
// on: the bulk first pass proves nothing. A new minimum must beat the old
// one by the tolerance. After a stall is reported the window starts afresh,
// so whatever is done about it gets a fair chance to show its effect.
#pragma once

#include <cstdint>
#include <optional>

#include "src/backend/migration_backend.h"

namespace vc {

struct StallConfig {
  double tolerance = 0.02;  // a new minimum must be this much lower
  int64_t passes = 3;
  int64_t time_ms = 10000;  // 0: passes only
};

/// What a stall looked like when it was seen.
struct Stall {
  uint64_t min_remaining = 0;  // the minimum not beaten
  uint64_t min_pass = 0;       // the pass that set it
  uint64_t passes = 0;         // passes since then
  int64_t ms = 0;              // time since then (or since the last stall)
};

class StallDetector {
 public:
  explicit StallDetector(StallConfig config) : config_(config) {}
  /// New settings (a reloaded policy); the progress so far is kept.
  void set_config(StallConfig config) { config_ = config; }

  /// Feeds a sample; returns the stall when this sample completes one.
  std::optional<Stall> Update(const MigrationSample& s, bool after_sync);
  std::optional<uint64_t> min_remaining() const { return min_remaining_; }

 private:
  StallConfig config_;
  std::optional<uint64_t> min_remaining_;
  uint64_t min_pass_ = 0, passes_since_min_ = 0, last_pass_ = 0;
  int64_t window_start_ms_ = 0;
};

}  // namespace vc
