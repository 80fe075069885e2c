#include "src/attach/follower.h"

#include <unistd.h>

#include <thread>

#include "src/base/units.h"
#include "src/coord/held_entry.h"
#include "src/state/changes_record.h"
#include "src/state/host_metrics.h"

namespace vc {
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
    : backend_(backend),
      options_(std::move(options)),
      view_(view),
      policy_(options_.policy_root, options_.paths, options_.peer, view),
      host_(backend, {options_.paths, options_.migration_id, options_.peer, options_.dry_run}, view,
            [this] { return last_sample(); }, [this] { Record(nullptr); }),
      operator_(backend, view, options_.dry_run) {
  journal_.SetMigration("", options_.uuid, options_.migration_id);
}

Follower::~Follower() = default;

int Follower::ExitCode(const MigrationSummary& s) {
  if (Completed(s.outcome)) return 0;
  if (s.outcome == MigrationOutcome::kLost) return 3;
  if (s.outcome == MigrationOutcome::kDetached) return 4;
  return 1;
}

MigrationSummary Follower::Run() {
  FollowLoop::Client client;
  client.tick = [this](bool timer) {
    Tick(timer);
    // A share holder killed while we were not looking shows only here.
    if (timer) host_.Resplit();
  };
  client.next_sample_ms = [this] {
    if (phase_ == Phase::kEnding) return static_cast<int64_t>(kDestinationPoll.count());
    const int64_t interval = options_.interval.count();
    return last_sample() ? NextSampleInMs(*last_sample(), interval) : interval;
  };
  client.stop = [this](const std::string& why) {
    if (phase_ == Phase::kEnding) return AwaitDestination(/*stopping=*/true);
    const bool following = phase_ == Phase::kFollowing;
    End(EndingHere(MigrationOutcome::kDetached, "detached.signal",
                   why + (following ? "; the migration goes on under QEMU's own settings" : "; no migration was running")),
        following);
  };
  client.reload = [this] { ReloadPolicy("SIGHUP"); };
  client.done = [this] { return phase_ == Phase::kDone; };
  Result<std::unique_ptr<FollowLoop>> loop = FollowLoop::Open(backend_, std::move(client));
  if (!loop.ok()) {
    End(EndingHere(MigrationOutcome::kLost, "lost.internal",
                   "internal error, leaving the migration to QEMU's own settings: " + loop.status().ToString()),
        true);
    return summary_;
  }
  loop_ = std::move(*loop);
  policy_.Watch(loop_->event(), [this] { ReloadPolicy("a policy file changed"); });
  Status st = loop_->Run();
  if (!st.ok() && phase_ != Phase::kDone) EndOnError(st);
  control_.reset();
  loop_.reset();
  view_.Finish();
  return summary_;
}

void Follower::Tick(bool timer) {
  if (phase_ == Phase::kDone) return;
  if (phase_ == Phase::kEnding) {
    if (timer) AwaitDestination(/*stopping=*/false);
    return;
  }
  bool want_sample = timer, pass_event = false;
  std::vector<BackendEvent> events;
  Status st = backend_.Poll(&events);
  for (const BackendEvent& ev : events) {
    if (ev.kind == BackendEvent::Kind::kPass) want_sample = pass_event = true;
    if (ev.kind == BackendEvent::Kind::kStatus) want_sample = true;
  }
  if (!st.ok()) {
    // Whatever arrived before the loss still counts (e.g. "completed").
    for (const BackendEvent& ev : events) {
      if (last_sample() && ev.kind == BackendEvent::Kind::kStatus && ev.status == "completed") {
        MigrationSample s = *last_sample();
        s.status = "completed";
        return Finish(s);
      }
    }
    return EndLost(st);
  }
  // libvirt copies the disks before the RAM: their units come back as
  // each gets ready, whatever the phase.
  host_.ReleaseCopiedDisks();
  if (!want_sample) return;
  Result<MigrationSample> s = backend_.Sample();
  if (!s.ok()) return OnSampleError(s.status());
  unanswered_since_.reset();
  if (phase_ == Phase::kWaiting) {
    if (options_.started_here && s->status == "failed") {
      // The migration we were started for failed before it ran (the
      // destination refused it, ...): nothing moved, the VM runs on here.
      MigrationSummary never = EndingHere(
          MigrationOutcome::kNotStarted, "not-started.failed",
          "the migration never started: " + (s->error.empty() ? std::string("QEMU says failed") : s->error));
      Tell(never.detail);
      if (options_.before_start && !options_.dry_run) {
        // What `migrate` set goes back, as at any end that is not a
        // completion; then the record it wrote before the start goes.
        const ChangesInForce left = PutBack(backend_, {*options_.before_start, options_.start_settings, false}, *s,
                                            [this](const std::string& line) { Tell(line); });
        changes_owned_ = !options_.migration_id.empty() && left.empty();
      }
      return End(std::move(never), false);
    }
    if (!s->running()) {
      if (options_.adopted) return EndOrphan(*s);
      if (options_.wait_at_most.count() > 0 && Clock::now() - waiting_since_ >= options_.wait_at_most) {
        return End(EndingHere(MigrationOutcome::kDetached, "detached.no-migration",
                              "no migration ran within " + FormatMillis(static_cast<double>(options_.wait_at_most.count())) +
                                  " (status " + s->status + "): the one this follower was started for ended before it looked"),
                   false);
      }
      return;
    }
    StartFollowing(*s);
    if (phase_ != Phase::kFollowing) return;
  }
  Follow(*s, pass_event);
}

void Follower::StartFollowing(const MigrationSample& s) {
  Result<BackendFacts> f = backend_.Facts();
  if (!f.ok()) return EndOnError(f.status());
  facts_ = *f;
  PolicyReaction& reaction = policy_.Choose(facts_, s.ram_total);
  // The policy says whether QMP passthrough may be used (it taints a
  // libvirt domain); what the backend can do depends on it.
  if (!ApplyPassthroughPolicy()) return;
  Result<MigrationTuning> t = backend_.Tuning();
  if (!t.ok()) return EndOnError(t.status());
  phase_ = Phase::kFollowing;
  progress_.emplace(s);
  controller_ = std::make_unique<Controller>(backend_, facts_, &reaction, options_.dry_run,
                                             [this](const std::string& line) { view_.Message(line); });
  if (!options_.dry_run && !options_.migration_id.empty()) {
    changes_owned_ = true;
    controller_->set_before_change([this](const ChangesInForce& c) { RecordChanges(c); });
  }
  if (options_.before_start) controller_->AdoptStartSettings(*options_.before_start, options_.start_settings);
  if (options_.adopted) {
    controller_->Adopt(*options_.adopted);
    Tell("following on from a follower that died; what it had changed is ours now: " +
                  DescribeChanges(*options_.adopted));
  }
  const std::string following =
      std::string("following the migration on ") + backend_.Describe() + " (" + facts_.hypervisor +
      CapabilitiesText(facts_) + ", events " + (facts_.events ? "on" : "off: sampling on a timer") + ")" +
      (options_.dry_run ? " — dry run: observing only" : "") + "; reacting with " + reaction.Describe();
  view_.Message(following);
  journal_.SetMigration(facts_.vm_name, options_.uuid, options_.migration_id);
  journal_.Following(following, backend_.Describe(), reaction.Describe());
  if (!options_.paths.run_dir().empty() && !options_.migration_id.empty()) {
    writer_.emplace(options_.paths, options_.migration_id);
    record_.id = options_.migration_id;
    record_.vm = facts_.vm_name;
    record_.uuid = options_.uuid;
    record_.peer = options_.peer;
    record_.backend = backend_.Describe();
    record_.policy = reaction.Describe();
    record_.pid = getpid();
    record_.started_at = WallClockSeconds() - static_cast<double>(s.total_time_ms) / 1000;
    Record(&s);
    if (Status st = WriteHostMetrics(options_.paths); !st.ok()) Tell("could not write the metrics: " + st.ToString());
    std::string path = options_.paths.ControlSocketFile(options_.migration_id);
    Result<ControlSocket> c = ControlSocket::Listen(loop_ ? loop_->event() : nullptr, path,
                                                    [this](const std::string& request) { return HandleRequest(request); });
    if (c.ok()) {
      control_.emplace(std::move(*c));
    } else {
      Tell("no control socket (cancel/postcopy/resume must go through libvirt): " + c.status().ToString());
    }
  }
  host_.Join(loop_ ? loop_->event() : nullptr, reaction.policy(), facts_, controller_.get());
}

void Follower::Follow(const MigrationSample& first, bool pass_event) {
  MigrationSample s = first;
  // QEMU sets "completed" a moment before it fills in total-time and
  // downtime; the MIGRATION event makes us look right in that window.
  for (int i = 0; i < 20 && s.status == "completed" && (s.total_time_ms == 0 || !s.downtime_ms); i++) {
    std::this_thread::sleep_for(Millis(50));
    Result<MigrationSample> again = backend_.Sample();
    if (!again.ok()) break;
    s = *again;
  }
  const bool after_sync = progress_->Observe(s, pass_event);
  series_.push_back({s.total_time_ms, s.status, s.pass, s.ram_remaining, s.ram_transferred, s.bandwidth,
                     s.dirty_rate, s.expected_downtime_ms, s.throttle_percent});
  view_.Update(s, controller_->downtime_limit_ms());
  if (s.running()) eta_.Update(s, after_sync);
  if (writer_) (void)writer_->AppendSample(series_.back());  // the live record says if /run is broken
  if (s.finished()) return Finish(s);
  // The others' watches see the change and split again.
  host_.SetRemaining(s.ram_remaining);
  controller_->OnSample(s, after_sync);
  Record(&s);
}

bool Follower::ApplyPassthroughPolicy() {
  bool allowed = policy_.reaction() && policy_.reaction()->policy().allow_passthrough.value;
  backend_.AllowPassthrough(allowed);
  if (allowed == passthrough_allowed_) return true;  // the facts read stand
  passthrough_allowed_ = allowed;
  Result<BackendFacts> f = backend_.Facts();
  if (!f.ok()) {
    EndOnError(f.status());
    return false;
  }
  facts_ = *f;
  if (controller_) controller_->set_facts(facts_);
  return true;
}

void Follower::ReloadPolicy(const std::string& why) {
  if (!last_sample()) return;
  if (policy_.Reload(facts_, last_sample()->ram_total, why)) ApplyPassthroughPolicy();
}

OperatorReply Follower::HandleRequest(const std::string& request) {
  if (!last_sample()) return {false, "error: the migration is not running"};
  OperatorReply reply = operator_.Handle(request, *controller_, *last_sample());
  Record(nullptr);
  return reply;
}

void Follower::Tell(const std::string& line) {
  view_.Message(line);
  journal_.Event(line);
}

void Follower::JournalNewActions() {
  if (!controller_) return;
  const std::vector<ActionRecord>& actions = controller_->actions();
  for (; journaled_actions_ < actions.size(); journaled_actions_++) journal_.Action(actions[journaled_actions_]);
}

void Follower::Record(const MigrationSample* s) {
  JournalNewActions();
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
  record_.share = host_.share_bps();
  record_.updated_at = WallClockSeconds();
  if (controller_) {
    record_.downtime_limit_ms = controller_->downtime_limit_ms();
    // QEMU's own limit when none of ours is known.
    record_.eta_ms = eta_.estimates().ConvergeMs(record_.downtime_limit_ms > 0 ? record_.downtime_limit_ms : 300);
    record_.actions = controller_->actions();
  }
  Status st = writer_->Update(record_);
  if (!st.ok() && !record_warned_) {
    Tell("could not write the live record (list/status will not show this migration): " + st.ToString());
    record_warned_ = true;
  }
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
  if (options_.started_here && sum.outcome == MigrationOutcome::kFailed && stats.pass == 0 &&
      stats.ram_transferred == 0) {
    // Failed in setup, before a byte moved (QEMU 10 reports "setup" before
    // its connection to the destination is refused): as the not-started
    // migration of the waiting phase, the VM runs on here untouched.
    sum.outcome = MigrationOutcome::kNotStarted;
    sum.code = "not-started.failed";
    sum.detail = "the migration never started: " + (s.error.empty() ? std::string("QEMU says failed") : s.error);
    return End(std::move(sum), false);
  }
  switch (sum.outcome) {
    case MigrationOutcome::kCompleted:
      if (std::optional<SwitchoverCopy> copy = progress_->WitnessSwitchover(
              s, controller_ ? controller_->max_bandwidth() : std::nullopt, facts_)) {
        sum.switchover = ReportSwitchover(*copy);
        policy_.RememberSwitchover(*copy);
      }
      sum.detail = "finished in pre-copy";
      sum.code = "completed.precopy";
      break;
    case MigrationOutcome::kCompletedPostcopy:
      sum.detail = "finished in post-copy";
      sum.code = "completed.postcopy";
      break;
    case MigrationOutcome::kAborted:
      sum.detail = "aborted by virt-converge: " + abort_reason;
      sum.code = controller_->abort_code();
      if (s.status != "cancelled" && !s.error.empty()) sum.detail += " (QEMU: " + s.error + ")";
      break;
    case MigrationOutcome::kCancelled:
      sum.detail = "cancelled by someone else";
      sum.code = "cancelled.elsewhere";
      break;
    default:
      if (s.destination_failed) {
        sum.detail = s.error;
        sum.code = std::string(OutcomeName(sum.outcome)) + ".destination";
        break;
      }
      sum.detail = s.error.empty() ? "QEMU reports the migration failed" : "QEMU: " + s.error;
      sum.code = std::string(OutcomeName(sum.outcome)) + ".qemu";
      break;
  }
  End(std::move(sum), false);
}

SwitchoverReport Follower::ReportSwitchover(const SwitchoverCopy& copy) {
  SwitchoverReport r;
  r.copy = copy;
  // Judged as the estimator judges a copy: by the speed the reaction held
  // (learned or stated), never slower than the migration's own measured
  // bandwidth (not max-bandwidth, which may be far above the link's); by
  // that bandwidth alone where it held none, as QEMU judges the copy.
  const PolicyReaction* reaction = policy_.reaction();
  const double least_rate = reaction ? reaction->adaptive().estimates().bandwidth : 0;
  const SwitchoverSpeed speed = reaction ? reaction->adaptive().config().switchover : SwitchoverSpeed{};
  r.predicted_ms = speed.TimeMs(copy, least_rate);
  r.speed = speed.known() ? speed.Describe() : "the migration's bandwidth, " + FormatRate(least_rate);
  if (r.predicted_ms > 0) {
    view_.Message("switch-over: " + r.ToText() + " (" + FormatFixed(r.ratio(), 2) + "x the predicted)");
  }
  return r;
}

MigrationSummary Follower::EndingHere(MigrationOutcome outcome, std::string code, std::string detail) const {
  MigrationSummary sum;
  sum.outcome = outcome;
  sum.code = std::move(code);
  sum.detail = std::move(detail);
  if (progress_) {
    const MigrationSample& last = progress_->last();
    sum.total_time_ms = last.total_time_ms;
    sum.passes = last.pass;
    sum.bytes_sent = last.ram_transferred;
    sum.ram_total = last.ram_total;
  }
  return sum;
}

void Follower::OnSampleError(const Status& st) {
  const StatusCode c = st.code();
  if (c == StatusCode::kUnavailable || c == StatusCode::kTimeout) {
    const Clock::time_point now = Clock::now();
    if (!unanswered_since_) {
      unanswered_since_ = now;
      Tell((c == StatusCode::kTimeout ? "QEMU does not answer (it may hold its lock through a final copy); "
                                                 "asking again: "
                                               : "waiting to learn how the migration ended: ") +
                    st.ToString());
    }
    if (now - *unanswered_since_ < (c == StatusCode::kTimeout ? kBusyQemuGrace : kEndUnknownGrace)) return;
  }
  EndOnError(st);
}

void Follower::EndOnError(const Status& st) {
  const StatusCode c = st.code();
  if (c == StatusCode::kClosed || c == StatusCode::kIoError) return EndLost(st);
  if (c == StatusCode::kUnavailable || c == StatusCode::kTimeout) {
    // Never taken for a completion: what we changed is put back wherever
    // the VM still is, and a guest we paused runs again.
    return End(EndingHere(MigrationOutcome::kLost, "lost.unanswered",
                          "could not learn how the migration ended: " + st.ToString()),
               true);
  }
  // Our fault or an answer we cannot use: leave the migration to QEMU.
  End(EndingHere(MigrationOutcome::kLost, "lost.internal", "internal error, leaving the migration to QEMU's own settings: " +
                                              st.ToString()),
      true);
}

void Follower::EndLost(const Status& st) {
  // Nothing can be put back without a connection: what we changed stays
  // recorded, for the next follower of this VM (watch's, once libvirt is
  // back; or the next attach or migrate) to adopt.
  if (changes_owned_ && controller_ && !controller_->changes().empty()) {
    changes_owned_ = false;
    Tell("what virt-converge changed stays recorded for the next follower to put back: " +
                  DescribeChanges(controller_->changes()));
  }
  End(EndingHere(MigrationOutcome::kLost, "lost.connection", "lost " + backend_.Describe() + ": " + st.ToString()),
      false);
}

void Follower::RecordChanges(const ChangesInForce& changes) {
  Status st = WriteChangesRecord(options_.paths, options_.migration_id, changes);
  if (!st.ok() && !changes_warned_) {
    Tell("could not record what is about to change (" + st.ToString() +
                  "): if this follower dies, nobody will know to put it back");
    changes_warned_ = true;
  }
}

void Follower::EndOrphan(const MigrationSample& s) {
  const std::string what = DescribeChanges(*options_.adopted);
  Tell("the migration ended (" + s.status + ") while no follower followed it; the one that died had changed: " +
                what);
  // Completed: a guest it paused starts on the destination; else all goes
  // back. The record goes only once nothing of it is in force.
  if (!options_.dry_run) {
    changes_owned_ =
        PutBack(backend_, *options_.adopted, s, [this](const std::string& line) { Tell(line); }).empty();
  }
  // What the dead one left of its own: its live record becomes history
  // (End writes it), the host's entries it held are swept.
  if (!options_.paths.run_dir().empty()) {
    if (std::optional<MigrationRecord> dead = FindLiveRecord(options_.paths, options_.migration_id)) {
      record_ = *dead;
      series_ = dead->samples;
      journal_.SetMigration(dead->vm, options_.uuid, options_.migration_id);
    } else {
      record_.id = options_.migration_id;
    }
    writer_.emplace(options_.paths, options_.migration_id);
    (void)LiveEntries(options_.paths.AdmissionDir());
    (void)LiveEntries(options_.paths.SharesDir());
  }
  const MigrationOutcome outcome = s.status == "completed"   ? MigrationOutcome::kCompleted
                                   : s.status == "cancelled" ? MigrationOutcome::kCancelled
                                   : s.status == "failed"    ? MigrationOutcome::kFailed
                                                             : MigrationOutcome::kLost;
  End(EndingHere(outcome, std::string(OutcomeName(outcome)) + ".orphan", "it ended (" + s.status + ") while no follower followed it; put back what the one that "
                          "died had changed (" + what + ")"),
      false);
}

void Follower::AwaitDestination(bool stopping) {
  if (!stopping) controller_->StartOnDestinationAgain();
  if (controller_->awaits_destination()) {
    if (!stopping) return;
    // Nobody will start it now but the next follower of this VM.
    changes_owned_ = false;
    Tell("stopping before the destination could start the guest virt-converge paused: it stays paused "
                  "there, recorded for the next follower: " +
                  DescribeChanges(controller_->changes()));
  }
  End(std::move(*ending_), false);
}

void Follower::End(MigrationSummary summary, bool leave_to_qemu) {
  if (phase_ == Phase::kDone) return;
  if (leave_to_qemu && controller_) controller_->Leave(progress_ && progress_->last().in_postcopy());
  if (phase_ != Phase::kEnding && controller_ && controller_->awaits_destination() && loop_) {
    ending_ = std::move(summary);
    phase_ = Phase::kEnding;
    host_.Leave();  // its share and budget are of no use to it any more
    return;
  }
  // Everything is put back, or the migration completed: nothing is left
  // for a next follower to adopt.
  if (changes_owned_) RemoveChangesRecord(options_.paths, options_.migration_id);
  // A migration `migrate` started that ended here (on the source) without
  // completing: QEMU keeps the capabilities its start settings changed.
  const MigrationOutcome o = summary.outcome;
  if (options_.started_here && !options_.dry_run &&
      (o == MigrationOutcome::kNotStarted || o == MigrationOutcome::kFailed || o == MigrationOutcome::kCancelled ||
       o == MigrationOutcome::kAborted)) {
    Status st = backend_.RestoreStartCapabilities();
    if (!st.ok()) Tell("could not put back the capabilities the start settings changed: " + st.ToString());
  }
  phase_ = Phase::kDone;
  // Before anything else: the others get this migration's share and its
  // place in the cost budget at once.
  host_.Leave();
  if (controller_) summary.actions = controller_->actions();
  summary.samples = series_;
  summary.postcopy = progress_ && progress_->saw_postcopy();
  summary_ = std::move(summary);
  JournalNewActions();
  journal_.Outcome(summary_);
  if (writer_) {
    if (progress_) Record(&progress_->StatisticsOf(progress_->last()));
    if (summary_.total_time_ms) record_.elapsed_ms = *summary_.total_time_ms;
    record_.eta_ms.reset();
    record_.status = std::string(OutcomeName(summary_.outcome));
    record_.samples = series_;
    record_.outcome = summary_;
    Status st = writer_->Finish(record_);
    if (!st.ok()) Tell("could not write the history record: " + st.ToString());
    writer_.reset();
  }
  // Once its live record is gone: no longer in flight.
  if (progress_ || options_.adopted || summary_.outcome == MigrationOutcome::kNotStarted) {
    if (Status st = RecordMigrationEnd(options_.paths, summary_); !st.ok()) {
      Tell("could not count this migration in the metrics: " + st.ToString());
    }
  }
  if (loop_) loop_->Exit();
}

}  // namespace vc
