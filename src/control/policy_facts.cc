#include "src/control/policy_facts.h"

#include "src/domain/domain_xml.h"
#include "src/domain/vm_facts.h"

namespace vc {

policy::VmFacts PolicyFacts(const BackendFacts& facts, const std::function<void(const std::string&)>& warn) {
  policy::VmFacts vm;
  if (!facts.domain_xml.empty()) {
    Result<DomainSpec> d = ParseDomainXml(facts.domain_xml);
    if (d.ok()) {
      vm = VmFactsOf(*d);
    } else if (warn) {
      warn(d.status().ToString() + "; policies match on the name and size only");
    }
  }
  if (vm.name.empty()) vm.name = facts.vm_name;
  if (!vm.memory && facts.guest_memory) vm.memory = facts.guest_memory;
  return vm;
}

}  // namespace vc
