#include "bench/translate_measure.hpp"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/dynamic_message.h>
#include <google/protobuf/message.h>
#include <sys/resource.h>
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <tuple>

#include "model/resource.hpp"
#include "xds/world_translation.hpp"

namespace sluice::bench {

namespace {

using clock_type = bench_clock;

double ms_between(clock_type::time_point a, clock_type::time_point b) { return b.ms - a.ms; }

void say(const std::function<void(const std::string&)>& progress, const std::string& line) {
  if (progress) {
    progress(line);
  }
}

time_breakdown minus(const time_breakdown& a, const time_breakdown& b) {
  return {a.translate_ms - b.translate_ms, a.assemble_ms - b.assemble_ms, a.hash_ms - b.hash_ms};
}

// The physical floor of a snapshot set: re-serializing every resource it holds (parsed back into
// its typed message first, untimed), and hashing the bytes. Done in chunks so the parsed
// messages never all live at once.
struct floor_figures {
  double serialize_ms = 0;
  double hash_ms = 0;
  size_t resources = 0;
  double bytes = 0;
};

floor_figures measure_floor(const std::map<std::string, xds::snapshot_ptr>& snapshots) {
  floor_figures out;
  const auto* pool = google::protobuf::DescriptorPool::generated_pool();
  auto* factory = google::protobuf::MessageFactory::generated_factory();
  std::vector<std::unique_ptr<google::protobuf::Message>> chunk;
  auto flush_chunk = [&] {
    const auto start = clock_type::now();
    size_t sink = 0;
    for (const auto& m : chunk) {
      sink += model::canonical_bytes(*m).size();
    }
    out.serialize_ms += ms_between(start, clock_type::now());
    out.bytes += static_cast<double>(sink);
    chunk.clear();
  };
  for (const auto& [key, snap] : snapshots) {
    for (const auto& [type, set] : snap->types) {
      const auto slash = type.rfind('/');
      const auto* d = pool->FindMessageTypeByName(type.substr(slash + 1));
      if (d == nullptr) {
        continue;
      }
      const auto* prototype = factory->GetPrototype(d);
      for (const auto& [name, res] : set.items) {
        std::unique_ptr<google::protobuf::Message> m(prototype->New());
        if (!m->ParseFromString(res->bytes)) {
          continue;
        }
        chunk.push_back(std::move(m));
        ++out.resources;
        if (chunk.size() >= 2'000) {
          flush_chunk();
        }
      }
    }
  }
  flush_chunk();
  const auto start = clock_type::now();
  volatile size_t sink = 0;
  for (const auto& [key, snap] : snapshots) {
    for (const auto& [type, set] : snap->types) {
      for (const auto& [name, res] : set.items) {
        sink = sink + xds::resource_version(res->bytes).size();
      }
    }
  }
  out.hash_ms = ms_between(start, clock_type::now());
  return out;
}

// One edit at a time: event applied -> deltas ready (`delta`) -> snapshots ready (`ready`).
std::pair<latency, latency> measure_edits(translation_engine& engine, change_generator& gen,
                                          change_kind kind, size_t samples, uint64_t& seq) {
  std::vector<double> ready;
  std::vector<double> delta;
  ready.reserve(samples);
  delta.reserve(samples);
  for (size_t i = 0; i < samples; ++i) {
    auto ev = gen.next_update(kind);
    const auto start = clock_type::now();
    engine.apply(ev, ++seq);
    const auto keys = engine.publish();
    delta.push_back(ms_between(start, clock_type::now()));
    engine.materialize(keys);
    ready.push_back(ms_between(start, clock_type::now()));
  }
  return {summarize(std::move(ready)), summarize(std::move(delta))};
}

struct churn_result {
  latency lat;
  double seconds = 0;
  double events_per_s = 0;
  size_t batches = 0;
  size_t max_backlog = 0;
  size_t max_backlog_first_half = 0;
  size_t backlog_end = 0;
};

// Offers events at `rate` per second for `seconds` (scheduled times, generated beforehand) and
// publishes after each batch of whatever has arrived; an event's latency runs from its offer
// time to the publish that includes it.
churn_result run_churn(translation_engine& engine, change_generator& gen, double seconds,
                       double rate, uint64_t& seq) {
  churn_result out;
  const size_t n = static_cast<size_t>(seconds * rate);
  std::vector<sluice::v1::Event> events;
  events.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    events.push_back(gen.next_churn());
  }
  std::vector<double> ms;
  ms.reserve(n);
  const auto start = clock_type::now();
  auto offered_at = [&](size_t i) {
    return clock_type::time_point{start.ms + 1e3 * static_cast<double>(i) / rate};
  };
  bool end_seen = false;
  size_t done = 0;
  while (done < n) {
    const auto now = clock_type::now();
    const double elapsed = ms_between(start, now) / 1e3;
    const size_t arrived =
        std::min(n, static_cast<size_t>(std::floor(elapsed * rate)) + 1);
    if (arrived <= done) {
      clock_type::wait_until(offered_at(done));
      continue;
    }
    const size_t backlog = arrived - done;
    out.max_backlog = std::max(out.max_backlog, backlog);
    if (elapsed < seconds / 2) {
      out.max_backlog_first_half = std::max(out.max_backlog_first_half, backlog);
    }
    if (!end_seen && arrived == n) {
      end_seen = true;
      out.backlog_end = backlog;
    }
    for (size_t j = done; j < arrived; ++j) {
      engine.apply(events[j], ++seq);
    }
    engine.materialize(engine.publish());
    const auto published = clock_type::now();
    for (size_t j = done; j < arrived; ++j) {
      ms.push_back(ms_between(offered_at(j), published));
    }
    done = arrived;
    ++out.batches;
  }
  out.seconds = ms_between(start, clock_type::now()) / 1000;
  out.events_per_s = out.seconds > 0 ? static_cast<double>(n) / out.seconds : 0;
  out.lat = summarize(std::move(ms));
  return out;
}

// The backlog grew if, when the offer stopped, more events waited than ever did in the first
// half of the run (a steady state keeps it bounded).
bool backlog_grew(const translate_figures& f) {
  return f.churn_backlog_end > std::max<size_t>(1, f.churn_max_backlog_first_half);
}

std::string fixed(double v, int digits = 2) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.*f", digits, v);
  return buf;
}

}  // namespace

