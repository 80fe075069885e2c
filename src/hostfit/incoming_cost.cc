#include "src/hostfit/incoming_cost.h"

#include <filesystem>

namespace vc {

IncomingCost CostOf(const DomainSpec& vm, const std::string& root) {
  IncomingCost c;
  for (const DomainSpec::Disk& d : vm.disks) {
    if (d.device != "disk" && d.device != "lun") continue;  // cdroms and floppies are not copied
    if (d.readonly || d.shareable || d.source.empty()) continue;
    if (d.type != "file" && d.type != "block") continue;    // network and pool storage is shared
    std::error_code ec;
    if (std::filesystem::exists(root + d.source, ec)) continue;  // shared storage, or pre-copied
    c.copied.push_back(d.source);
    c.total++;
  }
  return c;
}

}  // namespace vc
