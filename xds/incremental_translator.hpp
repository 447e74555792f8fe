#pragma once
/// The incremental translator (DESIGN.md "Translation: incremental by construction"): holds the
/// world, takes committed events, and keeps every snapshot equal, byte for byte (resources,
/// versions and the translation report), to what xds::translate_world computes for the same
/// world — while translating only what the events changed.
///
/// How: every derived piece is cached with what it read (model::dependency_index):
///  - per VirtualService, its Proxy virtual host (model::translate_virtual_service), which reads
///    the VirtualService and the RouteTables it reaches by reference or selector;
///  - per Upstream and client flavor, its Cluster and ClusterLoadAssignment
///    (xds::translate_upstream), which read the Upstream, its Endpoints and its Secrets: endpoint
///    churn touches these and EDS only;
///  - per UpstreamGroup, its findings;
///  - per listener and VirtualService, the Envoy virtual host (xds::translate_virtual_host),
///    kept serialized; per proxyless domain, its API listener and RouteConfiguration;
///  - per HTTP Gateway, which VirtualServices it selects and places (domain and TLS conflicts in
///    arrival order), updated per VirtualService; per listener, the Envoy Listener.
/// A RouteConfiguration with thousands of virtual hosts is assembled by concatenating the cached
/// serialized virtual hosts (protobuf's wire format allows concatenating repeated fields), so an
/// edit re-serializes one virtual host. Versions are content hashes (xds/snapshot.hpp), so a
/// restart or a replica computes the same ones.
///
/// Batching: apply() only records what changed (a burst of N changes to one resource is one
/// change); flush() translates once for everything applied since the last flush.
///
/// Not incremental (the whole world is re-translated with translate_world while they exist):
/// hybrid Gateways. A Settings change rebuilds every piece (it changes translation options).
///
/// Single owner, not thread-safe (the world actor holds it).

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "caf/expected.hpp"
#include "model/gateway_translator.hpp"
#include "model/translation_report.hpp"
#include "model/world.hpp"
#include "sluice/v1/event.pb.h"
#include "xds/proxy_translator.hpp"
#include "xds/snapshot.hpp"

namespace sluice::xds {

struct incremental_options {
  model::gateway_translation_options gateway;
  envoy_translation_options envoy;
};

/// What the translator did, cumulative. Times are this thread's CPU time.
struct incremental_stats {
  uint64_t translate_ns = 0;  ///< in translation functions (Gloo resources -> Envoy messages)
  uint64_t assemble_ns = 0;   ///< serializing, concatenating, building snapshots
  uint64_t hash_ns = 0;       ///< resource and type versions
  uint64_t flushes = 0;
  uint64_t full_rebuilds = 0;        ///< flushes that rebuilt every piece (load, Settings)
  uint64_t full_translations = 0;    ///< flushes done by translate_world (hybrid gateways)
  uint64_t virtual_services = 0;     ///< VirtualServices translated (Proxy virtual hosts)
  uint64_t envoy_virtual_hosts = 0;  ///< Envoy virtual hosts translated
  uint64_t upstreams = 0;            ///< Upstreams translated (both client flavors count once)
  uint64_t route_configurations = 0; ///< RouteConfigurations assembled
  uint64_t listeners = 0;            ///< Listeners translated
  uint64_t placements = 0;           ///< gateway placements recomputed over a whole gateway
};

/// How one type of one snapshot changed in a flush.
struct type_change {
  std::vector<std::string> upserted;  ///< names added or whose version changed
  std::vector<std::string> removed;
};

struct snapshot_change {
  std::map<std::string, type_change, std::less<>> types;  ///< by type URL, changed types only
};

/// What a flush changed: the snapshots whose content changed (get them with snapshot(key)), with
/// the resources that changed per type (for delta xDS), and the keys that are no longer served (a
/// Proxy that went away: serve it an empty snapshot, as Gloo does).
struct translation_delta {
  uint64_t watermark = 0;
  std::map<std::string, snapshot_change> changed;
  std::vector<std::string> removed;
};

class incremental_translator {
 public:
  explicit incremental_translator(incremental_options options = {});
  ~incremental_translator();
  incremental_translator(const incremental_translator&) = delete;
  incremental_translator& operator=(const incremental_translator&) = delete;

  /// Replaces the world (startup: the state restored from the log). Everything is translated at
  /// the next flush.
  void reset(model::world w);

  /// Applies one committed event (in seq order): accepted upserts and deletes change the world,
  /// every event moves the watermark. An accepted upsert whose bytes do not parse is an error
  /// (a corrupt log) and changes nothing.
  [[nodiscard]] caf::expected<void> apply(const sluice::v1::Event& ev);

  /// Direct world changes, for callers that hold decoded resources.
  void put(model::stored_resource resource);
  void erase(const model::resource_key& key);
  void set_watermark(uint64_t seq);

  /// Translates what changed since the last flush.
  translation_delta flush();

  const model::world& world() const;

  /// Every snapshot currently served (as of the last flush), by key.
  std::map<std::string, snapshot_ptr> snapshots();

  /// One snapshot as of the last flush, or nullptr when the key is not served. Built on first
  /// request after a change and kept until the next change; it shares the unchanged parts of
  /// every type with the previous one (xds::resource_map), so building it costs the number of
  /// types, not of resources.
  snapshot_ptr snapshot(std::string_view key);

  /// The translation report of the last flush, equal to translate_world's; assembled from the
  /// cached pieces on each call (cost proportional to the world, no translation).
  model::translation_report report() const;
  /// The findings of `keys` only, as report() has them, without copying anyone else's (the
  /// world actor asks this after each flush about the resources that changed).
  model::translation_report report_for(std::set<model::resource_key> keys) const;
  /// The errors report() has for one VirtualService or Upstream, found without assembling the
  /// report (cost: the number of Gateways and listeners); nullopt for other kinds (ask
  /// report_for).
  std::optional<std::vector<std::string>> errors_of(const model::resource_key& key) const;

  const incremental_stats& stats() const;

  struct state;

 private:
  std::unique_ptr<state> state_;
};

}  // namespace sluice::xds