latency summarize(std::vector<double> samples_ms) {
  latency out;
  out.samples = samples_ms.size();
  if (samples_ms.empty()) {
    return out;
  }
  std::sort(samples_ms.begin(), samples_ms.end());
  auto at = [&](double q) {
    const auto rank = static_cast<size_t>(std::ceil(q * static_cast<double>(samples_ms.size())));
    return samples_ms[std::min(samples_ms.size() - 1, rank == 0 ? 0 : rank - 1)];
  };
  out.p50_ms = at(0.5);
  out.p99_ms = at(0.99);
  out.max_ms = samples_ms.back();
  return out;
}

double peak_rss_mb() {
  struct rusage ru {};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_maxrss) / 1024.0;  // Linux reports KiB
}

translate_figures run_translate_bench(const translate_bench_options& options,
                                      const std::function<void(const std::string&)>& progress) {
  translate_figures f;
  bench_clock::cpu = options.cpu_clock;
  bench_clock::skipped_ms = 0;
  f.clock = options.cpu_clock ? "thread-cpu" : "wall";
  f.virtual_services = options.workload.virtual_services;
  auto engine = make_engine(options.engine);
  f.engine = std::string(engine->name());

  say(progress, "generating the workload (" + std::to_string(f.virtual_services) +
                    " virtual services)");
  auto t0 = clock_type::now();
  auto world = build_world(options.workload);
  f.build_world_ms = ms_between(t0, clock_type::now());
  f.resources = world.size();
  change_generator gen(world, options.workload.seed + 1);
  uint64_t seq = world.watermark();

  say(progress, "cold translation (" + f.engine + ")");
  t0 = clock_type::now();
  engine->load(std::move(world));
  f.cold_ms = ms_between(t0, clock_type::now());
  f.cold_breakdown = engine->breakdown();

  say(progress, "serialization floor");
  {
    const auto floor = measure_floor(engine->snapshots());
    f.floor_ms = floor.serialize_ms;
    f.hash_all_ms = floor.hash_ms;
    f.xds_resources = floor.resources;
    f.xds_mb = floor.bytes / (1024.0 * 1024.0);
  }

  say(progress, "translation report");
  {
    std::vector<double> ms;
    for (int i = 0; i < 5; ++i) {
      t0 = clock_type::now();
      auto report = engine->report();
      ms.push_back(ms_between(t0, clock_type::now()));
    }
    f.report_ms = summarize(std::move(ms)).p50_ms;
  }
  {
    // What the world actor asks after each flush with a changed resource: the findings of that
    // resource only.
    std::vector<double> ms;
    const auto& w = gen.world();
    auto key = w.of(model::resource_kind::virtual_service).begin()->second.key;
    for (int i = 0; i < 5; ++i) {
      t0 = clock_type::now();
      auto report = engine->report_for({key});
      ms.push_back(ms_between(t0, clock_type::now()));
    }
    f.report_one_ms = summarize(std::move(ms)).p50_ms;
  }

  say(progress, "single edits (" + std::to_string(options.samples) + " per kind)");
  const auto before_edits = engine->breakdown();
  std::tie(f.incr_vs, f.delta_vs) =
      measure_edits(*engine, gen, change_kind::virtual_service, options.samples, seq);
  std::tie(f.incr_endpoint, f.delta_endpoint) =
      measure_edits(*engine, gen, change_kind::endpoint, options.samples, seq);
  std::tie(f.incr_upstream, f.delta_upstream) =
      measure_edits(*engine, gen, change_kind::upstream, options.samples, seq);
  std::tie(f.incr_route_table, f.delta_route_table) =
      measure_edits(*engine, gen, change_kind::route_table, options.samples, seq);
  f.incr_breakdown = minus(engine->breakdown(), before_edits);

  if (options.churn_seconds > 0) {
    say(progress, "churn: " + fixed(options.churn_rate, 0) + " events/s for " +
                      fixed(options.churn_seconds, 1) + " s");
    auto churn = run_churn(*engine, gen, options.churn_seconds, options.churn_rate, seq);
    f.churn_seconds = churn.seconds;
    f.churn_offered_per_s = options.churn_rate;
    f.churn_events_per_s = churn.events_per_s;
    f.churn = churn.lat;
    f.churn_batches = churn.batches;
    f.churn_max_backlog = churn.max_backlog;
    f.churn_max_backlog_first_half = churn.max_backlog_first_half;
    f.churn_backlog_end = churn.backlog_end;
  }
  // Peak memory of the engine's run, before the full re-translations below add their own.
  f.rss_mb = peak_rss_mb();

  say(progress, "full re-translation per change (" + std::to_string(options.full_samples) +
                    " samples)");
  {
    engine.reset();
    model::world w = gen.world();
    std::vector<double> ms;
    for (size_t i = 0; i < options.full_samples; ++i) {
      auto ev = gen.next_update(change_kind::virtual_service);
      t0 = clock_type::now();
      apply_to(w, ev, ++seq);
      auto t = xds::translate_world(w);
      ms.push_back(ms_between(t0, clock_type::now()));
    }
    f.full_samples = ms.size();
    f.full_per_change_ms = summarize(std::move(ms)).p50_ms;
  }
  return f;
}

