#include "src/backend/qmp_backend.h"

#include <algorithm>

#include "qmp/commands.h"
#include "src/backend/qmp_tuning.h"

namespace vc {

Result<std::unique_ptr<QmpBackend>> QmpBackend::Connect(const std::string& path, Options options) {
  Result<std::unique_ptr<qmp::Transport>> t = qmp::ConnectUnixSocket(path);
  if (!t.ok()) return t.status();
  Result<std::unique_ptr<qmp::Session>> s = qmp::Session::Connect(std::move(*t));
  if (!s.ok()) return s.status();
  return Open(std::move(*s), options);
}

Result<std::unique_ptr<QmpBackend>> QmpBackend::Open(std::unique_ptr<qmp::Session> session,
                                                     Options options) {
  std::unique_ptr<QmpBackend> b(new QmpBackend(std::move(session), options));
  Result<std::map<std::string, bool>> caps = qmp::QueryMigrateCapabilities(*b->session_);
  if (!caps.ok()) return caps.status();
  b->events_ = caps->count("events") && caps->at("events");
  if (!b->events_ && options.enable_events) {
    Result<qmp::MigrationInfo> info = qmp::QueryMigrate(*b->session_);
    if (!info.ok()) return info.status();
    // Capabilities cannot change while a migration runs; then we poll.
    if (!qmp::IsMigrationRunning(info->status.value_or("none"))) {
      VC_RETURN_IF_ERROR(qmp::MigrateSetCapabilities(*b->session_, {{"events", true}}));
      b->events_ = true;
    }
  }
  return b;
}

std::string QmpBackend::Describe() const { return "QEMU at " + session_->Describe(); }

Result<MigrationSample> QmpBackend::Sample() {
  Result<qmp::MigrationInfo> r = qmp::QueryMigrate(*session_);
  if (!r.ok()) return r.status();
  const qmp::MigrationInfo& info = *r;
  MigrationSample s;
  s.at = Clock::now();
  s.status = info.status.value_or("none");
  s.total_time_ms = info.total_time.value_or(0);
  if (info.ram) {
    const qmp::MigrationStats& ram = *info.ram;
    s.ram_total = ram.total.value_or(0);
    s.ram_transferred = ram.transferred.value_or(0);
    s.ram_remaining = ram.remaining.value_or(0);
    if (ram.normal && ram.duplicate) {
      s.ram_visited = (*ram.normal + *ram.duplicate) * ram.page_size.value_or(4096);
    }
    s.bandwidth = ram.mbps.value_or(0) * 1e6 / 8;
    s.dirty_rate = static_cast<double>(ram.dirty_pages_rate.value_or(0)) *
                   static_cast<double>(ram.page_size.value_or(4096));
    s.pass = ram.dirty_sync_count.value_or(0);
    s.postcopy_requests = ram.postcopy_requests.value_or(0);
    s.downtime_bytes = ram.downtime_bytes.value_or(0);
  }
  s.expected_downtime_ms = info.expected_downtime.value_or(0);
  s.downtime_ms = info.downtime;
  s.throttle_percent = static_cast<int>(info.cpu_throttle_percentage.value_or(0));
  s.error = info.error_desc.value_or("");
  if (!destination_qmp_.empty()) JudgeByTheDestination(&s);
  if (sample_dirty_rate_) {
    dirty_rate_.Update(&s, [this](std::string_view command, const Json& arguments) {
      return session_->Execute(command, arguments);
    });
  }
  return s;
}

namespace {

/// A session over \a t with the destination QEMU, answering within a
/// second or not at all: it is asked on the follower's own tick.
Result<std::unique_ptr<qmp::Session>> AskDestination(std::unique_ptr<qmp::Transport> t) {
  qmp::Session::Options quick;
  quick.greeting_timeout = Millis(1000);
  quick.command_timeout = Millis(1000);
  return qmp::Session::Connect(std::move(t), quick);
}

}  // namespace

void QmpBackend::JudgeByTheDestination(MigrationSample* s) {
  if (destination_judged_) return;
  if (s->in_postcopy()) {
    // The destination runs the guest already; what becomes of it after is
    // not this judgement's.
    destination_judged_ = true;
    return;
  }
  if (qmp::IsMigrationRunning(s->status)) {
    if (destination_asked_) return;
    destination_asked_ = true;
    Result<std::unique_ptr<qmp::Transport>> t = qmp::ConnectUnixSocket(destination_qmp_);
    if (!t.ok()) return;
    Result<std::unique_ptr<qmp::Session>> dest = AskDestination(std::move(*t));
    if (!dest.ok()) return;
    Result<qmp::RunState> run = qmp::QueryStatus(**dest);
    destination_seen_waiting_ = run.ok() && run->status == "inmigrate";
    return;
  }
  if (s->status != "completed") return;
  const std::string where = "the destination QEMU at " + destination_qmp_;
  auto failed = [&](const std::string& why) {
    destination_judged_ = true;
    s->status = "failed";
    s->destination_failed = true;
    s->error = "the source completed but " + where + " " + why +
               "; the guest stays stopped here: nothing here tells whether the destination ran it first";
  };
  Result<std::unique_ptr<qmp::Transport>> t = qmp::ConnectUnixSocket(destination_qmp_);
  if (!t.ok()) {
    // Nobody listens there any more: the QEMU that answered is gone (QEMU
    // exits when it cannot load an incoming migration).
    if (destination_seen_waiting_) return failed("is gone (" + t.status().ToString() + "), most likely having failed to load the guest");
    destination_judged_ = true;
    return;
  }
  Result<std::unique_ptr<qmp::Session>> dest = AskDestination(std::move(*t));
  Result<qmp::MigrationInfo> incoming = dest.ok() ? qmp::QueryMigrate(**dest) : Result<qmp::MigrationInfo>(dest.status());
  std::string status = "active";
  if (incoming.ok()) {
    status = incoming->status.value_or("none");
  } else if (++destination_unanswered_ >= kDestinationTries) {
    destination_judged_ = true;  // it does not answer: QEMU's word stands
    return;
  }
  if (status == "failed" || status == "cancelled") {
    return failed("did not load the guest (its incoming migration " + status +
                  (incoming->error_desc ? ": " + *incoming->error_desc : std::string()) + ")");
  }
  if (status == "completed" || status == "none") {
    destination_judged_ = true;
    return;
  }
  // Still loading the last bytes, or busy with them (QMP waits while QEMU
  // loads; a QEMU that fails closes the connection, and refuses the next):
  // not completed yet, nothing to decide. Asked again at the next sample.
  s->status = "active";
  s->source_completed = true;
}

Result<BackendFacts> QmpBackend::Facts() {
  Result<std::map<std::string, bool>> caps = qmp::QueryMigrateCapabilities(*session_);
  if (!caps.ok()) return caps.status();
  auto on = [&](const char* name) { return caps->count(name) && caps->at(name); };
  BackendFacts f;
  f.hypervisor = "QEMU " + session_->version().ToString();
  f.qemu_major = session_->version().major;
  f.qemu_minor = session_->version().minor;
  f.capabilities = *caps;
  f.postcopy_ram = on("postcopy-ram");
  f.auto_converge = on("auto-converge");
  f.events = on("events");
  // query-name answers {} when QEMU runs without -name.
  Result<Json> name = session_->Execute("query-name");
  if (name.ok()) f.vm_name = name->GetString("name").value_or("");
  Result<Json> memory = session_->Execute("query-memory-size-summary");
  if (memory.ok()) f.guest_memory = memory->GetUint("base-memory").value_or(0);
  return f;
}

Result<std::string> QmpBackend::Uuid() {
  Result<Json> reply = session_->Execute("query-uuid");
  if (!reply.ok()) return reply.status();
  std::string uuid = reply->GetString("UUID").value_or("");
  if (uuid.find_first_not_of("0-") == std::string::npos) return std::string();  // QEMU's all-zero "none"
  return uuid;
}

Result<MigrationTuning> QmpBackend::Tuning() {
  Result<qmp::MigrationParameters> p = qmp::QueryMigrateParameters(*session_);
  if (!p.ok()) return p.status();
  return TuningOf(*p);
}

Status QmpBackend::SetTuning(const MigrationTuning& changes) {
  return qmp::MigrateSetParameters(*session_, ParametersOf(changes));
}

Status QmpBackend::StartPostcopy() { return qmp::MigrateStartPostcopy(*session_); }
Status QmpBackend::Cancel() { return qmp::MigrateCancel(*session_); }
Status QmpBackend::PauseGuest() { return qmp::Stop(*session_); }
Status QmpBackend::ResumeGuest() {
  // QEMU itself would run a source that completed its migration (run state
  // postmigrate) or is copying its last pages (finish-migrate).
  Result<qmp::RunState> state = qmp::QueryStatus(*session_);
  if (!state.ok()) return state.status().WithContext("resuming the guest");
  if (state->status == "postmigrate" || state->status == "finish-migrate") {
    return Status::NotSupported("resuming the guest", "not possible: the migration has switched over (run state " +
                                                          state->status + "); the guest belongs to the destination");
  }
  return qmp::Cont(*session_);
}

Status QmpBackend::CheckGuestRunsOnDestination() const {
  if (destination_qmp_.empty()) {
    return Status::NotSupported("pause-guest",
                                "not possible here because the destination's QMP socket is not known: QEMU keeps "
                                "the guest paused there after the switch-over, and nobody would start it "
                                "(give --dest-qmp)");
  }
  // Whoever is to start it there must be able to: the socket answers, and
  // it is the QEMU waiting for this migration.
  auto refuse = [&](const std::string& why) {
    return Status::NotSupported("pause-guest", "not possible here because the destination's QMP socket " +
                                                   destination_qmp_ + " " + why +
                                                   ": the guest would stay paused there after the switch-over");
  };
  Result<std::unique_ptr<qmp::Transport>> t = qmp::ConnectUnixSocket(destination_qmp_);
  if (!t.ok()) return refuse("cannot be reached (" + t.status().ToString() + ")");
  Result<std::unique_ptr<qmp::Session>> dest = qmp::Session::Connect(std::move(*t));
  if (!dest.ok()) return refuse("does not answer (" + dest.status().ToString() + ")");
  Result<qmp::RunState> run = qmp::QueryStatus(**dest);
  if (!run.ok()) return refuse("does not answer (" + run.status().ToString() + ")");
  if (run->status != "inmigrate") return refuse("is a QEMU that is not waiting for a migration (" + run->status + ")");
  return Status::Ok();
}

Status QmpBackend::StartGuestOnDestination() {
  if (destination_qmp_.empty()) return CheckGuestRunsOnDestination();
  const std::string where = "the destination " + destination_qmp_;
  if (!destination_) {
    Result<std::unique_ptr<qmp::Transport>> t = qmp::ConnectUnixSocket(destination_qmp_);
    if (!t.ok()) return t.status().WithContext(where);
    Result<std::unique_ptr<qmp::Session>> dest = qmp::Session::Connect(std::move(*t));
    if (!dest.ok()) return dest.status().WithContext(where);
    destination_ = std::move(*dest);
  }
  // The source completes once it has sent the last bytes; the destination
  // is done loading them a moment later and refuses `cont` until then: one
  // look, and "not yet" (kUnavailable) for the caller to ask again.
  auto failed = [&](const Status& st) {
    destination_.reset();
    return st.WithContext(where);
  };
  Result<qmp::MigrationInfo> info = qmp::QueryMigrate(*destination_);
  if (!info.ok()) return failed(info.status());
  const std::string status = info->status.value_or("none");
  if (status == "failed" || status == "cancelled") {
    destination_.reset();
    return Status::CommandFailed(where, "not loaded", "its incoming migration ended " + status);
  }
  if (status != "completed") return Status::Unavailable(where, "its incoming migration is still " + status);
  Result<qmp::RunState> run = qmp::QueryStatus(*destination_);
  if (!run.ok()) return failed(run.status());
  Status started = run->status == "running" ? Status::Ok() : qmp::Cont(*destination_);
  destination_.reset();  // done with it, either way
  return started;
}

Result<std::vector<DiskCopy>> QmpBackend::DiskCopies(const std::vector<std::string>& /*disks*/) {
  Result<std::vector<qmp::BlockJob>> jobs = qmp::QueryBlockJobs(*session_);
  if (!jobs.ok()) return jobs.status();
  std::vector<DiskCopy> copies;
  for (const qmp::BlockJob& j : *jobs) {
    if (j.type == "mirror") copies.push_back({j.device, j.offset, j.len, j.ready});
  }
  return copies;
}

Status QmpBackend::ResumePostcopy(const std::string& uri, const std::string& /*data_uri*/) {
  Result<qmp::MigrationInfo> info = qmp::QueryMigrate(*session_);
  if (!info.ok()) return info.status();
  if (info->status.value_or("none") != "postcopy-paused") {
    return Status::InvalidArgument("resume", "the migration is " + info->status.value_or("none") +
                                                 ", not postcopy-paused: there is nothing to recover");
  }
  return qmp::Migrate(*session_, uri, /*resume=*/true);
}

Status QmpBackend::PrepareIncoming(const MigrationStart& start) {
  std::map<std::string, bool> wanted;
  if (start.postcopy) wanted["postcopy-ram"] = true;
  if (start.multifd_channels > 0) wanted["multifd"] = true;
  if (start.postcopy && start.postcopy_preempt) wanted["postcopy-preempt"] = true;
  if (wanted.empty()) return Status::Ok();
  Result<std::map<std::string, bool>> known = qmp::QueryMigrateCapabilities(*session_);
  if (!known.ok()) return known.status();
  if (wanted.count("postcopy-preempt") && !known->count("postcopy-preempt")) {
    // Both sides or neither: a source with it would open a channel this
    // destination does not expect.
    return Status::NotSupported("postcopy-preempt", "not possible here because " + Describe() +
                                                        " has no such capability (QEMU 7.1 and later); both sides need "
                                                        "it (PostcopyPreempt=no migrates without it)");
  }
  // Only what is not on yet: QEMU 8.0 and later refuse any capability
  // change that leaves postcopy-preempt on once the destination listens.
  std::map<std::string, bool> caps;
  for (const auto& [name, on] : wanted) {
    if (!known->count(name) || known->at(name) != on) caps[name] = on;
  }
  if (!caps.empty()) {
    Status st = qmp::MigrateSetCapabilities(*session_, caps);
    if (!st.ok() && caps.count("postcopy-preempt")) {
      return st.WithContext("postcopy-preempt is taken only before the destination listens (migrate-incoming): turn it "
                            "on there first, or PostcopyPreempt=no");
    }
    if (!st.ok() && caps.count("multifd")) {
      return st.WithContext("multifd is taken only before the destination listens (migrate-incoming) on QEMU 8.0 and "
                            "later: turn it on there first, or MultifdChannels=0");
    }
    VC_RETURN_IF_ERROR(st);
  }
  if (start.multifd_channels > 0) return MatchMultifdParameters(start);
  return Status::Ok();
}

Status QmpBackend::MatchMultifdParameters(const MigrationStart& start) {
  // The destination takes the number of channels to accept and how to
  // decompress them from its own parameters: they must be the source's.
  // The level only matters where pages are compressed.
  Result<qmp::MigrationParameters> have = qmp::QueryMigrateParameters(*session_);
  if (!have.ok()) return have.status();
  const std::string compression = start.multifd_compression();
  qmp::MigrationParameters p;
  if (have->multifd_channels != start.multifd_channels) p.multifd_channels = start.multifd_channels;
  if (have->multifd_compression.value_or("none") != compression) {
    if (!have->multifd_compression) {
      return Status::NotSupported("multifd-compression", "not possible here because " + Describe() +
                                                             " has no multifd compression (QEMU 5.0 and later)");
    }
    p.multifd_compression = compression;
  }
  if (!p.multifd_channels && !p.multifd_compression) return Status::Ok();
  return qmp::MigrateSetParameters(*session_, p)
      .WithContext("setting multifd-channels " + std::to_string(start.multifd_channels) + " and multifd-compression " +
                   compression + " on the destination");
}

Status QmpBackend::ListenForRecovery(const std::string& uri) {
  Result<qmp::MigrationInfo> info = qmp::QueryMigrate(*session_);
  if (!info.ok()) return info.status();
  const std::string status = info->status.value_or("none");
  if (status == "postcopy-active") {
    // Its end of a connection the source already dropped: over a cut link
    // nothing told it, and TCP would take minutes to.
    VC_RETURN_IF_ERROR(qmp::MigratePause(*session_));
    return Status::Unavailable("migrate-recover", "not yet: the destination still held the broken connection; it drops it now");
  }
  if (status != "postcopy-paused") {
    return Status::InvalidArgument("migrate-recover", "the destination's migration is " + status +
                                                          ", not a broken post-copy: there is nothing to recover");
  }
  return qmp::MigrateRecover(*session_, uri);
}

Status QmpBackend::StartMigration(const MigrationStart& start,
                                  std::vector<std::string>* not_honoured) {
  Result<qmp::MigrationInfo> info = qmp::QueryMigrate(*session_);
  if (!info.ok()) return info.status();
  if (qmp::IsMigrationRunning(info->status.value_or("none"))) {
    return Status::InvalidArgument(Describe(), "a migration is already running (status " +
                                                   *info->status + ")");
  }
  Result<std::map<std::string, bool>> known = qmp::QueryMigrateCapabilities(*session_);
  if (!known.ok()) return known.status();
  // The capabilities to set (those this QEMU has), and their values before;
  // with \a dirty_limit, dirty-limit on in auto-converge's place (QEMU runs
  // one or the other).
  std::vector<std::string> unknown;
  // return-path on a connection both ways, as libvirt has it on every
  // migration it does not tunnel: the source completes (and QEMU's downtime
  // ends) once the destination has loaded the last byte, not once the
  // source has handed it to its socket; over a slow link the copy the
  // kernel still holds then crosses inside the figure the switch-over speed
  // is learned from. It changes nothing of what the guest lives.
  const bool both_ways = start.uri.rfind("tcp:", 0) == 0 || start.uri.rfind("unix:", 0) == 0 ||
                         start.uri.rfind("vsock:", 0) == 0;
  auto choose = [&](bool dirty_limit, std::map<std::string, bool>* caps, std::map<std::string, bool>* before) {
    std::map<std::string, bool> wanted{{"events", true},
                                       {"return-path", both_ways},
                                       {"postcopy-ram", start.postcopy},
                                       {"postcopy-preempt", start.postcopy && start.postcopy_preempt},
                                       {"auto-converge", start.auto_converge && !dirty_limit},
                                       {"xbzrle", start.compression == "xbzrle"},
                                       {"multifd", start.multifd_channels > 0}};
    if (known->count("dirty-limit")) wanted["dirty-limit"] = dirty_limit;
    caps->clear();
    before->clear();
    unknown.clear();
    for (const auto& [name, on] : wanted) {
      if (known->count(name)) {
        (*caps)[name] = on;
        // "events" stays on: it changes nothing in how QEMU migrates.
        if (known->at(name) != on && name != "events") (*before)[name] = known->at(name);
      } else if (on) {
        unknown.push_back(name + ": this QEMU has no such capability");
      }
    }
  };
  const std::string instead = start.auto_converge ? "auto-converge's throttle instead" : "migrating without it";
  const bool try_dirty_limit = start.dirty_limit && known->count("dirty-limit");
  if (start.dirty_limit && !try_dirty_limit) {
    not_honoured->push_back("DirtyLimit=yes: not possible here because " + Describe() +
                            " has no dirty-limit capability (QEMU 8.1 and later); " + instead);
  }
  std::map<std::string, bool> caps, before;
  choose(try_dirty_limit, &caps, &before);
  Result<MigrationTuning> prior = Tuning();
  if (!prior.ok()) return prior.status();
  Status set_caps = qmp::MigrateSetCapabilities(*session_, caps);
  if (!set_caps.ok() && try_dirty_limit) {
    // QEMU refuses it without KVM's dirty ring, and changes nothing then.
    not_honoured->push_back("DirtyLimit=yes: not possible here because QEMU refuses it (" + set_caps.message() + "); " +
                            instead);
    choose(false, &caps, &before);
    set_caps = qmp::MigrateSetCapabilities(*session_, caps);
  } else if (set_caps.ok() && try_dirty_limit && start.auto_converge) {
    not_honoured->push_back("AutoConverge=yes: dirty-limit throttles the writing vCPUs instead (QEMU runs one or the other)");
  }
  for (std::string& u : unknown) not_honoured->push_back(std::move(u));
  VC_RETURN_IF_ERROR(set_caps.WithContext("setting capabilities"));
  events_ = true;
  capabilities_before_start_ = before;
  // Whatever fails from here puts back what was set: nothing of a migration
  // that never started stays behind (the next attempt would take it for
  // QEMU's own values).
  auto put_back = [&](Status failed) {
    MigrationTuning back;
    bool any = false;
    const MigrationTuning set = StartTuning(start);
    MigrationTuning::ForEachField([&](auto MigrationTuning::*field, const char*) {
      if (set.*field && (*prior).*field) {
        back.*field = (*prior).*field;
        any = true;
      }
    });
    Status tuning = any ? SetTuning(back) : Status::Ok();
    Status capabilities = RestoreStartCapabilities();
    if (tuning.ok() && capabilities.ok()) return failed;
    return Status::Internal(failed.ToString(), "and putting back what it set failed: " +
                                                   (tuning.ok() ? capabilities : tuning).ToString());
  };

  qmp::MigrationParameters p = ParametersOf(StartTuning(start));
  if (start.postcopy_bandwidth) p.max_postcopy_bandwidth = static_cast<int64_t>(*start.postcopy_bandwidth);
  if (start.multifd_channels > 0) {
    p.multifd_channels = start.multifd_channels;
    if (start.multifd_compression() != "none") {
      p.multifd_compression = start.compression;
      (start.compression == "zlib" ? p.multifd_zlib_level : p.multifd_zstd_level) = start.compression_level;
    }
  }
  if (Status st = qmp::MigrateSetParameters(*session_, p); !st.ok()) return put_back(st.WithContext("setting parameters"));
  if (p.multifd_zlib_level || p.multifd_zstd_level) SayIfLevelIgnored(p, not_honoured);
  if (Status st = qmp::Migrate(*session_, start.uri); !st.ok()) return put_back(st);
  return Status::Ok();
}

void QmpBackend::SayIfLevelIgnored(const qmp::MigrationParameters& asked, std::vector<std::string>* not_honoured) {
  // QEMU 7.2 accepts the levels in migrate-set-parameters and keeps its
  // own (1): only reading them back tells.
  Result<qmp::MigrationParameters> now = qmp::QueryMigrateParameters(*session_);
  if (!now.ok()) return;
  const bool zlib = asked.multifd_zlib_level.has_value();
  const std::optional<int64_t> want = zlib ? asked.multifd_zlib_level : asked.multifd_zstd_level;
  const std::optional<int64_t> have = zlib ? now->multifd_zlib_level : now->multifd_zstd_level;
  if (have == want) return;
  not_honoured->push_back(std::string("CompressionLevel=") + std::to_string(*want) + ": " + Describe() + " took multifd-" +
                          (zlib ? "zlib" : "zstd") + "-level but keeps " +
                          (have ? std::to_string(*have) : std::string("its own")) +
                          " (this QEMU does not apply it); compressing at that level");
}

Status QmpBackend::RestoreStartCapabilities() {
  if (capabilities_before_start_.empty()) return Status::Ok();
  Status st = qmp::MigrateSetCapabilities(*session_, capabilities_before_start_);
  if (!st.ok()) return st.WithContext("putting the capabilities back");
  capabilities_before_start_.clear();
  return st;
}

Status QmpBackend::Poll(std::vector<BackendEvent>* events) {
  Status s = session_->Poll();
  while (session_->HasEvents()) {
    qmp::Event e = session_->TakeEvent();
    if (e.name == "MIGRATION") {
      events->push_back({BackendEvent::Kind::kStatus, e.data.GetString("status").value_or(""), 0});
    } else if (e.name == "MIGRATION_PASS") {
      events->push_back({BackendEvent::Kind::kPass, "", e.data.GetUint("pass").value_or(0)});
    } else if (e.name == "STOP") {
      events->push_back({BackendEvent::Kind::kGuestStopped, "", 0});
    } else if (e.name == "RESUME") {
      events->push_back({BackendEvent::Kind::kGuestResumed, "", 0});
    }
  }
  return s;
}

}  // namespace vc
