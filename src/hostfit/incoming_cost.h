// IncomingCost: what an incoming migration costs this host, for
// [Host] IncomingCost admission — 1 for the VM, plus 1 per disk whose copy
// it brings (a storage migration), the same measure `migrate` uses on the
// source. The hook sees only the domain XML: a writable, unshared file or
// block disk whose source does not exist here yet is one libvirt will
// create and copy into (it pre-creates them after `migrate begin`).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "src/domain/domain_xml.h"

namespace vc {

struct IncomingCost {
  int64_t total = 1;
  std::vector<std::string> copied;  // the disks' sources
};

/// The cost of \a vm arriving here; disk sources are looked for under \a root.
IncomingCost CostOf(const DomainSpec& vm, const std::string& root);

}  // namespace vc
