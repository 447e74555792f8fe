#pragma once
/// Kubernetes discovery (the `discovery` role): Upstreams for Services and Endpoints for kube
/// Upstreams, as Gloo's kubernetes plugin produces them (reference gloo.md §1.4, §1.7, §3.5).
///
///  - One Upstream per Service port, in the write namespace, named `<ns>-<svc>-<port>` (sanitized
///    like Gloo: lower case, characters outside [a-z0-9-] become '-', long names shortened with a
///    hash), spec `kube{serviceName, serviceNamespace, servicePort, selector}`, labelled
///    `discovered_by: kubernetesplugin`, the Service's labels in `discoveryMetadata.labels`.
///    These are tracked as the *desired* discovered Upstreams (take_discovered_changes(),
///    discovered_upstreams()), which the discovery leader writes as Upstream CRDs
///    (kubernetes_discovery_writer). Only with `upstreams` are they also emitted as in-memory
///    source events; then an Upstream CRD of the same namespace and name wins and nothing is
///    generated for it. sluice serve turns `upstreams` off in every role: the CRDs, read back
///    through the Upstream watch, are the one definition (as in Gloo).
///  - With `kube_destinations`, Gloo's in-memory Upstream of kube route destinations for every
///    Service port: `kube-svc:<ns>-<svc>-<port>` in the Service's namespace, spec `kube` (the
///    name the translator resolves a `kube` destination to).
///  - For every kube Upstream (the discovered ones, Upstream CRDs with a `kube` spec, and Gloo's
///    in-memory `kube-svc:<ns>-<svc>-<port>` upstreams of kube route destinations): find the
///    Service port whose `port` is `servicePort`; take the ready addresses (EndpointSlice
///    `conditions.ready` not false; core Endpoints `addresses`, not `notReadyAddresses`) and the
///    endpoint port whose name is the Service port's name (any port when the Service has one).
///    EndpointSlices are used when the Service has any; its core Endpoints object otherwise.
///  - One Endpoint per (Service, address, port), in the write namespace, naming every upstream
///    that selects it; named `ep-<address with non [0-9a-z] as '-'>-<port>-<fnv64 hex>`.
///  - The Service itself (kind Service, in its namespace; identity, labels, type, cluster IP,
///    ports and selector only): translation rejects a kube Upstream whose Service is missing, as
///    Gloo's kubernetes plugin does.
///
/// Not done (needs a Pod watch): the upstream `selector` filter on pod labels, and pod labels as
/// endpoint labels for subset routing.
///
/// Every call returns the source events for what changed, and only that: EndpointSlice churn
/// yields Endpoint events only. Output is in the Kubernetes form, so the kind actors decode it like
/// any other input. Origins are "discovery/<plural>/<namespace>/<name>" under the source name
/// `kubernetes-discovery`. Plain class, not thread-safe; the Kubernetes source calls it under its
/// delivery lock.

#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "model/source_event.hpp"

namespace sluice::adapters {

struct kubernetes_discovery_options {
  std::string write_namespace = "gloo-system";
  /// Emit the discovered Upstream of each Service port as an in-memory source event. Off when a
  /// writer turns them into CRDs instead; the desired set is tracked either way.
  bool upstreams = true;
  bool kube_destinations = true;  ///< Endpoints also name the `kube-svc:` in-memory upstreams
  std::string source = "kubernetes-discovery";
};

/// Gloo's name for the discovered upstream of a Service port: "<ns>-<svc>-<port>", sanitized.
std::string discovered_upstream_name(const std::string& ns, const std::string& service,
                                     uint32_t port);

class kubernetes_discovery {
 public:
  explicit kubernetes_discovery(kubernetes_discovery_options options = {});

  /// A Service, EndpointSlice or Endpoints object as the API server sends it.
  [[nodiscard]] model::source_batch upsert_service(const nlohmann::json& service);
  [[nodiscard]] model::source_batch remove_service(const std::string& ns, const std::string& name);
  [[nodiscard]] model::source_batch upsert_endpoint_slice(const nlohmann::json& slice);
  [[nodiscard]] model::source_batch remove_endpoint_slice(const std::string& ns,
                                                          const std::string& name);
  [[nodiscard]] model::source_batch upsert_endpoints(const nlohmann::json& endpoints);
  [[nodiscard]] model::source_batch remove_endpoints(const std::string& ns,
                                                     const std::string& name);
  /// An Upstream CRD (any type: a non-kube one still shadows a discovered name).
  [[nodiscard]] model::source_batch upsert_upstream(const nlohmann::json& upstream);
  [[nodiscard]] model::source_batch remove_upstream(const std::string& ns, const std::string& name);

  /// Every generated resource: origin -> bytes.
  std::map<std::string, std::string> generated() const;

  /// The desired discovered Upstreams (name in the write namespace -> the object as it is to be
  /// written), independent of Upstream CRDs. Two Services whose names sanitize alike: the first
  /// by (namespace, name) wins, as one of them must.
  std::map<std::string, nlohmann::json> discovered_upstreams() const;
  /// What changed in discovered_upstreams() since the last call: name -> the desired object, or
  /// null when no Service port wants that name any more.
  std::map<std::string, nlohmann::json> take_discovered_changes();

 private:
  using key = std::pair<std::string, std::string>;  ///< (namespace, name)
  struct service_port {
    std::string name;
    uint32_t port = 0;
  };
  struct service_info {
    std::vector<service_port> ports;
    std::map<std::string, std::string> labels;
    std::map<std::string, std::string> selector;
    std::string form;  ///< the Service event's bytes (what translation keeps of it)
  };
  struct address_port {
    std::string name;  ///< port name
    uint32_t port = 0;
  };
  /// Ready addresses and ports of one EndpointSlice or one Endpoints subset.
  struct address_set {
    std::vector<std::string> addresses;
    std::vector<address_port> ports;
  };
  struct kube_ref {
    key service;
    uint32_t port = 0;
  };

  /// Recomputes everything generated for one Service and returns the difference.
  model::source_batch refresh(const key& service);
  std::map<std::string, std::string> desired_for(const key& service) const;
  /// The discovered Upstream objects of one Service's ports, by name.
  std::map<std::string, nlohmann::json> discovered_for(const key& service) const;
  void track_discovered(const key& service);

  kubernetes_discovery_options options_;
  std::map<key, service_info> services_;
  std::map<key, std::pair<std::string, std::vector<address_set>>>
      slices_;                                         ///< slice -> (service, sets)
  std::map<key, std::vector<address_set>> endpoints_;  ///< by service
  std::set<key> crd_upstreams_;
  std::map<key, kube_ref> kube_upstreams_;                           ///< CRDs with spec.kube
  std::map<key, std::map<std::string, std::string>> generated_;      ///< by service
  std::map<std::string, std::map<key, nlohmann::json>> discovered_;  ///< name -> by service
  std::map<key, std::set<std::string>> discovered_names_;            ///< service -> names
  std::map<std::string, nlohmann::json> discovered_changes_;         ///< since the last take
};

}  // namespace sluice::adapters
