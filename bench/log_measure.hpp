#pragma once
/// Measurements of the event log for `sluice bench log` (issue 6):
///  - ingest_events_per_s by batch size: appends of `batch` events through the real journal
///    (actor front, group-commit writer, synced event_log write, world notification), one at a
///    time, each answered before the next;
///  - floor_events_per_s at the same batch size, same run: raw synced RocksDB WriteBatches of
///    the same bytes (event + state row per event), no sluice code in between;
///  - group commit: many appends of one event sent without waiting, so they queue behind the
///    synced write in flight; events/s and appends per WriteBatch;
///  - replay_events_per_s: the world rebuilt from seq 0 over a log of `replay_events` events;
///  - restart_to_serving_ms: control_plane::start on a data dir of `replay_events` events and
///    its config directory, until an ADS client gets its first response (the startup gate
///    opened), plus the time to replay the head from the nearest checkpoint.
/// Everything runs in temporary directories under `work_dir`, removed afterwards.

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "caf/expected.hpp"

namespace sluice::bench {

struct log_bench_options {
  std::vector<size_t> batch_sizes{1, 16, 64, 256, 1024};
  double seconds_per_point = 1.0;  ///< each ingest / floor point runs about this long
  uint64_t replay_events = 1'000'000;
  size_t upstreams = 10'000;  ///< distinct resources the replay log cycles over
  uint64_t checkpoint_every = 10'000;
  size_t group_commit_appenders = 8;
  std::string work_dir;  ///< "" = the system temp directory
};

/// The figures as JSON (field names as in the issue).
[[nodiscard]] caf::expected<nlohmann::json> run_log_bench(const log_bench_options& options);

}  // namespace sluice::bench
