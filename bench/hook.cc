// vc-bench-hook: the destination hook's latency per operation (issue #6,
// point 4; run it through bench/hook). The real binary, as libvirt runs it
// (fork/exec, domain XML on stdin), on a fake 2-socket, 64-CPU, 4-node host
// with the XML of a 64-vCPU VM pinned 1:1 with NUMA cells and hugepages.
// Baseline in the same run: a hook that does nothing but read its stdin
// (/bin/cat to /dev/null), the floor of any hook. Target: p99 < 5 ms.
#include <CLI/CLI.hpp>

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "tests/support/fake_host.h"
#include "tests/support/policy_tree.h"
#include "tests/support/temp_dir.h"

namespace vc::bench {
namespace {

std::string VmXml(const std::string& name, unsigned first_cpu) {
  std::string pins, cells;
  for (unsigned v = 0; v < 64; v++) {
    pins += "<vcpupin vcpu='" + std::to_string(v) + "' cpuset='" + std::to_string((first_cpu + v) % 64) + "'/>";
  }
  for (unsigned c = 0; c < 4; c++) {
    cells += "<cell id='" + std::to_string(c) + "' cpus='" + std::to_string(c * 16) + "-" + std::to_string(c * 16 + 15) +
             "' memory='8' unit='GiB'/>";
  }
  std::string memnodes;
  for (unsigned c = 0; c < 4; c++) memnodes += "<memnode cellid='" + std::to_string(c) + "' mode='strict' nodeset='" + std::to_string(c) + "'/>";
  return "<domain type='kvm'><name>" + name + "</name><uuid>6f1f7c8e-0b2d-4c4b-9d1e-5a3b2c1d0e9f</uuid>"
         "<memory unit='GiB'>32</memory><memoryBacking><hugepages><page size='2048' unit='KiB'/></hugepages></memoryBacking>"
         "<vcpu placement='static'>64</vcpu><cputune>" + pins + "<emulatorpin cpuset='0-1'/></cputune>"
         "<numatune><memory mode='strict' nodeset='0-3'/>" + memnodes + "</numatune>"
         "<cpu mode='host-passthrough'><topology sockets='2' cores='16' threads='2'/><numa>" + cells + "</numa></cpu>"
         "<os><type arch='x86_64' machine='pc-q35-7.2'>hvm</type></os><devices><emulator>/usr/bin/qemu-system-x86_64</emulator>"
         "<disk type='file' device='disk'><driver name='qemu' type='qcow2'/><source file='/var/lib/libvirt/images/db.qcow2'/>"
         "<target dev='vda' bus='virtio'/></disk><interface type='network'><source network='default'/><model type='virtio'/></interface>"
         "</devices></domain>\n";
}

/// Runs \a argv with \a stdin_path as stdin; wall milliseconds, or -1 when it failed.
double RunOnce(const std::vector<std::string>& argv, const std::string& stdin_path,
               const std::vector<std::string>& env) {
  std::vector<char*> a, e;
  std::vector<std::string> args = argv, envs = env;
  for (std::string& s : args) a.push_back(s.data());
  a.push_back(nullptr);
  for (std::string& s : envs) e.push_back(s.data());
  e.push_back(nullptr);
  auto start = std::chrono::steady_clock::now();
  pid_t pid = fork();
  if (pid == 0) {
    int in = open(stdin_path.c_str(), O_RDONLY);
    int null = open("/dev/null", O_WRONLY);
    dup2(in, 0);
    dup2(null, 1);
    dup2(null, 2);
    execve(a[0], a.data(), e.data());
    _exit(127);
  }
  int st = 0;
  waitpid(pid, &st, 0);
  double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? ms : -1;
}

double Percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())))];
}

int Main(int argc, char** argv) {
  CLI::App app{"vc-bench-hook: the destination hook's latency (see bench/hook)"};
  int runs = 500;
  std::string hook, out = "bench-out";
  app.add_option("--runs", runs, "runs per operation")->capture_default_str();
  app.add_option("--hook", hook, "the hook binary")->required();
  app.add_option("--out", out, "output directory")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  std::filesystem::create_directories(out);

  testing::TempDir dir("bench-hook");
  testing::FakeHostSpec spec;
  spec.hugepages = {{2048, {8192, 8192}}, {1048576, {8, 8}}};
  testing::WriteFakeHost(dir.File("host"), spec);
  testing::PolicyTree::Under(dir.File("policy")).Write("50-host.conf", "");
  std::ofstream(dir.File("vm.xml")) << VmXml("db1", 0);
  std::vector<std::string> env = {"VIRT_CONVERGE_SYSFS_ROOT=" + dir.File("host"),
                                  "VIRT_CONVERGE_POLICY_ROOT=" + dir.File("policy"),
                                  "VIRT_CONVERGE_HOOK_DIR=" + dir.File("run"), "LC_ALL=C", "PATH=/usr/bin:/bin"};
  std::fprintf(stderr, "domain XML: %zu bytes, 64 vCPUs pinned 1:1, 4 cells, 2 MiB hugepages\n",
               std::filesystem::file_size(dir.File("vm.xml")));
  struct Op {
    const char* name;
    std::vector<std::string> args;
  };
  // In libvirt's order for an incoming migration, then the VM leaving.
  const std::vector<Op> ops = {{"migrate begin", {"db1", "migrate", "begin", "-"}},
                               {"prepare begin", {"db1", "prepare", "begin", "-"}},
                               {"started begin", {"db1", "started", "begin", "-"}},
                               {"release end", {"db1", "release", "end", "-"}}};
  std::map<std::string, std::vector<double>> times;
  for (int i = 0; i < runs; i++) {
    for (const Op& op : ops) {
      std::vector<std::string> a = {hook};
      a.insert(a.end(), op.args.begin(), op.args.end());
      double ms = RunOnce(a, dir.File("vm.xml"), env);
      if (ms < 0) {
        std::fprintf(stderr, "the hook failed on %s\n", op.name);
        return 1;
      }
      times[op.name].push_back(ms);
    }
    times["baseline"].push_back(RunOnce({"/bin/cat"}, dir.File("vm.xml"), env));
  }
  double base50 = Percentile(times["baseline"], 0.5), base99 = Percentile(times["baseline"], 0.99);
  std::string md = "| operation | p50 | p99 | p50 vs no-op | p99 vs no-op |\n|---|---|---|---|---|\n";
  char line[256];
  std::snprintf(line, sizeof line, "| no-op hook (`cat > /dev/null`) | %.2f ms | %.2f ms | 1.00x | 1.00x |\n", base50, base99);
  md += line;
  std::string json = "{\"runs\":" + std::to_string(runs) + ",\"baseline\":{\"p50_ms\":" + std::to_string(base50) +
                     ",\"p99_ms\":" + std::to_string(base99) + "}";
  for (const Op& op : ops) {
    double p50 = Percentile(times[op.name], 0.5), p99 = Percentile(times[op.name], 0.99);
    std::snprintf(line, sizeof line, "| %s | %.2f ms | %.2f ms | %.2fx | %.2fx |\n", op.name, p50, p99, p50 / base50,
                  p99 / base99);
    md += line;
    json += ",\"" + std::string(op.name) + "\":{\"p50_ms\":" + std::to_string(p50) + ",\"p99_ms\":" + std::to_string(p99) + "}";
  }
  json += "}\n";
  std::ofstream(out + "/hook.md") << md;
  std::ofstream(out + "/hook.json") << json;
  std::printf("%s", md.c_str());
  return 0;
}

}  // namespace
}  // namespace vc::bench

int main(int argc, char** argv) { return vc::bench::Main(argc, argv); }
