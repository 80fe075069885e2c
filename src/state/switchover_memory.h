// SwitchoverMemory: how this host's earlier migrations did their final
// stop-and-copy, per destination host.
//
// QEMU lifts max-bandwidth for that last copy (reference/qemu-libvirt.md
// §1.5), so a migration capped at 32 MiB/s may stop the guest for a tenth of
// what QEMU's expected-downtime says. The adaptive mode can use the real
// speed (SwitchoverBandwidth=) but an operator rarely knows it; the host
// does, after one migration: the bytes of each final copy and QEMU's
// downtime for it. What a new copy may take follows from those copies
// (SwitchoverSpeed).
//
// Files: StatePaths::SwitchoverDir()/<destination host>, a line per completed
// migration, "<unix seconds> <bytes> <ms> [<bytes never sent before>]", the
// last kKeep kept (the fourth field is newer: without it, or out of range,
// that share is unknown).
// Lines that do not parse are skipped: a torn or hand-edited file costs
// what it says, never the migration.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "src/base/status.h"
#include "src/control/switchover_speed.h"
#include "src/state/paths.h"

namespace vc {

struct SwitchoverObservation {
  int64_t unix_seconds = 0;
  SwitchoverCopy copy;
};

struct LearnedSwitchover {
  std::vector<SwitchoverCopy> copies;  // the recent ones, oldest first
  std::string path;                    // where they are
};

class SwitchoverMemory {
 public:
  static constexpr int kKeep = 8;
  static constexpr int64_t kMaxAgeSeconds = 30 * 24 * 3600;
  /// Below these an observation says more about QEMU's fixed costs or its
  /// whole-ms clock than about the link: it is not kept.
  static constexpr uint64_t kLeastBytes = 1u << 20;
  static constexpr int64_t kLeastDowntimeMs = 2;
  /// Whether Remember() keeps \a c (both of the above reached).
  static bool Keeps(const SwitchoverCopy& c) { return c.bytes >= kLeastBytes && c.downtime_ms >= kLeastDowntimeMs; }

  explicit SwitchoverMemory(const StatePaths& paths) : dir_(paths.SwitchoverDir()) {}

  /// The file name for a destination: the host of a migration or libvirt
  /// URI ("tcp:10.0.0.2:49152", "qemu+ssh://b/system", "tcp://[fd00::2]"),
  /// or "unknown-destination" when there is none (a followed migration).
  static std::string KeyOf(const std::string& peer);

  /// Adds \a o for \a key, keeping the last kKeep; an observation too
  /// small to mean anything is skipped (OK). The file is replaced by
  /// rename, so readers never see it torn; two followers ending at once
  /// may keep only one of their lines, which costs one observation.
  Status Remember(const std::string& key, const SwitchoverObservation& o) const;

  /// \a key's copies of the last kMaxAgeSeconds before \a now; nullopt
  /// when there is none.
  std::optional<LearnedSwitchover> Recall(const std::string& key, int64_t now) const;

 private:
  std::string dir_;
};

}  // namespace vc
