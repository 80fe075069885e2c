// OperatorRequests: what an operator asks of a followed migration through
// its control socket (src/state/control_socket.h): "cancel", "postcopy"
// (complete now: post-copy when possible, else pause), "resume URI
// [DATA-URI]" (recover a broken post-copy).
#pragma once

#include <string>

#include "src/backend/migration_backend.h"
#include "src/control/controller.h"
#include "src/view/live_view.h"

namespace vc {

class OperatorRequests {
 public:
  OperatorRequests(MigrationBackend& backend, LiveView& view, bool dry_run)
      : backend_(backend), view_(view), dry_run_(dry_run) {}

  /// Carries out \a request on the migration \a controller runs, \a last
  /// its latest sample (a fresher one is taken when QEMU answers).
  OperatorReply Handle(const std::string& request, Controller& controller, const MigrationSample& last);

 private:
  MigrationBackend& backend_;
  LiveView& view_;
  bool dry_run_;
};

}  // namespace vc
