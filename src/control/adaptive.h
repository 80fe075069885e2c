// AdaptiveMode: the controller's own steps, taken between a policy's
// scheduled ones ([Adaptive] in virt-converge.policy(5)).
//
// At every pass end it asks the estimator whether pre-copy will reach the
// downtime limit by itself within the budget. When it will, but only after
// so long that a switch-over at the floor saves ten times the downtime it
// adds, it takes step 1 below (and nothing else). When it will not, it
// takes the least disruptive step that suffices, in this order:
//
//   1. a larger downtime-limit, as long as the real downtime it buys stays
//      within MaxDowntime (the final copy runs at the switch-over
//      bandwidth, so a limit in QEMU's terms may be larger than that;
//      on QEMU 8.2+ QEMU is told that speed, avail-switchover-bandwidth,
//      and the limit is the real downtime, never above MaxDowntime);
//      when the budget is too short to wait for the next pass, one that
//      switches over now;
//   2. dirty-limit (QEMU 8.1+) or auto-converge's throttle at a level
//      computed from the measured ratio (to bring it to 0.15, or lower
//      when the budget is short), not QEMU's blind increments;
//   3. Escalate= (post-copy, pause, abort), once throttling cannot help: at
//      its maximum, without effect (a hot set rewritten within one throttle
//      slice), or with too little budget left for pre-copy at all.
//
// With EarlyPostcopy=, where the migration allows post-copy, it may take
// post-copy before all of that, in the bulk pass (EarlyPostcopy below).
//
// It lowers its throttle again when the dirty rate has fallen so far that
// the throttle is no longer needed. Each step waits Patience passes for its
// effect. Every decision carries the estimates it was made from.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "src/control/estimator.h"
#include "src/control/reaction.h"
#include "src/policy/policy.h"

namespace vc {

struct AdaptiveConfig {
  int64_t base_downtime_ms = 300;     // the downtime the admin accepts anyway
  int64_t max_downtime_ms = 2000;     // real downtime the mode may allow
  SwitchoverSpeed switchover;         // unknown = the migration bandwidth
  bool throttle = true;
  int max_throttle = 90;              // percent
  bool dirty_limit = true;
  uint64_t patience = 2;              // passes
  policy::FinalAction escalate = policy::FinalAction::kPostcopyOrPause;
  bool early_postcopy = false;

  /// \a learned counts when the policy learns (LearnSwitchoverBandwidth=)
  /// and states no SwitchoverBandwidth=.
  static AdaptiveConfig From(const policy::Policy& p, const SwitchoverSpeed& learned = {});

  /// The avail-switchover-bandwidth to start a migration with where it
  /// cannot be changed later (bytes/s): the speed of a final copy that
  /// takes the policy's downtime at its slowest make-up. 0 (leave QEMU its
  /// own estimate) when no speed is known, or when the migration is not
  /// capped by a \a max_bandwidth well below that speed: uncapped, QEMU
  /// measures the link itself, and a speed below the migration's would
  /// only hold the switch-over back.
  uint64_t StartSwitchoverBandwidth(std::optional<uint64_t> max_bandwidth) const;
};

class AdaptiveMode {
 public:
  explicit AdaptiveMode(AdaptiveConfig config)
      : config_(config), estimator_(config.switchover) {}
  /// New settings (a reloaded policy); what was learnt so far is kept.
  void set_config(AdaptiveConfig config) {
    estimator_.set_switchover(config.switchover);
    config_ = std::move(config);
  }

  /// Feeds a sample and decides (at pass ends only). \a budget_ms: the
  /// policy's time budget for this migration, if it has one.
  std::vector<Decision> Decide(const MigrationSample& s, bool after_sync, const ReactionInputs& in,
                               std::optional<int64_t> budget_ms);
  /// Feeds a sample without deciding (the mode is off, or the migration
  /// was ended by a scheduled step).
  void Observe(const MigrationSample& s, bool after_sync) { estimator_.Update(s, after_sync); }
  void Applied(const Decision& d, bool ok);
  /// Judgements that led to no decision (Reaction::TakeNotes).
  std::vector<std::string> TakeNotes() { return std::exchange(notes_, {}); }
  /// A throttle \a level asked for it at pass \a pass (FromHistory=): it
  /// waits for QEMU to apply and show it as it would for its own, rather
  /// than asking its own level on top; Applied() is told if it failed.
  void NoteThrottleAsked(int level, uint64_t pass);
  const Estimates& estimates() const { return estimator_.estimates(); }
  const AdaptiveConfig& config() const { return config_; }

