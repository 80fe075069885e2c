#include "tests/support/systemd_stub.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "src/base/c_deleter.h"

namespace vc::testing {

using BusPtr = CPtr<sd_bus, sd_bus_flush_close_unref>;

Result<std::unique_ptr<SystemdStub>> SystemdStub::Start(const std::string& socket_path, const std::string& output_dir) {
  std::unique_ptr<SystemdStub> s(new SystemdStub());
  s->socket_path_ = socket_path;
  s->output_dir_ = output_dir;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (socket_path.size() >= sizeof addr.sun_path) return Status::InvalidArgument("socket path", socket_path);
  std::strcpy(addr.sun_path, socket_path.c_str());
  s->listen_fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (s->listen_fd_ < 0) return Status::IoError("socket", errno);
  ::unlink(socket_path.c_str());
  if (::bind(s->listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0 || ::listen(s->listen_fd_, 8) < 0) {
    return Status::IoError("listening on " + socket_path, errno);
  }
  s->thread_ = std::thread([p = s.get()] { p->Serve(); });
  return s;
}

SystemdStub::~SystemdStub() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
  if (listen_fd_ >= 0) ::close(listen_fd_);
  std::lock_guard lock(mu_);
  for (Unit& u : units_) {
    if (u.pid > 0 && ::waitpid(u.pid, nullptr, WNOHANG) == 0) {
      ::kill(u.pid, SIGKILL);
      ::waitpid(u.pid, nullptr, 0);
    }
  }
}

std::vector<SystemdStub::Unit> SystemdStub::units() const {
  std::lock_guard lock(mu_);
  return units_;
}

void SystemdStub::Serve() {
  static const sd_bus_vtable vtable[] = {
      SD_BUS_VTABLE_START(0),
      SD_BUS_METHOD("StartTransientUnit", "ssa(sv)a(sa(sv))", "o", &SystemdStub::OnStartTransientUnit, 0),
      SD_BUS_VTABLE_END,
  };
  std::vector<BusPtr> peers;
  while (!stop_) {
    int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd >= 0) {
      sd_bus* bus = nullptr;
      sd_id128_t id;
      sd_id128_randomize(&id);
      if (sd_bus_new(&bus) >= 0) {
        BusPtr owned(bus);
        if (sd_bus_set_fd(bus, fd, fd) >= 0 && sd_bus_set_server(bus, 1, id) >= 0 &&
            sd_bus_add_object_vtable(bus, nullptr, "/org/freedesktop/systemd1", "org.freedesktop.systemd1.Manager",
                                     vtable, this) >= 0 &&
            sd_bus_start(bus) >= 0) {
          peers.push_back(std::move(owned));
        }
      } else {
        ::close(fd);
      }
    }
    for (auto it = peers.begin(); it != peers.end();) {
      int r;
      while ((r = sd_bus_process(it->get(), nullptr)) > 0) {
      }
      it = r < 0 ? peers.erase(it) : it + 1;  // the peer went away
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
}

int SystemdStub::OnStartTransientUnit(sd_bus_message* m, void* self, sd_bus_error* error) {
  auto* stub = static_cast<SystemdStub*>(self);
  Unit unit;
  const char* name = nullptr;
  const char* mode = nullptr;
  int r = sd_bus_message_read(m, "ss", &name, &mode);
  if (r < 0) return r;
  unit.name = name;
  unit.mode = mode;
  r = sd_bus_message_enter_container(m, 'a', "(sv)");
  if (r < 0) return r;
  while ((r = sd_bus_message_enter_container(m, 'r', "sv")) > 0) {
    const char* key = nullptr;
    if ((r = sd_bus_message_read(m, "s", &key)) < 0) return r;
    char type = 0;
    const char* contents = nullptr;
    if ((r = sd_bus_message_peek_type(m, &type, &contents)) < 0) return r;
    if (std::strcmp(contents, "s") == 0) {
      const char* v = nullptr;
      if ((r = sd_bus_message_read(m, "v", "s", &v)) < 0) return r;
      unit.properties[key] = v;
    } else if (std::strcmp(key, "ExecStart") == 0 && std::strcmp(contents, "a(sasb)") == 0) {
      if ((r = sd_bus_message_enter_container(m, 'v', "a(sasb)")) < 0) return r;
      if ((r = sd_bus_message_enter_container(m, 'a', "(sasb)")) < 0) return r;
      if ((r = sd_bus_message_enter_container(m, 'r', "sasb")) < 0) return r;
      const char* path = nullptr;
      if ((r = sd_bus_message_read(m, "s", &path)) < 0) return r;
      unit.exec_path = path;
      if ((r = sd_bus_message_enter_container(m, 'a', "s")) < 0) return r;
      const char* arg = nullptr;
      while ((r = sd_bus_message_read(m, "s", &arg)) > 0) unit.exec_argv.push_back(arg);
      if (r < 0) return r;
      int ignore = 0;
      if ((r = sd_bus_message_exit_container(m)) < 0 || (r = sd_bus_message_read(m, "b", &ignore)) < 0) return r;
      for (int i = 0; i < 3; i++) {
        if ((r = sd_bus_message_exit_container(m)) < 0) return r;
      }
    } else {
      return sd_bus_error_setf(error, SD_BUS_ERROR_INVALID_ARGS, "property %s of type %s unknown to the stub", key,
                               contents);
    }
    if ((r = sd_bus_message_exit_container(m)) < 0) return r;
  }
  if (r < 0 || (r = sd_bus_message_exit_container(m)) < 0) return r;
  if ((r = sd_bus_message_skip(m, "a(sa(sv))")) < 0) return r;
  if (unit.exec_argv.empty()) return sd_bus_error_set(error, SD_BUS_ERROR_INVALID_ARGS, "no ExecStart");

  std::lock_guard lock(stub->mu_);
  for (Unit& u : stub->units_) {
    if (u.name == unit.name && u.pid > 0 && ::waitpid(u.pid, nullptr, WNOHANG) == 0) {
      return sd_bus_error_setf(error, "org.freedesktop.systemd1.UnitExists", "Unit %s was already loaded or has a fragment file.",
                               unit.name.c_str());
    }
  }
  std::string log = stub->output_dir_ + "/" + unit.name + ".log";
  std::vector<char*> argv;
  for (std::string& a : unit.exec_argv) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = ::fork();
  if (pid == 0) {
    ::setsid();
    int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd >= 0) {
      ::dup2(fd, STDOUT_FILENO);
      ::dup2(fd, STDERR_FILENO);
    }
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    ::execv(unit.exec_path.c_str(), argv.data());
    ::_exit(127);
  }
  if (pid < 0) return sd_bus_error_set_errno(error, errno);
  unit.pid = pid;
  stub->units_.push_back(unit);
  return sd_bus_reply_method_return(m, "o", "/org/freedesktop/systemd1/job/1");
}

}  // namespace vc::testing
