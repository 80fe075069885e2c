// The live view on a terminal (status lines redrawn in place, fitted to its
// width) and in a log (a line per update), and the summary's JSON.
#include "src/view/live_view.h"

#include <gtest/gtest.h>

#include <poll.h>
#include <pty.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "src/state/summary.h"

namespace vc {
namespace {

MigrationSample Sample() {
  MigrationSample s;
  s.status = "active";
  s.total_time_ms = 12345;
  s.pass = 5;
  s.ram_total = 256u << 20;
  s.ram_remaining = 32u << 20;
  s.ram_transferred = 412u << 20;
  s.bandwidth = 32.0 * (1 << 20);
  s.dirty_rate = 128.0 * (1 << 20);
  s.expected_downtime_ms = 1021;
  s.throttle_percent = 20;
  return s;
}

std::string Capture(bool tty, std::vector<std::string> tags = {}) {
  char* buf = nullptr;
  size_t len = 0;
  FILE* f = open_memstream(&buf, &len);
  LiveView view(f, tty, tags);
  const size_t lines = std::max<size_t>(1, tags.size());
  for (size_t line = 0; line < lines; line++) view.Update(Sample(), 600, line);
  view.Update(Sample(), 600);
  view.Message("  12.3s action set-downtime 1200 ms [done]: stall");
  view.Update(Sample(), 1200);
  view.Finish();
  std::fclose(f);
  std::string out(buf, len);
  std::free(buf);
  return out;
}

size_t Count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) n++;
  return n;
}

/// What a terminal would show of each status line drawn: the text after
/// each \r, without escape sequences.
std::vector<std::string> DrawnLines(const std::string& out) {
  std::vector<std::string> lines;
  std::string cur;
  for (size_t i = 0; i < out.size(); i++) {
    if (out[i] == '\033') {
      while (i < out.size() && !std::isalpha(static_cast<unsigned char>(out[i]))) i++;
      continue;
    }
    if (out[i] == '\r' || out[i] == '\n') {
      if (!cur.empty()) lines.push_back(cur);
      cur.clear();
      continue;
    }
    cur += out[i];
  }
  if (!cur.empty()) lines.push_back(cur);
  return lines;
}

const std::string kFullLine =
    "  12.3s active          pass 5    87.5%  remaining 32.0 MiB  exp. downtime 1021 ms (limit 600 ms)  "
    "bw 32.0 MiB/s  dirty 128.0 MiB/s  throttle 20%  sent 412.0 MiB";

const std::string kCompactLine =
    "12.3s active pass 5 87.5%  remaining 32.0 MiB  exp. downtime 1021 ms (limit 600 ms)  "
    "bw 32.0 MiB/s  dirty 128.0 MiB/s  throttle 20%  sent 412.0 MiB";

TEST(LiveView, LineHasEveryFigureMostUsefulFirst) {
  EXPECT_EQ(LiveView::Format(Sample(), 600), kFullLine);
}

TEST(LiveView, ANarrowLineDropsItsLeastUsefulFieldsWhole) {
  EXPECT_EQ(LiveView::Format(Sample(), 600, 50), "12.3s active pass 5 87.5%  remaining 32.0 MiB");
  EXPECT_EQ(LiveView::Format(Sample(), 600, 90),
            "12.3s active pass 5 87.5%  remaining 32.0 MiB  exp. downtime 1021 ms (limit 600 ms)");
  for (size_t width = 1; width <= 250; width++) {
    std::string status = LiveView::StatusLine(Sample(), 600, width);
    EXPECT_LE(status.size(), width) << status;
    std::string fields = LiveView::Format(Sample(), 600, width);
    EXPECT_EQ(kCompactLine.rfind(fields, 0), 0u) << "width " << width << ": " << fields;
  }
  // The bar gives way before any figure does.
  EXPECT_EQ(LiveView::StatusLine(Sample(), 600, 60).find('['), std::string::npos);
  EXPECT_EQ(LiveView::StatusLine(Sample(), 600, 200), "[##################..] " + kCompactLine);
}

TEST(LiveView, LogGetsOneLinePerUpdate) {
  std::string out = Capture(false);
  EXPECT_EQ(out.find('\r'), std::string::npos);
  EXPECT_EQ(out.find('\033'), std::string::npos);
  EXPECT_EQ(Count(out, "\n"), 4u);
}

TEST(LiveView, LogTagsEachSide) {
  std::string out = Capture(false, {"QEMU defaults", "virt-converge"});
  EXPECT_EQ(out.rfind("[QEMU defaults] " + kFullLine + "\n[virt-converge] " + kFullLine + "\n", 0), 0u) << out;
  EXPECT_EQ(Count(out, "\n"), 5u) << out;
}

