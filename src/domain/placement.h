// Placement: where a domain's vCPUs, emulator, iothreads and memory are
// bound on the host — the part of its XML the destination hook may adapt —
// and the record of the original placement an adapted domain carries in
// its <metadata>, so that it travels with the VM and can be restored where
// it fits again.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "src/base/status.h"
#include "src/domain/domain_xml.h"

namespace vc {

inline constexpr char kPlacementNamespace[] = "https://virt-converge.org/xmlns/placement/1.0";

struct Placement {
  std::vector<DomainSpec::Pin> vcpupins;
  std::string emulatorpin;
  std::vector<DomainSpec::Pin> iothreadpins;  // Pin::vcpu holds the iothread id
  std::string numa_nodeset;
  std::vector<DomainSpec::MemNode> memnodes;
};

Placement PlacementOf(const DomainSpec& d);
/// "vcpu 0 on CPU 1, vcpu 1 on CPU 2, emulator on CPU 0-3, memory on node 0";
/// "unpinned" when it binds nothing.
std::string DescribePlacement(const Placement& p);
/// \a d as it would be with placement \a p.
DomainSpec WithPlacement(DomainSpec d, const Placement& p);

/// \a xml with placement \a p written into it. With \a keep_original, the
/// placement \a xml had is recorded in <metadata> under our namespace —
/// unless a record is there already (the first original is the one kept).
Result<std::string> RewritePlacement(std::string_view xml, const Placement& p, bool keep_original);

/// The original placement recorded in \a xml, if any.
Result<std::optional<Placement>> RecordedPlacement(std::string_view xml);

/// \a xml with its recorded placement put back and the record dropped.
Result<std::string> RestorePlacement(std::string_view xml);

}  // namespace vc
