#include "src/attach/follower.h"

#include <signal.h>
#include <sys/inotify.h>
#include <sys/epoll.h>
#include <systemd/sd-event.h>

#include <unistd.h>

#include <algorithm>
#include <ctime>
#include <functional>
#include <thread>

#include "src/base/c_deleter.h"
#include "src/base/units.h"
#include "src/control/policy_facts.h"
#include "src/domain/domain_xml.h"
#include "src/policy/dropins.h"
#include "src/state/switchover_memory.h"

namespace vc {

using EventPtr = CPtr<sd_event, sd_event_unref>;
using SourcePtr = CPtr<sd_event_source, sd_event_source_disable_unref>;

namespace {

// C callbacks: no exception may cross them.
template <typename F>
int Guarded(F&& f) noexcept {
  try {
    f();
  } catch (...) {
    return -EIO;  // sd-event then ends the loop with this error
  }
  return 0;
}

// Directories whose changes call \a fire once, \a settle after the last
// event of a burst (editors and dying processes change files in bursts).
// Reset to stop watching.
struct DirectoryWatch {
  std::function<void()> fire;
  uint64_t settle_us = 0;
  SourcePtr timer;
  std::vector<SourcePtr> watches;

  void Start(sd_event* e, const std::vector<std::string>& dirs, uint32_t mask, uint64_t settle, std::function<void()> f) {
    fire = std::move(f);
    settle_us = settle;
    auto on_timer = [](sd_event_source*, uint64_t, void* self) -> int {
      return Guarded([&] { static_cast<DirectoryWatch*>(self)->fire(); });
    };
    auto on_change = [](sd_event_source*, const struct inotify_event*, void* self) -> int {
      auto* w = static_cast<DirectoryWatch*>(self);
      if (!w->timer) return 0;
      sd_event_source_set_time_relative(w->timer.get(), w->settle_us);
      sd_event_source_set_enabled(w->timer.get(), SD_EVENT_ONESHOT);
      return 0;
    };
    sd_event_source* src = nullptr;
    if (sd_event_add_time_relative(e, &src, CLOCK_MONOTONIC, settle_us, settle_us / 20, on_timer, this) < 0) return;
    timer.reset(src);
    sd_event_source_set_enabled(src, SD_EVENT_OFF);
    for (const std::string& dir : dirs) {
      if (sd_event_add_inotify(e, &src, dir.c_str(), mask, on_change, this) >= 0) watches.emplace_back(src);
    }
  }
};

}  // namespace

struct Follower::Loop {
  EventPtr event;
  SourcePtr sigint, sigterm, sighup, io, timer;
  // Events a command read along with its reply sit in the backend's queue
  // with nothing left on the descriptor: after every dispatch `after` looks,
  // and `queued` ticks for them on the next iteration.
  SourcePtr after, queued;
  // Both hold `this` of their own in sd-event: never moved once started.
  DirectoryWatch policy_files, shares;
};

namespace {

// ", postcopy-ram on, auto-converge off"; libvirt without passthrough does
// not say how its migration was started.
std::string CapabilitiesText(const BackendFacts& f) {
  if (f.capabilities.empty()) return ", capabilities unknown (post-copy is tried if needed)";
  return std::string(", postcopy-ram ") + (f.postcopy_ram ? "on" : "off") + ", auto-converge " +
         (f.auto_converge ? "on" : "off");
}

}  // namespace

Follower::Follower(MigrationBackend& backend, FollowOptions options, LiveView& view)
    : backend_(backend), options_(options), view_(view) {}

Follower::~Follower() = default;

int Follower::ExitCode(const MigrationSummary& s) {
  if (Completed(s.outcome)) return 0;
  if (s.outcome == MigrationOutcome::kLost) return 3;
  if (s.outcome == MigrationOutcome::kDetached) return 4;
  return 1;
}

MigrationSummary Follower::Run() {
  sigset_t mask, old;
  sigemptyset(&mask);
  sigaddset(&mask, SIGINT);
  sigaddset(&mask, SIGTERM);
  sigaddset(&mask, SIGHUP);
  sigprocmask(SIG_BLOCK, &mask, &old);

  loop_ = std::make_unique<Loop>();
  sd_event* e = nullptr;
  // The thread's default loop: libvirt's event hooks run on it too
  // (src/backend/libvirt_event_loop.h).
  int r = sd_event_default(&e);
  if (r < 0) {
    sigprocmask(SIG_SETMASK, &old, nullptr);
    GiveUp(Status::IoError("sd_event_default", -r));
    return summary_;
  }
  loop_->event.reset(e);

  auto on_signal = [](sd_event_source*, const signalfd_siginfo* si, void* self) -> int {
    return Guarded([&] {
      static_cast<Follower*>(self)->Detach(si->ssi_signo == SIGINT ? "interrupted (SIGINT)"
                                                                   : "terminated (SIGTERM)");
    });
  };
  sd_event_source* src = nullptr;
  if (sd_event_add_signal(e, &src, SIGINT, on_signal, this) >= 0) loop_->sigint.reset(src);
  if (sd_event_add_signal(e, &src, SIGTERM, on_signal, this) >= 0) loop_->sigterm.reset(src);
  auto on_hup = [](sd_event_source*, const signalfd_siginfo*, void* self) -> int {
    return Guarded([&] { static_cast<Follower*>(self)->ReloadPolicy("SIGHUP"); });
  };
  if (sd_event_add_signal(e, &src, SIGHUP, on_hup, this) >= 0) loop_->sighup.reset(src);
  WatchPolicyDirectories();

  if (backend_.pollable_fd() >= 0) {
    auto on_io = [](sd_event_source*, int, uint32_t, void* self) -> int {
      return Guarded([&] { static_cast<Follower*>(self)->Tick(false); });
    };
    if (sd_event_add_io(e, &src, backend_.pollable_fd(), EPOLLIN, on_io, this) >= 0) {
      loop_->io.reset(src);
      sd_event_source_set_description(src, "backend-events");
    }
  }
  auto on_queued = [](sd_event_source*, void* self) -> int {
    return Guarded([&] { static_cast<Follower*>(self)->Tick(false); });
  };
  if (sd_event_add_defer(e, &src, on_queued, this) >= 0) {
    loop_->queued.reset(src);
    sd_event_source_set_enabled(src, SD_EVENT_OFF);
    sd_event_source_set_description(src, "queued-events");
    auto on_after = [](sd_event_source*, void* self) -> int {
      auto* f = static_cast<Follower*>(self);
      if (f->phase_ != Phase::kDone && f->backend_.has_queued_events()) {
        sd_event_source_set_enabled(f->loop_->queued.get(), SD_EVENT_ONESHOT);
      }
      return 0;
    };
    if (sd_event_add_post(e, &src, on_after, this) >= 0) loop_->after.reset(src);
  }
  auto on_timer = [](sd_event_source* s, uint64_t, void* self) -> int {
    auto* f = static_cast<Follower*>(self);
    const int rc = Guarded([&] {
      f->Tick(true);
      // A holder killed while we were not looking shows only here.
      f->Resplit();
    });
    const int64_t interval = f->options_.interval.count();
    const int64_t next =
        f->progress_ && f->phase_ == Phase::kFollowing ? NextSampleInMs(f->progress_->last(), interval) : interval;
    sd_event_source_set_time_relative(s, static_cast<uint64_t>(next) * 1000);
    sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
    return rc;
  };
  r = sd_event_add_time_relative(e, &src, CLOCK_MONOTONIC, 0, 1000, on_timer, this);
  if (r < 0) {
    loop_.reset();
    sigprocmask(SIG_SETMASK, &old, nullptr);
    GiveUp(Status::IoError("sd_event_add_time_relative", -r));
    return summary_;
  }
  loop_->timer.reset(src);
  sd_event_source_set_description(src, "sample-timer");

  r = sd_event_loop(e);
  if (r < 0 && phase_ != Phase::kDone) GiveUp(Status::Internal("event loop", "a handler failed"));
  control_.reset();
  loop_.reset();
  sigprocmask(SIG_SETMASK, &old, nullptr);
  view_.Finish();
  return summary_;
}

void Follower::Done(MigrationSummary summary) {
  if (phase_ == Phase::kDone) return;
  phase_ = Phase::kDone;
  // Before anything else: the others get this migration's share and its
  // place in the cost budget at once.
  DropShare();
  admission_.reset();
  if (controller_) summary.actions = controller_->actions();
  summary.samples = series_;
  summary.postcopy = progress_ && progress_->saw_postcopy();
  summary_ = std::move(summary);
  if (writer_) {
    if (progress_) Record(&progress_->StatisticsOf(progress_->last()));
    if (summary_.total_time_ms) record_.elapsed_ms = *summary_.total_time_ms;
    record_.status = std::string(OutcomeName(summary_.outcome));
    record_.samples = series_;
    record_.outcome = summary_;
    Status st = writer_->Finish(record_);
    if (!st.ok()) view_.Message("could not write the history record: " + st.ToString());
    writer_.reset();
  }
  if (loop_ && loop_->event) sd_event_exit(loop_->event.get(), 0);
}

void Follower::Tick(bool timer) {
  if (phase_ == Phase::kDone) return;
  bool want_sample = timer, after_sync = false;
  std::vector<BackendEvent> events;
  Status st = backend_.Poll(&events);
  for (const BackendEvent& ev : events) {
    if (ev.kind == BackendEvent::Kind::kPass) want_sample = after_sync = true;
    if (ev.kind == BackendEvent::Kind::kStatus) want_sample = true;
  }
  if (!st.ok()) {
    // Whatever arrived before the loss still counts (e.g. "completed").
    if (!events.empty() && phase_ == Phase::kFollowing) {
      for (const BackendEvent& ev : events) {
        if (ev.kind == BackendEvent::Kind::kStatus && ev.status == "completed" && progress_) {
          MigrationSample s = progress_->last();
          s.status = "completed";
          Finish(s);
          return;
        }
      }
    }
    Lose(st);
    return;
  }
  // libvirt copies the disks before the RAM: their units come back as
  // each gets ready, whatever the phase.
  ReleaseCopiedDisks();
  if (!want_sample) return;
  Result<MigrationSample> s = backend_.Sample();
  if (!s.ok()) {
    StatusCode c = s.status().code();
    if (c == StatusCode::kClosed || c == StatusCode::kIoError || c == StatusCode::kTimeout) {
      Lose(s.status());
    } else {
      GiveUp(s.status());
    }
    return;
  }
  if (phase_ == Phase::kWaiting) {
    if (options_.started_here && s->status == "failed") {
      // The migration we were started for failed before it ran (the
      // destination refused it, ...): nothing moved, the VM runs on here.
      MigrationSummary never;
      never.outcome = MigrationOutcome::kNotStarted;
      never.detail = "the migration never started: " + (s->error.empty() ? std::string("QEMU says failed") : s->error);
      view_.Message(never.detail);
      return Done(std::move(never));
    }
    if (!s->running()) return;
    StartFollowing(*s);
    if (phase_ != Phase::kFollowing) return;
  }
  Follow(*s, after_sync);
}

void Follower::StartFollowing(const MigrationSample& s) {
  Result<BackendFacts> f = backend_.Facts();
  if (!f.ok()) return f.status().code() == StatusCode::kCommandFailed ? GiveUp(f.status()) : Lose(f.status());
  facts_ = *f;
  ChooseReaction(s);
  // The policy says whether QMP passthrough may be used (it taints a
  // libvirt domain); what the backend can do depends on it.
  if (!ApplyPassthroughPolicy()) return;
  Result<MigrationTuning> t = backend_.Tuning();
  if (!t.ok()) return Lose(t.status());
  phase_ = Phase::kFollowing;
  progress_.emplace(s);
  controller_ = std::make_unique<Controller>(backend_, facts_, reaction_.get(), options_.dry_run,
                                             [this](const std::string& line) { view_.Message(line); });
  if (options_.before_start) controller_->AdoptStartSettings(*options_.before_start, options_.start_settings);
  view_.Message(std::string("following the migration on ") + backend_.Describe() + " (" +
                facts_.hypervisor + CapabilitiesText(facts_) + ", events " +
                (facts_.events ? "on" : "off: sampling on a timer") + ")" +
                (options_.dry_run ? " — dry run: observing only" : "") + "; reacting with " +
                reaction_->Describe());
  if (!options_.paths.run_dir().empty() && !options_.migration_id.empty()) {
    writer_.emplace(options_.paths, options_.migration_id);
    record_.id = options_.migration_id;
    record_.vm = facts_.vm_name;
    record_.uuid = options_.uuid;
    record_.peer = options_.peer;
    record_.backend = backend_.Describe();
    record_.policy = reaction_->Describe();
    record_.pid = getpid();
    record_.started_at = WallClockSeconds() - static_cast<double>(s.total_time_ms) / 1000;
    Record(&s);
    std::string path = options_.paths.ControlSocketFile(options_.migration_id);
    Result<ControlSocket> c = ControlSocket::Listen(loop_->event.get(), path, [this](const std::string& request) {
      return HandleRequest(request);
    });
    if (c.ok()) {
      control_.emplace(std::move(*c));
    } else {
      view_.Message("no control socket (cancel/postcopy/resume must go through libvirt): " + c.status().ToString());
    }
  }
  TakeShare();
  EnterAdmission();
}

void Follower::EnterAdmission() {
  if (admission_ || options_.paths.run_dir().empty() || options_.migration_id.empty() || options_.dry_run) return;
  if (!facts_.domain_xml.empty()) {
    Result<DomainSpec> spec = ParseDomainXml(facts_.domain_xml);
    if (spec.ok()) {
      for (const DomainSpec::Disk& d : spec->disks) {
        if (d.CopiedByStorageMigration() && !d.target.empty()) copied_disks_.push_back(d.target);
      }
    }
  }
  Result<std::vector<DiskCopy>> copies = backend_.DiskCopies(copied_disks_);
  AdmissionEntry entry;
  entry.id = options_.migration_id;
  entry.vm = facts_.vm_name.empty() ? options_.migration_id : facts_.vm_name;
  entry.peer = options_.peer;
  entry.running = true;
  if (copies.ok()) {
    for (const DiskCopy& c : *copies) entry.cost += c.ready ? 0 : 1;
  }
  Result<AdmissionTicket> t = AdmissionTicket::Enter(options_.paths.AdmissionDir(), entry);
  if (!t.ok()) {
    view_.Message("not counted in the host's cost budget: " + t.status().ToString());
    return;
  }
  admission_.emplace(std::move(*t));
}

void Follower::ReleaseCopiedDisks() {
  if (!admission_ || admission_->entry().cost <= 1) return;
  Result<std::vector<DiskCopy>> copies = backend_.DiskCopies(copied_disks_);
  if (!copies.ok()) return;  // asked again at the next tick
  bool changed = false;
  for (const DiskCopy& c : *copies) {
    if (!c.ready || std::find(disks_ready_.begin(), disks_ready_.end(), c.disk) != disks_ready_.end()) continue;
    disks_ready_.push_back(c.disk);
    changed = true;
    Status st = admission_->SetCost(admission_->entry().cost - 1);
    view_.Message("disk " + c.disk + " copied (" + FormatBytes(static_cast<double>(c.total)) +
                  ", mirror ready): this migration now costs " + std::to_string(admission_->entry().cost) +
                  " of the host's budget" + (st.ok() ? "" : " (could not say so: " + st.ToString() + ")"));
  }
  if (changed) Record(nullptr);
}

OperatorReply Follower::HandleRequest(const std::string& request) {
  if (phase_ != Phase::kFollowing || !progress_) return {false, "error: the migration is not running"};
  Result<MigrationSample> now = backend_.Sample();
  const MigrationSample s = now.ok() && now->running() ? *now : progress_->last();
  OperatorReply reply;
  if (request == "cancel") {
    view_.Message("the operator asks to cancel");
    reply = controller_->Cancel(s);
  } else if (request == "postcopy") {
    view_.Message("the operator asks to complete now");
    reply = controller_->CompleteNow(s);
  } else if (request.rfind("resume ", 0) == 0) {
    // "resume URI [DATA-URI]": libvirt takes the destination's URI and
    // where the data goes; QEMU only the latter, as URI.
    std::string uri = request.substr(7), data_uri;
    if (size_t sp = uri.find(' '); sp != std::string::npos) {
      data_uri = uri.substr(sp + 1);
      uri.resize(sp);
    }
    view_.Message("the operator asks to resume post-copy over " + uri + (data_uri.empty() ? "" : " (data " + data_uri + ")"));
    Status st = options_.dry_run ? Status::Ok() : backend_.ResumePostcopy(uri, data_uri);
    reply = {st.ok(), st.ok() ? (options_.dry_run ? "resume: dry run: not applied" : "resume: done")
                              : "resume: " + st.ToString()};
    view_.Message(reply.text);
  } else {
    return {false, "error: unknown request '" + request + "' (cancel, postcopy, resume URI [DATA-URI])"};
  }
  Record(nullptr);
  return reply;
}

void Follower::Record(const MigrationSample* s) {
  if (!writer_) return;
  if (s) {
    record_.status = s->status;
    record_.elapsed_ms = s->total_time_ms;
    record_.ram_total = s->ram_total;
    record_.remaining = s->ram_remaining;
    record_.transferred = s->ram_transferred;
    record_.pass = s->pass;
    record_.bandwidth = s->bandwidth;
    record_.dirty_rate = s->dirty_rate;
    record_.expected_downtime_ms = s->expected_downtime_ms;
    record_.throttle_percent = s->throttle_percent;
  }
  record_.share = share_bps_;
  record_.updated_at = WallClockSeconds();
  if (controller_) {
    record_.downtime_limit_ms = controller_->downtime_limit_ms();
    record_.actions = controller_->actions();
  }
  Status st = writer_->Update(record_);
  if (!st.ok() && !record_warned_) {
    view_.Message("could not write the live record (list/status will not show this migration): " + st.ToString());
    record_warned_ = true;
  }
}

void Follower::TakeShare() {
  if (options_.paths.run_dir().empty() || !reaction_) return;
  const policy::Policy& p = reaction_->policy();
  split_.budget = p.host_bandwidth.value;
  if (!split_.budget) return;
  split_.mode = p.bandwidth_split.value == policy::BandwidthSplit::kClosestFirst ? SplitMode::kClosestFirst
                : p.bandwidth_split.value == policy::BandwidthSplit::kStatic    ? SplitMode::kStatic
                                                                                : SplitMode::kEqual;
  split_.slots = static_cast<int>(p.cost_budget.value);
  // A policy that states this VM's own bandwidth pins it; the others share
  // what is left.
  ShareEntry entry{options_.migration_id, p.bandwidth.origin.is_default() ? 0 : p.bandwidth.value,
                   progress_ ? progress_->last().ram_remaining : 0};
  shares_dir_ = options_.paths.SharesDir();
  Result<ShareHold> hold = ShareHold::Take(shares_dir_, entry);
  if (!hold.ok()) {
    // Without an entry the others do not count us: do not take a share.
    view_.Message("not sharing the host's bandwidth: " + hold.status().ToString());
    split_.budget = 0;
    return;
  }
  share_hold_.emplace(std::move(*hold));
  if (loop_ && loop_->event) {
    // Entries come (create), go (delete), lose their holder (the last
    // close of a writable file — also when the kernel closes it for a
    // killed process) or say how much they have left (modify). The lock
    // goes a moment after that close: look again a little later rather
    // than at once.
    loop_->shares.Start(loop_->event.get(), {shares_dir_},
                        IN_CREATE | IN_DELETE | IN_MOVED_TO | IN_CLOSE_WRITE | IN_MODIFY, 20000,
                        [this] { Resplit(); });
  }
  Resplit();
}

void Follower::Resplit() {
  if (!share_hold_ || phase_ != Phase::kFollowing || !progress_ || progress_->last().in_postcopy()) return;
  Result<std::vector<ShareEntry>> live = LiveShares(shares_dir_);
  if (!live.ok()) return;  // keep the last share; the next look may do better
  uint64_t share = ShareOf(*live, options_.migration_id, split_);
  if (share == 0 || share == share_bps_) return;
  // The action is stamped with the migration's time now, not at the last
  // pass (which may be long ago in the bulk pass).
  Result<MigrationSample> now = backend_.Sample();
  const MigrationSample s = now.ok() && now->running() ? *now : progress_->last();
  share_bps_ = share;
  sharing_with_ = live->size() - 1;
  controller_->set_bandwidth_ceiling(share);
  std::string why = sharing_with_ == 0 ? "the only migration leaving this host: all of its "
                                       : "its " + std::string(SplitModeName(split_.mode)) + " share, with " +
                                             std::to_string(sharing_with_) + " other migration" +
                                             (sharing_with_ == 1 ? "" : "s") + " leaving this host, of its ";
  (void)controller_->Impose(s, {DecisionKind::kHostShare, "set-bandwidth", static_cast<int64_t>(share),
                               why + FormatRate(static_cast<double>(split_.budget)) + " budget ([Host] OutgoingBandwidth)"});
  Record(nullptr);
}

void Follower::DropShare() {
  if (loop_) loop_->shares = DirectoryWatch{};
  share_hold_.reset();
}

void Follower::Follow(const MigrationSample& first, bool after_sync) {
  MigrationSample s = first;
  // QEMU sets "completed" a moment before it fills in total-time and
  // downtime; the MIGRATION event makes us look right in that window.
  for (int i = 0; i < 20 && s.status == "completed" && (s.total_time_ms == 0 || !s.downtime_ms); i++) {
    std::this_thread::sleep_for(Millis(50));
    Result<MigrationSample> again = backend_.Sample();
    if (!again.ok()) break;
    s = *again;
  }
  after_sync = progress_->Observe(s, after_sync);
  series_.push_back({s.total_time_ms, s.status, s.pass, s.ram_remaining, s.ram_transferred,
                     s.bandwidth, s.dirty_rate, s.expected_downtime_ms, s.throttle_percent});
  view_.Update(s, controller_->downtime_limit_ms());
  if (writer_) (void)writer_->AppendSample(series_.back());  // the live record says if /run is broken
  if (s.finished()) return Finish(s);
  // Closest-first needs everyone's bytes left; the others' watches see
  // the change and split again.
  if (share_hold_ && split_.mode == SplitMode::kClosestFirst) (void)share_hold_->SetRemaining(s.ram_remaining);
  controller_->OnSample(s, after_sync);
  Record(&s);
}

policy::Resolved Follower::ResolvePolicy(uint64_t ram_total) {
  policy::VmFacts vm = PolicyFacts(facts_, [this](const std::string& line) { view_.Message("policy warning: " + line); });
  // The migration's RAM total when QEMU reports it; during setup the
  // guest's memory size (query-memory-size-summary, the domain XML) stands in.
  if (ram_total) vm.memory = ram_total;
  policy::Resolved r =
      options_.policy_root.empty() ? policy::ResolveBuiltinOnly() : policy::Resolve(options_.policy_root, vm);
  for (const policy::Diagnostic& d : r.diagnostics) view_.Message("policy warning: " + d.ToString());
  return r;
}

SwitchoverSpeed Follower::LearnedSwitchoverSpeed(const policy::Policy& p) {
  if (!p.learn_switchover.value || p.switchover_bandwidth.value || options_.paths.state_dir().empty()) return {};
  const std::string key = SwitchoverMemory::KeyOf(options_.peer);
  std::optional<LearnedSwitchover> learned =
      SwitchoverMemory(options_.paths).Recall(key, static_cast<int64_t>(std::time(nullptr)));
  if (!learned) {
    if (!told_learned_) view_.Message("switch-over bandwidth: nothing learned yet for " + key);
    told_learned_ = true;
    return {};
  }
  SwitchoverSpeed speed = SwitchoverSpeed::Learned(learned->copies);
  if (!told_learned_) {
    view_.Message("switch-over bandwidth: " + speed.Describe() + " to " + key + " (" + learned->path +
                  "): " + SwitchoverSpeed::kLearnedRule);
  }
  told_learned_ = true;
  return speed;
}

void Follower::RememberSwitchover(const MigrationSample& end) {
  if (options_.paths.state_dir().empty()) return;
  std::optional<SwitchoverCopy> copy =
      progress_->WitnessSwitchover(end, controller_ ? controller_->max_bandwidth() : std::nullopt, facts_);
  if (!copy) return;
  SwitchoverObservation o;
  o.unix_seconds = static_cast<int64_t>(std::time(nullptr));
  o.copy = *copy;
  const std::string key = SwitchoverMemory::KeyOf(options_.peer);
  Status st = SwitchoverMemory(options_.paths).Remember(key, o);
  if (!st.ok()) {
    view_.Message("could not remember the switch-over speed: " + st.ToString());
  } else if (SwitchoverMemory::Keeps(o.copy)) {
    const std::string never_sent =
        o.copy.never_sent ? "; " + FormatBytes(static_cast<double>(*o.copy.never_sent)) + " of it never sent before" : "";
    view_.Message("switch-over: " + FormatBytes(static_cast<double>(o.copy.bytes)) + " in " +
                  std::to_string(o.copy.downtime_ms) + " ms (" + FormatRate(o.copy.rate()) + never_sent +
                  "), remembered for " + key);
  }
}

bool Follower::ApplyPassthroughPolicy() {
  bool allowed = reaction_ && reaction_->policy().allow_passthrough.value;
  backend_.AllowPassthrough(allowed);
  if (allowed == passthrough_allowed_) return true;  // the facts read stand
  passthrough_allowed_ = allowed;
  Result<BackendFacts> f = backend_.Facts();
  if (!f.ok()) {
    f.status().code() == StatusCode::kCommandFailed ? GiveUp(f.status()) : Lose(f.status());
    return false;
  }
  facts_ = *f;
  if (controller_) controller_->set_facts(facts_);
  return true;
}

std::string Follower::DescribePolicy(const policy::Resolved& r) const {
  if (options_.policy_root.empty()) return "the built-in default policy (--no-policy)";
  if (r.applied.empty()) return "the built-in default policy (no policy files under " + options_.policy_root + ")";
  return "policy (the built-in default and " + std::to_string(r.applied.size()) + " file" +
         (r.applied.size() == 1 ? "" : "s") + " under " + options_.policy_root + ")";
}

void Follower::ChooseReaction(const MigrationSample& s) {
  policy::Resolved r = ResolvePolicy(s.ram_total);
  for (const std::string& f : r.applied) view_.Message("policy file: " + f);
  shown_policy_ = policy::Show(r.policy);
  SwitchoverSpeed learned = LearnedSwitchoverSpeed(r.policy);
  std::string desc = DescribePolicy(r);
  reaction_ = std::make_unique<PolicyReaction>(std::move(r.policy), std::move(desc), std::move(learned));
}

void Follower::ReloadPolicy(const std::string& why) {
  if (phase_ != Phase::kFollowing || options_.policy_root.empty() || !progress_ || !reaction_) return;
  policy::Resolved r = ResolvePolicy(progress_->last().ram_total);
  std::vector<policy::ShownSetting> now = policy::Show(r.policy);
  std::string changes;
  for (size_t i = 0; i < now.size(); i++) {
    const policy::ShownSetting* old = i < shown_policy_.size() ? &shown_policy_[i] : nullptr;
    if (old && old->value == now[i].value) continue;
    changes += "\n    " + now[i].key + ": " + (old ? old->value : "?") + " -> " + now[i].value + " (" +
               now[i].origin.ToString() + ")";
  }
  shown_policy_ = now;
  SwitchoverSpeed learned = LearnedSwitchoverSpeed(r.policy);
  std::string desc = DescribePolicy(r);
  reaction_->Reload(std::move(r.policy), std::move(desc), std::move(learned));
  view_.Message("policy reloaded (" + why + ")" + (changes.empty() ? ": nothing changed" : ":" + changes));
  ApplyPassthroughPolicy();
}

void Follower::WatchPolicyDirectories() {
  if (options_.policy_root.empty() || !loop_) return;
  loop_->policy_files.Start(loop_->event.get(), policy::PolicyDirectories(options_.policy_root),
                            IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE | IN_CREATE, 200000,
                            [this] { ReloadPolicy("a policy file changed"); });
}

void Follower::Finish(const MigrationSample& s) {
  if (controller_) controller_->OnFinished(s);
  MigrationSummary sum;
  const MigrationSample& stats = progress_->StatisticsOf(s);
  sum.total_time_ms = s.total_time_ms ? s.total_time_ms : stats.total_time_ms;
  sum.downtime_ms = s.downtime_ms;
  sum.passes = stats.pass;
  sum.bytes_sent = stats.ram_transferred;
  sum.ram_total = stats.ram_total;
  const std::string abort_reason = controller_ ? controller_->abort_reason() : "";
  sum.outcome = progress_->OutcomeOf(s, !abort_reason.empty());
  switch (sum.outcome) {
    case MigrationOutcome::kCompleted:
      RememberSwitchover(s);
      sum.detail = "finished in pre-copy";
      break;
    case MigrationOutcome::kCompletedPostcopy:
      sum.detail = "finished in post-copy";
      break;
    case MigrationOutcome::kAborted:
      sum.detail = "aborted by virt-converge: " + abort_reason;
      break;
    case MigrationOutcome::kCancelled:
      sum.detail = "cancelled by someone else";
      break;
    default:
      sum.detail = s.error.empty() ? "QEMU reports the migration failed" : "QEMU: " + s.error;
      break;
  }
  Done(std::move(sum));
}

void Follower::LeaveToQemu() {
  if (controller_) controller_->Leave(progress_ && progress_->last().in_postcopy());
}

void Follower::Detach(const std::string& why) {
  if (phase_ == Phase::kFollowing) LeaveToQemu();
  MigrationSummary sum;
  sum.outcome = MigrationOutcome::kDetached;
  sum.detail = why + (phase_ == Phase::kFollowing
                          ? "; the migration goes on under QEMU's own settings"
                          : "; no migration was running");
  if (progress_) {
    const MigrationSample& last = progress_->last();
    sum.total_time_ms = last.total_time_ms;
    sum.passes = last.pass;
    sum.bytes_sent = last.ram_transferred;
    sum.ram_total = last.ram_total;
  }
  Done(std::move(sum));
}

void Follower::Lose(const Status& st) {
  MigrationSummary sum;
  sum.outcome = MigrationOutcome::kLost;
  sum.detail = "lost " + backend_.Describe() + ": " + st.ToString();
  if (progress_) {
    const MigrationSample& last = progress_->last();
    sum.total_time_ms = last.total_time_ms;
    sum.passes = last.pass;
    sum.bytes_sent = last.ram_transferred;
  }
  Done(std::move(sum));
}

void Follower::GiveUp(const Status& st) {
  // Our fault or an answer we cannot use: leave the migration to QEMU.
  LeaveToQemu();
  MigrationSummary sum;
  sum.outcome = MigrationOutcome::kLost;
  sum.detail = "internal error, leaving the migration to QEMU's own settings: " + st.ToString();
  Done(std::move(sum));
}

}  // namespace vc
