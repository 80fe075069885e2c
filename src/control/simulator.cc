#include "src/control/simulator.h"

#include "src/control/migration_progress.h"

#include <algorithm>
#include <cmath>
#include <memory>

#include "src/base/units.h"

namespace vc {

namespace {
constexpr int64_t kQemuThrottleTrigger = 50;  // throttle-trigger-threshold's default, percent
constexpr double kMiB = 1024.0 * 1024.0;
}  // namespace

std::string SimScenario::ToString() const {
  const uint64_t wss = working_set ? working_set : memory;
  std::string out = FormatBytes(static_cast<double>(memory)) + " guest, ";
  out += dirty_rate > 0 ? FormatBytes(static_cast<double>(wss)) + " working set at " + FormatRate(dirty_rate) +
                              (writes == GuestWrites::kSweep ? " (swept)" : "")
                        : std::string("idle");
  const double cap = max_bandwidth ? static_cast<double>(max_bandwidth) : link;
  out += ", " + FormatRate(cap) + " max-bandwidth on a " + FormatRate(link) + " link";
  return out;
}

void SimScenario::Apply(const MigrationStart& start) {
  postcopy_ram = start.postcopy;
  auto_converge = start.auto_converge;
  if (start.throttle_initial) throttle_initial = static_cast<int>(*start.throttle_initial);
  if (start.throttle_increment) throttle_increment = static_cast<int>(*start.throttle_increment);
  if (start.throttle_max) throttle_max = static_cast<int>(*start.throttle_max);
  if (start.throttle_tailslow) throttle_tailslow = *start.throttle_tailslow;
  if (start.tuning.max_bandwidth) max_bandwidth = *start.tuning.max_bandwidth;
  if (start.tuning.downtime_limit_ms) downtime_limit_ms = *start.tuning.downtime_limit_ms;
  if (start.switchover_bandwidth) switchover_bandwidth = *start.switchover_bandwidth;
}

SimulatedMigration::SimulatedMigration(SimScenario scenario) : sc_(scenario) {
  if (sc_.working_set == 0 || sc_.working_set > sc_.memory) sc_.working_set = sc_.memory;
  tuning_.downtime_limit_ms = sc_.downtime_limit_ms;
  tuning_.max_bandwidth = sc_.max_bandwidth ? sc_.max_bandwidth : static_cast<uint64_t>(sc_.link);
  tuning_.throttle_initial = sc_.throttle_initial;
  tuning_.throttle_increment = sc_.throttle_increment;
  tuning_.throttle_max = sc_.throttle_max;
  tuning_.throttle_tailslow = sc_.throttle_tailslow;
  if (sc_.qemu_major >= 5) tuning_.throttle_trigger = kQemuThrottleTrigger;
  tuning_.xbzrle_cache = 64ull << 20;
  auto at_least = [&](int major, int minor) {
    return sc_.qemu_major > major || (sc_.qemu_major == major && sc_.qemu_minor >= minor);
  };
  if (at_least(8, 1)) tuning_.vcpu_dirty_limit = sc_.vcpu_dirty_limit;
  if (at_least(8, 2)) tuning_.avail_switchover_bandwidth = sc_.switchover_bandwidth;
}

double SimulatedMigration::Bandwidth() const {
  return std::min(static_cast<double>(*tuning_.max_bandwidth), sc_.link);
}

void SimulatedMigration::SetStatus(const std::string& status) {
  status_ = status;
  events_.push_back({BackendEvent::Kind::kStatus, status, 0});
}

void SimulatedMigration::Sync() {
  pass_++;
  period_dirty_ += dirty_new_;
  pass_left_ += dirty_new_;
  pass_size_ = pass_left_;
  dirty_new_ = 0;
  events_.push_back({BackendEvent::Kind::kPass, "", pass_});
  const double bw = Bandwidth();
  expected_downtime_ms_ = static_cast<int64_t>(pass_left_ * 1000 / bw);
  if (now_ms_ - rate_update_ms_ < 1000) return;
  dirty_rate_ = period_dirty_ * 1000 / static_cast<double>(now_ms_ - rate_update_ms_);
  // migration_trigger_throttle: every second qualifying period steps.
  const double trigger_percent = static_cast<double>(tuning_.throttle_trigger.value_or(kQemuThrottleTrigger));
  if (period_dirty_ > period_sent_ * trigger_percent / 100 && ++high_count_ >= 2) {
    high_count_ = 0;
    if (sc_.auto_converge) {
      if (throttle_ == 0) {
        throttle_ = static_cast<int>(*tuning_.throttle_initial);
      } else {
        int inc = static_cast<int>(*tuning_.throttle_increment);
        if (*tuning_.throttle_tailslow) {
          const double cpu_now = 100 - throttle_;
          const double threshold = period_sent_ * trigger_percent / 100;
          const double cpu_ideal = cpu_now * threshold / period_dirty_;
          inc = std::min(inc, static_cast<int>(cpu_now - cpu_ideal));
        }
        throttle_ = std::min(throttle_ + inc, static_cast<int>(*tuning_.throttle_max));
      }
      throttle_ = std::clamp(throttle_, 1, 99);
    } else if (sc_.dirty_limit) {
      dirty_limited_ = true;
    }
  }
  period_dirty_ = period_sent_ = 0;
  rate_update_ms_ = now_ms_;
}

void SimulatedMigration::SwitchOver() {
  // The final copy runs without the rate limit.
  const int64_t copy_ms = static_cast<int64_t>(std::ceil(pass_left_ * 1000 / sc_.link));
  downtime_ms_ = copy_ms + sc_.switchover_cost_ms;
  transferred_ += pass_left_;
  pass_left_ = 0;
  throttle_ = 0;
  end_ms_ = now_ms_ + *downtime_ms_;
  if (paused_) paused_ms_ += *downtime_ms_;
  SetStatus("completed");
}

void SimulatedMigration::Advance(int64_t ms) {
  if (status_ == "setup") {
    SetStatus("active");
    pass_ = 1;
    pass_size_ = pass_left_ = static_cast<double>(sc_.memory);
    events_.push_back({BackendEvent::Kind::kPass, "", pass_});
    return;
  }
  if (status_ != "active" && status_ != "postcopy-active") return;
  now_ms_ += ms;
  const double dt = static_cast<double>(ms) / 1000;
  if (cancel_requested_) {
    throttle_ = 0;
    end_ms_ = now_ms_;
    SetStatus("cancelled");
    return;
  }
  if (status_ == "active") {
    if (paused_) {
      paused_ms_ += ms;
    } else {
      throttle_integral_ += throttle_ * dt;
      const bool calm = sc_.calm_at_ms >= 0 && now_ms_ >= sc_.calm_at_ms;
      double rate = (calm ? sc_.calm_dirty_rate : sc_.dirty_rate) * (1 - throttle_ / 100.0);
      if (dirty_limited_) rate = std::min(rate, sc_.vcpus * static_cast<double>(*tuning_.vcpu_dirty_limit) * kMiB);
      const double w = static_cast<double>(sc_.working_set);
      if (sc_.sample_dirty_rate && pass_ == 1 && sampled_dirty_rate_ == 0 && now_ms_ >= 2000) {
        sampled_dirty_rate_ = std::min(rate, w / 2);  // pages written in the 2 s window, once each
      }
      if (sc_.writes == GuestWrites::kSweep) {
        dirty_new_ += std::min(std::max(0.0, w - dirty_new_), rate * dt);
      } else {
        // Pass 1 spreads over all of RAM, later passes hold only the set.
        const double waiting = pass_ == 1 ? pass_left_ * w / static_cast<double>(sc_.memory) : std::min(pass_left_, w);
        const double clean = std::max(0.0, w - waiting - dirty_new_);
        dirty_new_ += std::min(clean, rate * dt * clean / w);
      }
    }
    if (postcopy_requested_) {
      // Switch-over to post-copy: device state and the discard bitmap.
      downtime_ms_ = sc_.switchover_cost_ms;
      postcopy_left_ = pass_left_ + dirty_new_;
      pass_left_ = dirty_new_ = 0;
      throttle_ = 0;
      if (paused_) paused_ = false;  // the destination runs it
      SetStatus("postcopy-active");
      return;
    }
    const double bw = Bandwidth();
    const double sent = std::min(pass_left_, bw * dt);
    pass_left_ -= sent;
    transferred_ += sent;
    period_sent_ += sent;
    // QEMU 8.2+ judges the final copy at avail-switchover-bandwidth when set.
    const double judged = tuning_.avail_switchover_bandwidth.value_or(0) > 0
                              ? static_cast<double>(*tuning_.avail_switchover_bandwidth)
                              : bw;
    const double threshold = judged * static_cast<double>(*tuning_.downtime_limit_ms) / 1000;
    if (pass_left_ <= threshold) {
      Sync();
      if (pass_left_ <= threshold) SwitchOver();
    }
    return;
  }
  // post-copy: the rest at link speed; the guest runs on the destination
  // and faults in what it touches first.
  const double sent = std::min(postcopy_left_, sc_.link * dt);
  postcopy_left_ -= sent;
  transferred_ += sent;
  postcopy_requests_ += static_cast<uint64_t>(std::min(sc_.dirty_rate * dt, sent) / 4096);
  if (postcopy_left_ <= 0) {
    end_ms_ = now_ms_;
    SetStatus("completed");
  }
}

Result<MigrationSample> SimulatedMigration::Sample() {
  MigrationSample s;
  s.status = status_;
  s.total_time_ms = end_ms_ >= 0 ? end_ms_ : now_ms_;
  s.ram_total = sc_.memory;
  s.ram_transferred = static_cast<uint64_t>(transferred_);
  s.ram_remaining = static_cast<uint64_t>(status_ == "postcopy-active" ? postcopy_left_ : pass_left_);
  s.ram_visited = s.ram_transferred;  // no zero pages here
  s.bandwidth = status_ == "postcopy-active" ? sc_.link : Bandwidth();
  s.dirty_rate = dirty_rate_;
  s.sampled_dirty_rate = sampled_dirty_rate_;
  s.pass = pass_;
  s.expected_downtime_ms = expected_downtime_ms_;
  s.downtime_ms = downtime_ms_;
  s.throttle_percent = throttle_;
  s.postcopy_requests = postcopy_requests_;
  return s;
}

Result<BackendFacts> SimulatedMigration::Facts() {
  BackendFacts f;
  f.hypervisor = "simulated QEMU " + std::to_string(sc_.qemu_major) + "." + std::to_string(sc_.qemu_minor);
  f.qemu_major = sc_.qemu_major;
  f.qemu_minor = sc_.qemu_minor;
  f.capabilities = {{"auto-converge", sc_.auto_converge}, {"postcopy-ram", sc_.postcopy_ram}, {"events", true}};
  if (tuning_.vcpu_dirty_limit) f.capabilities["dirty-limit"] = sc_.dirty_limit;
  f.postcopy_ram = sc_.postcopy_ram;
  f.auto_converge = sc_.auto_converge;
  if (sc_.capabilities_unknown) {
    f.capabilities.clear();
    f.postcopy_ram = true;
    f.auto_converge = false;
  }
  if (sc_.passthrough_refused) f.passthrough_refusal = "the simulated libvirt allows no QMP passthrough";
  f.events = true;
  f.vm_name = "simulated";
  f.guest_memory = sc_.memory;
  return f;
}

Result<MigrationTuning> SimulatedMigration::Tuning() { return tuning_; }

Status SimulatedMigration::SetTuning(const MigrationTuning& c) {
  // A parameter this QEMU does not have (its initial tuning leaves it unset)
  // is refused, as QEMU refuses it.
  Status unknown = Status::Ok();
  MigrationTuning::ForEachField([&](auto MigrationTuning::*field, const char* name) {
    if (unknown.ok() && c.*field && !(tuning_.*field)) {
      unknown = Status::CommandFailed("migrate-set-parameters", "GenericError",
                                      std::string("Parameter '") + name + "' is unexpected");
    }
  });
  if (!unknown.ok()) return unknown;
  if (sc_.passthrough_refused) {
    if (!(c.QemuOnly() == MigrationTuning{})) {
      return Status::NotSupported("simulated libvirt", "that parameter needs QMP passthrough");
    }
  }
  // QEMU checks the parameters as they will be after the change.
  MigrationTuning t = tuning_;
  t.Overlay(c);
  if (*t.downtime_limit_ms < 0 || *t.downtime_limit_ms > 2000000) {
    return Status::CommandFailed("migrate-set-parameters", "GenericError", "Parameter 'downtime_limit' expects 0..2000000");
  }
  for (int64_t v : {*t.throttle_initial, *t.throttle_increment, *t.throttle_max}) {
    if (v < 1 || v > 99) return Status::CommandFailed("migrate-set-parameters", "GenericError", "throttle expects 1..99");
  }
  if (*t.throttle_max < *t.throttle_initial) {
    return Status::CommandFailed("migrate-set-parameters", "GenericError",
                                 "max_cpu_throttle must be greater than or equal to cpu_throttle_initial");
  }
  tuning_ = t;
  return Status::Ok();
}

Status SimulatedMigration::StartPostcopy() {
  if (!sc_.postcopy_ram) return Status::CommandFailed("migrate-start-postcopy", "GenericError", "Enable postcopy with migrate_set_capability before the start of migration");
  if (status_ != "active") return Status::CommandFailed("migrate-start-postcopy", "GenericError", "not in pre-copy");
  postcopy_requested_ = true;
  return Status::Ok();
}

Status SimulatedMigration::Cancel() {
  if (status_ != "active") return Status::CommandFailed("migrate_cancel", "GenericError", "no pre-copy to cancel");
  cancel_requested_ = true;
  return Status::Ok();
}

Status SimulatedMigration::PauseGuest() {
  paused_ = true;
  return Status::Ok();
}

Status SimulatedMigration::ResumeGuest() {
  paused_ = false;
  return Status::Ok();
}

Status SimulatedMigration::Poll(std::vector<BackendEvent>* events) {
  events->insert(events->end(), events_.begin(), events_.end());
  events_.clear();
  return Status::Ok();
}

SimResult RunSimulationLoop(MigrationBackend& m, const std::function<int64_t(int64_t)>& advance, Reaction& reaction,
                            const SimOptions& options) {
  SimResult r;
  Result<BackendFacts> known = m.Facts();
  const BackendFacts facts = known.ok() ? *known : BackendFacts{};
  std::unique_ptr<Controller> controller;
  std::optional<MigrationProgress> progress;
  int64_t next_timer = 0;
  for (;;) {
    const int64_t now_ms = advance(options.step_ms);
    std::vector<BackendEvent> events;
    (void)m.Poll(&events);
    bool pass_event = false, status_changed = false;
    for (const BackendEvent& ev : events) {
      pass_event = pass_event || ev.kind == BackendEvent::Kind::kPass;
      status_changed = status_changed || ev.kind == BackendEvent::Kind::kStatus;
    }
    const bool timer = now_ms >= next_timer;
    if (!pass_event && !timer && !status_changed) continue;
    Result<MigrationSample> sampled = m.Sample();
    if (!sampled.ok()) {
      if (controller) controller->Leave(progress && progress->last().in_postcopy());
      r.outcome = MigrationOutcome::kLost;
      r.log.push_back("lost " + m.Describe() + ": " + sampled.status().ToString());
      break;
    }
    const MigrationSample& s = *sampled;
    if (timer) next_timer = now_ms + NextSampleInMs(s, options.interval_ms);
    if (!controller && s.running()) {
      controller = std::make_unique<Controller>(m, facts, &reaction, false,
                                                [&r](const std::string& line) { r.log.push_back(line); });
      progress.emplace(s);
    }
    const bool after_sync = progress ? progress->Observe(s, pass_event) : pass_event;
    r.series.push_back({static_cast<double>(s.total_time_ms) / 1000, s.ram_remaining, s.throttle_percent, s.status});
    r.total_time_ms = s.total_time_ms;
    r.passes = s.pass;
    r.bytes_sent = s.ram_transferred;
    r.downtime_ms = s.downtime_ms;
    if (s.finished()) {
      if (controller) controller->OnFinished(s);
      if (progress) {
        const MigrationSample& stats = progress->StatisticsOf(s);
        r.passes = stats.pass;
        r.bytes_sent = stats.ram_transferred;
        r.outcome = progress->OutcomeOf(s, !controller->abort_reason().empty());
      } else {
        r.outcome = s.status == "completed" ? MigrationOutcome::kCompleted : MigrationOutcome::kFailed;
      }
      break;
    }
    if (controller) controller->OnSample(s, after_sync);
    if (now_ms >= options.limit_ms) {
      if (controller) controller->Leave(s.in_postcopy());
      r.outcome = MigrationOutcome::kTimeout;
      break;
    }
  }
  if (controller) r.actions = controller->actions();
  return r;
}

SimResult Simulate(const SimScenario& scenario, Reaction& reaction, const SimOptions& options) {
  SimulatedMigration m(scenario);
  SimResult r = RunSimulationLoop(
      m,
      [&m](int64_t step_ms) {
        m.Advance(step_ms);
        return m.now_ms();
      },
      reaction, options);
  r.throttle_integral = m.throttle_integral();
  r.paused_ms = m.paused_ms();
  return r;
}

}  // namespace vc
