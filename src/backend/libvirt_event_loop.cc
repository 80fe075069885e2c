#include "src/backend/libvirt_event_loop.h"

#include <libvirt/libvirt.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <systemd/sd-event.h>
#include <unistd.h>

#include <cerrno>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <thread>
#include <utility>
#include <vector>

#include "src/base/c_deleter.h"
#include "src/base/unique_fd.h"

namespace vc {
namespace {

using EventPtr = CPtr<sd_event, sd_event_unref>;

// One registered fd or timer, as libvirt described it. `source` is the
// sd-event side, created and changed only on the loop's thread by Sync().
struct Watch {
  int fd = -1;               // handles
  int events = 0;            // handles: VIR_EVENT_HANDLE_* wanted
  int interval_ms = -1;      // timers: -1 off, 0 every iteration, >0 period
  virEventHandleCallback on_io = nullptr;
  virEventTimeoutCallback on_timer = nullptr;
  void* opaque = nullptr;
  virFreeCallback free_opaque = nullptr;
  sd_event_source* source = nullptr;
  bool removed = false;
};

class Loop {
 public:
  Status Start() {
    sd_event* e = nullptr;
    int r = sd_event_default(&e);
    if (r < 0) return Status::IoError("sd_event_default", -r);
    event_.reset(e);
    owner_ = std::this_thread::get_id();
    wake_.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    if (!wake_.valid()) return Status::IoError("eventfd", errno);
    r = sd_event_add_io(e, &wake_source_, wake_.get(), EPOLLIN, &Loop::OnWake, this);
    if (r < 0) return Status::IoError("sd_event_add_io", -r);
    // Below every other source: applying libvirt's changes and freeing its
    // data happens after the callbacks of this iteration have run.
    sd_event_source_set_priority(wake_source_, SD_EVENT_PRIORITY_IDLE);
    return Status::Ok();
  }

  int AddHandle(int fd, int events, virEventHandleCallback cb, void* opaque, virFreeCallback ff) {
    std::lock_guard lock(mu_);
    int id = next_id_++;
    watches_[id] = Watch{.fd = fd, .events = events, .on_io = cb, .opaque = opaque, .free_opaque = ff};
    Changed(id);
    return id;
  }
  void UpdateHandle(int id, int events) {
    std::lock_guard lock(mu_);
    auto it = watches_.find(id);
    if (it == watches_.end() || it->second.removed || !it->second.on_io) return;
    it->second.events = events;
    Changed(id);
  }
  int AddTimer(int interval_ms, virEventTimeoutCallback cb, void* opaque, virFreeCallback ff) {
    std::lock_guard lock(mu_);
    int id = next_id_++;
    watches_[id] = Watch{.interval_ms = interval_ms, .on_timer = cb, .opaque = opaque, .free_opaque = ff};
    Changed(id);
    return id;
  }
  void UpdateTimer(int id, int interval_ms) {
    std::lock_guard lock(mu_);
    auto it = watches_.find(id);
    if (it == watches_.end() || it->second.removed || !it->second.on_timer) return;
    it->second.interval_ms = interval_ms;
    Changed(id);
  }
  int Remove(int id, bool timer) {
    std::lock_guard lock(mu_);
    auto it = watches_.find(id);
    if (it == watches_.end() || it->second.removed || (it->second.on_timer != nullptr) != timer) return -1;
    it->second.removed = true;
    Changed(id);
    // libvirt's free callbacks must run from a clean stack, never from
    // inside the remove hook: the wake-up handler runs them.
    Wake();
    return 0;
  }

 private:
  // Marks \a id for Sync(); applies it now when on the loop's thread.
  void Changed(int id) {
    dirty_.insert(id);
    if (std::this_thread::get_id() == owner_) {
      SyncLocked();
    } else {
      Wake();
    }
  }
  void Wake() {
    uint64_t one = 1;
    ssize_t n = ::write(wake_.get(), &one, sizeof one);
    (void)n;  // a full counter means a wake-up is pending anyway
  }

  // Brings sd-event in line with the table. Loop thread, mu_ held.
  void SyncLocked() {
    for (int id : dirty_) {
      auto it = watches_.find(id);
      if (it == watches_.end()) continue;
      Watch& w = it->second;
      if (w.removed) {
        if (w.source) sd_event_source_disable_unref(w.source);
        w.source = nullptr;
        continue;  // erased with its free callback in OnWake
      }
      if (w.on_io) {
        SyncHandle(id, w);
      } else {
        SyncTimer(id, w);
      }
    }
    dirty_.clear();
  }

  void SyncHandle(int id, Watch& w) {
    uint32_t mask = 0;
    if (w.events & VIR_EVENT_HANDLE_READABLE) mask |= EPOLLIN;
    if (w.events & VIR_EVENT_HANDLE_WRITABLE) mask |= EPOLLOUT;
    if (!w.source) {
      if (sd_event_add_io(event_.get(), &w.source, w.fd, mask, &Loop::OnIo, IdTag(id)) < 0) {
        w.source = nullptr;  // libvirt then never hears from this fd; it times out
        return;
      }
    } else {
      sd_event_source_set_io_events(w.source, mask);
    }
    sd_event_source_set_enabled(w.source, w.events ? SD_EVENT_ON : SD_EVENT_OFF);
  }

