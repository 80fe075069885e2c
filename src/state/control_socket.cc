#include "src/state/control_socket.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "src/base/json.h"

namespace vc {

namespace {

constexpr size_t kMaxMessage = 4096;

Result<sockaddr_un> Address(const std::string& path) {
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  if (path.size() >= sizeof a.sun_path) return Status::InvalidArgument(path, "too long for a unix socket path");
  std::memcpy(a.sun_path, path.c_str(), path.size() + 1);
  return a;
}

// Waits up to \a ms for \a fd to be readable.
bool WaitReadable(int fd, int ms) {
  pollfd p{fd, POLLIN, 0};
  return ::poll(&p, 1, ms) == 1;
}

}  // namespace

Result<ControlSocket> ControlSocket::Listen(sd_event* event, const std::string& path, Handler handler) {
  Result<sockaddr_un> addr = Address(path);
  if (!addr.ok()) return addr.status();
  UniqueFd fd(::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd.valid()) return Status::IoError("socket", errno);
  ::unlink(path.c_str());  // a stale one of a dead follower (our FollowLock says it is dead)
  // Root's only: whoever may connect may cancel the migration.
  mode_t old = ::umask(0077);
  int r = ::bind(fd.get(), reinterpret_cast<const sockaddr*>(&*addr), sizeof *addr);
  ::umask(old);
  if (r < 0) return Status::IoError(path, errno);
  if (::listen(fd.get(), 4) < 0) return Status::IoError(path, errno);
  auto state = std::make_unique<State>();
  state->path = path;
  state->fd = std::move(fd);
  state->handler = std::move(handler);
  sd_event_source* src = nullptr;
  r = sd_event_add_io(event, &src, state->fd.get(), EPOLLIN, &ControlSocket::OnReady, state.get());
  if (r < 0) {
    ::unlink(path.c_str());
    return Status::IoError("sd_event_add_io", -r);
  }
  state->source.reset(src);
  sd_event_source_set_description(src, "control-socket");
  return ControlSocket(std::move(state));
}

ControlSocket::~ControlSocket() {
  if (state_) ::unlink(state_->path.c_str());
}

int ControlSocket::OnReady(sd_event_source*, int fd, uint32_t, void* p) {
  auto* state = static_cast<State*>(p);
  UniqueFd conn(::accept4(fd, nullptr, nullptr, SOCK_CLOEXEC));
  if (!conn.valid()) return 0;
  // The client sends its request as it connects; one that does not is
  // dropped rather than allowed to hold up the loop.
  if (!WaitReadable(conn.get(), 500)) return 0;
  char buf[kMaxMessage];
  ssize_t n = ::recv(conn.get(), buf, sizeof buf, 0);
  if (n <= 0) return 0;
  OperatorReply answer;
  try {
    answer = state->handler(std::string(buf, static_cast<size_t>(n)));
  } catch (...) {
    answer = {false, "error: internal error handling the request"};
  }
  std::string reply;
  for (;;) {  // one message: a text too long once escaped is cut
    Json j = Json::Object().Set("ok", Json::Bool(answer.ok)).Set("text", Json::String(answer.text));
    if (answer.again) j.Set("again", Json::Bool(true));
    reply = j.Serialize();
    if (reply.size() <= kMaxMessage) break;
    answer.text.resize(answer.text.size() / 2);
  }
  (void)::send(conn.get(), reply.data(), reply.size(), MSG_NOSIGNAL);
  return 0;
}

Result<OperatorReply> SendControlRequest(const std::string& path, const std::string& request, Millis timeout) {
  Result<sockaddr_un> addr = Address(path);
  if (!addr.ok()) return addr.status();
  if (request.size() > kMaxMessage) return Status::InvalidArgument("request", "too long");
  UniqueFd fd(::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return Status::IoError("socket", errno);
  if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&*addr), sizeof *addr) < 0) {
    return Status::IoError(path, errno);
  }
  if (::send(fd.get(), request.data(), request.size(), MSG_NOSIGNAL) < 0) return Status::IoError(path, errno);
  if (!WaitReadable(fd.get(), static_cast<int>(timeout.count()))) {
    return Status::Timeout(path, "the follower did not answer in " + std::to_string(timeout.count()) + " ms");
  }
  char buf[kMaxMessage];
  ssize_t n = ::recv(fd.get(), buf, sizeof buf, 0);
  if (n < 0) return Status::IoError(path, errno);
  if (n == 0) return Status::Closed(path, "the follower closed the connection without an answer");
  Result<Json> reply = Json::Parse(std::string_view(buf, static_cast<size_t>(n)));
  if (!reply.ok()) return reply.status().WithContext(path + ": the follower's reply");
  std::optional<bool> ok = reply->GetBool("ok");
  std::optional<std::string> text = reply->GetString("text");
  if (!ok || !text) return Status::ProtocolError(path, "the follower's reply has no ok and text: " + reply->Serialize());
  return OperatorReply{*ok, *text, reply->GetBool("again").value_or(false)};
}

}  // namespace vc
