#include "src/backend/libvirt_backend.h"

#include <libvirt/libvirt-qemu.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>

#include "qmp/commands.h"
#include "src/backend/libvirt_event_loop.h"
#include "src/backend/qmp_tuning.h"
#include "src/base/json.h"

namespace vc {
namespace {

constexpr uint64_t kMiB = 1ull << 20;

// "11.3.0" from libvirt's major * 1000000 + minor * 1000 + micro.
std::string VersionText(unsigned long v) {
  return std::to_string(v / 1000000) + "." + std::to_string(v / 1000 % 1000) + "." + std::to_string(v % 1000);
}
// Multifd zlib/zstd compression and its levels (libvirt 9.4; Debian 12's
// 9.0 headers lack the names).
constexpr unsigned long kLibvirtMultifdCompression = 9004000;
constexpr const char* kParamZlibLevel = "compression.zlib.level";
constexpr const char* kParamZstdLevel = "compression.zstd.level";
// avail-switchover-bandwidth at the start, in MiB/s (libvirt 11.1).
constexpr unsigned long kLibvirtAvailSwitchover = 11001000;
constexpr const char* kParamAvailSwitchover = "bandwidth.avail.switchover";
// libvirt 11.3's destination daemon dies of a NULL dereference preparing
// every post-copy resume: qemuMigrationDstPrepareResume hands
// qemuProcessIncomingDefNew no fd pointer and it reads one. Only the
// versions seen to crash are listed (docs/faults.md).
constexpr unsigned long kLibvirtResumeCrashesFrom = 11003000;
constexpr unsigned long kLibvirtResumeCrashesBefore = 11004000;

// Refuses a post-copy resume towards a destination daemon known to crash
// preparing it: the crash would take every other job of that libvirtd.
Status RefuseResumeWhereTheDestinationCrashes(virConnectPtr dest) {
  unsigned long lib = 0;
  if (virConnectGetLibVersion(dest, &lib) < 0) return Status::Ok();  // not known: libvirt answers for itself
  if (lib < kLibvirtResumeCrashesFrom || lib >= kLibvirtResumeCrashesBefore) return Status::Ok();
  return Status::NotSupported(
      "resume", "libvirt " + VersionText(lib) +
                    " on the destination crashes preparing a post-copy resume (a NULL fd read in its "
                    "qemuProcessIncomingDefNew): not sent, so that its libvirtd lives; the migration stays paused "
                    "and recoverable with a destination libvirt without that defect");
}

void FillFromStats(const TypedParamsView& p, MigrationSample* s) {
  s->total_time_ms = static_cast<int64_t>(p.ULLong(VIR_DOMAIN_JOB_TIME_ELAPSED).value_or(0));
  s->ram_total = p.ULLong(VIR_DOMAIN_JOB_MEMORY_TOTAL).value_or(0);
  s->ram_transferred = p.ULLong(VIR_DOMAIN_JOB_MEMORY_PROCESSED).value_or(0);
  s->ram_remaining = p.ULLong(VIR_DOMAIN_JOB_MEMORY_REMAINING).value_or(0);
  s->bandwidth = static_cast<double>(p.ULLong(VIR_DOMAIN_JOB_MEMORY_BPS).value_or(0));
  // libvirt reports the dirty rate in pages per second.
  uint64_t page = p.ULLong(VIR_DOMAIN_JOB_MEMORY_PAGE_SIZE).value_or(4096);
  const auto normal = p.ULLong(VIR_DOMAIN_JOB_MEMORY_NORMAL), constant = p.ULLong(VIR_DOMAIN_JOB_MEMORY_CONSTANT);
  if (normal && constant) s->ram_visited = (*normal + *constant) * page;
  s->dirty_rate = static_cast<double>(p.ULLong(VIR_DOMAIN_JOB_MEMORY_DIRTY_RATE).value_or(0) * page);
  s->pass = p.ULLong(VIR_DOMAIN_JOB_MEMORY_ITERATION).value_or(0);
  s->throttle_percent = p.Int(VIR_DOMAIN_JOB_AUTO_CONVERGE_THROTTLE).value_or(0);
  s->postcopy_requests = p.ULLong(VIR_DOMAIN_JOB_MEMORY_POSTCOPY_REQS).value_or(0);
  if (auto d = p.ULLong(VIR_DOMAIN_JOB_DOWNTIME)) s->downtime_ms = static_cast<int64_t>(*d);
  // libvirt does not pass on QEMU's expected-downtime; QEMU computes it the
  // same way, remaining over the measured bandwidth.
  if (s->bandwidth > 0) {
    s->expected_downtime_ms = static_cast<int64_t>(s->ram_remaining / s->bandwidth * 1000);
  }
}

std::string StatusOfJobType(int type) {
  switch (type) {
    case VIR_DOMAIN_JOB_COMPLETED: return "completed";
    case VIR_DOMAIN_JOB_FAILED: return "failed";
    case VIR_DOMAIN_JOB_CANCELLED: return "cancelled";
    default: return "none";
  }
}

}  // namespace

LibvirtBackend::LibvirtBackend(ConnectPtr conn, DomainPtr dom, Options options)
    : conn_(std::move(conn)), dom_(std::move(dom)), options_(std::move(options)) {}

Result<std::unique_ptr<LibvirtBackend>> LibvirtBackend::Connect(const std::string& uri,
                                                                const std::string& domain,
                                                                Options options) {
  SilenceLibvirtErrorPrinting();
  ConnectPtr conn(virConnectOpen(uri.empty() ? nullptr : uri.c_str()));
  if (!conn) return LibvirtError("connecting to libvirt at " + (uri.empty() ? "the default URI" : uri));
  Result<DomainPtr> dom = LookupDomain(conn.get(), domain, uri);
  if (!dom.ok()) return dom.status();
  std::unique_ptr<LibvirtBackend> b(new LibvirtBackend(std::move(conn), std::move(*dom), std::move(options)));
  const char* name = virDomainGetName(b->dom_.get());
  b->name_ = name ? name : domain;
  b->connect_uri_ = uri;
  char uuid[VIR_UUID_STRING_BUFLEN] = {};
  if (virDomainGetUUIDString(b->dom_.get(), uuid) < 0) return LibvirtError("the UUID of " + b->name_);
  b->uuid_ = uuid;
  // QEMU takes calc-dirty-rate's sample-pages from 6.1 (version 6001000).
  unsigned long qemu_version = 0;
  if (virConnectGetVersion(b->conn_.get(), &qemu_version) == 0) {
    b->dirty_rate_.set_takes_sample_pages(qemu_version >= 6001000);
  }
  b->wake_.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!b->wake_.valid()) return Status::IoError("eventfd", errno);
  if (b->options_.events && LibvirtEventLoopRegistered()) {
    VC_RETURN_IF_ERROR(b->RegisterEvents());
  }
  return b;
}

