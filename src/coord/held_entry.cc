#include "src/coord/held_entry.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>

#include "src/base/private_files.h"

namespace vc {

namespace fs = std::filesystem;

namespace {

bool SafeId(const std::string& id) {
  return !id.empty() && id.front() != '.' && id.find('/') == std::string::npos && id.size() < 200;
}

// Whether \a fd is still the file at \a path (not removed and replaced).
bool SameFile(int fd, const std::string& path) {
  struct stat held {}, now {};
  return ::fstat(fd, &held) == 0 && ::stat(path.c_str(), &now) == 0 && held.st_ino == now.st_ino &&
         held.st_dev == now.st_dev;
}

Status WritePadded(int fd, const std::string& path, const std::string& text) {
  if (text.size() > HeldEntry::kMaxText) return Status::InvalidArgument(path, "entry text too long");
  // Fixed length, written in one call at offset 0: no moment at which the
  // file is empty or half old, half new for a reader that parses lines.
  std::string padded = text;
  padded.resize(HeldEntry::kMaxText, ' ');
  padded.back() = '\n';
  if (::pwrite(fd, padded.data(), padded.size(), 0) != static_cast<ssize_t>(padded.size())) {
    return Status::IoError(path, errno);
  }
  return Status::Ok();
}

}  // namespace

Result<HeldEntry> HeldEntry::Take(const std::string& dir, const std::string& id, const std::string& text) {
  if (!SafeId(id)) return Status::InvalidArgument("entry id", "'" + id + "'");
  VC_RETURN_IF_ERROR(MakePrivateDirectories(dir));
  std::string path = dir + "/" + id;
  // A reader may hold a stale entry's lock for a moment, or remove the
  // file we just opened: retry until we hold the lock on the file that
  // is at the path.
  for (int attempt = 0; attempt < 50; attempt++) {
    Result<UniqueFd> opened = OpenPrivateFile(path, O_RDWR | O_CREAT);
    if (!opened.ok()) return opened.status();
    UniqueFd fd = std::move(*opened);
    if (::flock(fd.get(), LOCK_EX | LOCK_NB) < 0) {
      if (errno != EWOULDBLOCK) return Status::IoError(path, errno);
      ::usleep(2000);
      continue;
    }
    if (!SameFile(fd.get(), path)) continue;
    if (Status written = WritePadded(fd.get(), path, text); !written.ok()) {
      ::unlink(path.c_str());  // still locked: an entry with no text must not stay (a full disk)
      return written;
    }
    return HeldEntry(path, std::move(fd));
  }
  return Status::CommandFailed(path, "busy", "another process holds this entry");
}

HeldEntry& HeldEntry::operator=(HeldEntry&& other) noexcept {
  if (this != &other) {
    Remove();
    path_ = std::move(other.path_);
    fd_ = std::move(other.fd_);
  }
  return *this;
}

HeldEntry::~HeldEntry() { Remove(); }

void HeldEntry::Remove() {
  if (fd_.valid()) ::unlink(path_.c_str());  // still locked: no reader takes it for stale meanwhile
  fd_.reset();
}

Status HeldEntry::Rewrite(const std::string& text) {
  if (!fd_.valid()) return Status::Internal(path_, "entry not held");
  return WritePadded(fd_.get(), path_, text);
}

Result<std::vector<LiveEntry>> LiveEntries(const std::string& dir) {
  std::vector<LiveEntry> live;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return live;
  for (const fs::directory_entry& e : fs::directory_iterator(dir, ec)) {
    std::string name = e.path().filename().string();
    if (!SafeId(name)) continue;
    std::string path = e.path().string();
    Result<UniqueFd> opened = OpenPrivateFile(path, O_RDONLY);
    if (!opened.ok()) continue;  // removed meanwhile
    UniqueFd fd = std::move(*opened);
    if (::flock(fd.get(), LOCK_SH | LOCK_NB) == 0) {
      // Nobody holds it: its process is gone. Remove it unless it was
      // replaced by a new holder since we opened it.
      if (SameFile(fd.get(), path)) ::unlink(path.c_str());
      continue;
    }
    std::string text(HeldEntry::kMaxText, '\0');
    ssize_t n = ::pread(fd.get(), text.data(), text.size(), 0);
    text.resize(n > 0 ? static_cast<size_t>(n) : 0);
    live.push_back({std::move(name), std::move(text)});
  }
  if (ec) return Status::IoError(dir, ec.value());
  return live;
}

}  // namespace vc
