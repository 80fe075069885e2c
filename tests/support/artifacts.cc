#include "tests/support/artifacts.h"

#include <unistd.h>

#include <cstdlib>

namespace vc::testing {
namespace {

struct Artifact {
  const char* what;       // for messages
  const char* env;        // the override variable
  const char* built;      // the build tree's copy (compiled in by meson)
  const char* installed;  // "" when it is not installed
  const char* make_it;    // what to do when none is there
};

Result<std::string> Locate(const Artifact& a) {
  if (const char* p = std::getenv(a.env); p && *p) {
    if (::access(p, R_OK) == 0) return std::string(p);
    return Status::NotFound(a.what, std::string(a.env) + "=" + p + " names no readable file");
  }
  for (const char* candidate : {a.built, a.installed}) {
    if (*candidate && ::access(candidate, R_OK) == 0) return std::string(candidate);
  }
  std::string looked = a.built;
  if (*a.installed) looked += " nor " + std::string(a.installed);
  return Status::NotFound(a.what,
                          "neither " + looked + " exists: " + a.make_it + ", or set " + a.env);
}

}  // namespace

Result<std::string> LocateGuestKernel() {
  return Locate({"test guest", "VC_GUEST_ELF", VC_BUILT_GUEST_ELF, "",
                 "build it with `meson compile -C build`"});
}

Result<std::string> LocateVirtConverge() {
  return Locate({"virt-converge", "VC_BINARY", VC_BUILT_BINARY, VC_INSTALLED_BINARY,
                 "build it with `meson compile -C build`"});
}

Result<std::string> LocateHook() {
  return Locate({"virt-converge-hook", "VC_HOOK_BINARY", VC_BUILT_HOOK_BINARY,
                 VC_INSTALLED_HOOK_BINARY, "build it with `meson compile -C build`"});
}

Result<std::string> LocateLibvirtBed() {
  return Locate(
      {"the libvirt bed", "VC_LIBVIRT_BED", VC_SOURCE_LIBVIRT_BED, "", "it is in the source tree"});
}

Result<std::string> LocateNetnsLink() {
  return Locate({"netns-link", "VC_NETNS_LINK", VC_SOURCE_NETNS_LINK, "", "it is in the source tree"});
}

}  // namespace vc::testing
