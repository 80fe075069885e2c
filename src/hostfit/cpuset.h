// CpuSet: a set of host CPU (or NUMA node) numbers in libvirt's and the
// kernel's list syntax: "0-3,8", with libvirt's "^2" exclusions.
#pragma once

#include <set>
#include <string>
#include <string_view>

#include "src/base/status.h"

namespace vc {

/// Numbers above this are refused: no host has that many CPUs, and a typo
/// ("0-4000000000") must not allocate.
inline constexpr unsigned kMaxCpu = 1u << 16;

using CpuSet = std::set<unsigned>;

/// Parses "0-3,^2,8" (spaces allowed around items). InvalidArgument naming
/// the offending item.
Result<CpuSet> ParseCpuSet(std::string_view text);

/// "0-3,8": ranges compacted; "" for an empty set.
std::string FormatCpuSet(const CpuSet& set);

}  // namespace vc
