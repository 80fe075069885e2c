#include "src/cli/list_command.h"

#include <cstdio>
#include <map>
#include <set>

#include "plugins/action.h"
#include "src/backend/libvirt_handles.h"
#include "src/backend/libvirt_host.h"
#include "src/base/time.h"
#include "src/base/units.h"
#include "src/control/controller.h"
#include "src/coord/admission.h"
#include "src/domain/domain_xml.h"
#include "src/domain/placement.h"
#include "src/state/migration_record.h"
#include "src/state/paths.h"

namespace vc {
namespace {

struct ListOptions {
  std::string run_dir = StatePaths::kDefaultRunDir;
  std::string state_dir = StatePaths::kDefaultStateDir;
  std::string connect_uri;   // libvirt; asked only when given
  std::string vm;            // status
  bool json = false;
};

std::string LastAction(const MigrationRecord& r) {
  if (r.actions.empty()) return "-";
  const ActionRecord& a = r.actions.back();
  const std::string code = ActionCode(a);
  return a.action + ActionValueText(a.action, a.value) + (a.result == "done" ? "" : " [" + a.result + "]") +
         (code.empty() ? "" : " (" + code + ")");
}

/// "1m05s", "now", or "-" (not known yet, or it will not converge).
std::string Eta(const MigrationRecord& r) {
  if (!r.eta_ms) return "-";
  return *r.eta_ms == 0 ? "now" : FormatMillis(static_cast<double>(*r.eta_ms));
}

/// A record for a libvirt job nobody here follows.
MigrationRecord FromJob(const LibvirtMigrationJob& j, double now) {
  MigrationRecord r;
  r.id = j.uuid;
  r.vm = j.name;
  r.uuid = j.uuid;
  r.direction = j.incoming ? "in" : "out";
  r.policy = j.incoming ? "-" : "not followed";
  r.status = "active";
  r.elapsed_ms = j.elapsed_ms;
  r.started_at = now - static_cast<double>(j.elapsed_ms) / 1000;
  r.ram_total = j.memory_total;
  r.remaining = j.memory_remaining;
  r.bandwidth = static_cast<double>(j.memory_bps);
  r.dirty_rate = static_cast<double>(j.dirty_rate);
  r.pass = j.iteration;
  return r;
}

struct Listing {
  std::vector<MigrationRecord> records;
  std::map<std::string, int64_t> cost;  // by record id: queued ones' place in the budget
  std::string libvirt_error;  // "" when libvirt was not asked or answered
};

Listing Gather(const ListOptions& o) {
  Listing l;
  const StatePaths paths(o.run_dir, o.state_dir);
  l.records = ReadLiveRecords(paths);
  // `migrate`s waiting for room in the host's cost budget, in the order
  // they will start.
  if (Result<std::vector<AdmissionEntry>> q = LiveAdmissions(paths.AdmissionDir()); q.ok()) {
    int place = 0;
    for (const AdmissionEntry& e : *q) {
      if (e.running) continue;
      MigrationRecord r;
      r.id = e.id;
      r.vm = e.vm;
      r.peer = e.peer;
      r.direction = "out";
      place++;
      r.status = "queued, #" + std::to_string(place) + " in line, cost " + std::to_string(e.cost) + (e.priority ? ", priority " + std::to_string(e.priority) : "");
      r.started_at = static_cast<double>(e.arrival_ns) / 1e9;
      r.elapsed_ms = static_cast<int64_t>((WallClockSeconds() - r.started_at) * 1000);
      l.cost[r.id] = e.cost;
      l.records.push_back(std::move(r));
    }
  }
  if (o.connect_uri.empty()) return l;
  Result<std::vector<LibvirtMigrationJob>> jobs = LibvirtMigrationJobs(o.connect_uri);
  if (!jobs.ok()) {
    l.libvirt_error = jobs.status().ToString();
    return l;
  }
  std::set<std::string> followed;
  for (const MigrationRecord& r : l.records) {
    if (!r.stale) followed.insert(r.uuid);
  }
  const double now = WallClockSeconds();
  for (const LibvirtMigrationJob& j : *jobs) {
    if (!j.incoming && followed.count(j.uuid)) continue;
    l.records.push_back(FromJob(j, now));
  }
  return l;
}

std::string Elapsed(const MigrationRecord& r) { return FormatMillis(static_cast<double>(r.elapsed_ms)); }

int RunList(const ListOptions& o) {
  Listing l = Gather(o);
  if (!l.libvirt_error.empty()) {
    std::fprintf(stderr, "virt-converge: libvirt not asked: %s\n", l.libvirt_error.c_str());
  }
  if (o.json) {
    Json list = Json::Array();
    for (const MigrationRecord& r : l.records) {
      Json j = r.ToJson();
      j.Set("last-action", Json::String(LastAction(r)));
      if (auto c = l.cost.find(r.id); c != l.cost.end()) j.Set("cost", Json::Int(c->second));
      list.Append(j);
    }
    std::printf("%s\n", list.Serialize(true).c_str());
    return 0;
  }
  std::printf("%-16s %-3s %-22s %-19s %8s %8s %6s %10s %11s %11s %4s %9s %5s  %-28s %s\n", "VM", "DIR", "PEER",
              "STARTED", "ELAPSED", "ETA", "DONE", "REMAINING", "SHARE", "DIRTY", "PASS", "EXP.DOWN", "THRTL", "POLICY",
              "LAST ACTION (CODE)");
  for (const MigrationRecord& r : l.records) {
    char progress[16];
    std::snprintf(progress, sizeof progress, "%.1f%%", r.progress());
    std::string status_note = r.stale ? " (follower gone)" : r.status != "active" ? " (" + r.status + ")" : "";
    std::printf("%-16s %-3s %-22s %-19s %8s %8s %6s %10s %11s %11s %4llu %9s %4d%%  %-28s %s%s\n",
                (r.vm.empty() ? r.id : r.vm).c_str(), r.direction.c_str(), r.peer.empty() ? "-" : r.peer.c_str(),
                FormatLocalTime(r.started_at).c_str(), Elapsed(r).c_str(), Eta(r).c_str(), progress,
                FormatBytes(static_cast<double>(r.remaining)).c_str(),
                r.share ? FormatRate(static_cast<double>(r.share)).c_str() : "-",
                FormatRate(r.dirty_rate).c_str(), static_cast<unsigned long long>(r.pass),
                (std::to_string(r.expected_downtime_ms) + " ms").c_str(), r.throttle_percent,
                r.policy.c_str(), LastAction(r).c_str(), status_note.c_str());
  }
  if (l.records.empty()) std::printf("(no migration on this host)\n");
  return 0;
}

// The placement part of `status`: only libvirt knows the domain's XML.
std::string PlacementText(const ListOptions& o, const std::string& vm) {
  Result<std::string> xml = LibvirtDomainXml(o.connect_uri, vm);
  if (!xml.ok()) return "";
  Result<std::optional<Placement>> original = RecordedPlacement(*xml);
  Result<DomainSpec> now = ParseDomainXml(*xml);
  if (!original.ok() || !now.ok()) return "";
  if (!*original) return "placement:  as the VM's own XML asks (" + DescribePlacement(PlacementOf(*now)) + ")\n";
  return "placement:  ADAPTED to this host by the destination hook: " + DescribePlacement(PlacementOf(*now)) +
         "\n            original (restored on a host where it fits): " + DescribePlacement(**original) + "\n";
}

int RunStatus(const ListOptions& o) {
  const StatePaths paths(o.run_dir, o.state_dir);
  std::optional<MigrationRecord> r = FindLiveRecord(paths, o.vm);
  bool live = r.has_value();
  if (!r) {
    Result<MigrationRecord> h = FindHistoryRecord(paths, o.vm);
    if (h.ok()) r = std::move(*h);
  }
  std::string placement = o.connect_uri.empty() ? "" : PlacementText(o, o.vm);
  if (!r && placement.empty()) {
    std::fprintf(stderr, "virt-converge: status %s: no migration of it is running here or recorded under %s/history\n",
                 o.vm.c_str(), o.state_dir.c_str());
    return 1;
  }
  if (o.json) {
    Json j = r ? r->ToJson() : Json::Object();
    j.Set("live", Json::Bool(live));
    if (!placement.empty()) j.Set("placement", Json::String(placement));
    std::printf("%s\n", j.Serialize(true).c_str());
    return 0;
  }
  if (r) {
    std::printf("vm:         %s%s\n", r->vm.c_str(), r->uuid.empty() ? "" : (" (" + r->uuid + ")").c_str());
    std::printf("migration:  %s, %s%s\n", r->direction.c_str(), r->peer.empty() ? "destination not known" : ("to " + r->peer).c_str(),
                live ? (r->stale ? " — its follower is gone" : " — running") : " — ended");
    std::printf("through:    %s; follower pid %lld\n", r->backend.c_str(), static_cast<long long>(r->pid));
    std::printf("started:    %s, %s %s\n", FormatLocalTime(r->started_at).c_str(), live ? "elapsed" : "took",
                Elapsed(*r).c_str());
    std::printf("reacting:   %s\n", r->policy.c_str());
    std::printf("now:        %s pass %llu, %.1f%% of %s sent, %s remaining, bw %s%s, dirty %s, expected downtime "
                "%lld ms (limit %lld ms), throttle %d%%\n",
                r->status.c_str(), static_cast<unsigned long long>(r->pass), r->progress(),
                FormatBytes(static_cast<double>(r->ram_total)).c_str(),
                FormatBytes(static_cast<double>(r->remaining)).c_str(), FormatRate(r->bandwidth).c_str(),
                r->share ? (" (share " + FormatRate(static_cast<double>(r->share)) + ")").c_str() : "",
                FormatRate(r->dirty_rate).c_str(), static_cast<long long>(r->expected_downtime_ms),
                static_cast<long long>(r->downtime_limit_ms), r->throttle_percent);
    if (live && r->eta_ms) {
      std::printf("eta:        %s to the switch-over, if the rates hold\n", Eta(*r).c_str());
    } else if (live) {
      std::printf("eta:        - (not known before the bulk pass ends; none while pre-copy does not reach the limit at these rates)\n");
    }
    if (r->outcome) std::printf("outcome:    %s — %s\n", std::string(OutcomeName(r->outcome->outcome)).c_str(), r->outcome->detail.c_str());
    if (const std::string code = r->reason_code(); !code.empty()) std::printf("reason:     %s\n", code.c_str());
  }
  std::printf("%s", placement.c_str());
  if (!r) return 0;
  std::printf("actions:    %zu\n", r->actions.size());
  for (const ActionRecord& a : r->actions) {
    const std::string code = ActionCode(a);
    std::printf("  %7.1fs %s%s [%s]: %s%s\n", a.at_s, a.action.c_str(), ActionValueText(a.action, a.value).c_str(),
                a.result.c_str(), a.reason.c_str(), code.empty() ? "" : (" [" + code + "]").c_str());
  }
  std::printf("samples:    %zu\n", r->samples.size());
  for (const SamplePoint& p : r->samples) {
    std::printf("  %7.1fs %-14s pass %-4llu remaining %-10s bw %-11s dirty %-11s exp. downtime %lld ms, throttle %d%%\n",
                static_cast<double>(p.t_ms) / 1000, p.status.c_str(), static_cast<unsigned long long>(p.pass),
                FormatBytes(static_cast<double>(p.remaining)).c_str(), FormatRate(p.bandwidth).c_str(),
                FormatRate(p.dirty_rate).c_str(), static_cast<long long>(p.expected_downtime_ms), p.throttle_percent);
  }
  return 0;
}

}  // namespace

std::function<int()> AddListCommands(CLI::App* app) {
  auto o = std::make_shared<ListOptions>();
  CLI::App* list = app->add_subcommand("list", "every migration on this host: in and out, followed or not");
  CLI::App* status = app->add_subcommand(
      "status", "one VM's migration: progress, every sample and action with its reason (running or from history), "
                "and its placement");
  for (CLI::App* c : {list, status}) {
    c->add_option("--run-dir", o->run_dir, "the followers' live records (default /run/virt-converge)");
    c->add_option("-c,--connect", o->connect_uri,
                  "also ask libvirt at this URI (migrations nobody follows, incoming ones, the placement)");
    c->add_flag("--json", o->json, "print JSON");
  }
  status->add_option("vm", o->vm, "VM name, UUID, or record id")->required();
  status->add_option("--state-dir", o->state_dir, "where history records are (default /var/lib/virt-converge)");
  return [o, list, status]() -> int {
    if (list->parsed()) return RunList(*o);
    if (status->parsed()) return RunStatus(*o);
    return -1;
  };
}

}  // namespace vc
