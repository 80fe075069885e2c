// The real transport: a connected AF_UNIX stream socket, non-blocking, with
// poll() for deadlines.
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <cstring>

#include "qmp/transport.h"
#include "src/base/unique_fd.h"

namespace vc::qmp {
namespace {

class UnixSocketTransport final : public Transport {
 public:
  UnixSocketTransport(UniqueFd fd, std::string path) : fd_(std::move(fd)), path_(std::move(path)) {}

  Status Write(std::string_view bytes) override {
    while (!bytes.empty()) {
      ssize_t n = ::send(fd_.get(), bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN) {
          // The peer is not reading; wait a little rather than spin.
          pollfd p{fd_.get(), POLLOUT, 0};
          if (::poll(&p, 1, 5000) == 0) return Status::Timeout(Describe(), "peer is not reading");
          continue;
        }
        if (errno == EPIPE || errno == ECONNRESET) return Status::Closed(Describe(), "peer closed the socket");
        return Status::IoError(Describe(), errno);
      }
      bytes.remove_prefix(static_cast<size_t>(n));
    }
    return Status::Ok();
  }

  Result<size_t> Read(std::span<char> buf, Deadline deadline) override {
    for (;;) {
      ssize_t n = ::recv(fd_.get(), buf.data(), buf.size(), 0);
      if (n >= 0) return static_cast<size_t>(n);
      if (errno == EINTR) continue;
      if (errno == ECONNRESET) return static_cast<size_t>(0);
      if (errno != EAGAIN) return Status::IoError(Describe(), errno);
      auto left = std::chrono::duration_cast<Millis>(deadline - Clock::now()).count();
      if (left <= 0) return Status::Timeout(Describe());
      pollfd p{fd_.get(), POLLIN, 0};
      int r = ::poll(&p, 1, static_cast<int>(left > 60000 ? 60000 : left));
      if (r < 0 && errno != EINTR) return Status::IoError(Describe(), errno);
    }
  }

  int pollable_fd() const override { return fd_.get(); }
  std::string Describe() const override { return "unix:" + path_; }

 private:
  UniqueFd fd_;
  std::string path_;
};

}  // namespace

Result<std::unique_ptr<Transport>> ConnectUnixSocket(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof(addr.sun_path)) {
    return Status::InvalidArgument("unix:" + path, "socket path too long");
  }
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd.valid()) return Status::IoError("socket", errno);
  // A non-blocking connect on a unix socket completes at once or fails.
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0) {
    return Status::IoError("connect to unix:" + path, errno);
  }
  return std::unique_ptr<Transport>(new UnixSocketTransport(std::move(fd), path));
}

}  // namespace vc::qmp
