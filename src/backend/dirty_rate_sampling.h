// DirtyRateSampling: the guest's dirty rate measured once in a migration's
// bulk pass, apart from the migration's own dirty log (QMP calc-dirty-rate,
// QEMU 5.2+). Both backends use it: QmpBackend over its session, the libvirt
// one over QMP passthrough, where the policy allows that (libvirt's own
// virDomainStartDirtyRateCalc needs a job an outgoing migration forbids).
// Always QEMU's default mode, page sampling: it hashes a sample of guest
// pages and touches no dirty log, where the dirty-ring and dirty-bitmap
// modes would contend with the migration's.
#pragma once

#include <functional>
#include <string_view>

#include "src/backend/migration_backend.h"
#include "src/base/json.h"
#include "src/base/status.h"

namespace vc {

class DirtyRateSampling {
 public:
  /// Runs one QMP command and gives its "return" member.
  using Qmp = std::function<Result<Json>(std::string_view command, const Json& arguments)>;

  /// Seconds calc-dirty-rate measures: long enough for its page sampling
  /// (512 pages per GiB) to see a few percent of RAM dirtied, short against
  /// a bulk pass worth judging.
  static constexpr int kSeconds = 2;
  /// Pages to sample in all, at least: a guest rewriting a few percent of
  /// its RAM over kSeconds changes that share of them, and QEMU's default
  /// of 512 per GiB sees about 20 change in a 1 GiB guest (+-22%, which
  /// decides whether a throttle comes at the first sync or passes later).
  static constexpr int64_t kPagesInAll = 4096;
  /// QEMU's default sample-pages per GiB, and its most (6.1+).
  static constexpr int64_t kDefaultPagesPerGiB = 512, kMaxPagesPerGiB = 4096;

  /// The sample-pages per GiB for a guest of \a ram bytes: kPagesInAll
  /// over its size, never below QEMU's default nor above its maximum.
  static int64_t PagesPerGiB(uint64_t ram);

  /// Whether QEMU takes sample-pages (6.1+); before, its default is used.
  void set_takes_sample_pages(bool takes) { takes_sample_pages_ = takes; }

  /// Advances with \a s, a sample of the migration just read, and sets its
  /// sampled_dirty_rate (0 until measured). Starts the measurement once,
  /// at the bulk pass's first sample (sampling PagesPerGiB(s->ram_total)
  /// pages per GiB where QEMU takes that): the sooner the rate is known, the
  /// sooner a decision in the bulk pass (EarlyPostcopy=) gains its seconds,
  /// and the guest's rate does not depend on the migration's progress. A
  /// new migration (status none or setup) samples anew. A refused command
  /// (QEMU before 5.2, another measurement running, passthrough refused)
  /// leaves the rate unmeasured for this migration; nothing else is ever
  /// sent, and nothing at all once the migration is past "active"
  /// (post-copy, its end). calc-dirty-rate changes no migration state, only
  /// what query-dirty-rate shows.
  void Update(MigrationSample* s, const Qmp& qmp);

 private:
  enum class Step { kNotYet, kMeasuring, kDone };
  Step step_ = Step::kNotYet;
  bool takes_sample_pages_ = false;
  double rate_ = 0;  // bytes/s
};

}  // namespace vc
