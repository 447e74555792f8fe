#pragma once
/// Internal to the incremental translator (xds/incremental_translator.hpp): the cached pieces and
/// the state that ties them together. Split over three files: incremental_translator.cpp (world
/// changes, clusters, groups, virtual services, snapshots, the report), incremental_gateway.cpp
/// (gateway selection and placement, ports, proxies) and incremental_routes.cpp (Envoy virtual
/// hosts, route configurations, listeners, the proxyless view).
///
/// The gateway and route-configuration steps mirror model/gateway_translator.cpp and
/// xds/proxy_translator.cpp, whose batch code has no per-piece entry points: the property test
/// (test/property/incremental_equals_full_test.cpp) holds the two equal.

#include <map>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "envoy/config/route/v3/route.pb.h"
#include "model/dependency_index.hpp"
#include "model/gateway_settings.hpp"
#include "model/gateway_virtual_host.hpp"
#include "solo/gateway.pb.h"
#include "solo/gloo.pb.h"
#include "xds/envoy_clusters.hpp"
#include "xds/envoy_routes.hpp"
#include "xds/envoy_tls.hpp"
#include "xds/incremental_translator.hpp"

namespace sluice::xds {

namespace gl = ::gloo::solo::io;
namespace gw = ::gateway::solo::io;
using model::resource_key;
using model::resource_kind;

/// (arrival seq, key): Gloo-compatible conflict order, the newcomer loses (see
/// model/gateway_translator.cpp arrived_before).
using arrival_key = std::pair<uint64_t, resource_key>;

/// Time spent in one of the stats buckets (thread CPU time).
class stopwatch {
 public:
  explicit stopwatch(uint64_t& bucket);
  ~stopwatch();
  stopwatch(const stopwatch&) = delete;
  stopwatch& operator=(const stopwatch&) = delete;

 private:
  uint64_t& bucket_;
  uint64_t start_;
};
uint64_t thread_cpu_ns();

/// One Envoy virtual host, translated and serialized.
struct envoy_vhost {
  uint64_t input = 0;  ///< hash of what it was translated from
  std::string bytes;   ///< serialized envoy.config.route.v3.VirtualHost
  std::string disabled_bytes;  ///< with disable_ext_authz applied, when a listener needs it
  /// xds::field_hash of each as a RouteConfiguration's virtual_hosts field: a route
  /// configuration's version folds these instead of hashing its bytes again.
  uint64_t bytes_hash = 0;
  uint64_t disabled_hash = 0;
  std::string name;
  std::vector<std::string> domains;
  bool rejected = false;
  http_filter_use filters;
  bool sets_ext_authz = false;
  model::translation_report report;
};

/// One VirtualService: its Proxy virtual host and its proxyless Envoy virtual host.
struct vs_entry {
  model::virtual_host_translation t;
  uint64_t vhost_hash = 0;  ///< of the serialized Proxy virtual host; 0 when there is none
  uint64_t seq = 0;         ///< arrival seq the indexes below were built with
  std::shared_ptr<const google::protobuf::Message> message;  ///< the VirtualService translated
  std::optional<envoy_vhost> legacy;  ///< proxyless (legacy header matchers, no HTTP filters)
  std::vector<std::string> proxyless_domains;  ///< non-wildcard domains, in order
};

/// One VirtualService selected by one HTTP Gateway.
struct placement {
  uint64_t seq = 0;       ///< arrival seq it is indexed with
  bool eligible = false;  ///< has a virtual host (only those claim anything)
  std::vector<std::string> domains;
  gl::SslConfig ssl;      ///< as the listener carries it (TLS gateways)
  std::string tls_key;    ///< the sslConfig without sniDomains, serialized
  std::vector<std::string> sni;
  bool match_all = false;  ///< TLS without sniDomains
  /// The TLS secret problem (error or warning), checked after domain conflicts.
  std::optional<std::pair<bool, std::string>> secret_problem;
  /// Why it is not accepted (a conflict or the secret problem): error or warning.
  std::optional<std::pair<bool, std::string>> finding;
  bool accepted = false;
};

/// One Gateway (every kind the incremental path handles: HTTP, TCP, none).
struct gateway_entry {
  resource_key key;
  std::shared_ptr<const google::protobuf::Message> message;
  uint64_t seq = 0;
  bool read = false;          ///< in a namespace gateways are read from
  bool has_listener = false;  ///< listener_for would return a draft
  model::translation_report report;  ///< findings on the Gateway from listener_for
  gl::Listener header;        ///< the listener draft without virtual hosts or TLS configurations
  uint64_t header_hash = 0;
  // HTTP gateways: selection and placement.
  std::map<resource_key, placement> selected;
  std::set<arrival_key> arrival;
  std::set<resource_key> refs;  ///< VirtualServices named by virtualServices refs
  std::vector<resource_key> served;  ///< accepted, in key order
  std::unordered_map<std::string, size_t> domain_claims;  ///< over eligible selected
  std::unordered_map<std::string, size_t> sni_claims;
  std::unordered_map<std::string, size_t> key_claims;
  size_t match_all_claims = 0;
  bool placement_dirty = false;  ///< the whole placement must be recomputed
  bool listener_changed = true;  ///< served set or TLS configurations changed this flush
};

/// The route configuration and listener of one HTTP listener of one proxy.
struct http_listener_entry {
  std::map<resource_key, envoy_vhost> vhosts;  ///< by VirtualService, every placed one
  std::vector<resource_key> members;            ///< placed, in order
  /// The virtual hosts in the RouteConfiguration, in order: entries of `vhosts` (map nodes
  /// stay put; rebuilt whenever the members change).
  std::vector<envoy_vhost*> accepted_vhosts;
  std::map<resource_key, std::string> blame;    ///< RouteConfiguration-level errors
  http_filter_use filters;
  bool members_changed = true;
  bool bytes_changed = true;
  bool fresh = true;         ///< nothing translated yet
  bool require_tls = false;  ///< what the virtual hosts were translated with
  bool has_chains = false;
  xds_resource_ptr route_configuration;
  xds_resource_ptr listener;
  uint64_t listener_input = 0;
  uint64_t ssl_hash = 0;  ///< of the TLS configurations the listener was translated with
  model::translation_report listener_report;
  secret_map listener_secrets;
};

/// One listener of one proxy (from one Gateway).
struct listener_entry {
  resource_key gateway;
  std::string name;
  bool http = true;
  bool served = false;
  std::string duplicate;  ///< the error when an earlier listener of the proxy has this name
  http_listener_entry h;
  // TCP listeners
  xds_resource_ptr tcp;
  uint64_t tcp_input = 0;
  model::translation_report tcp_report;
  secret_map tcp_secrets;
  bool tcp_translated = false;
};

/// The content of one served snapshot, kept mutable between flushes.
struct snapshot_content {
  std::map<std::string, typed_resources, std::less<>> types;
  std::map<std::string, type_change, std::less<>> changes;  ///< since the last flush
  bool changed = true;
  bool ever_published = false;
  uint64_t watermark = 0;     ///< of the last flush that changed it
  snapshot_ptr published;     ///< built on demand from `types`
  bool stale = false;         ///< `published` is older than `types`

