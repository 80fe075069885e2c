// Watcher: the loop of `virt-converge watch`, one per host. Notices every
// outgoing migration of a libvirt domain, whoever started it, and starts one
// `virt-converge attach` helper for it; adopts migrations already running at
// start-up and after libvirtd comes back, and, then too, what a follower that
// died or lost libvirt left in force (its changes record).
//
// Event-driven on sd-event (libvirt's loop runs on it): QEMU's MIGRATION
// event for every domain (virConnectDomainQemuMonitorEventRegister with no
// domain, which does not taint), and MIGRATION_ITERATION as a second
// chance. Nothing wakes it while nothing migrates: no timers, no libvirt
// keepalive (a local libvirtd that dies closes the socket, which is seen).
//
// Helpers: one per migration, guaranteed by the helper's own FollowLock
// (src/state/follow_lock.h), not by our memory, so a restarted watch never
// starts a second one. Started as transient systemd units where systemd
// runs, else with fork/exec (src/watch/helper_launcher.h); either way they
// outlive a watch restart.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "src/base/status.h"
#include "src/base/time.h"
#include "src/state/paths.h"

namespace vc {

struct WatchOptions {
  std::string uri;                          // libvirt URI; "" = default
  std::string run_dir = StatePaths::kDefaultRunDir;
  std::string helper = "/proc/self/exe";    // the virt-converge binary
  std::vector<std::string> helper_args;     // appended to `attach DOMAIN -c URI --run-dir D`
  Millis max_backoff{30000};                // reconnect backoff ceiling
  std::string helpers = "auto";             // "systemd", "fork", or "auto": systemd when booted with it
  std::string systemd_address;              // "" = the system bus
};

class Watcher {
 public:
  Watcher(WatchOptions options, std::function<void(const std::string&)> log);
  ~Watcher();

  /// Runs until SIGINT/SIGTERM; 0 then, non-zero when it cannot start.
  int Run();

 private:
  struct State;
  void Connect();
  void ScheduleReconnect();
  void Adopt();
  /// Starts a helper for \a uuid when it migrates out and nobody follows it.
  void Consider(const std::string& uuid, const std::string& why);
  /// Starts a helper for \a uuid; \a what says why ("migrates out (…)").
  void StartHelper(const std::string& uuid, const std::string& name, const std::string& what);
  /// Picks the launcher options_.helpers asks for; an error when it cannot.
  Status ChooseLauncher();

  WatchOptions options_;
  std::function<void(const std::string&)> log_;
  std::unique_ptr<State> state_;
};

}  // namespace vc
