// Parsing and printing the value types of policy files.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "src/base/status.h"
#include "src/policy/policy.h"

namespace vc::policy {

Result<bool> ParseBool(std::string_view v);          // yes/no, true/false, on/off, 1/0
Result<int64_t> ParsePercent(std::string_view v);    // "25%" or "25"
Result<int64_t> ParseCount(std::string_view v);      // a non-negative integer
Result<Range> ParseRange(std::string_view v, bool bytes);  // "1GiB..64GiB", "4..", "..8"
Result<Compression> ParseCompression(std::string_view v);
Result<FinalAction> ParseFinalAction(std::string_view v);
Result<DestinationMode> ParseDestinationMode(std::string_view v);
Result<BandwidthSplit> ParseBandwidthSplit(std::string_view v);
Result<DataUnit> ParseDataUnit(std::string_view v);

std::string FormatBool(bool v);
std::string FormatCompression(Compression c);
std::string FormatFinalAction(FinalAction a);
std::string FormatDestinationMode(DestinationMode m);
std::string FormatBandwidthSplit(BandwidthSplit b);
std::string FormatDataUnit(DataUnit u);
/// Exact forms that parse back: "64MiB", "1500ms", "32MiB/s".
std::string FormatSizeExact(uint64_t bytes);
std::string FormatMillisExact(int64_t ms);
std::string FormatRateExact(uint64_t bytes_per_second);

}  // namespace vc::policy
