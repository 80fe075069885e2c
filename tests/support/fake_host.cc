#include "tests/support/fake_host.h"

#include <filesystem>
#include <fstream>

#include "src/hostfit/cpuset.h"

namespace vc::testing {

namespace fs = std::filesystem;

namespace {

void Put(const std::string& path, const std::string& text) {
  fs::create_directories(fs::path(path).parent_path());
  std::ofstream(path) << text << "\n";
}

}  // namespace

void WriteFakeHost(const std::string& root, const FakeHostSpec& spec) {
  const unsigned cores = spec.sockets * spec.cores_per_socket;
  const unsigned cpus = cores * spec.threads_per_core;
  const unsigned cores_per_node = cores / spec.nodes;
  const std::string sys = root + "/sys/devices/system";
  CpuSet offline;
  if (!spec.offline.empty()) offline = *ParseCpuSet(spec.offline);
  CpuSet online;
  std::map<unsigned, CpuSet> node_cpus;
  for (unsigned c = 0; c < cpus; c++) {
    unsigned core = c % cores;
    std::string topo = sys + "/cpu/cpu" + std::to_string(c) + "/topology/";
    Put(topo + "physical_package_id", std::to_string(core / spec.cores_per_socket));
    Put(topo + "core_id", std::to_string(core % spec.cores_per_socket));
    node_cpus[core / cores_per_node].insert(c);
    if (!offline.count(c)) online.insert(c);
  }
  Put(sys + "/cpu/online", FormatCpuSet(online));
  Put(sys + "/cpu/possible", "0-" + std::to_string(cpus - 1));
  Put(sys + "/node/online", "0-" + std::to_string(spec.nodes - 1));
  for (unsigned n = 0; n < spec.nodes; n++) {
    std::string dir = sys + "/node/node" + std::to_string(n);
    Put(dir + "/cpulist", FormatCpuSet(node_cpus[n]));
    Put(dir + "/meminfo", "Node " + std::to_string(n) + " MemTotal:       " +
                              std::to_string(spec.memory_per_node / 1024) + " kB\nNode " + std::to_string(n) +
                              " MemFree:        1000 kB");
    for (const auto& [kib, pages] : spec.hugepages) {
      std::string hp = dir + "/hugepages/hugepages-" + std::to_string(kib) + "kB/";
      Put(hp + "nr_hugepages", std::to_string(pages.first));
      Put(hp + "free_hugepages", std::to_string(pages.second));
      Put(hp + "surplus_hugepages", "0");
    }
  }
  for (const auto& [kib, pages] : spec.hugepages) {
    std::string hp = root + "/sys/kernel/mm/hugepages/hugepages-" + std::to_string(kib) + "kB/";
    Put(hp + "nr_hugepages", std::to_string(pages.first * spec.nodes));
    Put(hp + "free_hugepages", std::to_string(pages.second * spec.nodes));
  }
  Put(root + "/proc/meminfo", "MemTotal:       " + std::to_string(spec.memory_per_node * spec.nodes / 1024) +
                                  " kB\nMemAvailable:   " + std::to_string(spec.memory_available / 1024) + " kB");
}

}  // namespace vc::testing