Status LibvirtBackend::RegisterEvents() {
  auto add = [&](int id, virConnectDomainEventGenericCallback cb) -> Status {
    int r = virConnectDomainEventRegisterAny(conn_.get(), dom_.get(), id, cb, this, nullptr);
    if (r < 0) return LibvirtError("registering for domain events");
    callback_ids_.push_back(r);
    return Status::Ok();
  };
  VC_RETURN_IF_ERROR(add(VIR_DOMAIN_EVENT_ID_LIFECYCLE, VIR_DOMAIN_EVENT_CALLBACK(&OnLifecycle)));
  VC_RETURN_IF_ERROR(add(VIR_DOMAIN_EVENT_ID_MIGRATION_ITERATION, VIR_DOMAIN_EVENT_CALLBACK(&OnIteration)));
  VC_RETURN_IF_ERROR(add(VIR_DOMAIN_EVENT_ID_JOB_COMPLETED, VIR_DOMAIN_EVENT_CALLBACK(&OnJobCompleted)));
  qemu_callback_id_ = virConnectDomainQemuMonitorEventRegister(conn_.get(), dom_.get(), "MIGRATION",
                                                               &OnQemuEvent, this, nullptr, 0);
  if (qemu_callback_id_ < 0) {
    // Not fatal: libvirt's own events and the timer still tell the status.
    virResetLastError();
  }
  if (virConnectRegisterCloseCallback(conn_.get(), &OnClose, this, nullptr) == 0) {
    close_registered_ = true;
  }
  // Keepalives notice a libvirtd that died without closing the socket.
  if (virConnectSetKeepAlive(conn_.get(), 5, 3) < 0) virResetLastError();
  return Status::Ok();
}

LibvirtBackend::~LibvirtBackend() {
  // virDomainMigrate3 returns once libvirt's job ended; the follower only
  // returns after that too, so this does not wait long.
  if (migrate_thread_.joinable()) migrate_thread_.join();
  if (!conn_) return;
  for (int id : callback_ids_) virConnectDomainEventDeregisterAny(conn_.get(), id);
  if (qemu_callback_id_ >= 0) virConnectDomainQemuMonitorEventDeregister(conn_.get(), qemu_callback_id_);
  if (close_registered_) virConnectUnregisterCloseCallback(conn_.get(), &OnClose);
  virResetLastError();
}

std::string LibvirtBackend::Describe() const {
  return "domain " + name_ + " at " + (connect_uri_.empty() ? "the default URI" : connect_uri_);
}

void LibvirtBackend::Push(BackendEvent event) {
  queue_.push_back(std::move(event));
  uint64_t one = 1;
  ssize_t n = ::write(wake_.get(), &one, sizeof one);
  (void)n;
}

