// HeldEntry: one migration's file in a host-local directory (bandwidth
// shares, the admission queue), locked with flock for as long as its
// holder lives. A holder that dies, even by SIGKILL, lets go the moment the
// kernel closes its file; the next reader removes what it left. No server,
// no cleanup to forget.
#pragma once

#include <string>
#include <vector>

#include "src/base/status.h"
#include "src/base/unique_fd.h"

namespace vc {

class HeldEntry {
 public:
  /// Creates (or takes over a stale) \a dir/\a id, locked, holding \a text.
  /// kCommandFailed when a live process already holds \a id.
  static Result<HeldEntry> Take(const std::string& dir, const std::string& id, const std::string& text);
  HeldEntry(HeldEntry&&) noexcept = default;
  HeldEntry& operator=(HeldEntry&&) noexcept;
  ~HeldEntry();  // removes the entry

  /// Replaces the text in place: a reader sees the old or the new text
  /// padded with blanks, never an empty file (texts up to kMaxText).
  Status Rewrite(const std::string& text);
  const std::string& path() const { return path_; }

  static constexpr size_t kMaxText = 1024;

 private:
  HeldEntry(std::string path, UniqueFd fd) : path_(std::move(path)), fd_(std::move(fd)) {}
  void Remove();
  std::string path_;
  UniqueFd fd_;
};

struct LiveEntry {
  std::string id;
  std::string text;
};

/// The held entries under \a dir (names starting with '.' are not
/// entries); entries nobody holds any more are removed on the way.
Result<std::vector<LiveEntry>> LiveEntries(const std::string& dir);

}  // namespace vc
