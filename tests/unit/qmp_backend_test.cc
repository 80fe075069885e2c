// QmpBackend on what QEMU really says: its samples, tuning and facts from
// the replies recorded from QEMU 7.2 and 10.0 (tests/data/qmp/<version>/). The recordings
// were made with the session's own commands, so each test composes a
// conversation from the recorded replies in the order QmpBackend asks, and
// checks the mapping against the raw JSON, field by field. Every field a
// recorded reply carries is either mapped or named here as deliberately
// unused: a field a newer QEMU adds fails the test until it is one or the
// other.
#include "src/backend/qmp_backend.h"

#include <gtest/gtest.h>

#include <optional>

#include <cctype>
#include <set>

#include "qmp/session.h"
#include "qmp/testing/replay_transport.h"

namespace vc {
namespace {

using qmp::testing::ReplayTransport;

const std::string kData = VC_TEST_DATA_DIR "/qmp/";

/// One recording: its greeting, and each command's replies in order.
struct Recording {
  Json greeting;
  std::map<std::string, std::vector<Json>> replies;  // by command
};

Recording Load(const std::string& rel) {
  Recording r;
  auto t = ReplayTransport::FromFile(kData + rel);
  EXPECT_TRUE(t.ok()) << t.status().ToString();
  if (!t.ok()) return r;
  std::string pending;  // the command whose reply comes next
  for (const auto& e : (*t)->state()->entries) {
    if (e.kind == ReplayTransport::State::Entry::kCommand) {
      pending = e.json.GetString("execute").value_or("");
    } else if (e.kind == ReplayTransport::State::Entry::kMessage) {
      if (e.json.Get("QMP")) r.greeting = e.json;
      if (!pending.empty() && (e.json.Get("return") || e.json.Get("error"))) {
        r.replies[pending].push_back(e.json);
        pending.clear();
      }
    }
  }
  return r;
}

/// A replay script: \a greeting, then each command with its reply.
class Conversation {
 public:
  explicit Conversation(const Json& greeting) { text_ = greeting.Serialize() + "\n\n"; }
  Conversation& Then(const std::string& command, const Json& reply, std::optional<Json> arguments = std::nullopt) {
    Json c = Json::Object();
    c.Set("execute", Json::String(command));
    if (arguments) c.Set("arguments", *arguments);
    text_ += c.Serialize() + "\n\n" + reply.Serialize() + "\n\n";
    return *this;
  }
  const std::string& text() const { return text_; }

