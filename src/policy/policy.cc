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
    case Kind::kAfterPrevious: return "after-previous>=" + FormatMillisExact(ms);
    case Kind::kStalled: return "stalled>=" + FormatMillisExact(ms);
  }
  return "?";
}

namespace {

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
  // The conditions on one time.
  const struct {
    const char* prefix;
    Condition::Kind kind;
    bool positive;  // 0 is refused
  } timed[] = {{"expected-downtime>", Condition::Kind::kExpectedDowntime, false},
               {"no-progress>=", Condition::Kind::kNoProgress, true},
               {"after-previous>=", Condition::Kind::kAfterPrevious, false},
               {"stalled>=", Condition::Kind::kStalled, true}};
  for (const auto& [prefix, kind, positive] : timed) {
    auto v = after(prefix);
    if (!v) continue;
    c.kind = kind;
    Result<int64_t> ms = millis(*v);
    if (!ms.ok()) return ms.status();
    if (positive && *ms <= 0) return Status::InvalidArgument("condition", "'" + std::string(t) + "' must be positive");
    c.ms = *ms;
    return c;
  }
  return Status::InvalidArgument(
      "condition", "'" + std::string(t.substr(0, 80)) +
                       "' is not one of start, stall>=N, iteration>N, elapsed>=TIME[/GiB], "
                       "expected-downtime>TIME, no-progress>=TIME, after-previous>=TIME, stalled>=TIME");
}

}  // namespace

std::string StepAction::ToString() const {
  if (word.empty()) return name;
  return kind == ValueKind::kNone ? word : word + "=" + FormatActionValue(kind, value);
}

std::string Step::ToString() const {
  std::string s = when.ToString();
  for (const StepAction& a : actions) s += " " + a.ToString();
  return s;
}

Result<Step> ParseStep(std::string_view text, ActionVocabulary words) {
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
    const ActionWord* known = nullptr;
    for (const ActionWord& w : words) {
      if (w.word == name) known = &w;
    }
    if (!known) {
      std::string list;
      for (const ActionWord& w : words) {
        list += (list.empty() ? "" : ", ") + std::string(w.word) + (w.value == ValueKind::kNone ? "" : "=");
      }
      return Status::InvalidArgument("action", "'" + word.substr(0, 80) + "' is not a known action (" + list + ")");
    }
    StepAction act{std::string(known->action), 0, std::string(known->word), known->value};
    if (known->value != ValueKind::kNone) {
      if (eq == std::string::npos) return Status::InvalidArgument("action", "'" + word + "' needs a value");
      Result<int64_t> v = ParseActionValue(known->value, std::string_view(word).substr(eq + 1));
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
