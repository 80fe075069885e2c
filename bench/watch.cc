// vc-bench-watch: the cost of `virt-converge watch` (issue #5, point 5; run
// it through bench/watch). On host A of the two-host libvirt bed:
//
//  * idle: watch and, side by side over the same window, the cheapest
//    libvirt event listener there is — `virsh -k 0 event --all --loop`, no
//    keepalive — as the baseline. Wake-ups (context switches of all
//    threads), CPU time, RSS and PSS of each; the ratios watch/baseline.
//    Twice: with libvirtd's default keepalive, whose pings every client
//    must answer, and with it off, which leaves each client's own.
//  * delay: live migrations of a running guest started by hand; the time
//    from QEMU's first MIGRATION event (QEMU's own timestamp, as `virsh
//    qemu-monitor-event` prints it) to the first sample line the helper
//    watch started writes to its log. Baseline in the same run: how long a
//    fresh `virsh domjobinfo` (connect, read the job, exit) takes, the least
//    any helper process must spend. Each migration is aborted once seen
//    (the guest runs on), so the helper's exit is exercised too.
//
// Nothing here is a pass/fail test: the numbers go to docs/benchmarks.md.
#include <CLI/CLI.hpp>

#include <csignal>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <thread>

#include "tests/support/libvirt_bed.h"
#include "tests/support/process.h"
#include "tests/support/virt_converge_run.h"

