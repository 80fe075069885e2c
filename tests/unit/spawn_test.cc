// SpawnLogged: both of the child's output streams reach its log.
#include "src/base/spawn.h"

#include <gtest/gtest.h>
#include <sys/wait.h>

#include <csignal>
#include <thread>

#include "tests/support/artifacts.h"
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

// virt-converge ignores SIGPIPE, as libvirt's client requires; the
// programs it starts (evacuate's `migrate`, a forked helper) must not
// inherit that: theirs is the default, ended by SIGPIPE.
TEST(SpawnLogged, TheChildGetsSigpipesDefaultBack) {
  testing::TempDir dir("spawn");
  struct sigaction ignore {}, before{};
  ignore.sa_handler = SIG_IGN;
  ASSERT_EQ(::sigaction(SIGPIPE, &ignore, &before), 0);
  Result<pid_t> pid = SpawnLogged({"/bin/sh", "-c", "kill -PIPE $$; echo survived"}, dir.File("child.log"));
  ::sigaction(SIGPIPE, &before, nullptr);
  ASSERT_TRUE(pid.ok()) << pid.status().ToString();
  int status = 0;
  ASSERT_EQ(::waitpid(*pid, &status, 0), *pid);
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGPIPE) << testing::ReadFile(dir.File("child.log"));
}

// libvirt's client writes to its socket with write(): virt-converge ignores
// SIGPIPE, so a libvirtd gone mid-call is an error, not its end. Seen on a
// long-running `watch` (libvirt's in-process test driver), started with the
// default action.
TEST(SpawnLogged, VirtConvergeIgnoresSigpipe) {
  Result<std::string> binary = testing::LocateVirtConverge();
  ASSERT_TRUE(binary.ok()) << binary.status().ToString();
  testing::TempDir dir("spawn");
  Result<pid_t> pid = SpawnLogged({*binary, "watch", "-c", "test:///default", "--run-dir", dir.File("run"),
                                   "--helpers", "fork"},
                                  dir.File("watch.log"));
  ASSERT_TRUE(pid.ok()) << pid.status().ToString();
  unsigned long long ignored = 0;
  for (int i = 0; i < 100 && !(ignored & (1ull << (SIGPIPE - 1))); i++) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    const std::string status = testing::ReadFile("/proc/" + std::to_string(*pid) + "/status");
    const size_t at = status.find("SigIgn:");
    if (at != std::string::npos) ignored = std::stoull(status.substr(at + 7), nullptr, 16);
  }
  ::kill(*pid, SIGTERM);
  int wait_status = 0;
  ::waitpid(*pid, &wait_status, 0);
  EXPECT_TRUE(ignored & (1ull << (SIGPIPE - 1))) << std::hex << ignored << "\n" << testing::ReadFile(dir.File("watch.log"));
}

TEST(SpawnLogged, AProgramThatIsNotThereIsAnError) {
  testing::TempDir dir("spawn");
  Result<pid_t> pid = SpawnLogged({dir.File("no-such-program")}, dir.File("log"));
  EXPECT_FALSE(pid.ok());
}

}  // namespace
}  // namespace vc
