#include "src/control/migration_progress.h"

#include <algorithm>

namespace vc {

MigrationProgress::MigrationProgress(const MigrationSample& first) : last_(first), last_pass_(first.pass) {}

bool MigrationProgress::Observe(const MigrationSample& s, bool pass_event) {
  const bool after_sync = pass_event || s.pass != last_pass_;
  last_pass_ = s.pass;
  if (s.in_postcopy()) saw_postcopy_ = true;
  if (s.running()) last_running_ = s;
  if (s.running() && s.ram_remaining > 0) last_before_copy_ = s;
  if (s.running() && after_sync && s.ram_remaining > 0) last_sync_ = s;
  last_ = s;
  return after_sync;
}

MigrationOutcome MigrationProgress::OutcomeOf(const MigrationSample& end, bool aborted_by_us) const {
  if (end.status == "completed") {
    return saw_postcopy_ ? MigrationOutcome::kCompletedPostcopy : MigrationOutcome::kCompleted;
  }
  // Once we aborted it, it ended because we did, however QEMU or libvirt
  // words the end (a cancel over a dead link can come back "failed").
  if (aborted_by_us) return MigrationOutcome::kAborted;
  return end.status == "cancelled" ? MigrationOutcome::kCancelled : MigrationOutcome::kFailed;
}

const MigrationSample& MigrationProgress::StatisticsOf(const MigrationSample& end) const {
  return end.status != "completed" && end.pass == 0 && last_running_ ? *last_running_ : end;
}

bool MigrationProgress::CopyBeganAtLastSync(const MigrationSample& end) const {
  return last_sync_ && end.pass <= last_sync_->pass + 1;
}

std::optional<uint64_t> MigrationProgress::CopyBytesSinceLastSync(const MigrationSample& end,
                                                                  std::optional<uint64_t> max_bandwidth) const {
  // QEMU switches over right after a sync and syncs once more on stopping
  // the guest. A sample taken after either (the pass before the end's, or
  // the end's own) knows what the final copy had to send.
  if (!last_sync_ || end.ram_transferred <= last_sync_->ram_transferred) return std::nullopt;
  const uint64_t since_sync = end.ram_transferred - last_sync_->ram_transferred;
  if (CopyBeganAtLastSync(end)) return std::min(last_sync_->ram_remaining, since_sync);
  // Short passes ran between the last sync seen and the copy (near the end
  // they come every few ms). They sent at most max-bandwidth over the time
  // they had, plus one of QEMU's 100 ms rate-limit slices: the rest is the
  // copy at least, so its speed errs slow.
  constexpr int64_t kRateLimitSliceMs = 100;  // QEMU's max-bandwidth accounting period
  const int64_t passes_ms = end.total_time_ms - last_sync_->total_time_ms - *end.downtime_ms + kRateLimitSliceMs;
  if (!max_bandwidth || *max_bandwidth == 0 || passes_ms < 0) return std::nullopt;
  const double passes_bytes = static_cast<double>(*max_bandwidth) * static_cast<double>(passes_ms) / 1000;
  if (passes_bytes >= static_cast<double>(since_sync)) return std::nullopt;
  return since_sync - static_cast<uint64_t>(passes_bytes);
}

std::optional<uint64_t> MigrationProgress::NeverSentAtLeast(const MigrationSample& end,
                                                            const BackendFacts& facts) const {
  // A copy from inside the bulk pass, after a sync no sample saw (QEMU
  // syncs once what remains fits the limit, and stops the guest at once):
  // of the bulk pages unsent at the last sample, only those QEMU visited
  // before the copy were not in it. All it visited since, less the copy's
  // own pages, bounds them from above; downtime-bytes bounds the copy's
  // pages from below (4096 of a whole page's 4104 bytes with its header;
  // a zero page counts 9 bytes for its 4096; kHeaderSlack for block names
  // and end markers). Where pages go by other ways QEMU counts apart
  // (xbzrle, compression, multifd), or the capabilities are not known,
  // nothing is said. A lower bound files a copy of pages never sent with
  // the re-sent ones at worst, never the other way (SwitchoverCopy).
  constexpr double kPageShare = 4096.0 / 4104.0;
  constexpr double kHeaderSlack = 64 * 1024;
  if (!last_before_copy_ || last_before_copy_->bulk_unsent() == 0 || end.downtime_bytes == 0 || end.ram_visited == 0) {
    return std::nullopt;
  }
  if (facts.capabilities.empty() || facts.CapabilityOn("xbzrle") || facts.CapabilityOn("compress") ||
      facts.CapabilityOn("multifd")) {
    return std::nullopt;
  }
  const double copy_pages = std::max(0.0, (static_cast<double>(end.downtime_bytes) - kHeaderSlack) * kPageShare);
  const double visited_between = static_cast<double>(end.ram_visited) - copy_pages -
                                 static_cast<double>(last_before_copy_->ram_visited);
  const double at_least = static_cast<double>(last_before_copy_->bulk_unsent()) - std::max(0.0, visited_between);
  if (at_least <= 0) return std::nullopt;
  return std::min(end.downtime_bytes, static_cast<uint64_t>(at_least));
}

std::optional<SwitchoverCopy> MigrationProgress::WitnessSwitchover(const MigrationSample& end,
                                                                   std::optional<uint64_t> max_bandwidth,
                                                                   const BackendFacts& facts) const {
  if (saw_postcopy_ || !end.downtime_ms) return std::nullopt;
  // QEMU >= 7.0 counts what it sent with the guest stopped: the copy
  // itself, even when no sample saw a sync before it (a switch-over in the
  // bulk's last 100 ms).
  const std::optional<uint64_t> bytes =
      end.downtime_bytes > 0 ? std::optional<uint64_t>(end.downtime_bytes) : CopyBytesSinceLastSync(end, max_bandwidth);
  if (!bytes) return std::nullopt;
  SwitchoverCopy copy;
  copy.bytes = *bytes;
  // QEMU's downtime is the difference of two whole-ms clock readings: the
  // copy may have taken up to 1 ms more, and is taken at that (a fast 9 MiB
  // copy reads 4 ms, where 5 ms is 20% slower).
  copy.downtime_ms = *end.downtime_ms + 1;
  // The bulk pages still unsent at the sync the copy began from were in
  // what remained, so the copy sent them (never_sent: why that matters).
  // After passes no sample saw, those may have sent them instead: then
  // QEMU's page counts tell at least how many were left (or nothing, which
  // files the copy with the re-sent ones, where a copy taken for slower
  // than it was only makes predictions err long). Unless none was left at
  // that sync: the bulk was done, and no later copy has any.
  if (last_sync_ && last_sync_->ram_visited > 0 && (CopyBeganAtLastSync(end) || last_sync_->bulk_unsent() == 0)) {
    copy.never_sent = std::min(copy.bytes, last_sync_->bulk_unsent());
  } else {
    copy.never_sent = NeverSentAtLeast(end, facts);
  }
  return copy;
}

}  // namespace vc
