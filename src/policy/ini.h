// The systemd-style INI dialect of policy files.
//
//   # comment            ; comment too
//   [Section]
//   Key=value            (spaces around '=' and at the ends are trimmed)
//   Key=a long \      (a trailing backslash continues the line:
//       value           "a long value")
//
// Tolerant: a line it cannot use is reported with file:line and skipped.
// Bounded: a file over kMaxFileBytes, a logical line over kMaxLineBytes, a
// NUL byte, or more than kMaxAssignments are reported, never read on.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "src/policy/diagnostics.h"

namespace vc::policy {

inline constexpr size_t kMaxFileBytes = 1 << 20;
inline constexpr size_t kMaxLineBytes = 64 << 10;
inline constexpr size_t kMaxAssignments = 10000;

struct Assignment {
  std::string section, key, value;
  Origin origin;
};

struct IniFile {
  std::vector<Assignment> assignments;  // in file order
};

/// Parses \a text, the contents of \a file_name.
IniFile ParseIni(std::string_view text, const std::string& file_name, Diagnostics* diags);

/// Reads and parses a file: only regular files, at most kMaxFileBytes.
IniFile ReadIni(const std::string& path, Diagnostics* diags);

}  // namespace vc::policy
