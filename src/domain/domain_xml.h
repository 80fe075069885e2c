// DomainSpec: what virt-converge reads from a libvirt domain's XML — what
// policies match on (name, UUID, size, pinning, NUMA, hugepages, metadata)
// and what the destination hook checks. Parsed with pugixml: no DTD, no
// entity expansion, no network, bounded in size; tolerant of what it does
// not use. (pugixml, not libxml2: the hook starts on every VM start and
// migration, and Debian's libxml2 drags ICU into every process start.)
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
  std::string vcpu_cpuset;         // <vcpu cpuset=...>: where unpinned vCPUs may run
  std::string emulatorpin;         // cpuset; "" when not pinned
  std::vector<Pin> iothreadpins;   // Pin::vcpu holds the iothread id
  bool numatune = false;           // <numatune> present
  std::string numa_mode;           // <numatune><memory mode=...> (strict, preferred, interleave, restrictive)
  std::string numa_nodeset;        // <numatune><memory nodeset=...>
  struct MemNode {
    unsigned cell;
    std::string mode, nodeset;
  };
  std::vector<MemNode> memnodes;   // <numatune><memnode>
  struct Cell {
    unsigned id;
    std::string cpus;
    uint64_t memory = 0;           // bytes
  };
  std::vector<Cell> cells;         // guest NUMA: <cpu><numa><cell>
  bool hugepages = false;          // <memoryBacking><hugepages/>
  struct HugepageRequest {
    uint64_t size_kib = 0;         // 0: the host's default size
    std::string nodeset;           // guest cells using it; "" = all
  };
  std::vector<HugepageRequest> hugepage_pages;  // its <page> elements
  bool memory_locked = false;      // <memoryBacking><locked/>
  struct Disk {
    std::string type;              // file, block, network, volume, ...
    std::string device;            // disk, cdrom, floppy, lun
    std::string source;            // file= or dev=; "" for network/volume
    std::string target;            // <target dev=>: vda, sdb, ...
    bool readonly = false, shareable = false;
    /// Whether a storage migration (libvirt's --copy-storage-all) copies
    /// it: a writable, unshared file or block disk. CD-ROMs, read-only
    /// and network or pool storage stay where they are.
    bool CopiedByStorageMigration() const;
  };
  std::vector<Disk> disks;         // <devices><disk>
  std::string cpu_mode;            // <cpu mode=...>
  bool cpu_migratable = true;      // <cpu migratable='off'> makes it false
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
