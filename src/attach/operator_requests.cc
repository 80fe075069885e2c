#include "src/attach/operator_requests.h"

namespace vc {

OperatorReply OperatorRequests::Handle(const std::string& request, Controller& controller,
                                       const MigrationSample& last) {
  Result<MigrationSample> now = backend_.Sample();
  const MigrationSample s = now.ok() && now->running() ? *now : last;
  if (request == "cancel") {
    view_.Message("the operator asks to cancel");
    return controller.Cancel(s);
  }
  if (request == "postcopy") {
    view_.Message("the operator asks to complete now");
    return controller.CompleteNow(s);
  }
  if (request.rfind("resume ", 0) == 0) {
    // "resume URI [DATA-URI]": libvirt takes the destination's URI and
    // where the data goes; QEMU only the latter, as URI.
    std::string uri = request.substr(7), data_uri;
    if (size_t sp = uri.find(' '); sp != std::string::npos) {
      data_uri = uri.substr(sp + 1);
      uri.resize(sp);
    }
    view_.Message("the operator asks to resume post-copy over " + uri +
                  (data_uri.empty() ? "" : " (data " + data_uri + ")"));
    Status st = dry_run_ ? Status::Ok() : backend_.ResumePostcopy(uri, data_uri);
    OperatorReply reply{st.ok(),
                        st.ok() ? (dry_run_ ? "resume: dry run: not applied" : "resume: done")
                                : "resume: " + st.ToString(),
                        st.code() == StatusCode::kUnavailable};
    view_.Message(reply.text);
    return reply;
  }
  return {false, "error: unknown request '" + request + "' (cancel, postcopy, resume URI [DATA-URI])"};
}

}  // namespace vc
