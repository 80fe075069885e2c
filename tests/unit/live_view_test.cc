// The live view on a terminal (one redrawn line) and in a log (a line per
// update), and the summary's JSON.
#include "src/attach/live_view.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>

#include "src/attach/summary.h"

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

std::string Capture(bool tty) {
  char* buf = nullptr;
  size_t len = 0;
  FILE* f = open_memstream(&buf, &len);
  LiveView view(f, tty);
  view.Update(Sample(), 600);
  view.Update(Sample(), 600);
  view.Message("  12.3s action set-downtime 1200 ms [done]: stall");
  view.Update(Sample(), 1200);
  view.Finish();
  std::fclose(f);
  std::string out(buf, len);
  std::free(buf);
  return out;
}

TEST(LiveView, LineHasEveryFigure) {
  std::string line = LiveView::Format(Sample(), 600);
  EXPECT_EQ(line,
            "  12.3s active          pass 5    87.5%  remaining 32.0 MiB  sent 412.0 MiB  "
            "bw 32.0 MiB/s  dirty 128.0 MiB/s  exp. downtime 1021 ms (limit 600 ms)  throttle 20%");
}

TEST(LiveView, LogGetsOneLinePerUpdate) {
  std::string out = Capture(false);
  EXPECT_EQ(out.find('\r'), std::string::npos);
  EXPECT_EQ(out.find('\033'), std::string::npos);
  size_t lines = 0;
  for (char c : out) lines += c == '\n';
  EXPECT_EQ(lines, 4u);
}

TEST(LiveView, TerminalRedrawsOneLine) {
  std::string out = Capture(true);
  // Each update rewrites the line in place, a progress bar first; a message
  // clears it first and stays above; Finish ends the last status line.
  EXPECT_EQ(out.rfind("\r[", 0), 0u) << out;
  EXPECT_NE(out.find("]   12.3s active"), std::string::npos) << out;
  EXPECT_NE(out.find("\033[K\r["), std::string::npos) << out;
  EXPECT_NE(out.find("\r\033[K  12.3s action set-downtime 1200 ms [done]: stall\n"), std::string::npos);
  EXPECT_EQ(out.back(), '\n');
  size_t lines = 0;
  for (char c : out) lines += c == '\n';
  EXPECT_EQ(lines, 2u);
}

TEST(LiveView, BarFillsInProportion) {
  EXPECT_EQ(LiveView::Bar(0, 10), "[..........]");
  EXPECT_EQ(LiveView::Bar(50, 10), "[#####.....]");
  EXPECT_EQ(LiveView::Bar(100, 10), "[##########]");
  EXPECT_EQ(LiveView::Bar(250, 4), "[####]");
}

TEST(Summary, JsonCarriesOutcomeActionsAndSeries) {
  MigrationSummary s;
  s.outcome = "completed";
  s.total_time_ms = 12891;
  s.downtime_ms = 23;
  s.passes = 11;
  s.bytes_sent = 456617412;
  s.actions.push_back({11.2, "set-downtime", 600, "stall: ...", "done"});
  s.samples.push_back({1000, "active", 1, 200, 100, 1e6, 2e6, 300, 0});
  qmp::Json j = s.ToJson();
  EXPECT_EQ(j.GetString("outcome"), "completed");
  EXPECT_EQ(j.GetInt("total-time-ms"), 12891);
  EXPECT_EQ(j.GetInt("downtime-ms"), 23);
  EXPECT_EQ(j.GetUint("bytes-sent"), 456617412u);
  EXPECT_EQ(j.Get("actions")->At(0).GetInt("value"), 600);
  EXPECT_EQ(j.Get("samples")->At(0).GetUint("remaining"), 200u);
  std::string text = s.ToText();
  EXPECT_NE(text.find("outcome:    completed"), std::string::npos);
  EXPECT_NE(text.find("downtime:   23 ms"), std::string::npos);
  EXPECT_NE(text.find("set-downtime 600 [done]: stall: ..."), std::string::npos);
}

}  // namespace
}  // namespace vc
