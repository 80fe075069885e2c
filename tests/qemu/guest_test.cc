// The test guest itself, on real QEMU: it dirties at the chosen rate, its
// memory checks out while live and after a migration, and it runs under
// KVM as well as TCG.
#include <cstdio>
#include <memory>
#include <thread>

#include "tests/support/guest_pause_watch.h"

#include "tests/qemu/qemu_test_base.h"

namespace vc::testing {
namespace {

class GuestTest : public QemuTest {};

TEST_F(GuestTest, DirtiesAtTheChosenRateAndKeepsItsPattern) {
  TempDir dir("guest");
  GuestParams g;
  g.ram_mib = 128;
  g.wss = "8M";
  g.rate = "32M";
  auto vm = QemuVm::Start(dir, {"vm", g, false, "", "", ""});
  ASSERT_TRUE(vm.ok()) << vm.status().ToString();
  ASSERT_TRUE((*vm)->WaitSerial("vc-guest: ready", kGuestReadyTimeout).ok());
  auto a = (*vm)->GuestStatus();
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  auto t0 = Clock::now();
  std::this_thread::sleep_for(Millis(2000));
  auto b = (*vm)->GuestStatus();
  ASSERT_TRUE(b.ok());
  double secs = SecondsBetween(t0, Clock::now());
  double mib_s = (b->cursor - a->cursor) * 4096.0 / secs / (1024 * 1024);
  EXPECT_EQ(b->wss_pages, 2048u);
  EXPECT_EQ(b->rate_kib_s, 32u * 1024);
  EXPECT_NEAR(mib_s, 32.0, 8.0) << "measured " << mib_s << " MiB/s";
  Status check = (*vm)->StopAndCheckMemory();
  EXPECT_TRUE(check.ok()) << check.ToString();
}

// Issue 27, point 1: the guest's own view of the downtime. Its heartbeat
// stops on the source at the switch-over and goes on on the destination;
// the pause the host sees between the two covers QEMU's downtime figure
// (QEMU counts from the stop to the end of its copy; the guest also waits
// for the destination to start it). Before the migration it runs
// unharmed: about one beat per wall millisecond.
TEST_F(GuestTest, ItsHeartbeatShowsTheSwitchOverAsTheGuestLivesIt) {
  GuestParams g;
  g.ram_mib = 128;
  g.wss = "8M";
  g.rate = "4M";
  auto pair = MigrationPair::Start(g, "heartbeat");
  ASSERT_TRUE(pair.ok()) << pair.status().ToString();
  auto uri = (*pair)->ListenIncoming();
  ASSERT_TRUE(uri.ok()) << uri.status().ToString();
  QemuVm& src = (*pair)->src();
  QemuVm& dst = (*pair)->dst();
  auto watch = std::make_unique<GuestPauseWatch>(src.qmp(), dst.qmp());
  std::this_thread::sleep_for(Millis(1000));
  GuestPauseWatch::Report idle = watch->Stop();
  EXPECT_FALSE(idle.pause_ms.has_value());
  EXPECT_GT(idle.RunShare(), 0.5) << idle.beats << " beats in " << idle.wall_ms << " ms";
  EXPECT_LT(idle.RunShare(), 1.5) << idle.beats << " beats in " << idle.wall_ms << " ms";

  // Slow enough that the watch sees the source run for a while first.
  ASSERT_TRUE(src.qmp().Execute("migrate-set-parameters",
                                Json::Object().Set("max-bandwidth", Json::Uint(32ull << 20))).ok());
  ASSERT_TRUE(qmp::Migrate(src.qmp(), *uri).ok());
  watch = std::make_unique<GuestPauseWatch>(src.qmp(), dst.qmp());
  // The watch owns both sessions meanwhile: the end is its to see.
  for (int i = 0; i < 1200 && !watch->ResumedOnDestination(); i++) std::this_thread::sleep_for(Millis(100));
  std::this_thread::sleep_for(Millis(500));
  GuestPauseWatch::Report r = watch->Stop();
  ASSERT_TRUE(r.pause_ms.has_value()) << "the guest never ran on the destination";
  EXPECT_GT(r.RunShare(), 0.5) << r.beats << " beats in " << r.wall_ms << " ms";
  auto done = WaitMigrationStatus(src.qmp(), {"completed", "failed"}, Millis(30000));
  ASSERT_TRUE(done.ok() && done->status == "completed");
  ASSERT_TRUE(done->downtime.has_value());
  std::fprintf(stderr, "QEMU's downtime %lld ms, the guest's pause %.0f ms\n", static_cast<long long>(*done->downtime),
               *r.pause_ms);
  EXPECT_GE(*r.pause_ms + 10, static_cast<double>(*done->downtime));
  Status check = dst.StopAndCheckMemory();
  EXPECT_TRUE(check.ok()) << check.ToString();
}

TEST_F(GuestTest, ConvergingMigrationLeavesConsistentMemory) {
  GuestParams g;
  g.ram_mib = 128;
  g.wss = "8M";
  g.rate = "4M";
  auto pair = MigrationPair::Start(g, "consistent");
  ASSERT_TRUE(pair.ok()) << pair.status().ToString();
  auto uri = (*pair)->ListenIncoming();
  ASSERT_TRUE(uri.ok()) << uri.status().ToString();
  ASSERT_TRUE(qmp::Migrate((*pair)->src().qmp(), *uri).ok());
  auto done = WaitMigrationStatus((*pair)->src().qmp(), {"completed", "failed"}, Millis(120000));
  ASSERT_TRUE(done.ok()) << done.status().ToString();
  ASSERT_EQ(done->status, "completed");
  // The guest goes on running on the destination...
  QemuVm& dst = (*pair)->dst();
  ASSERT_TRUE(WaitMigrationStatus(dst.qmp(), {"completed"}, Millis(30000)).ok());
  auto a = dst.GuestStatus();
  std::this_thread::sleep_for(Millis(500));
  auto b = dst.GuestStatus();
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_GT(b->cursor, a->cursor) << "the guest does not run on the destination";
  // ...and no page was lost.
  Status check = dst.StopAndCheckMemory();
  EXPECT_TRUE(check.ok()) << check.ToString();
}

TEST_F(GuestTest, RunsAndMigratesUnderKvm) {
  std::string why;
  if (!KvmUsable(&why)) VC_SKIP_MISSING_CAPABILITY("KVM not usable here: " << why);
  GuestParams g;
  g.ram_mib = 64;
  g.fill = "16M";  // first touch is slow under KVM-PVM's emulator
  g.wss = "2M";
  g.rate = "1M";
  TempDir dir("kvm");
  auto src = QemuVm::Start(dir, {"src", g, false, "kvm", "", ""});
  ASSERT_TRUE(src.ok()) << src.status().ToString();
  auto dst = QemuVm::Start(dir, {"dst", g, true, "kvm", "", ""});
  ASSERT_TRUE(dst.ok()) << dst.status().ToString();
  ASSERT_TRUE((*src)->WaitSerial("vc-guest: ready", kGuestReadyTimeout).ok());
  ASSERT_TRUE(qmp::MigrateIncoming((*dst)->qmp(), "tcp:127.0.0.1:0").ok());
  auto info = qmp::QueryMigrate((*dst)->qmp());
  ASSERT_TRUE(info.ok() && info->socket_address && !info->socket_address->empty());
  ASSERT_TRUE(qmp::Migrate((*src)->qmp(), "tcp:127.0.0.1:" + info->socket_address->front().port).ok());
  auto done = WaitMigrationStatus((*src)->qmp(), {"completed", "failed"}, Millis(120000));
  ASSERT_TRUE(done.ok()) << done.status().ToString();
  EXPECT_EQ(done->status, "completed");
  ASSERT_TRUE(WaitMigrationStatus((*dst)->qmp(), {"completed"}, Millis(30000)).ok());
  Status check = (*dst)->StopAndCheckMemory();
  EXPECT_TRUE(check.ok()) << check.ToString();
}

}  // namespace
}  // namespace vc::testing
