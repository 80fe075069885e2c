// vc-bench-adopted: issue #27's pre-copy case as hosts run it (run it through
// bench/adopted). On the two-host libvirt bed, the veth between the hosts
// capped with tc, a plain `virsh migrate --live` from host A — nothing of
// ours on its command line, max-bandwidth the link's speed — of the test
// guest dirtying a share of the link over a share of its RAM:
//
//  * alone: QEMU's and libvirt's defaults, the baseline;
//  * watch: the same migration adopted by `virt-converge watch` on host A
//    with the vendor default (no QMP passthrough: the libvirt backend).
//
// Both are measured the same way: virsh's wall time, and libvirt's
// completed-job figures on the destination (time elapsed, downtime). Each
// guest's memory is checked page by page on the destination; the helper's
// log goes to OUT/logs. The ratios go to docs/benchmarks.md; nothing here
// passes or fails.
#include <CLI/CLI.hpp>

#include <csignal>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "src/base/units.h"
#include "src/state/migration_record.h"
#include "src/state/paths.h"
#include "tests/support/libvirt_bed.h"
#include "tests/support/policy_tree.h"
#include "tests/support/process.h"
#include "tests/support/virt_converge_run.h"

namespace vc::bench {
namespace {

using testing::LibvirtBed;
using testing::ReadFile;
using testing::Subprocess;

struct Run {
  std::string mode;  // "alone" or "watch"
  int round = 0;
  std::string outcome;  // "completed", or what went wrong
  double wall_s = 0;
  std::optional<int64_t> elapsed_ms, downtime_ms;  // libvirt's, on the destination
  std::string steps;                               // watch: its actions
};

/// "Time elapsed:   61234 ms" -> 61234, from `virsh domjobinfo --completed`.
std::optional<int64_t> JobField(const std::string& text, const std::string& key) {
  std::smatch m;
  if (!std::regex_search(text, m, std::regex(key + R"(:\s+(\d+)\s+ms)"))) return std::nullopt;
  return std::stoll(m[1]);
}

std::string Steps(const MigrationRecord& r) {
  std::string out;
  for (const ActionRecord& a : r.actions) {
    char at[32];
    std::snprintf(at, sizeof at, " at %.1f s", a.at_s);
    out += (out.empty() ? "" : "; ") + ActionCode(a) + " " + std::to_string(a.value) + at;
  }
  return out.empty() ? "none" : out;
}

Run Migrate(LibvirtBed& bed, const std::string& mode, int round, const testing::GuestParams& g, uint64_t link_mib,
            const std::string& policy_root, const std::vector<std::string>& virsh_extra, const std::string& log_dir) {
  Run r{mode, round, "", 0, std::nullopt, std::nullopt, ""};
  const std::string name = "adopt-" + mode + "-" + std::to_string(round);
  Status started = bed.StartGuest('A', name, g);
  if (!started.ok()) {
    r.outcome = "bench error: " + started.ToString();
    return r;
  }
  const std::string run_dir = bed.dir().File("run-" + name), state_dir = bed.dir().File("state-" + name);
  std::string uuid;
  bed.Virsh('A', {"domuuid", name}, &uuid);
  uuid.erase(std::remove_if(uuid.begin(), uuid.end(), ::isspace), uuid.end());
  std::optional<testing::VirtConvergeRun> watch;
  if (mode == "watch") {
    // watch writes no summary: StartVirtConverge's --summary-json is not for it.
    const std::string log = bed.dir().File("watch-" + name + ".log");
    Result<Subprocess> w = Subprocess::Start({testing::VirtConvergeBinary(), "watch", "--connect", bed.uri('A'), "--run-dir",
                                              run_dir, "--helper-arg=--policy-root=" + policy_root,
                                              "--helper-arg=--state-dir=" + state_dir},
                                             log);
    if (!w.ok()) {
      r.outcome = "bench error: " + w.status().ToString();
      return r;
    }
    watch.emplace(testing::VirtConvergeRun{std::move(*w), log, ""});
    watch->WaitOutput("watching outgoing migrations", Millis(20000));
  }
  std::vector<std::string> argv = {"virsh", "-q", "-c", bed.uri('A')};
  for (const std::string& a : bed.MigrateArgs(name, 'B')) argv.push_back(a);
  argv.insert(argv.end(), {"--bandwidth", std::to_string(link_mib)});
  argv.insert(argv.end(), virsh_extra.begin(), virsh_extra.end());
  const std::string virsh_log = bed.dir().File("virsh-" + name + ".log");
  const auto t0 = std::chrono::steady_clock::now();
  Result<Subprocess> virsh = Subprocess::Start(argv, virsh_log);
  std::optional<int> exit = virsh.ok() ? virsh->Wait(Millis(900000)) : std::nullopt;
  r.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (!exit || *exit != 0) {
    r.outcome = "failed: " + ReadFile(virsh_log);
  } else {
    std::string job;
    bed.Virsh('B', {"domjobinfo", "--completed", name}, &job);
    std::FILE* f = std::fopen(bed.dir().File("job-" + name + ".txt").c_str(), "w");
    if (f) {
      std::fputs(job.c_str(), f);
      std::fclose(f);
    }
    r.elapsed_ms = JobField(job, "Time elapsed");
    r.downtime_ms = JobField(job, "Total downtime");
    Status check = bed.StopAndCheckGuest('B', name);
    r.outcome = check.ok() ? "completed" : "memory check: " + check.ToString();
  }
  if (watch) {
    // The helper writes its history record a moment after libvirt's job ends.
    Result<MigrationRecord> rec = Status::NotFound(name, "no record");
    for (int i = 0; i < 100 && !(rec = FindHistoryRecord(StatePaths("", state_dir), name)).ok(); i++) {
      std::this_thread::sleep_for(Millis(100));
    }
    r.steps = rec.ok() ? Steps(*rec) : "no history record: " + rec.status().ToString();
    // The helper's log (every sample, every decision and why) outlives the bed.
    std::error_code ec;
    std::filesystem::copy_file(StatePaths(run_dir, "").HelperLogFile(uuid), log_dir + "/" + name + ".log",
                               std::filesystem::copy_options::overwrite_existing, ec);
    watch->process.Signal(SIGTERM);
    watch->WaitExit(Millis(10000));
  }
  bed.Virsh('B', {"destroy", name});
  bed.Virsh('A', {"destroy", name});
  return r;
}

int Main(int argc, char** argv) {
  CLI::App app{"vc-bench-adopted: a virsh migration adopted by watch over a shaped link, against libvirt's defaults"};
  std::string link = "256Mbit/s", ram = "1GiB", out = "bench-out/adopted";
  double rate_x = 0.65, wss_share = 0.5;
  int rounds = 2;
  bool auto_converge = false, passthrough = false;
  app.add_option("--link", link, "the link between the hosts (tc-shaped veth); max-bandwidth the same")->capture_default_str();
  app.add_option("--ram", ram, "the guest's RAM")->capture_default_str();
  app.add_option("--rate-x", rate_x, "the guest's dirty rate as a share of the link")->capture_default_str();
  app.add_option("--wss-share", wss_share, "its working set as a share of RAM")->capture_default_str();
  app.add_option("--rounds", rounds, "pairs of migrations (alone, then watch)")->capture_default_str()->check(CLI::Range(1, 10));
  app.add_option("--out", out, "output directory")->capture_default_str();
  app.add_flag("--auto-converge", auto_converge, "virsh migrate --auto-converge (both migrations)");
  app.add_flag("--passthrough", passthrough, "watch's policy allows QMP passthrough ([Control] AllowPassthrough=yes)");
  CLI11_PARSE(app, argc, argv);
  Result<uint64_t> rate = ParseBytesPerSecond(link);
  Result<uint64_t> bytes = ParseBytes(ram);
  if (!rate.ok() || !bytes.ok()) {
    std::fprintf(stderr, "vc-bench-adopted: %s\n", (!rate.ok() ? rate.status() : bytes.status()).ToString().c_str());
    return 2;
  }
  testing::GuestParams g;
  g.ram_mib = *bytes >> 20;
  g.wss = std::to_string(static_cast<uint64_t>(static_cast<double>(*bytes) * wss_share) >> 10) + "K";
  g.rate = std::to_string(static_cast<uint64_t>(static_cast<double>(*rate) * rate_x) >> 10) + "K";
  Result<std::unique_ptr<LibvirtBed>> started = LibvirtBed::Start();
  if (!started.ok()) {
    std::fprintf(stderr, "vc-bench-adopted: the libvirt bed: %s\n", started.status().ToString().c_str());
    return 1;
  }
  LibvirtBed& bed = **started;
  Status shaped = bed.ShapeLink(std::to_string(*rate * 8 / 1000) + "kbit");
  if (!shaped.ok()) {
    std::fprintf(stderr, "vc-bench-adopted: shaping the link: %s\n", shaped.ToString().c_str());
    return 1;
  }
  std::filesystem::create_directories(out + "/logs");
  const std::string root = bed.dir().File("policy-default");
  testing::PolicyTree tree = testing::PolicyTree::Under(root);
  tree.InstallVendorDefault();
  if (passthrough) tree.Write("60-passthrough.conf", "[Control]\nAllowPassthrough=yes\n");
  std::vector<std::string> virsh_extra;
  if (auto_converge) virsh_extra.push_back("--auto-converge");
  const uint64_t link_mib = std::max<uint64_t>(1, *rate >> 20);
  std::printf("libvirt bed, link %s (max-bandwidth %llu MiB/s)%s, guest %s rewriting %s at %s/s%s\n", link.c_str(),
              static_cast<unsigned long long>(link_mib), auto_converge ? ", virsh --auto-converge" : "", ram.c_str(),
              g.wss.c_str(), g.rate.c_str(), passthrough ? "; watch's policy allows passthrough" : "");
  std::vector<Run> runs;
  for (int round = 1; round <= rounds; round++) {
    for (const std::string mode : {"alone", "watch"}) {
      runs.push_back(Migrate(bed, mode, round, g, link_mib, root, virsh_extra, out + "/logs"));
      const Run& r = runs.back();
      std::printf("round %d %-5s %-10s wall %6.1f s, libvirt: elapsed %s, downtime %s%s%s\n", round, mode.c_str(),
                  r.outcome.c_str(), r.wall_s, r.elapsed_ms ? FormatMillis(static_cast<double>(*r.elapsed_ms)).c_str() : "-",
                  r.downtime_ms ? (std::to_string(*r.downtime_ms) + " ms").c_str() : "-", r.steps.empty() ? "" : "; steps: ",
                  r.steps.c_str());
      std::fflush(stdout);
    }
  }
  std::filesystem::create_directories(out);
  std::string md = "| round | alone: elapsed (downtime) | watch: elapsed (downtime) | watch / alone | watch's steps |\n"
                   "|---|---|---|---|---|\n";
  for (size_t i = 0; i + 1 < runs.size(); i += 2) {
    const Run& a = runs[i];
    const Run& w = runs[i + 1];
    auto cell = [](const Run& r) {
      if (r.outcome != "completed" || !r.elapsed_ms) return r.outcome;
      return FormatMillis(static_cast<double>(*r.elapsed_ms)) + " (" +
             (r.downtime_ms ? std::to_string(*r.downtime_ms) + " ms" : "?") + ")";
    };
    char ratio[32] = "–";
    if (a.elapsed_ms && w.elapsed_ms && *a.elapsed_ms > 0) {
      std::snprintf(ratio, sizeof ratio, "%.2fx", static_cast<double>(*w.elapsed_ms) / static_cast<double>(*a.elapsed_ms));
    }
    md += "| " + std::to_string(a.round) + " | " + cell(a) + " | " + cell(w) + " | " + ratio + " | " + w.steps + " |\n";
  }
  std::FILE* f = std::fopen((out + "/results.md").c_str(), "w");
  if (f) {
    std::fputs(md.c_str(), f);
    std::fclose(f);
  }
  std::printf("\n%s\nwrote %s/results.md\n", md.c_str(), out.c_str());
  return 0;
}

}  // namespace
}  // namespace vc::bench

int main(int argc, char** argv) { return vc::bench::Main(argc, argv); }
