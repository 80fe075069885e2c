#include "src/policy/dropins.h"

#include <algorithm>
#include <filesystem>
#include <map>

namespace vc::policy {

namespace fs = std::filesystem;

std::vector<std::string> PolicyDirectories(const std::string& root) {
  std::string r = root == "/" ? "" : root;
  while (!r.empty() && r.back() == '/') r.pop_back();
  return {r + "/etc/virt-converge/policy.d", r + "/run/virt-converge/policy.d",
          r + "/usr/lib/virt-converge/policy.d"};
}

namespace {

bool IsMask(const fs::path& p) {
  std::error_code ec;
  if (!fs::is_symlink(fs::symlink_status(p, ec))) return false;
  fs::path target = fs::read_symlink(p, ec);
  return !ec && target == "/dev/null";
}

}  // namespace

Result<DropInList> ListDropIns(const std::string& root) {
  struct Found {
    std::string path;
    bool masked = false;
    std::vector<std::string> shadowed;
  };
  std::map<std::string, Found> by_name;  // sorted by file name
  for (const std::string& dir : PolicyDirectories(root)) {
    std::error_code ec;
    if (!fs::exists(dir, ec)) continue;
    fs::directory_iterator it(dir, ec);
    if (ec) return Status::IoError(dir, ec.value());
    std::vector<fs::path> entries;
    for (; it != fs::directory_iterator(); it.increment(ec)) {
      if (ec) return Status::IoError(dir, ec.value());
      entries.push_back(it->path());
    }
    std::sort(entries.begin(), entries.end());
    for (const fs::path& p : entries) {
      std::string name = p.filename().string();
      if (p.extension() != ".conf" || name.front() == '.') continue;
      auto [pos, fresh] = by_name.try_emplace(name);
      if (!fresh) {
        pos->second.shadowed.push_back(p.string());
        continue;
      }
      pos->second.path = p.string();
      pos->second.masked = IsMask(p);
    }
  }
  DropInList list;
  for (auto& [name, f] : by_name) {
    if (f.masked) {
      list.masked.push_back(f.path);
      continue;
    }
    list.files.push_back({name, f.path, f.shadowed});
  }
  return list;
}

}  // namespace vc::policy
