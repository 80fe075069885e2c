#include "src/hostfit/cpuset.h"

#include <charconv>

namespace vc {
namespace {

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\n')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\n')) s.remove_suffix(1);
  return s;
}

bool Number(std::string_view s, unsigned* out) {
  s = Trim(s);
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return !s.empty() && ec == std::errc() && end == s.data() + s.size() && *out <= kMaxCpu;
}

}  // namespace

Result<CpuSet> ParseCpuSet(std::string_view text) {
  CpuSet set, excluded;
  if (Trim(text).empty()) return Status::InvalidArgument("cpuset", "empty");
  size_t start = 0;
  while (start <= text.size()) {
    size_t comma = text.find(',', start);
    std::string_view item = Trim(text.substr(start, comma == std::string_view::npos ? text.npos : comma - start));
    start = comma == std::string_view::npos ? text.size() + 1 : comma + 1;
    bool exclude = !item.empty() && item.front() == '^';
    if (exclude) item.remove_prefix(1);
    unsigned lo = 0, hi = 0;
    size_t dash = item.find('-');
    bool ok = dash == std::string_view::npos ? Number(item, &lo) && (hi = lo, true)
                                             : Number(item.substr(0, dash), &lo) && Number(item.substr(dash + 1), &hi) && lo <= hi;
    if (!ok || (exclude && dash != std::string_view::npos)) {
      return Status::InvalidArgument("cpuset '" + std::string(text) + "'", "bad item '" + std::string(item) + "'");
    }
    for (unsigned c = lo; c <= hi; c++) (exclude ? excluded : set).insert(c);
  }
  for (unsigned c : excluded) set.erase(c);
  return set;
}

std::string FormatCpuSet(const CpuSet& set) {
  std::string out;
  for (auto it = set.begin(); it != set.end();) {
    unsigned lo = *it, hi = lo;
    for (++it; it != set.end() && *it == hi + 1; ++it) hi = *it;
    if (!out.empty()) out += ",";
    out += std::to_string(lo);
    if (hi > lo) out += "-" + std::to_string(hi);
  }
  return out;
}

}  // namespace vc
