#include "src/policy/diagnostics.h"

namespace vc::policy {

std::string Origin::ToString() const {
  if (file.empty()) return "default";
  return line > 0 ? file + ":" + std::to_string(line) : file;
}

std::string Diagnostic::ToString() const { return where.ToString() + ": " + message; }

}  // namespace vc::policy
