// The words a [Schedule] Step= names actions by, and how their values are
// written. The actions (plugins/) declare their own words and value kinds;
// this layer, below them, only parses and writes the words it is given.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "src/base/status.h"

namespace vc::policy {

/// What an action's value is, as a policy file writes it.
enum class ValueKind {
  kNone,     // the action takes no value: "abort"
  kMillis,   // "150ms", "2s"
  kRate,     // bytes/s: "32MiB/s", "1Gbit/s"
  kPercent,  // "30%"
  kBool,     // "yes", "no"
  kSize,     // bytes: "128MiB"
};

/// One word of the vocabulary: Step= writes \a word ("downtime=150ms") for
/// the action named \a action ("set-downtime").
struct ActionWord {
  std::string_view word;
  std::string_view action;
  ValueKind value = ValueKind::kNone;
};

/// Every word Step= knows; the strings must outlive whatever parses with it.
using ActionVocabulary = std::span<const ActionWord>;

/// Parses the text after "word=" as a value of kind \a k (not kNone).
Result<int64_t> ParseActionValue(ValueKind k, std::string_view text);
/// Writes \a v as a policy file would, exactly: "150ms", "32MiB/s", "30%".
std::string FormatActionValue(ValueKind k, int64_t v);
/// Shows \a v to a person, after the action's name: " 150 ms",
/// " 32.0 MiB/s", " 30%"; "" for kNone.
std::string ShowActionValue(ValueKind k, int64_t v);

}  // namespace vc::policy
