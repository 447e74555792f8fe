#include "xds/snapshot_checker.hpp"

#include <re2/re2.h>

#include <map>
#include <set>

#include "envoy/config/cluster/v3/cluster.pb.h"
#include "envoy/config/endpoint/v3/endpoint.pb.h"
#include "envoy/config/listener/v3/listener.pb.h"
#include "envoy/config/route/v3/route.pb.h"
#include "envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.pb.h"
#include "envoy/extensions/filters/network/tcp_proxy/v3/tcp_proxy.pb.h"
#include "envoy/extensions/transport_sockets/tls/v3/secret.pb.h"
#include "envoy/extensions/transport_sockets/tls/v3/tls.pb.h"
#include "model/resource.hpp"

namespace sluice::xds {

namespace {

namespace listener_v3 = envoy::config::listener::v3;
namespace route_v3 = envoy::config::route::v3;
namespace cluster_v3 = envoy::config::cluster::v3;
namespace endpoint_v3 = envoy::config::endpoint::v3;
namespace hcm_v3 = envoy::extensions::filters::network::http_connection_manager::v3;
namespace tcp_v3 = envoy::extensions::filters::network::tcp_proxy::v3;
namespace matcher_v3 = envoy::type::matcher::v3;
namespace tls_v3 = envoy::extensions::transport_sockets::tls::v3;
namespace core_v3 = envoy::config::core::v3;

constexpr const char* router_filter = "envoy.filters.http.router";
constexpr const char* sni_cluster_filter = "envoy.filters.network.sni_cluster";

// One pass over one snapshot, collecting every problem (not stopping at the first).
class checker {
 public:
  explicit checker(const snapshot& snap) : snap_(snap) {}

  std::vector<std::string> run() {
    for (const auto& [type, set] : snap_.types) {
      for (const auto& [name, res] : set.items) {
        if (!res) {
          problem(type, name, "null resource");
          continue;
        }
        if (res->name != name) {
          problem(type, name, "stored under a different name than its own (" + res->name + ")");
        }
        if (res->type_url != type) {
          problem(type, name, "has type " + res->type_url + " in the set of " + type);
        }
      }
    }
    check_clusters();
    check_routes();
    check_listeners();
    check_secrets();
    return std::move(problems_);
  }

 private:
  void problem(std::string_view type, const std::string& name, const std::string& what) {
    auto short_type = type.substr(type.rfind('.') + 1);
    problems_.push_back(std::string(short_type) + " " + name + ": " + what);
  }

  template <class Message>
  bool parse(std::string_view type, const std::string& name, const xds_resource& res,
             Message& out) {
    if (!out.ParseFromString(res.bytes)) {
      problem(type, name, "bytes do not parse as " + Message::descriptor()->full_name());
      return false;
    }
    return true;
  }

  bool has(std::string_view type, const std::string& name) const {
    return snap_.of(type).items.count(name) > 0;
  }

  void check_regex(std::string_view type, const std::string& name, const std::string& where,
                   const matcher_v3::RegexMatcher& m) {
    RE2 re(m.regex(), RE2::Quiet);
    if (!re.ok()) {
      problem(type, name, where + ": regex \"" + m.regex() + "\" does not compile: " + re.error());
    }
  }

  void check_string_matcher(std::string_view type, const std::string& name,
                            const std::string& where, const matcher_v3::StringMatcher& m) {
    if (m.has_safe_regex()) {
      check_regex(type, name, where, m.safe_regex());
    }
  }

