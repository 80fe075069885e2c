// evacuate's view of several migrations: a table redrawn in place with a
// progress bar per VM on a terminal; a line per change of state in a log.
#include "src/view/board_view.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>

namespace vc {
namespace {

std::string Capture(bool tty) {
  char* buf = nullptr;
  size_t len = 0;
  FILE* f = open_memstream(&buf, &len);
  BoardView view(f, tty);
  view.Update({{"vm1", "-", "starting", -1}, {"vm2", "-", "starting", -1}}, "0 of 2 done");
  view.Update({{"vm1", "hostB", "queued (#1 in line, cost 1)", -1}, {"vm2", "hostB", "migrating, pass 1", 10}},
              "0 of 2 done");
  view.Update({{"vm1", "hostB", "queued (#1 in line, cost 2)", -1}, {"vm2", "hostB", "migrating, pass 2", 50}},
              "0 of 2 done");
  view.Event("vm1", "turned away by hostC: no room");
  view.Update({{"vm1", "hostB", "completed in 3.0 s", 100}, {"vm2", "hostB", "migrating, pass 3", 90}}, "1 of 2 done");
  std::fclose(f);
  std::string out(buf, len);
  std::free(buf);
  return out;
}

TEST(BoardView, LogGetsALinePerChangeOfState) {
  EXPECT_EQ(Capture(false),
            "vm1: starting\n"
            "vm2: starting\n"
            "vm1: queued (#1 in line, cost 1) → hostB\n"
            "vm2: migrating, pass 1\n"
            "vm1: turned away by hostC: no room\n"
            "vm1: completed in 3.0 s\n");
}

TEST(BoardView, TerminalRedrawsTheTableWithBars) {
  std::string out = Capture(true);
  EXPECT_EQ(out.find("turned away"), std::string::npos) << "the table says it";
  // Each redraw goes back up over the two rows and the total.
  size_t ups = 0;
  for (size_t at = out.find("\033[3A"); at != std::string::npos; at = out.find("\033[3A", at + 1)) ups++;
  EXPECT_EQ(ups, 3u) << out;
  EXPECT_NE(out.find("\r  vm2              [##########..........]   50%  hostB"), std::string::npos) << out;
  EXPECT_NE(out.find("\r  vm1              [####################]  100%  hostB"), std::string::npos) << out;
  EXPECT_NE(out.find("completed in 3.0 s\033[K\n\r  vm2"), std::string::npos) << out;
}

}  // namespace
}  // namespace vc
