// HookRecords: what the destination hook remembers between its runs, in
// files under /run (gone with a reboot, as the VMs are): the CPUs each
// running VM pins 1:1, and the hugepages each incoming migration still in
// flight will take. Written from the hook's own events (migrate, started,
// stopped, release, reconnect), never from libvirt (the hook must not call
// it). One lock file serialises concurrent hooks.
#pragma once

#include <string>

#include "src/base/status.h"
#include "src/base/unique_fd.h"
#include "src/hostfit/fitness.h"

namespace vc {

/// An incoming record lives from `migrate begin` to `started` (QEMU up on
/// this host, its hugepages taken) — seconds. One older than this was left
/// by a migration that failed before any later hook ran here; it must not
/// go on refusing migrations or holding pages.
inline constexpr int64_t kIncomingStaleSeconds = 600;

class HookRecords {
 public:
  /// Opens (creating) \a dir and takes its lock; released on destruction.
  static Result<HookRecords> Open(const std::string& dir);

  /// The records; incoming ones older than kIncomingStaleSeconds are
  /// removed instead, and so are running ones of a VM that does not run:
  /// where \a libvirt_pid_dir ("/run/libvirt/qemu") is given and exists,
  /// one with no <name>.pid there (its `stopped` was missed).
  Result<HostClaims> Load(const std::string& libvirt_pid_dir = "") const;
  Status SetRunning(const std::string& vm, const CpuSet& dedicated);
  Status SetIncoming(const std::string& vm, const std::vector<HostClaims::Incoming>& claims, int64_t cost = 1);
  /// Forgets \a vm's running record and its incoming claims.
  void DropRunning(const std::string& vm);
  void DropIncoming(const std::string& vm);
  bool HasIncoming(const std::string& vm) const;

 private:
  HookRecords(std::string dir, UniqueFd lock) : dir_(std::move(dir)), lock_(std::move(lock)) {}
  std::string dir_;
  UniqueFd lock_;
};

/// A domain name safe as a file name (libvirt forbids '/'; we also refuse
/// leading dots and empty names).
bool SafeRecordName(const std::string& vm);

}  // namespace vc
