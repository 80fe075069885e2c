// Controller: where decisions meet a migration. It feeds each sample to the
// reaction, applies what the reaction decides through the plugins (checking
// first that each is possible here), remembers what it changed, and puts
// that back when asked to leave. The follower (a real migration, on an
// event loop) and the simulator (a modelled one, in virtual time) both run
// it, so what `simulate` predicts is what `attach` does.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "src/backend/migration_backend.h"
#include "src/base/time.h"
#include "src/control/reaction.h"

namespace vc {

/// One action taken (or attempted), for the summary and the history.
struct ActionRecord {
  double at_s = 0;       // seconds since the migration started
  std::string action;
  int64_t value = 0;
  std::string reason;
  std::string result;    // "done", "dry run: not applied", or why not
  /// From the sample the decision was made on (taken as soon as QEMU
  /// reported the pass) until the action was applied.
  double latency_ms = 0;
  /// The part of it before the command went to QEMU: ours. The rest is
  /// QEMU's answer, which waits while it holds its lock (a stop-and-copy).
  double sent_ms = 0;
  /// Why the decision was taken (unknown in records older than kinds).
  std::optional<DecisionKind> kind{};
};

/// What virt-converge has changed in QEMU or libvirt and must put back if
/// the migration does not complete: QEMU's values before our first change,
/// the fields we set (to those values), and whether we paused the guest.
/// Known before each change is sent, so whoever comes next (a restarted
/// helper, `watch`'s next one) can put it back.
struct ChangesInForce {
  std::optional<MigrationTuning> original;
  MigrationTuning ours;
  bool guest_paused = false;
  bool empty() const { return ours == MigrationTuning{} && !guest_paused; }
};

/// What an operator's request came to: whether all it asked was done, and
/// each action tried with its result ("start-postcopy: ...; pause-guest:
/// done").
struct OperatorReply {
  bool ok = false;
  std::string text;
  /// Not done yet, and the same request may succeed in a moment (libvirt
  /// refuses a post-copy resume until QEMU has noticed the break): the
  /// asker tries again; the follower never waits for it.
  bool again = false;
};

/// The action's stable reason code, "<why>.<what>": the decision's kind
/// (DecisionKindName) and the action's policy word, e.g. "budget.abort",
/// "schedule.downtime", "operator.abort"; "" for a record older than kinds.
std::string ActionCode(const ActionRecord& a);

/// How an action is told as it happens: "  11.2s action set-downtime 600 ms
/// [done]: <reason> [schedule.downtime]".
std::string ActionLine(const ActionRecord& a);

/// How soon to sample after \a s, for a sampling timer of \a interval_ms:
/// every kBulkEndIntervalMs over the bulk pass's last two intervals, where
/// QEMU's first sync and any switch-over inside the bulk come, and where
/// the switch-over correction follows the bulk pages still unsent (QEMU
/// sends no event in the bulk pass).
inline constexpr int64_t kBulkEndIntervalMs = 100;

/// How long a destination still loading the last of a migration is waited
/// for before a guest we paused is given up as not startable there.
inline constexpr Millis kDestinationLoadGrace{60000};
int64_t NextSampleInMs(const MigrationSample& s, int64_t interval_ms);

class Controller {
 public:
  using Say = std::function<void(const std::string&)>;

  /// \a reaction must outlive the controller (the follower may swap it
  /// with set_reaction on a policy reload). \a say receives one line per
  /// action and per notable event.
  Controller(MigrationBackend& backend, BackendFacts facts, Reaction* reaction, bool dry_run, Say say);

  void set_reaction(Reaction* reaction) { reaction_ = reaction; }
  /// What the backend offers changed (a policy reload allowed passthrough).
  void set_facts(BackendFacts facts) { facts_ = std::move(facts); }
  /// QEMU's downtime-limit as last read or set; -1 when unknown.
  void set_downtime_limit_ms(int64_t ms) { downtime_limit_ms_ = ms; }
  int64_t downtime_limit_ms() const { return downtime_limit_ms_; }

