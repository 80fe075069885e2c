// Drop-in policy files on temp trees (issue #3, point 1).
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "plugins/action.h"
#include "src/policy/dropins.h"
#include "src/policy/resolve.h"
#include "src/policy/values.h"
#include "tests/support/artifacts.h"
#include "tests/support/policy_tree.h"
#include "tests/support/process.h"
#include "tests/support/skip.h"
#include "tests/support/temp_dir.h"

namespace vc::policy {
namespace {

namespace fs = std::filesystem;

using Tree = vc::testing::PolicyTree;

std::string Diags(const Diagnostics& d) {
  std::string s;
  for (const Diagnostic& x : d) s += x.ToString() + "\n";
  return s;
}

const ShownSetting& Shown(const std::vector<ShownSetting>& all, const std::string& key) {
  for (const ShownSetting& s : all)
    if (s.key == key) return s;
  static ShownSetting none;
  return none;
}

TEST(DropIns, HigherDirectoryShadowsAndFileNameOrders) {
  Tree t;
  std::string lib_a = t.Write("50-a.conf", "", "usr/lib");
  std::string etc_a = t.Write("50-a.conf", "");
  std::string run_a = t.Write("50-a.conf", "", "run");
  std::string lib_z = t.Write("10-z.conf", "", "usr/lib");
  std::string run_m = t.Write("30-m.conf", "", "run");
  t.Write("README", "not a .conf: ignored");
  t.Write(".hidden.conf", "");
  auto list = ListDropIns(t.root());
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->files.size(), 3u);
  EXPECT_EQ(list->files[0].path, lib_z);  // by file name, not by directory
  EXPECT_EQ(list->files[1].path, run_m);
  EXPECT_EQ(list->files[2].path, etc_a);  // /etc shadows /run and /usr/lib
  EXPECT_EQ(list->files[2].shadowed, (std::vector<std::string>{run_a, lib_a}));
}

TEST(DropIns, DevNullLinkMasks) {
  Tree t;
  t.Write("50-vendor.conf", "[Start]\nBandwidth=1Gbit/s\n", "usr/lib");
  std::string mask = t.Mask("50-vendor.conf");
  t.Write("60-other.conf", "", "usr/lib");
  auto list = ListDropIns(t.root());
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->files.size(), 1u);
  EXPECT_EQ(list->files[0].name, "60-other.conf");
  EXPECT_EQ(list->masked, std::vector<std::string>{mask});
  Resolved r = Resolve(t.root(), {}, StepVocabulary());
  EXPECT_EQ(r.policy.bandwidth.value, 0u);
  EXPECT_TRUE(r.policy.bandwidth.origin.is_default());
}

TEST(DropIns, MissingDirectoriesAreEmpty) {
  vc::testing::TempDir empty("policy");
  auto list = ListDropIns(empty.path());
  ASSERT_TRUE(list.ok());
  EXPECT_TRUE(list->files.empty());
  Resolved r = Resolve(empty.path(), {}, StepVocabulary());
  EXPECT_TRUE(r.diagnostics.empty());
  EXPECT_EQ(r.policy.downtime.value, 300);
}

TEST(Resolve, LaterFilesWinAndOriginsAreKept) {
  Tree t;
  std::string a = t.Write("10-vendor.conf",
                          "[Start]\nBandwidth=1Gbit/s\nDowntime=300ms\n[Stall]\nPasses=3\n", "usr/lib");
  std::string b = t.Write("20-admin.conf", "# the admin's\n[Start]\nDowntime=500ms\n");
  Resolved r = Resolve(t.root(), {}, StepVocabulary());
  EXPECT_TRUE(r.diagnostics.empty()) << Diags(r.diagnostics);
  EXPECT_EQ(r.applied, (std::vector<std::string>{a, b}));
  EXPECT_EQ(r.policy.bandwidth.value, 125000000u);
  EXPECT_EQ(r.policy.bandwidth.origin.ToString(), a + ":2");
  EXPECT_EQ(r.policy.downtime.value, 500);
  EXPECT_EQ(r.policy.downtime.origin.ToString(), b + ":3");
  auto shown = Show(r.policy);
  EXPECT_EQ(Shown(shown, "Start.Downtime").value, "500ms");
  EXPECT_EQ(Shown(shown, "Start.Downtime").origin.ToString(), b + ":3");
  EXPECT_EQ(Shown(shown, "Start.Bandwidth").value, "1Gbit/s");
  EXPECT_EQ(Shown(shown, "Stall.Tolerance").origin.ToString(), "default");
}

