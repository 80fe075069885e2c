// vc-demo: the README's first command. Two identical migrations of a guest
// whose hot set is rewritten four times faster than the capped bandwidth,
// side by side: one left to QEMU's defaults, one driven by
// `virt-converge migrate`. Prints both live and compares the outcomes.
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <thread>

#include "src/base/units.h"
#include "tests/support/qemu_vm.h"
#include "tests/support/virt_converge_run.h"

namespace vc::testing {
namespace {

constexpr int64_t kBandwidth = kHotSetBandwidth;
/// How long QEMU's defaults get at least: ~4x the physical lower bound
/// (256 MiB at 32 MiB/s is 8 s).
constexpr double kBaselineSeconds = 32;

void Say(const char* who, const std::string& line) {
  std::printf("[%-13s] %s\n", who, line.c_str());
  std::fflush(stdout);
}

std::string Row(const std::string& what, const std::string& a, const std::string& b) {
  char buf[256];
  std::snprintf(buf, sizeof buf, "  %-20s %-40s %s", what.c_str(), a.c_str(), b.c_str());
  return buf;
}

int Main() {
  if (QemuBinary().empty()) {
    std::fprintf(stderr, "vc-demo: qemu-system-x86_64 is not installed (run scripts/install-deps)\n");
    return 2;
  }
  Accel accel = ChooseAccel();
  std::printf(
      "virt-converge demo: two migrations of the same guest (256 MiB, a 32 MiB hot set rewritten at\n"
      "128 MiB/s) over loopback capped at %s, side by side.\n"
      "  left:  QEMU's defaults (downtime-limit 300 ms)\n"
      "  right: virt-converge migrate (its built-in reaction)\n"
      "accelerator: %s (%s)\n\n",
      FormatRate(kBandwidth).c_str(), accel.name.c_str(), accel.reason.c_str());
  std::fflush(stdout);

  auto base = MigrationPair::Start(HotSetGuest(), "demo-qemu");
  auto ours = MigrationPair::Start(HotSetGuest(), "demo-vc");
  if (!base.ok() || !ours.ok()) {
    std::fprintf(stderr, "vc-demo: %s\n",
                 (!base.ok() ? base.status() : ours.status()).ToString().c_str());
    return 1;
  }
  auto base_uri = (*base)->ListenIncoming();
  auto ours_uri = (*ours)->ListenIncoming();
  if (!base_uri.ok() || !ours_uri.ok()) return 1;

  qmp::Session& bq = (*base)->src().qmp();
  qmp::MigrationParameters cap;
  cap.max_bandwidth = kBandwidth;
  if (!qmp::MigrateSetParameters(bq, cap).ok() || !qmp::Migrate(bq, *base_uri).ok()) return 1;
  auto run = StartVirtConverge((*ours)->dir(), "virt-converge",
                               {"migrate", "--qmp", (*ours)->src().spare_qmp_path(), "--dest-qmp",
                                (*ours)->dst().spare_qmp_path(), "--bandwidth", "32MiB/s", *ours_uri});
  if (!run.ok()) {
    std::fprintf(stderr, "vc-demo: %s\n", run.status().ToString().c_str());
    return 1;
  }
  Say("QEMU defaults", "migrate started");

  auto start = Clock::now();
  size_t shown = 0;
  std::optional<int> vc_exit;
  double vc_done_at = 0;
  double next_report = 0;
  qmp::MigrationInfo last_base;
  for (;;) {
    std::string out = run->Output();
    size_t nl;
    while ((nl = out.find('\n', shown)) != std::string::npos) {
      Say("virt-converge", out.substr(shown, nl - shown));
      shown = nl + 1;
    }
    double t = SecondsBetween(start, Clock::now());
    if (!vc_exit) {
      if (auto st = run->process.Wait(Millis(0))) {
        vc_exit = WIFEXITED(*st) ? WEXITSTATUS(*st) : -1;
        vc_done_at = t;
        continue;  // print what is left of its output first
      }
    }
    if (t >= next_report) {
      auto info = qmp::QueryMigrate(bq);
      if (info.ok()) {
        last_base = *info;
        const auto& ram = info->ram.value_or(qmp::MigrationStats{});
        Say("QEMU defaults",
            std::to_string(static_cast<int>(t)) + "s " + info->status.value_or("?") + "  pass " +
                std::to_string(ram.dirty_sync_count.value_or(0)) + "  remaining " +
                FormatBytes(static_cast<double>(ram.remaining.value_or(0))) + "  exp. downtime " +
                std::to_string(info->expected_downtime.value_or(0)) + " ms (limit 300 ms)");
        if (qmp::IsMigrationFinished(info->status.value_or(""))) break;
      }
      next_report = t + 2;
    }
    if (vc_exit && t >= kBaselineSeconds && t >= vc_done_at + 4) break;
    std::this_thread::sleep_for(Millis(200));
  }

  double base_secs = SecondsBetween(start, Clock::now());
  std::string base_outcome = last_base.status.value_or("?");
  if (qmp::IsMigrationRunning(base_outcome)) {
    (void)qmp::MigrateCancel(bq);
    base_outcome = "not finished after " + FormatMillis(base_secs * 1000) + " (cancelled)";
  }
  std::optional<qmp::Json> summary = run->Summary();
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
  const auto& bram = last_base.ram.value_or(qmp::MigrationStats{});
  std::printf("\nOutcome, side by side:\n%s\n", Row("", "QEMU defaults", "virt-converge").c_str());
  std::printf("%s\n", Row("outcome", base_outcome,
                          summary ? summary->GetString("outcome").value_or("?") : "no summary")
                          .c_str());
  std::printf("%s\n", Row("total time", "-", field("total-time-ms", " ms")).c_str());
  std::printf("%s\n", Row("downtime", "-", field("downtime-ms", " ms")).c_str());
  std::printf("%s\n", Row("passes", std::to_string(bram.dirty_sync_count.value_or(0)),
                          field("passes", "")).c_str());
  std::printf("%s\n", Row("bytes sent", FormatBytes(static_cast<double>(bram.transferred.value_or(0))),
                          summary ? FormatBytes(static_cast<double>(summary->GetUint("bytes-sent").value_or(0)))
                                  : "-")
                          .c_str());
  std::printf("%s\n", Row("actions", "-",
                          summary ? std::to_string(summary->Get("actions")->ArraySize()) : "-")
                          .c_str());
  std::printf("%s\n", Row("destination memory", "-", check).c_str());
  bool ok = vc_exit == 0 && check.rfind("OK", 0) == 0;
  std::printf("\n%s\n", ok ? "virt-converge finished the migration QEMU's defaults could not."
                           : "virt-converge did not finish the migration: see above.");
  return ok ? 0 : 1;
}

}  // namespace
}  // namespace vc::testing

int main() { return vc::testing::Main(); }
