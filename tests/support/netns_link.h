// NetnsLink: two "hosts" joined by one network link that a test can cut and
// shape (tests/tools/netns-link: two network namespaces and a veth). QEMUs
// started in them (VmOptions::netns) migrate over the link; their QMP
// sockets are files, reachable from anywhere.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "src/base/status.h"
#include "tests/support/temp_dir.h"

namespace vc::testing {

class NetnsLink {
 public:
  /// Creates both namespaces and the link. kNotSupported (with the reason)
  /// when this machine cannot: not root, no ip, no namespaces.
  /// \a subnet: the addresses' third octet (10.77.X.1, 10.77.X.2), for
  /// links that must look like the same two hosts each time (what a
  /// source host learns is kept by the destination's address); by default
  /// one of the tag's directory.
  static Result<std::unique_ptr<NetnsLink>> Up(const std::string& tag = "link", std::optional<int> subnet = {});
  ~NetnsLink();  // kills what still runs in the namespaces and removes them

  std::string netns(char host) const;    // 'A' or 'B': the namespace's name
  std::string address(char host) const;  // its end of the link
  /// Cuts the link (both ends down) or brings it back.
  Status SetLink(bool up);
  /// Caps the link to \a rate (tc's words: "256mbit"); "" takes the cap off.
  Status Shape(const std::string& rate);

 private:
  explicit NetnsLink(const std::string& tag) : dir_(tag) {}
  std::string Hosts() const { return dir_.path() + "/hosts"; }
  TempDir dir_;
  bool up_ = false;
};

}  // namespace vc::testing
