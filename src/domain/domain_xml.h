// DomainSpec: what virt-converge reads from a libvirt domain's XML — what
// policies match on (name, UUID, size, pinning, NUMA, hugepages, metadata)
// and what the destination hook checks. Parsed with libxml2, no network,
// no entity expansion, bounded in size; tolerant of what it does not use.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "src/base/status.h"

namespace vc {

struct DomainSpec {
  std::string name, uuid;
  uint64_t memory = 0;  // bytes (<memory>)
  uint64_t vcpus = 0;   // <vcpu>
  struct Pin {
    unsigned vcpu;
    std::string cpuset;  // libvirt's syntax: "0-3,^2,8"
  };
  std::vector<Pin> vcpupins;
  bool numatune = false;   // <numatune> present
  bool hugepages = false;  // <memoryBacking><hugepages/>
  /// <metadata>, flattened: for every element below it, (local-name, its
  /// text) when it has text, and (local-name@attribute, value) for each
  /// attribute. Nova's <nova:flavor name="m1.large"> gives
  /// ("flavor@name", "m1.large").
  std::vector<std::pair<std::string, std::string>> metadata;
};

/// Upper bound on the XML accepted, bytes.
inline constexpr size_t kMaxDomainXml = 4 << 20;

/// Parses \a xml; InvalidArgument naming the line on malformed XML or a
/// root that is not <domain>, or a value out of range.
Result<DomainSpec> ParseDomainXml(std::string_view xml);

/// libvirt's memory units ("KiB" default, "b", "KB", "MiB", "G", ...) to bytes.
Result<uint64_t> LibvirtMemoryBytes(std::string_view value, std::string_view unit);

}  // namespace vc
