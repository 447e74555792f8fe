#pragma once
/// Proxy VirtualHost -> Envoy VirtualHost (reference gloo.md §1.2, §3.2 "Route translation"):
/// one Envoy route per matcher, named "<vhost>-route-<i>-matcher-<j>" (with the Proxy route name
/// between when it has one), matches, actions and the basic route options.
///
/// Promises about the output, whatever the input:
/// - no route references a cluster that is not in the snapshot: a route whose destination
///   (upstream, upstream group, kube or consul service) has no cluster becomes a direct response
///   with the invalid-route status and body, and the VirtualService gets a warning;
/// - every regex compiles with RE2 within the program size limit: a route with a bad regex (path,
///   header, query, rewrite) or another route-level error is dropped, and the VirtualService
///   (plus the RouteTable the route came from) gets an error;
/// - weighted clusters carry total_weight equal to the sum of their weights (C-core 1.51 checks).

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
  model::translation_report& report;
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
[[nodiscard]] envoy::config::route::v3::VirtualHost translate_virtual_host(
    const ::gloo::solo::io::VirtualHost& vhost, const route_context& ctx, bool require_tls);

/// Why RE2 (within the program size limit) rejects `regex`, or nullopt when it compiles.
[[nodiscard]] std::optional<std::string> regex_problem(const std::string& regex,
                                                       uint32_t max_program_size);

}  // namespace sluice::xds
