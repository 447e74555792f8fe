#include "xds/envoy_clusters.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <set>
#include <utility>
#include <vector>

#include "envoy/config/core/v3/health_check.pb.h"
#include "envoy/extensions/transport_sockets/tls/v3/tls.pb.h"
#include "envoy/extensions/upstreams/http/v3/http_protocol_options.pb.h"
#include "model/gateway_attribution.hpp"
#include "model/gateway_settings.hpp"
#include "model/logging.hpp"
#include "xds/envoy_common.hpp"

namespace sluice::xds {

namespace {

namespace gl = ::gloo::solo::io;
namespace pb = google::protobuf;
namespace cluster_v3 = envoy::config::cluster::v3;
namespace endpoint_v3 = envoy::config::endpoint::v3;
namespace core_v3 = envoy::config::core::v3;
namespace tls_v3 = envoy::extensions::transport_sockets::tls::v3;
using model::resource_key;
using model::resource_kind;

constexpr const char* http_protocol_options_name =
    "envoy.extensions.upstreams.http.v3.HttpProtocolOptions";
constexpr const char* proxyless_region = "sluice";
constexpr const char* lb_metadata_key = "envoy.lb";
constexpr const char* socket_match_key = "envoy.transport_socket_match";

bool is_ip(const std::string& addr) {
  unsigned char buf[sizeof(struct in6_addr)];
  return inet_pton(AF_INET, addr.c_str(), buf) == 1 || inet_pton(AF_INET6, addr.c_str(), buf) == 1;
}

// A static host with what Envoy needs beyond the address.
struct host_entry {
  upstream_endpoint endpoint;
  std::string sni;  ///< SNI for this host when TLS is on ("" = cluster default)
  const pb::Map<std::string, pb::Struct>* metadata = nullptr;
};

void apply_slow_start(cluster_v3::Cluster::SlowStartConfig& out,
                      const gl::LoadBalancerConfig::SlowStartConfig& in) {
  if (in.has_slow_start_window()) {
    *out.mutable_slow_start_window() = in.slow_start_window();
  }
  if (in.has_aggression()) {
    out.mutable_aggression()->set_default_value(in.aggression().value());
    out.mutable_aggression()->set_runtime_key("upstream.slow_start.aggression");
  }
  if (in.has_min_weight_percent()) {
    out.mutable_min_weight_percent()->set_value(in.min_weight_percent().value());
  }
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
  if (lb.has_locality_weighted_lb_config()) {
    c.mutable_common_lb_config()->mutable_locality_weighted_lb_config();
  }
  switch (lb.type_case()) {
    case gl::LoadBalancerConfig::kRoundRobin:
      c.set_lb_policy(cluster_v3::Cluster::ROUND_ROBIN);
      if (lb.round_robin().has_slow_start_config()) {
        apply_slow_start(*c.mutable_round_robin_lb_config()->mutable_slow_start_config(),
                         lb.round_robin().slow_start_config());
      }
      break;
    case gl::LoadBalancerConfig::kLeastRequest:
      // Kept even for proxyless clients, which NACK it: the NACK is the honest signal that the
      // Upstream asks for something gRPC cannot do.
      c.set_lb_policy(cluster_v3::Cluster::LEAST_REQUEST);
      if (lb.least_request().choice_count() > 0) {
        c.mutable_least_request_lb_config()->mutable_choice_count()->set_value(
            lb.least_request().choice_count());
      }
      if (lb.least_request().has_slow_start_config()) {
        apply_slow_start(*c.mutable_least_request_lb_config()->mutable_slow_start_config(),
                         lb.least_request().slow_start_config());
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

// HttpProtocolOptions from useHttp2 / protocolSelection and connectionConfig. Envoy requires an
// upstream protocol choice in it, so HTTP/1.1 is explicit when only common options are set.
void apply_http_protocol_options(cluster_v3::Cluster& c, const gl::Upstream& u) {
  const auto& conn = u.connection_config();
  const bool http2 = u.use_http2().value();
  const bool downstream = u.protocol_selection() == gl::Upstream::USE_DOWNSTREAM_PROTOCOL;
  const auto* common = conn.has_common_http_protocol_options()
                           ? &conn.common_http_protocol_options()
                           : nullptr;
  if (!http2 && !downstream && conn.max_requests_per_connection() == 0 && common == nullptr) {
    return;
  }
  envoy::extensions::upstreams::http::v3::HttpProtocolOptions options;
  core_v3::Http2ProtocolOptions* h2 = nullptr;
  if (downstream) {
    auto* down = options.mutable_use_downstream_protocol_config();
    down->mutable_http_protocol_options();
    if (http2) {
      h2 = down->mutable_http2_protocol_options();
    }
  } else if (http2) {
    h2 = options.mutable_explicit_http_config()->mutable_http2_protocol_options();
  } else {
    options.mutable_explicit_http_config()->mutable_http_protocol_options();
  }
  if (h2 != nullptr) {
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
  }
  auto* opts = options.mutable_common_http_protocol_options();
  if (conn.max_requests_per_connection() > 0) {
    opts->mutable_max_requests_per_connection()->set_value(conn.max_requests_per_connection());
  }
  if (common != nullptr) {
    if (auto t = model::struct_string(*common, "idleTimeout")) {
      if (auto d = model::parse_duration(*t)) {
        *opts->mutable_idle_timeout() = *d;
      }
    }
    if (auto n = model::struct_number(*common, "maxHeadersCount"); n && *n >= 1) {
      opts->mutable_max_headers_count()->set_value(static_cast<uint32_t>(*n));
    }
    if (auto t = model::struct_string(*common, "maxStreamDuration")) {
      if (auto d = model::parse_duration(*t)) {
        *opts->mutable_max_stream_duration() = *d;
      }
    }
  }
  if (opts->ByteSizeLong() == 0) {
    options.clear_common_http_protocol_options();
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

// A TCP health check payload from Gloo's {text: <hex>} form.
std::optional<std::string> payload(const pb::Struct& in, core_v3::HealthCheck::Payload& out) {
  auto text = model::struct_string(in, "text");
  if (!text || text->empty()) {
    return std::string("a payload needs a non-empty text (hex)");
  }
  out.set_text(*text);
  return std::nullopt;
}

// Gloo's health checks are Envoy's with the v2 field names (reference §1.4): the timeout,
// interval, both thresholds and a checker are mandatory.
std::optional<std::string> health_check(const gl::HealthCheck& in, int index,
                                        core_v3::HealthCheck& out) {
  const std::string at = "healthChecks[" + std::to_string(index) + "]";
  auto missing = [&](const char* field) {
    return "The field HealthCheck[" + std::to_string(index) + "]." + field +
           " cannot be nil: set " + at + "." + field;
  };
  if (!in.has_timeout()) return missing("timeout");
  if (!in.has_interval()) return missing("interval");
  if (!in.has_unhealthy_threshold()) return missing("unhealthyThreshold");
  if (!in.has_healthy_threshold()) return missing("healthyThreshold");
  if (millis(in.timeout()) <= 0 || millis(in.interval()) <= 0) {
    return at + ": timeout and interval must be greater than zero";
  }
  *out.mutable_timeout() = in.timeout();
  *out.mutable_interval() = in.interval();
  out.mutable_unhealthy_threshold()->set_value(in.unhealthy_threshold().value());
  out.mutable_healthy_threshold()->set_value(in.healthy_threshold().value());
  if (in.has_initial_jitter()) *out.mutable_initial_jitter() = in.initial_jitter();
  if (in.has_interval_jitter()) *out.mutable_interval_jitter() = in.interval_jitter();
  out.set_interval_jitter_percent(in.interval_jitter_percent());
  if (in.has_alt_port()) out.mutable_alt_port()->set_value(in.alt_port().value());
  if (in.has_reuse_connection()) *out.mutable_reuse_connection() = in.reuse_connection();
  auto interval = [&](bool has, const pb::Duration& in_value,
                      pb::Duration* (core_v3::HealthCheck::*field)()) -> bool {
    if (!has) {
      return true;
    }
    if (millis(in_value) <= 0) {
      return false;
    }
    *(out.*field)() = in_value;
    return true;
  };
  if (!interval(in.has_no_traffic_interval(), in.no_traffic_interval(),
                &core_v3::HealthCheck::mutable_no_traffic_interval) ||
      !interval(in.has_unhealthy_interval(), in.unhealthy_interval(),
                &core_v3::HealthCheck::mutable_unhealthy_interval) ||
      !interval(in.has_unhealthy_edge_interval(), in.unhealthy_edge_interval(),
                &core_v3::HealthCheck::mutable_unhealthy_edge_interval) ||
      !interval(in.has_healthy_edge_interval(), in.healthy_edge_interval(),
                &core_v3::HealthCheck::mutable_healthy_edge_interval)) {
    return at + ": health check intervals must be greater than zero";
  }
  out.set_always_log_health_check_failures(in.always_log_health_check_failures());
  switch (in.health_checker_case()) {
    case gl::HealthCheck::kHttpHealthCheck: {
      const auto& h = in.http_health_check();
      if (h.path().empty()) {
        return at + ".httpHealthCheck.path must not be empty";
      }
      auto* o = out.mutable_http_health_check();
      o->set_host(h.host());
      o->set_path(h.path());
      for (const auto& add : h.request_headers_to_add()) {
        auto* hv = o->add_request_headers_to_add();
        hv->mutable_header()->set_key(add.header().key());
        hv->mutable_header()->set_value(add.header().value());
        if (add.has_append() && !add.append().value()) {
          hv->set_append_action(core_v3::HeaderValueOption::OVERWRITE_IF_EXISTS_OR_ADD);
        }
      }
      *o->mutable_request_headers_to_remove() = h.request_headers_to_remove();
      for (int i = 0; i < h.expected_statuses_size(); ++i) {
        auto start = model::struct_number(h.expected_statuses(i), "start");
        auto end = model::struct_number(h.expected_statuses(i), "end");
        if (!start || !end || *start < 100 || *end > 600 || *start >= *end) {
          return at + ".httpHealthCheck.expectedStatuses[" + std::to_string(i) +
                 "] must be {start, end} with 100 <= start < end <= 600";
        }
        auto* r = o->add_expected_statuses();
        r->set_start(static_cast<int64_t>(*start));
        r->set_end(static_cast<int64_t>(*end));
      }
      if (!h.service_name().empty()) {
        o->mutable_service_name_matcher()->set_prefix(h.service_name());
      }
      if (h.use_http2()) {
        o->set_codec_client_type(envoy::type::v3::HTTP2);
      }
      break;
    }
    case gl::HealthCheck::kTcpHealthCheck: {
      const auto& t = in.tcp_health_check();
      auto* o = out.mutable_tcp_health_check();
      if (t.has_send()) {
        if (auto p = payload(t.send(), *o->mutable_send())) {
          return at + ".tcpHealthCheck.send: " + *p;
        }
      }
      for (const auto& r : t.receive()) {
        if (auto p = payload(r, *o->add_receive())) {
          return at + ".tcpHealthCheck.receive: " + *p;
        }
      }
      break;
    }
    case gl::HealthCheck::kGrpcHealthCheck:
      out.mutable_grpc_health_check()->set_service_name(in.grpc_health_check().service_name());
      out.mutable_grpc_health_check()->set_authority(in.grpc_health_check().authority());
      break;
    case gl::HealthCheck::kCustomHealthCheck:
      return at + ".customHealthCheck is not supported; use http, tcp or grpc health checks";
    case gl::HealthCheck::HEALTH_CHECKER_NOT_SET:
      return at + " needs a health checker: httpHealthCheck, tcpHealthCheck or grpcHealthCheck";
  }
  return std::nullopt;
}

// Subset load balancing (reference §1.4 kube subsetSpec, §3.5 consul): the selector key sets,
// or empty when the Upstream has none.
struct subset_plan {
  std::vector<std::vector<std::string>> selectors;
  std::vector<bool> single_host;
  cluster_v3::Cluster::LbSubsetConfig::LbSubsetFallbackPolicy fallback =
      cluster_v3::Cluster::LbSubsetConfig::ANY_ENDPOINT;
  std::map<std::string, std::string> default_subset;
  std::set<std::string> keys;  ///< every key of every selector
};

std::optional<std::string> kube_subsets(const pb::Struct& spec, subset_plan& plan) {
  if (const auto* list = model::struct_list(spec, "selectors")) {
    for (int i = 0; i < list->values_size(); ++i) {
      const auto& v = list->values(i);
      const std::string at = "kube.subsetSpec.selectors[" + std::to_string(i) + "]";
      if (v.kind_case() != pb::Value::kStructValue) {
        return at + " must be {keys: [...]}";
      }
      std::vector<std::string> keys;
      if (const auto* k = model::struct_list(v.struct_value(), "keys")) {
        for (const auto& key : k->values()) {
          if (key.kind_case() != pb::Value::kStringValue || key.string_value().empty()) {
            return at + ".keys must be non-empty strings";
          }
          keys.push_back(key.string_value());
        }
      }
      if (keys.empty()) {
        return at + " needs at least one key";
      }
      plan.keys.insert(keys.begin(), keys.end());
      plan.selectors.push_back(std::move(keys));
      plan.single_host.push_back(
          model::struct_bool(v.struct_value(), "singleHostPerSubset").value_or(false));
    }
  }
  if (const auto* f = model::struct_field(spec, "fallbackPolicy")) {
    // Gloo's enum: ANY_ENDPOINT = 0, NO_FALLBACK = 1, DEFAULT_SUBSET = 2.
    std::string name = f->kind_case() == pb::Value::kStringValue ? f->string_value() : "";
    if (f->kind_case() == pb::Value::kNumberValue) {
      const int n = static_cast<int>(f->number_value());
      name = n == 0 ? "ANY_ENDPOINT" : n == 1 ? "NO_FALLBACK" : n == 2 ? "DEFAULT_SUBSET" : "";
    }
    if (name == "ANY_ENDPOINT") {
      plan.fallback = cluster_v3::Cluster::LbSubsetConfig::ANY_ENDPOINT;
    } else if (name == "NO_FALLBACK") {
      plan.fallback = cluster_v3::Cluster::LbSubsetConfig::NO_FALLBACK;
    } else if (name == "DEFAULT_SUBSET") {
      plan.fallback = cluster_v3::Cluster::LbSubsetConfig::DEFAULT_SUBSET;
    } else {
      return std::string(
          "kube.subsetSpec.fallbackPolicy must be ANY_ENDPOINT, NO_FALLBACK or DEFAULT_SUBSET");
    }
  }
  if (const auto* d = model::struct_struct(spec, "defaultSubset")) {
    const auto* values = model::struct_struct(*d, "values");
    if (values != nullptr) {
      for (const auto& [k, v] : values->fields()) {
        if (v.kind_case() != pb::Value::kStringValue) {
          return "kube.subsetSpec.defaultSubset.values." + k + " must be a string";
        }
        plan.default_subset[k] = v.string_value();
      }
    }
  }
  return std::nullopt;
}

// Gloo's consul subsets (extensions_subsets.go): selectors over the data center keys, the tag
// keys, and both together.
void consul_subsets(const gl::ConsulUpstream& c, subset_plan& plan) {
  std::vector<std::string> dcs, tags;
  for (const auto& dc : c.data_centers()) {
    dcs.push_back("dc_" + dc);
  }
  const auto& tag_list = c.subset_tags().empty() ? c.service_tags() : c.subset_tags();
  for (const auto& t : tag_list) {
    tags.push_back("tag_" + t);
  }
  if (!dcs.empty()) {
    plan.selectors.push_back(dcs);
  }
  if (!tags.empty()) {
    plan.selectors.push_back(tags);
  }
  if (!dcs.empty() && !tags.empty()) {
    auto both = dcs;
    both.insert(both.end(), tags.begin(), tags.end());
    plan.selectors.push_back(std::move(both));
  }
  plan.single_host.assign(plan.selectors.size(), false);
  plan.keys.insert(dcs.begin(), dcs.end());
  plan.keys.insert(tags.begin(), tags.end());
}

void apply_subsets(cluster_v3::Cluster& c, const subset_plan& plan) {
  auto* cfg = c.mutable_lb_subset_config();
  cfg->set_fallback_policy(plan.fallback);
  for (size_t i = 0; i < plan.selectors.size(); ++i) {
    auto* s = cfg->add_subset_selectors();
    for (const auto& k : plan.selectors[i]) {
      s->add_keys(k);
    }
    if (plan.single_host[i]) {
      s->set_single_host_per_subset(true);
    }
  }
  if (!plan.default_subset.empty()) {
    auto& fields = *cfg->mutable_default_subset()->mutable_fields();
    for (const auto& [k, v] : plan.default_subset) {
      fields[k].set_string_value(v);
    }
  }
}

endpoint_v3::LbEndpoint lb_endpoint(const host_entry& h, cluster_flavor flavor,
                                    const subset_plan* subsets) {
  const auto& e = h.endpoint;
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
    return lb;
  }
  auto& filter_metadata = *lb.mutable_metadata()->mutable_filter_metadata();
  if (h.metadata != nullptr) {
    for (const auto& [k, v] : *h.metadata) {
      filter_metadata[k] = v;
    }
  }
  // Endpoint labels drive subset selection (Gloo's getLbMetadata): only for subset clusters,
  // and every selector key is present (empty when the endpoint lacks the label).
  if (subsets != nullptr && !subsets->selectors.empty()) {
    auto& fields = *filter_metadata[lb_metadata_key].mutable_fields();
    for (const auto& [k, v] : e.labels) {
      fields[k].set_string_value(v);
    }
    for (const auto& k : subsets->keys) {
      if (fields.find(k) == fields.end()) {
        fields[k].set_string_value("");
      }
    }
  }
  if (!h.sni.empty()) {
    (*filter_metadata[socket_match_key].mutable_fields())["sni"].set_string_value(h.sni);
  }
  if (filter_metadata.empty()) {
    lb.clear_metadata();
  }
  return lb;
}

}  // namespace

std::optional<model::resource_key> kube_service_of(const gl::Upstream& u,
                                                   const model::resource_key& upstream) {
  if (!u.has_kube()) {
    return std::nullopt;
  }
  const auto& ns = u.kube().service_namespace();
  return model::resource_key{model::resource_kind::service, ns.empty() ? upstream.ns : ns,
                             u.kube().service_name()};
}

namespace {

// Gloo's kubernetes plugin rejects a kube Upstream whose Service does not exist. sluice checks
// only when the world holds Services at all (a Kubernetes source, or a directory with a
// services/ folder): a directory of Upstreams and Endpoints alone has no Services to look in.
std::optional<std::string> missing_service(const gl::Upstream& u,
                                           const model::resource_key& upstream,
                                           const model::world& w) {
  auto service = kube_service_of(u, upstream);
  if (!service || w.of(model::resource_kind::service).empty() || w.find(*service) != nullptr) {
    return std::nullopt;
  }
  return "Upstream " + upstream.ns + "." + upstream.name + " references the service '"
         + service->name + "' which does not exist in namespace '" + service->ns
         + "'; no cluster is built until it exists";
}

// Translates one Upstream for one client flavor, reporting its problems on it.
class upstream_translator {
 public:
  upstream_translator(const model::world& w, cluster_flavor flavor,
                      const envoy_translation_options& options, cluster_piece& out)
      : world_(w), flavor_(flavor), options_(options), out_(out) {}

  void translate(const model::stored_resource& stored,
                 const std::vector<upstream_endpoint>& endpoints);

 private:
  void error(const std::string& message) { model::report_error(out_.report, key_, message); }
  void warning(const std::string& message) { model::report_warning(out_.report, key_, message); }
  std::optional<std::vector<host_entry>> static_hosts(const gl::StaticUpstream& s);
  std::vector<host_entry> proxyless_endpoints(std::vector<host_entry> in);
  bool apply_tls(const gl::Upstream& u, std::vector<host_entry>& hosts, cluster_v3::Cluster& c);

  const model::world& world_;
  cluster_flavor flavor_;
  const envoy_translation_options& options_;
  cluster_piece& out_;
  resource_key key_;
};

std::optional<std::vector<host_entry>> upstream_translator::static_hosts(
    const gl::StaticUpstream& s) {
  std::vector<host_entry> hosts;
  if (s.hosts().empty()) {
    error("invalid static upstream: it needs at least one host");
    return std::nullopt;
  }
  for (int i = 0; i < s.hosts_size(); ++i) {
    const auto& h = s.hosts(i);
    if (h.addr().empty() || h.port() == 0 || h.port() > 65535) {
      error("invalid static upstream: hosts[" + std::to_string(i) +
            "] needs a non-empty addr and a port between 1 and 65535");
      return std::nullopt;
    }
    if (h.has_load_balancing_weight() && h.load_balancing_weight().value() == 0) {
      error("invalid static upstream: hosts[" + std::to_string(i) +
            "].loadBalancingWeight must be at least 1");
      return std::nullopt;
    }
    host_entry e;
    e.endpoint = upstream_endpoint{
        h.addr(), h.port(), h.has_load_balancing_weight() ? h.load_balancing_weight().value() : 0u,
        "", {}};
    if (!h.health_check_config().path().empty() || !h.sni_addr().empty()) {
      e.endpoint.hostname = h.sni_addr().empty() ? h.addr() : h.sni_addr();
    }
    if (!h.metadata().empty()) {
      e.metadata = &h.metadata();
    }
    hosts.push_back(std::move(e));
  }
  return hosts;
}

std::vector<host_entry> upstream_translator::proxyless_endpoints(std::vector<host_entry> in) {
  std::vector<host_entry> out;
  std::set<std::pair<std::string, uint32_t>> seen;
  for (auto& h : in) {
    auto& e = h.endpoint;
    if (!is_ip(e.address)) {
      // Not a status warning: Envoy serves host names fine, and an Upstream Envoy can use must
      // not look degraded because proxyless clients cannot.
      log::xds()->debug("proxyless endpoint skipped upstream={} address={} reason=\"gRPC needs IP "
                        "addresses\"",
                        key_.to_string(), e.address);
      continue;
    }
    // gRPC rejects a ClusterLoadAssignment that lists one address twice.
    if (!seen.emplace(e.address, e.port).second) {
      continue;
    }
    e.weight = 0;
    e.hostname.clear();
    out.push_back(std::move(h));
  }
  return out;
}

bool upstream_translator::apply_tls(const gl::Upstream& u, std::vector<host_entry>& hosts,
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
  tls_v3::UpstreamTlsContext ctx;
  if (u.has_ssl_config()) {
    tls_delivery delivery{options_.secrets, &out_.secrets};
    auto common = common_tls_context(settings_of(u.ssl_config(), key_.ns), world_, delivery);
    if (auto* problem = std::get_if<std::string>(&common)) {
      error("invalid sslConfig: " + *problem + "; no cluster is built until it is fixed");
      return false;
    }
    *ctx.mutable_common_tls_context() = std::get<tls_v3::CommonTlsContext>(std::move(common));
    ctx.set_sni(u.ssl_config().sni());
    ctx.set_allow_renegotiation(u.ssl_config().allow_renegotiation().value());
  }
  const bool auto_sni = u.has_static_() && ctx.sni().empty() &&
                        (!u.static_().has_auto_sni_rewrite() ||
                         u.static_().auto_sni_rewrite().value());
  std::vector<std::string> names;  // distinct per-host SNI names, in host order
  if (auto_sni) {
    for (auto& h : hosts) {
      const auto& name = h.endpoint.hostname.empty() ? h.endpoint.address : h.endpoint.hostname;
      if (is_ip(name)) {
        continue;
      }
      h.sni = name;
      if (std::find(names.begin(), names.end(), name) == names.end()) {
        names.push_back(name);
      }
    }
    if (!names.empty()) {
      ctx.set_sni(names.front());  // one SNI per cluster: the first host name
    }
  }
  auto* ts = c.mutable_transport_socket();
  ts->set_name("envoy.transport_sockets.tls");
  *ts->mutable_typed_config() = pack(ctx);
  if (names.size() > 1) {
    // Hosts with different names each get their own SNI (Gloo's static plugin): endpoints carry
    // the name in envoy.transport_socket_match metadata and pick the matching socket.
    for (const auto& name : names) {
      auto* m = c.add_transport_socket_matches();
      m->set_name(name);
      (*m->mutable_match()->mutable_fields())["sni"].set_string_value(name);
      auto per_host = ctx;
      per_host.set_sni(name);
      m->mutable_transport_socket()->set_name("envoy.transport_sockets.tls");
      *m->mutable_transport_socket()->mutable_typed_config() = pack(per_host);
    }
  } else {
    for (auto& h : hosts) {
      h.sni.clear();  // the cluster default already says it
    }
  }
  return true;
}

void upstream_translator::translate(const model::stored_resource& stored,
                                    const std::vector<upstream_endpoint>& endpoints) {
  key_ = stored.key;
  const auto& u = static_cast<const gl::Upstream&>(*stored.message);
  out_.report.touch(key_);

  cluster_v3::Cluster c;
  const std::string name = cluster_name(key_.name, key_.ns);
  c.set_name(name);
  *c.mutable_connect_timeout() = u.connection_config().has_connect_timeout()
                                     ? u.connection_config().connect_timeout()
                                     : seconds(5);
  if (millis(c.connect_timeout()) <= 0) {
    error("connectionConfig.connectTimeout must be greater than zero");
    return;
  }
  if (u.connection_config().has_per_connection_buffer_limit_bytes()) {
    c.mutable_per_connection_buffer_limit_bytes()->set_value(
        u.connection_config().per_connection_buffer_limit_bytes().value());
  }
  if (u.has_load_balancer_config()) {
    const auto& lb = u.load_balancer_config();
    if (lb.has_healthy_panic_threshold() && (lb.healthy_panic_threshold().value() < 0 ||
                                             lb.healthy_panic_threshold().value() > 100)) {
      error("loadBalancerConfig.healthyPanicThreshold must be between 0 and 100");
      return;
    }
    apply_load_balancer(c, lb);
  }
  if (u.has_circuit_breakers()) {
    apply_circuit_breakers(c, u.circuit_breakers());
  } else if (options_.default_circuit_breakers) {
    apply_circuit_breakers(c, *options_.default_circuit_breakers);  // Settings gloo.circuitBreakers
  }

  std::vector<host_entry> hosts;
  subset_plan subsets;
  switch (u.upstream_type_case()) {
    case gl::Upstream::kStatic: {
      auto h = static_hosts(u.static_());
      if (!h) {
        return;
      }
      hosts = std::move(*h);
      break;
    }
    case gl::Upstream::kKube:
      if (auto missing = missing_service(u, key_, world_)) {
        error(*missing);
        return;
      }
      if (u.kube().has_subset_spec()) {
        if (auto p = kube_subsets(u.kube().subset_spec(), subsets)) {
          error("invalid " + *p);
          return;
        }
      }
      [[fallthrough]];
    case gl::Upstream::kConsul:
      if (u.has_consul()) {
        consul_subsets(u.consul(), subsets);
      }
      for (const auto& e : endpoints) {
        host_entry h;
        h.endpoint = e;
        hosts.push_back(std::move(h));
      }
      break;
    case gl::Upstream::UPSTREAM_TYPE_NOT_SET:
      error("invalid upstream: set one of static, kube or consul (no cluster is built without an "
            "upstream type)");
      return;
    default: {
      const auto* field = gl::Upstream::descriptor()->FindFieldByNumber(u.upstream_type_case());
      warning("upstream type " + (field ? field->json_name() : std::string("?")) +
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
    auto list = proxyless_endpoints(std::move(hosts));
    if (!list.empty()) {
      auto* locality = cla.add_endpoints();
      locality->mutable_locality()->set_region(proxyless_region);
      locality->mutable_load_balancing_weight()->set_value(1);
      for (const auto& e : list) {
        *locality->add_lb_endpoints() = lb_endpoint(e, flavor_, nullptr);
      }
    }
    out_.load_assignment = std::move(cla);
    out_.cluster = std::move(c);
    return;
  }

  for (int i = 0; i < u.health_checks_size(); ++i) {
    if (auto p = health_check(u.health_checks(i), i, *c.add_health_checks())) {
      error("invalid health check: " + *p + "; no cluster is built until it is fixed");
      return;
    }
  }
  if (u.ignore_health_on_host_removal().value()) {
    c.set_ignore_health_on_host_removal(true);
  }
  apply_http_protocol_options(c, u);
  if (u.has_outlier_detection()) {
    apply_outlier_detection(c, u.outlier_detection());
  }
  if (u.connection_config().has_tcp_keepalive()) {
    const auto& k = u.connection_config().tcp_keepalive();
    auto* ka = c.mutable_upstream_connection_options()->mutable_tcp_keepalive();
    if (k.keepalive_probes() > 0) {
      ka->mutable_keepalive_probes()->set_value(k.keepalive_probes());
    }
    if (k.has_keepalive_time()) {
      ka->mutable_keepalive_time()->set_value(static_cast<uint32_t>(k.keepalive_time().seconds()));
    }
    if (k.has_keepalive_interval()) {
      ka->mutable_keepalive_interval()->set_value(
          static_cast<uint32_t>(k.keepalive_interval().seconds()));
    }
  }
  if (u.has_dns_refresh_rate()) {
    if (millis(u.dns_refresh_rate()) < 1) {
      error("dnsRefreshRate must be at least 1ms");
      return;
    }
    *c.mutable_dns_refresh_rate() = u.dns_refresh_rate();
  }
  if (u.has_respect_dns_ttl()) {
    c.set_respect_dns_ttl(u.respect_dns_ttl().value());
  }
  if (!apply_tls(u, hosts, c)) {
    return;
  }
  const subset_plan* subset_ptr = subsets.selectors.empty() ? nullptr : &subsets;
  if (subset_ptr != nullptr) {
    apply_subsets(c, subsets);
  }
  if (u.has_static_()) {
    bool all_ip = true;
    for (const auto& h : hosts) {
      all_ip = all_ip && is_ip(h.endpoint.address);
    }
    c.set_type(all_ip ? cluster_v3::Cluster::STATIC : cluster_v3::Cluster::STRICT_DNS);
    if (!all_ip) {
      c.set_dns_lookup_family(cluster_v3::Cluster::V4_ONLY);
    }
    auto* cla = c.mutable_load_assignment();
    cla->set_cluster_name(name);
    auto* locality = cla->add_endpoints();
    for (const auto& h : hosts) {
      *locality->add_lb_endpoints() = lb_endpoint(h, flavor_, subset_ptr);
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
        *locality->add_lb_endpoints() = lb_endpoint(h, flavor_, subset_ptr);
      }
    }
    out_.load_assignment = std::move(cla);
  }
  out_.cluster = std::move(c);
}

}  // namespace

endpoint_index index_endpoints(const model::world& w) {
  endpoint_index out;
  for (const auto& [nn, stored] : w.of(resource_kind::endpoint)) {
    const auto& e = static_cast<const gl::Endpoint&>(*stored.message);
    upstream_endpoint entry{e.address(), e.port(), 0, e.hostname(), {}, nn};
    for (const auto& [k, v] : e.metadata().labels()) {
      entry.labels[k] = v;
    }
    for (const auto& ref : e.upstreams()) {
      const std::string ns = ref.namespace_().empty() ? stored.key.ns : ref.namespace_();
      out[{ns, ref.name()}].push_back(entry);
    }
  }
  return out;
}

std::optional<model::resource_key> kube_service_upstream_of(const gl::Upstream& u,
                                                            const model::resource_key& upstream) {
  auto service = kube_service_of(u, upstream);
  if (!service) {
    return std::nullopt;
  }
  model::resource_key alias{resource_kind::upstream, service->ns,
                            "kube-svc:" + service->ns + "-" + service->name + "-"
                                + std::to_string(u.kube().service_port())};
  if (alias == upstream) {
    return std::nullopt;
  }
  return alias;
}

std::vector<upstream_endpoint> endpoints_of(const endpoint_index& index,
                                            const model::stored_resource& upstream) {
  static const std::vector<upstream_endpoint> none;
  auto own = index.find({upstream.key.ns, upstream.key.name});
  const auto& named = own == index.end() ? none : own->second;
  auto alias = kube_service_upstream_of(static_cast<const gl::Upstream&>(*upstream.message),
                                        upstream.key);
  auto other = alias ? index.find({alias->ns, alias->name}) : index.end();
  if (other == index.end()) {
    return named;
  }
  // Both lists are in world order (by Endpoint resource); merge them, taking an Endpoint that
  // names both once.
  std::vector<upstream_endpoint> out;
  out.reserve(named.size() + other->second.size());
  auto a = named.begin();
  auto b = other->second.begin();
  while (a != named.end() || b != other->second.end()) {
    if (b == other->second.end() || (a != named.end() && a->source < b->source)) {
      out.push_back(*a++);
    } else if (a == named.end() || b->source < a->source) {
      out.push_back(*b++);
    } else {
      out.push_back(*a++);
      ++b;
    }
  }
  return out;
}

cluster_piece translate_upstream(const model::stored_resource& upstream,
                                 const std::vector<upstream_endpoint>& endpoints,
                                 const model::world& w, cluster_flavor flavor,
                                 const envoy_translation_options& options) {
  cluster_piece out;
  upstream_translator(w, flavor, options, out).translate(upstream, endpoints);
  if (!out.cluster) {
    out.load_assignment.reset();
    out.secrets.clear();
  }
  return out;
}

cluster_translation translate_upstreams(const model::world& w, model::translation_report& report,
                                        cluster_flavor flavor,
                                        const envoy_translation_options& options) {
  cluster_translation out;
  const auto endpoints = index_endpoints(w);
  for (const auto& [nn, stored] : w.of(resource_kind::upstream)) {
    auto piece = translate_upstream(stored, endpoints_of(endpoints, stored), w, flavor, options);
    model::merge_report(report, piece.report);
    if (!piece.cluster) {
      continue;
    }
    if (piece.load_assignment) {
      auto cla_name = piece.load_assignment->cluster_name();
      out.load_assignments[cla_name] = std::move(*piece.load_assignment);
    }
    for (auto& [name, secret] : piece.secrets) {
      out.secrets[name] = std::move(secret);
    }
    out.clusters[piece.cluster->name()] = std::move(*piece.cluster);
  }
  return out;
}

}  // namespace sluice::xds
