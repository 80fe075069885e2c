// virt-converge: the command line. Subcommands are a table of CLI11
// subcommands, each with its own Run function; no logic lives here beyond
// turning arguments into options.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <fstream>
#include <string>

#include "qmp/commands.h"
#include "src/cli/control_command.h"
#include "src/cli/evacuate_command.h"
#include "src/cli/list_command.h"
#include "src/cli/policy_command.h"
#include "src/cli/simulate_command.h"
#include "src/control/start_settings.h"
#include "src/policy/resolve.h"
#include "src/policy/values.h"
#include "src/attach/follower.h"
#include "src/attach/follow_lock.h"
#include "src/backend/libvirt_backend.h"
#include "src/backend/libvirt_event_loop.h"
#include "src/backend/qmp_backend.h"
#include "src/watch/watcher.h"
#include "src/attach/policy_facts.h"
#include "src/base/units.h"
#include "src/coord/admission.h"
#include "src/domain/domain_xml.h"

namespace vc {
namespace {

constexpr int kExitUsage = 2;
constexpr int kExitLost = 3;

struct CommonOptions {
  std::string qmp_socket;
  std::string domain;        // attach: a libvirt domain (name, UUID or id)
  std::string connect_uri;   // libvirt URI; "" = libvirt's default
  std::string run_dir = "/run/virt-converge";
  std::string state_dir = "/var/lib/virt-converge";
  bool dry_run = false;
  std::string interval = "1s";
  std::string max_downtime = "2s";
  int stall_passes = 3;
  std::string stall_time = "10s";
  double budget_per_gib = 64;
  std::string min_budget = "30s";
  std::string summary_json;
  std::string policy_root = "/";
  bool no_policy = false;
};

void AddCommonOptions(CLI::App* cmd, CommonOptions* o, bool qmp_required = true) {
  CLI::Option* qmp = cmd->add_option("--qmp", o->qmp_socket, "QMP unix socket of the (source) QEMU");
  if (qmp_required) qmp->required();
  cmd->add_option("--interval", o->interval, "sampling interval besides every pass (default 1s)");
  cmd->add_option("--max-downtime", o->max_downtime,
                  "highest downtime-limit the reaction may set (default 2s)");
  cmd->add_option("--stall-passes", o->stall_passes,
                  "passes without a new minimum of remaining that make a stall (default 3)");
  cmd->add_option("--stall-time", o->stall_time,
                  "time without a new minimum of remaining that makes a stall (default 10s)");
  cmd->add_option("--budget-per-gib", o->budget_per_gib,
                  "time budget in seconds per GiB of guest RAM (default 64)");
  cmd->add_option("--min-budget", o->min_budget, "the smallest time budget (default 30s)");
  cmd->add_option("--summary-json", o->summary_json, "also write the summary as JSON to this file");
  cmd->add_option("--policy-root", o->policy_root,
                  "read policy drop-ins under this root (default /); with none there, or with "
                  "--no-policy, the built-in reaction runs");
  cmd->add_flag("--no-policy", o->no_policy, "ignore policy files: run the built-in reaction");
  cmd->add_option("--state-dir", o->state_dir,
                  "where history records go, under history/ (default /var/lib/virt-converge)");
}

int Fail(const std::string& what, const Status& st, int code) {
  std::fprintf(stderr, "virt-converge: %s: %s\n", what.c_str(), st.ToString().c_str());
  return code;
}

// Plain QEMU has no UUID we can count on: its QMP socket names it.
std::string QmpMigrationId(const std::string& socket) {
  std::string id = "qmp-" + socket;
  for (char& c : id) {
    if (c == '/') c = '_';
  }
  return id;
}

Result<FollowOptions> MakeFollowOptions(const CommonOptions& o) {
  FollowOptions f;
  f.dry_run = o.dry_run;
  f.policy_root = o.no_policy ? "" : o.policy_root;
  f.run_dir = o.run_dir;
  f.state_dir = o.state_dir;
  if (!o.qmp_socket.empty()) f.migration_id = QmpMigrationId(o.qmp_socket);
  Result<int64_t> interval = ParseMillis(o.interval);
  if (!interval.ok()) return interval.status().WithContext("--interval");
  if (*interval < 50) return Status::InvalidArgument("--interval", "'" + o.interval + "' is below 50ms");
  f.interval = Millis(*interval);
  Result<int64_t> max_downtime = ParseMillis(o.max_downtime);
  if (!max_downtime.ok()) return max_downtime.status().WithContext("--max-downtime");
  f.reaction.max_downtime_ms = *max_downtime;
  if (o.stall_passes < 1) return Status::InvalidArgument("--stall-passes", "must be at least 1");
  f.reaction.stall_passes = o.stall_passes;
  Result<int64_t> stall_time = ParseMillis(o.stall_time);
  if (!stall_time.ok()) return stall_time.status().WithContext("--stall-time");
  f.reaction.stall_time = Millis(*stall_time);
  if (o.budget_per_gib <= 0) return Status::InvalidArgument("--budget-per-gib", "must be positive");
  f.reaction.budget_seconds_per_gib = o.budget_per_gib;
  Result<int64_t> min_budget = ParseMillis(o.min_budget);
  if (!min_budget.ok()) return min_budget.status().WithContext("--min-budget");
  f.reaction.min_budget = Millis(*min_budget);
  return f;
}

// A migration's place in the host's cost budget, once taken.
struct Admission {
  AdmissionTicket ticket;
  std::vector<std::string> copied_disks;  // what counted in its cost
};

int FollowAndReport(MigrationBackend& backend, const FollowOptions& f, const CommonOptions& o,
                    std::optional<Admission> admission = std::nullopt) {
  LiveView view(stdout, isatty(STDOUT_FILENO) != 0);
  Follower follower(backend, f, view);
  if (admission) follower.HoldAdmission(std::move(admission->ticket), std::move(admission->copied_disks));
  MigrationSummary summary = follower.Run();
  std::printf("\n%s", summary.ToText().c_str());
  if (!o.summary_json.empty()) {
    std::ofstream out(o.summary_json);
    out << summary.ToJson().Serialize(true) << "\n";
    if (!out) std::fprintf(stderr, "virt-converge: cannot write %s\n", o.summary_json.c_str());
  }
  std::fflush(stdout);
  return Follower::ExitCode(summary);
}

// A libvirt domain to follow, with this host's one-follower lock taken
// (a watch, or another operator, then leaves it to us).
struct LibvirtDomain {
  std::unique_ptr<LibvirtBackend> backend;
  FollowLock lock;
};

Result<LibvirtDomain> OpenLibvirtDomain(const CommonOptions& o, const std::string& domain) {
  VC_RETURN_IF_ERROR(RegisterLibvirtEventLoop());
  LibvirtBackend::Options bo;
  bo.note = [](const std::string& line) {
    std::printf("note: %s\n", line.c_str());
    std::fflush(stdout);
  };
  Result<std::unique_ptr<LibvirtBackend>> backend = LibvirtBackend::Connect(o.connect_uri, domain, bo);
  if (!backend.ok()) return backend.status();
  Result<FollowLock> lock = FollowLock::Take(o.run_dir, (*backend)->uuid());
  if (!lock.ok()) return lock.status().WithContext((*backend)->Describe());
  return LibvirtDomain{std::move(*backend), std::move(*lock)};
}

int RunAttachLibvirt(const CommonOptions& o, const FollowOptions& f) {
  Result<LibvirtDomain> d = OpenLibvirtDomain(o, o.domain);
  if (!d.ok() && d.status().code() == StatusCode::kCommandFailed) {
    std::printf("%s; leaving it to that one\n", d.status().message().c_str());
    return 0;
  }
  if (!d.ok()) return Fail("attach to " + o.domain, d.status(), kExitLost);
  std::printf("attached to %s\n", d->backend->Describe().c_str());
  std::fflush(stdout);
  FollowOptions with_id = f;
  with_id.migration_id = with_id.uuid = d->backend->uuid();
  return FollowAndReport(*d->backend, with_id, o);
}

int RunAttach(const CommonOptions& o) {
  Result<FollowOptions> f = MakeFollowOptions(o);
  if (!f.ok()) return Fail("attach", f.status(), kExitUsage);
  if (o.domain.empty() == o.qmp_socket.empty()) {
    return Fail("attach", Status::InvalidArgument("usage", "give a libvirt DOMAIN or --qmp SOCKET, not both"),
                kExitUsage);
  }
  if (!o.domain.empty()) return RunAttachLibvirt(o, *f);
  Result<FollowLock> lock = FollowLock::Take(o.run_dir, f->migration_id);
  if (!lock.ok() && lock.status().code() == StatusCode::kCommandFailed) {
    std::printf("%s; leaving it to that one\n", lock.status().message().c_str());
    return 0;
  }
  if (!lock.ok()) return Fail("attach to " + o.qmp_socket, lock.status(), kExitLost);
  QmpBackend::Options bo;
  bo.enable_events = !o.dry_run;
  Result<std::unique_ptr<QmpBackend>> backend = QmpBackend::Connect(o.qmp_socket, bo);
  if (!backend.ok()) return Fail("attach to " + o.qmp_socket, backend.status(), kExitLost);
  std::printf("attached to %s\n", (*backend)->Describe().c_str());
  std::fflush(stdout);
  return FollowAndReport(**backend, *f, o);
}

struct MigrateOptions {
  std::vector<std::string> args;  // URI, or DOMAIN DEST-URI
  std::string data_uri;
  bool postcopy = false;
  bool auto_converge = false;
  std::string dest_qmp;
  std::string bandwidth;
  std::string downtime;
  bool copy_storage = false;
  int64_t priority = 0;
};

// The host's cost budget ([Host] CostBudget): waits in the queue under the
// run dir until this migration fits. nullopt when it need not wait (no
// policy here, no run dir) — then it acts alone, as before.
Result<std::optional<Admission>> WaitForAdmission(const CommonOptions& o, const FollowOptions& f,
                                                        MigrationBackend& backend, const policy::Policy& p,
                                                        const MigrateOptions& m, const std::string& vm,
                                                        bool copy_storage) {
  if (o.run_dir.empty()) return std::optional<Admission>{};
  AdmissionEntry entry;
  entry.id = f.migration_id;
  entry.vm = vm;
  entry.peer = f.peer;
  entry.priority = m.priority;
  std::vector<std::string> targets;
  if (copy_storage) {
    // libvirt copies every writable, unshared file or block disk.
    Result<BackendFacts> facts = backend.Facts();
    if (!facts.ok()) return facts.status();
    Result<DomainSpec> spec = ParseDomainXml(facts->domain_xml);
    if (!spec.ok()) return spec.status().WithContext("the domain XML");
    for (const DomainSpec::Disk& d : spec->disks) {
      if (!d.CopiedByStorageMigration()) continue;
      entry.cost++;
      targets.push_back(d.target);
    }
  } else if (Result<std::vector<DiskCopy>> copies = backend.DiskCopies({}); copies.ok()) {
    // Plain QEMU: mirrors someone set up before the migration.
    for (const DiskCopy& c : *copies) {
      if (c.ready) continue;
      entry.cost++;
      targets.push_back(c.disk);
    }
  }
  const int64_t budget = p.cost_budget.value;
  Result<AdmissionTicket> ticket = AdmissionTicket::Enter(o.run_dir + "/admission", entry);
  if (!ticket.ok()) return ticket.status();
  std::string disks;
  for (const std::string& t : targets) disks += (disks.empty() ? "" : ", ") + t;
  const std::string cost = "cost " + std::to_string(entry.cost) +
                           (disks.empty() ? " (the VM)" : " (the VM + " + disks + ")");
  Clock::time_point queued_at = Clock::now();
  bool waited = false;
  Status st = ticket->WaitTurn(budget, [&](const AdmissionVerdict& v) {
    std::printf("queued: %s ([Host] CostBudget=%lld, %s)\n", v.Describe(ticket->entry(), budget).c_str(),
                static_cast<long long>(budget), p.cost_budget.origin.ToString().c_str());
    std::fflush(stdout);
    waited = true;
  });
  if (!st.ok()) return st;
  double secs = std::chrono::duration<double>(Clock::now() - queued_at).count();
  std::printf("admitted: %s within the host's budget of %lld%s\n", cost.c_str(), static_cast<long long>(budget),
              waited ? (" after " + FormatMillis(secs * 1000) + " in the queue").c_str() : "");
  std::fflush(stdout);
  return std::optional<Admission>(Admission{std::move(*ticket), std::move(targets)});
}

/// The [Start] section of a policy as a start request.
int RunMigrate(const CommonOptions& o, const MigrateOptions& m) {
  Result<FollowOptions> f = MakeFollowOptions(o);
  if (!f.ok()) return Fail("migrate", f.status(), kExitUsage);
  // Plain QEMU: --qmp SOCKET URI. libvirt: DOMAIN DEST-URI.
  const bool libvirt = o.qmp_socket.empty();
  if (m.args.size() != (libvirt ? 2u : 1u)) {
    return Fail("migrate", Status::InvalidArgument("usage", libvirt ? "migrate DOMAIN DEST-URI [-c URI], or migrate --qmp SOCKET URI"
                                                                     : "migrate --qmp SOCKET URI"),
                kExitUsage);
  }
  const std::string target = libvirt ? m.args[1] : m.args[0];
  std::unique_ptr<MigrationBackend> backend_owner;
  std::optional<FollowLock> lock;
  if (libvirt) {
    Result<LibvirtDomain> d = OpenLibvirtDomain(o, m.args[0]);
    if (!d.ok()) return Fail("migrate " + m.args[0], d.status(), d.status().code() == StatusCode::kCommandFailed ? 1 : kExitLost);
    lock.emplace(std::move(d->lock));
    f->migration_id = f->uuid = d->backend->uuid();
    backend_owner = std::move(d->backend);
  } else {
    Result<FollowLock> l = FollowLock::Take(o.run_dir, f->migration_id);
    if (!l.ok()) return Fail("migrate " + o.qmp_socket, l.status(), l.status().code() == StatusCode::kCommandFailed ? 1 : kExitLost);
    lock.emplace(std::move(*l));
    Result<std::unique_ptr<QmpBackend>> qb = QmpBackend::Connect(o.qmp_socket, {});
    if (!qb.ok()) return Fail("connect to " + o.qmp_socket, qb.status(), kExitLost);
    backend_owner = std::move(*qb);
  }
  MigrationBackend* backend = backend_owner.get();

  // The start settings: the policy's [Start] for this VM, then the flags.
  MigrationStart start;
  std::optional<policy::Policy> host_policy;
  std::string vm_name = libvirt ? m.args[0] : o.qmp_socket;
  if (!f->policy_root.empty()) {
    Result<BackendFacts> facts = backend->Facts();
    if (!facts.ok()) return Fail("read " + backend->Describe(), facts.status(), kExitLost);
    policy::VmFacts vm = PolicyFacts(*facts, [](const std::string& line) {
      std::fprintf(stderr, "virt-converge: policy warning: %s\n", line.c_str());
    });
    policy::Resolved r = policy::Resolve(f->policy_root, vm);
    for (const policy::Diagnostic& d : r.diagnostics) {
      std::fprintf(stderr, "virt-converge: policy warning: %s\n", d.ToString().c_str());
    }
    if (!vm.name.empty()) vm_name = vm.name;
    if (!r.applied.empty()) {
      host_policy = r.policy;
      start = StartFromPolicy(r.policy);
      std::printf("start settings from the policy for '%s':\n", vm.name.c_str());
      for (const policy::ShownSetting& s : policy::Show(r.policy)) {
        if (s.key.rfind("Start.", 0) == 0 && !s.origin.is_default()) {
          std::printf("  %s=%s  # %s\n", s.key.c_str() + 6, s.value.c_str(), s.origin.ToString().c_str());
        }
      }
    }
  }
  start.uri = target;
  f->peer = target;
  f->started_here = true;
  start.data_uri = m.data_uri;
  start.postcopy |= m.postcopy;
  start.auto_converge |= m.auto_converge;
  start.copy_storage = m.copy_storage;
  if (m.copy_storage && !libvirt) {
    return Fail("migrate", Status::InvalidArgument("--copy-storage", "is for libvirt; plain QEMU copies disks with "
                                                                     "drive-mirror jobs set up before the migration"),
                kExitUsage);
  }
  if (!m.bandwidth.empty()) {
    Result<uint64_t> bw = ParseBytesPerSecond(m.bandwidth);
    if (!bw.ok()) return Fail("migrate", bw.status().WithContext("--bandwidth"), kExitUsage);
    start.tuning.max_bandwidth = *bw;
  }
  if (!m.downtime.empty()) {
    Result<int64_t> dt = ParseMillis(m.downtime);
    if (!dt.ok()) return Fail("migrate", dt.status().WithContext("--downtime"), kExitUsage);
    start.tuning.downtime_limit_ms = *dt;
  }
  // post-copy and multifd need their capability on the destination too,
  // before its incoming migration starts.
  std::map<std::string, bool> dest_caps;
  if (start.postcopy) dest_caps["postcopy-ram"] = true;
  if (start.multifd_channels > 0) dest_caps["multifd"] = true;
  if (libvirt) {
    // libvirt sets them on both sides itself.
  } else if (!dest_caps.empty() && !m.dest_qmp.empty()) {
    Result<std::unique_ptr<QmpBackend>> dest = QmpBackend::Connect(m.dest_qmp, {});
    if (!dest.ok()) return Fail("connect to the destination " + m.dest_qmp, dest.status(), kExitLost);
    Status st = qmp::MigrateSetCapabilities((*dest)->session(), dest_caps);
    if (!st.ok()) return Fail("set capabilities on the destination", st, kExitLost);
  } else if (!dest_caps.empty()) {
    std::fprintf(stderr,
                 "virt-converge: note: %s%s%s must be on at the destination too; without --dest-qmp "
                 "it must already be set there\n",
                 start.postcopy ? "postcopy-ram" : "", dest_caps.size() > 1 ? " and " : "",
                 start.multifd_channels > 0 ? "multifd" : "");
  }
  // Wait for room in the host's cost budget (the policy's [Host]).
  std::optional<Admission> admission;
  if (host_policy) {
    Result<std::optional<Admission>> t =
        WaitForAdmission(o, *f, *backend, *host_policy, m, vm_name, start.copy_storage);
    if (!t.ok()) return Fail("queue " + vm_name + " for the host's cost budget", t.status(), kExitLost);
    admission = std::move(*t);
  }
  std::vector<std::string> not_honoured;
  Status st = backend->StartMigration(start, &not_honoured);
  for (const std::string& n : not_honoured) {
    std::printf("cannot honour here: %s\n", n.c_str());
  }
  if (!st.ok()) return Fail("start the migration", st, 1);
  std::printf("started migration of %s to %s (postcopy-ram %s, auto-converge %s, compression %s)\n",
              backend->Describe().c_str(), target.c_str(), start.postcopy ? "on" : "off",
              start.auto_converge ? "on" : "off", start.compression.c_str());
  std::fflush(stdout);
  return FollowAndReport(*backend, *f, o, std::move(admission));
}

}  // namespace
}  // namespace vc

