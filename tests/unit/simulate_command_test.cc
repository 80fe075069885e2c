// `virt-converge simulate` (issue #4): what a policy would do and the
// predicted outcome, in text and JSON; bad input names the offending value.
#include <sys/wait.h>

#include <gtest/gtest.h>

#include <cstdlib>

#include "src/base/json.h"
#include "tests/support/artifacts.h"
#include "tests/support/process.h"
#include "tests/support/skip.h"
#include "tests/support/temp_dir.h"

namespace vc {
namespace {

struct Ran {
  int exit = -1;
  std::string out;
};

Ran Simulate(std::vector<std::string> args) {
  const std::string bin = *testing::LocateVirtConverge();
  static testing::TempDir logs("simulate");
  static int n = 0;
  std::string log = logs.File("run" + std::to_string(n++));
  args.insert(args.begin(), {bin, "simulate"});
  auto run = testing::Subprocess::Start(args, log);
  EXPECT_TRUE(run.ok());
  auto st = run->Wait(Millis(30000));
  Ran r;
  if (st && WIFEXITED(*st)) r.exit = WEXITSTATUS(*st);
  r.out = testing::ReadFile(log);
  return r;
}

const std::string kDefault = std::string(VC_SOURCE_DIR) + "/policy.d/50-default.conf";

class SimulateCommand : public ::testing::Test {
 protected:
  void SetUp() override {
    if (auto bin = testing::LocateVirtConverge(); !bin.ok()) VC_CANNOT_RUN(bin.status().ToString());
  }
};

TEST_F(SimulateCommand, PrintsThePolicysStepsAndThePredictedOutcome) {
  Ran r = Simulate({"--policy", kDefault, "--memory", "64GiB", "--dirty-rate", "2GiB/s", "--working-set", "1GiB",
                    "--bandwidth", "10Gbit/s"});
  EXPECT_EQ(r.exit, 0) << r.out;
  EXPECT_NE(r.out.find("simulating: 64.00 GiB guest, 1.00 GiB working set at 2.00 GiB/s"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("reacting with policy (the built-in default and 1 file), adaptive"), std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("action set-downtime"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("outcome: completed after"), std::string::npos) << r.out;
  // With no file the built-in default runs, and it is the vendor file: the
  // same steps at the same times.
  Ran builtin = Simulate({"--memory", "64GiB", "--dirty-rate", "2GiB/s", "--working-set", "1GiB", "--bandwidth",
                          "10Gbit/s"});
  EXPECT_EQ(builtin.exit, 0) << builtin.out;
  EXPECT_NE(builtin.out.find("reacting with the built-in default policy, adaptive"), std::string::npos)
      << builtin.out;
  auto from = [](const std::string& out) { return out.substr(out.find('\n', out.find("reacting with"))); };
  EXPECT_EQ(from(builtin.out), from(r.out));
}

TEST_F(SimulateCommand, JsonHasTheOutcomeAndEveryAction) {
  Ran r = Simulate({"--policy", std::string(VC_SOURCE_DIR) + "/policy.d/presets/vdsm-legacy.conf", "--memory",
                    "1GiB", "--dirty-rate", "64MiB/s", "--working-set", "32MiB", "--bandwidth", "32MiB/s", "--json"});
  EXPECT_EQ(r.exit, 1) << r.out;  // VDSM's schedule aborts it
  Result<Json> j = Json::Parse(r.out);
  ASSERT_TRUE(j.ok()) << r.out;
  EXPECT_EQ(j->GetString("outcome"), "aborted");
  Json actions = *j->Get("actions");
  ASSERT_GE(actions.ArraySize(), 2u);
  EXPECT_EQ(actions.At(actions.ArraySize() - 1).GetString("action"), "abort");
  EXPECT_TRUE(j->GetInt("total-time-ms").has_value());
}

TEST_F(SimulateCommand, BadInputNamesTheValue) {
  Ran r = Simulate({"--memory", "lots", "--bandwidth", "1Gbit/s"});
  EXPECT_EQ(r.exit, 2);
  EXPECT_NE(r.out.find("--memory"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("lots"), std::string::npos) << r.out;
  r = Simulate({"--policy", "/nonexistent.conf", "--bandwidth", "1Gbit/s"});
  EXPECT_EQ(r.exit, 2) << r.out;
  EXPECT_NE(r.out.find("/nonexistent.conf"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace vc
