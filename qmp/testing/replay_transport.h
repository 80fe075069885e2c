// Replay and recording of QMP conversations, for tests and the recorder.
//
// A replay file is libvirt's .replies format, extended: entries separated by
// blank lines; lines starting with '#' are comments. An entry is
//   - a JSON object with "execute": the command the client must send next
//     (with "arguments" compared exactly, when the entry has them or the
//     client sends them);
//   - any other JSON object: a message QEMU sends (greeting, reply, event).
//     A reply's "id" is rewritten to the id the client used;
//   - "@raw" on its own line, then text: bytes QEMU sends verbatim (for
//     malformed and truncated messages);
//   - "@close": QEMU closes the connection.
// The replay fails on any unexpected command; Finish() fails if entries are
// left over.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "qmp/transport.h"
#include "src/base/json.h"

namespace vc::qmp::testing {

class ReplayTransport final : public Transport {
 public:
  /// The script and how far it has been played; a test keeps it to check
  /// the replay after the session took the transport.
  struct State {
    struct Entry {
      enum Kind { kCommand, kMessage, kRaw, kClose } kind;
      Json json;
      std::string raw;
      int line = 0;
    };
    std::string name;
    std::vector<Entry> entries;
    size_t next = 0;         // the next entry to play
    std::string outgoing;    // bytes queued for Read()
    bool closed = false;     // @close reached and outgoing drained
    bool close_pending = false;
    std::string last_id;     // the id of the last command received
    Status failure;          // the first unexpected command
  };

  static Result<std::unique_ptr<ReplayTransport>> FromFile(const std::string& path);
  static Result<std::unique_ptr<ReplayTransport>> FromString(const std::string& text,
                                                             const std::string& name);
  ~ReplayTransport() override;

  Status Write(std::string_view bytes) override;
  Result<size_t> Read(std::span<char> buf, Deadline deadline) override;
  int pollable_fd() const override { return -1; }
  std::string Describe() const override;

  std::shared_ptr<State> state() const { return state_; }
  /// OK when every entry was played and no command was unexpected.
  static Status Finish(const State& state);

 private:
  explicit ReplayTransport(std::shared_ptr<State> state);
  void Emit();  // queues server entries up to the next command
  std::shared_ptr<State> state_;
};

/// Wraps a real transport and writes the conversation in replay format.
class RecordingTransport final : public Transport {
 public:
  RecordingTransport(std::unique_ptr<Transport> inner, std::string out_path);
  ~RecordingTransport() override;
  Status Write(std::string_view bytes) override;
  Result<size_t> Read(std::span<char> buf, Deadline deadline) override;
  int pollable_fd() const override { return inner_->pollable_fd(); }
  std::string Describe() const override { return inner_->Describe(); }
  /// Adds a comment line to the recording.
  void Comment(const std::string& text);
  /// Writes the recording to disk (also done by the destructor).
  Status Flush();

 private:
  std::unique_ptr<Transport> inner_;
  std::string out_path_;
  std::vector<std::string> entries_;
  std::string read_buffer_;
  bool flushed_ = false;
};

}  // namespace vc::qmp::testing
