// vc-demo: the README's first command. Two identical migrations of a guest
// whose hot set is rewritten four times faster than the capped bandwidth,
// side by side: one left to QEMU's defaults, one driven by
// `virt-converge migrate`. Shows both live (on a terminal two status lines
// redrawn in place, in a log a tagged line for each side every second) and
// compares the outcomes.
//
// It finds the test guest and virt-converge by itself (tests/support/
// artifacts.h): run from the build tree it needs no environment.
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <thread>

#include "src/backend/qmp_backend.h"
#include "src/base/units.h"
#include "src/state/migration_record.h"
#include "src/view/live_view.h"
#include "tests/support/artifacts.h"
#include "tests/support/qemu_vm.h"
#include "tests/support/virt_converge_run.h"

namespace vc::testing {
namespace {

constexpr int64_t kBandwidth = kHotSetBandwidth;
/// QEMU's default downtime-limit, the left side's for the whole run.
constexpr int64_t kQemuDefaultDowntimeMs = 300;
/// How long QEMU's defaults get at least: ~4x the physical lower bound
/// (256 MiB at 32 MiB/s is 8 s).
constexpr double kBaselineSeconds = 32;
/// In a log, a progress line for each side this often (and at each pass).
constexpr double kLogEverySeconds = 1;

enum Side : size_t { kQemuDefaults = 0, kVirtConverge = 1 };

std::string Row(const std::string& what, const std::string& a, const std::string& b) {
  char buf[256];
  std::snprintf(buf, sizeof buf, "  %-20s %-40s %s", what.c_str(), a.c_str(), b.c_str());
  return buf;
}

/// Whether side's progress is worth a new line in a log: a new pass, the
/// end, or a second since its last line. A terminal takes every update.
class Cadence {
 public:
  bool Due(const MigrationSample& s, double now) {
    bool due = !shown_ || s.pass != pass_ || s.status != status_ || now >= last_ + kLogEverySeconds;
    if (due) {
      shown_ = true;
      pass_ = s.pass;
      status_ = s.status;
      last_ = now;
    }
    return due;
  }

