#include "src/policy/values.h"

#include <cstdlib>

#include "src/base/units.h"

namespace vc::policy {
namespace {

std::string Quote(std::string_view v) { return "'" + std::string(v.substr(0, 120)) + "'"; }

template <typename E, size_t N>
Result<E> ParseEnum(std::string_view v, const std::pair<std::string_view, E> (&table)[N],
                    const char* what) {
  std::string allowed;
  for (const auto& [name, value] : table) {
    if (v == name) return value;
    allowed += (allowed.empty() ? "" : ", ") + std::string(name);
  }
  return Status::InvalidArgument(what, Quote(v) + " is not one of " + allowed);
}

template <typename E, size_t N>
std::string FormatEnum(E e, const std::pair<std::string_view, E> (&table)[N]) {
  for (const auto& [name, value] : table)
    if (value == e) return std::string(name);
  return "?";
}

constexpr std::pair<std::string_view, Compression> kCompressions[] = {
    {"none", Compression::kNone}, {"xbzrle", Compression::kXbzrle},
    {"zlib", Compression::kZlib}, {"zstd", Compression::kZstd}};
constexpr std::pair<std::string_view, FinalAction> kFinalActions[] = {
    {"none", FinalAction::kNone},
    {"abort", FinalAction::kAbort},
    {"postcopy", FinalAction::kPostcopy},
    {"pause", FinalAction::kPause},
    {"postcopy-or-pause", FinalAction::kPostcopyOrPause}};
constexpr std::pair<std::string_view, BandwidthSplit> kBandwidthSplits[] = {
    {"equal", BandwidthSplit::kEqual},
    {"closest-first", BandwidthSplit::kClosestFirst},
    {"static", BandwidthSplit::kStatic}};
constexpr std::pair<std::string_view, DestinationMode> kDestinationModes[] = {
    {"refuse", DestinationMode::kRefuse},
    {"adapt", DestinationMode::kAdapt},
    {"ignore", DestinationMode::kIgnore}};
constexpr std::pair<std::string_view, DataUnit> kDataUnits[] = {
    {"GiB", DataUnit::kGiB}, {"GB-rounded-up", DataUnit::kGBRoundedUp}};

}  // namespace

Result<bool> ParseBool(std::string_view v) {
  if (v == "yes" || v == "true" || v == "on" || v == "1") return true;
  if (v == "no" || v == "false" || v == "off" || v == "0") return false;
  return Status::InvalidArgument("boolean", Quote(v) + " is not yes or no");
}

Result<int64_t> ParseCount(std::string_view v) {
  if (v.empty() || v.size() > 18) return Status::InvalidArgument("number", Quote(v) + " is not a number");
  int64_t n = 0;
  for (char c : v) {
    if (c < '0' || c > '9') return Status::InvalidArgument("number", Quote(v) + " is not a whole number");
    n = n * 10 + (c - '0');
  }
  return n;
}

Result<int64_t> ParsePercent(std::string_view v) {
  if (!v.empty() && v.back() == '%') v.remove_suffix(1);
  Result<int64_t> n = ParseCount(v);
  if (!n.ok() || *n > 100) return Status::InvalidArgument("percentage", Quote(v) + " is not 0%..100%");
  return *n;
}

Result<Range> ParseRange(std::string_view v, bool bytes) {
  size_t dots = v.find("..");
  std::string_view lo = dots == std::string_view::npos ? v : v.substr(0, dots);
  std::string_view hi = dots == std::string_view::npos ? v : v.substr(dots + 2);
  auto one = [&](std::string_view s) -> Result<uint64_t> {
    if (bytes) return ParseBytes(s);
    Result<int64_t> n = ParseCount(s);
    if (!n.ok()) return n.status();
    return static_cast<uint64_t>(*n);
  };
  Range r;
  if (!lo.empty()) {
    Result<uint64_t> x = one(lo);
    if (!x.ok()) return Status::InvalidArgument("range", Quote(v) + ": " + x.status().message());
    r.min = *x;
  }
  if (!hi.empty()) {
    Result<uint64_t> x = one(hi);
    if (!x.ok()) return Status::InvalidArgument("range", Quote(v) + ": " + x.status().message());
    r.max = *x;
  }
  if (!r.min && !r.max) return Status::InvalidArgument("range", Quote(v) + " has no bound");
  if (r.min && r.max && *r.min > *r.max) {
    return Status::InvalidArgument("range", Quote(v) + " is empty (lower bound above upper)");
  }
  return r;
}

Result<Compression> ParseCompression(std::string_view v) { return ParseEnum(v, kCompressions, "compression"); }
Result<FinalAction> ParseFinalAction(std::string_view v) { return ParseEnum(v, kFinalActions, "action"); }
Result<DestinationMode> ParseDestinationMode(std::string_view v) {
  return ParseEnum(v, kDestinationModes, "destination mode");
}
Result<BandwidthSplit> ParseBandwidthSplit(std::string_view v) {
  return ParseEnum(v, kBandwidthSplits, "bandwidth split");
}
Result<DataUnit> ParseDataUnit(std::string_view v) { return ParseEnum(v, kDataUnits, "data unit"); }

std::string FormatBool(bool v) { return v ? "yes" : "no"; }
std::string FormatCompression(Compression c) { return FormatEnum(c, kCompressions); }
std::string FormatFinalAction(FinalAction a) { return FormatEnum(a, kFinalActions); }
std::string FormatDestinationMode(DestinationMode m) { return FormatEnum(m, kDestinationModes); }
std::string FormatBandwidthSplit(BandwidthSplit b) { return FormatEnum(b, kBandwidthSplits); }
std::string FormatDataUnit(DataUnit u) { return FormatEnum(u, kDataUnits); }

std::string FormatSizeExact(uint64_t b) {
  const char* units[] = {"", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  while (u < 4 && b >= 1024 && b % 1024 == 0) {
    b /= 1024;
    u++;
  }
  return std::to_string(b) + units[u];
}

std::string FormatMillisExact(int64_t ms) {
  if (ms != 0 && ms % 1000 == 0) return std::to_string(ms / 1000) + "s";
  return std::to_string(ms) + "ms";
}

std::string FormatRateExact(uint64_t bps) {
  if (bps == 0) return "0";
  if (bps % 125000 == 0 && bps % (1 << 20) != 0) {
    return bps % 125000000 == 0 ? std::to_string(bps / 125000000) + "Gbit/s"
                                : std::to_string(bps / 125000) + "Mbit/s";
  }
  return FormatSizeExact(bps) + (bps % 1024 == 0 ? "/s" : "B/s");
}

}  // namespace vc::policy
