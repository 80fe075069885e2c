// The policy model: every setting a drop-in can make, with its default and
// the file:line it came from. See man/virt-converge.policy.5.md.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "src/base/status.h"
#include "src/policy/action_words.h"
#include "src/policy/diagnostics.h"

namespace vc::policy {

/// A value and where it came from (a default until a file sets it).
template <typename T>
struct Setting {
  T value;
  Origin origin;
  Setting(T v = T()) : value(std::move(v)) {}  // NOLINT: defaults read naturally
  void Set(T v, Origin o) {
    value = std::move(v);
    origin = std::move(o);
  }
};

enum class Compression { kNone, kXbzrle, kZlib, kZstd };
enum class FinalAction { kNone, kAbort, kPostcopy, kPause, kPostcopyOrPause };
enum class DestinationMode { kRefuse, kAdapt, kIgnore };
/// How [Host] OutgoingBandwidth is split (src/coord/shares.h says how each works).
enum class BandwidthSplit { kEqual, kClosestFirst, kStatic };
enum class DataUnit { kGiB, kGBRoundedUp };  // KubeVirt counts decimal GB, rounded up

/// When a schedule step fires.
struct Condition {
  enum class Kind {
    kStart,             // when the migration starts
    kStall,             // the N-th stall the detector sees
    kIteration,         // the first new pass k > N, one step per new pass (VDSM)
    kElapsed,           // time since start, optionally per GiB of data
    kExpectedDowntime,  // QEMU predicts more downtime than this (ms)
    kNoProgress,        // remaining not below the previous sample for this long
    kAfterPrevious,     // this long after the step before it fired (the first: after the start)
    kStalled,           // KubeVirt's stall (VEP 248) for this long, then at a local minimum of remaining
  } kind = Kind::kStart;
  uint64_t count = 0;   // kStall, kIteration
  int64_t ms = 0;       // kElapsed, kExpectedDowntime, kNoProgress, kAfterPrevious, kStalled
  bool per_gib = false;  // kElapsed: ms is per GiB of data
  std::string ToString() const;
};

/// One action of a step: the action \a name (plugins/registry.cc), with its
/// Step= word and value kind, as the vocabulary it was parsed with says.
struct StepAction {
  std::string name;   // set-downtime, set-bandwidth, set-throttle-initial, ... abort
  int64_t value = 0;  // ms, bytes/s, percent, bytes or 0/1
  std::string word;   // "downtime"; empty: shown by its name
  ValueKind kind = ValueKind::kNone;
  std::string ToString() const;
};

struct Step {
  Condition when;
  std::vector<StepAction> actions;
  Origin origin;
  std::string ToString() const;  // the Step= value that means the same
};

/// A closed or open range of a VM property.
struct Range {
  std::optional<uint64_t> min, max;
  bool Contains(uint64_t v) const { return (!min || v >= *min) && (!max || v <= *max); }
};

/// The [Match] section of one file: all given conditions must hold.
struct Match {
  std::vector<std::string> names;   // shell globs
  std::vector<std::string> uuids;
  std::optional<Range> memory;      // bytes
  std::optional<Range> vcpus;
  std::optional<bool> pinned, numa, hugepages;
  std::vector<std::pair<std::string, std::string>> metadata;
  bool empty() const;
};

/// What is known about a VM when its policy is resolved.
struct VmFacts {
  std::string name, uuid;
  std::optional<uint64_t> memory;   // bytes
  std::optional<uint64_t> vcpus;
  std::optional<bool> pinned, numa, hugepages;
  std::vector<std::pair<std::string, std::string>> metadata;
};

/// True when \a facts satisfy \a m. A condition on a fact that is unknown
/// does not match.
bool Matches(const Match& m, const VmFacts& facts);

struct Policy {
  // [Start]: applied when virt-converge starts the migration itself.
  Setting<bool> auto_converge{false};
  Setting<int64_t> throttle_initial{20}, throttle_increment{10}, throttle_max{99};  // percent
  Setting<bool> throttle_tailslow{false};
  Setting<Compression> compression{Compression::kNone};
  Setting<uint64_t> xbzrle_cache{64ull << 20};
  Setting<int64_t> compression_level{1};
  Setting<int64_t> multifd_channels{0};  // 0 = no multifd
  Setting<bool> postcopy{false};
  Setting<bool> postcopy_preempt{false};  // page requests on a channel of their own
  Setting<bool> dirty_limit{false};       // the dirty-limit capability (QEMU 8.1+, KVM dirty ring)
  Setting<uint64_t> bandwidth{0};        // bytes/s; 0 = leave QEMU's/libvirt's
  Setting<uint64_t> postcopy_bandwidth{0};
  Setting<int64_t> downtime{300};        // initial downtime-limit, ms
  /// Start where the VM's last migration from this host ended (the
  /// downtime-limit, throttle and post-copy it needed), within the limits
  /// below; for migrations started by others too.
  Setting<bool> from_history{false};

