#include "src/coord/admission.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/file.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <ctime>
#include <filesystem>
#include <sstream>

#include "src/base/private_files.h"

namespace vc {

namespace {

// A decision holds the queue lock for milliseconds; a holder of it for this
// long is stuck, and a migration must not wait on it for ever.
constexpr Millis kQueueLockWait{10000};

// The directory's decisions are taken under this lock (a dot name: not an entry).
class QueueLock {
 public:
  static Result<QueueLock> Take(const std::string& dir) {
    std::string path = dir + "/.queue.lock";
    Result<UniqueFd> opened = OpenPrivateFile(path, O_RDWR | O_CREAT);
    if (!opened.ok()) return opened.status();
    UniqueFd fd = std::move(*opened);
    VC_RETURN_IF_ERROR(LockWithin(fd.get(), LOCK_EX, kQueueLockWait, path));
    return QueueLock(std::move(fd));
  }

 private:
  explicit QueueLock(UniqueFd fd) : fd_(std::move(fd)) {}
  UniqueFd fd_;  // closing it unlocks
};

// Readers share the lock, so what they read is one moment's state: no
// decision lands between reading one entry and the next. Where there is
// no lock file yet (no decision was ever taken), or its holder is stuck
// (kQueueLockWait), they read without it.
UniqueFd ShareQueueLock(const std::string& dir) {
  std::string path = dir + "/.queue.lock";
  Result<UniqueFd> opened = OpenPrivateFile(path, O_RDONLY);
  if (!opened.ok()) return UniqueFd();
  UniqueFd fd = std::move(*opened);
  if (!LockWithin(fd.get(), LOCK_SH, kQueueLockWait, path).ok()) return UniqueFd();
  return fd;
}


int64_t RealtimeNs() {
  timespec ts{};
  ::clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

bool StartsBefore(const AdmissionEntry& a, const AdmissionEntry& b) {
  if (a.running != b.running) return a.running;
  if (a.priority != b.priority) return a.priority > b.priority;
  if (a.arrival_ns != b.arrival_ns) return a.arrival_ns < b.arrival_ns;
  return a.id < b.id;
}

int64_t Capped(int64_t cost, int64_t budget) { return std::clamp<int64_t>(cost, 1, std::max<int64_t>(1, budget)); }

std::string Join(const std::vector<std::string>& names) {
  std::string out;
  for (const std::string& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

Result<std::vector<AdmissionEntry>> ReadAdmissions(const std::string& dir) {
  Result<std::vector<LiveEntry>> entries = LiveEntries(dir);
  if (!entries.ok()) return entries.status();
  std::vector<AdmissionEntry> live;
  for (const LiveEntry& e : *entries) live.push_back(AdmissionEntry::Parse(e.id, e.text));
  std::sort(live.begin(), live.end(), StartsBefore);
  return live;
}

}  // namespace

std::string AdmissionEntry::ToText() const {
  std::ostringstream out;
  out << "state " << (running ? "running" : "queued") << "\ncost " << cost << "\npriority " << priority
      << "\narrival " << arrival_ns << "\nvm " << vm << "\npeer " << peer << "\n";
  return out.str();
}

AdmissionEntry AdmissionEntry::Parse(const std::string& id, const std::string& text) {
  AdmissionEntry e;
  e.id = id;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    size_t sp = line.find(' ');
    if (sp == std::string::npos) continue;
    std::string key = line.substr(0, sp), value = line.substr(sp + 1);
    while (!value.empty() && value.back() == ' ') value.pop_back();
    try {
      if (key == "state") e.running = value == "running";
      if (key == "cost") e.cost = std::max<int64_t>(1, std::stoll(value));
      if (key == "priority") e.priority = std::stoll(value);
      if (key == "arrival") e.arrival_ns = std::stoll(value);
    } catch (const std::exception&) {
      // a torn or foreign line: keep the default
    }
    if (key == "vm") e.vm = value;
    if (key == "peer") e.peer = value;
  }
  if (e.vm.empty()) e.vm = id;
  return e;
}

std::vector<std::string> Admissible(const std::vector<AdmissionEntry>& live, int64_t budget) {
  std::vector<const AdmissionEntry*> order;
  int64_t in_use = 0;
  for (const AdmissionEntry& e : live) {
    if (e.running) {
      in_use += Capped(e.cost, budget);
    } else {
      order.push_back(&e);
    }
  }
  std::sort(order.begin(), order.end(), [](const AdmissionEntry* a, const AdmissionEntry* b) { return StartsBefore(*a, *b); });
  std::vector<std::string> start;
  int64_t free = budget - in_use;
  for (const AdmissionEntry* e : order) {
    int64_t c = Capped(e->cost, budget);
    if (c <= free) {  // a big one that does not fit does not hold back a small one behind it
      start.push_back(e->id);
      free -= c;
    }
  }
  return start;
}

Result<std::vector<AdmissionEntry>> LiveAdmissions(const std::string& dir) {
  UniqueFd shared = ShareQueueLock(dir);
  return ReadAdmissions(dir);
}

std::string AdmissionVerdict::Describe(const AdmissionEntry& self, int64_t budget) const {
  std::string text = "cost " + std::to_string(self.cost) + "; " + std::to_string(in_use) + " of " +
                     std::to_string(budget) + " in use";
  if (!using_it.empty()) text += " (" + Join(using_it) + ")";
  if (!ahead.empty()) text += "; " + std::to_string(ahead.size()) + " ahead (" + Join(ahead) + ")";
  return text;
}

Result<AdmissionTicket> AdmissionTicket::Enter(const std::string& dir, AdmissionEntry entry) {
  if (entry.cost < 1) entry.cost = 1;
  entry.arrival_ns = RealtimeNs();
  VC_RETURN_IF_ERROR(MakePrivateDirectories(dir));
  Result<QueueLock> lock = QueueLock::Take(dir);
  if (!lock.ok()) return lock.status();
  Result<HeldEntry> held = HeldEntry::Take(dir, entry.id, entry.ToText());
  if (!held.ok()) return held.status();
  return AdmissionTicket(dir, std::move(*held), std::move(entry));
}

Result<AdmissionVerdict> AdmissionTicket::TryStart(int64_t budget) {
  AdmissionVerdict v;
  if (entry_.running) {
    v.admitted = true;
    return v;
  }
  Result<QueueLock> lock = QueueLock::Take(dir_);
  if (!lock.ok()) return lock.status();
  Result<std::vector<AdmissionEntry>> live = ReadAdmissions(dir_);  // under the lock taken above
  if (!live.ok()) return live.status();
  std::vector<std::string> start = Admissible(*live, budget);
  for (const AdmissionEntry& e : *live) {
    if (e.running) {
      v.in_use += Capped(e.cost, budget);
      v.using_it.push_back(e.vm);
    } else if (e.id != entry_.id && StartsBefore(e, entry_)) {
      v.ahead.push_back(e.vm);
    }
  }
  if (std::find(start.begin(), start.end(), entry_.id) == start.end()) return v;
  AdmissionEntry now = entry_;
  now.running = true;
  VC_RETURN_IF_ERROR(held_.Rewrite(now.ToText()));
  entry_ = now;
  v.admitted = true;
  return v;
}

Status AdmissionTicket::WaitTurn(int64_t budget, const std::function<void(const AdmissionVerdict&)>& on_wait,
                                 Millis recheck) {
  // Watch first, then look: a change between the two still wakes us.
  UniqueFd watch(::inotify_init1(IN_CLOEXEC | IN_NONBLOCK));
  if (watch.valid()) {
    ::inotify_add_watch(watch.get(), dir_.c_str(), IN_CREATE | IN_DELETE | IN_CLOSE_WRITE | IN_MODIFY | IN_MOVED_TO);
  }
  std::string last;
  for (;;) {
    Result<AdmissionVerdict> v = TryStart(budget);
    if (!v.ok()) return v.status();
    if (v->admitted) return Status::Ok();
    std::string text = v->Describe(entry_, budget);
    if (text != last && on_wait) on_wait(*v);
    last = text;
    pollfd p{watch.get(), POLLIN, 0};
    int n = ::poll(&p, watch.valid() ? 1 : 0, static_cast<int>(recheck.count()));
    if (n > 0) {
      char buf[4096];
      while (::read(watch.get(), buf, sizeof buf) > 0) {
      }
    }
  }
}

Status AdmissionTicket::SetCost(int64_t cost) {
  cost = std::max<int64_t>(1, cost);
  if (cost == entry_.cost) return Status::Ok();
  Result<QueueLock> lock = QueueLock::Take(dir_);
  if (!lock.ok()) return lock.status();
  AdmissionEntry now = entry_;
  now.cost = cost;
  VC_RETURN_IF_ERROR(held_.Rewrite(now.ToText()));
  entry_ = now;
  return Status::Ok();
}

}  // namespace vc
