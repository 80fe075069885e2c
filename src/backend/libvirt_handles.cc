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

}  // namespace vc
