// FakeBackend: a MigrationBackend in memory, for unit tests of the plugins
// and the engine. It records what was asked of it.
#pragma once

#include <atomic>
#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "src/backend/migration_backend.h"

namespace vc::testing {

class FakeBackend final : public MigrationBackend {
 public:
  BackendFacts facts;
  MigrationTuning tuning;
  std::vector<std::string> calls;  // "SetTuning", "StartPostcopy", ...
  /// What Sample() answers, in turn; the last one repeats.
  std::deque<Result<MigrationSample>> samples;
  /// Events that come in with each Sample()'s reply, in turn: queued for
  /// Poll() without pollable_fd() saying so, as QMP's do.
  std::deque<std::vector<BackendEvent>> events_with_samples;
  /// How long SetTuning takes to answer (QEMU holding its lock).
  std::chrono::milliseconds set_tuning_delay{0};
  /// What a call ("SetTuning", "PauseGuest", ...) answers instead of OK.
  /// The call still takes effect: QEMU may carry out a command whose reply
  /// never arrives (a timeout).
  std::map<std::string, Status> answers;

  std::string Describe() const override { return "fake"; }
  Result<MigrationSample> Sample() override {
    if (!events_with_samples.empty()) {
      queued_.insert(queued_.end(), events_with_samples.front().begin(), events_with_samples.front().end());
      events_with_samples.pop_front();
    }
    if (samples.empty()) return MigrationSample{};
    Result<MigrationSample> next = samples.front();
    if (samples.size() > 1) samples.pop_front();
    return next;
  }
  Result<BackendFacts> Facts() override { return facts; }
  /// What Tuning() answers instead of `tuning`, when not OK.
  Status tuning_read = Status::Ok();
  Result<MigrationTuning> Tuning() override {
    if (!tuning_read.ok()) return tuning_read;
    return tuning;
  }
  Status SetTuning(const MigrationTuning& t) override {
    calls.push_back("SetTuning");
    std::this_thread::sleep_for(set_tuning_delay);
    tuning.Overlay(t);
    return Answer("SetTuning");
  }
  Status StartPostcopy() override { return Record("StartPostcopy"); }
  Status Cancel() override { return Record("Cancel"); }
  Status PauseGuest() override { return Record("PauseGuest"); }
  Status ResumeGuest() override { return Record("ResumeGuest"); }
  /// What CheckGuestRunsOnDestination() answers.
  Status guest_runs_on_destination = Status::Ok();
  Status CheckGuestRunsOnDestination() const override { return guest_runs_on_destination; }
  /// StartGuestOnDestination answers "not yet" (kUnavailable: still
  /// loading) this many times first; each try counts in destination_tries.
  int destination_loading = 0;
  std::atomic<int> destination_tries{0};
  Status StartGuestOnDestination() override {
    if (destination_tries++ < destination_loading) return Status::Unavailable("the destination", "still active");
    return Record("StartGuestOnDestination");
  }
  /// Called as StartMigration is asked, before it answers.
  std::function<void()> on_start_migration;
  Status StartMigration(const MigrationStart&, std::vector<std::string>*) override {
    if (on_start_migration) on_start_migration();
    return Record("StartMigration");
  }
  int pollable_fd() const override { return -1; }
  Status Poll(std::vector<BackendEvent>* events) override {
    events->insert(events->end(), queued_.begin(), queued_.end());
    queued_.clear();
    return Status::Ok();
  }
  bool has_queued_events() const override { return !queued_.empty(); }

 private:
  Status Record(const char* what) {
    calls.push_back(what);
    return Answer(what);
  }
  Status Answer(const char* what) const {
    auto a = answers.find(what);
    return a == answers.end() ? Status::Ok() : a->second;
  }
  std::vector<BackendEvent> queued_;
};

}  // namespace vc::testing
