// Where the tests, the demo and the benchmarks find the pieces the build
// makes: the test guest, virt-converge and its hook. Each is, in order, the
// file its override variable names (VC_GUEST_ELF, VC_BINARY,
// VC_HOOK_BINARY), the build or source tree's copy, or the installed one; so a
// program run straight from the build tree needs no environment.
#pragma once

#include <string>

#include "src/base/status.h"

namespace vc::testing {

/// The test guest kernel; NotFound says what to build or set.
Result<std::string> LocateGuestKernel();
/// The virt-converge program.
Result<std::string> LocateVirtConverge();
/// The destination hook program (virt-converge-hook).
Result<std::string> LocateHook();
/// The libvirt suite's two-host bed (tests/tools/libvirt-bed; VC_LIBVIRT_BED).
Result<std::string> LocateLibvirtBed();
/// Two network namespaces joined by a link (tests/tools/netns-link; VC_NETNS_LINK).
Result<std::string> LocateNetnsLink();

}  // namespace vc::testing
