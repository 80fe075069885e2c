// JournalLog: what a follower tells the systemd journal, as structured
// entries: the migration it follows, each action with its reason code, the
// outcome, and its own notable events. One MESSAGE_ID per kind of entry,
// explained by the catalog (packaging/catalog/virt-converge.catalog, read
// by `journalctl -x`). Where there is no journal (no journald socket) it
// sends nothing: the follower's lines on its standard output say it all.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "src/control/controller.h"
#include "src/state/summary.h"

namespace vc {

/// The MESSAGE_IDs, one per kind of entry (the catalog explains each).
inline constexpr std::string_view kJournalFollowingId = "5e86117ab7e34e819842b946d9a6bcde";
inline constexpr std::string_view kJournalActionId = "0a554a6c8d854b3d80abbc24e24d4ea3";
inline constexpr std::string_view kJournalOutcomeId = "6080977b056441599857733e95f3d198";
inline constexpr std::string_view kJournalEventId = "093ab289ca934815abe25798beea5abf";

class JournalLog {
 public:
  /// Whether journald listens here (its socket exists).
  static bool Available();
  explicit JournalLog(bool enabled) : enabled_(enabled) {}

  /// Who every later entry is about: VM, VM_UUID, MIGRATION_ID.
  void SetMigration(std::string vm, std::string uuid, std::string migration_id);
  /// The follower began following it; \a text is what it told on stdout.
  void Following(const std::string& text, const std::string& backend, const std::string& policy);
  /// An action, done or not: ACTION, VALUE, RESULT, REASON (its code) and
  /// REASON_TEXT.
  void Action(const ActionRecord& a);
  /// How it ended: OUTCOME, REASON (its code) and the figures it has.
  void Outcome(const MigrationSummary& s);
  /// Anything else the follower tells (notice).
  void Event(const std::string& text);

 private:
  using Fields = std::vector<std::pair<std::string_view, std::string>>;
  void Send(std::string_view message_id, int priority, const std::string& message, const Fields& fields);

  bool enabled_;
  std::string vm_, uuid_, migration_id_;
};

}  // namespace vc
