// JsonStreamParser: QMP's framing. Splits the byte stream of a QMP
// connection into JSON documents, with a bound on the size of one.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "src/base/json.h"
#include "src/base/status.h"

struct json_tokener;

namespace vc::qmp {

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
  struct TokenerFree {
    void operator()(json_tokener* t) const noexcept;
  };
  std::unique_ptr<json_tokener, TokenerFree> tok_;
  size_t max_bytes_;
  size_t pending_bytes_ = 0;
  std::string pending_head_;  // first bytes of the document, for messages
};

}  // namespace vc::qmp
