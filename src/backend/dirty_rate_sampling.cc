#include "src/backend/dirty_rate_sampling.h"

#include <algorithm>
#include <cmath>

#include "qmp/commands.h"

namespace vc {

int64_t DirtyRateSampling::PagesPerGiB(uint64_t ram) {
  if (ram == 0) return kDefaultPagesPerGiB;
  const double gib = static_cast<double>(ram) / static_cast<double>(1ull << 30);
  const auto pages = static_cast<int64_t>(std::ceil(static_cast<double>(kPagesInAll) / gib));
  return std::clamp(pages, kDefaultPagesPerGiB, kMaxPagesPerGiB);
}

void DirtyRateSampling::Update(MigrationSample* s, const Qmp& qmp) {
  if (s->status == "none" || s->status == "setup") {
    step_ = Step::kNotYet;
    rate_ = 0;
  }
  switch (step_) {
    case Step::kNotYet:
      if (s->status == "active" && s->pass == 1) {
        Json arguments = Json::Object().Set("calc-time", Json::Int(kSeconds));
        const int64_t pages = PagesPerGiB(s->ram_total);
        if (takes_sample_pages_ && pages != kDefaultPagesPerGiB) arguments.Set("sample-pages", Json::Int(pages));
        Result<Json> r = qmp("calc-dirty-rate", arguments);
        step_ = r.ok() ? Step::kMeasuring : Step::kDone;
      }
      break;
    case Step::kMeasuring: {
      if (s->status != "active") {
        // Past pre-copy (post-copy, the switch-over, the end) the rate no
        // longer serves, and the VM may be gone: nothing more is asked.
        step_ = Step::kDone;
        break;
      }
      Result<Json> r = qmp("query-dirty-rate", Json());
      qmp::DirtyRateInfo info = r.ok() ? qmp::ParseDirtyRateInfo(*r) : qmp::DirtyRateInfo{};
      if (!r.ok() || info.status == "unstarted") {
        step_ = Step::kDone;
      } else if (info.status == "measured") {
        step_ = Step::kDone;
        rate_ = static_cast<double>(std::max<int64_t>(0, info.mib_per_s)) * (1 << 20);
      }
      break;
    }
    case Step::kDone:
      break;
  }
  s->sampled_dirty_rate = rate_;
}

}  // namespace vc
