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
#include "bench/xds_client_host.hpp"
#include "bench/xds_load_client.hpp"
#include "model/error.hpp"
#include "xds/ads_server.hpp"
#include "xds/world_translation.hpp"

namespace sluice::bench {

namespace {

using steady = std::chrono::steady_clock;
constexpr auto ack_bound = std::chrono::seconds(60);

double ms_since(steady::time_point t) {
  return std::chrono::duration<double, std::milli>(steady::now() - t).count();
}

double rss_mb() { return process_rss_mb(); }
double cpu_seconds() { return process_cpu_s(); }

/// The load clients, in this process or in a client host process.
class client_fleet {
 public:
  client_fleet(size_t clients, size_t delta_clients, std::string role)
      : n_(clients), delta_(delta_clients), role_(std::move(role)) {}

  caf::error start(const std::vector<std::string>& host) {
    if (host.empty()) {
      return {};
    }
    remote_ = std::make_unique<client_host_process>();
    return remote_->start(host);
  }

  caf::error connect(int port) {
    if (remote_) {
      auto r = remote_->call(fmt::format("connect {} {} {} {}", port, role_, n_, delta_));
      return r ? caf::error{} : r.error();
    }
    for (size_t i = 0; i < n_; ++i) {
      local_.push_back(std::make_unique<xds_load_client>(
          load_client_options{.node_id = load_client_node_id(i), .role = role_, .delta = i < delta_}));
      local_.back()->connect(port);
    }
    return {};
  }

  caf::error storm(int port, uint64_t seed) {
    if (remote_) {
      auto r = remote_->call(fmt::format("storm {} {}", port, seed));
      return r ? caf::error{} : r.error();
    }
    std::mt19937_64 rng(seed);
    std::uniform_int_distribution<int> jitter(0, 999);
    std::vector<std::pair<int, size_t>> schedule;
    for (size_t i = 0; i < local_.size(); ++i) {
      schedule.emplace_back(jitter(rng), i);
    }
    std::sort(schedule.begin(), schedule.end());
    const auto start = steady::now();
    constexpr size_t workers = 8;
    std::vector<std::thread> threads;
    for (size_t w = 0; w < workers; ++w) {
      threads.emplace_back([&, w] {
        for (size_t j = w; j < schedule.size(); j += workers) {
          std::this_thread::sleep_until(start + std::chrono::milliseconds(schedule[j].first));
          local_[schedule[j].second]->reconnect(port);
        }
      });
    }
    for (auto& t : threads) {
      t.join();
    }
    return {};
  }

  /// (rss_mb, cpu_s) of the client host; zeros in process.
  std::pair<double, double> stats() {
    if (!remote_) {
      return {0, 0};
    }
    auto r = remote_->call("stats");
    std::pair<double, double> out{0, 0};
    if (r) {
      std::istringstream words(*r);
      std::string tag;
      words >> tag >> out.first >> out.second;
    }
    return out;
  }

  void stop() {
    local_.clear();
    if (remote_) {
      remote_->stop();
    }
  }

  bool remote() const { return remote_ != nullptr; }

 private:
  size_t n_, delta_;
  std::string role_;
  std::unique_ptr<client_host_process> remote_;
  std::vector<std::unique_ptr<xds_load_client>> local_;
};

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
  for (size_t i = 0; i < options.clients; ++i) {
    nodes.push_back(load_client_node_id(i));
  }
  client_fleet clients(options.clients, f.delta_clients, key);
  if (auto err = clients.start(options.client_host)) {
    return err;
  }
  f.clients_out_of_process = clients.remote();
  const std::set<std::string> all_types
      = {ack_tracker::key(xds::cluster_type), ack_tracker::key(xds::endpoint_type),
         ack_tracker::key(xds::listener_type), ack_tracker::key(xds::route_type)};

  say(progress, fmt::format("connecting {} clients ({} delta) to role {}", options.clients,
                            f.delta_clients, key));
  tracker.expect(nodes, all_types);
  auto t0 = steady::now();
  if (auto err = clients.connect(server.port)) {
    return err;
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
  const double client_cpu0 = clients.stats().second;
  double server_cpu = 0;
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
      const double window_cpu0 = cpu_seconds();
      const auto start = steady::now();
      for (const auto& [k, snap] : snaps) {
        server.server->publish(snap);
      }
      const bool acked = tracker.wait(ack_bound);
      const double ms = ms_since(start);
      server_cpu += cpu_seconds() - window_cpu0;
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
    say(progress, fmt::format("round {}/{}: last change acked by all in {:.1f} ms, rss {:.1f} MB",
                              round + 1, options.rounds, all.empty() ? 0.0 : all.back(), rss_mb()));
  }
  f.cpu_s = cpu_seconds() - cpu0;
  if (clients.remote()) {
    const auto [client_rss, client_cpu] = clients.stats();
    f.client_rss_mb = client_rss;
    f.client_cpu_s = client_cpu - client_cpu0;
    f.server_cpu_s = server_cpu;
    f.server_cpu_per_change_ms
        = f.changes > 0 ? 1000.0 * server_cpu / static_cast<double>(f.changes) : 0;
  }
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
  if (auto err = clients.storm(restarted.port, options.seed)) {
    return err;
  }
  if (!tracker.wait(ack_bound)) {
    f.storm_all_acked_ms = -1;
  } else {
    f.storm_all_acked_ms = ms_since(storm_start);
  }
  say(progress, "closing clients");
  clients.stop();
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
  j["clients_out_of_process"] = f.clients_out_of_process;
  j["server_cpu_s"] = f.server_cpu_s;
  j["server_cpu_per_change_ms"] = f.server_cpu_per_change_ms;
  j["client_cpu_s"] = f.client_cpu_s;
  j["client_rss_mb"] = f.client_rss_mb;
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
  if (f.clients_out_of_process) {
    out << fmt::format(
        "server cpu, publish->acked {:.2f} s ({:.1f} ms per change); clients {:.2f} s, "
        "{:.0f} MB rss\n",
        f.server_cpu_s, f.server_cpu_per_change_ms, f.client_cpu_s, f.client_rss_mb);
  }
  return out.str();
}

}  // namespace sluice::bench