TEST(LiveView, TerminalRedrawsOneLine) {
  setenv("COLUMNS", "200", 1);  // open_memstream is no terminal: the width falls back to $COLUMNS
  std::string out = Capture(true);
  // Each update rewrites the line in place, a progress bar first; a message
  // clears it, stays above, and the line is drawn again below it; Finish
  // ends the last status line.
  EXPECT_EQ(out.rfind("\r[", 0), 0u) << out;
  EXPECT_NE(out.find("] 12.3s active pass 5"), std::string::npos) << out;
  EXPECT_NE(out.find("\r\033[J  12.3s action set-downtime 1200 ms [done]: stall\n\r["), std::string::npos) << out;
  EXPECT_EQ(out.find("\033[1A"), std::string::npos) << "one line never moves up: " << out;
  EXPECT_EQ(out.back(), '\n');
  EXPECT_EQ(Count(out, "\n"), 2u);
  unsetenv("COLUMNS");
}

TEST(LiveView, TerminalRedrawsTwoTaggedLinesInPlace) {
  setenv("COLUMNS", "120", 1);
  std::string out = Capture(true, {"QEMU defaults", "virt-converge"});
  // Each redraw goes back up to the first of the two lines; the message
  // clears both and they are drawn again below it.
  EXPECT_GE(Count(out, "\r\033[1A\033[J"), 3u) << out;
  EXPECT_NE(out.find("\033[J  12.3s action set-downtime 1200 ms [done]: stall\n\r[QEMU defaults] ["), std::string::npos)
      << out;
  for (const std::string& line : DrawnLines(out)) EXPECT_LE(line.size(), 119u) << line;
  unsetenv("COLUMNS");
}

// A real terminal: the width comes from the terminal itself, and a resize
// is followed at the next update.
TEST(LiveView, FitsARealTerminalAndFollowsItsResize) {
  int master = -1, slave = -1;
  struct winsize ws {};
  ws.ws_col = 120;
  ws.ws_row = 40;
  ASSERT_EQ(openpty(&master, &slave, nullptr, nullptr, &ws), 0);
  FILE* out = fdopen(slave, "w");
  ASSERT_NE(out, nullptr);
  auto drain = [&] {
    std::string got;
    char buf[4096];
    pollfd p{master, POLLIN, 0};
    while (poll(&p, 1, 100) > 0) {
      ssize_t n = read(master, buf, sizeof buf);
      if (n <= 0) break;
      got.append(buf, static_cast<size_t>(n));
    }
    return got;
  };
  LiveView view(out, true);
  view.Update(Sample(), 600);
  view.Update(Sample(), 600);
  std::string wide = drain();
  ASSERT_FALSE(DrawnLines(wide).empty());
  for (const std::string& line : DrawnLines(wide)) EXPECT_LE(line.size(), 119u) << line;
  EXPECT_NE(wide.find("remaining 32.0 MiB"), std::string::npos) << wide;

  ws.ws_col = 70;
  ASSERT_EQ(ioctl(master, TIOCSWINSZ, &ws), 0);
  view.Update(Sample(), 600);
  std::string narrow = drain();
  ASSERT_FALSE(DrawnLines(narrow).empty());
  for (const std::string& line : DrawnLines(narrow)) EXPECT_LE(line.size(), 69u) << line;
  view.Finish();
  std::fclose(out);
  close(master);
}

TEST(LiveView, BarFillsInProportion) {
  EXPECT_EQ(LiveView::Bar(0, 10), "[..........]");
  EXPECT_EQ(LiveView::Bar(50, 10), "[#####.....]");
  EXPECT_EQ(LiveView::Bar(100, 10), "[##########]");
  EXPECT_EQ(LiveView::Bar(250, 4), "[####]");
}

TEST(Summary, JsonCarriesOutcomeActionsAndSeries) {
  MigrationSummary s;
  s.outcome = MigrationOutcome::kCompleted;
  s.total_time_ms = 12891;
  s.downtime_ms = 23;
  s.passes = 11;
  s.bytes_sent = 456617412;
  s.actions.push_back({11.2, "set-downtime", 600, "stall: ...", "done"});
  s.actions.push_back({12.0, "set-bandwidth", 32 << 20, "share", "done"});
  s.samples.push_back({1000, "active", 1, 200, 100, 1e6, 2e6, 300, 0});
  Json j = s.ToJson();
  EXPECT_EQ(j.GetString("outcome"), "completed");
  EXPECT_EQ(j.GetInt("total-time-ms"), 12891);
  EXPECT_EQ(j.GetInt("downtime-ms"), 23);
  EXPECT_EQ(j.GetUint("bytes-sent"), 456617412u);
  EXPECT_EQ(j.Get("actions")->At(0).GetInt("value"), 600);
  EXPECT_EQ(j.Get("samples")->At(0).GetUint("remaining"), 200u);
  std::string text = s.ToText();
  EXPECT_NE(text.find("outcome:    completed"), std::string::npos);
  EXPECT_NE(text.find("downtime:   23 ms"), std::string::npos);
  // Each value is shown as its action says (plugins/action.h).
  EXPECT_NE(text.find("set-downtime 600 ms [done]: stall: ..."), std::string::npos) << text;
  EXPECT_NE(text.find("set-bandwidth 32.0 MiB/s [done]: share"), std::string::npos) << text;
}

}  // namespace
}  // namespace vc
