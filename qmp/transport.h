// qmp::Transport: the byte stream under a QMP session.
//
// Abstract so that tests can put a replay of a recorded conversation under
// the real session code (ReplayTransport) and tools can record one
// (RecordingTransport). The real one is UnixSocketTransport.
#pragma once

#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "src/base/status.h"
#include "src/base/time.h"

namespace vc::qmp {

class Transport {
 public:
  virtual ~Transport() = default;

  /// Writes all of \a bytes, or fails (kClosed when the peer is gone).
  virtual Status Write(std::string_view bytes) = 0;
  /// Waits until bytes are available or \a deadline passes, then reads what
  /// is there into \a buf. Returns the count, 0 at end of stream, or
  /// kTimeout. A deadline in the past makes it a non-blocking read.
  virtual Result<size_t> Read(std::span<char> buf, Deadline deadline) = 0;
  /// A descriptor that polls readable when Read() has something, for event
  /// loops; -1 when there is none.
  virtual int pollable_fd() const = 0;
  /// "unix:/run/qemu.sock": for error messages.
  virtual std::string Describe() const = 0;
};

/// Connects to the QMP unix socket at \a path.
Result<std::unique_ptr<Transport>> ConnectUnixSocket(const std::string& path);

}  // namespace vc::qmp
