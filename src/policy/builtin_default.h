// The built-in default policy: the vendor default, compiled in.
//
// policy.d/50-default.conf is the one place the default values live. The
// build embeds its text, and every resolution starts from it, so a binary
// run from its build tree, a host whose vendor file is masked, and
// `--no-policy` all run exactly what the package installs. Drop-ins then
// change only the keys they set (systemd's rule). Its settings show
// "default" as their origin.
#pragma once

#include <string_view>

#include "src/policy/diagnostics.h"
#include "src/policy/policy.h"

namespace vc::policy {

/// The text of policy.d/50-default.conf as built.
std::string_view BuiltinDefaultText();

/// A Policy with the built-in default applied. Problems in the embedded
/// text (none; a unit test keeps it so) go to \a diags when given.
Policy BuiltinDefault(ActionVocabulary words, Diagnostics* diags = nullptr);

}  // namespace vc::policy
