#include "xds/envoy_tcp.hpp"

#include <set>
#include <variant>

#include "envoy/extensions/filters/listener/tls_inspector/v3/tls_inspector.pb.h"
#include "envoy/extensions/filters/network/tcp_proxy/v3/tcp_proxy.pb.h"
#include "model/gateway_attribution.hpp"
#include "xds/envoy_common.hpp"
#include "xds/envoy_tls.hpp"

namespace sluice::xds {

namespace {

namespace gl = ::gloo::solo::io;
namespace listener_v3 = envoy::config::listener::v3;
namespace tcp_v3 = envoy::extensions::filters::network::tcp_proxy::v3;
using model::resource_kind;

// The tcp_proxy for one host, or what is wrong (`error` says whether it is the user's mistake or
// a destination that is merely missing for now).
struct tcp_target {
  std::optional<tcp_v3::TcpProxy> proxy;
  std::string problem;
  bool error = false;
};

tcp_target weighted(const gl::MultiDestination& multi, const model::world& w,
                    const cluster_translation& clusters) {
  tcp_target out;
  if (multi.destinations().empty()) {
    return {std::nullopt, "weighted destinations: the list is empty", true};
  }
  tcp_v3::TcpProxy proxy;
  for (const auto& wd : multi.destinations()) {
    const uint32_t weight = wd.has_weight() ? wd.weight().value() : 0;
    if (weight == 0) {
      // Envoy's tcp_proxy requires every weight to be at least 1.
      return {std::nullopt, "weighted destinations: every weight must be at least 1", true};
    }
    auto r = resolve_destination(wd.destination(), w, clusters);
    if (!r.problem.empty()) {
      return {std::nullopt, r.problem, false};
    }
    auto* c = proxy.mutable_weighted_clusters()->add_clusters();
    c->set_name(r.cluster);
    c->set_weight(weight);
  }
  out.proxy = std::move(proxy);
  return out;
}

tcp_target target_of(const gl::TcpHost& host, const model::world& w,
                     const cluster_translation& clusters, const upstream_group_index& groups) {
  const auto& d = host.destination();
  switch (d.destination_case()) {
    case gl::TcpHost::TcpAction::kSingle: {
      auto r = resolve_destination(d.single(), w, clusters);
      if (!r.problem.empty()) {
        return {std::nullopt, r.problem, false};
      }
      tcp_v3::TcpProxy proxy;
      proxy.set_cluster(r.cluster);
      return {std::move(proxy), "", false};
    }
    case gl::TcpHost::TcpAction::kMulti:
      return weighted(d.multi(), w, clusters);
    case gl::TcpHost::TcpAction::kUpstreamGroup: {
      model::resource_key key{resource_kind::upstream_group, d.upstream_group().namespace_(),
                              d.upstream_group().name()};
      const auto* group = groups.find(key);
      if (group == nullptr) {
        return {std::nullopt,
                "upstream group " + model::ref_key(key) +
                    (w.find(key) ? " is invalid (see its status)" : " does not exist"),
                false};
      }
      return weighted(*group, w, clusters);
    }
    case gl::TcpHost::TcpAction::kForwardSniClusterName:
      return {std::nullopt, "forwardSniClusterName is not supported yet", false};
    case gl::TcpHost::TcpAction::DESTINATION_NOT_SET:
      break;
  }
  return {std::nullopt, "the host has no destination", true};
}

bool terminates_tls(const gl::SslConfig& c) {
  return c.has_secret_ref() || c.has_ssl_files() || c.has_sds();
}

}  // namespace

listener_v3::Listener tcp_listener(const gl::Listener& l, const model::world& w,
                                   const cluster_translation& clusters,
                                   const upstream_group_index& groups,
                                   model::translation_report& report) {
  listener_v3::Listener out;
  out.set_name(l.name());
  auto* sa = out.mutable_address()->mutable_socket_address();
  sa->set_address(l.bind_address());
  sa->set_port_value(l.bind_port());
  if (l.bind_address().find(':') != std::string::npos) {
    sa->set_ipv4_compat(true);
  }
  const auto gateways = model::sources_of(l.metadata_static(), resource_kind::gateway);
  const std::string ns = gateways.empty() ? std::string() : gateways.front().ns;
  auto blame = [&](const std::string& message, bool error) {
    for (const auto& g : gateways) {
      if (error) {
        model::report_error(report, g, message);
      } else {
        model::report_warning(report, g, message);
      }
    }
  };
  const std::string stat_prefix =
      l.tcp_listener().stat_prefix().empty() ? "tcp" : l.tcp_listener().stat_prefix();

  std::set<std::string> matches;
  bool inspect_tls = false;
  for (int i = 0; i < l.tcp_listener().tcp_hosts_size(); ++i) {
    const auto& host = l.tcp_listener().tcp_hosts(i);
    const std::string label = "listener " + l.name() + " tcp host " +
                              (host.name().empty() ? std::to_string(i) : host.name());
    auto target = target_of(host, w, clusters, groups);
    if (!target.proxy) {
      blame(label + ": " + target.problem + "; the host is not served", target.error);
      continue;
    }
    std::set<std::string> names(host.ssl_config().sni_domains().begin(),
                                host.ssl_config().sni_domains().end());
    std::string match_key;
    for (const auto& n : names) {
      match_key += n + ",";
    }
    if (matches.count(match_key) > 0) {
      blame(label + ": another host already has the SNI match [" + match_key +
                "]; this host is not served",
            true);
      continue;
    }
    listener_v3::FilterChain chain;
    for (const auto& n : names) {
      chain.mutable_filter_chain_match()->add_server_names(n);
    }
    if (host.has_ssl_config() && terminates_tls(host.ssl_config())) {
      auto ctx = downstream_tls_context(host.ssl_config(), ns, w);
      if (auto* problem = std::get_if<std::string>(&ctx)) {
        blame(label + ": " + *problem + "; the host is not served", true);
        continue;
      }
      auto* ts = chain.mutable_transport_socket();
      ts->set_name("envoy.transport_sockets.tls");
      *ts->mutable_typed_config() =
          pack(std::get<envoy::extensions::transport_sockets::tls::v3::DownstreamTlsContext>(ctx));
      inspect_tls = true;
    }
    inspect_tls = inspect_tls || !names.empty();
    target.proxy->set_stat_prefix(stat_prefix);
    auto* f = chain.add_filters();
    f->set_name("envoy.filters.network.tcp_proxy");
    *f->mutable_typed_config() = pack(*target.proxy);
    matches.insert(match_key);
    *out.add_filter_chains() = std::move(chain);
  }
  if (inspect_tls && out.filter_chains_size() > 0) {
    auto* f = out.add_listener_filters();
    f->set_name("envoy.filters.listener.tls_inspector");
    *f->mutable_typed_config() =
        pack(envoy::extensions::filters::listener::tls_inspector::v3::TlsInspector());
  }
  return out;
}

}  // namespace sluice::xds
