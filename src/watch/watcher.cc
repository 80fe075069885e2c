#include "src/watch/watcher.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <systemd/sd-event.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "src/attach/follow_lock.h"
#include "src/backend/libvirt_event_loop.h"
#include "src/backend/libvirt_host.h"
#include "src/base/c_deleter.h"

namespace vc {

using EventPtr = CPtr<sd_event, sd_event_unref>;
using SourcePtr = CPtr<sd_event_source, sd_event_source_disable_unref>;

struct Watcher::State {
  EventPtr event;
  SourcePtr sigint, sigterm, reconnect;
  std::unique_ptr<LibvirtHost> host;
  Millis backoff{0};
  bool reconnect_pending = false;
  struct Helper {
    pid_t pid;
    std::string name;
    SourcePtr source;
  };
  std::map<std::string, Helper> helpers;  // by domain UUID
};

Watcher::Watcher(WatchOptions options, std::function<void(const std::string&)> log)
    : options_(std::move(options)), log_(std::move(log)), state_(std::make_unique<State>()) {}

Watcher::~Watcher() = default;

int Watcher::Run() {
  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGINT);
  sigaddset(&mask, SIGTERM);
  sigaddset(&mask, SIGCHLD);  // sd_event_add_child needs it blocked
  sigprocmask(SIG_BLOCK, &mask, nullptr);

  Status st = RegisterLibvirtEventLoop();
  if (!st.ok()) {
    log_("cannot start: " + st.ToString());
    return 1;
  }
  sd_event* e = nullptr;
  if (int r = sd_event_default(&e); r < 0) {
    log_("cannot start: sd_event_default: " + std::string(std::strerror(-r)));
    return 1;
  }
  state_->event.reset(e);
  sd_event_source* src = nullptr;
  auto on_stop = [](sd_event_source* s, const signalfd_siginfo*, void*) -> int {
    return sd_event_exit(sd_event_source_get_event(s), 0);
  };
  if (sd_event_add_signal(e, &src, SIGINT, on_stop, nullptr) >= 0) state_->sigint.reset(src);
  if (sd_event_add_signal(e, &src, SIGTERM, on_stop, nullptr) >= 0) state_->sigterm.reset(src);

  std::error_code ec;
  std::filesystem::create_directories(options_.run_dir + "/follow", ec);
  log_("watching outgoing migrations at " + (options_.uri.empty() ? std::string("the default URI") : options_.uri) +
       "; helpers' logs under " + options_.run_dir + "/follow");
  Connect();
  sd_event_loop(e);
  log_("stopping; running helpers go on following their migrations");
  state_->host.reset();
  return 0;
}

void Watcher::Connect() {
  auto on_event = [this](const std::string& uuid, const std::string& why) { Consider(uuid, why); };
  auto on_closed = [this] {
    log_("lost the connection to libvirt; reconnecting");
    ScheduleReconnect();
  };
  Result<std::unique_ptr<LibvirtHost>> host = LibvirtHost::Connect(options_.uri, on_event, on_closed);
  if (!host.ok()) {
    log_("cannot connect: " + host.status().ToString());
    ScheduleReconnect();
    return;
  }
  state_->host = std::move(*host);
  if (state_->backoff.count()) log_("connected to libvirt again");
  state_->backoff = Millis(0);
  Adopt();
}

void Watcher::ScheduleReconnect() {
  if (state_->reconnect_pending) return;
  state_->reconnect_pending = true;
  // 0.5 s, 1 s, 2 s ... up to max_backoff: a restarting libvirtd takes a few
  // seconds, a stopped one should not make us spin.
  state_->backoff = std::min(options_.max_backoff, state_->backoff.count() ? state_->backoff * 2 : Millis(500));
  auto on_timer = [](sd_event_source*, uint64_t, void* self) -> int {
    auto* w = static_cast<Watcher*>(self);
    w->state_->reconnect_pending = false;
    // Dropped here, not in libvirt's close callback, which runs inside the
    // connection being dropped.
    w->state_->host.reset();
    w->Connect();
    return 0;
  };
  sd_event_source* src = nullptr;
  if (sd_event_add_time_relative(state_->event.get(), &src, CLOCK_MONOTONIC,
                                 static_cast<uint64_t>(state_->backoff.count()) * 1000, 1000, on_timer,
                                 this) >= 0) {
    state_->reconnect.reset(src);
  }
}

void Watcher::Adopt() {
  Result<std::vector<OutgoingMigration>> running = state_->host->Outgoing();
  if (!running.ok()) {
    log_("cannot list domains: " + running.status().ToString());
    return;
  }
  for (const OutgoingMigration& m : *running) Consider(m.uuid, "already migrating at start-up");
}

void Watcher::Consider(const std::string& uuid, const std::string& why) {
  if (uuid.empty() || !state_->host) return;
  if (state_->helpers.count(uuid)) return;           // ours runs
  if (FollowLock::Held(options_.run_dir, uuid)) return;  // another follower runs
  std::string name;
  Result<bool> out = state_->host->MigratingOut(uuid, &name);
  if (!out.ok() || !*out) return;  // incoming, another job, or gone again
  log_("domain " + name + " (" + uuid + ") migrates out (" + why + "): starting a helper");
  StartHelper(uuid, name);
}

void Watcher::StartHelper(const std::string& uuid, const std::string& name) {
  std::string log_path = options_.run_dir + "/follow/" + uuid + ".log";
  std::vector<std::string> args = {options_.helper, "attach", uuid, "--run-dir", options_.run_dir};
  if (!options_.uri.empty()) {
    args.push_back("--connect");
    args.push_back(options_.uri);
  }
  args.insert(args.end(), options_.helper_args.begin(), options_.helper_args.end());
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);

  pid_t pid = ::fork();
  if (pid < 0) {
    log_("cannot start a helper for " + name + ": fork: " + std::strerror(errno));
    return;
  }
  if (pid == 0) {
    // The child: its own session (it outlives a watch restart), its output
    // in its log, signals as a fresh process has them.
    ::setsid();
    int fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
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
  auto on_exit = [](sd_event_source*, const siginfo_t* si, void* self) -> int {
    auto* w = static_cast<Watcher*>(self);
    for (auto it = w->state_->helpers.begin(); it != w->state_->helpers.end(); ++it) {
      if (it->second.pid != si->si_pid) continue;
      std::string how = si->si_code == CLD_EXITED ? "exited with " + std::to_string(si->si_status)
                                                  : "was killed by signal " + std::to_string(si->si_status);
      w->log_("helper " + std::to_string(si->si_pid) + " for " + it->second.name + " " + how);
      w->state_->helpers.erase(it);
      break;
    }
    return 0;
  };
  sd_event_source* src = nullptr;
  if (sd_event_add_child(state_->event.get(), &src, pid, WEXITED, on_exit, this) < 0) src = nullptr;
  state_->helpers[uuid] = State::Helper{pid, name, SourcePtr(src)};
  log_("helper " + std::to_string(pid) + " follows " + name + " (log " + log_path + ")");
}

}  // namespace vc
