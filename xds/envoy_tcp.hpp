#pragma once
/// Proxy TCP listeners (from tcpGateways) -> Envoy Listeners with one tcp_proxy filter chain per
/// TcpHost (reference gloo.md §1.1 "TcpGateway"): SNI domains of the host's sslConfig become
/// the chain's server_names; an sslConfig with certificates terminates TLS, one without is SNI
/// passthrough. stat prefix "tcp" (Gloo's tcp plugin).
///
/// A host whose destination has no cluster is not served and the Gateway gets a warning; a host
/// that cannot be served at all (no destination, bad weights, bad TLS, a filter chain match
/// already taken) gets an error. Either way the other hosts keep serving.

#include "envoy/config/listener/v3/listener.pb.h"
#include "model/translation_report.hpp"
#include "model/world.hpp"
#include "solo/gloo.pb.h"
#include "xds/envoy_clusters.hpp"
#include "xds/envoy_routes.hpp"

namespace sluice::xds {

/// The Envoy listener of a Proxy TCP listener; without filter chains when no host can be served
/// (the caller drops such a listener).
[[nodiscard]] envoy::config::listener::v3::Listener tcp_listener(
    const ::gloo::solo::io::Listener& listener, const model::world& w,
    const cluster_translation& clusters, const upstream_group_index& groups,
    model::translation_report& report);

}  // namespace sluice::xds
