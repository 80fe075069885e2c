// Issue #2 point 6 and issue 22: the README's demo runs the hard case side
// by side, shows both moving, and prints both outcomes.
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
  // In a log, both sides' progress lines, tagged, interleaved while both
  // run: virt-converge's side is not silent until the table.
  const size_t exited = out.find("[virt-converge] virt-converge exited 0: completed");
  ASSERT_NE(exited, std::string::npos) << out;
  const std::string before = out.substr(0, exited);
  const std::regex qemu_line(R"(\[QEMU defaults\] +[0-9.]+s \S+ +pass )"), ours_line(R"(\[virt-converge\] +[0-9.]+s \S+ +pass )");
  auto count = [&](const std::regex& re) {
    return std::distance(std::sregex_iterator(before.begin(), before.end(), re), std::sregex_iterator());
  };
  EXPECT_GE(count(qemu_line), 3) << out;
  EXPECT_GE(count(ours_line), 3) << out;
  std::smatch first_ours;
  ASSERT_TRUE(std::regex_search(before, first_ours, ours_line)) << out;
  EXPECT_TRUE(std::regex_search(before.substr(static_cast<size_t>(first_ours.position(0))), qemu_line))
      << "no line of QEMU's side after virt-converge's first:\n" << out;
  // The comparison's outcome row: QEMU's defaults did not finish, we did.
  EXPECT_TRUE(std::regex_search(out, std::regex(R"(\n  outcome +not finished after [0-9.]+ s \(cancelled\) +completed\n)")))
      << out;
  EXPECT_NE(out.find("destination memory"), std::string::npos);
  EXPECT_NE(out.find("OK (every page)"), std::string::npos) << out;
}

}  // namespace
}  // namespace vc::testing
