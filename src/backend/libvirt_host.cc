#include "src/backend/libvirt_host.h"

#include <algorithm>

#include <libvirt/libvirt-qemu.h>

#include <cstdlib>
#include <optional>

#include "src/base/json.h"

namespace vc {
namespace {

std::string UuidOf(virDomainPtr dom) {
  char uuid[VIR_UUID_STRING_BUFLEN] = {};
  if (virDomainGetUUIDString(dom, uuid) < 0) return "";
  return uuid;
}

Result<std::vector<DomainPtr>> ActiveDomains(virConnectPtr conn) {
  virDomainPtr* list = nullptr;
  int n = virConnectListAllDomains(conn, &list, VIR_CONNECT_LIST_DOMAINS_ACTIVE);
  if (n < 0) return LibvirtError("listing domains");
  std::vector<DomainPtr> domains;
  for (int i = 0; i < n; i++) domains.emplace_back(list[i]);
  std::free(list);
  return domains;
}

// The migration job of \a dom, in or out, from its job stats (which taint
// nothing); nullopt when it has none.
std::optional<LibvirtMigrationJob> MigrationJobOf(virDomainPtr dom) {
  int type = VIR_DOMAIN_JOB_NONE;
  TypedParams p;
  if (virDomainGetJobStats(dom, &type, p.out_params(), p.out_count(), 0) < 0) {
    virResetLastError();
    type = VIR_DOMAIN_JOB_NONE;
  }
  int op = type == VIR_DOMAIN_JOB_NONE ? VIR_DOMAIN_JOB_OPERATION_UNKNOWN
                                       : p.Int(VIR_DOMAIN_JOB_OPERATION).value_or(VIR_DOMAIN_JOB_OPERATION_UNKNOWN);
  if (op != VIR_DOMAIN_JOB_OPERATION_MIGRATION_OUT && op != VIR_DOMAIN_JOB_OPERATION_MIGRATION_IN) {
    // libvirt 9.0 refuses job stats on the destination ("available only
    // on the source host"): there the domain waits, paused for "migration".
    int state = VIR_DOMAIN_NOSTATE, reason = 0;
    if (virDomainGetState(dom, &state, &reason, 0) < 0) {
      virResetLastError();
      return std::nullopt;
    }
    if (state != VIR_DOMAIN_PAUSED || reason != VIR_DOMAIN_PAUSED_MIGRATION) return std::nullopt;
    op = VIR_DOMAIN_JOB_OPERATION_MIGRATION_IN;
  }
  const char* name = virDomainGetName(dom);
  LibvirtMigrationJob j;
  j.uuid = UuidOf(dom);
  j.name = name ? name : "";
  j.incoming = op == VIR_DOMAIN_JOB_OPERATION_MIGRATION_IN;
  j.elapsed_ms = static_cast<int64_t>(p.ULLong(VIR_DOMAIN_JOB_TIME_ELAPSED).value_or(0));
  j.memory_total = p.ULLong(VIR_DOMAIN_JOB_MEMORY_TOTAL).value_or(0);
  j.memory_remaining = p.ULLong(VIR_DOMAIN_JOB_MEMORY_REMAINING).value_or(0);
  j.memory_bps = p.ULLong(VIR_DOMAIN_JOB_MEMORY_BPS).value_or(0);
  j.dirty_rate = p.ULLong(VIR_DOMAIN_JOB_MEMORY_DIRTY_RATE).value_or(0) *
                 p.ULLong(VIR_DOMAIN_JOB_MEMORY_PAGE_SIZE).value_or(4096);
  j.iteration = p.ULLong(VIR_DOMAIN_JOB_MEMORY_ITERATION).value_or(0);
  return j;
}

}  // namespace

void LibvirtHost::OnClose(virConnectPtr, int, void* self) { static_cast<LibvirtHost*>(self)->on_closed_(); }

LibvirtHost::LibvirtHost(ConnectPtr conn, OnEvent on_event, OnClosed on_closed)
    : conn_(std::move(conn)), on_event_(std::move(on_event)), on_closed_(std::move(on_closed)) {}

Result<std::unique_ptr<LibvirtHost>> LibvirtHost::Connect(const std::string& uri, OnEvent on_event,
                                                          OnClosed on_closed) {
  SilenceLibvirtErrorPrinting();
  ConnectPtr conn(virConnectOpen(uri.empty() ? nullptr : uri.c_str()));
  if (!conn) return LibvirtError("connecting to libvirt at " + (uri.empty() ? std::string("the default URI") : uri));
  std::unique_ptr<LibvirtHost> h(new LibvirtHost(std::move(conn), std::move(on_event), std::move(on_closed)));
  // QEMU's MIGRATION event of every domain: the first sign of a migration
  // (status "setup"), before a byte is copied.
  auto on_qemu = [](virConnectPtr, virDomainPtr dom, const char*, long long, unsigned int,
                    const char* details, void* self) {
    Result<Json> data = Json::Parse(details ? details : "");
    std::string status = data.ok() ? data->GetString("status").value_or("") : "";
    if (status == "setup" || status == "active") {
      static_cast<LibvirtHost*>(self)->on_event_(UuidOf(dom), "MIGRATION " + status);
    }
  };
  h->qemu_callback_ = virConnectDomainQemuMonitorEventRegister(h->conn_.get(), nullptr, "MIGRATION",
                                                               on_qemu, h.get(), nullptr, 0);
  if (h->qemu_callback_ < 0) return LibvirtError("registering for QEMU's MIGRATION events");
  auto on_iteration = [](virConnectPtr, virDomainPtr dom, int iteration, void* self) {
    static_cast<LibvirtHost*>(self)->on_event_(UuidOf(dom), "pass " + std::to_string(iteration));
  };
  h->iteration_callback_ = virConnectDomainEventRegisterAny(
      h->conn_.get(), nullptr, VIR_DOMAIN_EVENT_ID_MIGRATION_ITERATION,
      VIR_DOMAIN_EVENT_CALLBACK(+on_iteration), h.get(), nullptr);
  if (h->iteration_callback_ < 0) return LibvirtError("registering for MIGRATION_ITERATION events");
  if (virConnectRegisterCloseCallback(h->conn_.get(), &LibvirtHost::OnClose, h.get(), nullptr) < 0) {
    return LibvirtError("registering for the connection's close");
  }
  h->close_registered_ = true;
  return h;
}

LibvirtHost::~LibvirtHost() {
  if (!conn_) return;
  if (qemu_callback_ >= 0) virConnectDomainQemuMonitorEventDeregister(conn_.get(), qemu_callback_);
  if (iteration_callback_ >= 0) virConnectDomainEventDeregisterAny(conn_.get(), iteration_callback_);
  if (close_registered_) virConnectUnregisterCloseCallback(conn_.get(), &LibvirtHost::OnClose);
  virResetLastError();
}

bool LibvirtHost::IsOutgoing(virDomainPtr dom) {
  std::optional<LibvirtMigrationJob> job = MigrationJobOf(dom);
  return job && !job->incoming;
}

Result<std::vector<OutgoingMigration>> LibvirtHost::Outgoing() {
  Result<std::vector<DomainPtr>> domains = ActiveDomains(conn_.get());
  if (!domains.ok()) return domains.status();
  std::vector<OutgoingMigration> out;
  for (const DomainPtr& d : *domains) {
    if (!IsOutgoing(d.get())) continue;
    const char* name = virDomainGetName(d.get());
    out.push_back({UuidOf(d.get()), name ? name : ""});
  }
  return out;
}

Result<std::vector<LibvirtMigrationJob>> LibvirtMigrationJobs(const std::string& uri) {
  SilenceLibvirtErrorPrinting();
  // Job stats need only read access: an observer asks for no more.
  ConnectPtr conn(virConnectOpenReadOnly(uri.empty() ? nullptr : uri.c_str()));
  if (!conn) return LibvirtError("connecting to libvirt at " + (uri.empty() ? "the default URI" : uri));
  Result<std::vector<DomainPtr>> domains = ActiveDomains(conn.get());
  if (!domains.ok()) return domains.status();
  std::vector<LibvirtMigrationJob> jobs;
  for (const DomainPtr& d : *domains) {
    if (std::optional<LibvirtMigrationJob> j = MigrationJobOf(d.get())) jobs.push_back(std::move(*j));
  }
  return jobs;
}

Result<std::vector<std::string>> LibvirtResidentDomains(const std::string& uri) {
  SilenceLibvirtErrorPrinting();
  ConnectPtr conn(virConnectOpenReadOnly(uri.empty() ? nullptr : uri.c_str()));
  if (!conn) return LibvirtError("connecting to libvirt at " + (uri.empty() ? "the default URI" : uri));
  Result<std::vector<DomainPtr>> domains = ActiveDomains(conn.get());
  if (!domains.ok()) return domains.status();
  std::vector<std::string> names;
  for (const DomainPtr& d : *domains) {
    if (MigrationJobOf(d.get())) continue;
    const char* name = virDomainGetName(d.get());
    if (name) names.push_back(name);
  }
  std::sort(names.begin(), names.end());
  return names;
}

Result<bool> LibvirtDomainRunsAt(const std::string& uri, const std::string& name) {
  SilenceLibvirtErrorPrinting();
  ConnectPtr conn(virConnectOpenReadOnly(uri.empty() ? nullptr : uri.c_str()));
  if (!conn) return LibvirtError("connecting to libvirt at " + (uri.empty() ? "the default URI" : uri));
  DomainPtr d(virDomainLookupByName(conn.get(), name.c_str()));
  if (!d) {
    Status st = LibvirtError("domain " + name + " at " + uri);
    if (st.code() == StatusCode::kNotFound) return false;
    return st;
  }
  int state = 0, reason = 0;
  if (virDomainGetState(d.get(), &state, &reason, 0) < 0) return LibvirtError("the state of " + name + " at " + uri);
  // An incoming copy is paused until its migration finishes.
  if (state == VIR_DOMAIN_PAUSED && reason == VIR_DOMAIN_PAUSED_MIGRATION) return false;
  return state == VIR_DOMAIN_RUNNING || state == VIR_DOMAIN_PAUSED || state == VIR_DOMAIN_BLOCKED;
}

Result<bool> LibvirtHost::MigratingOut(const std::string& uuid, std::string* name) {
  DomainPtr d(virDomainLookupByUUIDString(conn_.get(), uuid.c_str()));
  if (!d) return LibvirtError("domain " + uuid);
  const char* n = virDomainGetName(d.get());
  if (name) *name = n ? n : "";
  return IsOutgoing(d.get());
}

}  // namespace vc
