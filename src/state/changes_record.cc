#include "src/state/changes_record.h"

#include <unistd.h>

#include <filesystem>
#include <type_traits>

#include "src/base/json.h"
#include "src/base/private_files.h"

namespace vc {
namespace {

Json TuningToJson(const MigrationTuning& t) {
  Json j = Json::Object();
  MigrationTuning::ForEachField([&](auto MigrationTuning::*field, const char* name) {
    const auto& v = t.*field;
    if (!v) return;
    using T = std::decay_t<decltype(*v)>;
    if constexpr (std::is_same_v<T, bool>) {
      j.Set(name, Json::Bool(*v));
    } else if constexpr (std::is_same_v<T, uint64_t>) {
      j.Set(name, Json::Uint(*v));
    } else {
      j.Set(name, Json::Int(*v));
    }
  });
  return j;
}

MigrationTuning TuningFromJson(const Json& j) {
  MigrationTuning t;
  MigrationTuning::ForEachField([&](auto MigrationTuning::*field, const char* name) {
    using T = std::decay_t<decltype(*(t.*field))>;
    if constexpr (std::is_same_v<T, bool>) {
      t.*field = j.GetBool(name);
    } else if constexpr (std::is_same_v<T, uint64_t>) {
      t.*field = j.GetUint(name);
    } else {
      t.*field = j.GetInt(name);
    }
  });
  return t;
}

}  // namespace

Status WriteChangesRecord(const StatePaths& paths, const std::string& id, const ChangesInForce& changes) {
  const std::string path = paths.ChangesFile(id);
  if (path.empty()) return Status::Ok();
  Json j = Json::Object();
  if (changes.original) j.Set("original", TuningToJson(*changes.original));
  j.Set("ours", TuningToJson(changes.ours));
  j.Set("guest-paused", Json::Bool(changes.guest_paused));
  j.Set("pid", Json::Int(::getpid()));
  return WriteFileAtomically(path, j.Serialize() + "\n");
}

Result<std::optional<ChangesInForce>> ReadChangesRecord(const StatePaths& paths, const std::string& id) {
  const std::string path = paths.ChangesFile(id);
  if (path.empty()) return std::optional<ChangesInForce>();
  Result<std::string> text = ReadPrivateFile(path);
  if (!text.ok() && text.status().code() == StatusCode::kNotFound) return std::optional<ChangesInForce>();
  if (!text.ok()) return text.status();
  Result<Json> j = Json::Parse(*text);
  if (!j.ok()) return j.status().WithContext(path);
  std::optional<Json> ours = j->Get("ours");
  if (!ours || !ours->is_object()) return Status::ProtocolError(path, "no \"ours\" object");
  ChangesInForce c;
  if (std::optional<Json> original = j->Get("original")) c.original = TuningFromJson(*original);
  c.ours = TuningFromJson(*ours);
  c.guest_paused = j->GetBool("guest-paused").value_or(false);
  return std::optional<ChangesInForce>(c);
}

std::vector<std::string> ChangesRecordIds(const StatePaths& paths) {
  std::vector<std::string> ids;
  std::error_code ec;
  for (const std::filesystem::directory_entry& e : std::filesystem::directory_iterator(paths.MigrationsDir(), ec)) {
    const std::string name = e.path().filename().string();
    if (name.empty() || name.front() == '.' || e.path().extension() != ".changes") continue;  // a temp file
    ids.push_back(e.path().stem().string());
  }
  return ids;
}

void RemoveChangesRecord(const StatePaths& paths, const std::string& id) {
  const std::string path = paths.ChangesFile(id);
  if (!path.empty()) RemovePrivateFile(path);
}

std::string DescribeChanges(const ChangesInForce& changes) {
  std::string what;
  MigrationTuning::ForEachField([&](auto MigrationTuning::*field, const char* name) {
    const auto& ours = changes.ours.*field;
    if (!ours) return;
    const auto* before = changes.original ? &((*changes.original).*field) : nullptr;
    what += std::string(what.empty() ? "" : ", ") + name + " " + MigrationTuning::ValueText(*ours) +
            (before && *before ? " (was " + MigrationTuning::ValueText(**before) + ")" : "");
  });
  if (changes.guest_paused) what += std::string(what.empty() ? "" : ", ") + "the guest paused";
  return what.empty() ? "nothing" : what;
}

}  // namespace vc
