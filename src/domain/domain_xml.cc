#include "src/domain/domain_xml.h"

#include <libxml/parser.h>
#include <libxml/tree.h>

#include <charconv>
#include <cstring>

#include "src/base/c_deleter.h"

namespace vc {
namespace {

void FreeXmlString(xmlChar* s) { xmlFree(s); }
using DocPtr = CPtr<xmlDoc, xmlFreeDoc>;
using XmlString = CPtr<xmlChar, FreeXmlString>;

const char* Name(const xmlNode* n) { return reinterpret_cast<const char*>(n->name); }

bool Is(const xmlNode* n, const char* name) {
  return n && n->type == XML_ELEMENT_NODE && std::strcmp(Name(n), name) == 0;
}

const xmlNode* Child(const xmlNode* parent, const char* name) {
  for (const xmlNode* c = parent ? parent->children : nullptr; c; c = c->next) {
    if (Is(c, name)) return c;
  }
  return nullptr;
}

std::string Text(const xmlNode* n) {
  if (!n) return "";
  XmlString s(xmlNodeGetContent(n));
  std::string t = s ? reinterpret_cast<const char*>(s.get()) : "";
  size_t b = t.find_first_not_of(" \t\r\n"), e = t.find_last_not_of(" \t\r\n");
  return b == std::string::npos ? "" : t.substr(b, e - b + 1);
}

std::string Attr(const xmlNode* n, const char* name) {
  if (!n) return "";
  XmlString s(xmlGetProp(n, reinterpret_cast<const xmlChar*>(name)));
  return s ? reinterpret_cast<const char*>(s.get()) : "";
}

Result<uint64_t> Unsigned(const std::string& text, const std::string& what) {
  uint64_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size() || text.empty()) {
    return Status::InvalidArgument(what, "'" + text + "' is not a non-negative integer");
  }
  return v;
}

bool HasElementChildren(const xmlNode* n) {
  for (const xmlNode* c = n->children; c; c = c->next) {
    if (c->type == XML_ELEMENT_NODE) return true;
  }
  return false;
}

void Flatten(const xmlNode* n, std::vector<std::pair<std::string, std::string>>* out) {
  for (const xmlNode* c = n->children; c; c = c->next) {
    if (c->type != XML_ELEMENT_NODE) continue;
    std::string local = Name(c);
    for (const xmlAttr* a = c->properties; a; a = a->next) {
      out->emplace_back(local + "@" + reinterpret_cast<const char*>(a->name), Attr(c, reinterpret_cast<const char*>(a->name)));
    }
    if (!HasElementChildren(c)) {
      std::string t = Text(c);
      if (!t.empty()) out->emplace_back(local, t);
    }
    Flatten(c, out);
  }
}

}  // namespace

Result<uint64_t> LibvirtMemoryBytes(std::string_view value, std::string_view unit) {
  Result<uint64_t> v = Unsigned(std::string(value), "memory");
  if (!v.ok()) return v;
  static const std::pair<const char*, uint64_t> kUnits[] = {
      {"", 1024},          {"b", 1},           {"bytes", 1},        {"KB", 1000},       {"k", 1024},
      {"KiB", 1024},       {"MB", 1000000},    {"M", 1 << 20},      {"MiB", 1 << 20},   {"GB", 1000000000},
      {"G", 1ull << 30},   {"GiB", 1ull << 30}, {"TB", 1000000000000}, {"T", 1ull << 40}, {"TiB", 1ull << 40},
  };
  for (const auto& [name, factor] : kUnits) {
    if (unit == name) {
      if (*v > UINT64_MAX / factor) return Status::InvalidArgument("memory", std::string(value) + " " + std::string(unit) + " is too large");
      return *v * factor;
    }
  }
  return Status::InvalidArgument("memory", "unknown unit '" + std::string(unit) + "'");
}

