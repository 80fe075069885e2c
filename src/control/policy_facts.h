// What a policy's [Match] is given for the VM a backend drives: all of the
// domain's XML says for a libvirt domain (name, UUID, size, pinning, NUMA,
// hugepages, metadata); the name and size otherwise.
#pragma once

#include <functional>
#include <string>

#include "src/backend/migration_backend.h"
#include "src/policy/policy.h"

namespace vc {

/// \a warn gets a line when the domain XML cannot be read (matching then
/// goes on the name and size only).
policy::VmFacts PolicyFacts(const BackendFacts& facts, const std::function<void(const std::string&)>& warn);

}  // namespace vc
