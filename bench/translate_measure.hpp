#pragma once
/// The measurements behind `sluice bench translate` (issue "Incremental translation at scale"):
/// cold translation against the serialization floor, single-change latencies, the full
/// re-translation per change (Gloo's way) in the same run, a timed churn, and peak memory.

#include <functional>
#include <string>

#include "bench/translate_engine.hpp"
#include "bench/workload.hpp"

namespace sluice::bench {

struct translate_bench_options {
  workload_options workload = workload_options::scaled(10'000);
  engine_kind engine = engine_kind::incremental;
  size_t samples = 200;       ///< single edits measured per change kind
  size_t full_samples = 3;    ///< full re-translations per change measured (each costs cold_ms)
  double churn_seconds = 60;  ///< 0 skips the churn
  double churn_rate = 2'000;  ///< events per second offered
  /// Measure this thread's CPU time instead of wall time (see bench_clock in the .cpp): for
  /// shared machines, where wall time measures the neighbours.
  bool cpu_clock = false;
};

struct latency {
  double p50_ms = 0;
  double p99_ms = 0;
  double max_ms = 0;
  size_t samples = 0;
};

struct translate_figures {
  std::string engine;
  std::string clock;  ///< "wall" or "thread-cpu"
  size_t virtual_services = 0;
  size_t resources = 0;          ///< input resources in the world
  size_t xds_resources = 0;      ///< output resources over every snapshot
  double xds_mb = 0;             ///< their serialized size
  double build_world_ms = 0;     ///< generating the workload (not translation)
  double cold_ms = 0;            ///< first translation of the whole world
  double floor_ms = 0;           ///< serializing every resource of the produced snapshots
  double hash_all_ms = 0;        ///< hashing those bytes (the version floor)
  double report_ms = 0;          ///< assembling the translation report (median of 5)
  double report_one_ms = 0;      ///< the same, keeping one VirtualService's findings only
  time_breakdown cold_breakdown;
  /// Event applied -> snapshots ready to serve.
  latency incr_vs, incr_endpoint, incr_upstream, incr_route_table;
  /// Event applied -> deltas ready (changed resources and versions; the snapshot objects not
  /// yet built: see xds::incremental_translator::snapshot).
  latency delta_vs, delta_endpoint, delta_upstream, delta_route_table;
  time_breakdown incr_breakdown;  ///< over every single-edit sample
  double full_per_change_ms = 0;  ///< median full re-translation after one VirtualService edit
  size_t full_samples = 0;
  double churn_seconds = 0;
  double churn_offered_per_s = 0;
  double churn_events_per_s = 0;  ///< events published per second of churn
  latency churn;                  ///< event offered -> snapshot published
  size_t churn_batches = 0;
  size_t churn_max_backlog = 0;   ///< most events waiting when a batch started
  size_t churn_max_backlog_first_half = 0;
  size_t churn_backlog_end = 0;   ///< events still waiting when the offer stopped
  double rss_mb = 0;              ///< peak resident set size of the process
};

/// Runs every measurement; `progress` hears a line per phase (may be empty).
[[nodiscard]] translate_figures run_translate_bench(
    const translate_bench_options& options,
    const std::function<void(const std::string&)>& progress = {});

/// One JSON object with the keys (milliseconds unless the name says otherwise).
[[nodiscard]] std::string to_json(const translate_figures& f);

/// A table for a person, with the targets beside the figures.
[[nodiscard]] std::string to_table(const translate_figures& f);

/// Percentiles of a sample set (milliseconds).
[[nodiscard]] latency summarize(std::vector<double> samples_ms);

/// Peak resident set size of this process, in MB.
[[nodiscard]] double peak_rss_mb();

}  // namespace sluice::bench
