// qmp::Session on recorded QEMU 7.2 conversations (tests/data/qmp/7.2,
// made by tests/tools/qmp-record) and on hand-written error cases
// (tests/data/qmp/synthetic). The replay fails on any unexpected command
// and reports commands never sent.
#include "qmp/session.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <thread>

#include "qmp/commands.h"
#include "qmp/testing/replay_transport.h"
#include "src/base/unique_fd.h"
#include "tests/support/temp_dir.h"

namespace vc::qmp {
namespace {

using testing::ReplayTransport;

std::string DataFile(const std::string& rel) { return std::string(VC_TEST_DATA_DIR) + "/qmp/" + rel; }

struct Replayed {
  std::shared_ptr<ReplayTransport::State> state;
  Result<std::unique_ptr<Session>> session = Status::Internal("unset");
};

Replayed Open(const std::string& rel, Session::Options options = {}) {
  Replayed r;
  auto t = ReplayTransport::FromFile(DataFile(rel));
  EXPECT_TRUE(t.ok()) << t.status().ToString();
  r.state = (*t)->state();
  r.session = Session::Connect(std::move(*t), options);
  return r;
}

TEST(QmpSession, GreetingAndNegotiation) {
  Replayed r = Open("7.2/handshake.replies");
  ASSERT_TRUE(r.session.ok()) << r.session.status().ToString();
  Session& s = **r.session;
  EXPECT_EQ(s.version().major, 7);
  EXPECT_EQ(s.version().minor, 2);
  EXPECT_EQ(s.version().micro, 22);
  EXPECT_TRUE(s.version().AtLeast(7, 2));
  EXPECT_FALSE(s.version().AtLeast(8, 1));

  Result<QemuVersion> v = QueryVersion(s);
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->ToString(), "7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b3)");
  Result<RunState> rs = QueryStatus(s);
  ASSERT_TRUE(rs.ok());
  EXPECT_TRUE(rs->running);
  EXPECT_EQ(rs->status, "running");

  auto caps = QueryMigrateCapabilities(s);
  ASSERT_TRUE(caps.ok());
  EXPECT_EQ(caps->size(), 21u);  // the 7.2 list in reference/qemu-libvirt.md §1.2
  EXPECT_FALSE(caps->at("postcopy-ram"));
  EXPECT_TRUE(caps->count("zero-copy-send"));

  auto params = QueryMigrateParameters(s);
  ASSERT_TRUE(params.ok());
  EXPECT_EQ(params->downtime_limit, 300);
  EXPECT_EQ(params->max_bandwidth, 134217728);
  EXPECT_EQ(params->cpu_throttle_initial, 20);
  EXPECT_EQ(params->cpu_throttle_increment, 10);
  EXPECT_EQ(params->cpu_throttle_tailslow, false);
  EXPECT_EQ(params->xbzrle_cache_size, 67108864);
  EXPECT_EQ(params->multifd_compression, "none");
  EXPECT_TRUE(params->others.count("announce-initial"));  // kept, not dropped

  auto info = QueryMigrate(s);
  ASSERT_TRUE(info.ok());
  EXPECT_FALSE(info->status.has_value());  // 7.2 says nothing before a migration
  EXPECT_FALSE(info->ram.has_value());

