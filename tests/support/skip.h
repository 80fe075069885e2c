// When a test may skip. Only for a capability the machine lacks (KVM, systemd
// as PID 1): that is never a failure. Anything the project installs or
// builds itself (QEMU, the guest, the libvirt bed, root in CI) missing means
// the test cannot run: a skip on a developer's machine, a failure where
// CI=true, so a CI run that could not start a suite is never green.
// scripts/test-summary holds every skip of a CI run to the same rule.
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>

namespace vc::testing {

/// How a capability skip's reason starts (scripts/test-summary reads it).
inline constexpr char kMissingCapability[] = "missing machine capability: ";

inline bool SkipsFailHere() {
  const char* ci = std::getenv("CI");
  return ci && std::strcmp(ci, "true") == 0;
}

}  // namespace vc::testing

/// Skips the test: the machine lacks \a why (streamed).
#define VC_SKIP_MISSING_CAPABILITY(why) GTEST_SKIP() << ::vc::testing::kMissingCapability << why

/// The test cannot run for want of \a why (streamed): a skip, or under
/// CI=true a failure. In SetUp() it keeps the test body from running.
#define VC_CANNOT_RUN(why)                                              \
  do {                                                                  \
    if (::vc::testing::SkipsFailHere()) {                               \
      GTEST_FAIL() << "cannot run (a failure where CI=true): " << why;  \
    } else {                                                            \
      GTEST_SKIP() << "cannot run here: " << why;                       \
    }                                                                   \
  } while (0)
