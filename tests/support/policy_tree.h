// PolicyTree: a root prefix holding policy drop-ins, as `--policy-root` and
// policy::Resolve take it: <root>/etc (admin), <root>/run (runtime) and
// <root>/usr/lib (vendor), each with virt-converge/policy.d.
#pragma once

#include <optional>
#include <string>

#include "tests/support/temp_dir.h"

namespace vc::testing {

class PolicyTree {
 public:
  /// In a temp directory of its own, removed with the tree.
  explicit PolicyTree(const std::string& tag = "policy");
  /// Under \a root, which the caller owns (e.g. a test's pair directory).
  static PolicyTree Under(const std::string& root);

  const std::string& root() const { return root_; }
  /// The drop-in directory under \a where: "etc", "run" or "usr/lib".
  std::string Dir(const std::string& where = "etc") const;
  /// Writes \a text as drop-in \a name under \a where, atomically (a
  /// temporary file renamed into place, as admins' tools do, so a
  /// follower watching the directory never reads half of it). Its path.
  std::string Write(const std::string& name, const std::string& text, const std::string& where = "etc");
  /// Masks drop-in \a name under \a where (a link to /dev/null). Its path.
  std::string Mask(const std::string& name, const std::string& where = "etc");
  /// Copies \a file (e.g. one of the source tree's presets) in as \a name.
  std::string Install(const std::string& file, const std::string& name, const std::string& where = "usr/lib");
  /// The source tree's vendor default, installed where the package puts it.
  std::string InstallVendorDefault();

 private:
  struct Borrowed {};
  PolicyTree(Borrowed, std::string root) : root_(std::move(root)) {}

  std::optional<TempDir> own_;
  std::string root_;
};

/// The source tree's policy.d (the vendor default and presets/).
std::string SourcePolicyDir();

}  // namespace vc::testing