int main(int argc, char** argv) {
  CLI::App app{"virt-converge: makes QEMU/KVM live migrations finish"};
  app.require_subcommand(1);

  vc::CommonOptions attach_opts;
  CLI::App* attach = app.add_subcommand(
      "attach", "follow a live migration of a QEMU and make it converge");
  vc::AddCommonOptions(attach, &attach_opts, /*qmp_required=*/false);
  attach->add_option("domain", attach_opts.domain, "libvirt domain (name, UUID or id) to follow");
  attach->add_option("-c,--connect", attach_opts.connect_uri,
                     "libvirt URI (default: libvirt's default, e.g. qemu:///system)");
  attach->add_option("--run-dir", attach_opts.run_dir,
                     "host-local state, e.g. the one-follower-per-migration locks (default /run/virt-converge)");
  attach->add_flag("--dry-run", attach_opts.dry_run, "observe only: say what it would do");

  vc::CommonOptions migrate_opts;
  vc::MigrateOptions m;
  CLI::App* migrate = app.add_subcommand(
      "migrate", "start a live migration (libvirt or plain QEMU) with the policy's start settings, then follow it");
  vc::AddCommonOptions(migrate, &migrate_opts, /*qmp_required=*/false);
  migrate->add_option("args", m.args,
                      "libvirt: DOMAIN DEST-URI (e.g. vm1 qemu+ssh://host2/system); plain QEMU (--qmp): the "
                      "migration URI, e.g. tcp:192.0.2.2:4444")->required();
  migrate->add_option("-c,--connect", migrate_opts.connect_uri, "libvirt URI of this host (default: libvirt's default)");
  migrate->add_option("--migrate-uri", m.data_uri, "libvirt: where the migration data goes, e.g. tcp://192.0.2.2");
  migrate->add_option("--run-dir", migrate_opts.run_dir, "host-local state (default /run/virt-converge)");
  migrate->add_flag("--postcopy", m.postcopy, "enable postcopy-ram so it can switch to post-copy");
  migrate->add_flag("--auto-converge", m.auto_converge, "enable auto-converge CPU throttling");
  migrate->add_option("--dest-qmp", m.dest_qmp,
                      "QMP socket of the destination QEMU (to enable postcopy-ram there)");
  migrate->add_option("--bandwidth", m.bandwidth, "max-bandwidth, e.g. 32MiB/s or 1Gbit/s");
  migrate->add_option("--downtime", m.downtime, "initial downtime-limit, e.g. 300ms");
  migrate->add_flag("--copy-storage", m.copy_storage,
                    "libvirt: copy the VM's non-shared disks too (a storage migration; each costs 1 in the "
                    "host's budget until its copy is ready)");
  migrate->add_option("--priority", m.priority,
                      "place in the host's queue: higher starts first, then first come (default 0)");

  vc::WatchOptions w;
  CLI::App* watch = app.add_subcommand(
      "watch", "notice every outgoing libvirt migration on this host and start a helper for each");
  watch->add_option("-c,--connect", w.uri, "libvirt URI (default: libvirt's default)");
  watch->add_option("--run-dir", w.run_dir, "host-local state and helpers' logs (default /run/virt-converge)");
  watch->add_option("--helper-arg", w.helper_args,
                    "an extra argument for each `attach` helper (repeatable), e.g. --helper-arg=--policy-root=/srv/p");
  watch->add_option("--helpers", w.helpers,
                    "how helpers start: systemd (transient units), fork, or auto (systemd when booted with it)")
      ->check(CLI::IsMember({"auto", "systemd", "fork"}))
      ->capture_default_str();
  watch->add_option("--systemd-address", w.systemd_address,
                    "talk to a systemd manager at this D-Bus address (e.g. unix:path=/run/systemd/private) "
                    "instead of the system bus; implies --helpers=systemd");

  std::function<int()> run_policy = vc::AddPolicyCommand(&app);
  std::function<int()> run_list = vc::AddListCommands(&app);
  std::function<int()> run_control = vc::AddControlCommands(&app);
  std::function<int()> run_simulate = vc::AddSimulateCommand(&app);
  std::function<int()> run_evacuate = vc::AddEvacuateCommand(&app);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : vc::kExitUsage;
  }
  if (attach->parsed()) return vc::RunAttach(attach_opts);
  if (migrate->parsed()) return vc::RunMigrate(migrate_opts, m);
  if (watch->parsed()) {
    vc::Watcher watcher(w, [](const std::string& line) {
      std::printf("%s\n", line.c_str());
      std::fflush(stdout);
    });
    return watcher.Run();
  }
  if (app.got_subcommand("policy")) return run_policy();
  if (int code = run_list(); code >= 0) return code;
  if (int code = run_control(); code >= 0) return code;
  if (int code = run_evacuate(); code >= 0) return code;
  if (app.got_subcommand("simulate")) return run_simulate();
  return vc::kExitUsage;
}
