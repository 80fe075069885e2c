// BandwidthShares: the host's outgoing bandwidth budget split among the
// migrations leaving it, with no server — each migration's follower holds
// an entry (a HeldEntry) under /run/virt-converge/shares for as long as it
// runs, so a follower that dies (even by SIGKILL) lets go of its share the
// moment the kernel closes its file. Every process reads the same directory
// and computes the same split.
//
// A migration whose policy pins its own bandwidth gets that; the rest share
// what is left, in one of three ways:
//   equal          equal parts: one migration gets all of it; when one
//                  ends, the others' next reading gives them its part;
//   closest-first  the migration with the fewest bytes left gets all but a
//                  floor for each other one, so it finishes (and stops
//                  re-sending what its guest dirties) as soon as it can;
//   static         budget / slots each, however many run (oVirt's split:
//                  the bandwidth divided by the most migrations at once).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "src/base/status.h"
#include "src/coord/held_entry.h"

namespace vc {

struct ShareEntry {
  std::string id;          // the migration: the domain's UUID, or the QMP socket's name
  uint64_t pinned = 0;     // bytes/s its policy pins; 0 = takes a share
  uint64_t remaining = 0;  // bytes it has left to send; 0 = not known yet
};

enum class SplitMode { kEqual, kClosestFirst, kStatic };
/// "equal", "closest-first", "static"; nullopt for anything else.
std::optional<SplitMode> ParseSplitMode(const std::string& text);
const char* SplitModeName(SplitMode mode);

/// A migration's entry, held while this object lives.
class ShareHold {
 public:
  /// kCommandFailed when a live process already holds \a entry.id.
  static Result<ShareHold> Take(const std::string& dir, const ShareEntry& entry);
  /// Publishes how much is left (for closest-first).
  Status SetRemaining(uint64_t remaining);

 private:
  ShareHold(HeldEntry held, ShareEntry entry) : held_(std::move(held)), entry_(std::move(entry)) {}
  HeldEntry held_;
  ShareEntry entry_;
};

/// The live entries under \a dir; entries nobody holds any more are
/// removed on the way.
Result<std::vector<ShareEntry>> LiveShares(const std::string& dir);

struct SplitRule {
  SplitMode mode = SplitMode::kEqual;
  uint64_t budget = 0;  // bytes/s for all outgoing migrations
  int slots = 1;        // static: the budget is split in this many parts
};

/// What \a id gets among \a live under \a rule; 0 when \a id is not among
/// them. Nobody gets less than a floor of 1 MiB/s, so none stalls — even
/// when pinned entries take the whole budget.
uint64_t ShareOf(const std::vector<ShareEntry>& live, const std::string& id, const SplitRule& rule);

}  // namespace vc
