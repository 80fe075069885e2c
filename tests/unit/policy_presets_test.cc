// The vendor default and the presets (issue #3, point 2): each passes
// `policy check`, and its schedule expanded for several VM sizes equals a
// reviewed golden file (tests/data/policy/golden/). UPDATE_GOLDEN=1
// rewrites the golden files; review the diff against the reference notes.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "plugins/action.h"
#include "src/policy/builtin_default.h"
#include "src/policy/ini.h"
#include "src/policy/resolve.h"
#include "src/policy/schedule.h"
#include "tests/support/policy_tree.h"
#include "tests/support/process.h"
#include "tests/support/temp_dir.h"

namespace vc::policy {
namespace {

namespace fs = std::filesystem;

const std::string kSource = VC_SOURCE_DIR;  // presets under kSource + "/policy.d"
constexpr uint64_t kGiB = 1ull << 30;
const uint64_t kSizes[] = {1 * kGiB, 4 * kGiB, 16 * kGiB, 64 * kGiB};

/// Installs \a file as the only vendor drop-in of a temp root and resolves.
struct Installed {
  vc::testing::TempDir root{"preset"};
  Resolved resolved;
  Diagnostics check;
  explicit Installed(const std::string& file) {
    vc::testing::PolicyTree::Under(root.path()).Install(file, "50-policy.conf");
    resolved = Resolve(root.path(), {}, StepVocabulary());
    check = CheckAll(root.path(), StepVocabulary(), nullptr);
  }
  std::string Expand(uint64_t ram) const {
    return FormatSchedule(ExpandSchedule(resolved.policy, ram, 0));
  }
};

std::vector<std::string> PolicyFiles() {
  std::vector<std::string> files = {kSource + "/policy.d/50-default.conf"};
  for (const auto& e : fs::directory_iterator(kSource + "/policy.d/presets")) {
    files.push_back(e.path().string());
  }
  std::sort(files.begin(), files.end());
  return files;
}

TEST(Presets, EveryShippedFilePassesCheck) {
  std::vector<std::string> files = PolicyFiles();
  EXPECT_EQ(files.size(), 12u);
  for (const std::string& f : files) {
    Installed p(f);
    std::string problems;
    for (const Diagnostic& d : p.check) problems += d.ToString() + "\n";
    EXPECT_TRUE(p.check.empty()) << f << ":\n" << problems;
  }
}

TEST(Presets, ExpandedSchedulesMatchTheGoldenFiles) {
  const bool update = std::getenv("UPDATE_GOLDEN") != nullptr;
  for (const std::string& f : PolicyFiles()) {
    Installed p(f);
    std::string got;
    for (uint64_t ram : kSizes) {
      got += "# " + std::to_string(ram / kGiB) + " GiB\n" + p.Expand(ram);
    }
    std::string golden = kSource + "/tests/data/policy/golden/" + fs::path(f).stem().string() + ".txt";
    if (update) {
      fs::create_directories(fs::path(golden).parent_path());
      std::ofstream(golden) << got;
      continue;
    }
    EXPECT_EQ(got, vc::testing::ReadFile(golden)) << "for " << f << " (UPDATE_GOLDEN=1 rewrites " << golden << ")";
  }
}

// The reference numbers themselves, so a golden file cannot drift from them.
TEST(Presets, OvirtMinimalDowntimeIsVdsmsSequence) {
  Installed p(kSource + "/policy.d/presets/ovirt-minimal-downtime.conf");
  EXPECT_EQ(p.Expand(4 * kGiB),
            "start: downtime=100ms\n"
            "iteration 2: downtime=150ms\n"
            "iteration 3: downtime=200ms\n"
            "iteration 4: downtime=300ms\n"
            "iteration 5: downtime=400ms\n"
            "iteration 7: downtime=500ms\n"
            "iteration 8: abort\n");
  EXPECT_TRUE(p.resolved.policy.auto_converge.value);
}

TEST(Presets, OvirtPostcopyAndSuspendAndVeryLarge) {
  EXPECT_EQ(Installed(kSource + "/policy.d/presets/ovirt-postcopy.conf").Expand(4 * kGiB),
            "start: downtime=100ms\niteration 2: downtime=150ms\niteration 3: downtime=200ms\n"
            "iteration 4: postcopy\niteration 5: abort\n");
  Installed suspend(kSource + "/policy.d/presets/ovirt-suspend-workload.conf");
  EXPECT_NE(suspend.Expand(4 * kGiB).find("iteration 7: downtime=500ms\niteration 8: downtime=5s\niteration 9: abort\n"),
            std::string::npos);
  EXPECT_EQ(suspend.resolved.policy.compression.value, Compression::kXbzrle);
  EXPECT_NE(Installed(kSource + "/policy.d/presets/ovirt-very-large-vms.conf")
                .Expand(4 * kGiB)
                .find("start: downtime=300ms\niteration 2: downtime=400ms\niteration 3: downtime=500ms\n"
                      "iteration 4: downtime=700ms\niteration 5: downtime=1s\niteration 7: downtime=1500ms\n"
                      "iteration 8: downtime=5s\niteration 9: abort\n"),
            std::string::npos);
}

TEST(Presets, VdsmLegacyAbortsAtIteration44) {
  std::string s = Installed(kSource + "/policy.d/presets/vdsm-legacy.conf").Expand(4 * kGiB);
  EXPECT_EQ(s,
            "start: downtime=101ms\niteration 2: downtime=104ms\niteration 3: downtime=120ms\n"
            "iteration 4: downtime=189ms\niteration 5: downtime=500ms\niteration 43: downtime=500ms\n"
            "iteration 44: abort\n");
}

TEST(Presets, NovaLadderForFourGiB) {
  // 50 -> 500 ms in 10 steps every 300 s, abort at 3200 s.
  std::string expect = "start: downtime=50ms\n";
  for (int i = 1; i <= 10; i++) {
    expect += std::to_string(300 * i) + "s: downtime=" + std::to_string(50 + 45 * i) + "ms\n";
  }
  expect += "budget 3200s: abort\n";
  EXPECT_EQ(Installed(kSource + "/policy.d/presets/nova-defaults.conf").Expand(4 * kGiB), expect);
  // The 2 GiB floor: a 1 GiB VM steps every 150 s and times out at 1600 s.
  std::string small = Installed(kSource + "/policy.d/presets/nova-defaults.conf").Expand(1 * kGiB);
  EXPECT_NE(small.find("150s: downtime=95ms\n"), std::string::npos) << small;
  EXPECT_NE(small.find("budget 1600s: abort\n"), std::string::npos) << small;
  EXPECT_NE(Installed(kSource + "/policy.d/presets/nova-force-complete.conf").Expand(16 * kGiB)
                .find("budget 12800s: postcopy-or-pause\n"),
            std::string::npos);
}

TEST(Presets, KubevirtCountsDecimalGigabytesRoundedUp) {
  Installed p(kSource + "/policy.d/presets/kubevirt-defaults.conf");
  EXPECT_EQ(p.Expand(4 * kGiB), "no progress for 150s: abort\nbudget 750s: abort\n");
  EXPECT_NE(p.Expand(16 * kGiB).find("budget 2700s: abort"), std::string::npos);
}

// Issue 27, point 2: KubeVirt's dynamic downtime (VEP 291): 150 ms, then 7
// linear steps to 900 ms, the first at iteration 3, each next one 10 s
// after the one before.
TEST(Presets, KubevirtDynamicDowntimeRampsFromIterationThreeTenSecondsApart) {
  Installed p(kSource + "/policy.d/presets/kubevirt-dynamic-downtime.conf");
  EXPECT_EQ(p.Expand(4 * kGiB),
            "no progress for 150s: abort\niteration 3: downtime=257ms\n10s after the step before: downtime=364ms\n"
            "10s after the step before: downtime=471ms\n10s after the step before: downtime=579ms\n"
            "10s after the step before: downtime=686ms\n10s after the step before: downtime=793ms\n"
            "10s after the step before: downtime=900ms\nbudget 750s: abort\n");
}

// Issue 27, point 2: KubeVirt's stall detection (VEP 248): stalled for 40 s
// at a 4% margin, then the downtime the remaining implies up to 900 ms (or
// abort); twice the completion budget.
TEST(Presets, KubevirtStallDetectionActsAtALocalMinimumAfterFortySeconds) {
  Installed p(kSource + "/policy.d/presets/kubevirt-stall-detection.conf");
  EXPECT_EQ(p.Expand(4 * kGiB),
            "no progress for 150s: abort\nstalled for 40s, at a local minimum: downtime-or-abort=900ms\n"
            "budget 1500s: abort\n");
}

// The built-in default is the vendor default (issue #23, point 8): a tree
// without policy files, a tree whose vendor file is masked, `--no-policy`
// (ResolveBuiltinOnly) and the installed vendor file all resolve alike.
TEST(BuiltinDefault, IsTheVendorDefault) {
  Diagnostics diags;
  Policy builtin = BuiltinDefault(StepVocabulary(), &diags);
  EXPECT_TRUE(diags.empty()) << diags.front().ToString();
  EXPECT_EQ(BuiltinDefaultText(), vc::testing::ReadFile(kSource + "/policy.d/50-default.conf"));
  EXPECT_TRUE(builtin.adaptive.value);
  EXPECT_TRUE(builtin.auto_converge.value);
  EXPECT_EQ(builtin.final_action.value, FinalAction::kPostcopy);

  vc::testing::PolicyTree none, installed, masked;
  installed.InstallVendorDefault();
  masked.InstallVendorDefault();
  masked.Mask("50-default.conf");
  const std::vector<ShownSetting> expect = Show(builtin);
  for (const Resolved& r : {Resolve(none.root(), {}, StepVocabulary()), Resolve(installed.root(), {}, StepVocabulary()), Resolve(masked.root(), {}, StepVocabulary()),
                            ResolveBuiltinOnly(StepVocabulary())}) {
    EXPECT_TRUE(r.diagnostics.empty());
    std::vector<ShownSetting> got = Show(r.policy);
    ASSERT_EQ(got.size(), expect.size());
    for (size_t i = 0; i < got.size(); i++) EXPECT_EQ(got[i].value, expect[i].value) << got[i].key;
  }
  // Its values show as defaults, not as some file's.
  for (const ShownSetting& s : Show(ResolveBuiltinOnly(StepVocabulary()).policy)) EXPECT_TRUE(s.origin.is_default()) << s.key;
}

// A preset reproduces another system whatever it lands on: merged onto the
// built-in default it means what it means alone, so it states every key in
// which the built-in default differs from the bare model (throttle steps
// only where it turns auto-converge on; the adaptive mode's knobs only where
// it runs it).
TEST(Presets, StateEverythingTheBuiltinDefaultWouldChange) {
  std::vector<std::string> files;
  for (const auto& e : fs::directory_iterator(kSource + "/policy.d/presets")) files.push_back(e.path().string());
  files.push_back(kSource + "/bench/policies/qemu-auto-converge.conf");
  std::sort(files.begin(), files.end());
  for (const std::string& f : files) {
    Diagnostics diags;
    IniFile file = ReadIni(f, &diags);
    Policy bare, merged = BuiltinDefault(StepVocabulary(), &diags);
    ApplyFile(file, StepVocabulary(), &bare, &diags);
    ApplyFile(file, StepVocabulary(), &merged, &diags);
    Validate(&bare, &diags);
    Validate(&merged, &diags);
    EXPECT_TRUE(diags.empty()) << f;
    std::vector<ShownSetting> alone = Show(bare), onto = Show(merged);
    ASSERT_EQ(alone.size(), onto.size());
    for (size_t i = 0; i < alone.size(); i++) {
      const std::string& key = alone[i].key;
      if (key.rfind("Start.Throttle", 0) == 0 && !bare.auto_converge.value) continue;
      if (key.rfind("Adaptive.", 0) == 0 && key != "Adaptive.Enabled" && !bare.adaptive.value) continue;
      EXPECT_EQ(onto[i].value, alone[i].value) << fs::path(f).filename().string() << " does not state " << key;
    }
  }
}

TEST(Presets, QemuDefaultsDoNothing) {
  EXPECT_EQ(Installed(kSource + "/policy.d/presets/qemu-defaults.conf").Expand(64 * kGiB), "");
}

}  // namespace
}  // namespace vc::policy
