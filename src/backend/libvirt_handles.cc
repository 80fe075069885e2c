#include "src/backend/libvirt_handles.h"

#include <mutex>

namespace vc {

Status LibvirtError(std::string_view context) {
  virErrorPtr e = virGetLastError();
  if (!e) return Status::Internal(context, "libvirt failed without saying why");
  std::string message = e->message ? e->message : "unknown libvirt error";
  int code = e->code;
  virResetLastError();
  switch (code) {
    case VIR_ERR_NO_DOMAIN:
      return Status::NotFound(context, message);
    case VIR_ERR_NO_SUPPORT:
    case VIR_ERR_OPERATION_UNSUPPORTED:
    case VIR_ERR_ARGUMENT_UNSUPPORTED:
      return Status::NotSupported(context, message);
    case VIR_ERR_NO_CONNECT:
    case VIR_ERR_INVALID_CONN:
    case VIR_ERR_RPC:
      return Status::Closed(context, message);
    default:
      return Status::CommandFailed(context, "libvirt", message);
  }
}

void SilenceLibvirtErrorPrinting() {
  static std::once_flag once;
  std::call_once(once, [] {
    virSetErrorFunc(nullptr, [](void*, virErrorPtr) {});
  });
}

Result<DomainPtr> LookupDomain(virConnectPtr conn, const std::string& domain, const std::string& uri) {
  DomainPtr dom(virDomainLookupByName(conn, domain.c_str()));
  if (!dom) dom.reset(virDomainLookupByUUIDString(conn, domain.c_str()));
  if (!dom) {
    char* end = nullptr;
    long id = std::strtol(domain.c_str(), &end, 10);
    if (end && *end == '\0' && !domain.empty()) dom.reset(virDomainLookupByID(conn, static_cast<int>(id)));
  }
  if (!dom) {
    virResetLastError();
    return Status::NotFound(domain, "no such domain (by name, UUID or id) at " +
                                        (uri.empty() ? std::string("the default URI") : uri));
  }
  return dom;
}

Result<std::string> LibvirtDomainXml(const std::string& uri, const std::string& domain) {
  SilenceLibvirtErrorPrinting();
  ConnectPtr conn(virConnectOpenReadOnly(uri.empty() ? nullptr : uri.c_str()));
  if (!conn) return LibvirtError("connecting to libvirt at " + (uri.empty() ? "the default URI" : uri));
  Result<DomainPtr> dom = LookupDomain(conn.get(), domain, uri);
  if (!dom.ok()) return dom.status();
  CString xml(virDomainGetXMLDesc(dom->get(), 0));
  if (!xml) return LibvirtError("the XML of domain " + domain);
  return std::string(xml.get());
}

}  // namespace vc
