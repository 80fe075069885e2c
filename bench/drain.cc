// vc-bench-drain: how long it takes to drain a host — N migrations leaving
// at once under one outgoing bandwidth budget ([Host] OutgoingBandwidth) —
// with each way of splitting it (issue 7, point 5), in one run:
//
//   equal          what virt-converge does by default;
//   static         budget / N each, however many still run (oVirt's split);
//   closest-first  all but a floor to the migration with the fewest bytes left.
//
// Real QEMU (small N): N pairs of QEMUs on loopback, each migration started
// and followed by the real `virt-converge migrate`, sharing one run dir, so
// the split is the followers' own. Simulator (large N): the same
// controller and the same ShareOf() on the simulated migrations, stepped
// together, the split redone when one ends and at every sample.
//
// Not a test: the numbers go to docs/benchmarks.md.
#include <CLI/CLI.hpp>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <thread>

#include "plugins/action.h"
#include "src/base/json.h"
#include "src/base/units.h"
#include "src/control/controller.h"
#include "src/control/policy_reaction.h"
#include "src/control/simulator.h"
#include "src/control/start_settings.h"
#include "src/coord/shares.h"
#include "src/policy/ini.h"
#include "src/policy/resolve.h"
#include "tests/support/policy_tree.h"
#include "tests/support/qemu_vm.h"
#include "tests/support/virt_converge_run.h"