TEST(Resolve, StepsAppendAcrossFilesAndEmptyResets) {
  Tree t;
  t.Write("10-a.conf", "[Schedule]\nStep=stall>=1 downtime=150ms\nStep=stall>=2 abort\n", "usr/lib");
  t.Write("20-b.conf", "[Schedule]\nStep=stall>=3 postcopy\n", "usr/lib");
  Resolved both = Resolve(t.root(), {}, StepVocabulary());
  ASSERT_EQ(both.policy.steps.value.size(), 3u);
  std::string c = t.Write("30-c.conf", "[Schedule]\nStep=\nStep=elapsed>=75s/GiB downtime=95ms\n");
  Resolved reset = Resolve(t.root(), {}, StepVocabulary());
  ASSERT_EQ(reset.policy.steps.value.size(), 1u) << Diags(reset.diagnostics);
  EXPECT_EQ(reset.policy.steps.value[0].ToString(), "elapsed>=75s/GiB downtime=95ms");
  EXPECT_EQ(reset.policy.steps.value[0].origin.ToString(), c + ":3");
}

TEST(Resolve, MatchSectionsSelectFiles) {
  Tree t;
  std::string any = t.Write("10-all.conf", "[Start]\nDowntime=300ms\n", "usr/lib");
  std::string big = t.Write("50-big.conf",
                            "[Match]\nMemory=8GiB..\n[Start]\nDowntime=1s\n");
  std::string web = t.Write("60-web.conf",
                            "[Match]\nName=web-* api-?\nVCPUs=..8\nPinned=no\n"
                            "Metadata=tier=gold\n[Start]\nPostcopy=yes\n");
  std::string uuid = t.Write("70-uuid.conf",
                             "[Match]\nUUID=d1b5c7e0-0000-4000-8000-000000000001\n"
                             "[Start]\nAutoConverge=yes\n");
  VmFacts small{"web-1", "", 2ull << 30, 4, false, std::nullopt, std::nullopt, {{"tier", "gold"}}};
  Resolved r = Resolve(t.root(), small, StepVocabulary());
  EXPECT_EQ(r.applied, (std::vector<std::string>{any, web}));
  EXPECT_EQ(r.not_matched, (std::vector<std::string>{big, uuid}));
  EXPECT_TRUE(r.policy.postcopy.value);
  EXPECT_EQ(r.policy.downtime.value, 300);

  VmFacts large = small;
  large.memory = 16ull << 30;
  large.metadata = {{"tier", "silver"}};  // web-* no longer matches: metadata differs
  Resolved l = Resolve(t.root(), large, StepVocabulary());
  EXPECT_EQ(l.applied, (std::vector<std::string>{any, big}));
  EXPECT_EQ(l.policy.downtime.value, 1000);

  VmFacts unknown;  // no facts: only files without conditions apply
  unknown.name = "api-7";
  Resolved u = Resolve(t.root(), unknown, StepVocabulary());
  EXPECT_EQ(u.applied, (std::vector<std::string>{any}));

  VmFacts by_uuid;
  by_uuid.uuid = "d1b5c7e0-0000-4000-8000-000000000001";
  EXPECT_TRUE(Resolve(t.root(), by_uuid, StepVocabulary()).policy.auto_converge.value);
}

TEST(Resolve, MatchListsResetOnEmpty) {
  Tree t;
  t.Write("50-x.conf", "[Match]\nName=a*\nName=\nName=b*\n[Start]\nPostcopy=yes\n");
  VmFacts a;
  a.name = "alpha";
  EXPECT_FALSE(Resolve(t.root(), a, StepVocabulary()).policy.postcopy.value);
  a.name = "beta";
  EXPECT_TRUE(Resolve(t.root(), a, StepVocabulary()).policy.postcopy.value);
}

