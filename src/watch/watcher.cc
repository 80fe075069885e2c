#include "src/watch/watcher.h"

#include <signal.h>
#include <systemd/sd-daemon.h>
#include <systemd/sd-event.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "src/backend/libvirt_event_loop.h"
#include "src/backend/libvirt_host.h"
#include "src/base/c_deleter.h"
#include "src/base/private_files.h"
#include "src/state/changes_record.h"
#include "src/state/follow_lock.h"
#include "src/state/migration_record.h"
#include "src/watch/helper_launcher.h"

namespace vc {

using EventPtr = CPtr<sd_event, sd_event_unref>;
using SourcePtr = CPtr<sd_event_source, sd_event_source_disable_unref>;

struct Watcher::State {
  EventPtr event;
  SourcePtr sigint, sigterm, reconnect;
  std::unique_ptr<LibvirtHost> host;
  Millis backoff{0};
  bool reconnect_pending = false;
  std::unique_ptr<HelperLauncher> launcher;
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

  if (Status made = MakePrivateDirectories(StatePaths(options_.run_dir, "").FollowDir()); !made.ok()) {
    log_("cannot start: " + made.ToString());
    return 1;
  }
  if (Status chosen = ChooseLauncher(); !chosen.ok()) {
    log_("cannot start: " + chosen.ToString());
    return 1;
  }
  log_("watching outgoing migrations at " + (options_.uri.empty() ? std::string("the default URI") : options_.uri));
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
  // What a follower that died (or lost libvirt) had changed and could not
  // put back: a helper adopts it, and puts it back where the migration is over.
  const StatePaths paths(options_.run_dir, "");
  for (const std::string& uuid : ChangesRecordIds(paths)) {
    if (FollowLock::Held(paths, uuid)) continue;
    std::optional<MigrationRecord> dead = FindLiveRecord(paths, uuid);
    StartHelper(uuid, dead && !dead->vm.empty() ? dead->vm : uuid, "had a follower that died with changes in force");
  }
}

void Watcher::Consider(const std::string& uuid, const std::string& why) {
  if (uuid.empty() || !state_->host) return;
  if (FollowLock::Held(StatePaths(options_.run_dir, ""), uuid)) return;  // a follower runs
  std::string name;
  Result<bool> out = state_->host->MigratingOut(uuid, &name);
  if (!out.ok() || !*out) return;  // incoming, another job, or gone again
  StartHelper(uuid, name, "migrates out (" + why + ")");
}

void Watcher::StartHelper(const std::string& uuid, const std::string& name, const std::string& what) {
  // The migration seen may end before the helper looks: it then ends too.
  HelperCommand cmd{uuid, name, {options_.helper, "attach", uuid, "--run-dir", options_.run_dir, "--wait-at-most", "30s"}};
  if (!options_.uri.empty()) {
    cmd.argv.push_back("--connect");
    cmd.argv.push_back(options_.uri);
  }
  cmd.argv.insert(cmd.argv.end(), options_.helper_args.begin(), options_.helper_args.end());
  Result<std::string> started = state_->launcher->Start(cmd);
  // Until the helper holds its follow lock, each event of the migration
  // comes here again: a helper still starting is not news.
  if (started.ok()) {
    log_("domain " + name + " (" + uuid + ") " + what + ": " + *started + " follows it");
  } else if (started.status().error_class() != kHelperRuns) {
    log_("cannot start a helper for " + name + ": " + started.status().ToString());
  }
}

Status Watcher::ChooseLauncher() {
  // A unit's ExecStart runs in systemd, where /proc/self/exe is systemd.
  std::error_code ec;
  if (options_.helper == "/proc/self/exe") {
    std::filesystem::path self = std::filesystem::read_symlink(options_.helper, ec);
    if (ec) return Status::IoError("resolving /proc/self/exe", ec.value());
    options_.helper = self.string();
  }
  bool systemd = options_.helpers == "systemd" || !options_.systemd_address.empty() ||
                 (options_.helpers == "auto" && sd_booted() > 0);
  if (options_.helpers != "auto" && options_.helpers != "systemd" && options_.helpers != "fork") {
    return Status::InvalidArgument("--helpers", "'" + options_.helpers + "': expected auto, systemd or fork");
  }
  if (systemd && options_.helpers != "fork") {
    Result<std::unique_ptr<SystemdLauncher>> l = SystemdLauncher::Connect(options_.systemd_address);
    if (l.ok()) {
      state_->launcher = std::move(*l);
      log_("helpers run as transient systemd units virt-converge-follow-<uuid>.service");
      return Status::Ok();
    }
    if (options_.helpers == "systemd") return l.status();
    log_("systemd runs but cannot be reached (" + l.status().ToString() + "): helpers are forked");
  }
  state_->launcher = std::make_unique<ForkLauncher>(state_->event.get(), StatePaths(options_.run_dir, ""), log_);
  log_("helpers are forked; their logs under " + StatePaths(options_.run_dir, "").FollowDir());
  return Status::Ok();
}

}  // namespace vc
