#pragma once
/// Proxy translation (reference gloo.md §3.2): a Proxy plus the Upstreams, UpstreamGroups,
/// Endpoints and Secrets of the world -> Envoy Listeners, RouteConfigurations, Clusters and
/// ClusterLoadAssignments with Gloo's names. Also builds the snapshot for proxyless gRPC clients.
///
/// Pure functions of their inputs; the output never holds a dangling cluster reference, a
/// duplicate name or a regex RE2 rejects.

#include <cstdint>
#include <string>

#include "model/translation_report.hpp"
#include "model/world.hpp"
#include "solo/gloo.pb.h"
#include "xds/snapshot.hpp"

namespace sluice::xds {

struct envoy_translation_options {
  /// Status of the direct response that replaces a route whose destination is missing.
  uint32_t invalid_route_status = 503;
  std::string invalid_route_body = "sluice: the route's destination does not exist";
  /// Largest RE2 program size accepted in a regex. 100 is Envoy's default runtime limit
  /// (re2.max_program_size.error_level): a larger regex would be NACKed, so it is an error here.
  /// Raise it only together with that runtime value in the Envoy bootstrap.
  uint32_t regex_max_program_size = 100;
};

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

}  // namespace sluice::xds
