#include "qmp/session.h"

#include <array>

namespace vc::qmp {

std::string QemuVersion::ToString() const {
  std::string s = std::to_string(major) + "." + std::to_string(minor) + "." + std::to_string(micro);
  if (!package.empty()) s += " (" + package + ")";
  return s;
}

Session::Session(std::unique_ptr<Transport> transport, Options options)
    : transport_(std::move(transport)), options_(options), parser_(options.max_message_bytes) {}

Result<std::unique_ptr<Session>> Session::Connect(std::unique_ptr<Transport> transport,
                                                  Options options) {
  std::unique_ptr<Session> s(new Session(std::move(transport), options));
  const std::string where = s->Describe();
  Deadline deadline = Clock::now() + options.greeting_timeout;
  while (s->greeting_.empty()) {
    Status r = s->ReadSome(deadline);
    if (r.code() == StatusCode::kTimeout) {
      return Status::Timeout(where, "no QMP greeting within " +
                                        std::to_string(options.greeting_timeout.count()) +
                                        " ms: is this a QMP socket?");
    }
    if (!r.ok()) return r.WithContext("waiting for the QMP greeting");
    if (!s->replies_.empty() || s->HasEvents()) {
      return Status::ProtocolError(where, "peer spoke before the QMP greeting: not a QMP socket?");
    }
  }
  Json greeting = s->greeting_.front();
  std::optional<Json> version = greeting.Get("QMP")->Get("version");
  if (version) {
    if (auto q = version->Get("qemu")) {
      s->version_.major = static_cast<int>(q->GetInt("major").value_or(0));
      s->version_.minor = static_cast<int>(q->GetInt("minor").value_or(0));
      s->version_.micro = static_cast<int>(q->GetInt("micro").value_or(0));
    }
    s->version_.package = version->GetString("package").value_or("");
  }
  Result<Json> caps = s->Execute("qmp_capabilities", Json(), options.greeting_timeout);
  if (!caps.ok()) return caps.status().WithContext("negotiating QMP capabilities");
  return s;
}

Status Session::Break(Status s) {
  if (broken_.ok()) broken_ = s;
  return broken_;
}

void Session::File(Json message) {
  if (message.Get("QMP")) {
    greeting_.push_back(std::move(message));
  } else if (auto name = message.GetString("event")) {
    Event e;
    e.name = *name;
    e.data = message.Get("data").value_or(Json());
    if (auto ts = message.Get("timestamp")) {
      e.timestamp_us = ts->GetInt("seconds").value_or(0) * 1000000 +
                       ts->GetInt("microseconds").value_or(0);
    }
    events_.push_back(std::move(e));
  } else {
    // A reply. Replies without our id are QEMU answering something it could
    // not parse; they are kept so the waiting command can surface them.
    replies_.push_back(std::move(message));
  }
}

Status Session::ReadSome(Deadline deadline) {
  if (!broken_.ok()) return broken_;
  std::array<char, 16384> buf;
  Result<size_t> n = transport_->Read(buf, deadline);
  if (!n.ok()) {
    if (n.status().code() == StatusCode::kTimeout) return n.status();
    return Break(n.status());
  }
  if (*n == 0) {
    if (parser_.InDocument()) {
      return Break(Status::Closed(Describe(), "connection closed in the middle of a message (" +
                                                  std::to_string(parser_.pending_bytes()) +
                                                  " bytes of it received): truncated message"));
    }
    return Break(Status::Closed(Describe(), "QEMU closed the QMP connection"));
  }
  std::vector<Json> messages;
  Status s = parser_.Feed(std::string_view(buf.data(), *n), &messages);
  for (Json& m : messages) {
    if (!m.is_object()) {
      return Break(Status::ProtocolError(Describe(), "message is not a JSON object: " + m.Serialize()));
    }
    File(std::move(m));
  }
  if (!s.ok()) return Break(s.WithContext(Describe()));
  return Status::Ok();
}

Result<Json> Session::Execute(std::string_view command, const Json& arguments) {
  return Execute(command, arguments, options_.command_timeout);
}

Result<Json> Session::Execute(std::string_view command, const Json& arguments, Millis timeout) {
  const std::string what(command);
  if (!broken_.ok()) return broken_.WithContext(what);
  const std::string id = "vc-" + std::to_string(next_id_++);
  Json request = Json::Object();
  request.Set("execute", Json::String(command));
  if (arguments.is_object()) request.Set("arguments", arguments);
  request.Set("id", Json::String(id));
  Status w = transport_->Write(request.Serialize() + "\n");
  if (!w.ok()) return Break(w).WithContext(what);

  Deadline deadline = Clock::now() + timeout;
  for (;;) {
    for (auto it = replies_.begin(); it != replies_.end(); ++it) {
      std::optional<std::string> reply_id = it->GetString("id");
      if (reply_id && *reply_id != id) continue;  // a late reply to an earlier command
      Json reply = std::move(*it);
      replies_.erase(it);
      if (auto error = reply.Get("error")) {
        return Status::CommandFailed(what, error->GetString("class").value_or("unknown"),
                                     error->GetString("desc").value_or("(no description)"));
      }
      if (!reply_id) {
        return Status::ProtocolError(what, "reply without an id: " + reply.Serialize());
      }
      if (auto ret = reply.Get("return")) return *ret;
      return Status::ProtocolError(what, "reply has neither return nor error: " + reply.Serialize());
    }
    replies_.clear();
    Status r = ReadSome(deadline);
    if (r.code() == StatusCode::kTimeout) {
      return Status::Timeout(what, "no reply from " + Describe() + " within " +
                                       std::to_string(timeout.count()) + " ms");
    }
    if (!r.ok()) return r.WithContext(what);
  }
}

Status Session::Poll() {
  for (;;) {
    Status r = ReadSome(Clock::now());
    if (r.code() == StatusCode::kTimeout) return Status::Ok();
    if (!r.ok()) return r;
  }
}

Event Session::TakeEvent() {
  Event e = std::move(events_.front());
  events_.pop_front();
  return e;
}

}  // namespace vc::qmp
