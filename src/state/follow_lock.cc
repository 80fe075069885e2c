#include "src/state/follow_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <string>

#include "src/base/private_files.h"

namespace vc {

Result<FollowLock> FollowLock::Take(const StatePaths& paths, const std::string& key) {
  VC_RETURN_IF_ERROR(MakePrivateDirectories(paths.FollowDir()));
  std::string path = paths.FollowLockFile(key);
  UniqueFd fd;
  for (;;) {
    Result<UniqueFd> opened = OpenPrivateFile(path, O_RDWR | O_CREAT);
    if (!opened.ok()) return opened.status();
    fd = std::move(*opened);
    if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
      if (errno != EWOULDBLOCK) return Status::IoError(path, errno);
      char buf[32] = {};
      ssize_t n = ::pread(fd.get(), buf, sizeof buf - 1, 0);
      std::string holder = n > 0 ? std::string(buf, static_cast<size_t>(n)) : "?";
      while (!holder.empty() && (holder.back() == '\n' || holder.back() == ' ')) holder.pop_back();
      return Status::CommandFailed(path, "busy", "already followed by virt-converge pid " + holder);
    }
    // Its last holder may have removed the file between our open and our
    // lock: a lock on that file guards nothing. Take the one at the path.
    struct stat held, now;
    if (::fstat(fd.get(), &held) != 0) return Status::IoError(path, errno);
    if (::stat(path.c_str(), &now) == 0 && now.st_dev == held.st_dev && now.st_ino == held.st_ino) break;
  }
  // The pid is for the message of the next taker: the flock is the lock.
  // On a full disk it goes unwritten, and the migration is followed all the
  // same ("already followed by virt-converge pid ?").
  std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd.get(), 0) == 0) (void)!::pwrite(fd.get(), pid.data(), pid.size(), 0);
  return FollowLock(std::move(fd), path);
}

FollowLock::~FollowLock() {
  if (fd_.valid()) ::unlink(path_.c_str());  // still locked: no taker can hold this file now
}

bool FollowLock::Held(const StatePaths& paths, const std::string& key) {
  Result<UniqueFd> opened = OpenPrivateFile(paths.FollowLockFile(key), O_RDONLY);
  if (!opened.ok()) return false;
  UniqueFd fd = std::move(*opened);
  if (::flock(fd.get(), LOCK_EX | LOCK_NB) == 0) return false;  // released when fd closes
  return errno == EWOULDBLOCK;
}

}  // namespace vc
