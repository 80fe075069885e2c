// Reading a libvirt domain's XML (src/domain) and what a policy's [Match]
// then sees of it (src/attach/policy_facts).
#include "src/domain/domain_xml.h"

#include <gtest/gtest.h>

#include <chrono>

#include "src/control/policy_facts.h"
#include "src/domain/vm_facts.h"
#include "src/policy/ini.h"
#include "src/policy/resolve.h"

namespace vc {
namespace {

// As Nova writes it: its metadata in its own namespace.
const char kNovaDomain[] = R"(<domain type='kvm' id='3'>
  <name>instance-0000002a</name>
  <uuid>6f1f7c8e-0b2d-4c4b-9d1e-5a3b2c1d0e9f</uuid>
  <metadata>
    <nova:instance xmlns:nova="http://openstack.org/xmlns/libvirt/nova/1.1">
      <nova:name>db1</nova:name>
      <nova:flavor name="m1.large">
        <nova:memory>8192</nova:memory>
        <nova:vcpus>4</nova:vcpus>
      </nova:flavor>
    </nova:instance>
  </metadata>
  <memory unit='GiB'>8</memory>
  <currentMemory unit='KiB'>8388608</currentMemory>
  <memoryBacking><hugepages><page size='2048' unit='KiB'/></hugepages></memoryBacking>
  <vcpu placement='static'>4</vcpu>
  <cputune>
    <vcpupin vcpu='0' cpuset='2'/>
    <vcpupin vcpu='1' cpuset='3'/>
    <emulatorpin cpuset='0-1'/>
  </cputune>
  <numatune><memory mode='strict' nodeset='0'/></numatune>
  <os><type arch='x86_64' machine='pc-q35-7.2'>hvm</type></os>
</domain>
)";

TEST(DomainXml, ReadsWhatPoliciesMatchOn) {
  Result<DomainSpec> d = ParseDomainXml(kNovaDomain);
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ(d->name, "instance-0000002a");
  EXPECT_EQ(d->uuid, "6f1f7c8e-0b2d-4c4b-9d1e-5a3b2c1d0e9f");
  EXPECT_EQ(d->memory, 8ull << 30);
  EXPECT_EQ(d->vcpus, 4u);
  ASSERT_EQ(d->vcpupins.size(), 2u);
  EXPECT_EQ(d->vcpupins[1].vcpu, 1u);
  EXPECT_EQ(d->vcpupins[1].cpuset, "3");
  EXPECT_TRUE(d->numatune);
  EXPECT_TRUE(d->hugepages);
  using KV = std::pair<std::string, std::string>;
  EXPECT_NE(std::find(d->metadata.begin(), d->metadata.end(), KV("flavor@name", "m1.large")), d->metadata.end());
  EXPECT_NE(std::find(d->metadata.begin(), d->metadata.end(), KV("name", "db1")), d->metadata.end());
  EXPECT_NE(std::find(d->metadata.begin(), d->metadata.end(), KV("vcpus", "4")), d->metadata.end());
}

TEST(DomainXml, PolicyMatchSeesPinningNumaHugepagesAndMetadata) {
  BackendFacts facts;
  facts.vm_name = "instance-0000002a";
  facts.domain_xml = kNovaDomain;
  std::vector<std::string> warnings;
  policy::VmFacts vm = PolicyFacts(facts, [&](const std::string& w) { warnings.push_back(w); });
  EXPECT_TRUE(warnings.empty());
  policy::Diagnostics diags;
  policy::Match m = policy::ParseMatch(
      policy::ParseIni("[Match]\nName=instance-*\nPinned=yes\nNUMA=yes\nHugepages=yes\nVCPUs=4..\nMemory=8GiB..\n"
                       "Metadata=flavor@name=m1.large\n",
                       "70-pinned.conf", &diags),
      &diags);
  ASSERT_TRUE(diags.empty()) << diags.front().ToString();
  EXPECT_TRUE(policy::Matches(m, vm));
  policy::Match other = policy::ParseMatch(
      policy::ParseIni("[Match]\nMetadata=flavor@name=m1.small\n", "71-small.conf", &diags), &diags);
  EXPECT_FALSE(policy::Matches(other, vm));
}

TEST(DomainXml, UnreadableXmlLeavesNameAndSizeAndSaysWhy) {
  BackendFacts facts;
  facts.vm_name = "vm1";
  facts.guest_memory = 1ull << 30;
  facts.domain_xml = "<domain><name>vm1</name>\n<memory>12";
  std::vector<std::string> warnings;
  policy::VmFacts vm = PolicyFacts(facts, [&](const std::string& w) { warnings.push_back(w); });
  EXPECT_EQ(vm.name, "vm1");
  EXPECT_EQ(vm.memory, 1ull << 30);
  ASSERT_EQ(warnings.size(), 1u);
  EXPECT_NE(warnings[0].find("domain XML:2"), std::string::npos) << warnings[0];
  EXPECT_FALSE(vm.pinned.has_value());
}

TEST(DomainXml, BadInputIsAClearError) {
  Result<DomainSpec> empty = ParseDomainXml("");
  EXPECT_FALSE(empty.ok());
  Result<DomainSpec> root = ParseDomainXml("<network><name>x</name></network>");
  ASSERT_FALSE(root.ok());
  EXPECT_NE(root.status().ToString().find("<network>, not <domain>"), std::string::npos) << root.status().ToString();
  Result<DomainSpec> unit = ParseDomainXml("<domain>\n<memory unit='parsecs'>1</memory></domain>");
  ASSERT_FALSE(unit.ok());
  EXPECT_NE(unit.status().ToString().find("domain XML:2"), std::string::npos) << unit.status().ToString();
  EXPECT_NE(unit.status().ToString().find("'parsecs'"), std::string::npos) << unit.status().ToString();
  Result<DomainSpec> vcpu = ParseDomainXml("<domain><vcpu>-4</vcpu></domain>");
  ASSERT_FALSE(vcpu.ok());
  EXPECT_NE(vcpu.status().ToString().find("'-4'"), std::string::npos) << vcpu.status().ToString();
  std::string huge = "<domain><description>" + std::string(kMaxDomainXml, 'x') + "</description></domain>";
  Result<DomainSpec> big = ParseDomainXml(huge);
  ASSERT_FALSE(big.ok());
  EXPECT_NE(big.status().ToString().find("more than the"), std::string::npos);
}

TEST(DomainXml, EntityExpansionDoesNotBlowUp) {
  std::string lol = "<?xml version='1.0'?><!DOCTYPE domain [<!ENTITY a 'aaaaaaaaaa'>";
  for (char c = 'b'; c <= 'k'; c++) {
    lol += std::string("<!ENTITY ") + c + " '";
    for (int i = 0; i < 10; i++) lol += std::string("&") + static_cast<char>(c - 1) + ";";
    lol += "'>";
  }
  lol += "]><domain><name>&k;</name></domain>";
  auto start = std::chrono::steady_clock::now();
  Result<DomainSpec> d = ParseDomainXml(lol);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2));
  if (d.ok()) {
    EXPECT_LT(d->name.size(), 1000u) << "entities were expanded";
  }
}

TEST(DomainXml, LibvirtMemoryUnits) {
  EXPECT_EQ(*LibvirtMemoryBytes("1", ""), 1024u);
  EXPECT_EQ(*LibvirtMemoryBytes("1", "KB"), 1000u);
  EXPECT_EQ(*LibvirtMemoryBytes("2", "M"), 2u << 20);
  EXPECT_EQ(*LibvirtMemoryBytes("1", "TiB"), 1ull << 40);
  EXPECT_FALSE(LibvirtMemoryBytes("99999999999999999", "TiB").ok());
}

}  // namespace
}  // namespace vc
