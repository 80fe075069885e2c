// libFuzzer target: the destination hook's path on arbitrary bytes as the
// domain XML — parsing, and the fitness check against a large host.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "src/domain/domain_xml.h"
#include "src/domain/vm_facts.h"
#include "src/hostfit/fitness.h"

namespace {

vc::HostPicture LargeHost() {
  vc::HostPicture h;
  for (unsigned c = 0; c < 64; c++) {
    h.online.insert(c);
    h.cpus[c] = {static_cast<int>(c % 32 / 16), static_cast<int>(c % 16), static_cast<int>(c % 32 / 8)};
    h.nodes[c % 32 / 8].cpus.insert(c);
  }
  for (auto& [id, n] : h.nodes) {
    n.memory = 64ull << 30;
    n.hugepages[2048] = {4096, 4096};
    n.hugepages[1048576] = {8, 8};
  }
  h.hugepage_sizes_kib = {2048, 1048576};
  return h;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const vc::HostPicture host = LargeHost();
  vc::Result<vc::DomainSpec> d = vc::ParseDomainXml(std::string_view(reinterpret_cast<const char*>(data), size));
  if (!d.ok()) return 0;
  (void)vc::VmFactsOf(*d);
  vc::HostClaims claims;
  claims.running.push_back({"other", {16, 17}});
  claims.incoming.push_back({"other-in", 2048, {0, 1}, 100});
  (void)vc::CheckFitness(*d, host, claims, {});
  (void)vc::DedicatedCpus(*d);
  return 0;
}
