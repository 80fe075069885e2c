#include "src/hostfit/host_picture.h"

#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace vc {
namespace {

namespace fs = std::filesystem;

Result<std::string> Read(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Status::IoError(path, errno ? errno : ENOENT);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

Result<uint64_t> ReadNumber(const std::string& path) {
  Result<std::string> t = Read(path);
  if (!t.ok()) return t.status();
  char* end = nullptr;
  uint64_t v = std::strtoull(t->c_str(), &end, 10);
  if (end == t->c_str()) return Status::InvalidArgument(path, "'" + *t + "' is not a number");
  return v;
}

Result<CpuSet> ReadList(const std::string& path) {
  Result<std::string> t = Read(path);
  if (!t.ok()) return t.status();
  if (t->find_first_not_of(" \n") == std::string::npos) return CpuSet{};  // an empty list (memory-only node)
  Result<CpuSet> s = ParseCpuSet(*t);
  if (!s.ok()) return s.status().WithContext(path);
  return s;
}

/// \a key's value in bytes from "Node 0 MemTotal:  16318748 kB" (node
/// meminfo) or "MemAvailable: ... kB" (/proc/meminfo); 0 when absent.
uint64_t MeminfoBytes(const std::string& meminfo, const std::string& key) {
  size_t at = meminfo.find(key + ":");
  if (at == std::string::npos) return 0;
  return std::strtoull(meminfo.c_str() + at + key.size() + 1, nullptr, 10) * 1024;
}

/// hugepages-2048kB -> 2048
uint64_t PageSizeKib(const std::string& dir_name) {
  if (dir_name.rfind("hugepages-", 0) != 0) return 0;
  return std::strtoull(dir_name.c_str() + 10, nullptr, 10);
}

Status ReadPools(const std::string& dir, std::map<uint64_t, HugepagePool>* pools) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return Status::Ok();
  for (const fs::directory_entry& e : fs::directory_iterator(dir, ec)) {
    uint64_t size = PageSizeKib(e.path().filename().string());
    if (!size) continue;
    Result<uint64_t> total = ReadNumber(e.path().string() + "/nr_hugepages");
    Result<uint64_t> free = ReadNumber(e.path().string() + "/free_hugepages");
    if (!total.ok()) return total.status();
    if (!free.ok()) return free.status();
    (*pools)[size] = {*total, *free};
  }
  return Status::Ok();
}

}  // namespace

Result<HostPicture> ReadHostPicture(const std::string& root, bool topology) {
  HostPicture h;
  const std::string sys = root + "/sys/devices/system";
  Result<CpuSet> online = ReadList(sys + "/cpu/online");
  if (!online.ok()) return online.status();
  h.online = *online;
  for (unsigned c : h.online) {
    if (!topology) {
      h.cpus[c] = HostCpu{};
      continue;
    }
    std::string topo = sys + "/cpu/cpu" + std::to_string(c) + "/topology/";
    HostCpu cpu;
    // Topology is missing in some containers: the CPU still counts.
    if (Result<uint64_t> s = ReadNumber(topo + "physical_package_id"); s.ok()) cpu.socket = static_cast<int>(*s);
    if (Result<uint64_t> k = ReadNumber(topo + "core_id"); k.ok()) cpu.core = static_cast<int>(*k);
    h.cpus[c] = cpu;
  }
  Result<std::string> read_meminfo = Read(root + "/proc/meminfo");
  const std::string meminfo = read_meminfo.ok() ? *read_meminfo : "";
  h.memory_available = MeminfoBytes(meminfo, "MemAvailable");
  std::error_code ec;
  if (fs::exists(sys + "/node/online", ec)) {
    Result<CpuSet> nodes = ReadList(sys + "/node/online");
    if (!nodes.ok()) return nodes.status();
    for (unsigned n : *nodes) {
      std::string dir = sys + "/node/node" + std::to_string(n);
      HostNode node;
      Result<CpuSet> cpus = ReadList(dir + "/cpulist");
      if (!cpus.ok()) return cpus.status();
      for (unsigned c : *cpus) {
        if (h.online.count(c)) node.cpus.insert(c);  // offline CPUs are listed too
      }
      if (Result<std::string> mi = Read(dir + "/meminfo"); mi.ok()) node.memory = MeminfoBytes(*mi, "MemTotal");
      VC_RETURN_IF_ERROR(ReadPools(dir + "/hugepages", &node.hugepages));
      for (unsigned c : node.cpus) h.cpus[c].node = static_cast<int>(n);
      h.nodes[n] = std::move(node);
    }
  } else {
    HostNode node;
    node.cpus = h.online;
    node.memory = MeminfoBytes(meminfo, "MemTotal");
    VC_RETURN_IF_ERROR(ReadPools(root + "/sys/kernel/mm/hugepages", &node.hugepages));
    for (unsigned c : node.cpus) h.cpus[c].node = 0;
    h.nodes[0] = std::move(node);
  }
  if (fs::is_directory(root + "/sys/kernel/mm/hugepages", ec)) {
    for (const fs::directory_entry& e : fs::directory_iterator(root + "/sys/kernel/mm/hugepages", ec)) {
      if (uint64_t size = PageSizeKib(e.path().filename().string())) h.hugepage_sizes_kib.insert(size);
    }
  }
  return h;
}

}  // namespace vc
