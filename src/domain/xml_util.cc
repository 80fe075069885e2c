#include "src/domain/xml_util.h"

#include <algorithm>
#include <sstream>

namespace vc::xml {

namespace {

int LineAt(std::string_view text, ptrdiff_t offset) {
  offset = std::clamp<ptrdiff_t>(offset, 0, static_cast<ptrdiff_t>(text.size()));
  return 1 + static_cast<int>(std::count(text.begin(), text.begin() + offset, '\n'));
}

}  // namespace

Status ParseDomain(std::string_view text, pugi::xml_document* doc) {
  // parse_default has no parse_doctype: a DOCTYPE, with any entity it
  // declares, is skipped, and "&name;" stays literal text.
  pugi::xml_parse_result r = doc->load_buffer(text.data(), text.size(), pugi::parse_default, pugi::encoding_utf8);
  if (!r) return Status::InvalidArgument("domain XML:" + std::to_string(LineAt(text, r.offset)), r.description());
  pugi::xml_node root = doc->document_element();
  if (std::string_view(root.name()) != "domain") {
    return Status::InvalidArgument("domain XML", "the root element is <" + std::string(root.name()) + ">, not <domain>");
  }
  return Status::Ok();
}

std::string_view LocalName(const pugi::xml_node& n) {
  std::string_view name = n.name();
  size_t colon = name.find(':');
  return colon == std::string_view::npos ? name : name.substr(colon + 1);
}

std::string NamespaceOf(const pugi::xml_node& n) {
  std::string_view name = n.name();
  size_t colon = name.find(':');
  std::string attr = colon == std::string_view::npos ? "xmlns" : "xmlns:" + std::string(name.substr(0, colon));
  for (pugi::xml_node a = n; a; a = a.parent()) {
    if (pugi::xml_attribute ns = a.attribute(attr.c_str())) return ns.value();
  }
  return "";
}

std::string Text(const pugi::xml_node& n) {
  std::string t = n.text().get();
  size_t b = t.find_first_not_of(" \t\r\n"), e = t.find_last_not_of(" \t\r\n");
  return b == std::string::npos ? "" : t.substr(b, e - b + 1);
}

int LineOf(std::string_view text, const pugi::xml_node& n) { return LineAt(text, n.offset_debug()); }

std::string Dump(const pugi::xml_document& doc) {
  std::ostringstream out;
  doc.save(out, "  ", pugi::format_default | pugi::format_no_declaration);
  return out.str();
}

}  // namespace vc::xml
