// MigrationBackend: what the engine needs from "a migration", whoever runs it.
//
// QmpBackend drives a QEMU straight over its QMP socket; LibvirtBackend uses
// libvirt's API. The engine and the plugins see only this header,
// in units of bytes, bytes/s and milliseconds.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include "src/base/status.h"
#include "src/base/time.h"

namespace vc {

/// One observation of a migration (QMP query-migrate, libvirt job stats).
struct MigrationSample {
  Clock::time_point at{};
  std::string status;          // QEMU's MigrationStatus name; "none" when idle
  int64_t total_time_ms = 0;   // since the migration started
  uint64_t ram_total = 0;      // guest RAM
  uint64_t ram_transferred = 0;
  uint64_t ram_remaining = 0;
  /// Bytes of the pages sent or found zero so far, over all passes (QEMU's
  /// (normal + duplicate) x page size); 0 = not reported. Well below
  /// ram_total at a sync, that sync cut the bulk pass short.
  uint64_t ram_visited = 0;
  double bandwidth = 0;        // measured, bytes/s
  double dirty_rate = 0;       // bytes/s, updated at each dirty-bitmap sync
  /// Bytes/s the guest dirtied in a short window of the bulk pass, sampled
  /// apart from the migration (QMP calc-dirty-rate); 0 = not measured. The
  /// first sync's dirty_rate counts a page once over the whole bulk pass,
  /// and reads low for a guest rewriting its working set in less.
  double sampled_dirty_rate = 0;
  uint64_t pass = 0;           // dirty-bitmap syncs so far (1 during the bulk pass)
  int64_t expected_downtime_ms = 0;
  std::optional<int64_t> downtime_ms;  // the real one, known at the end
  /// Bytes sent with the guest stopped: the final copy, exactly (QEMU >=
  /// 7.0 says so at the end; 0 = not reported, as by libvirt).
  uint64_t downtime_bytes = 0;
  int throttle_percent = 0;    // auto-converge CPU throttle
  uint64_t postcopy_requests = 0;
  std::string error;           // QEMU's error-desc when failed
  /// QEMU's side has completed while libvirt's job still runs: libvirt is
  /// finishing on the destination, which may yet fail (status stays
  /// "active" until libvirt says how it ended).
  bool source_completed = false;
  /// The source completed, but the destination did not load the guest
  /// (status "failed"; error says how that was learned).
  bool destination_failed = false;

  bool running() const;
  bool finished() const;
  bool in_postcopy() const;
  /// The switch-over is under way: QEMU has stopped the guest for its final
  /// copy (status device or pre-switchover, or an "active" reply with
  /// nothing left: QEMU answers so a query it held through the copy), or
  /// its side has completed. An abort now would cancel the migration at its
  /// very end, and it ends by itself.
  bool switching_over() const;
  /// Bytes of RAM the bulk pass has not visited yet: all of it in
  /// ram_remaining. 0 once the bulk is done, or when QEMU does not say.
  uint64_t bulk_unsent() const;
  /// Bytes of RAM gone through so far, over all passes: ram_visited, or
  /// ram_transferred where it is not reported.
  uint64_t ram_walked() const { return ram_visited ? ram_visited : ram_transferred; }
};

/// The tunable parameters the engine reads and changes; unset = unchanged.
struct MigrationTuning {
  std::optional<int64_t> downtime_limit_ms;
  std::optional<uint64_t> max_bandwidth;  // bytes/s
  // auto-converge's throttle, percent; read by QEMU at its next sync
  std::optional<int64_t> throttle_initial, throttle_increment, throttle_max;
  std::optional<bool> throttle_tailslow;
  // throttle-trigger-threshold, percent (QEMU 5.0+): a sync period counts
  // towards a throttle step when the guest dirtied more than this share of
  // what was sent in it
  std::optional<int64_t> throttle_trigger;
  std::optional<uint64_t> xbzrle_cache;      // bytes, a power of two
  std::optional<uint64_t> vcpu_dirty_limit;  // MiB/s per vCPU (QEMU 8.1+)
  // bytes/s QEMU assumes for the final copy when it judges the downtime
  // (QEMU 8.2+); 0 = its own estimate, the rate-limited bandwidth
  std::optional<uint64_t> avail_switchover_bandwidth;
  bool operator==(const MigrationTuning&) const = default;

