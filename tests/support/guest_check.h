// Checks a dump of the test guest's memory against the pattern it keeps
// (tests/guest/guest_abi.h): proves no page was lost or corrupted by a
// migration.
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "src/base/status.h"
#include "tests/guest/guest_abi.h"

namespace vc::testing {

struct GuestCheckReport {
  uint64_t pages_checked = 0;
  uint64_t bad_pages = 0;
  std::string first_problems;  // up to a few, in words
};

/// \a data is the data region (status.data_pages pages from
/// VC_GUEST_DATA_START) of a stopped guest whose status block is \a status.
GuestCheckReport CheckGuestMemory(const vc_guest_status& status, std::span<const uint8_t> data);

}  // namespace vc::testing
