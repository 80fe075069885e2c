// DirtyRateSampling on its own: which QMP commands it sends as a migration
// goes on, with QEMU's replies given here.
#include "src/backend/dirty_rate_sampling.h"

#include <gtest/gtest.h>

#include <string>
#include <tuple>
#include <vector>

namespace vc {
namespace {

struct FakeQemu {
  std::vector<std::string> sent;
  std::string dirty_status = "measuring";
  Result<Json> operator()(std::string_view command, const Json&) {
    sent.emplace_back(command);
    if (command == "query-dirty-rate") {
      return Json::Object().Set("status", Json::String(dirty_status)).Set("dirty-rate", Json::Int(40));
    }
    return Json::Object();
  }
};

MigrationSample At(const std::string& status, uint64_t pass, int64_t t_ms) {
  MigrationSample s;
  s.status = status;
  s.pass = pass;
  s.total_time_ms = t_ms;
  return s;
}

double Feed(DirtyRateSampling& sampling, FakeQemu& qemu, MigrationSample s) {
  sampling.Update(&s, [&](std::string_view c, const Json& a) { return qemu(c, a); });
  return s.sampled_dirty_rate;
}

TEST(DirtyRateSampling, MeasuresOnceInTheBulkPassAndKeepsTheRate) {
  DirtyRateSampling sampling;
  FakeQemu qemu;
  EXPECT_EQ(Feed(sampling, qemu, At("setup", 0, 0)), 0);
  EXPECT_TRUE(qemu.sent.empty());
  // At the bulk pass's first sample.
  EXPECT_EQ(Feed(sampling, qemu, At("active", 1, 20)), 0);
  EXPECT_EQ(qemu.sent, std::vector<std::string>{"calc-dirty-rate"});
  EXPECT_EQ(Feed(sampling, qemu, At("active", 1, 1600)), 0);
  qemu.dirty_status = "measured";
  EXPECT_EQ(Feed(sampling, qemu, At("active", 1, 2600)), 40.0 * (1 << 20));
  EXPECT_EQ(Feed(sampling, qemu, At("active", 2, 3600)), 40.0 * (1 << 20));
  EXPECT_EQ(qemu.sent, (std::vector<std::string>{"calc-dirty-rate", "query-dirty-rate", "query-dirty-rate"}));
  // A new migration samples anew.
  EXPECT_EQ(Feed(sampling, qemu, At("setup", 0, 0)), 0);
  Feed(sampling, qemu, At("active", 1, 30));
  EXPECT_EQ(qemu.sent.back(), "calc-dirty-rate");
}

// Once the migration is past "active" (post-copy, the switch-over, its end,
// a VM libvirt no longer has) nothing more is asked, measured or not.
TEST(DirtyRateSampling, AsksNothingOncePastActive) {
  for (const std::string status : {"postcopy-active", "device", "completed", "failed", "cancelled"}) {
    DirtyRateSampling sampling;
    FakeQemu qemu;
    Feed(sampling, qemu, At("active", 1, 600));
    ASSERT_EQ(qemu.sent.size(), 1u);
    EXPECT_EQ(Feed(sampling, qemu, At(status, 1, 1600)), 0) << status;
    Feed(sampling, qemu, At(status, 1, 2600));
    EXPECT_EQ(qemu.sent, std::vector<std::string>{"calc-dirty-rate"}) << status;
  }
}

// kPagesInAll pages in all where QEMU takes sample-pages, within its range;
// QEMU's default is never asked for by name, and older QEMUs get none.
TEST(DirtyRateSampling, SamplesEnoughPagesInASmallGuest) {
  constexpr uint64_t kGiB = 1ull << 30;
  EXPECT_EQ(DirtyRateSampling::PagesPerGiB(kGiB / 4), 4096);
  EXPECT_EQ(DirtyRateSampling::PagesPerGiB(kGiB), 4096);
  EXPECT_EQ(DirtyRateSampling::PagesPerGiB(4 * kGiB), 1024);
  EXPECT_EQ(DirtyRateSampling::PagesPerGiB(6 * kGiB), 683);
  EXPECT_EQ(DirtyRateSampling::PagesPerGiB(64 * kGiB), 512);
  EXPECT_EQ(DirtyRateSampling::PagesPerGiB(0), 512);
  for (const auto& [takes, ram, want] : {std::tuple{true, 4 * kGiB, std::string(R"({"calc-time":2,"sample-pages":1024})")},
                                         std::tuple{true, 64 * kGiB, std::string(R"({"calc-time":2})")},
                                         std::tuple{false, 4 * kGiB, std::string(R"({"calc-time":2})")}}) {
    DirtyRateSampling sampling;
    sampling.set_takes_sample_pages(takes);
    std::string sent;
    MigrationSample s = At("active", 1, 600);
    s.ram_total = ram;
    sampling.Update(&s, [&](std::string_view, const Json& a) -> Result<Json> {
      sent = a.Serialize();
      return Json::Object();
    });
    EXPECT_EQ(sent, want);
  }
}

}  // namespace
}  // namespace vc
