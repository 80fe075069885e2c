#include "src/policy/action_words.h"

#include "src/base/units.h"
#include "src/policy/values.h"

namespace vc::policy {

Result<int64_t> ParseActionValue(ValueKind k, std::string_view text) {
  switch (k) {
    case ValueKind::kNone: break;
    case ValueKind::kMillis: return ParseMillis(text);
    case ValueKind::kRate: {
      Result<uint64_t> r = ParseBytesPerSecond(text);
      if (!r.ok()) return r.status();
      return static_cast<int64_t>(*r);
    }
    case ValueKind::kPercent: return ParsePercent(text);
    case ValueKind::kBool: {
      Result<bool> b = ParseBool(text);
      if (!b.ok()) return b.status();
      return *b ? 1 : 0;
    }
    case ValueKind::kSize: {
      Result<uint64_t> r = ParseBytes(text);
      if (!r.ok()) return r.status();
      return static_cast<int64_t>(*r);
    }
  }
  return Status::InvalidArgument("value", "this action takes none");
}

std::string FormatActionValue(ValueKind k, int64_t v) {
  switch (k) {
    case ValueKind::kNone: return "";
    case ValueKind::kMillis: return FormatMillisExact(v);
    case ValueKind::kRate: return FormatRateExact(static_cast<uint64_t>(v));
    case ValueKind::kPercent: return std::to_string(v) + "%";
    case ValueKind::kBool: return FormatBool(v != 0);
    case ValueKind::kSize: return FormatSizeExact(static_cast<uint64_t>(v));
  }
  return "?";
}

std::string ShowActionValue(ValueKind k, int64_t v) {
  switch (k) {
    case ValueKind::kNone: return "";
    case ValueKind::kMillis: return " " + std::to_string(v) + " ms";
    case ValueKind::kRate: return " " + FormatRate(static_cast<double>(v));
    case ValueKind::kPercent: return " " + std::to_string(v) + "%";
    case ValueKind::kBool: return " " + FormatBool(v != 0);
    case ValueKind::kSize: return " " + FormatBytes(static_cast<double>(v));
  }
  return "";
}

}  // namespace vc::policy
