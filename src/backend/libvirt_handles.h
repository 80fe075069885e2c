// RAII for libvirt's handles and typed parameters, and libvirt errors as
// Status. Only src/backend includes libvirt.
#pragma once

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "src/base/c_deleter.h"
#include "src/base/status.h"

namespace vc {

using ConnectPtr = CPtr<virConnect, virConnectClose>;
using DomainPtr = CPtr<virDomain, virDomainFree>;
/// A string libvirt returns for the caller to free (XML, QMP replies).
using CString = CPtr<char, std::free>;

/// Reads a virTypedParameter array someone else owns (libvirt's, in an
/// event callback; or a TypedParams).
class TypedParamsView {
 public:
  TypedParamsView(virTypedParameterPtr params, int count) : params_(params), count_(count) {}
  std::optional<unsigned long long> ULLong(const char* name) const {
    unsigned long long v;
    if (virTypedParamsGetULLong(params_, count_, name, &v) == 1) return v;
    return std::nullopt;
  }
  std::optional<int> Int(const char* name) const {
    int v;
    if (virTypedParamsGetInt(params_, count_, name, &v) == 1) return v;
    return std::nullopt;
  }

 private:
  virTypedParameterPtr params_;
  int count_;
};

/// A virTypedParameter array owned (libvirt hands out a pointer and a count).
class TypedParams {
 public:
  TypedParams() = default;
  TypedParams(const TypedParams&) = delete;
  TypedParams& operator=(const TypedParams&) = delete;
  TypedParams(TypedParams&& o) noexcept : params_(o.params_), count_(o.count_), max_(o.max_) {
    o.params_ = nullptr;
    o.count_ = o.max_ = 0;
  }
  ~TypedParams() { virTypedParamsFree(params_, count_); }

  virTypedParameterPtr* out_params() { return &params_; }
  int* out_count() { return &count_; }
  virTypedParameterPtr get() const { return params_; }
  int count() const { return count_; }
  TypedParamsView view() const { return {params_, count_}; }
  std::optional<unsigned long long> ULLong(const char* name) const { return view().ULLong(name); }
  std::optional<int> Int(const char* name) const { return view().Int(name); }

  // Builders (for virDomainMigrate3); false when libvirt ran out of memory.
  bool AddString(const char* name, const std::string& value) {
    return virTypedParamsAddString(&params_, &count_, &max_, name, value.c_str()) == 0;
  }
  bool AddInt(const char* name, int value) {
    return virTypedParamsAddInt(&params_, &count_, &max_, name, value) == 0;
  }
  bool AddULLong(const char* name, unsigned long long value) {
    return virTypedParamsAddULLong(&params_, &count_, &max_, name, value) == 0;
  }

 private:
  virTypedParameterPtr params_ = nullptr;
  int count_ = 0;
  int max_ = 0;
};

/// The last libvirt error of this thread as a Status: kClosed when the
/// connection is gone, kNotSupported for what this libvirt/QEMU cannot do,
/// kNotFound for a missing domain, kCommandFailed otherwise.
Status LibvirtError(std::string_view context);

/// Finds \a domain on \a conn by name, UUID or id; NotFound naming \a uri
/// (for the message) when it is none of them.
Result<DomainPtr> LookupDomain(virConnectPtr conn, const std::string& domain, const std::string& uri);

/// The XML of \a domain (name, UUID or id) at \a uri ("" = default).
Result<std::string> LibvirtDomainXml(const std::string& uri, const std::string& domain);

/// libvirt prints every error to stderr unless told otherwise; we report
/// them ourselves. Called once before the first connection.
void SilenceLibvirtErrorPrinting();

}  // namespace vc
