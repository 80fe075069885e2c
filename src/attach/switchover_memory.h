// SwitchoverMemory: how fast this host's earlier migrations did their final
// stop-and-copy, per destination host.
//
// QEMU lifts max-bandwidth for that last copy (reference/qemu-libvirt.md
// §1.5), so a migration capped at 32 MiB/s may stop the guest for a tenth of
// what QEMU's expected-downtime says. The adaptive mode can use the real
// speed (SwitchoverBandwidth=) but an operator rarely knows it; the host
// does, after one migration: bytes of the final copy / QEMU's downtime. Each
// such figure is a lower bound of the link's speed (the downtime also covers
// stopping the guest, device state and the restart on the destination, which
// weigh most in a small copy), so the recall takes the highest recent one;
// the follower then assumes half of it, for a link busier than it was.
//
// Files: <state>/switchover/<destination host>, a line per completed
// migration, "<unix seconds> <bytes> <downtime ms>", the last kKeep kept.
// Lines that do not parse are skipped: a torn or hand-edited file costs
// what it says, never the migration.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "src/base/status.h"

namespace vc {

struct SwitchoverObservation {
  int64_t unix_seconds = 0;
  uint64_t bytes = 0;       // sent while the guest was stopped
  int64_t downtime_ms = 0;  // QEMU's downtime
  double rate() const { return downtime_ms > 0 ? static_cast<double>(bytes) * 1000 / downtime_ms : 0; }
};

struct LearnedSwitchover {
  double rate = 0;        // bytes/s: the highest recent observation
  int observations = 0;   // how many were recent
  std::string path;       // where they are
};

class SwitchoverMemory {
 public:
  static constexpr int kKeep = 8;
  static constexpr int64_t kMaxAgeSeconds = 30 * 24 * 3600;
  /// Below these an observation says more about QEMU's fixed costs than
  /// about the link: it is not kept.
  static constexpr uint64_t kLeastBytes = 1u << 20;
  static constexpr int64_t kLeastDowntimeMs = 5;

  explicit SwitchoverMemory(std::string state_dir) : dir_(std::move(state_dir) + "/switchover") {}

  /// The file name for a destination: the host of a migration or libvirt
  /// URI ("tcp:10.0.0.2:49152", "qemu+ssh://b/system", "tcp://[fd00::2]"),
  /// or "unknown-destination" when there is none (a followed migration).
  static std::string KeyOf(const std::string& peer);

  /// Adds \a o for \a key, keeping the last kKeep; an observation too
  /// small to mean anything is skipped (OK). The file is replaced by
  /// rename, so readers never see it torn; two followers ending at once
  /// may keep only one of their lines, which costs one observation.
  Status Remember(const std::string& key, const SwitchoverObservation& o) const;

  /// The highest rate among \a key's observations of the last
  /// kMaxAgeSeconds before \a now; nullopt when there is none.
  std::optional<LearnedSwitchover> Recall(const std::string& key, int64_t now) const;

 private:
  std::string dir_;
};

}  // namespace vc
