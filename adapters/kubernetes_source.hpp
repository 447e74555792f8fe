#pragma once
/// The Kubernetes source: list + watch of every Gloo CRD kind, TLS Secrets (as Gloo Secrets),
/// ConfigMaps (as Artifacts) and, for discovery, Services, Endpoints and EndpointSlices, in the
/// watched namespaces (reference reliability.md §1.1-1.3, gloo.md §1.0, §3.5).
///
/// Promises:
///  - Watch semantics as the API server defines them. Each collection (per namespace, or
///    cluster-wide when every namespace is watched) is listed (paginated), then watched from the
///    list's resourceVersion with bookmarks allowed. A broken or timed-out watch resumes from the
///    last resourceVersion seen (event or bookmark); resourceVersions are only ever compared for
///    equality. `410 Gone` (an ERROR event or the HTTP status) drops the resourceVersion, lists
///    again and diffs the list against what the source holds: changed objects are upserts,
///    objects that vanished while disconnected are synthetic removes. Other failures back off
///    exponentially with jitter.
///  - Output: upserts and removes whose `origin` is the object's API path without the leading
///    '/' ("apis/gateway.solo.io/v1/namespaces/default/virtualservices/foo"), whose `revision` is
///    the object's resourceVersion and whose bytes are the object in the Kubernetes form with the
///    server-managed fields (resourceVersion, uid, managedFields, status, ...) removed, so a
///    status write-back or a no-op update does not look like a change. A kubernetes.io/tls Secret
///    is passed as the Secret (the decoder converts it); other Secret types are not Gloo input
///    and are skipped (a Secret that stops being TLS is a remove). A ConfigMap becomes an Artifact
///    (`spec.data` = its data). Discovery output (kubernetes_discovery) comes under the source
///    name `kubernetes-discovery`.
///  - `synced` is reported once, after every collection's initial list (or, for a resumed watch,
///    its accepted watch request) is in: one event for "kubernetes" and, with discovery, one for
///    "kubernetes-discovery". Its `revision` is "resumed" when at least one collection resumed
///    from a saved cursor without listing: then the listing was not complete and absences mean
///    nothing (see `known_origins`); otherwise "listed".
///  - Cursors: the last resourceVersion per watched collection, named by the watch path
///    ("kubernetes/apis/gateway.solo.io/v1/namespaces/default/virtualservices"), delivered with
///    the batch they belong to. A cursor is valid once the events of its batch and all earlier
///    batches are stored; persist it with them. Started with `resume`, a collection resumes its
///    watch from the saved resourceVersion and lists only when the server says 410.
///    Collections that feed discovery always list at start (discovery needs the whole set).
///  - Sink calls never overlap, and come from the source's threads (one per collection).
///  - An optional slow, jittered relist (`resync`) as anti-entropy: differences it finds are
///    delivered and counted.
///  - With `follow_settings`, the watched namespaces follow Settings `spec.watchNamespaces` (the
///    Settings `settings_name` in the write namespace; absent or empty = all) without a restart:
///    a changed list stops the watches of namespaces no longer watched and removes what they held
///    (synthetic removes, their cursors cleared), and lists and watches the new ones. An object
///    still watched under the new scope (every namespace <-> a list) is handed over, not removed
///    and re-added. Progress is logged ("changing", "stopped watching", "applied").
///  - With a `discovery_writer`, the desired discovered Upstreams go to it as they change, every
///    Upstream the watch holds in the write namespace is observed by it, and it is told when the
///    initial lists are in (only then may it delete what no Service wants).

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "adapters/kubernetes_client.hpp"
#include "adapters/kubernetes_discovery.hpp"
#include "adapters/kubernetes_discovery_writer.hpp"
#include "caf/expected.hpp"
#include "model/resource_kind.hpp"
#include "model/source_event.hpp"

namespace sluice::adapters {

/// What a collection holds for sluice.
enum class kube_role : uint8_t {
  gloo_crd,       ///< a Gloo kind as a Custom Resource
  secret,         ///< core Secrets; kubernetes.io/tls ones are Gloo Secrets
  configmap,      ///< core ConfigMaps, as Gloo Artifacts
  service,        ///< discovery input
  endpoints,      ///< discovery input (fallback when a Service has no EndpointSlices)
  endpointslice,  ///< discovery input (discovery.k8s.io/v1)
};

/// One resource type the source lists and watches.
struct kube_collection {
  std::string group;  ///< "" for the core group
  std::string version;
  std::string plural;
  std::string kind;
  kube_role role = kube_role::gloo_crd;
  std::optional<model::resource_kind> gloo_kind;  ///< the kind its events carry