void LibvirtBackend::OnLifecycle(virConnectPtr, virDomainPtr, int event, int detail, void* opaque) {
  auto* self = static_cast<LibvirtBackend*>(opaque);
  auto status = [&](const std::string& s) {
    self->qemu_status_ = s;
    self->Push({BackendEvent::Kind::kStatus, s, 0});
  };
  switch (event) {
    case VIR_DOMAIN_EVENT_SUSPENDED:
      if (detail == VIR_DOMAIN_EVENT_SUSPENDED_PAUSED) self->Push({BackendEvent::Kind::kGuestStopped, "", 0});
      if (detail == VIR_DOMAIN_EVENT_SUSPENDED_POSTCOPY) status("postcopy-active");
      if (detail == VIR_DOMAIN_EVENT_SUSPENDED_POSTCOPY_FAILED) status("postcopy-paused");
      break;
    case VIR_DOMAIN_EVENT_RESUMED:
      if (detail == VIR_DOMAIN_EVENT_RESUMED_UNPAUSED) self->Push({BackendEvent::Kind::kGuestResumed, "", 0});
      break;
    case VIR_DOMAIN_EVENT_STOPPED:
      if (detail == VIR_DOMAIN_EVENT_STOPPED_MIGRATED) {
        // JOB_COMPLETED, with the final statistics, follows; it tells.
        self->stopped_migrated_ = true;
      } else {
        self->stopped_reason_ = detail == VIR_DOMAIN_EVENT_STOPPED_CRASHED   ? "crashed"
                                : detail == VIR_DOMAIN_EVENT_STOPPED_DESTROYED ? "was destroyed"
                                : detail == VIR_DOMAIN_EVENT_STOPPED_SHUTDOWN  ? "shut down"
                                                                               : "stopped";
        status("failed");
      }
      break;
    default:
      break;
  }
}

void LibvirtBackend::OnIteration(virConnectPtr, virDomainPtr, int iteration, void* opaque) {
  auto* self = static_cast<LibvirtBackend*>(opaque);
  self->Push({BackendEvent::Kind::kPass, "", static_cast<uint64_t>(iteration)});
}

void LibvirtBackend::OnJobCompleted(virConnectPtr, virDomainPtr, virTypedParameterPtr params, int n,
                                    void* opaque) {
  auto* self = static_cast<LibvirtBackend*>(opaque);
  TypedParamsView stats(params, n);  // libvirt's; read, not kept
  if (stats.Int(VIR_DOMAIN_JOB_OPERATION).value_or(VIR_DOMAIN_JOB_OPERATION_MIGRATION_OUT) !=
      VIR_DOMAIN_JOB_OPERATION_MIGRATION_OUT) {
    return;  // some other job of this domain (a dump, a save)
  }
  MigrationSample s;
  FillFromStats(stats, &s);
  s.status = "completed";
  s.at = Clock::now();
  self->final_ = s;
  self->qemu_status_ = "completed";
  self->Push({BackendEvent::Kind::kStatus, "completed", 0});
}

void LibvirtBackend::OnQemuEvent(virConnectPtr, virDomainPtr, const char*, long long, unsigned int,
                                 const char* details, void* opaque) {
  auto* self = static_cast<LibvirtBackend*>(opaque);
  if (!details) return;
  Result<Json> data = Json::Parse(details);
  if (!data.ok()) return;
  std::optional<std::string> status = data->GetString("status");
  if (!status) return;
  self->qemu_status_ = *status;
  self->Push({BackendEvent::Kind::kStatus, *status, 0});
}

void LibvirtBackend::OnClose(virConnectPtr, int, void* opaque) {
  auto* self = static_cast<LibvirtBackend*>(opaque);
  self->closed_ = true;
  uint64_t one = 1;
  ssize_t n = ::write(self->wake_.get(), &one, sizeof one);
  (void)n;
}

Status LibvirtBackend::Poll(std::vector<BackendEvent>* events) {
  uint64_t count;
  ssize_t n = ::read(wake_.get(), &count, sizeof count);
  (void)n;
  for (BackendEvent& e : queue_) events->push_back(std::move(e));
  queue_.clear();
  if (closed_) return Status::Closed(Describe(), "the connection to libvirt closed");
  return Status::Ok();
}

Result<MigrationSample> LibvirtBackend::Sample() {
  Result<MigrationSample> s = SampleJob();
  if (s.ok() && options_.sample_dirty_rate && PassthroughRefusal().empty()) {
    dirty_rate_.Update(&*s, [this](std::string_view command, const Json& arguments) {
      return Passthrough(command, arguments);
    });
  }
  return s;
}