 private:
  /// The downtime-limit under which QEMU's copy takes the policy's
  /// downtime at the switch-over speed; sets \a in's limit to what it
  /// asked for.
  void Correct(const MigrationSample& s, ReactionInputs* in, std::vector<Decision>* out);
  /// The same on QEMU 8.2+: tells QEMU the switch-over speed of a copy
  /// that takes the policy's downtime (or QEMU's limit, if larger), and
  /// raises downtime-limit to that downtime if it is below; sets \a in's
  /// limit to what it asked for.
  void TellSwitchoverSpeed(const MigrationSample& s, ReactionInputs* in, std::vector<Decision>* out);
  /// Whether QEMU is told the switch-over speed (and the limit is real):
  /// by us as we go, or once at the start.
  bool Telling(const ReactionInputs& in) const {
    if (in.switchover_bandwidth_fixed > 0) return true;
    return in.switchover_bandwidth_possible && config_.switchover.known() && !telling_refused_;
  }
  /// The bytes/s QEMU judges a final copy at: what it was told, or the
  /// migration bandwidth.
  double JudgedRate() const;
  /// max-bandwidth where QEMU has one, else the bandwidth measured.
  double CappedBandwidth(const ReactionInputs& in) const;
  /// Whether the bulk pass is still on, and how many of the bytes QEMU
  /// would switch over with may at most be pages never sent before.
  struct PendingCopy {
    bool in_bulk;
    double never_sent_at_most;
  };
  static PendingCopy CopyBound(const MigrationSample& s);
  /// A larger downtime-limit, if the real downtime it buys fits
  /// MaxDowntime: one that switches over at the floor, or \a now. True when
  /// that is the step (taken, or awaited from QEMU).
  bool TryDowntime(const ReactionInputs& in, const std::string& why, bool now, std::vector<Decision>* out);
  /// TryDowntime where QEMU is told the switch-over speed: the speed of
  /// the copy meant, and a limit of its real downtime.
  bool TryDowntimeTold(const ReactionInputs& in, const std::string& why, bool now, std::vector<Decision>* out);
  /// For a migration converging by itself in \a converge_ms: TryDowntime
  /// at the floor, when the time that saves is worth the downtime it adds.
  bool ShortenSlowConvergence(int64_t converge_ms, const ReactionInputs& in, std::vector<Decision>* out);
  /// For a migration converging by itself in \a converge_ms: a throttle,
  /// once, when the time it saves is worth the guest's CPU it takes.
  bool ThrottleSlowConvergence(const MigrationSample& s, int64_t converge_ms, const ReactionInputs& in,
                               std::vector<Decision>* out);
  /// The throttle level (percent, up to MaxThrottle) that brings a ratio
  /// measured under \a now percent down to \a target_ratio.
  int ThrottleLevel(int now, double ratio, double target_ratio) const;
  bool TryThrottle(const MigrationSample& s, const ReactionInputs& in, double target_ratio, const std::string& why,
                   std::vector<Decision>* out);
  bool TryDirtyLimit(const ReactionInputs& in, double target_ratio, std::vector<Decision>* out);
  void UndoThrottle(const MigrationSample& s, const ReactionInputs& in, std::vector<Decision>* out);
  void Escalate(const MigrationSample& s, const ReactionInputs& in, const std::string& why,
                std::vector<Decision>* out);
  /// EarlyPostcopy=: judged once, at the first sample of the bulk pass
  /// with the guest's dirty rate sampled and the bandwidth measured.
  /// Post-copy from there sends the bulk pages unsent and those sent that
  /// the guest dirtied since, once each; pre-copy by itself sends the rest
  /// of the bulk pass, then passes from what the guest dirtied over it
  /// (at most its RAM: the working set is not known before the first
  /// sync), each leaving dirty/bandwidth of the one before. Post-copy is
  /// taken when pre-copy would take kEarlyPostcopyGain times as long, or
  /// never converge. True when that is the step.
  bool EarlyPostcopy(const MigrationSample& s, const ReactionInputs& in, std::vector<Decision>* out);
  std::string Inputs(const ReactionInputs& in) const;
  /// Whether the last sync's dirty rate was measured under a throttle of
  /// at least \a level (within a point).
  bool MeasuredUnder(int level) const { return estimator_.estimates().measured_throttle_percent + 1 >= level; }

  AdaptiveConfig config_;
  Estimator estimator_;
  // The limit the switch-over correction last set (0 = none), and whether
  // it was set once every page had been sent.
  int64_t corrected_limit_ = 0;
  bool corrected_after_bulk_ = false;
  // avail-switchover-bandwidth as last told (0 = QEMU's own estimate), and
  // whether a switch-over step told it (the correction then leaves it).
  uint64_t told_rate_ = 0;
  bool told_by_step_ = false;
  bool telling_refused_ = false;  // setting it failed once: as before 8.2
  bool ended_ = false;           // escalated: nothing more to do
  bool postcopy_refused_ = false;  // starting post-copy failed once
  bool early_judged_ = false;      // EarlyPostcopy= was judged
  std::vector<std::string> notes_;
  uint64_t wait_until_pass_ = 0; // patience after a step
  int throttle_target_ = 0;      // the level we asked for; 0 = none
  uint64_t throttle_asked_pass_ = 0;
  double ratio_before_throttle_ = 0;
  uint64_t dirty_limit_ = 0;     // bytes/s we asked for; 0 = none
  int64_t waited_at_limit_ = -1; // the limit under which a switch-over was awaited
};

}  // namespace vc
