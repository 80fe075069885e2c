// `virt-converge evacuate DEST-URI...`: moves every VM running on this host
// (or a selection) to the destinations, under the host's cost budget.
//
// Each VM is one `virt-converge migrate` child process: it queues in the
// host's admission directory like any other migrate, so the budget, the
// bandwidth shares, `list` and `cancel` work for an evacuation as for a
// single migration, and a VM's migration outlives an evacuate killed
// midway. The evacuation itself only chooses destinations and watches:
//
//  * spread: a VM goes to the destination with the fewest VMs sent there
//    so far, among those that have not turned it away;
//  * a destination that turns a VM away before its migration starts (the
//    destination hook refuses it, libvirt cannot reach the host, ...) is
//    struck off for that VM, which is tried on the next one; a refusal
//    for now (the destination's IncomingMax/IncomingCost: the child's
//    summary says try_later) is retried later, at most --attempts times;
//  * what happened is read from each child's JSON summary; a child that
//    ended without one is answered by where libvirt runs the VM;
//  * a migration that started and then failed is not retried: the VM runs
//    on here, and the report says why.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>

namespace vc {

/// Adds "evacuate" to \a app; the returned function runs it (and returns
/// the exit code: 0 when every VM moved), or returns -1 when not parsed.
std::function<int()> AddEvacuateCommand(CLI::App* app);

}  // namespace vc
