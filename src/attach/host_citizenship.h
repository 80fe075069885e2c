// HostCitizenship: what a followed migration owes the host it leaves. It
// holds the migration's share of [Host] OutgoingBandwidth (src/coord/shares.h),
// re-splitting when others come or go, and its place in the cost budget
// (src/coord/admission.h), giving back each copied disk's unit as soon as
// that copy is ready; all of it the moment the migration ends.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "src/attach/follow_loop.h"
#include "src/backend/migration_backend.h"
#include "src/control/controller.h"
#include "src/coord/admission.h"
#include "src/coord/shares.h"
#include "src/policy/policy.h"
#include "src/state/paths.h"
#include "src/view/live_view.h"

namespace vc {

class HostCitizenship {
 public:
  struct Identity {
    StatePaths paths;          // no run dir: alone on the host
    std::string migration_id;  // the entry's name
    std::string peer;
    bool dry_run = false;      // a dry run takes no place in the budget
  };
  /// \a last_sample: the migration's latest sample while it is followed,
  /// else null. \a changed: what it holds changed (for the live record).
  HostCitizenship(MigrationBackend& backend, Identity id, LiveView& view,
                  std::function<const MigrationSample*()> last_sample, std::function<void()> changed);
  HostCitizenship(const HostCitizenship&) = delete;
  HostCitizenship& operator=(const HostCitizenship&) = delete;

  /// The place `migrate` took before the migration started (see
  /// Follower::HoldAdmission).
  void HoldAdmission(AdmissionTicket ticket, std::vector<std::string> copied_disks);
  /// Once the migration is followed: takes a share when \a p has a host
  /// bandwidth budget (split on \a controller), and enters the cost budget
  /// unless `migrate` already holds a place.
  void Join(sd_event* e, const policy::Policy& p, const BackendFacts& facts, Controller* controller);
  /// Sets max-bandwidth to this migration's share when it changed.
  void Resplit();
  /// Closest-first splits need everyone's bytes left.
  void SetRemaining(uint64_t remaining);
  /// Gives back the unit of each disk whose copy got ready.
  void ReleaseCopiedDisks();
  /// Gives the share and the place in the budget back at once.
  void Leave();

  uint64_t share_bps() const { return share_bps_; }

 private:
  void TakeShare(sd_event* e, const policy::Policy& p);
  void EnterAdmission(const BackendFacts& facts);

  MigrationBackend& backend_;
  Identity id_;
  LiveView& view_;
  std::function<const MigrationSample*()> last_sample_;
  std::function<void()> changed_;
  Controller* controller_ = nullptr;

  std::optional<ShareHold> share_hold_;
  std::string shares_dir_;
  SplitRule split_;            // budget 0: not sharing
  uint64_t share_bps_ = 0;     // as last applied (or decided, in a dry run)
  size_t sharing_with_ = 0;    // other migrations at the last split
  DirectoryWatch shares_watch_;

  std::optional<AdmissionTicket> admission_;
  std::vector<std::string> copied_disks_;   // what a storage migration copies (domain XML)
  std::vector<std::string> disks_ready_;    // their copies found ready
};

}  // namespace vc