  void put(std::string_view type, const xds_resource_ptr& r);
  void remove(std::string_view type, const std::string& name);
};

/// One proxy role.
struct role_entry {
  std::string role;
  std::string proxy_name;
  std::vector<listener_entry> listeners;
  snapshot_content content;
  std::map<std::string, size_t> secret_refs;  ///< SDS secret name -> pieces that carry it
};

/// One Upstream translated for one client flavor.
struct cluster_entry {
  std::optional<std::string> cluster_name;
  xds_resource_ptr cluster;
  xds_resource_ptr load_assignment;
  secret_map secrets;
  std::map<std::string, xds_resource_ptr> secret_resources;
  model::translation_report report;
};

/// A world change pending until the next flush: the form before the first change of the batch.
struct pending_change {
  std::shared_ptr<const google::protobuf::Message> before;
};

enum class piece_kind : uint8_t {
  vs_vhost = 1,     ///< a VirtualService's Proxy virtual host
  envoy_vhosts,     ///< every Envoy virtual host of a VirtualService (all listeners, proxyless)
  cluster,          ///< an Upstream's clusters
  group,            ///< an UpstreamGroup's findings
  vs_tls,           ///< a VirtualService's TLS placement (the secret it names)
  listeners,        ///< every HTTP listener (TLS secrets)
  tcp,              ///< every TCP listener
};

struct incremental_translator::state {
  explicit state(incremental_options o);

  // --- configuration ---------------------------------------------------------------------------
  incremental_options requested;
  model::gateway_translation_options gopt;  ///< effective (Settings applied)
  envoy_translation_options eopt;
  std::optional<model::translation_settings> settings;

  // --- the world and what changed ----------------------------------------------------------------
  model::world world;
  std::map<resource_key, pending_change> pending;
  bool rebuild = true;     ///< drop every piece and translate everything
  bool full_mode = false;  ///< hybrid gateways present: translate_world does everything
  model::translation_report full_report;  ///< the report of that translation
  model::dependency_index deps;
  std::map<resource_key, std::set<resource_key>> endpoints_of;  ///< upstream -> Endpoints

  // --- pieces ------------------------------------------------------------------------------------
  std::map<resource_key, vs_entry> vss;
  std::map<resource_key, cluster_entry> envoy_clusters;      ///< by Upstream
  std::map<resource_key, cluster_entry> proxyless_clusters;  ///< by Upstream
  cluster_translation envoy_cluster_set;      ///< clusters by name, for route resolution
  cluster_translation proxyless_cluster_set;
  std::map<resource_key, model::translation_report> groups;  ///< findings by UpstreamGroup
  std::map<resource_key, gateway_entry> gateways;
  std::map<std::string, role_entry> roles;
  std::map<std::pair<resource_key, std::string>, std::string> port_errors;  ///< (gw, proxy)
  std::vector<resource_key> gateways_by_arrival;  ///< with a listener, for port decisions
  // proxyless view
  std::map<std::string, std::set<arrival_key>> domain_candidates;  ///< VSs with a vhost
  std::map<std::string, resource_key> domain_owner;
  std::set<arrival_key> vs_arrival;   ///< every VirtualService with an entry
  snapshot_content proxyless;
  std::map<std::string, xds_resource_ptr> api_listeners;  ///< by domain (depends on nothing else)
  std::map<std::string, size_t> proxyless_secret_refs;

