#include "src/base/spawn.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <unistd.h>

extern char** environ;

namespace vc {
namespace {

// posix_spawn_file_actions_t, destroyed with its scope.
class FileActions {
 public:
  FileActions() { posix_spawn_file_actions_init(&fa_); }
  ~FileActions() { posix_spawn_file_actions_destroy(&fa_); }
  FileActions(const FileActions&) = delete;
  FileActions& operator=(const FileActions&) = delete;
  posix_spawn_file_actions_t* get() { return &fa_; }

 private:
  posix_spawn_file_actions_t fa_;
};

/// posix_spawnattr_t, destroyed with its scope: the child starts with
/// SIGPIPE's default action, whatever this process does with it.
class SpawnAttributes {
 public:
  SpawnAttributes() {
    posix_spawnattr_init(&attr_);
    sigset_t defaults;
    sigemptyset(&defaults);
    sigaddset(&defaults, SIGPIPE);
    posix_spawnattr_setsigdefault(&attr_, &defaults);
    posix_spawnattr_setflags(&attr_, POSIX_SPAWN_SETSIGDEF);
  }
  ~SpawnAttributes() { posix_spawnattr_destroy(&attr_); }
  SpawnAttributes(const SpawnAttributes&) = delete;
  SpawnAttributes& operator=(const SpawnAttributes&) = delete;
  const posix_spawnattr_t* get() const { return &attr_; }

 private:
  posix_spawnattr_t attr_;
};

}  // namespace

Result<pid_t> SpawnLogged(const std::vector<std::string>& argv, const std::string& log) {
  if (argv.empty()) return Status::InvalidArgument("spawn", "no program");
  FileActions fa;
  // The child's own descriptors, opened in it: without O_CLOEXEC, which
  // would close them again at its exec.
  posix_spawn_file_actions_addopen(fa.get(), STDOUT_FILENO, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  posix_spawn_file_actions_adddup2(fa.get(), STDOUT_FILENO, STDERR_FILENO);
  posix_spawn_file_actions_addopen(fa.get(), STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = -1;
  SpawnAttributes attr;
  int rc = posix_spawn(&pid, args[0], fa.get(), attr.get(), args.data(), environ);
  if (rc != 0) return Status::IoError("starting " + argv[0], rc);
  return pid;
}

}  // namespace vc
