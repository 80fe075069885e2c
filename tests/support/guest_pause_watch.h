// GuestPauseWatch: a migration as the test guest lives it. While the
// migration runs it polls the guest's heartbeat (guest_abi.h) on the source
// and, once the destination runs, there: the guest's pause at the switch-over
// is from the last beat seen on the source to the first seen on the
// destination, by the host's clock, to within the polling period (a beat
// counts from when it was asked for on the source, and from the reply on
// the destination: the longer side of the doubt). It counts
// the beats too: the guest milliseconds run, its work, against the wall time.
#pragma once

#include <atomic>
#include <optional>
#include <thread>

#include "qmp/session.h"
#include "src/base/time.h"

namespace vc::testing {

class GuestPauseWatch {
 public:
  struct Report {
    /// The switch-over as the guest lived it; none when it never ran on
    /// the destination while watched.
    std::optional<double> pause_ms;
    /// The longest stall seen while the guest still ran on the source (a
    /// throttle's sleep, a paused guest that was resumed).
    double longest_source_stall_ms = 0;
    uint64_t beats = 0;   // guest milliseconds run while watched, both sides
    double wall_ms = 0;   // how long it watched
    /// The share of the wall time the guest ran (its work, 1 = unharmed).
    double RunShare() const { return wall_ms > 0 ? static_cast<double>(beats) / wall_ms : 0; }
  };

  /// Starts polling every \a every. \a src and \a dst are the watch's own
  /// until Stop(): nothing else may use them meanwhile.
  GuestPauseWatch(qmp::Session& src, qmp::Session& dst, Millis every = Millis(5));
  ~GuestPauseWatch();
  GuestPauseWatch(const GuestPauseWatch&) = delete;
  GuestPauseWatch& operator=(const GuestPauseWatch&) = delete;

  /// Whether the guest has run on the destination yet (the pause is known).
  bool ResumedOnDestination() const { return resumed_; }
  /// Stops polling and reports. Call once.
  Report Stop();

 private:
  void Run();

  qmp::Session& src_;
  qmp::Session& dst_;
  const Millis every_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> resumed_{false};
  Report report_;
  std::thread thread_;
};

}  // namespace vc::testing
