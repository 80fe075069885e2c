// Suite 'faults', issue 24 point 8: the run and state directories are
// root's alone. An unprivileged user (nobody) can neither read a record
// nor take any lock there, and a lock left by a dead root process blocks
// nothing. Every file is written by the real code that writes it on a host.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <future>
#include <functional>
#include <string>
#include <vector>

#include "src/base/private_files.h"
#include "src/control/controller.h"
#include "src/coord/admission.h"
#include "src/coord/shares.h"
#include "src/hostfit/cpuset.h"
#include "src/hostfit/hook_records.h"
#include "src/state/changes_record.h"
#include "src/state/follow_lock.h"
#include "src/state/migration_record.h"
#include "tests/support/skip.h"
#include "tests/support/temp_dir.h"

namespace vc::testing {
namespace {

namespace fs = std::filesystem;

constexpr uid_t kNobody = 65534;
constexpr gid_t kNogroup = 65534;

/// Runs \a f in a child as nobody; its exit code (0: f returned true).
int AsNobody(const std::function<bool()>& f) {
  pid_t pid = ::fork();
  if (pid == 0) {
    if (::setgroups(0, nullptr) != 0 || ::setgid(kNogroup) != 0 || ::setuid(kNobody) != 0) ::_exit(2);
    ::_exit(f() ? 0 : 1);
  }
  int st = 0;
  ::waitpid(pid, &st, 0);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

AdmissionEntry Entry(const std::string& vm) {
  AdmissionEntry e;
  e.id = "vm-uuid";
  e.vm = vm;
  return e;
}

ShareEntry Share() {
  ShareEntry e;
  e.id = "vm-uuid";
  return e;
}

class StatePermissionsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) VC_CANNOT_RUN("changing to the user nobody needs root");
    // The test's own directory is open to all, so only our modes below it stop nobody.
    ::chmod(top_.path().c_str(), 0755);
  }
  TempDir top_{"perm"};
  StatePaths paths_{top_.path() + "/run", top_.path() + "/state"};
};

TEST_F(StatePermissionsTest, NobodyCanReadNoRecordAndTakeNoLock) {
  // What a follower, the admission queue, the shares and the hook write.
  Result<FollowLock> lock = FollowLock::Take(paths_, "vm-uuid");
  ASSERT_TRUE(lock.ok()) << lock.status().ToString();
  RecordWriter writer(paths_, "vm-uuid");
  MigrationRecord r;
  r.id = "vm-uuid";
  r.vm = "secret-vm";
  ASSERT_TRUE(writer.Update(r).ok());
  ASSERT_TRUE(writer.AppendSample({100, "active", 1, 900, 100, 1, 0, 0, 0}).ok());
  ChangesInForce changes;
  changes.ours.downtime_limit_ms = 700;
  ASSERT_TRUE(WriteChangesRecord(paths_, "vm-uuid", changes).ok());
  Result<AdmissionTicket> ticket = AdmissionTicket::Enter(paths_.AdmissionDir(), Entry("secret-vm"));
  ASSERT_TRUE(ticket.ok()) << ticket.status().ToString();
  Result<ShareHold> share = ShareHold::Take(paths_.SharesDir(), Share());
  ASSERT_TRUE(share.ok()) << share.status().ToString();
  {
    Result<HookRecords> hook = HookRecords::Open(paths_.HookDir());
    ASSERT_TRUE(hook.ok()) << hook.status().ToString();
    ASSERT_TRUE(hook->SetRunning("secret-vm", *ParseCpuSet("1")).ok());
  }
  MigrationRecord done = r;
  ASSERT_TRUE(RecordWriter(paths_, "old").Finish(done).ok());  // a history record

  std::vector<std::string> files;
  for (const std::string& root : {paths_.run_dir(), paths_.state_dir()}) {
    for (const auto& e : fs::recursive_directory_iterator(root)) {
      struct stat st;
      ASSERT_EQ(::lstat(e.path().c_str(), &st), 0);
      if (S_ISDIR(st.st_mode)) {
        EXPECT_EQ(st.st_mode & 0777, 0700u) << e.path();
      } else {
        EXPECT_EQ(st.st_mode & 0777, 0600u) << e.path();
        files.push_back(e.path().string());
      }
    }
  }
  ASSERT_GE(files.size(), 8u);
  for (const std::string& f : files) {
    // Reading it, or opening it at all to flock it, is refused.
    EXPECT_EQ(AsNobody([&] { return ::open(f.c_str(), O_RDONLY | O_CLOEXEC) < 0 && errno == EACCES; }), 0) << f;
  }
  EXPECT_EQ(AsNobody([&] {
              const std::string planted = paths_.run_dir() + "/migrations/planted.json";
              return ::open(planted.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644) < 0;
            }),
            0);
}

