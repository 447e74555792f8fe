#pragma once
/// Workload generator for the translation and xDS benchmarks and the property tests: a
/// deterministic (seeded) world of Gloo resources shaped like the default scenario, and
/// random change events against it.
///
/// Default scenario (scale with `virtual_services`; everything else is proportional):
/// 10,000 VirtualServices with 10 routes each, 20% of them delegating through a 3-level
/// RouteTable chain, 5,000 Upstreams with 10 endpoints each, 5 UpstreamGroups per 100
/// VirtualServices, one Gateway pair (HTTP 8080 and HTTPS 8443 with 500 SNI domains).

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "model/world.hpp"
#include "sluice/v1/event.pb.h"

namespace sluice::bench {

struct workload_options {
  size_t virtual_services = 10'000;
  size_t routes_per_vs = 10;
  double delegating_fraction = 0.2;
  size_t delegation_depth = 3;
  size_t upstreams = 5'000;          ///< scaled with virtual_services when left at default
  size_t endpoints_per_upstream = 10;
  size_t groups_per_100_vs = 5;
  size_t sni_domains = 500;
  uint64_t seed = 1;

  /// The default scenario scaled to `vs` VirtualServices.
  static workload_options scaled(size_t vs);
};

/// Events (accepted upserts, with canonical bytes) that build the whole world, in an order a
/// source could deliver them. seq fields are 0; the log assigns them.
[[nodiscard]] std::vector<sluice::v1::Event> initial_events(const workload_options& options);

/// The world those events build (watermark = number of events).
[[nodiscard]] model::world build_world(const workload_options& options);

enum class change_kind : uint8_t { endpoint, virtual_service, upstream, route_table };

/// One random change against `w` of the given kind (an upsert of an existing or new resource,
/// or a delete), as an event.
[[nodiscard]] sluice::v1::Event random_change(const model::world& w, change_kind kind,
                                              std::mt19937_64& rng);

}  // namespace sluice::bench
