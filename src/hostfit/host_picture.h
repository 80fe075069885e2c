// HostPicture: what this host offers a pinned/NUMA/hugepage VM — online
// CPUs with their socket, core and NUMA node, NUMA nodes with memory and
// hugepages per size — read from sysfs/procfs under a root prefix, so
// tests can describe hosts far larger than the one they run on.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>

#include "src/base/status.h"
#include "src/hostfit/cpuset.h"

namespace vc {

struct HugepagePool {
  uint64_t total = 0;  // pages
  uint64_t free = 0;   // pages
};

struct HostCpu {
  int socket = -1, core = -1, node = -1;
};

struct HostNode {
  CpuSet cpus;
  uint64_t memory = 0;                          // bytes (MemTotal)
  std::map<uint64_t, HugepagePool> hugepages;   // by page size, KiB
};

struct HostPicture {
  CpuSet online;
  std::map<unsigned, HostCpu> cpus;        // the online ones
  std::map<unsigned, HostNode> nodes;      // online NUMA nodes
  std::set<uint64_t> hugepage_sizes_kib;   // page sizes the kernel offers
  uint64_t memory_available = 0;           // bytes (MemAvailable: what could be locked); 0 = unknown
};

/// Reads the host under \a root ("/" on a real host). A host without
/// /sys/devices/system/node is one node 0 holding every CPU and all
/// memory. IoError/InvalidArgument naming the file that could not be read.
/// Without \a topology each CPU's socket and core stay unknown (-1): two
/// files fewer per CPU, for checks that need only the NUMA node.
Result<HostPicture> ReadHostPicture(const std::string& root, bool topology = true);

}  // namespace vc
