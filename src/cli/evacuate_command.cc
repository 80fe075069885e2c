#include "src/cli/evacuate_command.h"

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include "src/backend/libvirt_host.h"
#include "src/base/json.h"
#include "src/base/private_files.h"
#include "src/base/spawn.h"
#include "src/base/time.h"
#include "src/base/units.h"
#include "src/coord/admission.h"
#include "src/hostfit/refusal.h"
#include "src/state/migration_record.h"
#include "src/state/paths.h"
#include "src/view/board_view.h"

namespace vc {
namespace {

namespace fs = std::filesystem;

struct EvacuateOptions {
  std::vector<std::string> destinations;
  std::vector<std::string> data_uris;  // the i-th goes with the i-th destination
  std::vector<std::string> vms;        // "" = every VM running here
  std::string connect_uri;
  std::string run_dir = StatePaths::kDefaultRunDir;
  std::string state_dir = StatePaths::kDefaultStateDir;
  std::string policy_root = "/";
  bool no_policy = false;
  bool copy_storage = false;
  std::string report_json;
  int attempts = 5;
  std::string retry_after = "5s";
};

// One try of one VM on one destination.
struct Try {
  size_t destination = 0;
  std::string result;  // "completed", "refused: …", "try again: …", "failed: …"
};

struct VmMove {
  std::string vm;
  enum class State { kWaiting, kRunning, kDone } state = State::kWaiting;
  size_t destination = 0;
  std::set<size_t> struck;  // destinations that turned it away
  std::vector<Try> tries;
  pid_t pid = -1;
  std::string log, summary;
  Clock::time_point not_before{};
  double started_at = 0, ended_at = 0;
  std::optional<MigrationOutcome> outcome;  // none yet: not started
  bool refused = false;                     // every destination turned it away
  std::string detail;
  std::string code;  // the outcome's reason code (virt-converge(1), REASON CODES)
  bool moved() const { return outcome && Completed(*outcome); }
  std::string OutcomeText() const {
    return refused ? "refused" : outcome ? std::string(OutcomeName(*outcome)) : "not started";
  }
  std::optional<int64_t> total_ms, downtime_ms;
};

std::string SelfExe() {
  std::error_code ec;
  fs::path p = fs::read_symlink("/proc/self/exe", ec);
  return ec ? "virt-converge" : p.string();
}

// What a destination said: its hook's refusal without libvirt's wrapping.
std::string Unwrapped(const std::string& why) {
  if (std::optional<HookRefusal> refusal = HookRefusal::FindIn(why)) {
    return "the destination hook refused it: " + refusal->message;
  }
  std::string said = why;
  while (!said.empty() && (said.back() == '\n' || said.back() == ' ')) said.pop_back();
  return said;
}

// The last "virt-converge: …" line a child printed, for the report of a
// child that ended without its summary: what it last said, not a verdict.
std::string LastError(const std::string& log) {
  std::istringstream in(log);
  std::string last;
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("virt-converge: ", 0) == 0 && line.find("policy warning") == std::string::npos) last = line;
  }
  return last.empty() ? "it said nothing of why" : last.substr(15);
}

class Evacuation {
 public:
  Evacuation(EvacuateOptions o, std::vector<std::string> vms, Millis retry_after)
      : o_(std::move(o)), retry_after_(retry_after), view_(stdout, isatty(STDOUT_FILENO) != 0) {
    for (std::string& v : vms) {
      VmMove m;
      m.vm = std::move(v);
      moves_.push_back(std::move(m));
    }
    load_.assign(o_.destinations.size(), 0);
    work_dir_ = StatePaths(o_.run_dir, o_.state_dir).EvacuateDir(getpid());
  }

