// HelperLauncher: how `watch` starts one `attach` helper per migration.
//
//  * SystemdLauncher (where systemd runs): a transient service unit
//    virt-converge-follow-<uuid>.service through the manager's D-Bus API
//    (StartTransientUnit). systemd then owns the helper: its cgroup, its
//    journal output (`journalctl -u` the unit), its clean-up. The unit's
//    name makes a second start for the same domain fail (UnitExists) — on
//    top of the helper's own follow lock.
//  * ForkLauncher (no systemd, e.g. CI containers): fork/exec in a session
//    of its own, output appended to <run-dir>/follow/<uuid>.log.
//
// Either way the helper is not bound to the watch: it outlives a watch
// restart and keeps following its migration.
#pragma once

#include <sys/types.h>
#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "src/base/c_deleter.h"
#include "src/base/status.h"
#include "src/state/paths.h"

namespace vc {

struct HelperCommand {
  std::string uuid;               // the domain's
  std::string name;               // the domain's, for messages
  std::vector<std::string> argv;  // argv[0]: absolute path of virt-converge
};

inline constexpr char kHelperRuns[] = "org.freedesktop.systemd1.UnitExists";

class HelperLauncher {
 public:
  virtual ~HelperLauncher() = default;
  /// Starts \a cmd. On success: where it runs and where its output goes,
  /// for the watch's log. CommandFailed with error class kHelperRuns when a
  /// helper of ours for the same domain still runs.
  virtual Result<std::string> Start(const HelperCommand& cmd) = 0;
};

/// Fork/exec; reaps its children on \a event and logs their exit.
class ForkLauncher : public HelperLauncher {
 public:
  ForkLauncher(sd_event* event, StatePaths paths, std::function<void(const std::string&)> log);
  ~ForkLauncher() override;
  Result<std::string> Start(const HelperCommand& cmd) override;

 private:
  struct Child;
  static int OnExit(sd_event_source* s, const siginfo_t* si, void* self);
  sd_event* event_;
  StatePaths paths_;
  std::function<void(const std::string&)> log_;
  std::map<std::string, std::unique_ptr<Child>> children_;  // by domain UUID
};

using BusPtr = CPtr<sd_bus, sd_bus_flush_close_unref>;

/// Transient units through systemd's manager API.
class SystemdLauncher : public HelperLauncher {
 public:
  /// On the system bus; or, when \a address is given, straight to a
  /// manager's private socket ("unix:path=/run/systemd/private", as
  /// systemctl does as root), without a bus daemon.
  static Result<std::unique_ptr<SystemdLauncher>> Connect(const std::string& address = "");
  Result<std::string> Start(const HelperCommand& cmd) override;

  /// The unit name of \a uuid's helper.
  static std::string UnitName(const std::string& uuid);

 private:
  explicit SystemdLauncher(BusPtr bus) : bus_(std::move(bus)) {}
  BusPtr bus_;
};

}  // namespace vc
