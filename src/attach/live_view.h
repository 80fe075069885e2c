// LiveView: progress of one migration on a terminal (a redrawn status line
// with a progress bar) or in a log (one plain line per update).
#pragma once

#include <cstdio>
#include <string>

#include "src/backend/migration_backend.h"

namespace vc {

class LiveView {
 public:
  /// \a tty: redraw one line in place; otherwise print a line per update.
  LiveView(FILE* out, bool tty) : out_(out), tty_(tty) {}
  /// Shows a sample; \a downtime_limit_ms < 0 when unknown.
  void Update(const MigrationSample& s, int64_t downtime_limit_ms);
  /// Prints a message on its own line (keeping the status line below it).
  void Message(const std::string& text);
  /// Ends the status line.
  void Finish();

  /// The text of a progress line, without time prefix (for tests).
  static std::string Format(const MigrationSample& s, int64_t downtime_limit_ms);
  /// "[#######.............]" for \a percent (0..100), \a width cells inside.
  static std::string Bar(double percent, int width);

 private:
  FILE* out_;
  bool tty_;
  bool status_shown_ = false;
};

}  // namespace vc
