#include "src/attach/host_citizenship.h"

#include <sys/inotify.h>

#include <algorithm>

#include "src/base/units.h"
#include "src/domain/domain_xml.h"

namespace vc {

HostCitizenship::HostCitizenship(MigrationBackend& backend, Identity id, LiveView& view,
                                 std::function<const MigrationSample*()> last_sample, std::function<void()> changed)
    : backend_(backend),
      id_(std::move(id)),
      view_(view),
      last_sample_(std::move(last_sample)),
      changed_(std::move(changed)) {}

void HostCitizenship::HoldAdmission(AdmissionTicket ticket, std::vector<std::string> copied_disks) {
  admission_.emplace(std::move(ticket));
  copied_disks_ = std::move(copied_disks);
}

void HostCitizenship::Join(sd_event* e, const policy::Policy& p, const BackendFacts& facts, Controller* controller) {
  controller_ = controller;
  TakeShare(e, p);
  EnterAdmission(facts);
}

void HostCitizenship::TakeShare(sd_event* e, const policy::Policy& p) {
  if (id_.paths.run_dir().empty()) return;
  split_.budget = p.host_bandwidth.value;
  if (!split_.budget) return;
  split_.mode = p.bandwidth_split.value == policy::BandwidthSplit::kClosestFirst ? SplitMode::kClosestFirst
                : p.bandwidth_split.value == policy::BandwidthSplit::kStatic    ? SplitMode::kStatic
                                                                                : SplitMode::kEqual;
  split_.slots = static_cast<int>(p.cost_budget.value);
  // A policy that states this VM's own bandwidth pins it; the others share
  // what is left.
  const MigrationSample* last = last_sample_();
  ShareEntry entry{id_.migration_id, p.bandwidth.origin.is_default() ? 0 : p.bandwidth.value,
                   last ? last->ram_remaining : 0};
  shares_dir_ = id_.paths.SharesDir();
  Result<ShareHold> hold = ShareHold::Take(shares_dir_, entry);
  if (!hold.ok()) {
    // Without an entry the others do not count us: do not take a share.
    view_.Message("not sharing the host's bandwidth: " + hold.status().ToString());
    split_.budget = 0;
    return;
  }
  share_hold_.emplace(std::move(*hold));
  if (e) {
    // Entries come (create), go (delete), lose their holder (the last
    // close of a writable file — also when the kernel closes it for a
    // killed process) or say how much they have left (modify). The lock
    // goes a moment after that close: look again a little later rather
    // than at once.
    shares_watch_.Start(e, {shares_dir_}, IN_CREATE | IN_DELETE | IN_MOVED_TO | IN_CLOSE_WRITE | IN_MODIFY, 20000,
                        [this] { Resplit(); });
  }
  Resplit();
}

void HostCitizenship::Resplit() {
  const MigrationSample* last = last_sample_();
  if (!share_hold_ || !controller_ || !last || last->in_postcopy()) return;
  Result<std::vector<ShareEntry>> live = LiveShares(shares_dir_);
  if (!live.ok()) return;  // keep the last share; the next look may do better
  uint64_t share = ShareOf(*live, id_.migration_id, split_);
  if (share == 0 || share == share_bps_) return;
  // The action is stamped with the migration's time now, not at the last
  // pass (which may be long ago in the bulk pass).
  Result<MigrationSample> now = backend_.Sample();
  const MigrationSample s = now.ok() && now->running() ? *now : *last;
  share_bps_ = share;
  sharing_with_ = live->size() - 1;
  controller_->set_bandwidth_ceiling(share);
  std::string why = sharing_with_ == 0 ? "the only migration leaving this host: all of its "
                                       : "its " + std::string(SplitModeName(split_.mode)) + " share, with " +
                                             std::to_string(sharing_with_) + " other migration" +
                                             (sharing_with_ == 1 ? "" : "s") + " leaving this host, of its ";
  (void)controller_->Impose(s, {DecisionKind::kHostShare, "set-bandwidth", static_cast<int64_t>(share),
                                why + FormatRate(static_cast<double>(split_.budget)) +
                                    " budget ([Host] OutgoingBandwidth)"});
  changed_();
}

void HostCitizenship::SetRemaining(uint64_t remaining) {
  if (share_hold_ && split_.mode == SplitMode::kClosestFirst) (void)share_hold_->SetRemaining(remaining);
}

void HostCitizenship::EnterAdmission(const BackendFacts& facts) {
  if (admission_ || id_.paths.run_dir().empty() || id_.migration_id.empty() || id_.dry_run) return;
  if (!facts.domain_xml.empty()) {
    Result<DomainSpec> spec = ParseDomainXml(facts.domain_xml);
    if (spec.ok()) {
      for (const DomainSpec::Disk& d : spec->disks) {
        if (d.CopiedByStorageMigration() && !d.target.empty()) copied_disks_.push_back(d.target);
      }
    }
  }
  Result<std::vector<DiskCopy>> copies = backend_.DiskCopies(copied_disks_);
  AdmissionEntry entry;
  entry.id = id_.migration_id;
  entry.vm = facts.vm_name.empty() ? id_.migration_id : facts.vm_name;
  entry.peer = id_.peer;
  entry.running = true;
  if (copies.ok()) {
    for (const DiskCopy& c : *copies) entry.cost += c.ready ? 0 : 1;
  }
  Result<AdmissionTicket> t = AdmissionTicket::Enter(id_.paths.AdmissionDir(), entry);
  if (!t.ok()) {
    view_.Message("not counted in the host's cost budget: " + t.status().ToString());
    return;
  }
  admission_.emplace(std::move(*t));
}

void HostCitizenship::ReleaseCopiedDisks() {
  if (!admission_ || admission_->entry().cost <= 1) return;
  Result<std::vector<DiskCopy>> copies = backend_.DiskCopies(copied_disks_);
  if (!copies.ok()) return;  // asked again at the next tick
  bool changed = false;
  for (const DiskCopy& c : *copies) {
    if (!c.ready || std::find(disks_ready_.begin(), disks_ready_.end(), c.disk) != disks_ready_.end()) continue;
    disks_ready_.push_back(c.disk);
    changed = true;
    Status st = admission_->SetCost(admission_->entry().cost - 1);
    view_.Message("disk " + c.disk + " copied (" + FormatBytes(static_cast<double>(c.total)) +
                  ", mirror ready): this migration now costs " + std::to_string(admission_->entry().cost) +
                  " of the host's budget" + (st.ok() ? "" : " (could not say so: " + st.ToString() + ")"));
  }
  if (changed) changed_();
}

void HostCitizenship::Leave() {
  shares_watch_.Stop();
  share_hold_.reset();
  admission_.reset();
  controller_ = nullptr;
}

}  // namespace vc