  void check_clusters() {
    std::set<std::string> eds_names;
    for (const auto& [name, res] : snap_.of(cluster_type).items) {
      cluster_v3::Cluster c;
      if (!res || !parse(cluster_type, name, *res, c)) {
        continue;
      }
      if (c.name() != name) {
        problem(cluster_type, name, "message name is " + c.name());
      }
      if (c.has_transport_socket()) {
        check_transport_socket(cluster_type, name, c.transport_socket());
      }
      for (const auto& m : c.transport_socket_matches()) {
        check_transport_socket(cluster_type, name, m.transport_socket());
      }
      if (c.type() == cluster_v3::Cluster::EDS) {
        const auto& eds = c.eds_cluster_config();
        if (!eds.eds_config().has_ads()) {
          problem(cluster_type, name, "EDS config source is not ADS");
        }
        const auto& cla = eds.service_name().empty() ? name : eds.service_name();
        eds_names.insert(cla);
        if (!has(endpoint_type, cla)) {
          problem(cluster_type, name, "EDS cluster has no ClusterLoadAssignment " + cla);
        }
      } else if ((c.type() == cluster_v3::Cluster::STATIC ||
                  c.type() == cluster_v3::Cluster::STRICT_DNS) &&
                 !c.has_load_assignment()) {
        problem(cluster_type, name, "static cluster without load_assignment");
      }
    }
    for (const auto& [name, res] : snap_.of(endpoint_type).items) {
      endpoint_v3::ClusterLoadAssignment cla;
      if (!res || !parse(endpoint_type, name, *res, cla)) {
        continue;
      }
      if (cla.cluster_name() != name) {
        problem(endpoint_type, name, "cluster_name is " + cla.cluster_name());
      }
      if (eds_names.count(name) == 0) {
        problem(endpoint_type, name, "no EDS cluster uses this ClusterLoadAssignment");
      }
    }
  }

  void check_weighted(const std::string& rc, const std::string& where,
                      const route_v3::WeightedCluster& w) {
    if (w.clusters().empty()) {
      problem(route_type, rc, where + ": weighted_clusters is empty");
    }
    uint64_t sum = 0;
    for (const auto& c : w.clusters()) {
      sum += c.weight().value();
      if (!has(cluster_type, c.name())) {
        problem(route_type, rc, where + ": weighted cluster " + c.name() + " does not exist");
      }
    }
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
    if (w.has_total_weight() && w.total_weight().value() != sum) {
      problem(route_type, rc,
              where + ": total_weight " + std::to_string(w.total_weight().value()) +
                  " differs from the sum of weights " + std::to_string(sum));
    }
#pragma GCC diagnostic pop
  }

  void check_route(const std::string& rc, const std::string& where, const route_v3::Route& r) {
    const auto& m = r.match();
    if (m.has_safe_regex()) {
      check_regex(route_type, rc, where + " path", m.safe_regex());
    }
    for (const auto& h : m.headers()) {
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
      if (h.has_safe_regex_match()) {
        check_regex(route_type, rc, where + " header " + h.name(), h.safe_regex_match());
      }
#pragma GCC diagnostic pop
      if (h.has_string_match()) {
        check_string_matcher(route_type, rc, where + " header " + h.name(), h.string_match());
      }
    }
    for (const auto& q : m.query_parameters()) {
      if (q.has_string_match()) {
        check_string_matcher(route_type, rc, where + " query " + q.name(), q.string_match());
      }
    }
    if (r.has_route()) {
      const auto& a = r.route();
      if (a.cluster_specifier_case() == route_v3::RouteAction::kCluster &&
          !has(cluster_type, a.cluster())) {
        problem(route_type, rc, where + ": cluster " + a.cluster() + " does not exist");
      }
      if (a.has_weighted_clusters()) {
        check_weighted(rc, where, a.weighted_clusters());
      }
      if (a.cluster_specifier_case() == route_v3::RouteAction::CLUSTER_SPECIFIER_NOT_SET) {
        problem(route_type, rc, where + ": route action names no cluster");
      }
      if (a.has_regex_rewrite()) {
        check_regex(route_type, rc, where + " regex_rewrite", a.regex_rewrite().pattern());
      }
      if (a.has_host_rewrite_path_regex()) {
        check_regex(route_type, rc, where + " host_rewrite_path_regex",
                    a.host_rewrite_path_regex().pattern());
      }
    }
    if (r.has_redirect() && r.redirect().has_regex_rewrite()) {
      check_regex(route_type, rc, where + " redirect regex_rewrite",
                  r.redirect().regex_rewrite().pattern());
    }
  }

