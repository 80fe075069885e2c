#include "src/attach/summary.h"

#include <cstdio>

#include "src/base/units.h"

namespace vc {

std::string MigrationSummary::ToText() const {
  std::string out = "outcome:    " + outcome;
  if (!detail.empty()) out += " — " + detail;
  out += "\n";
  auto line = [&](const char* label, const std::string& v) { out += std::string(label) + v + "\n"; };
  if (total_time_ms) line("total time: ", FormatMillis(static_cast<double>(*total_time_ms)));
  if (downtime_ms) line("downtime:   ", std::to_string(*downtime_ms) + " ms");
  if (passes) line("passes:     ", std::to_string(*passes));
  if (bytes_sent) line("bytes sent: ", FormatBytes(static_cast<double>(*bytes_sent)) + " (" +
                                           std::to_string(*bytes_sent) + ")");
  line("actions:    ", std::to_string(actions.size()));
  for (const ActionRecord& a : actions) {
    char at[32];
    std::snprintf(at, sizeof at, "%7.1fs ", a.at_s);
    out += std::string("  ") + at + a.action + (a.action == "set-downtime" ? " " + std::to_string(a.value) : "") +
           " [" + a.result + "]: " + a.reason + "\n";
  }
  return out;
}

namespace {

qmp::Json ActionsToJson(const std::vector<ActionRecord>& actions) {
  using qmp::Json;
  Json list = Json::Array();
  for (const ActionRecord& a : actions) {
    list.Append(Json::Object()
                    .Set("at-s", Json::Double(a.at_s))
                    .Set("action", Json::String(a.action))
                    .Set("value", Json::Int(a.value))
                    .Set("reason", Json::String(a.reason))
                    .Set("latency-ms", Json::Double(a.latency_ms))
                    .Set("result", Json::String(a.result)));
  }
  return list;
}

}  // namespace

qmp::Json MigrationSummary::ToJson() const {
  using qmp::Json;
  Json j = Json::Object();
  j.Set("outcome", Json::String(outcome));
  j.Set("detail", Json::String(detail));
  if (total_time_ms) j.Set("total-time-ms", Json::Int(*total_time_ms));
  if (downtime_ms) j.Set("downtime-ms", Json::Int(*downtime_ms));
  if (passes) j.Set("passes", Json::Uint(*passes));
  if (bytes_sent) j.Set("bytes-sent", Json::Uint(*bytes_sent));
  if (ram_total) j.Set("ram-total", Json::Uint(*ram_total));
  j.Set("postcopy", Json::Bool(postcopy));
  j.Set("actions", ActionsToJson(actions));
  Json series = Json::Array();
  for (const SamplePoint& p : samples) {
    series.Append(Json::Object()
                      .Set("t-ms", Json::Int(p.t_ms))
                      .Set("status", Json::String(p.status))
                      .Set("pass", Json::Uint(p.pass))
                      .Set("remaining", Json::Uint(p.remaining))
                      .Set("transferred", Json::Uint(p.transferred))
                      .Set("bandwidth", Json::Double(p.bandwidth))
                      .Set("dirty-rate", Json::Double(p.dirty_rate))
                      .Set("expected-downtime-ms", Json::Int(p.expected_downtime_ms))
                      .Set("throttle-percent", Json::Int(p.throttle_percent)));
  }
  j.Set("samples", series);
  return j;
}

}  // namespace vc
