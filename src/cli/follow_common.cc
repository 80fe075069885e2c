#include "src/cli/follow_common.h"

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "src/backend/libvirt_event_loop.h"
#include "src/base/units.h"
#include "src/hostfit/refusal.h"
#include "src/state/changes_record.h"
#include "src/state/migration_record.h"
#include "src/view/live_view.h"

namespace vc {

void AddCommonOptions(CLI::App* cmd, CommonOptions* o, bool qmp_required) {
  CLI::Option* qmp = cmd->add_option("--qmp", o->qmp_socket, "QMP unix socket of the (source) QEMU");
  if (qmp_required) qmp->required();
  cmd->add_option("--interval", o->interval, "sampling interval besides every pass (default 1s)");
  cmd->add_option("--summary-json", o->summary_json, "also write the summary as JSON to this file");
  cmd->add_option("--policy-root", o->policy_root,
                  "read policy drop-ins under this root (default /), merged onto the built-in default");
  cmd->add_flag("--no-policy", o->no_policy,
                "ignore policy files: the built-in default policy (the vendor default) alone");
  cmd->add_option("--state-dir", o->state_dir,
                  "where history records go, under history/, and what the host learned of its "
                  "switch-over speeds, under switchover/ (default /var/lib/virt-converge)");
  cmd->add_option("--metrics-dir", o->metrics_dir,
                  "write the host's migration metrics there as virt-converge.prom, for node_exporter's "
                  "textfile collector, if the directory exists (default /var/lib/prometheus/node-exporter; "
                  "\"\" for none)");
}

StatePaths CommonOptions::paths() const {
  // node_exporter's textfile directory is there only where it is installed.
  std::error_code ec;
  const bool metrics = !metrics_dir.empty() && std::filesystem::is_directory(metrics_dir, ec);
  return StatePaths(run_dir, state_dir).WithMetricsDir(metrics ? metrics_dir : "");
}

int Fail(const std::string& what, const Status& st, int code) {
  std::fprintf(stderr, "virt-converge: %s: %s\n", what.c_str(), st.ToString().c_str());
  return code;
}

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
  f.paths = o.paths();
  if (!o.qmp_socket.empty()) f.migration_id = QmpMigrationId(o.qmp_socket);
  Result<int64_t> interval = ParseMillis(o.interval);
  if (!interval.ok()) return interval.status().WithContext("--interval");
  if (*interval < 50) return Status::InvalidArgument("--interval", "'" + o.interval + "' is below 50ms");
  f.interval = Millis(*interval);
  if (!o.wait_at_most.empty()) {
    Result<int64_t> wait = ParseMillis(o.wait_at_most);
    if (!wait.ok()) return wait.status().WithContext("--wait-at-most");
    if (*wait <= 0) return Status::InvalidArgument("--wait-at-most", "'" + o.wait_at_most + "' is not a positive time");
    f.wait_at_most = Millis(*wait);
  }
  return f;
}

Result<std::optional<FollowLock>> TakeVmLock(const CommonOptions& o, QmpBackend& backend) {
  Result<std::string> uuid = backend.Uuid();
  if (!uuid.ok()) return uuid.status().WithContext("reading QEMU's UUID");
  if (uuid->empty()) return std::optional<FollowLock>();
  Result<FollowLock> lock = FollowLock::Take(o.paths(), *uuid);
  if (!lock.ok()) return lock.status().WithContext("VM " + *uuid);
  return std::optional<FollowLock>(std::move(*lock));
}

void AdoptWhatADeadFollowerChanged(FollowOptions* f) {
  if (f->dry_run || f->migration_id.empty()) return;
  Result<std::optional<ChangesInForce>> left = ReadChangesRecord(f->paths, f->migration_id);
  if (!left.ok()) {
    std::printf("note: what a follower that died had changed cannot be read: %s\n", left.status().ToString().c_str());
  } else if (*left) {
    f->adopted = **left;
    std::printf("a follower of this migration died; adopting what it had changed: %s\n",
                DescribeChanges(**left).c_str());
  }
  std::fflush(stdout);
}

