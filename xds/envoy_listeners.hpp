#pragma once
/// Proxy listeners -> Envoy Listeners (reference gloo.md §3.2; xds-clients.md for API listeners).
///
/// HTTP listeners get one filter chain per distinct downstream TLS configuration (or one
/// plaintext chain), each with the HttpConnectionManager
/// "envoy.filters.network.http_connection_manager": codec AUTO, RDS over ADS naming
/// "<listener>-routes", and the HTTP filters the routes use in Gloo's stage order (fault, cors,
/// ext_authz) with the router last (gRPC clients NACK anything else). Problems with a TLS
/// configuration drop that filter chain and are blamed on the Gateway that made the listener
/// (gateway translation already leaves out, and blames, VirtualServices whose sslConfig would
/// cause them; this is the safety net for Proxies built elsewhere).

#include <string>
#include <variant>
#include <vector>

#include "envoy/config/core/v3/base.pb.h"
#include "envoy/config/listener/v3/listener.pb.h"
#include "envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.pb.h"
#include "model/translation_report.hpp"
#include "model/world.hpp"
#include "solo/gloo.pb.h"
#include "xds/envoy_routes.hpp"
#include "xds/envoy_tls.hpp"
#include "xds/proxy_translator.hpp"

namespace sluice::xds {

/// What listener translation reads and where its findings and SDS secrets go.
struct listener_context {
  const model::world& world;
  model::translation_report& report;
  const envoy_translation_options& options;
  secret_map& secrets;
};

/// The HttpConnectionManager both listener kinds carry: the filters `filters` asks for (ext_authz
/// calls the Upstream of options.ext_auth_server), then the router.
[[nodiscard]] envoy::extensions::filters::network::http_connection_manager::v3::
    HttpConnectionManager
    http_connection_manager(const std::string& route_config_name, const std::string& stat_prefix,
                            const http_filter_use& filters = {},
                            const envoy_translation_options& options = {});

/// A listener's name, socket address (ipv4_compat unless the address is pure IPv4, as Gloo) and
/// the proxy protocol listener filter when useProxyProto is set; no filter chains.
[[nodiscard]] envoy::config::listener::v3::Listener listener_base(
    const ::gloo::solo::io::Listener& listener);

/// The transport socket terminating TLS with `ssl` (secretRef namespace defaults to `ns`), or
/// what is wrong with it.
[[nodiscard]] std::variant<envoy::config::core::v3::TransportSocket, std::string>
downstream_transport_socket(const ::gloo::solo::io::SslConfig& ssl, const std::string& ns,
                            const listener_context& ctx);

/// The Envoy listener for a Proxy HTTP listener whose routes live in `route_config_name`; no
/// filter chain at all when every TLS configuration failed (the caller drops such a listener).
[[nodiscard]] envoy::config::listener::v3::Listener http_listener(
    const ::gloo::solo::io::Listener& listener, const std::string& route_config_name,
    const http_filter_use& filters, const listener_context& ctx);

/// The API listener a proxyless gRPC client asks for by its target name.
[[nodiscard]] envoy::config::listener::v3::Listener api_listener(
    const std::string& name, const std::string& route_config_name);

/// Adds the TLS inspector listener filter (needed to match on SNI) once.
void add_tls_inspector(envoy::config::listener::v3::Listener& listener);

}  // namespace sluice::xds
