// qmp::Json: a reference-counted JSON value over json-c.
//
// This is the only header through which the project sees JSON; json-c itself
// is included only by files in qmp/. Programs use it for their --json output.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "src/base/status.h"

struct json_object;

namespace vc::qmp {

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

 private:
  explicit Json(json_object* owned) : obj_(owned) {}
  json_object* obj_ = nullptr;
  friend class JsonStreamParser;
};

/// Splits a byte stream into JSON documents, with a bound on the size of one
/// document. Whitespace between documents is skipped.
class JsonStreamParser {
 public:
  explicit JsonStreamParser(size_t max_document_bytes);
  ~JsonStreamParser();
  JsonStreamParser(const JsonStreamParser&) = delete;
  JsonStreamParser& operator=(const JsonStreamParser&) = delete;

  /// Feeds bytes; complete documents are appended to \a out. A malformed or
  /// oversized document is an error, after which the parser is unusable.
  Status Feed(std::string_view bytes, std::vector<Json>* out);
  /// True when part of a document has been fed but not completed.
  bool InDocument() const { return pending_bytes_ > 0; }
  size_t pending_bytes() const { return pending_bytes_; }

 private:
  struct Tokener;
  Tokener* tok_;
  size_t max_bytes_;
  size_t pending_bytes_ = 0;
  std::string pending_head_;  // first bytes of the document, for messages
};

}  // namespace vc::qmp
