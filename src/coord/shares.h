// BandwidthShares: the host's outgoing bandwidth budget split among the
// migrations leaving it, with no server — each migration's follower holds
// an entry under /run/virt-converge/shares for as long as it runs, locked
// with flock, so a follower that dies (even by SIGKILL) lets go of its
// share the moment the kernel closes its file. Every process reads the
// same directory and computes the same split.
//
// Split: a migration whose policy pins its own bandwidth gets that; the
// rest share what is left in equal parts. One migration gets all of it;
// when one ends, the others' next reading gives them its part.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "src/base/status.h"
#include "src/base/unique_fd.h"

namespace vc {

struct ShareEntry {
  std::string id;       // the migration: the domain's UUID, or the QMP socket's name
  uint64_t pinned = 0;  // bytes/s its policy pins; 0 = takes a share
};

/// A migration's entry, held while this object lives.
class ShareHold {
 public:
  /// Creates (or takes over a stale) \a dir/\a id, locked. kCommandFailed
  /// when a live process already holds \a id.
  static Result<ShareHold> Take(const std::string& dir, const ShareEntry& entry);
  ShareHold(ShareHold&&) noexcept = default;
  ShareHold& operator=(ShareHold&&) noexcept = default;
  ~ShareHold();  // removes the entry

 private:
  ShareHold(std::string path, UniqueFd fd) : path_(std::move(path)), fd_(std::move(fd)) {}
  std::string path_;
  UniqueFd fd_;
};

/// The live entries under \a dir; entries nobody holds any more are
/// removed on the way.
Result<std::vector<ShareEntry>> LiveShares(const std::string& dir);

/// What \a id gets of \a budget (bytes/s) among \a live; 0 when \a id is
/// not among them. With pinned entries over the budget, the others get
/// an equal part of nothing: a floor of 1 MiB/s each, so none stalls.
uint64_t ShareOf(const std::vector<ShareEntry>& live, const std::string& id, uint64_t budget);

}  // namespace vc