Result<MigrationSample> LibvirtBackend::SampleJob() {
  if (closed_) return Status::Closed(Describe(), "the connection to libvirt closed");
  if (final_) {
    MigrationSample s = *final_;
    s.at = Clock::now();
    return s;
  }
  MigrationSample s;
  s.at = Clock::now();
  if (stopped_migrated_) return Completed();
  if (!stopped_reason_.empty()) {
    s.status = "failed";
    s.error = "the domain " + stopped_reason_ + " during the migration";
    return s;
  }
  int type = VIR_DOMAIN_JOB_NONE;
  TypedParams p;
  if (virDomainGetJobStats(dom_.get(), &type, p.out_params(), p.out_count(), 0) < 0) {
    Status st = LibvirtError("job stats of " + name_);
    if (!seen_active_ && !migrate_done_) return st;
    return SampleOfAnEndingJob(st);
  }
  if (type == VIR_DOMAIN_JOB_NONE) {
    if (!seen_active_) {
      s.status = "none";
      if (migrate_done_) {
        // The migration we started failed before its job was ever seen.
        std::lock_guard lock(migrate_mu_);
        if (!migrate_error_.empty()) {
          s.status = "failed";
          s.error = migrate_error_;
        }
      }
      return s;
    }
    // The job ended between two samples: libvirt keeps its final stats.
    TypedParams done;
    int done_type = VIR_DOMAIN_JOB_NONE;
    if (virDomainGetJobStats(dom_.get(), &done_type, done.out_params(), done.out_count(),
                             VIR_DOMAIN_JOB_STATS_COMPLETED) < 0) {
      virResetLastError();
    } else {
      FillFromStats(done.view(), &s);
    }
    if (s.ram_total == 0 && last_running_) {
      // A cancelled or failed job leaves no final statistics: what it had
      // done is what was last seen.
      s = *last_running_;
      s.at = Clock::now();
    }
    s.status = StatusOfJobType(done_type);
    if (s.status == "none") s.status = qemu_status_.empty() ? "failed" : qemu_status_;
    if (s.status == "completed" && virDomainIsActive(dom_.get()) == 1) {
      // A migration that completed leaves no running domain here (libvirt
      // stops it before the job ends). QEMU's side completed, and libvirt
      // then ended the job on the destination's failure or a cancel.
      s.status = "failed";
    }
    virResetLastError();
    if (s.status == "failed") {
      std::lock_guard lock(migrate_mu_);
      s.error = migrate_error_.empty() ? "libvirt ended the migration job without completing it" : migrate_error_;
    }
    return s;
  }
  if (auto op = p.Int(VIR_DOMAIN_JOB_OPERATION);
      op && *op != VIR_DOMAIN_JOB_OPERATION_MIGRATION_OUT && *op != VIR_DOMAIN_JOB_OPERATION_UNKNOWN) {
    s.status = "none";  // another job (incoming, dump, save): not ours to steer
    return s;
  }
  if (qemu_status_.empty() && p.ULLong(VIR_DOMAIN_JOB_MEMORY_TOTAL).value_or(0) == 0) {
    // libvirt's job begins with its Begin and Prepare phases, before it sets
    // the migration's capabilities in QEMU and QEMU's migration starts:
    // nothing to follow yet, and facts read now would be wrong. (libvirt
    // reports the memory total then, as 0.)
    s.status = "none";
    return s;
  }
  seen_active_ = true;
  FillFromStats(p.view(), &s);
  last_running_ = s;
  // QEMU's own status when its MIGRATION event told it; "completed" from
  // QEMU while libvirt's job runs means libvirt is still finishing (the
  // destination may yet fail): still active.
  s.status = qmp::IsMigrationRunning(qemu_status_) ? qemu_status_ : "active";
  s.source_completed = qemu_status_ == "completed";
  int state = 0, reason = 0;
  if (virDomainGetState(dom_.get(), &state, &reason, 0) == 0 && state == VIR_DOMAIN_PAUSED) {
    if (reason == VIR_DOMAIN_PAUSED_POSTCOPY) s.status = "postcopy-active";
    if (reason == VIR_DOMAIN_PAUSED_POSTCOPY_FAILED) s.status = "postcopy-paused";
  }
  virResetLastError();
  return s;
}

