// Destination fitness (issue 6, point 1) on fake hosts: 2 sockets, 64 CPUs
// (32 cores, 2 threads each), 4 NUMA nodes of 16 CPUs and 64 GiB, 2 MiB and
// 1 GiB hugepages. Every check, every message.
#include "src/hostfit/fitness.h"

#include "src/hostfit/adapt.h"

#include <gtest/gtest.h>

#include "src/hostfit/cpuset.h"
#include "src/hostfit/host_picture.h"
#include "tests/support/fake_host.h"
#include "tests/support/temp_dir.h"

namespace vc {
namespace {

using testing::FakeHostSpec;
using testing::TempDir;
using testing::WriteFakeHost;

HostPicture Host(const FakeHostSpec& spec = {}) {
  TempDir dir("host");
  WriteFakeHost(dir.path(), spec);
  Result<HostPicture> h = ReadHostPicture(dir.path());
  EXPECT_TRUE(h.ok()) << h.status().ToString();
  return h.ok() ? *h : HostPicture{};
}

DomainSpec Vm(const std::string& body, const std::string& name = "db1") {
  Result<DomainSpec> d = ParseDomainXml("<domain type='kvm'><name>" + name + "</name>" + body + "</domain>");
  EXPECT_TRUE(d.ok()) << d.status().ToString();
  return d.ok() ? *d : DomainSpec{};
}

std::string All(const std::vector<FitnessProblem>& problems) {
  std::string s;
  for (const FitnessProblem& p : problems) s += p.message + "\n";
  return s;
}

TEST(CpuSet, ParsesLibvirtSyntaxAndFormatsCompactly) {
  EXPECT_EQ(FormatCpuSet(*ParseCpuSet("0-3,^2,8, 9 ,10")), "0-1,3,8-10");
  EXPECT_EQ(FormatCpuSet(*ParseCpuSet("5\n")), "5");
  for (const char* bad : {"", "a", "3-1", "1,,2", "^1-2", "0-99999999"}) {
    EXPECT_FALSE(ParseCpuSet(bad).ok()) << bad;
  }
}

TEST(HostPicture, ReadsALargeHost) {
  HostPicture h = Host();
  EXPECT_EQ(FormatCpuSet(h.online), "0-63");
  ASSERT_EQ(h.nodes.size(), 4u);
  EXPECT_EQ(FormatCpuSet(h.nodes[1].cpus), "8-15,40-47");  // cores 8-15 and their siblings
  EXPECT_EQ(h.cpus[40].core, 8);
  EXPECT_EQ(h.cpus[40].socket, 0);
  EXPECT_EQ(h.cpus[63].socket, 1);
  EXPECT_EQ(h.nodes[3].memory, 64ull << 30);
  EXPECT_EQ(h.nodes[2].hugepages[2048].free, 4096u);
  EXPECT_EQ(h.hugepage_sizes_kib, (std::set<uint64_t>{2048, 1048576}));
}

TEST(HostPicture, MissingSysfsIsAnErrorNamingTheFile) {
  TempDir dir("host");
  Result<HostPicture> h = ReadHostPicture(dir.path());
  ASSERT_FALSE(h.ok());
  EXPECT_NE(h.status().ToString().find(dir.path() + "/sys/devices/system/cpu/online"), std::string::npos)
      << h.status().ToString();
}

TEST(Fitness, APinnedVmThatFitsHasNoProblems) {
  DomainSpec vm = Vm("<memory unit='GiB'>8</memory><vcpu>4</vcpu>"
                     "<cputune><vcpupin vcpu='0' cpuset='8'/><vcpupin vcpu='1' cpuset='40'/>"
                     "<vcpupin vcpu='2' cpuset='9'/><vcpupin vcpu='3' cpuset='41'/><emulatorpin cpuset='10-11'/></cputune>"
                     "<numatune><memory mode='strict' nodeset='1'/></numatune>"
                     "<memoryBacking><hugepages><page size='2048' unit='KiB'/></hugepages></memoryBacking>");
  EXPECT_EQ(All(CheckFitness(vm, Host(), {}, {})), "");
}

TEST(Fitness, PinnedToACpuTheHostLacks) {
  FakeHostSpec small;
  small.sockets = 1;
  small.cores_per_socket = 8;
  small.nodes = 1;
  DomainSpec vm = Vm("<vcpu>4</vcpu><cputune><vcpupin vcpu='3' cpuset='17'/></cputune>");
  EXPECT_EQ(All(CheckFitness(vm, Host(small), {}, {})), "vcpu 3 pinned to host CPU 17: this host has CPUs 0-15\n");
}

TEST(Fitness, PinnedToAnOfflineCpuOrAnEmulatorRangeBeyondTheHost) {
  FakeHostSpec spec;
  spec.offline = "63";
  DomainSpec vm = Vm("<vcpu>2</vcpu><cputune><vcpupin vcpu='1' cpuset='63'/><emulatorpin cpuset='60-70'/>"
                     "<iothreadpin iothread='1' cpuset='64'/></cputune>");
  EXPECT_EQ(All(CheckFitness(vm, Host(spec), {}, {})),
            "vcpu 1 pinned to host CPU 63: this host has CPUs 0-62\n"
            "the emulator pinned to host CPUs 60-70: this host has CPUs 0-62 (no CPU 63)\n"
            "iothread 1 pinned to host CPU 64: this host has CPUs 0-62\n");
}

TEST(Fitness, PinnedToACpuAnotherVmHolds) {
  HostClaims claims;
  claims.running.push_back({"db2", *ParseCpuSet("16-19")});
  DomainSpec vm = Vm("<vcpu>2</vcpu><cputune><vcpupin vcpu='0' cpuset='12'/><vcpupin vcpu='1' cpuset='17'/></cputune>");
  EXPECT_EQ(All(CheckFitness(vm, Host(), claims, {})),
            "vcpu 1 pinned to host CPU 17: host CPU 17 is held by VM db2 (pinned 1:1) on this host\n");
  // Its own record (a VM coming back) holds nothing against it.
  claims.running[0].name = "db1";
  EXPECT_EQ(All(CheckFitness(vm, Host(), claims, {})), "");
}

TEST(Fitness, SharedPinningHoldsNothing) {
  DomainSpec shared = Vm("<vcpu>2</vcpu><cputune><vcpupin vcpu='0' cpuset='16-19'/><vcpupin vcpu='1' cpuset='16-19'/></cputune>");
  EXPECT_TRUE(DedicatedCpus(shared).empty());
  DomainSpec dedicated = Vm("<vcpu>2</vcpu><cputune><vcpupin vcpu='0' cpuset='16'/><vcpupin vcpu='1' cpuset='48'/></cputune>");
  EXPECT_EQ(FormatCpuSet(DedicatedCpus(dedicated)), "16,48");
}

TEST(Fitness, NumaNodesetsAndCellsMustExistAndFit) {
  DomainSpec vm = Vm("<memory unit='GiB'>160</memory><vcpu>4</vcpu>"
                     "<numatune><memory mode='strict' nodeset='0-5'/>"
                     "<memnode cellid='0' mode='strict' nodeset='1'/><memnode cellid='1' mode='strict' nodeset='7'/></numatune>"
                     "<cpu><numa><cell id='0' cpus='0-1' memory='96' unit='GiB'/>"
                     "<cell id='1' cpus='2-3' memory='64' unit='GiB'/></numa></cpu>");
  EXPECT_EQ(All(CheckFitness(vm, Host(), {}, {})),
            "numatune memory nodeset 0-5: this host has NUMA nodes 0-3\n"
            "guest NUMA cell 0 needs 96 GiB: host node 1 has 64 GiB\n"
            "guest NUMA cell 1 bound to host node 7: this host has NUMA nodes 0-3\n");
}

TEST(Fitness, HugepagesOfASizeTheHostLacks) {
  FakeHostSpec spec;
  spec.hugepages = {{2048, {100, 100}}};
  DomainSpec vm = Vm("<memory unit='GiB'>4</memory><memoryBacking><hugepages><page size='1' unit='G'/></hugepages></memoryBacking>");
  EXPECT_EQ(All(CheckFitness(vm, Host(spec), {}, {})), "hugepages of 1 GiB: this host offers 2 MiB pages only\n");
}

TEST(Fitness, HugepagesCountedOnTheBoundNodesMinusClaimsOfMigrationsInFlight) {
  FakeHostSpec spec;
  spec.hugepages = {{2048, {4096, 3000}}, {1048576, {8, 8}}};
  // 8 GiB of 2 MiB pages = 4096 pages on node 2, which has 3000 free.
  DomainSpec vm = Vm("<memory unit='GiB'>8</memory><numatune><memory mode='strict' nodeset='2'/></numatune>"
                     "<memoryBacking><hugepages/></memoryBacking>");
  EXPECT_EQ(All(CheckFitness(vm, Host(spec), {}, {})),
            "needs 4096 hugepages of 2 MiB on host node 2: 3000 free\n");
  // Unbound it may take them from any node...
  DomainSpec anywhere = Vm("<memory unit='GiB'>8</memory><memoryBacking><hugepages/></memoryBacking>");
  EXPECT_EQ(All(CheckFitness(anywhere, Host(spec), {}, {})), "");
  // ...unless incoming migrations in flight have claimed them.
  HostClaims claims;
  claims.incoming.push_back({"web1", 2048, *ParseCpuSet("0-3"), 9000});
  EXPECT_EQ(All(CheckFitness(anywhere, Host(spec), claims, {})),
            "needs 4096 hugepages of 2 MiB on host nodes 0-3: 3000 free (9000 more are claimed by incoming migrations)\n");
  // 1 GiB pages per guest cell, each on its node.
  DomainSpec cells = Vm("<memory unit='GiB'>12</memory><vcpu>2</vcpu>"
                        "<numatune><memnode cellid='0' mode='strict' nodeset='0'/><memnode cellid='1' mode='strict' nodeset='1'/></numatune>"
                        "<cpu><numa><cell id='0' cpus='0' memory='4' unit='GiB'/><cell id='1' cpus='1' memory='8' unit='GiB'/></numa></cpu>"
                        "<memoryBacking><hugepages><page size='1048576'/></hugepages></memoryBacking>");
  EXPECT_EQ(All(CheckFitness(cells, Host(spec), {}, {})), "");
  spec.hugepages[1048576] = {8, 6};
  EXPECT_EQ(All(CheckFitness(cells, Host(spec), {}, {})), "needs 8 hugepages of 1 GiB on host node 1: 6 free\n");
}

TEST(Fitness, LockedMemoryAndNonMigratableCpu) {
  DomainSpec vm = Vm("<memory unit='GiB'>256</memory><memoryBacking><locked/></memoryBacking>"
                     "<cpu mode='host-passthrough' migratable='off'/>");
  FakeHostSpec spec;
  spec.memory_available = 200ull << 30;
  std::vector<FitnessProblem> problems = CheckFitness(vm, Host(spec), {}, {});
  EXPECT_EQ(All(problems),
            "locked memory of 256 GiB: this host has 200 GiB available\n"
            "CPU mode host-passthrough with migratable='off' exposes host features this host may lack "
            "([Host] AllowNonMigratableCpu=yes accepts it)\n");
  // No placement fixes these.
  for (const FitnessProblem& p : problems) EXPECT_FALSE(p.PlacementCanFix()) << p.message;
  FitnessOptions o;
  o.allow_non_migratable_cpu = true;
  spec.memory_available = 300ull << 30;
  EXPECT_EQ(All(CheckFitness(vm, Host(spec), {}, o)), "");
}

TEST(Adapt, SaysWhyWhenNoNodeHasRoomForACell) {
  HostClaims claims;
  claims.running.push_back({"big", *ParseCpuSet("0-59")});  // 4 CPUs left, on node 3
  DomainSpec vm = Vm("<vcpu>8</vcpu><cputune>"
                     "<vcpupin vcpu='0' cpuset='0'/><vcpupin vcpu='1' cpuset='1'/><vcpupin vcpu='2' cpuset='2'/>"
                     "<vcpupin vcpu='3' cpuset='3'/><vcpupin vcpu='4' cpuset='4'/><vcpupin vcpu='5' cpuset='5'/>"
                     "<vcpupin vcpu='6' cpuset='6'/><vcpupin vcpu='7' cpuset='7'/></cputune>");
  std::string why;
  EXPECT_FALSE(Adapt(vm, Host(), claims, {}, &why).has_value());
  EXPECT_EQ(why, "no host NUMA node has 8 free CPUs for guest cell 0");
  // Four vCPUs fit in what is left.
  vm.vcpupins.resize(4);
  std::optional<Placement> p = Adapt(vm, Host(), claims, {}, &why);
  ASSERT_TRUE(p.has_value()) << why;
  CpuSet got;
  for (const DomainSpec::Pin& pin : p->vcpupins) got.insert(static_cast<unsigned>(std::stoul(pin.cpuset)));
  EXPECT_EQ(FormatCpuSet(got), "60-63");
}

}  // namespace
}  // namespace vc
