#include "src/view/board_view.h"

#include "src/view/live_view.h"

namespace vc {

void BoardView::Update(const std::vector<BoardRow>& rows, const std::string& total) {
  if (!tty_) {
    for (const BoardRow& r : rows) {
      std::string word = r.state.substr(0, r.state.find_first_of(" (,"));
      if (shown_[r.name] == word) continue;
      shown_[r.name] = word;
      std::fprintf(out_, "%s: %s%s\n", r.name.c_str(), r.state.c_str(),
                   r.where == "-" || word != "queued" ? "" : (" → " + r.where).c_str());
    }
    std::fflush(out_);
    return;
  }
  if (drawn_) std::fprintf(out_, "\033[%zuA", drawn_);  // back to the table's first line
  for (const BoardRow& r : rows) {
    std::string percent = r.percent >= 0 ? std::to_string(static_cast<int>(r.percent)) + "%" : "";
    std::fprintf(out_, "\r  %-16s %s %5s  %-30.30s  %s\033[K\n", r.name.c_str(),
                 LiveView::Bar(r.percent < 0 ? 0 : r.percent, 20).c_str(), percent.c_str(), r.where.c_str(),
                 r.state.c_str());
  }
  std::fprintf(out_, "\r%s\033[K\n", total.c_str());
  drawn_ = rows.size() + 1;
  std::fflush(out_);
}

void BoardView::Event(const std::string& name, const std::string& text) {
  if (tty_) return;
  std::fprintf(out_, "%s: %s\n", name.c_str(), text.c_str());
  std::fflush(out_);
}

}  // namespace vc
