// Host metrics: the host's migrations in Prometheus' text format, for
// node_exporter's textfile collector (a .prom file in its directory,
// replaced atomically). What must outlive every process (outcomes by
// reason code, actions by kind, the downtime and total-time histograms,
// bytes sent, time under a throttle) is kept as counters in the state
// directory, added to under a lock (the directory's own) by each follower as
// its migration ends;
// the gauge of migrations in flight is read from the live records.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "src/base/status.h"
#include "src/state/migration_record.h"
#include "src/state/paths.h"
#include "src/state/summary.h"

namespace vc {

/// Every series by its name and labels as the text format spells it,
/// "virt_converge_migrations_total{outcome=\"completed\",code=\"...\"}".
using MetricSeries = std::map<std::string, double>;

/// Adds the end of one migration (\a end, with its actions and samples) to
/// \a series.
void CountMigrationEnd(const MigrationSummary& end, MetricSeries* series);

/// The text a collector reads: \a counters and the migrations in flight
/// among \a live, each family with its HELP and TYPE.
std::string MetricsText(const MetricSeries& counters, const std::vector<MigrationRecord>& live);

/// Counts \a end into the host's counters and rewrites the metrics file.
/// Nothing where \a paths has no metrics directory or no state directory.
Status RecordMigrationEnd(const StatePaths& paths, const MigrationSummary& end);

/// Rewrites the metrics file (the migrations in flight changed).
Status WriteHostMetrics(const StatePaths& paths);

}  // namespace vc
