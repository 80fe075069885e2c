// The accessors of the actions in this folder, for registry.cc's table.
#pragma once

#include "plugins/action.h"

namespace vc {

const Action& SetDowntimeAction();
const Action& StartPostcopyAction();
const Action& AbortAction();
const Action& SetBandwidthAction();
const Action& PauseGuestAction();
const Action& SetThrottleInitialAction();
const Action& SetThrottleIncrementAction();
const Action& SetThrottleMaxAction();
const Action& SetThrottleLevelAction();
const Action& SetThrottleTailslowAction();
const Action& SetXbzrleCacheAction();
const Action& SetDirtyLimitAction();
const Action& SetSwitchoverBandwidthAction();

}  // namespace vc