  void check_route_configuration(const std::string& name, const route_v3::RouteConfiguration& rc) {
    std::set<std::string> vhost_names;
    std::map<std::string, std::string> domains;
    for (const auto& vh : rc.virtual_hosts()) {
      if (!vhost_names.insert(vh.name()).second) {
        problem(route_type, name, "virtual host name " + vh.name() + " is used twice");
      }
      for (const auto& d : vh.domains()) {
        auto [i, inserted] = domains.emplace(d, vh.name());
        if (!inserted) {
          problem(route_type, name,
                  "domain " + d + " is in virtual hosts " + i->second + " and " + vh.name());
        }
      }
      for (int i = 0; i < vh.routes_size(); ++i) {
        const auto& r = vh.routes(i);
        check_route(name,
                    "virtual host " + vh.name() + " route " +
                        (r.name().empty() ? std::to_string(i) : r.name()),
                    r);
      }
    }
  }

  void check_routes() {
    for (const auto& [name, res] : snap_.of(route_type).items) {
      route_v3::RouteConfiguration rc;
      if (!res || !parse(route_type, name, *res, rc)) {
        continue;
      }
      if (rc.name() != name) {
        problem(route_type, name, "message name is " + rc.name());
      }
      check_route_configuration(name, rc);
    }
  }

  void check_hcm(const std::string& listener, const hcm_v3::HttpConnectionManager& hcm) {
    if (hcm.has_rds()) {
      if (!hcm.rds().config_source().has_ads()) {
        problem(listener_type, listener, "RDS config source is not ADS");
      }
      if (!has(route_type, hcm.rds().route_config_name())) {
        problem(listener_type, listener,
                "route configuration " + hcm.rds().route_config_name() + " does not exist");
      }
    } else if (hcm.has_route_config()) {
      check_route_configuration(listener + " (inline)", hcm.route_config());
    } else {
      problem(listener_type, listener, "HTTP connection manager has no routes");
    }
    if (hcm.http_filters().empty()) {
      problem(listener_type, listener, "HTTP connection manager has no HTTP filters");
      return;
    }
    std::set<std::string> names;
    for (int i = 0; i < hcm.http_filters_size(); ++i) {
      const auto& f = hcm.http_filters(i);
      if (!names.insert(f.name()).second) {
        problem(listener_type, listener, "HTTP filter " + f.name() + " appears twice");
      }
      const bool last = i + 1 == hcm.http_filters_size();
      if ((f.name() == router_filter) != last) {
        problem(listener_type, listener, "the router must be the last HTTP filter, and only last");
      }
    }
  }

  void check_tcp_proxy(const std::string& listener, const google::protobuf::Any& config,
                       bool sni_cluster) {
    tcp_v3::TcpProxy proxy;
    if (!config.UnpackTo(&proxy)) {
      problem(listener_type, listener, "tcp_proxy does not parse");
      return;
    }
    if (proxy.has_weighted_clusters()) {
      if (proxy.weighted_clusters().clusters().empty()) {
        problem(listener_type, listener, "tcp_proxy weighted_clusters is empty");
      }
      for (const auto& c : proxy.weighted_clusters().clusters()) {
        if (!has(cluster_type, c.name())) {
          problem(listener_type, listener, "tcp_proxy cluster " + c.name() + " does not exist");
        }
      }
    } else if (proxy.cluster().empty() && sni_cluster) {
      // forwardSniClusterName: the sni_cluster filter names the cluster per connection.
    } else if (!has(cluster_type, proxy.cluster())) {
      problem(listener_type, listener, "tcp_proxy cluster " + proxy.cluster() + " does not exist");
    }
  }

