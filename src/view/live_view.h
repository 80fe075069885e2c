// LiveView: the progress of one migration (attach) or several side by side
// (the demo), one status line each. On a terminal the status lines are
// redrawn in place below the messages, each fitted to the terminal's width
// (read at every draw, so a resize is followed) by dropping its least useful
// fields; in a log, one plain line per update.
#pragma once

#include <cstdio>
#include <string>
#include <vector>

#include "src/backend/migration_backend.h"

namespace vc {

class LiveView {
 public:
  /// \a tty: redraw in place; otherwise print a line per update. \a tags
  /// name one status line each, shown before it and before its messages
  /// ("[tag] "); none: one untagged line.
  LiveView(FILE* out, bool tty, std::vector<std::string> tags = {});
  /// Shows a sample on status line \a line; \a downtime_limit_ms < 0 when
  /// unknown.
  void Update(const MigrationSample& s, int64_t downtime_limit_ms, size_t line = 0);
  /// Prints a message on its own line above the status lines.
  void Message(const std::string& text);
  /// The same, tagged with status line \a line's tag.
  void Message(const std::string& text, size_t line);
  /// Ends the status lines: what follows goes below them.
  void Finish();

  /// The text of a progress line, most useful fields first. With a \a width,
  /// compact and cut to at most that many characters by dropping whole
  /// fields from the end; without one (npos), every field in aligned columns.
  static std::string Format(const MigrationSample& s, int64_t downtime_limit_ms,
                            size_t width = std::string::npos);
  /// "[#######.............]" for \a percent (0..100), \a width cells inside.
  static std::string Bar(double percent, int width);
  /// A terminal status line: a progress bar (narrower, or none, on a narrow
  /// terminal) and the fields that fit in \a width columns.
  static std::string StatusLine(const MigrationSample& s, int64_t downtime_limit_ms, size_t width);

 private:
  size_t TerminalWidth() const;
  std::string Prefix(size_t line) const;
  /// Moves to the first status line and clears from there down.
  void Erase();
  void Draw();

  FILE* out_;
  bool tty_;
  std::vector<std::string> tags_;
  size_t tag_width_ = 0;
  // Terminal: the latest sample of each status line, and what is on screen.
  struct Shown {
    bool has = false;
    MigrationSample sample;
    int64_t limit_ms = -1;
  };
  std::vector<Shown> lines_;
  bool drawn_ = false;       // the status lines are on screen, the cursor on the last
  size_t drawn_width_ = 0;   // the width they were fitted to
};

}  // namespace vc
