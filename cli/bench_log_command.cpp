// `sluice bench log [--json]`: durable ingest by batch size against the RocksDB floor measured in
// the same run, group commit, replay speed over 1,000,000 events and restart-to-serving on that
// store (bench/log_measure.hpp).
#include <iostream>

#include <fmt/format.h>

#include "actors/log_replayer.hpp"
#include "bench/log_measure.hpp"
#include "cli/commands.hpp"
#include "model/error.hpp"
#include "model/logging.hpp"

namespace sluice::cli {

namespace {

struct bench_log_flags {
  bool json = false;
  bench::log_bench_options options;
};

int run_bench_log(const bench_log_flags& f) {
  log::set_level("warn");
  auto figures = bench::run_log_bench(f.options);
  if (!figures) {
    std::cerr << "error: " << describe(figures.error()) << "\n";
    return 1;
  }
  if (f.json) {
    std::cout << actors::dump_json(*figures, 2) << "\n";
    return 0;
  }
  const auto& j = *figures;
  std::cout << fmt::format("{:>6}  {:>16}  {:>16}  {:>8}\n", "batch", "ingest events/s",
                           "floor events/s", "ratio");
  for (const auto& p : j["ingest"]) {
    std::cout << fmt::format("{:>6}  {:>16.0f}  {:>16.0f}  {:>8.2f}\n", p["batch"].get<size_t>(),
                             p["ingest_events_per_s"].get<double>(),
                             p["floor_events_per_s"].get<double>(),
                             p["ingest_over_floor"].get<double>());
  }
  const auto& g = j["group_commit"];
  std::cout << fmt::format(
      "group commit: {} single-event appends, {:.0f} events/s, {:.1f} appends "
      "per WriteBatch\n",
      g["appends"].get<size_t>(), g["events_per_s"].get<double>(),
      g["appends_per_write_batch"].get<double>());
  std::cout << fmt::format(
      "replay: {} events at {:.0f} events/s; head from checkpoint {} in "
      "{:.1f} ms\n",
      j["replay_events"].get<uint64_t>(), j["replay_events_per_s"].get<double>(),
      j["replay_head_checkpoint_seq"].get<uint64_t>(),
      j["replay_head_from_checkpoint_ms"].get<double>());
  std::cout << fmt::format("restart to serving: {:.0f} ms on a store of {} events ({} appended)\n",
                           j["restart_to_serving_ms"].get<double>(),
                           j["restart_store_events"].get<uint64_t>(),
                           j["restart_appended_events"].get<uint64_t>());
  return 0;
}

}  // namespace

command_fn setup_bench_log(CLI::App& app) {
  auto f = std::make_shared<bench_log_flags>();
  app.add_flag("--json", f->json, "print the figures as JSON");
  app.add_option("--batch-sizes", f->options.batch_sizes, "ingest batch sizes")
      ->capture_default_str();
  app.add_option("--seconds", f->options.seconds_per_point, "duration of each ingest point")
      ->capture_default_str();
  app.add_option("--replay-events", f->options.replay_events,
                 "events in the replay / restart store")
      ->capture_default_str();
  app.add_option("--upstreams", f->options.upstreams, "distinct resources in that store")
      ->capture_default_str();
  app.add_option("--checkpoint-every", f->options.checkpoint_every,
                 "events between checkpoints in that store")
      ->capture_default_str();
  app.add_option("--work-dir", f->options.work_dir, "where the temporary stores go");
  return [f] { return run_bench_log(*f); };
}

namespace {
const command_registration registration{
    "bench log", "benchmark the event log: durable ingest vs the RocksDB floor, replay, restart",
    setup_bench_log};
}  // namespace

}  // namespace sluice::cli
