#include "src/state/host_metrics.h"

#include <fcntl.h>
#include <sys/file.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>

#include "src/base/json.h"
#include "src/base/private_files.h"

namespace vc {
namespace {

constexpr const char* kPrefix = "virt_converge_";

struct Family {
  const char* name;  // after kPrefix
  const char* type;
  const char* help;
};

constexpr std::array kFamilies = {
    Family{"migrations_in_flight", "gauge", "Migrations a virt-converge follower follows now, by direction."},
    Family{"migrations_total", "counter", "Migrations that ended, by outcome and reason code."},
    Family{"actions_total", "counter",
           "Actions virt-converge took, by what decided them (kind), the action and whether it was done."},
    Family{"downtime_seconds", "histogram", "The guest's downtime of each completed migration."},
    Family{"migration_duration_seconds", "histogram", "The total time of each migration that ended."},
    Family{"sent_bytes_total", "counter", "Bytes the migrations that ended sent."},
    Family{"throttle_seconds_total", "counter", "Time migrations ran with the guest's CPUs throttled."},
};

constexpr std::array<double, 9> kDowntimeBuckets = {0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 1, 2, 5};
constexpr std::array<double, 9> kDurationBuckets = {5, 10, 30, 60, 120, 300, 600, 1800, 3600};

// A label value as the text format wants it.
std::string Escaped(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

// The shortest text that reads back as \a v.
std::string Number(double v) {
  if (std::isinf(v)) return "+Inf";
  char buf[32];
  const std::to_chars_result r = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, r.ptr);
}

std::string Name(const char* family, const char* suffix = "") { return std::string(kPrefix) + family + suffix; }

template <size_t N>
void Observe(const char* family, const std::array<double, N>& bounds, double v, MetricSeries* s) {
  for (double le : bounds) {
    if (v <= le) (*s)[Name(family, "_bucket") + "{le=\"" + Number(le) + "\"}"] += 1;
  }
  (*s)[Name(family, "_bucket") + "{le=\"+Inf\"}"] += 1;
  (*s)[Name(family, "_sum")] += v;
  (*s)[Name(family, "_count")] += 1;
}

// An empty histogram still has its buckets, so that rates over it exist.
template <size_t N>
void ZeroHistogram(const char* family, const std::array<double, N>& bounds, MetricSeries* s) {
  for (double le : bounds) (*s)[Name(family, "_bucket") + "{le=\"" + Number(le) + "\"}"] += 0;
  (*s)[Name(family, "_bucket") + "{le=\"+Inf\"}"] += 0;
  (*s)[Name(family, "_sum")] += 0;
  (*s)[Name(family, "_count")] += 0;
}

bool InFamily(const std::string& series, const Family& f) {
  const std::string base = Name(f.name);
  if (series.compare(0, base.size(), base) != 0) return false;
  const std::string rest = series.substr(base.size());
  return rest.empty() || rest[0] == '{' || rest.rfind("_bucket", 0) == 0 || rest == "_sum" || rest == "_count";
}

MetricSeries ReadCounters(const std::string& path) {
  MetricSeries s;
  Result<std::string> text = ReadPrivateFile(path);
  if (!text.ok()) return s;
  Result<Json> j = Json::Parse(*text);
  if (!j.ok()) return s;  // a torn file cannot be: written atomically
  for (const std::string& key : j->Keys()) s[key] = j->GetDouble(key).value_or(0);
  return s;
}

Status WriteText(const StatePaths& paths, const MetricSeries& counters) {
  // node_exporter runs as its own user: the file is for all to read.
  return WriteFileAtomically(paths.MetricsTextFile(), MetricsText(counters, ReadLiveRecords(paths)), 0644);
}

// The counters' lock is the state directory's own descriptor: no lock file
// to leave behind (a full disk has no room for one anyway).
Result<UniqueFd> LockStateDir(const StatePaths& paths) {
  VC_RETURN_IF_ERROR(MakePrivateDirectories(paths.state_dir()));
  UniqueFd dir(::open(paths.state_dir().c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!dir.valid()) return Status::IoError(paths.state_dir(), errno);
  VC_RETURN_IF_ERROR(LockWithin(dir.get(), LOCK_EX, Millis(10000), paths.state_dir()));
  return dir;
}

}  // namespace

void CountMigrationEnd(const MigrationSummary& end, MetricSeries* s) {
  const std::string outcome(OutcomeName(end.outcome));
  (*s)[Name("migrations_total") + "{outcome=\"" + Escaped(outcome) + "\",code=\"" + Escaped(end.code) + "\"}"] += 1;
  for (const ActionRecord& a : end.actions) {
    const std::string kind = a.kind ? std::string(DecisionKindName(*a.kind)) : "unknown";
    (*s)[Name("actions_total") + "{kind=\"" + Escaped(kind) + "\",action=\"" + Escaped(a.action) + "\",result=\"" +
         (a.result == "done" ? "done" : "not-done") + "\"}"] += 1;
  }
  if (Completed(end.outcome) && end.downtime_ms) {
    Observe("downtime_seconds", kDowntimeBuckets, static_cast<double>(*end.downtime_ms) / 1000, s);
  }
  if (end.total_time_ms) {
    Observe("migration_duration_seconds", kDurationBuckets, static_cast<double>(*end.total_time_ms) / 1000, s);
  }
  (*s)[Name("sent_bytes_total")] += static_cast<double>(end.bytes_sent.value_or(0));
  double throttled_ms = 0;
  for (size_t i = 1; i < end.samples.size(); i++) {
    if (end.samples[i - 1].throttle_percent > 0) {
      throttled_ms += static_cast<double>(end.samples[i].t_ms - end.samples[i - 1].t_ms);
    }
  }
  (*s)[Name("throttle_seconds_total")] += throttled_ms / 1000;
}

std::string MetricsText(const MetricSeries& counters, const std::vector<MigrationRecord>& live) {
  MetricSeries all = counters;
  for (const char* direction : {"in", "out"}) {
    double n = 0;
    for (const MigrationRecord& r : live) n += !r.stale && r.direction == direction;
    all[Name("migrations_in_flight") + "{direction=\"" + direction + "\"}"] = n;
  }
  ZeroHistogram("downtime_seconds", kDowntimeBuckets, &all);
  ZeroHistogram("migration_duration_seconds", kDurationBuckets, &all);
  all[Name("sent_bytes_total")] += 0;
  all[Name("throttle_seconds_total")] += 0;
  std::string out;
  for (const Family& f : kFamilies) {
    out += "# HELP " + Name(f.name) + " " + f.help + "\n# TYPE " + Name(f.name) + " " + f.type + "\n";
    // Buckets in the order of their bounds, then _sum and _count.
    std::vector<std::pair<double, std::string>> buckets;
    std::string sum, count;
    for (const auto& [series, value] : all) {
      if (!InFamily(series, f)) continue;
      const std::string line = series + " " + Number(value) + "\n";
      if (const size_t le = series.find("{le=\""); le != std::string::npos) {
        const std::string bound = series.substr(le + 5, series.size() - le - 7);
        buckets.emplace_back(bound == "+Inf" ? INFINITY : std::stod(bound), line);
      } else if (series == Name(f.name, "_sum")) {
        sum = line;
      } else if (series == Name(f.name, "_count")) {
        count = line;
      } else {
        out += line;
      }
    }
    std::sort(buckets.begin(), buckets.end());
    for (const auto& b : buckets) out += b.second;
    out += sum + count;
  }
  return out;
}

Status RecordMigrationEnd(const StatePaths& paths, const MigrationSummary& end) {
  if (paths.metrics_dir().empty() || paths.state_dir().empty()) return Status::Ok();
  Result<UniqueFd> lock = LockStateDir(paths);
  if (!lock.ok()) return lock.status();
  MetricSeries counters = ReadCounters(paths.MetricsCountersFile());
  CountMigrationEnd(end, &counters);
  Json j = Json::Object();
  for (const auto& [series, value] : counters) j.Set(series, Json::Double(value));
  VC_RETURN_IF_ERROR(WriteFileAtomically(paths.MetricsCountersFile(), j.Serialize(true) + "\n"));
  return WriteText(paths, counters);
}

Status WriteHostMetrics(const StatePaths& paths) {
  if (paths.metrics_dir().empty()) return Status::Ok();
  if (paths.state_dir().empty()) return WriteText(paths, {});
  Result<UniqueFd> lock = LockStateDir(paths);
  if (!lock.ok()) return lock.status();
  return WriteText(paths, ReadCounters(paths.MetricsCountersFile()));
}

}  // namespace vc
