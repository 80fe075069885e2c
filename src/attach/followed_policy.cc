#include "src/attach/followed_policy.h"

#include <sys/inotify.h>

#include <ctime>

#include "plugins/action.h"
#include "src/base/units.h"
#include "src/control/policy_facts.h"
#include "src/policy/dropins.h"
#include "src/state/migration_record.h"
#include "src/state/switchover_memory.h"

namespace vc {

FollowedPolicy::FollowedPolicy(std::string root, StatePaths paths, std::string peer, LiveView& view)
    : root_(std::move(root)), paths_(std::move(paths)), peer_(std::move(peer)), view_(view) {}

policy::Resolved FollowedPolicy::Resolve(const BackendFacts& facts, uint64_t ram_total) {
  policy::VmFacts vm = PolicyFacts(facts, [this](const std::string& line) { view_.Message("policy warning: " + line); });
  // The migration's RAM total when QEMU reports it; during setup the
  // guest's memory size (query-memory-size-summary, the domain XML) stands in.
  if (ram_total) vm.memory = ram_total;
  policy::Resolved r = root_.empty() ? policy::ResolveBuiltinOnly(StepVocabulary()) : policy::Resolve(root_, vm, StepVocabulary());
  for (const policy::Diagnostic& d : r.diagnostics) view_.Message("policy warning: " + d.ToString());
  return r;
}

std::string FollowedPolicy::Describe(const policy::Resolved& r) const {
  if (root_.empty()) return "the built-in default policy (--no-policy)";
  if (r.applied.empty()) return "the built-in default policy (no policy files under " + root_ + ")";
  return "policy (the built-in default and " + std::to_string(r.applied.size()) + " file" +
         (r.applied.size() == 1 ? "" : "s") + " under " + root_ + ")";
}

PolicyReaction& FollowedPolicy::Choose(const BackendFacts& facts, uint64_t ram_total) {
  policy::Resolved r = Resolve(facts, ram_total);
  for (const std::string& f : r.applied) view_.Message("policy file: " + f);
  shown_ = policy::Show(r.policy);
  SwitchoverSpeed learned = Learned(r.policy);
  HistoryStart history = FromHistory(r.policy, facts);
  std::string desc = Describe(r);
  reaction_ = std::make_unique<PolicyReaction>(std::move(r.policy), std::move(desc), std::move(learned),
                                               std::move(history));
  return *reaction_;
}

bool FollowedPolicy::Reload(const BackendFacts& facts, uint64_t ram_total, const std::string& why) {
  if (root_.empty() || !reaction_) return false;
  policy::Resolved r = Resolve(facts, ram_total);
  std::vector<policy::ShownSetting> now = policy::Show(r.policy);
  std::string changes;
  for (size_t i = 0; i < now.size(); i++) {
    const policy::ShownSetting* old = i < shown_.size() ? &shown_[i] : nullptr;
    if (old && old->value == now[i].value) continue;
    changes += "\n    " + now[i].key + ": " + (old ? old->value : "?") + " -> " + now[i].value + " (" +
               now[i].origin.ToString() + ")";
  }
  shown_ = now;
  SwitchoverSpeed learned = Learned(r.policy);
  std::string desc = Describe(r);
  reaction_->Reload(std::move(r.policy), std::move(desc), std::move(learned));
  view_.Message("policy reloaded (" + why + ")" + (changes.empty() ? ": nothing changed" : ":" + changes));
  return true;
}

void FollowedPolicy::Watch(sd_event* e, std::function<void()> on_change) {
  if (root_.empty() || !e) return;
  files_.Start(e, policy::PolicyDirectories(root_), IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE | IN_CREATE,
               200000, std::move(on_change));
}

namespace {

// Whether \a p learns the switch-over speed here: it asks to, states none,
// and the host keeps state.
bool Learns(const policy::Policy& p, const StatePaths& paths) {
  return p.learn_switchover.value && !p.switchover_bandwidth.value && !paths.state_dir().empty();
}

}  // namespace

std::optional<LearnedSwitchover> RecallSwitchover(const policy::Policy& p, const StatePaths& paths,
                                                  const std::string& peer) {
  if (!Learns(p, paths)) return std::nullopt;
  return SwitchoverMemory(paths).Recall(SwitchoverMemory::KeyOf(peer), static_cast<int64_t>(std::time(nullptr)));
}

SwitchoverSpeed FollowedPolicy::Learned(const policy::Policy& p) {
  if (!Learns(p, paths_)) return {};
  const std::string key = SwitchoverMemory::KeyOf(peer_);
  std::optional<LearnedSwitchover> learned = RecallSwitchover(p, paths_, peer_);
  if (!learned) {
    if (!told_learned_) view_.Message("switch-over bandwidth: nothing learned yet for " + key);
    told_learned_ = true;
    return {};
  }
  SwitchoverSpeed speed = SwitchoverSpeed::Learned(learned->copies);
  if (!told_learned_) {
    view_.Message("switch-over bandwidth: " + speed.Describe() + " to " + key + " (" + learned->path +
                  "): " + SwitchoverSpeed::kLearnedRule);
  }
  told_learned_ = true;
  return speed;
}

HistoryStart FollowedPolicy::FromHistory(const policy::Policy& p, const BackendFacts& facts) {
  if (!p.from_history.value) return {};
  const std::string say = "from history (FromHistory=yes): ";
  if (paths_.state_dir().empty()) {
    view_.Message(say + "nothing, this host keeps no state directory");
    return {};
  }
  if (facts.vm_name.empty()) {
    view_.Message(say + "nothing, the VM has no name to find its history by");
    return {};
  }
  Result<MigrationRecord> last = FindHistoryRecord(paths_, facts.vm_name, "out");
  if (!last.ok()) {
    view_.Message(say + "nothing, no earlier migration of " + facts.vm_name + " from this host is recorded");
    return {};
  }
  const MigrationSummary* outcome = last->outcome ? &*last->outcome : nullptr;
  std::string source = "the last migration of " + facts.vm_name + " (" + FormatLocalTime(last->started_at);
  if (outcome) {
    source += ", " + outcome->code;
    if (outcome->total_time_ms) source += " in " + FormatMillis(static_cast<double>(*outcome->total_time_ms));
  }
  source += ")";
  // A history record keeps the actions once, as its own.
  HistoryStart h = HistoryStart::From(last->actions, outcome && outcome->postcopy, p, source);
  view_.Message(say + source + " ended with " + h.Describe() +
                (h.empty() ? ": this one starts as the policy says" : ": this one starts there"));
  return h;
}

void FollowedPolicy::RememberSwitchover(const SwitchoverCopy& copy) {
  if (paths_.state_dir().empty()) return;
  SwitchoverObservation o;
  o.unix_seconds = static_cast<int64_t>(std::time(nullptr));
  o.copy = copy;
  const std::string key = SwitchoverMemory::KeyOf(peer_);
  Status st = SwitchoverMemory(paths_).Remember(key, o);
  if (!st.ok()) {
    view_.Message("could not remember the switch-over speed: " + st.ToString());
  } else if (SwitchoverMemory::Keeps(o.copy)) {
    const std::string never_sent =
        o.copy.never_sent ? "; " + FormatBytes(static_cast<double>(*o.copy.never_sent)) + " of it never sent before" : "";
    view_.Message("switch-over: " + FormatBytes(static_cast<double>(o.copy.bytes)) + " in " +
                  std::to_string(o.copy.downtime_ms) + " ms (" + FormatRate(o.copy.rate()) + never_sent +
                  "), remembered for " + key);
  }
}

}  // namespace vc
