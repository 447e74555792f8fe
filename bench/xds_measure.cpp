#include "bench/xds_measure.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <fstream>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <sstream>
#include <thread>
#include <unordered_map>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "bench/workload.hpp"
#include "bench/xds_load_client.hpp"
#include "model/error.hpp"
#include "xds/ads_server.hpp"
#include "xds/world_translation.hpp"

namespace sluice::bench {

namespace {

using steady = std::chrono::steady_clock;
constexpr auto ack_bound = std::chrono::seconds(60);
const std::string role_prefix = "bench-envoy-";

double ms_since(steady::time_point t) {
  return std::chrono::duration<double, std::milli>(steady::now() - t).count();
}

double rss_mb() {
  std::ifstream statm("/proc/self/statm");
  long pages = 0, resident = 0;
  statm >> pages >> resident;
  return static_cast<double>(resident) * static_cast<double>(sysconf(_SC_PAGESIZE)) / 1048576.0;
}

double cpu_seconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  auto s = [](const timeval& t) {
    return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6;
  };
  return s(ru.ru_utime) + s(ru.ru_stime);
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) {
    return 0;
  }
  std::sort(v.begin(), v.end());
  auto i = static_cast<size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

/// Waits, from the server's ACK observer, until every node ACKed what it is expected to: each
/// (type, name) of a change, or at least one response of each type (after a reconnect).
class ack_tracker {
 public:
  void expect(const std::vector<std::string>& nodes, const std::set<std::string>& keys) {
    std::lock_guard lock(mu_);
    pending_.clear();
    remaining_ = 0;
    if (keys.empty()) {
      return;
    }
    for (const auto& n : nodes) {
      pending_[n] = keys;
      ++remaining_;
    }
  }

  /// Key of a (type, name) pair; a type alone (name "") matches any response of the type.
  static std::string key(std::string_view type, std::string_view name = {}) {
    std::string k(type);
    k += '\n';
    k += name;
    return k;
  }

  void on_response(const xds::client_response& r) {
    if (r.nack) {
      return;
    }
    std::lock_guard lock(mu_);
    auto i = pending_.find(r.node_id);
    if (i == pending_.end() || i->second.empty()) {
      return;
    }
    i->second.erase(key(r.type_url));
    for (const auto& name : r.resource_names) {
      i->second.erase(key(r.type_url, name));
    }
    if (i->second.empty() && --remaining_ == 0) {
      cv_.notify_all();
    }
  }