  /// "api/v1" or "apis/<group>/<version>".
  std::string prefix() const;
  /// The collection path in a namespace, or cluster-wide for an empty `ns`, without leading '/'.
  std::string path(const std::string& ns) const;
};

/// The collection of a Gloo kind: its CRD, or for Secret and Artifact the core Secrets and
/// ConfigMaps; none for Endpoint (never stored in Kubernetes).
std::optional<kube_collection> collection_for(model::resource_kind kind);

struct kubernetes_source_options {
  std::shared_ptr<kubernetes_client> client;
  std::vector<std::string> watch_namespaces;    ///< Settings watchNamespaces; empty = all
  std::string write_namespace = "gloo-system";  ///< always watched too (Gloo does the same)
  /// Gloo kinds to read; Secret and Artifact mean core Secrets and ConfigMaps.
  std::vector<model::resource_kind> kinds
      = {model::resource_kind::gateway,        model::resource_kind::virtual_service,
         model::resource_kind::route_table,    model::resource_kind::upstream,
         model::resource_kind::upstream_group, model::resource_kind::settings,
         model::resource_kind::proxy,          model::resource_kind::auth_config,
         model::resource_kind::secret,         model::resource_kind::artifact};
  /// Discovery: Services, Endpoints and EndpointSlices become Upstreams and Endpoints.
  bool discovery = false;
  kubernetes_discovery_options discovery_options;
  /// Set: the discovered Upstreams are written as CRDs through it (the discovery leader).
  std::shared_ptr<kubernetes_discovery_writer> discovery_writer;
  /// Origins of source `kubernetes-discovery` that the event log holds. Those this
  /// configuration no longer generates (in-memory discovered Upstreams, when
  /// `discovery_options.upstreams` is off) are removed first thing, before any Upstream CRD of
  /// the same name arrives, so the two never define one Upstream twice.
  std::set<std::string> known_discovery_origins;

  /// Follow Settings `spec.watchNamespaces` while running (off when the command line named the
  /// namespaces); `watch_namespaces` is where it starts.
  bool follow_settings = false;
  std::string settings_name = "default";

  size_t page_size = 500;                   ///< list `limit`
  std::chrono::seconds watch_timeout{300};  ///< asked as timeoutSeconds, jittered up to 2x
  std::chrono::milliseconds backoff_initial{200};
  std::chrono::milliseconds backoff_max{30'000};
  double backoff_jitter = 0.5;  ///< each delay is d * (1 - jitter * U[0,1))
  /// Anti-entropy relist interval (jittered by 10%); 0 = off. controller-runtime uses 10 hours.
  std::chrono::milliseconds resync{0};

  /// Waits for a backoff delay. Tests inject one; the default waits on a condition the source's
  /// stop() interrupts. Whatever it does, the source checks for stop afterwards.
  std::function<void(std::chrono::milliseconds)> sleep;
  /// The clock for resync deadlines; steady_clock by default.
  std::function<std::chrono::steady_clock::time_point()> now;
  uint64_t seed = 0;  ///< jitter randomness; 0 = from std::random_device

  /// Cursors saved from an earlier run (cursor name -> resourceVersion), as delivered.
  std::map<std::string, std::string> resume;
  /// Origins of source "kubernetes" that the event log holds (from the kind actors' input
  /// cursors). With them, objects deleted while sluice was down become removes even when a
  /// resumed watch later gets 410 and relists.
  std::set<std::string> known_origins;
};

struct kubernetes_batch {
  model::source_batch events;
  /// Watch cursors advanced by this batch: name -> resourceVersion. Only collections that can
  /// resume have cursors (discovery inputs always list, so theirs are never delivered).
  std::map<std::string, std::string> cursors;
  /// The kind of the collection the cursors belong to: persist them with that kind actor's
  /// events (a batch holds one collection's changes, plus discovery output of other kinds).
  std::optional<model::resource_kind> cursor_kind;
};

class kubernetes_source {
 public:
  using sink = std::function<void(kubernetes_batch)>;

  static constexpr std::string_view source_name = "kubernetes";

  kubernetes_source(kubernetes_source_options options, sink out);
  ~kubernetes_source();  ///< stops
  kubernetes_source(const kubernetes_source&) = delete;
  kubernetes_source& operator=(const kubernetes_source&) = delete;

  /// Starts one thread per watched collection and returns; batches (and then `synced`) arrive
  /// through the sink. Errors: ec::invalid_argument when there is no client or no collection.
  [[nodiscard]] caf::expected<void> start();
  /// Ends every watch and joins the threads; no sink call happens after it returns. Idempotent.
  /// With `follow_settings`, not from inside the sink (the namespace-change thread may be waiting
  /// for the sink's lock).
  void stop();

  /// Waits up to `bound` for the synced event to have been delivered.
  bool wait_synced(std::chrono::milliseconds bound) const;
  /// The latest cursor of every collection (what has been delivered).
  std::map<std::string, std::string> cursors() const;

  struct counters {
    uint64_t lists = 0;               ///< list requests (pages count once each)
    uint64_t watches = 0;             ///< watch requests
    uint64_t gone = 0;                ///< 410s seen (list continue or watch)
    uint64_t synthetic_removes = 0;   ///< removes found by diffing a relist
    uint64_t resync_corrections = 0;  ///< differences found by the anti-entropy relist
    uint64_t errors = 0;              ///< failed requests and broken streams (each backs off)
    uint64_t bookmarks = 0;
    uint64_t namespace_changes = 0;  ///< watched-namespace changes applied
  };
  counters stats() const;

  /// The collections the options select, in watch order.
  std::vector<kube_collection> collections() const;
  /// The namespaces watched now ({""} = all), as last applied.
  std::vector<std::string> watched_namespaces() const;

  class impl;

 private:
  std::unique_ptr<impl> impl_;
};

}  // namespace sluice::adapters
