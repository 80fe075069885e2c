#include "src/base/status.h"

#include <cstring>

namespace vc {

std::string_view StatusCodeName(StatusCode code) {
  switch (code) {
    case StatusCode::kOk: return "OK";
    case StatusCode::kInvalidArgument: return "Invalid argument";
    case StatusCode::kNotFound: return "Not found";
    case StatusCode::kIoError: return "I/O error";
    case StatusCode::kProtocolError: return "Protocol error";
    case StatusCode::kTimeout: return "Timeout";
    case StatusCode::kClosed: return "Connection closed";
    case StatusCode::kCommandFailed: return "Command failed";
    case StatusCode::kNotSupported: return "Not supported";
    case StatusCode::kUnavailable: return "Unavailable";
    case StatusCode::kInternal: return "Internal error";
  }
  return "Unknown";
}

Status::Status(StatusCode code, std::string_view context, std::string_view detail)
    : code_(code) {
  message_ = std::string(context);
  if (!context.empty() && !detail.empty()) message_ += ": ";
  message_ += detail;
}

Status Status::IoError(std::string_view context, int err) {
  Status s(StatusCode::kIoError, context, std::strerror(err));
  s.errno_ = err;
  return s;
}

Status Status::CommandFailed(std::string_view context, std::string_view error_class,
                             std::string_view detail) {
  Status s(StatusCode::kCommandFailed, context, detail);
  s.error_class_ = std::string(error_class);
  return s;
}

std::string Status::ToString() const {
  if (ok()) return "OK";
  std::string out(StatusCodeName(code_));
  if (!error_class_.empty()) out += " (" + error_class_ + ")";
  if (!message_.empty()) out += ": " + message_;
  return out;
}

Status Status::WithContext(std::string_view context) const {
  if (ok()) return *this;
  Status s = *this;
  s.message_ = std::string(context) + (message_.empty() ? "" : ": ") + message_;
  return s;
}

}  // namespace vc
