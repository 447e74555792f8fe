#include "xds/envoy_tcp.hpp"

#include <set>
#include <variant>

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

// Envoy's sni_cluster network filter (its config message is empty; its proto is not compiled
// into sluice, so the Any is built by type URL).
constexpr const char* sni_cluster_filter = "envoy.filters.network.sni_cluster";
constexpr const char* sni_cluster_type =
    "type.googleapis.com/envoy.extensions.filters.network.sni_cluster.v3.SniCluster";

// The tcp_proxy for one host, or what is wrong (`error` says whether it is the user's mistake or
// a destination that is merely missing for now).
struct tcp_target {
  std::optional<tcp_v3::TcpProxy> proxy;
  std::string problem;
  bool error = false;
  bool forward_sni = false;
};

tcp_target weighted(const gl::MultiDestination& multi, const model::world& w,
                    const cluster_translation& clusters) {
  tcp_target out;
  if (multi.destinations().empty()) {
    return {std::nullopt, "weighted destinations: the list is empty", true, false};
  }
  tcp_v3::TcpProxy proxy;
  for (const auto& wd : multi.destinations()) {
    const uint32_t weight = wd.has_weight() ? wd.weight().value() : 0;
    if (weight == 0) {
      // Envoy's tcp_proxy requires every weight to be at least 1.
      return {std::nullopt, "weighted destinations: every weight must be at least 1", true, false};
    }
    auto r = resolve_destination(wd.destination(), w, clusters);
    if (!r.problem.empty()) {
      return {std::nullopt, r.problem, false, false};
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
        return {std::nullopt, r.problem, false, false};
      }
      tcp_v3::TcpProxy proxy;
      proxy.set_cluster(r.cluster);
      return {std::move(proxy), "", false, false};
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
                false, false};
      }
      return weighted(*group, w, clusters);
    }
    case gl::TcpHost::TcpAction::kForwardSniClusterName: {
      // Gloo's tcp plugin: an empty cluster that the sni_cluster filter overwrites with the SNI
      // name of each connection.
      tcp_v3::TcpProxy proxy;
      proxy.set_cluster("");
      return {std::move(proxy), "", false, true};
    }
    case gl::TcpHost::TcpAction::DESTINATION_NOT_SET:
      break;
  }
  return {std::nullopt, "the host has no destination", true, false};
}

bool terminates_tls(const gl::SslConfig& c) {
  return c.has_secret_ref() || c.has_ssl_files() || c.has_sds();
}

}  // namespace

tcp_filter_chains tcp_chains(const gl::TcpListener& tcp, const std::string& where,
                             const std::vector<model::resource_key>& gateways,
                             const std::string& ns, const cluster_translation& clusters,
                             const upstream_group_index& groups, const listener_context& ctx) {
  tcp_filter_chains out;
  auto blame = [&](const std::string& message, bool error) {
    for (const auto& g : gateways) {
      if (error) {
        model::report_error(ctx.report, g, message);
      } else {
        model::report_warning(ctx.report, g, message);
      }
    }
  };
  const std::string stat_prefix = tcp.stat_prefix().empty() ? "tcp" : tcp.stat_prefix();
  std::set<std::string> claimed;  // SNI names; "" stands for "no server_names"
  for (int i = 0; i < tcp.tcp_hosts_size(); ++i) {
    const auto& host = tcp.tcp_hosts(i);
    const std::string label =
        where + " tcp host " + (host.name().empty() ? std::to_string(i) : host.name());
    auto target = target_of(host, ctx.world, clusters, groups);
    if (!target.proxy) {
      blame(label + ": " + target.problem + "; the host is not served", target.error);
      continue;
    }
    std::set<std::string> names(host.ssl_config().sni_domains().begin(),
                                host.ssl_config().sni_domains().end());
    std::string overlap;
    if (names.empty() && claimed.count("") > 0) {
      overlap = "(no SNI names)";
    }
    for (const auto& n : names) {
      if (claimed.count(n) > 0) {
        overlap = n;
        break;
      }
    }
    if (!overlap.empty()) {
      blame(label + ": another host already matches SNI " + overlap +
                "; this host is not served (give each host distinct sniDomains)",
            true);
      continue;
    }
    listener_v3::FilterChain chain;
    for (const auto& n : names) {
      chain.mutable_filter_chain_match()->add_server_names(n);
    }
    if (host.has_ssl_config() && terminates_tls(host.ssl_config())) {
      auto ts = downstream_transport_socket(host.ssl_config(), ns, ctx);
      if (auto* problem = std::get_if<std::string>(&ts)) {
        blame(label + ": " + *problem + "; the host is not served", true);
        continue;
      }
      *chain.mutable_transport_socket() =
          std::get<envoy::config::core::v3::TransportSocket>(std::move(ts));
      out.inspect_tls = true;
    }
    out.inspect_tls = out.inspect_tls || !names.empty() || target.forward_sni;
    if (target.forward_sni) {
      auto* f = chain.add_filters();
      f->set_name(sni_cluster_filter);
      f->mutable_typed_config()->set_type_url(sni_cluster_type);
    }
    target.proxy->set_stat_prefix(stat_prefix);
    auto* f = chain.add_filters();
    f->set_name("envoy.filters.network.tcp_proxy");
    *f->mutable_typed_config() = pack(*target.proxy);
    if (names.empty()) {
      claimed.insert("");
    }
    claimed.insert(names.begin(), names.end());
    out.chains.push_back(std::move(chain));
  }
  return out;
}

listener_v3::Listener tcp_listener(const gl::Listener& l, const cluster_translation& clusters,
                                   const upstream_group_index& groups,
                                   const listener_context& ctx) {
  auto out = listener_base(l);
  const auto gateways = model::sources_of(l.metadata_static(), resource_kind::gateway);
  const std::string ns = gateways.empty() ? std::string() : gateways.front().ns;
  auto built = tcp_chains(l.tcp_listener(), "listener " + l.name(), gateways, ns, clusters,
                          groups, ctx);
  for (auto& c : built.chains) {
    *out.add_filter_chains() = std::move(c);
  }
  if (built.inspect_tls && out.filter_chains_size() > 0) {
    add_tls_inspector(out);
  }
  return out;
}

}  // namespace sluice::xds
