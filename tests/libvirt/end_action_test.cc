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
GuestParams NeverConverging() {
  GuestParams g;
  g.ram_mib = 128;
  g.wss = "32M";
  g.rate = "0";
  return g;
}

const char* const kEndsBy = "[Start]\nBandwidth=8MiB/s\nDowntime=50ms\n[Adaptive]\nEnabled=no\n"
                            "[Budget]\nPerGiB=0\nMinimum=6s\nAction=";

TEST_F(LibvirtTest, APausedGuestRunsAgainOnTheDestination) {
  const std::string name = "endpause";
  ASSERT_TRUE(bed_->StartGuest('A', name, NeverConverging()).ok());
  std::string root = PolicyRoot("endpause", std::string(kEndsBy) + "pause\n");
  auto migrate = StartVirtConverge(bed_->dir(), "migrate-endpause",
                                   {"migrate", name, bed_->uri('B'), "--connect", bed_->uri('A'), "--migrate-uri",
                                    "tcp://" + bed_->address('B'), "--run-dir", bed_->dir().File("run-endpause"),
                                    "--policy-root", root});
  ASSERT_TRUE(migrate.ok());
  ASSERT_EQ(migrate->WaitExit(Millis(120000)), 0) << migrate->Output();
  const std::string out = migrate->Output();
  EXPECT_NE(out.find("action pause-guest [done]"), std::string::npos) << out;
  EXPECT_NE(out.find("outcome:    completed — finished in pre-copy"), std::string::npos) << out;
  EXPECT_TRUE(WaitDomState(*bed_, 'B', name, "running", Millis(20000))) << out;
  Status checked = bed_->StopAndCheckGuest('B', name);
  EXPECT_TRUE(checked.ok()) << checked.ToString();
  bed_->Virsh('B', {"destroy", name});
}

TEST_F(LibvirtTest, AnAbortLeavesTheGuestRunningOnTheSourceWithItsParameters) {
  const std::string name = "endabort";
  ASSERT_TRUE(bed_->StartGuest('A', name, NeverConverging()).ok());
  std::string before;
  ASSERT_EQ(bed_->Virsh('A', {"migrate-getmaxdowntime", name}, &before), 0) << before;
  std::string root = PolicyRoot("endabort", std::string(kEndsBy) + "abort\n");
  auto migrate = StartVirtConverge(bed_->dir(), "migrate-endabort",
                                   {"migrate", name, bed_->uri('B'), "--connect", bed_->uri('A'), "--migrate-uri",
                                    "tcp://" + bed_->address('B'), "--run-dir", bed_->dir().File("run-endabort"),
                                    "--policy-root", root});
  ASSERT_TRUE(migrate.ok());
  ASSERT_EQ(migrate->WaitExit(Millis(120000)), 1) << migrate->Output();
  const std::string out = migrate->Output();
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
