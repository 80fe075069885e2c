#include "src/base/json.h"

#include <json-c/json.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "src/base/c_deleter.h"

namespace vc {

Json::Json(const Json& other) : obj_(json_object_get(other.obj_)) {}
Json::Json(Json&& other) noexcept : obj_(other.obj_) { other.obj_ = nullptr; }
Json& Json::operator=(Json other) noexcept {
  std::swap(obj_, other.obj_);
  return *this;
}
Json::~Json() { json_object_put(obj_); }

Json Json::Object() { return Json(json_object_new_object()); }
Json Json::Array() { return Json(json_object_new_array()); }
Json Json::Bool(bool v) { return Json(json_object_new_boolean(v)); }
Json Json::Int(int64_t v) { return Json(json_object_new_int64(v)); }
Json Json::Uint(uint64_t v) { return Json(json_object_new_uint64(v)); }
Json Json::Double(double v) { return Json(json_object_new_double(v)); }
Json Json::String(std::string_view v) {
  return Json(json_object_new_string_len(v.data(), static_cast<int>(v.size())));
}

Result<Json> Json::Parse(std::string_view text) {
  if (text.size() >= static_cast<size_t>(std::numeric_limits<int>::max())) {
    return Status::ProtocolError("JSON", "document too large");
  }
  // With its terminating NUL, so that a number at the very end is complete.
  const std::string terminated(text);
  CPtr<json_tokener, json_tokener_free> tok(json_tokener_new());
  json_object* obj = json_tokener_parse_ex(tok.get(), terminated.c_str(), static_cast<int>(terminated.size() + 1));
  // The NUL ends every document: a truncated one is an error here too.
  const json_tokener_error err = json_tokener_get_error(tok.get());
  if (err != json_tokener_success) return Status::ProtocolError("malformed JSON", json_tokener_error_desc(err));
  Json doc(obj);
  const size_t end = std::min(json_tokener_get_parse_end(tok.get()), terminated.size());
  if (terminated.find_first_not_of(" \t\r\n", end) != std::string::npos) {
    return Status::ProtocolError("JSON", "expected one document, found more after offset " + std::to_string(end));
  }
  return doc;
}

Json::Type Json::type() const {
  switch (json_object_get_type(obj_)) {
    case json_type_null: return Type::kNull;
    case json_type_boolean: return Type::kBool;
    case json_type_int: return Type::kInt;
    case json_type_double: return Type::kDouble;
    case json_type_string: return Type::kString;
    case json_type_object: return Type::kObject;
    case json_type_array: return Type::kArray;
  }
  return Type::kNull;
}

std::optional<Json> Json::Get(std::string_view key) const {
  if (!is_object()) return std::nullopt;
  json_object* member = nullptr;
  if (!json_object_object_get_ex(obj_, std::string(key).c_str(), &member)) return std::nullopt;
  return Json(json_object_get(member));
}

std::optional<int64_t> Json::GetInt(std::string_view key) const {
  auto v = Get(key);
  return v ? v->AsInt() : std::nullopt;
}
std::optional<uint64_t> Json::GetUint(std::string_view key) const {
  auto v = Get(key);
  return v ? v->AsUint() : std::nullopt;
}
std::optional<double> Json::GetDouble(std::string_view key) const {
  auto v = Get(key);
  return v ? v->AsDouble() : std::nullopt;
}
std::optional<bool> Json::GetBool(std::string_view key) const {
  auto v = Get(key);
  return v ? v->AsBool() : std::nullopt;
}
std::optional<std::string> Json::GetString(std::string_view key) const {
  auto v = Get(key);
  return v ? v->AsString() : std::nullopt;
}

std::vector<std::string> Json::Keys() const {
  std::vector<std::string> keys;
  if (!is_object()) return keys;
  json_object_object_foreach(obj_, key, val) {
    (void)val;
    keys.emplace_back(key);
  }
  return keys;
}

size_t Json::ArraySize() const { return is_array() ? json_object_array_length(obj_) : 0; }

Json Json::At(size_t index) const {
  if (index >= ArraySize()) return Json();
  return Json(json_object_get(json_object_array_get_idx(obj_, index)));
}

std::optional<int64_t> Json::AsInt() const {
  switch (type()) {
    case Type::kInt:
      // json-c stores values above INT64_MAX as uint64; do not wrap them.
      if (json_object_get_uint64(obj_) > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) &&
          json_object_get_int64(obj_) == std::numeric_limits<int64_t>::max()) {
        return std::nullopt;
      }
      return json_object_get_int64(obj_);
    case Type::kDouble: {
      double d = json_object_get_double(obj_);
      if (!std::isfinite(d) || d < -9.2e18 || d > 9.2e18) return std::nullopt;
      return static_cast<int64_t>(d);
    }
    default: return std::nullopt;
  }
}

std::optional<uint64_t> Json::AsUint() const {
  switch (type()) {
    case Type::kInt:
      if (json_object_get_int64(obj_) < 0) return std::nullopt;
      return json_object_get_uint64(obj_);
    case Type::kDouble: {
      double d = json_object_get_double(obj_);
      if (!std::isfinite(d) || d < 0 || d > 1.8e19) return std::nullopt;
      return static_cast<uint64_t>(d);
    }
    default: return std::nullopt;
  }
}

std::optional<double> Json::AsDouble() const {
  if (type() == Type::kInt || type() == Type::kDouble) return json_object_get_double(obj_);
  return std::nullopt;
}

std::optional<bool> Json::AsBool() const {
  if (type() != Type::kBool) return std::nullopt;
  return json_object_get_boolean(obj_) != 0;
}

std::optional<std::string> Json::AsString() const {
  if (type() != Type::kString) return std::nullopt;
  return std::string(json_object_get_string(obj_),
                     static_cast<size_t>(json_object_get_string_len(obj_)));
}

Json& Json::Set(std::string_view key, Json value) {
  if (is_object()) {
    json_object_object_add(obj_, std::string(key).c_str(), value.obj_);
    value.obj_ = nullptr;  // ownership moved into the object
  }
  return *this;
}

Json& Json::Append(Json value) {
  if (is_array()) {
    json_object_array_add(obj_, value.obj_);
    value.obj_ = nullptr;
  }
  return *this;
}

std::string Json::Serialize(bool pretty) const {
  int flags = JSON_C_TO_STRING_NOSLASHESCAPE |
              (pretty ? JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED : JSON_C_TO_STRING_PLAIN);
  if (!obj_) return "null";
  return json_object_to_json_string_ext(obj_, flags);
}

bool Json::operator==(const Json& other) const {
  return json_object_equal(obj_, other.obj_) != 0;
}

}  // namespace vc
