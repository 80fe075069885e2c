// Admission: the host's cost budget for outgoing migrations ([Host]
// OutgoingCost), kept with no server. Every `migrate` (queued or running)
// and every followed migration holds an entry (a HeldEntry) under
// /run/virt-converge/admission. Decisions are taken under one lock file in
// that directory, so two processes never both take the last unit.
//
// A migration costs 1 for the VM plus 1 per disk it copies (a storage
// migration); each disk's unit is given back as soon as that disk's copy
// is ready (synchronised: only new writes follow), the VM's when its
// migration ends. A cost above the budget counts as the whole budget: such
// a VM runs alone rather than never.
//
// Order: queued entries start by priority (higher first), then arrival.
// One that does not fit yet does not block those behind it that do: a
// small VM passes a big one rather than wait behind it.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "src/base/status.h"
#include "src/base/time.h"
#include "src/base/unique_fd.h"
#include "src/coord/held_entry.h"

namespace vc {

struct AdmissionEntry {
  std::string id;          // the migration: the domain's UUID, or the QMP socket's name
  std::string vm;          // the VM's name, for people
  std::string peer;        // where it goes, when known
  int64_t cost = 1;        // 1 + disks still being copied
  int64_t priority = 0;    // higher starts first
  int64_t arrival_ns = 0;  // CLOCK_REALTIME when it entered
  bool running = false;    // admitted (or started by someone else)

  std::string ToText() const;
  /// Tolerant: unknown or broken lines keep the defaults.
  static AdmissionEntry Parse(const std::string& id, const std::string& text);
};

/// The ids of the queued entries of \a live that may start now under
/// \a budget, in the order they start.
std::vector<std::string> Admissible(const std::vector<AdmissionEntry>& live, int64_t budget);

/// The live entries under \a dir, running first, then queued in the order
/// they will start.
Result<std::vector<AdmissionEntry>> LiveAdmissions(const std::string& dir);

struct AdmissionVerdict {
  bool admitted = false;
  int64_t in_use = 0;             // by running migrations (capped costs)
  std::vector<std::string> ahead; // queued VMs that start before this one
  std::vector<std::string> using_it;  // running VMs
  /// "cost 2; 3 of 3 in use (vm1, vm2); 1 ahead (vm3)".
  std::string Describe(const AdmissionEntry& self, int64_t budget) const;
};

class AdmissionTicket {
 public:
  /// Enters \a entry under \a dir: queued, or already running (a migration
  /// someone else started counts from the moment it is seen).
  static Result<AdmissionTicket> Enter(const std::string& dir, AdmissionEntry entry);

  /// Takes the budget when this entry's turn has come (marking it running).
  Result<AdmissionVerdict> TryStart(int64_t budget);
  /// Blocks until TryStart admits this entry; \a on_wait is told each new
  /// verdict while it waits. Changes in the directory wake it at once;
  /// every \a recheck it looks anyway.
  Status WaitTurn(int64_t budget, const std::function<void(const AdmissionVerdict&)>& on_wait,
                  Millis recheck = Millis(1000));
  /// A disk's copy got ready (or more were found): the cost now.
  Status SetCost(int64_t cost);
  const AdmissionEntry& entry() const { return entry_; }

 private:
  AdmissionTicket(std::string dir, HeldEntry held, AdmissionEntry entry)
      : dir_(std::move(dir)), held_(std::move(held)), entry_(std::move(entry)) {}
  std::string dir_;
  HeldEntry held_;
  AdmissionEntry entry_;
};

}  // namespace vc
