// QemuVm: one QEMU running the test guest, with a control QMP session for
// the test and a spare QMP socket for the program under test; MigrationPair:
// a source and a destination (-incoming defer) on loopback.
//
// Accelerator: VC_TEST_ACCEL=kvm|tcg forces one. Otherwise KVM when
// /dev/kvm works and runs guests natively; on KVM-PVM (a software-nested KVM
// that runs non-PVM guests in its instruction emulator, see
// shared/reference/test-environment.md) our guest dirties pages ~250x
// slower than under TCG, so TCG is chosen there and the reason is printed.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "qmp/commands.h"
#include "qmp/session.h"
#include "tests/guest/guest_abi.h"
#include "tests/support/netns_link.h"
#include "tests/support/process.h"
#include "tests/support/temp_dir.h"

namespace vc::testing {

/// Waits are bounded so a broken QEMU fails a test instead of hanging it;
/// generous because CI is a loaded 2-core machine.
inline constexpr Millis kQemuStartTimeout{15000};
inline constexpr Millis kGuestReadyTimeout{60000};

struct Accel {
  std::string name;    // "kvm" or "tcg"
  std::string reason;  // why, for the test log
};
/// The accelerator tests use (see above).
Accel ChooseAccel();
/// True when KVM works at all here (for tests that exercise KVM on purpose).
bool KvmUsable(std::string* why_not);
/// The qemu-system-x86_64 binary: VC_QEMU's when set (another QEMU version,
/// tests/tools/fetch-qemu), else the first in PATH; "" when there is none.
std::string QemuBinary();
/// The test guest kernel (tests/support/artifacts.h), or "" when there is none.
std::string GuestKernel();

struct GuestParams {
  uint64_t ram_mib = 256;
  std::string wss = "32M";   // hot working set
  std::string rate = "0";    // bytes/s dirtied; "0" = flat out
  std::string fill = "all";
  /// QEMU's -name on both sides of a pair, what history is looked up by;
  /// "" = the VM's role ("src", "dst").
  std::string vm_name = "";
  std::string CommandLine() const;
};

/// The hard case of the tests and the demo: a 256 MiB guest whose 32 MiB
/// hot set is rewritten at 128 MiB/s. At 32 MiB/s each pass leaves ~32 MiB
/// dirty, ~1 s of downtime, so QEMU's default 300 ms limit is never met.
GuestParams HotSetGuest();
/// A guest that converges by itself at a few MiB/s: 128 MiB, 8 MiB
/// rewritten at 4 MiB/s.
GuestParams QuietGuest();
inline constexpr int64_t kHotSetBandwidth = 32 << 20;

/// Polls query-migrate on \a s every \a every until its status is one of
/// \a goals; kTimeout (naming the last status) after \a timeout.
Result<qmp::MigrationInfo> WaitMigrationStatus(qmp::Session& s,
                                               const std::vector<std::string>& goals,
                                               Millis timeout, Millis every = Millis(100));

/// Polls query-status on \a s until the run state is \a goal; kTimeout
/// (naming the last state) after \a timeout.
Status WaitRunState(qmp::Session& s, const std::string& goal, Millis timeout, Millis every = Millis(100));

struct VmOptions {
  std::string name = "vm";
  GuestParams guest;
  bool incoming = false;     // destination: -incoming defer
  std::string accel;         // "" = ChooseAccel()
  std::string uuid;          // -uuid, as libvirt gives every domain; "" = none
  std::string netns;         // run in this network namespace ("" = the test's)
};

class QemuVm {
 public:
  static Result<std::unique_ptr<QemuVm>> Start(const TempDir& dir, const VmOptions& options);
  ~QemuVm();

  /// The test's own QMP session.
  qmp::Session& qmp() { return *qmp_; }
  /// A second QMP socket, free for the program under test.
  const std::string& spare_qmp_path() const { return spare_qmp_; }
  const std::string& serial_path() const { return serial_; }
  const std::string& name() const { return options_.name; }
  const std::string& accel() const { return accel_; }
  Subprocess& process() { return process_; }

  /// Waits for \a text on the guest's serial port.
  Status WaitSerial(const std::string& text, Millis timeout);
  /// Reads guest-physical memory through pmemsave.
  Result<std::vector<uint8_t>> ReadMemory(uint64_t addr, uint64_t size);
  Result<vc_guest_status> GuestStatus();
  /// Stops the guest, dumps its memory and checks the pattern.
  Status StopAndCheckMemory();

 private:
  QemuVm(const TempDir& dir, VmOptions options);
  const TempDir& dir_;
  VmOptions options_;
  std::string accel_, control_qmp_, spare_qmp_, serial_, log_;
  Subprocess process_;
  std::unique_ptr<qmp::Session> qmp_;
  int dumps_ = 0;
};

class MigrationPair {
 public:
  /// Starts both QEMUs and waits until the source guest has filled its RAM.
  /// With \a link the source runs on its host A and the destination on its
  /// host B, and they migrate over the link; else both on loopback.
  static Result<std::unique_ptr<MigrationPair>> Start(const GuestParams& guest,
                                                      const std::string& tag = "pair",
                                                      const NetnsLink* link = nullptr);
  QemuVm& src() { return *src_; }
  QemuVm& dst() { return *dst_; }
  const TempDir& dir() const { return dir_; }
  /// Sets \a caps on the destination and starts listening (on loopback, or
  /// on host B's end of the link); returns the URI to migrate to
  /// ("tcp:ADDRESS:PORT").
  Result<std::string> ListenIncoming(const std::map<std::string, bool>& caps = {});
  /// Waits until the destination has completed, then stops its guest and
  /// checks its memory page by page.
  Status CheckDestination();

 private:
  explicit MigrationPair(const std::string& tag) : dir_(tag) {}
  TempDir dir_;
  std::string listen_address_ = "127.0.0.1";
  std::unique_ptr<QemuVm> src_, dst_;
};

}  // namespace vc::testing