  /// Calls \a f(field, QEMU's name for it) for every field: the one walk
  /// over them. The throttle's fields come together (QEMU checks their
  /// bounds together in one migrate-set-parameters).
  template <typename F>
  static void ForEachField(F&& f) {
    f(&MigrationTuning::downtime_limit_ms, "downtime-limit");
    f(&MigrationTuning::max_bandwidth, "max-bandwidth");
    f(&MigrationTuning::throttle_initial, "cpu-throttle-initial");
    f(&MigrationTuning::throttle_increment, "cpu-throttle-increment");
    f(&MigrationTuning::throttle_max, "max-cpu-throttle");
    f(&MigrationTuning::throttle_tailslow, "cpu-throttle-tailslow");
    f(&MigrationTuning::throttle_trigger, "throttle-trigger-threshold");
    f(&MigrationTuning::xbzrle_cache, "xbzrle-cache-size");
    f(&MigrationTuning::vcpu_dirty_limit, "vcpu-dirty-limit");
    f(&MigrationTuning::avail_switchover_bandwidth, "avail-switchover-bandwidth");
  }
  /// How a field's value reads in messages: "on"/"off", or the number.
  template <typename T>
  static std::string ValueText(const T& v) {
    if constexpr (std::is_same_v<T, bool>) {
      return v ? "on" : "off";
    } else {
      return std::to_string(v);
    }
  }
  /// The fields libvirt has no API of its own for (all but downtime-limit,
  /// max-bandwidth and the xbzrle cache): only QMP passthrough sets them.
  MigrationTuning QemuOnly() const {
    MigrationTuning t = *this;
    t.downtime_limit_ms.reset();
    t.max_bandwidth.reset();
    t.xbzrle_cache.reset();
    return t;
  }
  /// Takes every field \a changes sets.
  void Overlay(const MigrationTuning& changes) {
    ForEachField([&](auto MigrationTuning::*field, const char*) {
      if (changes.*field) this->*field = changes.*field;
    });
  }
};

/// What this QEMU/libvirt offers for the current migration.
struct BackendFacts {
  std::string hypervisor;      // "QEMU 7.2.22"
  int qemu_major = 0, qemu_minor = 0;
  /// Every migration capability QEMU knows, with its state.
  std::map<std::string, bool> capabilities;
  bool postcopy_ram = false;   // post-copy can be started
  bool auto_converge = false;
  bool events = false;         // MIGRATION / MIGRATION_PASS are delivered
  std::string vm_name;         // for policy matching; "" when unknown
  std::string domain_xml;      // libvirt: the domain's XML (policy matching); "" otherwise
  uint64_t guest_memory = 0;   // bytes; 0 when unknown
  /// Non-empty when QEMU-only parameters (throttle, dirty-limit) cannot be
  /// changed through this backend, saying why (libvirt without passthrough).
  std::string passthrough_refusal;

  bool QemuAtLeast(int major, int minor) const {
    return qemu_major > major || (qemu_major == major && qemu_minor >= minor);
  }
  bool CapabilityOn(const std::string& name) const {
    auto it = capabilities.find(name);
    return it != capabilities.end() && it->second;
  }
};

/// An asynchronous notification from the backend.
struct BackendEvent {
  enum class Kind { kStatus, kPass, kGuestStopped, kGuestResumed } kind;
  std::string status;  // kStatus
  uint64_t pass = 0;   // kPass
};

/// How virt-converge starts a migration itself (capabilities can only be set
/// before it starts). Unset members leave QEMU's/libvirt's values.
/// A disk copied along with the migration (a storage migration's mirror).
struct DiskCopy {
  std::string disk;  // libvirt: the target (vda); QEMU: the job's device
  uint64_t done = 0, total = 0;
  bool ready = false;  // synchronised: from now on only new writes follow
};

struct MigrationStart {
  std::string uri;       // QMP: the migration URI; libvirt: the destination's libvirt URI
  std::string data_uri;  // libvirt: where the data goes (VIR_MIGRATE_PARAM_URI); "" = libvirt's choice
  bool postcopy = false;
  bool postcopy_preempt = false;  // with postcopy: page requests preempt the stream (QEMU 7.1+, both sides)
  bool auto_converge = false;
  /// dirty-limit instead of auto-converge where QEMU can (8.1+, KVM with a
  /// dirty ring); elsewhere auto_converge as it is, said.
  bool dirty_limit = false;
  std::optional<int64_t> throttle_initial, throttle_increment, throttle_max;  // percent
  std::optional<bool> throttle_tailslow;
  std::string compression = "none";  // none, xbzrle, zlib, zstd
  /// Multifd's compression: zlib or zstd, else "none" (xbzrle is not multifd's).
  std::string multifd_compression() const {
    return compression == "zlib" || compression == "zstd" ? compression : "none";
  }
  std::optional<uint64_t> xbzrle_cache;
  std::optional<int64_t> compression_level;
  int64_t multifd_channels = 0;      // 0 = no multifd
  bool copy_storage = false;         // libvirt: copy non-shared disks (VIR_MIGRATE_NON_SHARED_DISK)
  std::optional<uint64_t> postcopy_bandwidth;
  /// avail-switchover-bandwidth from the start (QEMU 8.2+), for libvirt
  /// 11.1+ without QMP passthrough, where it cannot be set later; over QMP
  /// the adaptive mode sets it as it goes.
  std::optional<uint64_t> switchover_bandwidth;
  MigrationTuning tuning;            // downtime-limit, max-bandwidth
};

/// The parameters a migration started with \a start gets (those of
/// MigrationTuning: downtime-limit, max-bandwidth, the throttle's with
/// auto-converge, the xbzrle cache with xbzrle); the fields it leaves alone
/// are unset.
MigrationTuning StartTuning(const MigrationStart& start);

class MigrationBackend {
 public:
  virtual ~MigrationBackend() = default;
  /// "QEMU at unix:/run/x.sock".
  virtual std::string Describe() const = 0;
  virtual Result<MigrationSample> Sample() = 0;
  virtual Result<BackendFacts> Facts() = 0;
  virtual Result<MigrationTuning> Tuning() = 0;
  virtual Status SetTuning(const MigrationTuning& changes) = 0;
  virtual Status StartPostcopy() = 0;
  virtual Status Cancel() = 0;
  /// Pauses the guest (the migration then finishes as a stop-and-copy).
  virtual Status PauseGuest() = 0;
  /// Resumes a guest paused by PauseGuest (when the migration did not
  /// finish). Refused (kNotSupported) where the source's copy has switched
  /// over: running it then would run the guest twice.
  virtual Status ResumeGuest() = 0;
  /// Whether a guest PauseGuest stopped runs again on the destination once
  /// the migration completes; if not, why. libvirt starts it there itself
  /// (the default); plain QEMU keeps the run state the source had at the
  /// switch-over, so someone must start it (StartGuestOnDestination).
  virtual Status CheckGuestRunsOnDestination() const { return Status::Ok(); }
  /// After a completed migration, starts on the destination the guest
  /// PauseGuest stopped; nothing where the destination does it itself.
  /// kUnavailable: the destination is still loading the migration; asking
  /// again in a moment may start it. Never waits for it.
  virtual Status StartGuestOnDestination() { return Status::Ok(); }
  /// Sets what \a start asks for and starts the migration. A wish this
  /// QEMU/libvirt cannot honour is skipped and described in \a not_honoured.
  /// When the migration cannot be started, what it set is put back first.
  virtual Status StartMigration(const MigrationStart& start, std::vector<std::string>* not_honoured) = 0;
  /// Puts back the capabilities StartMigration changed, once a migration
  /// it started ended without completing (plain QEMU keeps them; libvirt
  /// scopes them to its job). QEMU takes them only while no migration runs.
  virtual Status RestoreStartCapabilities() { return Status::Ok(); }
  /// Of what StartMigration sets for \a start, the parameters that stay in
  /// QEMU after the migration ends, for the caller to put back when it does
  /// not complete. Plain QEMU: all of StartTuning(). libvirt scopes most to
  /// its job and puts them back itself.
  virtual MigrationTuning StartSettingsLeftBehind(const MigrationStart& start) const {
    return StartTuning(start);
  }

