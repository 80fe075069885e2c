// Typed parsing of query-migrate and the parameters: tolerant of fields that
// later QEMUs add or drop.
#include "qmp/commands.h"

#include <gtest/gtest.h>

namespace vc::qmp {
namespace {

Json Parse(const char* text) {
  auto j = Json::Parse(text);
  EXPECT_TRUE(j.ok()) << j.status().ToString();
  return *j;
}

TEST(MigrationInfo, EveryQemu72Field) {
  MigrationInfo i = ParseMigrationInfo(Parse(R"({
    "status": "active", "total-time": 5123, "setup-time": 4, "expected-downtime": 1021,
    "cpu-throttle-percentage": 30, "error-desc": "x", "postcopy-blocktime": 7,
    "postcopy-vcpu-blocktime": [1, 2], "blocked-reasons": ["vfio"],
    "socket-address": [{"type": "inet", "host": "127.0.0.1", "port": "4444"}],
    "vfio": {"transferred": 9},
    "ram": {"transferred": 1, "remaining": 2, "total": 3, "duplicate": 4, "skipped": 5,
            "normal": 6, "normal-bytes": 7, "dirty-pages-rate": 8, "mbps": 268.5,
            "dirty-sync-count": 9, "postcopy-requests": 10, "page-size": 4096,
            "multifd-bytes": 11, "pages-per-second": 12, "precopy-bytes": 13,
            "downtime-bytes": 14, "postcopy-bytes": 15, "dirty-sync-missed-zero-copy": 16},
    "disk": {"transferred": 100, "remaining": 200, "total": 300},
    "xbzrle-cache": {"cache-size": 67108864, "bytes": 1, "pages": 2, "cache-miss": 3,
                     "cache-miss-rate": 0.5, "encoding-rate": 2.5, "overflow": 4},
    "compression": {"pages": 1, "busy": 2, "busy-rate": 0.1, "compressed-size": 3,
                    "compression-rate": 1.5}
  })"));
  EXPECT_EQ(i.status, "active");
  EXPECT_EQ(i.total_time, 5123);
  EXPECT_EQ(i.setup_time, 4);
  EXPECT_EQ(i.expected_downtime, 1021);
  EXPECT_EQ(i.cpu_throttle_percentage, 30);
  EXPECT_EQ(i.error_desc, "x");
  EXPECT_EQ(i.postcopy_blocktime, 7);
  EXPECT_EQ(i.postcopy_vcpu_blocktime->size(), 2u);
  EXPECT_EQ(i.blocked_reasons->at(0), "vfio");
  EXPECT_EQ(i.socket_address->at(0).port, "4444");
  EXPECT_EQ(i.vfio_transferred, 9u);
  ASSERT_TRUE(i.ram);
  EXPECT_EQ(i.ram->transferred, 1u);
  EXPECT_EQ(i.ram->remaining, 2u);
  EXPECT_EQ(i.ram->skipped, 5u);
  EXPECT_EQ(i.ram->normal_bytes, 7u);
  EXPECT_EQ(i.ram->dirty_pages_rate, 8u);
  EXPECT_DOUBLE_EQ(*i.ram->mbps, 268.5);
  EXPECT_EQ(i.ram->dirty_sync_count, 9u);
  EXPECT_EQ(i.ram->postcopy_requests, 10u);
  EXPECT_EQ(i.ram->page_size, 4096u);
  EXPECT_EQ(i.ram->multifd_bytes, 11u);
  EXPECT_EQ(i.ram->pages_per_second, 12u);
  EXPECT_EQ(i.ram->precopy_bytes, 13u);
  EXPECT_EQ(i.ram->downtime_bytes, 14u);
  EXPECT_EQ(i.ram->postcopy_bytes, 15u);
  EXPECT_EQ(i.ram->dirty_sync_missed_zero_copy, 16u);
  EXPECT_EQ(i.disk->total, 300u);
  EXPECT_EQ(i.xbzrle_cache->cache_size, 67108864u);
  EXPECT_DOUBLE_EQ(*i.xbzrle_cache->encoding_rate, 2.5);
  EXPECT_EQ(i.xbzrle_cache->overflow, 4u);
  EXPECT_EQ(i.compression->compressed_size, 3u);
}

TEST(MigrationInfo, ToleratesLaterQemus) {
  // 9.1 dropped "disk", "compression" and ram.skipped; 8.1 added the
  // dirty-limit fields; an unknown future field must be ignored.
  MigrationInfo i = ParseMigrationInfo(Parse(R"({
    "status": "postcopy-recover-setup", "total-time": 1,
    "dirty-limit-throttle-time-per-round": 250, "dirty-limit-ring-full-time": 1000,
    "some-future-field": {"nested": [1, 2, 3]},
    "ram": {"transferred": 10, "remaining": 20, "total": 30, "mbps": 1,
            "another-future-counter": 5}
  })"));
  EXPECT_EQ(i.status, "postcopy-recover-setup");
  EXPECT_EQ(i.dirty_limit_throttle_time_per_round, 250u);
  EXPECT_EQ(i.dirty_limit_ring_full_time, 1000u);
  EXPECT_FALSE(i.disk);
  EXPECT_FALSE(i.compression);
  EXPECT_FALSE(i.ram->skipped);
  EXPECT_FALSE(i.ram->dirty_sync_count);
  EXPECT_EQ(i.ram->remaining, 20u);
  EXPECT_FALSE(i.expected_downtime);
}

TEST(MigrationInfo, WrongTypesBecomeAbsentNotCrashes) {
  MigrationInfo i = ParseMigrationInfo(Parse(R"({"status": 7, "total-time": "soon",
    "ram": {"remaining": -5, "total": [1]}, "blocked-reasons": "none"})"));
  EXPECT_FALSE(i.status);
  EXPECT_FALSE(i.total_time);
  EXPECT_FALSE(i.ram->remaining);
  EXPECT_FALSE(i.ram->total);
  EXPECT_TRUE(i.blocked_reasons->empty());
}

TEST(MigrationParameters, RoundTripSendsOnlyWhatIsSet) {
  MigrationParameters p;
  p.downtime_limit = 600;
  p.cpu_throttle_tailslow = true;
  p.multifd_compression = "zstd";
  EXPECT_EQ(p.ToJson().Serialize(),
            R"({"downtime-limit":600,"cpu-throttle-tailslow":true,"multifd-compression":"zstd"})");
  MigrationParameters back = ParseMigrationParameters(p.ToJson());
  EXPECT_EQ(back.downtime_limit, 600);
  EXPECT_EQ(back.cpu_throttle_tailslow, true);
  EXPECT_FALSE(back.max_bandwidth);
}

TEST(MigrationStatus, RunningAndFinished) {
  for (const char* s : {"setup", "active", "postcopy-active", "postcopy-paused", "pre-switchover",
                        "device", "cancelling", "wait-unplug"}) {
    EXPECT_TRUE(IsMigrationRunning(s)) << s;
  }
  for (const char* s : {"completed", "failed", "cancelled"}) {
    EXPECT_TRUE(IsMigrationFinished(s)) << s;
    EXPECT_FALSE(IsMigrationRunning(s)) << s;
  }
  EXPECT_FALSE(IsMigrationRunning("none"));
  EXPECT_FALSE(IsMigrationRunning(""));
}

TEST(Json, StreamParserSplitsAndBounds) {
  JsonStreamParser p(64);
  std::vector<Json> out;
  ASSERT_TRUE(p.Feed("{\"a\":1}\r\n{\"b\"", &out).ok());
  EXPECT_EQ(out.size(), 1u);
  EXPECT_TRUE(p.InDocument());
  ASSERT_TRUE(p.Feed(":2}\r\n", &out).ok());
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[1].GetInt("b"), 2);
  EXPECT_FALSE(p.InDocument());
  Status big = p.Feed("{\"x\":\"" + std::string(100, 'y') + "\"}", &out);
  EXPECT_EQ(big.code(), StatusCode::kProtocolError);
  EXPECT_NE(big.message().find("64 bytes"), std::string::npos) << big.ToString();
}

}  // namespace
}  // namespace vc::qmp
