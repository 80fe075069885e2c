#include "src/control/controller.h"

#include <cstdio>
#include <thread>

#include "plugins/action.h"
#include "src/base/units.h"

namespace vc {

std::string ActionCode(const ActionRecord& a) {
  if (!a.kind) return "";
  const Action* action = FindAction(a.action);
  return std::string(DecisionKindName(*a.kind)) + "." + std::string(action ? action->policy_word() : a.action);
}

std::string ActionLine(const ActionRecord& a) {
  char at[32];
  std::snprintf(at, sizeof at, "%6.1fs", a.at_s);
  const std::string code = ActionCode(a);
  return std::string(at) + " action " + a.action + ActionValueText(a.action, a.value) + " [" + a.result + "]: " +
         a.reason + (code.empty() ? "" : " [" + code + "]");
}

int64_t NextSampleInMs(const MigrationSample& s, int64_t interval_ms) {
  if (interval_ms <= kBulkEndIntervalMs || !s.running() || s.in_postcopy() || s.bandwidth <= 0) return interval_ms;
  const double bulk_left_ms = static_cast<double>(s.bulk_unsent()) * 1000 / s.bandwidth;
  return s.bulk_unsent() > 0 && bulk_left_ms <= 2.0 * static_cast<double>(interval_ms) ? kBulkEndIntervalMs
                                                                                        : interval_ms;
}

Controller::Controller(MigrationBackend& backend, BackendFacts facts, Reaction* reaction, bool dry_run,
                       Say say)
    : backend_(backend), facts_(std::move(facts)), reaction_(reaction), dry_run_(dry_run), say_(std::move(say)) {
  Result<MigrationTuning> t = backend_.Tuning();
  if (t.ok()) {
    tuning_ = *t;
    tuning_read_ = true;
    downtime_limit_ms_ = t->downtime_limit_ms.value_or(-1);
  }
}

void Controller::OnSample(const MigrationSample& s, bool after_sync) {
  if (!told_sampled_rate_ && s.sampled_dirty_rate > 0) {
    say_("the guest's dirty rate, sampled in the bulk pass (calc-dirty-rate): " + FormatRate(s.sampled_dirty_rate));
    told_sampled_rate_ = true;
  }
  if (s.switching_over()) {
    // The migration ends by itself now; nothing decided would take effect
    // but an abort, and that one would cancel it at its very end.
    if (!told_switching_over_) say_("the switch-over is under way: no more decisions until the migration ends");
    told_switching_over_ = true;
    return;
  }
  ReactionInputs in;
  in.downtime_limit_ms = downtime_limit_ms_ < 0 ? 300 : downtime_limit_ms_;
  in.postcopy_possible = facts_.postcopy_ram;
  // Without QMP passthrough libvirt can neither say whether auto-converge
  // is on nor change the throttle: QEMU throttles by its own parameters.
  in.throttle_possible = facts_.CapabilityOn("auto-converge") && facts_.passthrough_refusal.empty();
  if (!facts_.passthrough_refusal.empty()) {
    in.throttle_refusal = "its parameters need QMP passthrough, which the policy forbids";
  } else if (facts_.capabilities.empty()) {
    in.throttle_refusal = "auto-converge's state is unknown";
  }
  in.dirty_limit_possible = facts_.QemuAtLeast(8, 1) && facts_.CapabilityOn("dirty-limit");
  const bool avail_known = facts_.QemuAtLeast(8, 2) && tuning_.avail_switchover_bandwidth.has_value();
  in.switchover_bandwidth_possible = avail_known && facts_.passthrough_refusal.empty();
  // Without passthrough the backend knows it only because it started the
  // migration with it (libvirt 11.1+), and it stays.
  if (avail_known && !facts_.passthrough_refusal.empty()) {
    in.switchover_bandwidth_fixed = *tuning_.avail_switchover_bandwidth;
  }
  in.tuning = tuning_;
  bool previous_done = true;
  for (const Decision& d : reaction_->Decide(s, after_sync, in)) {
    if (d.only_after_previous && !previous_done) {
      say_("not taking " + d.action + ActionValueText(d.action, d.value) + ": the " +
           (actions_.empty() ? std::string("step") : actions_.back().action) + " it goes with was not done");
      reaction_->Applied(d, false);
      continue;
    }
    previous_done = Apply(s, d, /*from_reaction=*/true).ok();
  }
  for (const std::string& note : reaction_->TakeNotes()) say_(note);
  if (after_sync && !dry_run_) {
    // Someone else may have changed a parameter: the next decision goes on
    // what QEMU really has. Read after acting, not before, so no round trip
    // stands between the pass and the action.
    Result<MigrationTuning> t = backend_.Tuning();
    if (t.ok()) {
      tuning_ = *t;
      tuning_read_ = true;
      if (t->downtime_limit_ms) downtime_limit_ms_ = *t->downtime_limit_ms;
    }
  }
}

Status Controller::Impose(const MigrationSample& s, const Decision& d) { return Apply(s, d, /*from_reaction=*/false); }

OperatorReply Controller::CompleteNow(const MigrationSample& s) {
  if (!s.running()) {
    return {false, "not possible: no migration is running (status " + s.status +
                       "), so nothing is completed and the guest is not paused"};
  }
  if (s.switching_over()) return {true, "nothing to do: the switch-over is under way, the migration completes now"};
  if (s.in_postcopy()) return {false, "already in post-copy (" + s.status + ")"};
  const std::string why = "the operator asked to complete now (virt-converge postcopy)";
  const bool try_postcopy = facts_.postcopy_ram || facts_.capabilities.empty();
  std::string text;
  if (try_postcopy) {
    const bool done = Impose(s, {DecisionKind::kOperator, "start-postcopy", 0, why}).ok();
    text = "start-postcopy: " + actions_.back().result;
    if (done) return {true, text};
  }
  const bool paused =
      Impose(s, {DecisionKind::kOperator, "pause-guest", 0,
                 why + " and post-copy " + (try_postcopy ? "failed" : "is off")})
          .ok();
  text += (text.empty() ? "" : "; ") + std::string("pause-guest: ") + actions_.back().result;
  return {paused, text};
}

OperatorReply Controller::Cancel(const MigrationSample& s) {
  if (!s.running()) return {false, "not possible: no migration is running (status " + s.status + ")"};
  const bool done = Impose(s, {DecisionKind::kOperator, "abort", 0, "the operator asked (virt-converge cancel)"}).ok();
  return {done, "abort: " + actions_.back().result};
}

Status Controller::Apply(const MigrationSample& s, Decision d, bool from_reaction) {
  if (d.action == "set-bandwidth" && bandwidth_ceiling_ && static_cast<uint64_t>(d.value) > bandwidth_ceiling_) {
    d.value = static_cast<int64_t>(bandwidth_ceiling_);
    d.reason += " (cut to this migration's share of the host's bandwidth)";
  }
  ActionRecord rec{static_cast<double>(s.total_time_ms) / 1000, d.action, d.value, d.reason, ""};
  rec.kind = d.kind;
  const Action* action = FindAction(d.action);
  Result<ActionEffect> effect = Status::NotSupported(d.action, "this version of virt-converge has no such action");
  Status st = effect.status();
  if (s.switching_over()) {
    st = Status::Unavailable(d.action, "not possible now: the switch-over is under way (" +
                                           std::string(s.source_completed ? "QEMU has sent everything and libvirt is "
                                                                            "finishing on the destination"
                                                                          : "QEMU's final copy") +
                                           "); the migration ends by itself");
  } else if (action) {
    ActionContext ctx{backend_, facts_, s};
    st = action->CheckPossible(ctx);
    if (st.ok()) {
      effect = action->Effect(ctx, d.value);
      st = effect.status();
    }
    if (st.ok() && !dry_run_) {
      // What QEMU had, as last read (at the last sync): no extra round trip
      // between the pass and the action.
      if (!original_ && tuning_read_) original_ = tuning_;
      // Ours from before it is sent: QEMU may carry out a command whose
      // reply is lost. Putting back only what QEMU still holds of ours, and
      // resuming a guest that runs, are harmless if it did not.
      ours_.Overlay(effect->tuning);
      if (effect->pauses_guest) paused_by_us_ = true;
      TellChanges();
      if (s.at != Clock::time_point{}) rec.sent_ms = SecondsBetween(s.at, Clock::now()) * 1000;
      st = action->Apply(ctx, *effect);
    }
  }
  rec.result = !st.ok() ? st.ToString() : dry_run_ ? "dry run: not applied" : "done";
  if (s.at != Clock::time_point{}) rec.latency_ms = SecondsBetween(s.at, Clock::now()) * 1000;
  if (st.ok()) {
    // A dry run goes on as if it had: its next decisions build on this one.
    if (effect->tuning.downtime_limit_ms) downtime_limit_ms_ = *effect->tuning.downtime_limit_ms;
    if (effect->cancels_migration) {
      abort_reason_ = d.reason;
      abort_code_ = ActionCode(rec);
    }
  }
  if (st.ok() && !dry_run_) tuning_.Overlay(effect->tuning);
  if (from_reaction) reaction_->Applied(d, st.ok());
  actions_.push_back(rec);
  say_(ActionLine(rec));
  return st;
}

void Controller::OnFinished(const MigrationSample& s) {
  if (dry_run_) return;
  if (s.status == "completed") {
    // The VM left this QEMU: nothing we set here is in force for it any more.
    ours_ = MigrationTuning{};
    original_.reset();
    return StartGuestWePausedOnDestination();
  }
  // The VM stays on the source: it gets back what it had before us.
  RestoreTuning();
  ResumeGuestWePaused(" (the migration did not complete)");
}

void Controller::AdoptStartSettings(const MigrationTuning& before, const MigrationTuning& set) {
  if (dry_run_) return;
  // Before any decision: nothing else is ours yet.
  original_ = before;
  ours_ = set;
  TellChanges();
}

void Controller::Adopt(const ChangesInForce& changes) {
  if (dry_run_) return;
  original_ = changes.original;
  ours_ = changes.ours;
  paused_by_us_ = changes.guest_paused;
  TellChanges();
}

void Controller::TellChanges() {
  if (before_change_) before_change_({original_, ours_, paused_by_us_});
}

void Controller::RestoreTuning() {
  if (!original_ || dry_run_) return;
  Result<MigrationTuning> now = backend_.Tuning();
  if (!now.ok()) {
    say_("could not read QEMU's settings to restore them: " + now.status().ToString());
    return;
  }
  MigrationTuning back;
  std::string what;
  // A field goes back when we set it, QEMU still holds our value, and we
  // know what it was before. One QEMU no longer holds is not ours any more.
  MigrationTuning::ForEachField([&](auto MigrationTuning::*field, const char* name) {
    auto& ours = ours_.*field;
    const auto& before = (*original_).*field;
    if (!ours) return;
    if ((*now).*field != ours) {
      ours.reset();
    } else if (before) {
      back.*field = before;
      what += std::string(what.empty() ? "" : ", ") + name + "=" + MigrationTuning::ValueText(*before);
    }
  });
  if (what.empty()) return;  // nothing of ours is left in force
  Status st = backend_.SetTuning(back);
  say_(st.ok() ? "restored QEMU's own settings: " + what : "could not restore QEMU's settings: " + st.ToString());
  if (!st.ok()) return;
  MigrationTuning::ForEachField([&](auto MigrationTuning::*field, const char*) {
    if (back.*field) (ours_.*field).reset();
  });
}

ChangesInForce PutBack(MigrationBackend& backend, const ChangesInForce& changes, const MigrationSample& end,
                       Controller::Say say) {
  Controller undo(backend, BackendFacts{}, nullptr, /*dry_run=*/false, std::move(say));
  undo.Adopt(changes);
  undo.OnFinished(end);
  // No loop to come back to here: the destination gets its moment now.
  while (undo.awaits_destination()) {
    std::this_thread::sleep_for(Millis(100));
    undo.StartOnDestinationAgain();
  }
  return undo.changes();
}

void Controller::Leave(bool in_postcopy) {
  if (in_postcopy) {
    // The guest lives on the destination now: resuming the source's copy
    // would run it twice.
    return StartGuestWePausedOnDestination();
  }
  RestoreTuning();
  ResumeGuestWePaused("");
}

void Controller::StartGuestWePausedOnDestination() {
  if (!paused_by_us_ || dry_run_) return;
  Status st = backend_.StartGuestOnDestination();
  if (st.code() == StatusCode::kUnavailable) {
    // Loading the last bytes takes the destination a moment after the
    // source completes (longer after a large final copy): not yet.
    const Clock::time_point now = Clock::now();
    if (!destination_wait_) {
      destination_wait_ = now;
      say_("the guest virt-converge paused starts on the destination once it has loaded the migration: " +
           st.ToString());
    }
    if (now - *destination_wait_ < kDestinationLoadGrace) return;
    st = Status::Timeout("the destination", "it did not finish loading the migration within " +
                                                std::to_string(kDestinationLoadGrace.count() / 1000) + " s (" +
                                                st.ToString() + ")");
  }
  destination_wait_.reset();
  say_(st.ok() ? "the guest virt-converge paused runs again: started on the destination"
               : "could not start on the destination the guest virt-converge paused (it stays paused "
                 "there until someone resumes it): " +
                     st.ToString());
  paused_by_us_ = false;
}

void Controller::ResumeGuestWePaused(const std::string& note) {
  if (!paused_by_us_ || dry_run_) return;
  // QEMU lets `cont` run the source's copy after the switch-over, and the
  // guest would then run twice: where the migration stands decides first.
  // (When the sample fails, the backend's ResumeGuest keeps that rule.)
  Result<MigrationSample> now = backend_.Sample();
  if (now.ok() && (now->status == "completed" || now->in_postcopy())) return StartGuestWePausedOnDestination();
  Status st = backend_.ResumeGuest();
  say_(st.ok() ? "resumed the guest virt-converge had paused" + note
               : "could not resume the guest virt-converge paused: " + st.ToString());
  paused_by_us_ = false;
}

}  // namespace vc
