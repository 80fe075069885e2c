// Discovery of policy drop-ins, with systemd's precedence rules.
//
// Directories, highest first: /etc/virt-converge/policy.d,
// /run/virt-converge/policy.d, /usr/lib/virt-converge/policy.d. A file in a
// higher directory shadows the file of the same name in a lower one; a file
// that is a symlink to /dev/null masks that name everywhere below it. What
// remains applies in file-name order, whatever directory it is in. Only
// "*.conf" files count.
#pragma once

#include <string>
#include <vector>

#include "src/base/status.h"

namespace vc::policy {

/// The policy directories under \a root ("" or "/" for the real system),
/// highest priority first.
std::vector<std::string> PolicyDirectories(const std::string& root);

struct DropIn {
  std::string name;   // "50-large.conf"
  std::string path;   // the file that applies
  std::vector<std::string> shadowed;  // same-name files it hides
};

struct DropInList {
  std::vector<DropIn> files;           // in application order
  std::vector<std::string> masked;     // the /dev/null links, by path
};

/// Lists the drop-ins under \a root. A directory that does not exist is
/// simply empty; one that cannot be read is an error.
Result<DropInList> ListDropIns(const std::string& root);

}  // namespace vc::policy
