// libvirt's event loop on sd-event: libvirt's client library needs an event
// loop for domain events and keepalives. Rather than libvirt's default loop
// in a thread of its own, its six hooks (virEventRegisterImpl) are served by
// the calling thread's default sd-event loop (sd_event_default), the one
// loop that `attach` and `watch` already run: one owner, no busy poll.
#pragma once

#include "src/base/status.h"

namespace vc {

/// Registers the hooks, once per process, on the calling thread's default
/// sd-event loop; that thread must then run the loop. Must be called before
/// the first virConnectOpen whose events are wanted. libvirt may call the
/// hooks from any thread (a blocking migration API in a worker, say): changes
/// from other threads are handed to the loop's thread and applied there.
Status RegisterLibvirtEventLoop();

/// True once RegisterLibvirtEventLoop succeeded in this process.
bool LibvirtEventLoopRegistered();

}  // namespace vc
