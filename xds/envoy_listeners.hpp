#pragma once
/// Proxy listeners -> Envoy Listeners (reference gloo.md §3.2; xds-clients.md for API listeners).
///
/// HTTP listeners get one filter chain per distinct downstream TLS configuration (or one
/// plaintext chain), each with the HttpConnectionManager
/// "envoy.filters.network.http_connection_manager": codec AUTO, RDS over ADS naming
/// "<listener>-routes", and the router filter last (gRPC clients NACK anything else). Problems with
/// a TLS configuration drop that filter chain and are blamed on the Gateway that made the listener.

#include <string>
#include <vector>

#include "envoy/config/listener/v3/listener.pb.h"
#include "envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.pb.h"
#include "model/translation_report.hpp"
#include "model/world.hpp"
#include "solo/gloo.pb.h"

namespace sluice::xds {

/// The HttpConnectionManager both listener kinds carry.
[[nodiscard]] envoy::extensions::filters::network::http_connection_manager::v3::
    HttpConnectionManager
    http_connection_manager(const std::string& route_config_name, const std::string& stat_prefix);

/// The Envoy listener for a Proxy HTTP listener whose routes live in `route_config_name`; no
/// filter chain at all when every TLS configuration failed (the caller drops such a listener).
[[nodiscard]] envoy::config::listener::v3::Listener http_listener(
    const ::gloo::solo::io::Listener& listener, const std::string& route_config_name,
    const model::world& w, model::translation_report& report);

/// The API listener a proxyless gRPC client asks for by its target name.
[[nodiscard]] envoy::config::listener::v3::Listener api_listener(
    const std::string& name, const std::string& route_config_name);

}  // namespace sluice::xds