  int Run() {
    if (Status made = MakePrivateDirectories(work_dir_); !made.ok()) {
      std::fprintf(stderr, "virt-converge: evacuate: %s\n", made.ToString().c_str());
      return 3;
    }
    started_ = WallClockSeconds();
    std::printf("evacuating %zu VM%s from %s to %zu destination%s under the host's cost budget\n", moves_.size(),
                moves_.size() == 1 ? "" : "s", o_.connect_uri.empty() ? "libvirt's default" : o_.connect_uri.c_str(),
                o_.destinations.size(), o_.destinations.size() == 1 ? "" : "s");
    std::fflush(stdout);
    while (std::any_of(moves_.begin(), moves_.end(), [](const VmMove& m) { return m.state != VmMove::State::kDone; })) {
      for (VmMove& m : moves_) {
        if (m.state == VmMove::State::kWaiting && Clock::now() >= m.not_before) Launch(m);
        if (m.state == VmMove::State::kRunning) Reap(m);
      }
      Show();
      std::this_thread::sleep_for(Millis(250));
    }
    Show();
    ended_ = WallClockSeconds();
    Report();
    bool all = std::all_of(moves_.begin(), moves_.end(), [](const VmMove& m) { return m.moved(); });
    return all ? 0 : 1;
  }

 private:
  // The destination with the fewest VMs sent there, among those that have
  // not turned \a m away; the first such in the list on a tie.
  std::optional<size_t> Choose(const VmMove& m) const {
    std::optional<size_t> best;
    for (size_t d = 0; d < o_.destinations.size(); d++) {
      if (m.struck.count(d)) continue;
      if (!best || load_[d] < load_[*best]) best = d;
    }
    return best;
  }

  void Launch(VmMove& m) {
    std::optional<size_t> d = Choose(m);
    if (!d || static_cast<int>(m.tries.size()) >= o_.attempts) {
      std::string why = !d ? "every destination turned it away" : "turned away " + std::to_string(m.tries.size()) + " times";
      m.refused = true;
      // The last refusal's code says why ("refused.fitness.cpu").
      return Finish(m, MigrationOutcome::kNotStarted, why + "; it runs on here", m.code.empty() ? "refused" : m.code);
    }
    m.destination = *d;
    load_[*d]++;
    std::string base = work_dir_ + "/" + m.vm + "-" + std::to_string(m.tries.size() + 1);
    m.log = base + ".log";
    m.summary = base + ".json";
    std::vector<std::string> args = {SelfExe(), "migrate", m.vm, o_.destinations[*d], "--run-dir", o_.run_dir,
                                     "--state-dir", o_.state_dir, "--summary-json", m.summary};
    if (!o_.connect_uri.empty()) args.insert(args.end(), {"--connect", o_.connect_uri});
    if (*d < o_.data_uris.size() && !o_.data_uris[*d].empty()) args.insert(args.end(), {"--migrate-uri", o_.data_uris[*d]});
    if (o_.no_policy) {
      args.push_back("--no-policy");
    } else {
      args.insert(args.end(), {"--policy-root", o_.policy_root});
    }
    if (o_.copy_storage) args.push_back("--copy-storage");
    Result<pid_t> pid = SpawnLogged(args, m.log);
    if (!pid.ok()) {
      load_[*d]--;
      return Finish(m, MigrationOutcome::kFailed, pid.status().ToString(), "failed.child");
    }
    m.pid = *pid;
    m.tries.push_back({*d, "running"});
    m.state = VmMove::State::kRunning;
    if (m.started_at == 0) m.started_at = WallClockSeconds();
  }

  void Reap(VmMove& m) {
    int st = 0;
    pid_t done = ::waitpid(m.pid, &st, WNOHANG);
    if (done == 0) return;
    m.pid = -1;
    const std::string log = ReadWhole(m.log);
    const std::string& dest = o_.destinations[m.destination];
    Result<Json> j = Json::Parse(ReadWhole(m.summary));
    std::optional<MigrationSummary> summary;
    if (j.ok() && j->is_object()) summary = MigrationSummary::FromJson(*j);
    if (!summary) return EndedWithoutSummary(m, st, log);
    if (summary->outcome == MigrationOutcome::kNotStarted) {
      // Turned away before a byte moved: the VM runs on here untouched.
      load_[m.destination]--;
      const std::string why = Unwrapped(summary->detail);
      const bool later = summary->try_later;
      m.tries.back().result = (later ? "try again: " : "refused: ") + why;
      if (later) {
        m.not_before = Clock::now() + retry_after_;
      } else {
        m.struck.insert(m.destination);
      }
      m.state = VmMove::State::kWaiting;
      m.detail = dest + ": " + why;
      m.code = summary->code;
      Say(m, (later ? "turned away for now by " : "turned away by ") + dest + ": " + why);
      return;
    }
    m.total_ms = summary->total_time_ms;
    m.downtime_ms = summary->downtime_ms;
    Finish(m, summary->outcome, summary->detail, summary->code);
    m.tries.back().result = m.OutcomeText() + (m.detail.empty() ? "" : ": " + m.detail);
  }

