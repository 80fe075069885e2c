// Suite 'libvirt': migrations started by hand with `virsh migrate` on host A
// of the two-host bed, noticed by `virt-converge watch` with nothing of ours
// on virsh's command line, and steered through the libvirt backend.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "src/base/json.h"
#include "src/state/paths.h"
#include "tests/libvirt/libvirt_test_base.h"
#include "tests/support/libvirt_bed.h"
#include "tests/support/systemd_stub.h"
#include "tests/support/virt_converge_run.h"

namespace vc::testing {
namespace {

// Samples of the bulk pass at most 150 ms after the one before, in the
// history records of \a state_dir.
int FineBulkSamples(const std::string& state_dir) {
  int fine = 0;
  std::error_code ec;
  for (const std::filesystem::directory_entry& e : std::filesystem::directory_iterator(StatePaths("", state_dir).HistoryDir(), ec)) {
    Result<Json> j = Json::Parse(ReadFile(e.path().string()));
    if (j.ok() && j->Get("samples")) fine += BulkSamplesWithin(*j->Get("samples"), 150);
  }
  return fine;
}

// Issue 5, point 1: the hot set (32 MiB rewritten at 128 MiB/s) over a link
// capped at 32 MiB/s never meets QEMU's 300 ms downtime by itself.
TEST_F(LibvirtTest, WatchNoticesVirshMigrationAndMakesItConverge) {
  const std::string name = "hot";
  Status started = bed_->StartGuest('A', name, HotSetGuest());
  ASSERT_TRUE(started.ok()) << started.ToString();
  std::string uuid = Uuid('A', name);
  std::string run_dir = bed_->dir().File("run-watch");
  std::string state_dir = bed_->dir().File("state-watch");
  std::optional<VirtConvergeRun> watch = StartWatch(
      'A', run_dir, {"--helper-arg=--policy-root=" + PolicyRoot("default"), "--helper-arg=--state-dir=" + state_dir});
  ASSERT_TRUE(watch);
  ASSERT_TRUE(watch->WaitOutput("watching outgoing migrations", Millis(20000))) << watch->Output();

  // By hand, as an operator would: nothing of ours on the command line.
  Clock::time_point start = Clock::now();
  Subprocess virsh = StartVirshMigrate(name, 'B', {"--bandwidth", "32"}, bed_->dir().File("virsh-hot.log"));
  std::optional<int> st = virsh.Wait(Millis(180000));
  double with_us = SecondsBetween(start, Clock::now());
  ASSERT_EQ(ExitCode(st), 0) << ReadFile(bed_->dir().File("virsh-hot.log")) << watch->Output();
  std::string helper_log = StatePaths(run_dir, "").HelperLogFile(uuid);
  // The helper writes its summary a moment after libvirt's job ends.
  for (int i = 0; i < 100 && ReadFile(helper_log).find("outcome:") == std::string::npos; i++) {
    std::this_thread::sleep_for(Millis(100));
  }
  std::string helper = ReadFile(helper_log);
  std::fprintf(stderr, "[watch]\n%s\n[helper]\n%s\n", watch->Output().c_str(), helper.c_str());
  EXPECT_EQ(Count(watch->Output(), "domain hot (" + uuid + ") migrates out (MIGRATION setup): helper "), 1u) << watch->Output();
  EXPECT_NE(helper.find("outcome:    completed"), std::string::npos);
  EXPECT_NE(helper.find("set-downtime"), std::string::npos) << "it converged without us?";
  // libvirt's job stats say how much of the bulk pass is done (memory
  // normal + constant pages): the helper sampled every 100 ms over its end.
  EXPECT_GE(FineBulkSamples(state_dir), 5) << helper;
  EXPECT_TRUE(bed_->StopAndCheckGuest('B', name).ok());
  // Registering for QEMU's events taints nothing.
  EXPECT_FALSE(TaintedCustomMonitor('A', name));

  // The same migration without virt-converge, back from B (no watch there),
  // given twice the time it took with us: it does not finish.
  std::string out;
  ASSERT_EQ(bed_->Virsh('B', {"resume", name}, &out), 0) << out;
  double window = std::max(2 * with_us, 20.0);
  Subprocess alone = StartVirshMigrate(name, 'A', {"--bandwidth", "32"}, bed_->dir().File("virsh-alone.log"));
  std::optional<int> alone_st = alone.Wait(Millis(static_cast<int64_t>(window * 1000)));
  EXPECT_FALSE(alone_st.has_value()) << "finished without virt-converge: " << ReadFile(bed_->dir().File("virsh-alone.log"));
  std::fprintf(stderr, "with virt-converge: %.1f s; without: still running after %.1f s\n", with_us, window);
  bed_->Virsh('B', {"domjobabort", name}, &out);
  alone.Wait(Millis(60000));
  // Aborted by us, the test: the guest runs on where it was.
  EXPECT_EQ(bed_->Virsh('B', {"domstate", name}, &out), 0);
  EXPECT_NE(out.find("running"), std::string::npos) << out;
  bed_->Virsh('B', {"destroy", name});
  watch->process.Signal(SIGTERM);
  EXPECT_EQ(watch->WaitExit(Millis(10000)), 0) << watch->Output();
}

// Issue 5 (watch): where systemd runs, each helper is a transient unit.
// systemd is not PID 1 here, so watch talks to the manager API served on a
// private socket by SystemdStub (as systemd serves /run/systemd/private);
// the unit's command line is run as systemd would and follows the
// migration for real.
TEST_F(LibvirtTest, WatchStartsTheHelperAsATransientSystemdUnit) {
  const std::string name = "unit";
  Status started = bed_->StartGuest('A', name, HotSetGuest());
  ASSERT_TRUE(started.ok()) << started.ToString();
  std::string uuid = Uuid('A', name);
  std::string units_dir = bed_->dir().File("units");
  fs::create_directories(units_dir);
  Result<std::unique_ptr<SystemdStub>> manager = SystemdStub::Start(units_dir + "/private", units_dir);
  ASSERT_TRUE(manager.ok()) << manager.status().ToString();
  std::optional<VirtConvergeRun> watch =
      StartWatch('A', bed_->dir().File("run-unit"),
                 {"--systemd-address", (*manager)->address(), "--helper-arg=--policy-root=" + PolicyRoot("default")});
  ASSERT_TRUE(watch);
  ASSERT_TRUE(watch->WaitOutput("watching outgoing migrations", Millis(20000))) << watch->Output();
  EXPECT_NE(watch->Output().find("helpers run as transient systemd units"), std::string::npos) << watch->Output();

  Subprocess virsh = StartVirshMigrate(name, 'B', {"--bandwidth", "32"}, bed_->dir().File("virsh-unit.log"));
  const std::string unit = "virt-converge-follow-" + uuid + ".service";
  std::string unit_log = units_dir + "/" + unit + ".log";
  ASSERT_EQ(ExitCode(virsh.Wait(Millis(180000))), 0)
      << ReadFile(bed_->dir().File("virsh-unit.log")) << watch->Output() << "[unit]\n" << ReadFile(unit_log);
  ASSERT_TRUE(WaitFileText(unit_log, "outcome:", Millis(10000))) << ReadFile(unit_log) << watch->Output();
  std::vector<SystemdStub::Unit> units = (*manager)->units();
  ASSERT_EQ(units.size(), 1u) << watch->Output();
  EXPECT_EQ(units[0].name, unit);
  ASSERT_GE(units[0].exec_argv.size(), 3u);
  EXPECT_EQ(units[0].exec_argv[1], "attach");
  EXPECT_EQ(units[0].exec_argv[2], uuid);
  EXPECT_EQ(Count(watch->Output(), ": unit " + unit + " (journalctl -u " + unit + ") follows it"), 1u)
      << watch->Output();
  EXPECT_NE(ReadFile(unit_log).find("outcome:    completed"), std::string::npos) << ReadFile(unit_log);
  EXPECT_TRUE(bed_->StopAndCheckGuest('B', name).ok());
  bed_->Virsh('B', {"destroy", name});
  watch->process.Signal(SIGTERM);
  EXPECT_EQ(watch->WaitExit(Millis(10000)), 0) << watch->Output();
}

// `policy show DOMAIN` looks the domain up in libvirt and matches on all
// its XML says — pinning, NUMA, metadata — as attach does.
TEST_F(LibvirtTest, PolicyShowMatchesOnTheDomainXml) {
  std::string xml = bed_->dir().File("pinned.xml");
  std::ofstream(xml) << R"(<domain type='qemu'>
  <name>pinned</name>
  <metadata><nova:instance xmlns:nova="http://openstack.org/xmlns/libvirt/nova/1.1">
    <nova:flavor name="m1.large"/></nova:instance></metadata>
  <memory unit='MiB'>128</memory>
  <vcpu>2</vcpu>
  <cputune><vcpupin vcpu='0' cpuset='0'/><vcpupin vcpu='1' cpuset='1'/></cputune>
  <os><type arch='x86_64'>hvm</type></os>
</domain>)";
  std::string out;
  ASSERT_EQ(bed_->Virsh('A', {"define", xml}, &out), 0) << out;
  std::string root = bed_->dir().File("policy-show");
  PolicyTree tree = PolicyTree::Under(root);
  tree.Write("70-pinned.conf",
             "[Match]\nPinned=yes\nMetadata=flavor@name=m1.large\nMemory=..1GiB\n[Control]\nAllowPassthrough=yes\n");
  tree.Write("71-small.conf", "[Match]\nMetadata=flavor@name=m1.small\n[Control]\nAllowPassthrough=no\n");
  auto policy_show = [&](const std::string& domain, std::string* output) {
    CommandOutcome r = RunVirtConverge(bed_->dir(), "policy-show-" + domain,
                                       {"policy", "show", domain, "--connect", bed_->uri('A'), "--root", root});
    *output = r.out;
    return r.code;
  };
  std::string shown;
  EXPECT_EQ(policy_show("pinned", &shown), 0) << shown;
  EXPECT_NE(shown.find("# applied:     " + tree.Dir() + "/70-pinned.conf"), std::string::npos) << shown;
  EXPECT_NE(shown.find("# not matched: " + tree.Dir() + "/71-small.conf"), std::string::npos) << shown;
  EXPECT_NE(shown.find("70-pinned.conf:6"), std::string::npos) << shown;  // AllowPassthrough=yes, from there
  std::string missing;
  EXPECT_EQ(policy_show("nosuch", &missing), 2) << missing;
  EXPECT_NE(missing.find("nosuch: no such domain"), std::string::npos) << missing;
  bed_->Virsh('A', {"undefine", "pinned"});
}

// Issue 6, point 3: host B has given CPU 1 to a VM pinned 1:1; a VM pinned
// to CPU 1 migrating from A is refused by B's hook before a byte is copied,
// with our message shown by virsh, and runs on on A. With adapt it moves.
TEST_F(LibvirtTest, HookRefusesOrAdaptsAVmPinnedToACpuTheDestinationHasGivenAway) {
  const std::string pin = "  <cputune><vcpupin vcpu='0' cpuset='1'/></cputune>\n";
  GuestParams quiet = HotSetGuest();
  quiet.rate = std::to_string(1 << 20);
  quiet.ram_mib = 128;
  ASSERT_TRUE(bed_->StartGuest('B', "holder", quiet, pin).ok());
  EXPECT_EQ(ReadFile(bed_->HookDir('B') + "/running/holder"), "dedicated 1\n");
  ASSERT_TRUE(bed_->StartGuest('A', "mover", quiet, pin).ok());
  std::string log = bed_->dir().File("virsh-mover.log");
  Subprocess virsh = StartVirshMigrate("mover", 'B', {}, log);
  EXPECT_NE(ExitCode(virsh.Wait(Millis(60000))), 0) << ReadFile(log);
  std::string said = ReadFile(log);
  std::fprintf(stderr, "[virsh migrate]\n%s\n", said.c_str());
  EXPECT_NE(said.find("virt-converge [fitness.cpu]: VM mover cannot run on"), std::string::npos) << said;
  EXPECT_NE(said.find("vcpu 0 pinned to host CPU 1: host CPU 1 is held by VM holder (pinned 1:1) on this host"),
            std::string::npos)
      << said;
  std::string out;
  EXPECT_EQ(bed_->Virsh('A', {"domstate", "mover"}, &out), 0);
  EXPECT_NE(out.find("running"), std::string::npos) << out;
  EXPECT_FALSE(std::filesystem::exists(bed_->HookDir('B') + "/incoming/mover"));

  // Issue 6, point 3 (second half): with Destination=adapt, B gives it the
  // free CPU 0; migrated back to A, where CPU 1 is free, it gets CPU 1 again.
  std::string b_policy = bed_->PolicyDir('B') + "/50-adapt.conf";
  std::ofstream(b_policy) << "[Host]\nDestination=adapt\n";
  Subprocess adapted = StartVirshMigrate("mover", 'B', {}, bed_->dir().File("virsh-mover-adapt.log"));
  ASSERT_EQ(ExitCode(adapted.Wait(Millis(120000))), 0) << ReadFile(bed_->dir().File("virsh-mover-adapt.log"));
  EXPECT_EQ(bed_->Virsh('B', {"vcpupin", "mover", "--vcpu", "0"}, &out), 0);
  std::fprintf(stderr, "[vcpupin on B]\n%s\n", out.c_str());
  EXPECT_EQ(Vcpu0Affinity(out), "0") << out;
  EXPECT_EQ(bed_->Virsh('B', {"dumpxml", "mover"}, &out), 0);
  EXPECT_NE(out.find("virt-converge.org/xmlns/placement"), std::string::npos) << out;
  EXPECT_EQ(ReadFile(bed_->HookDir('B') + "/running/mover"), "dedicated 0\n");
  // `virt-converge status` says it runs adapted, and what it had.
  auto status = [&](char host, const std::string& tag) {
    CommandOutcome r = RunVirtConverge(bed_->dir(), "status-mover-" + tag,
                                       {"status", "mover", "--connect", bed_->uri(host), "--run-dir",
                                        bed_->dir().File("status-run"), "--state-dir", bed_->dir().File("status-state")});
    EXPECT_EQ(r.code, 0) << r.out;
    return r.out;
  };
  std::string shown = status('B', "adapted");
  EXPECT_NE(shown.find("placement:  ADAPTED to this host by the destination hook: vcpu 0 on CPU 0"), std::string::npos)
      << shown;
  EXPECT_NE(shown.find("original (restored on a host where it fits): vcpu 0 on CPU 1"), std::string::npos) << shown;
  Subprocess back = StartVirshMigrate("mover", 'A', {}, bed_->dir().File("virsh-mover-back.log"));
  ASSERT_EQ(ExitCode(back.Wait(Millis(120000))), 0) << ReadFile(bed_->dir().File("virsh-mover-back.log"));
  EXPECT_EQ(bed_->Virsh('A', {"vcpupin", "mover", "--vcpu", "0"}, &out), 0);
  std::fprintf(stderr, "[vcpupin back on A]\n%s\n", out.c_str());
  EXPECT_EQ(Vcpu0Affinity(out), "1") << out;
  EXPECT_EQ(bed_->Virsh('A', {"dumpxml", "mover"}, &out), 0);
  EXPECT_EQ(out.find("virt-converge.org/xmlns/placement"), std::string::npos) << out;
  shown = status('A', "restored");
  EXPECT_NE(shown.find("placement:  as the VM's own XML asks (vcpu 0 on CPU 1"), std::string::npos) << shown;
  EXPECT_TRUE(bed_->StopAndCheckGuest('A', "mover").ok());
  bed_->Virsh('A', {"destroy", "mover"});
  bed_->Virsh('B', {"destroy", "holder"});
  EXPECT_FALSE(std::filesystem::exists(bed_->HookDir('B') + "/running/holder"));
  EXPECT_FALSE(std::filesystem::exists(bed_->HookDir('B') + "/running/mover"));
}

// Issue 5, point 4: without passthrough a throttle step says "not allowed"
// and the domain stays untainted; with it, the step is applied and libvirt
// marks the domain custom-monitor, which virt-converge says. Issue 27: with
// it, the guest's dirty rate is sampled in the bulk pass as over plain QMP.
TEST_F(LibvirtTest, PassthroughOnlyWhenThePolicyAllowsIt) {
  for (bool allowed : {false, true}) {
    SCOPED_TRACE(allowed ? "passthrough allowed" : "passthrough forbidden");
    const std::string name = allowed ? "tp-yes" : "tp-no";
    Status started = bed_->StartGuest('A', name, HotSetGuest());
    ASSERT_TRUE(started.ok()) << started.ToString();
    std::string policy = "[Schedule]\nStep=start throttle=30%\n";
    if (allowed) policy += "[Control]\nAllowPassthrough=yes\n";
    std::string log = bed_->dir().File("virsh-" + name + ".log");
    Subprocess virsh = StartVirshMigrate(name, 'B', {"--bandwidth", "32", "--auto-converge"}, log);
    auto attach = StartVirtConverge(bed_->dir(), "attach-" + name,
                                    {"attach", name, "--connect", bed_->uri('A'), "--run-dir",
                                     bed_->dir().File("run-" + name), "--policy-root",
                                     PolicyRoot(name, policy)});
    ASSERT_TRUE(attach.ok());
    EXPECT_EQ(ExitCode(virsh.Wait(Millis(180000))), 0) << ReadFile(log);
    EXPECT_EQ(attach->WaitExit(Millis(30000)), 0) << attach->Output();
    std::string out = attach->Output();
    bool tainted = TaintedCustomMonitor('A', name);
    // The step's one migrate-set-parameters, as it reached QEMU (with the
    // trigger that makes QEMU apply the level whatever the guest dirties).
    Status throttled = bed_->QemuAccepted('A', "migrate-set-parameters",
                                          {"\"cpu-throttle-initial\":30", "\"cpu-throttle-increment\":30",
                                           "\"max-cpu-throttle\":30", "\"throttle-trigger-threshold\":1"});
    EXPECT_EQ(throttled.ok(), allowed) << throttled.ToString();
    Status sampled = bed_->QemuAccepted('A', "calc-dirty-rate", {"\"calc-time\":2"});
    EXPECT_EQ(sampled.ok(), allowed) << sampled.ToString();
    if (allowed) {
      EXPECT_NE(out.find("action set-throttle-level 30% [done]"), std::string::npos) << out;
      EXPECT_NE(out.find("marks domain " + name + " tainted \"custom-monitor\""), std::string::npos) << out;
      EXPECT_TRUE(tainted) << bed_->DaemonLog('A');
    } else {
      EXPECT_NE(out.find("not allowed: the policy forbids QMP passthrough"), std::string::npos) << out;
      EXPECT_FALSE(tainted) << bed_->DaemonLog('A');
    }
    EXPECT_TRUE(bed_->StopAndCheckGuest('B', name).ok());
    bed_->Virsh('B', {"destroy", name});
  }
}

// Issue 27, point 3, through libvirt: a `virsh migrate --postcopy` of a
// guest rewriting half its RAM at about 0.6x the link, followed with QMP
// passthrough and [Adaptive] EarlyPostcopy=yes. The dirty rate sampled in
// the bulk pass shows pre-copy would take far longer: libvirt is asked for
// post-copy inside the bulk pass, virsh's migration completes in it, and
// every page of the guest is on B.
TEST_F(LibvirtTest, EarlyPostcopyThroughLibvirtSwitchesInTheBulkPass) {
  const std::string name = "early";
  GuestParams guest;
  guest.ram_mib = 256;
  guest.wss = "128M";
  guest.rate = "20M";
  Status started = bed_->StartGuest('A', name, guest);
  ASSERT_TRUE(started.ok()) << started.ToString();
  const std::string policy = "[Control]\nAllowPassthrough=yes\n[Adaptive]\nEarlyPostcopy=yes\n";
  std::string log = bed_->dir().File("virsh-" + name + ".log");
  Subprocess virsh = StartVirshMigrate(name, 'B', {"--bandwidth", "32", "--postcopy"}, log);
  auto attach = StartVirtConverge(bed_->dir(), "attach-" + name,
                                  {"attach", name, "--connect", bed_->uri('A'), "--run-dir",
                                   bed_->dir().File("run-" + name), "--policy-root", PolicyRoot(name, policy)});
  ASSERT_TRUE(attach.ok());
  EXPECT_EQ(ExitCode(virsh.Wait(Millis(180000))), 0) << ReadFile(log);
  EXPECT_EQ(attach->WaitExit(Millis(30000)), 0) << attach->Output();
  const std::string out = attach->Output();
  std::fprintf(stderr, "%s\n", out.c_str());
  const size_t action = out.find(" action start-postcopy [done]: adaptive: in the bulk pass");
  ASSERT_NE(action, std::string::npos) << out;
  const size_t line_end = out.find('\n', action);
  const std::string line = out.substr(action, line_end - action);
  EXPECT_NE(line.find("sampled in the bulk pass"), std::string::npos) << line;
  EXPECT_NE(line.find("[early.postcopy]"), std::string::npos) << line;
  // Inside the bulk pass: before 256 MiB could have crossed the 32 MiB/s link.
  const size_t line_start = out.rfind('\n', action) + 1;
  EXPECT_LT(std::stod(out.substr(line_start, action - line_start)), 8.0) << line;
  EXPECT_EQ(out.find("action set-throttle-level"), std::string::npos) << out;
  EXPECT_NE(out.find("outcome:    completed-postcopy"), std::string::npos) << out;
  Status sampled = bed_->QemuAccepted('A', "calc-dirty-rate", {"\"calc-time\":2"});
  EXPECT_TRUE(sampled.ok()) << sampled.ToString();
  EXPECT_TRUE(bed_->StopAndCheckGuest('B', name).ok());
  bed_->Virsh('B', {"destroy", name});
}

// Issue 5, point 2: `virt-converge migrate` turns the policy's [Start] into
// libvirt flags and parameters — seen reaching QEMU on both hosts — says
// what libvirt cannot take, and the policy's post-copy step ends it in
// post-copy. A watch running on
// the host leaves it alone (migrate holds the follow lock).
TEST_F(LibvirtTest, MigrateSetsStartSettingsInQemuOnBothSidesAndPostcopyCompletes) {
  const std::string name = "mig";
  Status started = bed_->StartGuest('A', name, HotSetGuest());
  ASSERT_TRUE(started.ok()) << started.ToString();
  std::string run_dir = bed_->dir().File("run-mig");
  std::optional<VirtConvergeRun> watch = StartWatch('A', run_dir, {});
  ASSERT_TRUE(watch);
  ASSERT_TRUE(watch->WaitOutput("watching outgoing migrations", Millis(20000)));
  std::string root = bed_->dir().File("policy-mig");
  PolicyTree::Under(root).Write("50-mig.conf",
      "[Start]\nAutoConverge=yes\nThrottleInitial=5%\nThrottleIncrement=5%\nThrottleMax=99%\nPostcopy=yes\n"
         "PostcopyPreempt=yes\nCompression=xbzrle\nXbzrleCacheSize=32MiB\nBandwidth=32MiB/s\n"
         "[Adaptive]\nEnabled=no\n"
         "[Schedule]\nStep=iteration>2 postcopy\n");
  auto migrate = StartVirtConverge(bed_->dir(), "migrate",
                                   {"migrate", name, bed_->uri('B'), "--connect", bed_->uri('A'),
                                    "--migrate-uri", "tcp://" + bed_->address('B'), "--run-dir", run_dir,
                                    "--policy-root", root});
  ASSERT_TRUE(migrate.ok());
  ASSERT_TRUE(migrate->WaitOutput("started migration of", Millis(30000))) << migrate->Output();
  EXPECT_NE(migrate->Output().find("(postcopy-ram on, auto-converge on, compression xbzrle)"), std::string::npos);
  EXPECT_NE(migrate->Output().find("cannot honour here: the throttle's maximum"), std::string::npos);
  // No libvirt has a migration flag for it: said, and the post-copy goes on
  // without it (libvirt 9.0 and 11.3 alike).
  EXPECT_NE(migrate->Output().find("cannot honour here: post-copy preempt: libvirt has no way to ask QEMU for it"),
            std::string::npos) << migrate->Output();

  EXPECT_EQ(migrate->WaitExit(Millis(180000)), 0) << migrate->Output();
  std::string out = migrate->Output();
  std::fprintf(stderr, "%s\n", out.c_str());
  EXPECT_NE(out.find("action start-postcopy"), std::string::npos) << out;
  EXPECT_NE(out.find("outcome:    completed-postcopy — finished in post-copy"), std::string::npos) << out;
  EXPECT_EQ(watch->Output().find(") follows it"), std::string::npos) << watch->Output();
  // What reached QEMU, on both sides.
  auto on = [](const std::string& cap) { return "{\"capability\":\"" + cap + "\",\"state\":true}"; };
  Status src_caps = bed_->QemuAccepted('A', "migrate-set-capabilities", {on("auto-converge"), on("postcopy-ram"), on("xbzrle")});
  EXPECT_TRUE(src_caps.ok()) << src_caps.ToString();
  Status dst_caps = bed_->QemuAccepted('B', "migrate-set-capabilities", {on("postcopy-ram"), on("xbzrle")});
  EXPECT_TRUE(dst_caps.ok()) << dst_caps.ToString();
  Status src_params = bed_->QemuAccepted('A', "migrate-set-parameters",
                                         {"\"cpu-throttle-initial\":5,", "\"cpu-throttle-increment\":5,",
                                          "\"max-bandwidth\":33554432", "\"xbzrle-cache-size\":33554432"});
  EXPECT_TRUE(src_params.ok()) << src_params.ToString();
  EXPECT_TRUE(bed_->StopAndCheckGuest('B', name).ok());
  bed_->Virsh('B', {"destroy", name});
  watch->process.Signal(SIGTERM);
  EXPECT_EQ(watch->WaitExit(Millis(10000)), 0);
}

// Issue 26, point 5, through libvirt: multifd with zstd at a level. From
// libvirt 9.4 libvirt takes the compression and its level and sets both
// sides itself; 9.0 cannot, says so, and migrates uncompressed. Either way
// the migration completes with the guest's memory checked page by page.
TEST_F(LibvirtTest, MultifdCompressionAtALevelReachesBothQemusWhereLibvirtCan) {
  const std::string name = "mfd";
  Status started = bed_->StartGuest('A', name, QuietGuest());
  ASSERT_TRUE(started.ok()) << started.ToString();
  const std::string root = PolicyRoot("mfd", "[Start]\nMultifdChannels=2\nCompression=zstd\nCompressionLevel=3\n"
                                             "Bandwidth=64MiB/s\n");
  auto migrate = StartVirtConverge(bed_->dir(), "migrate-mfd",
                                   {"migrate", name, bed_->uri('B'), "--connect", bed_->uri('A'), "--migrate-uri",
                                    "tcp://" + bed_->address('B'), "--run-dir", bed_->dir().File("run-mfd"),
                                    "--policy-root", root});
  ASSERT_TRUE(migrate.ok());
  EXPECT_EQ(migrate->WaitExit(Millis(180000)), 0) << migrate->Output();
  const std::string out = migrate->Output();
  EXPECT_NE(out.find("outcome:    completed"), std::string::npos) << out;
  const unsigned long lib = DaemonVersion('A');
  ASSERT_GT(lib, 0u);
  if (lib < 9004000) {
    EXPECT_NE(out.find("cannot honour here: multifd zstd compression: libvirt 9.0.0 cannot ask QEMU for it (libvirt 9.4 "
                       "and later can); migrating uncompressed"),
              std::string::npos) << out;
  } else {
    // What reached QEMU, on both sides: libvirt sets the destination too.
    Status src = bed_->QemuAccepted('A', "migrate-set-parameters",
                                    {"\"multifd-compression\":\"zstd\"", "\"multifd-zstd-level\":3", "\"multifd-channels\":2"});
    EXPECT_TRUE(src.ok()) << src.ToString();
    Status dst = bed_->QemuAccepted('B', "migrate-set-parameters", {"\"multifd-compression\":\"zstd\""});
    EXPECT_TRUE(dst.ok()) << dst.ToString();
    EXPECT_EQ(out.find("cannot honour here: multifd"), std::string::npos) << out;
  }
  Status checked = bed_->StopAndCheckGuest('B', name);
  EXPECT_TRUE(checked.ok()) << checked.ToString();
  bed_->Virsh('B', {"destroy", name});
}

// Issue 26, point 3, through libvirt without QMP passthrough: from libvirt
// 11.1 with QEMU 8.2+, `migrate` gives QEMU the switch-over speed at the
// start (bandwidth.avail.switchover), since nothing can change it later;
// downtime-limit then means real downtime and stays within MaxDowntime.
// A 32 MiB hot set at 128 MiB/s under a 16 MiB/s cap: QEMU judges the
// floor at the stated 256 MiB/s and switches over by itself. Before (9.0
// with QEMU 7.2) the correction raises the limit in QEMU's terms instead.
TEST_F(LibvirtTest, TheSwitchoverSpeedIsGivenAtTheStartWhereLibvirtCanAndNothingElseCould) {
  const std::string name = "avail";
  Status started = bed_->StartGuest('A', name, HotSetGuest());
  ASSERT_TRUE(started.ok()) << started.ToString();
  const std::string root = PolicyRoot("avail", "[Start]\nBandwidth=16MiB/s\n[Adaptive]\nSwitchoverBandwidth=256MiB/s\n"
                                               "MaxDowntime=2s\n[Control]\nAllowPassthrough=no\n");
  auto migrate = StartVirtConverge(bed_->dir(), "migrate-avail",
                                   {"migrate", name, bed_->uri('B'), "--connect", bed_->uri('A'), "--migrate-uri",
                                    "tcp://" + bed_->address('B'), "--run-dir", bed_->dir().File("run-avail"),
                                    "--policy-root", root});
  ASSERT_TRUE(migrate.ok());
  EXPECT_EQ(migrate->WaitExit(Millis(300000)), 0) << migrate->Output();
  const std::string out = migrate->Output();
  std::fprintf(stderr, "%s\n", out.c_str());
  EXPECT_NE(out.find("outcome:    completed"), std::string::npos) << out;
  const std::optional<Json> summary = migrate->Summary();
  ASSERT_TRUE(summary && summary->Get("actions")) << out;
  const Json actions = *summary->Get("actions");
  const unsigned long lib = DaemonVersion('A');
  ASSERT_GT(lib, 0u);
  const bool can = lib >= 11001000 && out.find("QEMU 10.") != std::string::npos;
  const std::string given = "switch-over speed for QEMU from the start: 256.0 MiB/s";
  if (can) {
    EXPECT_NE(out.find(given), std::string::npos) << out;
    Status src = bed_->QemuAccepted('A', "migrate-set-parameters", {"\"avail-switchover-bandwidth\":268435456"});
    EXPECT_TRUE(src.ok()) << src.ToString();
    for (size_t i = 0; i < actions.ArraySize(); i++) {
      const std::string action = actions.At(i).GetString("action").value_or("");
      EXPECT_NE(action, "set-switchover-bandwidth") << out;
      if (action == "set-downtime") {
        EXPECT_LE(actions.At(i).GetInt("value").value_or(0), 2000) << out;
      }
    }
    EXPECT_LE(summary->GetInt("downtime-ms").value_or(1 << 30), 2000) << out;
  } else {
    EXPECT_EQ(out.find(given), std::string::npos) << out;
  }
  Status checked = bed_->StopAndCheckGuest('B', name);
  EXPECT_TRUE(checked.ok()) << checked.ToString();
  bed_->Virsh('B', {"destroy", name});
}

// Issue 5, point 3 (watch): a migration already running when watch starts is
// adopted; watch restarted while its helper follows starts no second one.
TEST_F(LibvirtTest, WatchAdoptsRunningMigrationAndNeverStartsTwoHelpers) {
  const std::string name = "adopt";
  Status started = bed_->StartGuest('A', name, HotSetGuest());
  ASSERT_TRUE(started.ok()) << started.ToString();
  std::string uuid = Uuid('A', name);
  std::string run_dir = bed_->dir().File("run-adopt");
  std::string helper_log = StatePaths(run_dir, "").HelperLogFile(uuid);
  std::string log = bed_->dir().File("virsh-adopt.log");
  Subprocess virsh = StartVirshMigrate(name, 'B', {"--bandwidth", "32"}, log);
  std::this_thread::sleep_for(Millis(3000));  // well into the bulk pass
  ASSERT_FALSE(virsh.Wait(Millis(0)).has_value()) << ReadFile(log);
  // Nobody follows it yet: `list -c` shows it from libvirt's job, on both
  // sides (issue 7, operator CLI).
  CommandOutcome out_a = RunVirtConverge(bed_->dir(), "list-a", {"list", "--json", "-c", bed_->uri('A'), "--run-dir", run_dir});
  auto listed = Json::Parse(out_a.out);
  ASSERT_TRUE(listed.ok() && listed->ArraySize() == 1u) << out_a.out;
  EXPECT_EQ(listed->At(0).GetString("vm"), name);
  EXPECT_EQ(listed->At(0).GetString("direction"), "out");
  EXPECT_EQ(listed->At(0).GetString("policy"), "not followed");
  EXPECT_GT(listed->At(0).GetUint("ram-total").value_or(0), 0u) << out_a.out;
  CommandOutcome in_b = RunVirtConverge(bed_->dir(), "list-b", {"list", "-c", bed_->uri('B'), "--run-dir", run_dir});
  EXPECT_EQ(in_b.code, 0) << in_b.out;
  EXPECT_NE(in_b.out.find(name + " "), std::string::npos) << in_b.out;
  EXPECT_NE(in_b.out.find(" in "), std::string::npos) << in_b.out;

  std::vector<std::string> helper_args = {"--helper-arg=--policy-root=" + PolicyRoot("adopt")};
  std::optional<VirtConvergeRun> first = StartWatch('A', run_dir, helper_args);
  ASSERT_TRUE(first);
  ASSERT_TRUE(first->WaitOutput("already migrating at start-up", Millis(20000))) << first->Output();
  ASSERT_TRUE(WaitFileText(helper_log, "following the migration", Millis(20000))) << ReadFile(helper_log);
  // Now followed: listed once, from the helper's record.
  out_a = RunVirtConverge(bed_->dir(), "list-a-followed", {"list", "--json", "-c", bed_->uri('A'), "--run-dir", run_dir});
  listed = Json::Parse(out_a.out);
  ASSERT_TRUE(listed.ok() && listed->ArraySize() == 1u) << out_a.out;
  EXPECT_NE(listed->At(0).GetString("policy").value_or(""), "not followed") << out_a.out;
  EXPECT_EQ(listed->At(0).GetString("uuid"), uuid);
  first->process.Signal(SIGTERM);
  EXPECT_EQ(first->WaitExit(Millis(10000)), 0) << first->Output();

  // The helper runs on without its watch; a new watch sees it follows.
  std::optional<VirtConvergeRun> second = StartWatch('A', run_dir, helper_args);
  ASSERT_TRUE(second);
  ASSERT_TRUE(second->WaitOutput("watching outgoing migrations", Millis(20000)));
  EXPECT_EQ(ExitCode(virsh.Wait(Millis(180000))), 0) << ReadFile(log);
  ASSERT_TRUE(WaitFileText(helper_log, "outcome:", Millis(10000)));
  std::string helper = ReadFile(helper_log);
  std::fprintf(stderr, "[first watch]\n%s[second watch]\n%s[helper]\n%s\n", first->Output().c_str(),
               second->Output().c_str(), helper.c_str());
  EXPECT_EQ(Count(second->Output(), ") follows it"), 0u);
  EXPECT_EQ(Count(helper, "attached to"), 1u);
  EXPECT_NE(helper.find("outcome:    completed"), std::string::npos);
  EXPECT_TRUE(bed_->StopAndCheckGuest('B', name).ok());
  bed_->Virsh('B', {"destroy", name});
  second->process.Signal(SIGTERM);
  EXPECT_EQ(second->WaitExit(Millis(10000)), 0);
}

// Issue 5, point 3 (libvirtd): restarted mid-migration, libvirt 9.0 cancels
// the pre-copy migration and resumes the guest; the helper exits cleanly
// (lost, leaving everything to libvirt), the guest runs on, and watch
// reconnects.
TEST_F(LibvirtTest, LibvirtdRestartMidMigrationHarmsNothing) {
  const std::string name = "restart";
  Status started = bed_->StartGuest('A', name, HotSetGuest());
  ASSERT_TRUE(started.ok()) << started.ToString();
  std::string uuid = Uuid('A', name);
  std::string run_dir = bed_->dir().File("run-restart");
  std::string helper_log = StatePaths(run_dir, "").HelperLogFile(uuid);
  std::optional<VirtConvergeRun> watch = StartWatch('A', run_dir, {"--helper-arg=--policy-root=" + PolicyRoot("restart")});
  ASSERT_TRUE(watch);
  ASSERT_TRUE(watch->WaitOutput("watching outgoing migrations", Millis(20000)));
  std::string log = bed_->dir().File("virsh-restart.log");
  Subprocess virsh = StartVirshMigrate(name, 'B', {"--bandwidth", "32"}, log);
  ASSERT_TRUE(WaitFileText(helper_log, "following the migration", Millis(30000))) << watch->Output();
  std::this_thread::sleep_for(Millis(2000));

  ASSERT_TRUE(bed_->RestartDaemon('A').ok());
  virsh.Wait(Millis(60000));
  ASSERT_TRUE(WaitFileText(helper_log, "outcome:", Millis(30000))) << ReadFile(helper_log);
  ASSERT_TRUE(watch->WaitOutput("connected to libvirt again", Millis(60000))) << watch->Output();
  std::string helper = ReadFile(helper_log);
  std::fprintf(stderr, "[watch]\n%s[helper]\n%s\n", watch->Output().c_str(), helper.c_str());
  EXPECT_NE(helper.find("outcome:    lost"), std::string::npos);
  EXPECT_EQ(helper.find("internal error"), std::string::npos) << "lost is not our fault";
  // The guest: running on A, not paused, not killed, its migration job gone.
  std::string out;
  Deadline deadline = Clock::now() + Millis(30000);
  do {
    bed_->Virsh('A', {"domstate", name}, &out);
    if (out.find("running") != std::string::npos) break;
    std::this_thread::sleep_for(Millis(200));
  } while (Clock::now() < deadline);
  EXPECT_NE(out.find("running"), std::string::npos) << out;
  EXPECT_NE(bed_->Virsh('B', {"domstate", name}, &out), 0) << "half-migrated to B: " << out;
  bed_->Virsh('A', {"destroy", name});
  watch->process.Signal(SIGTERM);
  EXPECT_EQ(watch->WaitExit(Millis(10000)), 0);
}

}  // namespace
}  // namespace vc::testing
