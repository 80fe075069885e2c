// What the host remembers of its final copies: per destination host, the
// recent ones, tolerant of a file it did not write.
#include "src/state/switchover_memory.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <optional>
#include <string>

#include "tests/support/temp_dir.h"

namespace vc {
namespace {

constexpr int64_t kNow = 1'800'000'000;

TEST(SwitchoverMemory, KeysAreTheDestinationHost) {
  EXPECT_EQ(SwitchoverMemory::KeyOf("tcp:10.0.0.2:49152"), "10.0.0.2");
  EXPECT_EQ(SwitchoverMemory::KeyOf("tcp://b.example.org:49152"), "b.example.org");
  EXPECT_EQ(SwitchoverMemory::KeyOf("qemu+ssh://root@b/system"), "b");
  EXPECT_EQ(SwitchoverMemory::KeyOf("qemu+tcp://[fd00::2]:16509/system"), "fd00__2");
  EXPECT_EQ(SwitchoverMemory::KeyOf("rdma:192.168.1.2:4444"), "192.168.1.2");
  EXPECT_EQ(SwitchoverMemory::KeyOf("unix:/run/dst.sock"), "local");
  EXPECT_EQ(SwitchoverMemory::KeyOf(""), "unknown-destination");
  EXPECT_EQ(SwitchoverMemory::KeyOf("tcp://../x"), "unknown-destination");
}

TEST(SwitchoverMemory, RecallsTheRecentCopies) {
  testing::TempDir state("switchover");
  SwitchoverMemory memory(StatePaths("", state.path()));
  EXPECT_FALSE(memory.Recall("b", kNow));
  // 8 MiB in 32 ms, then 64 MiB in 100 ms, then one of two months ago,
  // which no longer counts.
  ASSERT_TRUE(memory.Remember("b", {kNow - 100, {8u << 20, 32}}).ok());
  ASSERT_TRUE(memory.Remember("b", {kNow - 50, {64u << 20, 100}}).ok());
  ASSERT_TRUE(memory.Remember("b", {kNow - 60 * 24 * 3600, {64u << 20, 10}}).ok());
  std::optional<LearnedSwitchover> learned = memory.Recall("b", kNow);
  ASSERT_TRUE(learned);
  ASSERT_EQ(learned->copies.size(), 2u);
  EXPECT_EQ(learned->copies[0].bytes, 8u << 20);
  EXPECT_EQ(learned->copies[0].downtime_ms, 32);
  EXPECT_DOUBLE_EQ(learned->copies[1].rate(), 640.0 * (1 << 20));
  EXPECT_EQ(learned->path, state.path() + "/switchover/b");
  EXPECT_FALSE(memory.Recall("c", kNow)) << "another destination has learned nothing";
}

TEST(SwitchoverMemory, KeepsTheLastEightAndSkipsWhatMeansNothing) {
  testing::TempDir state("switchover");
  SwitchoverMemory memory(StatePaths("", state.path()));
  // Too small for more than fixed costs, too short for QEMU's whole-ms
  // clock: not kept.
  ASSERT_TRUE(memory.Remember("b", {kNow, {512u << 10, 50}}).ok());
  ASSERT_TRUE(memory.Remember("b", {kNow, {64u << 20, 1}}).ok());
  EXPECT_FALSE(memory.Recall("b", kNow));
  // The oldest first, then eight more: it falls out.
  ASSERT_TRUE(memory.Remember("b", {kNow, {800u << 20, 100}}).ok());
  for (int i = 0; i < 8; i++) ASSERT_TRUE(memory.Remember("b", {kNow, {100u << 20, 100}}).ok());
  std::optional<LearnedSwitchover> learned = memory.Recall("b", kNow);
  ASSERT_TRUE(learned);
  ASSERT_EQ(learned->copies.size(), static_cast<size_t>(SwitchoverMemory::kKeep));
  for (const SwitchoverCopy& c : learned->copies) EXPECT_EQ(c.bytes, 100u << 20);
}

TEST(SwitchoverMemory, SkipsLinesItCannotRead) {
  testing::TempDir state("switchover");
  std::filesystem::create_directories(state.path() + "/switchover");
  std::ofstream(state.path() + "/switchover/b") << "garbage\n"
                                                 << kNow << " 67108864 100\n"
                                                 << kNow << " -5 100\n"
                                                 << kNow << " 67108864 0\n"
                                                 << kNow << " 671088";  // torn
  std::optional<LearnedSwitchover> learned = SwitchoverMemory(StatePaths("", state.path())).Recall("b", kNow);
  ASSERT_TRUE(learned);
  ASSERT_EQ(learned->copies.size(), 1u);
  EXPECT_DOUBLE_EQ(learned->copies[0].rate(), 640.0 * (1 << 20));
}

// How much of a copy QEMU had never sent before is kept when known; a file
// written before that field existed, or with it out of range, says unknown.
TEST(SwitchoverMemory, KeepsHowMuchOfACopyWasNeverSentBefore) {
  testing::TempDir state("switchover");
  SwitchoverMemory memory(StatePaths("", state.path()));
  SwitchoverObservation bulk{kNow, {393u << 20, 997}};
  bulk.copy.never_sent = 362u << 20;
  ASSERT_TRUE(memory.Remember("b", bulk).ok());
  ASSERT_TRUE(memory.Remember("b", {kNow, {125u << 20, 52}}).ok());
  std::ofstream(state.path() + "/switchover/b", std::ios::app) << kNow << " 67108864 100 67108865\n"
                                                               << kNow << " 67108864 100 -1\n";
  std::optional<LearnedSwitchover> learned = memory.Recall("b", kNow);
  ASSERT_TRUE(learned);
  ASSERT_EQ(learned->copies.size(), 4u);
  EXPECT_EQ(learned->copies[0].never_sent, std::optional<uint64_t>(362u << 20));
  EXPECT_FALSE(learned->copies[1].never_sent);
  EXPECT_FALSE(learned->copies[2].never_sent) << "more than the copy: unknown";
  EXPECT_FALSE(learned->copies[3].never_sent);
  // Rewritten with the next one, each line as it was read.
  ASSERT_TRUE(memory.Remember("b", {kNow, {8u << 20, 20}}).ok());
  std::ifstream in(state.path() + "/switchover/b");
  std::string first;
  std::getline(in, first);
  EXPECT_EQ(first, std::to_string(kNow) + " " + std::to_string(393u << 20) + " 997 " + std::to_string(362u << 20));
}

TEST(SwitchoverMemory, AnUnwritableStateDirIsAnErrorNotACrash) {
  testing::TempDir state("switchover");
  std::ofstream(state.path() + "/switchover") << "a file where the directory goes\n";
  Status st = SwitchoverMemory(StatePaths("", state.path())).Remember("b", {kNow, {64u << 20, 100}});
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.ToString().find(state.path() + "/switchover"), std::string::npos) << st.ToString();
}

}  // namespace
}  // namespace vc
