// Small helpers over pugixml for libvirt's domain XML: libvirt's own
// elements carry no namespace prefix; foreign ones in <metadata> do, and
// pugixml leaves namespaces to us.
#pragma once

#include <pugixml.hpp>

#include <string>
#include <string_view>

#include "src/base/status.h"

namespace vc::xml {

/// Parses \a text (bounded by the caller): no DTD, no entity expansion
/// beyond XML's five. InvalidArgument "domain XML:LINE" with pugixml's
/// reason, or when the root is not <domain>.
Status ParseDomain(std::string_view text, pugi::xml_document* doc);

/// The element name without its prefix ("nova:flavor" -> "flavor").
std::string_view LocalName(const pugi::xml_node& n);
/// The namespace URI \a n's prefix is bound to ("" when none).
std::string NamespaceOf(const pugi::xml_node& n);
/// Text content, trimmed.
std::string Text(const pugi::xml_node& n);
/// 1-based line of \a n in \a text (pugixml keeps offsets, not lines).
int LineOf(std::string_view text, const pugi::xml_node& n);

/// The document serialised, with an XML declaration as libvirt writes it.
std::string Dump(const pugi::xml_document& doc);

}  // namespace vc::xml
