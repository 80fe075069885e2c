#include "src/view/live_view.h"

#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cinttypes>
#include <cstdlib>

#include "src/base/units.h"

namespace vc {
namespace {

double Percent(const MigrationSample& s) {
  if (!s.ram_total) return 0;
  return 100.0 * (1.0 - static_cast<double>(s.ram_remaining) / static_cast<double>(s.ram_total));
}

}  // namespace

LiveView::LiveView(FILE* out, bool tty, std::vector<std::string> tags)
    : out_(out), tty_(tty), tags_(std::move(tags)), lines_(std::max<size_t>(1, tags_.size())) {
  for (const std::string& t : tags_) tag_width_ = std::max(tag_width_, t.size());
}

std::string LiveView::Format(const MigrationSample& s, int64_t downtime_limit_ms, size_t width) {
  // A log's lines keep their columns aligned; a fitted line has no room to.
  const char* head_format = width == std::string::npos ? "%6.1fs %-15s pass %-3" PRIu64 " %5.1f%%"
                                                       : "%.1fs %s pass %" PRIu64 " %.1f%%";
  char head[96];
  std::snprintf(head, sizeof head, head_format, static_cast<double>(s.total_time_ms) / 1000, s.status.c_str(),
                s.pass, Percent(s));
  // In the order a reader looks for them: how far, whether it can switch
  // over, why not (dirtying against sending), what we did about it.
  std::string downtime = "exp. downtime " + std::to_string(s.expected_downtime_ms) + " ms";
  if (downtime_limit_ms >= 0) downtime += " (limit " + std::to_string(downtime_limit_ms) + " ms)";
  const std::string fields[] = {
      "remaining " + FormatBytes(static_cast<double>(s.ram_remaining)),
      downtime,
      "bw " + FormatRate(s.bandwidth),
      "dirty " + FormatRate(s.dirty_rate),
      "throttle " + std::to_string(s.throttle_percent) + "%",
      "sent " + FormatBytes(static_cast<double>(s.ram_transferred)),
  };
  std::string line = head;
  if (line.size() > width) return line.substr(0, width);
  for (const std::string& f : fields) {
    if (line.size() + 2 + f.size() > width) break;
    line += "  " + f;
  }
  return line;
}

std::string LiveView::Bar(double percent, int width) {
  percent = std::clamp(percent, 0.0, 100.0);
  int full = static_cast<int>(percent / 100.0 * width + 0.5);
  return "[" + std::string(static_cast<size_t>(full), '#') + std::string(static_cast<size_t>(width - full), '.') + "]";
}

std::string LiveView::StatusLine(const MigrationSample& s, int64_t downtime_limit_ms, size_t width) {
  // The bar is the first thing to give way: the figures say more.
  const int bar = width >= 110 ? 20 : width >= 70 ? 10 : 0;
  if (bar == 0) return Format(s, downtime_limit_ms, width);
  return Bar(Percent(s), bar) + " " + Format(s, downtime_limit_ms, width - static_cast<size_t>(bar) - 3);
}

size_t LiveView::TerminalWidth() const {
  struct winsize ws {};
  if (::ioctl(fileno(out_), TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) return ws.ws_col;
  if (const char* c = std::getenv("COLUMNS")) {
    if (int n = std::atoi(c); n > 0) return static_cast<size_t>(n);
  }
  return 80;
}

std::string LiveView::Prefix(size_t line) const {
  if (tags_.empty()) return "";
  std::string tag = "[" + tags_[line] + "]";
  tag.resize(tag_width_ + 3, ' ');
  return tag;
}

void LiveView::Erase() {
  if (!drawn_) return;
  std::fputc('\r', out_);
  if (lines_.size() > 1) std::fprintf(out_, "\033[%zuA", lines_.size() - 1);
  std::fputs("\033[J", out_);
  drawn_ = false;
}

void LiveView::Draw() {
  // One column to spare: a line that fills the last column leaves some
  // terminals waiting to wrap, and the next \r would go to the wrong line.
  const size_t width = TerminalWidth();
  const size_t room = width > 1 ? width - 1 : 1;
  if (drawn_ && width != drawn_width_) {
    // The terminal may have rewrapped what is on screen: start afresh below.
    std::fputc('\n', out_);
    drawn_ = false;
  }
  Erase();
  for (size_t i = 0; i < lines_.size(); i++) {
    if (i) std::fputc('\n', out_);
    std::string prefix = Prefix(i);
    std::string text = prefix;
    if (prefix.size() < room) {
      const size_t rest = room - prefix.size();
      text += lines_[i].has ? StatusLine(lines_[i].sample, lines_[i].limit_ms, rest) : std::string("waiting").substr(0, rest);
    }
    std::fprintf(out_, "\r%s\033[K", text.substr(0, room).c_str());
  }
  drawn_ = true;
  drawn_width_ = width;
}

void LiveView::Update(const MigrationSample& s, int64_t downtime_limit_ms, size_t line) {
  if (line >= lines_.size()) return;
  if (tty_) {
    lines_[line] = {true, s, downtime_limit_ms};
    Draw();
  } else {
    std::fprintf(out_, "%s%s\n", Prefix(line).c_str(), Format(s, downtime_limit_ms).c_str());
  }
  std::fflush(out_);
}

void LiveView::Message(const std::string& text) {
  const bool redraw = tty_ && drawn_;
  Erase();
  std::fprintf(out_, "%s\n", text.c_str());
  if (redraw) Draw();
  std::fflush(out_);
}

void LiveView::Message(const std::string& text, size_t line) {
  Message(line < tags_.size() ? Prefix(line) + text : text);
}

void LiveView::Finish() {
  if (tty_ && drawn_) std::fputc('\n', out_);
  drawn_ = false;
  for (Shown& l : lines_) l.has = false;
  std::fflush(out_);
}

}  // namespace vc
