// Resolving the policy of one VM from the drop-ins, and checking them all.
#pragma once

#include <string>
#include <vector>

#include "src/policy/diagnostics.h"
#include "src/policy/ini.h"
#include "src/policy/policy.h"

namespace vc::policy {

/// One shown setting: "Start.Bandwidth", "1Gbit/s", where it came from.
struct ShownSetting {
  std::string key, value;
  Origin origin;
};

struct Resolved {
  Policy policy;
  std::vector<std::string> applied;      // files whose [Match] held (or had none)
  std::vector<std::string> not_matched;  // files skipped by their [Match]
  std::vector<std::string> masked;
  Diagnostics diagnostics;
};

// Every function that reads Step= lines takes the words it knows actions
// by: the plugins' StepVocabulary() (plugins/action.h).

/// Merges onto the built-in default (builtin_default.h), in file-name
/// order, every drop-in under \a root whose [Match] holds for \a vm, then
/// runs the cross-field checks.
Resolved Resolve(const std::string& root, const VmFacts& vm, ActionVocabulary words);
/// The built-in default alone, as `--no-policy` runs it.
Resolved ResolveBuiltinOnly(ActionVocabulary words);

/// Parses every drop-in under \a root, whatever its [Match], and checks the
/// merge of all of them onto the built-in default. Returns every problem; \a files gets what was read.
Diagnostics CheckAll(const std::string& root, ActionVocabulary words, std::vector<std::string>* files);

/// Applies \a file's assignments (outside [Match]) to \a p.
void ApplyFile(const IniFile& file, ActionVocabulary words, Policy* p, Diagnostics* diags);
/// The [Match] section of \a file.
Match ParseMatch(const IniFile& file, Diagnostics* diags);
/// Cross-field checks after a merge; bad combinations fall back to safe
/// defaults, with a warning naming the settings' origins.
void Validate(Policy* p, Diagnostics* diags);
/// Every setting, in the order of the man page, with value and origin.
std::vector<ShownSetting> Show(const Policy& p);

}  // namespace vc::policy
