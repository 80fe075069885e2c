#include "hooks/hook.h"

#include <unistd.h>

#include <map>

#include "plugins/action.h"
#include "src/domain/domain_xml.h"
#include "src/domain/placement.h"
#include "src/domain/vm_facts.h"
#include "src/hostfit/adapt.h"
#include "src/hostfit/fitness.h"
#include "src/hostfit/hook_records.h"
#include "src/hostfit/incoming_cost.h"
#include "src/hostfit/refusal.h"
#include "src/hostfit/host_picture.h"
#include "src/policy/resolve.h"

namespace vc {
namespace {

// A fault of ours: say it (libvirt logs stderr only on failure, so this is
// for a person running the hook by hand) and let the operation go on.
HookOutcome FailOpen(const std::string& why) { return {0, "", "virt-converge hook: " + why + "; not interfering\n"}; }

HookOutcome Refuse(RefusalReason reason, const std::string& why) {
  return {1, "", HookRefusal{reason, why}.ToText() + "\n"};
}

std::string HostName() {
  char buf[256] = {};
  return ::gethostname(buf, sizeof buf - 1) == 0 ? buf : "this host";
}

struct Checked {
  HookOutcome outcome;  // set when the check ended the operation (or failed open)
  bool done = false;
  std::vector<HostClaims::Incoming> needs;
  int64_t cost = 1;     // IncomingCost of this migration
  std::string xml;      // a replacement domain XML (adapted or restored); "" = unchanged
};

Checked Ended(HookOutcome outcome) {
  Checked c;
  c.outcome = std::move(outcome);
  c.done = true;
  return c;
}

/// The migrations arriving here besides \a vm's, each with its cost (a VM
/// has one entry per hugepage claim; its cost is recorded once).
std::map<std::string, int64_t> ArrivingBesides(const HostClaims& claims, const std::string& vm) {
  std::map<std::string, int64_t> arriving;
  for (const HostClaims::Incoming& in : claims.incoming) {
    if (in.name == vm) continue;
    auto cost = claims.incoming_cost.find(in.name);
    arriving.emplace(in.name, cost == claims.incoming_cost.end() ? 1 : cost->second);
  }
  return arriving;
}

/// Fitness and admission for \a vm arriving here (a migration when
/// \a incoming, else a start), under \a records' lock.
Checked Check(const HookRequest& r, const DomainSpec& vm, const HookRecords& records, bool incoming) {
  Checked c;
  policy::Resolved resolved = policy::Resolve(r.policy_root, VmFactsOf(vm), StepVocabulary());
  const policy::Policy& p = resolved.policy;
  Result<HostClaims> claims = records.Load(r.libvirt_pid_dir);
  if (!claims.ok()) return Ended(FailOpen("reading records: " + claims.status().ToString()));
  if (incoming) {
    const std::map<std::string, int64_t> arriving = ArrivingBesides(*claims, vm.name);
    const int64_t count = static_cast<int64_t>(arriving.size());
    if (p.incoming_max.value > 0 && count >= p.incoming_max.value) {
      return Ended(Refuse(RefusalReason::kIncomingMax, HostName() + " already receives " + std::to_string(count) + " migration" +
                          (count == 1 ? "" : "s") + " (IncomingMax=" + std::to_string(p.incoming_max.value) + ", " +
                          p.incoming_max.origin.ToString() + "); try again when one has finished"));
    }
    IncomingCost mine = CostOf(vm, r.sysfs_root);
    c.cost = mine.total;
    int64_t others = 0;
    for (const auto& [name, cost] : arriving) others += cost;
    // One migration is always let in, whatever it costs: a budget below a
    // VM's own cost must not keep it out for ever.
    if (p.incoming_cost.value > 0 && others > 0 && others + mine.total > p.incoming_cost.value) {
      std::string disks;
      for (const std::string& d : mine.copied) disks += (disks.empty() ? "" : ", ") + d;
      return Ended(Refuse(
          RefusalReason::kIncomingCost, "VM " + vm.name + " would cost " + std::to_string(mine.total) + " on " + HostName() + " (1" +
          (mine.copied.empty() ? "" : " + " + std::to_string(mine.copied.size()) + " disk" +
                                          (mine.copied.size() == 1 ? "" : "s") + " to copy: " + disks) +
          ") and migrations costing " + std::to_string(others) + " are arriving already (IncomingCost=" +
          std::to_string(p.incoming_cost.value) + ", " + p.incoming_cost.origin.ToString() +
          "); try again when one has finished"));
    }
  }
  if (p.destination.value == policy::DestinationMode::kIgnore) return c;
  // Sockets and cores matter only when adapting: read them then.
  Result<HostPicture> host = ReadHostPicture(r.sysfs_root, /*topology=*/false);
  if (!host.ok()) return Ended(FailOpen("reading the host: " + host.status().ToString()));
  FitnessOptions o;
  o.allow_non_migratable_cpu = p.allow_non_migratable_cpu.value;
  // An adapted VM carries its original placement: back to it where it fits.
  if (incoming) {
    Result<std::optional<Placement>> original = RecordedPlacement(r.xml);
    if (original.ok() && *original) {
      DomainSpec as_it_was = WithPlacement(vm, **original);
      if (CheckFitness(as_it_was, *host, *claims, o).empty()) {
        Result<std::string> restored = RestorePlacement(r.xml);
        if (!restored.ok()) return Ended(FailOpen("restoring the placement: " + restored.status().ToString()));
        c.xml = *restored;
        c.needs = HugepageNeeds(as_it_was, *host, o);
        return c;
      }
    }
  }
  std::vector<FitnessProblem> problems = CheckFitness(vm, *host, *claims, o);
  c.needs = HugepageNeeds(vm, *host, o);
  if (problems.empty()) return c;
  std::string what = "VM " + vm.name + " cannot run on " + HostName() + " as its XML asks: " + Describe(problems);
  // The code names the first thing in the way.
  const RefusalReason unfit = UnfitReason(problems.front().kind);
  if (p.destination.value == policy::DestinationMode::kAdapt) {
    if (!incoming) return Ended(Refuse(unfit, what + " (Destination=adapt changes the placement of incoming migrations only)"));
    host = ReadHostPicture(r.sysfs_root, /*topology=*/true);
    if (!host.ok()) return Ended(FailOpen("reading the host: " + host.status().ToString()));
    std::string why_not;
    std::optional<Placement> placement = Adapt(vm, *host, *claims, o, &why_not);
    if (!placement) return Ended(Refuse(unfit, what + " (Destination=adapt: " + why_not + ")"));
    Result<std::string> adapted = RewritePlacement(r.xml, *placement, /*keep_original=*/true);
    if (!adapted.ok()) return Ended(FailOpen("adapting: " + adapted.status().ToString()));
    c.xml = *adapted;
    c.needs = HugepageNeeds(WithPlacement(vm, *placement), *host, o);
    return c;
  }
  return Ended(Refuse(unfit, what));
}

}  // namespace

HookOutcome RunHook(const HookRequest& r) {
  if (r.args.size() < 2) return FailOpen("usage: DOMAIN OPERATION SUB-OPERATION EXTRA (as libvirt calls it)");
  const std::string& name = r.args[0];
  const std::string& op = r.args[1];
  const bool known = op == "migrate" || op == "prepare" || op == "started" || op == "reconnect" ||
                     op == "stopped" || op == "release";
  if (!known) return {};  // restore, start, attach, ...: nothing of ours
  if (op == "stopped" || op == "release") {
    // Forgotten by the name libvirt gives, whatever its XML (too large,
    // unreadable): a record left would keep its CPUs claimed.
    if (!SafeRecordName(name)) return FailOpen("domain name '" + name + "' cannot name a record");
    Result<HookRecords> records = HookRecords::Open(r.run_dir);
    if (!records.ok()) return FailOpen(records.status().ToString());
    records->DropRunning(name);
    records->DropIncoming(name);
    return {};
  }
  if (r.xml.size() > kMaxDomainXml) return FailOpen("domain XML larger than " + std::to_string(kMaxDomainXml) + " bytes");
  Result<DomainSpec> vm = ParseDomainXml(r.xml);
  if (!vm.ok()) return FailOpen(vm.status().ToString());
  if (vm->name.empty()) vm->name = name;
  if (!SafeRecordName(vm->name)) return FailOpen("domain name '" + vm->name + "' cannot name a record");
  Result<HookRecords> records = HookRecords::Open(r.run_dir);
  if (!records.ok()) return FailOpen(records.status().ToString());

  if (op == "migrate" || (op == "prepare" && !records->HasIncoming(vm->name))) {
    const bool incoming = op == "migrate";
    Checked c = Check(r, *vm, *records, incoming);
    if (c.done) return c.outcome;
    if (incoming) {
      // Its hugepages are ours until it has started (or failed).
      if (Status s = records->SetIncoming(vm->name, c.needs, c.cost); !s.ok()) return FailOpen(s.ToString());
    }
    return {0, c.xml, ""};
  }
  if (op == "started" || op == "reconnect") {
    records->DropIncoming(vm->name);
    if (Status s = records->SetRunning(vm->name, DedicatedCpus(*vm)); !s.ok()) return FailOpen(s.ToString());
    return {};
  }
  return {};
}

}  // namespace vc
