#include "src/attach/follow_loop.h"

#include <signal.h>
#include <sys/epoll.h>

namespace vc {
namespace {

// C callbacks: no exception may cross them.
template <typename F>
int Guarded(F&& f) noexcept {
  try {
    f();
  } catch (...) {
    return -EIO;  // sd-event then ends the loop with this error
  }
  return 0;
}

}  // namespace

void DirectoryWatch::Start(sd_event* e, const std::vector<std::string>& dirs, uint32_t inotify_mask,
                           uint64_t settle_us, std::function<void()> fire) {
  Stop();
  fire_ = std::move(fire);
  settle_us_ = settle_us;
  auto on_timer = [](sd_event_source*, uint64_t, void* self) -> int {
    return Guarded([&] { static_cast<DirectoryWatch*>(self)->fire_(); });
  };
  auto on_change = [](sd_event_source*, const struct inotify_event*, void* self) -> int {
    auto* w = static_cast<DirectoryWatch*>(self);
    if (!w->timer_) return 0;
    sd_event_source_set_time_relative(w->timer_.get(), w->settle_us_);
    sd_event_source_set_enabled(w->timer_.get(), SD_EVENT_ONESHOT);
    return 0;
  };
  sd_event_source* src = nullptr;
  if (sd_event_add_time_relative(e, &src, CLOCK_MONOTONIC, settle_us_, settle_us_ / 20, on_timer, this) < 0) return;
  timer_.reset(src);
  sd_event_source_set_enabled(src, SD_EVENT_OFF);
  for (const std::string& dir : dirs) {
    if (sd_event_add_inotify(e, &src, dir.c_str(), inotify_mask, on_change, this) >= 0) watches_.emplace_back(src);
  }
}

void DirectoryWatch::Stop() {
  watches_.clear();
  timer_.reset();
}

Result<std::unique_ptr<FollowLoop>> FollowLoop::Open(MigrationBackend& backend, Client client) {
  std::unique_ptr<FollowLoop> loop(new FollowLoop(backend, std::move(client)));
  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGINT);
  sigaddset(&mask, SIGTERM);
  sigaddset(&mask, SIGHUP);
  sigprocmask(SIG_BLOCK, &mask, &loop->old_mask_);

  sd_event* e = nullptr;
  int r = sd_event_default(&e);
  if (r < 0) return Status::IoError("sd_event_default", -r);
  loop->event_.reset(e);
  FollowLoop* self = loop.get();

  auto on_signal = [](sd_event_source*, const signalfd_siginfo* si, void* p) -> int {
    return Guarded([&] {
      static_cast<FollowLoop*>(p)->client_.stop(si->ssi_signo == SIGINT ? "interrupted (SIGINT)"
                                                                         : "terminated (SIGTERM)");
    });
  };
  sd_event_source* src = nullptr;
  if (sd_event_add_signal(e, &src, SIGINT, on_signal, self) >= 0) loop->sigint_.reset(src);
  if (sd_event_add_signal(e, &src, SIGTERM, on_signal, self) >= 0) loop->sigterm_.reset(src);
  auto on_hup = [](sd_event_source*, const signalfd_siginfo*, void* p) -> int {
    return Guarded([&] { static_cast<FollowLoop*>(p)->client_.reload(); });
  };
  if (sd_event_add_signal(e, &src, SIGHUP, on_hup, self) >= 0) loop->sighup_.reset(src);

  if (backend.pollable_fd() >= 0) {
    auto on_io = [](sd_event_source*, int, uint32_t, void* p) -> int {
      return Guarded([&] { static_cast<FollowLoop*>(p)->client_.tick(false); });
    };
    if (sd_event_add_io(e, &src, backend.pollable_fd(), EPOLLIN, on_io, self) >= 0) {
      loop->io_.reset(src);
      sd_event_source_set_description(src, "backend-events");
    }
  }
  auto on_queued = [](sd_event_source*, void* p) -> int {
    return Guarded([&] { static_cast<FollowLoop*>(p)->client_.tick(false); });
  };
  if (sd_event_add_defer(e, &src, on_queued, self) >= 0) {
    loop->queued_.reset(src);
    sd_event_source_set_enabled(src, SD_EVENT_OFF);
    sd_event_source_set_description(src, "queued-events");
    auto on_after = [](sd_event_source*, void* p) -> int {
      auto* l = static_cast<FollowLoop*>(p);
      if (!l->client_.done() && l->backend_.has_queued_events()) {
        sd_event_source_set_enabled(l->queued_.get(), SD_EVENT_ONESHOT);
      }
      return 0;
    };
    if (sd_event_add_post(e, &src, on_after, self) >= 0) loop->after_.reset(src);
  }
  auto on_timer = [](sd_event_source* s, uint64_t, void* p) -> int {
    auto* l = static_cast<FollowLoop*>(p);
    const int rc = Guarded([&] { l->client_.tick(true); });
    sd_event_source_set_time_relative(s, static_cast<uint64_t>(l->client_.next_sample_ms()) * 1000);
    sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
    return rc;
  };
  r = sd_event_add_time_relative(e, &src, CLOCK_MONOTONIC, 0, 1000, on_timer, self);
  if (r < 0) return Status::IoError("sd_event_add_time_relative", -r);
  loop->timer_.reset(src);
  sd_event_source_set_description(src, "sample-timer");
  return loop;
}

FollowLoop::~FollowLoop() {
  after_.reset();
  queued_.reset();
  timer_.reset();
  io_.reset();
  sighup_.reset();
  sigterm_.reset();
  sigint_.reset();
  event_.reset();
  sigprocmask(SIG_SETMASK, &old_mask_, nullptr);
}

Status FollowLoop::Run() {
  int r = sd_event_loop(event_.get());
  return r < 0 ? Status::Internal("event loop", "a handler failed") : Status::Ok();
}

void FollowLoop::Exit() {
  if (event_) sd_event_exit(event_.get(), 0);
}

}  // namespace vc
