#include "src/hostfit/incoming_cost.h"

#include <filesystem>

namespace vc {

IncomingCost CostOf(const DomainSpec& vm, const std::string& root) {
  IncomingCost c;
  for (const DomainSpec::Disk& d : vm.disks) {
    if (!d.CopiedByStorageMigration()) continue;
    std::error_code ec;
    if (std::filesystem::exists(root + d.source, ec)) continue;  // shared storage, or pre-copied
    c.copied.push_back(d.source);
    c.total++;
  }
  return c;
}

}  // namespace vc
