// How a policy's [Start] section becomes the settings a migration starts
// with (capabilities can only be set then). One mapping for `migrate`, the
// simulator and the benchmark.
#pragma once

#include "src/backend/migration_backend.h"
#include "src/policy/policy.h"

namespace vc {

MigrationStart StartFromPolicy(const policy::Policy& p);

}  // namespace vc
