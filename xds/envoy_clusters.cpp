#include "xds/envoy_clusters.hpp"

#include <arpa/inet.h>

#include <set>
#include <utility>
#include <vector>

#include "envoy/config/core/v3/health_check.pb.h"
#include "envoy/extensions/transport_sockets/tls/v3/tls.pb.h"
#include "envoy/extensions/upstreams/http/v3/http_protocol_options.pb.h"
#include "model/gateway_attribution.hpp"
#include "xds/envoy_common.hpp"
#include "xds/envoy_tls.hpp"

namespace sluice::xds {

namespace {

namespace gl = ::gloo::solo::io;
namespace cluster_v3 = envoy::config::cluster::v3;
namespace endpoint_v3 = envoy::config::endpoint::v3;
namespace core_v3 = envoy::config::core::v3;
using model::resource_key;
using model::resource_kind;

constexpr const char* http_protocol_options_name =
    "envoy.extensions.upstreams.http.v3.HttpProtocolOptions";
constexpr const char* proxyless_region = "sluice";

bool is_ip(const std::string& addr) {
  unsigned char buf[sizeof(struct in6_addr)];
  return inet_pton(AF_INET, addr.c_str(), buf) == 1 || inet_pton(AF_INET6, addr.c_str(), buf) == 1;
}

// One endpoint of a cluster, whatever its source (static host or Endpoint resource).
struct endpoint_entry {
  std::string address;
  uint32_t port = 0;
  uint32_t weight = 0;  ///< 0 = unset
  std::string hostname;
};

using endpoint_index = std::map<std::pair<std::string, std::string>, std::vector<endpoint_entry>>;

// Endpoint resources by the upstreams they name, in world (namespace/name) order.
endpoint_index index_endpoints(const model::world& w) {
  endpoint_index out;
  for (const auto& [nn, stored] : w.of(resource_kind::endpoint)) {
    const auto& e = static_cast<const gl::Endpoint&>(*stored.message);
    for (const auto& ref : e.upstreams()) {
      const std::string ns = ref.namespace_().empty() ? stored.key.ns : ref.namespace_();
      out[{ns, ref.name()}].push_back(endpoint_entry{e.address(), e.port(), 0, e.hostname()});
    }
  }
  return out;
}

void apply_load_balancer(cluster_v3::Cluster& c, const gl::LoadBalancerConfig& lb) {
  if (lb.has_healthy_panic_threshold()) {
    c.mutable_common_lb_config()->mutable_healthy_panic_threshold()->set_value(
        lb.healthy_panic_threshold().value());
  }
  if (lb.has_update_merge_window()) {
    *c.mutable_common_lb_config()->mutable_update_merge_window() = lb.update_merge_window();
  }
  if (lb.close_connections_on_host_set_change()) {
    c.mutable_common_lb_config()->set_close_connections_on_host_set_change(true);
  }
  switch (lb.type_case()) {
    case gl::LoadBalancerConfig::kRoundRobin:
      c.set_lb_policy(cluster_v3::Cluster::ROUND_ROBIN);
      break;
    case gl::LoadBalancerConfig::kLeastRequest:
      // Kept even for proxyless clients, which NACK it: the NACK is the honest signal that the
      // Upstream asks for something gRPC cannot do.
      c.set_lb_policy(cluster_v3::Cluster::LEAST_REQUEST);
      if (lb.least_request().choice_count() > 0) {
        c.mutable_least_request_lb_config()->mutable_choice_count()->set_value(
            lb.least_request().choice_count());
      }
      break;
    case gl::LoadBalancerConfig::kRandom:
      c.set_lb_policy(cluster_v3::Cluster::RANDOM);
      break;
    case gl::LoadBalancerConfig::kRingHash: {
      c.set_lb_policy(cluster_v3::Cluster::RING_HASH);
      const auto& cfg = lb.ring_hash().ring_hash_config();
      if (cfg.minimum_ring_size() > 0) {
        c.mutable_ring_hash_lb_config()->mutable_minimum_ring_size()->set_value(
            cfg.minimum_ring_size());
      }
      if (cfg.maximum_ring_size() > 0) {
        c.mutable_ring_hash_lb_config()->mutable_maximum_ring_size()->set_value(
            cfg.maximum_ring_size());
      }
      break;
    }
    case gl::LoadBalancerConfig::kMaglev:
      c.set_lb_policy(cluster_v3::Cluster::MAGLEV);
      break;
    case gl::LoadBalancerConfig::TYPE_NOT_SET:
      break;
  }
}

void apply_circuit_breakers(cluster_v3::Cluster& c, const gl::CircuitBreakerConfig& cb) {
  auto* t = c.mutable_circuit_breakers()->add_thresholds();
  if (cb.has_max_connections()) {
    t->mutable_max_connections()->set_value(cb.max_connections().value());
  }
  if (cb.has_max_pending_requests()) {
    t->mutable_max_pending_requests()->set_value(cb.max_pending_requests().value());
  }
  if (cb.has_max_requests()) {
    t->mutable_max_requests()->set_value(cb.max_requests().value());
  }
  if (cb.has_max_retries()) {
    t->mutable_max_retries()->set_value(cb.max_retries().value());
  }
  if (cb.has_track_remaining()) {
    t->set_track_remaining(cb.track_remaining().value());
  }
}

void apply_http2(cluster_v3::Cluster& c, const gl::Upstream& u) {
  if (!u.use_http2().value()) {
    return;
  }
  envoy::extensions::upstreams::http::v3::HttpProtocolOptions options;
  core_v3::Http2ProtocolOptions* h2 = nullptr;
  if (u.protocol_selection() == gl::Upstream::USE_DOWNSTREAM_PROTOCOL) {
    auto* down = options.mutable_use_downstream_protocol_config();
    down->mutable_http_protocol_options();
    h2 = down->mutable_http2_protocol_options();
  } else {
    h2 = options.mutable_explicit_http_config()->mutable_http2_protocol_options();
  }
  if (u.has_initial_stream_window_size()) {
    h2->mutable_initial_stream_window_size()->set_value(u.initial_stream_window_size().value());
  }
  if (u.has_initial_connection_window_size()) {
    h2->mutable_initial_connection_window_size()->set_value(
        u.initial_connection_window_size().value());
  }
  if (u.has_max_concurrent_streams()) {
    h2->mutable_max_concurrent_streams()->set_value(u.max_concurrent_streams().value());
  }
  (*c.mutable_typed_extension_protocol_options())[http_protocol_options_name] = pack(options);
}

void apply_outlier_detection(cluster_v3::Cluster& c, const gl::OutlierDetection& o) {
  auto* d = c.mutable_outlier_detection();
  auto copy_u32 = [](const auto& from, auto* to) { to->set_value(from.value()); };
  if (o.has_consecutive_5xx()) copy_u32(o.consecutive_5xx(), d->mutable_consecutive_5xx());
  if (o.has_interval()) *d->mutable_interval() = o.interval();
  if (o.has_base_ejection_time()) *d->mutable_base_ejection_time() = o.base_ejection_time();
  if (o.has_max_ejection_percent())
    copy_u32(o.max_ejection_percent(), d->mutable_max_ejection_percent());
  if (o.has_enforcing_consecutive_5xx())
    copy_u32(o.enforcing_consecutive_5xx(), d->mutable_enforcing_consecutive_5xx());
  if (o.has_enforcing_success_rate())
    copy_u32(o.enforcing_success_rate(), d->mutable_enforcing_success_rate());
  if (o.has_success_rate_minimum_hosts())
    copy_u32(o.success_rate_minimum_hosts(), d->mutable_success_rate_minimum_hosts());
  if (o.has_success_rate_request_volume())
    copy_u32(o.success_rate_request_volume(), d->mutable_success_rate_request_volume());
  if (o.has_success_rate_stdev_factor())
    copy_u32(o.success_rate_stdev_factor(), d->mutable_success_rate_stdev_factor());
  if (o.has_consecutive_gateway_failure())
    copy_u32(o.consecutive_gateway_failure(), d->mutable_consecutive_gateway_failure());
  if (o.has_enforcing_consecutive_gateway_failure())
    copy_u32(o.enforcing_consecutive_gateway_failure(),
             d->mutable_enforcing_consecutive_gateway_failure());
  d->set_split_external_local_origin_errors(o.split_external_local_origin_errors());
}

endpoint_v3::LbEndpoint lb_endpoint(const endpoint_entry& e, cluster_flavor flavor) {
  endpoint_v3::LbEndpoint lb;
  auto* sa = lb.mutable_endpoint()->mutable_address()->mutable_socket_address();
  sa->set_address(e.address);
  sa->set_port_value(e.port);
  if (!e.hostname.empty()) {
    lb.mutable_endpoint()->set_hostname(e.hostname);
  }
  if (e.weight > 0) {
    lb.mutable_load_balancing_weight()->set_value(e.weight);
  }
  if (flavor == cluster_flavor::proxyless) {
    lb.set_health_status(core_v3::HEALTHY);  // gRPC ignores endpoints not HEALTHY/UNKNOWN
  }
  return lb;
}

// Translates Upstreams one by one for one client flavor; owns the Endpoint index built once per
// run, and reports each Upstream's problems on it.
class upstream_translator {
 public:
  upstream_translator(const model::world& w, model::translation_report& report,
                      cluster_flavor flavor)
      : world_(w), report_(report), flavor_(flavor), endpoints_(index_endpoints(w)) {}

