#include "tests/support/terminal.h"

#include <sys/wait.h>
#include <unistd.h>

#include <sstream>

#include "tests/support/process.h"

namespace vc::testing {
namespace {

std::string Quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

constexpr char kExitMark[] = "[exited ";

}  // namespace

Result<std::string> Terminal::Tmux(const std::vector<std::string>& args) const {
  std::vector<std::string> argv = {"tmux", "-L", server_};
  argv.insert(argv.end(), args.begin(), args.end());
  Result<Subprocess> p = Subprocess::Start(argv, log_);
  if (!p.ok()) return p.status();
  std::optional<int> st = p->Wait(Millis(10000));
  std::string out = ReadFile(log_);
  if (!st || !WIFEXITED(*st) || WEXITSTATUS(*st) != 0)
    return Status::Internal("tmux " + args[0], out);
  return out;
}

Result<Terminal> Terminal::Start(const TempDir& dir, const std::vector<std::string>& argv,
                                 int columns, int rows) {
  Terminal t("vc-" + std::to_string(getpid()) + "-" + dir.path().substr(dir.path().rfind('/') + 1),
             dir.File("tmux.out"));
  std::string command;
  for (const std::string& a : argv) command += Quote(a) + " ";
  // Keeps the window (and so its screen) after the program ends.
  command = "sh -c " + Quote(command + "; echo \"" + kExitMark + "$?]\"; exec sleep 3600");
  Result<std::string> r = t.Tmux({"new-session", "-d", "-x", std::to_string(columns), "-y",
                                  std::to_string(rows), "-s", "vc", command});
  if (!r.ok()) return r.status();
  return t;
}

Terminal::Terminal(Terminal&& other) noexcept
    : server_(std::move(other.server_)), log_(std::move(other.log_)) {
  other.server_.clear();
}

Terminal::~Terminal() {
  if (!server_.empty()) (void)Tmux({"kill-server"});
}

std::vector<std::string> Terminal::Lines() const {
  Result<std::string> screen = Tmux({"capture-pane", "-p", "-J", "-S", "-", "-t", "vc"});
  std::vector<std::string> lines;
  if (!screen.ok()) return lines;
  std::istringstream in(*screen);
  for (std::string line; std::getline(in, line);) {
    while (!line.empty() && line.back() == ' ') line.pop_back();
    lines.push_back(line);
  }
  while (!lines.empty() && lines.back().empty()) lines.pop_back();
  return lines;
}

std::optional<int> Terminal::ExitCode() const {
  for (const std::string& line : Lines()) {
    if (line.rfind(kExitMark, 0) == 0) return std::stoi(line.substr(sizeof kExitMark - 1));
  }
  return std::nullopt;
}

Status Terminal::Resize(int columns, int rows) {
  Result<std::string> r = Tmux(
      {"resize-window", "-t", "vc", "-x", std::to_string(columns), "-y", std::to_string(rows)});
  return r.ok() ? Status::Ok() : r.status();
}

}  // namespace vc::testing