TEST_F(StatePermissionsTest, LocksLeftByADeadRootProcessBlockNothing) {
  pid_t pid = ::fork();
  if (pid == 0) {
    Result<FollowLock> lock = FollowLock::Take(paths_, "vm-uuid");
    Result<ShareHold> share = ShareHold::Take(paths_.SharesDir(), Share());
    Result<AdmissionTicket> ticket = AdmissionTicket::Enter(paths_.AdmissionDir(), Entry("v"));
    if (!lock.ok() || !share.ok() || !ticket.ok()) ::_exit(1);
    ::kill(::getpid(), SIGKILL);  // no destructor runs
  }
  int st = 0;
  ::waitpid(pid, &st, 0);
  ASSERT_TRUE(WIFSIGNALED(st));
  EXPECT_FALSE(FollowLock::Held(paths_, "vm-uuid"));
  Result<FollowLock> lock = FollowLock::Take(paths_, "vm-uuid");
  EXPECT_TRUE(lock.ok()) << lock.status().ToString();
  Result<ShareHold> share = ShareHold::Take(paths_.SharesDir(), Share());
  EXPECT_TRUE(share.ok()) << share.status().ToString();
  Result<AdmissionTicket> ticket = AdmissionTicket::Enter(paths_.AdmissionDir(), Entry("v"));
  EXPECT_TRUE(ticket.ok()) << ticket.status().ToString();
}

// Issue 24, point 8: no wait of ours is unbounded. A root process stuck
// (SIGSTOP) while it holds the admission queue's lock stops every migrate
// here for at most kQueueLockWait (10 s), which then says why. Before: each
// waited for as long as the holder was stuck.
TEST_F(StatePermissionsTest, AStuckHolderOfTheQueueLockBlocksNoMigrationForLong) {
  ASSERT_TRUE(MakePrivateDirectories(paths_.AdmissionDir()).ok());
  const std::string lock_path = paths_.AdmissionDir() + "/.queue.lock";
  pid_t pid = ::fork();
  if (pid == 0) {
    int fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0 || ::flock(fd, LOCK_EX) != 0) ::_exit(1);
    ::kill(::getpid(), SIGSTOP);
    ::_exit(0);
  }
  int st = 0;
  ASSERT_EQ(::waitpid(pid, &st, WUNTRACED), pid);
  ASSERT_TRUE(WIFSTOPPED(st));
  auto entered = std::async(std::launch::async, [&] { return AdmissionTicket::Enter(paths_.AdmissionDir(), Entry("v")); });
  const bool ended = entered.wait_for(std::chrono::seconds(30)) == std::future_status::ready;
  ::kill(pid, SIGKILL);  // lets an unbounded wait end, so that the test can
  ::waitpid(pid, &st, 0);
  ASSERT_TRUE(ended) << "entering the queue still waits after 30 s on a stuck lock holder";
  Result<AdmissionTicket> ticket = entered.get();
  ASSERT_FALSE(ticket.ok());
  EXPECT_NE(ticket.status().ToString().find(lock_path), std::string::npos) << ticket.status().ToString();
  EXPECT_NE(ticket.status().ToString().find("locked by another process for 10.0 s"), std::string::npos)
      << ticket.status().ToString();
  // The holder gone, the queue works again.
  Result<AdmissionTicket> again = AdmissionTicket::Enter(paths_.AdmissionDir(), Entry("v"));
  EXPECT_TRUE(again.ok()) << again.status().ToString();
}

// A migration waiting in the queue ends at SIGTERM, and its entry goes.
TEST_F(StatePermissionsTest, AMigrationWaitingInTheQueueEndsAtSigterm) {
  AdmissionEntry running = Entry("first");
  running.id = "first";
  Result<AdmissionTicket> first = AdmissionTicket::Enter(paths_.AdmissionDir(), running);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  ASSERT_TRUE(first->WaitTurn(1, nullptr).ok());
  int ready[2];
  ASSERT_EQ(::pipe(ready), 0);
  pid_t pid = ::fork();
  if (pid == 0) {
    AdmissionEntry e = Entry("second");
    e.id = "second";
    Result<AdmissionTicket> t = AdmissionTicket::Enter(paths_.AdmissionDir(), e);
    if (!t.ok()) ::_exit(1);
    Status waited = t->WaitTurn(1, [&](const AdmissionVerdict&) { (void)!::write(ready[1], "q", 1); });
    ::_exit(waited.ok() ? 0 : 1);
  }
  ::close(ready[1]);
  char c = 0;
  ASSERT_EQ(::read(ready[0], &c, 1), 1) << "the second migration was never queued";
  ::close(ready[0]);
  ::kill(pid, SIGTERM);
  int st = 0;
  ASSERT_EQ(::waitpid(pid, &st, 0), pid);
  EXPECT_TRUE(WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM);
  Result<std::vector<AdmissionEntry>> live = LiveAdmissions(paths_.AdmissionDir());
  ASSERT_TRUE(live.ok()) << live.status().ToString();
  ASSERT_EQ(live->size(), 1u);
  EXPECT_EQ(live->front().id, "first");
}

}  // namespace
}  // namespace vc::testing
