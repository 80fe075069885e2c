// Follower: the loop of `attach`. Waits for a migration to start, follows
// it to its end, samples it on every pass and on a timer, feeds the
// reaction, applies its decisions through the plugins, and keeps the view
// live. One owner: everything runs on one sd-event loop, on this thread.
//
// Nothing it does may harm the VM because of our own fault: when it cannot
// go on (a bug, an unreadable reply) or is asked to stop (SIGINT/SIGTERM),
// it puts back the parameters it changed and leaves the migration running
// under QEMU's own settings.
#pragma once

#include <memory>
#include <optional>
#include <vector>

#include "src/backend/migration_backend.h"
#include "src/control/controller.h"
#include "src/control/migration_progress.h"
#include "src/control/policy_reaction.h"
#include "src/coord/admission.h"
#include "src/coord/shares.h"
#include "src/policy/resolve.h"
#include "src/state/control_socket.h"
#include "src/state/migration_record.h"
#include "src/state/paths.h"
#include "src/state/summary.h"
#include "src/view/live_view.h"

namespace vc {

struct FollowOptions {
  bool dry_run = false;     // observe and say what it would do; change nothing
  Millis interval{1000};    // sampling timer (the bulk pass has no events)
  /// Policy drop-ins are looked for under this root, and merged onto the
  /// built-in default. "" = the built-in default alone (`--no-policy`).
  std::string policy_root = "/";
  /// Where this follower keeps its records and meets the host's other
  /// followers (shares, admission). No run directory: it acts alone and
  /// keeps no live record; no state directory: no history, nothing learned.
  StatePaths paths{"", ""};
  /// Names this migration among the host's: the domain's UUID, or
  /// "qmp-" and the socket path.
  std::string migration_id;
  std::string uuid;        // the domain's, when libvirt runs it
  std::string peer;        // the destination, when known (we started it)
  /// We started the migration (`migrate`): a failure before it ran is
  /// its end (outcome "not-started"), not an old status to wait past.
  bool started_here = false;
  /// `migrate`: the parameters QEMU had before it set its start settings,
  /// and those of them that outlive the migration (\a start_settings),
  /// which then count as ours, put back when it ends without completing.
  std::optional<MigrationTuning> before_start;
  MigrationTuning start_settings;
};

class Follower {
 public:
  Follower(MigrationBackend& backend, FollowOptions options, LiveView& view);
  ~Follower();

  /// Runs until the migration ends, a signal asks to detach, or the backend
  /// is lost. Blocks SIGINT and SIGTERM while it runs.
  MigrationSummary Run();

  /// The place `migrate` took in the host's cost budget: held until the
  /// migration ends, each copied disk's unit (\a copied_disks, the targets
  /// it counted) given back as soon as its copy is ready, even before the
  /// RAM is under way. Without one, a followed migration enters itself (as
  /// running) under the run dir's admission directory.
  void HoldAdmission(AdmissionTicket ticket, std::vector<std::string> copied_disks) {
    admission_.emplace(std::move(ticket));
    copied_disks_ = std::move(copied_disks);
  }

  /// 0 completed, 1 failed/cancelled/aborted, 3 lost QEMU or protocol error,
  /// 4 detached before the end.
  static int ExitCode(const MigrationSummary& s);

 private:
  struct Loop;
  enum class Phase { kWaiting, kFollowing, kDone };

  void Tick(bool timer);
  void StartFollowing(const MigrationSample& s);
  void Follow(const MigrationSample& s, bool after_sync);
  void ChooseReaction(const MigrationSample& s);
  /// Tells the backend whether the policy allows QMP passthrough and, when
  /// that changed, re-reads its facts; false when it could not (the
  /// follower then ended).
  bool ApplyPassthroughPolicy();
  /// Re-reads the policy (SIGHUP, or a change in a policy directory).
  void ReloadPolicy(const std::string& why);
  /// Resolves the policy for this VM (\a ram_total bytes), logging its warnings.
  policy::Resolved ResolvePolicy(uint64_t ram_total);
  /// "policy (the built-in default and 2 files under /)", for the log and record.
  std::string DescribePolicy(const policy::Resolved& r) const;
  /// LearnSwitchoverBandwidth=: this host's earlier final copies to the
  /// same destination (unknown when \a p does not learn, or states the speed).
  SwitchoverSpeed LearnedSwitchoverSpeed(const policy::Policy& p);
  void RememberSwitchover(const MigrationSample& end);
  void WatchPolicyDirectories();
  /// With a host bandwidth budget in the policy: holds this migration's
  /// share entry and watches the others'.
  void TakeShare();
  /// Sets max-bandwidth to this migration's share of the host's budget
  /// when that changed (another migration came or went).
  void Resplit();
  void DropShare();
  /// A migration someone else started counts in the host's cost budget
  /// from the moment we follow it: 1, plus its disks still being copied.
  void EnterAdmission();
  /// Gives back the unit of each disk whose copy got ready.
  void ReleaseCopiedDisks();
  /// An operator's request through the control socket: cancel, postcopy
  /// (force-complete: post-copy when possible, else pause), resume URI.
  OperatorReply HandleRequest(const std::string& request);
  /// Refreshes the live record from \a s (when there is a run dir).
  void Record(const MigrationSample* s);
  void Finish(const MigrationSample& s);
  void Detach(const std::string& why);
  void Lose(const Status& st);
  void GiveUp(const Status& st);   // our fault: restore and leave
  /// Puts back what we changed and resumes a guest we paused: the
  /// migration goes on as if we had never been there.
  void LeaveToQemu();
  void Done(MigrationSummary summary);

  MigrationBackend& backend_;
  FollowOptions options_;
  LiveView& view_;
  std::unique_ptr<PolicyReaction> reaction_;
  std::unique_ptr<Controller> controller_;
  std::vector<policy::ShownSetting> shown_policy_;
  std::unique_ptr<Loop> loop_;

  Phase phase_ = Phase::kWaiting;
  BackendFacts facts_;
  bool passthrough_allowed_ = false;  // as last told to the backend (its default)
  std::optional<MigrationProgress> progress_;  // from the first running sample on
  bool told_learned_ = false;  // the learned switch-over speed is said once
  std::vector<SamplePoint> series_;
  MigrationSummary summary_;

  std::optional<ShareHold> share_hold_;
  std::string shares_dir_;
  SplitRule split_;            // budget 0: not sharing
  uint64_t share_bps_ = 0;     // as last applied (or decided, in a dry run)
  size_t sharing_with_ = 0;    // other migrations at the last split

  std::optional<AdmissionTicket> admission_;
  std::vector<std::string> copied_disks_;   // what a storage migration copies (domain XML)
  std::vector<std::string> disks_ready_;    // their copies found ready

  std::optional<RecordWriter> writer_;
  MigrationRecord record_;
  bool record_warned_ = false;
  std::optional<ControlSocket> control_;
};

}  // namespace vc