  // The recorded error reply: class and desc come through as values.
  Status st = MigrateStartPostcopy(s);
  EXPECT_EQ(st.code(), StatusCode::kCommandFailed);
  EXPECT_EQ(st.error_class(), "GenericError");
  EXPECT_NE(st.message().find("migrate-start-postcopy"), std::string::npos);
  EXPECT_TRUE(ReplayTransport::Finish(*r.state).ok()) << ReplayTransport::Finish(*r.state).ToString();
}

TEST(QmpSession, PrecopyWithInterleavedEvents) {
  Replayed r = Open("7.2/precopy.replies");
  ASSERT_TRUE(r.session.ok()) << r.session.status().ToString();
  Session& s = **r.session;
  ASSERT_TRUE(MigrateSetCapabilities(s, {{"events", true}}).ok());
  MigrationParameters p;
  p.max_bandwidth = 64 << 20;
  ASSERT_TRUE(MigrateSetParameters(s, p).ok());
  // The replay checks the URI verbatim; take it from the recording.
  std::string uri;
  for (const auto& e : r.state->entries) {
    if (e.json.GetString("execute") == "migrate") uri = *e.json.Get("arguments")->GetString("uri");
  }
  ASSERT_TRUE(Migrate(s, uri).ok());

  std::vector<std::string> statuses;
  std::vector<uint64_t> passes;
  std::optional<MigrationInfo> last;
  for (;;) {
    auto info = QueryMigrate(s);
    ASSERT_TRUE(info.ok()) << info.status().ToString();
    last = *info;
    if (info->status == "completed" || info->status == "failed") break;
    if (info->status == "setup") continue;  // the first sample, right after migrate
    EXPECT_EQ(info->status, "active");
    ASSERT_TRUE(info->ram.has_value());
    EXPECT_GT(*info->ram->total, 0u);
    EXPECT_TRUE(info->expected_downtime.has_value());
    if (info->ram->dirty_sync_count == 1u) {
      // In the bulk pass every page QEMU has not visited (sent, or found
      // zero) is what remains: the estimator tells a bulk pass cut short by
      // a sync from what remains and these counts (QmpBackend::Sample).
      const MigrationStats& ram = *info->ram;
      EXPECT_EQ((*ram.normal + *ram.duplicate) * *ram.page_size + *ram.remaining, *ram.total);
    }
  }
  ASSERT_TRUE(s.Poll().ok());
  while (s.HasEvents()) {
    Event e = s.TakeEvent();
    EXPECT_GT(e.timestamp_us, 0);
    if (e.name == "MIGRATION") statuses.push_back(*e.data.GetString("status"));
    if (e.name == "MIGRATION_PASS") passes.push_back(*e.data.GetUint("pass"));
  }
  EXPECT_EQ(last->status, "completed");
  ASSERT_TRUE(last->ram.has_value());
  EXPECT_TRUE(last->downtime.has_value());
  EXPECT_GT(*last->total_time, 0);
  EXPECT_GT(*last->ram->transferred, *last->ram->total / 2);
  EXPECT_EQ(last->ram->page_size, 4096u);
  EXPECT_TRUE(last->ram->downtime_bytes.has_value());  // a 7.0 field
  // The order QEMU 7.2 emits them in (reference/qemu-libvirt.md §1.6).
  ASSERT_GE(statuses.size(), 3u);
  EXPECT_EQ(statuses.front(), "setup");
  EXPECT_EQ(statuses[1], "active");
  EXPECT_EQ(statuses.back(), "completed");
  ASSERT_FALSE(passes.empty());
  for (size_t i = 0; i < passes.size(); i++) EXPECT_EQ(passes[i], i + 1);
  EXPECT_EQ(passes.back(), *last->ram->dirty_sync_count);
  EXPECT_TRUE(ReplayTransport::Finish(*r.state).ok());
}

TEST(QmpSession, EventsBeforeAndBetweenReplies) {
  Replayed r = Open("synthetic/event-before-reply.replies");
  ASSERT_TRUE(r.session.ok()) << r.session.status().ToString();
  Session& s = **r.session;
  ASSERT_TRUE(s.HasEvents());  // RESUME came before the qmp_capabilities reply
  EXPECT_EQ(s.TakeEvent().name, "RESUME");
  auto rs = QueryStatus(s);
  ASSERT_TRUE(rs.ok()) << rs.status().ToString();
  EXPECT_TRUE(rs->running);
  ASSERT_TRUE(s.HasEvents());
  Event e = s.TakeEvent();
  EXPECT_EQ(e.name, "MIGRATION");
  EXPECT_EQ(e.data.GetString("status"), "setup");
  EXPECT_EQ(e.timestamp_us, 1795349001000002);
  EXPECT_EQ(s.TakeEvent().name, "MIGRATION_PASS");
  ASSERT_TRUE(s.Poll().ok());  // the STOP after the last reply (maybe read already)
  ASSERT_TRUE(s.HasEvents());
  EXPECT_EQ(s.TakeEvent().name, "STOP");
  EXPECT_TRUE(ReplayTransport::Finish(*r.state).ok());
}

TEST(QmpSession, MalformedJsonIsAProtocolError) {
  Replayed r = Open("synthetic/malformed.replies");
  ASSERT_TRUE(r.session.ok());
  auto info = QueryMigrate(**r.session);
  EXPECT_EQ(info.status().code(), StatusCode::kProtocolError);
  EXPECT_NE(info.status().message().find("malformed JSON"), std::string::npos) << info.status().ToString();
  // The session stays broken, with the same error, instead of guessing.
  EXPECT_EQ(QueryMigrate(**r.session).status().code(), StatusCode::kProtocolError);
}

TEST(QmpSession, TruncatedMessage) {
  Replayed r = Open("synthetic/truncated.replies");
  ASSERT_TRUE(r.session.ok());
  auto info = QueryMigrate(**r.session);
  EXPECT_EQ(info.status().code(), StatusCode::kClosed);
  EXPECT_NE(info.status().message().find("truncated message"), std::string::npos) << info.status().ToString();
}

TEST(QmpSession, OversizedMessageHitsTheBound) {
  Session::Options small;
  small.max_message_bytes = 512;  // query-migrate-capabilities' reply is larger
  Replayed r = Open("7.2/handshake.replies", small);
  ASSERT_TRUE(r.session.ok()) << r.session.status().ToString();
  ASSERT_TRUE(QueryVersion(**r.session).ok());
  ASSERT_TRUE(QueryStatus(**r.session).ok());
  auto caps = QueryMigrateCapabilities(**r.session);
  EXPECT_EQ(caps.status().code(), StatusCode::kProtocolError);
  EXPECT_NE(caps.status().message().find("message too large"), std::string::npos) << caps.status().ToString();
}

TEST(QmpSession, SocketClosedMidCommand) {
  Replayed r = Open("synthetic/closed-mid-command.replies");
  ASSERT_TRUE(r.session.ok());
  auto info = QueryMigrate(**r.session);
  EXPECT_EQ(info.status().code(), StatusCode::kClosed);
  EXPECT_NE(info.status().message().find("query-migrate"), std::string::npos);
  EXPECT_NE(info.status().message().find("QEMU closed the QMP connection"), std::string::npos);
  EXPECT_FALSE((*r.session)->broken().ok());
}

TEST(QmpSession, NoReplyIsATimeout) {
  Session::Options quick;
  quick.command_timeout = Millis(50);
  Replayed r = Open("synthetic/no-reply.replies", quick);
  ASSERT_TRUE(r.session.ok());
  auto info = QueryMigrate(**r.session);
  EXPECT_EQ(info.status().code(), StatusCode::kTimeout);
  EXPECT_NE(info.status().message().find("no reply"), std::string::npos);
}

TEST(QmpSession, NotQmpAtAll) {
  Replayed a = Open("synthetic/not-qmp.replies");
  EXPECT_EQ(a.session.status().code(), StatusCode::kProtocolError);
  EXPECT_NE(a.session.status().message().find("not a QMP socket"), std::string::npos);
  Replayed b = Open("synthetic/garbage.replies");
  EXPECT_EQ(b.session.status().code(), StatusCode::kProtocolError) << b.session.status().ToString();
}

TEST(QmpReplay, UnexpectedAndMissingCommandsFail) {
  Replayed r = Open("7.2/handshake.replies");
  ASSERT_TRUE(r.session.ok());
  // The recording's next command is query-version, not query-migrate.
  auto info = QueryMigrate(**r.session);
  EXPECT_FALSE(info.ok());
  Status fin = ReplayTransport::Finish(*r.state);
  EXPECT_EQ(fin.code(), StatusCode::kProtocolError);
  EXPECT_NE(fin.message().find("expected command 'query-version', got 'query-migrate'"), std::string::npos)
      << fin.ToString();

  Replayed m = Open("7.2/handshake.replies");
  ASSERT_TRUE(m.session.ok());
  ASSERT_TRUE(QueryVersion(**m.session).ok());
  Status missing = ReplayTransport::Finish(*m.state);
  EXPECT_NE(missing.message().find("missing command 'query-status'"), std::string::npos) << missing.ToString();
}

TEST(QmpReplay, ArgumentsAreComparedExactly) {
  Replayed r = Open("7.2/precopy.replies");
  ASSERT_TRUE(r.session.ok());
  Status st = MigrateSetCapabilities(**r.session, {{"events", false}});
  EXPECT_FALSE(st.ok());
  EXPECT_NE(ReplayTransport::Finish(*r.state).message().find("arguments differ"), std::string::npos);
}

// The real socket transport: a peer that greets, then never answers, then
// closes. Execute must come back on time with a Timeout, then Closed.
TEST(QmpUnixSocket, TimeoutAndCloseOnARealSocket) {
  vc::testing::TempDir dir("qmp");
  std::string path = dir.File("fake.sock");
  UniqueFd listener(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path.c_str());
  ASSERT_EQ(::bind(listener.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::listen(listener.get(), 1), 0);
  std::thread peer([&] {
    UniqueFd c(::accept(listener.get(), nullptr, nullptr));
    std::string greet = R"({"QMP": {"version": {"qemu": {"micro": 0, "minor": 2, "major": 7}, "package": ""}, "capabilities": []}})"
                        "\r\n";
    (void)!::write(c.get(), greet.data(), greet.size());
    char buf[4096];
    ssize_t n = ::read(c.get(), buf, sizeof buf);  // qmp_capabilities
    (void)n;
    std::string ok = "{\"return\": {}, \"id\": \"vc-1\"}\r\n";
    (void)!::write(c.get(), ok.data(), ok.size());
    n = ::read(c.get(), buf, sizeof buf);  // the command we never answer
    std::this_thread::sleep_for(Millis(400));
  });
  auto t = ConnectUnixSocket(path);
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  Session::Options o;
  o.command_timeout = Millis(150);
  auto s = Session::Connect(std::move(*t), o);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  auto start = Clock::now();
  auto info = QueryMigrate(**s);
  EXPECT_EQ(info.status().code(), StatusCode::kTimeout);
  EXPECT_LT(SecondsBetween(start, Clock::now()), 2.0);
  peer.join();  // the peer closes its end
  auto again = (*s)->Execute("query-status", Json(), Millis(2000));
  EXPECT_EQ(again.status().code(), StatusCode::kClosed) << again.status().ToString();
}

TEST(QmpUnixSocket, NoSuchSocket) {
  auto t = ConnectUnixSocket("/nonexistent/vc-qmp.sock");
  EXPECT_EQ(t.status().code(), StatusCode::kIoError);
  EXPECT_NE(t.status().message().find("/nonexistent/vc-qmp.sock"), std::string::npos);
}

}  // namespace
}  // namespace vc::qmp
