#include "src/hostfit/hook_records.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "src/base/private_files.h"

namespace vc {

namespace fs = std::filesystem;

bool SafeRecordName(const std::string& vm) {
  return !vm.empty() && vm.front() != '.' && vm.find('/') == std::string::npos && vm.size() < 256;
}

Result<HookRecords> HookRecords::Open(const std::string& dir) {
  VC_RETURN_IF_ERROR(MakePrivateDirectories(dir + "/running"));
  VC_RETURN_IF_ERROR(MakePrivateDirectories(dir + "/incoming"));
  Result<UniqueFd> opened = OpenPrivateFile(dir + "/lock", O_RDWR | O_CREAT);
  if (!opened.ok()) return opened.status();
  UniqueFd fd = std::move(*opened);
  if (::flock(fd.get(), LOCK_EX) < 0) return Status::IoError(dir + "/lock", errno);
  return HookRecords(dir, std::move(fd));
}

Result<HostClaims> HookRecords::Load(const std::string& libvirt_pid_dir) const {
  HostClaims claims;
  std::error_code ec;
  const bool check_running = !libvirt_pid_dir.empty() && fs::is_directory(libvirt_pid_dir, ec);
  for (const fs::directory_entry& e : fs::directory_iterator(dir_ + "/running", ec)) {
    std::string name = e.path().filename().string();
    if (name.empty() || name.front() == '.') continue;  // a replacement being written
    if (check_running && !fs::exists(libvirt_pid_dir + "/" + name + ".pid", ec)) {
      fs::remove(e.path(), ec);  // its `stopped` never reached us
      continue;
    }
    std::ifstream in(e.path());
    std::string word, cpus;
    HostClaims::Running r{name, {}};
    if (in >> word >> cpus && word == "dedicated") {
      if (Result<CpuSet> s = ParseCpuSet(cpus); s.ok()) r.dedicated = *s;
    }
    claims.running.push_back(std::move(r));
  }
  const auto stale_before = fs::file_time_type::clock::now() - std::chrono::seconds(kIncomingStaleSeconds);
  for (const fs::directory_entry& e : fs::directory_iterator(dir_ + "/incoming", ec)) {
    std::string name = e.path().filename().string();
    if (name.empty() || name.front() == '.') continue;  // a replacement being written
    std::error_code time_ec;
    if (fs::last_write_time(e.path(), time_ec) < stale_before && !time_ec) {
      fs::remove(e.path(), time_ec);
      continue;
    }
    std::ifstream in(e.path());
    size_t before = claims.incoming.size();
    for (std::string line; std::getline(in, line);) {
      std::istringstream l(line);
      std::string word, nodes;
      HostClaims::Incoming c;
      c.name = name;
      if (line.rfind("cost ", 0) == 0) {
        int64_t cost = 1;
        if (l >> word >> cost && cost >= 1) claims.incoming_cost[name] = cost;
        continue;
      }
      if (!(l >> word >> c.page_kib >> nodes >> c.pages) || word != "claim") continue;
      if (Result<CpuSet> s = ParseCpuSet(nodes); s.ok()) c.nodes = *s;
      claims.incoming.push_back(std::move(c));
    }
    // A migration in flight that takes no hugepages still counts for admission.
    if (claims.incoming.size() == before) claims.incoming.push_back({name, 0, {}, 0});
  }
  return claims;
}

Status HookRecords::SetRunning(const std::string& vm, const CpuSet& dedicated) {
  if (!SafeRecordName(vm)) return Status::InvalidArgument("domain name", "'" + vm + "' cannot name a record");
  return WriteFileAtomically(dir_ + "/running/" + vm, "dedicated " + (dedicated.empty() ? "-" : FormatCpuSet(dedicated)) + "\n");
}

Status HookRecords::SetIncoming(const std::string& vm, const std::vector<HostClaims::Incoming>& claims,
                                int64_t cost) {
  if (!SafeRecordName(vm)) return Status::InvalidArgument("domain name", "'" + vm + "' cannot name a record");
  std::string text = "cost " + std::to_string(cost) + "\n";
  for (const HostClaims::Incoming& c : claims) {
    text += "claim " + std::to_string(c.page_kib) + " " + FormatCpuSet(c.nodes) + " " + std::to_string(c.pages) + "\n";
  }
  return WriteFileAtomically(dir_ + "/incoming/" + vm, text);
}

void HookRecords::DropRunning(const std::string& vm) {
  if (SafeRecordName(vm)) RemovePrivateFile(dir_ + "/running/" + vm);  // under the lock: the only writer
}

void HookRecords::DropIncoming(const std::string& vm) {
  if (SafeRecordName(vm)) RemovePrivateFile(dir_ + "/incoming/" + vm);
}

bool HookRecords::HasIncoming(const std::string& vm) const {
  std::error_code ec;
  return SafeRecordName(vm) && fs::exists(dir_ + "/incoming/" + vm, ec);
}

}  // namespace vc
