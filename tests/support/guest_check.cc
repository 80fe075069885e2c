#include "tests/support/guest_check.h"

#include <cstring>

namespace vc::testing {
namespace {

uint32_t Word(uint32_t code, uint32_t index) { return (code << VC_GUEST_INDEX_BITS) | index; }

}  // namespace

GuestCheckReport CheckGuestMemory(const vc_guest_status& st, std::span<const uint8_t> data) {
  GuestCheckReport r;
  const uint32_t words_per_page = VC_GUEST_PAGE_SIZE / 4;
  const uint32_t wss = st.wss_pages ? st.wss_pages : 1;
  const uint32_t sweep = st.cursor / wss + 1;
  const uint32_t pos = st.cursor % wss;
  const uint32_t now_code = vc_guest_sweep_code(sweep);
  const uint32_t before_code = vc_guest_sweep_code(sweep - 1);
  auto problem = [&](uint32_t page, const std::string& what) {
    r.bad_pages++;
    if (r.bad_pages <= 5) r.first_problems += "page " + std::to_string(page) + ": " + what + "; ";
  };
  uint64_t pages = data.size() / VC_GUEST_PAGE_SIZE;
  if (pages < st.data_pages) {
    problem(static_cast<uint32_t>(pages), "dump holds only " + std::to_string(pages) + " pages of " +
                                              std::to_string(st.data_pages));
  }
  if (pages > st.data_pages) pages = st.data_pages;
  for (uint32_t i = 0; i < pages; i++) {
    const uint8_t* page = data.data() + static_cast<size_t>(i) * VC_GUEST_PAGE_SIZE;
    uint32_t first;
    std::memcpy(&first, page, 4);
    uint32_t expect = i >= st.wss_pages ? Word(0, i)
                      : i < pos        ? Word(now_code, i)
                                       : Word(before_code, i);
    // The page being written when the guest stopped: a prefix of new words.
    uint32_t newer = Word(now_code, i);
    bool torn_ok = i == pos && i < st.wss_pages;
    bool in_prefix = torn_ok;
    for (uint32_t w = 0; w < words_per_page; w++) {
      uint32_t v;
      std::memcpy(&v, page + w * 4, 4);
      if (in_prefix && v == newer) continue;
      in_prefix = false;
      if (v != expect) {
        char buf[160];
        std::snprintf(buf, sizeof buf, "word %u is 0x%08x, expected 0x%08x (first word 0x%08x)", w, v,
                      expect, first);
        problem(i, buf);
        break;
      }
    }
    r.pages_checked++;
  }
  return r;
}

}  // namespace vc::testing
