#include "src/coord/shares.h"

#include <algorithm>
#include <sstream>

namespace vc {

namespace {

constexpr uint64_t kFloor = 1 << 20;  // bytes/s: nobody is cut to nothing

std::string EntryText(const ShareEntry& e) {
  return "pinned " + std::to_string(e.pinned) + "\nremaining " + std::to_string(e.remaining) + "\n";
}

}  // namespace

std::optional<SplitMode> ParseSplitMode(const std::string& text) {
  if (text == "equal") return SplitMode::kEqual;
  if (text == "closest-first") return SplitMode::kClosestFirst;
  if (text == "static") return SplitMode::kStatic;
  return std::nullopt;
}

const char* SplitModeName(SplitMode mode) {
  switch (mode) {
    case SplitMode::kEqual: return "equal";
    case SplitMode::kClosestFirst: return "closest-first";
    case SplitMode::kStatic: return "static";
  }
  return "?";
}

Result<ShareHold> ShareHold::Take(const std::string& dir, const ShareEntry& entry) {
  Result<HeldEntry> held = HeldEntry::Take(dir, entry.id, EntryText(entry));
  if (!held.ok()) return held.status();
  return ShareHold(std::move(*held), entry);
}

Status ShareHold::SetRemaining(uint64_t remaining) {
  if (remaining == entry_.remaining) return Status::Ok();
  entry_.remaining = remaining;
  return held_.Rewrite(EntryText(entry_));
}

Result<std::vector<ShareEntry>> LiveShares(const std::string& dir) {
  Result<std::vector<LiveEntry>> entries = LiveEntries(dir);
  if (!entries.ok()) return entries.status();
  std::vector<ShareEntry> live;
  for (const LiveEntry& e : *entries) {
    ShareEntry s{e.id, 0, 0};
    // Tolerant: a word we do not know (a newer version's) is skipped.
    std::istringstream in(e.text);
    std::string key;
    uint64_t value = 0;
    while (in >> key >> value) {
      if (key == "pinned") s.pinned = value;
      if (key == "remaining") s.remaining = value;
    }
    live.push_back(std::move(s));
  }
  return live;
}

uint64_t ShareOf(const std::vector<ShareEntry>& live, const std::string& id, const SplitRule& rule) {
  uint64_t pinned_total = 0;
  std::vector<const ShareEntry*> sharing;
  const ShareEntry* self = nullptr;
  for (const ShareEntry& s : live) {
    if (s.id == id) self = &s;
    if (s.pinned) {
      pinned_total += s.pinned;
    } else {
      sharing.push_back(&s);
    }
  }
  if (!self) return 0;
  if (self->pinned) return self->pinned;
  const uint64_t left = rule.budget > pinned_total ? rule.budget - pinned_total : 0;
  switch (rule.mode) {
    case SplitMode::kEqual:
      return std::max(kFloor, left / sharing.size());
    case SplitMode::kStatic:
      return std::max(kFloor, left / static_cast<uint64_t>(std::max(1, rule.slots)));
    case SplitMode::kClosestFirst: {
      // Not known yet counts as farthest; ties go by id, the same in every process.
      auto key = [](const ShareEntry* e) {
        return std::make_pair(e->remaining ? e->remaining : UINT64_MAX, e->id);
      };
      const ShareEntry* closest = *std::min_element(
          sharing.begin(), sharing.end(), [&](const ShareEntry* a, const ShareEntry* b) { return key(a) < key(b); });
      if (closest != self) return kFloor;
      uint64_t others = kFloor * (sharing.size() - 1);
      return std::max(kFloor, left > others ? left - others : 0);
    }
  }
  return kFloor;
}

}  // namespace vc
