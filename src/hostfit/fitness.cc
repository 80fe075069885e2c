#include "src/hostfit/fitness.h"

#include <optional>

#include "src/base/units.h"

namespace vc {
namespace {

CpuSet Keys(const std::map<unsigned, HostNode>& nodes) {
  CpuSet s;
  for (const auto& [id, n] : nodes) s.insert(id);
  return s;
}

/// The first CPU of \a set missing from \a have, if any.
std::optional<unsigned> FirstMissing(const CpuSet& set, const CpuSet& have) {
  for (unsigned c : set) {
    if (!have.count(c)) return c;
  }
  return std::nullopt;
}

std::string Plural(size_t n, const std::string& one, const std::string& many) { return n == 1 ? one : many; }

/// Checks one pinned thing (\a what: "vcpu 3", "the emulator") against the
/// online CPUs and the CPUs other VMs hold.
void CheckPin(const std::string& what, const std::string& cpuset, const HostPicture& host,
              const std::map<unsigned, std::string>& held, std::vector<FitnessProblem>* problems) {
  using K = FitnessProblem::Kind;
  Result<CpuSet> set = ParseCpuSet(cpuset);
  if (!set.ok()) {
    problems->push_back({K::kPinning, what + ": " + set.status().message()});
    return;
  }
  std::string pinned = what + " pinned to host " + Plural(set->size(), "CPU ", "CPUs ") + FormatCpuSet(*set);
  if (auto missing = FirstMissing(*set, host.online)) {
    problems->push_back({K::kPinning, pinned + ": this host has CPUs " + FormatCpuSet(host.online) +
                                          (set->size() > 1 ? " (no CPU " + std::to_string(*missing) + ")" : "")});
    return;
  }
  for (unsigned c : *set) {
    auto it = held.find(c);
    if (it == held.end()) continue;
    problems->push_back({K::kPinning, pinned + ": host CPU " + std::to_string(c) + " is held by VM " + it->second +
                                          " (pinned 1:1) on this host"});
    return;
  }
}

uint64_t FreeAfterClaims(const HostPicture& host, const HostClaims& claims, const std::string& self, uint64_t kib,
                         const CpuSet& nodes, uint64_t* claimed) {
  uint64_t free = 0;
  for (unsigned n : nodes) {
    auto node = host.nodes.find(n);
    if (node == host.nodes.end()) continue;
    auto pool = node->second.hugepages.find(kib);
    if (pool != node->second.hugepages.end()) free += pool->second.free;
  }
  *claimed = 0;
  for (const HostClaims::Incoming& c : claims.incoming) {
    if (c.name == self || c.page_kib != kib) continue;
    bool overlaps = false;
    for (unsigned n : c.nodes) overlaps |= nodes.count(n) > 0;
    if (overlaps) *claimed += c.pages;
  }
  return free > *claimed ? free - *claimed : 0;
}

}  // namespace

std::string SizeText(uint64_t bytes) {
  // Sizes in XML and sysfs are round: say "96 GiB", not "96.00 GiB".
  static const std::pair<uint64_t, const char*> kUnits[] = {{1ull << 40, "TiB"}, {1ull << 30, "GiB"}, {1ull << 20, "MiB"}, {1ull << 10, "KiB"}};
  for (const auto& [unit, name] : kUnits) {
    if (bytes >= unit && bytes % unit == 0) return std::to_string(bytes / unit) + " " + name;
  }
  return FormatBytes(static_cast<double>(bytes));
}

std::string PageSizeText(uint64_t kib) { return SizeText(kib * 1024); }

CpuSet DedicatedCpus(const DomainSpec& vm) {
  CpuSet cpus;
  for (const DomainSpec::Pin& p : vm.vcpupins) {
    Result<CpuSet> s = ParseCpuSet(p.cpuset);
    if (s.ok() && s->size() == 1) cpus.insert(*s->begin());
  }
  return cpus;
}

std::vector<HostClaims::Incoming> HugepageNeeds(const DomainSpec& vm, const HostPicture& host,
                                                const FitnessOptions& options) {
  std::vector<HostClaims::Incoming> needs;
  if (!vm.hugepages) return needs;
  uint64_t kib = options.default_hugepage_kib;
  if (!vm.hugepage_pages.empty() && vm.hugepage_pages.front().size_kib) kib = vm.hugepage_pages.front().size_kib;
  auto nodes_of = [&](const std::string& nodeset) -> CpuSet {
    Result<CpuSet> s = nodeset.empty() ? Result<CpuSet>(Keys(host.nodes)) : ParseCpuSet(nodeset);
    return s.ok() ? *s : Keys(host.nodes);
  };
  // Guest cells bound to host nodes: each cell's memory from its nodes.
  if (!vm.memnodes.empty() && !vm.cells.empty()) {
    for (const DomainSpec::Cell& cell : vm.cells) {
      std::string nodeset = vm.numa_nodeset;
      for (const DomainSpec::MemNode& m : vm.memnodes) {
        if (m.cell == cell.id) nodeset = m.nodeset;
      }
      needs.push_back({vm.name, kib, nodes_of(nodeset), (cell.memory / 1024 + kib - 1) / kib});
    }
    return needs;
  }
  const bool bound = !vm.numa_nodeset.empty() && vm.numa_mode != "preferred";
  needs.push_back({vm.name, kib, nodes_of(bound ? vm.numa_nodeset : ""), (vm.memory / 1024 + kib - 1) / kib});
  return needs;
}

std::string Describe(const std::vector<FitnessProblem>& problems) {
  std::string s;
  for (const FitnessProblem& p : problems) s += (s.empty() ? "" : "; ") + p.message;
  return s;
}

std::vector<FitnessProblem> CheckFitness(const DomainSpec& vm, const HostPicture& host, const HostClaims& claims,
                                         const FitnessOptions& options) {
  using K = FitnessProblem::Kind;
  std::vector<FitnessProblem> problems;
  std::map<unsigned, std::string> held;  // CPU -> the VM holding it
  for (const HostClaims::Running& r : claims.running) {
    if (r.name == vm.name) continue;
    for (unsigned c : r.dedicated) held.emplace(c, r.name);
  }

  // CPU pinning.
  for (const DomainSpec::Pin& p : vm.vcpupins) CheckPin("vcpu " + std::to_string(p.vcpu), p.cpuset, host, held, &problems);
  // The emulator and iothreads share CPUs by nature: only their existence counts.
  if (!vm.emulatorpin.empty()) CheckPin("the emulator", vm.emulatorpin, host, {}, &problems);
  for (const DomainSpec::Pin& p : vm.iothreadpins) CheckPin("iothread " + std::to_string(p.vcpu), p.cpuset, host, {}, &problems);
  if (!vm.vcpu_cpuset.empty()) CheckPin("the vCPUs (<vcpu cpuset>)", vm.vcpu_cpuset, host, {}, &problems);

  // NUMA binding.
  const CpuSet nodes = Keys(host.nodes);
  auto check_nodes = [&](const std::string& what, const std::string& nodeset) -> std::optional<CpuSet> {
    Result<CpuSet> s = ParseCpuSet(nodeset);
    if (!s.ok()) {
      problems.push_back({K::kNuma, what + ": " + s.status().message()});
      return std::nullopt;
    }
    if (auto missing = FirstMissing(*s, nodes)) {
      problems.push_back({K::kNuma, what + " " + FormatCpuSet(*s) + ": this host has NUMA " +
                                        Plural(nodes.size(), "node ", "nodes ") + FormatCpuSet(nodes)});
      return std::nullopt;
    }
    return *s;
  };
  if (!vm.numa_nodeset.empty()) check_nodes("numatune memory nodeset", vm.numa_nodeset);
  for (const DomainSpec::MemNode& m : vm.memnodes) {
    std::optional<CpuSet> bound = check_nodes("guest NUMA cell " + std::to_string(m.cell) + " bound to host node" +
                                                  (m.nodeset.find_first_of(",-") == std::string::npos ? "" : "s"),
                                              m.nodeset);
    if (!bound || m.mode == "preferred") continue;
    for (const DomainSpec::Cell& cell : vm.cells) {
      if (cell.id != m.cell) continue;
      uint64_t have = 0;
      for (unsigned n : *bound) have += host.nodes.at(n).memory;
      if (have && cell.memory > have) {
        problems.push_back({K::kNuma, "guest NUMA cell " + std::to_string(cell.id) + " needs " + SizeText(cell.memory) +
                                          ": host " + Plural(bound->size(), "node ", "nodes ") + FormatCpuSet(*bound) +
                                          " " + Plural(bound->size(), "has ", "have ") + SizeText(have)});
      }
    }
  }
  // Hugepages.
  if (vm.hugepages) {
    for (const HostClaims::Incoming& need : HugepageNeeds(vm, host, options)) {
      if (!host.hugepage_sizes_kib.count(need.page_kib)) {
        std::string offered;
        for (uint64_t k : host.hugepage_sizes_kib) offered += (offered.empty() ? "" : ", ") + PageSizeText(k);
        problems.push_back({K::kHugepageSize, "hugepages of " + PageSizeText(need.page_kib) + ": this host offers " +
                                                  (offered.empty() ? std::string("no hugepages") : offered + " pages only")});
        break;
      }
      uint64_t claimed = 0;
      uint64_t free = FreeAfterClaims(host, claims, vm.name, need.page_kib, need.nodes, &claimed);
      if (free < need.pages) {
        problems.push_back({K::kHugepages, "needs " + std::to_string(need.pages) + " hugepages of " +
                                               PageSizeText(need.page_kib) + " on host " +
                                               Plural(need.nodes.size(), "node ", "nodes ") + FormatCpuSet(need.nodes) +
                                               ": " + std::to_string(free) + " free" +
                                               (claimed ? " (" + std::to_string(claimed) +
                                                              " more are claimed by incoming migrations)"
                                                        : "")});
      }
    }
  }

  // Locked memory must be there to lock.
  if (vm.memory_locked && host.memory_available && vm.memory > host.memory_available) {
    problems.push_back({K::kLockedMemory, "locked memory of " + SizeText(vm.memory) + ": this host has " +
                                              SizeText(host.memory_available) + " available"});
  }
  // A CPU that exposes non-migratable host features can only land on a host identical to its source.
  if (!vm.cpu_migratable && !options.allow_non_migratable_cpu) {
    problems.push_back({K::kCpuModel, "CPU mode " + (vm.cpu_mode.empty() ? std::string("custom") : vm.cpu_mode) +
                                          " with migratable='off' exposes host features this host may lack "
                                          "([Host] AllowNonMigratableCpu=yes accepts it)"});
  }
  return problems;
}

}  // namespace vc