  // The migrate child ended without its summary (killed, or a fault of its
  // own): the migration may have gone on, or ended, under libvirt. Where the
  // VM runs now is the answer, and it is never taken for "turned away"; the
  // code is <outcome>.child.
  void EndedWithoutSummary(VmMove& m, int wait_status, const std::string& log) {
    const std::string& dest = o_.destinations[m.destination];
    const std::string how =
        WIFSIGNALED(wait_status)
            ? "its migrate process was killed (signal " + std::to_string(WTERMSIG(wait_status)) + ")"
            : "its migrate process ended (exit status " + std::to_string(WEXITSTATUS(wait_status)) + ") with no summary";
    // libvirt may still be ending the job: ask until one side has it.
    Result<bool> here = false, there = false;
    for (int i = 0; i < 50; i++) {
      here = LibvirtDomainRunsAt(o_.connect_uri, m.vm);
      there = LibvirtDomainRunsAt(dest, m.vm);
      if (here.ok() && there.ok() && *here != *there) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    if (!here.ok() || !there.ok()) {
      Finish(m, MigrationOutcome::kLost,
             how + "; where the VM runs is unknown: " + (!here.ok() ? here.status() : there.status()).ToString(),
             "lost.child");
    } else if (*there && !*here) {
      Finish(m, MigrationOutcome::kCompleted, how + ", but libvirt finished the migration: it runs on " + dest,
             "completed.child");
    } else if (*here && !*there) {
      Finish(m, MigrationOutcome::kFailed, how + "; the migration did not finish: it runs on here", "failed.child");
    } else {
      Finish(m, MigrationOutcome::kLost,
             how + "; it runs on " + std::string(*here ? "both hosts" : "neither host") + " (" + LastError(log) + ")",
             "lost.child");
    }
    m.tries.back().result = m.OutcomeText() + ": " + m.detail;
    Say(m, m.detail);
  }

  void Finish(VmMove& m, MigrationOutcome outcome, const std::string& detail, const std::string& code) {
    m.state = VmMove::State::kDone;
    m.outcome = outcome;
    m.code = code;
    if (!detail.empty() || Completed(outcome)) m.detail = detail;
    m.ended_at = WallClockSeconds();
  }

  static std::string ReadWhole(const std::string& path) {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }

  void Say(VmMove& m, const std::string& what) { view_.Event(m.vm, what); }

  std::string StateText(const VmMove& m, const std::map<std::string, MigrationRecord>& live,
                        const std::map<std::string, AdmissionEntry>& queued, const std::map<std::string, int>& place,
                        double* percent) const {
    *percent = -1;
    switch (m.state) {
      case VmMove::State::kDone:
        *percent = m.moved() ? 100 : -1;
        return m.OutcomeText() + (m.total_ms ? " in " + FormatMillis(static_cast<double>(*m.total_ms)) : "") +
               (m.downtime_ms ? ", downtime " + std::to_string(*m.downtime_ms) + " ms" : "") +
               (m.detail.empty() ? "" : " — " + m.detail);
      case VmMove::State::kWaiting:
        return m.tries.empty() ? "waiting" : "waiting to try again";
      case VmMove::State::kRunning:
        break;
    }
    if (auto q = queued.find(m.vm); q != queued.end()) {
      return "queued (#" + std::to_string(place.at(m.vm)) + " in line, cost " + std::to_string(q->second.cost) + ")";
    }
    if (auto r = live.find(m.vm); r != live.end()) {
      *percent = r->second.progress();
      return "migrating, pass " + std::to_string(r->second.pass) + ", " + FormatRate(r->second.bandwidth) + ", " +
             FormatBytes(static_cast<double>(r->second.remaining)) + " left";
    }
    // Not queued, no live record: before its migration, or just after.
    return ReadWhole(m.log).find("\noutcome:") != std::string::npos ? "ending" : "starting";
  }

  void Show() {
    std::map<std::string, MigrationRecord> live;
    const StatePaths paths(o_.run_dir, o_.state_dir);
    for (MigrationRecord& r : ReadLiveRecords(paths)) live[r.vm] = std::move(r);
    std::map<std::string, AdmissionEntry> queued;
    std::map<std::string, int> place;
    if (Result<std::vector<AdmissionEntry>> q = LiveAdmissions(paths.AdmissionDir()); q.ok()) {
      int n = 0;
      for (const AdmissionEntry& e : *q) {
        if (e.running) continue;
        place[e.vm] = ++n;
        queued[e.vm] = e;
      }
    }
    size_t done = 0, moved = 0, running = 0, waiting = 0;
    std::vector<BoardRow> rows;
    for (VmMove& m : moves_) {
      BoardRow row;
      row.name = m.vm;
      row.where = m.tries.empty() ? "-" : o_.destinations[m.destination];
      row.state = StateText(m, live, queued, place, &row.percent);
      done += m.state == VmMove::State::kDone;
      moved += m.moved();
      running += m.state == VmMove::State::kRunning;
      waiting += m.state == VmMove::State::kWaiting;
      rows.push_back(std::move(row));
    }
    char total[160];
    std::snprintf(total, sizeof total, "%zu of %zu done (%zu moved), %zu running, %zu waiting — %s", done,
                  moves_.size(), moved, running, waiting,
                  FormatMillis((WallClockSeconds() - started_) * 1000).c_str());
    view_.Update(rows, total);
  }

  void Report() {
    size_t moved = 0;
    for (const VmMove& m : moves_) moved += m.moved();
    std::printf("\nevacuation: %zu of %zu VM%s moved in %s\n", moved, moves_.size(), moves_.size() == 1 ? "" : "s",
                FormatMillis((ended_ - started_) * 1000).c_str());
    std::printf("%-16s %-8s %-18s %8s %10s  %s\n", "VM", "ATTEMPTS", "OUTCOME", "TIME", "DOWNTIME",
                "DESTINATION / WHY");
    Json vms = Json::Array();
    for (const VmMove& m : moves_) {
      bool ok = m.moved();
      std::string where = (ok ? o_.destinations[m.destination] : m.detail) + (m.code.empty() ? "" : " [" + m.code + "]");
      std::printf("%-16s %-8zu %-18s %8s %10s  %s\n", m.vm.c_str(), m.tries.size(), m.OutcomeText().c_str(),
                  m.total_ms ? FormatMillis(static_cast<double>(*m.total_ms)).c_str() : "-",
                  m.downtime_ms ? (std::to_string(*m.downtime_ms) + " ms").c_str() : "-", where.c_str());
      Json tries = Json::Array();
      for (const Try& t : m.tries) {
        tries.Append(Json::Object()
                         .Set("destination", Json::String(o_.destinations[t.destination]))
                         .Set("result", Json::String(t.result)));
        if (!ok || &t != &m.tries.back()) {
          std::printf("%-16s   tried %s: %s\n", "", o_.destinations[t.destination].c_str(), t.result.c_str());
        }
      }
      Json j = Json::Object();
      j.Set("vm", Json::String(m.vm))
          .Set("outcome", Json::String(m.OutcomeText()))
          .Set("detail", Json::String(m.detail))
          .Set("code", Json::String(m.code))
          .Set("destination", ok ? Json::String(o_.destinations[m.destination]) : Json())
          .Set("attempts", Json::Int(static_cast<int64_t>(m.tries.size())))
          .Set("started-at", Json::Double(m.started_at))
          .Set("ended-at", Json::Double(m.ended_at))
          .Set("tries", tries);
      if (m.total_ms) j.Set("total-time-ms", Json::Int(*m.total_ms));
      if (m.downtime_ms) j.Set("downtime-ms", Json::Int(*m.downtime_ms));
      vms.Append(j);
    }
    std::fflush(stdout);
    if (o_.report_json.empty()) return;
    Json report = Json::Object();
    report.Set("source", Json::String(o_.connect_uri))
        .Set("started-at", Json::Double(started_))
        .Set("ended-at", Json::Double(ended_))
        .Set("moved", Json::Int(static_cast<int64_t>(moved)))
        .Set("vms", vms);
    std::ofstream out(o_.report_json);
    out << report.Serialize(true) << "\n";
    if (!out) std::fprintf(stderr, "virt-converge: cannot write %s\n", o_.report_json.c_str());
  }

  EvacuateOptions o_;
  Millis retry_after_;
  BoardView view_;
  std::vector<VmMove> moves_;
  std::vector<int> load_;  // VMs sent to each destination (and not turned away)
  std::string work_dir_;
  double started_ = 0, ended_ = 0;
};

int RunEvacuate(const EvacuateOptions& o) {
  auto fail = [](const std::string& what) {
    std::fprintf(stderr, "virt-converge: evacuate: %s\n", what.c_str());
    return 2;
  };
  if (o.data_uris.size() > o.destinations.size()) return fail("more --migrate-uri than destinations");
  if (o.attempts < 1) return fail("--attempts must be at least 1");
  Result<int64_t> retry = ParseMillis(o.retry_after);
  if (!retry.ok()) return fail("--retry-after: " + retry.status().ToString());
  std::vector<std::string> vms = o.vms;
  Result<std::vector<std::string>> resident = LibvirtResidentDomains(o.connect_uri);
  if (!resident.ok()) {
    std::fprintf(stderr, "virt-converge: evacuate: %s\n", resident.status().ToString().c_str());
    return 3;
  }
  if (vms.empty()) {
    vms = *resident;
  } else {
    for (const std::string& v : vms) {
      if (std::find(resident->begin(), resident->end(), v) == resident->end()) {
        return fail("'" + v + "' is not a VM running here (or it is migrating already)");
      }
    }
  }
  if (vms.empty()) {
    std::printf("no VM runs here: nothing to evacuate\n");
    return 0;
  }
  return Evacuation(o, std::move(vms), Millis(*retry)).Run();
}

}  // namespace

