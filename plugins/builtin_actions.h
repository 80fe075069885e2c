// The accessors of the actions in this folder, for registry.cc's table.
#pragma once

#include "plugins/action.h"

namespace vc {

const Action& SetDowntimeAction();
const Action& StartPostcopyAction();
const Action& AbortAction();
const Action& SetBandwidthAction();
const Action& PauseGuestAction();

}  // namespace vc