  void SyncTimer(int id, Watch& w) {
    if (!w.source) {
      if (sd_event_add_time_relative(event_.get(), &w.source, CLOCK_MONOTONIC, 0, 1000,
                                     &Loop::OnTimer, IdTag(id)) < 0) {
        w.source = nullptr;
        return;
      }
    }
    if (w.interval_ms < 0) {
      sd_event_source_set_enabled(w.source, SD_EVENT_OFF);
      return;
    }
    sd_event_source_set_time_relative(w.source, static_cast<uint64_t>(w.interval_ms) * 1000);
    sd_event_source_set_enabled(w.source, SD_EVENT_ONESHOT);
  }

  static void* IdTag(int id) { return reinterpret_cast<void*>(static_cast<intptr_t>(id)); }
  static int IdOf(void* tag) { return static_cast<int>(reinterpret_cast<intptr_t>(tag)); }

  /// A copy of watch \a id taken under the lock (the callback then runs
  /// without it), nullopt once removed; \a rearm: re-arms a timer first.
  std::optional<Watch> Live(int id, bool rearm);
  static int OnIo(sd_event_source*, int fd, uint32_t revents, void* tag);
  static int OnTimer(sd_event_source*, uint64_t, void* tag);
  static int OnWake(sd_event_source*, int fd, uint32_t, void* self);

  std::mutex mu_;
  EventPtr event_;
  std::thread::id owner_;
  UniqueFd wake_;
  sd_event_source* wake_source_ = nullptr;  // lives as long as the process
  int next_id_ = 1;
  std::map<int, Watch> watches_;
  std::set<int> dirty_;
};

Loop& TheLoop() {
  static Loop loop;
  return loop;
}
bool g_registered = false;

std::optional<Watch> Loop::Live(int id, bool rearm) {
  std::lock_guard lock(mu_);
  auto it = watches_.find(id);
  if (it == watches_.end() || it->second.removed) return std::nullopt;
  if (rearm) {
    dirty_.insert(id);
    SyncLocked();
  }
  return it->second;
}

int Loop::OnIo(sd_event_source*, int fd, uint32_t revents, void* tag) {
  std::optional<Watch> w = TheLoop().Live(IdOf(tag), false);
  if (!w) return 0;
  int events = 0;
  if (revents & EPOLLIN) events |= VIR_EVENT_HANDLE_READABLE;
  if (revents & EPOLLOUT) events |= VIR_EVENT_HANDLE_WRITABLE;
  if (revents & EPOLLERR) events |= VIR_EVENT_HANDLE_ERROR;
  if (revents & EPOLLHUP) events |= VIR_EVENT_HANDLE_HANGUP;
  w->on_io(IdOf(tag), fd, events, w->opaque);
  return 0;
}

int Loop::OnTimer(sd_event_source*, uint64_t, void* tag) {
  // Periodic: the next expiry is armed before the callback, which may change it.
  std::optional<Watch> w = TheLoop().Live(IdOf(tag), true);
  if (w) w->on_timer(IdOf(tag), w->opaque);
  return 0;
}

int Loop::OnWake(sd_event_source*, int fd, uint32_t, void*) {
  Loop& self = TheLoop();
  uint64_t count;
  ssize_t n = ::read(fd, &count, sizeof count);
  (void)n;
  std::vector<std::pair<virFreeCallback, void*>> frees;
  {
    std::lock_guard lock(self.mu_);
    self.SyncLocked();
    for (auto it = self.watches_.begin(); it != self.watches_.end();) {
      if (it->second.removed) {
        if (it->second.free_opaque) frees.emplace_back(it->second.free_opaque, it->second.opaque);
        it = self.watches_.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (auto& [ff, opaque] : frees) ff(opaque);
  return 0;
}

int AddHandleHook(int fd, int events, virEventHandleCallback cb, void* opaque, virFreeCallback ff) {
  return TheLoop().AddHandle(fd, events, cb, opaque, ff);
}
void UpdateHandleHook(int id, int events) { TheLoop().UpdateHandle(id, events); }
int RemoveHandleHook(int id) { return TheLoop().Remove(id, false); }
int AddTimerHook(int ms, virEventTimeoutCallback cb, void* opaque, virFreeCallback ff) {
  return TheLoop().AddTimer(ms, cb, opaque, ff);
}
void UpdateTimerHook(int id, int ms) { TheLoop().UpdateTimer(id, ms); }
int RemoveTimerHook(int id) { return TheLoop().Remove(id, true); }

}  // namespace

Status RegisterLibvirtEventLoop() {
  static std::once_flag once;
  static Status result;
  std::call_once(once, [] {
    result = TheLoop().Start();
    if (!result.ok()) return;
    virEventRegisterImpl(AddHandleHook, UpdateHandleHook, RemoveHandleHook, AddTimerHook,
                         UpdateTimerHook, RemoveTimerHook);
    g_registered = true;
  });
  return result;
}

bool LibvirtEventLoopRegistered() { return g_registered; }

}  // namespace vc
