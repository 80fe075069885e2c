#include "src/policy/policy.h"

#include <fnmatch.h>

#include <sstream>

#include "src/base/units.h"
#include "src/policy/values.h"

namespace vc::policy {

bool Match::empty() const {
  return names.empty() && uuids.empty() && !memory && !vcpus && !pinned && !numa && !hugepages &&
         metadata.empty();
}

bool Matches(const Match& m, const VmFacts& f) {
  if (!m.names.empty()) {
    bool any = false;
    for (const std::string& glob : m.names) any |= fnmatch(glob.c_str(), f.name.c_str(), 0) == 0;
    if (!any) return false;
  }
  if (!m.uuids.empty()) {
    bool any = false;
    for (const std::string& u : m.uuids) any |= u == f.uuid;
    if (!any) return false;
  }
  if (m.memory && (!f.memory || !m.memory->Contains(*f.memory))) return false;
  if (m.vcpus && (!f.vcpus || !m.vcpus->Contains(*f.vcpus))) return false;
  if (m.pinned && f.pinned != m.pinned) return false;
  if (m.numa && f.numa != m.numa) return false;
  if (m.hugepages && f.hugepages != m.hugepages) return false;
  for (const auto& [key, value] : m.metadata) {
    bool found = false;
    for (const auto& kv : f.metadata) found |= kv.first == key && kv.second == value;
    if (!found) return false;
  }
  return true;
}

std::string Condition::ToString() const {
  switch (kind) {
    case Kind::kStart: return "start";
    case Kind::kStall: return "stall>=" + std::to_string(count);
    case Kind::kIteration: return "iteration>" + std::to_string(count);
    case Kind::kElapsed: return "elapsed>=" + FormatMillisExact(ms) + (per_gib ? "/GiB" : "");
    case Kind::kExpectedDowntime: return "expected-downtime>" + FormatMillisExact(ms);
    case Kind::kNoProgress: return "no-progress>=" + FormatMillisExact(ms);
  }
  return "?";
}

namespace {

// Actions that take a value, by their Step= spelling: the plugin each one
// names and how its value parses.
enum class ValueKind { kMillis, kRate, kPercent, kBool, kSize };
struct ActionSyntax {
  std::string_view word;
  std::string_view plugin;
  std::optional<ValueKind> value;
};
constexpr ActionSyntax kActionSyntax[] = {
    {"downtime", "set-downtime", ValueKind::kMillis},
    {"bandwidth", "set-bandwidth", ValueKind::kRate},
    {"throttle-initial", "set-throttle-initial", ValueKind::kPercent},
    {"throttle-increment", "set-throttle-increment", ValueKind::kPercent},
    {"throttle-max", "set-throttle-max", ValueKind::kPercent},
    {"throttle", "set-throttle-level", ValueKind::kPercent},
    {"throttle-tailslow", "set-throttle-tailslow", ValueKind::kBool},
    {"xbzrle-cache", "set-xbzrle-cache", ValueKind::kSize},
    {"dirty-limit", "set-dirty-limit", ValueKind::kRate},
    {"postcopy", "start-postcopy", std::nullopt},
    {"pause", "pause-guest", std::nullopt},
    {"postcopy-or-pause", "postcopy-or-pause", std::nullopt},
    {"abort", "abort", std::nullopt},
};

std::string FormatActionValue(ValueKind k, int64_t v) {
  switch (k) {
    case ValueKind::kMillis: return FormatMillisExact(v);
    case ValueKind::kRate: return FormatRateExact(static_cast<uint64_t>(v));
    case ValueKind::kPercent: return std::to_string(v) + "%";
    case ValueKind::kBool: return FormatBool(v != 0);
    case ValueKind::kSize: return FormatSizeExact(static_cast<uint64_t>(v));
  }
  return "?";
}

Result<int64_t> ParseActionValue(ValueKind k, std::string_view v) {
  switch (k) {
    case ValueKind::kMillis: return ParseMillis(v);
    case ValueKind::kRate: {
      Result<uint64_t> r = ParseBytesPerSecond(v);
      if (!r.ok()) return r.status();
      return static_cast<int64_t>(*r);
    }
    case ValueKind::kPercent: return ParsePercent(v);
    case ValueKind::kBool: {
      Result<bool> b = ParseBool(v);
      if (!b.ok()) return b.status();
      return *b ? 1 : 0;
    }
    case ValueKind::kSize: {
      Result<uint64_t> r = ParseBytes(v);
      if (!r.ok()) return r.status();
      return static_cast<int64_t>(*r);
    }
  }
  return Status::Internal("action value");
}

Result<Condition> ParseCondition(std::string_view t) {
  Condition c;
  auto after = [&](std::string_view prefix) -> std::optional<std::string_view> {
    if (t.substr(0, prefix.size()) == prefix) return t.substr(prefix.size());
    return std::nullopt;
  };
  auto count = [&](std::string_view v) -> Result<uint64_t> {
    Result<int64_t> n = ParseCount(v);
    if (!n.ok()) return Status::InvalidArgument("condition", "'" + std::string(t) + "': " + n.status().message());
    return static_cast<uint64_t>(*n);
  };
  auto millis = [&](std::string_view v) -> Result<int64_t> {
    Result<int64_t> ms = ParseMillis(v);
    if (!ms.ok()) return Status::InvalidArgument("condition", "'" + std::string(t) + "': " + ms.status().message());
    return *ms;
  };
  if (t == "start") return c;
  if (auto v = after("stall>=")) {
    c.kind = Condition::Kind::kStall;
    Result<uint64_t> n = count(*v);
    if (!n.ok()) return n.status();
    if (*n < 1) return Status::InvalidArgument("condition", "'" + std::string(t) + "': stalls count from 1");
    c.count = *n;
    return c;
  }
  if (auto v = after("iteration>")) {
    c.kind = Condition::Kind::kIteration;
    Result<uint64_t> n = count(*v);
    if (!n.ok()) return n.status();
    c.count = *n;
    return c;
  }
  if (auto v = after("elapsed>=")) {
    c.kind = Condition::Kind::kElapsed;
    std::string_view d = *v;
    if (d.size() > 4 && d.substr(d.size() - 4) == "/GiB") {
      c.per_gib = true;
      d.remove_suffix(4);
    }
    Result<int64_t> ms = millis(d);
    if (!ms.ok()) return ms.status();
    c.ms = *ms;
    return c;
  }
  if (auto v = after("expected-downtime>")) {
    c.kind = Condition::Kind::kExpectedDowntime;
    Result<int64_t> ms = millis(*v);
    if (!ms.ok()) return ms.status();
    c.ms = *ms;
    return c;
  }
  if (auto v = after("no-progress>=")) {
    c.kind = Condition::Kind::kNoProgress;
    Result<int64_t> ms = millis(*v);
    if (!ms.ok()) return ms.status();
    if (*ms <= 0) return Status::InvalidArgument("condition", "'" + std::string(t) + "' must be positive");
    c.ms = *ms;
    return c;
  }
  return Status::InvalidArgument(
      "condition", "'" + std::string(t.substr(0, 80)) +
                       "' is not one of start, stall>=N, iteration>N, elapsed>=TIME[/GiB], "
                       "expected-downtime>TIME, no-progress>=TIME");
}

}  // namespace

std::string StepAction::ToString() const {
  for (const ActionSyntax& a : kActionSyntax) {
    if (a.plugin != name) continue;
    return a.value ? std::string(a.word) + "=" + FormatActionValue(*a.value, value) : std::string(a.word);
  }
  return name;
}

std::string Step::ToString() const {
  std::string s = when.ToString();
  for (const StepAction& a : actions) s += " " + a.ToString();
  return s;
}

std::vector<std::string> StepActionPlugins() {
  std::vector<std::string> names;
  for (const ActionSyntax& a : kActionSyntax) {
    if (a.plugin != "postcopy-or-pause") names.emplace_back(a.plugin);
  }
  return names;
}

Result<Step> ParseStep(std::string_view text) {
  std::istringstream in{std::string(text)};
  std::string word;
  if (!(in >> word)) return Status::InvalidArgument("step", "empty");
  Step step;
  Result<Condition> c = ParseCondition(word);
  if (!c.ok()) return c.status();
  step.when = *c;
  while (in >> word) {
    size_t eq = word.find('=');
    std::string_view name = std::string_view(word).substr(0, eq);
    const ActionSyntax* syntax = nullptr;
    for (const ActionSyntax& a : kActionSyntax) {
      if (a.word == name) syntax = &a;
    }
    if (!syntax) {
      return Status::InvalidArgument("action", "'" + word.substr(0, 80) +
                                                   "' is not a known action (downtime=, bandwidth=, "
                                                   "throttle-*=, xbzrle-cache=, dirty-limit=, "
                                                   "postcopy, pause, postcopy-or-pause, abort)");
    }
    StepAction act{std::string(syntax->plugin), 0};
    if (syntax->value) {
      if (eq == std::string::npos) return Status::InvalidArgument("action", "'" + word + "' needs a value");
      Result<int64_t> v = ParseActionValue(*syntax->value, std::string_view(word).substr(eq + 1));
      if (!v.ok()) return Status::InvalidArgument("action", "'" + word + "': " + v.status().message());
      act.value = *v;
    } else if (eq != std::string::npos) {
      return Status::InvalidArgument("action", "'" + word + "' takes no value");
    }
    step.actions.push_back(act);
  }
  if (step.actions.empty()) {
    return Status::InvalidArgument("step", "'" + std::string(text) + "' has a condition but no action");
  }
  return step;
}

}  // namespace vc::policy
