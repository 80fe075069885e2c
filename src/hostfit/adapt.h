// Adapt: a placement on this host for a VM whose own does not fit — its
// pinned vCPUs moved to free host CPUs, each guest NUMA cell kept on one
// host node, the vCPUs' order over cores and threads kept (a pair pinned
// to sibling threads lands on sibling threads), the emulator and iothreads
// relaxed to the chosen nodes' other CPUs.
#pragma once

#include <optional>

#include "src/domain/placement.h"
#include "src/hostfit/fitness.h"

namespace vc {

/// A placement under which \a vm fits here, or nullopt when none exists
/// (or when what does not fit is not placement: page size, locked memory,
/// CPU model). \a why_not says which, for the refusal.
std::optional<Placement> Adapt(const DomainSpec& vm, const HostPicture& host, const HostClaims& claims,
                               const FitnessOptions& options, std::string* why_not);

}  // namespace vc
