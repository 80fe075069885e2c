// Monotonic time as the whole project uses it.
#pragma once

#include <chrono>

namespace vc {

using Clock = std::chrono::steady_clock;
using Deadline = Clock::time_point;
using Millis = std::chrono::milliseconds;

/// The wall clock, seconds since the epoch: for records people read
/// (start times), never for measuring durations.
inline double WallClockSeconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

/// Seconds between two monotonic instants, as a double.
inline double SecondsBetween(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

}  // namespace vc
