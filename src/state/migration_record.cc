#include "src/state/migration_record.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "src/base/private_files.h"
#include "src/state/follow_lock.h"

namespace vc {

namespace fs = std::filesystem;

namespace {

std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool Names(const MigrationRecord& r, const std::string& vm) {
  return r.vm == vm || r.uuid == vm || r.id == vm;
}

std::vector<SamplePoint> ReadSamples(const std::string& path) {
  std::vector<SamplePoint> out;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) {
    Result<Json> j = Json::Parse(line);
    if (j.ok()) out.push_back(SamplePointFromJson(*j));  // a torn last line is skipped
  }
  return out;
}

// "20261204T045213.123Z": names sort as the starts do.
std::string StartStamp(double started_at) {
  time_t t = static_cast<time_t>(started_at);
  struct tm tm {};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%dT%H%M%S", &tm);
  const int ms = static_cast<int>((started_at - static_cast<double>(t)) * 1000);
  char out[48];
  std::snprintf(out, sizeof out, "%s.%03dZ", buf, std::clamp(ms, 0, 999));
  return out;
}

// The oldest history records past RecordWriter::kKeepHistory go.
void PruneHistory(const std::string& dir) {
  std::error_code ec;
  std::vector<std::string> files;
  for (const fs::directory_entry& e : fs::directory_iterator(dir, ec)) {
    if (e.path().extension() == ".json" && e.path().filename().string().front() != '.') files.push_back(e.path());
  }
  if (files.size() <= RecordWriter::kKeepHistory) return;
  std::sort(files.begin(), files.end());
  for (size_t i = 0; i + RecordWriter::kKeepHistory < files.size(); i++) fs::remove(files[i], ec);
}

}  // namespace

std::string MigrationRecord::reason_code() const {
  if (outcome && !outcome->code.empty()) return outcome->code;
  return actions.empty() ? "" : ActionCode(actions.back());
}

double MigrationRecord::progress() const {
  if (ram_total == 0) return 0;
  if (status == "completed") return 100;
  return 100.0 * static_cast<double>(ram_total - std::min(remaining, ram_total)) / static_cast<double>(ram_total);
}

MigrationSample MigrationRecord::LatestSample() const {
  MigrationSample s;
  s.status = status;
  s.total_time_ms = elapsed_ms;
  s.ram_total = ram_total;
  s.ram_remaining = remaining;
  s.ram_transferred = transferred;
  s.pass = pass;
  s.bandwidth = bandwidth;
  s.dirty_rate = dirty_rate;
  s.expected_downtime_ms = expected_downtime_ms;
  s.throttle_percent = throttle_percent;
  return s;
}

Json MigrationRecord::ToJson() const {
  Json j = Json::Object();
  j.Set("id", Json::String(id))
      .Set("vm", Json::String(vm))
      .Set("uuid", Json::String(uuid))
      .Set("direction", Json::String(direction))
      .Set("peer", Json::String(peer))
      .Set("backend", Json::String(backend))
      .Set("policy", Json::String(policy))
      .Set("pid", Json::Int(pid))
      .Set("started-at", Json::Double(started_at))
      .Set("updated-at", Json::Double(updated_at))
      .Set("status", Json::String(status))
      .Set("elapsed-ms", Json::Int(elapsed_ms))
      .Set("ram-total", Json::Uint(ram_total))
      .Set("remaining", Json::Uint(remaining))
      .Set("transferred", Json::Uint(transferred))
      .Set("progress", Json::Double(progress()))
      .Set("pass", Json::Uint(pass))
      .Set("bandwidth", Json::Double(bandwidth))
      .Set("dirty-rate", Json::Double(dirty_rate))
      .Set("share", Json::Uint(share))
      .Set("expected-downtime-ms", Json::Int(expected_downtime_ms))
      .Set("downtime-limit-ms", Json::Int(downtime_limit_ms))
      .Set("throttle-percent", Json::Int(throttle_percent));
  if (eta_ms) j.Set("eta-ms", Json::Int(*eta_ms));
  if (const std::string code = reason_code(); !code.empty()) j.Set("code", Json::String(code));
  j.Set("actions", ActionsToJson(actions));
  if (!samples.empty()) j.Set("samples", SamplesToJson(samples));
  if (outcome) {
    // The samples and actions are the record's own.
    MigrationSummary brief = *outcome;
    brief.samples.clear();
    brief.actions.clear();
    j.Set("outcome", brief.ToJson());
  }
  if (stale) j.Set("stale", Json::Bool(true));
  return j;
}

