#pragma once
/// Upstreams -> Envoy Clusters and ClusterLoadAssignments (reference gloo.md §1.4, §3.2;
/// xds-clients.md for what proxyless gRPC clients accept).
///
/// Every Upstream of the world becomes one cluster named "<name>_<namespace>" (Gloo gives every
/// proxy every cluster). An Upstream that cannot be translated gets an error or a warning and no
/// cluster; routes that point at it are then replaced (see envoy_routes.hpp), so what is served
/// never references a missing cluster.

#include <map>
#include <set>
#include <string>

#include "envoy/config/cluster/v3/cluster.pb.h"
#include "envoy/config/endpoint/v3/endpoint.pb.h"
#include "model/translation_report.hpp"
#include "model/world.hpp"
#include "solo/gloo.pb.h"

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
  /// literals are skipped with a warning (gRPC needs IP addresses). TLS settings are not sent:
  /// gRPC only accepts certificate-provider TLS.
  proxyless,
};

struct cluster_translation {
  std::map<std::string, envoy::config::cluster::v3::Cluster> clusters;  ///< by cluster name
  /// By EDS resource name (= cluster_load_assignment.cluster_name).
  std::map<std::string, envoy::config::endpoint::v3::ClusterLoadAssignment> load_assignments;

  bool has_cluster(const std::string& name) const { return clusters.count(name) > 0; }
};

/// Translates every Upstream of `w`, touching each in `report`.
[[nodiscard]] cluster_translation translate_upstreams(const model::world& w,
                                                      model::translation_report& report,
                                                      cluster_flavor flavor);

}  // namespace sluice::xds
