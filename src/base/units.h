// Human units: parsing "64MiB", "1Gbit/s", "500ms" and printing sizes.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "src/base/status.h"

namespace vc {

/// "1536", "64K", "64KiB", "2M", "1.5GiB", "1G" (all powers of 1024).
Result<uint64_t> ParseBytes(std::string_view text);
/// "32MiB/s", "32M", "1Gbit/s", "100Mbit/s" (bit rates are powers of 1000,
/// as network people say them). Returns bytes per second.
Result<uint64_t> ParseBytesPerSecond(std::string_view text);
/// "500ms", "2s", "1.5s", "3min", "250" (milliseconds). Returns milliseconds.
Result<int64_t> ParseMillis(std::string_view text);

/// "0 B", "512.0 KiB", "31.2 MiB", "1.50 GiB".
std::string FormatBytes(double bytes);
/// FormatBytes(bytes_per_second) + "/s".
std::string FormatRate(double bytes_per_second);
/// \a v with \a digits after the point: FormatFixed(0.853, 2) = "0.85".
std::string FormatFixed(double v, int digits);
/// "850 ms", "12.3 s", "4 min 5 s".
std::string FormatMillis(double ms);
/// Seconds since the epoch as local time, "2026-12-05 10:40:11"; "-" for 0.
std::string FormatLocalTime(double epoch_seconds);

}  // namespace vc
