// Issue 22, points 4 and 5: the live views on a real terminal (tmux). The
// demo shows both migrations moving on two status lines redrawn in place;
// attach's status line fits a 120-column terminal and follows a resize,
// never leaving a wrapped remnant behind at each redraw.
#include "tests/support/terminal.h"

#include <cstdlib>
#include <set>
#include <thread>

#include "tests/qemu/qemu_test_base.h"

namespace vc::testing {
namespace {

/// A status line drawn by LiveView: its tag, then a progress bar.
bool IsStatusLine(const std::string& line, const std::string& tag = "") {
  if (line.rfind(tag, 0) != 0 || line.size() < tag.size() + 2) return false;
  return line[tag.size()] == '[' && (line[tag.size() + 1] == '#' || line[tag.size() + 1] == '.');
}

std::vector<std::string> StatusLines(const std::vector<std::string>& lines,
                                     const std::string& tag = "") {
  std::vector<std::string> found;
  for (const std::string& l : lines) {
    if (IsStatusLine(l, tag)) found.push_back(l);
  }
  return found;
}

std::string Screen(const std::vector<std::string>& lines) {
  std::string s;
  for (const std::string& l : lines) s += l + "\n";
  return s;
}

class TerminalTest : public QemuTest {
 protected:
  void SetUp() override {
    QemuTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    if (std::system("tmux -V >/dev/null 2>&1") != 0)
      VC_CANNOT_RUN("tmux is not installed (scripts/install-deps)");
  }
};

const std::string kQemuTag = "[QEMU defaults] ";
const std::string kOursTag = "[virt-converge] ";

TEST_F(TerminalTest, TheDemoShowsBothMigrationsMovingOnTwoLinesThatFit) {
  const char* demo = std::getenv("VC_DEMO");
  ASSERT_TRUE(demo && *demo) << "VC_DEMO is not set (run through meson test)";
  TempDir dir("term");
  auto term = Terminal::Start(dir, {demo}, 120, 40);
  ASSERT_TRUE(term.ok()) << term.status().ToString();

  std::set<std::string> ours_seen, qemu_seen;  // distinct status lines while both ran
  int both_at_bottom = 0;
  std::vector<std::string> lines;
  Deadline deadline = Clock::now() + Millis(240000);
  while (!term->ExitCode() && Clock::now() < deadline) {
    std::this_thread::sleep_for(Millis(1000));
    lines = term->Lines();
    // Messages may wrap (they are printed once); a status line must not.
    for (const std::string& l : StatusLines(lines, kQemuTag))
      ASSERT_LE(l.size(), 119u) << Screen(lines);
    for (const std::string& l : StatusLines(lines, kOursTag))
      ASSERT_LE(l.size(), 119u) << Screen(lines);
    bool ended = false;
    for (const std::string& l : lines) ended |= l.find("virt-converge exited") != std::string::npos;
    if (ended || lines.size() < 2) continue;
    const std::string& qemu = lines[lines.size() - 2];
    const std::string& ours = lines.back();
    if (IsStatusLine(qemu, kQemuTag) && IsStatusLine(ours, kOursTag)) {
      // The figures that tell why one stalls: what is left and the downtime it needs.
      EXPECT_NE(qemu.find("exp. downtime "), std::string::npos) << qemu;
      EXPECT_NE(ours.find("exp. downtime "), std::string::npos) << ours;
      both_at_bottom++;
      qemu_seen.insert(qemu);
      ours_seen.insert(ours);
    }
  }
  lines = term->Lines();
  ASSERT_EQ(term->ExitCode(), 0) << Screen(lines);
  // While both ran, the two status lines were the screen's last two, and
  // each moved: virt-converge's side is not silent until the table.
  EXPECT_GE(both_at_bottom, 3) << Screen(lines);
  EXPECT_GE(ours_seen.size(), 3u) << Screen(lines);
  EXPECT_GE(qemu_seen.size(), 3u) << Screen(lines);
  // Redrawn in place: one status line per side is left on the whole
  // screen and scroll-back, not one per redraw.
  EXPECT_EQ(StatusLines(lines, kQemuTag).size(), 1u) << Screen(lines);
  EXPECT_EQ(StatusLines(lines, kOursTag).size(), 1u) << Screen(lines);
  // virt-converge's actions appear above, tagged, as they happen.
  bool action_shown = false;
  for (const std::string& l : lines)
    action_shown |= l.rfind(kOursTag, 0) == 0 && l.find(" action ") != std::string::npos;
  EXPECT_TRUE(action_shown) << Screen(lines);
}

TEST_F(TerminalTest, AttachsStatusLineFitsTheTerminalAndFollowsAResize) {
  auto pair = MigrationPair::Start(QuietGuest(), "term");
  ASSERT_TRUE(pair.ok()) << pair.status().ToString();
  StartMigration(**pair, 8 << 20);  // 128 MiB at 8 MiB/s: a bulk pass of ~16 s
  auto term =
      Terminal::Start((*pair)->dir(),
                      {VirtConvergeBinary(), "attach", "--qmp", (*pair)->src().spare_qmp_path(),
                       "--dry-run", "--no-policy", "--run-dir", (*pair)->dir().File("vc-run"),
                       "--state-dir", (*pair)->dir().File("vc-state")},
                      120, 30);
  ASSERT_TRUE(term.ok()) << term.status().ToString();

  auto settle = [&](size_t width) {
    std::vector<std::string> lines;
    std::set<std::string> seen;
    for (int i = 0; i < 5; i++) {
      std::this_thread::sleep_for(Millis(1000));
      lines = term->Lines();
      if (!lines.empty() && IsStatusLine(lines.back())) {
        EXPECT_LE(lines.back().size(), width - 1) << Screen(lines);
        seen.insert(lines.back());
      }
    }
    EXPECT_GE(seen.size(), 2u) << "the status line did not move:\n" << Screen(lines);
    return lines;
  };
  std::vector<std::string> wide = settle(120);
  EXPECT_EQ(StatusLines(wide).size(), 1u) << "redraws left lines behind:\n" << Screen(wide);
  ASSERT_TRUE(IsStatusLine(wide.back())) << Screen(wide);
  EXPECT_NE(wide.back().find("remaining "), std::string::npos) << wide.back();
  EXPECT_NE(wide.back().find("exp. downtime "), std::string::npos) << wide.back();

  ASSERT_TRUE(term->Resize(80, 30).ok());
  std::vector<std::string> narrow = settle(80);
  ASSERT_TRUE(IsStatusLine(narrow.back())) << Screen(narrow);
  EXPECT_NE(narrow.back().find("remaining "), std::string::npos) << narrow.back();
  // The line drawn before the resize may stay above; nothing more.
  EXPECT_LE(StatusLines(narrow).size(), 2u) << Screen(narrow);

  ASSERT_TRUE(qmp::MigrateCancel((*pair)->src().qmp()).ok());
  Deadline deadline = Clock::now() + Millis(30000);
  while (!term->ExitCode() && Clock::now() < deadline) std::this_thread::sleep_for(Millis(200));
  EXPECT_EQ(term->ExitCode(), 1) << Screen(term->Lines());  // cancelled
}

}  // namespace
}  // namespace vc::testing