TEST(Values, UnitSuffixes) {
  Tree t;
  t.Write("50-units.conf",
          "[Start]\nDowntime=500ms\nBandwidth=1Gbit/s\nPostcopyBandwidth=64MiB/s\n"
          "XbzrleCacheSize=256MiB\nThrottleInitial=25%\nThrottleIncrement=5\nThrottleMax=50%\n"
          "[Stall]\nTime=2s\nTolerance=4%\n[Budget]\nPerGiB=150s/GiB\nMinimum=3min\nDataFloor=2GiB\n");
  Resolved r = Resolve(t.root(), {}, StepVocabulary());
  EXPECT_TRUE(r.diagnostics.empty()) << Diags(r.diagnostics);
  const Policy& p = r.policy;
  EXPECT_EQ(p.downtime.value, 500);
  EXPECT_EQ(p.bandwidth.value, 125000000u);
  EXPECT_EQ(p.postcopy_bandwidth.value, 64u << 20);
  EXPECT_EQ(p.xbzrle_cache.value, 256u << 20);
  EXPECT_EQ(p.throttle_initial.value, 25);
  EXPECT_EQ(p.throttle_increment.value, 5);
  EXPECT_EQ(p.stall_time.value, 2000);
  EXPECT_EQ(p.tolerance.value, 4);
  EXPECT_EQ(p.budget_per_gib.value, 150000);
  EXPECT_EQ(p.budget_minimum.value, 180000);
  EXPECT_EQ(p.data_floor.value, 2ull << 30);
}

// Every warning path, each with its file:line.
TEST(Diagnostics, EveryProblemIsReportedWithFileAndLine) {
  Tree t;
  std::string f = t.Write("50-bad.conf",
                          "Orphan=1\n"                      // 1: outside a section
                          "[Start]\n"                       // 2
                          "Bandwidth=fast\n"                // 3: bad value
                          "Colour=blue\n"                   // 4: unknown key
                          "no equals sign here\n"           // 5: missing '='
                          "X-Note=anything\n"               // 6: X- keys are silent
                          "[Nonsense]\n"                    // 7
                          "Key=1\n"                         // 8: unknown section
                          "[Broken\n"                       // 9: invalid header
                          "Key=2\n"                         // 10: under the invalid header: silent
                          "[Match]\n"                       // 11
                          "Memory=64GiB..1GiB\n"            // 12: empty range
                          "Shoe=9\n"                        // 13: unknown match key
                          "[Stall]\n"                       // 14
                          "Passes=0\n"                      // 15: out of range
                          "[Schedule]\n"                    // 16
                          "Step=sometimes abort\n"          // 17: bad condition
                          "Step=stall>=1 explode\n"         // 18: bad action
                          "Step=stall>=2\n"                 // 19: no action
                          "[X-Mine]\nWhatever=1\n");        // 20-21: silent
  Diagnostics d = CheckAll(t.root(), StepVocabulary(), nullptr);
  std::string all = Diags(d);
  auto has = [&](int line, const std::string& text) {
    std::string want = f + ":" + std::to_string(line) + ": " + text;
    EXPECT_NE(all.find(want), std::string::npos) << "missing: " << want << "\nin:\n" << all;
  };
  has(1, "assignment outside of a section, ignoring.");
  has(3, "bad value for Start.Bandwidth=: rate: 'fast' is not a number, ignoring.");
  has(4, "unknown key 'Colour' in section [Start], ignoring.");
  has(5, "missing '=', ignoring line.");
  has(8, "unknown section [Nonsense], ignoring 'Key='.");
  has(9, "invalid section header '[Broken', ignoring the section.");
  has(12, "bad value for Match.Memory=: range: '64GiB..1GiB' is empty");
  has(13, "unknown key 'Shoe' in section [Match]");
  has(15, "bad value for Stall.Passes=: '0' is not a number in 1..1000, ignoring.");
  has(17, "bad value for Schedule.Step=: condition: 'sometimes' is not one of start, stall>=N");
  has(18, "bad value for Schedule.Step=: action: 'explode' is not a known action");
  has(19, "bad value for Schedule.Step=: step: 'stall>=2' has a condition but no action");
  EXPECT_EQ(d.size(), 12u) << all;
}

TEST(Diagnostics, ContinuationsCommentsAndOrigins) {
  Tree t;
  std::string f = t.Write("50-cont.conf",
                          "[Schedule]\n"
                          "Step=stall>=1 \\\n"
                          "  # a comment inside the continuation is skipped\n"
                          "  downtime=150ms \\\n"
                          "  bandwidth=1Gbit/s\n"
                          "; another comment\n"
                          "Step=stall>=2 abort\\\n");  // a continuation into the end of file
  Resolved r = Resolve(t.root(), {}, StepVocabulary());
  EXPECT_TRUE(r.diagnostics.empty()) << Diags(r.diagnostics);
  ASSERT_EQ(r.policy.steps.value.size(), 2u);
  EXPECT_EQ(r.policy.steps.value[0].ToString(), "stall>=1 downtime=150ms bandwidth=1Gbit/s");
  EXPECT_EQ(r.policy.steps.value[0].origin.ToString(), f + ":2");
  EXPECT_EQ(r.policy.steps.value[1].ToString(), "stall>=2 abort");
}

