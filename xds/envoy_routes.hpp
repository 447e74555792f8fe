#pragma once
/// Proxy VirtualHost -> Envoy VirtualHost (reference gloo.md §1.2, §3.2 "Route translation"):
/// one Envoy route per matcher, named "<vhost>-route-<i>-matcher-<j>" (with the Proxy route name
/// between when it has one), matches, actions, and the route and virtual host options that map
/// onto core Envoy: prefixRewrite, regexRewrite, timeout, idleTimeout, retries, host rewrites,
/// headerManipulation, cors (envoy.filters.http.cors), faults (envoy.filters.http.fault) and
/// extauth (envoy.filters.http.ext_authz), the last three as typed_per_filter_config.
///
/// Promises about the output, whatever the input:
/// - no route references a cluster that is not in the snapshot: a route whose destination
///   (upstream, upstream group, kube or consul service) has no cluster becomes a direct response
///   with the invalid-route status and body, and the VirtualService gets a warning;
/// - every regex compiles with RE2 within the program size limit;
/// - a route-level error (bad regex, bad option, missing AuthConfig, ...) is an error on the
///   VirtualService and on the RouteTable the route came from, and the whole virtual host is
///   marked rejected (the caller does not serve it: a VirtualService is served whole or not at
///   all, as in Gloo), unless replace_invalid_routes is on: then the route answers the
///   invalid-route direct response and the error is a warning;
/// - a route that needs ext auth is never served without it (fail closed);
/// - weighted clusters carry total_weight equal to the sum of their weights (C-core 1.51 checks).
///
/// `translate_virtual_host` is a pure function of one Proxy virtual host and the context (the
/// clusters and upstream groups it resolves against), so a caller can cache it per
/// VirtualService and listener kind.

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "envoy/config/route/v3/route.pb.h"
#include "model/translation_report.hpp"
#include "model/world.hpp"
#include "solo/gloo.pb.h"
#include "xds/envoy_clusters.hpp"
#include "xds/proxy_translator.hpp"

namespace sluice::xds {

/// Names of the HTTP filters route options can need.
inline constexpr const char* fault_filter = "envoy.filters.http.fault";
inline constexpr const char* cors_filter = "envoy.filters.http.cors";
inline constexpr const char* ext_authz_filter = "envoy.filters.http.ext_authz";
inline constexpr const char* router_filter = "envoy.filters.http.router";

/// How header matchers are written.
enum class header_matcher_style {
  /// `string_match` (Envoy's current field).
  string_match,
  /// The deprecated `exact_match` / `safe_regex_match` fields: gRPC C-core 1.51 NACKs
  /// `string_match` ("Invalid route header matcher specified.").
  legacy,
};

/// UpstreamGroups checked once per translation (GLTR/upstream_groups.go): a group with a nil
/// destination or an unknown upstream gets an error and is unusable; routes to it are replaced.
class upstream_group_index {
 public:
  upstream_group_index(const model::world& w, model::translation_report& report);

  /// The group's destinations with upstream namespaces filled, or nullptr when the group is
  /// missing or invalid.
  const ::gloo::solo::io::MultiDestination* find(const model::resource_key& key) const;

 private:
  std::map<model::resource_key, std::optional<::gloo::solo::io::MultiDestination>> groups_;
};

/// Everything route translation reads, besides the Proxy virtual host itself.
struct route_context {
  const model::world& world;
  const cluster_translation& clusters;
  const upstream_group_index& groups;
  const envoy_translation_options& options;
  header_matcher_style header_style;
  /// Where findings outside virtual hosts go (virtual host findings are returned with them).
  model::translation_report& report;
  /// Envoy: cors, fault and ext_authz are configured. Proxyless gRPC clients run none of them:
  /// cors and faults are left out, and routes that need ext auth are not served to them.
  bool http_filters = true;
};

/// The HTTP filters a virtual host needs in its listener's HttpConnectionManager.
struct http_filter_use {
  bool fault = false;
  bool cors = false;
  bool ext_authz = false;

  void merge(const http_filter_use& o) {
    fault = fault || o.fault;
    cors = cors || o.cors;
    ext_authz = ext_authz || o.ext_authz;
  }
};

struct virtual_host_result {
  envoy::config::route::v3::VirtualHost virtual_host;
  /// Some error was reported on the VirtualService (or a RouteTable of it): do not serve it.
  bool rejected = false;
  http_filter_use filters;
  /// The virtual host itself sets ext auth (configRef or disable); when ext_authz is on the
  /// listener, virtual hosts that do not are given `disabled: true` (see disable_ext_authz).
  bool sets_ext_authz = false;
  /// Findings on the VirtualService and RouteTables of this virtual host (and the AuthConfigs it
  /// uses, touched), for the caller to merge: the result is self-contained, so it can be cached.
  model::translation_report report;
};

/// Where a Destination leads: the cluster name, or why there is no cluster for it.
struct resolved_destination {
  std::string cluster;
  std::string problem;  ///< empty when `cluster` is usable
};

/// Resolves an upstream, kube or consul destination (namespaces already filled) against the
/// clusters of the snapshot being built.
[[nodiscard]] resolved_destination resolve_destination(const ::gloo::solo::io::Destination& d,
                                                       const model::world& w,
                                                       const cluster_translation& clusters);

/// Translates one Proxy virtual host. `require_tls` sets require_tls ALL (listeners with TLS).
[[nodiscard]] virtual_host_result translate_virtual_host(
    const ::gloo::solo::io::VirtualHost& vhost, const route_context& ctx, bool require_tls);

/// Marks a virtual host as not using ext auth: Envoy runs ext_authz on every route of a listener
/// that has the filter unless told otherwise, and Gloo applies it only where it is configured.
void disable_ext_authz(envoy::config::route::v3::VirtualHost& vhost);

/// Why RE2 (within the program size limit) rejects `regex`, or nullopt when it compiles.
[[nodiscard]] std::optional<std::string> regex_problem(const std::string& regex,
                                                       uint32_t max_program_size);

}  // namespace sluice::xds
