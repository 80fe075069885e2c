// Suite 'libvirt', issue 7 (operator CLI): `postcopy` and `resume` through
// libvirt on the two-host bed. libvirt breaks the post-copy on purpose
// (`virsh domjobabort --postcopy`, QEMU's migrate-pause), and
// `virt-converge resume` recovers it with VIR_MIGRATE_POSTCOPY_RESUME; the
// guest's memory on B is then checked page by page.
#include <gtest/gtest.h>

#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <thread>

#include "src/state/paths.h"
#include "tests/libvirt/libvirt_test_base.h"
#include "tests/support/libvirt_bed.h"
#include "tests/support/virt_converge_run.h"

namespace vc::testing {
namespace {

TEST_F(LibvirtTest, ResumeRecoversAPostcopyLibvirtBroke) {
  const std::string name = "pcr";
  GuestParams guest;  // rewrites 32 MiB flat out: never converges at 8 MiB/s
  guest.ram_mib = 128;
  guest.wss = "32M";
  guest.rate = "0";
  Status started = bed_->StartGuest('A', name, guest);
  ASSERT_TRUE(started.ok()) << started.ToString();
  // Post-copy crawls at 4 MiB/s, so it is still running when it is broken.
  std::string root = PolicyRoot("resume", "[Start]\nPostcopy=yes\nPostcopyBandwidth=4MiB/s\nBandwidth=8MiB/s\n"
                                          "[Adaptive]\nEnabled=no\n[Budget]\nAction=none\n");
  std::string run_dir = bed_->dir().File("run-resume");
  auto migrate = StartVirtConverge(bed_->dir(), "migrate-pcr",
                                   {"migrate", name, bed_->uri('B'), "--connect", bed_->uri('A'), "--migrate-uri",
                                    "tcp://" + bed_->address('B'), "--run-dir", run_dir, "--policy-root", root});
  ASSERT_TRUE(migrate.ok());
  ASSERT_TRUE(migrate->WaitOutput("following the migration", Millis(60000))) << migrate->Output();

  CommandOutcome force = RunVirtConverge(bed_->dir(), "postcopy-pcr", {"postcopy", name, "--run-dir", run_dir});
  ASSERT_EQ(force.code, 0) << force.out;
  EXPECT_NE(force.out.find("start-postcopy: done"), std::string::npos) << force.out;
  ASSERT_TRUE(WaitDomState(*bed_, 'A', name, "paused (post-copy)", Millis(30000)));
  // Only a post-copy broken once the destination runs the guest can be
  // recovered; before that QEMU ends the incoming side.
  ASSERT_TRUE(WaitDomState(*bed_, 'B', name, "running (post-copy)", Millis(30000)));

  // libvirt breaks it: both sides wait, the source paused "post-copy failed".
  std::string out;
  ASSERT_EQ(bed_->Virsh('A', {"domjobabort", "--postcopy", name}, &out), 0) << out;
  ASSERT_TRUE(WaitDomState(*bed_, 'A', name, "paused (post-copy failed)", Millis(30000)));
  ASSERT_TRUE(migrate->WaitOutput("postcopy-paused", Millis(30000))) << migrate->Output();

  const unsigned long destination_libvirt = DaemonVersion('B');
  CommandOutcome resume = RunVirtConverge(bed_->dir(), "resume-pcr",
                                          {"resume", name, bed_->uri('B'), "--migrate-uri",
                                           "tcp://" + bed_->address('B'), "--run-dir", run_dir});
  if (destination_libvirt == 11003000) {
    // libvirt 11.3's destination daemon crashes preparing any post-copy
    // resume: not sent, said; both daemons live, the migration stays
    // broken and recoverable, the follower keeps following it.
    EXPECT_NE(resume.code, 0) << resume.out;
    EXPECT_NE(resume.out.find("libvirt 11.3.0 on the destination crashes preparing a post-copy resume"),
              std::string::npos)
        << resume.out;
    std::string listed;
    EXPECT_EQ(bed_->Virsh('B', {"list", "--all"}, &listed), 0) << listed;
    EXPECT_NE(listed.find(name), std::string::npos) << listed;
    EXPECT_TRUE(WaitDomState(*bed_, 'A', name, "paused (post-copy failed)", Millis(1000)));
    EXPECT_EQ(migrate->WaitExit(Millis(2000)), -1) << migrate->Output();  // still following
    migrate->process.Signal(SIGTERM);
    EXPECT_NE(migrate->WaitExit(Millis(60000)), -1) << migrate->Output();
    EXPECT_NE(migrate->Output().find("outcome:    detached"), std::string::npos) << migrate->Output();
    bed_->Virsh('A', {"destroy", name});
    bed_->Virsh('B', {"destroy", name});
    return;
  }
  // virt-converge resume: libvirt resumes it, and it completes in post-copy.
  ASSERT_EQ(resume.code, 0) << resume.out << migrate->Output();
  EXPECT_NE(resume.out.find("resume: done"), std::string::npos) << resume.out;
  ASSERT_EQ(migrate->WaitExit(Millis(300000)), 0) << migrate->Output();
  std::string said = migrate->Output();
  std::fprintf(stderr, "%s\n", said.c_str());
  EXPECT_NE(said.find("the operator asks to resume post-copy over " + bed_->uri('B')), std::string::npos) << said;
  EXPECT_NE(said.find("outcome:    completed-postcopy"), std::string::npos) << said;
  Status checked = bed_->StopAndCheckGuest('B', name);
  EXPECT_TRUE(checked.ok()) << checked.ToString();
  bed_->Virsh('B', {"destroy", name});
}

// Issue 24, point 1: `postcopy VM -c URI` on a VM that is not migrating,
// with nobody following it (never, or a follower that died and left its
// live record behind), is refused, saying why, and the guest goes on
// running: before, post-copy failed and the guest was paused, exit 0.
TEST_F(LibvirtTest, CompleteNowOnAVmThatIsNotMigratingIsRefusedAndPausesNothing) {
  const std::string name = "idle";
  GuestParams guest = QuietGuest();
  guest.ram_mib = 64;
  ASSERT_TRUE(bed_->StartGuest('A', name, guest).ok());
  ASSERT_TRUE(WaitDomState(*bed_, 'A', name, "running", Millis(30000)));
  const StatePaths paths(bed_->dir().File("run-idle"), "");
  auto complete_now = [&](const std::string& tag) {
    CommandOutcome r =
        RunVirtConverge(bed_->dir(), "postcopy-" + tag, {"postcopy", name, "-c", bed_->uri('A'), "--run-dir", paths.run_dir()});
    EXPECT_EQ(r.code, 1) << tag << ": " << r.out;
    EXPECT_NE(r.out.find("no migration is running"), std::string::npos) << tag << ": " << r.out;
    std::string state;
    bed_->Virsh('A', {"domstate", "--reason", name}, &state);
    EXPECT_EQ(state.rfind("running", 0), 0u) << tag << ": the guest is " << state << r.out;
    bed_->Virsh('A', {"resume", name});  // whatever happened, the next case starts from a running guest
  };
  complete_now("never-followed");
  // The live record of a follower that died: nobody holds its lock.
  std::filesystem::create_directories(paths.MigrationsDir());
  const std::string uuid = Uuid('A', name);
  std::ofstream(paths.LiveRecordFile(uuid)) << "{\"id\": \"" << uuid << "\", \"vm\": \"" << name
                                            << "\", \"uuid\": \"" << uuid << "\", \"status\": \"active\"}\n";
  complete_now("stale-record");
  // A migration that has just ended (cancelled): libvirt still holds its
  // completed job's statistics for a moment; that is no running migration.
  Subprocess virsh = StartVirshMigrate(name, 'B', {"--bandwidth", "1"}, bed_->dir().File("virsh-idle.log"));
  Deadline seen = Clock::now() + Millis(60000);
  std::string job;
  while (Clock::now() < seen && job.find("Unbounded") == std::string::npos) {
    bed_->Virsh('A', {"domjobinfo", name}, &job);
    std::this_thread::sleep_for(Millis(100));
  }
  ASSERT_NE(job.find("Unbounded"), std::string::npos) << job << ReadFile(bed_->dir().File("virsh-idle.log"));
  EXPECT_EQ(bed_->Virsh('A', {"domjobabort", name}), 0);
  EXPECT_NE(virsh.Wait(Millis(60000)), std::optional<int>(0));
  complete_now("just-ended");
  bed_->Virsh('A', {"destroy", name});
}

}  // namespace
}  // namespace vc::testing