Result<MigrationSample> LibvirtBackend::SampleOfAnEndingJob(const Status& why) {
  virResetLastError();
  if (why.code() == StatusCode::kClosed || why.code() == StatusCode::kIoError) return why;  // libvirt itself is lost
  MigrationSample s = last_running_.value_or(MigrationSample{});
  s.at = Clock::now();
  if (migrate_done_) {
    // Ours: virDomainMigrate3 said how it ended.
    std::lock_guard lock(migrate_mu_);
    if (migrate_error_.empty()) return Completed();
    s.status = "failed";
    s.error = migrate_error_;
    return s;
  }
  int state = 0, reason = 0;
  const bool known = virDomainGetState(dom_.get(), &state, &reason, 0) == 0;
  virResetLastError();
  if (known && state == VIR_DOMAIN_SHUTOFF) {
    // A persistent domain stays defined: why it stopped is its state's reason.
    if (reason == VIR_DOMAIN_SHUTOFF_MIGRATED) return Completed();
    s.status = "failed";
    s.error = std::string("the domain ") +
              (reason == VIR_DOMAIN_SHUTOFF_CRASHED     ? "crashed"
               : reason == VIR_DOMAIN_SHUTOFF_DESTROYED ? "was destroyed"
               : reason == VIR_DOMAIN_SHUTOFF_FAILED    ? "failed to run"
               : reason == VIR_DOMAIN_SHUTOFF_SHUTDOWN  ? "shut down"
                                                        : "stopped") +
              " during the migration";
    return s;
  }
  // Still running with its job unreadable (QEMU's monitor is gone while
  // libvirt tears it down), or gone (a transient domain is undefined once
  // it stops, whether it migrated or its QEMU died). Only libvirt's
  // lifecycle event can tell which; it follows within moments.
  return Status::Unavailable(Describe(), "its migration job cannot be read (" + why.message() +
                                             ") and libvirt has not said yet how the migration ended");
}

MigrationSample LibvirtBackend::Completed() const {
  // Without JOB_COMPLETED's statistics (not yet seen, or events off): the
  // last running sample, all sent; the real downtime stays unknown.
  MigrationSample s = last_running_.value_or(MigrationSample{});
  s.at = Clock::now();
  s.status = "completed";
  s.ram_transferred += s.ram_remaining;
  s.ram_remaining = 0;
  return s;
}

Result<BackendFacts> LibvirtBackend::Facts() {
  BackendFacts f;
  unsigned long version = 0;
  if (virConnectGetVersion(conn_.get(), &version) < 0) return LibvirtError("hypervisor version");
  f.qemu_major = static_cast<int>(version / 1000000);
  f.qemu_minor = static_cast<int>(version / 1000 % 1000);
  f.hypervisor = "QEMU " + VersionText(version);
  unsigned long lib = 0;
  if (virConnectGetLibVersion(conn_.get(), &lib) == 0) {
    f.hypervisor += " (libvirt " + VersionText(lib) + ")";
  }
  f.vm_name = name_;
  if (char* xml = virDomainGetXMLDesc(dom_.get(), 0)) {
    CString owned(xml);
    f.domain_xml = owned.get();
  }
  virDomainInfo info;
  if (virDomainGetInfo(dom_.get(), &info) == 0) f.guest_memory = static_cast<uint64_t>(info.maxMem) * 1024;
  f.events = !callback_ids_.empty();
  f.passthrough_refusal = PassthroughRefusal();
  if (f.passthrough_refusal.empty()) {
    Result<Json> caps = Passthrough("query-migrate-capabilities", Json());
    if (caps.ok()) f.capabilities = qmp::ParseMigrateCapabilities(*caps);
  }
  if (f.capabilities.empty()) f.capabilities = started_capabilities_;
  if (!f.capabilities.empty()) {
    f.postcopy_ram = f.CapabilityOn("postcopy-ram");
    f.auto_converge = f.CapabilityOn("auto-converge");
  } else {
    // Without passthrough libvirt does not say how a migration it runs
    // for someone else was started; post-copy is tried and libvirt refuses
    // when it was not allowed at the start.
    f.postcopy_ram = true;
  }
  virResetLastError();
  return f;
}

std::string LibvirtBackend::PassthroughRefusal() const {
  if (options_.allow_passthrough) return "";
  return "not allowed: the policy forbids QMP passthrough ([Control] AllowPassthrough=no), which "
         "libvirt needs for this and which would mark domain " + name_ + " custom-monitor";
}

Result<Json> LibvirtBackend::Passthrough(std::string_view command, const Json& arguments) {
  std::string refusal = PassthroughRefusal();
  if (!refusal.empty()) return Status::NotSupported(name_, refusal);
  if (!tainted_noted_ && options_.note) {
    options_.note("QMP passthrough (virDomainQemuMonitorCommand) is allowed by the policy and used "
                  "now: libvirt marks domain " + name_ + " tainted \"custom-monitor\"");
  }
  tainted_noted_ = true;
  Json cmd = Json::Object().Set("execute", Json::String(command));
  if (!arguments.Keys().empty()) cmd.Set("arguments", arguments);
  char* raw = nullptr;
  if (virDomainQemuMonitorCommand(dom_.get(), cmd.Serialize().c_str(), &raw,
                                  VIR_DOMAIN_QEMU_MONITOR_COMMAND_DEFAULT) < 0) {
    return LibvirtError("QMP passthrough");
  }
  CString reply(raw);
  std::string text = reply.get();
  Result<Json> j = Json::Parse(text);
  if (!j.ok()) return Status::ProtocolError("QMP passthrough", "unparsable reply: " + text);
  if (auto err = j->Get("error")) {
    return Status::CommandFailed("QMP passthrough", err->GetString("class").value_or("?"),
                                 err->GetString("desc").value_or(text));
  }
  if (!j->Get("return")) return Status::ProtocolError("QMP passthrough", "a reply without \"return\": " + text);
  return *j->Get("return");
}

