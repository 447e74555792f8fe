#pragma once
/// Wires the whole server together, in the order that keeps startup safe: open the log, restore
/// the world from its state rows, bind the ADS server (gate closed), spawn the actors, then start
/// the sources. `sluice serve` and the end-to-end tests use this; nothing here holds logic.
///
/// Sources: a directory (default), or the Kubernetes API (`kube.client` set). With Kubernetes, the
/// watch cursors (last resourceVersion per collection) are stored in the event log with the
/// events they cover, so a restart resumes the watches; the Lease decides which replica writes
/// statuses (and the `gloo-usage` ConfigMap) and, in the `all` and `discovery` roles, the
/// discovered Upstream CRDs; every replica serves xDS. Discovered Upstreams exist only as CRDs:
/// every role reads them back through the Upstream watch (no in-memory copy), while Gloo's
/// in-memory `kube-svc:` upstreams and the Endpoints stay in memory everywhere. Settings
/// `watchNamespaces` changes apply while running unless the command line named the namespaces.
///
/// Roles (docs/kubernetes.md) only choose what a replica writes: every role reads the same
/// input and translates, so each replica's validation and statuses agree.

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "actors/journal_actor.hpp"
#include "actors/world_actor.hpp"
#include "caf/actor_system.hpp"
#include "caf/expected.hpp"
#include "xds/ads_server.hpp"

namespace sluice::adapters {
class kubernetes_client;
}

namespace sluice::actors {

/// What a replica does besides reading, translating and serving xDS, as Gloo splits its pods.
enum class serve_role : uint8_t {
  all,        ///< everything below, one Lease
  gloo,       ///< statuses of gloo.solo.io / enterprise kinds, gloo-usage
  gateway,    ///< statuses of gateway.solo.io kinds (and, by flags, the webhook)
  discovery,  ///< the discovered Upstream CRDs (Gloo's discovery pod), no statuses
};

/// "all", "gloo", "gateway", "discovery".
[[nodiscard]] caf::expected<serve_role> parse_serve_role(const std::string& text);
std::string_view name_of(serve_role role);

struct kubernetes_plane_options {
  /// Set: read from the Kubernetes API instead of the directory.
  std::shared_ptr<adapters::kubernetes_client> client;
  /// Namespaces to watch, fixed; empty = Settings `watchNamespaces` (the Settings
  /// `settings_name` in `write_namespace`, followed while running), and when those are empty
  /// too, all.
  std::vector<std::string> watch_namespaces;
  std::string write_namespace = "gloo-system";
  std::string settings_name = "default";
  /// Services, Endpoints and EndpointSlices become discovered Upstreams and Endpoints.
  bool discovery = true;
  /// Lease holder identity (the pod name); empty = host name and a random suffix.
  std::string identity;
  /// The Lease's name; empty = "sluice-<role>".
  std::string lease_name;
  std::chrono::milliseconds lease_duration{15'000};
  std::chrono::milliseconds renew_deadline{10'000};
  std::chrono::milliseconds retry_period{2'000};
  /// Status write-back rate limit (token bucket).
  double status_qps = 5.0;
  double status_burst = 10.0;
  /// Discovered Upstream writes (creates, updates, deletes) rate limit (token bucket).
  double discovery_qps = 20.0;
  double discovery_burst = 50.0;
  /// Between gloo-usage passes (changes of the proxies write at once).
  std::chrono::milliseconds usage_interval{30'000};
};

struct control_plane_options {
  std::string config_dir;               ///< Gloo directory layout to watch (directory source)
  std::string data_dir;                 ///< RocksDB event log
  std::string xds_listen = "0.0.0.0:9977";
  std::string metrics_listen;           ///< Prometheus /metrics; empty = off
  std::string admin_listen;             ///< admin / debug JSON (9095); empty = off
  /// ADS limits (max message size, streams, names per request, stall deadline, keepalive);
  /// `listen` is ignored in favour of xds_listen.
  xds::ads_server_options ads;
  /// Group commit, checkpoints and retention of the event log.
  journal_options journal;
  /// Observers of translation outcomes (status write-back, validation).
  world_hooks hooks;

  serve_role role = serve_role::all;
  /// The Kubernetes source, leader election and write-back; used when `kube.client` is set.
  kubernetes_plane_options kube;
  /// gRPC validation service (9988); empty = off.
  std::string validation_listen;
  /// Admission webhook (HTTPS, 8443, /validation); empty = off. Needs the certificate files.
  std::string webhook_listen;
  std::string webhook_cert_file;
  std::string webhook_key_file;
  /// Content-addressed Artifact bytes (9979); empty = off.
  std::string wasm_cache_listen;
};

class control_plane {
 public:
  [[nodiscard]] static caf::expected<std::unique_ptr<control_plane>> start(
      caf::actor_system& sys, const control_plane_options& options);
  ~control_plane();

  /// The bound xDS port.
  int xds_port() const;
  /// The bound metrics port, 0 when off or unavailable.
  int metrics_port() const;
  /// The bound admin port, 0 when off or unavailable.
  int admin_port() const;
  /// The bound validation (gRPC), webhook (HTTPS) and wasm-cache ports, 0 when off.
  int validation_port() const;
  int webhook_port() const;
  int wasm_cache_port() const;

  /// The newest translation outcome handed out (null before the first translation).
  translation_outcome_ptr latest_outcome() const;
  /// Kubernetes mode: whether this replica holds the Lease now.
  bool is_leader() const;

  /// Stops sources and the server, then the actors; idempotent.
  void stop();

  struct parts;

 private:
  explicit control_plane(std::unique_ptr<parts> p);
  std::unique_ptr<parts> parts_;
};

}  // namespace sluice::actors
