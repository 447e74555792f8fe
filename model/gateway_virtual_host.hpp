#pragma once
/// One VirtualService -> one Proxy VirtualHost (reference gloo.md §1.2, §1.3, §3.1): domains
/// copied, options merged with the VirtualHostOptions it references (inline options win, then
/// each ref in order fills what is unset; a missing ref is a warning), routes converted with
/// every delegation expanded in place.
///
/// The result depends only on the VirtualService, the RouteTables it reaches and the option
/// resources they reference (`route_tables`, `option_resources`), not on the
/// Gateway that selected it, so it can be computed once per VirtualService and cached with the
/// findings that go with it. Gateway-specific parts (Gloo's generated route names embed the
/// gateway and proxy names) are applied by `qualify_route_names` when the vhost is placed.

#include <optional>
#include <string>
#include <vector>

#include "model/translation_report.hpp"
#include "model/world.hpp"
#include "solo/gateway.pb.h"
#include "solo/gloo.pb.h"

namespace sluice::model {

struct virtual_host_translation {
  /// Absent when the VirtualService is rejected (any error on it, including errors of the route
  /// tables it delegates to) or has no virtualHost.
  std::optional<::gloo::solo::io::VirtualHost> virtual_host;
  /// Findings on the VirtualService and every RouteTable reached; each is touched.
  translation_report report;
  /// Every RouteTable the expansion read (for dependency tracking), sorted and unique.
  std::vector<resource_key> route_tables;
  /// Every VirtualHostOption and RouteOption named by an `optionsConfigRefs` of the virtual
  /// host or of a route reached (on the VirtualService or a RouteTable), whether it exists or
  /// not, sorted and unique: the translation depends on each by identity.
  std::vector<resource_key> option_resources;
};

/// Translates `vs` (stored under `vs_key`). Route names follow Gloo's
/// `vs:<vsNs>_<vsName>_route:<name>_rt:<rtNs>_<rtName>_route:<name>` without the gateway part,
/// and are kept only on branches where some route is explicitly named.
[[nodiscard]] virtual_host_translation translate_virtual_service(
    const world& w, const resource_key& vs_key, const ::gateway::solo::io::VirtualService& vs);

/// Inserts "<gatewayName>_<proxyName>_" after the leading "vs:" of every named route, giving
/// Gloo's full generated names.
void qualify_route_names(::gloo::solo::io::VirtualHost& vhost, const std::string& gateway_name,
                         const std::string& proxy_name);

/// The virtual host name Gloo gives a VirtualService: "<namespace>.<name>".
[[nodiscard]] std::string virtual_host_name(const resource_key& vs_key);

}  // namespace sluice::model
