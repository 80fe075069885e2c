// BoardView: the progress of several migrations at once (evacuate), one
// row each and a total: on a terminal a table redrawn in place with a
// progress bar per row; in a log a plain line whenever a row's state
// changes (its first word: queued, starting, migrating, completed, ...),
// not at every refresh.
#pragma once

#include <cstdio>
#include <map>
#include <string>
#include <vector>

namespace vc {

struct BoardRow {
  std::string name;     // the VM
  std::string where;    // its destination; "-" before one is chosen
  std::string state;    // "queued (#1 in line, cost 1)", "migrating, pass 2, ..."
  double percent = -1;  // of its RAM sent; < 0 when there is none to show
};

class BoardView {
 public:
  BoardView(FILE* out, bool tty) : out_(out), tty_(tty) {}
  /// Shows \a rows and the \a total line.
  void Update(const std::vector<BoardRow>& rows, const std::string& total);
  /// Something that happened to row \a name: a line in a log; on a
  /// terminal the table says it already.
  void Event(const std::string& name, const std::string& text);

 private:
  FILE* out_;
  bool tty_;
  size_t drawn_ = 0;                       // lines of the table on screen
  std::map<std::string, std::string> shown_;  // by row: the state word last printed
};

}  // namespace vc
