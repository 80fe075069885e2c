// FollowLoop: the follower's sd-event loop; one owner, one thread. It wakes
// its client on backend events (also those a command read along with its
// reply), on the sampling timer and on signals. Every callback runs guarded:
// no exception crosses sd-event. DirectoryWatch calls back when files in
// some directories change.
#pragma once

#include <systemd/sd-event.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "src/backend/migration_backend.h"
#include "src/base/c_deleter.h"
#include "src/base/status.h"

namespace vc {

using EventPtr = CPtr<sd_event, sd_event_unref>;
using EventSourcePtr = CPtr<sd_event_source, sd_event_source_disable_unref>;

/// Calls \a fire once, \a settle_us after the last change of a burst in
/// the directories (editors and dying processes change files in bursts).
/// Holds its own address in sd-event: never moved once started; a
/// default-constructed one watches nothing, and assigning one stops it.
class DirectoryWatch {
 public:
  DirectoryWatch() = default;
  DirectoryWatch(const DirectoryWatch&) = delete;
  DirectoryWatch& operator=(const DirectoryWatch&) = delete;

  void Start(sd_event* e, const std::vector<std::string>& dirs, uint32_t inotify_mask, uint64_t settle_us,
             std::function<void()> fire);
  void Stop();

 private:
  std::function<void()> fire_;
  uint64_t settle_us_ = 0;
  EventSourcePtr timer_;
  std::vector<EventSourcePtr> watches_;
};

class FollowLoop {
 public:
  struct Client {
    std::function<void(bool timer)> tick;                  // events came, or the timer fired
    std::function<int64_t()> next_sample_ms;               // after each timer tick
    std::function<void(const std::string& why)> stop;      // SIGINT, SIGTERM
    std::function<void()> reload;                          // SIGHUP
    std::function<bool()> done;                            // no more ticks wanted
  };

  /// Sets up on the thread's default sd-event (libvirt's event hooks run
  /// there too), with SIGINT, SIGTERM and SIGHUP blocked until it is gone.
  static Result<std::unique_ptr<FollowLoop>> Open(MigrationBackend& backend, Client client);
  ~FollowLoop();
  FollowLoop(const FollowLoop&) = delete;
  FollowLoop& operator=(const FollowLoop&) = delete;

  /// Runs until Exit(); an error when a handler failed.
  Status Run();
  void Exit();
  sd_event* event() const { return event_.get(); }

 private:
  FollowLoop(MigrationBackend& backend, Client client) : backend_(backend), client_(std::move(client)) {}

  MigrationBackend& backend_;
  Client client_;
  sigset_t old_mask_{};
  EventPtr event_;
  EventSourcePtr sigint_, sigterm_, sighup_, io_, timer_;
  // Events a command read along with its reply sit in the backend's queue
  // with nothing left on the descriptor: after every dispatch `after_`
  // looks, and `queued_` ticks for them on the next iteration.
  EventSourcePtr after_, queued_;
};

}  // namespace vc
