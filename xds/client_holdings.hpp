#pragma once
/// What one xDS client holds, as the server believes it, and the make-before-break rules that
/// decide what the client may receive next. Shared by `sotw_session` and `delta_session`, so
/// both protocols order a snapshot change the same way.
///
/// The ordering design (xds.md §1.6, reliability.md §1.6). A session walks the types in push
/// order CDS → EDS → LDS → RDS and, for each type, asks `shape()` to turn "what the snapshot
/// has for this client" into "what this client may hold now":
///
///  - Hold (new before use). A listener or route configuration whose new version routes to a
///    cluster that the client will receive (it is in the client's cluster target) but does not
///    have *active* yet is held back: the client keeps the version it has (or does not get the
///    resource yet) until the cluster is active. A cluster becomes active at the client when it
///    was sent and, for an EDS cluster whose load assignment exists, when that load assignment
///    was sent after it (Envoy warms a cluster until then), or when the client acknowledged the
///    CDS response without subscribing to the load assignment (it will not ask: Envoy sends its
///    EDS subscription change before the CDS ACK, grpc_mux_impl.cc). Routes are not warmed by
///    Envoy, so without the hold a route could name a cluster still warming.
///  - Retain (break last). A cluster that left the snapshot stays in what the client receives,
///    at the version it holds, while any listener or route configuration the client holds
///    still routes to it; so does its load assignment, and a route configuration that a held
///    listener still uses. "Holds" is the union of what was sent and what was last
///    acknowledged, so a cluster is removed only after the client acknowledged routes that no
///    longer use it.
///  - Fresh EDS. An Envoy that receives a new or changed EDS cluster warms it until it gets the
///    cluster's load assignment, even an unchanged one (xds.md §1.6 "Resource warming"); the
///    load assignment is then owed (`owed_endpoints`).
///
/// Clusters the client would never receive (a gRPC client subscribes to clusters by name after
/// it saw a route to them) are not waited for: holding would deadlock that client.
///
/// Not thread-safe: owned by one session. `reference_index` is thread-safe and shared.

#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "xds/snapshot.hpp"

namespace sluice::xds {

/// What a resource points at, read from its bytes.
struct resource_refs {
  std::vector<std::string> clusters;       ///< listener / route: clusters traffic may go to
  std::vector<std::string> route_configs;  ///< listener: RDS names its connection managers use
  std::string eds_name;                    ///< cluster of type EDS: its load assignment name
};
using resource_refs_ptr = std::shared_ptr<const resource_refs>;

/// Parses each distinct resource content once (keyed by type and content hash) and shares the
/// result between every session. Thread-safe; bounded (the cache is dropped when it grows past
/// `max_entries` and refilled on demand, since entries are pure functions of the bytes).
class reference_index {
 public:
  explicit reference_index(size_t max_entries = 200'000) : max_entries_(max_entries) {}

  /// The references of `r`; an unparsable resource has none.
  resource_refs_ptr of(const xds_resource& r);

  /// The process-wide index.
  static reference_index& shared();

 private:
  std::mutex mu_;
  size_t max_entries_;
  std::unordered_map<std::string, resource_refs_ptr> by_content_;
};

/// Parses references without caching (for tests and the index).
resource_refs parse_refs(const xds_resource& r);

/// A resource as the client holds it. `resource` is null when only the version is known (a
/// delta client reported it in `initial_resource_versions` and the content is not served now).
struct held_resource {
  std::string version;
  xds_resource_ptr resource;
};
using held_map = std::map<std::string, held_resource, std::less<>>;

/// The make-before-break state of one client (see the file comment).
class client_holdings {
 public:
  /// `envoy` turns on the fresh-EDS rule (gRPC clients do not warm clusters).
  explicit client_holdings(bool envoy = false, reference_index& index = reference_index::shared());

  /// The node is known only after the first request; sessions set this then.
  void set_envoy(bool envoy) { envoy_ = envoy; }

  /// What was sent of `type`: `sent` resources, `removed` names (delta), and for a SotW
  /// full-state response `replace` = everything not in `sent` is gone.
  void record_sent(std::string_view type, const std::vector<xds_resource_ptr>& sent,
                   const std::vector<std::string>& removed, bool replace);

