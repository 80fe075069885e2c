// Diagnostics: what policy parsing found wrong, each with the file:line it
// came from. Parsing never stops at the first problem (systemd's tolerant
// style): it drops the assignment and records why.
#pragma once

#include <string>
#include <vector>

namespace vc::policy {

/// Where a value came from: "/etc/virt-converge/policy.d/50-x.conf", 12.
/// An empty file means the built-in default.
struct Origin {
  std::string file;
  int line = 0;
  bool is_default() const { return file.empty(); }
  /// "file:line", or "default".
  std::string ToString() const;
};

struct Diagnostic {
  Origin where;
  std::string message;
  /// "50-x.conf:12: Unknown key 'Foo' in section [Stall], ignoring."
  std::string ToString() const;
};

using Diagnostics = std::vector<Diagnostic>;

}  // namespace vc::policy
