// SwitchoverSpeed: how long the final stop-and-copy takes for a given
// number of bytes.
//
// QEMU lifts max-bandwidth for that copy (reference/qemu-libvirt.md §1.5),
// so its speed is the link's and the hosts', not the migration's. An
// operator may state it (SwitchoverBandwidth=: one rate for every size), or
// the host learns it from its own earlier final copies to the same
// destination (LearnSwitchoverBandwidth=).
//
// Learned copies on one link differ several-fold, and by what they held
// more than by their size: copies of pages QEMU had sent before and the
// guest dirtied again run several times faster than copies that are mostly
// bulk pages never sent (a switch-over inside the bulk pass; probably the
// destination allocating each page), and within either kind speed does not
// fall with size (docs/tuning-notes.md). So the learned copies form two
// pools, by whether half or more of a copy was never sent before, and each
// part of a new copy is predicted from its own pool:
//   * half the slowest of the pool's copies at least a quarter its size
//     (half: the link may be busier, and sizes in between were not seen),
//     or half the largest copy's speed beyond four times its size;
//   * re-sent pages with no re-sent copy learned go at the never-sent
//     pool's speed (slower: the prediction errs long); never-sent pages
//     with no never-sent copy learned are unknown (a fast re-sent copy
//     would make them err short).
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
  /// when the copy began (a switch-over inside the bulk pass), which go
  /// slower than re-sent ones. At least this many where no sample saw the
  /// copy begin (a lower bound from QEMU's page counts); unknown for copies
  /// recorded without it.
  std::optional<uint64_t> never_sent;
  double rate() const { return downtime_ms > 0 ? static_cast<double>(bytes) * 1000 / static_cast<double>(downtime_ms) : 0; }
  /// Half or more of it never sent before (unknown counts as re-sent: in
  /// that pool a slow copy only makes predictions err long).
  bool mostly_never_sent() const { return never_sent && *never_sent * 2 >= bytes; }
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

  bool known() const { return stated_ > 0 || learned(); }
  bool learned() const { return !resent_.empty() || !never_sent_.empty(); }

  // Each prediction is for a final copy of `bytes`, `never_sent_share` of
  // them (0..1) pages QEMU had never sent before. A part no pool speaks
  // for, and any part the pools make slower, goes at `least_rate` (bytes/s:
  // the migration's own bandwidth, which the copy is never slower than);
  // with least_rate 0 such a part makes the whole prediction unknown.

  /// Predicted milliseconds; 0 when unknown. Never decreasing in \a bytes.
  double TimeMs(double bytes, double never_sent_share = 0, double least_rate = 0) const;
  /// TimeMs() for the make-up of \a copy (never_sent unknown: re-sent, as
  /// the pools file it).
  double TimeMs(const SwitchoverCopy& copy, double least_rate = 0) const;
  /// bytes/s that prediction amounts to; 0 when unknown.
  double RateFor(double bytes, double never_sent_share = 0, double least_rate = 0) const;
  /// The most bytes such a copy may hold and still take at most \a ms;
  /// 0 when unknown.
  double BytesWithin(double ms, double never_sent_share = 0, double least_rate = 0) const;

  // A copy QEMU may yet switch over with, whose make-up is not known: at
  // most `never_sent_at_most` of its bytes never sent before. The bulk
  // pages unsent now are such a bound, since they only become fewer. The
  // time is its worst make-up's (a prediction is linear in the share, so
  // none or as many as may be).

  /// Predicted milliseconds at the worst make-up; 0 when unknown.
  double WorstTimeMs(double bytes, double never_sent_at_most, double least_rate = 0) const;
  /// The most bytes such a copy may hold and still take at most \a ms at
  /// its worst make-up; 0 when unknown.
  double WorstBytesWithin(double ms, double never_sent_at_most, double least_rate = 0) const;

  /// "1.0 GiB/s stated", or "learned from 3 final copies of 38.1 MiB to
  /// 809.3 MiB, 2 of them mostly pages never sent before".
  std::string Describe() const;
  /// How learned copies are used, in a few words (for logs).
  static constexpr const char* kLearnedRule =
      "half the slowest of those at least a quarter a copy's size, pages never sent before apart";

 private:
  using Pool = std::vector<SwitchoverCopy>;  // by size, ascending
  /// \a pool's time for a copy of \a bytes; 0 when the pool is empty.
  static double PoolTimeMs(const Pool& pool, double bytes);
  /// One part's time: \a pool's, at least \a least_rate's; -1 = unknown.
  static double PartTimeMs(const Pool& pool, double bytes, double least_rate);
  /// The most bytes \a time_ms (never falling with size; 0 = unknown) keeps
  /// within \a ms.
  template <typename TimeFn>
  static double LargestWithin(double ms, const TimeFn& time_ms);

  double stated_ = 0;
  Pool resent_;      // copies mostly of pages sent before (or unknown)
  Pool never_sent_;  // copies half or more of pages never sent before
};

}  // namespace vc
