#include "src/attach/recorded_start.h"

#include <cstdio>

#include "src/control/controller.h"
#include "src/state/changes_record.h"

namespace vc {

Status StartRecorded(MigrationBackend& backend, const MigrationStart& start, const StatePaths& paths,
                     const std::string& id, const MigrationTuning& before, const MigrationTuning& left_behind,
                     std::vector<std::string>* not_honoured) {
  const bool recorded = !paths.run_dir().empty() && !id.empty();
  if (recorded) {
    Status st = WriteChangesRecord(paths, id, ChangesInForce{before, left_behind, false});
    // As for any change (Follower::RecordChanges): said, and the start goes on.
    if (!st.ok()) {
      std::fprintf(stderr, "virt-converge: could not record the start settings before sending them (%s): if this "
                           "migrate dies, nobody will know to put them back\n", st.ToString().c_str());
    }
  }
  Status st = backend.StartMigration(start, not_honoured);
  if (st.ok()) return st;
  // Not started: what the backend set and did not put back itself (libvirt's
  // downtime limit, set outside its job) goes back as at any failed end.
  MigrationSample failed;
  failed.status = "failed";
  const ChangesInForce left = PutBack(backend, ChangesInForce{before, left_behind, false}, failed,
                                      [](const std::string& line) { std::printf("%s\n", line.c_str()); });
  if (recorded && left.empty()) RemoveChangesRecord(paths, id);
  return st;
}

}  // namespace vc
