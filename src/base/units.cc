#include "src/base/units.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>

namespace vc {
namespace {

struct Suffix {
  std::string_view name;
  double factor;
};

// Splits "1.5GiB" into 1.5 and "GiB"; fails on no number or trailing junk
// inside the number.
bool SplitNumber(std::string_view text, double* number, std::string_view* suffix) {
  std::string s(text);
  size_t start = s.find_first_not_of(" \t");
  if (start == std::string::npos) return false;
  const char* begin = s.c_str() + start;
  char* end = nullptr;
  double v = std::strtod(begin, &end);
  if (end == begin || !std::isfinite(v) || v < 0 || *begin == '-') return false;
  size_t used = static_cast<size_t>(end - s.c_str());
  std::string_view rest = text.substr(used);
  while (!rest.empty() && (rest.front() == ' ' || rest.front() == '\t')) rest.remove_prefix(1);
  while (!rest.empty() && (rest.back() == ' ' || rest.back() == '\t')) rest.remove_suffix(1);
  *number = v;
  *suffix = rest;
  return true;
}

template <size_t N>
Result<double> Scale(std::string_view what, std::string_view text, const Suffix (&table)[N]) {
  double number = 0;
  std::string_view suffix;
  if (!SplitNumber(text, &number, &suffix)) {
    return Status::InvalidArgument(what, "'" + std::string(text) + "' is not a number");
  }
  for (const Suffix& s : table) {
    if (s.name == suffix) return number * s.factor;
  }
  return Status::InvalidArgument(what, "'" + std::string(text) + "' has an unknown unit '" +
                                           std::string(suffix) + "'");
}

constexpr double kKi = 1024.0, kMi = kKi * 1024, kGi = kMi * 1024, kTi = kGi * 1024;

const Suffix kByteSuffixes[] = {
    {"", 1},       {"B", 1},      {"K", kKi},    {"KiB", kKi}, {"M", kMi},
    {"MiB", kMi},  {"G", kGi},    {"GiB", kGi},  {"T", kTi},   {"TiB", kTi},
};

const Suffix kRateSuffixes[] = {
    {"", 1},           {"B/s", 1},          {"K", kKi},          {"KiB/s", kKi},
    {"M", kMi},        {"MiB/s", kMi},      {"G", kGi},          {"GiB/s", kGi},
    {"bit/s", 1 / 8.0}, {"Kbit/s", 1e3 / 8}, {"Mbit/s", 1e6 / 8}, {"Gbit/s", 1e9 / 8},
};

const Suffix kTimeSuffixes[] = {
    {"", 1}, {"ms", 1}, {"s", 1000}, {"sec", 1000}, {"min", 60000}, {"h", 3600000},
};

}  // namespace

Result<uint64_t> ParseBytes(std::string_view text) {
  Result<double> v = Scale("size", text, kByteSuffixes);
  if (!v.ok()) return v.status();
  if (*v >= 1.8e19) return Status::InvalidArgument("size", "'" + std::string(text) + "' is too large");
  return static_cast<uint64_t>(std::llround(*v));
}

Result<uint64_t> ParseBytesPerSecond(std::string_view text) {
  Result<double> v = Scale("rate", text, kRateSuffixes);
  if (!v.ok()) return v.status();
  if (*v >= 1.8e19) return Status::InvalidArgument("rate", "'" + std::string(text) + "' is too large");
  return static_cast<uint64_t>(std::llround(*v));
}

Result<int64_t> ParseMillis(std::string_view text) {
  Result<double> v = Scale("duration", text, kTimeSuffixes);
  if (!v.ok()) return v.status();
  if (*v >= 9.2e15) return Status::InvalidArgument("duration", "'" + std::string(text) + "' is too long");
  return static_cast<int64_t>(std::llround(*v));
}

std::string FormatBytes(double bytes) {
  char buf[64];
  if (bytes < 1024) {
    std::snprintf(buf, sizeof buf, "%.0f B", bytes);
  } else if (bytes < kMi) {
    std::snprintf(buf, sizeof buf, "%.1f KiB", bytes / kKi);
  } else if (bytes < kGi) {
    std::snprintf(buf, sizeof buf, "%.1f MiB", bytes / kMi);
  } else {
    std::snprintf(buf, sizeof buf, "%.2f GiB", bytes / kGi);
  }
  return buf;
}

std::string FormatRate(double bytes_per_second) { return FormatBytes(bytes_per_second) + "/s"; }

std::string FormatFixed(double v, int digits) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

std::string FormatMillis(double ms) {
  char buf[64];
  if (ms < 1000) {
    std::snprintf(buf, sizeof buf, "%.0f ms", ms);
  } else if (ms < 60000) {
    std::snprintf(buf, sizeof buf, "%.1f s", ms / 1000);
  } else {
    std::snprintf(buf, sizeof buf, "%.0f min %.0f s", std::floor(ms / 60000),
                  std::fmod(ms, 60000) / 1000);
  }
  return buf;
}

std::string FormatLocalTime(double epoch_seconds) {
  if (epoch_seconds <= 0) return "-";
  const time_t s = static_cast<time_t>(epoch_seconds);
  struct tm tm {};
  localtime_r(&s, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm);
  return buf;
}

}  // namespace vc
