#include "src/attach/live_view.h"

#include <algorithm>
#include <cinttypes>

#include "src/base/units.h"

namespace vc {

std::string LiveView::Format(const MigrationSample& s, int64_t downtime_limit_ms) {
  char head[96];
  double percent = s.ram_total ? 100.0 * (1.0 - static_cast<double>(s.ram_remaining) /
                                                    static_cast<double>(s.ram_total))
                               : 0;
  std::snprintf(head, sizeof head, "%6.1fs %-15s pass %-3" PRIu64 " %5.1f%%",
                static_cast<double>(s.total_time_ms) / 1000, s.status.c_str(), s.pass, percent);
  std::string line = head;
  line += "  remaining " + FormatBytes(static_cast<double>(s.ram_remaining));
  line += "  sent " + FormatBytes(static_cast<double>(s.ram_transferred));
  line += "  bw " + FormatRate(s.bandwidth);
  line += "  dirty " + FormatRate(s.dirty_rate);
  line += "  exp. downtime " + std::to_string(s.expected_downtime_ms) + " ms";
  if (downtime_limit_ms >= 0) line += " (limit " + std::to_string(downtime_limit_ms) + " ms)";
  line += "  throttle " + std::to_string(s.throttle_percent) + "%";
  return line;
}

std::string LiveView::Bar(double percent, int width) {
  percent = std::clamp(percent, 0.0, 100.0);
  int full = static_cast<int>(percent / 100.0 * width + 0.5);
  return "[" + std::string(static_cast<size_t>(full), '#') + std::string(static_cast<size_t>(width - full), '.') + "]";
}

void LiveView::Update(const MigrationSample& s, int64_t downtime_limit_ms) {
  std::string line = Format(s, downtime_limit_ms);
  if (tty_) {
    double percent = s.ram_total ? 100.0 * (1.0 - static_cast<double>(s.ram_remaining) / static_cast<double>(s.ram_total)) : 0;
    std::fprintf(out_, "\r%s %s\033[K", Bar(percent, 20).c_str(), line.c_str());
    status_shown_ = true;
  } else {
    std::fprintf(out_, "%s\n", line.c_str());
  }
  std::fflush(out_);
}

void LiveView::Message(const std::string& text) {
  if (tty_ && status_shown_) std::fputs("\r\033[K", out_);
  std::fprintf(out_, "%s\n", text.c_str());
  status_shown_ = false;
  std::fflush(out_);
}

void LiveView::Finish() {
  if (tty_ && status_shown_) std::fputs("\n", out_);
  status_shown_ = false;
  std::fflush(out_);
}

}  // namespace vc