  void check_listeners() {
    std::map<std::string, std::string> addresses;
    for (const auto& [name, res] : snap_.of(listener_type).items) {
      listener_v3::Listener l;
      if (!res || !parse(listener_type, name, *res, l)) {
        continue;
      }
      if (l.name() != name) {
        problem(listener_type, name, "message name is " + l.name());
      }
      if (l.has_api_listener()) {
        hcm_v3::HttpConnectionManager hcm;
        if (!l.api_listener().api_listener().UnpackTo(&hcm)) {
          problem(listener_type, name, "API listener does not hold an HTTP connection manager");
        } else {
          check_hcm(name, hcm);
        }
        continue;
      }
      const auto& sa = l.address().socket_address();
      auto addr = sa.address() + ":" + std::to_string(sa.port_value());
      if (auto [i, inserted] = addresses.emplace(addr, name); !inserted) {
        problem(listener_type, name, "address " + addr + " is also used by " + i->second);
      }
      if (l.filter_chains().empty()) {
        problem(listener_type, name, "listener has no filter chains");
      }
      std::set<std::string> matches;
      for (const auto& chain : l.filter_chains()) {
        if (!matches.insert(model::canonical_bytes(chain.filter_chain_match())).second) {
          problem(listener_type, name, "two filter chains have the same filter_chain_match");
        }
        if (chain.has_transport_socket()) {
          check_transport_socket(listener_type, name, chain.transport_socket());
        }
        bool sni_cluster = false;
        for (const auto& f : chain.filters()) {
          if (f.name() == sni_cluster_filter) {
            sni_cluster = true;
            continue;
          }
          if (f.typed_config().Is<tcp_v3::TcpProxy>()) {
            check_tcp_proxy(name, f.typed_config(), sni_cluster);
            continue;
          }
          if (!f.typed_config().Is<hcm_v3::HttpConnectionManager>()) {
            continue;
          }
          hcm_v3::HttpConnectionManager hcm;
          if (!f.typed_config().UnpackTo(&hcm)) {
            problem(listener_type, name, "HTTP connection manager does not parse");
            continue;
          }
          check_hcm(name, hcm);
        }
      }
    }
  }

  void check_sds(std::string_view type, const std::string& name,
                 const tls_v3::SdsSecretConfig& sds) {
    if (!sds.sds_config().has_ads()) {
      problem(type, name, "SDS secret " + sds.name() + " is not fetched over ADS");
    }
    if (!has(secret_type, sds.name())) {
      problem(type, name, "SDS secret " + sds.name() + " does not exist");
    }
    referenced_secrets_.insert(sds.name());
  }

  void check_common_tls(std::string_view type, const std::string& name,
                        const tls_v3::CommonTlsContext& c) {
    for (const auto& sds : c.tls_certificate_sds_secret_configs()) {
      check_sds(type, name, sds);
    }
    if (c.has_validation_context_sds_secret_config()) {
      check_sds(type, name, c.validation_context_sds_secret_config());
    }
    if (c.has_combined_validation_context() &&
        c.combined_validation_context().has_validation_context_sds_secret_config()) {
      check_sds(type, name, c.combined_validation_context().validation_context_sds_secret_config());
    }
  }

  void check_transport_socket(std::string_view type, const std::string& name,
                              const core_v3::TransportSocket& ts) {
    if (ts.typed_config().Is<tls_v3::DownstreamTlsContext>()) {
      tls_v3::DownstreamTlsContext ctx;
      if (!ts.typed_config().UnpackTo(&ctx)) {
        problem(type, name, "DownstreamTlsContext does not parse");
        return;
      }
      check_common_tls(type, name, ctx.common_tls_context());
    } else if (ts.typed_config().Is<tls_v3::UpstreamTlsContext>()) {
      tls_v3::UpstreamTlsContext ctx;
      if (!ts.typed_config().UnpackTo(&ctx)) {
        problem(type, name, "UpstreamTlsContext does not parse");
        return;
      }
      check_common_tls(type, name, ctx.common_tls_context());
    }
  }

  void check_secrets() {
    for (const auto& [name, res] : snap_.of(secret_type).items) {
      tls_v3::Secret secret;
      if (!res || !parse(secret_type, name, *res, secret)) {
        continue;
      }
      if (secret.name() != name) {
        problem(secret_type, name, "message name is " + secret.name());
      }
      if (referenced_secrets_.count(name) == 0) {
        problem(secret_type, name, "no listener or cluster uses this secret");
      }
    }
  }

  const snapshot& snap_;
  std::vector<std::string> problems_;
  std::set<std::string> referenced_secrets_;
};

}  // namespace

std::vector<std::string> check_snapshot(const snapshot& snap) { return checker(snap).run(); }

}  // namespace sluice::xds
