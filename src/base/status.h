// Status and Result<T>: how every layer of virt-converge reports errors.
//
// No exceptions cross module boundaries (and never a C callback). A Status is
// a code plus a "context: detail" message, in the leveldb style; Result<T>
// holds either a value or a non-OK Status.
#pragma once

#include <cassert>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace vc {

enum class StatusCode {
  kOk = 0,
  kInvalidArgument,  // bad input from a user or a file
  kNotFound,
  kIoError,          // a system call failed; errno() says which
  kProtocolError,    // the peer spoke something we cannot parse
  kTimeout,
  kClosed,           // the peer closed the connection
  kCommandFailed,    // the peer understood and refused (QMP error reply)
  kNotSupported,     // not possible with this QEMU/libvirt/host
  kUnavailable,      // not known yet: asking again soon may tell
  kInternal,         // a bug of ours
};

std::string_view StatusCodeName(StatusCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;
  static Status Ok() { return Status(); }
  static Status InvalidArgument(std::string_view context, std::string_view detail = {}) {
    return Status(StatusCode::kInvalidArgument, context, detail);
  }
  static Status NotFound(std::string_view context, std::string_view detail = {}) {
    return Status(StatusCode::kNotFound, context, detail);
  }
  /// An I/O error from errno value \a err (positive).
  static Status IoError(std::string_view context, int err);
  static Status ProtocolError(std::string_view context, std::string_view detail = {}) {
    return Status(StatusCode::kProtocolError, context, detail);
  }
  static Status Timeout(std::string_view context, std::string_view detail = {}) {
    return Status(StatusCode::kTimeout, context, detail);
  }
  static Status Closed(std::string_view context, std::string_view detail = {}) {
    return Status(StatusCode::kClosed, context, detail);
  }
  /// A command the peer refused; \a error_class is e.g. QMP's "GenericError".
  static Status CommandFailed(std::string_view context, std::string_view error_class,
                              std::string_view detail);
  static Status NotSupported(std::string_view context, std::string_view detail = {}) {
    return Status(StatusCode::kNotSupported, context, detail);
  }
  static Status Unavailable(std::string_view context, std::string_view detail = {}) {
    return Status(StatusCode::kUnavailable, context, detail);
  }
  static Status Internal(std::string_view context, std::string_view detail = {}) {
    return Status(StatusCode::kInternal, context, detail);
  }

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  /// "context: detail" (or just one of them).
  const std::string& message() const { return message_; }
  /// For kIoError: the errno value; 0 otherwise.
  int error_number() const { return errno_; }
  /// For kCommandFailed: the peer's error class.
  const std::string& error_class() const { return error_class_; }
  /// "Timeout: query-migrate: no reply within 10 s"; "OK" when ok().
  std::string ToString() const;

  /// Returns a copy whose message is prefixed with "\a context: ".
  Status WithContext(std::string_view context) const;

  /// Marks a deliberately ignored error as such at the call site.
  void IgnoreError() const {}

 private:
  Status(StatusCode code, std::string_view context, std::string_view detail);

  StatusCode code_ = StatusCode::kOk;
  std::string message_;
  std::string error_class_;
  int errno_ = 0;
};

/// Either a T or a non-OK Status.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Status status) : v_(std::move(status)) {  // NOLINT: implicit by design
    assert(!std::get<Status>(v_).ok());
  }

  bool ok() const { return std::holds_alternative<T>(v_); }
  /// The error; Status::Ok() when a value is held.
  Status status() const { return ok() ? Status::Ok() : std::get<Status>(v_); }

  // REQUIRES: ok()
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace vc

/// Returns the Status of \a expr from the enclosing function when not OK.
#define VC_RETURN_IF_ERROR(expr)         \
  do {                                   \
    ::vc::Status vc_status_ = (expr);    \
    if (!vc_status_.ok()) return vc_status_; \
  } while (0)
