// LibvirtBackend: a MigrationBackend over libvirt's API, for the outgoing
// migration of one domain, whoever started it (virsh, oVirt, Nova, ...).
//
// libvirt's own calls for all libvirt offers: job stats, max downtime, max
// speed, xbzrle cache, post-copy, abort, suspend/resume. QMP passthrough
// (virDomainQemuMonitorCommand) only for what libvirt lacks mid-migration
// (auto-converge's throttle, dirty-limit), and only when the policy allows
// it: libvirt then marks the domain "custom-monitor" (tainted), which the
// backend says through Options::note the first time.
//
// Events: MIGRATION_ITERATION, JOB_COMPLETED and lifecycle events, and QEMU's
// MIGRATION event through virConnectDomainQemuMonitorEventRegister (which
// does not taint), when libvirt's event loop runs (libvirt_event_loop.h).
// They arrive on the loop's thread, are queued, and make pollable_fd()
// readable.
#pragma once

#include <atomic>
#include <deque>
#include <functional>
#include <memory>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "src/backend/dirty_rate_sampling.h"
#include "src/backend/libvirt_handles.h"
#include "src/backend/migration_backend.h"
#include "src/base/unique_fd.h"

namespace vc {

class LibvirtBackend final : public MigrationBackend {
 public:
  struct Options {
    /// May change QEMU-only parameters through QMP passthrough (policy
    /// [Control] AllowPassthrough=); changeable later by AllowPassthrough.
    bool allow_passthrough = false;
    /// Register for domain events (needs RegisterLibvirtEventLoop first).
    bool events = true;
    /// Sample the guest's dirty rate once in a migration's bulk pass
    /// (DirtyRateSampling), through passthrough, only where it is allowed.
    bool sample_dirty_rate = true;
    /// Receives what an operator should know (the taint), once each.
    std::function<void(const std::string&)> note;
  };

  /// Connects to \a uri ("" = libvirt's default) and finds \a domain by
  /// name, UUID or id.
  static Result<std::unique_ptr<LibvirtBackend>> Connect(const std::string& uri,
                                                         const std::string& domain,
                                                         Options options);
  ~LibvirtBackend() override;

  std::string Describe() const override;
  Result<MigrationSample> Sample() override;
  Result<BackendFacts> Facts() override;
  Result<MigrationTuning> Tuning() override;
  Status SetTuning(const MigrationTuning& changes) override;
  Status StartPostcopy() override;
  Status Cancel() override;
  Status PauseGuest() override;
  Status ResumeGuest() override;
  Status StartMigration(const MigrationStart& start, std::vector<std::string>* not_honoured) override;
  /// Only the downtime limit: libvirt has no migration parameter for it,
  /// so it is set on the domain and outlives the job.
  MigrationTuning StartSettingsLeftBehind(const MigrationStart& start) const override;
  Result<std::vector<DiskCopy>> DiskCopies(const std::vector<std::string>& disks) override;
  /// virDomainMigrate3 with VIR_MIGRATE_POSTCOPY_RESUME (libvirt 8.5+).
  Status ResumePostcopy(const std::string& uri, const std::string& data_uri = "") override;
  int pollable_fd() const override { return wake_.get(); }
  Status Poll(std::vector<BackendEvent>* events) override;
  void AllowPassthrough(bool allowed) override { options_.allow_passthrough = allowed; }

  virConnectPtr connection() const { return conn_.get(); }
  virDomainPtr domain() const { return dom_.get(); }
  const std::string& domain_name() const { return name_; }
  const std::string& uuid() const { return uuid_; }

  /// Why QMP passthrough is refused now, or "" when allowed.
  std::string PassthroughRefusal() const;

 private:
  LibvirtBackend(ConnectPtr conn, DomainPtr dom, Options options);
  Status RegisterEvents();
  /// Runs virDomainMigrate3 to \a dest_uri in the worker thread (it blocks
  /// until the migration ends); its error, if any, in migrate_error_.
  Status RunMigrateWorker(const std::string& dest_uri, TypedParams params, unsigned int flags);
  void Push(BackendEvent event);
  MigrationSample Completed() const;
  /// The job stats of a migration seen running could not be read (\a why):
  /// how it ended where libvirt can say (our virDomainMigrate3's result, a
  /// persistent domain's shut-off reason), else kUnavailable until its
  /// lifecycle event tells. Never "completed" without word of it.
  Result<MigrationSample> SampleOfAnEndingJob(const Status& why);
  /// Runs one QMP command through libvirt (the domain gets tainted) and
  /// gives its "return" member; refused unless the policy allows it.
  Result<Json> Passthrough(std::string_view command, const Json& arguments);
  /// The job as libvirt reports it (Sample, before the dirty rate).
  Result<MigrationSample> SampleJob();

  // libvirt callbacks (C ABI; no exception leaves them).
  static void OnLifecycle(virConnectPtr, virDomainPtr, int event, int detail, void* self);
  static void OnIteration(virConnectPtr, virDomainPtr, int iteration, void* self);
  static void OnJobCompleted(virConnectPtr, virDomainPtr, virTypedParameterPtr params, int n,
                             void* self);
  static void OnQemuEvent(virConnectPtr, virDomainPtr, const char* event, long long seconds,
                          unsigned int micros, const char* details, void* self);
  static void OnClose(virConnectPtr, int reason, void* self);

  ConnectPtr conn_;
  DomainPtr dom_;
  Options options_;
  std::string name_;
  std::string uuid_;
  std::string connect_uri_;  // as given; "" = libvirt's default
  // StartMigration: virDomainMigrate3 blocks until the end, so it runs in a
  // worker with connections of its own; its error, if any, under mutex.
  std::thread migrate_thread_;
  std::mutex migrate_mu_;
  std::string migrate_error_;
  std::atomic<bool> migrate_done_{false};
  std::map<std::string, bool> started_capabilities_;  // set by StartMigration
  uint64_t started_switchover_bandwidth_ = 0;         // bytes/s StartMigration gave libvirt; 0 = none
  UniqueFd wake_;  // an eventfd: readable while events are queued
  std::deque<BackendEvent> queue_;
  std::vector<int> callback_ids_;
  int qemu_callback_id_ = -1;
  bool close_registered_ = false;
  bool closed_ = false;
  bool tainted_noted_ = false;
  // What events told: QEMU's migration status, and the final statistics.
  std::string qemu_status_;
  std::optional<MigrationSample> final_;
  std::optional<MigrationSample> last_running_;
  DirtyRateSampling dirty_rate_;
  bool seen_active_ = false;  // a migration job of this domain was seen
  bool stopped_migrated_ = false;
  std::string stopped_reason_;
};

}  // namespace vc