std::string to_json(const translate_figures& f) {
  auto lat = [](const latency& l) {
    return nlohmann::json{{"p50_ms", l.p50_ms},
                          {"p99_ms", l.p99_ms},
                          {"max_ms", l.max_ms},
                          {"samples", l.samples}};
  };
  auto parts = [](const time_breakdown& b) {
    return nlohmann::json{
        {"translate_ms", b.translate_ms}, {"assemble_ms", b.assemble_ms}, {"hash_ms", b.hash_ms}};
  };
  nlohmann::json j;
  j["engine"] = f.engine;
  j["clock"] = f.clock;
  j["virtual_services"] = f.virtual_services;
  j["resources"] = f.resources;
  j["xds_resources"] = f.xds_resources;
  j["xds_mb"] = f.xds_mb;
  j["cold_ms"] = f.cold_ms;
  j["report_ms"] = f.report_ms;
  j["report_one_ms"] = f.report_one_ms;
  j["floor_ms"] = f.floor_ms;
  j["hash_all_ms"] = f.hash_all_ms;
  j["cold_vs_floor"] = f.floor_ms > 0 ? f.cold_ms / f.floor_ms : 0;
  j["incr_vs_p50_ms"] = f.incr_vs.p50_ms;
  j["incr_vs_p99_ms"] = f.incr_vs.p99_ms;
  j["incr_endpoint_p50_ms"] = f.incr_endpoint.p50_ms;
  j["incr_endpoint_p99_ms"] = f.incr_endpoint.p99_ms;
  j["incr_upstream_p50_ms"] = f.incr_upstream.p50_ms;
  j["incr_upstream_p99_ms"] = f.incr_upstream.p99_ms;
  j["incr_route_table_p50_ms"] = f.incr_route_table.p50_ms;
  j["incr_route_table_p99_ms"] = f.incr_route_table.p99_ms;
  j["incr_vs_delta_p50_ms"] = f.delta_vs.p50_ms;
  j["incr_vs_delta_p99_ms"] = f.delta_vs.p99_ms;
  j["incr_endpoint_delta_p50_ms"] = f.delta_endpoint.p50_ms;
  j["incr_endpoint_delta_p99_ms"] = f.delta_endpoint.p99_ms;
  j["incr_upstream_delta_p99_ms"] = f.delta_upstream.p99_ms;
  j["incr_route_table_delta_p99_ms"] = f.delta_route_table.p99_ms;
  j["full_per_change_ms"] = f.full_per_change_ms;
  j["full_per_change_vs_incr_vs_p50"] =
      f.incr_vs.p50_ms > 0 ? f.full_per_change_ms / f.incr_vs.p50_ms : 0;
  j["churn_events_per_s"] = f.churn_events_per_s;
  j["churn_p99_ms"] = f.churn.p99_ms;
  j["churn_p50_ms"] = f.churn.p50_ms;
  j["churn_max_ms"] = f.churn.max_ms;
  j["churn_seconds"] = f.churn_seconds;
  j["churn_offered_per_s"] = f.churn_offered_per_s;
  j["churn_batches"] = f.churn_batches;
  j["churn_max_backlog"] = f.churn_max_backlog;
  j["churn_max_backlog_first_half"] = f.churn_max_backlog_first_half;
  j["churn_backlog_grew"] = backlog_grew(f);
  j["churn_backlog_end"] = f.churn_backlog_end;
  j["rss_mb"] = f.rss_mb;
  j["build_world_ms"] = f.build_world_ms;
  j["breakdown"] = {{"cold", parts(f.cold_breakdown)}, {"incremental", parts(f.incr_breakdown)}};
  j["latency"] = {{"vs", lat(f.incr_vs)},
                  {"endpoint", lat(f.incr_endpoint)},
                  {"upstream", lat(f.incr_upstream)},
                  {"route_table", lat(f.incr_route_table)},
                  {"churn", lat(f.churn)}};
  return j.dump();
}

