#include "src/cli/policy_command.h"

#include <cstdio>

#include "plugins/action.h"
#include "src/backend/libvirt_handles.h"
#include "src/base/json.h"
#include "src/base/units.h"
#include "src/domain/domain_xml.h"
#include "src/domain/vm_facts.h"
#include "src/policy/resolve.h"
#include "src/policy/values.h"

namespace vc {
namespace {

struct PolicyOptions {
  std::string root = "/";
  std::string vm;          // a libvirt domain (name, UUID or id), looked up
  std::string connect_uri;  // its libvirt URI; "" = the default
  std::string name, uuid, memory;
  int64_t vcpus = -1;
  std::string pinned, numa, hugepages;
  std::vector<std::string> metadata;
  bool json = false;
};

int RunCheck(const PolicyOptions& o) {
  std::vector<std::string> files;
  policy::Diagnostics diags = policy::CheckAll(o.root, StepVocabulary(), &files);
  for (const policy::Diagnostic& d : diags) std::printf("%s\n", d.ToString().c_str());
  std::printf("%zu file%s checked, %zu problem%s\n", files.size(), files.size() == 1 ? "" : "s",
              diags.size(), diags.size() == 1 ? "" : "s");
  return diags.empty() ? 0 : 1;
}

Result<policy::VmFacts> Facts(const PolicyOptions& o) {
  policy::VmFacts f;
  if (!o.vm.empty()) {
    // All the domain's XML says; the options below override it.
    Result<std::string> xml = LibvirtDomainXml(o.connect_uri, o.vm);
    if (!xml.ok()) {
      return xml.status().WithContext("looking up VM " + o.vm + " in libvirt (describe a VM by hand with --name, --memory, ...)");
    }
    Result<DomainSpec> d = ParseDomainXml(*xml);
    if (!d.ok()) return d.status().WithContext(o.vm);
    f = VmFactsOf(*d);
  }
  if (!o.name.empty()) f.name = o.name;
  if (!o.uuid.empty()) f.uuid = o.uuid;
  if (!o.memory.empty()) {
    Result<uint64_t> m = ParseBytes(o.memory);
    if (!m.ok()) return m.status().WithContext("--memory");
    f.memory = *m;
  }
  if (o.vcpus >= 0) f.vcpus = static_cast<uint64_t>(o.vcpus);
  auto tristate = [](const std::string& v, const char* flag, std::optional<bool>* out) -> Status {
    if (v.empty()) return Status::Ok();
    Result<bool> b = policy::ParseBool(v);
    if (!b.ok()) return b.status().WithContext(flag);
    *out = *b;
    return Status::Ok();
  };
  VC_RETURN_IF_ERROR(tristate(o.pinned, "--pinned", &f.pinned));
  VC_RETURN_IF_ERROR(tristate(o.numa, "--numa", &f.numa));
  VC_RETURN_IF_ERROR(tristate(o.hugepages, "--hugepages", &f.hugepages));
  for (const std::string& kv : o.metadata) {
    size_t eq = kv.find('=');
    if (eq == std::string::npos) return Status::InvalidArgument("--metadata", "'" + kv + "' is not KEY=VALUE");
    f.metadata.emplace_back(kv.substr(0, eq), kv.substr(eq + 1));
  }
  return f;
}

int RunShow(const PolicyOptions& o) {
  Result<policy::VmFacts> facts = Facts(o);
  if (!facts.ok()) {
    std::fprintf(stderr, "virt-converge: policy show: %s\n", facts.status().ToString().c_str());
    return 2;
  }
  policy::Resolved r = policy::Resolve(o.root, *facts, StepVocabulary());
  std::vector<policy::ShownSetting> shown = policy::Show(r.policy);
  if (o.json) {
    Json j = Json::Object();
    Json vm = Json::Object().Set("name", Json::String(facts->name));
    if (facts->memory) vm.Set("memory", Json::Uint(*facts->memory));
    if (facts->vcpus) vm.Set("vcpus", Json::Uint(*facts->vcpus));
    j.Set("vm", vm);
    auto list = [](const std::vector<std::string>& v) {
      Json a = Json::Array();
      for (const std::string& s : v) a.Append(Json::String(s));
      return a;
    };
    j.Set("applied", list(r.applied)).Set("not-matched", list(r.not_matched)).Set("masked", list(r.masked));
    Json settings = Json::Object();
    for (const policy::ShownSetting& s : shown) {
      if (s.key == "Schedule.Step") continue;
      settings.Set(s.key, Json::Object()
                              .Set("value", Json::String(s.value))
                              .Set("origin", Json::String(s.origin.ToString())));
    }
    j.Set("settings", settings);
    Json steps = Json::Array();
    for (const policy::Step& s : r.policy.steps.value) {
      steps.Append(Json::Object()
                       .Set("step", Json::String(s.ToString()))
                       .Set("origin", Json::String(s.origin.ToString())));
    }
    j.Set("steps", steps);
    Json diags = Json::Array();
    for (const policy::Diagnostic& d : r.diagnostics) diags.Append(Json::String(d.ToString()));
    j.Set("diagnostics", diags);
    std::printf("%s\n", j.Serialize(true).c_str());
    return 0;
  }
  std::printf("# policy for %s\n", facts->name.empty() ? "(any VM)" : facts->name.c_str());
  for (const std::string& f : r.applied) std::printf("# applied:     %s\n", f.c_str());
  for (const std::string& f : r.not_matched) std::printf("# not matched: %s\n", f.c_str());
  for (const std::string& f : r.masked) std::printf("# masked:      %s\n", f.c_str());
  for (const policy::Diagnostic& d : r.diagnostics) std::printf("# warning: %s\n", d.ToString().c_str());
  std::string section;
  for (const policy::ShownSetting& s : shown) {
    std::string sec = s.key.substr(0, s.key.find('.'));
    std::string key = s.key.substr(s.key.find('.') + 1);
    if (sec != section) {
      std::printf("\n[%s]\n", sec.c_str());
      section = sec;
    }
    if (s.key == "Schedule.Step") {
      if (r.policy.steps.value.empty()) std::printf("%-40s # %s\n", "Step=", s.origin.ToString().c_str());
      for (const policy::Step& st : r.policy.steps.value) {
        std::printf("%-40s # %s\n", ("Step=" + st.ToString()).c_str(), st.origin.ToString().c_str());
      }
      continue;
    }
    std::printf("%-40s # %s\n", (key + "=" + s.value).c_str(), s.origin.ToString().c_str());
  }
  return 0;
}

}  // namespace

std::function<int()> AddPolicyCommand(CLI::App* app) {
  auto o = std::make_shared<PolicyOptions>();
  CLI::App* cmd = app->add_subcommand("policy", "check and show the drop-in policy files");
  cmd->require_subcommand(1);
  CLI::App* check = cmd->add_subcommand(
      "check", "print every problem in the policy files with file:line; exit 1 if there is any");
  check->add_option("--root", o->root, "look under this directory instead of /");
  CLI::App* show = cmd->add_subcommand(
      "show", "print the merged policy for a VM, with the file:line each value came from");
  show->add_option("--root", o->root, "look under this directory instead of /");
  show->add_option("vm", o->vm, "a libvirt domain (name, UUID or id): matched on all its XML says");
  show->add_option("-c,--connect", o->connect_uri, "libvirt URI for VM (default: libvirt's default)");
  show->add_option("--name", o->name, "the VM's name");
  show->add_option("--uuid", o->uuid, "the VM's UUID");
  show->add_option("--memory", o->memory, "the VM's memory, e.g. 4GiB");
  show->add_option("--vcpus", o->vcpus, "the VM's vCPU count");
  show->add_option("--pinned", o->pinned, "whether its vCPUs are pinned (yes/no)");
  show->add_option("--numa", o->numa, "whether it has NUMA tuning (yes/no)");
  show->add_option("--hugepages", o->hugepages, "whether it uses hugepages (yes/no)");
  show->add_option("--metadata", o->metadata, "a domain metadata KEY=VALUE (repeatable)");
  show->add_flag("--json", o->json, "print JSON");
  return [o, check, show]() {
    if (check->parsed()) return RunCheck(*o);
    if (show->parsed()) return RunShow(*o);
    return 2;
  };
}

}  // namespace vc
