// Json: a reference-counted JSON value over json-c: QMP's messages (qmp/),
// the records under the run and state directories, and every --json output.
//
// The only header through which the project sees JSON values; json-c
// itself is included only here, in json.cc, and by QMP's framing
// (qmp/json_stream.cc).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "src/base/status.h"

struct json_object;

namespace vc {

class Json {
 public:
  enum class Type { kNull, kBool, kInt, kDouble, kString, kObject, kArray };

  /// JSON null.
  Json() = default;
  Json(const Json& other);
  Json(Json&& other) noexcept;
  Json& operator=(Json other) noexcept;
  ~Json();

  static Json Object();
  static Json Array();
  static Json Bool(bool v);
  static Json Int(int64_t v);
  static Json Uint(uint64_t v);
  static Json Double(double v);
  static Json String(std::string_view v);
  /// Parses exactly one JSON document; trailing non-space text is an error.
  static Result<Json> Parse(std::string_view text);

  Type type() const;
  bool is_null() const { return type() == Type::kNull; }
  bool is_object() const { return type() == Type::kObject; }
  bool is_array() const { return type() == Type::kArray; }

  /// Object member, or nullopt when absent or this is not an object.
  std::optional<Json> Get(std::string_view key) const;
  std::optional<int64_t> GetInt(std::string_view key) const;
  std::optional<uint64_t> GetUint(std::string_view key) const;
  std::optional<double> GetDouble(std::string_view key) const;
  std::optional<bool> GetBool(std::string_view key) const;
  std::optional<std::string> GetString(std::string_view key) const;
  std::vector<std::string> Keys() const;

  size_t ArraySize() const;
  Json At(size_t index) const;

  // Scalars; a wrong type gives nullopt (numbers convert among themselves).
  std::optional<int64_t> AsInt() const;
  std::optional<uint64_t> AsUint() const;
  std::optional<double> AsDouble() const;
  std::optional<bool> AsBool() const;
  std::optional<std::string> AsString() const;

  // REQUIRES: is_object() / is_array(). Return *this for chaining.
  Json& Set(std::string_view key, Json value);
  Json& Append(Json value);

  /// Compact single-line JSON (QMP framing needs one line), or pretty.
  std::string Serialize(bool pretty = false) const;

  bool operator==(const Json& other) const;

  /// Takes ownership of \a owned (one reference), for parsers over json-c.
  static Json Adopt(json_object* owned) { return Json(owned); }

 private:
  explicit Json(json_object* owned) : obj_(owned) {}
  json_object* obj_ = nullptr;
};

}  // namespace vc
