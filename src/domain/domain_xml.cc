#include "src/domain/domain_xml.h"

#include <charconv>
#include <cstring>

#include "src/domain/xml_util.h"

namespace vc {
namespace {

Result<uint64_t> Unsigned(const std::string& text, const std::string& what) {
  uint64_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size() || text.empty()) {
    return Status::InvalidArgument(what, "'" + text + "' is not a non-negative integer");
  }
  return v;
}

std::string Attr(const pugi::xml_node& n, const char* name) { return n.attribute(name).value(); }

bool HasElementChildren(const pugi::xml_node& n) {
  for (pugi::xml_node c : n.children()) {
    if (c.type() == pugi::node_element) return true;
  }
  return false;
}

void Flatten(const pugi::xml_node& n, std::vector<std::pair<std::string, std::string>>* out) {
  for (pugi::xml_node c : n.children()) {
    if (c.type() != pugi::node_element) continue;
    std::string local(xml::LocalName(c));
    for (pugi::xml_attribute a : c.attributes()) {
      std::string_view an = a.name();
      if (an == "xmlns" || an.rfind("xmlns:", 0) == 0) continue;  // declarations, not data
      size_t colon = an.find(':');
      out->emplace_back(local + "@" + std::string(colon == std::string_view::npos ? an : an.substr(colon + 1)), a.value());
    }
    if (!HasElementChildren(c)) {
      std::string t = xml::Text(c);
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

Result<DomainSpec> ParseDomainXml(std::string_view text) {
  if (text.size() > kMaxDomainXml) {
    return Status::InvalidArgument("domain XML", std::to_string(text.size()) + " bytes, more than the " +
                                                     std::to_string(kMaxDomainXml) + " accepted");
  }
  pugi::xml_document doc;
  VC_RETURN_IF_ERROR(xml::ParseDomain(text, &doc));
  const pugi::xml_node root = doc.document_element();
  auto at = [&](const pugi::xml_node& n) { return "domain XML:" + std::to_string(xml::LineOf(text, n)); };
  DomainSpec d;
  d.name = xml::Text(root.child("name"));
  d.uuid = xml::Text(root.child("uuid"));
  if (pugi::xml_node m = root.child("memory")) {
    Result<uint64_t> bytes = LibvirtMemoryBytes(xml::Text(m), Attr(m, "unit"));
    if (!bytes.ok()) return bytes.status().WithContext(at(m));
    d.memory = *bytes;
  }
  if (pugi::xml_node v = root.child("vcpu")) {
    Result<uint64_t> n = Unsigned(xml::Text(v), "vcpu");
    if (!n.ok()) return n.status().WithContext(at(v));
    d.vcpus = *n;
    d.vcpu_cpuset = Attr(v, "cpuset");
  }
  if (pugi::xml_node cputune = root.child("cputune")) {
    for (pugi::xml_node c : cputune.children("vcpupin")) {
      Result<uint64_t> n = Unsigned(Attr(c, "vcpu"), "vcpupin vcpu");
      if (!n.ok()) return n.status().WithContext(at(c));
      d.vcpupins.push_back({static_cast<unsigned>(*n), Attr(c, "cpuset")});
    }
    d.emulatorpin = Attr(cputune.child("emulatorpin"), "cpuset");
    for (pugi::xml_node c : cputune.children("iothreadpin")) {
      Result<uint64_t> n = Unsigned(Attr(c, "iothread"), "iothreadpin iothread");
      if (!n.ok()) return n.status().WithContext(at(c));
      d.iothreadpins.push_back({static_cast<unsigned>(*n), Attr(c, "cpuset")});
    }
  }
  if (pugi::xml_node nt = root.child("numatune")) {
    d.numatune = true;
    if (pugi::xml_node m = nt.child("memory")) {
      d.numa_mode = Attr(m, "mode");
      d.numa_nodeset = Attr(m, "nodeset");
    }
    for (pugi::xml_node c : nt.children("memnode")) {
      Result<uint64_t> n = Unsigned(Attr(c, "cellid"), "memnode cellid");
      if (!n.ok()) return n.status().WithContext(at(c));
      d.memnodes.push_back({static_cast<unsigned>(*n), Attr(c, "mode"), Attr(c, "nodeset")});
    }
  }
  if (pugi::xml_node cpu = root.child("cpu")) {
    d.cpu_mode = Attr(cpu, "mode");
    d.cpu_migratable = Attr(cpu, "migratable") != "off";
    for (pugi::xml_node c : cpu.child("numa").children("cell")) {
      Result<uint64_t> id = Unsigned(Attr(c, "id"), "cell id");
      if (!id.ok()) return id.status().WithContext(at(c));
      Result<uint64_t> mem = LibvirtMemoryBytes(Attr(c, "memory"), Attr(c, "unit"));
      if (!mem.ok()) return mem.status().WithContext(at(c));
      d.cells.push_back({static_cast<unsigned>(*id), Attr(c, "cpus"), *mem});
    }
  }
  if (pugi::xml_node mb = root.child("memoryBacking")) {
    d.memory_locked = static_cast<bool>(mb.child("locked"));
    if (pugi::xml_node hp = mb.child("hugepages")) {
      d.hugepages = true;
      for (pugi::xml_node c : hp.children("page")) {
        Result<uint64_t> size = LibvirtMemoryBytes(Attr(c, "size"), Attr(c, "unit"));
        if (!size.ok()) return size.status().WithContext(at(c));
        d.hugepage_pages.push_back({*size / 1024, Attr(c, "nodeset")});
      }
    }
  }
  for (pugi::xml_node disk : root.child("devices").children("disk")) {
    DomainSpec::Disk k;
    k.type = Attr(disk, "type");
    k.device = Attr(disk, "device");
    if (k.device.empty()) k.device = "disk";
    pugi::xml_node src = disk.child("source");
    k.source = !Attr(src, "file").empty() ? Attr(src, "file") : Attr(src, "dev");
    k.target = Attr(disk.child("target"), "dev");
    k.readonly = static_cast<bool>(disk.child("readonly"));
    k.shareable = static_cast<bool>(disk.child("shareable"));
    d.disks.push_back(std::move(k));
  }
  if (pugi::xml_node md = root.child("metadata")) Flatten(md, &d.metadata);
  return d;
}

bool DomainSpec::Disk::CopiedByStorageMigration() const {
  if (device != "disk" && device != "lun") return false;
  if (readonly || shareable || source.empty()) return false;
  return type == "file" || type == "block";
}

}  // namespace vc
