// TempDir: a directory removed (with everything in it) on destruction, even
// when an assertion failed.
#pragma once

#include <string>

namespace vc::testing {

class TempDir {
 public:
  /// Creates /tmp/vc-<tag>-XXXXXX (QEMU socket paths must stay short).
  explicit TempDir(const std::string& tag = "test");
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string File(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

}  // namespace vc::testing
