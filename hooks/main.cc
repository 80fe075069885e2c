// virt-converge-hook: installed as /etc/libvirt/hooks/qemu.d/50-virt-converge.
// The logic is RunHook (hook.h); this adds a hard time budget and the real
// streams. libvirt passes a fixed, small environment; the VIRT_CONVERGE_*
// variables below exist for containers and tests that describe a host
// under another root.
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <iterator>

#include "hooks/hook.h"
#include "src/domain/domain_xml.h"

namespace {

// libvirt waits for the hook with no timeout of its own: past the budget
// we leave, exit 0, unchanged — failing open.
constexpr unsigned kBudgetSeconds = 2;

extern "C" void OnBudgetSpent(int) { _exit(0); }

const char* Env(const char* name, const char* fallback) {
  const char* v = std::getenv(name);
  return v && *v ? v : fallback;
}

}  // namespace

int main(int argc, char** argv) {
  struct sigaction sa = {};
  sa.sa_handler = OnBudgetSpent;
  sigaction(SIGALRM, &sa, nullptr);
  alarm(kBudgetSeconds);

  vc::HookRequest r;
  for (int i = 1; i < argc; i++) r.args.push_back(argv[i]);
  // Bounded: one byte over the limit is enough to refuse it.
  std::string xml;
  char buf[65536];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, stdin)) > 0 && xml.size() <= vc::kMaxDomainXml) xml.append(buf, n);
  r.xml = std::move(xml);
  r.sysfs_root = Env("VIRT_CONVERGE_SYSFS_ROOT", "/");
  r.policy_root = Env("VIRT_CONVERGE_POLICY_ROOT", "/");
  const std::string hook_dir = vc::StatePaths::Host().HookDir();
  r.run_dir = Env("VIRT_CONVERGE_HOOK_DIR", hook_dir.c_str());
  r.libvirt_pid_dir = Env("VIRT_CONVERGE_LIBVIRT_PID_DIR", "/run/libvirt/qemu");
  vc::HookOutcome o = vc::RunHook(r);
  // Decided: the answer goes out whole. Past here the budget would cut a
  // replacement XML short, and libvirt would take the torn document.
  alarm(0);
  std::fwrite(o.out.data(), 1, o.out.size(), stdout);
  std::fwrite(o.err.data(), 1, o.err.size(), stderr);
  std::fflush(stdout);
  std::fflush(stderr);
  return o.exit_code;
}
