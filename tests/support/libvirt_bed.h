// LibvirtBed: the two-host test bed of suite `libvirt` (tests/tools/libvirt-bed:
// two system-mode libvirtds, each in its own network and mount namespaces,
// joined by a veth pair), plus the test guest as a libvirt domain and the
// destination memory check done through libvirt.
#pragma once

#include <memory>
#include <string>

#include "src/base/status.h"
#include "src/base/time.h"
#include "tests/support/qemu_vm.h"
#include "tests/support/temp_dir.h"

namespace vc::testing {

class LibvirtBed {
 public:
  /// Brings both hosts up. kNotSupported (with the reason) when this machine
  /// cannot run the bed: the test then skips, saying so.
  static Result<std::unique_ptr<LibvirtBed>> Start();
  ~LibvirtBed();  // always takes both hosts down

  const TempDir& dir() const { return dir_; }
  std::string uri(char host) const;      // 'A' or 'B'
  std::string address(char host) const;  // its veth address
  /// Stops \a host's libvirtd (its QEMUs run on) and starts it again.
  Status RestartDaemon(char host);
  /// The link between the hosts: cut (both ends down) or back up.
  Status SetLink(bool up);
  /// Caps the link to \a rate (tc's words: "1mbit"); "" takes the cap off.
  Status ShapeLink(const std::string& rate);
  /// What \a host's destination hook keeps (/run/virt-converge/hook there).
  std::string HookDir(char host) const { return dir_.path() + "/hosts/" + host + "/vc-run/hook"; }
  /// \a host's /etc/virt-converge/policy.d (the hook's policy there).
  std::string PolicyDir(char host) const { return dir_.path() + "/hosts/" + host + "/vc-etc/policy.d"; }
  /// The libvirtd log of a host (taint messages, errors).
  std::string DaemonLog(char host) const;

  /// Whether libvirtd on \a host sent QEMU the QMP \a command with every
  /// one of \a parts in its text, and QEMU answered {"return": {}}: what
  /// really reached QEMU, read from the daemon's monitor log (a query of our
  /// own would wait for libvirt's migration job on the destination). OK, or
  /// NotFound saying what was seen.
  Status QemuAccepted(char host, const std::string& command, const std::vector<std::string>& parts) const;

  /// Starts the test guest on \a host as transient domain \a name and waits
  /// until its fill is done; \a extra_xml goes inside <domain> (pinning).
  Status StartGuest(char host, const std::string& name, const GuestParams& guest, const std::string& extra_xml = "",
                    const std::string& extra_devices = "");
  /// A raw disk of \a mib MiB of random data, /var/lib/libvirt/images/\a file
  /// as \a host sees it (each host has its own /var/lib/libvirt: the disk is
  /// not shared), and an empty one of the same size on the other host for a
  /// storage migration to copy into. Returns the <disk> element (\a target:
  /// vda, vdb, ...).
  Result<std::string> MakeDisk(char host, const std::string& file, const std::string& target, uint64_t mib);
  /// The path on this machine of \a host's /var/lib/libvirt/images/\a file.
  std::string DiskPath(char host, const std::string& file) const {
    return dir_.path() + "/hosts/" + host + "/lib/images/" + file;
  }
  /// On \a host: stops \a name and checks every page of its memory.
  Status StopAndCheckGuest(char host, const std::string& name);
  /// `virsh -c URI ARGS...`; output in \a out; returns the exit code.
  int Virsh(char host, const std::vector<std::string>& args, std::string* out = nullptr,
            Millis timeout = Millis(300000));
  /// virsh's arguments of a live migration of \a name to host \a to (run on
  /// the other host), its data over the veth pair.
  std::vector<std::string> MigrateArgs(const std::string& name, char to) const;

 private:
  LibvirtBed() : dir_("bed") {}
  TempDir dir_;
  bool up_ = false;
};

}  // namespace vc::testing
