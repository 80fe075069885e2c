#include "src/domain/vm_facts.h"

namespace vc {

policy::VmFacts VmFactsOf(const DomainSpec& d) {
  policy::VmFacts f;
  f.name = d.name;
  f.uuid = d.uuid;
  if (d.memory) f.memory = d.memory;
  if (d.vcpus) f.vcpus = d.vcpus;
  // From the XML these are known either way.
  f.pinned = !d.vcpupins.empty();
  f.numa = d.numatune;
  f.hugepages = d.hugepages;
  f.metadata = d.metadata;
  return f;
}

}  // namespace vc
