// FollowLock: at most one virt-converge follows a given migration on this
// host. `attach` takes an exclusive flock on its lock file (StatePaths)
// (the key: the domain's UUID) for as long as it runs; the kernel drops it
// when the process ends, however it ends, so a crashed helper never blocks
// the next one. `watch` relies on it instead of on its own memory, which a
// restart loses. The file goes with its holder: it is removed while still
// locked, and a taker that locked a file since removed takes a new one.
#pragma once

#include <string>
#include <sys/types.h>

#include "src/base/status.h"
#include "src/base/unique_fd.h"
#include "src/state/paths.h"

namespace vc {

class FollowLock {
 public:
  /// Takes the lock for \a key (its directory created if missing). When
  /// another process holds it: kCommandFailed naming that process's pid.
  static Result<FollowLock> Take(const StatePaths& paths, const std::string& key);
  /// True when some process holds the lock for \a key now.
  static bool Held(const StatePaths& paths, const std::string& key);

  FollowLock(FollowLock&&) = default;
  FollowLock& operator=(FollowLock&&) = default;
  /// Removes the file, then releases the lock.
  ~FollowLock();

  const std::string& path() const { return path_; }

 private:
  FollowLock(UniqueFd fd, std::string path) : fd_(std::move(fd)), path_(std::move(path)) {}
  UniqueFd fd_;
  std::string path_;
};

}  // namespace vc