TEST(Diagnostics, HostileFilesAreBoundedAndReported) {
  Tree t;
  std::string nul = t.Write("10-nul.conf", std::string("[Start]\nDowntime=1s\0junk\nPostcopy=yes\n", 40));
  std::string longline = t.Write("20-long.conf", "[Start]\nDowntime=" + std::string(200 << 10, '9') + "\n");
  std::string huge = t.Write("30-huge.conf", std::string(kMaxFileBytes + 10, '#'));
  std::string dir = t.Dir() + "/40-fifo.conf";
  ASSERT_EQ(mkfifo(dir.c_str(), 0600), 0);
  std::string dev = t.Dir() + "/50-zero.conf";
  fs::create_symlink("/dev/zero", dev);
  std::string sections;
  for (int i = 0; i < 10000; i++) sections += "[S" + std::to_string(i) + "]\nK=1\n";
  t.Write("60-sections.conf", sections);
  Resolved r = Resolve(t.root(), {}, StepVocabulary());
  std::string all = Diags(r.diagnostics);
  EXPECT_NE(all.find(nul + ":2: line contains a NUL byte, ignoring it."), std::string::npos) << all;
  EXPECT_TRUE(r.policy.postcopy.value);  // the rest of that file still applies
  EXPECT_NE(all.find(longline + ":2: line is longer than 65536 bytes, ignoring it."), std::string::npos);
  EXPECT_NE(all.find(huge + ": file is larger than 1048576 bytes, ignoring it."), std::string::npos);
  EXPECT_NE(all.find(dir + ": not a regular file, ignoring it."), std::string::npos);
  EXPECT_NE(all.find(dev + ": not a regular file, ignoring it."), std::string::npos);
  EXPECT_NE(all.find("unknown section [S9999]"), std::string::npos);
}

TEST(Validate, CrossFieldProblemsFallBackToSafeDefaults) {
  Tree t;
  std::string f = t.Write("50-x.conf",
                          "[Start]\nThrottleInitial=50%\nThrottleMax=30%\n"
                          "Compression=xbzrle\nMultifdChannels=4\nXbzrleCacheSize=100MiB\n");
  Resolved r = Resolve(t.root(), {}, StepVocabulary());
  std::string all = Diags(r.diagnostics);
  EXPECT_NE(all.find(f + ":3: Start.ThrottleMax=30% is below Start.ThrottleInitial=50% (" + f +
                     ":2); using the defaults 20% and 99%."),
            std::string::npos)
      << all;
  EXPECT_EQ(r.policy.throttle_initial.value, 20);
  EXPECT_EQ(r.policy.throttle_max.value, 99);
  EXPECT_NE(all.find(f + ":4: Start.Compression=xbzrle cannot be used with multifd"), std::string::npos);
  EXPECT_EQ(r.policy.compression.value, Compression::kNone);
  EXPECT_NE(all.find(f + ":6: Start.XbzrleCacheSize=100MiB is not a power of two"), std::string::npos);
  EXPECT_EQ(r.policy.xbzrle_cache.value, 64u << 20);
}

TEST(Steps, GrammarRoundTrips) {
  for (const char* text : {"start downtime=100ms", "stall>=3 downtime=2s bandwidth=1Gbit/s",
                           "iteration>42 abort", "elapsed>=300s/GiB downtime=95ms",
                           "expected-downtime>5s postcopy", "no-progress>=150s abort", "after-previous>=10s downtime=364ms",
                           "stall>=1 throttle-initial=30% throttle-increment=20% throttle-max=95% "
                           "throttle-tailslow=yes",
                           "stall>=2 xbzrle-cache=512MiB dirty-limit=32MiB/s",
                           "elapsed>=800s/GiB postcopy-or-pause", "stall>=4 pause"}) {
    auto s = ParseStep(text, StepVocabulary());
    ASSERT_TRUE(s.ok()) << text << ": " << s.status().ToString();
    EXPECT_EQ(s->ToString(), text);
  }
  EXPECT_EQ(ParseStep("stall>=0 abort", StepVocabulary()).status().message(), "condition: 'stall>=0': stalls count from 1");
  EXPECT_FALSE(ParseStep("stall>=1 abort=3", StepVocabulary()).ok());
  EXPECT_FALSE(ParseStep("stall>=1 downtime", StepVocabulary()).ok());
  EXPECT_FALSE(ParseStep("elapsed>=soon abort", StepVocabulary()).ok());
  auto s = ParseStep("stall>=1 downtime=150ms abort", StepVocabulary());
  ASSERT_TRUE(s.ok());
  ASSERT_EQ(s->actions.size(), 2u);
  EXPECT_EQ(s->actions[0].name, "set-downtime");
  EXPECT_EQ(s->actions[0].value, 150);
  EXPECT_EQ(s->actions[1].name, "abort");
}