namespace vc::bench {
namespace {

namespace fs = std::filesystem;

constexpr uint64_t kMiB = 1ull << 20, kGiB = 1ull << 30;
constexpr SplitMode kModes[] = {SplitMode::kEqual, SplitMode::kStatic, SplitMode::kClosestFirst};

struct VmSpec {
  uint64_t ram = 0;
  uint64_t wss = 0;
  double dirty_rate = 0;  // bytes/s
};

struct DrainCase {
  std::string name;
  std::vector<VmSpec> vms;
  uint64_t budget = 0;  // bytes/s, the host's outgoing budget
};

struct DrainResult {
  DrainResult(std::string w, std::string k, std::string m) : where(std::move(w)), kase(std::move(k)), mode(std::move(m)) {}
  std::string where, kase, mode;
  double drain_s = 0;       // until the last one ended
  double mean_s = 0;        // mean completion time
  uint64_t bytes = 0;       // sent by all
  int completed = 0, total = 0;
  int64_t max_downtime_ms = 0;
  std::vector<std::string> outcomes;
};

Result<policy::Policy> DefaultPolicy() {
  policy::Policy p;
  policy::Diagnostics diags;
  policy::ApplyFile(policy::ReadIni(std::string(VC_SOURCE_DIR) + "/policy.d/50-default.conf", &diags), StepVocabulary(), &p, &diags);
  policy::Validate(&p, &diags);
  if (!diags.empty()) return Status::InvalidArgument("policy", diags.front().ToString());
  return p;
}

// ---- simulator: N migrations stepped together ----

struct SimVm {
  std::unique_ptr<SimulatedMigration> m;
  std::unique_ptr<PolicyReaction> reaction;
  std::unique_ptr<Controller> controller;
  BackendFacts facts;
  MigrationSample last;
  uint64_t share = 0;
  bool done = false;
  int64_t next_timer = 0;
};

DrainResult SimulateDrain(const DrainCase& c, SplitMode mode, const policy::Policy& p, double limit_s) {
  DrainResult r("sim", c.name, SplitModeName(mode));
  const SplitRule rule{mode, c.budget, static_cast<int>(c.vms.size())};
  std::vector<SimVm> vms(c.vms.size());
  for (size_t i = 0; i < vms.size(); i++) {
    SimScenario sc;
    sc.memory = c.vms[i].ram;
    sc.working_set = c.vms[i].wss;
    sc.dirty_rate = c.vms[i].dirty_rate;
    sc.link = static_cast<double>(c.budget);  // one NIC for all of them
    sc.Apply(StartFromPolicy(p));
    sc.max_bandwidth = c.budget / vms.size();
    vms[i].m = std::make_unique<SimulatedMigration>(sc);
    vms[i].reaction = std::make_unique<PolicyReaction>(p, "default");
    vms[i].facts = *vms[i].m->Facts();
  }
  const int64_t step = 10;
  bool split_due = true;
  for (int64_t now = 0; now < static_cast<int64_t>(limit_s * 1000); now += step) {
    size_t running = 0;
    for (SimVm& v : vms) {
      if (v.done) continue;
      v.m->Advance(step);
      std::vector<BackendEvent> events;
      (void)v.m->Poll(&events);
      bool after_sync = false;
      for (const BackendEvent& e : events) after_sync |= e.kind == BackendEvent::Kind::kPass;
      bool timer = v.m->now_ms() >= v.next_timer;
      if (timer) v.next_timer = v.m->now_ms() + 1000;
      if (!after_sync && !timer && !events.size()) {
        running++;
        continue;
      }
      v.last = *v.m->Sample();
      if (!v.controller && v.last.running()) {
        v.controller = std::make_unique<Controller>(*v.m, v.facts, v.reaction.get(), false, [](const std::string&) {});
      }
      if (v.last.finished()) {
        if (v.controller) v.controller->OnFinished(v.last);
        v.done = true;
        split_due = true;  // its share goes to the others at once
        continue;
      }
      running++;
      if (v.controller) v.controller->OnSample(v.last, after_sync);
      split_due |= timer && mode == SplitMode::kClosestFirst;  // bytes left are published per sample
    }
    if (running == 0) break;
    if (!split_due) continue;
    split_due = false;
    std::vector<ShareEntry> live;
    for (size_t i = 0; i < vms.size(); i++) {
      if (!vms[i].done) live.push_back({"vm" + std::to_string(i), 0, vms[i].last.ram_remaining});
    }
    for (size_t i = 0; i < vms.size(); i++) {
      SimVm& v = vms[i];
      if (v.done || !v.controller || v.last.in_postcopy()) continue;
      uint64_t share = ShareOf(live, "vm" + std::to_string(i), rule);
      if (share == v.share) continue;
      v.share = share;
      v.controller->set_bandwidth_ceiling(share);
      (void)v.controller->Impose(v.last, {DecisionKind::kHostShare, "set-bandwidth", static_cast<int64_t>(share), "share"});
    }
  }
  double sum = 0;
  for (SimVm& v : vms) {
    const MigrationSample& s = v.last;
    bool ok = v.done && s.status == "completed";
    double t = static_cast<double>(s.total_time_ms) / 1000;
    r.drain_s = std::max(r.drain_s, t);
    sum += t;
    r.bytes += s.ram_transferred;
    r.completed += ok;
    r.total++;
    if (s.downtime_ms) r.max_downtime_ms = std::max(r.max_downtime_ms, *s.downtime_ms);
    r.outcomes.push_back(v.done ? s.status : "unfinished");
  }
  r.mean_s = sum / static_cast<double>(vms.size());
  return r;
}

// ---- real QEMU: N `virt-converge migrate` sharing one run dir ----

DrainResult QemuDrain(const DrainCase& c, SplitMode mode, double limit_s) {
  DrainResult r("qemu", c.name, SplitModeName(mode));
  testing::TempDir dir("drain");
  const std::string root = dir.path() + "/root", run = dir.path() + "/run";
  testing::PolicyTree tree = testing::PolicyTree::Under(root);
  tree.InstallVendorDefault();
  tree.Write("60-drain.conf", "[Host]\nOutgoingBandwidth=" + std::to_string(c.budget) + "\nBandwidthSplit=" + SplitModeName(mode) +
                                  "\nCostBudget=" + std::to_string(c.vms.size()) + "\n",
             "usr/lib");
  std::vector<std::unique_ptr<testing::MigrationPair>> pairs;
  std::vector<std::string> uris;
  for (size_t i = 0; i < c.vms.size(); i++) {
    testing::GuestParams g;
    g.ram_mib = c.vms[i].ram / kMiB;
    g.wss = std::to_string(c.vms[i].wss / 1024) + "K";
    g.rate = std::to_string(static_cast<uint64_t>(c.vms[i].dirty_rate) / 1024) + "K";
    auto pair = testing::MigrationPair::Start(g, "drain" + std::to_string(i));
    if (!pair.ok()) {
      r.outcomes.push_back("bench error: " + pair.status().ToString());
      return r;
    }
    auto uri = (*pair)->ListenIncoming();
    if (!uri.ok()) {
      r.outcomes.push_back("bench error: " + uri.status().ToString());
      return r;
    }
    uris.push_back(*uri);
    pairs.push_back(std::move(*pair));
  }
  std::vector<testing::VirtConvergeRun> runs;
  auto start = std::chrono::steady_clock::now();
  for (size_t i = 0; i < pairs.size(); i++) {
    auto run_i = testing::StartVirtConverge(dir, "vc" + std::to_string(i),
                                            {"migrate", "--qmp", pairs[i]->src().spare_qmp_path(), "--dest-qmp",
                                             pairs[i]->dst().spare_qmp_path(), "--run-dir", run, "--policy-root",
                                             root, uris[i]});
    if (!run_i.ok()) {
      r.outcomes.push_back("bench error: " + run_i.status().ToString());
      return r;
    }
    runs.push_back(std::move(*run_i));
  }
  double sum = 0;
  for (size_t i = 0; i < runs.size(); i++) {
    int64_t left = static_cast<int64_t>(limit_s * 1000) -
                   std::chrono::duration_cast<Millis>(std::chrono::steady_clock::now() - start).count();
    if (runs[i].WaitExit(Millis(std::max<int64_t>(left, 1000))) == -1) {
      (void)qmp::MigrateCancel(pairs[i]->src().qmp());
      runs[i].WaitExit(Millis(30000));
    }
    std::optional<Json> sum_i = runs[i].Summary();
    std::string outcome = sum_i ? sum_i->GetString("outcome").value_or("?") : "no summary";
    r.outcomes.push_back(outcome);
    r.total++;
    if (!sum_i) continue;
    double t = static_cast<double>(sum_i->GetInt("total-time-ms").value_or(0)) / 1000;
    r.drain_s = std::max(r.drain_s, t);
    sum += t;
    r.bytes += sum_i->GetUint("bytes-sent").value_or(0);
    r.completed += outcome.rfind("completed", 0) == 0;
    r.max_downtime_ms = std::max(r.max_downtime_ms, sum_i->GetInt("downtime-ms").value_or(0));
  }
  r.mean_s = sum / static_cast<double>(std::max<size_t>(1, runs.size()));
  return r;
}

Json ToJson(const DrainResult& r) {
  Json outcomes = Json::Array();
  for (const std::string& o : r.outcomes) outcomes.Append(Json::String(o));
  return Json::Object()
      .Set("where", Json::String(r.where))
      .Set("case", Json::String(r.kase))
      .Set("split", Json::String(r.mode))
      .Set("drain-s", Json::Double(r.drain_s))
      .Set("mean-completion-s", Json::Double(r.mean_s))
      .Set("bytes-sent", Json::Uint(r.bytes))
      .Set("completed", Json::Int(r.completed))
      .Set("migrations", Json::Int(r.total))
      .Set("max-downtime-ms", Json::Int(r.max_downtime_ms))
      .Set("outcomes", outcomes);
}

std::string Markdown(const std::vector<DrainResult>& results) {
  std::string md = "| where | case | split | drain | vs equal | mean completion | sent | completed | max downtime |\n"
                   "|---|---|---|---|---|---|---|---|---|\n";
  for (const DrainResult& r : results) {
    double equal = 0;
    for (const DrainResult& e : results) {
      if (e.where == r.where && e.kase == r.kase && e.mode == "equal") equal = e.drain_s;
    }
    char line[512];
    std::snprintf(line, sizeof line, "| %s | %s | %s | %.1f s | %.2fx | %.1f s | %s | %d/%d | %lld ms |\n",
                  r.where.c_str(), r.kase.c_str(), r.mode.c_str(), r.drain_s, equal > 0 ? r.drain_s / equal : 0,
                  r.mean_s, FormatBytes(static_cast<double>(r.bytes)).c_str(), r.completed, r.total,
                  static_cast<long long>(r.max_downtime_ms));
    md += line;
  }
  return md;
}

std::vector<DrainCase> SimCases() {
  // Big guests on fast links: a host being drained for maintenance.
  const uint64_t gbit = 1000 * 1000 * 1000 / 8;
  return {
      {"8 VMs 8-64 GiB, quiet, 10 Gbit/s",
       {{64 * kGiB, 1 * kGiB, 20e6}, {32 * kGiB, 1 * kGiB, 20e6}, {16 * kGiB, kGiB / 2, 10e6}, {16 * kGiB, kGiB / 2, 10e6},
        {8 * kGiB, kGiB / 4, 5e6}, {8 * kGiB, kGiB / 4, 5e6}, {8 * kGiB, kGiB / 4, 5e6}, {8 * kGiB, kGiB / 4, 5e6}},
       10 * gbit},
      {"8 VMs 16 GiB, busy (200 MB/s each), 10 Gbit/s",
       std::vector<VmSpec>(8, VmSpec{16 * kGiB, 4 * kGiB, 200e6}), 10 * gbit},
      {"32 VMs 4-32 GiB, mixed, 25 Gbit/s",
       [] {
         std::vector<VmSpec> v;
         for (int i = 0; i < 32; i++) v.push_back({(4ull << (i % 4)) * kGiB, kGiB, i % 3 == 0 ? 150e6 : 10e6});
         return v;
       }(),
       25 * gbit},
      {"64 VMs 64 GiB-1 TiB, mixed, 100 Gbit/s",
       [] {
         std::vector<VmSpec> v;
         for (int i = 0; i < 64; i++) v.push_back({(64ull << (i % 5)) * kGiB, 8 * kGiB, i % 4 == 0 ? 1e9 : 50e6});
         return v;
       }(),
       100 * gbit},
  };
}

std::vector<DrainCase> QemuCases() {
  // Three test guests under a 48 MiB/s budget; the hot one dirties what an
  // equal third cannot keep up with.
  return {{"3 guests 128-256 MiB, one hot, 48 MiB/s",
           {{256 * kMiB, 32 * kMiB, 24.0 * kMiB}, {192 * kMiB, 16 * kMiB, 4.0 * kMiB}, {128 * kMiB, 8 * kMiB, 2.0 * kMiB}},
           48 * kMiB}};
}

}  // namespace
}  // namespace vc::bench

