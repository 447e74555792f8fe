#pragma once
/// Workload generator for the translation and xDS benchmarks and the property tests: a
/// deterministic (seeded) world of Gloo resources shaped like the default scenario, and
/// random change events against it.
///
/// Default scenario (scale with `virtual_services`; everything else is proportional):
/// 10,000 VirtualServices with 10 routes each, 20% of them delegating through a 3-level
/// RouteTable chain, 5,000 Upstreams with 10 endpoints each, 5 UpstreamGroups per 100
/// VirtualServices, one Gateway pair (HTTP 8080 and HTTPS 8443 with 500 SNI domains). Like a
/// Kubernetes cluster, the world holds a Service for every kube Upstream (and one more,
/// default.kubernetes, that no Upstream names), plus a few kube Upstreams ("svc-unbound-<i>")
/// naming a Service that does not exist: those are rejected and get no cluster, and no route or
/// group names them.
///
/// Every resource generated is valid Gloo input (it decodes and validates) and the whole world
/// translates without errors or warnings except the svc-unbound Upstreams' missing Services;
/// updates (next_update) keep it so. Other changes do not: deletes leave dangling references,
/// and Upstream and Service changes may leave a kube Upstream without its Service.

#include <cstdint>
#include <map>
#include <random>
#include <string>
#include <unordered_map>
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
  /// Namespaces the non-gateway resources are spread over ("team-0", ...); 0 = one per 1,000
  /// VirtualServices, between 1 and 10.
  size_t namespaces = 0;
  /// Fraction of delegation chains whose second hop selects its RouteTable by labels instead of
  /// by reference. Kept small: selector delegation scans every RouteTable of the world.
  double selector_fraction = 0.1;
  /// One Upstream in `static_every` is a static upstream (hosts inline) instead of a kube
  /// upstream with Endpoint resources; 0 = none.
  size_t static_every = 20;
  /// Kube Upstreams get the Kubernetes Service they name (as discovery finds them). false: a
  /// directory world without Services, where translation checks no kube Upstream's Service.
  bool services = true;
  /// Extra kube Upstreams, with Endpoints like the others, whose Service does not exist (only
  /// when `services`): rejected by translation, named by nothing.
  size_t missing_services = 3;

  /// The default scenario scaled to `vs` VirtualServices.
  static workload_options scaled(size_t vs);
};

/// Events (accepted upserts, with canonical bytes) that build the whole world, in an order a
/// source could deliver them. seq fields are 0; the log assigns them.
[[nodiscard]] std::vector<sluice::v1::Event> initial_events(const workload_options& options);

/// The world those events build (watermark = number of events).
[[nodiscard]] model::world build_world(const workload_options& options);

enum class change_kind : uint8_t { endpoint, virtual_service, upstream, route_table, service };

/// One random change against `w` of the given kind (an upsert of an existing or new resource,
/// or a delete), as an event. Picks its target in O(size of the kind); use change_generator for
/// long sequences.
[[nodiscard]] sluice::v1::Event random_change(const model::world& w, change_kind kind,
                                              std::mt19937_64& rng);

/// Flips the world between "holds Services" and "holds none", which decides whether translation
/// checks kube Upstreams against Services at all: deletes every Service when there is any,
/// otherwise creates the Service of most kube Upstreams (7 in 8; the others stay missing). The
/// events are not applied; apply them in order, in one batch or spread over several.
[[nodiscard]] std::vector<sluice::v1::Event> service_flip(const model::world& w,
                                                          std::mt19937_64& rng);

/// An accepted upsert event for `message` (canonical bytes, content hash, origin in Gloo's
/// directory layout), or a delete event when `message` is null.
[[nodiscard]] sluice::v1::Event make_event(const model::resource_key& key,
                                           const google::protobuf::Message* message);

/// Applies an event built by this file (accepted upsert or delete) to a world, with `seq` as its
/// sequence number and the new watermark.
void apply_to(model::world& w, const sluice::v1::Event& ev, uint64_t seq);

/// Generates long random change sequences quickly: owns a copy of the world it changes (every
/// event it returns is already applied to it) and indexes the keys of each kind, so a pick costs
/// O(1). Deterministic for a given world and seed.
class change_generator {
 public:
  change_generator(model::world w, uint64_t seed);

  /// The churn mix: 80% endpoints, 15% VirtualServices, 5% Upstreams and RouteTables.
  /// No Service changes and no kube Upstream retargeted (Kubernetes Services change rarely next
  /// to Endpoints); its new Upstreams name existing Services. So its figures compare with the
  /// ones measured before Services were in the world.
  [[nodiscard]] sluice::v1::Event next_churn();
  [[nodiscard]] sluice::v1::Event next(change_kind kind);
  /// An update that keeps the resource's identity and shape (no create, no delete): what the
  /// latency benchmarks edit.
  [[nodiscard]] sluice::v1::Event next_update(change_kind kind);
  /// service_flip on this generator's world, applied.
  [[nodiscard]] std::vector<sluice::v1::Event> next_service_flip();

  const model::world& world() const { return world_; }
  std::mt19937_64& rng() { return rng_; }

 private:
  struct key_list {
    std::vector<model::resource_key> keys;
    std::map<model::resource_key, size_t> index;
    void add(const model::resource_key& k);
    void remove(const model::resource_key& k);
  };
  sluice::v1::Event emit(sluice::v1::Event ev);
  const model::resource_key* pick(model::resource_kind kind);
  sluice::v1::Event change(change_kind kind, bool update_only, bool churn = false);

  model::world world_;
  std::mt19937_64 rng_;
  std::unordered_map<uint8_t, key_list> keys_;
  uint64_t seq_ = 0;
  uint64_t fresh_ = 0;  ///< counter for names of created resources
};

}  // namespace sluice::bench
