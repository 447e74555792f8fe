#pragma once
/// Gateway translation, following Gloo's semantics (reference gloo.md §1.1-1.3, §3.1):
/// Gateways + VirtualServices + RouteTables -> one Proxy per proxy name.
///
/// Pure function of the world: same world, same Proxies, byte for byte.

#include <string>
#include <vector>

#include "model/translation_report.hpp"
#include "model/world.hpp"
#include "solo/gloo.pb.h"

namespace sluice::model {

struct gateway_translation_options {
  /// Namespace Proxies are written to (Settings.discoveryNamespace).
  std::string write_namespace = "gloo-system";
  /// Settings gateway.readGatewaysFromAllNamespaces: when false (Gloo's default) only Gateways in
  /// write_namespace are read; the others get a warning saying so.
  bool read_gateways_from_all_namespaces = false;
};

struct translated_proxy {
  std::string role;              ///< "<namespace>~<proxyName>", the xDS snapshot key
  ::gloo::solo::io::Proxy proxy;
};

/// One Proxy per proxy name that has at least one listener, sorted by role.
[[nodiscard]] std::vector<translated_proxy> translate_gateways(
    const world& w, translation_report& report, const gateway_translation_options& options = {});

}  // namespace sluice::model
