// Suite 'libvirt', issue 4 (the end actions through libvirt): a guest the
// policy pauses runs again on the destination (libvirt starts it there
// itself), and an abort leaves it running on the source with the migration
// parameters it had.
#include <gtest/gtest.h>

#include <string>

#include "tests/libvirt/libvirt_test_base.h"
#include "tests/support/libvirt_bed.h"
#include "tests/support/virt_converge_run.h"

namespace vc::testing {
namespace {

/// 32 MiB rewritten flat out: never converges at 8 MiB/s and 50 ms.
const GuestParams kNeverConverging{.ram_mib = 128, .wss = "32M", .rate = "0"};

const char* const kEndsBy = "[Start]\nBandwidth=8MiB/s\nDowntime=50ms\n[Adaptive]\nEnabled=no\n"
                            "[Budget]\nPerGiB=0\nMinimum=6s\nCopies=0\nAction=";

class EndActionTest : public LibvirtTest {
 protected:
  /// `migrate` of \a name from A to B, its budget ending in \a action, to
  /// its end: its exit code must be \a exit_code. Returns its output.
  std::string MigrateEndingBy(const std::string& name, const std::string& action, int exit_code) {
    auto migrate = StartVirtConverge(bed_->dir(), "migrate-" + name,
                                     {"migrate", name, bed_->uri('B'), "--connect", bed_->uri('A'), "--migrate-uri",
                                      "tcp://" + bed_->address('B'), "--run-dir", bed_->dir().File("run-" + name),
                                      "--policy-root", PolicyRoot(name, kEndsBy + action + "\n")});
    EXPECT_TRUE(migrate.ok()) << migrate.status().ToString();
    if (!migrate.ok()) return "";
    EXPECT_EQ(migrate->WaitExit(Millis(120000)), exit_code) << migrate->Output();
    return migrate->Output();
  }
};

TEST_F(EndActionTest, APausedGuestRunsAgainOnTheDestination) {
  const std::string name = "endpause";
  ASSERT_TRUE(bed_->StartGuest('A', name, kNeverConverging).ok());
  const std::string out = MigrateEndingBy(name, "pause", 0);
  EXPECT_NE(out.find("action pause-guest [done]"), std::string::npos) << out;
  EXPECT_NE(out.find("outcome:    completed — finished in pre-copy"), std::string::npos) << out;
  EXPECT_TRUE(WaitDomState(*bed_, 'B', name, "running", Millis(20000))) << out;
  Status checked = bed_->StopAndCheckGuest('B', name);
  EXPECT_TRUE(checked.ok()) << checked.ToString();
  bed_->Virsh('B', {"destroy", name});
}

TEST_F(EndActionTest, AnAbortLeavesTheGuestRunningOnTheSourceWithItsParameters) {
  const std::string name = "endabort";
  ASSERT_TRUE(bed_->StartGuest('A', name, kNeverConverging).ok());
  std::string before;
  ASSERT_EQ(bed_->Virsh('A', {"migrate-getmaxdowntime", name}, &before), 0) << before;
  const std::string out = MigrateEndingBy(name, "abort", 1);
  EXPECT_NE(out.find("action abort [done]"), std::string::npos) << out;
  EXPECT_NE(out.find("outcome:    aborted"), std::string::npos) << out;
  EXPECT_TRUE(WaitDomState(*bed_, 'A', name, "running", Millis(20000))) << out;
  std::string after;
  ASSERT_EQ(bed_->Virsh('A', {"migrate-getmaxdowntime", name}, &after), 0) << after;
  EXPECT_EQ(after, before) << "the downtime limit the migration started with stayed on the source\n" << out;
  Status checked = bed_->StopAndCheckGuest('A', name);
  EXPECT_TRUE(checked.ok()) << checked.ToString();
  bed_->Virsh('A', {"destroy", name});
}

}  // namespace
}  // namespace vc::testing
