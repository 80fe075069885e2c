#include "src/cli/control_command.h"

#include <cstdio>
#include <thread>

#include "src/backend/libvirt_backend.h"
#include "src/backend/qmp_backend.h"
#include "src/control/controller.h"
#include "src/state/control_socket.h"
#include "src/state/migration_record.h"
#include "src/state/paths.h"

namespace vc {
namespace {

// A request may wait for QEMU/libvirt (post-copy start, pause).
constexpr Millis kReplyTimeout{30000};
// A follower's "not yet" (OperatorReply::again) is asked again this often,
// for this long.
constexpr Millis kAgainEvery{500};
constexpr Millis kAgainFor{30000};

struct ControlOptions {
  std::string vm;
  std::string run_dir = StatePaths::kDefaultRunDir;
  std::string connect_uri;
  std::string uri;       // resume: where the destination listens
  std::string dest_qmp;  // resume, plain QEMU: the destination's QMP socket
  std::string data_uri;  // resume, libvirt: where the data goes
};

int Fail(const std::string& what, const std::string& why) {
  std::fprintf(stderr, "virt-converge: %s: %s\n", what.c_str(), why.c_str());
  return 1;
}

// Each action tried with its result; 0 when all the request asked was done.
int Report(const OperatorReply& reply) {
  std::printf("%s\n", reply.text.c_str());
  return reply.ok ? 0 : 1;
}

// Without a follower: the same requests through libvirt, made by a
// controller of our own, so the same rules hold (nothing is paused where no
// migration runs).
int AskLibvirt(const ControlOptions& o, const std::string& request) {
  Result<std::unique_ptr<LibvirtBackend>> b = LibvirtBackend::Connect(o.connect_uri, o.vm, {});
  if (!b.ok()) return Fail(request + " " + o.vm, b.status().ToString());
  Result<BackendFacts> facts = (*b)->Facts();
  if (!facts.ok()) return Fail(request + " " + o.vm, facts.status().ToString());
  Result<MigrationSample> now = (*b)->Sample();
  if (!now.ok()) return Fail(request + " " + o.vm, now.status().ToString());
  Controller controller(**b, *facts, nullptr, /*dry_run=*/false, [](const std::string&) {});
  OperatorReply reply = request == "cancel" ? controller.Cancel(*now) : controller.CompleteNow(*now);
  reply.text += " (libvirt; no virt-converge follows it here)";
  return Report(reply);
}

int Run(const ControlOptions& o, const std::string& request) {
  const StatePaths paths(o.run_dir, "");
  std::optional<MigrationRecord> r = FindLiveRecord(paths, o.vm);
  if (r && !r->stale) {
    // "Not yet" is asked again here, where waiting holds nobody's loop.
    const Deadline give_up = Clock::now() + kAgainFor;
    for (bool told = false;; told = true) {
      Result<OperatorReply> reply = SendControlRequest(paths.ControlSocketFile(r->id), request, kReplyTimeout);
      if (!reply.ok()) return Fail(request + " " + o.vm, reply.status().ToString());
      if (!reply->again || Clock::now() >= give_up) return Report(*reply);
      if (!told) std::printf("%s; asking again for up to %lld s\n", reply->text.c_str(),
                             static_cast<long long>(kAgainFor.count() / 1000));
      std::fflush(stdout);
      std::this_thread::sleep_for(kAgainEvery);
    }
  }
  if (!o.connect_uri.empty() && request.rfind("resume", 0) != 0) return AskLibvirt(o, request);
  return Fail(request + " " + o.vm, "no virt-converge follows a migration of it on this host" +
                                        std::string(o.connect_uri.empty() ? " (give -c URI to ask libvirt)" : ""));
}

// Plain QEMU: the destination listens again, once the source has found the
// connection broken (so a healthy post-copy is never broken here).
int ListenOnTheDestination(const ControlOptions& o) {
  const std::optional<MigrationRecord> r = FindLiveRecord(StatePaths(o.run_dir, ""), o.vm);
  if (!r || r->stale) return Fail("resume " + o.vm, "no virt-converge follows a migration of it on this host");
  if (r->status != "postcopy-paused") {
    return Fail("resume " + o.vm, "the migration is " + r->status + ", not postcopy-paused: there is nothing to recover");
  }
  Result<std::unique_ptr<QmpBackend>> dest = QmpBackend::Connect(o.dest_qmp, {.enable_events = false, .destination_qmp = "", .sample_dirty_rate = false});
  if (!dest.ok()) return Fail("resume " + o.vm, "the destination's QMP: " + dest.status().ToString());
  const Deadline give_up = Clock::now() + kAgainFor;
  for (;;) {
    Status st = (*dest)->ListenForRecovery(o.uri);
    if (st.ok()) break;
    if (st.code() != StatusCode::kUnavailable || Clock::now() >= give_up) {
      return Fail("resume " + o.vm, "migrate-recover on the destination: " + st.ToString());
    }
    std::this_thread::sleep_for(kAgainEvery);
  }
  std::printf("the destination listens at %s\n", o.uri.c_str());
  return 0;
}

int RunResume(const ControlOptions& o) {
  if (!o.dest_qmp.empty()) {
    if (int rc = ListenOnTheDestination(o); rc != 0) return rc;
  }
  return Run(o, "resume " + o.uri + (o.data_uri.empty() ? "" : " " + o.data_uri));
}

}  // namespace

std::function<int()> AddControlCommands(CLI::App* app) {
  auto o = std::make_shared<ControlOptions>();
  CLI::App* cancel = app->add_subcommand("cancel", "cancel a VM's migration; the VM goes on running here");
  CLI::App* postcopy = app->add_subcommand(
      "postcopy", "complete a VM's migration now: switch to post-copy when possible, else pause the guest");
  CLI::App* resume = app->add_subcommand("resume", "recover a post-copy migration whose connection broke");
  for (CLI::App* c : {cancel, postcopy, resume}) {
    c->add_option("vm", o->vm, "VM name, UUID, or record id (see `virt-converge list`)")->required();
    c->add_option("--run-dir", o->run_dir, "the followers' live records (default /run/virt-converge)");
  }
  for (CLI::App* c : {cancel, postcopy}) {
    c->add_option("-c,--connect", o->connect_uri, "when nobody here follows it: ask libvirt at this URI");
  }
  resume->add_option("uri", o->uri,
                     "plain QEMU: where the destination listens, e.g. tcp:192.0.2.2:4445; libvirt: the destination's "
                     "libvirt URI, e.g. qemu+ssh://host2/system")
      ->required();
  resume->add_option("--migrate-uri", o->data_uri, "libvirt: where the migration data goes, e.g. tcp://192.0.2.2");
  resume->add_option("--dest-qmp", o->dest_qmp, "plain QEMU: the destination's QMP socket (runs migrate-recover there)");
  return [o, cancel, postcopy, resume]() -> int {
    if (cancel->parsed()) return Run(*o, "cancel");
    if (postcopy->parsed()) return Run(*o, "postcopy");
    if (resume->parsed()) return RunResume(*o);
    return -1;
  };
}

}  // namespace vc