Result<DomainSpec> ParseDomainXml(std::string_view xml) {
  if (xml.size() > kMaxDomainXml) {
    return Status::InvalidArgument("domain XML", std::to_string(xml.size()) + " bytes, more than the " +
                                                     std::to_string(kMaxDomainXml) + " accepted");
  }
  static const bool initialized = (xmlInitParser(), true);  // once, before threads share it
  (void)initialized;
  // No network, no entity substitution, no DTD loading: the XML may come
  // from whoever started the migration.
  xmlResetLastError();
  DocPtr doc(xmlReadMemory(xml.data(), static_cast<int>(xml.size()), "domain.xml", nullptr,
                           XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING | XML_PARSE_NOBLANKS));
  if (!doc) {
    const xmlError* e = xmlGetLastError();
    std::string why = e && e->message ? e->message : "not XML";
    while (!why.empty() && why.back() == '\n') why.pop_back();
    return Status::InvalidArgument("domain XML" + (e ? ":" + std::to_string(e->line) : std::string()), why);
  }
  const xmlNode* root = xmlDocGetRootElement(doc.get());
  if (!Is(root, "domain")) {
    return Status::InvalidArgument("domain XML", std::string("the root element is <") + (root ? Name(root) : "") +
                                                     ">, not <domain>");
  }
  DomainSpec d;
  d.name = Text(Child(root, "name"));
  d.uuid = Text(Child(root, "uuid"));
  if (const xmlNode* m = Child(root, "memory")) {
    Result<uint64_t> bytes = LibvirtMemoryBytes(Text(m), Attr(m, "unit"));
    if (!bytes.ok()) return bytes.status().WithContext("domain XML:" + std::to_string(xmlGetLineNo(m)));
    d.memory = *bytes;
  }
  if (const xmlNode* v = Child(root, "vcpu")) {
    Result<uint64_t> n = Unsigned(Text(v), "vcpu");
    if (!n.ok()) return n.status().WithContext("domain XML:" + std::to_string(xmlGetLineNo(v)));
    d.vcpus = *n;
  }
  for (const xmlNode* c = Child(Child(root, "cputune"), "vcpupin"); c; c = c->next) {
    if (!Is(c, "vcpupin")) continue;
    Result<uint64_t> n = Unsigned(Attr(c, "vcpu"), "vcpupin vcpu");
    if (!n.ok()) return n.status().WithContext("domain XML:" + std::to_string(xmlGetLineNo(c)));
    d.vcpupins.push_back({static_cast<unsigned>(*n), Attr(c, "cpuset")});
  }
  if (const xmlNode* v = Child(root, "vcpu")) d.vcpu_cpuset = Attr(v, "cpuset");
  if (const xmlNode* cputune = Child(root, "cputune")) {
    d.emulatorpin = Attr(Child(cputune, "emulatorpin"), "cpuset");
    for (const xmlNode* c = cputune->children; c; c = c->next) {
      if (!Is(c, "iothreadpin")) continue;
      Result<uint64_t> n = Unsigned(Attr(c, "iothread"), "iothreadpin iothread");
      if (!n.ok()) return n.status().WithContext("domain XML:" + std::to_string(xmlGetLineNo(c)));
      d.iothreadpins.push_back({static_cast<unsigned>(*n), Attr(c, "cpuset")});
    }
  }
  if (const xmlNode* nt = Child(root, "numatune")) {
    d.numatune = true;
    if (const xmlNode* m = Child(nt, "memory")) {
      d.numa_mode = Attr(m, "mode");
      d.numa_nodeset = Attr(m, "nodeset");
    }
    for (const xmlNode* c = nt->children; c; c = c->next) {
      if (!Is(c, "memnode")) continue;
      Result<uint64_t> n = Unsigned(Attr(c, "cellid"), "memnode cellid");
      if (!n.ok()) return n.status().WithContext("domain XML:" + std::to_string(xmlGetLineNo(c)));
      d.memnodes.push_back({static_cast<unsigned>(*n), Attr(c, "mode"), Attr(c, "nodeset")});
    }
  }
  if (const xmlNode* cpu = Child(root, "cpu")) {
    d.cpu_mode = Attr(cpu, "mode");
    d.cpu_migratable = Attr(cpu, "migratable") != "off";
    for (const xmlNode* c = Child(Child(cpu, "numa"), "cell"); c; c = c->next) {
      if (!Is(c, "cell")) continue;
      Result<uint64_t> id = Unsigned(Attr(c, "id"), "cell id");
      if (!id.ok()) return id.status().WithContext("domain XML:" + std::to_string(xmlGetLineNo(c)));
      Result<uint64_t> mem = LibvirtMemoryBytes(Attr(c, "memory"), Attr(c, "unit"));
      if (!mem.ok()) return mem.status().WithContext("domain XML:" + std::to_string(xmlGetLineNo(c)));
      d.cells.push_back({static_cast<unsigned>(*id), Attr(c, "cpus"), *mem});
    }
  }
  if (const xmlNode* mb = Child(root, "memoryBacking")) {
    d.memory_locked = Child(mb, "locked") != nullptr;
    if (const xmlNode* hp = Child(mb, "hugepages")) {
      d.hugepages = true;
      for (const xmlNode* c = hp->children; c; c = c->next) {
        if (!Is(c, "page")) continue;
        Result<uint64_t> size = LibvirtMemoryBytes(Attr(c, "size"), Attr(c, "unit"));
        if (!size.ok()) return size.status().WithContext("domain XML:" + std::to_string(xmlGetLineNo(c)));
        d.hugepage_pages.push_back({*size / 1024, Attr(c, "nodeset")});
      }
    }
  }
  if (const xmlNode* md = Child(root, "metadata")) Flatten(md, &d.metadata);
  return d;
}

}  // namespace vc
