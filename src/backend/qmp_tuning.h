// The mapping between MigrationTuning and QEMU's migrate-parameters, for
// the backends that reach those parameters over QMP: directly, or through
// libvirt's passthrough.
#pragma once

#include "qmp/commands.h"
#include "src/backend/migration_backend.h"

namespace vc {

/// What \a p says, in MigrationTuning's fields; the others are dropped.
MigrationTuning TuningOf(const qmp::MigrationParameters& p);
/// The parameters that set what \a t holds; unset fields are left out.
qmp::MigrationParameters ParametersOf(const MigrationTuning& t);

}  // namespace vc
