// What a policy's [Match] sees of a libvirt domain.
#pragma once

#include "src/domain/domain_xml.h"
#include "src/policy/policy.h"

namespace vc {

policy::VmFacts VmFactsOf(const DomainSpec& d);

}  // namespace vc