  void translate(const model::stored_resource& stored, cluster_translation& out);

 private:
  std::optional<std::vector<endpoint_entry>> static_hosts(const resource_key& key,
                                                          const gl::StaticUpstream& s);
  std::vector<endpoint_entry> proxyless_endpoints(const resource_key& key,
                                                  std::vector<endpoint_entry> in);
  bool apply_tls(const resource_key& key, const gl::Upstream& u,
                 const std::vector<endpoint_entry>& hosts, cluster_v3::Cluster& c);

  const model::world& world_;
  model::translation_report& report_;
  cluster_flavor flavor_;
  endpoint_index endpoints_;
};

std::optional<std::vector<endpoint_entry>> upstream_translator::static_hosts(
    const resource_key& key, const gl::StaticUpstream& s) {
  std::vector<endpoint_entry> hosts;
  for (int i = 0; i < s.hosts_size(); ++i) {
    const auto& h = s.hosts(i);
    if (h.addr().empty() || h.port() == 0) {
      model::report_error(report_, key,
                          "invalid static upstream: hosts[" + std::to_string(i) +
                              "] needs a non-empty addr and a non-zero port");
      return std::nullopt;
    }
    endpoint_entry e{h.addr(), h.port(),
                     h.has_load_balancing_weight() ? h.load_balancing_weight().value() : 0u, ""};
    if (!h.health_check_config().path().empty() || !h.sni_addr().empty()) {
      e.hostname = h.sni_addr().empty() ? h.addr() : h.sni_addr();
    }
    hosts.push_back(std::move(e));
  }
  return hosts;
}

std::vector<endpoint_entry> upstream_translator::proxyless_endpoints(
    const resource_key& key, std::vector<endpoint_entry> in) {
  std::vector<endpoint_entry> out;
  std::set<std::pair<std::string, uint32_t>> seen;
  for (auto& e : in) {
    if (!is_ip(e.address)) {
      model::report_warning(report_, key,
                            "proxyless gRPC clients need IP addresses: endpoint " + e.address +
                                " is not sent to them");
      continue;
    }
    // gRPC rejects a ClusterLoadAssignment that lists one address twice.
    if (!seen.emplace(e.address, e.port).second) {
      continue;
    }
    e.weight = 0;
    e.hostname.clear();
    out.push_back(std::move(e));
  }
  return out;
}

bool upstream_translator::apply_tls(const resource_key& key, const gl::Upstream& u,
                                    const std::vector<endpoint_entry>& hosts,
                                    cluster_v3::Cluster& c) {
  bool want = u.has_ssl_config();
  if (!want && u.has_static_()) {
    // Gloo: useTls unset means TLS iff some host port is 443.
    if (u.static_().has_use_tls()) {
      want = u.static_().use_tls().value();
    } else {
      for (const auto& h : u.static_().hosts()) {
        want = want || h.port() == 443;
      }
    }
  }
  if (!want) {
    return true;
  }
  envoy::extensions::transport_sockets::tls::v3::UpstreamTlsContext ctx;
  if (u.has_ssl_config()) {
    auto common = common_tls_context(settings_of(u.ssl_config(), key.ns), world_);
    if (auto* problem = std::get_if<std::string>(&common)) {
      model::report_error(report_, key, "invalid sslConfig: " + *problem);
      return false;
    }
    *ctx.mutable_common_tls_context() =
        std::get<envoy::extensions::transport_sockets::tls::v3::CommonTlsContext>(
            std::move(common));
    ctx.set_sni(u.ssl_config().sni());
    ctx.set_allow_renegotiation(u.ssl_config().allow_renegotiation().value());
  }
  if (ctx.sni().empty() && u.has_static_() &&
      (!u.static_().has_auto_sni_rewrite() || u.static_().auto_sni_rewrite().value())) {
    // One SNI per cluster: the first host name that is not an IP address.
    for (const auto& h : hosts) {
      const auto& name = h.hostname.empty() ? h.address : h.hostname;
      if (!is_ip(name)) {
        ctx.set_sni(name);
        break;
      }
    }
  }
  auto* ts = c.mutable_transport_socket();
  ts->set_name("envoy.transport_sockets.tls");
  *ts->mutable_typed_config() = pack(ctx);
  return true;
}

void upstream_translator::translate(const model::stored_resource& stored,
                                    cluster_translation& out) {
  const auto& key = stored.key;
  const auto& u = static_cast<const gl::Upstream&>(*stored.message);
  report_.touch(key);

  cluster_v3::Cluster c;
  const std::string name = cluster_name(key.name, key.ns);
  c.set_name(name);
  *c.mutable_connect_timeout() = u.connection_config().has_connect_timeout()
                                     ? u.connection_config().connect_timeout()
                                     : seconds(5);
  if (u.connection_config().has_per_connection_buffer_limit_bytes()) {
    c.mutable_per_connection_buffer_limit_bytes()->set_value(
        u.connection_config().per_connection_buffer_limit_bytes().value());
  }
  if (u.has_load_balancer_config()) {
    apply_load_balancer(c, u.load_balancer_config());
  }
  if (u.has_circuit_breakers()) {
    apply_circuit_breakers(c, u.circuit_breakers());
  }

  std::vector<endpoint_entry> hosts;
  switch (u.upstream_type_case()) {
    case gl::Upstream::kStatic: {
      auto h = static_hosts(key, u.static_());
      if (!h) {
        return;
      }
      hosts = std::move(*h);
      break;
    }
    case gl::Upstream::kKube:
    case gl::Upstream::kConsul:
      if (auto i = endpoints_.find({key.ns, key.name}); i != endpoints_.end()) {
        hosts = i->second;
      }
      break;
    case gl::Upstream::UPSTREAM_TYPE_NOT_SET:
      model::report_error(report_, key,
                          "invalid upstream: set one of static, kube or consul (no cluster is "
                          "built without an upstream type)");
      return;
    default: {
      const auto* field = gl::Upstream::descriptor()->FindFieldByNumber(u.upstream_type_case());
      model::report_warning(report_, key,
                            "upstream type " + (field ? field->json_name() : std::string("?")) +
                                " is not supported yet: no cluster is built for it");
      return;
    }
  }

  if (flavor_ == cluster_flavor::proxyless) {
    // gRPC accepts only EDS clusters over ADS; the EDS name is the cluster name.
    c.set_type(cluster_v3::Cluster::EDS);
    *c.mutable_eds_cluster_config()->mutable_eds_config() = ads_config_source();
    endpoint_v3::ClusterLoadAssignment cla;
    cla.set_cluster_name(name);
    auto list = proxyless_endpoints(key, std::move(hosts));
    if (!list.empty()) {
      auto* locality = cla.add_endpoints();
      locality->mutable_locality()->set_region(proxyless_region);
      locality->mutable_load_balancing_weight()->set_value(1);
      for (const auto& e : list) {
        *locality->add_lb_endpoints() = lb_endpoint(e, flavor_);
      }
    }
    out.load_assignments[name] = std::move(cla);
    out.clusters[name] = std::move(c);
    return;
  }

  apply_http2(c, u);
  if (u.has_outlier_detection()) {
    apply_outlier_detection(c, u.outlier_detection());
  }
  if (u.has_dns_refresh_rate()) {
    *c.mutable_dns_refresh_rate() = u.dns_refresh_rate();
  }
  if (u.has_respect_dns_ttl()) {
    c.set_respect_dns_ttl(u.respect_dns_ttl().value());
  }
  if (!apply_tls(key, u, hosts, c)) {
    return;
  }
  if (u.has_static_()) {
    bool all_ip = true;
    for (const auto& h : hosts) {
      all_ip = all_ip && is_ip(h.address);
    }
    c.set_type(all_ip ? cluster_v3::Cluster::STATIC : cluster_v3::Cluster::STRICT_DNS);
    if (!all_ip) {
      c.set_dns_lookup_family(cluster_v3::Cluster::V4_ONLY);
    }
    auto* cla = c.mutable_load_assignment();
    cla->set_cluster_name(name);
    auto* locality = cla->add_endpoints();
    for (const auto& h : hosts) {
      *locality->add_lb_endpoints() = lb_endpoint(h, flavor_);
    }
  } else {
    c.set_type(cluster_v3::Cluster::EDS);
    // A hash of the spec alone: metadata (resource versions, generations) and statuses change
    // without changing the cluster, and must not rename its EDS resource.
    gl::Upstream spec = u;
    spec.clear_metadata();
    spec.clear_namespaced_statuses();
    const std::string eds_name =
        name + "-" + std::to_string(model::content_hash(model::canonical_bytes(spec)));
    auto* eds = c.mutable_eds_cluster_config();
    *eds->mutable_eds_config() = ads_config_source();
    eds->set_service_name(eds_name);
    endpoint_v3::ClusterLoadAssignment cla;
    cla.set_cluster_name(eds_name);
    if (!hosts.empty()) {
      auto* locality = cla.add_endpoints();
      for (const auto& h : hosts) {
        *locality->add_lb_endpoints() = lb_endpoint(h, flavor_);
      }
    }
    out.load_assignments[eds_name] = std::move(cla);
  }
  out.clusters[name] = std::move(c);
}

}  // namespace

cluster_translation translate_upstreams(const model::world& w, model::translation_report& report,
                                        cluster_flavor flavor) {
  cluster_translation out;
  upstream_translator translator(w, report, flavor);
  for (const auto& [nn, stored] : w.of(resource_kind::upstream)) {
    translator.translate(stored, out);
  }
  return out;
}

}  // namespace sluice::xds
