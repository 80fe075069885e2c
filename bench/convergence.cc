// vc-bench-convergence: the convergence benchmark of issue #4 (run it
// through bench/convergence). Real QEMU migrations of the test guest over a
// grid of guest sizes, bandwidth caps and dirty workloads, once per policy
// (QEMU's defaults, QEMU's stock auto-converge, every preset, our default),
// each driven by the real `virt-converge migrate`; then the same grid, and
// one many times larger, on the simulator. With --rounds N the real grid
// runs N times and each policy keeps what its host learned (the final
// copies' speed) from round to round: round 1 is a first migration to the
// destination, a later round one from a host that has migrated there before. Writes results.json, results.md
// and, for one hard case, remaining-<case>.dat for the plot.
//
// Nothing here is a pass/fail test: the numbers go to docs/benchmarks.md,
// where the targets are compared with them.
#include <CLI/CLI.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <optional>
#include <thread>

#include "plugins/action.h"
#include "src/base/json.h"
#include "src/base/units.h"
#include "src/control/policy_reaction.h"
#include "src/control/simulator.h"
#include "src/control/start_settings.h"
#include "src/policy/ini.h"
#include "src/policy/resolve.h"
#include "src/state/summary.h"
#include "tests/support/guest_pause_watch.h"
#include "tests/support/netns_link.h"
#include "tests/support/policy_tree.h"
#include "tests/support/qemu_vm.h"
#include "tests/support/virt_converge_run.h"

namespace vc::bench {
namespace {

namespace fs = std::filesystem;
using testing::GuestParams;

constexpr uint64_t kMiB = 1ull << 20;
/// Finished "within the downtime limit": completed with at most this much
/// real downtime and without a pause (post-copy's switch-over counts).
constexpr int64_t kDowntimeLimitMs = 2000;
/// The shaped link's addresses, 10.77.<this>.1 and .2, in every run.
constexpr int kLinkSubnet = 27;

struct PolicyChoice {
  std::string name;
  std::vector<std::string> files;  // applied in order, as drop-ins are
  /// The policy's own host state, kept across its cases as on a host (what
  /// LearnSwitchoverBandwidth= learns), empty at the start of the run.
  std::string state_dir = {};
};

struct Workload {
  std::string name;
  double rate_x;       // dirty rate as a multiple of the bandwidth; < 0: idle
  double wss_share;    // working set as a share of RAM (0: hot_set)
  uint64_t hot_set = 0;
};

const std::vector<Workload>& Workloads() {
  static const std::vector<Workload> w = {
      {"idle", -1, 0, 0},
      {"below", 0.5, 0.5, 0},
      {"1.5x", 1.5, 0.5, 0},
      {"3x", 3.0, 0.5, 0},
      {"hotset", 4.0, 0, 32 * kMiB},
      // KubeVirt's VEP 291 benchmark scaled: ~650 Mbit/s dirtying a 1 Gbit/s link.
      {"kubevirt", 0.65, 0.5, 0},
  };
  return w;
}

struct Case {
  uint64_t ram = 0;
  uint64_t bandwidth = 0;  // bytes/s: QEMU's max-bandwidth
  Workload workload;
  std::string Name() const {
    return FormatSizeShort(ram) + "-" + FormatSizeShort(bandwidth) + "ps-" + workload.name;
  }
  double dirty_rate() const { return workload.rate_x < 0 ? 64 * 1024 : workload.rate_x * static_cast<double>(bandwidth); }
  uint64_t wss() const {
    if (workload.rate_x < 0) return 64 * 1024;
    return workload.hot_set ? workload.hot_set : static_cast<uint64_t>(static_cast<double>(ram) * workload.wss_share);
  }
  static std::string FormatSizeShort(uint64_t b) {
    if (b >= (1ull << 40) && b % (1ull << 40) == 0) return std::to_string(b >> 40) + "T";
    if (b >= (1ull << 30) && b % (1ull << 30) == 0) return std::to_string(b >> 30) + "G";
    return std::to_string(b >> 20) + "M";
  }
};

struct RunResult {
  std::string policy, kase, where;  // where: "qemu" or "sim"
  int round = 1;  // of --rounds; the simulator runs only round 1
  uint64_t ram = 0, bandwidth = 0;
  std::string workload;
  std::string outcome;
  int64_t total_ms = 0;
  std::optional<int64_t> downtime_ms;
  uint64_t passes = 0, bytes_sent = 0;
  double throttle_integral = 0;  // percent x seconds
  int64_t paused_ms = 0;
  double max_latency_ms = 0;
  double max_sent_ms = 0;  // of that, until the command went to QEMU
  std::optional<double> guest_pause_ms;  // the switch-over as the guest lived it (real QEMU)
  double guest_run_share = 0;            // of the migration's wall time, the guest ran (real QEMU)
  std::vector<std::string> actions;
  std::vector<std::pair<double, uint64_t>> remaining;  // (s, bytes)
  /// A copy completed in pre-copy, beside its prediction (real QEMU).
  std::optional<SwitchoverReport> switchover;