MigrationRecord MigrationRecord::FromJson(const Json& j) {
  MigrationRecord r;
  r.id = j.GetString("id").value_or("");
  r.vm = j.GetString("vm").value_or("");
  r.uuid = j.GetString("uuid").value_or("");
  r.direction = j.GetString("direction").value_or("out");
  r.peer = j.GetString("peer").value_or("");
  r.backend = j.GetString("backend").value_or("");
  r.policy = j.GetString("policy").value_or("");
  r.pid = j.GetInt("pid").value_or(0);
  r.started_at = j.GetDouble("started-at").value_or(0);
  r.updated_at = j.GetDouble("updated-at").value_or(0);
  r.status = j.GetString("status").value_or("");
  r.elapsed_ms = j.GetInt("elapsed-ms").value_or(0);
  r.ram_total = j.GetUint("ram-total").value_or(0);
  r.remaining = j.GetUint("remaining").value_or(0);
  r.transferred = j.GetUint("transferred").value_or(0);
  r.pass = j.GetUint("pass").value_or(0);
  r.bandwidth = j.GetDouble("bandwidth").value_or(0);
  r.dirty_rate = j.GetDouble("dirty-rate").value_or(0);
  r.share = j.GetUint("share").value_or(0);
  r.expected_downtime_ms = j.GetInt("expected-downtime-ms").value_or(0);
  r.downtime_limit_ms = j.GetInt("downtime-limit-ms").value_or(-1);
  r.throttle_percent = static_cast<int>(j.GetInt("throttle-percent").value_or(0));
  r.eta_ms = j.GetInt("eta-ms");
  r.actions = ActionsFromJson(j);
  r.samples = SamplesFromJson(j);
  if (std::optional<Json> o = j.Get("outcome")) r.outcome = MigrationSummary::FromJson(*o);
  r.stale = j.GetBool("stale").value_or(false);
  return r;
}

RecordWriter::RecordWriter(StatePaths paths, const std::string& id)
    : paths_(std::move(paths)),
      live_(paths_.LiveRecordFile(id)),
      samples_(paths_.SamplesFile(id)),
      socket_(paths_.ControlSocketFile(id)) {}

Status RecordWriter::Update(const MigrationRecord& r) { return WriteFileAtomically(live_, r.ToJson().Serialize() + "\n"); }

Status RecordWriter::AppendSample(const SamplePoint& p) {
  Result<UniqueFd> fd = OpenPrivateFile(samples_, O_WRONLY | O_CREAT | O_APPEND);
  if (!fd.ok()) return fd.status();
  const std::string line = SamplePointToJson(p).Serialize() + "\n";
  // One write: a reader sees whole lines, and O_APPEND keeps them in order.
  if (::write(fd->get(), line.data(), line.size()) != static_cast<ssize_t>(line.size())) {
    return Status::IoError(samples_, errno);
  }
  return Status::Ok();
}

Status RecordWriter::Finish(const MigrationRecord& r) {
  Status st = Status::Ok();
  if (!paths_.HistoryDir().empty()) {
    // A second record of the same start (a follower that took over) keeps
    // the first: it gets a name of its own.
    std::string path = paths_.HistoryFile(StartStamp(r.started_at), r.id);
    std::error_code exists_ec;
    for (int n = 2; fs::exists(path, exists_ec); n++) {
      path = paths_.HistoryFile(StartStamp(r.started_at), r.id + "-" + std::to_string(n));
    }
    st = WriteFileAtomically(path, r.ToJson().Serialize(true) + "\n");
    if (st.ok()) PruneHistory(paths_.HistoryDir());
  }
  // The live record goes only once the history has it: on a full disk it
  // stays, shown as stale, rather than be lost. Without it (never written:
  // the disk was full all along) its samples alone say nothing: they go.
  std::error_code live_ec;
  if (!st.ok() && fs::exists(live_, live_ec)) return st;
  RemovePrivateFile(live_);  // with a killed writer's temp files
  std::error_code ec;
  fs::remove(samples_, ec);
  fs::remove(socket_, ec);  // a dead follower's, when one took over its record
  return st;
}

std::vector<MigrationRecord> ReadLiveRecords(const StatePaths& paths) {
  std::vector<MigrationRecord> out;
  std::error_code ec;
  for (const fs::directory_entry& e : fs::directory_iterator(paths.MigrationsDir(), ec)) {
    if (e.path().extension() != ".json") continue;
    Result<Json> j = Json::Parse(Slurp(e.path().string()));
    if (!j.ok()) continue;  // removed or being replaced meanwhile
    MigrationRecord r = MigrationRecord::FromJson(*j);
    r.stale = !FollowLock::Held(paths, r.id);
    out.push_back(std::move(r));
  }
  std::sort(out.begin(), out.end(),
            [](const MigrationRecord& a, const MigrationRecord& b) { return a.started_at < b.started_at; });
  return out;
}

std::optional<MigrationRecord> FindLiveRecord(const StatePaths& paths, const std::string& vm) {
  for (MigrationRecord& r : ReadLiveRecords(paths)) {
    if (!Names(r, vm)) continue;
    r.samples = ReadSamples(paths.SamplesFile(r.id));
    return r;
  }
  return std::nullopt;
}

Result<MigrationRecord> FindHistoryRecord(const StatePaths& paths, const std::string& vm,
                                          const std::string& direction) {
  // Names start with the start time: the last match in name order is the latest.
  std::vector<std::string> files;
  std::error_code ec;
  for (const fs::directory_entry& e : fs::directory_iterator(paths.HistoryDir(), ec)) {
    if (e.path().extension() == ".json") files.push_back(e.path().string());
  }
  std::sort(files.rbegin(), files.rend());
  for (const std::string& p : files) {
    Result<Json> j = Json::Parse(Slurp(p));
    if (!j.ok()) continue;
    MigrationRecord r = MigrationRecord::FromJson(*j);
    if (Names(r, vm) && (direction.empty() || r.direction == direction)) return r;
  }
  return Status::NotFound(vm, "no migration of it is running or recorded under " + paths.HistoryDir());
}

}  // namespace vc
