#include "src/hostfit/adapt.h"

#include <algorithm>
#include <map>

namespace vc {
namespace {

struct GuestCell {
  unsigned id = 0;
  std::vector<unsigned> vcpus;  // pinned ones, in order
  uint64_t memory = 0;
};

/// The guest's cells with their pinned vCPUs; one cell when it has none.
std::vector<GuestCell> Cells(const DomainSpec& vm) {
  std::vector<GuestCell> cells;
  for (const DomainSpec::Cell& c : vm.cells) {
    GuestCell g{c.id, {}, c.memory};
    Result<CpuSet> cpus = ParseCpuSet(c.cpus);
    for (const DomainSpec::Pin& p : vm.vcpupins) {
      if (cpus.ok() && cpus->count(p.vcpu)) g.vcpus.push_back(p.vcpu);
    }
    cells.push_back(std::move(g));
  }
  if (cells.empty()) {
    GuestCell g{0, {}, vm.memory};
    for (const DomainSpec::Pin& p : vm.vcpupins) g.vcpus.push_back(p.vcpu);
    cells.push_back(std::move(g));
  }
  return cells;
}

/// Free CPUs of \a node, whole free cores first (their threads together),
/// then the threads of partly used cores.
std::vector<unsigned> FreeCpusByCore(const HostPicture& host, const HostNode& node, const CpuSet& taken) {
  std::map<std::pair<int, int>, std::vector<unsigned>> cores;  // (socket, core) -> free threads
  std::map<std::pair<int, int>, size_t> threads;
  for (unsigned c : node.cpus) {
    const HostCpu& cpu = host.cpus.at(c);
    auto key = std::make_pair(cpu.socket, cpu.core < 0 ? static_cast<int>(c) : cpu.core);
    threads[key]++;
    if (!taken.count(c)) cores[key].push_back(c);
  }
  std::vector<unsigned> whole, partial;
  for (auto& [key, free] : cores) {
    (free.size() == threads[key] ? whole : partial).insert((free.size() == threads[key] ? whole : partial).end(),
                                                           free.begin(), free.end());
  }
  whole.insert(whole.end(), partial.begin(), partial.end());
  return whole;
}

}  // namespace

std::optional<Placement> Adapt(const DomainSpec& vm, const HostPicture& host, const HostClaims& claims,
                               const FitnessOptions& options, std::string* why_not) {
  // What placement cannot fix is refused as it is.
  DomainSpec unpinned = vm;
  unpinned.vcpupins.clear();
  unpinned.emulatorpin.clear();
  unpinned.iothreadpins.clear();
  unpinned.vcpu_cpuset.clear();
  unpinned.numa_nodeset.clear();
  unpinned.memnodes.clear();
  for (const FitnessProblem& p : CheckFitness(unpinned, host, claims, options)) {
    if (!p.PlacementCanFix()) {
      *why_not = p.kind == FitnessProblem::Kind::kHugepageSize ? "no placement changes the page size"
                                                                : "no placement changes that";
      return std::nullopt;
    }
  }

  CpuSet taken;  // held 1:1 by other VMs, then by our own choices
  for (const HostClaims::Running& r : claims.running) {
    if (r.name != vm.name) taken.insert(r.dedicated.begin(), r.dedicated.end());
  }
  Placement p = PlacementOf(vm);
  std::map<unsigned, std::string> pin_of;  // vcpu -> new cpuset
  CpuSet used_nodes;
  std::map<unsigned, unsigned> node_of_cell;
  for (const GuestCell& cell : Cells(vm)) {
    // The nodes that can take this cell, the most free CPUs first;
    // nodes another cell took come last (two cells may share one if needed).
    std::vector<std::pair<size_t, unsigned>> candidates;
    for (const auto& [id, node] : host.nodes) {
      size_t free = FreeCpusByCore(host, node, taken).size();
      if (free < cell.vcpus.size()) continue;
      if (!vm.memnodes.empty() && node.memory && cell.memory > node.memory) continue;
      if (vm.hugepages) {
        // The cell's memory alone, bound to this node: enough pages there?
        DomainSpec probe = unpinned;
        probe.memory = cell.memory;
        probe.cells.clear();
        probe.numa_nodeset = std::to_string(id);
        probe.numa_mode = "strict";
        bool enough = true;
        for (const FitnessProblem& problem : CheckFitness(probe, host, claims, options)) {
          enough &= problem.kind != FitnessProblem::Kind::kHugepages;
        }
        if (!enough) continue;
      }
      candidates.push_back({used_nodes.count(id) ? 0 : free, id});
    }
    if (candidates.empty()) {
      *why_not = "no host NUMA node has " + std::to_string(cell.vcpus.size()) + " free CPUs" +
                 (vm.hugepages ? " and the hugepages" : "") + " for guest cell " + std::to_string(cell.id);
      return std::nullopt;
    }
    std::sort(candidates.rbegin(), candidates.rend());
    unsigned node = candidates.front().second;
    used_nodes.insert(node);
    node_of_cell[cell.id] = node;
    std::vector<unsigned> free = FreeCpusByCore(host, host.nodes.at(node), taken);
    for (size_t i = 0; i < cell.vcpus.size(); i++) {
      pin_of[cell.vcpus[i]] = std::to_string(free[i]);
      taken.insert(free[i]);
    }
  }
  for (DomainSpec::Pin& pin : p.vcpupins) pin.cpuset = pin_of.count(pin.vcpu) ? pin_of[pin.vcpu] : pin.cpuset;
  // The emulator and iothreads share the chosen nodes' CPUs the vCPUs left.
  CpuSet shared;
  for (unsigned n : used_nodes) {
    for (unsigned c : host.nodes.at(n).cpus) {
      if (!taken.count(c)) shared.insert(c);
    }
  }
  if (shared.empty()) {
    for (unsigned n : used_nodes) shared.insert(host.nodes.at(n).cpus.begin(), host.nodes.at(n).cpus.end());
  }
  if (!p.emulatorpin.empty()) p.emulatorpin = FormatCpuSet(shared);
  for (DomainSpec::Pin& pin : p.iothreadpins) pin.cpuset = FormatCpuSet(shared);
  if (!p.numa_nodeset.empty()) p.numa_nodeset = FormatCpuSet(used_nodes);
  for (DomainSpec::MemNode& m : p.memnodes) {
    if (node_of_cell.count(m.cell)) m.nodeset = std::to_string(node_of_cell[m.cell]);
  }
  std::vector<FitnessProblem> left = CheckFitness(WithPlacement(vm, p), host, claims, options);
  if (!left.empty()) {
    *why_not = "the best placement found still fails: " + left.front().message;
    return std::nullopt;
  }
  return p;
}

}  // namespace vc
