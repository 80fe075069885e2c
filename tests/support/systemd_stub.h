// SystemdStub: the part of systemd's manager API that `watch` uses —
// StartTransientUnit — served on a private socket the way systemd serves
// /run/systemd/private (D-Bus peer to peer, no bus daemon). For machines
// where systemd is not PID 1 (CI containers): it checks what really goes
// over the wire (sd-bus rejects a wrong signature) and runs the unit's
// ExecStart as systemd would, so the helper really runs.
//
// A stand-in, not systemd: unit tests that need the real manager skip
// without it.
#pragma once

#include <sys/types.h>
#include <systemd/sd-bus.h>

#include <atomic>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "src/base/status.h"

namespace vc::testing {

class SystemdStub {
 public:
  struct Unit {
    std::string name, mode;
    std::map<std::string, std::string> properties;  // string-typed ones
    std::vector<std::string> exec_argv;             // ExecStart's argv
    std::string exec_path;
    pid_t pid = -1;
  };

  /// Listens on \a socket_path; the started units' output goes to
  /// \a output_dir/<unit>.log.
  static Result<std::unique_ptr<SystemdStub>> Start(const std::string& socket_path, const std::string& output_dir);
  ~SystemdStub();  // stops serving; kills units still running

  std::string address() const { return "unix:path=" + socket_path_; }
  std::vector<Unit> units() const;

 private:
  SystemdStub() = default;
  void Serve();
  static int OnStartTransientUnit(sd_bus_message* m, void* self, sd_bus_error* error);

  std::string socket_path_, output_dir_;
  int listen_fd_ = -1;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  mutable std::mutex mu_;
  std::vector<Unit> units_;
};

}  // namespace vc::testing
