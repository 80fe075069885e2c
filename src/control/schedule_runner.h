// ScheduleRunner: runs a policy's [Schedule] and [Budget] on a live
// migration, step by step, as policy.d files describe (virt-converge.policy(5)):
//
//   start              at the first sample of a running migration
//   stall>=N           when the stall detector ([Stall]) has seen N stalls
//   iteration>L        VDSM's rule: in file order, one per new pass, the
//                      first new pass k > L (k counted from the first sample)
//   elapsed>=T[/GiB]   when the migration has run T (times the data size)
//   expected-downtime>T  at a pass end where QEMU predicts more than T
//   no-progress>=T     when remaining has not dropped below the previous
//                      sample for T (KubeVirt's progress timeout)
//   after-previous>=T  T after the step before it fired (the first step: T
//                      after the start), so steps can ramp (KubeVirt's
//                      dynamic downtime)
//   stalled>=T         KubeVirt's stall detector (VEP 248), at pass ends:
//                      the pass's dirty set is at least (1 - Stall.Tolerance)
//                      of the lowest set from T ago or earlier; the step then
//                      waits for a local minimum, a set within the tolerance
//                      of the lowest seen
//
// Composite actions: postcopy-or-pause, and downtime-or-abort=T (KubeVirt's
// action on a stall: the downtime the dirty set implies at the bandwidth,
// smoothed as KubeVirt does, at most T where it implies up to 1.5 T; else
// abort).
//
// Every step fires at most once; after abort, or a post-copy switch that
// worked, nothing more fires. Reload() swaps the policy and keeps the
// progress (stall count, steps already fired, matched by their text), so a
// changed file takes effect at the next decision.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "src/control/reaction.h"
#include "src/control/stall_detector.h"
#include "src/policy/policy.h"

namespace vc {

class ScheduleRunner final : public Reaction {
 public:
  ScheduleRunner(policy::Policy p, std::string description);

  /// Takes a new policy; progress so far is kept.
  void Reload(policy::Policy p, std::string description);
  std::vector<Decision> Decide(const MigrationSample& s, bool after_sync,
                               const ReactionInputs& in) override;
  void Applied(const Decision& d, bool ok) override;
  std::string Describe() const override { return description_; }

  int stalls() const { return stalls_; }

 private:
  void Fire(const policy::Step& step, const MigrationSample& s, const std::string& why, const ReactionInputs& in,
            std::vector<Decision>* out);
  /// kDowntimeOrAbort with limit \a limit_ms, at sample \a s.
  Decision DowntimeOrAbort(int64_t limit_ms, const MigrationSample& s, const std::string& reason) const;
  /// The lowest dirty set of the pass ends at or before \a t_ms, if any.
  std::optional<uint64_t> LowestSetUntil(int64_t t_ms) const;
  /// " and RAM gone through 3.0 times (Copies=3)" when Copies= is set.
  std::string Copies(const MigrationSample& s) const;
  void FinalAction(const MigrationSample& s, int64_t budget, const ReactionInputs& in,
                   std::vector<Decision>* out);

  policy::Policy p_;
  std::string description_;
  std::map<std::string, int64_t> fired_;  // steps by their text: when they fired (ms)
  bool started_ = false, ended_ = false, budget_fired_ = false;

  StallDetector detector_;
  int stalls_ = 0;
  // VDSM iterations
  uint64_t initial_pass_ = 0, last_iteration_pass_ = 0;
  // KubeVirt progress
  std::optional<uint64_t> previous_remaining_;
  int64_t progress_at_ms_ = 0;
  // KubeVirt's stall detector: each pass end from pass 2 on (time, the
  // lowest dirty set up to it), the stalled>= steps that saw their stall,
  // and its smoothed bandwidth.
  struct PassEnd {
    int64_t t_ms;
    uint64_t lowest;
  };
  std::vector<PassEnd> pass_ends_;
  std::set<std::string> stalled_;
  double bandwidth_ewma_ = 0;
};

}  // namespace vc