  /// Resumes a post-copy migration whose connection broke (status
  /// postcopy-paused). QEMU: over \a uri, where the destination now listens
  /// (migrate-recover there first). libvirt: \a uri is the destination's
  /// libvirt URI, \a data_uri where the data goes ("" = libvirt's choice).
  virtual Status ResumePostcopy(const std::string& uri, const std::string& /*data_uri*/ = "") {
    return Status::NotSupported("resume", "not possible here because " + Describe() + " cannot resume post-copy (" + uri + ")");
  }

  // This QEMU as a migration's destination (plain QEMU: libvirt does both
  // sides itself).

  /// Turns on what \a start needs on both sides (postcopy-ram, multifd)
  /// before the incoming migration starts.
  virtual Status PrepareIncoming(const MigrationStart& /*start*/) {
    return Status::NotSupported("prepare the destination", "not possible here because " + Describe() +
                                                               " is not a destination virt-converge prepares");
  }
  /// Listens at \a uri for the source to resume a post-copy migration whose
  /// connection broke (migrate-recover). Call only once the source has
  /// found the connection broken: a destination that has not (a cut link
  /// tells it nothing) is made to drop its end, and kUnavailable says "not
  /// yet, ask again".
  virtual Status ListenForRecovery(const std::string& uri) {
    return Status::NotSupported("migrate-recover", "not possible here because " + Describe() +
                                                       " cannot listen for a recovery at " + uri);
  }

  /// The disk copies under way with this migration. \a disks names those
  /// the domain XML says a storage migration copies (libvirt is asked per
  /// disk); plain QEMU lists its mirror jobs whatever \a disks says.
  virtual Result<std::vector<DiskCopy>> DiskCopies(const std::vector<std::string>& /*disks*/) {
    return std::vector<DiskCopy>{};
  }

  /// A descriptor that becomes readable when events may be pending; -1 when
  /// the backend has none (then the caller relies on its timer).
  virtual int pollable_fd() const = 0;
  /// Collects pending events without blocking; fails once the connection to
  /// QEMU/libvirt is lost.
  virtual Status Poll(std::vector<BackendEvent>* events) = 0;
  /// True when events already read off pollable_fd() wait for Poll(): a
  /// command's reply can carry them in, and the descriptor will not say so.
  virtual bool has_queued_events() const { return false; }

  /// Whether the policy lets the backend use QMP passthrough, for backends
  /// where that has a cost (libvirt taints the domain). Direct QMP ignores it.
  virtual void AllowPassthrough(bool /*allowed*/) {}
};

}  // namespace vc
