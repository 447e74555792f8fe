#include "xds/proxy_translator.hpp"

#include <algorithm>
#include <map>
#include <memory>
#include <set>

#include "envoy/config/listener/v3/listener.pb.h"
#include "envoy/config/route/v3/route.pb.h"
#include "model/gateway_attribution.hpp"
#include "model/gateway_settings.hpp"
#include "model/gateway_virtual_host.hpp"
#include "model/logging.hpp"
#include "solo/gateway.pb.h"
#include "xds/envoy_clusters.hpp"
#include "xds/envoy_common.hpp"
#include "xds/envoy_listeners.hpp"
#include "xds/envoy_routes.hpp"
#include "xds/envoy_tcp.hpp"
#include "xds/snapshot_checker.hpp"

namespace sluice::xds {

namespace {

namespace gl = ::gloo::solo::io;
namespace pb = google::protobuf;
namespace route_v3 = envoy::config::route::v3;
namespace listener_v3 = envoy::config::listener::v3;
using model::resource_key;
using model::resource_kind;

template <class Message>
void put(snapshot& snap, std::string_view type, const std::string& name, const Message& m) {
  snap.types[std::string(type)].items[name] = make_resource(name, type, m);
}

void put_clusters(snapshot& snap, const cluster_translation& clusters) {
  for (const auto& [name, c] : clusters.clusters) {
    put(snap, cluster_type, name, c);
  }
  for (const auto& [name, cla] : clusters.load_assignments) {
    put(snap, endpoint_type, name, cla);
  }
}

void put_secrets(snapshot& snap, const secret_map& secrets) {
  for (const auto& [name, s] : secrets) {
    put(snap, secret_type, name, s);
  }
}

snapshot_ptr finish(std::shared_ptr<snapshot> snap) {
  seal(*snap);
  log::xds()->debug("snapshot translated key={} watermark={} listeners={} routes={} clusters={} "
                    "endpoints={} secrets={}",
                    snap->key, snap->watermark, snap->of(listener_type).items.size(),
                    snap->of(route_type).items.size(), snap->of(cluster_type).items.size(),
                    snap->of(endpoint_type).items.size(), snap->of(secret_type).items.size());
  // The translators promise a consistent snapshot; a problem here is a sluice bug, not a user's.
  for (const auto& p : check_snapshot(*snap)) {
    log::xds()->error("inconsistent snapshot key={} problem=\"{}\"", snap->key, p);
  }
  return snap;
}

void blame_all(model::translation_report& report, const std::vector<resource_key>& keys,
               const std::string& message, bool error) {
  for (const auto& k : keys) {
    if (error) {
      model::report_error(report, k, message);
    } else {
      model::report_warning(report, k, message);
    }
  }
}

struct route_configuration_result {
  route_v3::RouteConfiguration config;
  http_filter_use filters;
};

// The RouteConfiguration of one HTTP listener (or matched HTTP listener). Rejected virtual hosts
// are left out: their VirtualService is served whole or not at all. Gateway translation already
// keeps domains unique per listener; this re-checks for Proxies built elsewhere, because Envoy
// would reject the whole RouteConfiguration over one duplicate.
route_configuration_result route_configuration(
    const pb::RepeatedPtrField<gl::VirtualHost>& virtual_hosts, const std::string& where,
    const std::string& name, bool require_tls, const route_context& ctx) {
  route_configuration_result out;
  auto& rc = out.config;
  rc.set_name(name);
  std::map<std::string, std::string> domain_owner;
  std::set<std::string> vhost_names;
  std::vector<bool> sets_ext_authz;
  for (const auto& vh : virtual_hosts) {
    auto r = translate_virtual_host(vh, ctx, require_tls);
    model::merge_report(ctx.report, r.report);
    if (r.rejected) {
      continue;
    }
    auto& envoy_vh = r.virtual_host;
    const auto owners = model::sources_of(vh.metadata_static(), resource_kind::virtual_service);
    if (!vhost_names.insert(envoy_vh.name()).second) {
      blame_all(ctx.report, owners,
                where + ": virtual host name " + envoy_vh.name() +
                    " is used twice; the later one is not served",
                true);
      continue;
    }
    std::string clash;
    for (const auto& d : envoy_vh.domains()) {
      if (auto i = domain_owner.find(d); i != domain_owner.end()) {
        clash = "domain " + d + " is already served by virtual host " + i->second;
        break;
      }
    }
    if (!clash.empty()) {
      blame_all(ctx.report, owners, where + ": " + clash + "; this one is not served", true);
      continue;
    }
    for (const auto& d : envoy_vh.domains()) {
      domain_owner.emplace(d, envoy_vh.name());
    }
    out.filters.merge(r.filters);
    sets_ext_authz.push_back(r.sets_ext_authz);
    *rc.add_virtual_hosts() = std::move(envoy_vh);
  }
  if (out.filters.ext_authz) {
    for (int i = 0; i < rc.virtual_hosts_size(); ++i) {
      if (!sets_ext_authz[static_cast<size_t>(i)]) {
        disable_ext_authz(*rc.mutable_virtual_hosts(i));
      }
    }
  }
  return out;
}

// A source CIDR of a hybrid matcher ({addressPrefix, prefixLen}); gateway translation checked it.
void add_source_ranges(const pb::Struct& matcher, listener_v3::FilterChainMatch& match) {
  const auto* list = model::struct_list(matcher, "sourcePrefixRanges");
  if (list == nullptr) {
    return;
  }
  for (const auto& v : list->values()) {
    if (v.kind_case() != pb::Value::kStructValue) {
      continue;
    }
    auto* r = match.add_source_prefix_ranges();
    r->set_address_prefix(model::struct_string(v.struct_value(), "addressPrefix").value_or(""));
    if (auto len = model::struct_number(v.struct_value(), "prefixLen")) {
      r->mutable_prefix_len()->set_value(static_cast<uint32_t>(*len));
    }
  }
}

// Gloo's HybridListener (carried as JSON in the Proxy): one or more filter chains per matched
// listener, each HTTP one with its own RouteConfiguration "<listener>-routes-<matcher hash>".
void hybrid_listener(const gl::Listener& l, snapshot& snap, const route_context& rctx,
                     const listener_context& lctx) {
  const auto gateways = model::sources_of(l.metadata_static(), resource_kind::gateway);
  const std::string ns = gateways.empty() ? std::string() : gateways.front().ns;
  auto blame = [&](const std::string& message, bool error) {
    blame_all(lctx.report, gateways, message, error);
  };
  auto out = listener_base(l);
  std::set<std::string> claimed;  // filter chain matches already used
  bool inspect_tls = false;
  std::vector<std::pair<std::string, route_v3::RouteConfiguration>> configs;

  const auto* list = model::struct_list(l.hybrid_listener(), "matchedListeners");
  if (list == nullptr) {
    blame("listener " + l.name() + ": hybridListener has no matchedListeners; not served", true);
    return;
  }
  auto add_chain = [&](listener_v3::FilterChain chain, const std::string& where) {
    const auto key = model::canonical_bytes(chain.filter_chain_match());
    if (!claimed.insert(key).second) {
      blame(where + ": its filter chain match is already used by an earlier matched listener; "
                    "not served",
            true);
      return;
    }
    inspect_tls = inspect_tls || chain.has_transport_socket() ||
                  !chain.filter_chain_match().server_names().empty();
    *out.add_filter_chains() = std::move(chain);
  };
  for (int i = 0; i < list->values_size(); ++i) {
    const std::string where =
        "listener " + l.name() + " matchedListeners[" + std::to_string(i) + "]";
    const auto& v = list->values(i);
    if (v.kind_case() != pb::Value::kStructValue) {
      blame(where + " is not an object; not served", true);
      continue;
    }
    const auto& entry = v.struct_value();
    pb::Struct matcher;
    if (const auto* m = model::struct_struct(entry, "matcher")) {
      matcher = *m;
    }
    std::optional<gl::SslConfig> ssl;
    if (const auto* s = model::struct_list(entry, "sslConfigurations");
        s != nullptr && !s->values().empty()) {
      gl::SslConfig c;
      if (s->values(0).kind_case() != pb::Value::kStructValue ||
          model::struct_to_message(s->values(0).struct_value(), c)) {
        blame(where + ": sslConfigurations[0] is not an sslConfig; not served", true);
        continue;
      }
      ssl = std::move(c);
    }
    listener_v3::FilterChainMatch match;
    add_source_ranges(matcher, match);
    if (const auto* http_struct = model::struct_struct(entry, "httpListener")) {
      gl::HttpListener http;
      if (auto p = model::struct_to_message(*http_struct, http)) {
        blame(where + ": httpListener: " + *p + "; not served", true);
        continue;
      }
      if (http.virtual_hosts().empty()) {
        continue;
      }
      const auto rc_name = route_config_name(l.name()) + "-" +
                           std::to_string(model::content_hash(model::canonical_bytes(matcher)));
      auto rc = route_configuration(http.virtual_hosts(), where, rc_name, ssl.has_value(), rctx);
      if (rc.config.virtual_hosts().empty()) {
        continue;
      }
      listener_v3::FilterChain chain;
      if (match.ByteSizeLong() > 0) {
        *chain.mutable_filter_chain_match() = match;
      }
      if (ssl) {
        for (const auto& n : ssl->sni_domains()) {
          chain.mutable_filter_chain_match()->add_server_names(n);
        }
        auto ts = downstream_transport_socket(*ssl, ns, lctx);
        if (auto* problem = std::get_if<std::string>(&ts)) {
          blame(where + ": " + *problem + "; not served", true);
          continue;
        }
        *chain.mutable_transport_socket() =
            std::get<envoy::config::core::v3::TransportSocket>(std::move(ts));
      }
      listener_v3::Filter f;
      f.set_name("envoy.filters.network.http_connection_manager");
      *f.mutable_typed_config() = pack(
          http_connection_manager(rc_name, http.stat_prefix(), rc.filters, lctx.options));
      *chain.add_filters() = std::move(f);
      const size_t before = static_cast<size_t>(out.filter_chains_size());
      add_chain(std::move(chain), where);
      if (static_cast<size_t>(out.filter_chains_size()) > before) {
        configs.emplace_back(rc_name, std::move(rc.config));
      }
    } else if (const auto* tcp_struct = model::struct_struct(entry, "tcpListener")) {
      gl::TcpListener tcp;
      if (auto p = model::struct_to_message(*tcp_struct, tcp)) {
        blame(where + ": tcpListener: " + *p + "; not served", true);
        continue;
      }
      auto built = tcp_chains(tcp, where, gateways, ns, rctx.clusters, rctx.groups, lctx);
      for (auto& chain : built.chains) {
        add_source_ranges(matcher, *chain.mutable_filter_chain_match());
        if (chain.filter_chain_match().ByteSizeLong() == 0) {
          chain.clear_filter_chain_match();
        }
        add_chain(std::move(chain), where);
      }
      inspect_tls = inspect_tls || built.inspect_tls;
    } else {
      blame(where + " has neither httpListener nor tcpListener; not served", true);
    }
  }
  if (out.filter_chains().empty()) {
    return;
  }
  if (inspect_tls) {
    add_tls_inspector(out);
  }
  put(snap, listener_type, l.name(), out);
  for (const auto& [name, rc] : configs) {
    put(snap, route_type, name, rc);
  }
}

bool arrived_before(const model::stored_resource* a, const model::stored_resource* b) {
  if (a->seq != b->seq) {
    return a->seq < b->seq;
  }
  return a->key < b->key;
}

}  // namespace

envoy_translation_options effective_envoy_options(const model::world& w,
                                                  const envoy_translation_options& options) {
  envoy_translation_options out = options;
  if (!options.apply_settings) {
    return out;
  }
  auto s = model::read_settings(w, options.settings_namespace, options.settings_name);
  if (!s) {
    return out;
  }
  if (s->replace_invalid_routes) {
    out.replace_invalid_routes = true;
    out.invalid_route_status =
        s->invalid_route_response_code != 0 ? s->invalid_route_response_code : 404;
    out.invalid_route_body = s->invalid_route_response_body.empty()
                                 ? std::string(model::gloo_invalid_route_body)
                                 : s->invalid_route_response_body;
  }
  out.serve_empty_http_listeners = s->translate_empty_gateways;
  if (s->regex_max_program_size) {
    out.regex_max_program_size = *s->regex_max_program_size;
  }
  if (s->circuit_breakers) {
    out.default_circuit_breakers = s->circuit_breakers;
  }
  if (s->ext_auth_server) {
    out.ext_auth_server = s->ext_auth_server;
    if (s->ext_auth_request_timeout) {
      out.ext_auth_timeout_ms = static_cast<uint32_t>(millis(*s->ext_auth_request_timeout));
    }
    out.ext_auth_failure_mode_allow = s->ext_auth_failure_mode_allow;
    out.ext_auth_clear_route_cache = s->ext_auth_clear_route_cache;
    out.ext_auth_status_on_error = s->ext_auth_status_on_error;
  }
  return out;
}

snapshot_ptr translate_proxy(const std::string& role, const gl::Proxy& proxy, const model::world& w,
                             model::translation_report& report,
                             const envoy_translation_options& requested) {
  const auto options = effective_envoy_options(w, requested);
  if (requested.apply_settings) {
    if (auto s = model::read_settings(w, requested.settings_namespace, requested.settings_name)) {
      model::report_settings(*s, report);
    }
  }
  auto snap = std::make_shared<snapshot>();
  snap->key = role;
  snap->watermark = w.watermark();

  const auto clusters = translate_upstreams(w, report, cluster_flavor::envoy, options);
  const upstream_group_index groups(w, report);
  const route_context ctx{w, clusters, groups, options, header_matcher_style::string_match, report,
                          true};
  secret_map listener_secrets;
  const listener_context lctx{w, report, options, listener_secrets};

  std::set<std::string> listener_names;
  for (const auto& l : proxy.listeners()) {
    const auto gateways = model::sources_of(l.metadata_static(), resource_kind::gateway);
    if (!listener_names.insert(l.name()).second) {
      blame_all(report, gateways,
                "listener name " + l.name() + " is used twice in proxy " + role +
                    "; the later one is not served",
                true);
      continue;
    }
    switch (l.ListenerType_case()) {
      case gl::Listener::kHttpListener: {
        // Listeners without virtual hosts are dropped (nothing to route to), unless Settings
        // ask for empty gateways to be served: then the port answers 404.
        const bool keep_empty =
            options.serve_empty_http_listeners && l.http_listener().virtual_hosts().empty();
        if (l.http_listener().virtual_hosts().empty() && !keep_empty) {
          continue;
        }
        const auto rc_name = route_config_name(l.name());
        auto rc = route_configuration(l.http_listener().virtual_hosts(), "listener " + l.name(),
                                      rc_name, !l.ssl_configurations().empty(), ctx);
        if (rc.config.virtual_hosts().empty() && !keep_empty) {
          continue;
        }
        auto listener = http_listener(l, rc_name, rc.filters, lctx);
        if (listener.filter_chains().empty()) {
          continue;
        }
        put(*snap, listener_type, l.name(), listener);
        put(*snap, route_type, rc_name, rc.config);
        break;
      }
      case gl::Listener::kTcpListener: {
        auto listener = tcp_listener(l, clusters, groups, lctx);
        if (listener.filter_chains().empty()) {
          continue;
        }
        put(*snap, listener_type, l.name(), listener);
        break;
      }
      case gl::Listener::kHybridListener:
        hybrid_listener(l, *snap, ctx, lctx);
        break;
      default:
        blame_all(report, gateways,
                  "listener " + l.name() + " has a type sluice does not translate yet; not served",
                  false);
        break;
    }
  }
  put_clusters(*snap, clusters);
  put_secrets(*snap, clusters.secrets);
  put_secrets(*snap, listener_secrets);
  return finish(std::move(snap));
}

snapshot_ptr translate_proxyless(const model::world& w, model::translation_report& report,
                                 const envoy_translation_options& requested) {
  const auto options = effective_envoy_options(w, requested);
  auto snap = std::make_shared<snapshot>();
  snap->key = std::string(proxyless_key);
  snap->watermark = w.watermark();

  const auto clusters = translate_upstreams(w, report, cluster_flavor::proxyless, options);
  const upstream_group_index groups(w, report);
  const route_context ctx{w, clusters, groups, options, header_matcher_style::legacy, report,
                          false};

  // Domain ownership is decided in arrival order (the newcomer loses, as on gateways).
  std::vector<const model::stored_resource*> by_arrival;
  for (const auto& [nn, stored] : w.of(resource_kind::virtual_service)) {
    by_arrival.push_back(&stored);
  }
  std::stable_sort(by_arrival.begin(), by_arrival.end(), arrived_before);

  std::map<std::string, resource_key> domain_owner;
  for (const auto* stored : by_arrival) {
    const auto& key = stored->key;
    auto t = model::translate_virtual_service(
        w, key, static_cast<const ::gateway::solo::io::VirtualService&>(*stored->message));
    model::merge_report(report, t.report);
    if (!t.virtual_host) {
      continue;
    }
    std::optional<virtual_host_result> envoy_vh;
    for (const auto& domain : t.virtual_host->domains()) {
      // A gRPC target is a concrete name; wildcard domains cannot be asked for.
      if (domain.find('*') != std::string::npos) {
        continue;
      }
      if (auto i = domain_owner.find(domain); i != domain_owner.end()) {
        // A warning: on gateways the two may be fine (different listeners); only proxyless
        // clients, which see every VirtualService, have to pick one.
        model::report_warning(report, key,
                              "proxyless gRPC clients asking for " + domain +
                                  " get virtual service " + model::ref_key(i->second) +
                                  ", which had the domain first; this virtual service is not "
                                  "served to them for it");
        continue;
      }
      if (!envoy_vh) {
        envoy_vh = translate_virtual_host(*t.virtual_host, ctx, false);
        model::merge_report(report, envoy_vh->report);
      }
      if (envoy_vh->rejected) {
        break;
      }
      domain_owner.emplace(domain, key);
      const auto rc_name = route_config_name(domain);
      route_v3::RouteConfiguration rc;
      rc.set_name(rc_name);
      *rc.add_virtual_hosts() = envoy_vh->virtual_host;
      put(*snap, listener_type, domain, api_listener(domain, rc_name));
      put(*snap, route_type, rc_name, rc);
    }
  }
  put_clusters(*snap, clusters);
  return finish(std::move(snap));
}

snapshot_ptr misconfigured_node_snapshot(bool ipv4_only) {
  constexpr const char* route_config_name = "routes-for-invalid-envoy";
  auto snap = std::make_shared<snapshot>();
  snap->key = std::string(misconfigured_node_snapshot_key);

  gl::Listener l;
  l.set_name("listener-for-invalid-envoy");
  l.set_bind_address(ipv4_only ? "0.0.0.0" : "::");
  l.set_bind_port(8080);
  auto listener = listener_base(l);
  auto* hcm = listener.add_filter_chains()->add_filters();
  hcm->set_name("envoy.filters.network.http_connection_manager");
  *hcm->mutable_typed_config() = pack(http_connection_manager(route_config_name, "http"));
  put(*snap, listener_type, listener.name(), listener);

  route_v3::RouteConfiguration rc;
  rc.set_name(route_config_name);
  auto* vh = rc.add_virtual_hosts();
  vh->set_name("invalid-envoy-config-vhost");
  vh->add_domains("*");
  auto* route = vh->add_routes();
  route->mutable_match()->set_prefix("/");
  route->mutable_direct_response()->set_status(500);
  route->mutable_direct_response()->mutable_body()->set_inline_string(
      "Invalid Envoy Bootstrap Configuration. Please refer to Gloo documentation "
      "https://gloo.solo.io/");
  put(*snap, route_type, rc.name(), rc);
  return finish(std::move(snap));
}

}  // namespace sluice::xds
