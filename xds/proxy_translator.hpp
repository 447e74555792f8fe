#pragma once
/// Proxy translation (reference gloo.md §3.2): a Proxy plus the Upstreams, UpstreamGroups,
/// Endpoints and Secrets of the world -> Envoy Listeners, RouteConfigurations, Clusters and
/// ClusterLoadAssignments with Gloo's names. Also builds the snapshot for proxyless gRPC clients.
///
/// Pure functions of their inputs; the output never holds a dangling cluster reference, a
/// duplicate name or a regex RE2 rejects.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "model/translation_report.hpp"
#include "model/world.hpp"
#include "solo/gloo.pb.h"
#include "xds/snapshot.hpp"

namespace sluice::xds {

/// How TLS material from Secret resources reaches Envoy.
enum class secret_delivery {
  /// Inlined into the listener and cluster TLS contexts, as Gloo does (reference gloo.md §3.2).
  inline_data,
  /// Served as SDS Secret resources over ADS (named "<name>_<namespace>" for the certificate and
  /// "<name>_<namespace>-validation" for the root CA); TLS contexts reference them by name, so a
  /// certificate rotation changes one Secret, not every listener and cluster that uses it.
  sds,
};

struct envoy_translation_options {
  /// Status of the direct response that replaces a route whose destination is missing.
  uint32_t invalid_route_status = 503;
  std::string invalid_route_body = "sluice: the route's destination does not exist";
  /// Largest RE2 program size accepted in a regex. 100 is Envoy's default runtime limit
  /// (re2.max_program_size.error_level): a larger regex would be NACKed, so it is an error here.
  /// Raise it only together with that runtime value in the Envoy bootstrap.
  uint32_t regex_max_program_size = 100;
  /// Settings gloo.invalidConfigPolicy.replaceInvalidRoutes: a route with a route-level error
  /// (bad option, missing AuthConfig, ...) is served as the invalid-route direct response and its
  /// error becomes a warning. Off: the error rejects the VirtualService, whose virtual host is then
  /// not served (the other virtual hosts are).
  bool replace_invalid_routes = false;
  secret_delivery secrets = secret_delivery::inline_data;
  /// Settings gloo.circuitBreakers: used by Upstreams that set no circuitBreakers.
  std::optional<::gloo::solo::io::CircuitBreakerConfig> default_circuit_breakers;
  /// Settings extauth.extauthzServerRef: the Upstream of the ext auth server that
  /// envoy.filters.http.ext_authz calls (gRPC). Routes that need ext auth without it are errors.
  std::optional<model::resource_key> ext_auth_server;
  uint32_t ext_auth_timeout_ms = 200;  ///< Gloo's default request timeout
  bool ext_auth_failure_mode_allow = false;
  bool ext_auth_clear_route_cache = false;
  uint32_t ext_auth_status_on_error = 0;  ///< 0: Envoy's default (403)
  /// Settings gateway.translateEmptyGateways: an HTTP listener without virtual hosts is served
  /// with an empty RouteConfiguration (the port is open and answers 404), instead of dropped.
  bool serve_empty_http_listeners = false;
  /// When the world holds the Settings `settings_namespace/settings_name`, it replaces the fields
  /// above that it sets: gloo.invalidConfigPolicy (replaceInvalidRoutes on: its
  /// invalidRouteResponseCode, default 404, and body replace invalid_route_status / body; off:
  /// sluice's 503 stays), gloo.regexMaxProgramSize, gloo.circuitBreakers, extauth and
  /// gateway.translateEmptyGateways.
  bool apply_settings = true;
  std::string settings_namespace = "gloo-system";
  std::string settings_name = "default";
};

/// `options` with the fields the world's Settings set, or unchanged (see apply_settings).
[[nodiscard]] envoy_translation_options effective_envoy_options(
    const model::world& w, const envoy_translation_options& options);

/// The snapshot Envoy proxies with node.metadata.role == `role` get.
[[nodiscard]] snapshot_ptr translate_proxy(const std::string& role,
                                           const ::gloo::solo::io::Proxy& proxy,
                                           const model::world& w, model::translation_report& report,
                                           const envoy_translation_options& options = {});

/// The snapshot for proxyless gRPC clients (nodes without a role that are not Envoy): for every
/// accepted VirtualService and each of its domains, an API listener named after the domain
/// (HttpConnectionManager with RDS and the router filter), a RouteConfiguration with that
/// VirtualService's routes, and EDS clusters (gRPC rejects STATIC) with their endpoints.
[[nodiscard]] snapshot_ptr translate_proxyless(const model::world& w,
                                               model::translation_report& report,
                                               const envoy_translation_options& options = {});

/// Key of the snapshot for an Envoy whose node has no `role` (Gloo's fallback snapshot).
inline constexpr std::string_view misconfigured_node_snapshot_key = "misconfigured-node";

/// Gloo's fallback snapshot for that key (XDS/fallback_snapshot.go): listener
/// `listener-for-invalid-envoy` on `::` (`0.0.0.0` when `ipv4_only`) port 8080, route
/// configuration `routes-for-invalid-envoy` answering every request with 500 "Invalid Envoy
/// Bootstrap Configuration. Please refer to Gloo documentation https://gloo.solo.io/", so a
/// mis-bootstrapped Envoy says what is wrong instead of serving nothing. Constant: publish it
/// once under misconfigured_node_snapshot_key.
[[nodiscard]] snapshot_ptr misconfigured_node_snapshot(bool ipv4_only = false);

}  // namespace sluice::xds