 private:
  std::string text_;
};

/// A reply returning \a value (the replay gives it the command's id).
Json Return(const Json& value) {
  Json j = Json::Object();
  j.Set("return", value).Set("id", Json::String("replayed"));
  return j;
}

/// A QmpBackend over \a conversation, after the handshake and its opening
/// query (observe-only: it turns no capability on).
struct Opened {
  std::shared_ptr<ReplayTransport::State> state;
  std::unique_ptr<QmpBackend> backend;
};

Opened Open(const Conversation& conversation, const std::string& name, bool sample_dirty_rate = false) {
  Opened o;
  auto t = ReplayTransport::FromString(conversation.text(), name);
  EXPECT_TRUE(t.ok()) << t.status().ToString();
  o.state = (*t)->state();
  auto session = qmp::Session::Connect(std::move(*t));
  EXPECT_TRUE(session.ok()) << session.status().ToString();
  if (!session.ok()) return o;
  QmpBackend::Options watch_only;
  watch_only.enable_events = false;
  watch_only.sample_dirty_rate = sample_dirty_rate;
  auto backend = QmpBackend::Open(std::move(*session), watch_only);
  EXPECT_TRUE(backend.ok()) << backend.status().ToString();
  if (backend.ok()) o.backend = std::move(*backend);
  return o;
}

Conversation Opening(const Recording& handshake) {
  Conversation c(handshake.greeting);
  c.Then("qmp_capabilities", handshake.replies.at("qmp_capabilities").front());
  c.Then("query-migrate-capabilities", handshake.replies.at("query-migrate-capabilities").front());
  return c;
}

// query-migrate's fields that MigrationSample carries, and those it leaves
// out on purpose (with why).
const std::set<std::string> kMappedInfo = {"status", "total-time", "expected-downtime", "downtime",
                                           "cpu-throttle-percentage", "error-desc", "ram"};
const std::set<std::string> kUnusedInfo = {
    "setup-time",  // part of total-time already
};
const std::set<std::string> kMappedRam = {"total",    "transferred",      "remaining",        "normal",
                                          "duplicate", "page-size",       "mbps",             "dirty-pages-rate",
                                          "dirty-sync-count", "postcopy-requests", "downtime-bytes"};
const std::set<std::string> kUnusedRam = {
    "skipped",                      // always 0 since QEMU 7.1
    "normal-bytes",                 // normal x page-size
    "pages-per-second",             // mbps says the same in bytes
    "multifd-bytes",                // part of transferred
    "precopy-bytes",                // the same, by phase
    "postcopy-bytes",
    "dirty-sync-missed-zero-copy",  // zero-copy sending only
};

void ExpectEveryFieldKnown(const Json& info, const std::string& where) {
  for (const std::string& k : info.Keys()) {
    EXPECT_TRUE(kMappedInfo.count(k) || kUnusedInfo.count(k)) << where << ": query-migrate field '" << k
                                                              << "' is neither mapped nor named unused";
  }
  if (std::optional<Json> ram = info.Get("ram")) {
    for (const std::string& k : ram->Keys()) {
      EXPECT_TRUE(kMappedRam.count(k) || kUnusedRam.count(k)) << where << ": ram field '" << k
                                                              << "' is neither mapped nor named unused";
    }
  }
}

void ExpectSampleIs(const MigrationSample& s, const Json& info, const std::string& where) {
  SCOPED_TRACE(where);
  EXPECT_EQ(s.status, info.GetString("status").value_or("none"));
  EXPECT_EQ(s.total_time_ms, info.GetInt("total-time").value_or(0));
  EXPECT_EQ(s.expected_downtime_ms, info.GetInt("expected-downtime").value_or(0));
  EXPECT_EQ(s.downtime_ms, info.GetInt("downtime"));
  EXPECT_EQ(s.throttle_percent, info.GetInt("cpu-throttle-percentage").value_or(0));
  EXPECT_EQ(s.error, info.GetString("error-desc").value_or(""));
  std::optional<Json> ram = info.Get("ram");
  if (!ram) {
    EXPECT_EQ(s.ram_total, 0u);
    EXPECT_EQ(s.pass, 0u);
    return;
  }
  const uint64_t page = ram->GetUint("page-size").value_or(4096);
  EXPECT_EQ(s.ram_total, ram->GetUint("total"));
  EXPECT_EQ(s.ram_transferred, ram->GetUint("transferred"));
  EXPECT_EQ(s.ram_remaining, ram->GetUint("remaining"));
  EXPECT_EQ(s.ram_visited, (*ram->GetUint("normal") + *ram->GetUint("duplicate")) * page);
  EXPECT_DOUBLE_EQ(s.bandwidth, ram->GetDouble("mbps").value_or(0) * 1e6 / 8);
  EXPECT_DOUBLE_EQ(s.dirty_rate, static_cast<double>(ram->GetUint("dirty-pages-rate").value_or(0) * page));
  EXPECT_EQ(s.pass, ram->GetUint("dirty-sync-count").value_or(0));
  EXPECT_EQ(s.postcopy_requests, ram->GetUint("postcopy-requests").value_or(0));
  EXPECT_EQ(s.downtime_bytes, ram->GetUint("downtime-bytes").value_or(0));
}

// A recording: "<version>/<scenario>".
class QmpBackendReplay : public ::testing::TestWithParam<std::string> {
 protected:
  std::string Version() const { return GetParam().substr(0, GetParam().find('/')); }
};

std::string RecordingName(const ::testing::TestParamInfo<std::string>& info) {
  std::string name = info.param;
  for (char& ch : name) {
    if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
  }
  return name;
}

// Every query-migrate reply of a recorded migration, through Sample().
TEST_P(QmpBackendReplay, SamplesMapEveryQueryMigrateField) {
  const Recording handshake = Load(Version() + "/handshake.replies");
  const Recording run = Load(GetParam() + ".replies");
  const std::vector<Json>& infos = run.replies.at("query-migrate");
  ASSERT_FALSE(infos.empty());
  Conversation c = Opening(handshake);
  for (const Json& reply : infos) c.Then("query-migrate", reply);
  Opened o = Open(c, GetParam());
  ASSERT_TRUE(o.backend);
  for (size_t i = 0; i < infos.size(); i++) {
    const Json info = *infos[i].Get("return");
    const std::string where = GetParam() + " query-migrate #" + std::to_string(i + 1);
    ExpectEveryFieldKnown(info, where);
    Result<MigrationSample> s = o.backend->Sample();
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    ExpectSampleIs(*s, info, where);
  }
  EXPECT_TRUE(ReplayTransport::Finish(*o.state).ok()) << ReplayTransport::Finish(*o.state).ToString();
}

INSTANTIATE_TEST_SUITE_P(Qemu72, QmpBackendReplay,
                         ::testing::Values("7.2/precopy", "7.2/postcopy", "7.2/cancel", "7.2/handshake"), RecordingName);
INSTANTIATE_TEST_SUITE_P(Qemu100, QmpBackendReplay,
                         ::testing::Values("10.0/precopy", "10.0/postcopy", "10.0/cancel", "10.0/handshake"),
                         RecordingName);

// A QEMU version of tests/data/qmp.
class QmpBackendVersion : public ::testing::TestWithParam<std::string> {};

// query-migrate-parameters as QEMU answers it, through Tuning(); and
// back through SetTuning() as the same values.
TEST_P(QmpBackendVersion, TuningMapsTheParametersItChanges) {
  const Recording handshake = Load(GetParam() + "/handshake.replies");
  const Json reply = handshake.replies.at("query-migrate-parameters").front();
  const Json params = *reply.Get("return");
  Conversation c = Opening(handshake);
  c.Then("query-migrate-parameters", reply);
  Opened o = Open(c, "tuning");
  ASSERT_TRUE(o.backend);
  Result<MigrationTuning> t = o.backend->Tuning();
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  EXPECT_EQ(t->downtime_limit_ms, params.GetInt("downtime-limit"));
  EXPECT_EQ(t->max_bandwidth, params.GetUint("max-bandwidth"));
  EXPECT_EQ(t->throttle_initial, params.GetInt("cpu-throttle-initial"));
  EXPECT_EQ(t->throttle_increment, params.GetInt("cpu-throttle-increment"));
  EXPECT_EQ(t->throttle_max, params.GetInt("max-cpu-throttle"));
  EXPECT_EQ(t->throttle_tailslow, params.GetBool("cpu-throttle-tailslow"));
  EXPECT_EQ(t->throttle_trigger, params.GetInt("throttle-trigger-threshold"));
  EXPECT_EQ(t->xbzrle_cache, params.GetUint("xbzrle-cache-size"));
  // QEMU 8.1 and later.
  EXPECT_EQ(t->vcpu_dirty_limit, params.GetUint("vcpu-dirty-limit"));
  // QEMU 8.2 and later.
  EXPECT_EQ(t->avail_switchover_bandwidth, params.GetUint("avail-switchover-bandwidth"));
  if (GetParam() == "10.0") {
    EXPECT_EQ(t->avail_switchover_bandwidth, 0u) << "reported, and unset";
  }
  EXPECT_TRUE(ReplayTransport::Finish(*o.state).ok()) << ReplayTransport::Finish(*o.state).ToString();
}

// Facts: the version from the greeting, the capabilities as recorded.
// query-name and query-memory-size-summary were not recorded: their
// replies here are the shapes QEMU documents.
TEST_P(QmpBackendVersion, FactsComeFromTheGreetingAndTheCapabilities) {
  const Recording handshake = Load(GetParam() + "/handshake.replies");
  const Json caps = handshake.replies.at("query-migrate-capabilities").front();
  Json name = Json::Object();
  name.Set("name", Json::String("vm1"));
  Json memory = Json::Object();
  memory.Set("base-memory", Json::Uint(256u << 20));
  Conversation c = Opening(handshake);
  c.Then("query-migrate-capabilities", caps).Then("query-name", Return(name)).Then("query-memory-size-summary",
                                                                                     Return(memory));
  Opened o = Open(c, "facts");
  ASSERT_TRUE(o.backend);
  Result<BackendFacts> f = o.backend->Facts();
  ASSERT_TRUE(f.ok()) << f.status().ToString();
  const Json version = *handshake.greeting.Get("QMP")->Get("version")->Get("qemu");
  EXPECT_EQ(f->qemu_major, version.GetInt("major"));
  EXPECT_EQ(f->qemu_minor, version.GetInt("minor"));
  EXPECT_EQ(f->hypervisor.rfind("QEMU " + GetParam(), 0), 0u) << f->hypervisor;
  EXPECT_EQ(f->vm_name, "vm1");
  EXPECT_EQ(f->guest_memory, 256u << 20);
  const Json list = *caps.Get("return");
  ASSERT_GT(list.ArraySize(), 0u);
  for (size_t i = 0; i < list.ArraySize(); i++) {
    const std::string cap = *list.At(i).GetString("capability");
    EXPECT_EQ(f->capabilities.at(cap), *list.At(i).GetBool("state")) << cap;
  }
  EXPECT_EQ(f->postcopy_ram, f->capabilities.at("postcopy-ram"));
  EXPECT_EQ(f->auto_converge, f->capabilities.at("auto-converge"));
  EXPECT_EQ(f->events, f->capabilities.at("events"));
  EXPECT_TRUE(ReplayTransport::Finish(*o.state).ok()) << ReplayTransport::Finish(*o.state).ToString();
}

INSTANTIATE_TEST_SUITE_P(Recorded, QmpBackendVersion, ::testing::Values("7.2", "10.0"), RecordingName);

// The guest's dirty rate, sampled once in the bulk pass: calc-dirty-rate
// at its first sample (with more pages than QEMU's default for a small
// guest), query-dirty-rate beside each query-migrate until QEMU has
// measured, then the rate in every sample and no more commands.
TEST_P(QmpBackendVersion, SamplesTheDirtyRateOnceInTheBulkPass) {
  const Recording handshake = Load(GetParam() + "/handshake.replies");
  const Recording run = Load(GetParam() + "/dirtyrate.replies");
  const std::vector<Json>& infos = run.replies.at("query-migrate");
  const std::vector<Json>& rates = run.replies.at("query-dirty-rate");
  ASSERT_EQ(run.replies.at("calc-dirty-rate").size(), 1u);
  Conversation c = Opening(handshake);
  // The conversation QEMU had with the recorder, which asked as the
  // backend asks.
  size_t next_rate = 0;
  bool asked = false, measured = false;
  int64_t rate_mib = -1;
  for (const Json& reply : infos) {
    c.Then("query-migrate", reply);
    const Json info = *reply.Get("return");
    const uint64_t pass = info.Get("ram") ? info.Get("ram")->GetUint("dirty-sync-count").value_or(0) : 0;
    if (!asked && info.GetString("status").value_or("") == "active" && pass == 1) {
      // Both recorded QEMUs take sample-pages (6.1+): the guest's size
      // decides how many per GiB.
      const uint64_t ram = info.Get("ram")->GetUint("total").value_or(0);
      c.Then("calc-dirty-rate", run.replies.at("calc-dirty-rate").front(),
             Json::Object()
                 .Set("calc-time", Json::Int(2))
                 .Set("sample-pages", Json::Int(DirtyRateSampling::PagesPerGiB(ram))));
      asked = true;
    } else if (asked && !measured) {
      ASSERT_LT(next_rate, rates.size());
      const Json r = *rates[next_rate].Get("return");
      c.Then("query-dirty-rate", rates[next_rate++]);
      measured = r.GetString("status").value_or("") == "measured";
      if (measured) rate_mib = r.GetInt("dirty-rate").value_or(-1);
    }
  }
  ASSERT_TRUE(measured) << "the recording never measured";
  ASSERT_GT(rate_mib, 0);
  Opened o = Open(c, GetParam() + "/dirtyrate", /*sample_dirty_rate=*/true);
  ASSERT_TRUE(o.backend);
  bool seen = false;
  for (size_t i = 0; i < infos.size(); i++) {
    Result<MigrationSample> s = o.backend->Sample();
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    if (s->sampled_dirty_rate > 0) {
      EXPECT_EQ(s->sampled_dirty_rate, static_cast<double>(rate_mib) * (1 << 20)) << "sample " << i;
      seen = true;
    } else {
      EXPECT_FALSE(seen) << "sample " << i << " lost the rate";
    }
  }
  EXPECT_TRUE(seen);
  EXPECT_TRUE(ReplayTransport::Finish(*o.state).ok()) << ReplayTransport::Finish(*o.state).ToString();
}

// Resuming the source's copy after the switch-over would run the guest
// twice, and QEMU would do it: ResumeGuest asks the run state first.
TEST(QmpBackendReplay72, ResumeGuestNeverRunsASourceThatSwitchedOver) {
  const Recording handshake = Load("7.2/handshake.replies");
  for (const char* state : {"postmigrate", "finish-migrate"}) {
    Conversation c = Opening(handshake);
    c.Then("query-status", Return(Json::Object()
                                      .Set("status", Json::String(state))
                                      .Set("singlestep", Json::Bool(false))
                                      .Set("running", Json::Bool(false))));
    Opened o = Open(c, state);
    ASSERT_TRUE(o.backend);
    Status st = o.backend->ResumeGuest();
    EXPECT_EQ(st.code(), StatusCode::kNotSupported) << st.ToString();
    EXPECT_NE(st.message().find("the migration has switched over (run state " + std::string(state) + ")"),
              std::string::npos)
        << st.ToString();
    EXPECT_TRUE(ReplayTransport::Finish(*o.state).ok()) << "a command was sent after query-status";
  }
  // A guest paused by us while the migration runs (or after it failed) is resumed.
  Conversation c = Opening(handshake);
  c.Then("query-status", Return(Json::Object()
                                    .Set("status", Json::String("paused"))
                                    .Set("singlestep", Json::Bool(false))
                                    .Set("running", Json::Bool(false))));
  c.Then("cont", Return(Json::Object()));
  Opened o = Open(c, "paused");
  ASSERT_TRUE(o.backend);
  EXPECT_TRUE(o.backend->ResumeGuest().ok());
  EXPECT_TRUE(ReplayTransport::Finish(*o.state).ok()) << ReplayTransport::Finish(*o.state).ToString();
}

}  // namespace
}  // namespace vc
