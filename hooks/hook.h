// The libvirt qemu hook, as a function: libvirt's argv (domain, operation,
// sub-operation, extra) and the domain XML on stdin in; an exit code,
// stdout and stderr out. main.cc adds the process: the hard time budget
// and the real streams.
//
// Contract (libvirt docs/hooks.rst): never call libvirt; return quickly;
// fail open on any fault of our own — exit 0, nothing on stdout (for
// `migrate` that means "unchanged") — and fail closed (exit 1, the reason
// on stderr for libvirt to show) only for a policy decision. Never
// non-zero for reconnect, started, stopped or release: libvirt kills the
// VM on a failed reconnect.
#pragma once

#include <string>
#include <vector>

#include "src/state/paths.h"

namespace vc {

struct HookRequest {
  std::vector<std::string> args;  // argv[1..]: domain, operation, sub-operation, extra
  std::string xml;                // stdin
  std::string sysfs_root = "/";   // the host is read under this prefix
  std::string policy_root = "/";  // drop-in policy directories under this prefix
  std::string run_dir = StatePaths::Host().HookDir();
  /// Where libvirt keeps a running QEMU's <name>.pid ("/run/libvirt/qemu"
  /// on a host): a running record whose VM has none there is dropped. ""
  /// = not checked.
  std::string libvirt_pid_dir;
};

struct HookOutcome {
  int exit_code = 0;
  std::string out;  // for `migrate`: a replacement domain XML, or "" for unchanged
  std::string err;  // libvirt shows it when exit_code != 0
};

HookOutcome RunHook(const HookRequest& request);

}  // namespace vc
#include "src/state/paths.h"
