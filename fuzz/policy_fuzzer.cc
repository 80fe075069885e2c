// libFuzzer target: the whole policy pipeline on arbitrary bytes, as
// `policy check` and `attach` run it on a drop-in file.
#include <cstddef>
#include <cstdint>
#include <string>

#include "plugins/action.h"
#include "src/policy/ini.h"
#include "src/policy/resolve.h"
#include "src/policy/schedule.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  vc::policy::Diagnostics diags;
  vc::policy::IniFile file = vc::policy::ParseIni(text, "fuzz.conf", &diags);
  vc::policy::Match match = vc::policy::ParseMatch(file, &diags);
  vc::policy::VmFacts vm;
  vm.name = "web-1";
  vm.memory = 4ull << 30;
  (void)vc::policy::Matches(match, vm);
  vc::policy::Policy p;
  vc::policy::ApplyFile(file, vc::StepVocabulary(), &p, &diags);
  vc::policy::Validate(&p, &diags);
  (void)vc::policy::Show(p);
  (void)vc::policy::ExpandSchedule(p, 4ull << 30, 1ull << 30);
  for (const vc::policy::Diagnostic& d : diags) (void)d.ToString();
  return 0;
}
