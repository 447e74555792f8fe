#pragma once
/// `sluice bench xds`: serving cost of ads_server with many Envoy-like clients over loopback
/// (issue "xDS serving, complete"). The translation benchmark's world (bench/workload.hpp)
/// scaled to `vs` VirtualServices is served to `clients` xds_load_clients, a `delta_fraction`
/// of them delta, the rest SotW; then one VirtualService change and one endpoint change are
/// published, `rounds` times, each timed from publish until every client ACKed every changed
/// resource (seen by the server's ACK observer); finally the server restarts with the same
/// configuration and every client reconnects at a random moment within one second, timed until
/// all of them ACKed all four types on the new server.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "caf/expected.hpp"

namespace sluice::bench {

struct xds_bench_options {
  size_t clients = 1'000;
  double delta_fraction = 0.5;
  size_t vs = 1'000;
  size_t rounds = 10;
  uint64_t seed = 1;
  /// Command line of a client host process (bench/xds_client_host.hpp), argv[0] first; the
  /// clients then run there and the figures separate server from clients. Empty: the clients
  /// run in this process.
  std::vector<std::string> client_host;
};

struct xds_bench_figures {
  size_t clients = 0;
  size_t delta_clients = 0;
  size_t virtual_services = 0;
  size_t xds_resources = 0;         ///< in the served snapshot
  double snapshot_mb = 0;           ///< serialized resources of the served snapshot
  double connect_all_acked_ms = 0;  ///< all clients connected and ACKed the initial config
  double ack_all_p50_ms = 0;        ///< change published -> every client ACKed it (both kinds)
  double ack_all_p99_ms = 0;
  double ack_all_vs_p50_ms = 0;
  double ack_all_endpoint_p50_ms = 0;
  size_t changes = 0;
  size_t timeouts = 0;  ///< changes not ACKed by everyone within the bound
  /// Bytes written per client per endpoint change, by protocol, and the size of the changed
  /// load assignments themselves (the target: delta ≤ 2 × changed endpoint bytes).
  double delta_bytes_per_change = 0;
  double sotw_bytes_per_change = 0;
  double changed_endpoint_bytes = 0;
  double delta_bytes_per_vs_change = 0;
  double sotw_bytes_per_vs_change = 0;
  double storm_all_acked_ms = 0;
  double rss_mb = 0;         ///< resident set size at the end
  double rss_growth_mb = 0;  ///< from after the first round to the end of the rounds
  double cpu_s = 0;          ///< process CPU (user + system) during the change rounds
  /// With a client host: this process's CPU (the server's) from each publish until every
  /// client ACKed, summed over the changes, and per change; translation is not included.
  double server_cpu_s = 0;
  double server_cpu_per_change_ms = 0;
  double client_cpu_s = 0;   ///< the client host's CPU during the change rounds
  double client_rss_mb = 0;  ///< the client host's resident set at the end of the rounds
  bool clients_out_of_process = false;
  uint64_t nacks = 0;
};

/// Fails (ec::source_error / invalid_argument) when the server cannot start or the clients do
/// not converge within 60 s.
[[nodiscard]] caf::expected<xds_bench_figures> run_xds_bench(
    const xds_bench_options& options, const std::function<void(const std::string&)>& progress);

[[nodiscard]] std::string to_json(const xds_bench_figures& f);
[[nodiscard]] std::string to_table(const xds_bench_figures& f);

}  // namespace sluice::bench
