#include "src/cli/migrate_command.h"

#include <cstdio>
#include <map>
#include <memory>

#include "plugins/action.h"
#include "src/attach/recorded_start.h"
#include "src/backend/qmp_backend.h"
#include "src/base/time.h"
#include "src/base/units.h"
#include "src/cli/follow_common.h"
#include "src/attach/followed_policy.h"
#include "src/control/adaptive.h"
#include "src/control/policy_facts.h"
#include "src/control/start_settings.h"
#include "src/domain/domain_xml.h"
#include "src/policy/resolve.h"

namespace vc {
namespace {

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
                                                  const MigrateOptions& m, const std::string& vm, bool copy_storage) {
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
  Result<AdmissionTicket> ticket = AdmissionTicket::Enter(o.paths().AdmissionDir(), entry);
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

// libvirt without QMP passthrough can give QEMU 8.2+ the switch-over speed
// only at the start (libvirt 11.1+; the backend says where it cannot): the
// adaptive mode's speed, stated or learned to this destination, when
// max-bandwidth caps the migration well below it.
std::optional<uint64_t> SwitchoverBandwidthAtStart(MigrationBackend& backend, const policy::Policy& p,
                                                   const FollowOptions& f, const MigrationStart& start) {
  if (!p.adaptive.value) return std::nullopt;
  Result<BackendFacts> facts = backend.Facts();
  if (!facts.ok() || !facts->QemuAtLeast(8, 2) || facts->passthrough_refusal.empty()) return std::nullopt;
  std::optional<LearnedSwitchover> learned = RecallSwitchover(p, f.paths, f.peer);
  const AdaptiveConfig config =
      AdaptiveConfig::From(p, learned ? SwitchoverSpeed::Learned(learned->copies) : SwitchoverSpeed{});
  const uint64_t rate = config.StartSwitchoverBandwidth(start.tuning.max_bandwidth);
  if (rate == 0) return std::nullopt;
  std::printf("switch-over speed for QEMU from the start: %s (avail-switchover-bandwidth; %s); without QMP "
              "passthrough libvirt cannot change it later\n",
              FormatRate(static_cast<double>(rate)).c_str(), config.switchover.Describe().c_str());
  return rate;
}

int RunMigrate(const CommonOptions& o, const MigrateOptions& m) {
  Result<FollowOptions> f = MakeFollowOptions(o);
  if (!f.ok()) return NotStarted(o, "migrate", f.status(), kExitUsage);
  // Plain QEMU: --qmp SOCKET URI. libvirt: DOMAIN DEST-URI.
  const bool libvirt = o.qmp_socket.empty();
  if (m.args.size() != (libvirt ? 2u : 1u)) {
    return NotStarted(o, "migrate", Status::InvalidArgument("usage", libvirt ? "migrate DOMAIN DEST-URI [-c URI], or migrate --qmp SOCKET URI"
                                                                     : "migrate --qmp SOCKET URI"),
                kExitUsage);
  }
  const std::string target = libvirt ? m.args[1] : m.args[0];
  std::unique_ptr<MigrationBackend> backend_owner;
  std::optional<FollowLock> lock, vm_lock;
  if (libvirt) {
    Result<LibvirtDomain> d = OpenLibvirtDomain(o, m.args[0]);
    if (!d.ok()) return NotStarted(o, "migrate " + m.args[0], d.status(), d.status().code() == StatusCode::kCommandFailed ? 1 : kExitLost);
    lock.emplace(std::move(d->lock));
    f->migration_id = f->uuid = d->backend->uuid();
    backend_owner = std::move(d->backend);
  } else {
    Result<FollowLock> l = FollowLock::Take(o.paths(), f->migration_id);
    if (!l.ok()) return NotStarted(o, "migrate " + o.qmp_socket, l.status(), l.status().code() == StatusCode::kCommandFailed ? 1 : kExitLost);
    lock.emplace(std::move(*l));
    QmpBackend::Options bo;
    bo.destination_qmp = m.dest_qmp;
    Result<std::unique_ptr<QmpBackend>> qb = QmpBackend::Connect(o.qmp_socket, bo);
    if (!qb.ok()) return NotStarted(o, "connect to " + o.qmp_socket, qb.status(), kExitLost);
    Result<std::optional<FollowLock>> vm = TakeVmLock(o, **qb);
    if (!vm.ok()) return NotStarted(o, "migrate " + o.qmp_socket, vm.status(), vm.status().code() == StatusCode::kCommandFailed ? 1 : kExitLost);
    vm_lock = std::move(*vm);
    backend_owner = std::move(*qb);
  }
  MigrationBackend* backend = backend_owner.get();
  if (!f->dry_run) {
    Status settled = SettleWhatADeadFollowerLeft(*backend, *f);
    if (!settled.ok()) return NotStarted(o, "migrate " + backend->Describe(), settled, settled.code() == StatusCode::kCommandFailed ? 1 : kExitLost);
  }

  // The start settings: the policy's [Start] for this VM, then the flags.
  MigrationStart start;
  std::optional<policy::Policy> host_policy;
  std::string vm_name = libvirt ? m.args[0] : o.qmp_socket;
  if (!f->policy_root.empty()) {
    Result<BackendFacts> facts = backend->Facts();
    if (!facts.ok()) return NotStarted(o, "read " + backend->Describe(), facts.status(), kExitLost);
    policy::VmFacts vm = PolicyFacts(*facts, [](const std::string& line) {
      std::fprintf(stderr, "virt-converge: policy warning: %s\n", line.c_str());
    });
    policy::Resolved r = policy::Resolve(f->policy_root, vm, StepVocabulary());
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
    return NotStarted(o, "migrate", Status::InvalidArgument("--copy-storage", "is for libvirt; plain QEMU copies disks with "
                                                                     "drive-mirror jobs set up before the migration"),
                kExitUsage);
  }
  if (!m.bandwidth.empty()) {
    Result<uint64_t> bw = ParseBytesPerSecond(m.bandwidth);
    if (!bw.ok()) return NotStarted(o, "migrate", bw.status().WithContext("--bandwidth"), kExitUsage);
    start.tuning.max_bandwidth = *bw;
  }
  if (!m.downtime.empty()) {
    Result<int64_t> dt = ParseMillis(m.downtime);
    if (!dt.ok()) return NotStarted(o, "migrate", dt.status().WithContext("--downtime"), kExitUsage);
    start.tuning.downtime_limit_ms = *dt;
  }
  if (libvirt && host_policy) start.switchover_bandwidth = SwitchoverBandwidthAtStart(*backend, *host_policy, *f, start);
  if (!libvirt && start.postcopy && start.postcopy_preempt) {
    // A source without it migrates without it; the destination then must not have it either.
    Result<BackendFacts> facts = backend->Facts();
    if (facts.ok() && !facts->capabilities.count("postcopy-preempt")) {
      std::fprintf(stderr, "virt-converge: note: post-copy preempt: %s has no postcopy-preempt capability (QEMU 7.1 "
                   "and later); post-copy without it\n", backend->Describe().c_str());
      start.postcopy_preempt = false;
    }
  }
  // post-copy and multifd need their capability on the destination too,
  // before its incoming migration starts.
  const bool both_sides = start.postcopy || start.multifd_channels > 0;
  if (libvirt) {
    // libvirt sets them on both sides itself.
  } else if (both_sides && !m.dest_qmp.empty()) {
    Result<std::unique_ptr<QmpBackend>> dest = QmpBackend::Connect(m.dest_qmp, {.enable_events = false, .destination_qmp = "", .sample_dirty_rate = false});
    if (!dest.ok()) return NotStarted(o, "connect to the destination " + m.dest_qmp, dest.status(), kExitLost);
    Status st = (*dest)->PrepareIncoming(start);
    if (!st.ok()) return NotStarted(o, "set capabilities on the destination", st, kExitLost);
  } else if (both_sides) {
    const std::string multifd =
        start.multifd_channels > 0
            ? "multifd (with multifd-channels " + std::to_string(start.multifd_channels) + " and multifd-compression " +
                  start.multifd_compression() + ")"
            : "";
    std::fprintf(stderr,
                 "virt-converge: note: %s%s%s%s must be on at the destination too; without --dest-qmp "
                 "it must already be set there\n",
                 start.postcopy ? "postcopy-ram" : "", start.postcopy_preempt ? ", postcopy-preempt" : "",
                 start.postcopy && start.multifd_channels > 0 ? " and " : "", multifd.c_str());
  }
  // Wait for room in the host's cost budget (the policy's [Host]).
  std::optional<Admission> admission;
  if (host_policy) {
    Result<std::optional<Admission>> t =
        WaitForAdmission(o, *f, *backend, *host_policy, m, vm_name, start.copy_storage);
    if (!t.ok()) return NotStarted(o, "queue " + vm_name + " for the host's cost budget", t.status(), kExitLost);
    admission = std::move(*t);
  }
  // What QEMU had before the start settings: put back if the migration
  // does not complete.
  Result<MigrationTuning> before = backend->Tuning();
  if (!before.ok()) return NotStarted(o, "read " + backend->Describe(), before.status(), kExitLost);
  f->before_start = *before;
  f->start_settings = backend->StartSettingsLeftBehind(start);
  std::vector<std::string> not_honoured;
  Status st = StartRecorded(*backend, start, f->paths, f->migration_id, *before, f->start_settings, &not_honoured);
  for (const std::string& n : not_honoured) {
    std::printf("cannot honour here: %s\n", n.c_str());
  }
  if (!st.ok()) return NotStarted(o, "start the migration", st, 1);
  // What QEMU runs with (DirtyLimit= may have taken auto-converge's place).
  Result<BackendFacts> facts = backend->Facts();
  auto on = [&](const char* cap, bool otherwise) {
    return facts.ok() && facts->capabilities.count(cap) ? facts->capabilities.at(cap) : otherwise;
  };
  std::printf("started migration of %s to %s (postcopy-ram %s, auto-converge %s%s, compression %s)\n",
              backend->Describe().c_str(), target.c_str(), start.postcopy ? "on" : "off",
              on("auto-converge", start.auto_converge) ? "on" : "off", on("dirty-limit", false) ? ", dirty-limit on" : "",
              start.compression.c_str());
  std::fflush(stdout);
  return FollowAndReport(*backend, *f, o, std::move(admission));
}

struct MigrateCommand {
  CommonOptions common;
  MigrateOptions m;
};

}  // namespace

std::function<int()> AddMigrateCommand(CLI::App* app) {
  auto o = std::make_shared<MigrateCommand>();
  CLI::App* migrate = app->add_subcommand(
      "migrate", "start a live migration (libvirt or plain QEMU) with the policy's start settings, then follow it");
  AddCommonOptions(migrate, &o->common, /*qmp_required=*/false);
  migrate->add_option("args", o->m.args,
                      "libvirt: DOMAIN DEST-URI (e.g. vm1 qemu+ssh://host2/system); plain QEMU (--qmp): the "
                      "migration URI, e.g. tcp:192.0.2.2:4444")->required();
  migrate->add_option("-c,--connect", o->common.connect_uri, "libvirt URI of this host (default: libvirt's default)");
  migrate->add_option("--migrate-uri", o->m.data_uri, "libvirt: where the migration data goes, e.g. tcp://192.0.2.2");
  migrate->add_option("--run-dir", o->common.run_dir, "host-local state (default /run/virt-converge)");
  migrate->add_flag("--postcopy", o->m.postcopy, "enable postcopy-ram so it can switch to post-copy");
  migrate->add_flag("--auto-converge", o->m.auto_converge, "enable auto-converge CPU throttling");
  migrate->add_option(
      "--dest-qmp", o->m.dest_qmp,
      "QMP socket of the destination QEMU: to enable postcopy-ram and multifd there, and to start "
      "there a guest the policy paused (without it the guest is never paused)");
  migrate->add_option("--bandwidth", o->m.bandwidth, "max-bandwidth, e.g. 32MiB/s or 1Gbit/s");
  migrate->add_option("--downtime", o->m.downtime, "initial downtime-limit, e.g. 300ms");
  migrate->add_flag("--copy-storage", o->m.copy_storage,
                    "libvirt: copy the VM's non-shared disks too (a storage migration; each costs 1 in the "
                    "host's budget until its copy is ready)");
  migrate->add_option("--priority", o->m.priority,
                      "place in the host's queue: higher starts first, then first come (default 0)");
  return [migrate, o]() { return migrate->parsed() ? RunMigrate(o->common, o->m) : -1; };
}

}  // namespace vc
