// virt-converge: the command line. Subcommands are a table of CLI11
// subcommands, each with its own Run function; no logic lives here beyond
// turning arguments into options.
#include <unistd.h>

#include <csignal>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <string>

#include "src/backend/qmp_backend.h"
#include "src/cli/control_command.h"
#include "src/cli/evacuate_command.h"
#include "src/cli/follow_common.h"
#include "src/cli/list_command.h"
#include "src/cli/migrate_command.h"
#include "src/cli/policy_command.h"
#include "src/cli/simulate_command.h"
#include "src/watch/watcher.h"

namespace vc {
namespace {

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
  AdoptWhatADeadFollowerChanged(&with_id);
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
  Result<FollowLock> lock = FollowLock::Take(o.paths(), f->migration_id);
  if (!lock.ok() && lock.status().code() == StatusCode::kCommandFailed) {
    std::printf("%s; leaving it to that one\n", lock.status().message().c_str());
    return 0;
  }
  if (!lock.ok()) return Fail("attach to " + o.qmp_socket, lock.status(), kExitLost);
  QmpBackend::Options bo;
  bo.enable_events = !o.dry_run;
  bo.sample_dirty_rate = !o.dry_run;
  bo.destination_qmp = o.dest_qmp;
  Result<std::unique_ptr<QmpBackend>> backend = QmpBackend::Connect(o.qmp_socket, bo);
  if (!backend.ok()) return Fail("attach to " + o.qmp_socket, backend.status(), kExitLost);
  Result<std::optional<FollowLock>> vm_lock = TakeVmLock(o, **backend);
  if (!vm_lock.ok() && vm_lock.status().code() == StatusCode::kCommandFailed) {
    std::printf("%s; leaving it to that one\n", vm_lock.status().message().c_str());
    return 0;
  }
  if (!vm_lock.ok()) return Fail("attach to " + o.qmp_socket, vm_lock.status(), kExitLost);
  std::printf("attached to %s\n", (*backend)->Describe().c_str());
  std::fflush(stdout);
  AdoptWhatADeadFollowerChanged(&*f);
  return FollowAndReport(**backend, *f, o);
}

}  // namespace
}  // namespace vc

int main(int argc, char** argv) {
  // libvirt's client writes to its socket with write(): a libvirtd that goes
  // away mid-call must end that call with an error, not end us (libvirt asks
  // this of every application, as virsh does). Children get it back.
  std::signal(SIGPIPE, SIG_IGN);
  CLI::App app{"virt-converge: makes QEMU/KVM live migrations finish"};
  app.set_version_flag("--version", "virt-converge " VC_VERSION);
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
  attach->add_option("--wait-at-most", attach_opts.wait_at_most,
                     "end, with nothing to follow, when no migration has run within this time (default: wait)");
  attach->add_option(
      "--dest-qmp", attach_opts.dest_qmp,
      "plain QEMU: the destination's QMP socket; without it the guest is never paused (QEMU "
      "would keep it paused there)");

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

  std::function<int()> run_migrate = vc::AddMigrateCommand(&app);
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
  if (int code = run_migrate(); code >= 0) return code;
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
