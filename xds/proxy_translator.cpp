#include "xds/proxy_translator.hpp"

#include <map>
#include <memory>
#include <set>

#include "envoy/config/listener/v3/listener.pb.h"
#include "envoy/config/route/v3/route.pb.h"
#include "model/gateway_attribution.hpp"
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
namespace route_v3 = envoy::config::route::v3;
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

snapshot_ptr finish(std::shared_ptr<snapshot> snap) {
  seal(*snap);
  log::xds()->debug("snapshot translated key={} watermark={} listeners={} routes={} clusters={} "
                    "endpoints={}",
                    snap->key, snap->watermark, snap->of(listener_type).items.size(),
                    snap->of(route_type).items.size(), snap->of(cluster_type).items.size(),
                    snap->of(endpoint_type).items.size());
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

// The RouteConfiguration of one HTTP listener. Gateway translation already keeps domains unique
// per listener; this re-checks for Proxies built elsewhere, because Envoy would reject the whole
// RouteConfiguration over one duplicate.
route_v3::RouteConfiguration route_configuration(const gl::Listener& l, const std::string& name,
                                                 const route_context& ctx) {
  route_v3::RouteConfiguration rc;
  rc.set_name(name);
  std::map<std::string, std::string> domain_owner;
  std::set<std::string> vhost_names;
  for (const auto& vh : l.http_listener().virtual_hosts()) {
    auto envoy_vh = translate_virtual_host(vh, ctx, !l.ssl_configurations().empty());
    const auto owners = model::sources_of(vh.metadata_static(), resource_kind::virtual_service);
    if (!vhost_names.insert(envoy_vh.name()).second) {
      blame_all(ctx.report, owners,
                "listener " + l.name() + ": virtual host name " + envoy_vh.name() +
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
      blame_all(ctx.report, owners, "listener " + l.name() + ": " + clash, true);
      continue;
    }
    for (const auto& d : envoy_vh.domains()) {
      domain_owner.emplace(d, envoy_vh.name());
    }
    *rc.add_virtual_hosts() = std::move(envoy_vh);
  }
  return rc;
}

}  // namespace

snapshot_ptr translate_proxy(const std::string& role, const gl::Proxy& proxy, const model::world& w,
                             model::translation_report& report,
                             const envoy_translation_options& options) {
  auto snap = std::make_shared<snapshot>();
  snap->key = role;
  snap->watermark = w.watermark();

  const auto clusters = translate_upstreams(w, report, cluster_flavor::envoy);
  const upstream_group_index groups(w, report);
  const route_context ctx{w, clusters, groups, options, header_matcher_style::string_match, report};

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
        // Gloo drops listeners without virtual hosts (nothing to route to).
        if (l.http_listener().virtual_hosts().empty()) {
          continue;
        }
        const auto rc_name = route_config_name(l.name());
        auto rc = route_configuration(l, rc_name, ctx);
        if (rc.virtual_hosts().empty()) {
          continue;
        }
        auto listener = http_listener(l, rc_name, w, report);
        if (listener.filter_chains().empty()) {
          continue;
        }
        put(*snap, listener_type, l.name(), listener);
        put(*snap, route_type, rc_name, rc);
        break;
      }
      case gl::Listener::kTcpListener: {
        auto listener = tcp_listener(l, w, clusters, groups, report);
        if (listener.filter_chains().empty()) {
          continue;
        }
        put(*snap, listener_type, l.name(), listener);
        break;
      }
      default:
        blame_all(report, gateways,
                  "listener " + l.name() + " has a type sluice does not translate yet; not served",
                  false);
        break;
    }
  }
  put_clusters(*snap, clusters);
  return finish(std::move(snap));
}

snapshot_ptr translate_proxyless(const model::world& w, model::translation_report& report,
                                 const envoy_translation_options& options) {
  auto snap = std::make_shared<snapshot>();
  snap->key = std::string(proxyless_key);
  snap->watermark = w.watermark();

  const auto clusters = translate_upstreams(w, report, cluster_flavor::proxyless);
  const upstream_group_index groups(w, report);
  const route_context ctx{w, clusters, groups, options, header_matcher_style::legacy, report};

  std::map<std::string, resource_key> domain_owner;
  for (const auto& [nn, stored] : w.of(resource_kind::virtual_service)) {
    const auto& key = stored.key;
    auto t = model::translate_virtual_service(
        w, key, static_cast<const ::gateway::solo::io::VirtualService&>(*stored.message));
    model::merge_report(report, t.report);
    if (!t.virtual_host) {
      continue;
    }
    std::optional<route_v3::VirtualHost> envoy_vh;
    for (const auto& domain : t.virtual_host->domains()) {
      // A gRPC target is a concrete name; wildcard domains cannot be asked for.
      if (domain.find('*') != std::string::npos) {
        continue;
      }
      if (auto i = domain_owner.find(domain); i != domain_owner.end()) {
        model::report_error(report, key,
                            "domain conflict for proxyless gRPC clients: " + domain +
                                " is already served by virtual service " +
                                model::ref_key(i->second) +
                                "; this virtual service is not served for it");
        continue;
      }
      domain_owner.emplace(domain, key);
      if (!envoy_vh) {
        envoy_vh = translate_virtual_host(*t.virtual_host, ctx, false);
      }
      const auto rc_name = route_config_name(domain);
      route_v3::RouteConfiguration rc;
      rc.set_name(rc_name);
      *rc.add_virtual_hosts() = *envoy_vh;
      put(*snap, listener_type, domain, api_listener(domain, rc_name));
      put(*snap, route_type, rc_name, rc);
    }
  }
  put_clusters(*snap, clusters);
  return finish(std::move(snap));
}

}  // namespace sluice::xds
