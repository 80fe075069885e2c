// qmp::Session: one QMP conversation with a QEMU.
//
// Reads the greeting, negotiates qmp_capabilities, tags every command with an
// id and matches the reply to it, and queues the asynchronous events that
// arrive before, between or after replies. Every failure is a Status with
// context; none of them throws, crashes or blocks past a deadline.
//
// Thread-safety: none; one owner (the program's event loop) uses it.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <string>

#include "qmp/json_stream.h"
#include "qmp/transport.h"
#include "src/base/status.h"
#include "src/base/time.h"

namespace vc::qmp {

struct QemuVersion {
  int major = 0, minor = 0, micro = 0;
  std::string package;
  std::string ToString() const;
  /// True when this version is at least major.minor.
  bool AtLeast(int maj, int min) const { return major > maj || (major == maj && minor >= min); }
};

/// An asynchronous QMP event, e.g. MIGRATION {"status": "active"}.
struct Event {
  std::string name;
  Json data;                 // the "data" member; null when absent
  int64_t timestamp_us = 0;  // QEMU's timestamp, microseconds since the epoch
};

class Session {
 public:
  struct Options {
    /// A bound on one incoming message; QEMU's largest (query-qmp-schema)
    /// is ~300 KiB.
    size_t max_message_bytes = 4u << 20;
    Millis greeting_timeout{5000};
    Millis command_timeout{10000};
  };

  /// Reads the greeting from \a transport and negotiates capabilities.
  static Result<std::unique_ptr<Session>> Connect(std::unique_ptr<Transport> transport,
                                                  Options options);
  static Result<std::unique_ptr<Session>> Connect(std::unique_ptr<Transport> transport) {
    return Connect(std::move(transport), Options());
  }

  const QemuVersion& version() const { return version_; }

  /// Runs \a command with \a arguments (an object, or null for none) and
  /// returns its "return" value. A QMP error reply is kCommandFailed with
  /// QMP's class and desc. Events seen meanwhile are queued.
  Result<Json> Execute(std::string_view command, const Json& arguments = Json());
  Result<Json> Execute(std::string_view command, const Json& arguments, Millis timeout);

  /// Reads whatever has arrived without blocking and queues its events.
  /// Returns an error once the connection is broken.
  Status Poll();
  bool HasEvents() const { return !events_.empty(); }
  /// Removes and returns the oldest queued event. REQUIRES: HasEvents().
  Event TakeEvent();

  /// The descriptor to watch for readability, or -1 (replays).
  int pollable_fd() const { return transport_->pollable_fd(); }
  std::string Describe() const { return transport_->Describe(); }
  /// The error that broke the connection; OK while it works.
  const Status& broken() const { return broken_; }

 private:
  Session(std::unique_ptr<Transport> transport, Options options);
  /// Reads once (until \a deadline) and files what it parsed into replies_ /
  /// events_. Breaks the session on any error but kTimeout.
  Status ReadSome(Deadline deadline);
  Status Break(Status s);
  void File(Json message);

  std::unique_ptr<Transport> transport_;
  Options options_;
  JsonStreamParser parser_;
  QemuVersion version_;
  uint64_t next_id_ = 1;
  std::deque<Json> replies_;  // replies not yet claimed (tagged with an id)
  std::deque<Json> greeting_;
  std::deque<Event> events_;
  Status broken_;
};

}  // namespace vc::qmp
