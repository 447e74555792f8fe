#pragma once
/// Gateway translation, following Gloo's semantics (reference gloo.md §1.1-1.3, §3.1):
/// Gateways + VirtualServices + RouteTables -> one Proxy per proxy name.
///
/// Pure function of the world: same world, same Proxies, byte for byte.

#include <optional>
#include <string>
#include <vector>

#include "model/translation_report.hpp"
#include "model/world.hpp"
#include "solo/gateway.pb.h"
#include "solo/gloo.pb.h"

namespace sluice::model {

struct gateway_translation_options {
  /// Namespace Proxies are written to (Settings.discoveryNamespace).
  std::string write_namespace = "gloo-system";
  /// Settings gateway.readGatewaysFromAllNamespaces: when false (Gloo's default) only Gateways in
  /// write_namespace are read; the others get a warning saying so.
  bool read_gateways_from_all_namespaces = false;
  /// Settings gateway.translateEmptyGateways: an HTTP Gateway gets a listener even when the world
  /// holds no VirtualService at all (Gloo's default is no listener).
  bool translate_empty_gateways = false;
  /// Settings gateway.validation.warnMissingTlsSecret: a VirtualService whose sslConfig names a
  /// missing secret gets a warning (true, Gloo's Helm default) or an error. Either way it is not
  /// served on the TLS listener until the secret exists; the other VirtualServices are.
  bool warn_missing_tls_secret = true;
  /// Settings gateway.virtualServiceOptions.oneWayTls: default for sslConfigs that leave it unset.
  std::optional<bool> one_way_tls;
  /// Settings gateway.isolateVirtualHostsBySslConfig (or the Gateway annotation
  /// gateway.solo.io/isolate_vhost): Gloo's AggregateListener, not supported; a warning says so.
  bool isolate_virtual_hosts_by_ssl_config = false;
  /// When the world holds the Settings `settings_namespace/settings_name`, its fields replace the
  /// ones above (discoveryNamespace, gateway.readGatewaysFromAllNamespaces,
  /// gateway.translateEmptyGateways, gateway.validation.warnMissingTlsSecret,
  /// gateway.virtualServiceOptions.oneWayTls, gateway.isolateVirtualHostsBySslConfig) and the
  /// Settings resource is reported on.
  bool apply_settings = true;
  std::string settings_namespace = "gloo-system";
  std::string settings_name = "default";
};

/// `options` with the fields the world's Settings set (see gateway_translation_options), or
/// unchanged when apply_settings is off or there is no such Settings.
[[nodiscard]] gateway_translation_options effective_gateway_options(
    const world& w, const gateway_translation_options& options);

/// A TcpGateway's listener: its hosts, with the Gateway's namespace filled into destination refs
/// that name none, and Settings' default oneWayTls where a host's sslConfig sets none. Shared by
/// the full and the incremental translators.
[[nodiscard]] ::gloo::solo::io::TcpListener tcp_listener_for(
    const resource_key& gateway, const ::gateway::solo::io::TcpGateway& tcp,
    const gateway_translation_options& options);

/// What keeps a listener's sslConfig from being served, or nullopt: an external SDS server, or
/// a secretRef to a missing, non-TLS or empty Secret (`ns` is the holder's namespace, used when
/// the ref names none). `is_error` says whether it is an error or, for a missing Secret with
/// Settings' warnMissingTlsSecret, a warning.
[[nodiscard]] std::optional<std::string> tls_secret_problem(
    const world& w, const gateway_translation_options& options, const ::gloo::solo::io::SslConfig& c,
    const std::string& ns, bool& is_error);

struct translated_proxy {
  std::string role;              ///< "<namespace>~<proxyName>", the xDS snapshot key
  ::gloo::solo::io::Proxy proxy;
};

/// One Proxy per proxy name that has at least one listener, sorted by role.
///
/// Error isolation (better than Gloo, which rejects whole listeners): a VirtualService that
/// cannot be served loses only its own virtual host; of two VirtualServices claiming one domain,
/// or TLS configurations whose SNI matches overlap, the newcomer (the one whose current version
/// arrived last, by log sequence; then by namespace/name) is blamed and left out; of two Gateways
/// binding one port of a proxy, the newcomer is left out of that proxy.
[[nodiscard]] std::vector<translated_proxy> translate_gateways(
    const world& w, translation_report& report, const gateway_translation_options& options = {});

}  // namespace sluice::model