  bool wait(std::chrono::seconds bound) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, bound, [&] { return remaining_ == 0; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::unordered_map<std::string, std::set<std::string>> pending_;
  size_t remaining_ = 0;
};

/// The (type, name) keys whose content differs between two snapshots (additions included;
/// removals cannot be ACKed by name and are left out).
std::set<std::string> changed_keys(const xds::snapshot& before, const xds::snapshot& after) {
  std::set<std::string> out;
  for (const auto& [type, set] : after.types) {
    const auto& old = before.of(type).items;
    for (const auto& [name, r] : set.items) {
      auto o = old.find(name);
      if (o == old.end() || o->second->version != r->version) {
        out.insert(ack_tracker::key(type, name));
      }
    }
  }
  return out;
}

double changed_bytes(const xds::snapshot& before, const xds::snapshot& after,
                     std::string_view type) {
  double bytes = 0;
  const auto& old = before.of(type).items;
  for (const auto& [name, r] : after.of(type).items) {
    auto o = old.find(name);
    if (o == old.end() || o->second->version != r->version) {
      bytes += static_cast<double>(r->bytes.size());
    }
  }
  return bytes;
}

/// The gateway role with the most resources: what the benchmark's Envoys ask for.
std::string busiest_key(const std::map<std::string, xds::snapshot_ptr>& snaps) {
  std::string best;
  size_t most = 0;
  for (const auto& [key, snap] : snaps) {
    size_t n = 0;
    for (const auto& [type, set] : snap->types) {
      n += set.items.size();
    }
    if (key != xds::proxyless_key && n >= most) {
      most = n;
      best = key;
    }
  }
  return best;
}

struct server_handle {
  std::unique_ptr<xds::ads_server> server;
  int port = 0;
};

caf::expected<server_handle> start_server(const std::string& listen, size_t clients,
                                          ack_tracker& tracker,
                                          const std::map<std::string, xds::snapshot_ptr>& snaps) {
  server_handle h;
  xds::ads_server_options o;
  o.listen = listen;
  o.max_streams = static_cast<int>(clients + 64);
  h.server = std::make_unique<xds::ads_server>(o);
  h.server->on_client_response(
      [&tracker](const xds::client_response& r) { tracker.on_response(r); });
  auto port = h.server->start();
  if (!port) {
    return port.error();
  }
  h.port = *port;
  for (const auto& [key, snap] : snaps) {
    h.server->publish(snap);
  }
  h.server->open_gate();
  return h;
}

void say(const std::function<void(const std::string&)>& progress, const std::string& line) {
  if (progress) {
    progress(line);
  }
}

}  // namespace

caf::expected<xds_bench_figures> run_xds_bench(
    const xds_bench_options& options, const std::function<void(const std::string&)>& progress) {
  xds_bench_figures f;
  f.clients = options.clients;
  f.delta_clients
      = static_cast<size_t>(static_cast<double>(options.clients) * options.delta_fraction + 0.5);
  f.virtual_services = options.vs;

  say(progress,
      fmt::format("building and translating the workload ({} virtual services)", options.vs));
  auto workload = workload_options::scaled(options.vs);
  workload.seed = options.seed;
  auto world = build_world(workload);
  change_generator gen(world, options.seed + 1);
  uint64_t seq = world.watermark();
  // The whole translation per change: simple and independent of the incremental engine, and not
  // part of what is timed (the clock starts at publish).
  auto snaps = xds::translate_world(world).snapshots;
  const std::string key = busiest_key(snaps);
  for (const auto& [type, set] : snaps.at(key)->types) {
    f.xds_resources += set.items.size();
    for (const auto& [name, r] : set.items) {
      f.snapshot_mb += static_cast<double>(r->bytes.size()) / 1048576.0;
    }
  }

  ack_tracker tracker;
  auto started = start_server("127.0.0.1:0", options.clients, tracker, snaps);
  if (!started) {
    return started.error();
  }
  auto& server = *started;
  std::vector<std::string> nodes;
  std::vector<std::unique_ptr<xds_load_client>> clients;
  for (size_t i = 0; i < options.clients; ++i) {
    nodes.push_back(role_prefix + std::to_string(i));
    clients.push_back(std::make_unique<xds_load_client>(
        load_client_options{.node_id = nodes.back(), .role = key, .delta = i < f.delta_clients}));
  }
  const std::set<std::string> all_types
      = {ack_tracker::key(xds::cluster_type), ack_tracker::key(xds::endpoint_type),
         ack_tracker::key(xds::listener_type), ack_tracker::key(xds::route_type)};

  say(progress, fmt::format("connecting {} clients ({} delta) to role {}", options.clients,
                            f.delta_clients, key));
  tracker.expect(nodes, all_types);
  auto t0 = steady::now();
  for (auto& c : clients) {
    c->connect(server.port);
  }
  if (!tracker.wait(ack_bound)) {
    return make_error(ec::limit_exceeded,
                      "not every client received the initial configuration within 60 s; try "
                      "fewer --clients");
  }
  f.connect_all_acked_ms = ms_since(t0);

  std::vector<double> all, vs_ms, endpoint_ms;
  double delta_bytes = 0, sotw_bytes = 0, delta_vs_bytes = 0, sotw_vs_bytes = 0;
  double endpoint_changed = 0;
  size_t endpoint_changes = 0, vs_changes = 0;
  const double sotw_clients = static_cast<double>(options.clients - f.delta_clients);
  const double delta_clients = static_cast<double>(f.delta_clients);
  double rss_after_first = 0;
  const double cpu0 = cpu_seconds();
  for (size_t round = 0; round < options.rounds; ++round) {
    for (auto kind : {change_kind::virtual_service, change_kind::endpoint}) {
      const auto before = snaps.at(key);
      apply_to(world, gen.next_update(kind), ++seq);
      snaps = xds::translate_world(world).snapshots;
      const auto after = snaps.at(key);
      auto keys = changed_keys(*before, *after);
      if (keys.empty()) {
        continue;  // the change did not touch this gateway
      }
      tracker.expect(nodes, keys);
      const auto m0 = server.server->metrics();
      const auto start = steady::now();
      for (const auto& [k, snap] : snaps) {
        server.server->publish(snap);
      }
      const bool acked = tracker.wait(ack_bound);
      const double ms = ms_since(start);
      const auto m1 = server.server->metrics();
      if (!acked) {
        ++f.timeouts;
        continue;
      }
      ++f.changes;
      all.push_back(ms);
      const double d = delta_clients > 0
                           ? static_cast<double>(m1.delta_bytes - m0.delta_bytes) / delta_clients
                           : 0;
      const double s = sotw_clients > 0
                           ? static_cast<double>(m1.sotw_bytes - m0.sotw_bytes) / sotw_clients
                           : 0;
      if (kind == change_kind::endpoint) {
        endpoint_ms.push_back(ms);
        delta_bytes += d;
        sotw_bytes += s;
        endpoint_changed += changed_bytes(*before, *after, xds::endpoint_type);
        ++endpoint_changes;
      } else {
        vs_ms.push_back(ms);
        delta_vs_bytes += d;
        sotw_vs_bytes += s;
        ++vs_changes;
      }
    }
    if (round == 0) {
      rss_after_first = rss_mb();
    }
    say(progress, fmt::format("round {}/{}: last change acked by all in {:.1f} ms", round + 1,
                              options.rounds, all.empty() ? 0.0 : all.back()));
  }
  f.cpu_s = cpu_seconds() - cpu0;
  f.rss_mb = rss_mb();
  f.rss_growth_mb = f.rss_mb - rss_after_first;
  f.ack_all_p50_ms = percentile(all, 0.5);
  f.ack_all_p99_ms = percentile(all, 0.99);
  f.ack_all_vs_p50_ms = percentile(vs_ms, 0.5);
  f.ack_all_endpoint_p50_ms = percentile(endpoint_ms, 0.5);
  if (endpoint_changes > 0) {
    f.delta_bytes_per_change = delta_bytes / static_cast<double>(endpoint_changes);
    f.sotw_bytes_per_change = sotw_bytes / static_cast<double>(endpoint_changes);
    f.changed_endpoint_bytes = endpoint_changed / static_cast<double>(endpoint_changes);
  }
  if (vs_changes > 0) {
    f.delta_bytes_per_vs_change = delta_vs_bytes / static_cast<double>(vs_changes);
    f.sotw_bytes_per_vs_change = sotw_vs_bytes / static_cast<double>(vs_changes);
  }
  f.nacks = server.server->metrics().nacks;

  say(progress, "restart storm: same configuration, every client reconnects within 1 s");
  const int port = server.port;
  server.server->stop();
  server.server.reset();
  tracker.expect(nodes, all_types);
  const auto storm_start = steady::now();
  auto restarted_or
      = start_server("127.0.0.1:" + std::to_string(port), options.clients, tracker, snaps);
  if (!restarted_or) {
    return restarted_or.error();
  }
  auto& restarted = *restarted_or;
  std::mt19937_64 rng(options.seed);
  std::uniform_int_distribution<int> jitter(0, 999);
  std::vector<std::pair<int, size_t>> schedule;
  for (size_t i = 0; i < clients.size(); ++i) {
    schedule.emplace_back(jitter(rng), i);
  }
  std::sort(schedule.begin(), schedule.end());
  constexpr size_t workers = 8;
  std::vector<std::thread> threads;
  for (size_t w = 0; w < workers; ++w) {
    threads.emplace_back([&, w] {
      for (size_t j = w; j < schedule.size(); j += workers) {
        std::this_thread::sleep_until(storm_start + std::chrono::milliseconds(schedule[j].first));
        clients[schedule[j].second]->reconnect(restarted.port);
      }
    });
  }
  for (auto& t : threads) {
    t.join();
  }
  if (!tracker.wait(ack_bound)) {
    f.storm_all_acked_ms = -1;
  } else {
    f.storm_all_acked_ms = ms_since(storm_start);
  }
  say(progress, "closing clients");
  clients.clear();
  restarted.server->stop();
  return f;
}

std::string to_json(const xds_bench_figures& f) {
  nlohmann::json j;
  j["clients"] = f.clients;
  j["delta_clients"] = f.delta_clients;
  j["virtual_services"] = f.virtual_services;
  j["xds_resources"] = f.xds_resources;
  j["snapshot_mb"] = f.snapshot_mb;
  j["connect_all_acked_ms"] = f.connect_all_acked_ms;
  j["ack_all_p50_ms"] = f.ack_all_p50_ms;
  j["ack_all_p99_ms"] = f.ack_all_p99_ms;
  j["ack_all_vs_p50_ms"] = f.ack_all_vs_p50_ms;
  j["ack_all_endpoint_p50_ms"] = f.ack_all_endpoint_p50_ms;
  j["changes"] = f.changes;
  j["timeouts"] = f.timeouts;
  j["delta_bytes_per_change"] = f.delta_bytes_per_change;
  j["sotw_bytes_per_change"] = f.sotw_bytes_per_change;
  j["changed_endpoint_bytes"] = f.changed_endpoint_bytes;
  j["delta_bytes_per_vs_change"] = f.delta_bytes_per_vs_change;
  j["sotw_bytes_per_vs_change"] = f.sotw_bytes_per_vs_change;
  j["storm_all_acked_ms"] = f.storm_all_acked_ms;
  j["rss_mb"] = f.rss_mb;
  j["rss_growth_mb"] = f.rss_growth_mb;
  j["cpu_s"] = f.cpu_s;
  j["nacks"] = f.nacks;
  return j.dump();
}

std::string to_table(const xds_bench_figures& f) {
  std::ostringstream out;
  out << fmt::format("clients                    {} ({} delta, {} SotW)\n", f.clients,
                     f.delta_clients, f.clients - f.delta_clients);
  out << fmt::format(
      "world                      {} virtual services, {} xDS resources, {:.2f} MB\n",
      f.virtual_services, f.xds_resources, f.snapshot_mb);
  out << fmt::format("connect, all acked         {:.0f} ms\n", f.connect_all_acked_ms);
  out << fmt::format(
      "change -> all acked        p50 {:.1f} ms, p99 {:.1f} ms ({} changes, {} timeouts)\n",
      f.ack_all_p50_ms, f.ack_all_p99_ms, f.changes, f.timeouts);
  out << fmt::format("  virtual service / endpoint  p50 {:.1f} / {:.1f} ms\n", f.ack_all_vs_p50_ms,
                     f.ack_all_endpoint_p50_ms);
  out << fmt::format(
      "bytes per client, endpoint  delta {:.0f}, SotW {:.0f} (changed endpoints {:.0f})\n",
      f.delta_bytes_per_change, f.sotw_bytes_per_change, f.changed_endpoint_bytes);
  out << fmt::format("bytes per client, vs        delta {:.0f}, SotW {:.0f}\n",
                     f.delta_bytes_per_vs_change, f.sotw_bytes_per_vs_change);
  out << fmt::format("restart storm, all acked   {:.0f} ms\n", f.storm_all_acked_ms);
  out << fmt::format("rss                        {:.0f} MB (growth over rounds {:.1f} MB)\n",
                     f.rss_mb, f.rss_growth_mb);
  out << fmt::format("cpu during rounds          {:.2f} s\n", f.cpu_s);
  return out.str();
}

}  // namespace sluice::bench
