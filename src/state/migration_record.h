// MigrationRecord: what a follower tells the rest of the host about the
// migration it follows — for `list` and `status` while it runs, and as the
// history record once it has ended.
//
// Files (StatePaths), one writer each (the follower), readers anywhere: the
// live record (the latest state, replaced atomically), its samples (one JSON
// object per line), and the history record (the whole record with its
// outcome).
// A live record whose follower no longer holds its FollowLock is stale (the
// follower died) and is shown as such, never as a running migration.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "src/base/status.h"
#include "src/state/paths.h"
#include "src/state/summary.h"

namespace vc {

struct MigrationRecord {
  std::string id;          // the FollowLock key: domain UUID, or qmp-<socket path>
  std::string vm, uuid;
  std::string direction = "out";
  std::string peer;        // destination, when known ("" otherwise)
  std::string backend;     // "QEMU at unix:…", "libvirt domain vm1 at qemu:///system"
  std::string policy;      // what reacts: "policy (the built-in default and 2 files under /)"
  int64_t pid = 0;         // the follower
  double started_at = 0;   // wall clock, seconds since the epoch
  double updated_at = 0;

  // The latest sample and what the follower did.
  std::string status;
  uint64_t ram_total = 0, remaining = 0, transferred = 0, pass = 0;
  double bandwidth = 0, dirty_rate = 0;  // bytes/s
  uint64_t share = 0;                    // bytes/s of the host's budget; 0 = not sharing
  int64_t expected_downtime_ms = 0, downtime_limit_ms = -1, elapsed_ms = 0;
  int throttle_percent = 0;
  /// Predicted time until QEMU switches over, if the rates hold (the
  /// estimator's); none before the bulk pass ends or when it never will.
  std::optional<int64_t> eta_ms;
  std::vector<ActionRecord> actions;

  /// Filled from the .samples file, or in a history record.
  std::vector<SamplePoint> samples;
  std::optional<MigrationSummary> outcome;  // history only
  bool stale = false;                       // live record, follower gone

  /// Percent of RAM sent, by QEMU's count of what remains.
  double progress() const;
  /// The current reason code: the outcome's once it ended, else the last
  /// action's ("" when none).
  std::string reason_code() const;
  /// The latest sample, as far as the record keeps it (for a live view).
  MigrationSample LatestSample() const;

  Json ToJson() const;
  static MigrationRecord FromJson(const Json& j);
};

/// Writes a follower's record files. Failures are reported, never fatal:
/// a full /run must not stop a migration from being helped.
class RecordWriter {
 public:
  /// Writes no history record where \a paths has no state directory.
  RecordWriter(StatePaths paths, const std::string& id);
  Status Update(const MigrationRecord& r);
  Status AppendSample(const SamplePoint& p);
  /// Writes the history record, then removes the live files (they stay
  /// when the history could not be written).
  Status Finish(const MigrationRecord& r);

  /// History records kept; the oldest beyond go as a new one is written.
  static constexpr size_t kKeepHistory = 1000;

 private:
  StatePaths paths_;
  std::string live_, samples_, socket_;
};

/// The live records, oldest first, stale ones marked.
std::vector<MigrationRecord> ReadLiveRecords(const StatePaths& paths);
/// The live record of \a vm (name, UUID or record id), with its samples.
std::optional<MigrationRecord> FindLiveRecord(const StatePaths& paths, const std::string& vm);
/// The latest history record of \a vm (name, UUID or record id); with
/// \a direction ("out", "in"), the latest of those only.
Result<MigrationRecord> FindHistoryRecord(const StatePaths& paths, const std::string& vm,
                                          const std::string& direction = "");

}  // namespace vc
