// Shared setup for suite 'qemu': skips (saying why) when QEMU or the guest
// is missing, and logs the accelerator in use.
#pragma once

#include <gtest/gtest.h>

#include <cstdio>
#include <thread>

#include "tests/support/qemu_vm.h"
#include "tests/support/virt_converge_run.h"

namespace vc::testing {

class QemuTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (QemuBinary().empty()) GTEST_SKIP() << "qemu-system-x86_64 is not installed";
    if (GuestKernel().empty()) GTEST_SKIP() << "VC_GUEST_ELF is not set (run through meson test)";
    static bool told = false;
    if (!told) {
      Accel a = ChooseAccel();
      std::fprintf(stderr, "[qemu suite] accelerator %s: %s\n", a.name.c_str(), a.reason.c_str());
      told = true;
    }
  }
};

inline Status CapBandwidth(qmp::Session& s, int64_t bytes_per_second) {
  qmp::MigrationParameters p;
  p.max_bandwidth = bytes_per_second;
  return qmp::MigrateSetParameters(s, p);
}

}  // namespace vc::testing
