#include "xds/envoy_listeners.hpp"

#include <map>
#include <set>
#include <variant>

#include "envoy/extensions/filters/http/cors/v3/cors.pb.h"
#include "envoy/extensions/filters/http/ext_authz/v3/ext_authz.pb.h"
#include "envoy/extensions/filters/http/fault/v3/fault.pb.h"
#include "envoy/extensions/filters/http/router/v3/router.pb.h"
#include "envoy/extensions/filters/listener/proxy_protocol/v3/proxy_protocol.pb.h"
#include "envoy/extensions/filters/listener/tls_inspector/v3/tls_inspector.pb.h"
#include "envoy/extensions/transport_sockets/tls/v3/tls.pb.h"
#include "model/gateway_attribution.hpp"
#include "xds/envoy_common.hpp"
#include "xds/envoy_tls.hpp"

namespace sluice::xds {

namespace {

namespace gl = ::gloo::solo::io;
namespace listener_v3 = envoy::config::listener::v3;
namespace hcm_v3 = envoy::extensions::filters::network::http_connection_manager::v3;
namespace tls_v3 = envoy::extensions::transport_sockets::tls::v3;
namespace authz_v3 = envoy::extensions::filters::http::ext_authz::v3;
using model::resource_kind;

constexpr const char* hcm_filter_name = "envoy.filters.network.http_connection_manager";
constexpr const char* tls_inspector_name = "envoy.filters.listener.tls_inspector";

// One downstream TLS configuration with the SNI domains of every SslConfig that shares it.
struct tls_group {
  gl::SslConfig config;
  std::set<std::string> server_names;
  bool match_all = false;  ///< some SslConfig had no sniDomains
};

// Gloo consolidates SslConfigs that differ only in sniDomains into one filter chain whose
// server_names are the union (an empty list on either side matches everything).
std::vector<tls_group> group_ssl_configurations(const gl::Listener& l) {
  std::vector<tls_group> groups;
  std::map<std::string, size_t> index;
  for (const auto& c : l.ssl_configurations()) {
    gl::SslConfig key = c;
    key.clear_sni_domains();
    auto bytes = model::canonical_bytes(key);
    auto [i, inserted] = index.emplace(bytes, groups.size());
    if (inserted) {
      groups.push_back(tls_group{std::move(key), {}, false});
    }
    auto& g = groups[i->second];
    if (c.sni_domains().empty()) {
      g.match_all = true;
    }
    g.server_names.insert(c.sni_domains().begin(), c.sni_domains().end());
  }
  return groups;
}

listener_v3::Filter hcm_filter(const std::string& route_config_name,
                               const std::string& stat_prefix, const http_filter_use& filters,
                               const envoy_translation_options& options) {
  listener_v3::Filter f;
  f.set_name(hcm_filter_name);
  *f.mutable_typed_config() =
      pack(http_connection_manager(route_config_name, stat_prefix, filters, options));
  return f;
}

}  // namespace

hcm_v3::HttpConnectionManager http_connection_manager(const std::string& route_config_name,
                                                      const std::string& stat_prefix,
                                                      const http_filter_use& filters,
                                                      const envoy_translation_options& options) {
  hcm_v3::HttpConnectionManager hcm;
  hcm.set_stat_prefix(stat_prefix.empty() ? "http" : stat_prefix);
  hcm.set_codec_type(hcm_v3::HttpConnectionManager::AUTO);
  auto* rds = hcm.mutable_rds();
  *rds->mutable_config_source() = ads_config_source();
  rds->set_route_config_name(route_config_name);
  // Gloo's filter stages: fault, cors, then auth; only filters some route uses are added
  // (GLTR/network_filters.go). Their per-route configuration lives on the routes.
  if (filters.fault) {
    auto* f = hcm.add_http_filters();
    f->set_name(fault_filter);
    *f->mutable_typed_config() = pack(envoy::extensions::filters::http::fault::v3::HTTPFault());
  }
  if (filters.cors) {
    auto* f = hcm.add_http_filters();
    f->set_name(cors_filter);
    *f->mutable_typed_config() = pack(envoy::extensions::filters::http::cors::v3::Cors());
  }
  if (filters.ext_authz && options.ext_auth_server) {
    authz_v3::ExtAuthz authz;
    const auto& server = *options.ext_auth_server;
    auto* grpc = authz.mutable_grpc_service();
    grpc->mutable_envoy_grpc()->set_cluster_name(cluster_name(server.name, server.ns));
    grpc->mutable_timeout()->set_seconds(options.ext_auth_timeout_ms / 1000);
    grpc->mutable_timeout()->set_nanos(static_cast<int32_t>(options.ext_auth_timeout_ms % 1000) *
                                       1000000);
    authz.set_transport_api_version(envoy::config::core::v3::V3);
    authz.set_failure_mode_allow(options.ext_auth_failure_mode_allow);
    authz.set_clear_route_cache(options.ext_auth_clear_route_cache);
    if (options.ext_auth_status_on_error != 0) {
      authz.mutable_status_on_error()->set_code(
          static_cast<envoy::type::v3::StatusCode>(options.ext_auth_status_on_error));
    }
    auto* f = hcm.add_http_filters();
    f->set_name(ext_authz_filter);
    *f->mutable_typed_config() = pack(authz);
  }
  // The router must be the last filter (Envoy and gRPC both insist).
  auto* router = hcm.add_http_filters();
  router->set_name(router_filter);
  *router->mutable_typed_config() = pack(envoy::extensions::filters::http::router::v3::Router());
  return hcm;
}

listener_v3::Listener listener_base(const gl::Listener& l) {
  listener_v3::Listener out;
  out.set_name(l.name());
  auto* sa = out.mutable_address()->mutable_socket_address();
  sa->set_address(l.bind_address());
  sa->set_port_value(l.bind_port());
  // Gloo: ipv4_compat unless the address is pure IPv4, so "::" also accepts IPv4 clients.
  if (l.bind_address().find(':') != std::string::npos) {
    sa->set_ipv4_compat(true);
  }
  if (l.use_proxy_proto().value()) {
    auto* f = out.add_listener_filters();
    f->set_name("envoy.filters.listener.proxy_protocol");
    *f->mutable_typed_config() =
        pack(envoy::extensions::filters::listener::proxy_protocol::v3::ProxyProtocol());
  }
  return out;
}

void add_tls_inspector(listener_v3::Listener& listener) {
  for (const auto& f : listener.listener_filters()) {
    if (f.name() == tls_inspector_name) {
      return;
    }
  }
  auto* f = listener.add_listener_filters();
  f->set_name(tls_inspector_name);
  *f->mutable_typed_config() =
      pack(envoy::extensions::filters::listener::tls_inspector::v3::TlsInspector());
}

std::variant<envoy::config::core::v3::TransportSocket, std::string> downstream_transport_socket(
    const gl::SslConfig& ssl, const std::string& ns, const listener_context& ctx) {
  auto tls = downstream_tls_context(ssl, ns, ctx.world,
                                    tls_delivery{ctx.options.secrets, &ctx.secrets});
  if (auto* problem = std::get_if<std::string>(&tls)) {
    return *problem;
  }
  envoy::config::core::v3::TransportSocket ts;
  ts.set_name("envoy.transport_sockets.tls");
  *ts.mutable_typed_config() = pack(std::get<tls_v3::DownstreamTlsContext>(tls));
  return ts;
}

listener_v3::Listener http_listener(const gl::Listener& l, const std::string& route_config_name,
                                    const http_filter_use& filters, const listener_context& ctx) {
  auto out = listener_base(l);
  const auto& stat_prefix = l.http_listener().stat_prefix();
  if (l.ssl_configurations().empty()) {
    *out.add_filter_chains()->add_filters() =
        hcm_filter(route_config_name, stat_prefix, filters, ctx.options);
    return out;
  }

  const auto gateways = model::sources_of(l.metadata_static(), resource_kind::gateway);
  const std::string ns = gateways.empty() ? std::string() : gateways.front().ns;
  auto blame = [&](const std::string& message) {
    for (const auto& g : gateways) {
      model::report_error(ctx.report, g, message);
    }
  };
  // SNI names (and "match all") already claimed by an earlier chain: Envoy rejects a listener in
  // which one name leads to two chains.
  std::set<std::string> claimed;
  bool all_claimed = false;
  for (const auto& g : group_ssl_configurations(l)) {
    std::string overlap;
    if (g.match_all && all_claimed) {
      overlap = "(any SNI name)";
    }
    for (const auto& n : g.server_names) {
      if (!g.match_all && claimed.count(n) > 0) {
        overlap = n;
        break;
      }
    }
    if (!overlap.empty()) {
      blame("listener " + l.name() + ": two different sslConfigs both match SNI " + overlap +
            "; the later one's filter chain is not served");
      continue;
    }
    auto ts = downstream_transport_socket(g.config, ns, ctx);
    if (auto* problem = std::get_if<std::string>(&ts)) {
      blame("listener " + l.name() + ": " + *problem + "; that TLS filter chain is not served");
      continue;
    }
    auto* chain = out.add_filter_chains();
    if (!g.match_all) {
      for (const auto& n : g.server_names) {
        chain->mutable_filter_chain_match()->add_server_names(n);
      }
      claimed.insert(g.server_names.begin(), g.server_names.end());
    } else {
      all_claimed = true;
    }
    if (g.config.has_transport_socket_connect_timeout()) {
      *chain->mutable_transport_socket_connect_timeout() =
          g.config.transport_socket_connect_timeout();
    }
    *chain->mutable_transport_socket() =
        std::get<envoy::config::core::v3::TransportSocket>(std::move(ts));
    *chain->add_filters() = hcm_filter(route_config_name, stat_prefix, filters, ctx.options);
  }
  if (out.filter_chains_size() > 0) {
    add_tls_inspector(out);
  }
  return out;
}

listener_v3::Listener api_listener(const std::string& name, const std::string& route_config_name) {
  listener_v3::Listener out;
  out.set_name(name);
  *out.mutable_api_listener()->mutable_api_listener() =
      pack(http_connection_manager(route_config_name, "http"));
  return out;
}

}  // namespace sluice::xds
