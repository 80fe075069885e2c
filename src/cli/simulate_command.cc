#include "src/cli/simulate_command.h"

#include <cstdio>
#include <memory>

#include "plugins/action.h"
#include "src/base/json.h"
#include "src/base/units.h"
#include "src/control/policy_reaction.h"
#include "src/control/simulator.h"
#include "src/control/start_settings.h"
#include "src/policy/builtin_default.h"
#include "src/policy/ini.h"
#include "src/policy/resolve.h"
#include "src/state/summary.h"

namespace vc {
namespace {

struct SimulateOptions {
  std::vector<std::string> policy_files;
  std::string root;
  bool no_policy = false;
  std::string memory = "1GiB", working_set, dirty_rate = "0", bandwidth, max_bandwidth, downtime;
  bool postcopy = false, auto_converge = false, dirty_limit = false, sample_dirty_rate = false;
  std::string qemu = "7.2";
  std::string writes = "uniform";
  int vcpus = 1;
  bool json = false;
};

int Usage(const std::string& what) {
  std::fprintf(stderr, "virt-converge: simulate: %s\n", what.c_str());
  return 2;
}

}  // namespace

std::function<int()> AddSimulateCommand(CLI::App* app) {
  auto o = std::make_shared<SimulateOptions>();
  CLI::App* cmd = app->add_subcommand(
      "simulate", "run a policy on the migration simulator and print what it would do and the outcome");
  cmd->add_option("--policy", o->policy_files,
                  "a policy file, applied onto the built-in default (repeatable, in order; [Match] is ignored)");
  cmd->add_option("--root", o->root, "resolve the drop-ins under this root instead (as attach does)");
  cmd->add_flag("--no-policy", o->no_policy, "the built-in default policy alone (as with no file or root)");
  cmd->add_option("--memory", o->memory, "guest RAM, e.g. 64GiB")->capture_default_str();
  cmd->add_option("--working-set", o->working_set, "memory the guest keeps rewriting (default: all of it)");
  cmd->add_option("--dirty-rate", o->dirty_rate, "how fast the guest writes, e.g. 2GiB/s")->capture_default_str();
  cmd->add_option("--bandwidth", o->bandwidth, "the link, e.g. 10Gbit/s")->required();
  cmd->add_option("--max-bandwidth", o->max_bandwidth,
                  "QEMU's max-bandwidth (default: the policy's Start.Bandwidth, else the link)");
  cmd->add_option("--downtime", o->downtime, "initial downtime-limit (default: the policy's Start.Downtime)");
  cmd->add_flag("--postcopy", o->postcopy, "postcopy-ram on (also when the policy's Start.Postcopy=yes)");
  cmd->add_flag("--auto-converge", o->auto_converge, "auto-converge on (also when Start.AutoConverge=yes)");
  cmd->add_flag("--dirty-limit", o->dirty_limit, "the dirty-limit capability on (needs --qemu 8.1 or later)");
  cmd->add_option("--writes", o->writes,
                  "how the guest writes: uniform (spread evenly; KVM, large guests) or sweep (page after page, "
                  "as the test guest under TCG)")
      ->check(CLI::IsMember({"uniform", "sweep"}))
      ->capture_default_str();
  cmd->add_flag("--sample-dirty-rate", o->sample_dirty_rate,
                "sample the guest's dirty rate once in the bulk pass, as a follower over plain QMP (or through "
                "libvirt with passthrough) does");
  cmd->add_option("--qemu", o->qemu, "the QEMU version to model")->capture_default_str();
  cmd->add_option("--vcpus", o->vcpus, "vCPUs (dirty-limit is per vCPU)")->capture_default_str();
  cmd->add_flag("--json", o->json, "print JSON");
  return [o]() -> int {
    SimScenario sc;
    Result<uint64_t> memory = ParseBytes(o->memory);
    if (!memory.ok()) return Usage("--memory: " + memory.status().ToString());
    sc.memory = *memory;
    if (!o->working_set.empty()) {
      Result<uint64_t> w = ParseBytes(o->working_set);
      if (!w.ok()) return Usage("--working-set: " + w.status().ToString());
      sc.working_set = *w;
    }
    Result<uint64_t> dirty = ParseBytesPerSecond(o->dirty_rate);
    if (!dirty.ok()) return Usage("--dirty-rate: " + dirty.status().ToString());
    sc.dirty_rate = static_cast<double>(*dirty);
    sc.writes = o->writes == "sweep" ? GuestWrites::kSweep : GuestWrites::kUniform;
    sc.sample_dirty_rate = o->sample_dirty_rate;
    Result<uint64_t> link = ParseBytesPerSecond(o->bandwidth);
    if (!link.ok() || *link == 0) return Usage("--bandwidth: " + (link.ok() ? "must be above 0" : link.status().ToString()));
    sc.link = static_cast<double>(*link);
    int major = 0, minor = 0;
    if (std::sscanf(o->qemu.c_str(), "%d.%d", &major, &minor) != 2) return Usage("--qemu: '" + o->qemu + "' is not MAJOR.MINOR");
    sc.qemu_major = major;
    sc.qemu_minor = minor;
    sc.vcpus = std::max(1, o->vcpus);

    // The policy: the built-in default, with the given files or the
    // drop-ins under --root merged onto it (as attach does).
    policy::Policy p;
    policy::Diagnostics diags;
    std::string desc;
    std::vector<std::string> notes;
    if (o->no_policy || (o->policy_files.empty() && o->root.empty())) {
      policy::Resolved r = policy::ResolveBuiltinOnly(StepVocabulary());
      p = std::move(r.policy);
      diags = std::move(r.diagnostics);
      desc = "the built-in default policy";
    } else if (!o->policy_files.empty()) {
      p = policy::BuiltinDefault(StepVocabulary(), &diags);
      for (const std::string& f : o->policy_files) {
        size_t before = diags.size();
        policy::IniFile file = policy::ReadIni(f, &diags);
        if (diags.size() > before && file.assignments.empty()) {
          return Usage(diags.back().ToString());
        }
        policy::ApplyFile(file, StepVocabulary(), &p, &diags);
      }
      policy::Validate(&p, &diags);
      desc = "policy (the built-in default and " + std::to_string(o->policy_files.size()) + " file" +
             (o->policy_files.size() == 1 ? ")" : "s)");
    } else {
      policy::VmFacts vm;
      vm.name = "simulated";
      vm.memory = sc.memory;
      policy::Resolved r = policy::Resolve(o->root, vm, StepVocabulary());
      diags = r.diagnostics;
      p = r.policy;
      desc = "policy (the built-in default and " + std::to_string(r.applied.size()) + " files under " + o->root + ")";
    }
    for (const policy::Diagnostic& d : diags) notes.push_back("policy warning: " + d.ToString());
    sc.Apply(StartFromPolicy(p));
    auto reaction = std::make_unique<PolicyReaction>(std::move(p), desc);
    // Flags win over the policy's [Start].
    sc.postcopy_ram |= o->postcopy;
    sc.auto_converge |= o->auto_converge;
    sc.dirty_limit = o->dirty_limit;
    if (!o->max_bandwidth.empty()) {
      Result<uint64_t> b = ParseBytesPerSecond(o->max_bandwidth);
      if (!b.ok()) return Usage("--max-bandwidth: " + b.status().ToString());
      sc.max_bandwidth = *b;
    }
    if (!o->downtime.empty()) {
      Result<int64_t> d = ParseMillis(o->downtime);
      if (!d.ok()) return Usage("--downtime: " + d.status().ToString());
      sc.downtime_limit_ms = *d;
    }

    SimResult r = Simulate(sc, *reaction);
    if (o->json) {
      // The same form as attach's --summary-json, plus what only a
      // simulation knows.
      MigrationSummary sum;
      sum.outcome = r.outcome;
      sum.detail = "simulated";
      sum.total_time_ms = r.total_time_ms;
      sum.downtime_ms = r.downtime_ms;
      sum.passes = r.passes;
      sum.bytes_sent = r.bytes_sent;
      sum.ram_total = sc.memory;
      sum.postcopy = r.outcome == MigrationOutcome::kCompletedPostcopy;
      sum.actions = r.actions;
      Json j = sum.ToJson();
      j.Set("scenario", Json::String(sc.ToString()))
          .Set("reaction", Json::String(reaction->Describe()))
          .Set("throttle-percent-seconds", Json::Double(r.throttle_integral))
          .Set("paused-ms", Json::Int(r.paused_ms));
      std::printf("%s\n", j.Serialize(true).c_str());
      return Completed(r.outcome) ? 0 : 1;
    }
    std::printf("simulating: %s\nreacting with %s\n", sc.ToString().c_str(), reaction->Describe().c_str());
    for (const std::string& n : notes) std::printf("%s\n", n.c_str());
    for (const std::string& line : r.log) std::printf("%s\n", line.c_str());
    std::printf("outcome: %s after %s", std::string(OutcomeName(r.outcome)).c_str(), FormatMillis(static_cast<double>(r.total_time_ms)).c_str());
    if (r.downtime_ms) std::printf(", downtime %s", FormatMillis(static_cast<double>(*r.downtime_ms)).c_str());
    std::printf(", %llu passes, %s sent (%.2fx RAM), throttle %.0f%%·s, paused %s\n",
                static_cast<unsigned long long>(r.passes), FormatBytes(static_cast<double>(r.bytes_sent)).c_str(),
                static_cast<double>(r.bytes_sent) / static_cast<double>(sc.memory), r.throttle_integral,
                FormatMillis(static_cast<double>(r.paused_ms)).c_str());
    return Completed(r.outcome) ? 0 : 1;
  };
}

}  // namespace vc