  bool completed() const { return outcome == "completed" || outcome == "completed-postcopy"; }
  bool within_limit() const {
    return completed() && paused_ms == 0 && downtime_ms && *downtime_ms <= kDowntimeLimitMs;
  }
  double lower_bound_ms() const { return static_cast<double>(ram) * 1000 / static_cast<double>(bandwidth); }
};

Result<policy::Policy> LoadPolicy(const std::vector<std::string>& files) {
  policy::Policy p;
  policy::Diagnostics diags;
  for (const std::string& f : files) policy::ApplyFile(policy::ReadIni(f, &diags), StepVocabulary(), &p, &diags);
  policy::Validate(&p, &diags);
  if (!diags.empty()) return Status::InvalidArgument("policy", diags.front().ToString());
  return p;
}

/// A result naming its run, to be filled in.
RunResult Started(const Case& c, const PolicyChoice& pol, const std::string& where) {
  RunResult r;
  r.policy = pol.name;
  r.kase = c.Name();
  r.where = where;
  r.ram = c.ram;
  r.bandwidth = c.bandwidth;
  r.workload = c.workload.name;
  return r;
}

// ---- real QEMU ----

/// \a link_rate: bytes/s the link between the two QEMUs carries (two
/// network namespaces, a veth shaped with tc); 0 = loopback, unshaped.
RunResult RunOnQemu(const Case& c, const PolicyChoice& pol, double limit_s, int round, uint64_t link_rate,
                    const std::string& log_dir) {
  RunResult r = Started(c, pol, "qemu");
  r.round = round;
  GuestParams g;
  g.ram_mib = c.ram / kMiB;
  g.wss = std::to_string(c.wss() / 1024) + "K";
  g.rate = std::to_string(static_cast<uint64_t>(c.dirty_rate()) / 1024) + "K";
  // One VM per case, across rounds: what FromHistory= looks up.
  g.vm_name = c.Name();
  std::unique_ptr<testing::NetnsLink> link;
  if (link_rate) {
    // The same two addresses every run: the destination a host learns
    // its switch-over speed to, as it would be migrating between two hosts.
    auto up = testing::NetnsLink::Up("bench-link", kLinkSubnet);
    Status shaped = up.ok() ? (*up)->Shape(std::to_string(link_rate * 8 / 1000) + "kbit") : up.status();
    if (!shaped.ok()) {
      r.outcome = "bench error: " + shaped.ToString();
      return r;
    }
    link = std::move(*up);
  }
  auto pair = testing::MigrationPair::Start(g, "bench", link.get());
  if (!pair.ok()) {
    r.outcome = "bench error: " + pair.status().ToString();
    return r;
  }
  auto uri = (*pair)->ListenIncoming();
  if (!uri.ok()) {
    r.outcome = "bench error: " + uri.status().ToString();
    return r;
  }
  const std::string root = (*pair)->dir().path() + "/root";
  testing::PolicyTree tree = testing::PolicyTree::Under(root);
  for (size_t i = 0; i < pol.files.size(); i++) tree.Install(pol.files[i], "5" + std::to_string(i) + "-policy.conf");
  auto run = testing::StartVirtConverge((*pair)->dir(), "vc",
                                        {"migrate", "--qmp", (*pair)->src().spare_qmp_path(), "--dest-qmp",
                                         (*pair)->dst().spare_qmp_path(), "--bandwidth",
                                         std::to_string(c.bandwidth) + "B/s", "--policy-root", root, "--state-dir",
                                         pol.state_dir, *uri});
  if (!run.ok()) {
    r.outcome = "bench error: " + run.status().ToString();
    return r;
  }
  // The bench's own QMP sessions are the watch's while it runs.
  auto watch = std::make_unique<testing::GuestPauseWatch>((*pair)->src().qmp(), (*pair)->dst().qmp());
  int exit = run->WaitExit(Millis(static_cast<int64_t>(limit_s * 1000)));
  if (watch->ResumedOnDestination() || exit != -1) std::this_thread::sleep_for(Millis(200));
  const testing::GuestPauseWatch::Report lived = watch->Stop();
  watch.reset();
  r.guest_pause_ms = lived.pause_ms;
  r.guest_run_share = lived.RunShare();
  if (exit == -1) {
    // The policy let it run past the bench's limit: stop it as an operator would.
    (void)qmp::MigrateCancel((*pair)->src().qmp());
    exit = run->WaitExit(Millis(30000));
  }
  // Its log is kept beside the results: the reasons of every decision.
  if (!log_dir.empty()) {
    std::ofstream(log_dir + "/" + c.Name() + "-" + pol.name + "-r" + std::to_string(round) + ".log") << run->Output();
  }
  std::optional<Json> sum = run->Summary();
  if (!sum) {
    r.outcome = "bench error: no summary (exit " + std::to_string(exit) + ")";
    return r;
  }
  r.outcome = sum->GetString("outcome").value_or("?");
  const bool stopped = r.outcome == "cancelled";
  if (stopped) r.outcome = "unfinished at the bench limit";
  r.total_ms = sum->GetInt("total-time-ms").value_or(0);
  r.downtime_ms = sum->GetInt("downtime-ms");
  r.passes = sum->GetUint("passes").value_or(0);
  r.bytes_sent = sum->GetUint("bytes-sent").value_or(0);
  if (std::optional<Json> so = sum->Get("switchover")) r.switchover = SwitchoverReport::FromJson(*so);
  std::optional<double> paused_at;
  if (std::optional<Json> actions = sum->Get("actions")) {
    for (size_t i = 0; i < actions->ArraySize(); i++) {
      Json a = actions->At(i);
      const std::string name = a.GetString("action").value_or("?");
      r.actions.push_back(name + "=" + std::to_string(a.GetInt("value").value_or(0)));
      r.max_latency_ms = std::max(r.max_latency_ms, a.GetDouble("latency-ms").value_or(0));
      r.max_sent_ms = std::max(r.max_sent_ms, a.GetDouble("sent-ms").value_or(0));
      if (name == "pause-guest" && a.GetString("result").value_or("") == "done" && !paused_at) {
        paused_at = a.GetDouble("at-s");
      }
    }
  }
  if (stopped) r.total_ms = std::max<int64_t>(r.total_ms, static_cast<int64_t>(limit_s * 1000));
  if (paused_at && r.completed()) r.paused_ms = r.total_ms - static_cast<int64_t>(*paused_at * 1000);
  if (std::optional<Json> samples = sum->Get("samples")) {
    double prev_t = 0;
    int prev_throttle = 0;
    for (size_t i = 0; i < samples->ArraySize(); i++) {
      Json s = samples->At(i);
      const double t = static_cast<double>(s.GetInt("t-ms").value_or(0)) / 1000;
      r.throttle_integral += prev_throttle * std::max(0.0, t - prev_t);
      prev_t = t;
      prev_throttle = static_cast<int>(s.GetInt("throttle-percent").value_or(0));
      // Only a running migration has bytes remaining (a finished or
      // cancelled one reports 0 at time 0).
      const std::string status = s.GetString("status").value_or("");
      if (status == "active" || status.rfind("postcopy", 0) == 0) {
        r.remaining.emplace_back(t, s.GetUint("remaining").value_or(0));
      }
    }
  }
  return r;
}

// ---- simulator ----

/// \a writes: kSweep beside a real run (the test guest under TCG), the
/// simulator's default for the large grid.
RunResult RunOnSimulator(const Case& c, const PolicyChoice& pol, double link, double limit_s,
                         GuestWrites writes = GuestWrites::kUniform) {
  RunResult r = Started(c, pol, "sim");
  Result<policy::Policy> p = LoadPolicy(pol.files);
  if (!p.ok()) {
    r.outcome = "bench error: " + p.status().ToString();
    return r;
  }
  SimScenario sc;
  sc.memory = c.ram;
  sc.working_set = c.wss();
  sc.dirty_rate = c.dirty_rate();
  sc.writes = writes;
  sc.sample_dirty_rate = true;  // `migrate --qmp`, as QmpBackend does
  sc.link = link;
  sc.Apply(StartFromPolicy(*p));
  sc.max_bandwidth = c.bandwidth;  // as `migrate --bandwidth` sets it
  PolicyReaction reaction(*p, pol.name);
  SimOptions o;
  o.limit_ms = static_cast<int64_t>(limit_s * 1000);
  SimResult s = Simulate(sc, reaction, o);
  r.outcome = s.outcome == MigrationOutcome::kTimeout ? "unfinished at the bench limit" : std::string(OutcomeName(s.outcome));
  r.total_ms = s.total_time_ms;
  r.downtime_ms = s.downtime_ms;
  r.passes = s.passes;
  r.bytes_sent = s.bytes_sent;
  r.throttle_integral = s.throttle_integral;
  r.paused_ms = s.paused_ms;
  for (const ActionRecord& a : s.actions) r.actions.push_back(a.action + "=" + std::to_string(a.value));
  for (const SimPoint& pt : s.series) r.remaining.emplace_back(pt.t_s, pt.remaining);
  return r;
}

// ---- reporting ----

Json ToJson(const RunResult& r) {
  Json actions = Json::Array();
  for (const std::string& a : r.actions) actions.Append(Json::String(a));
  Json j = Json::Object()
               .Set("where", Json::String(r.where))
               .Set("policy", Json::String(r.policy))
               .Set("case", Json::String(r.kase))
               .Set("round", Json::Int(r.round))
               .Set("ram", Json::Uint(r.ram))
               .Set("bandwidth", Json::Uint(r.bandwidth))
               .Set("workload", Json::String(r.workload))
               .Set("outcome", Json::String(r.outcome))
               .Set("total-time-ms", Json::Int(r.total_ms))
               .Set("lower-bound-ms", Json::Double(r.lower_bound_ms()))
               .Set("passes", Json::Uint(r.passes))
               .Set("bytes-sent", Json::Uint(r.bytes_sent))
               .Set("throttle-percent-seconds", Json::Double(r.throttle_integral))
               .Set("paused-ms", Json::Int(r.paused_ms))
               .Set("max-decision-latency-ms", Json::Double(r.max_latency_ms))
               .Set("max-until-sent-ms", Json::Double(r.max_sent_ms))
               .Set("within-downtime-limit", Json::Bool(r.within_limit()))
               .Set("actions", actions);
  if (r.downtime_ms) j.Set("downtime-ms", Json::Int(*r.downtime_ms));
  if (r.guest_pause_ms) j.Set("guest-pause-ms", Json::Double(*r.guest_pause_ms));
  if (r.where == "qemu") j.Set("guest-run-share", Json::Double(r.guest_run_share));
  if (r.switchover) j.Set("switchover", r.switchover->ToJson());
  return j;
}

double Median(std::vector<double> v) {
  if (v.empty()) return NAN;
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

std::string Fixed(double v, int digits = 2) { return std::isnan(v) ? "–" : FormatFixed(v, digits); }

/// The per-policy table for one set of runs (one "where").
/// The guest's work in the first \a horizon_ms of \a r: what it ran while
/// migrating, then all of its time (it runs unharmed on the destination).
/// Real QEMU only (the heartbeat); 0 otherwise.
double GuestWorkMs(const RunResult& r, double horizon_ms) {
  if (r.guest_run_share <= 0) return 0;
  const double total = static_cast<double>(r.total_ms);
  return r.guest_run_share * total + std::max(0.0, horizon_ms - total);
}

/// \a r's guest work against \a other's on the same case, over the longer
/// of the two migrations; nullopt where either is unknown.
std::optional<double> GuestWorkRatio(const RunResult& r, const RunResult& other) {
  if (!r.completed() || !other.completed()) return std::nullopt;
  const double horizon = static_cast<double>(std::max(r.total_ms, other.total_ms));
  const double theirs = GuestWorkMs(other, horizon);
  const double mine = GuestWorkMs(r, horizon);
  if (theirs <= 0 || mine <= 0) return std::nullopt;
  return mine / theirs;
}

std::string Table(const std::vector<RunResult>& runs, const std::string& ours, const std::string& stock_ac) {
  std::map<std::string, std::vector<const RunResult*>> by_policy;
  std::map<std::string, std::map<std::string, const RunResult*>> by_case;  // case -> policy -> run
  std::vector<std::string> order;
  for (const RunResult& r : runs) {
    if (!by_policy.count(r.policy)) order.push_back(r.policy);
    by_policy[r.policy].push_back(&r);
    by_case[r.kase][r.policy] = &r;
  }
  std::string md =
      "| policy | runs | completed | within 2 s downtime | post-copy | paused | median time / (RAM/bandwidth), dirty < bandwidth | "
      "median time / best preset's | throttle %·s (vs stock auto-converge, same cases) | guest's work vs stock auto-converge's "
      "(vs the best preset's), median | max downtime | max decision latency (until sent) |\n"
      "|---|---|---|---|---|---|---|---|---|---|---|---|\n";
  for (const std::string& name : order) {
    const auto& rs = by_policy[name];
    int completed = 0, within = 0, postcopy = 0, paused = 0;
    std::vector<double> vs_bound, vs_best, work_vs_stock, work_vs_best;
    double throttle = 0, stock_throttle = 0, max_latency = 0, max_sent = 0;
    int64_t max_downtime = 0;
    for (const RunResult* r : rs) {
      completed += r->completed();
      within += r->within_limit();
      postcopy += r->outcome == "completed-postcopy";
      paused += r->paused_ms > 0;
      max_latency = std::max(max_latency, r->max_latency_ms);
      max_sent = std::max(max_sent, r->max_sent_ms);
      if (r->completed() && r->downtime_ms) max_downtime = std::max(max_downtime, *r->downtime_ms);
      if (r->completed() && (r->workload == "idle" || r->workload == "below" || r->workload == "kubevirt")) {
        vs_bound.push_back(static_cast<double>(r->total_ms) / r->lower_bound_ms());
      }
      // The best preset on this case: least total time among the presets
      // (not ours, not the stock baselines) that completed.
      const RunResult* best = nullptr;
      for (const auto& [pname, other] : by_case[r->kase]) {
        if (pname == ours || pname.rfind("vc-", 0) == 0 || pname == stock_ac || pname == "qemu-defaults" ||
            !other->completed()) {
          continue;
        }
        if (!best || other->total_ms < best->total_ms) best = other;
      }
      if (r->completed() && best) {
        vs_best.push_back(static_cast<double>(r->total_ms) / static_cast<double>(best->total_ms));
        if (auto w = GuestWorkRatio(*r, *best)) work_vs_best.push_back(*w);
      }
      auto stock = by_case[r->kase].find(stock_ac);
      if (stock != by_case[r->kase].end() && stock->second->completed() && r->completed()) {
        throttle += r->throttle_integral;
        stock_throttle += stock->second->throttle_integral;
        if (auto w = GuestWorkRatio(*r, *stock->second)) work_vs_stock.push_back(*w);
      }
    }
    md += "| " + name + " | " + std::to_string(rs.size()) + " | " + std::to_string(completed) + " | " +
          std::to_string(within) + " | " + std::to_string(postcopy) + " | " + std::to_string(paused) + " | " +
          Fixed(Median(vs_bound)) + " | " + Fixed(Median(vs_best)) + " | " + Fixed(throttle, 0) + " (" +
          (stock_throttle > 0 ? Fixed(throttle / stock_throttle) + "x" : std::string("–")) + ") | " +
          (work_vs_stock.empty() ? std::string("–") : Fixed(Median(work_vs_stock)) + "x") + " (" +
          (work_vs_best.empty() ? std::string("–") : Fixed(Median(work_vs_best)) + "x") + ") | " +
          FormatMillis(static_cast<double>(max_downtime)) + " | " +
          (max_latency > 0 ? Fixed(max_latency, 1) + " ms (" + Fixed(max_sent, 1) + " ms)" : std::string("–")) + " |\n";
  }
  return md;
}

/// Every real run, with the simulator's prediction of the same case and
/// policy (from \a simulated) and its error in total time.
std::string CaseTable(const std::vector<RunResult>& runs, const std::vector<RunResult>& simulated) {
  std::string md =
      "| case | policy | outcome | total | simulated (error) | downtime (QEMU) | guest's pause | guest ran | passes | "
      "throttle %·s | paused |\n"
      "|---|---|---|---|---|---|---|---|---|---|---|\n";
  for (const RunResult& r : runs) {
    std::string predicted = "–";
    for (const RunResult& sim : simulated) {
      if (sim.kase != r.kase || sim.policy != r.policy || r.total_ms <= 0) continue;
      const double error = 100.0 * static_cast<double>(sim.total_ms - r.total_ms) / static_cast<double>(r.total_ms);
      predicted = FormatMillis(static_cast<double>(sim.total_ms)) + " (" + (error >= 0 ? "+" : "") + Fixed(error, 0) + "%)";
    }
    const std::string kase = r.round > 1 ? r.kase + " (round " + std::to_string(r.round) + ")" : r.kase;
    md += "| " + kase + " | " + r.policy + " | " + r.outcome + " | " +
          FormatMillis(static_cast<double>(r.total_ms)) + " | " + predicted + " | " +
          (r.downtime_ms ? FormatMillis(static_cast<double>(*r.downtime_ms)) : std::string("–")) + " | " +
          (r.guest_pause_ms ? FormatMillis(*r.guest_pause_ms) : std::string("–")) + " | " +
          (r.where == "qemu" ? Fixed(100 * r.guest_run_share, 0) + "%" : std::string("–")) + " | " +
          std::to_string(r.passes) + " | " + Fixed(r.throttle_integral, 0) + " | " +
          (r.paused_ms ? FormatMillis(static_cast<double>(r.paused_ms)) : std::string("–")) + " |\n";
  }
  return md;
}

/// Every final copy of a real run beside what the switch-over speed it was
/// judged by predicted for it, in run order; a copy larger than every one
/// the same policy made before it (its host's learned speed meets a size
/// it has not seen) is marked. The real downtime is QEMU's (its whole-ms
/// figure + 1) and the guest's own gap.
std::string CopyTable(const std::vector<RunResult>& runs) {
  std::string md =
      "| case | policy | copy (never sent before) | larger than any before | judged by | predicted | QEMU's downtime "
      "(/ predicted) | guest's pause (/ predicted) |\n"
      "|---|---|---|---|---|---|---|---|\n";
  std::map<std::string, uint64_t> largest;  // policy -> its largest copy so far
  double worst_larger = 0;
  int larger = 0, larger_within = 0;
  for (const RunResult& r : runs) {
    if (!r.switchover) continue;
    const SwitchoverReport& so = *r.switchover;
    const uint64_t before = largest[r.policy];
    const bool is_larger = before > 0 && so.copy.bytes > before;
    largest[r.policy] = std::max(before, so.copy.bytes);
    const double guest_ratio = so.predicted_ms > 0 && r.guest_pause_ms ? *r.guest_pause_ms / so.predicted_ms : NAN;
    if (is_larger && so.predicted_ms > 0) {
      const double worst = std::max(so.ratio(), std::isnan(guest_ratio) ? 0.0 : guest_ratio);
      worst_larger = std::max(worst_larger, worst);
      larger++;
      larger_within += worst <= 1.25;
    }
    const std::string kase = r.round > 1 ? r.kase + " (round " + std::to_string(r.round) + ")" : r.kase;
    md += "| " + kase + " | " + r.policy + " | " + FormatBytes(static_cast<double>(so.copy.bytes)) +
          (so.copy.never_sent ? " (" + FormatBytes(static_cast<double>(*so.copy.never_sent)) + ")" : std::string()) +
          " | " + (is_larger ? FormatFixed(static_cast<double>(so.copy.bytes) / static_cast<double>(before), 1) + "x" : "–") +
          " | " + so.speed + " | " + (so.predicted_ms > 0 ? FormatMillis(so.predicted_ms) : "–") + " | " +
          std::to_string(so.copy.downtime_ms) + " ms (" + (so.predicted_ms > 0 ? Fixed(so.ratio()) : "–") + ") | " +
          (r.guest_pause_ms ? FormatMillis(*r.guest_pause_ms) + " (" + Fixed(guest_ratio) + ")" : std::string("–")) +
          " |\n";
  }
  md += "\nCopies larger than any the same policy made before: " + std::to_string(larger) + ", real downtime (QEMU's and "
        "the guest's) within 1.25x the predicted: " + std::to_string(larger_within) + ", worst " + Fixed(worst_larger) +
        "x.\n";
  return md;
}

std::vector<uint64_t> ParseSizes(const std::string& list, bool rate) {
  std::vector<uint64_t> out;
  std::stringstream ss(list);
  std::string item;
  while (std::getline(ss, item, ',')) {
    Result<uint64_t> v = rate ? ParseBytesPerSecond(item) : ParseBytes(item);
    if (!v.ok()) {
      std::fprintf(stderr, "vc-bench-convergence: '%s': %s\n", item.c_str(), v.status().ToString().c_str());
      std::exit(2);
    }
    out.push_back(*v);
  }
  return out;
}

int Main(int argc, char** argv) {
  CLI::App app{"vc-bench-convergence: the convergence benchmark (see bench/convergence)"};
  std::string out = "bench-out", ram = "256MiB", bw = "32MiB/s", workloads = "idle,below,1.5x,3x,hotset";
  std::string policies, sim_ram = "64GiB,256GiB,1TiB", sim_bw = "1Gbit/s,10Gbit/s,100Gbit/s";
  std::string plot_case = "3x";
  std::string plot_policies =
      "qemu-defaults,qemu-auto-converge,kubevirt-defaults,nova-defaults,ovirt-postcopy,ovirt-very-large-vms,"
      "virt-converge-default,vc-default+link";
  std::string link;
  bool no_qemu = false, no_sim = false;
  double limit_factor = 12;
  int rounds = 1;
  app.add_option("--out", out, "output directory")->capture_default_str();
  app.add_option("--ram", ram, "guest sizes for real QEMU")->capture_default_str();
  app.add_option("--bandwidth", bw, "bandwidth caps for real QEMU")->capture_default_str();
  app.add_option("--workloads", workloads, "workloads: idle,below,1.5x,3x,hotset,kubevirt")->capture_default_str();
  app.add_option("--policies", policies, "policy names (default: all)");
  app.add_option("--sim-ram", sim_ram, "guest sizes for the large simulated grid")->capture_default_str();
  app.add_option("--sim-bandwidth", sim_bw, "links for the large simulated grid")->capture_default_str();
  app.add_option("--limit-factor", limit_factor,
                 "a run still going after this many times RAM/bandwidth (plus 30 s) is stopped")->capture_default_str();
  app.add_option("--rounds", rounds,
                 "times the real grid runs, each policy keeping what it learned across rounds")
      ->capture_default_str()
      ->check(CLI::Range(1, 10));
  app.add_option("--plot-case", plot_case, "the workload whose remaining bytes are plotted")->capture_default_str();
  app.add_option("--plot-policies", plot_policies, "the policies plotted")->capture_default_str();
  app.add_option("--link", link,
                 "migrate over a link of this speed between two network namespaces (tc-shaped veth, e.g. "
                 "256Mbit/s), max-bandwidth the same unless --bandwidth says otherwise; default: loopback");
  app.add_flag("--no-qemu", no_qemu, "skip the real migrations");
  app.add_flag("--no-sim", no_sim, "skip the simulated grids");
  CLI11_PARSE(app, argc, argv);

  const std::string src = VC_SOURCE_DIR;
  std::vector<PolicyChoice> all = {{"qemu-defaults", {src + "/policy.d/presets/qemu-defaults.conf"}},
                                   {"qemu-auto-converge", {src + "/bench/policies/qemu-auto-converge.conf"}}};
  std::vector<std::string> presets;
  for (const auto& e : fs::directory_iterator(src + "/policy.d/presets")) {
    if (e.path().stem() != "qemu-defaults") presets.push_back(e.path().stem().string());
  }
  std::sort(presets.begin(), presets.end());
  for (const std::string& p : presets) all.push_back({p, {src + "/policy.d/presets/" + p + ".conf"}});
  const std::string ours = src + "/policy.d/50-default.conf";
  all.push_back({"virt-converge-default", {ours}});
  // Our default where post-copy is allowed, and where the host states its
  // link speed (the final copy runs unthrottled; loopback does >= 1 GiB/s).
  all.push_back({"vc-default+postcopy", {ours, src + "/bench/policies/allow-postcopy.conf"}});
  all.push_back({"vc-default+link", {ours, src + "/bench/policies/link-1GiBps.conf"}});
  // Each VM's next migration starting where its last ended (--rounds 2 and more).
  const std::string history = src + "/bench/policies/from-history.conf";
  all.push_back({"vc-default+history", {ours, history}});
  all.push_back({"vc-default+postcopy+history", {ours, src + "/bench/policies/allow-postcopy.conf", history}});
  const std::string gentle = src + "/bench/policies/gentle-throttle.conf";
  all.push_back({"vc-gentle+postcopy", {ours, src + "/bench/policies/allow-postcopy.conf", gentle}});
  all.push_back({"vc-gentle+postcopy+history", {ours, src + "/bench/policies/allow-postcopy.conf", gentle, history}});
  // Post-copy in the bulk pass where pre-copy would take far longer, and so
  // with the destination's page requests ahead of the stream.
  const std::string allow_postcopy = src + "/bench/policies/allow-postcopy.conf";
  const std::string early = src + "/bench/policies/early-postcopy.conf";
  all.push_back({"vc-default+early-postcopy", {ours, allow_postcopy, early}});
  all.push_back({"vc-default+early-postcopy+preempt",
                 {ours, allow_postcopy, early, src + "/bench/policies/postcopy-preempt.conf"}});
  std::vector<PolicyChoice> chosen;
  for (const PolicyChoice& p : all) {
    if (policies.empty() || ("," + policies + ",").find("," + p.name + ",") != std::string::npos) chosen.push_back(p);
  }
  std::vector<Workload> wl;
  for (const Workload& w : Workloads()) {
    if (("," + workloads + ",").find("," + w.name + ",") != std::string::npos) wl.push_back(w);
  }
  fs::create_directories(out);
  for (PolicyChoice& p : chosen) {
    p.state_dir = fs::absolute(out).string() + "/state/" + p.name;
    fs::remove_all(p.state_dir);
    fs::create_directories(p.state_dir);
  }

  uint64_t link_rate = 0;
  if (!link.empty()) {
    link_rate = ParseSizes(link, true).front();
    if (app.count("--bandwidth") == 0) bw = link;
  }
  fs::create_directories(out + "/logs");
  std::vector<RunResult> qemu_runs, sim_small, sim_large;
  if (!no_qemu) {
    testing::Accel accel = testing::ChooseAccel();
    std::printf("real QEMU: accelerator %s (%s)\n", accel.name.c_str(), accel.reason.c_str());
    for (int round = 1; round <= rounds; round++) {
      for (uint64_t r : ParseSizes(ram, false)) {
        for (uint64_t b : ParseSizes(bw, true)) {
          for (const Workload& w : wl) {
            Case c{r, b, w};
            const double limit = limit_factor * static_cast<double>(r) / static_cast<double>(b) + 30;
            for (const PolicyChoice& p : chosen) {
              RunResult res = RunOnQemu(c, p, limit, round, link_rate, out + "/logs");
              std::printf("qemu %-20s r%d %-26s %-30s %8s downtime %8s guest's pause %8s ran %3.0f%% throttle %6.0f%%s\n",
                          c.Name().c_str(), round, p.name.c_str(), res.outcome.c_str(),
                          FormatMillis(static_cast<double>(res.total_ms)).c_str(),
                          res.downtime_ms ? FormatMillis(static_cast<double>(*res.downtime_ms)).c_str() : "-",
                          res.guest_pause_ms ? FormatMillis(*res.guest_pause_ms).c_str() : "-",
                          100 * res.guest_run_share, res.throttle_integral);
              std::fflush(stdout);
              qemu_runs.push_back(std::move(res));
              // The same case on the simulator, with the same link (loopback's
              // is fast); it learns nothing, so once.
              const double sim_link = link_rate ? static_cast<double>(link_rate) : 2048.0 * kMiB;
              if (round == 1) sim_small.push_back(RunOnSimulator(c, p, sim_link, limit, GuestWrites::kSweep));
            }
          }
        }
      }
    }
  }
  if (!no_sim) {
    for (uint64_t r : ParseSizes(sim_ram, false)) {
      for (uint64_t b : ParseSizes(sim_bw, true)) {
        for (const Workload& w0 : wl) {
          Workload w = w0;
          if (w.hot_set) w.hot_set = r / 64;  // a small hot set: 1/64 of RAM
          Case c{r, b, w};
          const double limit = limit_factor * static_cast<double>(r) / static_cast<double>(b) + 30;
          for (const PolicyChoice& p : chosen) {
            // Here the link is the bandwidth: stating a faster one is wrong.
            if (p.name == "vc-default+link") continue;
            sim_large.push_back(RunOnSimulator(c, p, static_cast<double>(b), limit));
          }
        }
      }
    }
    std::printf("simulated %zu runs of the large grid\n", sim_large.size());
  }

  // results.json
  Json j = Json::Object();
  auto list = [](const std::vector<RunResult>& rs) {
    Json a = Json::Array();
    for (const RunResult& r : rs) a.Append(ToJson(r));
    return a;
  };
  j.Set("downtime-limit-ms", Json::Int(kDowntimeLimitMs)).Set("qemu", list(qemu_runs));
  j.Set("simulated-same-grid", list(sim_small)).Set("simulated-large-grid", list(sim_large));
  std::ofstream(out + "/results.json") << j.Serialize(true) << "\n";

  // results.md
  std::string md;
  for (int round = 1; round <= rounds && !qemu_runs.empty(); round++) {
    std::vector<RunResult> these;
    std::copy_if(qemu_runs.begin(), qemu_runs.end(), std::back_inserter(these),
                 [round](const RunResult& r) { return r.round == round; });
    const std::string heading =
        rounds == 1   ? "Real QEMU"
        : round == 1 ? "Real QEMU, round 1 (nothing learned at the start)"
                     : "Real QEMU, round " + std::to_string(round) + " (what the earlier rounds learned kept)";
    md += "### " + heading + "\n\n" + Table(these, "virt-converge-default", "qemu-auto-converge") + "\n";
  }
  if (!qemu_runs.empty()) {
    md += "### The same grid on the simulator\n\n" + Table(sim_small, "virt-converge-default", "qemu-auto-converge") + "\n";
  }
  if (!sim_large.empty()) {
    md += "### Large grid on the simulator (" + sim_ram + " x " + sim_bw + ")\n\n" +
          Table(sim_large, "virt-converge-default", "qemu-auto-converge") + "\n";
  }
  if (!qemu_runs.empty()) {
    md += "### Every real run\n\n" + CaseTable(qemu_runs, sim_small) + "\n";
    md += "### Final copies and their predictions\n\n" + CopyTable(qemu_runs) + "\n";
  }
  std::ofstream(out + "/results.md") << md;

  // remaining bytes over time for the plotted case, one block per policy
  const std::vector<RunResult>& plotted = qemu_runs.empty() ? sim_large : qemu_runs;
  std::string plot_name;
  std::ofstream dat(out + "/remaining.dat");
  for (const RunResult& r : plotted) {
    if (r.workload != plot_case) continue;
    if (!qemu_runs.empty() && r.round != rounds) continue;  // the last round's
    if (("," + plot_policies + ",").find("," + r.policy + ",") == std::string::npos) continue;
    if (plot_name.empty()) plot_name = r.kase;
    if (r.kase != plot_name) continue;
    dat << "\"" << r.policy << "\"\n";
    for (const auto& [t, rem] : r.remaining) dat << t << " " << static_cast<double>(rem) / kMiB << "\n";
    dat << "\n\n";
  }
  std::ofstream(out + "/plot-case.txt") << plot_name << " (" << (qemu_runs.empty() ? "simulated" : "real QEMU") << ")\n";
  std::printf("%s\nwrote %s/results.json, results.md, remaining.dat\n", md.c_str(), out.c_str());
  return 0;
}

}  // namespace
}  // namespace vc::bench

int main(int argc, char** argv) { return vc::bench::Main(argc, argv); }
