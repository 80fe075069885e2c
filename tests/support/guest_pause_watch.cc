#include "tests/support/guest_pause_watch.h"

#include <algorithm>
#include <cstddef>
#include <cstdlib>
#include <string>

#include "qmp/commands.h"
#include "tests/guest/guest_abi.h"

namespace vc::testing {
namespace {

// The heartbeat word, read with HMP's xp: "0000000000180020: 0x0000abcd".
std::optional<uint32_t> Heartbeat(qmp::Session& s) {
  static const std::string command =
      "xp /1wx " + std::to_string(VC_GUEST_STATUS_ADDR + offsetof(vc_guest_status, heartbeat));
  Result<Json> r = s.Execute("human-monitor-command", Json::Object().Set("command-line", Json::String(command)),
                             Millis(2000));
  while (s.HasEvents()) s.TakeEvent();  // nobody else reads them meanwhile
  if (!r.ok()) return std::nullopt;
  const std::optional<std::string> text = r->AsString();
  if (!text) return std::nullopt;
  const size_t at = text->find(": 0x");
  if (at == std::string::npos) return std::nullopt;
  return static_cast<uint32_t>(std::strtoul(text->c_str() + at + 4, nullptr, 16));
}

double MillisBetween(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

}  // namespace

GuestPauseWatch::GuestPauseWatch(qmp::Session& src, qmp::Session& dst, Millis every)
    : src_(src), dst_(dst), every_(every), thread_([this] { Run(); }) {}

GuestPauseWatch::~GuestPauseWatch() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

GuestPauseWatch::Report GuestPauseWatch::Stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
  return report_;
}

void GuestPauseWatch::Run() {
  const Clock::time_point start = Clock::now();
  std::optional<uint32_t> src_beat, dst_beat;
  Clock::time_point src_changed = start;
  bool dst_running = false, on_dst = false;
  while (!stop_) {
    if (!on_dst) {
      // The source's reply may wait for its stop-and-copy (QEMU holds its
      // big lock through it): a new beat was read no earlier than asked.
      const Clock::time_point asked = Clock::now();
      const std::optional<uint32_t> b = Heartbeat(src_);
      if (b && b != src_beat) {
        if (src_beat) {
          report_.beats += *b - *src_beat;
          report_.longest_source_stall_ms = std::max(report_.longest_source_stall_ms, MillisBetween(src_changed, asked));
        }
        src_beat = b;
        src_changed = asked;
      }
      if (!dst_running) {
        Result<qmp::RunState> rs = qmp::QueryStatus(dst_);
        dst_running = rs.ok() && rs->running;
        if (dst_running) dst_beat = Heartbeat(dst_);  // what the final copy brought
      }
      if (dst_running) {
        const std::optional<uint32_t> d = Heartbeat(dst_);
        if (d && dst_beat && d != dst_beat) {
          report_.pause_ms = MillisBetween(src_changed, Clock::now());
          report_.beats += *d - *dst_beat;
          dst_beat = d;
          on_dst = true;
          resumed_ = true;
        }
      }
    } else {
      const std::optional<uint32_t> d = Heartbeat(dst_);
      if (d && dst_beat && d != dst_beat) report_.beats += *d - *dst_beat;
      if (d) dst_beat = d;
    }
    std::this_thread::sleep_for(every_);
  }
  report_.wall_ms = MillisBetween(start, Clock::now());
}

}  // namespace vc::testing
