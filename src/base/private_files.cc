#include "src/base/private_files.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>

#include "src/base/units.h"

namespace vc {

Status MakePrivateDirectories(const std::string& dir) {
  if (dir.empty() || dir == "/") return Status::Ok();
  struct stat st;
  if (::lstat(dir.c_str(), &st) == 0) {
    if (!S_ISDIR(st.st_mode)) return Status::InvalidArgument(dir, "is not a directory (or is a symlink)");
    return Status::Ok();
  }
  const size_t slash = dir.find_last_of('/');
  if (slash != std::string::npos && slash > 0) VC_RETURN_IF_ERROR(MakePrivateDirectories(dir.substr(0, slash)));
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) return Status::IoError(dir, errno);
  return Status::Ok();
}

namespace {

Status WriteAll(int fd, const std::string& text, const std::string& path) {
  size_t done = 0;
  while (done < text.size()) {
    ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Status::IoError(path, errno);
    done += static_cast<size_t>(n);
  }
  return Status::Ok();
}

}  // namespace

Status WriteFileAtomically(const std::string& path, const std::string& text, mode_t mode) {
  const size_t slash = path.find_last_of('/');
  const std::string dir = slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
  const std::string base = slash == std::string::npos ? path : path.substr(slash + 1);
  VC_RETURN_IF_ERROR(MakePrivateDirectories(dir));
  // A dot name: never taken for a record by those who list the directory.
  std::string tmp = dir + "/." + base + ".XXXXXX";
  UniqueFd fd(::mkostemp(tmp.data(), O_CLOEXEC));  // 0600, a name nobody else has
  if (!fd.valid()) return Status::IoError(path, errno);
  Status st = WriteAll(fd.get(), text, tmp);
  if (st.ok() && mode != 0600 && ::fchmod(fd.get(), mode) != 0) st = Status::IoError(tmp, errno);
  if (st.ok() && ::fsync(fd.get()) != 0) st = Status::IoError(tmp, errno);
  if (st.ok() && ::rename(tmp.c_str(), path.c_str()) != 0) st = Status::IoError(path, errno);
  if (!st.ok()) {
    ::unlink(tmp.c_str());
    return st;
  }
  // The rename itself, on disk.
  UniqueFd d(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (d.valid()) (void)::fsync(d.get());
  return Status::Ok();
}

void RemovePrivateFile(const std::string& path) {
  ::unlink(path.c_str());
  const size_t slash = path.find_last_of('/');
  const std::string dir = slash == std::string::npos ? "." : slash == 0 ? "/" : path.substr(0, slash);
  const std::string temp_prefix = "." + (slash == std::string::npos ? path : path.substr(slash + 1)) + ".";
  DIR* d = ::opendir(dir.c_str());
  if (!d) return;
  while (const dirent* e = ::readdir(d)) {
    const std::string name = e->d_name;
    // mkostemp's six characters after the prefix.
    if (name.size() == temp_prefix.size() + 6 && name.compare(0, temp_prefix.size(), temp_prefix) == 0) {
      ::unlinkat(::dirfd(d), name.c_str(), 0);
    }
  }
  ::closedir(d);
}

Result<std::string> ReadPrivateFile(const std::string& path) {
  Result<UniqueFd> fd = OpenPrivateFile(path, O_RDONLY);
  if (!fd.ok()) {
    if (fd.status().error_number() == ENOENT) return Status::NotFound(path);
    return fd.status();
  }
  std::string text;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(fd->get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Status::IoError(path, errno);
    if (n == 0) break;
    text.append(buf, static_cast<size_t>(n));
  }
  return text;
}

Result<UniqueFd> OpenPrivateFile(const std::string& path, int flags) {
  UniqueFd fd(::open(path.c_str(), flags | O_CLOEXEC | O_NOFOLLOW, 0600));
  if (!fd.valid()) return Status::IoError(path, errno);
  return fd;
}

Status LockWithin(int fd, int operation, Millis limit, const std::string& path) {
  const Clock::time_point give_up = Clock::now() + limit;
  // flock has no timeout: try again, soon at first (a holder's decision
  // takes well under a millisecond), then every half millisecond.
  useconds_t pause = 100;
  for (;;) {
    if (::flock(fd, operation | LOCK_NB) == 0) return Status::Ok();
    if (errno != EWOULDBLOCK && errno != EINTR) return Status::IoError(path, errno);
    if (Clock::now() >= give_up) {
      return Status::CommandFailed(path, "busy", "locked by another process for " + FormatMillis(static_cast<double>(limit.count())) +
                                                     "; not waiting longer");
    }
    ::usleep(pause);
    pause = std::min<useconds_t>(pause * 2, 500);
  }
}

}  // namespace vc
