#include "src/policy/builtin_default.h"

#include "src/policy/ini.h"
#include "src/policy/resolve.h"

namespace vc::policy {

extern const std::string_view kVendorDefaultText;  // generated: embed_text.py

std::string_view BuiltinDefaultText() { return kVendorDefaultText; }

Policy BuiltinDefault(ActionVocabulary words, Diagnostics* diags) {
  Diagnostics local;
  // An empty file name: every setting's origin reads "default".
  IniFile file = ParseIni(kVendorDefaultText, "", diags ? diags : &local);
  Policy p;
  ApplyFile(file, words, &p, diags ? diags : &local);
  return p;
}

}  // namespace vc::policy
