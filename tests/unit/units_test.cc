#include "src/base/units.h"

#include <gtest/gtest.h>

namespace vc {
namespace {

TEST(Units, Bytes) {
  EXPECT_EQ(*ParseBytes("1536"), 1536u);
  EXPECT_EQ(*ParseBytes("64KiB"), 65536u);
  EXPECT_EQ(*ParseBytes("2M"), 2u << 20);
  EXPECT_EQ(*ParseBytes("1.5GiB"), 3u << 29);
  Status bad = ParseBytes("12 parsecs").status();
  EXPECT_EQ(bad.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(bad.message(), "size: '12 parsecs' has an unknown unit 'parsecs'");
  EXPECT_FALSE(ParseBytes("-1M").ok());
  EXPECT_FALSE(ParseBytes("").ok());
}

TEST(Units, Rates) {
  EXPECT_EQ(*ParseBytesPerSecond("32MiB/s"), 32u << 20);
  EXPECT_EQ(*ParseBytesPerSecond("1Gbit/s"), 125000000u);
  EXPECT_EQ(*ParseBytesPerSecond("100Mbit/s"), 12500000u);
  EXPECT_EQ(ParseBytesPerSecond("fast").status().message(), "rate: 'fast' is not a number");
}

TEST(Units, Durations) {
  EXPECT_EQ(*ParseMillis("500ms"), 500);
  EXPECT_EQ(*ParseMillis("2s"), 2000);
  EXPECT_EQ(*ParseMillis("1.5s"), 1500);
  EXPECT_EQ(*ParseMillis("3min"), 180000);
  EXPECT_EQ(*ParseMillis("250"), 250);
  EXPECT_FALSE(ParseMillis("2 fortnights").ok());
}

TEST(Units, Formatting) {
  EXPECT_EQ(FormatBytes(512), "512 B");
  EXPECT_EQ(FormatBytes(32.0 * 1024 * 1024), "32.0 MiB");
  EXPECT_EQ(FormatBytes(1.5 * 1024 * 1024 * 1024), "1.50 GiB");
  EXPECT_EQ(FormatRate(1024), "1.0 KiB/s");
  EXPECT_EQ(FormatMillis(850), "850 ms");
  EXPECT_EQ(FormatMillis(12345), "12.3 s");
  EXPECT_EQ(FormatMillis(245000), "4 min 5 s");
}

TEST(StatusTest, MessagesCarryContext) {
  Status s = Status::CommandFailed("migrate-start-postcopy", "GenericError", "no postcopy");
  EXPECT_EQ(s.ToString(), "Command failed (GenericError): migrate-start-postcopy: no postcopy");
  EXPECT_EQ(s.WithContext("attach").message(), "attach: migrate-start-postcopy: no postcopy");
  EXPECT_EQ(Status::IoError("open /x", 2).ToString(), "I/O error: open /x: No such file or directory");
  EXPECT_TRUE(Status::Ok().ok());
  Result<int> r = Status::Timeout("query", "late");
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kTimeout);
}

}  // namespace
}  // namespace vc
