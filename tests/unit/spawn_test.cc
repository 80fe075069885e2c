// SpawnLogged: both of the child's output streams reach its log.
#include "src/base/spawn.h"

#include <gtest/gtest.h>
#include <sys/wait.h>

#include "tests/support/process.h"
#include "tests/support/temp_dir.h"

namespace vc {
namespace {

// Issue 24, point 9: evacuate's `migrate` children had their stdout opened
// with O_CLOEXEC, so exec closed it and only stderr reached the log; what a
// child printed to stdout ("started migration of ...") was lost.
TEST(SpawnLogged, TheChildsStdoutAndStderrBothReachTheLog) {
  testing::TempDir dir("spawn");
  const std::string log = dir.File("child.log");
  Result<pid_t> pid = SpawnLogged({"/bin/sh", "-c", "echo to-stdout; echo to-stderr >&2; read x; echo read=$?"}, log);
  ASSERT_TRUE(pid.ok()) << pid.status().ToString();
  int status = 0;
  ASSERT_EQ(::waitpid(*pid, &status, 0), *pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  const std::string out = testing::ReadFile(log);
  EXPECT_NE(out.find("to-stdout\n"), std::string::npos) << out;
  EXPECT_NE(out.find("to-stderr\n"), std::string::npos) << out;
  EXPECT_NE(out.find("read=1\n"), std::string::npos) << "stdin is /dev/null: " << out;
}

TEST(SpawnLogged, AProgramThatIsNotThereIsAnError) {
  testing::TempDir dir("spawn");
  Result<pid_t> pid = SpawnLogged({dir.File("no-such-program")}, dir.File("log"));
  EXPECT_FALSE(pid.ok());
}

}  // namespace
}  // namespace vc
