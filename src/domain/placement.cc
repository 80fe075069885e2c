#include "src/domain/placement.h"

#include <cstdlib>

#include "src/domain/xml_util.h"

namespace vc {
namespace {

std::string Attr(const pugi::xml_node& n, const char* name) { return n.attribute(name).value(); }

void SetAttr(pugi::xml_node n, const char* name, const std::string& value) {
  pugi::xml_attribute a = n.attribute(name);
  if (!a) a = n.append_attribute(name);
  a.set_value(value.c_str());
}

pugi::xml_node ChildOrNew(pugi::xml_node parent, const char* name) {
  pugi::xml_node c = parent.child(name);
  return c ? c : parent.append_child(name);
}

/// Appends one element per pin: <ELEMENT ID_ATTR="n" cpuset="..."/>.
void AppendPins(pugi::xml_node parent, const char* element, const char* id_attr,
                const std::vector<DomainSpec::Pin>& pins) {
  for (const DomainSpec::Pin& pin : pins) {
    pugi::xml_node n = parent.append_child(element);
    SetAttr(n, id_attr, std::to_string(pin.vcpu));
    SetAttr(n, "cpuset", pin.cpuset);
  }
}

/// Our record in <metadata>, whatever prefix it was written with.
pugi::xml_node Record(const pugi::xml_node& root) {
  for (pugi::xml_node c : root.child("metadata").children()) {
    if (c.type() == pugi::node_element && xml::LocalName(c) == "placement" && xml::NamespaceOf(c) == kPlacementNamespace) {
      return c;
    }
  }
  return {};
}

/// Writes \a p into the domain element \a root.
void Write(pugi::xml_node root, const Placement& p) {
  if (!p.vcpupins.empty() || !p.emulatorpin.empty() || !p.iothreadpins.empty()) {
    pugi::xml_node cputune = ChildOrNew(root, "cputune");
    // Pins are replaced as a whole: drop the old ones, write the new.
    for (const char* kind : {"vcpupin", "emulatorpin", "iothreadpin"}) {
      while (pugi::xml_node old = cputune.child(kind)) cputune.remove_child(old);
    }
    AppendPins(cputune, "vcpupin", "vcpu", p.vcpupins);
    if (!p.emulatorpin.empty()) SetAttr(cputune.append_child("emulatorpin"), "cpuset", p.emulatorpin);
    AppendPins(cputune, "iothreadpin", "iothread", p.iothreadpins);
  }
  if (pugi::xml_node numatune = root.child("numatune")) {
    if (pugi::xml_node m = numatune.child("memory"); m && !p.numa_nodeset.empty()) SetAttr(m, "nodeset", p.numa_nodeset);
    for (pugi::xml_node c : numatune.children("memnode")) {
      for (const DomainSpec::MemNode& m : p.memnodes) {
        if (std::to_string(m.cell) == Attr(c, "cellid")) SetAttr(c, "nodeset", m.nodeset);
      }
    }
  }
}

Placement ReadRecord(const pugi::xml_node& record) {
  Placement p;
  for (pugi::xml_node c : record.children()) {
    if (c.type() != pugi::node_element) continue;
    std::string_view kind = xml::LocalName(c);
    auto number = [&](const char* name) { return static_cast<unsigned>(std::strtoul(Attr(c, name).c_str(), nullptr, 10)); };
    if (kind == "vcpupin") p.vcpupins.push_back({number("vcpu"), Attr(c, "cpuset")});
    if (kind == "emulatorpin") p.emulatorpin = Attr(c, "cpuset");
    if (kind == "iothreadpin") p.iothreadpins.push_back({number("iothread"), Attr(c, "cpuset")});
    if (kind == "numatune") p.numa_nodeset = Attr(c, "nodeset");
    if (kind == "memnode") p.memnodes.push_back({number("cellid"), "", Attr(c, "nodeset")});
  }
  return p;
}

void WriteRecord(pugi::xml_node root, const Placement& p) {
  pugi::xml_node record = ChildOrNew(root, "metadata").append_child("virt-converge:placement");
  SetAttr(record, "xmlns:virt-converge", kPlacementNamespace);
  AppendPins(record, "virt-converge:vcpupin", "vcpu", p.vcpupins);
  if (!p.emulatorpin.empty()) SetAttr(record.append_child("virt-converge:emulatorpin"), "cpuset", p.emulatorpin);
  AppendPins(record, "virt-converge:iothreadpin", "iothread", p.iothreadpins);
  if (!p.numa_nodeset.empty()) SetAttr(record.append_child("virt-converge:numatune"), "nodeset", p.numa_nodeset);
  for (const DomainSpec::MemNode& m : p.memnodes) {
    pugi::xml_node n = record.append_child("virt-converge:memnode");
    SetAttr(n, "cellid", std::to_string(m.cell));
    SetAttr(n, "nodeset", m.nodeset);
  }
}

Status Parse(std::string_view text, pugi::xml_document* doc) {
  if (text.size() > kMaxDomainXml) return Status::InvalidArgument("domain XML", "too large");
  return xml::ParseDomain(text, doc);
}

}  // namespace

std::string DescribePlacement(const Placement& p) {
  std::string out;
  auto add = [&](const std::string& part) { out += (out.empty() ? "" : ", ") + part; };
  for (const DomainSpec::Pin& v : p.vcpupins) add("vcpu " + std::to_string(v.vcpu) + " on CPU " + v.cpuset);
  if (!p.emulatorpin.empty()) add("emulator on CPU " + p.emulatorpin);
  for (const DomainSpec::Pin& t : p.iothreadpins) add("iothread " + std::to_string(t.vcpu) + " on CPU " + t.cpuset);
  if (!p.numa_nodeset.empty()) add("memory on node " + p.numa_nodeset);
  for (const DomainSpec::MemNode& m : p.memnodes) add("cell " + std::to_string(m.cell) + " on node " + m.nodeset);
  return out.empty() ? "unpinned" : out;
}

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
  pugi::xml_document doc;
  VC_RETURN_IF_ERROR(Parse(xml, &doc));
  pugi::xml_node root = doc.document_element();
  if (keep_original && !Record(root)) {
    Result<DomainSpec> d = ParseDomainXml(xml);
    if (!d.ok()) return d.status();
    WriteRecord(root, PlacementOf(*d));
  }
  Write(root, p);
  return xml::Dump(doc);
}

Result<std::optional<Placement>> RecordedPlacement(std::string_view xml) {
  pugi::xml_document doc;
  VC_RETURN_IF_ERROR(Parse(xml, &doc));
  pugi::xml_node record = Record(doc.document_element());
  if (!record) return std::optional<Placement>();
  return std::optional<Placement>(ReadRecord(record));
}

Result<std::string> RestorePlacement(std::string_view xml) {
  pugi::xml_document doc;
  VC_RETURN_IF_ERROR(Parse(xml, &doc));
  pugi::xml_node root = doc.document_element();
  pugi::xml_node record = Record(root);
  if (!record) return std::string(xml);
  Write(root, ReadRecord(record));
  record.parent().remove_child(record);
  return xml::Dump(doc);
}

}  // namespace vc