namespace {

// --summary-json: a program starting `migrate` (evacuate) decides from
// this, never from what the log says.
void WriteSummaryJson(const CommonOptions& o, MigrationSummary summary) {
  if (o.summary_json.empty()) return;
  if (summary.outcome == MigrationOutcome::kNotStarted) {
    std::optional<HookRefusal> refusal = HookRefusal::FindIn(summary.detail);
    summary.try_later = refusal && refusal->try_later();
    // The destination's reason is the better code: "refused.fitness.cpu".
    if (refusal) summary.code = "refused." + std::string(RefusalCode(refusal->reason));
  }
  std::ofstream out(o.summary_json);
  out << summary.ToJson().Serialize(true) << "\n";
  if (!out) std::fprintf(stderr, "virt-converge: cannot write %s\n", o.summary_json.c_str());
}

}  // namespace

int NotStarted(const CommonOptions& o, const std::string& what, const Status& st, int code) {
  MigrationSummary summary;
  summary.outcome = MigrationOutcome::kNotStarted;
  summary.detail = what + ": " + st.ToString();
  summary.code = "not-started.error";
  WriteSummaryJson(o, std::move(summary));
  return Fail(what, st, code);
}

Status SettleWhatADeadFollowerLeft(MigrationBackend& backend, const FollowOptions& f) {
  FollowOptions settle = f;
  settle.before_start.reset();
  AdoptWhatADeadFollowerChanged(&settle);
  if (!settle.adopted) return Status::Ok();
  Result<MigrationSample> now = backend.Sample();
  if (!now.ok()) return now.status();
  if (now->running()) {
    return Status::CommandFailed(backend.Describe(), "busy", "a migration of it runs already (" + now->status + ")");
  }
  // Put back as a follower would at that end; no second Follower in this
  // process: the follower of the new migration owns the event loop.
  std::printf("the migration it followed ended (%s); putting back what it had changed\n", now->status.c_str());
  const ChangesInForce left =
      PutBack(backend, *settle.adopted, *now, [](const std::string& line) { std::printf("%s\n", line.c_str()); });
  if (!left.empty()) {
    return Status::CommandFailed(backend.Describe(), "not settled",
                                 "what a follower that died had changed could not all be put back: " +
                                     DescribeChanges(left));
  }
  RemoveChangesRecord(f.paths, f.migration_id);
  // The dead follower's live record becomes history.
  if (std::optional<MigrationRecord> dead = FindLiveRecord(f.paths, f.migration_id)) {
    dead->status = now->status;
    if (Status st = RecordWriter(f.paths, f.migration_id).Finish(*dead); !st.ok()) {
      std::printf("note: the dead follower's record could not become history: %s\n", st.ToString().c_str());
    }
  }
  std::fflush(stdout);
  return Status::Ok();
}

int FollowAndReport(MigrationBackend& backend, const FollowOptions& f, const CommonOptions& o,
                    std::optional<Admission> admission) {
  LiveView view(stdout, isatty(STDOUT_FILENO) != 0);
  Follower follower(backend, f, view);
  if (admission) follower.HoldAdmission(std::move(admission->ticket), std::move(admission->copied_disks));
  MigrationSummary summary = follower.Run();
  std::printf("\n%s", summary.ToText().c_str());
  WriteSummaryJson(o, summary);
  std::fflush(stdout);
  return Follower::ExitCode(summary);
}

Result<LibvirtDomain> OpenLibvirtDomain(const CommonOptions& o, const std::string& domain) {
  VC_RETURN_IF_ERROR(RegisterLibvirtEventLoop());
  LibvirtBackend::Options bo;
  bo.sample_dirty_rate = !o.dry_run;
  bo.note = [](const std::string& line) {
    std::printf("note: %s\n", line.c_str());
    std::fflush(stdout);
  };
  Result<std::unique_ptr<LibvirtBackend>> backend = LibvirtBackend::Connect(o.connect_uri, domain, bo);
  if (!backend.ok()) return backend.status();
  Result<FollowLock> lock = FollowLock::Take(o.paths(), (*backend)->uuid());
  if (!lock.ok()) return lock.status().WithContext((*backend)->Describe());
  return LibvirtDomain{std::move(*backend), std::move(*lock)};
}

}  // namespace vc