std::string to_table(const translate_figures& f) {
  std::ostringstream out;
  auto row = [&](const std::string& name, const std::string& value, const std::string& target,
                 const std::string& verdict) {
    char buf[256];
    std::snprintf(buf, sizeof(buf), "  %-28s %14s   %-26s %s\n", name.c_str(), value.c_str(),
                  target.c_str(), verdict.c_str());
    out << buf;
  };
  auto ok = [](bool met) { return std::string(met ? "met" : "MISSED"); };
  const double ratio = f.incr_vs.p50_ms > 0 ? f.full_per_change_ms / f.incr_vs.p50_ms : 0;
  out << "sluice bench translate: engine=" << f.engine << " clock=" << f.clock
      << " virtual_services=" << f.virtual_services
      << " resources=" << f.resources << " xds_resources=" << f.xds_resources << " ("
      << fixed(f.xds_mb, 1) << " MB)\n";
  row("figure", "value", "target", "");
  row("cold_ms", fixed(f.cold_ms), "<= 1000, <= 6 x floor",
      ok(f.cold_ms <= 1000 && f.cold_ms <= 6 * f.floor_ms));
  row("floor_ms (serialize)", fixed(f.floor_ms), "", "");
  row("hash_all_ms", fixed(f.hash_all_ms), "", "");
  row("report_ms", fixed(f.report_ms), "", "");
  row("report_one_ms", fixed(f.report_one_ms), "", "");
  row("incr_vs_p50_ms", fixed(f.incr_vs.p50_ms, 3), "", "");
  row("incr_vs_p99_ms", fixed(f.incr_vs.p99_ms, 3), "<= 5", ok(f.incr_vs.p99_ms <= 5));
  row("incr_endpoint_p99_ms", fixed(f.incr_endpoint.p99_ms, 3), "<= 0.5",
      ok(f.incr_endpoint.p99_ms <= 0.5));
  row("incr_upstream_p99_ms", fixed(f.incr_upstream.p99_ms, 3), "", "");
  row("incr_route_table_p99_ms", fixed(f.incr_route_table.p99_ms, 3), "", "");
  row("  deltas ready: vs p99", fixed(f.delta_vs.p99_ms, 3), "", "");
  row("  deltas ready: endpoint p99", fixed(f.delta_endpoint.p99_ms, 3), "", "");
  row("  deltas ready: upstream p99", fixed(f.delta_upstream.p99_ms, 3), "", "");
  row("full_per_change_ms", fixed(f.full_per_change_ms), "", "");
  row("full / incr_vs_p50", fixed(ratio, 1), ">= 100", ok(ratio >= 100));
  if (f.churn_seconds > 0) {
    row("churn_events_per_s", fixed(f.churn_events_per_s, 0),
        "offered " + fixed(f.churn_offered_per_s, 0), "");
    row("churn_p99_ms", fixed(f.churn.p99_ms), "<= 50, no backlog growth",
        ok(f.churn.p99_ms <= 50 && !backlog_grew(f)));
    row("churn backlog max (1st half)/end",
        std::to_string(f.churn_max_backlog) + " (" +
            std::to_string(f.churn_max_backlog_first_half) + ") / " +
            std::to_string(f.churn_backlog_end),
        "", "");
  }
  row("rss_mb (peak)", fixed(f.rss_mb, 0), "<= 1000", ok(f.rss_mb <= 1000));
  auto parts = [&](const std::string& what, const time_breakdown& b) {
    out << "  breakdown " << what << ": translate " << fixed(b.translate_ms) << " ms, assemble "
        << fixed(b.assemble_ms) << " ms, hash " << fixed(b.hash_ms) << " ms\n";
  };
  parts("cold", f.cold_breakdown);
  parts("single edits", f.incr_breakdown);
  return out.str();
}

}  // namespace sluice::bench
