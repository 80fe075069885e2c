#include "tests/support/policy_tree.h"

#include <filesystem>
#include <fstream>

namespace vc::testing {

namespace fs = std::filesystem;

PolicyTree::PolicyTree(const std::string& tag) : own_(std::in_place, tag), root_(own_->path()) {}

PolicyTree PolicyTree::Under(const std::string& root) { return PolicyTree(Borrowed{}, root); }

std::string PolicyTree::Dir(const std::string& where) const { return root_ + "/" + where + "/virt-converge/policy.d"; }

std::string PolicyTree::Write(const std::string& name, const std::string& text, const std::string& where) {
  const std::string dir = Dir(where);
  fs::create_directories(dir);
  const std::string tmp = dir + "/." + name + ".tmp";
  std::ofstream(tmp) << text;
  fs::rename(tmp, dir + "/" + name);
  return dir + "/" + name;
}

std::string PolicyTree::Mask(const std::string& name, const std::string& where) {
  const std::string dir = Dir(where);
  fs::create_directories(dir);
  fs::create_symlink("/dev/null", dir + "/" + name);
  return dir + "/" + name;
}

std::string PolicyTree::Install(const std::string& file, const std::string& name, const std::string& where) {
  const std::string dir = Dir(where);
  fs::create_directories(dir);
  fs::copy_file(file, dir + "/" + name, fs::copy_options::overwrite_existing);
  return dir + "/" + name;
}

std::string PolicyTree::InstallVendorDefault() {
  return Install(SourcePolicyDir() + "/50-default.conf", "50-default.conf", "usr/lib");
}

std::string SourcePolicyDir() { return VC_SOURCE_POLICY_DIR; }

}  // namespace vc::testing
