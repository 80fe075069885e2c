// The checks every case of suite 'faults' ends with, where they apply.
#pragma once

#include <filesystem>
#include <string>

namespace vc::testing {

/// What \a run_dir still holds of migrations that ended: every file but
/// the host's own (the admission queue's lock), one path per line; "" when
/// nothing is left.
inline std::string LeftInRunDir(const std::string& run_dir) {
  std::string left;
  std::error_code ec;
  for (const auto& e : std::filesystem::recursive_directory_iterator(run_dir, ec)) {
    if (e.is_directory() || e.path().filename() == ".queue.lock") continue;
    left += e.path().string() + "\n";
  }
  return left;
}

}  // namespace vc::testing
