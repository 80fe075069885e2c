#include "src/domain/placement.h"

#include <libxml/parser.h>
#include <libxml/tree.h>

#include <cstring>

#include "src/base/c_deleter.h"

namespace vc {
namespace {

void FreeXmlString(xmlChar* s) { xmlFree(s); }
using DocPtr = CPtr<xmlDoc, xmlFreeDoc>;
using XmlString = CPtr<xmlChar, FreeXmlString>;

const xmlChar* X(const char* s) { return reinterpret_cast<const xmlChar*>(s); }

bool Is(const xmlNode* n, const char* name) {
  return n && n->type == XML_ELEMENT_NODE && std::strcmp(reinterpret_cast<const char*>(n->name), name) == 0;
}

bool InOurNamespace(const xmlNode* n) {
  return n->ns && n->ns->href && std::strcmp(reinterpret_cast<const char*>(n->ns->href), kPlacementNamespace) == 0;
}

xmlNode* Child(xmlNode* parent, const char* name) {
  for (xmlNode* c = parent ? parent->children : nullptr; c; c = c->next) {
    if (Is(c, name) && !InOurNamespace(c)) return c;
  }
  return nullptr;
}

xmlNode* ChildOrNew(xmlNode* parent, const char* name) {
  xmlNode* c = Child(parent, name);
  return c ? c : xmlNewChild(parent, nullptr, X(name), nullptr);
}

std::string Attr(const xmlNode* n, const char* name) {
  XmlString s(xmlGetProp(n, X(name)));
  return s ? reinterpret_cast<const char*>(s.get()) : "";
}

void SetAttr(xmlNode* n, const char* name, const std::string& value) { xmlSetProp(n, X(name), X(value.c_str())); }

Result<DocPtr> Parse(std::string_view xml) {
  if (xml.size() > kMaxDomainXml) return Status::InvalidArgument("domain XML", "too large");
  DocPtr doc(xmlReadMemory(xml.data(), static_cast<int>(xml.size()), "domain.xml", nullptr,
                           XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING));
  if (!doc) return Status::InvalidArgument("domain XML", "not well-formed");
  xmlNode* root = xmlDocGetRootElement(doc.get());
  if (!Is(root, "domain")) return Status::InvalidArgument("domain XML", "the root is not <domain>");
  return doc;
}

std::string Dump(xmlDoc* doc) {
  xmlChar* mem = nullptr;
  int size = 0;
  xmlDocDumpMemory(doc, &mem, &size);
  XmlString owned(mem);
  return owned ? std::string(reinterpret_cast<const char*>(owned.get()), static_cast<size_t>(size)) : "";
}

xmlNode* Record(xmlNode* root) {
  for (xmlNode* c = Child(root, "metadata") ? Child(root, "metadata")->children : nullptr; c; c = c->next) {
    if (Is(c, "placement") && InOurNamespace(c)) return c;
  }
  return nullptr;
}

/// Writes \a p into the domain element \a root.
void Write(xmlNode* root, const Placement& p) {
  if (!p.vcpupins.empty() || !p.emulatorpin.empty() || !p.iothreadpins.empty()) {
    xmlNode* cputune = ChildOrNew(root, "cputune");
    // Pins are replaced as a whole: drop the old ones, write the new.
    for (xmlNode* c = cputune->children; c;) {
      xmlNode* next = c->next;
      if (Is(c, "vcpupin") || Is(c, "emulatorpin") || Is(c, "iothreadpin")) {
        xmlUnlinkNode(c);
        xmlFreeNode(c);
      }
      c = next;
    }
    for (const DomainSpec::Pin& pin : p.vcpupins) {
      xmlNode* n = xmlNewChild(cputune, nullptr, X("vcpupin"), nullptr);
      SetAttr(n, "vcpu", std::to_string(pin.vcpu));
      SetAttr(n, "cpuset", pin.cpuset);
    }
    if (!p.emulatorpin.empty()) SetAttr(xmlNewChild(cputune, nullptr, X("emulatorpin"), nullptr), "cpuset", p.emulatorpin);
    for (const DomainSpec::Pin& pin : p.iothreadpins) {
      xmlNode* n = xmlNewChild(cputune, nullptr, X("iothreadpin"), nullptr);
      SetAttr(n, "iothread", std::to_string(pin.vcpu));
      SetAttr(n, "cpuset", pin.cpuset);
    }
  }
  if (xmlNode* numatune = Child(root, "numatune")) {
    if (xmlNode* m = Child(numatune, "memory"); m && !p.numa_nodeset.empty()) SetAttr(m, "nodeset", p.numa_nodeset);
    for (xmlNode* c = numatune->children; c; c = c->next) {
      if (!Is(c, "memnode")) continue;
      for (const DomainSpec::MemNode& m : p.memnodes) {
        if (std::to_string(m.cell) == Attr(c, "cellid")) SetAttr(c, "nodeset", m.nodeset);
      }
    }
  }
}

Placement ReadRecord(const xmlNode* record) {
  Placement p;
  for (const xmlNode* c = record->children; c; c = c->next) {
    if (c->type != XML_ELEMENT_NODE) continue;
    auto number = [&](const char* name) { return static_cast<unsigned>(std::strtoul(Attr(c, name).c_str(), nullptr, 10)); };
    if (Is(c, "vcpupin")) p.vcpupins.push_back({number("vcpu"), Attr(c, "cpuset")});
    if (Is(c, "emulatorpin")) p.emulatorpin = Attr(c, "cpuset");
    if (Is(c, "iothreadpin")) p.iothreadpins.push_back({number("iothread"), Attr(c, "cpuset")});
    if (Is(c, "numatune")) p.numa_nodeset = Attr(c, "nodeset");
    if (Is(c, "memnode")) p.memnodes.push_back({number("cellid"), "", Attr(c, "nodeset")});
  }
  return p;
}

void WriteRecord(xmlNode* root, const Placement& p) {
  xmlNode* metadata = ChildOrNew(root, "metadata");
  xmlNode* record = xmlNewChild(metadata, nullptr, X("placement"), nullptr);
  xmlNs* ns = xmlNewNs(record, X(kPlacementNamespace), X("virt-converge"));
  xmlSetNs(record, ns);
  for (const DomainSpec::Pin& pin : p.vcpupins) {
    xmlNode* n = xmlNewChild(record, ns, X("vcpupin"), nullptr);
    SetAttr(n, "vcpu", std::to_string(pin.vcpu));
    SetAttr(n, "cpuset", pin.cpuset);
  }
  if (!p.emulatorpin.empty()) SetAttr(xmlNewChild(record, ns, X("emulatorpin"), nullptr), "cpuset", p.emulatorpin);
  for (const DomainSpec::Pin& pin : p.iothreadpins) {
    xmlNode* n = xmlNewChild(record, ns, X("iothreadpin"), nullptr);
    SetAttr(n, "iothread", std::to_string(pin.vcpu));
    SetAttr(n, "cpuset", pin.cpuset);
  }
  if (!p.numa_nodeset.empty()) SetAttr(xmlNewChild(record, ns, X("numatune"), nullptr), "nodeset", p.numa_nodeset);
  for (const DomainSpec::MemNode& m : p.memnodes) {
    xmlNode* n = xmlNewChild(record, ns, X("memnode"), nullptr);
    SetAttr(n, "cellid", std::to_string(m.cell));
    SetAttr(n, "nodeset", m.nodeset);
  }
}

}  // namespace

Placement PlacementOf(const DomainSpec& d) {
  return {d.vcpupins, d.emulatorpin, d.iothreadpins, d.numa_nodeset, d.memnodes};
}

DomainSpec WithPlacement(DomainSpec d, const Placement& p) {
  d.vcpupins = p.vcpupins;
  d.emulatorpin = p.emulatorpin;
  d.iothreadpins = p.iothreadpins;
  if (!p.numa_nodeset.empty()) d.numa_nodeset = p.numa_nodeset;
  for (DomainSpec::MemNode& m : d.memnodes) {
    for (const DomainSpec::MemNode& n : p.memnodes) {
      if (n.cell == m.cell) m.nodeset = n.nodeset;
    }
  }
  return d;
}

Result<std::string> RewritePlacement(std::string_view xml, const Placement& p, bool keep_original) {
  Result<DocPtr> doc = Parse(xml);
  if (!doc.ok()) return doc.status();
  xmlNode* root = xmlDocGetRootElement(doc->get());
  if (keep_original && !Record(root)) {
    Result<DomainSpec> d = ParseDomainXml(xml);
    if (!d.ok()) return d.status();
    WriteRecord(root, PlacementOf(*d));
  }
  Write(root, p);
  return Dump(doc->get());
}

Result<std::optional<Placement>> RecordedPlacement(std::string_view xml) {
  Result<DocPtr> doc = Parse(xml);
  if (!doc.ok()) return doc.status();
  const xmlNode* record = Record(xmlDocGetRootElement(doc->get()));
  if (!record) return std::optional<Placement>();
  return std::optional<Placement>(ReadRecord(record));
}

Result<std::string> RestorePlacement(std::string_view xml) {
  Result<DocPtr> doc = Parse(xml);
  if (!doc.ok()) return doc.status();
  xmlNode* root = xmlDocGetRootElement(doc->get());
  xmlNode* record = Record(root);
  if (!record) return std::string(xml);
  Write(root, ReadRecord(record));
  xmlUnlinkNode(record);
  xmlFreeNode(record);
  return Dump(doc->get());
}

}  // namespace vc
