#include "src/coord/shares.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <fstream>

namespace vc {

namespace fs = std::filesystem;

namespace {

constexpr uint64_t kFloor = 1 << 20;  // bytes/s: nobody is cut to nothing

bool SafeId(const std::string& id) {
  return !id.empty() && id.front() != '.' && id.find('/') == std::string::npos && id.size() < 200;
}

}  // namespace

Result<ShareHold> ShareHold::Take(const std::string& dir, const ShareEntry& entry) {
  if (!SafeId(entry.id)) return Status::InvalidArgument("share id", "'" + entry.id + "'");
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return Status::IoError(dir, ec.value());
  std::string path = dir + "/" + entry.id;
  // A reader may hold a stale entry's lock for a moment, or remove the
  // file we just opened: retry until we hold the lock on the file that
  // is at the path.
  for (int attempt = 0; attempt < 50; attempt++) {
    UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644));
    if (!fd.valid()) return Status::IoError(path, errno);
    if (::flock(fd.get(), LOCK_EX | LOCK_NB) < 0) {
      if (errno != EWOULDBLOCK) return Status::IoError(path, errno);
      ::usleep(2000);
      continue;
    }
    struct stat held {}, now {};
    if (::fstat(fd.get(), &held) < 0 || ::stat(path.c_str(), &now) < 0 || held.st_ino != now.st_ino) continue;
    std::string text = "pinned " + std::to_string(entry.pinned) + "\n";
    if (::ftruncate(fd.get(), 0) < 0 ||
        ::pwrite(fd.get(), text.data(), text.size(), 0) != static_cast<ssize_t>(text.size())) {
      return Status::IoError(path, errno);
    }
    return ShareHold(path, std::move(fd));
  }
  return Status::CommandFailed(path, "busy", "another process holds this share");
}

ShareHold::~ShareHold() {
  if (fd_.valid()) ::unlink(path_.c_str());  // still locked: no reader takes it for stale meanwhile
}

Result<std::vector<ShareEntry>> LiveShares(const std::string& dir) {
  std::vector<ShareEntry> live;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return live;
  for (const fs::directory_entry& e : fs::directory_iterator(dir, ec)) {
    std::string path = e.path().string();
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd.valid()) continue;  // removed meanwhile
    if (::flock(fd.get(), LOCK_SH | LOCK_NB) == 0) {
      // Nobody holds it: its process is gone. Remove it unless it was
      // replaced by a new holder since we opened it.
      struct stat opened {}, now {};
      if (::fstat(fd.get(), &opened) == 0 && ::stat(path.c_str(), &now) == 0 && opened.st_ino == now.st_ino) {
        ::unlink(path.c_str());
      }
      continue;
    }
    ShareEntry s{e.path().filename().string(), 0};
    std::ifstream in(path);
    std::string word;
    in >> word >> s.pinned;
    live.push_back(std::move(s));
  }
  return live;
}

uint64_t ShareOf(const std::vector<ShareEntry>& live, const std::string& id, uint64_t budget) {
  uint64_t pinned_total = 0;
  size_t sharing = 0;
  const ShareEntry* self = nullptr;
  for (const ShareEntry& s : live) {
    if (s.id == id) self = &s;
    if (s.pinned) {
      pinned_total += s.pinned;
    } else {
      sharing++;
    }
  }
  if (!self) return 0;
  if (self->pinned) return self->pinned;
  uint64_t left = budget > pinned_total ? budget - pinned_total : 0;
  return std::max(kFloor, left / sharing);
}

}  // namespace vc