 private:
  bool shown_ = false;
  uint64_t pass_ = 0;
  std::string status_;
  double last_ = 0;
};

int Main() {
  if (QemuBinary().empty()) {
    std::fprintf(stderr, "vc-demo: qemu-system-x86_64 is not installed (run scripts/install-deps)\n");
    return 2;
  }
  for (const Result<std::string>& piece : {LocateGuestKernel(), LocateVirtConverge()}) {
    if (!piece.ok()) {
      std::fprintf(stderr, "vc-demo: %s\n", piece.status().ToString().c_str());
      return 2;
    }
  }
  Accel accel = ChooseAccel();
  std::printf(
      "virt-converge demo: two migrations of the same guest (256 MiB, a 32 MiB hot set rewritten at\n"
      "128 MiB/s) over loopback capped at %s, side by side.\n"
      "  QEMU defaults: downtime-limit 300 ms, nothing else\n"
      "  virt-converge: virt-converge migrate (its built-in default, the vendor policy)\n"
      "accelerator: %s (%s)\n\n",
      FormatRate(kBandwidth).c_str(), accel.name.c_str(), accel.reason.c_str());
  std::fflush(stdout);

  auto base = MigrationPair::Start(HotSetGuest(), "demo-qemu");
  auto ours = MigrationPair::Start(HotSetGuest(), "demo-vc");
  if (!base.ok() || !ours.ok()) {
    std::fprintf(stderr, "vc-demo: %s\n", (!base.ok() ? base.status() : ours.status()).ToString().c_str());
    return 1;
  }
  auto base_uri = (*base)->ListenIncoming();
  auto ours_uri = (*ours)->ListenIncoming();
  if (!base_uri.ok() || !ours_uri.ok()) {
    std::fprintf(stderr, "vc-demo: %s\n",
                 (!base_uri.ok() ? base_uri.status() : ours_uri.status()).ToString().c_str());
    return 1;
  }
  // The left side is watched the way virt-converge watches: its backend's
  // samples, over the spare QMP socket, changing nothing.
  QmpBackend::Options watch_only;
  watch_only.enable_events = false;
  watch_only.sample_dirty_rate = false;
  auto base_watch = QmpBackend::Connect((*base)->src().spare_qmp_path(), watch_only);
  if (!base_watch.ok()) {
    std::fprintf(stderr, "vc-demo: %s\n", base_watch.status().ToString().c_str());
    return 1;
  }

  LiveView view(stdout, isatty(STDOUT_FILENO) != 0, {"QEMU defaults", "virt-converge"});
  qmp::Session& bq = (*base)->src().qmp();
  qmp::MigrationParameters cap;
  cap.max_bandwidth = kBandwidth;
  if (Status st = qmp::MigrateSetParameters(bq, cap); !st.ok()) {
    std::fprintf(stderr, "vc-demo: %s\n", st.ToString().c_str());
    return 1;
  }
  if (Status st = qmp::Migrate(bq, *base_uri); !st.ok()) {
    std::fprintf(stderr, "vc-demo: %s\n", st.ToString().c_str());
    return 1;
  }
  const std::string run_dir = (*ours)->dir().File("vc-run");
  auto run = StartVirtConverge((*ours)->dir(), "virt-converge",
                               {"migrate", "--qmp", (*ours)->src().spare_qmp_path(), "--dest-qmp",
                                (*ours)->dst().spare_qmp_path(), "--bandwidth", "32MiB/s", "--run-dir", run_dir,
                                *ours_uri});
  if (!run.ok()) {
    std::fprintf(stderr, "vc-demo: %s\n", run.status().ToString().c_str());
    return 1;
  }
  view.Message("migration started", kQemuDefaults);
  view.Message("virt-converge migrate started", kVirtConverge);

  auto start = Clock::now();
  std::optional<int> vc_exit;
  double vc_done_at = 0;
  size_t actions_shown = 0;
  Cadence base_cadence, vc_cadence;
  MigrationSample last_base;
  bool base_finished = false;
  for (;;) {
    double t = SecondsBetween(start, Clock::now());
    // virt-converge's side, from the live record it keeps for `list` and
    // `status`: its latest sample and every action with its reason.
    if (!vc_exit) {
      std::vector<MigrationRecord> records = ReadLiveRecords(StatePaths(run_dir, ""));
      if (!records.empty()) {
        const MigrationRecord& r = records.front();
        for (; actions_shown < r.actions.size(); actions_shown++) {
          view.Message(ActionLine(r.actions[actions_shown]), kVirtConverge);
        }
        MigrationSample s = r.LatestSample();
        if (!s.status.empty() && vc_cadence.Due(s, t)) view.Update(s, r.downtime_limit_ms, kVirtConverge);
      }
      if (auto st = run->process.Wait(Millis(0))) {
        vc_exit = WIFEXITED(*st) ? WEXITSTATUS(*st) : -1;
        vc_done_at = t;
        std::optional<Json> summary = run->Summary();
        // The live record is gone at the end: actions taken since it was
        // last read are in the summary.
        if (summary) {
          const std::vector<ActionRecord> all = ActionsFromJson(*summary);
          for (; actions_shown < all.size(); actions_shown++) {
            view.Message(ActionLine(all[actions_shown]), kVirtConverge);
          }
        }
        view.Message("virt-converge exited " + std::to_string(*vc_exit) +
                         (summary ? ": " + summary->GetString("outcome").value_or("?") : ""),
                     kVirtConverge);
      }
    }
    if (!base_finished) {
      if (Result<MigrationSample> s = (*base_watch)->Sample(); s.ok()) {
        last_base = *s;
        if (base_cadence.Due(*s, t)) view.Update(*s, kQemuDefaultDowntimeMs, kQemuDefaults);
        base_finished = s->finished();
      }
    }
    if (base_finished && vc_exit) break;
    if (vc_exit && t >= kBaselineSeconds && t >= vc_done_at + 4) break;
    std::this_thread::sleep_for(Millis(200));
  }
  view.Finish();

  double base_secs = SecondsBetween(start, Clock::now());
  std::string base_outcome = last_base.status.empty() ? "?" : last_base.status;
  if (!base_finished) {
    (void)qmp::MigrateCancel(bq);
    base_outcome = "not finished after " + FormatMillis(base_secs * 1000) + " (cancelled)";
  }
  std::optional<Json> summary = run->Summary();
  std::string check = "not run";
  if (vc_exit == 0) {
    Status st = (*ours)->CheckDestination();
    check = st.ok() ? "OK (every page)" : "FAILED: " + st.ToString();
  }
  auto field = [&](const char* key, const char* unit) -> std::string {
    if (!summary) return "-";
    auto v = summary->GetInt(key);
    return v ? std::to_string(*v) + unit : "-";
  };
  std::printf("\nOutcome, side by side:\n%s\n", Row("", "QEMU defaults", "virt-converge").c_str());
  std::printf("%s\n", Row("outcome", base_outcome,
                          summary ? summary->GetString("outcome").value_or("?") : "no summary")
                          .c_str());
  std::printf("%s\n", Row("total time", "-", field("total-time-ms", " ms")).c_str());
  std::printf("%s\n", Row("downtime", "-", field("downtime-ms", " ms")).c_str());
  std::printf("%s\n", Row("passes", std::to_string(last_base.pass), field("passes", "")).c_str());
  std::printf("%s\n", Row("bytes sent", FormatBytes(static_cast<double>(last_base.ram_transferred)),
                          summary ? FormatBytes(static_cast<double>(summary->GetUint("bytes-sent").value_or(0)))
                                  : "-")
                          .c_str());
  std::printf("%s\n", Row("actions", "-",
                          summary ? std::to_string(summary->Get("actions")->ArraySize()) : "-")
                          .c_str());
  std::printf("%s\n", Row("destination memory", "-", check).c_str());
  bool ok = vc_exit == 0 && check.rfind("OK", 0) == 0;
  if (ok) {
    std::printf("\nvirt-converge finished the migration QEMU's defaults could not.\n");
  } else {
    std::printf("\nvirt-converge did not finish the migration. What it printed:\n%s\n", run->Output().c_str());
  }
  return ok ? 0 : 1;
}

}  // namespace
}  // namespace vc::testing

int main() { return vc::testing::Main(); }