namespace vc::bench {
namespace {

namespace fs = std::filesystem;
using testing::LibvirtBed;
using testing::ReadFile;
using testing::Subprocess;

using WallClock = std::chrono::system_clock;

/// What /proc says of one process, summed over its threads.
struct ProcessCost {
  uint64_t switches = 0;   // voluntary + involuntary context switches
  double cpu_s = 0;        // user + system
  uint64_t rss_kib = 0;
  uint64_t pss_kib = 0;
};

uint64_t StatusField(const std::string& text, const std::string& key) {
  size_t at = text.find("\n" + key + ":");
  if (at == std::string::npos) return 0;
  return std::strtoull(text.c_str() + at + key.size() + 2, nullptr, 10);
}

ProcessCost Measure(pid_t pid) {
  ProcessCost c;
  std::string base = "/proc/" + std::to_string(pid);
  std::string status = "\n" + ReadFile(base + "/status");
  c.rss_kib = StatusField(status, "VmRSS");
  c.pss_kib = StatusField("\n" + ReadFile(base + "/smaps_rollup"), "Pss");
  for (const fs::directory_entry& task : fs::directory_iterator(base + "/task")) {
    std::string ts = "\n" + ReadFile(task.path().string() + "/status");
    c.switches += StatusField(ts, "voluntary_ctxt_switches") + StatusField(ts, "nonvoluntary_ctxt_switches");
    // /proc/PID/task/TID/stat: fields 14 and 15 (utime, stime), after the ")".
    std::string stat = ReadFile(task.path().string() + "/stat");
    size_t close = stat.rfind(')');
    if (close == std::string::npos) continue;
    std::istringstream rest(stat.substr(close + 2));
    std::string field;
    uint64_t ticks = 0;
    for (int i = 3; i <= 15 && rest >> field; i++) {
      if (i >= 14) ticks += std::strtoull(field.c_str(), nullptr, 10);
    }
    c.cpu_s += static_cast<double>(ticks) / static_cast<double>(sysconf(_SC_CLK_TCK));
  }
  return c;
}

struct IdleWindow {
  std::string what;
  double watch_wakeups, baseline_wakeups;  // per minute
  double watch_cpu_ms, baseline_cpu_ms;    // per minute
  ProcessCost watch, baseline;             // at the window's end
};

double Median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

double Ratio(double a, double b) { return b > 0 ? a / b : (a > 0 ? INFINITY : 1.0); }

bool WaitText(const std::string& path, const std::string& text, Millis timeout) {
  Deadline deadline = Clock::now() + timeout;
  while (ReadFile(path).find(text) == std::string::npos) {
    if (Clock::now() > deadline) return false;
    std::this_thread::sleep_for(Millis(50));
  }
  return true;
}

/// The wall time at which a line matching \a line first appears in \a path
/// past byte \a from, polled every millisecond.
std::optional<double> WaitLineAppears(const std::string& path, size_t from, const std::regex& line, Millis timeout) {
  Deadline deadline = Clock::now() + timeout;
  while (Clock::now() < deadline) {
    std::string text = ReadFile(path);
    if (text.size() > from) {
      double now = std::chrono::duration<double>(WallClock::now().time_since_epoch()).count();
      std::istringstream in(text.substr(from));
      for (std::string l; std::getline(in, l);) {
        if (std::regex_search(l, line)) return now;
      }
    }
    std::this_thread::sleep_for(Millis(1));
  }
  return std::nullopt;
}

/// QEMU's timestamp of the first MIGRATION event {"status":"setup"} for
/// \a domain in `virsh qemu-monitor-event` output past byte \a from.
std::optional<double> SetupEventTime(const std::string& text, size_t from, const std::string& domain) {
  static const std::regex event(R"(event MIGRATION at ([0-9]+\.[0-9]+) for domain '([^']+)': .*"setup")");
  std::istringstream in(text.substr(std::min(from, text.size())));
  for (std::string l; std::getline(in, l);) {
    std::smatch m;
    if (std::regex_search(l, m, event) && m[2] == domain) return std::stod(m[1]);
  }
  return std::nullopt;
}

std::string Trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

int Main(int argc, char** argv) {
  CLI::App app{"vc-bench-watch: the cost of virt-converge watch (see bench/watch)"};
  int idle_s = 60;
  int runs = 7;
  std::string out = "bench-out";
  app.add_option("--idle", idle_s, "seconds of the idle window")->capture_default_str();
  app.add_option("--runs", runs, "migrations for the delay")->capture_default_str();
  app.add_option("--out", out, "output directory")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  fs::create_directories(out);

  Result<std::unique_ptr<LibvirtBed>> started = LibvirtBed::Start();
  if (!started.ok()) {
    std::fprintf(stderr, "the two-host libvirt bed cannot run here: %s\n", started.status().ToString().c_str());
    return 77;
  }
  LibvirtBed& bed = **started;
  const std::string name = "bench";
  testing::GuestParams guest;  // a guest that works while watch idles
  guest.rate = std::to_string(8 << 20);
  if (Status s = bed.StartGuest('A', name, guest); !s.ok()) {
    std::fprintf(stderr, "starting the guest: %s\n", s.ToString().c_str());
    return 1;
  }
  std::string uuid;
  bed.Virsh('A', {"domuuid", name}, &uuid);
  uuid = Trim(uuid);

  // Idle: watch beside the baseline listener, over the same window; first
  // with libvirtd's default keepalive (it pings every client every 5 s),
  // then with it off — what is left is the clients' own wake-ups.
  std::string run_dir = bed.dir().File("run");
  std::string watch_log = bed.dir().File("watch.log");
  Result<Subprocess> watch =
      Subprocess::Start({testing::VirtConvergeBinary(), "watch", "--connect", bed.uri('A'), "--run-dir", run_dir}, watch_log);
  if (!watch.ok() || !WaitText(watch_log, "watching outgoing migrations", Millis(30000))) {
    std::fprintf(stderr, "watch did not start: %s\n", ReadFile(watch_log).c_str());
    return 1;
  }
  std::vector<IdleWindow> windows;
  for (bool keepalive : {true, false}) {
    if (!keepalive) {
      std::ofstream(bed.dir().File("hosts/A/etc/libvirtd.conf"), std::ios::app) << "keepalive_interval = -1\n";
      if (Status s = bed.RestartDaemon('A'); !s.ok()) {
        std::fprintf(stderr, "restarting libvirtd: %s\n", s.ToString().c_str());
        return 1;
      }
      if (!WaitText(watch_log, "connected to libvirt again", Millis(60000))) {
        std::fprintf(stderr, "watch did not reconnect: %s\n", ReadFile(watch_log).c_str());
        return 1;
      }
    }
    Result<Subprocess> listener = Subprocess::Start({"virsh", "-k", "0", "-c", bed.uri('A'), "event", "--all", "--loop"},
                                                    bed.dir().File("event.log"));
    if (!listener.ok()) return 1;
    std::this_thread::sleep_for(Millis(3000));  // both past their start-up
    ProcessCost w0 = Measure(watch->pid()), b0 = Measure(listener->pid());
    std::fprintf(stderr, "idle window, libvirtd keepalive %s: %d s\n", keepalive ? "5 s" : "off", idle_s);
    std::this_thread::sleep_for(std::chrono::seconds(idle_s));
    ProcessCost w1 = Measure(watch->pid()), b1 = Measure(listener->pid());
    listener->Kill();
    double minutes = idle_s / 60.0;
    windows.push_back({keepalive ? "libvirtd keepalive every 5 s (its default)" : "libvirtd keepalive off",
                       (w1.switches - w0.switches) / minutes, (b1.switches - b0.switches) / minutes,
                       (w1.cpu_s - w0.cpu_s) * 1000 / minutes, (b1.cpu_s - b0.cpu_s) * 1000 / minutes, w1, b1});
  }

  // Delay: migrations by hand, each aborted once its helper sampled it.
  std::string events_log = bed.dir().File("qemu-events.log");
  Result<Subprocess> events = Subprocess::Start(
      {"virsh", "-k", "0", "-c", bed.uri('A'), "qemu-monitor-event", "--domain", name, "--event", "MIGRATION", "--loop"},
      events_log);
  std::this_thread::sleep_for(Millis(1000));
  std::string helper_log = run_dir + "/follow/" + uuid + ".log";
  static const std::regex sample_line(R"(^\s+[0-9]+\.[0-9]s (setup|active|pre-switchover|device|postcopy))");
  std::vector<double> delays_ms, baseline_ms;
  for (int i = 0; i < runs; i++) {
    size_t helper_from = ReadFile(helper_log).size();
    size_t events_from = ReadFile(events_log).size();
    std::vector<std::string> cmd = {"virsh", "-q", "-c", bed.uri('A')};
    for (const std::string& a : bed.MigrateArgs(name, 'B')) cmd.push_back(a);
    cmd.insert(cmd.end(), {"--bandwidth", "32"});
    Result<Subprocess> migrate = Subprocess::Start(cmd, bed.dir().File("migrate-" + std::to_string(i) + ".log"));
    if (!migrate.ok()) return 1;
    std::optional<double> sampled = WaitLineAppears(helper_log, helper_from, sample_line, Millis(60000));
    // The baseline, while the job runs: a fresh client reading it.
    auto t0 = Clock::now();
    std::string jobinfo;
    int rc = bed.Virsh('A', {"-k", "0", "domjobinfo", name}, &jobinfo);
    double fresh_ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
    std::optional<double> event = SetupEventTime(ReadFile(events_log), events_from, name);
    bed.Virsh('A', {"domjobabort", name});
    migrate->Wait(Millis(60000));
    bool ended = WaitText(helper_log, "outcome:", Millis(30000)) &&
                 ReadFile(helper_log).find("outcome:", helper_from) != std::string::npos;
    if (!sampled || !event || rc != 0) {
      std::fprintf(stderr, "run %d: no %s\n", i, !sampled ? "helper sample" : !event ? "MIGRATION event" : "job info");
      continue;
    }
    double delay = (*sampled - *event) * 1000;
    delays_ms.push_back(delay);
    baseline_ms.push_back(fresh_ms);
    std::string summary;  // the helper's account of the aborted migration
    std::istringstream helper_out(ReadFile(helper_log).substr(helper_from));
    for (std::string l; std::getline(helper_out, l);) {
      if (l.rfind("outcome:", 0) == 0 || l.rfind("bytes sent:", 0) == 0) summary += "; " + l;
    }
    std::fprintf(stderr, "run %d: event→helper sample %.1f ms; fresh virsh domjobinfo %.1f ms; helper %s%s\n", i, delay,
                 fresh_ms, ended ? "ended" : "still running", summary.c_str());
    std::this_thread::sleep_for(Millis(1000));
  }
  events->Kill();
  ProcessCost w2 = Measure(watch->pid());
  watch->Signal(SIGTERM);
  watch->Wait(Millis(10000));

  double d_med = Median(delays_ms), f_med = Median(baseline_ms);
  double d_max = delays_ms.empty() ? 0 : *std::max_element(delays_ms.begin(), delays_ms.end());
  std::string md;
  auto line = [&md](const char* fmt, auto... args) {
    char buf[512];
    std::snprintf(buf, sizeof buf, fmt, args...);
    md += buf;
  };
  for (const IdleWindow& w : windows) {
    line("| idle %d s, %s | watch | baseline (`virsh -k 0 event --all --loop`) | ratio |\n|---|---|---|---|\n",
         idle_s, w.what.c_str());
    line("| wake-ups per minute | %.1f | %.1f | %.2fx |\n", w.watch_wakeups, w.baseline_wakeups,
         Ratio(w.watch_wakeups, w.baseline_wakeups));
    line("| CPU ms per minute | %.1f | %.1f | %.2fx |\n", w.watch_cpu_ms, w.baseline_cpu_ms,
         Ratio(w.watch_cpu_ms, w.baseline_cpu_ms));
    line("| RSS | %.1f MiB | %.1f MiB | %.2fx |\n", w.watch.rss_kib / 1024.0, w.baseline.rss_kib / 1024.0,
         Ratio(w.watch.rss_kib, w.baseline.rss_kib));
    line("| PSS | %.1f MiB | %.1f MiB | %.2fx |\n\n", w.watch.pss_kib / 1024.0, w.baseline.pss_kib / 1024.0,
         Ratio(w.watch.pss_kib, w.baseline.pss_kib));
  }
  line("| delay, %zu migrations | watch's helper | baseline (fresh `virsh domjobinfo`) | ratio |\n|---|---|---|---|\n",
       delays_ms.size());
  line("| median | %.1f ms | %.1f ms | %.2fx |\n| max | %.1f ms | | |\n\n", d_med, f_med, Ratio(d_med, f_med), d_max);
  line("watch's RSS after the migrations: %.1f MiB.\n", w2.rss_kib / 1024.0);
  std::ofstream(out + "/watch.md") << md;
  std::ofstream json(out + "/watch.json");
  json << "{\"idle_seconds\":" << idle_s << ",\"idle\":[";
  for (size_t i = 0; i < windows.size(); i++) {
    const IdleWindow& w = windows[i];
    json << (i ? "," : "") << "{\"what\":\"" << w.what << "\",\"watch\":{\"wakeups_per_min\":" << w.watch_wakeups
         << ",\"cpu_ms_per_min\":" << w.watch_cpu_ms << ",\"rss_kib\":" << w.watch.rss_kib
         << ",\"pss_kib\":" << w.watch.pss_kib << "},\"baseline\":{\"wakeups_per_min\":" << w.baseline_wakeups
         << ",\"cpu_ms_per_min\":" << w.baseline_cpu_ms << ",\"rss_kib\":" << w.baseline.rss_kib
         << ",\"pss_kib\":" << w.baseline.pss_kib << "}}";
  }
  json << "],\"watch_rss_kib_after\":" << w2.rss_kib << ",\"delay_ms\":[";
  for (size_t i = 0; i < delays_ms.size(); i++) json << (i ? "," : "") << delays_ms[i];
  json << "],\"fresh_virsh_ms\":[";
  for (size_t i = 0; i < baseline_ms.size(); i++) json << (i ? "," : "") << baseline_ms[i];
  json << "]}\n";
  std::printf("%s", md.c_str());
  bed.Virsh('A', {"destroy", name});
  return delays_ms.empty() ? 1 : 0;
}

}  // namespace
}  // namespace vc::bench

int main(int argc, char** argv) { return vc::bench::Main(argc, argv); }
