#pragma once
/// Proxy TCP listeners (from tcpGateways, and tcp entries of hybrid gateways) -> Envoy filter
/// chains with one tcp_proxy per TcpHost (reference gloo.md §1.1 "TcpGateway"): SNI domains of the
/// host's sslConfig become the chain's server_names; an sslConfig with certificates terminates
/// TLS, one without is SNI passthrough; `forwardSniClusterName` puts Envoy's sni_cluster filter
/// before a tcp_proxy whose cluster the SNI name sets at connection time. stat prefix "tcp"
/// (Gloo's tcp plugin).
///
/// A host whose destination has no cluster is not served and the Gateway gets a warning; a host
/// that cannot be served at all (no destination, bad weights, bad TLS, a filter chain match
/// already taken) gets an error. Either way the other hosts keep serving.

#include <string>
#include <vector>

#include "envoy/config/listener/v3/listener.pb.h"
#include "model/translation_report.hpp"
#include "model/world.hpp"
#include "solo/gloo.pb.h"
#include "xds/envoy_clusters.hpp"
#include "xds/envoy_listeners.hpp"
#include "xds/envoy_routes.hpp"

namespace sluice::xds {

struct tcp_filter_chains {
  std::vector<envoy::config::listener::v3::FilterChain> chains;
  bool inspect_tls = false;  ///< some chain matches on SNI: the listener needs the TLS inspector
};

/// The filter chains of the hosts of `tcp`; findings go to `gateways` prefixed by `where`, and
/// secretRefs without a namespace are looked up in `ns`.
[[nodiscard]] tcp_filter_chains tcp_chains(const ::gloo::solo::io::TcpListener& tcp,
                                           const std::string& where,
                                           const std::vector<model::resource_key>& gateways,
                                           const std::string& ns,
                                           const cluster_translation& clusters,
                                           const upstream_group_index& groups,
                                           const listener_context& ctx);

/// The Envoy listener of a Proxy TCP listener; without filter chains when no host can be served
/// (the caller drops such a listener).
[[nodiscard]] envoy::config::listener::v3::Listener tcp_listener(
    const ::gloo::solo::io::Listener& listener, const cluster_translation& clusters,
    const upstream_group_index& groups, const listener_context& ctx);

}  // namespace sluice::xds