Result<MigrationTuning> LibvirtBackend::Tuning() {
  MigrationTuning t;
  unsigned long long downtime = 0;
  if (virDomainMigrateGetMaxDowntime(dom_.get(), &downtime, 0) == 0) {
    t.downtime_limit_ms = static_cast<int64_t>(downtime);
  }
  unsigned long speed = 0;  // MiB/s
  if (virDomainMigrateGetMaxSpeed(dom_.get(), &speed, 0) == 0) t.max_bandwidth = speed * kMiB;
  unsigned long long cache = 0;
  if (virDomainMigrateGetCompressionCache(dom_.get(), &cache, 0) == 0) t.xbzrle_cache = cache;
  virResetLastError();
  if (PassthroughRefusal().empty()) {
    Result<Json> r = Passthrough("query-migrate-parameters", Json());
    if (r.ok()) {
      // The downtime limit, the bandwidth and the cache as libvirt has them.
      MigrationTuning qemu = TuningOf(qmp::ParseMigrationParameters(*r));
      qemu.downtime_limit_ms = t.downtime_limit_ms;
      qemu.max_bandwidth = t.max_bandwidth;
      qemu.xbzrle_cache = t.xbzrle_cache;
      t = qemu;
    }
  } else if (started_switchover_bandwidth_) {
    t.avail_switchover_bandwidth = started_switchover_bandwidth_;  // what StartMigration gave it
  }
  return t;
}

Status LibvirtBackend::SetTuning(const MigrationTuning& c) {
  if (c.downtime_limit_ms &&
      virDomainMigrateSetMaxDowntime(dom_.get(), static_cast<unsigned long long>(*c.downtime_limit_ms), 0) < 0) {
    return LibvirtError("setting the downtime limit");
  }
  if (c.max_bandwidth) {
    // libvirt 9.0 takes MiB/s: round to the nearest, never to 0 (unlimited).
    unsigned long mib = static_cast<unsigned long>((*c.max_bandwidth + kMiB / 2) / kMiB);
    if (mib == 0) mib = 1;
    if (virDomainMigrateSetMaxSpeed(dom_.get(), mib, 0) < 0) return LibvirtError("setting the bandwidth");
  }
  if (c.xbzrle_cache && virDomainMigrateSetCompressionCache(dom_.get(), *c.xbzrle_cache, 0) < 0) {
    return LibvirtError("setting the xbzrle cache");
  }
  // The rest only QEMU has: through passthrough.
  Json args = ParametersOf(c.QemuOnly()).ToJson();
  if (args.Keys().empty()) return Status::Ok();
  Result<Json> r = Passthrough("migrate-set-parameters", args);
  return r.ok() ? Status::Ok() : r.status();
}

Status LibvirtBackend::StartPostcopy() {
  if (virDomainMigrateStartPostCopy(dom_.get(), 0) < 0) return LibvirtError("switching to post-copy");
  return Status::Ok();
}

Status LibvirtBackend::Cancel() {
  if (virDomainAbortJob(dom_.get()) < 0) return LibvirtError("aborting the migration");
  return Status::Ok();
}

Status LibvirtBackend::ResumePostcopy(const std::string& uri, const std::string& data_uri) {
  int state = 0, reason = 0;
  if (virDomainGetState(dom_.get(), &state, &reason, 0) < 0) return LibvirtError("the state of " + name_);
  if (state != VIR_DOMAIN_PAUSED || reason != VIR_DOMAIN_PAUSED_POSTCOPY_FAILED) {
    return Status::InvalidArgument("resume", name_ + " is not in a broken post-copy migration (paused, post-copy "
                                             "failed): there is nothing to recover");
  }
  if (migrate_thread_.joinable() && !migrate_done_) {
    return Status::CommandFailed("resume", "busy", "the migration call of " + name_ + " has not returned yet; try again");
  }
  TypedParams params;
  if (!data_uri.empty() && !params.AddString(VIR_MIGRATE_PARAM_URI, data_uri)) {
    return Status::Internal(name_, "out of memory building migration parameters");
  }
  Status st = RunMigrateWorker(uri, std::move(params), VIR_MIGRATE_LIVE | VIR_MIGRATE_POSTCOPY | VIR_MIGRATE_POSTCOPY_RESUME);
  if (!st.ok()) return st;
  // A refusal comes at once (the destination is not there, or libvirt
  // will not resume): say it to the operator rather than in a later sample.
  for (int i = 0; i < 20 && !migrate_done_; i++) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  if (!migrate_done_) return Status::Ok();
  std::string refusal;
  {
    std::lock_guard lock(migrate_mu_);
    refusal = migrate_error_;
  }
  if (refusal.empty()) return Status::Ok();  // resumed and already done
  // Just after the break one QEMU may not have noticed it yet: libvirt
  // refuses ("QEMU reports migration is still running") until it has.
  if (refusal.find("still running") != std::string::npos) {
    return Status::Unavailable("resume", "not yet: QEMU has not noticed the break yet (libvirt: " + refusal + ")");
  }
  return Status::CommandFailed("resume", "refused", refusal);
}

