#pragma once
/// Upstreams -> Envoy Clusters and ClusterLoadAssignments (reference gloo.md §1.4, §3.2, §3.5;
/// xds-clients.md for what proxyless gRPC clients accept).
///
/// Every Upstream of the world becomes one cluster named "<name>_<namespace>" (Gloo gives every
/// proxy every cluster). An Upstream that cannot be translated gets an error or a warning and no
/// cluster; routes that point at it are then replaced (see envoy_routes.hpp), so what is served
/// never references a missing cluster.
///
/// What is translated: static hosts (STATIC, or STRICT_DNS with V4_ONLY when a host is a name; TLS
/// when useTls or a port 443, with per-host SNI), kube and consul upstreams (EDS fed by Endpoint
/// resources; subset load balancing from kube subsetSpec or consul tags and data centers, endpoint
/// labels as envoy.lb metadata), sslConfig, circuitBreakers (Settings gloo.circuitBreakers as the
/// default), healthChecks, loadBalancerConfig, connectionConfig, useHttp2 / protocolSelection,
/// outlierDetection.
///
/// `translate_upstream` is a pure function of one Upstream, its endpoints and the Secrets it
/// names, so a caller can cache clusters per Upstream.

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "envoy/config/cluster/v3/cluster.pb.h"
#include "envoy/config/endpoint/v3/endpoint.pb.h"
#include "model/translation_report.hpp"
#include "model/world.hpp"
#include "solo/gloo.pb.h"
#include "xds/envoy_tls.hpp"
#include "xds/proxy_translator.hpp"

namespace sluice::xds {

/// Which client the clusters are for.
enum class cluster_flavor {
  /// Envoy: static upstreams are STATIC / STRICT_DNS clusters with inline endpoints; kube and
  /// consul upstreams are EDS clusters whose EDS name is "<cluster>-<upstream hash>" (Gloo's
  /// workaround for envoy#13009: a changed upstream gets a new EDS name, so Envoy re-requests it).
  envoy,
  /// Proxyless gRPC: every cluster is EDS over ADS (gRPC rejects STATIC), the EDS name is the
  /// cluster name, and every endpoint sits in one locality with load_balancing_weight 1 (gRPC
  /// silently drops localities without a weight) and health HEALTHY. Hosts that are not IP
  /// literals are skipped with a warning (gRPC needs IP addresses). TLS settings, health checks
  /// and subset load balancing are not sent: gRPC only accepts certificate-provider TLS and does
  /// neither of the others.
  proxyless,
};

/// One endpoint of an Upstream, from a static host or an Endpoint resource.
struct upstream_endpoint {
  std::string address;
  uint32_t port = 0;
  uint32_t weight = 0;  ///< 0 = unset
  std::string hostname;
  std::map<std::string, std::string> labels;  ///< Endpoint labels (pod labels, consul tags / DCs)
  std::pair<std::string, std::string> source{};  ///< the Endpoint resource (namespace, name)
};

/// Endpoint resources by the Upstream (namespace, name) they name, in world order.
using endpoint_index =
    std::map<std::pair<std::string, std::string>, std::vector<upstream_endpoint>>;

[[nodiscard]] endpoint_index index_endpoints(const model::world& w);

/// The in-memory upstream whose endpoints a kube Upstream also takes: Gloo's
/// `kube-svc:<serviceNamespace>-<serviceName>-<servicePort>` of its Service port, which Kubernetes
/// discovery names on every endpoint of that port. Gloo computes a kube Upstream's endpoints from
/// the Service and port its spec names; looking them up through this key does the same from the
/// form that is served (a refused edit, a restart), whatever the Endpoints list by name. nullopt
/// for other types and for that upstream itself.
[[nodiscard]] std::optional<model::resource_key> kube_service_upstream_of(
    const ::gloo::solo::io::Upstream& u, const model::resource_key& upstream);

/// The endpoints of `upstream`: those naming it, and for a kube Upstream those naming its
/// kube_service_upstream_of (an Endpoint naming both counts once), in world order. Not filtered
/// by `kube.selector`: discovery does not watch Pods, so no endpoint carries pod labels yet.
[[nodiscard]] std::vector<upstream_endpoint> endpoints_of(const endpoint_index& index,
                                                          const model::stored_resource& upstream);

/// The translation of one Upstream.
struct cluster_piece {
  std::optional<envoy::config::cluster::v3::Cluster> cluster;  ///< absent when rejected
  /// The EDS resource (name = cluster_load_assignment.cluster_name), for EDS clusters.
  std::optional<envoy::config::endpoint::v3::ClusterLoadAssignment> load_assignment;
  secret_map secrets;                ///< SDS secrets its TLS context names
  model::translation_report report;  ///< findings on the Upstream (touched)
};

/// Translates one Upstream. `endpoints` are the Endpoint resources naming it (ignored for static
/// upstreams); `w` is read for the Secrets of its sslConfig only.
[[nodiscard]] cluster_piece translate_upstream(const model::stored_resource& upstream,
                                               const std::vector<upstream_endpoint>& endpoints,
                                               const model::world& w, cluster_flavor flavor,
                                               const envoy_translation_options& options = {});

/// The Service a kube Upstream names (serviceNamespace, or the Upstream's namespace when it is
/// empty), or nullopt for other upstream types. translate_upstream rejects a kube Upstream whose
/// Service is missing from a world that holds any Service.
[[nodiscard]] std::optional<model::resource_key> kube_service_of(
    const ::gloo::solo::io::Upstream& u, const model::resource_key& upstream);

struct cluster_translation {
  std::map<std::string, envoy::config::cluster::v3::Cluster> clusters;  ///< by cluster name
  /// By EDS resource name (= cluster_load_assignment.cluster_name).
  std::map<std::string, envoy::config::endpoint::v3::ClusterLoadAssignment> load_assignments;
  secret_map secrets;  ///< SDS secrets the clusters name

  bool has_cluster(const std::string& name) const { return clusters.count(name) > 0; }
};

/// Translates every Upstream of `w`, touching each in `report`.
[[nodiscard]] cluster_translation translate_upstreams(const model::world& w,
                                                      model::translation_report& report,
                                                      cluster_flavor flavor,
                                                      const envoy_translation_options& options = {});

}  // namespace sluice::xds
