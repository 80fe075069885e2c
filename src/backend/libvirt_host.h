// LibvirtHost: what `watch` needs from libvirt about the whole host — which
// domains are migrating out now, and an event as each one starts — without
// tainting any domain and without waking up while nothing migrates.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "src/backend/libvirt_handles.h"
#include "src/base/status.h"

namespace vc {

struct OutgoingMigration {
  std::string uuid;
  std::string name;
};

/// A domain with a migration job, in or out, as libvirt's job stats show it.
struct LibvirtMigrationJob {
  std::string uuid, name;
  bool incoming = false;
  int64_t elapsed_ms = 0;
  uint64_t memory_total = 0, memory_remaining = 0, memory_bps = 0, dirty_rate = 0, iteration = 0;
};

/// Every domain of \a uri ("" = default) migrating now, in or out. Connects
/// for this call only, registers for no events, taints nothing.
Result<std::vector<LibvirtMigrationJob>> LibvirtMigrationJobs(const std::string& uri);

/// The names of the domains of \a uri running here and not migrating (in
/// or out): what an evacuation moves. Read-only, taints nothing.
Result<std::vector<std::string>> LibvirtResidentDomains(const std::string& uri);

/// Whether domain \a name runs at \a uri now (active, and not an incoming
/// migration's copy still waiting for its data): false when it is not
/// there or not running. Read-only.
Result<bool> LibvirtDomainRunsAt(const std::string& uri, const std::string& name);

class LibvirtHost {
 public:
  /// \a on_event: a domain may have started migrating (QEMU's MIGRATION
  /// event or libvirt's MIGRATION_ITERATION); \a why names the event.
  using OnEvent = std::function<void(const std::string& uuid, const std::string& why)>;
  /// The connection is gone (libvirtd stopped or restarted).
  using OnClosed = std::function<void()>;

  /// Connects to \a uri ("" = default) and registers for the events; needs
  /// RegisterLibvirtEventLoop() first. Callbacks run on the loop's thread.
  static Result<std::unique_ptr<LibvirtHost>> Connect(const std::string& uri, OnEvent on_event,
                                                      OnClosed on_closed);
  ~LibvirtHost();

  /// Domains whose job is an outgoing migration now.
  Result<std::vector<OutgoingMigration>> Outgoing();
  /// Whether \a uuid migrates out now; its name in \a name.
  Result<bool> MigratingOut(const std::string& uuid, std::string* name);

 private:
  LibvirtHost(ConnectPtr conn, OnEvent on_event, OnClosed on_closed);
  static bool IsOutgoing(virDomainPtr dom);
  static void OnClose(virConnectPtr, int reason, void* self);

  ConnectPtr conn_;
  OnEvent on_event_;
  OnClosed on_closed_;
  int qemu_callback_ = -1;
  int iteration_callback_ = -1;
  bool close_registered_ = false;
};

}  // namespace vc
