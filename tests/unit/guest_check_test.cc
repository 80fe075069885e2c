// The guest memory check on synthetic images: it must accept every state a
// stopped guest can be in, and catch a lost, stale or misplaced page.
#include "tests/support/guest_check.h"

#include <gtest/gtest.h>

#include <cstring>
#include <vector>

namespace vc::testing {
namespace {

constexpr uint32_t kPages = 64, kWss = 16;

struct Image {
  vc_guest_status st{};
  std::vector<uint8_t> data = std::vector<uint8_t>(kPages * VC_GUEST_PAGE_SIZE);
  void Fill(uint32_t page, uint32_t code, uint32_t from_word = 0, uint32_t index = UINT32_MAX) {
    uint32_t w = (code << VC_GUEST_INDEX_BITS) | (index == UINT32_MAX ? page : index);
    for (uint32_t i = from_word; i < VC_GUEST_PAGE_SIZE / 4; i++) {
      std::memcpy(&data[page * VC_GUEST_PAGE_SIZE + i * 4], &w, 4);
    }
  }
  // The memory of a guest stopped after `cursor` page writes. The status
  // block's cursor is advisory (published now and then): the check must not
  // need it, so it is left at 0.
  explicit Image(uint32_t cursor) {
    st.magic = VC_GUEST_MAGIC;
    st.state = VC_GUEST_RUNNING;
    st.data_pages = kPages;
    st.wss_pages = kWss;
    for (uint32_t p = 0; p < kPages; p++) Fill(p, 0);
    for (uint32_t c = 0; c < cursor; c++) Fill(c % kWss, vc_guest_sweep_code(c / kWss + 1));
  }
  GuestCheckReport Check() const { return CheckGuestMemory(st, data); }
};

TEST(GuestCheck, AcceptsEveryStoppingPoint) {
  for (uint32_t cursor : {0u, 1u, 5u, 15u, 16u, 17u, 100u, 4095u * kWss + 3}) {
    Image img(cursor);
    GuestCheckReport r = img.Check();
    EXPECT_EQ(r.bad_pages, 0u) << "cursor " << cursor << ": " << r.first_problems;
    EXPECT_EQ(r.pages_checked, kPages);
  }
}

TEST(GuestCheck, AcceptsTheTornPageOnly) {
  Image img(21);  // page 5 is next, sweep 2
  img.Fill(5, vc_guest_sweep_code(2));
  img.Fill(5, vc_guest_sweep_code(1), 300);  // stopped 300 words into it
  EXPECT_EQ(img.Check().bad_pages, 0u) << img.Check().first_problems;
  Image first(16);  // torn at page 0 of sweep 2
  first.Fill(0, vc_guest_sweep_code(2));
  first.Fill(0, vc_guest_sweep_code(1), 7);
  EXPECT_EQ(first.Check().bad_pages, 0u) << first.Check().first_problems;
  img.Fill(6, vc_guest_sweep_code(2), 0);
  img.Fill(6, vc_guest_sweep_code(1), 10);  // a second torn page cannot be
  EXPECT_EQ(img.Check().bad_pages, 1u);
}

TEST(GuestCheck, CatchesLostStaleAndMisplacedPages) {
  Image lost(40);
  std::memset(&lost.data[3 * VC_GUEST_PAGE_SIZE], 0, VC_GUEST_PAGE_SIZE);  // never arrived
  EXPECT_GE(lost.Check().bad_pages, 1u);

  Image stale(40);  // page 2 still holds the previous sweep
  stale.Fill(2, vc_guest_sweep_code(2));
  // Without trusting the cursor, the stale page looks like the edge and the
  // pages after it like a second one: detected, attributed to the edge.
  GuestCheckReport r = stale.Check();
  EXPECT_GE(r.bad_pages, 1u);
  EXPECT_NE(r.first_problems.find("second edge"), std::string::npos) << r.first_problems;

  Image moved(40);  // a page's content landed at another address
  moved.Fill(30, 0, 0, 31);
  EXPECT_GE(moved.Check().bad_pages, 1u);

  Image half(40);  // a torn page far from the cursor
  half.Fill(40, 1, 512);
  EXPECT_GE(half.Check().bad_pages, 1u);
  Image two_sweeps(40);  // a page two sweeps old behind the edge
  two_sweeps.Fill(12, vc_guest_sweep_code(1));
  EXPECT_GE(two_sweeps.Check().bad_pages, 1u);
}

TEST(GuestCheck, ShortDumpIsAProblem) {
  Image img(3);
  img.data.resize(10 * VC_GUEST_PAGE_SIZE);
  EXPECT_GE(img.Check().bad_pages, 1u);
}

}  // namespace
}  // namespace vc::testing
