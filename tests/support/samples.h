// Synthetic migration samples for the engine's unit tests.
#pragma once

#include <cstdint>

#include "src/backend/migration_backend.h"

namespace vc::testing {

/// An active pre-copy migration at \a ms with \a remaining bytes left after
/// pass \a pass, of a guest with \a ram bytes.
inline MigrationSample ActiveSample(int64_t ms, uint64_t pass, uint64_t remaining, uint64_t ram,
                                    int64_t expected_downtime_ms = 1000) {
  MigrationSample s;
  s.status = "active";
  s.total_time_ms = ms;
  s.pass = pass;
  s.ram_remaining = remaining;
  s.ram_total = ram;
  s.expected_downtime_ms = expected_downtime_ms;
  return s;
}

/// A pre-copy migration that completed at \a ms after pass \a pass, with
/// \a downtime_ms of downtime (0: not reported).
inline MigrationSample CompletedSample(int64_t ms, uint64_t pass, uint64_t ram, int64_t downtime_ms = 0) {
  MigrationSample s = ActiveSample(ms, pass, 0, ram);
  s.status = "completed";
  if (downtime_ms) s.downtime_ms = downtime_ms;
  return s;
}

}  // namespace vc::testing
