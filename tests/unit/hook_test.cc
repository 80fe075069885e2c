// The libvirt hook (issue 6): its decisions on a fake 64-CPU, 4-node host,
// the records it keeps between operations, admission, and the contract —
// hostile input never crashes it, never fails an operation it has no
// policy reason to fail.
#include "hooks/hook.h"

#include <gtest/gtest.h>
#include <sys/wait.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>

#include "src/domain/domain_xml.h"
#include "src/hostfit/cpuset.h"
#include "src/hostfit/hook_records.h"
#include "src/hostfit/host_picture.h"
#include "src/hostfit/refusal.h"
#include "tests/support/artifacts.h"
#include "tests/support/fake_host.h"
#include "tests/support/policy_tree.h"
#include "tests/support/process.h"
#include "tests/support/skip.h"
#include "tests/support/temp_dir.h"

namespace vc {
namespace {

namespace fs = std::filesystem;
using testing::ReadFile;
using testing::TempDir;

std::string PinnedVm(const std::string& name, const std::string& cpus) {
  std::string pins;
  Result<CpuSet> set = ParseCpuSet(cpus);
  unsigned v = 0;
  for (unsigned c : *set) pins += "<vcpupin vcpu='" + std::to_string(v++) + "' cpuset='" + std::to_string(c) + "'/>";
  return "<domain type='kvm'><name>" + name + "</name><memory unit='GiB'>4</memory><vcpu>" + std::to_string(v) +
         "</vcpu><cputune>" + pins + "</cputune></domain>";
}

class HookTest : public ::testing::Test {
 protected:
  void SetUp() override {
    testing::WriteFakeHost(dir_.File("host"), {});
    policy_.Write("50-host.conf", "");
  }
  HookOutcome Run(const std::vector<std::string>& args, const std::string& xml, const std::string& pid_dir = "") {
    HookRequest r;
    r.args = args;
    r.xml = xml;
    r.sysfs_root = dir_.File("host");
    r.policy_root = dir_.File("policy");
    r.run_dir = dir_.File("run");
    r.libvirt_pid_dir = pid_dir;
    return RunHook(r);
  }
  void Policy(const std::string& text) { policy_.Write("50-host.conf", text); }
  TempDir dir_{"hook"};
  testing::PolicyTree policy_ = testing::PolicyTree::Under(dir_.File("policy"));
};

TEST_F(HookTest, AFittingVmComesInAndItsPinningIsThenHeld) {
  std::string db2 = PinnedVm("db2", "16-19");
  HookOutcome in = Run({"db2", "migrate", "begin", "-"}, db2);
  EXPECT_EQ(in.exit_code, 0) << in.err;
  EXPECT_EQ(in.out, "");  // unchanged
  EXPECT_TRUE(fs::exists(dir_.File("run/incoming/db2")));
  EXPECT_EQ(Run({"db2", "prepare", "begin", "-"}, db2).exit_code, 0);
  EXPECT_EQ(Run({"db2", "started", "begin", "-"}, db2).exit_code, 0);
  EXPECT_FALSE(fs::exists(dir_.File("run/incoming/db2")));
  EXPECT_EQ(ReadFile(dir_.File("run/running/db2")), "dedicated 16-19\n");

  // A second VM pinned to one of db2's CPUs is refused, with the reason.
  HookOutcome clash = Run({"db1", "migrate", "begin", "-"}, PinnedVm("db1", "12,17"));
  EXPECT_EQ(clash.exit_code, 1);
  EXPECT_NE(clash.err.find("VM db1 cannot run on "), std::string::npos) << clash.err;
  std::optional<HookRefusal> unfit = HookRefusal::FindIn(clash.err);
  ASSERT_TRUE(unfit) << clash.err;
  EXPECT_EQ(unfit->reason, RefusalReason::kUnfitCpu);
  EXPECT_NE(clash.err.find("virt-converge [fitness.cpu]: "), std::string::npos) << clash.err;
  EXPECT_FALSE(unfit->try_later());
  EXPECT_NE(clash.err.find("as its XML asks: vcpu 1 pinned to host CPU 17: host CPU 17 is held by VM db2 (pinned 1:1) on this host"),
            std::string::npos)
      << clash.err;
  EXPECT_FALSE(fs::exists(dir_.File("run/incoming/db1")));

  // Once db2 has left, it fits.
  EXPECT_EQ(Run({"db2", "release", "end", "-"}, db2).exit_code, 0);
  EXPECT_EQ(Run({"db1", "migrate", "begin", "-"}, PinnedVm("db1", "12,17")).exit_code, 0);
}

// A plain start (prepare begin with no incoming migration behind it) is
// checked too; adaptation is for incoming migrations only.
TEST_F(HookTest, AStartIsCheckedToo) {
  ASSERT_EQ(Run({"db2", "started", "begin", "-"}, PinnedVm("db2", "5")).exit_code, 0);
  HookOutcome start = Run({"db1", "prepare", "begin", "-"}, PinnedVm("db1", "5"));
  EXPECT_EQ(start.exit_code, 1);
  EXPECT_NE(start.err.find("vcpu 0 pinned to host CPU 5: host CPU 5 is held by VM db2 (pinned 1:1) on this host"),
            std::string::npos)
      << start.err;
  Policy("[Host]\nDestination=adapt\n");
  start = Run({"db1", "prepare", "begin", "-"}, PinnedVm("db1", "5"));
  EXPECT_EQ(start.exit_code, 1);
  EXPECT_NE(start.err.find("(Destination=adapt changes the placement of incoming migrations only)"), std::string::npos)
      << start.err;
  EXPECT_EQ(Run({"db1", "prepare", "begin", "-"}, PinnedVm("db1", "6")).exit_code, 0);
}

TEST_F(HookTest, PolicyDecidesRefuseIgnoreOrAdapt) {
  std::string far = PinnedVm("big", "70");
  HookOutcome refused = Run({"big", "migrate", "begin", "-"}, far);
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_NE(refused.err.find("vcpu 0 pinned to host CPU 70: this host has CPUs 0-63"), std::string::npos) << refused.err;
  Policy("[Host]\nDestination=ignore\n");
  EXPECT_EQ(Run({"big", "migrate", "begin", "-"}, far).exit_code, 0);
  Policy("[Host]\nDestination=adapt\n");
  HookOutcome adapt = Run({"big", "migrate", "begin", "-"}, far);
  EXPECT_EQ(adapt.exit_code, 0) << adapt.err;
  Result<DomainSpec> adapted = ParseDomainXml(adapt.out);
  ASSERT_TRUE(adapted.ok()) << adapt.out;
  ASSERT_EQ(adapted->vcpupins.size(), 1u);
  EXPECT_NE(adapted->vcpupins[0].cpuset, "70");
  // What cannot be adapted is refused, saying why.
  HookOutcome pages = Run({"pages", "migrate", "begin", "-"},
                          "<domain><name>pages</name><memory unit='GiB'>4</memory><memoryBacking><hugepages>"
                          "<page size='16' unit='G'/></hugepages></memoryBacking></domain>");
  EXPECT_EQ(pages.exit_code, 1);
  EXPECT_NE(pages.err.find("hugepages of 16 GiB: this host offers 2 MiB, 1 GiB pages only (Destination=adapt: no placement changes the page size)"),
            std::string::npos)
      << pages.err;
}

// Issue 6, adaptation: a VM pinned to CPUs another VM holds here is given
// free ones, keeping its cells on one node each and its sibling pairs on
// sibling threads; its original placement travels in <metadata>; on a host
// where the original fits again, it is restored and the record dropped.
TEST_F(HookTest, AdaptedPlacementTravelsWithTheVmAndIsRestoredWhereItFits) {
  Policy("[Host]\nDestination=adapt\n");
  // db2 holds all of node 1 (cores 8-15 and their siblings 40-47).
  std::string holder = PinnedVm("db2", "8-15,40-47");
  ASSERT_EQ(Run({"db2", "started", "begin", "-"}, holder).exit_code, 0);
  // db1: two cells; cell 0 = vCPUs 0,1 on sibling threads 8,40 (node 1),
  // cell 1 = vCPUs 2,3 on 16,48 (node 2).
  const std::string db1 =
      "<domain type='kvm'><name>db1</name><memory unit='GiB'>8</memory><vcpu>4</vcpu>"
      "<cputune><vcpupin vcpu='0' cpuset='8'/><vcpupin vcpu='1' cpuset='40'/>"
      "<vcpupin vcpu='2' cpuset='16'/><vcpupin vcpu='3' cpuset='48'/><emulatorpin cpuset='9'/></cputune>"
      "<numatune><memory mode='strict' nodeset='1-2'/><memnode cellid='0' mode='strict' nodeset='1'/>"
      "<memnode cellid='1' mode='strict' nodeset='2'/></numatune>"
      "<cpu><numa><cell id='0' cpus='0-1' memory='4' unit='GiB'/><cell id='1' cpus='2-3' memory='4' unit='GiB'/></numa></cpu>"
      "</domain>";
  HookOutcome in = Run({"db1", "migrate", "begin", "-"}, db1);
  ASSERT_EQ(in.exit_code, 0) << in.err;
  ASSERT_FALSE(in.out.empty());
  Result<DomainSpec> a = ParseDomainXml(in.out);
  ASSERT_TRUE(a.ok()) << in.out;
  HostPicture host = *ReadHostPicture(dir_.File("host"));
  std::map<unsigned, unsigned> cpu;  // vcpu -> host CPU
  for (const DomainSpec::Pin& p : a->vcpupins) cpu[p.vcpu] = static_cast<unsigned>(std::stoul(p.cpuset));
  ASSERT_EQ(cpu.size(), 4u);
  for (auto [v, c] : cpu) EXPECT_NE(host.cpus[c].node, 1) << "vcpu " << v << " on held node 1: CPU " << c;
  // Each cell on one node, and the node its memnode now names.
  EXPECT_EQ(host.cpus[cpu[0]].node, host.cpus[cpu[1]].node);
  EXPECT_EQ(host.cpus[cpu[2]].node, host.cpus[cpu[3]].node);
  ASSERT_EQ(a->memnodes.size(), 2u);
  EXPECT_EQ(a->memnodes[0].nodeset, std::to_string(host.cpus[cpu[0]].node));
  EXPECT_EQ(a->memnodes[1].nodeset, std::to_string(host.cpus[cpu[2]].node));
  // The sibling pair stays a sibling pair.
  EXPECT_EQ(host.cpus[cpu[0]].core, host.cpus[cpu[1]].core);
  EXPECT_EQ(host.cpus[cpu[0]].socket, host.cpus[cpu[1]].socket);
  EXPECT_NE(cpu[0], cpu[1]);
  // The original placement rides along.
  EXPECT_NE(in.out.find("https://virt-converge.org/xmlns/placement/1.0"), std::string::npos) << in.out;
  EXPECT_NE(in.out.find("cpuset=\"40\""), std::string::npos) << in.out;

  // Started here with the adapted pinning, it holds those CPUs.
  ASSERT_EQ(Run({"db1", "started", "begin", "-"}, in.out).exit_code, 0);
  std::string held = ReadFile(dir_.File("run/running/db1"));
  ASSERT_EQ(held.rfind("dedicated ", 0), 0u) << held;
  CpuSet held_cpus = *ParseCpuSet(held.substr(10));
  EXPECT_EQ(held_cpus.size(), 4u) << held;
  EXPECT_FALSE(held_cpus.count(8) || held_cpus.count(40)) << held;  // not its original CPUs

  // Migrating on to a host (another run dir: nothing held) where the
  // original fits: restored, record dropped.
  HookRequest next;
  next.args = {"db1", "migrate", "begin", "-"};
  next.xml = in.out;
  next.sysfs_root = dir_.File("host");
  next.policy_root = dir_.File("policy");
  next.run_dir = dir_.File("run-other-host");
  HookOutcome back = RunHook(next);
  ASSERT_EQ(back.exit_code, 0) << back.err;
  Result<DomainSpec> r = ParseDomainXml(back.out);
  ASSERT_TRUE(r.ok()) << back.out;
  std::map<unsigned, std::string> restored;
  for (const DomainSpec::Pin& p : r->vcpupins) restored[p.vcpu] = p.cpuset;
  EXPECT_EQ(restored, (std::map<unsigned, std::string>{{0, "8"}, {1, "40"}, {2, "16"}, {3, "48"}}));
  EXPECT_EQ(r->emulatorpin, "9");
  EXPECT_EQ(r->memnodes[0].nodeset, "1");
  EXPECT_EQ(back.out.find("virt-converge.org/xmlns/placement"), std::string::npos) << back.out;
}

TEST_F(HookTest, AdmissionLimitsIncomingMigrationsInFlight) {
  Policy("[Host]\nIncomingMax=1\n");
  EXPECT_EQ(Run({"a", "migrate", "begin", "-"}, PinnedVm("a", "1")).exit_code, 0);
  HookOutcome second = Run({"b", "migrate", "begin", "-"}, PinnedVm("b", "2"));
  EXPECT_EQ(second.exit_code, 1);
  EXPECT_NE(second.err.find("already receives 1 migration (IncomingMax=1, "), std::string::npos) << second.err;
  EXPECT_NE(second.err.find("try again when one has finished"), std::string::npos) << second.err;
  std::optional<HookRefusal> busy = HookRefusal::FindIn(second.err);
  ASSERT_TRUE(busy) << second.err;
  EXPECT_EQ(busy->reason, RefusalReason::kIncomingMax);
  EXPECT_TRUE(busy->try_later());
  // a started: its slot is free.
  EXPECT_EQ(Run({"a", "started", "begin", "-"}, PinnedVm("a", "1")).exit_code, 0);
  EXPECT_EQ(Run({"b", "migrate", "begin", "-"}, PinnedVm("b", "2")).exit_code, 0);
}

// A VM with these disks: each "copied:PATH" has no source here yet (it
// comes with the migration), each "shared:PATH" has one.
std::string VmWithDisks(const std::string& name, const std::vector<std::string>& disks) {
  std::string devices;
  for (const std::string& d : disks) {
    std::string path = d.substr(d.find(':') + 1);
    devices += "<disk type='file' device='disk'><source file='" + path + "'/><target dev='vda'/></disk>";
  }
  // A CD-ROM and a read-only disk are never copied.
  devices += "<disk type='file' device='cdrom'><source file='/iso/missing.iso'/><readonly/></disk>";
  devices += "<disk type='network' device='disk'><source protocol='rbd' name='pool/img'/></disk>";
  return "<domain type='kvm'><name>" + name + "</name><memory unit='GiB'>1</memory><vcpu>1</vcpu><devices>" +
         devices + "</devices></domain>";
}

TEST_F(HookTest, AdmissionByCostCountsTheDisksAMigrationCopies) {
  Policy("[Host]\nIncomingMax=10\nIncomingCost=3\n");
  fs::create_directories(dir_.File("host/srv/shared"));
  std::ofstream(dir_.File("host/srv/shared/c.img")) << "x";
  // db1 brings two disks: 3, the whole budget — let in, as the only one.
  HookOutcome db1 = Run({"db1", "migrate", "begin", "-"},
                        VmWithDisks("db1", {"copied:/var/lib/libvirt/images/db1-a.qcow2", "copied:/var/lib/libvirt/images/db1-b.qcow2"}));
  ASSERT_EQ(db1.exit_code, 0) << db1.err;
  EXPECT_NE(ReadFile(dir_.File("run/incoming/db1")).find("cost 3\n"), std::string::npos);
  // web1's disk is on shared storage here: it costs 1, still over 3.
  HookOutcome web1 = Run({"web1", "migrate", "begin", "-"}, VmWithDisks("web1", {"shared:/srv/shared/c.img"}));
  EXPECT_EQ(web1.exit_code, 1);
  EXPECT_NE(web1.err.find("VM web1 would cost 1 on "), std::string::npos) << web1.err;
  EXPECT_NE(web1.err.find("migrations costing 3 are arriving already (IncomingCost=3, "), std::string::npos) << web1.err;
  EXPECT_NE(web1.err.find("try again when one has finished"), std::string::npos) << web1.err;
  std::optional<HookRefusal> over = HookRefusal::FindIn(web1.err);
  ASSERT_TRUE(over) << web1.err;
  EXPECT_EQ(over->reason, RefusalReason::kIncomingCost);
  EXPECT_TRUE(over->try_later());
  EXPECT_FALSE(fs::exists(dir_.File("run/incoming/web1")));
  // A disk to copy is named in the refusal.
  HookOutcome db2 = Run({"db2", "migrate", "begin", "-"}, VmWithDisks("db2", {"copied:/images/db2.raw"}));
  EXPECT_NE(db2.err.find("would cost 2 on "), std::string::npos) << db2.err;
  EXPECT_NE(db2.err.find("(1 + 1 disk to copy: /images/db2.raw)"), std::string::npos) << db2.err;
  // db1 has started here: its cost is freed, and web1 comes in.
  ASSERT_EQ(Run({"db1", "started", "begin", "-"}, VmWithDisks("db1", {})).exit_code, 0);
  web1 = Run({"web1", "migrate", "begin", "-"}, VmWithDisks("web1", {"shared:/srv/shared/c.img"}));
  EXPECT_EQ(web1.exit_code, 0) << web1.err;
  EXPECT_NE(ReadFile(dir_.File("run/incoming/web1")).find("cost 1\n"), std::string::npos);
}

// A migration that failed before any later hook ran here leaves its
// record behind; once stale it neither counts nor claims.
TEST_F(HookTest, AStaleIncomingRecordIsForgotten) {
  Policy("[Host]\nIncomingMax=1\n");
  ASSERT_EQ(Run({"lost", "migrate", "begin", "-"}, PinnedVm("lost", "1")).exit_code, 0);
  EXPECT_EQ(Run({"b", "migrate", "begin", "-"}, PinnedVm("b", "2")).exit_code, 1);
  fs::last_write_time(dir_.File("run/incoming/lost"),
                      fs::file_time_type::clock::now() - std::chrono::seconds(kIncomingStaleSeconds + 60));
  HookOutcome b = Run({"b", "migrate", "begin", "-"}, PinnedVm("b", "2"));
  EXPECT_EQ(b.exit_code, 0) << b.err;
  EXPECT_FALSE(fs::exists(dir_.File("run/incoming/lost")));
}

TEST_F(HookTest, HugepagesClaimedByAMigrationInFlightCountAgainstTheNext) {
  // 4 nodes x 4096 free 2 MiB pages = 32 GiB; two 24 GiB VMs do not both fit.
  std::string vm = "<memory unit='GiB'>24</memory><memoryBacking><hugepages/></memoryBacking></domain>";
  EXPECT_EQ(Run({"h1", "migrate", "begin", "-"}, "<domain><name>h1</name>" + vm).exit_code, 0);
  HookOutcome second = Run({"h2", "migrate", "begin", "-"}, "<domain><name>h2</name>" + vm);
  EXPECT_EQ(second.exit_code, 1);
  EXPECT_NE(second.err.find("needs 12288 hugepages of 2 MiB on host nodes 0-3: 4096 free (12288 more are claimed by incoming migrations)"),
            std::string::npos)
      << second.err;
  // h1 failed to arrive: its claim goes with it.
  EXPECT_EQ(Run({"h1", "stopped", "end", "-"}, "<domain><name>h1</name>" + vm).exit_code, 0);
  EXPECT_EQ(Run({"h2", "migrate", "begin", "-"}, "<domain><name>h2</name>" + vm).exit_code, 0);
}

// The contract, through the real binary: whatever comes in, no crash, no
// hang, and exit 0 — no policy decision was made.
// Issue 24, point 10. A `stopped` whose XML is over the stdin cap still
// forgets the VM: its CPUs are free for the next one.
TEST_F(HookTest, AStoppedWithAnOversizedXmlStillFreesTheVmsCpus) {
  ASSERT_EQ(Run({"db2", "started", "begin", "-"}, PinnedVm("db2", "16-19")).exit_code, 0);
  ASSERT_TRUE(fs::exists(dir_.File("run/running/db2")));
  const std::string huge = PinnedVm("db2", "16-19") + std::string(5 << 20, ' ');
  EXPECT_EQ(Run({"db2", "stopped", "end", "-"}, huge).exit_code, 0);
  EXPECT_FALSE(fs::exists(dir_.File("run/running/db2")));
  EXPECT_EQ(Run({"db1", "migrate", "begin", "-"}, PinnedVm("db1", "17")).exit_code, 0);
}

// A `stopped` that never came (the hook ran out of time under lock
// contention): the VM has no pid file in libvirt's directory any more, so
// its record no longer holds its CPUs.
TEST_F(HookTest, ARunningRecordOfAVmLibvirtNoLongerRunsHoldsNothing) {
  ASSERT_EQ(Run({"db2", "started", "begin", "-"}, PinnedVm("db2", "16-19")).exit_code, 0);
  const std::string pids = dir_.File("libvirt-qemu");
  fs::create_directories(pids);
  std::ofstream(pids + "/db2.pid") << "4242\n";
  EXPECT_EQ(Run({"db1", "migrate", "begin", "-"}, PinnedVm("db1", "17"), pids).exit_code, 1) << "db2 runs";
  fs::remove(pids + "/db2.pid");
  HookOutcome after = Run({"db1", "migrate", "begin", "-"}, PinnedVm("db1", "17"), pids);
  EXPECT_EQ(after.exit_code, 0) << after.err;
  EXPECT_FALSE(fs::exists(dir_.File("run/running/db2")));
}

// Names are records: a VM named x.tmp is not a temp file of x's, nor the
// reverse.
TEST_F(HookTest, VmsNamedXAndXTmpKeepTheirOwnRecords) {
  ASSERT_EQ(Run({"x", "started", "begin", "-"}, PinnedVm("x", "20")).exit_code, 0);
  ASSERT_EQ(Run({"x.tmp", "started", "begin", "-"}, PinnedVm("x.tmp", "21")).exit_code, 0);
  HookOutcome clash = Run({"y", "migrate", "begin", "-"}, PinnedVm("y", "21"));
  EXPECT_EQ(clash.exit_code, 1);
  EXPECT_NE(clash.err.find("held by VM x.tmp"), std::string::npos) << clash.err;
  ASSERT_EQ(Run({"x", "stopped", "end", "-"}, PinnedVm("x", "20")).exit_code, 0);
  EXPECT_TRUE(fs::exists(dir_.File("run/running/x.tmp")));
}

TEST_F(HookTest, HostileInputNeverFailsAnOperation) {
  Result<std::string> located = testing::LocateHook();
  if (!located.ok()) VC_CANNOT_RUN(located.status().ToString());
  const std::string& bin = *located;
  std::string huge = "<domain><name>x</name><description>" + std::string(kMaxDomainXml, 'x') + "</description></domain>";
  struct Case {
    std::string args, input;
  } cases[] = {
      {"", ""},
      {"vm", ""},
      {"vm migrate begin -", ""},
      {"vm migrate begin -", "not xml at all <<<"},
      {"vm migrate begin -", huge},
      {"vm reconnect begin -", "<domain><name>vm"},
      {"vm started begin -", "<network/>"},
      {"vm stopped end -", ""},
      {"vm release end migrated", "\x01\x02\xff"},
      {"vm frobnicate begin -", "<domain/>"},
      {"../../etc migrate begin -", "<domain><name>../../etc</name></domain>"},
  };
  for (const Case& c : cases) {
    std::ofstream(dir_.File("stdin")) << c.input;
    std::string cmd = "VIRT_CONVERGE_SYSFS_ROOT=" + dir_.File("host") + " VIRT_CONVERGE_POLICY_ROOT=" + dir_.File("policy") +
                      " VIRT_CONVERGE_HOOK_DIR=" + dir_.File("run") + " exec " + bin + " " + c.args + " < " + dir_.File("stdin");
    Result<testing::Subprocess> p = testing::Subprocess::Start({"/bin/sh", "-c", cmd}, dir_.File("out"));
    ASSERT_TRUE(p.ok());
    std::optional<int> st = p->Wait(Millis(5000));
    ASSERT_TRUE(st.has_value()) << "hung on: " << c.args;
    EXPECT_TRUE(WIFEXITED(*st) && WEXITSTATUS(*st) == 0) << c.args << ": " << ReadFile(dir_.File("out"));
  }
  EXPECT_FALSE(fs::exists(dir_.path() + "/etc"));
}

// libvirt passes a hook's refusal on inside its own error text; the reason
// code comes through, and words that merely look like one do not count.
TEST(HookRefusal, ItsReasonSurvivesLibvirtsWrapping) {
  const HookRefusal busy{RefusalReason::kIncomingMax, "b already receives 1 migration; try again when one has finished"};
  const std::string wrapped = "virDomainMigrate3: Hook script execution failed: internal error: Child process "
                              "(LC_ALL=C /etc/libvirt/hooks/qemu web1 migrate begin -) unexpected exit status 1: " +
                              busy.ToText() + "\n";
  std::optional<HookRefusal> found = HookRefusal::FindIn(wrapped);
  ASSERT_TRUE(found);
  EXPECT_EQ(found->reason, RefusalReason::kIncomingMax);
  EXPECT_EQ(found->message, busy.message);
  EXPECT_TRUE(found->try_later());
  EXPECT_EQ(RefusalCode(RefusalReason::kIncomingCost), "incoming.cost");
  EXPECT_FALSE(HookRefusal::FindIn("the VM try-again cannot start: virt-converge [no.such]: try again later"));
  EXPECT_FALSE(HookRefusal::FindIn("unable to connect to server: Connection refused; try again"));
}

}  // namespace
}  // namespace vc
