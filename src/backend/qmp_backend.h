// QmpBackend: a MigrationBackend over a direct QMP connection (plain QEMU).
#pragma once

#include <map>

#include <memory>

#include "qmp/commands.h"
#include "qmp/session.h"
#include "src/backend/dirty_rate_sampling.h"
#include "src/backend/migration_backend.h"

namespace vc {

class QmpBackend final : public MigrationBackend {
 public:
  struct Options {
    /// Turn on the "events" capability when no migration runs, so that
    /// MIGRATION/MIGRATION_PASS arrive (libvirt does the same). Off for
    /// observe-only use; the caller then relies on its timer.
    bool enable_events = true;
    /// The destination QEMU's QMP socket, when known: a guest PauseGuest
    /// stopped is started there once the migration completes. Without it
    /// the guest cannot be paused (it would stay paused there).
    std::string destination_qmp;
    /// Sample the guest's dirty rate once in a migration's bulk pass
    /// (calc-dirty-rate, QEMU 5.2+): MigrationSample::sampled_dirty_rate.
    /// It changes no migration state, only what query-dirty-rate shows.
    bool sample_dirty_rate = true;
  };

  /// Connects to the QMP socket at \a path.
  static Result<std::unique_ptr<QmpBackend>> Connect(const std::string& path, Options options);
  static Result<std::unique_ptr<QmpBackend>> Open(std::unique_ptr<qmp::Session> session,
                                                  Options options);

  std::string Describe() const override;
  Result<MigrationSample> Sample() override;
  Result<BackendFacts> Facts() override;
  /// QEMU's -uuid (libvirt always gives one: its domain's UUID); "" when
  /// QEMU runs without one.
  Result<std::string> Uuid();
  Result<MigrationTuning> Tuning() override;
  Status SetTuning(const MigrationTuning& changes) override;
  Status StartPostcopy() override;
  Status Cancel() override;
  Status PauseGuest() override;
  Status ResumeGuest() override;
  Status CheckGuestRunsOnDestination() const override;
  Status StartGuestOnDestination() override;
  Status ResumePostcopy(const std::string& uri, const std::string& data_uri = "") override;
  Status PrepareIncoming(const MigrationStart& start) override;
  Status ListenForRecovery(const std::string& uri) override;
  Result<std::vector<DiskCopy>> DiskCopies(const std::vector<std::string>& disks) override;
  Status StartMigration(const MigrationStart& start, std::vector<std::string>* not_honoured) override;
  Status RestoreStartCapabilities() override;
  int pollable_fd() const override { return session_->pollable_fd(); }
  Status Poll(std::vector<BackendEvent>* events) override;
  bool has_queued_events() const override { return session_->HasEvents(); }

 private:
  QmpBackend(std::unique_ptr<qmp::Session> session, const Options& options)
      : session_(std::move(session)),
        destination_qmp_(options.destination_qmp),
        sample_dirty_rate_(options.sample_dirty_rate) {
    dirty_rate_.set_takes_sample_pages(session_->version().AtLeast(6, 1));
  }
  /// On a destination: multifd-channels and multifd-compression as the
  /// source will have them (\a start's).
  Status MatchMultifdParameters(const MigrationStart& start);
  /// Once \a s says completed, asks the destination whether it loaded the
  /// guest: without the return path the source completes once it has sent
  /// the last byte, and hears nothing of a destination that then fails.
  /// Failed there (or gone, having answered while the migration ran): \a s
  /// becomes "failed", saying so; still loading: "active" with
  /// source_completed. Unknown (never reached, or no answer): as QEMU says.
  void JudgeByTheDestination(MigrationSample* s);
  /// Adds to \a not_honoured when QEMU did not keep the compression level
  /// \a asked sets.
  void SayIfLevelIgnored(const qmp::MigrationParameters& asked, std::vector<std::string>* not_honoured);
  std::unique_ptr<qmp::Session> session_;
  std::string destination_qmp_;
  bool sample_dirty_rate_ = true;
  DirtyRateSampling dirty_rate_;
  /// StartGuestOnDestination's connection to it, kept while it is asked
  /// again (every moment, until the destination has loaded the migration);
  /// dropped on any error.
  std::unique_ptr<qmp::Session> destination_;
  bool events_ = false;
  /// The destination answered, waiting for this migration (run state
  /// inmigrate), while it ran; asked once. Its socket refusing afterwards
  /// means it is gone.
  bool destination_asked_ = false, destination_seen_waiting_ = false;
  /// JudgeByTheDestination has settled how this migration ended; the
  /// destination has not answered it this many times (at most
  /// kDestinationTries, a second each, before QEMU's word stands).
  bool destination_judged_ = false;
  int destination_unanswered_ = 0;
  static constexpr int kDestinationTries = 5;
  /// The capabilities StartMigration changed, with their values before.
  std::map<std::string, bool> capabilities_before_start_;
};

}  // namespace vc
