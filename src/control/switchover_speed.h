// SwitchoverSpeed: how long the final stop-and-copy takes for a given
// number of bytes.
//
// QEMU lifts max-bandwidth for that copy (reference/qemu-libvirt.md §1.5),
// so its speed is the link's and the hosts', not the migration's. An
// operator may state it (SwitchoverBandwidth=: one rate for every size), or
// the host learns it from its own earlier final copies to the same
// destination (LearnSwitchoverBandwidth=).
//
// Learned copies on one link differ by more than size explains: on the
// benchmark's loopback, 38 MiB went at 2.1 GB/s, 301 MiB at 0.40 GB/s and
// 809 MiB at 0.74-0.80 GB/s, each within 10% of its size's repeats. So a
// copy is predicted only from copies like it or larger:
//   * half the slowest of the copies at least a quarter its size (half:
//     the link may be busier, and sizes in between were not seen);
//   * more than four times the largest copy seen, half that copy's speed
//     times sqrt(its size / this size): nothing seen says how far the
//     speed holds, so the further from it, the less it is trusted (from
//     the 38 MiB copy alone, 301 MiB comes out at 0.37 GB/s).
// The time this gives never falls as the size grows (a size past a slow
// copy's quarter keeps that copy's time as its least). Each learned figure
// is itself a lower bound of the link's speed (the downtime also covers
// stopping and restarting the guest), so what is predicted errs long.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace vc {

struct SwitchoverCopy {
  SwitchoverCopy() = default;
  SwitchoverCopy(uint64_t b, int64_t ms, std::optional<uint64_t> unsent = std::nullopt)
      : bytes(b), downtime_ms(ms), never_sent(unsent) {}

  uint64_t bytes = 0;       // sent while the guest was stopped
  int64_t downtime_ms = 0;  // QEMU's downtime for it, + 1 ms for its whole-ms clock
  /// Of bytes, those QEMU had never sent before: bulk pages still unsent
  /// when the copy began (a switch-over inside the bulk pass). On the
  /// benchmark's loopback such copies ran at 0.3-0.6 GB/s where copies of
  /// re-sent pages ran at 1-2.9 GB/s. Unknown for copies recorded without it.
  std::optional<uint64_t> never_sent;
  double rate() const { return downtime_ms > 0 ? static_cast<double>(bytes) * 1000 / static_cast<double>(downtime_ms) : 0; }
};

class SwitchoverSpeed {
 public:
  /// Unknown: callers take the migration's own bandwidth, the safe side.
  SwitchoverSpeed() = default;
  /// One rate for every size (bytes/s); 0 = unknown.
  static SwitchoverSpeed Stated(double rate);
  /// From earlier final copies; copies without bytes or time are ignored,
  /// none at all is unknown.
  static SwitchoverSpeed Learned(std::vector<SwitchoverCopy> copies);

  bool known() const { return stated_ > 0 || !copies_.empty(); }
  bool learned() const { return !copies_.empty(); }

  /// Predicted milliseconds for a final copy of \a bytes; 0 when unknown.
  /// Never decreasing in \a bytes.
  double TimeMs(double bytes) const;
  /// bytes/s that prediction amounts to; 0 when unknown.
  double RateFor(double bytes) const;
  /// The most bytes a final copy may hold and still take at most \a ms;
  /// 0 when unknown.
  double BytesWithin(double ms) const;

  /// "1.0 GiB/s stated", or "learned from 3 final copies of 38.1 MiB to 809.3 MiB".
  std::string Describe() const;
  /// How learned copies are used, in a few words (for logs).
  static constexpr const char* kLearnedRule = "half the slowest of those at least a quarter a copy's size";

 private:
  double RawTimeMs(double bytes) const;

  double stated_ = 0;
  std::vector<SwitchoverCopy> copies_;  // by size, ascending
};

}  // namespace vc