std::function<int()> AddEvacuateCommand(CLI::App* app) {
  auto o = std::make_shared<EvacuateOptions>();
  CLI::App* c = app->add_subcommand(
      "evacuate", "migrate every VM running on this host (or those given with --vm) to the destinations, under the "
                  "host's cost budget, and report on each");
  c->add_option("destinations", o->destinations, "libvirt URIs of the destination hosts")->required();
  c->add_option("-c,--connect", o->connect_uri, "libvirt URI of this host (default: libvirt's default)");
  c->add_option("--vm", o->vms, "only this VM (repeatable)");
  c->add_option("--migrate-uri", o->data_uris,
                "where the migration data goes, per destination in the same order (repeatable), e.g. tcp://192.0.2.2");
  c->add_option("--run-dir", o->run_dir, "host-local state (default /run/virt-converge)");
  c->add_option("--state-dir", o->state_dir, "where history records go (default /var/lib/virt-converge)");
  c->add_option("--policy-root", o->policy_root, "read policy drop-ins under this root (default /)");
  c->add_flag("--no-policy", o->no_policy, "ignore policy files (no cost budget: all start at once)");
  c->add_flag("--copy-storage", o->copy_storage, "copy the VMs' non-shared disks too (storage migration)");
  c->add_option("--attempts", o->attempts, "tries per VM, over all destinations (default 5)");
  c->add_option("--retry-after", o->retry_after,
                "wait this long before trying a VM again that a destination turned away for now (default 5s)");
  c->add_option("--report-json", o->report_json, "also write the final report as JSON to this file");
  return [c, o]() { return c->parsed() ? RunEvacuate(*o) : -1; };
}

}  // namespace vc
