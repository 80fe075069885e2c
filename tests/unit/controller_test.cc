// The controller applies decisions through the plugins and keeps a record
// of each: what, why, and how long after the pass it took effect.
#include "src/control/controller.h"

#include <gtest/gtest.h>

#include "tests/support/fake_backend.h"
#include "tests/support/samples.h"

namespace vc {
namespace {

// QEMU answers a command only once it lets go of its lock, which it holds
// through a stop-and-copy: such a reply can come hundreds of milliseconds
// late. The record tells our part (until the command went) from QEMU's.
TEST(Controller, RecordsWhenTheCommandWentAndWhenQemuAnswered) {
  testing::FakeBackend backend;
  backend.facts.hypervisor = "QEMU 7.2.0";
  backend.facts.qemu_major = 7;
  backend.facts.qemu_minor = 2;
  backend.set_tuning_delay = std::chrono::milliseconds(60);
  Controller c(backend, backend.facts, nullptr, /*dry_run=*/false, [](const std::string&) {});
  // The sample came in 20 ms before the decision was applied.
  MigrationSample s = testing::ActiveSample(5000, 3, 1 << 20, 1ull << 30);
  s.at = Clock::now() - std::chrono::milliseconds(20);
  c.Impose(s, {"set-downtime", 500, "test"});
  ASSERT_EQ(c.actions().size(), 1u);
  const ActionRecord& a = c.actions()[0];
  EXPECT_EQ(a.result, "done");
  EXPECT_GE(a.latency_ms, 80);
  EXPECT_GE(a.sent_ms, 20) << "counted from the sample";
  EXPECT_LT(a.sent_ms, 50) << "nothing of ours waits between the sample and the command";
  EXPECT_LE(a.sent_ms + 60, a.latency_ms) << "QEMU's answer comes after the command went";
  EXPECT_EQ(backend.tuning.downtime_limit_ms, 500);
}

// QEMU sends no event in the bulk pass, and its first sync (and any
// switch-over inside the bulk) comes at the bulk's end: over its last two
// sampling intervals the sampling is every 100 ms.
TEST(Controller, SamplesEvery100MsOverTheBulkPassesLastStretch) {
  const uint64_t gib = 1ull << 30, mib = 1ull << 20;
  MigrationSample s = testing::ActiveSample(1000, 1, gib - 32 * mib, gib);
  s.bandwidth = 32.0 * mib;
  s.ram_visited = 32 * mib;
  EXPECT_EQ(NextSampleInMs(s, 1000), 1000) << "31 s of bulk left";
  s.ram_visited = gib - 64 * mib;
  EXPECT_EQ(NextSampleInMs(s, 1000), 100) << "2 s left";
  EXPECT_EQ(NextSampleInMs(s, 50), 50) << "a timer faster already";
  s.ram_visited = 0;
  EXPECT_EQ(NextSampleInMs(s, 1000), 1000) << "QEMU does not say what it visited";
  s.ram_visited = gib;
  s.pass = 2;
  EXPECT_EQ(NextSampleInMs(s, 1000), 1000) << "the bulk is done: passes send events";
  s.ram_visited = gib - mib;
  s.status = "postcopy-active";
  EXPECT_EQ(NextSampleInMs(s, 1000), 1000);
}

}  // namespace
}  // namespace vc
