// Policies on real QEMU migrations (issue #3, point 4): attach runs the
// schedule of the drop-ins, and a file changed during the migration takes
// effect at the next decision.
#include <filesystem>
#include <fstream>

#include "tests/qemu/qemu_test_base.h"

namespace vc::testing {
namespace {

namespace fs = std::filesystem;
constexpr Millis kMigrationTimeout{150000};

/// Writes a drop-in atomically (write, then rename), as admins' tools do.
void WritePolicy(const std::string& root, const std::string& name, const std::string& text) {
  std::string dir = root + "/etc/virt-converge/policy.d";
  fs::create_directories(dir);
  std::ofstream(dir + "/." + name + ".tmp") << text;
  fs::rename(dir + "/." + name + ".tmp", dir + "/" + name);
}

class PolicyTest : public QemuTest {};

TEST_F(PolicyTest, FileChangedDuringTheMigrationTakesEffectAtTheNextDecision) {
  auto pair = MigrationPair::Start(HotSetGuest(), "policy");
  ASSERT_TRUE(pair.ok()) << pair.status().ToString();
  TempDir root("root");
  const std::string base =
      "[Stall]\nPasses=2\nTime=30s\n"
      "[Budget]\nPerGiB=0\nMinimum=0\nAction=none\n"
      "[Schedule]\n"
      "Step=stall>=1 downtime=400ms\n";  // line 9: not enough for the hot set (~1 s)
  WritePolicy(root.path(), "50-test.conf", base);
  auto run = StartVirtConverge((*pair)->dir(), "attach",
                               {"attach", "--qmp", (*pair)->src().spare_qmp_path(), "--policy-root",
                                root.path()});
  ASSERT_TRUE(run.ok());
  ASSERT_TRUE(run->WaitOutput("attached to", Millis(10000))) << run->Output();
  auto uri = (*pair)->ListenIncoming();
  ASSERT_TRUE(uri.ok());
  ASSERT_TRUE(CapBandwidth((*pair)->src().qmp(), kHotSetBandwidth).ok());
  ASSERT_TRUE(qmp::Migrate((*pair)->src().qmp(), *uri).ok());

  ASSERT_TRUE(run->WaitOutput("action set-downtime 400 ms [done]", Millis(60000))) << run->Output();
  // 400 ms cannot meet ~1 s: without the change it would never finish.
  auto info = qmp::QueryMigrate((*pair)->src().qmp());
  ASSERT_TRUE(info.ok());
  ASSERT_EQ(info->status, "active");
  WritePolicy(root.path(), "50-test.conf", base + "Step=stall>=2 downtime=2s\n");  // line 10

  ASSERT_EQ(run->WaitExit(kMigrationTimeout), 0) << run->Output();
  std::string out = run->Output();
  EXPECT_NE(out.find("reacting with policy (1 file under " + root.path() + ")"), std::string::npos) << out;
  size_t reloaded = out.find("policy reloaded (a policy file changed):");
  ASSERT_NE(reloaded, std::string::npos) << out;
  EXPECT_NE(out.find("Schedule.Step: stall>=1 downtime=400ms -> stall>=1 downtime=400ms; stall>=2 downtime=2s"),
            std::string::npos)
      << out;
  size_t second = out.find("action set-downtime 2000 ms [done]: policy step 'stall>=2 downtime=2s' (" +
                           root.path() + "/etc/virt-converge/policy.d/50-test.conf:10)");
  ASSERT_NE(second, std::string::npos) << out;
  EXPECT_GT(second, reloaded) << "the new step fired before the reload";
  auto summary = run->Summary();
  ASSERT_TRUE(summary);
  EXPECT_EQ(summary->GetString("outcome"), "completed");
  Status check = (*pair)->CheckDestination();
  EXPECT_TRUE(check.ok()) << check.ToString();
}

}  // namespace
}  // namespace vc::testing