Result<std::vector<DiskCopy>> LibvirtBackend::DiskCopies(const std::vector<std::string>& disks) {
  // A storage migration's mirror is the disk's block job (type copy) for
  // as long as the migration runs. libvirt keeps cur one short of end
  // until QEMU says the mirror is ready, so cur == end means ready.
  std::vector<DiskCopy> copies;
  for (const std::string& disk : disks) {
    virDomainBlockJobInfo info{};
    int rc = virDomainGetBlockJobInfo(dom_.get(), disk.c_str(), &info, 0);
    if (rc < 0) return LibvirtError("reading the block job of " + disk);
    if (rc == 0 || info.type != VIR_DOMAIN_BLOCK_JOB_TYPE_COPY) continue;
    copies.push_back({disk, info.cur, info.end, info.end > 0 && info.cur == info.end});
  }
  return copies;
}

Status LibvirtBackend::PauseGuest() {
  if (virDomainSuspend(dom_.get()) < 0) return LibvirtError("pausing the guest");
  return Status::Ok();
}

Status LibvirtBackend::ResumeGuest() {
  if (virDomainResume(dom_.get()) < 0) return LibvirtError("resuming the guest");
  return Status::Ok();
}

Status LibvirtBackend::StartMigration(const MigrationStart& start, std::vector<std::string>* not_honoured) {
  auto say = [&](const std::string& what) {
    if (not_honoured) not_honoured->push_back(what);
  };
  unsigned int flags = VIR_MIGRATE_LIVE;
  TypedParams params;
  bool ok = true;
  if (!start.data_uri.empty()) ok &= params.AddString(VIR_MIGRATE_PARAM_URI, start.data_uri);
  if (start.tuning.max_bandwidth) {
    ok &= params.AddULLong(VIR_MIGRATE_PARAM_BANDWIDTH, std::max<uint64_t>(1, (*start.tuning.max_bandwidth + kMiB / 2) / kMiB));
  }
  if (start.postcopy) {
    flags |= VIR_MIGRATE_POSTCOPY;
    if (start.postcopy_preempt) {
      // No migration flag asks libvirt for it (none up to libvirt 12), and
      // libvirt sets the destination's capabilities itself.
      say("post-copy preempt: libvirt has no way to ask QEMU for it; post-copy without it");
    }
    if (start.postcopy_bandwidth) {
      ok &= params.AddULLong(VIR_MIGRATE_PARAM_BANDWIDTH_POSTCOPY,
                             std::max<uint64_t>(1, (*start.postcopy_bandwidth + kMiB / 2) / kMiB));
    }
  }
  if (start.auto_converge) {
    flags |= VIR_MIGRATE_AUTO_CONVERGE;
    if (start.throttle_initial) ok &= params.AddInt(VIR_MIGRATE_PARAM_AUTO_CONVERGE_INITIAL, static_cast<int>(*start.throttle_initial));
    if (start.throttle_increment) ok &= params.AddInt(VIR_MIGRATE_PARAM_AUTO_CONVERGE_INCREMENT, static_cast<int>(*start.throttle_increment));
  }
  if (start.throttle_max || start.throttle_tailslow) {
    say("the throttle's maximum and tailslow: libvirt has no migration parameter for them (the adaptive "
        "mode or a schedule step can set them while it runs, through QMP passthrough if the policy allows it)");
  }
  if (start.compression == "xbzrle") {
    flags |= VIR_MIGRATE_COMPRESSED;
    ok &= params.AddString(VIR_MIGRATE_PARAM_COMPRESSION, "xbzrle");
    if (start.xbzrle_cache) ok &= params.AddULLong(VIR_MIGRATE_PARAM_COMPRESSION_XBZRLE_CACHE, *start.xbzrle_cache);
  } else if (start.multifd_compression() != "none") {
    unsigned long lib = 0;
    virConnectGetLibVersion(conn_.get(), &lib);
    if (lib >= kLibvirtMultifdCompression) {
      // libvirt sets the compression on both sides (with VIR_MIGRATE_PARALLEL).
      flags |= VIR_MIGRATE_COMPRESSED;
      ok &= params.AddString(VIR_MIGRATE_PARAM_COMPRESSION, start.compression);
      if (start.compression_level) {
        ok &= params.AddInt(start.compression == "zlib" ? kParamZlibLevel : kParamZstdLevel,
                            static_cast<int>(*start.compression_level));
      }
    } else {
      say("multifd " + start.compression + " compression: libvirt " + VersionText(lib) + " cannot ask QEMU for it (libvirt 9.4 and later can); migrating uncompressed");
    }
  }
  if (start.dirty_limit) {
    say(std::string("DirtyLimit=yes: libvirt has no way to ask QEMU for the dirty-limit capability; ") +
        (start.auto_converge ? "auto-converge's throttle instead" : "migrating without it"));
  }
  if (start.switchover_bandwidth) {
    unsigned long lib = 0;
    virConnectGetLibVersion(conn_.get(), &lib);
    if (lib >= kLibvirtAvailSwitchover) {
      const uint64_t mib = std::max<uint64_t>(1, *start.switchover_bandwidth / kMiB);  // never above what was meant
      ok &= params.AddULLong(kParamAvailSwitchover, mib);
      started_switchover_bandwidth_ = mib * kMiB;
    } else {
      say("the switch-over speed from the start: libvirt " + VersionText(lib) +
          " cannot give it to QEMU (libvirt 11.1 and later can); downtime-limit stands in for it");
    }
  }
  if (start.copy_storage) flags |= VIR_MIGRATE_NON_SHARED_DISK;
  if (start.multifd_channels > 0) {
    flags |= VIR_MIGRATE_PARALLEL;
    ok &= params.AddInt(VIR_MIGRATE_PARAM_PARALLEL_CONNECTIONS, static_cast<int>(start.multifd_channels));
  }
  if (!ok) return Status::Internal(name_, "out of memory building migration parameters");
  if (start.tuning.downtime_limit_ms &&
      virDomainMigrateSetMaxDowntime(dom_.get(), static_cast<unsigned long long>(*start.tuning.downtime_limit_ms), 0) < 0) {
    say("the initial downtime limit: " + LibvirtError("downtime").message());
  }
  // What libvirt will set in QEMU: known to us, not to Facts() without
  // passthrough.
  started_capabilities_ = {{"auto-converge", start.auto_converge},
                           {"postcopy-ram", start.postcopy},
                           {"xbzrle", start.compression == "xbzrle"},
                           {"multifd", start.multifd_channels > 0}};
  return RunMigrateWorker(start.uri, std::move(params), flags);
}

