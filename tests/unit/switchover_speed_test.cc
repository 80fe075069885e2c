// How long a final copy takes, stated or learned from earlier ones. The
// learned cases are the benchmark's own loopback copies (docs/benchmarks.md,
// the 1 GiB run): each prediction must not come out shorter than what the
// copy really took.
#include "src/control/switchover_speed.h"

#include <gtest/gtest.h>

#include <cmath>

namespace vc {
namespace {

constexpr double kMiB = 1 << 20;

// Final copies the 1 GiB benchmark run recorded, in the order they came.
const SwitchoverCopy kSmall{39944192, 19};        // 38 MiB at 2.1 GB/s
const SwitchoverCopy kLarge1{848642048, 1066};    // 809 MiB at 0.80 GB/s
const SwitchoverCopy kLarge2{848642048, 1154};    // the same at 0.74 GB/s
const SwitchoverCopy kMiddle{315170816, 793};     // 301 MiB at 0.40 GB/s

TEST(SwitchoverSpeed, UnknownPredictsNothing) {
  SwitchoverSpeed s;
  EXPECT_FALSE(s.known());
  EXPECT_EQ(s.TimeMs(100 * kMiB), 0);
  EXPECT_EQ(s.RateFor(100 * kMiB), 0);
  EXPECT_EQ(s.BytesWithin(1000), 0);
  EXPECT_FALSE(SwitchoverSpeed::Learned({{0, 10}, {kSmall.bytes, 0}}).known()) << "nothing to learn from";
  EXPECT_EQ(s.Describe(), "unknown");
}

TEST(SwitchoverSpeed, StatedIsOneRateForEverySize) {
  SwitchoverSpeed s = SwitchoverSpeed::Stated(1024 * kMiB);
  EXPECT_TRUE(s.known());
  EXPECT_FALSE(s.learned());
  EXPECT_DOUBLE_EQ(s.TimeMs(64 * kMiB), 62.5);
  EXPECT_DOUBLE_EQ(s.RateFor(1), 1024 * kMiB);
  EXPECT_DOUBLE_EQ(s.BytesWithin(2000), 2048 * kMiB);
  EXPECT_EQ(s.Describe(), "1.00 GiB/s stated");
}

// The rule the adaptive mode used before: half the fastest copy, 1.05 GB/s
// from the 38 MiB one. That put the 809 MiB copies at 0.8 s (they took
// 1.07 and 1.15 s) and the 301 MiB one at 0.3 s (it took 0.79 s).
TEST(SwitchoverSpeed, ALargerCopyThanAnySeenIsTrustedLessTheLargerItIs) {
  SwitchoverSpeed s = SwitchoverSpeed::Learned({kSmall});
  EXPECT_EQ(s.Describe(), "learned from 1 final copy of 38.1 MiB");
  // Within four times its size: half its speed.
  EXPECT_NEAR(s.TimeMs(static_cast<double>(kSmall.bytes) * 2), 76, 1e-6);
  // Beyond: that, times sqrt(its size / this size).
  for (const SwitchoverCopy& c : {kMiddle, kLarge1, kLarge2}) {
    const double b = static_cast<double>(c.bytes);
    EXPECT_NEAR(s.TimeMs(b), 2 * 19 * (b / kSmall.bytes) * std::sqrt(b / kSmall.bytes), 1e-6);
    EXPECT_GE(s.TimeMs(b), c.downtime_ms) << c.bytes;
  }
}

TEST(SwitchoverSpeed, ACopyIsPredictedByCopiesLikeItOrLarger) {
  // After the first large copy: the next one like it.
  SwitchoverSpeed after_one = SwitchoverSpeed::Learned({kSmall, kLarge1});
  EXPECT_GE(after_one.TimeMs(static_cast<double>(kLarge2.bytes)), kLarge2.downtime_ms);
  // After both: the middle one, which no size-blind figure got right.
  SwitchoverSpeed after_two = SwitchoverSpeed::Learned({kSmall, kLarge1, kLarge2});
  EXPECT_EQ(after_two.Describe(), "learned from 3 final copies of 38.1 MiB to 809.3 MiB");
  EXPECT_GE(after_two.TimeMs(static_cast<double>(kMiddle.bytes)), kMiddle.downtime_ms);
  EXPECT_NEAR(after_two.TimeMs(static_cast<double>(kMiddle.bytes)), 2 * 1154 * 315170816.0 / 848642048, 1e-6)
      << "half the slower 809 MiB copy";
  // And once the middle one is known, its own size is predicted by it.
  SwitchoverSpeed all = SwitchoverSpeed::Learned({kSmall, kLarge1, kLarge2, kMiddle});
  EXPECT_NEAR(all.TimeMs(static_cast<double>(kMiddle.bytes)), 2 * 793, 1e-6);
}

// A small copy is mostly fixed costs (stopping and restarting the guest):
// slow per byte. It counts for sizes up to four times its own, no further.
TEST(SwitchoverSpeed, ASmallSlowCopyDoesNotSlowAMuchLargerOne) {
  SwitchoverSpeed s = SwitchoverSpeed::Learned({{8u << 20, 32}, {256u << 20, 200}});
  EXPECT_NEAR(s.TimeMs(200 * kMiB), 2 * 200 * 200 / 256.0, 1e-6) << "half the 256 MiB copy's speed";
  EXPECT_NEAR(s.TimeMs(16 * kMiB), 2 * 32 * 2, 1e-6) << "half the 8 MiB copy's speed";
}

TEST(SwitchoverSpeed, TimeNeverFallsAsTheSizeGrowsAndBytesWithinInvertsIt) {
  SwitchoverSpeed s = SwitchoverSpeed::Learned({{8u << 20, 32}, kSmall, kMiddle, kLarge1, kLarge2});
  double last = 0;
  for (double b = 1 * kMiB; b < 8 * 1024 * kMiB; b *= 1.01) {
    const double ms = s.TimeMs(b);
    ASSERT_GE(ms, last) << b;
    last = ms;
  }
  for (double ms : {10.0, 100.0, 300.0, 1000.0, 2000.0, 5000.0}) {
    const double b = s.BytesWithin(ms);
    EXPECT_LE(s.TimeMs(b), ms) << ms;
    EXPECT_GT(s.TimeMs(b + 2), ms) << ms;
  }
}

}  // namespace
}  // namespace vc
