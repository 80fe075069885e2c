// What `attach` and `migrate` (and so `evacuate`'s children) share: the
// options that tune the follower, opening a libvirt domain with this
// host's one-follower lock, and following a migration to its end with the
// live view and the summary.
#pragma once

#include <CLI/CLI.hpp>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "src/attach/follower.h"
#include "src/backend/libvirt_backend.h"
#include "src/backend/qmp_backend.h"
#include "src/base/status.h"
#include "src/coord/admission.h"
#include "src/state/follow_lock.h"
#include "src/state/paths.h"

namespace vc {

inline constexpr int kExitUsage = 2;
inline constexpr int kExitLost = 3;

struct CommonOptions {
  std::string qmp_socket;
  std::string domain;        // attach: a libvirt domain (name, UUID or id)
  std::string connect_uri;   // libvirt URI; "" = libvirt's default
  std::string dest_qmp;      // attach, plain QEMU: the destination's QMP socket, when known
  std::string run_dir = StatePaths::kDefaultRunDir;
  std::string state_dir = StatePaths::kDefaultStateDir;
  std::string metrics_dir = StatePaths::kDefaultMetricsDir;  // used when it exists
  StatePaths paths() const;
  bool dry_run = false;
  std::string interval = "1s";
  std::string wait_at_most;  // attach: "" = wait for a migration as long as it takes
  std::string summary_json;
  std::string policy_root = "/";
  bool no_policy = false;
};

/// The follower's tuning options, on \a cmd.
void AddCommonOptions(CLI::App* cmd, CommonOptions* o, bool qmp_required = true);
/// Prints "virt-converge: WHAT: STATUS" and returns \a code.
int Fail(const std::string& what, const Status& st, int code);
/// Fail, for a migration that was never started: --summary-json (when
/// given) still says so, outcome not_started with WHAT and STATUS as detail.
int NotStarted(const CommonOptions& o, const std::string& what, const Status& st, int code);
/// Plain QEMU has no UUID we can count on: its QMP socket names it.
std::string QmpMigrationId(const std::string& socket);
Result<FollowOptions> MakeFollowOptions(const CommonOptions& o);

/// The lock a plain QEMU's follower takes besides its socket's: QEMU's UUID,
/// the key `attach DOMAIN` locks for a libvirt domain, so that one VM has one
/// follower whichever way it is reached. nullopt when QEMU has no UUID; an
/// error (kCommandFailed naming the holder) when another follower has it.
Result<std::optional<FollowLock>> TakeVmLock(const CommonOptions& o, QmpBackend& backend);

/// A migration's place in the host's cost budget, once taken.
struct Admission {
  AdmissionTicket ticket;
  std::vector<std::string> copied_disks;  // what counted in its cost
};

/// With this migration's follow lock held (\a f names it): what a follower
/// of it that died had changed becomes f's to adopt (FollowOptions::adopted),
/// said on stdout. An unreadable changes record is said, never fatal.
void AdoptWhatADeadFollowerChanged(FollowOptions* f);

/// Before `migrate` starts a new migration (f's follow lock held): what a
/// follower of an earlier migration of this VM that died had changed is put
/// back (its parameters; a guest it paused runs again), so that it is not
/// taken for QEMU's own, and that follower's record becomes history. An
/// error when a migration of the VM runs now, or what was left cannot be
/// read or all put back (its record then stays).
Status SettleWhatADeadFollowerLeft(MigrationBackend& backend, const FollowOptions& f);

/// Follows the migration on \a backend to its end; the exit code.
int FollowAndReport(MigrationBackend& backend, const FollowOptions& f, const CommonOptions& o,
                    std::optional<Admission> admission = std::nullopt);

/// A libvirt domain to follow, with this host's one-follower lock taken
/// (a watch, or another operator, then leaves it to us).
struct LibvirtDomain {
  std::unique_ptr<LibvirtBackend> backend;
  FollowLock lock;
};
Result<LibvirtDomain> OpenLibvirtDomain(const CommonOptions& o, const std::string& domain);

}  // namespace vc
