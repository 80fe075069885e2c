#include "src/policy/resolve.h"

#include <functional>

#include "src/base/units.h"
#include "src/policy/builtin_default.h"
#include "src/policy/dropins.h"
#include "src/policy/values.h"

namespace vc::policy {
namespace {

// One row of the key table: how a Key= value is applied and shown.
struct Key {
  std::string_view section, name;
  std::function<Status(Policy&, const Assignment&, ActionVocabulary)> apply;
  std::function<ShownSetting(const Policy&)> show;
};

template <typename T, typename Parse, typename Format>
Key Scalar(std::string_view section, std::string_view name, Setting<T> Policy::*member, Parse parse,
           Format format) {
  return Key{section, name,
             [member, parse](Policy& p, const Assignment& a, ActionVocabulary) -> Status {
               auto v = parse(a.value);
               if (!v.ok()) return v.status();
               (p.*member).Set(static_cast<T>(*v), a.origin);
               return Status::Ok();
             },
             [member, format, section, name](const Policy& p) {
               return ShownSetting{std::string(section) + "." + std::string(name),
                                   format((p.*member).value), (p.*member).origin};
             }};
}

// Value parsers with the bounds of each key, so a bad value names its range.
auto Percent(int64_t lo, int64_t hi) {
  return [lo, hi](std::string_view v) -> Result<int64_t> {
    Result<int64_t> p = ParsePercent(v);
    if (!p.ok() || *p < lo || *p > hi) {
      return Status::InvalidArgument("'" + std::string(v) + "' is not " + std::to_string(lo) +
                                     "%.." + std::to_string(hi) + "%");
    }
    return *p;
  };
}
auto Count(int64_t lo, int64_t hi) {
  return [lo, hi](std::string_view v) -> Result<int64_t> {
    Result<int64_t> n = ParseCount(v);
    if (!n.ok() || *n < lo || *n > hi) {
      return Status::InvalidArgument("'" + std::string(v) + "' is not a number in " +
                                     std::to_string(lo) + ".." + std::to_string(hi));
    }
    return *n;
  };
}
auto Millis(int64_t lo, int64_t hi) {
  return [lo, hi](std::string_view v) -> Result<int64_t> {
    Result<int64_t> ms = ParseMillis(v);
    if (!ms.ok()) return ms.status();
    if (*ms < lo || *ms > hi) {
      return Status::InvalidArgument("'" + std::string(v) + "' is outside " + FormatMillisExact(lo) +
                                     ".." + FormatMillisExact(hi));
    }
    return *ms;
  };
}
auto PerGiB() {
  // "64s" or "64s/GiB": time per GiB.
  return [](std::string_view v) -> Result<int64_t> {
    if (v.size() > 4 && v.substr(v.size() - 4) == "/GiB") v.remove_suffix(4);
    return Millis(0, 86400000)(v);
  };
}
Result<uint64_t> Bytes(std::string_view v) { return ParseBytes(v); }
Result<uint64_t> Rate(std::string_view v) { return ParseBytesPerSecond(v); }

std::string ShowPercent(int64_t v) { return std::to_string(v) + "%"; }
std::string ShowCount(int64_t v) { return std::to_string(v); }
std::string ShowPerGiB(int64_t v) { return FormatMillisExact(v) + "/GiB"; }

const std::vector<Key>& Keys() {
  static const std::vector<Key> keys = {
      Scalar("Start", "AutoConverge", &Policy::auto_converge, ParseBool, FormatBool),
      Scalar("Start", "ThrottleInitial", &Policy::throttle_initial, Percent(1, 99), ShowPercent),
      Scalar("Start", "ThrottleIncrement", &Policy::throttle_increment, Percent(1, 99), ShowPercent),
      Scalar("Start", "ThrottleTailslow", &Policy::throttle_tailslow, ParseBool, FormatBool),
      Scalar("Start", "ThrottleMax", &Policy::throttle_max, Percent(1, 99), ShowPercent),
      Scalar("Start", "Compression", &Policy::compression, ParseCompression, FormatCompression),
      Scalar("Start", "XbzrleCacheSize", &Policy::xbzrle_cache, Bytes, FormatSizeExact),
      Scalar("Start", "CompressionLevel", &Policy::compression_level, Count(0, 20), ShowCount),
      Scalar("Start", "MultifdChannels", &Policy::multifd_channels, Count(0, 255), ShowCount),
      Scalar("Start", "Postcopy", &Policy::postcopy, ParseBool, FormatBool),
      Scalar("Start", "PostcopyPreempt", &Policy::postcopy_preempt, ParseBool, FormatBool),
      Scalar("Start", "DirtyLimit", &Policy::dirty_limit, ParseBool, FormatBool),
      Scalar("Start", "Bandwidth", &Policy::bandwidth, Rate, FormatRateExact),
      Scalar("Start", "PostcopyBandwidth", &Policy::postcopy_bandwidth, Rate, FormatRateExact),
      Scalar("Start", "Downtime", &Policy::downtime, Millis(0, 2000000), FormatMillisExact),
      Scalar("Start", "FromHistory", &Policy::from_history, ParseBool, FormatBool),
      Scalar("Stall", "Tolerance", &Policy::tolerance, Percent(0, 50), ShowPercent),
      Scalar("Stall", "Passes", &Policy::stall_passes, Count(1, 1000), ShowCount),
      Scalar("Stall", "Time", &Policy::stall_time, Millis(0, 86400000), FormatMillisExact),
      Scalar("Budget", "PerGiB", &Policy::budget_per_gib, PerGiB(), ShowPerGiB),
      Scalar("Budget", "PerDiskGiB", &Policy::budget_per_disk_gib, PerGiB(), ShowPerGiB),
      Scalar("Budget", "Minimum", &Policy::budget_minimum, Millis(0, 86400000), FormatMillisExact),
      Scalar("Budget", "Copies", &Policy::budget_copies, Count(0, 100), ShowCount),
      Scalar("Budget", "DataFloor", &Policy::data_floor, Bytes, FormatSizeExact),
      Scalar("Budget", "DataUnit", &Policy::data_unit, ParseDataUnit, FormatDataUnit),
      Scalar("Budget", "Action", &Policy::final_action, ParseFinalAction, FormatFinalAction),
      Key{"Schedule", "Step",
          [](Policy& p, const Assignment& a, ActionVocabulary words) -> Status {
            if (a.value.empty()) {  // an empty assignment resets the list
              p.steps.Set({}, a.origin);
              return Status::Ok();
            }
            Result<Step> s = ParseStep(a.value, words);
            if (!s.ok()) return s.status();
            s->origin = a.origin;
            p.steps.value.push_back(*s);
            p.steps.origin = a.origin;
            return Status::Ok();
          },
          [](const Policy& p) {
            std::string v;
            for (const Step& s : p.steps.value) v += (v.empty() ? "" : "; ") + s.ToString();
            return ShownSetting{"Schedule.Step", v, p.steps.origin};
          }},
      Scalar("Adaptive", "Enabled", &Policy::adaptive, ParseBool, FormatBool),
      Scalar("Adaptive", "MaxDowntime", &Policy::adaptive_max_downtime, Millis(1, 2000000), FormatMillisExact),
      Scalar("Adaptive", "SwitchoverBandwidth", &Policy::switchover_bandwidth, Rate, FormatRateExact),
      Scalar("Adaptive", "LearnSwitchoverBandwidth", &Policy::learn_switchover, ParseBool, FormatBool),
      Scalar("Adaptive", "Throttle", &Policy::adaptive_throttle, ParseBool, FormatBool),
      Scalar("Adaptive", "MaxThrottle", &Policy::adaptive_max_throttle, Percent(1, 99), ShowPercent),
      Scalar("Adaptive", "DirtyLimit", &Policy::adaptive_dirty_limit, ParseBool, FormatBool),
      Scalar("Adaptive", "Patience", &Policy::adaptive_patience, Count(1, 100), ShowCount),
      Scalar("Adaptive", "Escalate", &Policy::adaptive_escalate, ParseFinalAction, FormatFinalAction),
      Scalar("Adaptive", "EarlyPostcopy", &Policy::adaptive_early_postcopy, ParseBool, FormatBool),
      Scalar("Control", "AllowPassthrough", &Policy::allow_passthrough, ParseBool, FormatBool),
      Scalar("Host", "OutgoingBandwidth", &Policy::host_bandwidth, Rate, FormatRateExact),
      Scalar("Host", "BandwidthSplit", &Policy::bandwidth_split, ParseBandwidthSplit, FormatBandwidthSplit),
      Scalar("Host", "CostBudget", &Policy::cost_budget, Count(1, 1000), ShowCount),
      Scalar("Host", "IncomingMax", &Policy::incoming_max, Count(0, 1000), ShowCount),
      Scalar("Host", "IncomingCost", &Policy::incoming_cost, Count(0, 1000), ShowCount),
      Scalar("Host", "Destination", &Policy::destination, ParseDestinationMode, FormatDestinationMode),
      Scalar("Host", "AllowNonMigratableCpu", &Policy::allow_non_migratable_cpu, ParseBool, FormatBool),
  };
  return keys;
}

constexpr std::string_view kMatchKeys[] = {"Name", "UUID", "Memory", "VCPUs", "Pinned",
                                           "NUMA", "Hugepages", "Metadata"};

bool KnownSection(std::string_view s) {
  if (s == "Match") return true;
  for (const Key& k : Keys())
    if (k.section == s) return true;
  return false;
}

void Warn(Diagnostics* d, const Origin& o, std::string msg) { d->push_back({o, std::move(msg)}); }

}  // namespace

void ApplyFile(const IniFile& file, ActionVocabulary words, Policy* p, Diagnostics* diags) {
  for (const Assignment& a : file.assignments) {
    if (a.section == "Match") continue;
    // X- prefixed sections and keys are for the admin's own notes (systemd).
    if (a.section.rfind("X-", 0) == 0 || a.key.rfind("X-", 0) == 0) continue;
    const Key* key = nullptr;
    for (const Key& k : Keys()) {
      if (k.section == a.section && k.name == a.key) key = &k;
    }
    if (!key) {
      Warn(diags, a.origin,
           KnownSection(a.section)
               ? "unknown key '" + a.key + "' in section [" + a.section + "], ignoring."
               : "unknown section [" + a.section + "], ignoring '" + a.key + "='.");
      continue;
    }
    Status st = key->apply(*p, a, words);
    if (!st.ok()) {
      Warn(diags, a.origin,
           "bad value for " + a.section + "." + a.key + "=: " + st.message() + ", ignoring.");
    }
  }
}

Match ParseMatch(const IniFile& file, Diagnostics* diags) {
  Match m;
  for (const Assignment& a : file.assignments) {
    if (a.section != "Match" || a.key.rfind("X-", 0) == 0) continue;
    auto bad = [&](const std::string& why) {
      Warn(diags, a.origin, "bad value for Match." + a.key + "=: " + why + ", ignoring.");
    };
    auto words = [&](std::vector<std::string>* list) {
      if (a.value.empty()) {
        list->clear();
        return;
      }
      size_t i = 0;
      while (i < a.value.size()) {
        size_t j = a.value.find_first_of(" \t", i);
        if (j == std::string::npos) j = a.value.size();
        if (j > i) list->push_back(a.value.substr(i, j - i));
        i = j + 1;
      }
    };
    auto tristate = [&](std::optional<bool>* out) {
      Result<bool> b = ParseBool(a.value);
      if (b.ok()) *out = *b; else bad(b.status().message());
    };
    if (a.key == "Name") {
      words(&m.names);
    } else if (a.key == "UUID") {
      words(&m.uuids);
    } else if (a.key == "Memory" || a.key == "VCPUs") {
      Result<Range> r = ParseRange(a.value, a.key == "Memory");
      if (!r.ok()) bad(r.status().message());
      else (a.key == "Memory" ? m.memory : m.vcpus) = *r;
    } else if (a.key == "Pinned") {
      tristate(&m.pinned);
    } else if (a.key == "NUMA") {
      tristate(&m.numa);
    } else if (a.key == "Hugepages") {
      tristate(&m.hugepages);
    } else if (a.key == "Metadata") {
      if (a.value.empty()) {
        m.metadata.clear();
        continue;
      }
      size_t eq = a.value.find('=');
      if (eq == std::string::npos || eq == 0) bad("'" + a.value + "' is not KEY=VALUE");
      else m.metadata.emplace_back(a.value.substr(0, eq), a.value.substr(eq + 1));
    } else {
      std::string known;
      for (std::string_view k : kMatchKeys) known += (known.empty() ? "" : ", ") + std::string(k);
      Warn(diags, a.origin, "unknown key '" + a.key + "' in section [Match] (known: " + known + "), ignoring.");
    }
  }
  return m;
}

void Validate(Policy* p, Diagnostics* diags) {
  if (p->throttle_max.value < p->throttle_initial.value) {
    Warn(diags, p->throttle_max.origin,
         "Start.ThrottleMax=" + std::to_string(p->throttle_max.value) +
             "% is below Start.ThrottleInitial=" + std::to_string(p->throttle_initial.value) +
             "% (" + p->throttle_initial.origin.ToString() + "); using the defaults 20% and 99%.");
    p->throttle_initial = Setting<int64_t>(20);
    p->throttle_max = Setting<int64_t>(99);
  }
  if (p->compression.value == Compression::kXbzrle && p->multifd_channels.value > 0) {
    Warn(diags, p->compression.origin,
         "Start.Compression=xbzrle cannot be used with multifd (Start.MultifdChannels=" +
             std::to_string(p->multifd_channels.value) + ", " + p->multifd_channels.origin.ToString() +
             "); using no compression.");
    p->compression = Setting<Compression>(Compression::kNone);
  }
  if ((p->compression.value == Compression::kZlib || p->compression.value == Compression::kZstd) &&
      p->multifd_channels.value == 0) {
    Warn(diags, p->compression.origin,
         "Start.Compression=" + FormatCompression(p->compression.value) +
             " is multifd compression but Start.MultifdChannels=0; using no compression.");
    p->compression = Setting<Compression>(Compression::kNone);
  }
  int64_t max_level = p->compression.value == Compression::kZstd ? 20 : 9;
  if (p->compression_level.value > max_level) {
    Warn(diags, p->compression_level.origin,
         "Start.CompressionLevel=" + std::to_string(p->compression_level.value) + " is above " +
             std::to_string(max_level) + " for " + FormatCompression(p->compression.value) +
             "; using 1.");
    p->compression_level = Setting<int64_t>(1);
  }
  uint64_t cache = p->xbzrle_cache.value;
  if (cache < 4096 || (cache & (cache - 1)) != 0) {
    Warn(diags, p->xbzrle_cache.origin,
         "Start.XbzrleCacheSize=" + FormatSizeExact(cache) +
             " is not a power of two of at least 4KiB (QEMU refuses it); using 64MiB.");
    p->xbzrle_cache = Setting<uint64_t>(64ull << 20);
  }
  if (p->stall_time.value == 0 && p->stall_passes.value == 0) {
    Warn(diags, p->stall_time.origin, "Stall.Passes and Stall.Time are both 0; using 3 passes.");
    p->stall_passes = Setting<int64_t>(3);
  }
}

std::vector<ShownSetting> Show(const Policy& p) {
  std::vector<ShownSetting> out;
  for (const Key& k : Keys()) out.push_back(k.show(p));
  return out;
}

Resolved Resolve(const std::string& root, const VmFacts& vm, ActionVocabulary words) {
  Resolved r;
  r.policy = BuiltinDefault(words, &r.diagnostics);
  Result<DropInList> list = ListDropIns(root);
  if (!list.ok()) {
    r.diagnostics.push_back({{"", 0}, list.status().ToString() + "; using the built-in default."});
    Validate(&r.policy, &r.diagnostics);
    return r;
  }
  r.masked = list->masked;
  for (const DropIn& d : list->files) {
    IniFile file = ReadIni(d.path, &r.diagnostics);
    Match m = ParseMatch(file, &r.diagnostics);
    if (!m.empty() && !Matches(m, vm)) {
      r.not_matched.push_back(d.path);
      continue;
    }
    ApplyFile(file, words, &r.policy, &r.diagnostics);
    r.applied.push_back(d.path);
  }
  Validate(&r.policy, &r.diagnostics);
  return r;
}

Resolved ResolveBuiltinOnly(ActionVocabulary words) {
  Resolved r;
  r.policy = BuiltinDefault(words, &r.diagnostics);
  Validate(&r.policy, &r.diagnostics);
  return r;
}

Diagnostics CheckAll(const std::string& root, ActionVocabulary words, std::vector<std::string>* files) {
  Diagnostics diags;
  Result<DropInList> list = ListDropIns(root);
  if (!list.ok()) {
    diags.push_back({{"", 0}, list.status().ToString()});
    return diags;
  }
  Policy all = BuiltinDefault(words, &diags);
  for (const DropIn& d : list->files) {
    if (files) files->push_back(d.path);
    IniFile file = ReadIni(d.path, &diags);
    (void)ParseMatch(file, &diags);
    ApplyFile(file, words, &all, &diags);
  }
  Validate(&all, &diags);
  return diags;
}

}  // namespace vc::policy
