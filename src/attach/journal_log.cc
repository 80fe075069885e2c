#include "src/attach/journal_log.h"

#include <sys/uio.h>
#include <syslog.h>
#include <systemd/sd-journal.h>
#include <unistd.h>

namespace vc {
namespace {

constexpr const char* kJournalSocket = "/run/systemd/journal/socket";

// A priority by how the migration ended: an operator's alert rules look at
// warnings and above.
int OutcomePriority(MigrationOutcome o) {
  switch (o) {
    case MigrationOutcome::kCompleted:
    case MigrationOutcome::kCompletedPostcopy:
    case MigrationOutcome::kDetached:
      return LOG_INFO;
    case MigrationOutcome::kCancelled:
    case MigrationOutcome::kAborted:
    case MigrationOutcome::kNotStarted:
      return LOG_NOTICE;
    default:
      return LOG_WARNING;
  }
}

}  // namespace

bool JournalLog::Available() { return ::access(kJournalSocket, F_OK) == 0; }

void JournalLog::SetMigration(std::string vm, std::string uuid, std::string migration_id) {
  vm_ = std::move(vm);
  uuid_ = std::move(uuid);
  migration_id_ = std::move(migration_id);
}

void JournalLog::Following(const std::string& text, const std::string& backend, const std::string& policy) {
  Send(kJournalFollowingId, LOG_INFO, text, {{"BACKEND", backend}, {"POLICY", policy}});
}

void JournalLog::Action(const ActionRecord& a) {
  const bool done = a.result == "done";
  Send(kJournalActionId, done ? LOG_NOTICE : LOG_WARNING, ActionLine(a),
       {{"ACTION", a.action},
        {"VALUE", std::to_string(a.value)},
        {"RESULT", a.result},
        {"REASON", ActionCode(a)},
        {"REASON_TEXT", a.reason},
        {"AT_S", std::to_string(a.at_s)}});
}

void JournalLog::Outcome(const MigrationSummary& s) {
  Fields f{{"OUTCOME", std::string(OutcomeName(s.outcome))}, {"REASON", s.code}, {"REASON_TEXT", s.detail},
           {"ACTIONS", std::to_string(s.actions.size())}};
  if (s.total_time_ms) f.emplace_back("TOTAL_TIME_MS", std::to_string(*s.total_time_ms));
  if (s.downtime_ms) f.emplace_back("DOWNTIME_MS", std::to_string(*s.downtime_ms));
  if (s.bytes_sent) f.emplace_back("BYTES_SENT", std::to_string(*s.bytes_sent));
  if (s.ram_total) f.emplace_back("RAM_TOTAL", std::to_string(*s.ram_total));
  Send(kJournalOutcomeId, OutcomePriority(s.outcome),
       "migration of " + (vm_.empty() ? migration_id_ : vm_) + " ended: " + std::string(OutcomeName(s.outcome)) +
           (s.code.empty() ? "" : " [" + s.code + "]") + (s.detail.empty() ? "" : " — " + s.detail),
       f);
}

void JournalLog::Event(const std::string& text) { Send(kJournalEventId, LOG_NOTICE, text, {}); }

void JournalLog::Send(std::string_view message_id, int priority, const std::string& message, const Fields& fields) {
  if (!enabled_) return;
  std::vector<std::string> lines{"MESSAGE=" + message, "MESSAGE_ID=" + std::string(message_id),
                                 "PRIORITY=" + std::to_string(priority), "SYSLOG_IDENTIFIER=virt-converge"};
  if (!vm_.empty()) lines.push_back("VM=" + vm_);
  if (!uuid_.empty()) lines.push_back("VM_UUID=" + uuid_);
  if (!migration_id_.empty()) lines.push_back("MIGRATION_ID=" + migration_id_);
  for (const auto& [key, value] : fields) {
    if (!value.empty()) lines.push_back(std::string(key) + "=" + value);
  }
  std::vector<iovec> iov;
  iov.reserve(lines.size());
  for (std::string& l : lines) iov.push_back({l.data(), l.size()});
  // Best effort: a journal that is gone must not stop a migration's helper.
  (void)sd_journal_sendv(iov.data(), static_cast<int>(iov.size()));
}

}  // namespace vc