  // --- what this flush must redo -----------------------------------------------------------------
  std::set<resource_key> dirty_vs;         ///< Proxy virtual hosts to translate
  std::set<resource_key> dirty_envoy;      ///< Envoy virtual hosts to translate (by VS)
  std::set<resource_key> changed_vs;       ///< VSs whose message or virtual host changed
  std::set<resource_key> dirty_placement;  ///< VSs whose TLS placement must be re-checked
  std::set<resource_key> dirty_clusters;   ///< Upstreams
  /// Whether the world held any Service at the last flush: kube Upstreams are checked against
  /// Services only then (xds::translate_upstream), so all of them are translated again when it
  /// flips.
  bool services_known = false;
  std::set<resource_key> dirty_groups;
  std::set<std::string> dirty_domains;     ///< proxyless domains whose owner may change
  bool gateways_dirty = true;   ///< rebuild every gateway (selection scans)
  bool listeners_dirty = true;  ///< re-translate every HTTP listener (secrets)
  bool tcp_dirty = true;
  bool proxies_dirty = true;    ///< recompute ports and which listeners each proxy has
  bool no_virtual_services = true;  ///< the world had none at the last flush

  incremental_stats stats;

  // --- piece ids ---------------------------------------------------------------------------------
  std::map<std::pair<piece_kind, resource_key>, model::piece_id> ids;
  std::vector<std::pair<piece_kind, resource_key>> id_keys;
  model::piece_id id_of(piece_kind kind, const resource_key& key);
  void mark(model::piece_id id);

  // --- incremental_translator.cpp ----------------------------------------------------------------
  void note_change(const resource_key& key, std::shared_ptr<const google::protobuf::Message> before);
  void start_over();
  void propagate();
  void translate_clusters();
  void translate_groups();
  void translate_virtual_services();
  translation_delta publish();
  snapshot_ptr published(const std::string& key, snapshot_content& content);
  translation_delta full_translation();
  /// Adds every finding to `r` (which may keep only some keys: translation_report::only).
  model::translation_report assemble_report(model::translation_report r) const;

  // --- incremental_gateway.cpp -------------------------------------------------------------------
  void update_gateways();
  void rebuild_gateway(gateway_entry& g);
  void gateway_header(gateway_entry& g);
  bool selects(const gateway_entry& g, const model::stored_resource& vs) const;
  void place_one(gateway_entry& g, const resource_key& vs_key);
  void compute_placement(const gateway_entry& g, const model::stored_resource& vs,
                         placement& p) const;
  void count_claims(gateway_entry& g, const placement& p, int delta) const;
  bool entangled(const gateway_entry& g, const placement& p) const;
  void place_all(gateway_entry& g);
  void update_proxies();
  std::vector<std::string> proxy_names(const gateway_entry& g) const;
  gl::VirtualHost qualified(const resource_key& vs, const gateway_entry& g,
                            const std::string& proxy_name) const;

  // --- incremental_routes.cpp --------------------------------------------------------------------
  envoy_vhost translate_vhost(const gl::VirtualHost& vh, bool require_tls, bool proxyless,
                              uint64_t input);
  model::piece_reads vhost_reads(const gl::VirtualHost& vh) const;
  void update_roles();
  void update_listener(role_entry& role, listener_entry& l);
  void update_http_listener(role_entry& role, listener_entry& l, const gateway_entry& g);
  void update_tcp_listener(role_entry& role, listener_entry& l, const gateway_entry& g);
  void update_proxyless();
  /// A serialized virtual host and its field hash (envoy_vhost::bytes_hash).
  struct rc_part {
    const std::string* bytes;
    uint64_t hash;
  };
  xds_resource_ptr route_configuration(const std::string& name,
                                       const std::vector<rc_part>& vhosts);
  void put_cluster_items(snapshot_content& content, std::map<std::string, size_t>& secret_refs,
                         const cluster_entry* before, const cluster_entry* after);
};

/// The message of a resource in the world, or nullptr.
const google::protobuf::Message* message_of(const model::world& w, const resource_key& key);

/// xds::bytes_hash of the canonical bytes of `m` (an input fingerprint, never published).
uint64_t hash_of(const google::protobuf::Message& m);

/// A hash combining two hashes (order matters).
uint64_t mix(uint64_t a, uint64_t b);
uint64_t mix(uint64_t a, std::string_view s);

/// What route translation reads from an Upstream besides its existence, hashed.
uint64_t route_fingerprint(const google::protobuf::Message& upstream);

/// An xds_resource from already serialized bytes (version = content hash, as make_resource).
xds_resource_ptr resource_from_bytes(std::string name, std::string_view type_url,
                                     std::string bytes, uint64_t& hash_ns);

}  // namespace sluice::xds
