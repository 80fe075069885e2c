// The installed package at work (issue 25, point 3), run by
// tests/tools/check-install once it has installed the .deb into a clean
// Debian 12 root: VC_INSTALL_ROOT is that root, and VC_BINARY and
// VC_HOOK_BINARY name the programs installed there, so nothing of the build
// tree but this test harness runs. On the two-host libvirt bed, with the
// installed hook on both hosts and the installed vendor policy (the root is
// the policy root): a plain `virsh migrate` of a guest QEMU cannot finish by
// itself is noticed by the installed `watch` and made to converge; then the
// package is removed while the VM runs, and it runs on, whole.
#include <cstdlib>
#include <string>

#include "src/state/paths.h"
#include "tests/libvirt/libvirt_test_base.h"

namespace vc::testing {
namespace {

std::string InstallRoot() {
  const char* root = std::getenv("VC_INSTALL_ROOT");
  return root ? root : "";
}

TEST_F(LibvirtTest, TheInstalledWatchAndHookMakeAVirshMigrationConvergeAndRemovalLeavesTheVmRunning) {
  const std::string root = InstallRoot();
  ASSERT_FALSE(root.empty()) << "run by tests/tools/check-install, which sets VC_INSTALL_ROOT";
  ASSERT_EQ(VirtConvergeBinary(), root + "/usr/bin/virt-converge");

  const std::string name = "installed";
  Status started = bed_->StartGuest('A', name, HotSetGuest());
  ASSERT_TRUE(started.ok()) << started.ToString();
  const std::string uuid = Uuid('A', name);
  const std::string run_dir = bed_->dir().File("run-installed");
  std::optional<VirtConvergeRun> watch =
      StartWatch('A', run_dir, {"--helper-arg=--policy-root=" + root,
                                "--helper-arg=--state-dir=" + bed_->dir().File("state-installed")});
  ASSERT_TRUE(watch);
  ASSERT_TRUE(watch->WaitOutput("watching outgoing migrations", Millis(20000))) << watch->Output();

  Subprocess virsh = StartVirshMigrate(name, 'B', {"--bandwidth", "32"}, bed_->dir().File("virsh-installed.log"));
  ASSERT_EQ(ExitCode(virsh.Wait(Millis(180000))), 0) << ReadFile(bed_->dir().File("virsh-installed.log"))
                                                     << watch->Output();
  const std::string helper_log = StatePaths(run_dir, "").HelperLogFile(uuid);
  ASSERT_TRUE(WaitFileText(helper_log, "outcome:", Millis(10000))) << ReadFile(helper_log);
  const std::string helper = ReadFile(helper_log);
  std::fprintf(stderr, "[installed helper]\n%s\n", helper.c_str());
  // The installed vendor policy reacted, and something was done.
  EXPECT_NE(helper.find(root + "/usr/lib/virt-converge/policy.d/50-default.conf"), std::string::npos) << helper;
  EXPECT_NE(helper.find("outcome:    completed"), std::string::npos) << helper;
  EXPECT_NE(helper.find(" [done]"), std::string::npos) << helper;
  // The installed hook ran on the destination for the incoming VM.
  EXPECT_TRUE(fs::exists(bed_->HookDir('B') + "/running/" + name)) << bed_->HookDir('B');

  // An operator removes the package while the VM runs.
  const std::string remove_log = bed_->dir().File("apt-remove.log");
  ASSERT_EQ(RunTool({"chroot", root, "apt-get", "remove", "-y", "-q", "virt-converge"}, remove_log, Millis(300000)), 0)
      << ReadFile(remove_log);
  EXPECT_FALSE(fs::exists(root + "/usr/bin/virt-converge"));
  EXPECT_TRUE(WaitDomState(*bed_, 'B', name, "running", Millis(5000)));
  Status whole = bed_->StopAndCheckGuest('B', name);
  EXPECT_TRUE(whole.ok()) << whole.ToString();
  watch->process.Signal(SIGTERM);
  watch->WaitExit(Millis(10000));
}

}  // namespace
}  // namespace vc::testing
