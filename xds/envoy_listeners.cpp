#include "xds/envoy_listeners.hpp"

#include <map>
#include <set>
#include <variant>

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
using model::resource_kind;

constexpr const char* hcm_filter_name = "envoy.filters.network.http_connection_manager";

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
                               const std::string& stat_prefix) {
  listener_v3::Filter f;
  f.set_name(hcm_filter_name);
  *f.mutable_typed_config() = pack(http_connection_manager(route_config_name, stat_prefix));
  return f;
}

}  // namespace

hcm_v3::HttpConnectionManager http_connection_manager(const std::string& route_config_name,
                                                      const std::string& stat_prefix) {
  hcm_v3::HttpConnectionManager hcm;
  hcm.set_stat_prefix(stat_prefix.empty() ? "http" : stat_prefix);
  hcm.set_codec_type(hcm_v3::HttpConnectionManager::AUTO);
  auto* rds = hcm.mutable_rds();
  *rds->mutable_config_source() = ads_config_source();
  rds->set_route_config_name(route_config_name);
  // The router must be the last filter (Envoy and gRPC both insist).
  auto* router = hcm.add_http_filters();
  router->set_name("envoy.filters.http.router");
  *router->mutable_typed_config() = pack(envoy::extensions::filters::http::router::v3::Router());
  return hcm;
}

listener_v3::Listener http_listener(const gl::Listener& l, const std::string& route_config_name,
                                    const model::world& w, model::translation_report& report) {
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
  const auto& stat_prefix = l.http_listener().stat_prefix();
  if (l.ssl_configurations().empty()) {
    *out.add_filter_chains()->add_filters() = hcm_filter(route_config_name, stat_prefix);
    return out;
  }

  const auto gateways = model::sources_of(l.metadata_static(), resource_kind::gateway);
  const std::string ns = gateways.empty() ? std::string() : gateways.front().ns;
  auto blame = [&](const std::string& message) {
    for (const auto& g : gateways) {
      model::report_error(report, g, message);
    }
  };
  std::set<std::string> matches;
  for (const auto& g : group_ssl_configurations(l)) {
    auto names = g.match_all ? std::set<std::string>{} : g.server_names;
    std::string match_key;
    for (const auto& n : names) {
      match_key += n + ",";
    }
    if (!matches.insert(match_key).second) {
      // Envoy rejects two filter chains with the same match; Gloo then rejects the whole
      // listener. sluice keeps the first chain and drops the later one.
      blame("listener " + l.name() + ": two different sslConfigs have the same SNI match [" +
            match_key + "]; the later one is not served");
      continue;
    }
    auto ctx = downstream_tls_context(g.config, ns, w);
    if (auto* problem = std::get_if<std::string>(&ctx)) {
      blame("listener " + l.name() + ": " + *problem + "; that TLS filter chain is not served");
      continue;
    }
    auto* chain = out.add_filter_chains();
    for (const auto& n : names) {
      chain->mutable_filter_chain_match()->add_server_names(n);
    }
    if (g.config.has_transport_socket_connect_timeout()) {
      *chain->mutable_transport_socket_connect_timeout() =
          g.config.transport_socket_connect_timeout();
    }
    auto* ts = chain->mutable_transport_socket();
    ts->set_name("envoy.transport_sockets.tls");
    *ts->mutable_typed_config() = pack(std::get<tls_v3::DownstreamTlsContext>(ctx));
    *chain->add_filters() = hcm_filter(route_config_name, stat_prefix);
  }
  if (out.filter_chains_size() > 0) {
    auto* f = out.add_listener_filters();
    f->set_name("envoy.filters.listener.tls_inspector");
    *f->mutable_typed_config() =
        pack(envoy::extensions::filters::listener::tls_inspector::v3::TlsInspector());
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
