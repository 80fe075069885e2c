// StatePaths: where a host's virt-converge keeps what outlives one process.
// The one place that spells the layout; every program and the state types
// below ask it.
//
//   <run>    default /run/virt-converge (tmpfs: gone at reboot)
//     migrations/<id>.json      a follower's live record (MigrationRecord)
//     migrations/<id>.samples   its samples, one JSON object per line
//     migrations/<id>.sock      its control socket (ControlSocket)
//     migrations/<id>.changes   what it changed and must put back (changes_record.h)
//     follow/<key>.lock         one follower per migration (FollowLock)
//     follow/<uuid>.log         a helper's output where watch forks it
//     admission/                the host's cost budget queue (src/coord)
//     shares/                   the host's bandwidth shares (src/coord)
//     hook/                     the destination hook's records (hooks/)
//     evacuate/<pid>/           an evacuation's migrate children's output
//   <state>  default /var/lib/virt-converge (kept)
//     history/<started>-<id>.json   a finished migration's record
//     switchover/<destination>      its final copies (SwitchoverMemory)
//     metrics.json                  the host's migration counters (host_metrics.h)
//   <metrics> default /var/lib/prometheus/node-exporter, node_exporter's
//            textfile directory, used when it exists
//     virt-converge.prom            the metrics, in Prometheus' text format
//
// An empty run or state directory means "keep nothing there": its paths
// are then empty too, and whoever would write them does not.
#pragma once

#include <string>
#include <utility>

namespace vc {

class StatePaths {
 public:
  static constexpr const char* kDefaultRunDir = "/run/virt-converge";
  static constexpr const char* kDefaultStateDir = "/var/lib/virt-converge";
  static constexpr const char* kDefaultMetricsDir = "/var/lib/prometheus/node-exporter";

  StatePaths(std::string run_dir, std::string state_dir)
      : run_(std::move(run_dir)), state_(std::move(state_dir)) {}
  /// The host's own directories.
  static StatePaths Host() { return {kDefaultRunDir, kDefaultStateDir}; }

  const std::string& run_dir() const { return run_; }
  const std::string& state_dir() const { return state_; }
  /// Where the metrics go ("" = nowhere, the default for a StatePaths).
  StatePaths& WithMetricsDir(std::string dir) {
    metrics_ = std::move(dir);
    return *this;
  }
  const std::string& metrics_dir() const { return metrics_; }

  std::string MigrationsDir() const { return InRun("migrations"); }
  std::string LiveRecordFile(const std::string& id) const { return InRun("migrations/" + id + ".json"); }
  std::string SamplesFile(const std::string& id) const { return InRun("migrations/" + id + ".samples"); }
  std::string ControlSocketFile(const std::string& id) const { return InRun("migrations/" + id + ".sock"); }
  std::string ChangesFile(const std::string& id) const { return InRun("migrations/" + id + ".changes"); }
  std::string FollowDir() const { return InRun("follow"); }
  std::string FollowLockFile(const std::string& key) const { return InRun("follow/" + key + ".lock"); }
  std::string HelperLogFile(const std::string& uuid) const { return InRun("follow/" + uuid + ".log"); }
  std::string AdmissionDir() const { return InRun("admission"); }
  std::string SharesDir() const { return InRun("shares"); }
  std::string HookDir() const { return InRun("hook"); }
  std::string EvacuateDir(int pid) const { return InRun("evacuate/" + std::to_string(pid)); }

  std::string HistoryDir() const { return InState("history"); }
  std::string HistoryFile(const std::string& started, const std::string& id) const {
    return InState("history/" + started + "-" + id + ".json");
  }
  std::string SwitchoverDir() const { return InState("switchover"); }
  std::string MetricsCountersFile() const { return InState("metrics.json"); }
  std::string MetricsTextFile() const { return metrics_.empty() ? "" : metrics_ + "/virt-converge.prom"; }

 private:
  std::string InRun(const std::string& rel) const { return run_.empty() ? "" : run_ + "/" + rel; }
  std::string InState(const std::string& rel) const { return state_.empty() ? "" : state_ + "/" + rel; }

  std::string run_, state_, metrics_;
};

}  // namespace vc
