#include "src/attach/recorded_start.h"

#include <cstdio>

#include "src/control/controller.h"
#include "src/state/changes_record.h"

namespace vc {
namespace {

// What of \a set is still in force on \a backend (QEMU holds our value where
// it had another); true when it cannot be read.
bool StillInForce(MigrationBackend& backend, const MigrationTuning& before, const MigrationTuning& set) {
  Result<MigrationTuning> now = backend.Tuning();
  if (!now.ok()) return true;
  bool ours = false;
  MigrationTuning::ForEachField([&](auto MigrationTuning::*field, const char*) {
    ours |= (set.*field).has_value() && (*now).*field == set.*field && before.*field != set.*field;
  });
  return ours;
}

}  // namespace

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
  Controller undo(backend, BackendFacts{}, nullptr, /*dry_run=*/false,
                  [](const std::string& line) { std::printf("%s\n", line.c_str()); });
  undo.Adopt(ChangesInForce{before, left_behind, false});
  MigrationSample failed;
  failed.status = "failed";
  undo.OnFinished(failed);
  if (recorded && !StillInForce(backend, before, left_behind)) RemoveChangesRecord(paths, id);
  return st;
}

}  // namespace vc