int main(int argc, char** argv) {
  using namespace vc::bench;
  CLI::App app{"vc-bench-drain: time to drain a host with equal, static and closest-first bandwidth splits"};
  std::string out = "bench-out";
  bool no_qemu = false;
  double limit_s = 600, sim_limit_s = 6 * 3600;
  app.add_option("--out", out, "where drain.json and drain.md go");
  app.add_flag("--no-qemu", no_qemu, "simulator only");
  app.add_option("--limit", limit_s, "seconds a real-QEMU drain may take");
  CLI11_PARSE(app, argc, argv);
  vc::Result<vc::policy::Policy> p = DefaultPolicy();
  if (!p.ok()) {
    std::fprintf(stderr, "vc-bench-drain: %s\n", p.status().ToString().c_str());
    return 1;
  }
  std::vector<DrainResult> results;
  auto show = [&](const DrainResult& r) {
    std::printf("%-5s %-48s %-13s drain %8.1f s  mean %8.1f s  sent %10s  %d/%d completed\n", r.where.c_str(),
                r.kase.c_str(), r.mode.c_str(), r.drain_s, r.mean_s, vc::FormatBytes(static_cast<double>(r.bytes)).c_str(),
                r.completed, r.total);
    std::fflush(stdout);
    results.push_back(r);
  };
  if (!no_qemu) {
    for (const DrainCase& c : QemuCases()) {
      for (vc::SplitMode m : kModes) show(QemuDrain(c, m, limit_s));
    }
  }
  for (const DrainCase& c : SimCases()) {
    for (vc::SplitMode m : kModes) show(SimulateDrain(c, m, *p, sim_limit_s));
  }
  std::filesystem::create_directories(out);
  vc::Json all = vc::Json::Array();
  for (const DrainResult& r : results) all.Append(ToJson(r));
  std::ofstream(out + "/drain.json") << all.Serialize(true) << "\n";
  std::ofstream(out + "/drain.md") << Markdown(results);
  std::printf("wrote %s/drain.json and %s/drain.md\n", out.c_str(), out.c_str());
  return 0;
}
