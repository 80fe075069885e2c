// Whether this host can honour an incoming VM's placement — CPU pinning,
// NUMA binding, hugepages, locked memory, a CPU that cannot migrate — each
// problem as a sentence naming what is missing and where, for libvirt to
// show whoever started the migration.
//
// A CPU is held by a running VM when that VM pins a vCPU to it alone (1:1,
// "dedicated" as oVirt and Nova call it); VMs pinned to ranges share them.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "src/domain/domain_xml.h"
#include "src/hostfit/cpuset.h"
#include "src/hostfit/host_picture.h"

namespace vc {

/// What other VMs on this host hold or are about to take.
struct HostClaims {
  struct Running {
    std::string name;
    CpuSet dedicated;  // CPUs it pins a vCPU to alone
  };
  struct Incoming {
    std::string name;
    uint64_t page_kib = 0;
    CpuSet nodes;      // host NUMA nodes the pages come from
    uint64_t pages = 0;
  };
  std::vector<Running> running;
  std::vector<Incoming> incoming;  // migrations in flight (pages 0: none), pages not yet taken
  std::map<std::string, int64_t> incoming_cost;  // by VM; 1 when not recorded
};

/// One reason a VM cannot run here. The kind says what could fix it:
/// another placement (pinning, NUMA) or nothing on this host.
struct FitnessProblem {
  enum class Kind { kPinning, kNuma, kHugepageSize, kHugepages, kLockedMemory, kCpuModel } kind;
  std::string message;
  /// Whether moving the VM's pinning and NUMA binding could fix it.
  bool PlacementCanFix() const { return kind == Kind::kPinning || kind == Kind::kNuma || kind == Kind::kHugepages; }
};

struct FitnessOptions {
  uint64_t default_hugepage_kib = 2048;  // <hugepages/> without <page>
  bool allow_non_migratable_cpu = false;  // [Host] AllowNonMigratableCpu=
};

/// CPUs \a vm pins vCPUs to alone (1:1).
CpuSet DedicatedCpus(const DomainSpec& vm);

/// The hugepages \a vm needs here: per page size and host node set.
std::vector<HostClaims::Incoming> HugepageNeeds(const DomainSpec& vm, const HostPicture& host,
                                                const FitnessOptions& options);

/// Every reason \a vm cannot run here as its XML asks; empty when it fits.
/// Claims of a VM with \a vm's own name are ignored (it is the one coming).
std::vector<FitnessProblem> CheckFitness(const DomainSpec& vm, const HostPicture& host, const HostClaims& claims,
                                         const FitnessOptions& options);

/// The problems' messages joined with "; ".
std::string Describe(const std::vector<FitnessProblem>& problems);

/// "2 MiB", "96 GiB": sizes for messages, exact when round.
std::string SizeText(uint64_t bytes);
std::string PageSizeText(uint64_t kib);

}  // namespace vc
