// Terminal: a program run on a real terminal emulator (a detached tmux
// session of a given size, on a tmux server of its own), so a test sees
// what a person would: the screen after the program's redraws, wrapped
// lines and all, and what happens when the window is resized.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "src/base/status.h"
#include "tests/support/temp_dir.h"

namespace vc::testing {

class Terminal {
 public:
  /// Runs \a argv in a \a columns x \a rows window. The window stays open
  /// after the program ends, with "[exited N]" as its last line.
  static Result<Terminal> Start(const TempDir& dir, const std::vector<std::string>& argv,
                                int columns, int rows);
  Terminal(Terminal&& other) noexcept;
  Terminal& operator=(Terminal&&) = delete;
  ~Terminal();

  /// The screen and everything scrolled off it, top to bottom, one entry
  /// per line as printed: a line the terminal wrapped is joined again, so a
  /// line longer than the window was wrapped.
  std::vector<std::string> Lines() const;
  /// The program's exit code once it has ended.
  std::optional<int> ExitCode() const;
  Status Resize(int columns, int rows);

 private:
  Terminal(std::string server, std::string log)
      : server_(std::move(server)), log_(std::move(log)) {}
  Result<std::string> Tmux(const std::vector<std::string>& args) const;

  std::string server_;  // tmux -L name
  std::string log_;     // tmux's own output, for errors
};

}  // namespace vc::testing
