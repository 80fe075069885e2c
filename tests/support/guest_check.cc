#include "tests/support/guest_check.h"

#include <cstdio>
#include <cstring>
#include <optional>

namespace vc::testing {
namespace {

uint32_t Word(uint32_t code, uint32_t index) { return (code << VC_GUEST_INDEX_BITS) | index; }
uint32_t CodeOf(uint32_t word) { return word >> VC_GUEST_INDEX_BITS; }
uint32_t IndexOf(uint32_t word) { return word & ((1u << VC_GUEST_INDEX_BITS) - 1); }

/// Whether \a older may directly precede \a newer: the sweep before, or the
/// fill before the very first sweep.
bool Precedes(uint32_t older, uint32_t newer) {
  if (newer == 1) return older == VC_GUEST_SWEEP_CODES || older == 0;
  return older + 1 == newer;
}

/// One page as the check sees it: the code of its first and last word, and
/// whether the words form "a prefix of one code, then another" with the
/// right index.
struct PageView {
  uint32_t first = 0, last = 0;
  std::string problem;
};

PageView View(const uint8_t* page, uint32_t index) {
  PageView v;
  const uint32_t words = VC_GUEST_PAGE_SIZE / 4;
  uint32_t w0, wn;
  std::memcpy(&w0, page, 4);
  std::memcpy(&wn, page + (words - 1) * 4, 4);
  v.first = CodeOf(w0);
  v.last = CodeOf(wn);
  bool switched = false;
  for (uint32_t i = 0; i < words; i++) {
    uint32_t w;
    std::memcpy(&w, page + i * 4, 4);
    uint32_t expect = Word(switched ? v.last : v.first, index);
    if (w == expect) continue;
    if (!switched && w == Word(v.last, index)) {
      switched = true;
      continue;
    }
    char buf[128];
    std::snprintf(buf, sizeof buf, "word %u is 0x%08x (index %u, code %u), expected 0x%08x", i, w,
                  IndexOf(w), CodeOf(w), expect);
    v.problem = buf;
    return v;
  }
  return v;
}

}  // namespace

GuestCheckReport CheckGuestMemory(const vc_guest_status& st, std::span<const uint8_t> data) {
  GuestCheckReport r;
  auto problem = [&](uint64_t page, const std::string& what) {
    r.bad_pages++;
    if (r.bad_pages <= 5) r.first_problems += "page " + std::to_string(page) + ": " + what + "; ";
  };
  uint64_t pages = data.size() / VC_GUEST_PAGE_SIZE;
  if (pages < st.data_pages) {
    problem(pages, "dump holds only " + std::to_string(pages) + " of " +
                       std::to_string(st.data_pages) + " pages");
  }
  if (pages > st.data_pages) pages = st.data_pages;
  const uint64_t wss = st.wss_pages < pages ? st.wss_pages : pages;

  // The working set: pages [0, p) at code `now`, page p possibly torn,
  // pages after it at the code before `now`. Everything else is an edge
  // too many: a lost or stale page.
  uint32_t now = 0;
  std::optional<uint32_t> before;
  bool edge_seen = false;
  for (uint64_t i = 0; i < wss; i++) {
    const uint8_t* page = data.data() + i * VC_GUEST_PAGE_SIZE;
    PageView v = View(page, static_cast<uint32_t>(i));
    r.pages_checked++;
    if (!v.problem.empty()) {
      problem(i, v.problem);
      continue;
    }
    if (i == 0) now = v.first;
    const bool torn = v.first != v.last;
    if (!edge_seen) {
      if (!torn && v.first == now) continue;
      // The edge: a torn page from `now` to older, or the first older page.
      if (torn && (v.first != now || !Precedes(v.last, now))) {
        problem(i, "torn between codes " + std::to_string(v.first) + " and " +
                       std::to_string(v.last) + " at the edge of sweep " + std::to_string(now));
        continue;
      }
      if (!torn && !Precedes(v.first, now)) {
        problem(i, "code " + std::to_string(v.first) + " where sweep " + std::to_string(now) +
                       " or the one before it belongs");
        continue;
      }
      edge_seen = true;
      before = torn ? v.last : v.first;
      continue;
    }
    if (torn || v.first != *before) {
      problem(i, "code " + std::to_string(v.first) + (torn ? " (torn)" : "") + " after the edge, where " +
                     std::to_string(*before) + " belongs: a second edge (lost or stale page)");
    }
  }
  // The rest of the data region still holds the fill.
  for (uint64_t i = wss; i < pages; i++) {
    const uint8_t* page = data.data() + i * VC_GUEST_PAGE_SIZE;
    PageView v = View(page, static_cast<uint32_t>(i));
    r.pages_checked++;
    if (!v.problem.empty()) {
      problem(i, v.problem);
    } else if (v.first != 0 || v.last != 0) {
      problem(i, "outside the working set but not the fill (code " + std::to_string(v.first) + ")");
    }
  }
  return r;
}

}  // namespace vc::testing
