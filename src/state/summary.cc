#include "src/state/summary.h"

#include <cstdio>

#include "plugins/action.h"
#include "src/base/units.h"

namespace vc {

std::string MigrationSummary::ToText() const {
  std::string out = "outcome:    " + std::string(OutcomeName(outcome));
  if (!detail.empty()) out += " — " + detail;
  if (!code.empty()) out += " [" + code + "]";
  out += "\n";
  auto line = [&](const char* label, const std::string& v) { out += std::string(label) + v + "\n"; };
  if (total_time_ms) line("total time: ", FormatMillis(static_cast<double>(*total_time_ms)));
  if (downtime_ms) line("downtime:   ", std::to_string(*downtime_ms) + " ms");
  if (passes) line("passes:     ", std::to_string(*passes));
  if (bytes_sent) line("bytes sent: ", FormatBytes(static_cast<double>(*bytes_sent)) + " (" +
                                           std::to_string(*bytes_sent) + ")");
  if (switchover) line("switch-over: ", switchover->ToText());
  line("actions:    ", std::to_string(actions.size()));
  for (const ActionRecord& a : actions) {
    char at[32];
    std::snprintf(at, sizeof at, "%7.1fs ", a.at_s);
    out += std::string("  ") + at + a.action + ActionValueText(a.action, a.value) +
           " [" + a.result + "]: " + a.reason;
    if (const std::string c = ActionCode(a); !c.empty()) out += " [" + c + "]";
    out += "\n";
  }
  return out;
}

std::string SwitchoverReport::ToText() const {
  std::string out = FormatBytes(static_cast<double>(copy.bytes));
  if (copy.never_sent) out += " (" + FormatBytes(static_cast<double>(*copy.never_sent)) + " never sent before)";
  out += " in " + std::to_string(copy.downtime_ms) + " ms";
  if (predicted_ms > 0) out += ", predicted " + FormatMillis(predicted_ms) + " by " + speed;
  return out;
}

Json SwitchoverReport::ToJson() const {
  Json j = Json::Object()
               .Set("bytes", Json::Uint(copy.bytes))
               .Set("downtime-ms", Json::Int(copy.downtime_ms))
               .Set("predicted-ms", Json::Double(predicted_ms))
               .Set("speed", Json::String(speed));
  if (copy.never_sent) j.Set("never-sent", Json::Uint(*copy.never_sent));
  return j;
}

SwitchoverReport SwitchoverReport::FromJson(const Json& j) {
  SwitchoverReport r;
  r.copy.bytes = j.GetUint("bytes").value_or(0);
  r.copy.downtime_ms = j.GetInt("downtime-ms").value_or(0);
  r.copy.never_sent = j.GetUint("never-sent");
  r.predicted_ms = j.GetDouble("predicted-ms").value_or(0);
  r.speed = j.GetString("speed").value_or("");
  return r;
}

Json ActionRecordToJson(const ActionRecord& a) {
  Json j = Json::Object()
               .Set("at-s", Json::Double(a.at_s))
               .Set("action", Json::String(a.action))
               .Set("value", Json::Int(a.value))
               .Set("reason", Json::String(a.reason))
               .Set("latency-ms", Json::Double(a.latency_ms))
               .Set("sent-ms", Json::Double(a.sent_ms))
               .Set("result", Json::String(a.result));
  if (a.kind) {
    j.Set("kind", Json::String(DecisionKindName(*a.kind)));
    j.Set("code", Json::String(ActionCode(a)));
  }
  return j;
}

ActionRecord ActionRecordFromJson(const Json& j) {
  ActionRecord a;
  a.at_s = j.GetDouble("at-s").value_or(0);
  a.action = j.GetString("action").value_or("");
  a.value = j.GetInt("value").value_or(0);
  a.reason = j.GetString("reason").value_or("");
  a.latency_ms = j.GetDouble("latency-ms").value_or(0);
  a.sent_ms = j.GetDouble("sent-ms").value_or(0);
  a.result = j.GetString("result").value_or("");
  if (std::optional<std::string> kind = j.GetString("kind")) a.kind = DecisionKindNamed(*kind);
  return a;
}

Json SamplePointToJson(const SamplePoint& p) {
  return Json::Object()
      .Set("t-ms", Json::Int(p.t_ms))
      .Set("status", Json::String(p.status))
      .Set("pass", Json::Uint(p.pass))
      .Set("remaining", Json::Uint(p.remaining))
      .Set("transferred", Json::Uint(p.transferred))
      .Set("bandwidth", Json::Double(p.bandwidth))
      .Set("dirty-rate", Json::Double(p.dirty_rate))
      .Set("expected-downtime-ms", Json::Int(p.expected_downtime_ms))
      .Set("throttle-percent", Json::Int(p.throttle_percent));
}

SamplePoint SamplePointFromJson(const Json& j) {
  SamplePoint p;
  p.t_ms = j.GetInt("t-ms").value_or(0);
  p.status = j.GetString("status").value_or("");
  p.pass = j.GetUint("pass").value_or(0);
  p.remaining = j.GetUint("remaining").value_or(0);
  p.transferred = j.GetUint("transferred").value_or(0);
  p.bandwidth = j.GetDouble("bandwidth").value_or(0);
  p.dirty_rate = j.GetDouble("dirty-rate").value_or(0);
  p.expected_downtime_ms = j.GetInt("expected-downtime-ms").value_or(0);
  p.throttle_percent = static_cast<int>(j.GetInt("throttle-percent").value_or(0));
  return p;
}

Json MigrationSummary::ToJson() const {
  Json j = Json::Object();
  j.Set("outcome", Json::String(std::string(OutcomeName(outcome))));
  j.Set("detail", Json::String(detail));
  if (!code.empty()) j.Set("code", Json::String(code));
  if (total_time_ms) j.Set("total-time-ms", Json::Int(*total_time_ms));
  if (downtime_ms) j.Set("downtime-ms", Json::Int(*downtime_ms));
  if (passes) j.Set("passes", Json::Uint(*passes));
  if (bytes_sent) j.Set("bytes-sent", Json::Uint(*bytes_sent));
  if (ram_total) j.Set("ram-total", Json::Uint(*ram_total));
  j.Set("postcopy", Json::Bool(postcopy));
  if (outcome == MigrationOutcome::kNotStarted) j.Set("try_later", Json::Bool(try_later));
  if (switchover) j.Set("switchover", switchover->ToJson());
  j.Set("actions", ActionsToJson(actions));
  j.Set("samples", SamplesToJson(samples));
  return j;
}

MigrationSummary MigrationSummary::FromJson(const Json& j) {
  MigrationSummary s;
  s.outcome = ParseOutcome(j.GetString("outcome").value_or("")).value_or(MigrationOutcome::kLost);
  s.detail = j.GetString("detail").value_or("");
  s.code = j.GetString("code").value_or("");
  s.total_time_ms = j.GetInt("total-time-ms");
  s.downtime_ms = j.GetInt("downtime-ms");
  s.passes = j.GetUint("passes");
  s.bytes_sent = j.GetUint("bytes-sent");
  s.ram_total = j.GetUint("ram-total");
  s.postcopy = j.GetBool("postcopy").value_or(false);
  s.try_later = j.GetBool("try_later").value_or(false);
  if (std::optional<Json> so = j.Get("switchover")) s.switchover = SwitchoverReport::FromJson(*so);
  s.actions = ActionsFromJson(j);
  s.samples = SamplesFromJson(j);
  return s;
}

Json ActionsToJson(const std::vector<ActionRecord>& actions) {
  Json list = Json::Array();
  for (const ActionRecord& a : actions) list.Append(ActionRecordToJson(a));
  return list;
}

Json SamplesToJson(const std::vector<SamplePoint>& samples) {
  Json list = Json::Array();
  for (const SamplePoint& p : samples) list.Append(SamplePointToJson(p));
  return list;
}

std::vector<ActionRecord> ActionsFromJson(const Json& parent) {
  std::vector<ActionRecord> out;
  if (std::optional<Json> a = parent.Get("actions")) {
    for (size_t i = 0; i < a->ArraySize(); i++) out.push_back(ActionRecordFromJson(a->At(i)));
  }
  return out;
}

std::vector<SamplePoint> SamplesFromJson(const Json& parent) {
  std::vector<SamplePoint> out;
  if (std::optional<Json> p = parent.Get("samples")) {
    for (size_t i = 0; i < p->ArraySize(); i++) out.push_back(SamplePointFromJson(p->At(i)));
  }
  return out;
}

}  // namespace vc
