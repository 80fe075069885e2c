#include "src/state/state_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <filesystem>

#include "src/base/unique_fd.h"

namespace vc {
namespace {

namespace fs = std::filesystem;

Status MakeDirs(const fs::path& dir) {
  if (dir.empty()) return Status::Ok();
  struct stat st;
  if (::lstat(dir.c_str(), &st) == 0) {
    if (!S_ISDIR(st.st_mode)) return Status::InvalidArgument(dir.string(), "is not a directory");
    return Status::Ok();
  }
  VC_RETURN_IF_ERROR(MakeDirs(dir.parent_path()));
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) return Status::IoError(dir.string(), errno);
  return Status::Ok();
}

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

Status WriteFileAtomically(const std::string& path, const std::string& text) {
  const fs::path dir = fs::path(path).parent_path();
  VC_RETURN_IF_ERROR(MakeDirs(dir));
  std::string tmp = path + ".XXXXXX";
  UniqueFd fd(::mkostemp(tmp.data(), O_CLOEXEC));  // 0600, a name nobody else has
  if (!fd.valid()) return Status::IoError(path, errno);
  Status st = WriteAll(fd.get(), text, tmp);
  if (st.ok() && ::fsync(fd.get()) != 0) st = Status::IoError(tmp, errno);
  if (st.ok() && ::rename(tmp.c_str(), path.c_str()) != 0) st = Status::IoError(path, errno);
  if (!st.ok()) {
    ::unlink(tmp.c_str());
    return st;
  }
  // The rename itself, on disk.
  UniqueFd d(::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (d.valid()) (void)::fsync(d.get());
  return Status::Ok();
}

Result<std::string> ReadStateFile(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (!fd.valid()) {
    if (errno == ENOENT) return Status::NotFound(path);
    return Status::IoError(path, errno);
  }
  std::string text;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Status::IoError(path, errno);
    if (n == 0) break;
    text.append(buf, static_cast<size_t>(n));
  }
  return text;
}

}  // namespace vc
