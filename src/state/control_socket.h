// ControlSocket: how `virt-converge cancel|postcopy|resume VM` reach the
// follower of that migration — the one process allowed to act on it (it
// holds QEMU's QMP socket, and knows what it changed). A unix SOCK_SEQPACKET
// socket at <run>/migrations/<id>.sock, mode 0600: one request message,
// one reply message, then the connection closes. Served on the follower's
// sd-event loop, so a request is handled between two samples, never
// during one.
#pragma once

#include <systemd/sd-event.h>

#include <functional>
#include <memory>
#include <string>

#include "src/base/c_deleter.h"
#include "src/base/status.h"
#include "src/base/time.h"
#include "src/base/unique_fd.h"
#include "src/control/controller.h"

namespace vc {

class ControlSocket {
 public:
  /// Gets a request ("cancel", "postcopy", "resume URI"); returns the reply
  /// (sent as JSON: {"ok": bool, "text": "..."}). Must not throw.
  using Handler = std::function<OperatorReply(const std::string& request)>;

  /// Listens at \a path (replacing a stale socket there) on \a event.
  static Result<ControlSocket> Listen(sd_event* event, const std::string& path, Handler handler);
  ControlSocket(ControlSocket&&) noexcept = default;
  ControlSocket& operator=(ControlSocket&&) noexcept = default;
  ~ControlSocket();  // stops listening and removes the socket

 private:
  using SourcePtr = CPtr<sd_event_source, sd_event_source_disable_unref>;
  struct State {
    std::string path;
    UniqueFd fd;
    Handler handler;
    SourcePtr source;
  };
  explicit ControlSocket(std::unique_ptr<State> s) : state_(std::move(s)) {}
  static int OnReady(sd_event_source*, int fd, uint32_t, void* state);
  std::unique_ptr<State> state_;  // stable address for the callback
};

/// Sends \a request to the control socket at \a path; the reply, or why not.
Result<OperatorReply> SendControlRequest(const std::string& path, const std::string& request, Millis timeout);

}  // namespace vc
