// The translation benchmark's workloads under Google Benchmark (the same generator and engines
// as `sluice bench translate`): cold translation, one edit of each kind (incremental: to deltas
// and to snapshots), and a full re-translation per change. The argument is the number of
// VirtualServices of the default scenario. Incremental runs report where the time went as
// counters (translator thread CPU per iteration, microseconds): translate_us, assemble_us,
// hash_us.
#include <benchmark/benchmark.h>

#include <map>
#include <memory>

#include "bench/translate_engine.hpp"
#include "bench/workload.hpp"
#include "xds/incremental_translator.hpp"
#include "xds/world_translation.hpp"

namespace {

using namespace sluice;

// Worlds are expensive to build; each size is built once per process.
const model::world& world_of(size_t vs) {
  static std::map<size_t, std::unique_ptr<model::world>> worlds;
  auto& w = worlds[vs];
  if (!w) {
    w = std::make_unique<model::world>(bench::build_world(bench::workload_options::scaled(vs)));
  }
  return *w;
}

// The translator's breakdown over the timed iterations, per iteration.
void report_breakdown(benchmark::State& state, const xds::incremental_stats& before,
                      const xds::incremental_stats& after) {
  const double n = state.iterations() > 0 ? static_cast<double>(state.iterations()) : 1;
  auto per_iteration_us = [&](uint64_t from, uint64_t to) {
    return static_cast<double>(to - from) / 1e3 / n;
  };
  state.counters["translate_us"] = per_iteration_us(before.translate_ns, after.translate_ns);
  state.counters["assemble_us"] = per_iteration_us(before.assemble_ns, after.assemble_ns);
  state.counters["hash_us"] = per_iteration_us(before.hash_ns, after.hash_ns);
}

void BM_ColdFull(benchmark::State& state) {
  const auto& w = world_of(static_cast<size_t>(state.range(0)));
  for (auto _ : state) {
    auto t = xds::translate_world(w);
    benchmark::DoNotOptimize(t.snapshots);
  }
}

void BM_ColdIncremental(benchmark::State& state) {
  const auto& w = world_of(static_cast<size_t>(state.range(0)));
  xds::incremental_stats total;
  for (auto _ : state) {
    xds::incremental_translator inc;
    inc.reset(w);
    auto delta = inc.flush();
    for (const auto& [key, change] : delta.changed) {
      benchmark::DoNotOptimize(inc.snapshot(key));
    }
    total.translate_ns += inc.stats().translate_ns;
    total.assemble_ns += inc.stats().assemble_ns;
    total.hash_ns += inc.stats().hash_ns;
  }
  report_breakdown(state, {}, total);
}

void BM_FullPerChange(benchmark::State& state) {
  const auto& w = world_of(static_cast<size_t>(state.range(0)));
  bench::change_generator gen(w, 2);
  model::world mine = w;
  uint64_t seq = w.watermark();
  for (auto _ : state) {
    state.PauseTiming();
    auto ev = gen.next_update(bench::change_kind::virtual_service);
    state.ResumeTiming();
    bench::apply_to(mine, ev, ++seq);
    auto t = xds::translate_world(mine);
    benchmark::DoNotOptimize(t.snapshots);
  }
}

// One edit of `kind`, then deltas (and, with `snapshots`, the snapshot objects) ready.
void incremental_edit(benchmark::State& state, bench::change_kind kind, bool snapshots) {
  const auto& w = world_of(static_cast<size_t>(state.range(0)));
  xds::incremental_translator inc;
  inc.reset(w);
  for (const auto& [key, change] : inc.flush().changed) {
    benchmark::DoNotOptimize(inc.snapshot(key));
  }
  bench::change_generator gen(w, 3);
  uint64_t seq = w.watermark();
  const auto before = inc.stats();
  for (auto _ : state) {
    state.PauseTiming();
    auto ev = gen.next_update(kind);
    ev.set_seq(++seq);
    state.ResumeTiming();
    (void)inc.apply(ev);
    auto delta = inc.flush();
    if (snapshots) {
      for (const auto& [key, change] : delta.changed) {
        benchmark::DoNotOptimize(inc.snapshot(key));
      }
    }
  }
  report_breakdown(state, before, inc.stats());
}

void BM_IncrementalVirtualServiceEdit(benchmark::State& state) {
  incremental_edit(state, bench::change_kind::virtual_service, true);
}
void BM_IncrementalEndpointEdit(benchmark::State& state) {
  incremental_edit(state, bench::change_kind::endpoint, true);
}
void BM_IncrementalUpstreamEdit(benchmark::State& state) {
  incremental_edit(state, bench::change_kind::upstream, true);
}
void BM_IncrementalRouteTableEdit(benchmark::State& state) {
  incremental_edit(state, bench::change_kind::route_table, true);
}
void BM_IncrementalVirtualServiceEditDelta(benchmark::State& state) {
  incremental_edit(state, bench::change_kind::virtual_service, false);
}
void BM_IncrementalEndpointEditDelta(benchmark::State& state) {
  incremental_edit(state, bench::change_kind::endpoint, false);
}

constexpr int64_t small = 1'000;
constexpr int64_t default_scenario = 10'000;

BENCHMARK(BM_ColdFull)->Arg(small)->Arg(default_scenario)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_ColdIncremental)->Arg(small)->Arg(default_scenario)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_FullPerChange)->Arg(small)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_IncrementalVirtualServiceEdit)
    ->Arg(small)
    ->Arg(default_scenario)
    ->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_IncrementalVirtualServiceEditDelta)
    ->Arg(small)
    ->Arg(default_scenario)
    ->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_IncrementalEndpointEdit)
    ->Arg(small)
    ->Arg(default_scenario)
    ->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_IncrementalEndpointEditDelta)
    ->Arg(small)
    ->Arg(default_scenario)
    ->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_IncrementalUpstreamEdit)->Arg(small)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_IncrementalRouteTableEdit)->Arg(small)->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
