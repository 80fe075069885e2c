#include "tests/support/qemu_vm.h"

#include <fcntl.h>
#include <linux/kvm.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <thread>

#include "tests/support/artifacts.h"
#include "tests/support/guest_check.h"

namespace vc::testing {

bool KvmUsable(std::string* why_not) {
  int fd = ::open("/dev/kvm", O_RDWR | O_CLOEXEC);
  if (fd < 0) {
    *why_not = "/dev/kvm cannot be opened";
    return false;
  }
  bool ok = ::ioctl(fd, KVM_GET_API_VERSION, 0) == KVM_API_VERSION;
  int vm = ok ? ::ioctl(fd, KVM_CREATE_VM, 0) : -1;
  if (vm >= 0) ::close(vm);
  ::close(fd);
  if (vm < 0) *why_not = "/dev/kvm cannot create a VM";
  return vm >= 0;
}

Accel ChooseAccel() {
  if (const char* forced = std::getenv("VC_TEST_ACCEL"); forced && *forced) {
    return {forced, "forced by VC_TEST_ACCEL"};
  }
  std::string why_not;
  if (!KvmUsable(&why_not)) return {"tcg", why_not};
  if (std::filesystem::exists("/sys/module/kvm_pvm")) {
    return {"tcg",
            "KVM here is KVM-PVM, which runs our non-PVM guest in its instruction emulator "
            "(whole-page writes ~8 MiB/s vs ~2 GiB/s under TCG)"};
  }
  return {"kvm", "/dev/kvm works"};
}

std::string QemuBinary() {
  if (const char* chosen = std::getenv("VC_QEMU"); chosen && *chosen) {
    return ::access(chosen, X_OK) == 0 ? chosen : "";
  }
  const char* path = std::getenv("PATH");
  std::string dirs = path ? path : "/usr/bin:/bin";
  size_t start = 0;
  while (start <= dirs.size()) {
    size_t end = dirs.find(':', start);
    if (end == std::string::npos) end = dirs.size();
    std::string candidate = dirs.substr(start, end - start) + "/qemu-system-x86_64";
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
    start = end + 1;
  }
  return "";
}

std::string GuestKernel() {
  Result<std::string> kernel = LocateGuestKernel();
  return kernel.ok() ? *kernel : "";
}

std::string GuestParams::CommandLine() const {
  return "wss=" + wss + " rate=" + rate + " fill=" + fill;
}

QemuVm::QemuVm(const TempDir& dir, VmOptions options) : dir_(dir), options_(std::move(options)) {}

QemuVm::~QemuVm() {
  qmp_.reset();
  process_.Kill();
}

Result<std::unique_ptr<QemuVm>> QemuVm::Start(const TempDir& dir, const VmOptions& options) {
  std::string qemu = QemuBinary();
  if (qemu.empty()) return Status::NotFound("qemu-system-x86_64", "not installed");
  Result<std::string> located = LocateGuestKernel();
  if (!located.ok()) return located.status();
  const std::string& kernel = *located;
  std::unique_ptr<QemuVm> vm(new QemuVm(dir, options));
  vm->accel_ = options.accel.empty() ? ChooseAccel().name : options.accel;
  vm->control_qmp_ = dir.File(options.name + "-control.sock");
  vm->spare_qmp_ = dir.File(options.name + "-qmp.sock");
  vm->serial_ = dir.File(options.name + "-serial.txt");
  vm->log_ = dir.File(options.name + "-qemu.log");
  std::vector<std::string> argv = {
      qemu, "-name", options.guest.vm_name.empty() ? options.name : options.guest.vm_name, "-machine", "pc",
      // KVM with a dirty ring: what dirty-limit needs (QEMU 8.1+).
      "-accel", vm->accel_ == "kvm" ? "kvm,dirty-ring-size=4096" : vm->accel_,
      "-m", std::to_string(options.guest.ram_mib), "-smp", "1",
      "-nodefaults", "-no-user-config", "-display", "none",
      "-kernel", kernel, "-append", options.guest.CommandLine(),
      "-serial", "file:" + vm->serial_,
      "-qmp", "unix:" + vm->control_qmp_ + ",server=on,wait=off",
      "-qmp", "unix:" + vm->spare_qmp_ + ",server=on,wait=off"};
  if (!options.uuid.empty()) argv.insert(argv.end(), {"-uuid", options.uuid});
  if (options.incoming) {
    argv.push_back("-incoming");
    argv.push_back("defer");
  }
  // `ip netns exec` execs QEMU itself: the pid stays QEMU's.
  if (!options.netns.empty()) argv.insert(argv.begin(), {"ip", "netns", "exec", options.netns});
  Result<Subprocess> p = Subprocess::Start(argv, vm->log_);
  if (!p.ok()) return p.status();
  vm->process_ = std::move(*p);

  Deadline deadline = Clock::now() + kQemuStartTimeout;
  for (;;) {
    if (vm->process_.Wait(Millis(0))) {
      return Status::Internal(options.name, "QEMU exited at start: " + ReadFile(vm->log_));
    }
    if (::access(vm->control_qmp_.c_str(), F_OK) == 0) {
      Result<std::unique_ptr<qmp::Transport>> t = qmp::ConnectUnixSocket(vm->control_qmp_);
      if (t.ok()) {
        Result<std::unique_ptr<qmp::Session>> s = qmp::Session::Connect(std::move(*t));
        if (!s.ok()) return s.status();
        vm->qmp_ = std::move(*s);
        break;
      }
    }
    if (Clock::now() > deadline) return Status::Timeout(options.name, "QMP socket never appeared");
    std::this_thread::sleep_for(Millis(20));
  }
  return vm;
}

Status QemuVm::WaitSerial(const std::string& text, Millis timeout) {
  Deadline deadline = Clock::now() + timeout;
  for (;;) {
    std::string serial = ReadFile(serial_);
    if (serial.find(text) != std::string::npos) return Status::Ok();
    if (process_.Wait(Millis(0))) {
      return Status::Internal(name(), "QEMU exited: " + ReadFile(log_) + " serial: " + serial);
    }
    if (Clock::now() > deadline) {
      return Status::Timeout(name(), "no '" + text + "' on the serial port; it has: " + serial);
    }
    std::this_thread::sleep_for(Millis(50));
  }
}

Result<std::vector<uint8_t>> QemuVm::ReadMemory(uint64_t addr, uint64_t size) {
  std::string file = dir_.File(name() + "-dump-" + std::to_string(dumps_++) + ".bin");
  Json args = Json::Object()
                       .Set("val", Json::Uint(addr))
                       .Set("size", Json::Uint(size))
                       .Set("filename", Json::String(file));
  Result<Json> r = qmp_->Execute("pmemsave", args, Millis(60000));
  if (!r.ok()) return r.status();
  std::string bytes = ReadFile(file);
  std::filesystem::remove(file);
  if (bytes.size() != size) return Status::Internal("pmemsave", "short dump");
  return std::vector<uint8_t>(bytes.begin(), bytes.end());
}

Result<vc_guest_status> QemuVm::GuestStatus() {
  Result<std::vector<uint8_t>> raw = ReadMemory(VC_GUEST_STATUS_ADDR, sizeof(vc_guest_status));
  if (!raw.ok()) return raw.status();
  vc_guest_status st;
  std::memcpy(&st, raw->data(), sizeof st);
  if (st.magic != VC_GUEST_MAGIC) return Status::Internal(name(), "no guest status block (bad magic)");
  return st;
}

Status QemuVm::StopAndCheckMemory() {
  VC_RETURN_IF_ERROR(qmp::Stop(*qmp_));
  Result<vc_guest_status> st = GuestStatus();
  if (!st.ok()) return st.status();
  if (st->state != VC_GUEST_RUNNING) {
    return Status::Internal(name(), "guest not running its workload (state " + std::to_string(st->state) + ")");
  }
  Result<std::vector<uint8_t>> data =
      ReadMemory(VC_GUEST_DATA_START, static_cast<uint64_t>(st->data_pages) * VC_GUEST_PAGE_SIZE);
  if (!data.ok()) return data.status();
  GuestCheckReport r = CheckGuestMemory(*st, *data);
  if (r.bad_pages) {
    return Status::Internal(name(), std::to_string(r.bad_pages) + " of " +
                                        std::to_string(r.pages_checked) +
                                        " pages inconsistent: " + r.first_problems);
  }
  return Status::Ok();
}

Result<std::unique_ptr<MigrationPair>> MigrationPair::Start(const GuestParams& guest, const std::string& tag,
                                                            const NetnsLink* link) {
  std::unique_ptr<MigrationPair> pair(new MigrationPair(tag));
  if (link) pair->listen_address_ = link->address('B');
  Result<std::unique_ptr<QemuVm>> src =
      QemuVm::Start(pair->dir_, {"src", guest, false, "", "", link ? link->netns('A') : ""});
  if (!src.ok()) return src.status();
  pair->src_ = std::move(*src);
  Result<std::unique_ptr<QemuVm>> dst =
      QemuVm::Start(pair->dir_, {"dst", guest, true, "", "", link ? link->netns('B') : ""});
  if (!dst.ok()) return dst.status();
  pair->dst_ = std::move(*dst);
  // Migrating before the fill ends would send zero pages: too easy a case.
  VC_RETURN_IF_ERROR(pair->src_->WaitSerial("vc-guest: ready", kGuestReadyTimeout));
  return pair;
}

Result<std::string> MigrationPair::ListenIncoming(const std::map<std::string, bool>& caps) {
  std::map<std::string, bool> all = caps;
  all["events"] = true;
  VC_RETURN_IF_ERROR(qmp::MigrateSetCapabilities(dst_->qmp(), all));
  VC_RETURN_IF_ERROR(qmp::MigrateIncoming(dst_->qmp(), "tcp:" + listen_address_ + ":0"));
  Result<qmp::MigrationInfo> info = qmp::QueryMigrate(dst_->qmp());
  if (!info.ok()) return info.status();
  if (!info->socket_address || info->socket_address->empty()) {
    return Status::Internal("destination", "no socket-address after migrate-incoming");
  }
  return "tcp:" + listen_address_ + ":" + info->socket_address->front().port;
}

Status MigrationPair::CheckDestination() {
  Result<qmp::MigrationInfo> done = WaitMigrationStatus(dst_->qmp(), {"completed"}, Millis(30000));
  if (!done.ok()) return done.status().WithContext("destination");
  return dst_->StopAndCheckMemory();
}

GuestParams HotSetGuest() {
  GuestParams g;
  g.ram_mib = 256;
  g.wss = "32M";
  g.rate = "128M";
  return g;
}

GuestParams QuietGuest() {
  GuestParams g = HotSetGuest();
  g.ram_mib = 128;
  g.wss = "8M";
  g.rate = "4M";
  return g;
}

Result<qmp::MigrationInfo> WaitMigrationStatus(qmp::Session& s,
                                               const std::vector<std::string>& goals,
                                               Millis timeout, Millis every) {
  Deadline deadline = Clock::now() + timeout;
  for (;;) {
    Result<qmp::MigrationInfo> info = qmp::QueryMigrate(s);
    if (!info.ok()) return info.status();
    std::string status = info->status.value_or("none");
    for (const std::string& g : goals) {
      if (status == g) return info;
    }
    if (Clock::now() > deadline) {
      return Status::Timeout("migration", "status still '" + status + "'");
    }
    std::this_thread::sleep_for(every);
  }
}

Status WaitRunState(qmp::Session& s, const std::string& goal, Millis timeout, Millis every) {
  Deadline deadline = Clock::now() + timeout;
  for (;;) {
    Result<qmp::RunState> rs = qmp::QueryStatus(s);
    if (!rs.ok()) return rs.status();
    if (rs->status == goal) return Status::Ok();
    if (Clock::now() > deadline) return Status::Timeout("run state", "still '" + rs->status + "'");
    std::this_thread::sleep_for(every);
  }
}

}  // namespace vc::testing