  // [Stall]: what counts as progress.
  Setting<int64_t> tolerance{2};         // percent a new minimum must beat the old by
  Setting<int64_t> stall_passes{3};
  Setting<int64_t> stall_time{10000};    // ms; 0 = passes only

  // [Budget]: how long a migration may take, and what then.
  Setting<int64_t> budget_per_gib{64000};       // ms per GiB of RAM
  Setting<int64_t> budget_per_disk_gib{0};      // ms per GiB of copied disk
  Setting<int64_t> budget_minimum{30000};       // ms
  /// Not used up before the migration has gone through the guest's RAM this
  /// many times (the bulk pass is one): the budget stretches with a slow
  /// link. 0 = time only.
  Setting<int64_t> budget_copies{0};
  Setting<uint64_t> data_floor{0};              // bytes: count at least this much data
  Setting<DataUnit> data_unit{DataUnit::kGiB};
  Setting<FinalAction> final_action{FinalAction::kAbort};

  // [Schedule]
  Setting<std::vector<Step>> steps;

  // [Adaptive]: the controller's own steps between the schedule's (off
  // unless a file turns it on; the vendor default does).
  Setting<bool> adaptive{false};
  Setting<int64_t> adaptive_max_downtime{2000};  // ms of real downtime it may allow
  Setting<uint64_t> switchover_bandwidth{0};      // bytes/s of the final copy; 0 = unknown
  /// With SwitchoverBandwidth unknown, use half the best speed this host's
  /// recent final copies to the same destination reached (attach/switchover_memory.h).
  Setting<bool> learn_switchover{false};
  Setting<bool> adaptive_throttle{true};          // may raise auto-converge's throttle
  Setting<int64_t> adaptive_max_throttle{90};     // percent
  Setting<bool> adaptive_dirty_limit{true};       // may use dirty-limit (QEMU 8.1+)
  Setting<int64_t> adaptive_patience{2};          // passes a step gets to show its effect
  Setting<FinalAction> adaptive_escalate{FinalAction::kPostcopyOrPause};  // when no lever is left
  /// Post-copy in the bulk pass, where the migration allows it, when
  /// pre-copy would take much longer (AdaptiveMode::EarlyPostcopy).
  Setting<bool> adaptive_early_postcopy{false};

  // [Control]
  Setting<bool> allow_passthrough{false};  // QMP passthrough taints a libvirt domain

  // [Host]: host-wide: sharing among outgoing migrations, and the destination hook.
  Setting<uint64_t> host_bandwidth{0};      // outgoing budget, bytes/s; 0 = unlimited
  Setting<BandwidthSplit> bandwidth_split{BandwidthSplit::kEqual};
  Setting<int64_t> cost_budget{4};          // outgoing: a VM costs 1 plus 1 per disk it copies
  Setting<int64_t> incoming_max{2};
  Setting<int64_t> incoming_cost{4};
  Setting<DestinationMode> destination{DestinationMode::kRefuse};
  Setting<bool> allow_non_migratable_cpu{false};  // accept <cpu migratable='off'> here
};

/// Parses one Step= value ("stall>=2 downtime=200ms abort"), knowing the
/// actions \a words names (plugins' StepVocabulary()).
Result<Step> ParseStep(std::string_view text, ActionVocabulary words);

}  // namespace vc::policy
