// Typed QMP commands for live migration, on top of Session.
//
// query-migrate is parsed tolerantly: every field QEMU 7.2 reports has a
// member; a member is nullopt when QEMU did not send it (older or newer
// QEMUs add and drop fields), and fields we do not know are ignored.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "qmp/session.h"

namespace vc::qmp {

/// MigrationStats: used for both "ram" and (QEMU < 9.1) "disk".
struct MigrationStats {
  std::optional<uint64_t> transferred, remaining, total, duplicate, skipped, normal, normal_bytes,
      dirty_pages_rate, dirty_sync_count, postcopy_requests, page_size, multifd_bytes,
      pages_per_second, precopy_bytes, downtime_bytes, postcopy_bytes,
      dirty_sync_missed_zero_copy;
  std::optional<double> mbps;
};

struct XbzrleCacheStats {
  std::optional<uint64_t> cache_size, bytes, pages, cache_miss, overflow;
  std::optional<double> cache_miss_rate, encoding_rate;
};

struct CompressionStats {  // the old "compress" capability, removed in 9.1
  std::optional<uint64_t> pages, busy, compressed_size;
  std::optional<double> busy_rate, compression_rate;
};

struct SocketAddress {
  std::string type;  // "inet", "unix", "vsock", "fd"
  std::string host, port, path;
};

struct MigrationInfo {
  std::optional<std::string> status;  // absent before any migration (7.2 says nothing)
  std::optional<MigrationStats> ram, disk;
  std::optional<XbzrleCacheStats> xbzrle_cache;
  std::optional<CompressionStats> compression;
  std::optional<int64_t> total_time, expected_downtime, downtime, setup_time;
  std::optional<int64_t> cpu_throttle_percentage;
  std::optional<std::string> error_desc;
  std::optional<std::vector<std::string>> blocked_reasons;
  std::optional<int64_t> postcopy_blocktime;
  std::optional<std::vector<int64_t>> postcopy_vcpu_blocktime;
  std::optional<std::vector<SocketAddress>> socket_address;
  std::optional<uint64_t> vfio_transferred;
  std::optional<uint64_t> dirty_limit_throttle_time_per_round, dirty_limit_ring_full_time;  // 8.1
};

/// Parses a query-migrate "return" value.
MigrationInfo ParseMigrationInfo(const Json& info);

/// The parameters of migrate-set-parameters / query-migrate-parameters that
/// virt-converge reasons about, by their QEMU names; anything else QEMU
/// reports is kept in \a others (raw JSON), so nothing is lost.
struct MigrationParameters {
  std::optional<int64_t> downtime_limit;        // ms
  std::optional<int64_t> max_bandwidth;         // bytes/s
  std::optional<int64_t> max_postcopy_bandwidth;
  std::optional<int64_t> avail_switchover_bandwidth;  // 8.2
  std::optional<int64_t> cpu_throttle_initial, cpu_throttle_increment, max_cpu_throttle;
  std::optional<bool> cpu_throttle_tailslow;
  std::optional<int64_t> throttle_trigger_threshold;
  std::optional<int64_t> xbzrle_cache_size;
  std::optional<int64_t> multifd_channels;
  std::optional<std::string> multifd_compression;
  std::optional<int64_t> multifd_zlib_level, multifd_zstd_level;
  std::optional<int64_t> compress_level, compress_threads, decompress_threads;
  std::optional<int64_t> vcpu_dirty_limit;  // 8.1, MB/s
  std::map<std::string, Json> others;

  /// The set members as a migrate-set-parameters argument object.
  Json ToJson() const;
};

MigrationParameters ParseMigrationParameters(const Json& params);

Result<MigrationInfo> QueryMigrate(Session& s);
Result<MigrationParameters> QueryMigrateParameters(Session& s);
/// Sends only the members that are set.
Status MigrateSetParameters(Session& s, const MigrationParameters& changes);
/// Capability name -> state, as QEMU lists them.
Result<std::map<std::string, bool>> QueryMigrateCapabilities(Session& s);
/// query-migrate-capabilities' return member, however it came.
std::map<std::string, bool> ParseMigrateCapabilities(const Json& ret);
/// QEMU refuses this while a migration runs.
Status MigrateSetCapabilities(Session& s, const std::map<std::string, bool>& caps);
Status Migrate(Session& s, const std::string& uri, bool resume = false);
Status MigrateIncoming(Session& s, const std::string& uri);
/// Destination of a post-copy whose connection broke: listen at \a uri
/// for the source's `migrate resume=true`.
Status MigrateRecover(Session& s, const std::string& uri);
/// Breaks a post-copy migration's connection on purpose (postcopy-paused).
Status MigratePause(Session& s);
Status MigrateCancel(Session& s);
Status MigrateStartPostcopy(Session& s);
Status Stop(Session& s);
Status Cont(Session& s);

/// One entry of query-block-jobs (a drive-mirror of a storage migration, a
/// backup, ...).
struct BlockJob {
  std::string device;  // the job's id (libvirt: "drive-virtio-disk0", or a node name)
  std::string type;    // "mirror", "commit", "stream", "backup"
  uint64_t offset = 0, len = 0;
  bool ready = false;  // mirror: synchronised; only new writes follow
};
Result<std::vector<BlockJob>> QueryBlockJobs(Session& s);

/// calc-dirty-rate (QEMU 5.2+) in its default page-sampling mode: hashes
/// sampled pages now and after \a seconds (1..60), independent of any
/// migration's dirty logging. Read the result with QueryDirtyRate.
Status CalcDirtyRate(Session& s, int seconds);
/// query-dirty-rate: the last calc-dirty-rate's state.
struct DirtyRateInfo {
  std::string status;     // "unstarted", "measuring", "measured"
  int64_t mib_per_s = -1;  // QEMU's "dirty-rate" (MiB/s, whatever its docs say); -1 until measured
};
Result<DirtyRateInfo> QueryDirtyRate(Session& s);
/// query-dirty-rate's return member, however it came (a session, libvirt's
/// QMP passthrough).
DirtyRateInfo ParseDirtyRateInfo(const Json& ret);

struct RunState {
  bool running = false;
  std::string status;  // "running", "paused", "postmigrate", "inmigrate", ...
};
Result<RunState> QueryStatus(Session& s);
Result<QemuVersion> QueryVersion(Session& s);

/// Migration statuses (QAPI MigrationStatus) in which a migration is under
/// way, as opposed to none/completed/failed/cancelled.
bool IsMigrationRunning(const std::string& status);
bool IsMigrationFinished(const std::string& status);

}  // namespace vc::qmp
