// DefaultReaction: the built-in reaction of `attach` until policy files (and
// the full controller) take over.
//
// A stall is "no new minimum of the bytes remaining after a dirty-bitmap
// sync for N passes or T seconds" (judged from pass 2 on: the bulk pass
// proves nothing). On each stall it raises downtime-limit by a factor, up
// to a maximum; at the maximum it switches to post-copy when postcopy-ram is
// on. When the time budget (proportional to guest RAM) runs out it switches
// to post-copy if it can, and otherwise aborts, saying why.
//
// Pure logic: samples in, decisions out. The caller applies them.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "src/backend/migration_backend.h"
#include "src/base/time.h"
#include "src/control/reaction.h"
#include "src/control/stall_detector.h"

namespace vc {

struct ReactionConfig {
  int stall_passes = 3;                 // passes without a new minimum
  Millis stall_time{10000};             // or this long without one (0: passes only)
  double progress_tolerance = 0.02;     // a new minimum must beat the old by 2 %
  int64_t max_downtime_ms = 2000;       // the downtime-limit ladder stops here
  double downtime_factor = 2.0;         // each step multiplies the limit
  double budget_seconds_per_gib = 64;   // time budget per GiB of guest RAM...
  Millis min_budget{30000};             // ...but at least this
};

class DefaultReaction final : public Reaction {
 public:
  explicit DefaultReaction(ReactionConfig config)
      : config_(config),
        stalls_({config.progress_tolerance, config.stall_passes, config.stall_time.count()}) {}

  /// Feeds one sample; \a after_sync is true when it was taken right after a
  /// dirty-bitmap sync (a MIGRATION_PASS, or a change of pass count).
  /// Returns at most one decision.
  std::optional<Decision> OnSample(const MigrationSample& s, bool after_sync,
                                   const ReactionInputs& in);
  /// Reports the outcome of the last decision, so a failed post-copy switch
  /// falls back to the next step.
  void Applied(const Decision& d, bool ok) override;
  std::vector<Decision> Decide(const MigrationSample& s, bool after_sync,
                               const ReactionInputs& in) override {
    std::optional<Decision> d = OnSample(s, after_sync, in);
    return d ? std::vector<Decision>{*d} : std::vector<Decision>{};
  }
  std::string Describe() const override { return "the built-in reaction"; }

  /// The budget for a guest of \a ram_bytes, in ms.
  int64_t BudgetMs(uint64_t ram_bytes) const;
  const ReactionConfig& config() const { return config_; }

 private:
  ReactionConfig config_;
  StallDetector stalls_;
  bool postcopy_requested_ = false;
  bool postcopy_failed_ = false;
  bool aborted_ = false;
};

}  // namespace vc
