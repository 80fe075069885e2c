#include "src/watch/helper_launcher.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace vc {

using SourcePtr = CPtr<sd_event_source, sd_event_source_disable_unref>;
using BusMessagePtr = CPtr<sd_bus_message, sd_bus_message_unref>;

struct ForkLauncher::Child {
  pid_t pid;
  std::string name;
  SourcePtr source;
};

ForkLauncher::ForkLauncher(sd_event* event, StatePaths paths, std::function<void(const std::string&)> log)
    : event_(event), paths_(std::move(paths)), log_(std::move(log)) {}

ForkLauncher::~ForkLauncher() = default;

Result<std::string> ForkLauncher::Start(const HelperCommand& cmd) {
  if (children_.count(cmd.uuid)) return Status::CommandFailed("helper for " + cmd.name, kHelperRuns, "still runs");
  std::string log_path = paths_.HelperLogFile(cmd.uuid);
  std::vector<std::string> args = cmd.argv;
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  pid_t pid = ::fork();
  if (pid < 0) return Status::IoError("fork", errno);
  if (pid == 0) {
    // The child: its own session (it outlives a watch restart), its output
    // in its log, signals as a fresh process has them. Only async-signal-
    // safe calls from here on.
    ::setsid();
    int fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd >= 0) {
      ::dup2(fd, STDOUT_FILENO);
      ::dup2(fd, STDERR_FILENO);
    }
    int null = ::open("/dev/null", O_RDONLY);
    if (null >= 0) ::dup2(null, STDIN_FILENO);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  auto child = std::make_unique<Child>(Child{pid, cmd.name, nullptr});
  sd_event_source* src = nullptr;
  if (sd_event_add_child(event_, &src, pid, WEXITED, &ForkLauncher::OnExit, this) >= 0) child->source.reset(src);
  children_[cmd.uuid] = std::move(child);
  return "helper " + std::to_string(pid) + " (log " + log_path + ")";
}

int ForkLauncher::OnExit(sd_event_source*, const siginfo_t* si, void* self) {
  auto* l = static_cast<ForkLauncher*>(self);
  for (auto it = l->children_.begin(); it != l->children_.end(); ++it) {
    if (it->second->pid != si->si_pid) continue;
    std::string how = si->si_code == CLD_EXITED ? "exited with " + std::to_string(si->si_status)
                                                : "was killed by signal " + std::to_string(si->si_status);
    l->log_("helper " + std::to_string(si->si_pid) + " for " + it->second->name + " " + how);
    l->children_.erase(it);  // also drops the source this runs in: sd-event allows it
    break;
  }
  return 0;
}

Result<std::unique_ptr<SystemdLauncher>> SystemdLauncher::Connect(const std::string& address) {
  sd_bus* bus = nullptr;
  int r = 0;
  if (address.empty()) {
    r = sd_bus_open_system(&bus);
  } else {
    // A manager's private socket speaks D-Bus peer to peer: no Hello.
    r = sd_bus_new(&bus);
    if (r >= 0) r = sd_bus_set_address(bus, address.c_str());
    if (r >= 0) r = sd_bus_start(bus);
  }
  BusPtr owned(bus);
  if (r < 0) return Status::IoError("connecting to systemd" + (address.empty() ? "" : " at " + address), -r);
  return std::unique_ptr<SystemdLauncher>(new SystemdLauncher(std::move(owned)));
}

std::string SystemdLauncher::UnitName(const std::string& uuid) {
  return "virt-converge-follow-" + uuid + ".service";
}

namespace {

// Appends one (sv) property of type s to an open a(sv) container.
int AppendString(sd_bus_message* m, const char* key, const std::string& value) {
  return sd_bus_message_append(m, "(sv)", key, "s", value.c_str());
}

}  // namespace

Result<std::string> SystemdLauncher::Start(const HelperCommand& cmd) {
  const std::string unit = UnitName(cmd.uuid);
  sd_bus_message* raw = nullptr;
  int r = sd_bus_message_new_method_call(bus_.get(), &raw, "org.freedesktop.systemd1", "/org/freedesktop/systemd1",
                                         "org.freedesktop.systemd1.Manager", "StartTransientUnit");
  BusMessagePtr m(raw);
  // StartTransientUnit(s name, s mode, a(sv) properties, a(sa(sv)) aux).
  if (r >= 0) r = sd_bus_message_append(m.get(), "ss", unit.c_str(), "fail");
  if (r >= 0) r = sd_bus_message_open_container(m.get(), 'a', "(sv)");
  if (r >= 0) r = AppendString(m.get(), "Description", "virt-converge follows the migration of " + cmd.name);
  // exec: a helper that cannot be executed fails the start, not later.
  if (r >= 0) r = AppendString(m.get(), "Type", "exec");
  // Gone once it ends, failed or not: the name is free for the next one.
  if (r >= 0) r = AppendString(m.get(), "CollectMode", "inactive-or-failed");
  if (r >= 0) r = AppendString(m.get(), "SyslogIdentifier", "virt-converge");
  // ExecStart a(sasb): path, argv, ignore-failure.
  if (r >= 0) r = sd_bus_message_open_container(m.get(), 'r', "sv");
  if (r >= 0) r = sd_bus_message_append(m.get(), "s", "ExecStart");
  if (r >= 0) r = sd_bus_message_open_container(m.get(), 'v', "a(sasb)");
  if (r >= 0) r = sd_bus_message_open_container(m.get(), 'a', "(sasb)");
  if (r >= 0) r = sd_bus_message_open_container(m.get(), 'r', "sasb");
  if (r >= 0) r = sd_bus_message_append(m.get(), "s", cmd.argv.empty() ? "" : cmd.argv[0].c_str());
  if (r >= 0) r = sd_bus_message_open_container(m.get(), 'a', "s");
  for (size_t i = 0; r >= 0 && i < cmd.argv.size(); i++) r = sd_bus_message_append(m.get(), "s", cmd.argv[i].c_str());
  if (r >= 0) r = sd_bus_message_close_container(m.get());  // as
  if (r >= 0) r = sd_bus_message_append(m.get(), "b", 0);
  if (r >= 0) r = sd_bus_message_close_container(m.get());  // (sasb)
  if (r >= 0) r = sd_bus_message_close_container(m.get());  // a(sasb)
  if (r >= 0) r = sd_bus_message_close_container(m.get());  // v
  if (r >= 0) r = sd_bus_message_close_container(m.get());  // (sv)
  if (r >= 0) r = sd_bus_message_close_container(m.get());  // a(sv)
  if (r >= 0) r = sd_bus_message_append(m.get(), "a(sa(sv))", 0);
  if (r < 0) return Status::Internal("building StartTransientUnit", std::strerror(-r));

  sd_bus_error error = SD_BUS_ERROR_NULL;
  sd_bus_message* reply_raw = nullptr;
  r = sd_bus_call(bus_.get(), m.get(), 10 * 1000 * 1000, &error, &reply_raw);
  BusMessagePtr reply(reply_raw);
  if (r < 0) {
    Status st = sd_bus_error_is_set(&error)
                    ? Status::CommandFailed("starting unit " + unit, error.name, error.message ? error.message : "")
                    : Status::IoError("starting unit " + unit, -r);
    sd_bus_error_free(&error);
    return st;
  }
  return "unit " + unit + " (journalctl -u " + unit + ")";
}

}  // namespace vc
