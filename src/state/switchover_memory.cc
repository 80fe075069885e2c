#include "src/state/switchover_memory.h"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

#include "src/base/private_files.h"

namespace vc {
namespace {

std::vector<SwitchoverObservation> ReadAll(const std::string& path) {
  std::vector<SwitchoverObservation> all;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    SwitchoverObservation o;
    int64_t bytes = 0;  // signed: "-5" must not read as 2^64-5
    if (!(fields >> o.unix_seconds >> bytes >> o.copy.downtime_ms)) continue;
    if (o.unix_seconds <= 0 || o.copy.downtime_ms <= 0 || bytes <= 0) continue;
    o.copy.bytes = static_cast<uint64_t>(bytes);
    if (int64_t never_sent = -1; fields >> never_sent && never_sent >= 0 && never_sent <= bytes) {
      o.copy.never_sent = static_cast<uint64_t>(never_sent);
    }
    all.push_back(o);
  }
  return all;
}

}  // namespace

std::string SwitchoverMemory::KeyOf(const std::string& peer) {
  std::string rest = peer;
  if (size_t scheme = rest.find("://"); scheme != std::string::npos) {
    rest = rest.substr(scheme + 3);
    if (size_t at = rest.find('@'); at != std::string::npos && at < rest.find('/')) rest = rest.substr(at + 1);
  } else if (size_t colon = rest.find(':'); colon != std::string::npos) {
    if (rest.compare(0, colon, "unix") == 0 || rest.compare(0, colon, "exec") == 0 ||
        rest.compare(0, colon, "fd") == 0) {
      return "local";  // no link in between
    }
    rest = rest.substr(colon + 1);  // QEMU's "tcp:host:port", "rdma:host:port"
  }
  std::string host;
  if (!rest.empty() && rest[0] == '[') {
    size_t close = rest.find(']');
    host = rest.substr(1, close == std::string::npos ? std::string::npos : close - 1);
  } else {
    host = rest.substr(0, rest.find_first_of(":/?"));
  }
  for (char& c : host) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '-' && c != '_') c = '_';
  }
  if (host.empty() || host.find_first_not_of('.') == std::string::npos) return "unknown-destination";
  return host;
}

Status SwitchoverMemory::Remember(const std::string& key, const SwitchoverObservation& o) const {
  if (!Keeps(o.copy)) return Status::Ok();
  const std::string path = dir_ + "/" + key;
  std::vector<SwitchoverObservation> all = ReadAll(path);
  all.push_back(o);
  if (all.size() > static_cast<size_t>(kKeep)) all.erase(all.begin(), all.end() - kKeep);
  std::ostringstream out;
  for (const SwitchoverObservation& x : all) {
    out << x.unix_seconds << ' ' << x.copy.bytes << ' ' << x.copy.downtime_ms;
    if (x.copy.never_sent) out << ' ' << *x.copy.never_sent;
    out << '\n';
  }
  return WriteFileAtomically(path, out.str());
}

std::optional<LearnedSwitchover> SwitchoverMemory::Recall(const std::string& key, int64_t now) const {
  LearnedSwitchover learned;
  learned.path = dir_ + "/" + key;
  for (const SwitchoverObservation& o : ReadAll(learned.path)) {
    if (o.unix_seconds < now - kMaxAgeSeconds || o.unix_seconds > now + 60) continue;
    learned.copies.push_back(o.copy);
  }
  if (learned.copies.empty()) return std::nullopt;
  return learned;
}

}  // namespace vc
