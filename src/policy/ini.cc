#include "src/policy/ini.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "src/base/unique_fd.h"

namespace vc::policy {
namespace {

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

bool ValidName(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!(isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.')) return false;
  }
  return true;
}

}  // namespace

IniFile ParseIni(std::string_view text, const std::string& file_name, Diagnostics* diags) {
  IniFile out;
  auto warn = [&](int line, std::string msg) { diags->push_back({{file_name, line}, std::move(msg)}); };
  if (text.size() > kMaxFileBytes) {
    warn(0, "file is larger than " + std::to_string(kMaxFileBytes) + " bytes, ignoring it.");
    return out;
  }
  std::string section;
  std::string logical;     // a line with its continuations
  int logical_start = 0;
  bool too_long = false;
  bool stop = false;

  // Handles one logical line (a line and its continuations).
  auto finish = [&]() {
    if (too_long) {
      warn(logical_start, "line is longer than " + std::to_string(kMaxLineBytes) + " bytes, ignoring it.");
      too_long = false;
      return;
    }
    std::string line = std::move(logical);
    logical.clear();
    if (line.find('\0') != std::string::npos) {
      warn(logical_start, "line contains a NUL byte, ignoring it.");
      return;
    }
    std::string_view l = Trim(line);
    if (l.empty()) return;
    if (l.front() == '[') {
      std::string_view name = l.back() == ']' ? Trim(l.substr(1, l.size() - 2)) : std::string_view();
      if (!ValidName(name)) {
        warn(logical_start, "invalid section header '" + std::string(l.substr(0, 80)) +
                                "', ignoring the section.");
        section = "\x01";  // assignments below belong to no valid section
        return;
      }
      section = std::string(name);
      return;
    }
    size_t eq = l.find('=');
    if (eq == std::string_view::npos) {
      warn(logical_start, "missing '=', ignoring line.");
      return;
    }
    std::string key(Trim(l.substr(0, eq)));
    std::string value(Trim(l.substr(eq + 1)));
    if (section.empty()) {
      warn(logical_start, "assignment outside of a section, ignoring.");
      return;
    }
    if (section == "\x01") return;  // already reported with its header
    if (!ValidName(key)) {
      warn(logical_start, "invalid key name '" + key.substr(0, 80) + "', ignoring.");
      return;
    }
    if (out.assignments.size() >= kMaxAssignments) {
      warn(logical_start, "more than " + std::to_string(kMaxAssignments) +
                              " assignments, ignoring the rest of the file.");
      stop = true;
      return;
    }
    out.assignments.push_back({section, key, value, {file_name, logical_start}});
  };

  int line_no = 0;
  size_t pos = 0;
  bool open = false;  // inside a logical line
  while (pos < text.size() && !stop) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view t = Trim(text.substr(pos, end - pos));
    pos = end + 1;
    line_no++;
    // Comments and blank lines are skipped, also inside a continuation.
    if (t.empty() || t[0] == '#' || t[0] == ';') continue;
    if (!open) {
      logical_start = line_no;
      open = true;
    }
    bool continues = t.back() == '\\';
    if (continues) t.remove_suffix(1);
    if (!too_long) {
      if (logical.size() + t.size() + 1 > kMaxLineBytes) {
        too_long = true;
        logical.clear();
      } else {
        if (!logical.empty()) logical += ' ';
        logical += t;
      }
    }
    if (continues) continue;
    open = false;
    finish();
  }
  if (open && !stop) finish();  // a continuation that ran into the end
  return out;
}

IniFile ReadIni(const std::string& path, Diagnostics* diags) {
  // O_NONBLOCK: a FIFO planted in policy.d must not hang us at open().
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY));
  if (!fd.valid()) {
    diags->push_back({{path, 0}, std::string("cannot open: ") + std::strerror(errno) + ", ignoring it."});
    return {};
  }
  struct stat st;
  if (::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) {
    diags->push_back({{path, 0}, "not a regular file, ignoring it."});
    return {};
  }
  std::string text;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      diags->push_back({{path, 0}, std::string("cannot read: ") + std::strerror(errno) + ", ignoring it."});
      return {};
    }
    if (n == 0) break;
    text.append(buf, static_cast<size_t>(n));
    if (text.size() > kMaxFileBytes) {
      diags->push_back({{path, 0}, "file is larger than " + std::to_string(kMaxFileBytes) + " bytes, ignoring it."});
      return {};
    }
  }
  return ParseIni(text, path, diags);
}

}  // namespace vc::policy
