// Issue 25, point 5: what a follower tells the journal, read back. Each case
// runs in a child with a user and mount namespace of its own, where a fresh
// tmpfs on /run holds a datagram socket at journald's path: sd_journal_send
// there reaches this test, nothing of the host's journal is touched. The
// catalog explains every MESSAGE_ID (journalctl --update-catalog on a root).
#include "src/attach/journal_log.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "src/attach/follower.h"
#include "src/base/unique_fd.h"
#include "tests/support/fake_backend.h"
#include "tests/support/policy_tree.h"
#include "tests/support/samples.h"
#include "tests/support/temp_dir.h"

namespace vc {
namespace {

using Entry = std::map<std::string, std::string>;

// One datagram of journald's native protocol: KEY=VALUE lines, or KEY, a
// newline, a 64-bit little-endian length and the value (binary-safe form).
Entry ParseEntry(const std::string& d) {
  Entry e;
  size_t at = 0;
  while (at < d.size()) {
    const size_t nl = d.find('\n', at);
    const std::string line = d.substr(at, nl == std::string::npos ? std::string::npos : nl - at);
    if (const size_t eq = line.find('='); eq != std::string::npos) {
      e[line.substr(0, eq)] = line.substr(eq + 1);
      at = nl == std::string::npos ? d.size() : nl + 1;
    } else {
      uint64_t len = 0;
      std::memcpy(&len, d.data() + nl + 1, sizeof len);
      e[line] = d.substr(nl + 1 + sizeof len, len);
      at = nl + 1 + sizeof len + len + 1;
    }
  }
  return e;
}

bool WriteFile(const char* path, const std::string& text) {
  std::ofstream f(path);
  f << text;
  return static_cast<bool>(f.flush());
}

// Runs \a body in a child whose /run is its own, with a socket at journald's
// path; returns the entries \a body sent there, or why not.
Result<std::vector<Entry>> CatchJournal(const std::function<void()>& body) {
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) < 0) return Status::IoError("pipe", errno);
  UniqueFd from_child(pipe_fds[0]), to_parent(pipe_fds[1]);
  const uid_t uid = ::getuid();
  const gid_t gid = ::getgid();
  const pid_t child = ::fork();
  if (child < 0) return Status::IoError("fork", errno);
  if (child == 0) {
    from_child = UniqueFd();
    auto fail = [&](const char* what) {
      std::string why = std::string("!") + what + ": " + std::strerror(errno);
      (void)!::write(to_parent.get(), why.data(), why.size());
      ::_exit(1);
    };
    if (::unshare(CLONE_NEWUSER | CLONE_NEWNS) < 0) fail("unshare");
    if (!WriteFile("/proc/self/setgroups", "deny") ||
        !WriteFile("/proc/self/uid_map", "0 " + std::to_string(uid) + " 1") ||
        !WriteFile("/proc/self/gid_map", "0 " + std::to_string(gid) + " 1")) {
      fail("id maps");
    }
    if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) < 0) fail("private mounts");
    if (::mount("tmpfs", "/run", "tmpfs", 0, "mode=0755") < 0) fail("tmpfs on /run");
    if (::mkdir("/run/systemd", 0755) < 0 || ::mkdir("/run/systemd/journal", 0755) < 0) fail("mkdir");
    UniqueFd sock(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strcpy(addr.sun_path, "/run/systemd/journal/socket");
    if (::bind(sock.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0) fail("bind");
    body();
    // Every datagram, each framed by its length for the parent.
    for (;;) {
      pollfd p{sock.get(), POLLIN, 0};
      if (::poll(&p, 1, 200) <= 0) break;
      std::string buf(1 << 16, '\0');
      const ssize_t n = ::recv(sock.get(), buf.data(), buf.size(), 0);
      if (n <= 0) break;
      const uint32_t len = static_cast<uint32_t>(n);
      (void)!::write(to_parent.get(), &len, sizeof len);
      (void)!::write(to_parent.get(), buf.data(), len);
    }
    ::_exit(0);
  }
  to_parent = UniqueFd();
  std::string all;
  char buf[4096];
  for (ssize_t n; (n = ::read(from_child.get(), buf, sizeof buf)) > 0;) all.append(buf, static_cast<size_t>(n));
  int wstatus = 0;
  ::waitpid(child, &wstatus, 0);
  if (!all.empty() && all[0] == '!') return Status::Internal("the journal's namespace", all.substr(1));
  std::vector<Entry> entries;
  for (size_t at = 0; at + 4 <= all.size();) {
    uint32_t len = 0;
    std::memcpy(&len, all.data() + at, sizeof len);
    entries.push_back(ParseEntry(all.substr(at + 4, len)));
    at += 4 + len;
  }
  return entries;
}

