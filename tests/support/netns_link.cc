#include "tests/support/netns_link.h"

#include "tests/support/artifacts.h"
#include "tests/support/process.h"

namespace vc::testing {
namespace {

constexpr Millis kToolTimeout{30000};

}  // namespace

Result<std::unique_ptr<NetnsLink>> NetnsLink::Up(const std::string& tag, std::optional<int> subnet) {
  Result<std::string> tool = LocateNetnsLink();
  if (!tool.ok()) return tool.status();
  std::unique_ptr<NetnsLink> link(new NetnsLink(tag));
  const std::string log = link->dir_.File("netns-up.log");
  std::vector<std::string> argv = {*tool, "up", link->Hosts()};
  if (subnet) argv.push_back(std::to_string(*subnet));
  int rc = RunTool(argv, log, kToolTimeout);
  if (rc == 77) return Status::NotSupported("netns link", ReadTrimmed(log));
  if (rc != 0) return Status::Internal("netns link", "up failed (" + std::to_string(rc) + "): " + ReadFile(log));
  link->up_ = true;
  return link;
}

NetnsLink::~NetnsLink() {
  Result<std::string> tool = LocateNetnsLink();
  if (up_ && tool.ok()) RunTool({*tool, "down", Hosts()}, dir_.File("netns-down.log"), kToolTimeout);
}

std::string NetnsLink::netns(char host) const { return ReadTrimmed(Hosts() + "/" + host + "/netns"); }

std::string NetnsLink::address(char host) const { return ReadTrimmed(Hosts() + "/" + host + "/address"); }

Status NetnsLink::SetLink(bool up) {
  Result<std::string> tool = LocateNetnsLink();
  if (!tool.ok()) return tool.status();
  const std::string log = dir_.File("netns-link.log");
  if (RunTool({*tool, "link", Hosts(), up ? "up" : "down"}, log, kToolTimeout) != 0) {
    return Status::Internal("netns link", std::string("link ") + (up ? "up" : "down") + " failed: " + ReadFile(log));
  }
  return Status::Ok();
}

Status NetnsLink::Shape(const std::string& rate) {
  Result<std::string> tool = LocateNetnsLink();
  if (!tool.ok()) return tool.status();
  const std::string log = dir_.File("netns-link.log");
  std::vector<std::string> argv = {*tool, "link", Hosts()};
  if (rate.empty()) {
    argv.push_back("unshape");
  } else {
    argv.insert(argv.end(), {"shape", rate});
  }
  if (RunTool(argv, log, kToolTimeout) != 0) return Status::Internal("netns link", "shaping failed: " + ReadFile(log));
  return Status::Ok();
}

}  // namespace vc::testing
