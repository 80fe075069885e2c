// The simulator: a deterministic model of a QEMU pre-copy/post-copy
// migration, behind the same MigrationBackend interface QEMU is driven
// through, so the very same Controller, reactions and plugins run on it.
//
// The model follows QEMU's migration loop (reference/qemu-libvirt.md §1.5,
// §1.8, §4.1): pass 1 sends all of RAM; the guest dirties its writable
// working set at its rate, scaled by (1 - throttle); QEMU syncs the dirty
// bitmap when what is left of a pass drops to bandwidth x downtime-limit,
// and switches over when what the sync found still fits; rates, the
// auto-converge trigger (dirtied > threshold of sent, every second such
// period) and expected-downtime are updated only at syncs at least 1 s
// apart; the final copy and post-copy run at link speed, unthrottled. Time
// is virtual: a 1 TiB guest simulates in milliseconds.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <string>
#include <vector>

#include "src/backend/migration_backend.h"
#include "src/backend/migration_outcome.h"
#include "src/control/controller.h"
#include "src/control/reaction.h"

namespace vc {

/// How the guest's writes become dirty pages for the next pass.
enum class GuestWrites {
  /// Spread evenly over the working set; one to a page this pass has still
  /// to send adds nothing (KVM, where QEMU clears a chunk's dirty log just
  /// before it sends from it: a guest of many 1 GiB chunks).
  kUniform,
  /// Page after page, as the test guest sweeps its working set: each
  /// counts until a sweep comes round again, wherever it lands (TCG, whose
  /// dirty memory QEMU reads and clears only at a sync; KVM within a chunk).
  kSweep,
};

struct SimScenario {
  uint64_t memory = 1ull << 30;     // guest RAM, bytes
  uint64_t working_set = 0;         // bytes the guest rewrites; 0 = all of RAM
  double dirty_rate = 0;            // bytes/s the guest writes, unthrottled
  GuestWrites writes = GuestWrites::kUniform;
  /// As QmpBackend over plain QMP: the guest's write rate sampled once,
  /// over the bulk pass's first 2 s (calc-dirty-rate), in every sample
  /// after (MigrationSample::sampled_dirty_rate).
  bool sample_dirty_rate = false;
  int64_t calm_at_ms = -1;          // from then on (if >= 0) it writes...
  double calm_dirty_rate = 0;       // ...this fast instead
  double link = 0;                  // bytes/s the network carries
  uint64_t max_bandwidth = 0;       // QEMU's max-bandwidth; 0 = the link
  int64_t downtime_limit_ms = 300;  // QEMU's default
  bool postcopy_ram = false, auto_converge = false, dirty_limit = false;
  /// As libvirt without QMP passthrough: Facts() knows no capabilities
  /// and takes post-copy for possible; starting it fails unless postcopy_ram.
  bool capabilities_unknown = false;
  /// As libvirt without QMP passthrough: only downtime-limit, max-bandwidth
  /// and the xbzrle cache can be set while it runs.
  bool passthrough_refused = false;
  /// avail-switchover-bandwidth given at the start (QEMU 8.2+), bytes/s.
  uint64_t switchover_bandwidth = 0;
  int qemu_major = 7, qemu_minor = 2;
  int throttle_initial = 20, throttle_increment = 10, throttle_max = 99;
  bool throttle_tailslow = false;
  int vcpus = 1;
  uint64_t vcpu_dirty_limit = 1;    // MiB/s per vCPU, QEMU's default (8.1+)
  int64_t switchover_cost_ms = 5;   // device state and the like

  /// Takes what a migration is started with (a policy's [Start]):
  /// capabilities, throttle parameters, max-bandwidth, downtime-limit.
  void Apply(const MigrationStart& start);

  /// "1.0 GiB guest, 512.0 MiB working set at 96.0 MiB/s, 32.0 MiB/s cap on a 1.0 GiB/s link".
  std::string ToString() const;
};

class SimulatedMigration final : public MigrationBackend {
 public:
  explicit SimulatedMigration(SimScenario scenario);

  /// Moves virtual time on by \a ms (the migration starts at 0).
  void Advance(int64_t ms);
  int64_t now_ms() const { return now_ms_; }
  double throttle_integral() const { return throttle_integral_; }  // percent x seconds
  int64_t paused_ms() const { return paused_ms_; }

  std::string Describe() const override { return "the simulator"; }
  Result<MigrationSample> Sample() override;
  Result<BackendFacts> Facts() override;
  Result<MigrationTuning> Tuning() override;
  Status SetTuning(const MigrationTuning& changes) override;
  Status StartPostcopy() override;
  Status Cancel() override;
  Status PauseGuest() override;
  Status ResumeGuest() override;
  Status StartMigration(const MigrationStart&, std::vector<std::string>*) override {
    return Status::NotSupported("simulator", "starts its migration itself");
  }
  int pollable_fd() const override { return -1; }
  Status Poll(std::vector<BackendEvent>* events) override;

 private:
  double Bandwidth() const;  // what pre-copy sends at now
  void Sync();
  void SwitchOver();
  void SetStatus(const std::string& status);

  SimScenario sc_;
  MigrationTuning tuning_;
  std::string status_ = "setup";
  int64_t now_ms_ = 0, end_ms_ = -1;
  double pass_size_ = 0, pass_left_ = 0, dirty_new_ = 0, transferred_ = 0;
  uint64_t pass_ = 0;
  // QEMU's rate bookkeeping, updated at syncs >= 1 s apart.
  int64_t rate_update_ms_ = 0;
  double period_dirty_ = 0, period_sent_ = 0, dirty_rate_ = 0;
  double sampled_dirty_rate_ = 0;
  int high_count_ = 0;
  int throttle_ = 0;
  bool dirty_limited_ = false;
  int64_t expected_downtime_ms_ = 0;
  std::optional<int64_t> downtime_ms_;
  bool paused_ = false, postcopy_requested_ = false, cancel_requested_ = false;
  double postcopy_left_ = 0;
  uint64_t postcopy_requests_ = 0;
  double throttle_integral_ = 0;
  int64_t paused_ms_ = 0;
  std::deque<BackendEvent> events_;
};

struct SimPoint {
  double t_s = 0;
  uint64_t remaining = 0;
  int throttle = 0;
  std::string status;
};

struct SimResult {
  MigrationOutcome outcome = MigrationOutcome::kTimeout;
  int64_t total_time_ms = 0;
  std::optional<int64_t> downtime_ms;
  uint64_t passes = 0;
  uint64_t bytes_sent = 0;
  double throttle_integral = 0; // percent x seconds
  int64_t paused_ms = 0;
  std::vector<ActionRecord> actions;
  std::vector<SimPoint> series; // one point per sample the controller took
  std::vector<std::string> log;
};

struct SimOptions {
  int64_t step_ms = 10;
  int64_t interval_ms = 1000;      // the controller's sampling timer
  int64_t limit_ms = 48 * 3600 * 1000ll;  // give up (outcome "timeout")
};

/// Runs \a scenario to its end under \a reaction, through a Controller.
SimResult Simulate(const SimScenario& scenario, Reaction& reaction, const SimOptions& options = {});

/// The simulator's loop on any backend: samples it on events and on its
/// timer, feeds each sample through MigrationProgress (as the follower
/// does) and the Controller, to the end. \a advance moves the backend's
/// time on by a step and returns the time now, in ms. Simulate runs it on
/// a SimulatedMigration; a test runs it on a recorded migration.
SimResult RunSimulationLoop(MigrationBackend& m, const std::function<int64_t(int64_t)>& advance, Reaction& reaction,
                            const SimOptions& options = {});

}  // namespace vc