MigrationTuning LibvirtBackend::StartSettingsLeftBehind(const MigrationStart& start) const {
  MigrationTuning t;
  t.downtime_limit_ms = start.tuning.downtime_limit_ms;
  return t;
}

Status LibvirtBackend::RunMigrateWorker(const std::string& dest_uri, TypedParams params, unsigned int flags) {
  // Both connections are the worker's own, opened before it goes, so that a
  // wrong destination URI is reported here, not in a thread.
  SilenceLibvirtErrorPrinting();
  ConnectPtr src(virConnectOpen(connect_uri_.empty() ? nullptr : connect_uri_.c_str()));
  if (!src) return LibvirtError("connecting to the source for the migration");
  ConnectPtr dest(virConnectOpen(dest_uri.c_str()));
  if (!dest) return LibvirtError("connecting to the destination " + dest_uri);
  if (flags & VIR_MIGRATE_POSTCOPY_RESUME) {
    Status st = RefuseResumeWhereTheDestinationCrashes(dest.get());
    if (!st.ok()) return st;
  }
  DomainPtr dom(virDomainLookupByUUIDString(src.get(), uuid_.c_str()));
  if (!dom) return LibvirtError("domain " + name_);
  if (migrate_thread_.joinable()) migrate_thread_.join();  // the previous call ended (post-copy broke)
  {
    std::lock_guard lock(migrate_mu_);
    migrate_error_.clear();
  }
  migrate_done_ = false;
  migrate_thread_ = std::thread([this, src = std::move(src), dest = std::move(dest), dom = std::move(dom),
                                 params = std::move(params), flags]() mutable {
    DomainPtr moved(virDomainMigrate3(dom.get(), dest.get(), params.get(), static_cast<unsigned>(params.count()), flags));
    if (!moved) {
      Status st = LibvirtError("virDomainMigrate3");
      std::lock_guard lock(migrate_mu_);
      migrate_error_ = st.message();
    }
    migrate_done_ = true;
  });
  return Status::Ok();
}

}  // namespace vc
