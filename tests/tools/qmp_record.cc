// qmp-record: records QMP conversations with a real QEMU into replay files
// (tests/data/qmp/<version>/<scenario>.replies) for the session unit tests.
//
//   qmp-record SCENARIO OUT.replies      (needs the built guest and QEMU)
//
// Each scenario drives the test guest's source QEMU through the real
// qmp::Session over a RecordingTransport, so the file holds exactly what
// QEMU said, events interleaved where they arrived.
#include <cstdio>
#include <functional>
#include <map>
#include <thread>

#include "qmp/commands.h"
#include "qmp/testing/replay_transport.h"
#include "tests/support/qemu_vm.h"

namespace vc::testing {
namespace {

using Scenario = std::function<Status(MigrationPair&, qmp::Session&)>;

Status PollUntil(qmp::Session& s, const std::vector<std::string>& goals, Millis every) {
  // Sparse polling keeps the recordings short.
  return WaitMigrationStatus(s, goals, Millis(120000), every).status();
}

Status Handshake(MigrationPair&, qmp::Session& s) {
  if (auto r = qmp::QueryVersion(s); !r.ok()) return r.status();
  if (auto r = qmp::QueryStatus(s); !r.ok()) return r.status();
  if (auto r = qmp::QueryMigrateCapabilities(s); !r.ok()) return r.status();
  if (auto r = qmp::QueryMigrateParameters(s); !r.ok()) return r.status();
  if (auto r = qmp::QueryMigrate(s); !r.ok()) return r.status();
  // An error reply: post-copy cannot start without a migration.
  (void)qmp::MigrateStartPostcopy(s);
  return Status::Ok();
}

Status Precopy(MigrationPair& pair, qmp::Session& s) {
  Result<std::string> uri = pair.ListenIncoming();
  if (!uri.ok()) return uri.status();
  VC_RETURN_IF_ERROR(qmp::MigrateSetCapabilities(s, {{"events", true}}));
  qmp::MigrationParameters p;
  p.max_bandwidth = 64 << 20;
  VC_RETURN_IF_ERROR(qmp::MigrateSetParameters(s, p));
  VC_RETURN_IF_ERROR(qmp::Migrate(s, *uri));
  return PollUntil(s, {"completed", "failed"}, Millis(700));
}

Status Postcopy(MigrationPair& pair, qmp::Session& s) {
  Result<std::string> uri = pair.ListenIncoming({{"postcopy-ram", true}});
  if (!uri.ok()) return uri.status();
  VC_RETURN_IF_ERROR(qmp::MigrateSetCapabilities(s, {{"events", true}, {"postcopy-ram", true}}));
  qmp::MigrationParameters p;
  p.max_bandwidth = 64 << 20;
  VC_RETURN_IF_ERROR(qmp::MigrateSetParameters(s, p));
  VC_RETURN_IF_ERROR(qmp::Migrate(s, *uri));
  std::this_thread::sleep_for(Millis(1500));
  VC_RETURN_IF_ERROR(qmp::MigrateStartPostcopy(s));
  return PollUntil(s, {"completed", "failed"}, Millis(500));
}

Status Cancel(MigrationPair& pair, qmp::Session& s) {
  Result<std::string> uri = pair.ListenIncoming();
  if (!uri.ok()) return uri.status();
  VC_RETURN_IF_ERROR(qmp::MigrateSetCapabilities(s, {{"events", true}}));
  qmp::MigrationParameters p;
  p.max_bandwidth = 16 << 20;
  VC_RETURN_IF_ERROR(qmp::MigrateSetParameters(s, p));
  VC_RETURN_IF_ERROR(qmp::Migrate(s, *uri));
  std::this_thread::sleep_for(Millis(1000));
  (void)qmp::MigrateSetCapabilities(s, {{"auto-converge", true}});  // refused while running
  VC_RETURN_IF_ERROR(qmp::MigrateCancel(s));
  return PollUntil(s, {"cancelled"}, Millis(300));
}

// As QmpBackend samples the guest's dirty rate: query-migrate until the
// bulk pass is seen, calc-dirty-rate, then query-migrate and
// query-dirty-rate together until measured, then query-migrate alone.
Status DirtyRate(MigrationPair& pair, qmp::Session& s) {
  Result<std::string> uri = pair.ListenIncoming();
  if (!uri.ok()) return uri.status();
  VC_RETURN_IF_ERROR(qmp::MigrateSetCapabilities(s, {{"events", true}}));
  qmp::MigrationParameters p;
  p.max_bandwidth = 32 << 20;
  VC_RETURN_IF_ERROR(qmp::MigrateSetParameters(s, p));
  VC_RETURN_IF_ERROR(qmp::Migrate(s, *uri));
  enum { kBefore, kMeasuring, kMeasured } state = kBefore;
  for (;;) {
    Result<qmp::MigrationInfo> info = qmp::QueryMigrate(s);
    if (!info.ok()) return info.status();
    const std::string status = info->status.value_or("none");
    if (qmp::IsMigrationFinished(status)) return status == "completed" ? Status::Ok() : Status::Unavailable("the migration", status);
    const uint64_t pass = info->ram ? info->ram->dirty_sync_count.value_or(0) : 0;
    if (state == kBefore && status == "active" && pass == 1) {
      VC_RETURN_IF_ERROR(qmp::CalcDirtyRate(s, 2));
      state = kMeasuring;
    } else if (state == kMeasuring) {
      Result<qmp::DirtyRateInfo> r = qmp::QueryDirtyRate(s);
      if (!r.ok()) return r.status();
      if (r->status == "measured") state = kMeasured;
    }
    std::this_thread::sleep_for(Millis(700));
  }
}

int Main(int argc, char** argv) {
  const std::map<std::string, Scenario> scenarios = {
      {"handshake", Handshake}, {"precopy", Precopy}, {"postcopy", Postcopy}, {"cancel", Cancel},
      {"dirtyrate", DirtyRate}};
  if (argc != 3 || !scenarios.count(argv[1])) {
    std::fprintf(stderr, "usage: qmp-record {handshake|precopy|postcopy|cancel|dirtyrate} OUT.replies\n");
    return 2;
  }
  GuestParams guest;
  guest.ram_mib = 128;
  guest.wss = "8M";
  guest.rate = "16M";
  Result<std::unique_ptr<MigrationPair>> pair = MigrationPair::Start(guest, "record");
  if (!pair.ok()) {
    std::fprintf(stderr, "qmp-record: %s\n", pair.status().ToString().c_str());
    return 1;
  }
  Result<std::unique_ptr<qmp::Transport>> t = qmp::ConnectUnixSocket((*pair)->src().spare_qmp_path());
  if (!t.ok()) return 1;
  auto* recorder = new qmp::testing::RecordingTransport(std::move(*t), argv[2]);
  std::unique_ptr<qmp::Transport> owned(recorder);
  recorder->Comment(std::string("Recorded by tests/tools/qmp-record ") + argv[1] +
                    " from the test guest's source QEMU (" +
                    (*pair)->src().accel() + ").");
  Result<std::unique_ptr<qmp::Session>> s = qmp::Session::Connect(std::move(owned));
  if (!s.ok()) {
    std::fprintf(stderr, "qmp-record: %s\n", s.status().ToString().c_str());
    return 1;
  }
  Status st = scenarios.at(argv[1])(**pair, **s);
  // Events that came after the last reply are part of the conversation too.
  std::this_thread::sleep_for(Millis(300));
  (void)(*s)->Poll();
  s->reset();
  if (!st.ok()) {
    std::fprintf(stderr, "qmp-record: %s\n", st.ToString().c_str());
    return 1;
  }
  return 0;
}

}  // namespace
}  // namespace vc::testing

int main(int argc, char** argv) { return vc::testing::Main(argc, argv); }
