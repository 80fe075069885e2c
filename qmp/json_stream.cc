#include "qmp/json_stream.h"

#include <json-c/json.h>

namespace vc::qmp {

void JsonStreamParser::TokenerFree::operator()(json_tokener* t) const noexcept { json_tokener_free(t); }

JsonStreamParser::JsonStreamParser(size_t max_document_bytes)
    : tok_(json_tokener_new()), max_bytes_(max_document_bytes) {}

JsonStreamParser::~JsonStreamParser() = default;

Status JsonStreamParser::Feed(std::string_view bytes, std::vector<Json>* out) {
  while (!bytes.empty()) {
    if (pending_bytes_ == 0) {
      // Skip the whitespace (QMP's "\r\n") between documents.
      size_t skip = 0;
      while (skip < bytes.size() && (bytes[skip] == ' ' || bytes[skip] == '\t' ||
                                     bytes[skip] == '\r' || bytes[skip] == '\n')) {
        skip++;
      }
      bytes.remove_prefix(skip);
      if (bytes.empty()) break;
    }
    // Never hand json-c more than the bound allows, so an endless document
    // fails at the bound instead of growing without limit.
    size_t room = max_bytes_ - pending_bytes_;
    size_t chunk = bytes.size() < room ? bytes.size() : room;
    if (pending_head_.size() < 60) {
      pending_head_.append(bytes.substr(0, 60 - pending_head_.size()));
    }
    json_object* obj =
        json_tokener_parse_ex(tok_.get(), bytes.data(), static_cast<int>(chunk));
    json_tokener_error err = json_tokener_get_error(tok_.get());
    if (err == json_tokener_continue) {
      pending_bytes_ += chunk;
      bytes.remove_prefix(chunk);
      if (pending_bytes_ >= max_bytes_) {
        return Status::ProtocolError(
            "message too large", "no complete JSON document within " +
                                     std::to_string(max_bytes_) + " bytes (starts '" +
                                     pending_head_ + "')");
      }
      continue;
    }
    if (err != json_tokener_success) {
      size_t at = json_tokener_get_parse_end(tok_.get());
      std::string near(bytes.substr(at > 20 ? at - 20 : 0, 40));
      return Status::ProtocolError(
          "malformed JSON", std::string(json_tokener_error_desc(err)) + " near '" + near + "'");
    }
    size_t used = json_tokener_get_parse_end(tok_.get());
    json_tokener_reset(tok_.get());
    bytes.remove_prefix(used);
    pending_bytes_ = 0;
    pending_head_.clear();
    if (obj == nullptr) obj = json_object_get(nullptr);  // the literal null
    out->push_back(Json::Adopt(obj));
  }
  return Status::Ok();
}

}  // namespace vc::qmp
