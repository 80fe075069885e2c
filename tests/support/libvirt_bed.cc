#include "tests/support/libvirt_bed.h"

#include <sys/wait.h>

#include <csignal>

#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

#include "tests/support/artifacts.h"
#include "tests/support/guest_check.h"
#include "tests/support/process.h"

namespace vc::testing {
namespace {

namespace fs = std::filesystem;

std::string BedTool() {
  Result<std::string> bed = LocateLibvirtBed();
  return bed.ok() ? *bed : "";
}

}  // namespace

Result<std::unique_ptr<LibvirtBed>> LibvirtBed::Start() {
  // The tests call libvirt in this process (LibvirtBackend, LibvirtHost):
  // like virt-converge, they must survive a write to a connection libvirtd
  // has closed (a CI run of libvirt_faults died of SIGPIPE).
  std::signal(SIGPIPE, SIG_IGN);
  if (Result<std::string> bed = LocateLibvirtBed(); !bed.ok()) return bed.status();
  if (Result<std::string> guest = LocateGuestKernel(); !guest.ok()) return guest.status();
  std::unique_ptr<LibvirtBed> bed(new LibvirtBed());
  std::string log = bed->dir_.File("bed-up.log");
  // The destination hook, in both hosts' /etc/libvirt/hooks/qemu.d.
  if (Result<std::string> hook = LocateHook(); hook.ok()) setenv("VC_BED_HOOK", hook->c_str(), 1);
  // A bed in another root (VC_BED_ROOT) sees the guest and the hook there.
  std::string bind = fs::path(*LocateGuestKernel()).parent_path().string();
  if (Result<std::string> hook = LocateHook(); hook.ok()) bind += " " + fs::path(*hook).parent_path().string();
  setenv("VC_BED_BIND", bind.c_str(), 1);
  int rc = RunTool({BedTool(), "up", bed->dir_.path() + "/hosts"}, log, Millis(120000));
  if (rc == 77) return Status::NotSupported("libvirt bed", ReadTrimmed(log));
  if (rc != 0) return Status::Internal("libvirt bed", "up failed (" + std::to_string(rc) + "): " + ReadFile(log));
  bed->up_ = true;
  return bed;
}

LibvirtBed::~LibvirtBed() {
  if (up_) RunTool({BedTool(), "down", dir_.path() + "/hosts"}, dir_.File("bed-down.log"), Millis(60000));
}

Status LibvirtBed::RestartDaemon(char host) {
  std::string log = dir_.File(std::string("bed-restart-") + host + ".log");
  int rc = RunTool({BedTool(), "restart", dir_.path() + "/hosts", std::string(1, host)}, log, Millis(120000));
  if (rc != 0) return Status::Internal("libvirt bed", "restart failed: " + ReadFile(log));
  return Status::Ok();
}

Status LibvirtBed::SetLink(bool up) {
  std::string log = dir_.File("bed-link.log");
  int rc = RunTool({BedTool(), "link", dir_.path() + "/hosts", up ? "up" : "down"}, log, Millis(10000));
  if (rc != 0) return Status::Internal("libvirt bed", "link " + std::string(up ? "up" : "down") + " failed: " + ReadFile(log));
  return Status::Ok();
}

Status LibvirtBed::ShapeLink(const std::string& rate) {
  std::string log = dir_.File("bed-link.log");
  std::vector<std::string> args = {BedTool(), "link", dir_.path() + "/hosts"};
  if (rate.empty()) {
    args.push_back("unshape");
  } else {
    args.insert(args.end(), {"shape", rate});
  }
  int rc = RunTool(args, log, Millis(10000));
  if (rc != 0) return Status::Internal("libvirt bed", "shaping the link failed: " + ReadFile(log));
  return Status::Ok();
}

std::string LibvirtBed::uri(char host) const {
  return ReadTrimmed(dir_.path() + "/hosts/" + host + "/uri");
}

std::string LibvirtBed::address(char host) const {
  return ReadTrimmed(dir_.path() + "/hosts/" + host + "/address");
}

std::string LibvirtBed::DaemonLog(char host) const {
  return ReadFile(dir_.path() + "/hosts/" + host + "/log/libvirtd.log");
}

Status LibvirtBed::QemuAccepted(char host, const std::string& command,
                                const std::vector<std::string>& parts) const {
  std::istringstream log(DaemonLog(host));
  const std::string execute = "\"execute\":\"" + command + "\"";
  std::vector<std::string> ids, seen;
  for (std::string line; std::getline(log, line);) {
    size_t at = line.find(execute);
    if (at == std::string::npos) continue;
    std::string sent = line.substr(at);
    seen.push_back(sent);
    bool all = true;
    for (const std::string& p : parts) all = all && sent.find(p) != std::string::npos;
    size_t id = sent.find("\"id\":\"");
    if (all && id != std::string::npos) ids.push_back(sent.substr(id + 6, sent.find('"', id + 6) - id - 6));
  }
  std::string text = DaemonLog(host);
  for (const std::string& id : ids) {
    if (text.find("{\"return\": {}, \"id\": \"" + id + "\"}") != std::string::npos) return Status::Ok();
  }
  std::string what;
  for (const std::string& s : seen) what += "\n  " + s;
  return Status::NotFound(std::string("host ") + host + ": " + command,
                          ids.empty() ? "never sent with those values; sent:" + what : "sent, but QEMU did not accept it");
}

int LibvirtBed::Virsh(char host, const std::vector<std::string>& args, std::string* out, Millis timeout) {
  std::vector<std::string> argv = {"virsh", "-q", "-c", uri(host)};
  argv.insert(argv.end(), args.begin(), args.end());
  static int n = 0;
  std::string log = dir_.File("virsh-" + std::to_string(n++) + ".log");
  int rc = RunTool(argv, log, timeout);
  if (out) *out = ReadFile(log);
  return rc;
}

std::vector<std::string> LibvirtBed::MigrateArgs(const std::string& name, char to) const {
  return {"migrate", "--live", name, uri(to), "--migrateuri", "tcp://" + address(to)};
}

Result<std::string> LibvirtBed::MakeDisk(char host, const std::string& file, const std::string& target, uint64_t mib) {
  char other = host == 'A' ? 'B' : 'A';
  std::error_code ec;
  fs::create_directories(dir_.path() + "/hosts/" + host + "/lib/images", ec);
  fs::create_directories(dir_.path() + "/hosts/" + other + "/lib/images", ec);
  {
    std::ifstream random("/dev/urandom", std::ios::binary);
    std::ofstream out(DiskPath(host, file), std::ios::binary | std::ios::trunc);
    std::vector<char> block(1 << 20);
    for (uint64_t i = 0; i < mib; i++) {
      random.read(block.data(), static_cast<std::streamsize>(block.size()));
      out.write(block.data(), static_cast<std::streamsize>(block.size()));
    }
    if (!out) return Status::IoError(DiskPath(host, file), errno);
  }
  std::ofstream(DiskPath(other, file), std::ios::trunc).close();
  fs::resize_file(DiskPath(other, file), mib << 20, ec);
  if (ec) return Status::IoError(DiskPath(other, file), ec.value());
  return "    <disk type='file' device='disk'><driver name='qemu' type='raw'/><source file='/var/lib/libvirt/images/" +
         file + "'/><target dev='" + target + "' bus='virtio'/></disk>\n";
}

Status LibvirtBed::StartGuest(char host, const std::string& name, const GuestParams& guest,
                              const std::string& extra_xml, const std::string& extra_devices) {
  std::string serial = dir_.File(name + "-serial.txt");
  std::string xml = dir_.File(name + ".xml");
  std::ofstream(xml) << "<domain type='qemu'>\n"
                     << "  <name>" << name << "</name>\n"
                     << "  <memory unit='MiB'>" << guest.ram_mib << "</memory>\n"
                     << "  <vcpu>1</vcpu>\n"
                     << extra_xml
                     << "  <os><type arch='x86_64' machine='pc'>hvm</type><kernel>" << GuestKernel()
                     << "</kernel><cmdline>" << guest.CommandLine() << "</cmdline></os>\n"
                     << "  <on_poweroff>destroy</on_poweroff>\n"
                     << "  <devices>\n"
                     << "    <emulator>" << QemuBinary() << "</emulator>\n"
                     // Both hosts' QEMUs share the path: append, never truncate.
                     << "    <serial type='file'><source path='" << serial
                     << "' append='on'/><target port='0'/></serial>\n"
                     << "    <memballoon model='none'/>\n"
                     << extra_devices
                     << "  </devices>\n"
                     << "</domain>\n";
  std::string out;
  if (Virsh(host, {"create", xml}, &out) != 0) return Status::Internal("virsh create", out);
  Deadline deadline = Clock::now() + kGuestReadyTimeout;
  while (ReadFile(serial).find("vc-guest: ready") == std::string::npos) {
    if (Clock::now() > deadline) return Status::Timeout(name, "the guest never said ready: " + ReadFile(serial));
    std::this_thread::sleep_for(Millis(100));
  }
  return Status::Ok();
}

Status LibvirtBed::StopAndCheckGuest(char host, const std::string& name) {
  // Through QMP passthrough: a test may taint its destination domain.
  auto qmp = [&](const std::string& cmd) -> Status {
    std::string out;
    if (Virsh(host, {"qemu-monitor-command", name, cmd}, &out, Millis(120000)) != 0 ||
        out.find("\"error\"") != std::string::npos) {
      return Status::Internal("qemu-monitor-command " + cmd, out);
    }
    return Status::Ok();
  };
  auto dump = [&](uint64_t addr, uint64_t size, const std::string& file) {
    return qmp("{\"execute\":\"pmemsave\",\"arguments\":{\"val\":" + std::to_string(addr) +
               ",\"size\":" + std::to_string(size) + ",\"filename\":\"" + file + "\"}}");
  };
  VC_RETURN_IF_ERROR(qmp("{\"execute\":\"stop\"}"));
  std::string status_file = dir_.File(name + "-status.bin");
  VC_RETURN_IF_ERROR(dump(VC_GUEST_STATUS_ADDR, sizeof(vc_guest_status), status_file));
  std::string raw = ReadFile(status_file);
  if (raw.size() != sizeof(vc_guest_status)) return Status::Internal(name, "short status dump");
  vc_guest_status st;
  std::memcpy(&st, raw.data(), sizeof st);
  if (st.magic != VC_GUEST_MAGIC) return Status::Internal(name, "no guest status block (bad magic)");
  if (st.state != VC_GUEST_RUNNING) return Status::Internal(name, "guest not running its workload");
  std::string data_file = dir_.File(name + "-data.bin");
  uint64_t size = static_cast<uint64_t>(st.data_pages) * VC_GUEST_PAGE_SIZE;
  VC_RETURN_IF_ERROR(dump(VC_GUEST_DATA_START, size, data_file));
  std::string data = ReadFile(data_file);
  std::remove(data_file.c_str());
  if (data.size() != size) return Status::Internal(name, "short memory dump");
  GuestCheckReport r = CheckGuestMemory(
      st, std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(data.data()), data.size()));
  if (r.bad_pages) {
    return Status::Internal(name, std::to_string(r.bad_pages) + " of " + std::to_string(r.pages_checked) +
                                      " pages inconsistent: " + r.first_problems);
  }
  return Status::Ok();
}

}  // namespace vc::testing