// The command itself: every problem with file:line, non-zero exit.
TEST(PolicyCheck, CommandExitsNonZeroOnProblems) {
  Result<std::string> located = vc::testing::LocateVirtConverge();
  if (!located.ok()) VC_CANNOT_RUN(located.status().ToString());
  const std::string& bin = *located;
  Tree t;
  std::string good = t.Write("50-good.conf", "[Start]\nDowntime=300ms\n", "usr/lib");
  vc::testing::TempDir logs("check");
  auto run = vc::testing::Subprocess::Start({bin, "policy", "check", "--root", t.root()}, logs.File("ok"));
  ASSERT_TRUE(run.ok());
  auto st = run->Wait(Millis(10000));
  ASSERT_TRUE(st && WIFEXITED(*st));
  EXPECT_EQ(WEXITSTATUS(*st), 0) << vc::testing::ReadFile(logs.File("ok"));
  std::string bad = t.Write("60-bad.conf", "[Stall]\nPasses=many\n");
  auto run2 = vc::testing::Subprocess::Start({bin, "policy", "check", "--root", t.root()}, logs.File("bad"));
  ASSERT_TRUE(run2.ok());
  st = run2->Wait(Millis(10000));
  ASSERT_TRUE(st && WIFEXITED(*st));
  EXPECT_EQ(WEXITSTATUS(*st), 1);
  std::string out = vc::testing::ReadFile(logs.File("bad"));
  EXPECT_NE(out.find(bad + ":2: bad value for Stall.Passes=: 'many' is not a number in 1..1000, ignoring."),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("2 files checked, 1 problem"), std::string::npos) << out;
}

// Hostile files never crash or hang the command: binary junk, a 1 MB line,
// 10k sections, NULs, links to /dev/zero and /dev/urandom, a FIFO.
TEST(PolicyCheck, HostileFilesNeverCrashOrHangTheCommand) {
  Result<std::string> located = vc::testing::LocateVirtConverge();
  if (!located.ok()) VC_CANNOT_RUN(located.status().ToString());
  const std::string& bin = *located;
  Tree t;
  std::string junk;
  for (int i = 0; i < 100000; i++) junk += static_cast<char>((i * 7919 + 13) % 256);
  t.Write("10-junk.conf", junk);
  t.Write("20-long.conf", "[Start]\nDowntime=" + std::string(1 << 20, '1') + "\n");
  std::string sections;
  for (int i = 0; i < 10000; i++) sections += "[Start]\nDowntime=" + std::to_string(i) + "ms\n";
  t.Write("30-sections.conf", sections);
  t.Write("40-nul.conf", std::string("[Start]\0\0\nDowntime=\0\n", 22));
  std::string d = t.Dir() + "/";
  fs::create_symlink("/dev/zero", d + "50-zero.conf");
  fs::create_symlink("/dev/urandom", d + "51-random.conf");
  fs::create_symlink(d + "52-loop.conf", d + "52-loop.conf");
  ASSERT_EQ(mkfifo((d + "53-fifo.conf").c_str(), 0600), 0);
  vc::testing::TempDir logs("check");
  auto start = Clock::now();
  auto run = vc::testing::Subprocess::Start({bin, "policy", "check", "--root", t.root()}, logs.File("out"));
  ASSERT_TRUE(run.ok());
  auto st = run->Wait(Millis(20000));
  std::string out = vc::testing::ReadFile(logs.File("out"));
  ASSERT_TRUE(st) << "policy check hung";
  ASSERT_TRUE(WIFEXITED(*st)) << "policy check crashed:\n" << out.substr(0, 2000);
  EXPECT_EQ(WEXITSTATUS(*st), 1);
  EXPECT_LT(SecondsBetween(start, Clock::now()), 10.0);
  for (const char* f : {"50-zero.conf: not a regular file", "51-random.conf: not a regular file",
                        "53-fifo.conf: not a regular file", "52-loop.conf: cannot open",
                        "20-long.conf: file is larger than 1048576 bytes"}) {
    EXPECT_NE(out.find(f), std::string::npos) << f << "\n" << out.substr(0, 3000);
  }
}

}  // namespace
}  // namespace vc::policy