  /// Decides on one sample of a running migration and applies the decisions;
  /// none once the switch-over is under way (MigrationSample::switching_over).
  void OnSample(const MigrationSample& s, bool after_sync);
  /// Applies \a d, decided outside the reaction (the host's bandwidth
  /// share, the operator), on the latest sample \a s as the reaction's
  /// would be; the reaction is not told. OK when it was done (or, in a dry
  /// run, would have been); kUnavailable while the switch-over is under way.
  Status Impose(const MigrationSample& s, const Decision& d);
  /// The operator's "complete now": post-copy where the migration allows
  /// it (or where the backend cannot say), else a pause, so that it ends as
  /// a stop-and-copy. Refused, changing nothing, when \a s shows no
  /// migration running: a VM that is not migrating is never paused.
  OperatorReply CompleteNow(const MigrationSample& s);
  /// The operator's "cancel": the migration is aborted, the guest runs on
  /// here.
  OperatorReply Cancel(const MigrationSample& s);
  /// The host's share for this migration, bytes/s (0 = none): a
  /// set-bandwidth the reaction decides above it is cut down to it.
  void set_bandwidth_ceiling(uint64_t bytes_per_second) { bandwidth_ceiling_ = bytes_per_second; }
  /// The migration ended (\a s is its last sample). Completed: a guest we
  /// paused is started on the destination (where the backend must), and
  /// nothing of ours is in force any more (changes() is empty). Not
  /// completed (aborted, cancelled, failed): the VM stays on the source, so
  /// the parameters we changed go back (as Leave) and a guest we paused is
  /// resumed there.
  void OnFinished(const MigrationSample& s);
  /// Called with what will be in force before each change is sent, and
  /// again once things are put back (then empty()).
  void set_before_change(std::function<void(const ChangesInForce&)> f) { before_change_ = std::move(f); }
  /// Takes over \a changes a follower that died left in force: they count
  /// as ours, to be put back as ours are. Call it before the first decision.
  void Adopt(const ChangesInForce& changes);
  /// What is ours in force now (what the changes record says); a parameter
  /// put back, or one QEMU no longer holds, is not.
  ChangesInForce changes() const { return {original_, ours_, paused_by_us_}; }
  /// `migrate` set \a set (the fields it holds) before it started the
  /// migration, over \a before: those count as ours, to be put back with
  /// the rest. Call it before the first decision.
  void AdoptStartSettings(const MigrationTuning& before, const MigrationTuning& set);
  /// Puts back every parameter we changed that nobody changed after us,
  /// and resumes a guest we paused: the migration goes on as if we had
  /// never been there. \a in_postcopy: the guest lives on the destination,
  /// so parameters are left alone and a guest we paused is started there,
  /// never resumed on the source.
  void Leave(bool in_postcopy);
  /// A guest we paused is to start on the destination, which is still
  /// loading the last of the migration: whoever runs the controller calls
  /// StartOnDestinationAgain every moment until this is false (at most
  /// kDestinationLoadGrace), without holding its loop meanwhile.
  bool awaits_destination() const { return destination_wait_.has_value(); }
  void StartOnDestinationAgain() { StartGuestWePausedOnDestination(); }

  const std::vector<ActionRecord>& actions() const { return actions_; }
  /// QEMU's max-bandwidth (bytes/s) as last read, with our changes since.
  std::optional<uint64_t> max_bandwidth() const { return tuning_.max_bandwidth; }
  const std::string& abort_reason() const { return abort_reason_; }
  /// The reason code of the action that aborted the migration ("" if none).
  const std::string& abort_code() const { return abort_code_; }

 private:
  Status Apply(const MigrationSample& s, Decision d, bool from_reaction);
  void RestoreTuning();
  /// Resumes on the source a guest we paused (saying so, with \a note),
  /// unless the migration has switched over: then it is started on the
  /// destination.
  void ResumeGuestWePaused(const std::string& note);
  /// After the switch-over (completed, or in post-copy): a guest we paused
  /// runs on the destination.
  void StartGuestWePausedOnDestination();

  /// Tells before_change_ what is in force now.
  void TellChanges();

  MigrationBackend& backend_;
  BackendFacts facts_;
  Reaction* reaction_;
  bool dry_run_;
  Say say_;
  int64_t downtime_limit_ms_ = -1;
  MigrationTuning tuning_;  // as last read from QEMU, with our changes since
  bool tuning_read_ = false;
  // What QEMU had before our first change, and what we set last.
  std::optional<MigrationTuning> original_;
  MigrationTuning ours_;
  std::vector<ActionRecord> actions_;
  std::string abort_reason_;
  std::string abort_code_;
  bool paused_by_us_ = false;
  std::optional<Clock::time_point> destination_wait_;  // since the destination first said "not yet"
  bool told_switching_over_ = false;
  bool told_sampled_rate_ = false;
  uint64_t bandwidth_ceiling_ = 0;
  std::function<void(const ChangesInForce&)> before_change_;
};

/// Puts back \a changes left by a follower that is gone (or by a start that
/// failed), as a follower does at the end \a end says: on completion a guest
/// paused by us starts on the destination; otherwise our parameters go back
/// where QEMU still holds them and a paused guest runs again. Returns what is
/// still in force after (empty when everything went back).
ChangesInForce PutBack(MigrationBackend& backend, const ChangesInForce& changes, const MigrationSample& end,
                       Controller::Say say);

}  // namespace vc
