#include "qmp/testing/replay_transport.h"

#include <cstring>
#include <fstream>
#include <sstream>

#include "src/base/json.h"

namespace vc::qmp::testing {

ReplayTransport::ReplayTransport(std::shared_ptr<State> state) : state_(std::move(state)) {
  Emit();  // the greeting and anything before the first command
}
ReplayTransport::~ReplayTransport() = default;

Result<std::unique_ptr<ReplayTransport>> ReplayTransport::FromFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Status::NotFound(path, "cannot open replay file");
  std::stringstream ss;
  ss << in.rdbuf();
  return FromString(ss.str(), path);
}

Result<std::unique_ptr<ReplayTransport>> ReplayTransport::FromString(const std::string& text,
                                                                     const std::string& name) {
  auto state = std::make_shared<State>();
  state->name = name;
  std::istringstream in(text);
  std::string line, entry;
  int line_no = 0, entry_line = 0;
  auto finish_entry = [&]() -> Status {
    if (entry.empty()) return Status::Ok();
    State::Entry e;
    e.line = entry_line;
    if (entry.rfind("@raw\n", 0) == 0) {
      e.kind = State::Entry::kRaw;
      e.raw = entry.substr(5);
      if (!e.raw.empty() && e.raw.back() == '\n') e.raw.pop_back();
    } else if (entry == "@close\n") {
      e.kind = State::Entry::kClose;
    } else {
      Result<Json> j = Json::Parse(entry);
      if (!j.ok()) {
        return Status::InvalidArgument(name + ":" + std::to_string(entry_line), j.status().message());
      }
      e.kind = j->Get("execute") ? State::Entry::kCommand : State::Entry::kMessage;
      e.json = *j;
    }
    state->entries.push_back(std::move(e));
    entry.clear();
    return Status::Ok();
  };
  while (std::getline(in, line)) {
    line_no++;
    if (!line.empty() && line[0] == '#') continue;
    if (line.find_first_not_of(" \t\r") == std::string::npos) {
      VC_RETURN_IF_ERROR(finish_entry());
      continue;
    }
    if (entry.empty()) entry_line = line_no;
    entry += line + "\n";
  }
  VC_RETURN_IF_ERROR(finish_entry());
  return std::unique_ptr<ReplayTransport>(new ReplayTransport(std::move(state)));
}

void ReplayTransport::Emit() {
  State& s = *state_;
  while (s.next < s.entries.size()) {
    State::Entry& e = s.entries[s.next];
    if (e.kind == State::Entry::kCommand) return;
    s.next++;
    switch (e.kind) {
      case State::Entry::kMessage: {
        Json m = e.json;
        if (m.Get("id") && !s.last_id.empty()) m.Set("id", Json::String(s.last_id));
        s.outgoing += m.Serialize() + "\r\n";
        break;
      }
      case State::Entry::kRaw:
        s.outgoing += e.raw;
        break;
      case State::Entry::kClose:
        s.close_pending = true;
        return;
      case State::Entry::kCommand:
        break;
    }
  }
}

Status ReplayTransport::Write(std::string_view bytes) {
  State& s = *state_;
  if (s.close_pending || s.closed) return Status::Closed(Describe(), "peer closed the socket");
  Result<Json> sent = Json::Parse(bytes);
  auto fail = [&](const std::string& why) {
    Status st = Status::ProtocolError(Describe(), why);
    if (s.failure.ok()) s.failure = st;
    return st;
  };
  if (!sent.ok()) return fail("client sent invalid JSON: " + std::string(bytes));
  std::string got = sent->GetString("execute").value_or("?");
  if (s.next >= s.entries.size() || s.entries[s.next].kind != State::Entry::kCommand) {
    return fail("unexpected command '" + got + "': the replay expects no command here");
  }
  const State::Entry& want = s.entries[s.next];
  std::string want_name = want.json.GetString("execute").value_or("?");
  if (want_name != got) {
    return fail("line " + std::to_string(want.line) + ": expected command '" + want_name +
                "', got '" + got + "'");
  }
  std::optional<Json> want_args = want.json.Get("arguments");
  std::optional<Json> got_args = sent->Get("arguments");
  if (want_args.has_value() != got_args.has_value() || (want_args && !(*want_args == *got_args))) {
    return fail("line " + std::to_string(want.line) + ": '" + got + "' arguments differ: expected " +
                (want_args ? want_args->Serialize() : "none") + ", got " +
                (got_args ? got_args->Serialize() : "none"));
  }
  s.last_id = sent->GetString("id").value_or("");
  s.next++;
  Emit();
  return Status::Ok();
}

Result<size_t> ReplayTransport::Read(std::span<char> buf, Deadline) {
  State& s = *state_;
  if (s.outgoing.empty()) {
    if (s.close_pending) {
      s.closed = true;
      return static_cast<size_t>(0);
    }
    return Status::Timeout(Describe(), "the replay has nothing to send");
  }
  size_t n = std::min(buf.size(), s.outgoing.size());
  std::memcpy(buf.data(), s.outgoing.data(), n);
  s.outgoing.erase(0, n);
  return n;
}

std::string ReplayTransport::Describe() const { return "replay:" + state_->name; }

Status ReplayTransport::Finish(const State& s) {
  if (!s.failure.ok()) return s.failure;
  if (s.next < s.entries.size()) {
    const State::Entry& e = s.entries[s.next];
    return Status::ProtocolError(
        "replay:" + s.name, "line " + std::to_string(e.line) + ": entry never played" +
                                (e.kind == State::Entry::kCommand
                                     ? " (missing command '" + e.json.GetString("execute").value_or("?") + "')"
                                     : ""));
  }
  return Status::Ok();
}

RecordingTransport::RecordingTransport(std::unique_ptr<Transport> inner, std::string out_path)
    : inner_(std::move(inner)), out_path_(std::move(out_path)) {}

RecordingTransport::~RecordingTransport() { Flush().IgnoreError(); }

void RecordingTransport::Comment(const std::string& text) { entries_.push_back("# " + text); }

Status RecordingTransport::Write(std::string_view bytes) {
  Result<Json> j = Json::Parse(bytes);
  entries_.push_back(j.ok() ? j->Serialize(true) : "@raw\n" + std::string(bytes));
  return inner_->Write(bytes);
}

Result<size_t> RecordingTransport::Read(std::span<char> buf, Deadline deadline) {
  Result<size_t> n = inner_->Read(buf, deadline);
  if (!n.ok()) return n;
  if (*n == 0) {
    entries_.push_back("@close");
    return n;
  }
  // Split what arrived into messages; QMP ends each with "\r\n".
  read_buffer_.append(buf.data(), *n);
  size_t pos;
  while ((pos = read_buffer_.find('\n')) != std::string::npos) {
    std::string line = read_buffer_.substr(0, pos);
    read_buffer_.erase(0, pos + 1);
    Result<Json> j = Json::Parse(line);
    entries_.push_back(j.ok() ? j->Serialize(true) : "@raw\n" + line);
  }
  return n;
}

Status RecordingTransport::Flush() {
  if (flushed_) return Status::Ok();
  flushed_ = true;
  std::ofstream out(out_path_);
  if (!out) return Status::IoError(out_path_, errno);
  for (const std::string& e : entries_) out << e << "\n\n";
  return out ? Status::Ok() : Status::IoError(out_path_, errno);
}

}  // namespace vc::qmp::testing