  /// The latest response of `type` was acknowledged. For CDS, warming clusters whose load
  /// assignment the client does not subscribe to become active.
  void record_ack(std::string_view type, const std::function<bool(std::string_view)>& eds_wanted);

  /// A reconnecting delta client already holds these (name → version); content is taken from
  /// `snap` when the versions match. Clusters it holds are active (it was running them).
  void seed(std::string_view type, const std::map<std::string, std::string>& versions,
            const snapshot* snap);

  /// Held entries of `type` known only by version get their content from `available` when the
  /// versions match (a delta client seeded before the first snapshot arrived).
  void adopt(std::string_view type, const typed_resources& available);

  /// The client no longer subscribes to `names` of `type` (or to anything, with `all`).
  void forget(std::string_view type, const std::vector<std::string>& names);
  void forget_all(std::string_view type);

  /// What the client holds of `type` if it accepted everything sent.
  const held_map& sent(std::string_view type) const;

  /// Adjusts `target` (the snapshot resources of `type` the client subscribes to) by the hold
  /// and retain rules. `cluster_target` names the clusters the client is going to hold (the
  /// shaped CDS target); `snap` is the current snapshot. Held entries to retain whose content
  /// is unknown (a delta client reported only their version) cannot be put in `target`; their
  /// names go to `keep` (do not remove). Returns true if anything was held back or retained,
  /// i.e. the result may change when other types move.
  ///
  /// A held listener or route configuration of unknown content may use anything, so while one
  /// exists every held cluster (or route configuration) is retained; likewise every held load
  /// assignment while a held cluster's content is unknown.
  bool shape(std::string_view type, std::map<std::string, xds_resource_ptr, std::less<>>& target,
             const std::set<std::string, std::less<>>& cluster_target, const snapshot& snap,
             std::set<std::string, std::less<>>* keep = nullptr);

  /// Load assignments owed after a cluster change (fresh EDS); cleared by record_sent(EDS).
  const std::set<std::string, std::less<>>& owed_endpoints() const { return owed_endpoints_; }

  /// True if `cluster` is active at the client (held and warmed).
  bool cluster_active(std::string_view cluster) const { return active_.contains(cluster); }

  /// True if no held cluster is warming (every held cluster is active).
  bool clusters_warm() const { return warming_.empty(); }

  /// True if the content of every held entry is known (see `adopt`) and no reconnect
  /// barrier is up (see `assume_unknown_references`).
  bool content_known() const { return unknown_content_ == 0 && !assume_unknown_; }

  /// While set, the retain rules act as if a held listener and route configuration of unknown
  /// content existed: every held cluster, load assignment and route configuration is kept. A
  /// reconnecting client that was seeded from its reported versions sends its first requests
  /// for every type before it answers anything; until the server has read them all, it cannot
  /// know which routes the client still serves.
  void assume_unknown_references(bool on) {
    assume_unknown_ = on;
    references_stale_ = true;
  }

 private:
  struct type_state {
    held_map sent;
    held_map acked;  ///< kept for LDS and RDS only: they decide what is still referenced
  };
  type_state& state(std::string_view type);
  resource_refs_ptr refs(const held_resource& h);
  /// Clusters and route configurations referenced by held listeners and routes.
  void refresh_references();

  bool envoy_;
  reference_index& index_;
  std::map<std::string, type_state, std::less<>> types_;
  std::set<std::string, std::less<>> active_;
  std::map<std::string, std::string, std::less<>> warming_;  ///< cluster → load assignment name
  std::set<std::string, std::less<>> owed_endpoints_;
  size_t unknown_content_ = 0;  ///< held entries without content (see adopt)
  bool references_stale_ = true;
  std::set<std::string, std::less<>> referenced_clusters_;
  std::set<std::string, std::less<>> referenced_routes_;
  bool routes_unknown_ = false;     ///< a held listener or route configuration has no content
  bool listeners_unknown_ = false;  ///< a held listener has no content
  bool assume_unknown_ = false;     ///< see assume_unknown_references
};

}  // namespace sluice::xds
