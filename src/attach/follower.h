// Follower: `attach`, the conductor. Waits for a migration to start,
// follows it to its end, and keeps the view and the live record up to date.
// Each sample goes through MigrationProgress (what it means) to the
// Controller (what the policy's reaction decides, applied through the
// plugins). Its parts: FollowLoop (sd-event, one owner on this thread),
// FollowedPolicy, HostCitizenship (bandwidth share, cost budget) and
// OperatorRequests (the control socket). It ends one way: End().
//
// Nothing it does may harm the VM because of our own fault: when it cannot
// go on (a bug, an unreadable reply) or is asked to stop (SIGINT/SIGTERM),
// it puts back the parameters it changed and leaves the migration running
// under QEMU's own settings.
#pragma once

#include <memory>
#include <optional>
#include <vector>

#include "src/attach/follow_loop.h"
#include "src/attach/followed_policy.h"
#include "src/attach/host_citizenship.h"
#include "src/attach/journal_log.h"
#include "src/attach/operator_requests.h"
#include "src/backend/migration_backend.h"
#include "src/control/controller.h"
#include "src/control/estimator.h"
#include "src/control/migration_progress.h"
#include "src/coord/admission.h"
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
  /// What a follower of this migration that died had changed (its changes
  /// record): ours now. A migration still running is followed on; one that
  /// ended meanwhile gets them put back (or, completed, a guest paused by
  /// it started on the destination).
  std::optional<ChangesInForce> adopted;
  /// How long to wait for a migration to run before ending with nothing to
  /// follow (0: for as long as it takes). `watch` starts its helpers for a
  /// migration it saw; one that ended before the helper looked must not
  /// leave it waiting for ever.
  Millis wait_at_most{0};
};

class Follower {
 public:
  Follower(MigrationBackend& backend, FollowOptions options, LiveView& view);
  ~Follower();

  /// Runs until the migration ends, a signal asks to detach, or the backend
  /// is lost. Blocks SIGINT, SIGTERM and SIGHUP while it runs.
  MigrationSummary Run();

  /// The place `migrate` took in the host's cost budget: held until the
  /// migration ends, each copied disk's unit (\a copied_disks, the targets
  /// it counted) given back as soon as its copy is ready, even before the
  /// RAM is under way. Without one, a followed migration enters itself (as
  /// running) under the run dir's admission directory.
  void HoldAdmission(AdmissionTicket ticket, std::vector<std::string> copied_disks) {
    host_.HoldAdmission(std::move(ticket), std::move(copied_disks));
  }

  /// 0 completed, 1 failed/cancelled/aborted, 3 lost QEMU or protocol error,
  /// 4 detached before the end.
  static int ExitCode(const MigrationSummary& s);

 private:
  // kEnding: the migration ended and the end is told, but a guest we
  // paused waits for the destination to load the migration before it can
  // start there; the loop (samples aside, the control socket) goes on.
  enum class Phase { kWaiting, kFollowing, kEnding, kDone };

  void Tick(bool timer);
  void StartFollowing(const MigrationSample& s);
  void Follow(const MigrationSample& s, bool after_sync);
  /// Tells the backend whether the policy allows QMP passthrough and, when
  /// that changed, re-reads its facts; false when it could not (the
  /// follower then ended).
  bool ApplyPassthroughPolicy();
  void ReloadPolicy(const std::string& why);
  OperatorReply HandleRequest(const std::string& request);
  /// What the follower itself tells: on its output and to the journal.
  void Tell(const std::string& line);
  /// Sends the journal the actions taken since it was last told.
  void JournalNewActions();
  /// Refreshes the live record from \a s (when there is a run dir), and
  /// the journal of new actions.
  void Record(const MigrationSample* s);
  /// The migration ended (\a s finished()): its summary from QEMU's figures.
  void Finish(const MigrationSample& s);
  /// \a copy, the final copy of a migration completed in pre-copy, beside
  /// what the switch-over speed the reaction held predicted for it (said).
  SwitchoverReport ReportSwitchover(const SwitchoverCopy& copy);
  /// A summary of \a outcome with the figures of the last sample.
  /// \a code: its reason code (MigrationSummary::code).
  MigrationSummary EndingHere(MigrationOutcome outcome, std::string code, std::string detail) const;
  /// The one way to end. \a leave_to_qemu: first put back what we changed
  /// and resume a guest we paused, so the migration goes on as if we had
  /// never been there (detaching, or our own fault). Then the host's share
  /// and budget are given back, the history record written, the loop left.
  void End(MigrationSummary summary, bool leave_to_qemu);
  /// In kEnding, on the timer: tries again to start the guest on the
  /// destination; Ends once that is done or given up. \a stopping: the
  /// follower must go now (SIGTERM): the guest stays paused there, and
  /// recorded for the next follower.
  void AwaitDestination(bool stopping);
  static constexpr Millis kDestinationPoll{100};
  /// Ends on a failed backend call: lost when QEMU or libvirt went away,
  /// our fault (leaving the migration to QEMU) when it answered something
  /// we could not use.
  void EndOnError(const Status& st);
  /// The backend is gone (libvirtd or QEMU's socket closed): ends as lost,
  /// leaving what we changed recorded for the next follower.
  void EndLost(const Status& st);
  /// The adopted changes of a migration that ended with no follower (\a s
  /// its state now): put back, then End.
  void EndOrphan(const MigrationSample& s);
  /// Records \a changes (changes_record.h) before the controller sends them.
  void RecordChanges(const ChangesInForce& changes);
  /// A sample failed. Asked again at each tick, for a while: kUnavailable
  /// (the backend cannot tell yet, e.g. the domain left before libvirt's
  /// event said how) for kEndUnknownGrace, kTimeout (QEMU holds its lock
  /// through a long final copy) for kBusyQemuGrace. Anything else, or
  /// longer, ends as EndOnError.
  void OnSampleError(const Status& st);
  static constexpr Millis kEndUnknownGrace{10000};
  static constexpr Millis kBusyQemuGrace{300000};
  const MigrationSample* last_sample() const {
    return phase_ == Phase::kFollowing && progress_ ? &progress_->last() : nullptr;
  }

  MigrationBackend& backend_;
  FollowOptions options_;
  LiveView& view_;
  std::unique_ptr<FollowLoop> loop_;
  FollowedPolicy policy_;
  HostCitizenship host_;
  OperatorRequests operator_;
  std::unique_ptr<Controller> controller_;

  Phase phase_ = Phase::kWaiting;
  BackendFacts facts_;
  bool passthrough_allowed_ = false;  // as last told to the backend (its default)
  std::optional<MigrationProgress> progress_;  // from the first running sample on
  Estimator eta_;  // for the records' ETA, whatever reacts
  std::vector<SamplePoint> series_;
  MigrationSummary summary_;
  std::optional<MigrationSummary> ending_;  // in kEnding: the end to tell

  JournalLog journal_{JournalLog::Available()};
  size_t journaled_actions_ = 0;
  std::optional<RecordWriter> writer_;
  MigrationRecord record_;
  bool record_warned_ = false;
  bool changes_warned_ = false;
  bool changes_owned_ = false;  // the changes record is ours to keep and remove
  std::optional<ControlSocket> control_;
  std::optional<Clock::time_point> unanswered_since_;
  Clock::time_point waiting_since_ = Clock::now();  // samples failed (kUnavailable, kTimeout) since
};

}  // namespace vc