TEST(JournalLog, ActionsAndOutcomesCarryTheirFieldsAndMessageIds) {
  Result<std::vector<Entry>> caught = CatchJournal([] {
    if (!JournalLog::Available()) ::_exit(2);
    JournalLog journal(true);
    journal.SetMigration("vm1", "0b5c1a2e-uuid", "mig-1");
    ActionRecord a{12.5, "abort", 0, "the time budget (30 s) ran out", "done"};
    a.kind = DecisionKind::kBudget;
    journal.Action(a);
    MigrationSummary s;
    s.outcome = MigrationOutcome::kAborted;
    s.code = "budget.abort";
    s.detail = "aborted by virt-converge: the time budget (30 s) ran out";
    s.total_time_ms = 12600;
    s.bytes_sent = 1 << 30;
    journal.Outcome(s);
  });
  ASSERT_TRUE(caught.ok()) << caught.status().ToString();
  ASSERT_EQ(caught->size(), 2u);
  const Entry& action = (*caught)[0];
  EXPECT_EQ(action.at("MESSAGE_ID"), kJournalActionId);
  EXPECT_EQ(action.at("SYSLOG_IDENTIFIER"), "virt-converge");
  EXPECT_EQ(action.at("VM"), "vm1");
  EXPECT_EQ(action.at("VM_UUID"), "0b5c1a2e-uuid");
  EXPECT_EQ(action.at("MIGRATION_ID"), "mig-1");
  EXPECT_EQ(action.at("ACTION"), "abort");
  EXPECT_EQ(action.at("REASON"), "budget.abort");
  EXPECT_EQ(action.at("RESULT"), "done");
  EXPECT_EQ(action.at("REASON_TEXT"), "the time budget (30 s) ran out");
  EXPECT_NE(action.at("MESSAGE").find("action abort [done]"), std::string::npos) << action.at("MESSAGE");
  const Entry& outcome = (*caught)[1];
  EXPECT_EQ(outcome.at("MESSAGE_ID"), kJournalOutcomeId);
  EXPECT_EQ(outcome.at("OUTCOME"), "aborted");
  EXPECT_EQ(outcome.at("REASON"), "budget.abort");
  EXPECT_EQ(outcome.at("TOTAL_TIME_MS"), "12600");
  EXPECT_EQ(outcome.at("BYTES_SENT"), std::to_string(1 << 30));
  EXPECT_EQ(outcome.at("PRIORITY"), "5");
}

// A whole follower: the migration it follows, each action, the outcome.
TEST(JournalLog, AFollowerTellsTheJournalWhatItFollowsDoesAndHowItEnded) {
  testing::PolicyTree root("journal");
  root.Write("50-step.conf", "[Budget]\nPerGiB=0\nMinimum=0\nAction=none\n[Schedule]\nStep=start downtime=700ms\n");
  Result<std::vector<Entry>> caught = CatchJournal([&] {
    testing::FakeBackend backend;
    backend.facts.hypervisor = "QEMU 7.2.0";
    backend.facts.vm_name = "guest7";
    backend.tuning.downtime_limit_ms = 300;
    backend.samples.push_back(testing::ActiveSample(1000, 1, 100 << 20, 1ull << 30));
    backend.samples.push_back(testing::CompletedSample(2000, 2, 1ull << 30, 30));
    FollowOptions o;
    o.interval = Millis(20);
    o.policy_root = root.root();
    o.uuid = "uuid-7";
    o.migration_id = "uuid-7";
    FILE* out = tmpfile();
    LiveView view(out, false);
    (void)Follower(backend, o, view).Run();
    std::fclose(out);
  });
  ASSERT_TRUE(caught.ok()) << caught.status().ToString();
  std::map<std::string, std::vector<Entry>> by_id;
  for (const Entry& e : *caught) by_id[e.at("MESSAGE_ID")].push_back(e);
  auto of = [&](std::string_view id) -> const std::vector<Entry>& { return by_id[std::string(id)]; };
  ASSERT_EQ(of(kJournalFollowingId).size(), 1u);
  EXPECT_EQ(of(kJournalFollowingId)[0].at("VM"), "guest7");
  ASSERT_EQ(of(kJournalActionId).size(), 1u);
  const Entry& action = of(kJournalActionId)[0];
  EXPECT_EQ(action.at("ACTION"), "set-downtime");
  EXPECT_EQ(action.at("VALUE"), "700");
  EXPECT_EQ(action.at("REASON"), "schedule.downtime");
  EXPECT_EQ(action.at("VM_UUID"), "uuid-7");
  ASSERT_EQ(of(kJournalOutcomeId).size(), 1u);
  const Entry& outcome = of(kJournalOutcomeId)[0];
  EXPECT_EQ(outcome.at("OUTCOME"), "completed");
  EXPECT_EQ(outcome.at("REASON"), "completed.precopy");
  EXPECT_EQ(outcome.at("DOWNTIME_MS"), "30");
  EXPECT_EQ(outcome.at("VM"), "guest7");
}

// The catalog holds an entry for every MESSAGE_ID, and journalctl takes it.
TEST(JournalLog, TheCatalogExplainsEveryMessageId) {
  testing::TempDir dir("catalog");
  const std::string catalog_dir = dir.File("usr/lib/systemd/catalog");
  std::filesystem::create_directories(catalog_dir);
  std::filesystem::copy_file(std::string(VC_SOURCE_DIR) + "/packaging/catalog/virt-converge.catalog",
                             catalog_dir + "/virt-converge.catalog");
  const std::string cmd = "journalctl --root=" + dir.path() + " --update-catalog 2>&1 && journalctl --root=" +
                          dir.path() + " --list-catalog 2>&1";
  FILE* p = ::popen(cmd.c_str(), "r");
  ASSERT_NE(p, nullptr);
  std::string listed;
  char buf[512];
  while (std::fgets(buf, sizeof buf, p)) listed += buf;
  ASSERT_EQ(::pclose(p), 0) << listed;
  for (std::string_view id : {kJournalFollowingId, kJournalActionId, kJournalOutcomeId, kJournalEventId}) {
    EXPECT_NE(listed.find(std::string(id) + " virt-converge: "), std::string::npos) << id << "\n" << listed;
  }
}

}  // namespace
}  // namespace vc
