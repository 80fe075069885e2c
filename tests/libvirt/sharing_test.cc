// Suite 'libvirt', issue 7: sharing host A among the migrations leaving it
// — the cost budget with storage migrations (a disk's unit comes back when
// its mirror is ready) and `evacuate` — on the two-host bed.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <thread>

#include "src/base/json.h"
#include "src/coord/admission.h"
#include "src/state/paths.h"
#include "tests/libvirt/libvirt_test_base.h"
#include "tests/support/libvirt_bed.h"
#include "tests/support/virt_converge_run.h"

namespace vc::testing {
namespace {

bool SameContent(const std::string& a, const std::string& b) {
  std::ifstream x(a, std::ios::binary), y(b, std::ios::binary);
  std::istreambuf_iterator<char> end;
  return x && y && std::equal(std::istreambuf_iterator<char>(x), end, std::istreambuf_iterator<char>(y), end);
}

// Point 3: budget 3; st1 and st2 each cost 2 (the VM and one disk). st2
// waits in the queue until st1's disk mirror is ready — st1 then costs 1 —
// and starts while st1 still copies its RAM. Both disks arrive intact.
TEST_F(LibvirtTest, AQueuedStorageMigrationStartsWhenTheOthersDiskMirrorIsReady) {
  std::string root = PolicyRoot("cost", "[Host]\nCostBudget=3\n");
  std::string run_dir = bed_->dir().File("run-cost");
  std::vector<std::unique_ptr<VirtConvergeRun>> runs;
  for (const std::string name : {"st1", "st2"}) {
    Result<std::string> disk = bed_->MakeDisk('A', name + ".raw", "vda", 48);
    ASSERT_TRUE(disk.ok()) << disk.status().ToString();
    Status started = bed_->StartGuest('A', name, QuietGuest(), "", *disk);
    ASSERT_TRUE(started.ok()) << started.ToString();
  }
  auto migrate = [&](const std::string& name) {
    Result<VirtConvergeRun> r = StartVirtConverge(
        bed_->dir(), "migrate-" + name,
        {"migrate", name, bed_->uri('B'), "--connect", bed_->uri('A'), "--migrate-uri", "tcp://" + bed_->address('B'),
         "--copy-storage", "--bandwidth", "16MiB/s", "--run-dir", run_dir, "--policy-root", root});
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return std::make_unique<VirtConvergeRun>(std::move(*r));
  };
  std::unique_ptr<VirtConvergeRun> st1 = migrate("st1");
  ASSERT_TRUE(st1->WaitOutput("started migration of", Millis(30000))) << st1->Output();
  EXPECT_NE(st1->Output().find("admitted: cost 2 (the VM + vda) within the host's budget of 3"), std::string::npos)
      << st1->Output();
  std::unique_ptr<VirtConvergeRun> st2 = migrate("st2");
  ASSERT_TRUE(st2->WaitOutput("queued: cost 2; 2 of 3 in use (st1)", Millis(30000))) << st2->Output();

  // `list` shows it queued.
  CommandOutcome list = RunVirtConverge(bed_->dir(), "list-cost", {"list", "--run-dir", run_dir});
  EXPECT_NE(list.out.find("queued, #1 in line, cost 2"), std::string::npos) << list.out;

  // st1's disk gets ready: its unit comes back and st2 starts at once,
  // while st1 still migrates its RAM.
  ASSERT_TRUE(st1->WaitOutput("disk vda copied", Millis(60000))) << st1->Output();
  EXPECT_NE(st1->Output().find("this migration now costs 1 of the host's budget"), std::string::npos) << st1->Output();
  ASSERT_TRUE(st2->WaitOutput("admitted: cost 2 (the VM + vda) within the host's budget of 3 after", Millis(10000)))
      << st2->Output();
  EXPECT_FALSE(st1->process.Wait(Millis(0))) << "st1 had ended before st2 was admitted:\n" << st1->Output();
  EXPECT_EQ(st1->Output().find("outcome:"), std::string::npos) << st1->Output();

  EXPECT_EQ(st1->WaitExit(Millis(180000)), 0) << st1->Output();
  EXPECT_EQ(st2->WaitExit(Millis(180000)), 0) << st2->Output();
  std::fprintf(stderr, "%s\n%s\n", st1->Output().c_str(), st2->Output().c_str());
  for (const std::string name : {"st1", "st2"}) {
    EXPECT_TRUE(SameContent(bed_->DiskPath('A', name + ".raw"), bed_->DiskPath('B', name + ".raw")))
        << name << "'s disk on B differs from the one it left on A";
    Status checked = bed_->StopAndCheckGuest('B', name);
    EXPECT_TRUE(checked.ok()) << checked.ToString();
    bed_->Virsh('B', {"destroy", name});
  }
  // Nothing is left in the queue (but its lock file).
  for (const fs::directory_entry& e : fs::directory_iterator(StatePaths(run_dir, "").AdmissionDir())) {
    EXPECT_EQ(e.path().filename().string()[0], '.') << "left in the queue: " << e.path();
  }
}

// The history records of \a state_dir: each migration's outcome, by VM.
std::map<std::string, std::string> HistoryOutcomes(const std::string& state_dir) {
  std::map<std::string, std::string> outcomes;
  std::error_code ec;
  for (const fs::directory_entry& e : fs::directory_iterator(StatePaths("", state_dir).HistoryDir(), ec)) {
    Result<Json> j = Json::Parse(ReadFile(e.path().string()));
    if (!j.ok()) continue;
    std::optional<Json> o = j->Get("outcome");
    outcomes[j->GetString("vm").value_or("?")] = o ? o->GetString("outcome").value_or("?") : "none";
  }
  return outcomes;
}

// Point 4: four VMs leave A under a budget of two, spread over two
// destinations — B, and A itself, which libvirt turns away ("the same
// host"), so those VMs are tried on B next. A fifth VM, pinned to a CPU B
// has given away, is refused by B's hook: it runs on A and the report
// says why. A sixth, not selected (--vm), stays. The report matches what
// libvirt and the history records say.
TEST_F(LibvirtTest, EvacuateMovesFourVmsTwoAtATimeAndReportsTheOneRefused) {
  const std::string pin = "  <cputune><vcpupin vcpu='0' cpuset='1'/></cputune>\n";
  GuestParams guest = QuietGuest();
  guest.ram_mib = 96;
  ASSERT_TRUE(bed_->StartGuest('B', "holder", guest, pin).ok());
  const std::vector<std::string> names = {"ev1", "ev2", "ev3", "ev4"};
  for (const std::string& name : names) ASSERT_TRUE(bed_->StartGuest('A', name, guest).ok()) << name;
  ASSERT_TRUE(bed_->StartGuest('A', "evpin", guest, pin).ok());
  // Not in the selection: it stays.
  GuestParams small = guest;
  small.ram_mib = 64;
  ASSERT_TRUE(bed_->StartGuest('A', "stay", small).ok());

  std::string root = PolicyRoot("evacuate", "[Host]\nCostBudget=2\n");
  std::string run_dir = bed_->dir().File("run-evacuate"), state_dir = bed_->dir().File("state-evacuate");
  std::string report_path = bed_->dir().File("evacuate-report.json");
  auto ev = StartVirtConverge(
      bed_->dir(), "evacuate",
      {"evacuate", bed_->uri('B'), bed_->uri('A'), "--connect", bed_->uri('A'), "--migrate-uri",
       "tcp://" + bed_->address('B'), "--migrate-uri", "tcp://" + bed_->address('A'), "--run-dir", run_dir,
       "--state-dir", state_dir, "--policy-root", root, "--report-json", report_path, "--retry-after", "1s",
       "--vm", "ev1", "--vm", "ev2", "--vm", "ev3", "--vm", "ev4", "--vm", "evpin"});
  ASSERT_TRUE(ev.ok()) << ev.status().ToString();
  // The budget, as the host's admission directory holds it while it runs:
  // never more than two running, and two at some point.
  size_t most_running = 0;
  Deadline deadline = Clock::now() + Millis(400000);
  while (!ev->process.Wait(Millis(20)) && Clock::now() < deadline) {
    Result<std::vector<AdmissionEntry>> live = LiveAdmissions(StatePaths(run_dir, "").AdmissionDir());
    if (!live.ok()) continue;
    size_t running = 0;
    for (const AdmissionEntry& e : *live) running += e.running;
    most_running = std::max(most_running, running);
  }
  std::string said = ev->Output();
  std::fprintf(stderr, "[evacuate]\n%s\n", said.c_str());
  ASSERT_TRUE(ev->process.exit_status()) << "evacuate did not end";
  EXPECT_EQ(WEXITSTATUS(*ev->process.exit_status()), 1) << "one VM could not move: exit 1";
  EXPECT_NE(said.find("evacuation: 4 of 5 VMs moved"), std::string::npos) << said;
  EXPECT_EQ(most_running, 2u) << "the budget is two";

  Result<Json> report = Json::Parse(ReadFile(report_path));
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(report->GetInt("moved").value_or(-1), 4);
  std::optional<Json> vms = report->Get("vms");
  ASSERT_TRUE(vms && vms->ArraySize() == 5u);
  int tried_a_first = 0;
  for (size_t i = 0; i < vms->ArraySize(); i++) {
    Json v = vms->At(i);
    std::string vm = v.GetString("vm").value_or("");
    std::string out;
    if (vm == "evpin") {
      EXPECT_EQ(v.GetString("outcome").value_or(""), "refused");
      std::string detail = v.GetString("detail").value_or("");
      EXPECT_EQ(detail, "every destination turned it away; it runs on here");
      // The last destination's refusal, as a code.
      const std::string code = v.GetString("code").value_or("");
      EXPECT_TRUE(code.rfind("refused.", 0) == 0 || code.rfind("not-started.", 0) == 0) << code;
      // Tried on B and on A. A's hook counts the others' attempts on A as
      // arriving until libvirt's release hook clears them, so A may first
      // say "try again" (IncomingMax) before libvirt refuses the same host.
      const int64_t attempts = v.GetInt("attempts").value_or(0);
      EXPECT_TRUE(attempts == 2 || attempts == 3) << attempts;
      std::set<std::string> tried;
      for (size_t t = 0; t < v.Get("tries")->ArraySize(); t++) {
        Json one = v.Get("tries")->At(t);
        tried.insert(one.GetString("destination").value_or(""));
        const std::string result = one.GetString("result").value_or("");
        EXPECT_TRUE(result.rfind("refused: ", 0) == 0 || result.rfind("try again: ", 0) == 0) << result;
      }
      EXPECT_EQ(tried, (std::set<std::string>{bed_->uri('A'), bed_->uri('B')}));
      // B's hook said why, in its own words.
      std::string on_b = v.Get("tries")->At(0).GetString("result").value_or("");
      EXPECT_EQ(v.Get("tries")->At(0).GetString("destination").value_or(""), bed_->uri('B'));
      EXPECT_NE(on_b.find("refused: the destination hook refused it: VM evpin cannot run on"),
                std::string::npos)
          << on_b;
      EXPECT_NE(on_b.find("host CPU 1 is held by VM holder (pinned 1:1) on this host"), std::string::npos) << on_b;
      EXPECT_EQ(bed_->Virsh('A', {"domstate", vm}, &out), 0);
      EXPECT_NE(out.find("running"), std::string::npos) << "evpin must run on on A: " << out;
      continue;
    }
    EXPECT_EQ(v.GetString("outcome").value_or(""), "completed") << vm;
    EXPECT_EQ(v.GetString("code").value_or("").rfind("completed.", 0), 0u) << vm;
    EXPECT_EQ(v.GetString("destination").value_or(""), bed_->uri('B')) << vm;
    // On B at once, or on A first (refused, perhaps after a "try again"
    // there, as above); the last try is B's.
    const int64_t attempts = v.GetInt("attempts").value_or(0);
    EXPECT_TRUE(attempts >= 1 && attempts <= 3) << vm << ": " << attempts;
    bool on_a = false;
    for (int64_t t = 0; t + 1 < attempts; t++) {
      Json one = v.Get("tries")->At(static_cast<size_t>(t));
      on_a = on_a || one.GetString("destination").value_or("") == bed_->uri('A');
      const std::string result = one.GetString("result").value_or("");
      EXPECT_TRUE(result.rfind("refused: ", 0) == 0 || result.rfind("try again: ", 0) == 0) << vm << ": " << result;
    }
    if (on_a) tried_a_first++;
    EXPECT_GT(v.GetInt("total-time-ms").value_or(0), 0) << vm;
    // libvirt agrees: it runs on B, not on A.
    EXPECT_EQ(bed_->Virsh('B', {"domstate", vm}, &out), 0) << vm;
    EXPECT_NE(out.find("running"), std::string::npos) << vm << " on B: " << out;
    EXPECT_NE(bed_->Virsh('A', {"domstate", vm}, &out), 0) << vm << " still on A: " << out;
  }
  EXPECT_GE(tried_a_first, 1) << "the spread sent none to the second destination";

  // The followers' history records: one for each of the four, completed
  // (the one refused never started: no record).
  std::map<std::string, std::string> history = HistoryOutcomes(state_dir);
  EXPECT_EQ(history.size(), names.size());
  for (const std::string& name : names) EXPECT_EQ(history[name], "completed") << name;
  for (const std::string& name : names) {
    Status checked = bed_->StopAndCheckGuest('B', name);
    EXPECT_TRUE(checked.ok()) << checked.ToString();
    bed_->Virsh('B', {"destroy", name});
  }
  bed_->Virsh('B', {"destroy", "holder"});
  std::string stay_state;
  EXPECT_EQ(bed_->Virsh('A', {"domstate", "stay"}, &stay_state), 0) << stay_state;
  EXPECT_NE(stay_state.find("running"), std::string::npos) << "stay was not selected: " << stay_state;
  bed_->Virsh('A', {"destroy", "evpin"});
  bed_->Virsh('A', {"destroy", "stay"});
}

// Issue 24, point 9: evacuate learns that a destination is busy for now
// from the `migrate` child's JSON summary (try_later), which carries the
// reason code of B's hook through libvirt's error text, not from the words
// "try again". B lets in one migration at a time (IncomingMax=1) and one
// ("ghost") is arriving: the VM is turned away for now, tried again once
// the ghost is gone, and moves.
TEST_F(LibvirtTest, EvacuateTriesABusyDestinationAgainLater) {
  ASSERT_TRUE(bed_->StartGuest('A', "busy1", QuietGuest()).ok());
  const std::string b_policy = bed_->PolicyDir('B') + "/50-incoming-max.conf";
  std::ofstream(b_policy) << "[Host]\nIncomingMax=1\n";
  const std::string ghost = bed_->HookDir('B') + "/incoming/ghost";
  std::filesystem::create_directories(bed_->HookDir('B') + "/incoming");
  std::ofstream(ghost) << "cost 1\n";
  const std::string report_path = bed_->dir().File("evacuate-busy.json");
  auto ev = StartVirtConverge(
      bed_->dir(), "evacuate-busy",
      {"evacuate", bed_->uri('B'), "--connect", bed_->uri('A'), "--migrate-uri", "tcp://" + bed_->address('B'),
       "--run-dir", bed_->dir().File("run-busy"), "--state-dir", bed_->dir().File("state-busy"), "--no-policy",
       "--report-json", report_path, "--retry-after", "2s", "--vm", "busy1"});
  ASSERT_TRUE(ev.ok()) << ev.status().ToString();
  const bool turned_away = ev->WaitOutput("turned away for now by " + bed_->uri('B'), Millis(60000));
  std::filesystem::remove(ghost);
  std::filesystem::remove(b_policy);
  EXPECT_TRUE(turned_away) << ev->Output();
  EXPECT_EQ(ev->WaitExit(Millis(180000)), 0) << ev->Output();
  Result<Json> report = Json::Parse(ReadFile(report_path));
  ASSERT_TRUE(report.ok()) << report.status().ToString() << "\n" << ev->Output();
  std::optional<Json> vms = report->Get("vms");
  ASSERT_TRUE(vms && vms->ArraySize() == 1u) << ev->Output();
  Json v = vms->At(0);
  EXPECT_EQ(v.GetString("outcome").value_or(""), "completed") << ev->Output();
  ASSERT_GE(v.GetInt("attempts").value_or(0), 2) << ev->Output();
  const std::string first = v.Get("tries")->At(0).GetString("result").value_or("");
  EXPECT_EQ(first.rfind("try again: the destination hook refused it: ", 0), 0u) << first;
  EXPECT_NE(first.find("already receives 1 migration (IncomingMax=1"), std::string::npos) << first;
  Status checked = bed_->StopAndCheckGuest('B', "busy1");
  EXPECT_TRUE(checked.ok()) << checked.ToString();
  bed_->Virsh('B', {"destroy", "busy1"});
}

}  // namespace
}  // namespace vc::testing
