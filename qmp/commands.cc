#include "qmp/commands.h"

#include <array>
#include <string_view>

namespace vc::qmp {
namespace {

template <typename S, typename T>
struct Field {
  std::string_view name;
  std::optional<T> S::*member;
};

template <typename S, typename T, size_t N>
void ReadFields(const Json& obj, S* out, const std::array<Field<S, T>, N>& fields) {
  for (const auto& f : fields) {
    std::optional<Json> v = obj.Get(f.name);
    if (!v) continue;
    if constexpr (std::is_same_v<T, uint64_t>) out->*f.member = v->AsUint();
    if constexpr (std::is_same_v<T, int64_t>) out->*f.member = v->AsInt();
    if constexpr (std::is_same_v<T, double>) out->*f.member = v->AsDouble();
    if constexpr (std::is_same_v<T, bool>) out->*f.member = v->AsBool();
    if constexpr (std::is_same_v<T, std::string>) out->*f.member = v->AsString();
  }
}

using MS = MigrationStats;
constexpr std::array<Field<MS, uint64_t>, 17> kStatsFields{{
    {"transferred", &MS::transferred},
    {"remaining", &MS::remaining},
    {"total", &MS::total},
    {"duplicate", &MS::duplicate},
    {"skipped", &MS::skipped},
    {"normal", &MS::normal},
    {"normal-bytes", &MS::normal_bytes},
    {"dirty-pages-rate", &MS::dirty_pages_rate},
    {"dirty-sync-count", &MS::dirty_sync_count},
    {"postcopy-requests", &MS::postcopy_requests},
    {"page-size", &MS::page_size},
    {"multifd-bytes", &MS::multifd_bytes},
    {"pages-per-second", &MS::pages_per_second},
    {"precopy-bytes", &MS::precopy_bytes},
    {"downtime-bytes", &MS::downtime_bytes},
    {"postcopy-bytes", &MS::postcopy_bytes},
    {"dirty-sync-missed-zero-copy", &MS::dirty_sync_missed_zero_copy},
}};
constexpr std::array<Field<MS, double>, 1> kStatsDoubles{{{"mbps", &MS::mbps}}};

using XC = XbzrleCacheStats;
constexpr std::array<Field<XC, uint64_t>, 5> kXbzrleFields{{
    {"cache-size", &XC::cache_size},
    {"bytes", &XC::bytes},
    {"pages", &XC::pages},
    {"cache-miss", &XC::cache_miss},
    {"overflow", &XC::overflow},
}};
constexpr std::array<Field<XC, double>, 2> kXbzrleDoubles{{
    {"cache-miss-rate", &XC::cache_miss_rate},
    {"encoding-rate", &XC::encoding_rate},
}};

using CS = CompressionStats;
constexpr std::array<Field<CS, uint64_t>, 3> kCompressionFields{{
    {"pages", &CS::pages}, {"busy", &CS::busy}, {"compressed-size", &CS::compressed_size}}};
constexpr std::array<Field<CS, double>, 2> kCompressionDoubles{{
    {"busy-rate", &CS::busy_rate}, {"compression-rate", &CS::compression_rate}}};

using MI = MigrationInfo;
constexpr std::array<Field<MI, int64_t>, 6> kInfoInts{{
    {"total-time", &MI::total_time},
    {"expected-downtime", &MI::expected_downtime},
    {"downtime", &MI::downtime},
    {"setup-time", &MI::setup_time},
    {"cpu-throttle-percentage", &MI::cpu_throttle_percentage},
    {"postcopy-blocktime", &MI::postcopy_blocktime},
}};
constexpr std::array<Field<MI, uint64_t>, 2> kInfoUints{{
    {"dirty-limit-throttle-time-per-round", &MI::dirty_limit_throttle_time_per_round},
    {"dirty-limit-ring-full-time", &MI::dirty_limit_ring_full_time},
}};

MigrationStats ParseStats(const Json& j) {
  MigrationStats s;
  ReadFields(j, &s, kStatsFields);
  ReadFields(j, &s, kStatsDoubles);
  return s;
}

using MP = MigrationParameters;
constexpr std::array<Field<MP, int64_t>, 16> kParamInts{{
    {"downtime-limit", &MP::downtime_limit},
    {"max-bandwidth", &MP::max_bandwidth},
    {"max-postcopy-bandwidth", &MP::max_postcopy_bandwidth},
    {"avail-switchover-bandwidth", &MP::avail_switchover_bandwidth},
    {"cpu-throttle-initial", &MP::cpu_throttle_initial},
    {"cpu-throttle-increment", &MP::cpu_throttle_increment},
    {"max-cpu-throttle", &MP::max_cpu_throttle},
    {"throttle-trigger-threshold", &MP::throttle_trigger_threshold},
    {"xbzrle-cache-size", &MP::xbzrle_cache_size},
    {"multifd-channels", &MP::multifd_channels},
    {"multifd-zlib-level", &MP::multifd_zlib_level},
    {"multifd-zstd-level", &MP::multifd_zstd_level},
    {"compress-level", &MP::compress_level},
    {"compress-threads", &MP::compress_threads},
    {"decompress-threads", &MP::decompress_threads},
    {"vcpu-dirty-limit", &MP::vcpu_dirty_limit},
}};
constexpr std::array<Field<MP, bool>, 1> kParamBools{{
    {"cpu-throttle-tailslow", &MP::cpu_throttle_tailslow}}};
constexpr std::array<Field<MP, std::string>, 1> kParamStrings{{
    {"multifd-compression", &MP::multifd_compression}}};

bool IsKnownParameter(std::string_view name) {
  for (const auto& f : kParamInts)
    if (f.name == name) return true;
  return name == kParamBools[0].name || name == kParamStrings[0].name;
}

Status ExpectEmpty(Result<Json> r) { return r.ok() ? Status::Ok() : r.status(); }

}  // namespace

MigrationInfo ParseMigrationInfo(const Json& j) {
  MigrationInfo info;
  info.status = j.GetString("status");
  if (auto ram = j.Get("ram")) info.ram = ParseStats(*ram);
  if (auto disk = j.Get("disk")) info.disk = ParseStats(*disk);
  if (auto x = j.Get("xbzrle-cache")) {
    XbzrleCacheStats s;
    ReadFields(*x, &s, kXbzrleFields);
    ReadFields(*x, &s, kXbzrleDoubles);
    info.xbzrle_cache = s;
  }
  if (auto c = j.Get("compression")) {
    CompressionStats s;
    ReadFields(*c, &s, kCompressionFields);
    ReadFields(*c, &s, kCompressionDoubles);
    info.compression = s;
  }
  ReadFields(j, &info, kInfoInts);
  ReadFields(j, &info, kInfoUints);
  info.error_desc = j.GetString("error-desc");
  if (auto b = j.Get("blocked-reasons")) {
    info.blocked_reasons.emplace();
    for (size_t i = 0; i < b->ArraySize(); i++) {
      if (auto s = b->At(i).AsString()) info.blocked_reasons->push_back(*s);
    }
  }
  if (auto b = j.Get("postcopy-vcpu-blocktime")) {
    info.postcopy_vcpu_blocktime.emplace();
    for (size_t i = 0; i < b->ArraySize(); i++) {
      info.postcopy_vcpu_blocktime->push_back(b->At(i).AsInt().value_or(0));
    }
  }
  if (auto a = j.Get("socket-address")) {
    info.socket_address.emplace();
    for (size_t i = 0; i < a->ArraySize(); i++) {
      Json e = a->At(i);
      SocketAddress addr;
      addr.type = e.GetString("type").value_or("");
      addr.host = e.GetString("host").value_or("");
      addr.port = e.GetString("port").value_or("");
      addr.path = e.GetString("path").value_or("");
      info.socket_address->push_back(addr);
    }
  }
  if (auto v = j.Get("vfio")) info.vfio_transferred = v->GetUint("transferred");
  return info;
}

MigrationParameters ParseMigrationParameters(const Json& j) {
  MigrationParameters p;
  ReadFields(j, &p, kParamInts);
  ReadFields(j, &p, kParamBools);
  ReadFields(j, &p, kParamStrings);
  for (const std::string& key : j.Keys()) {
    if (!IsKnownParameter(key)) p.others.emplace(key, *j.Get(key));
  }
  return p;
}

Json MigrationParameters::ToJson() const {
  Json out = Json::Object();
  for (const auto& f : kParamInts)
    if (this->*f.member) out.Set(f.name, Json::Int(*(this->*f.member)));
  for (const auto& f : kParamBools)
    if (this->*f.member) out.Set(f.name, Json::Bool(*(this->*f.member)));
  for (const auto& f : kParamStrings)
    if (this->*f.member) out.Set(f.name, Json::String(*(this->*f.member)));
  for (const auto& [key, value] : others) out.Set(key, value);
  return out;
}

Result<MigrationInfo> QueryMigrate(Session& s) {
  Result<Json> r = s.Execute("query-migrate");
  if (!r.ok()) return r.status();
  return ParseMigrationInfo(*r);
}

Result<MigrationParameters> QueryMigrateParameters(Session& s) {
  Result<Json> r = s.Execute("query-migrate-parameters");
  if (!r.ok()) return r.status();
  return ParseMigrationParameters(*r);
}

Status MigrateSetParameters(Session& s, const MigrationParameters& changes) {
  return ExpectEmpty(s.Execute("migrate-set-parameters", changes.ToJson()));
}

Result<std::map<std::string, bool>> QueryMigrateCapabilities(Session& s) {
  Result<Json> r = s.Execute("query-migrate-capabilities");
  if (!r.ok()) return r.status();
  return ParseMigrateCapabilities(*r);
}

std::map<std::string, bool> ParseMigrateCapabilities(const Json& ret) {
  std::map<std::string, bool> caps;
  for (size_t i = 0; i < ret.ArraySize(); i++) {
    Json c = ret.At(i);
    auto name = c.GetString("capability");
    if (name) caps[*name] = c.GetBool("state").value_or(false);
  }
  return caps;
}

Status MigrateSetCapabilities(Session& s, const std::map<std::string, bool>& caps) {
  Json list = Json::Array();
  for (const auto& [name, state] : caps) {
    list.Append(Json::Object().Set("capability", Json::String(name)).Set("state", Json::Bool(state)));
  }
  return ExpectEmpty(s.Execute("migrate-set-capabilities", Json::Object().Set("capabilities", list)));
}

Status Migrate(Session& s, const std::string& uri, bool resume) {
  Json args = Json::Object().Set("uri", Json::String(uri));
  if (resume) args.Set("resume", Json::Bool(true));
  return ExpectEmpty(s.Execute("migrate", args));
}

Status MigrateIncoming(Session& s, const std::string& uri) {
  return ExpectEmpty(s.Execute("migrate-incoming", Json::Object().Set("uri", Json::String(uri))));
}

Status MigrateRecover(Session& s, const std::string& uri) {
  return ExpectEmpty(s.Execute("migrate-recover", Json::Object().Set("uri", Json::String(uri))));
}
Status MigratePause(Session& s) { return ExpectEmpty(s.Execute("migrate-pause")); }

Status MigrateCancel(Session& s) { return ExpectEmpty(s.Execute("migrate_cancel")); }
Status MigrateStartPostcopy(Session& s) { return ExpectEmpty(s.Execute("migrate-start-postcopy")); }
Status Stop(Session& s) { return ExpectEmpty(s.Execute("stop")); }
Status Cont(Session& s) { return ExpectEmpty(s.Execute("cont")); }

Result<std::vector<BlockJob>> QueryBlockJobs(Session& s) {
  Result<Json> r = s.Execute("query-block-jobs");
  if (!r.ok()) return r.status();
  std::vector<BlockJob> jobs;
  for (size_t i = 0; i < r->ArraySize(); i++) {
    Json j = r->At(i);
    jobs.push_back({j.GetString("device").value_or(""), j.GetString("type").value_or(""),
                    j.GetUint("offset").value_or(0), j.GetUint("len").value_or(0), j.GetBool("ready").value_or(false)});
  }
  return jobs;
}

Status CalcDirtyRate(Session& s, int seconds) {
  return ExpectEmpty(s.Execute("calc-dirty-rate", Json::Object().Set("calc-time", Json::Int(seconds))));
}

Result<DirtyRateInfo> QueryDirtyRate(Session& s) {
  Result<Json> r = s.Execute("query-dirty-rate");
  if (!r.ok()) return r.status();
  return ParseDirtyRateInfo(*r);
}

DirtyRateInfo ParseDirtyRateInfo(const Json& ret) {
  DirtyRateInfo info;
  info.status = ret.GetString("status").value_or("");
  info.mib_per_s = ret.GetInt("dirty-rate").value_or(-1);
  return info;
}

Result<RunState> QueryStatus(Session& s) {
  Result<Json> r = s.Execute("query-status");
  if (!r.ok()) return r.status();
  return RunState{r->GetBool("running").value_or(false), r->GetString("status").value_or("")};
}

Result<QemuVersion> QueryVersion(Session& s) {
  Result<Json> r = s.Execute("query-version");
  if (!r.ok()) return r.status();
  QemuVersion v;
  if (auto q = r->Get("qemu")) {
    v.major = static_cast<int>(q->GetInt("major").value_or(0));
    v.minor = static_cast<int>(q->GetInt("minor").value_or(0));
    v.micro = static_cast<int>(q->GetInt("micro").value_or(0));
  }
  v.package = r->GetString("package").value_or("");
  return v;
}

bool IsMigrationFinished(const std::string& status) {
  return status == "completed" || status == "failed" || status == "cancelled";
}

bool IsMigrationRunning(const std::string& status) {
  return !status.empty() && status != "none" && !IsMigrationFinished(status);
}

}  // namespace vc::qmp
