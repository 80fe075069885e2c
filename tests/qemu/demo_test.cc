// Issue #2 point 6: the README's demo runs the hard case side by side and
// prints both outcomes.
#include <sys/wait.h>

#include <cstdlib>
#include <regex>

#include "tests/qemu/qemu_test_base.h"

namespace vc::testing {
namespace {

class DemoTest : public QemuTest {};

TEST_F(DemoTest, PrintsBothOutcomes) {
  const char* demo = std::getenv("VC_DEMO");
  ASSERT_TRUE(demo && *demo) << "VC_DEMO is not set (run through meson test)";
  TempDir dir("demo");
  auto p = Subprocess::Start({demo}, dir.File("demo.log"));
  ASSERT_TRUE(p.ok());
  auto st = p->Wait(Millis(240000));
  std::string out = ReadFile(dir.File("demo.log"));
  ASSERT_TRUE(st) << "the demo did not end in 4 minutes:\n" << out;
  EXPECT_TRUE(WIFEXITED(*st) && WEXITSTATUS(*st) == 0) << out;
  EXPECT_NE(out.find("[QEMU defaults] "), std::string::npos) << out;
  EXPECT_NE(out.find("[virt-converge] "), std::string::npos) << out;
  // The comparison's outcome row: QEMU's defaults did not finish, we did.
  EXPECT_TRUE(std::regex_search(out, std::regex(R"(\n  outcome +not finished after [0-9.]+ s \(cancelled\) +completed\n)")))
      << out;
  EXPECT_NE(out.find("destination memory"), std::string::npos);
  EXPECT_NE(out.find("OK (every page)"), std::string::npos) << out;
}

}  // namespace
}  // namespace vc::testing
