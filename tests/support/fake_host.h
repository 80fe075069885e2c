// FakeHost: a sysfs/procfs tree of a host of any size under a temp dir, for
// src/hostfit and the hook (they read the host under a root prefix).
#pragma once

#include <cstdint>
#include <map>
#include <string>

namespace vc::testing {

struct FakeHostSpec {
  unsigned sockets = 2, cores_per_socket = 16, threads_per_core = 2;
  unsigned nodes = 4;                          // split evenly over the sockets' cores
  uint64_t memory_per_node = 64ull << 30;      // bytes
  /// Per page size (KiB): total and free pages on each node.
  std::map<uint64_t, std::pair<uint64_t, uint64_t>> hugepages = {{2048, {4096, 4096}}, {1048576, {8, 8}}};
  std::string offline;                         // CPUs listed but offline, e.g. "63"
  uint64_t memory_available = 200ull << 30;    // /proc/meminfo MemAvailable
};

/// Writes the tree under \a root. CPU numbering as Linux does it: the first
/// thread of every core first (0..cores-1), their siblings after.
void WriteFakeHost(const std::string& root, const FakeHostSpec& spec);

}  // namespace vc::testing
