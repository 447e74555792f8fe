#include "xds/client_holdings.hpp"

#include <algorithm>
#include <utility>

#include "envoy/config/cluster/v3/cluster.pb.h"
#include "envoy/config/listener/v3/listener.pb.h"
#include "envoy/config/route/v3/route.pb.h"
#include "envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.pb.h"
#include "envoy/extensions/filters/network/tcp_proxy/v3/tcp_proxy.pb.h"

namespace sluice::xds {

namespace {

using envoy::config::cluster::v3::Cluster;
using envoy::config::listener::v3::Listener;
using envoy::config::route::v3::RouteConfiguration;
using envoy::extensions::filters::network::http_connection_manager::v3::HttpConnectionManager;
using envoy::extensions::filters::network::tcp_proxy::v3::TcpProxy;

constexpr std::string_view hcm_type
    = "type.googleapis.com/"
      "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager";
constexpr std::string_view tcp_proxy_type
    = "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy";

void add_route_clusters(const RouteConfiguration& rc, std::vector<std::string>& out) {
  for (const auto& vh : rc.virtual_hosts()) {
    for (const auto& mirror : vh.request_mirror_policies()) {
      out.push_back(mirror.cluster());
    }
    for (const auto& route : vh.routes()) {
      if (!route.has_route()) {
        continue;
      }
      const auto& action = route.route();
      if (!action.cluster().empty()) {
        out.push_back(action.cluster());
      }
      for (const auto& wc : action.weighted_clusters().clusters()) {
        out.push_back(wc.name());
      }
      for (const auto& mirror : action.request_mirror_policies()) {
        out.push_back(mirror.cluster());
      }
    }
  }
}

void add_filter(const google::protobuf::Any& any, resource_refs& out) {
  if (any.type_url() == hcm_type) {
    HttpConnectionManager hcm;
    if (!hcm.ParseFromString(any.value())) {
      return;
    }
    if (hcm.has_rds()) {
      out.route_configs.push_back(hcm.rds().route_config_name());
    }
    if (hcm.has_route_config()) {
      add_route_clusters(hcm.route_config(), out.clusters);
    }
  } else if (any.type_url() == tcp_proxy_type) {
    TcpProxy tcp;
    if (!tcp.ParseFromString(any.value())) {
      return;
    }
    if (!tcp.cluster().empty()) {
      out.clusters.push_back(tcp.cluster());
    }
    for (const auto& wc : tcp.weighted_clusters().clusters()) {
      out.clusters.push_back(wc.name());
    }
  }
}

void normalize(std::vector<std::string>& names) {
  std::erase_if(names, [](const std::string& n) { return n.empty(); });
  std::sort(names.begin(), names.end());
  names.erase(std::unique(names.begin(), names.end()), names.end());
}

}  // namespace

resource_refs parse_refs(const xds_resource& r) {
  resource_refs out;
  if (r.type_url == cluster_type) {
    Cluster c;
    if (c.ParseFromString(r.bytes) && !c.has_cluster_type() && c.type() == Cluster::EDS) {
      const auto& service = c.eds_cluster_config().service_name();
      out.eds_name = service.empty() ? c.name() : service;
    }
  } else if (r.type_url == listener_type) {
    Listener l;
    if (l.ParseFromString(r.bytes)) {
      auto scan = [&](const envoy::config::listener::v3::FilterChain& chain) {
        for (const auto& filter : chain.filters()) {
          if (filter.has_typed_config()) {
            add_filter(filter.typed_config(), out);
          }
        }
      };
      for (const auto& chain : l.filter_chains()) {
        scan(chain);
      }
      if (l.has_default_filter_chain()) {
        scan(l.default_filter_chain());
      }
      if (l.has_api_listener()) {
        add_filter(l.api_listener().api_listener(), out);
      }
    }
  } else if (r.type_url == route_type) {
    RouteConfiguration rc;
    if (rc.ParseFromString(r.bytes)) {
      add_route_clusters(rc, out.clusters);
    }
  }
  normalize(out.clusters);
  normalize(out.route_configs);
  return out;
}

// ---- reference_index ------------------------------------------------------------------------

resource_refs_ptr reference_index::of(const xds_resource& r) {
  // Only these types point at anything; skip the lock and the parse for the others.
  if (r.type_url != cluster_type && r.type_url != listener_type && r.type_url != route_type) {
    static const auto none = std::make_shared<const resource_refs>();
    return none;
  }
  std::string key = r.type_url;
  key += '\0';
  key += r.version;
  {
    std::lock_guard lock(mu_);
    if (auto i = by_content_.find(key); i != by_content_.end()) {
      return i->second;
    }
  }
  // Parse outside the lock: a large route configuration must not stall other streams.
  auto parsed = std::make_shared<const resource_refs>(parse_refs(r));
  std::lock_guard lock(mu_);
  if (by_content_.size() >= max_entries_) {
    by_content_.clear();
  }
  return by_content_.emplace(std::move(key), std::move(parsed)).first->second;
}

reference_index& reference_index::shared() {
  static reference_index index;
  return index;
}

// ---- client_holdings ------------------------------------------------------------------------

client_holdings::client_holdings(bool envoy, reference_index& index)
    : envoy_(envoy), index_(index) {}

client_holdings::type_state& client_holdings::state(std::string_view type) {
  auto i = types_.find(type);
  if (i == types_.end()) {
    i = types_.emplace(std::string(type), type_state{}).first;
  }
  return i->second;
}

const held_map& client_holdings::sent(std::string_view type) const {
  static const held_map empty;
  auto i = types_.find(type);
  return i == types_.end() ? empty : i->second.sent;
}

resource_refs_ptr client_holdings::refs(const held_resource& h) {
  if (!h.resource) {
    static const auto none = std::make_shared<const resource_refs>();
    return none;
  }
  return index_.of(*h.resource);
}

void client_holdings::record_sent(std::string_view type, const std::vector<xds_resource_ptr>& sent,
                                  const std::vector<std::string>& removed, bool replace) {
  auto& st = state(type);
  const bool clusters = type == cluster_type;
  auto drop_cluster = [&](const std::string& name) {
    active_.erase(name);
    warming_.erase(name);
  };
  if (replace) {
    std::set<std::string_view> keep;
    for (const auto& r : sent) {
      keep.insert(r->name);
    }
    for (auto i = st.sent.begin(); i != st.sent.end();) {
      if (keep.contains(i->first)) {
        ++i;
        continue;
      }
      if (clusters) {
        drop_cluster(i->first);
      }
      i = st.sent.erase(i);
    }
  }
  for (const auto& name : removed) {
    st.sent.erase(name);
    if (clusters) {
      drop_cluster(name);
    }
  }
  for (const auto& r : sent) {
    auto prior = st.sent.find(r->name);
    // SotW resends unchanged clusters in every CDS response; Envoy ignores those.
    const bool unchanged = prior != st.sent.end() && prior->second.version == r->version;
    st.sent.insert_or_assign(r->name, held_resource{r->version, r});
    if (clusters && !unchanged) {
      const auto& eds = index_.of(*r)->eds_name;
      if (eds.empty()) {
        active_.insert(r->name);
        warming_.erase(r->name);
        continue;
      }
      // A changed cluster keeps serving at its old version while the new one warms, so only a
      // cluster the client did not have starts out warming.
      if (!active_.contains(r->name)) {
        warming_.insert_or_assign(r->name, eds);
      }
      if (envoy_) {
        owed_endpoints_.insert(eds);
      }
    }
  }
  if (type == endpoint_type && !sent.empty()) {
    std::set<std::string_view> delivered;
    for (const auto& r : sent) {
      delivered.insert(r->name);
      owed_endpoints_.erase(r->name);
    }
    for (auto i = warming_.begin(); i != warming_.end();) {
      if (delivered.contains(i->second)) {
        active_.insert(i->first);
        i = warming_.erase(i);
      } else {
        ++i;
      }
    }
  }
  if (type == listener_type || type == route_type) {
    references_stale_ = true;
  }
}

void client_holdings::record_ack(std::string_view type,
                                 const std::function<bool(std::string_view)>& eds_wanted) {
  if (type == listener_type || type == route_type) {
    auto& st = state(type);
    st.acked = st.sent;
    references_stale_ = true;
  } else if (type == cluster_type) {
    for (auto i = warming_.begin(); i != warming_.end();) {
      if (!eds_wanted(i->second)) {
        active_.insert(i->first);
        i = warming_.erase(i);
      } else {
        ++i;
      }
    }
  }
}

void client_holdings::seed(std::string_view type,
                           const std::map<std::string, std::string>& versions,
                           const snapshot* snap) {
  auto& st = state(type);
  const typed_resources* available = snap ? &snap->of(type) : nullptr;
  for (const auto& [name, version] : versions) {
    held_resource h{version, nullptr};
    if (available) {
      if (auto i = available->items.find(name);
          i != available->items.end() && i->second->version == version) {
        h.resource = i->second;
      }
    }
    if (!h.resource) {
      ++unknown_content_;
    }
    if (type == listener_type || type == route_type) {
      st.acked.insert_or_assign(name, h);
    }
    st.sent.insert_or_assign(name, std::move(h));
    if (type == cluster_type) {
      active_.insert(name);
      warming_.erase(name);
    }
  }
  references_stale_ = true;
}

void client_holdings::adopt(std::string_view type, const typed_resources& available) {
  if (unknown_content_ == 0) {
    return;
  }
  if (auto i = types_.find(type); i != types_.end()) {
    for (auto* m : {&i->second.sent, &i->second.acked}) {
      for (auto& [name, h] : *m) {
        if (h.resource) {
          continue;
        }
        if (auto a = available.items.find(name);
            a != available.items.end() && a->second->version == h.version) {
          h.resource = a->second;
          references_stale_ = true;
        }
      }
    }
  }
  // Recount, so the common case (nothing unknown) costs nothing.
  size_t unknown = 0;
  for (const auto& [t, st] : types_) {
    for (const auto& [name, h] : st.sent) {
      unknown += h.resource ? 0 : 1;
    }
  }
  unknown_content_ = unknown;
}

void client_holdings::forget(std::string_view type, const std::vector<std::string>& names) {
  auto& st = state(type);
  for (const auto& name : names) {
    st.sent.erase(name);
    st.acked.erase(name);
    if (type == cluster_type) {
      active_.erase(name);
      warming_.erase(name);
    } else if (type == endpoint_type) {
      owed_endpoints_.erase(name);
    }
  }
  references_stale_ = true;
}

void client_holdings::forget_all(std::string_view type) {
  std::vector<std::string> names;
  for (const auto& [name, h] : sent(type)) {
    names.push_back(name);
  }
  forget(type, names);
  if (type == endpoint_type) {
    owed_endpoints_.clear();
  }
}

void client_holdings::refresh_references() {
  if (!references_stale_) {
    return;
  }
  references_stale_ = false;
  referenced_clusters_.clear();
  referenced_routes_.clear();
  routes_unknown_ = assume_unknown_;
  listeners_unknown_ = assume_unknown_;
  for (std::string_view type : {listener_type, route_type}) {
    auto i = types_.find(type);
    if (i == types_.end()) {
      continue;
    }
    for (const held_map* m : {&i->second.sent, &i->second.acked}) {
      for (const auto& [name, h] : *m) {
        if (!h.resource) {
          routes_unknown_ = true;
          listeners_unknown_ |= type == listener_type;
        }
        auto r = refs(h);
        referenced_clusters_.insert(r->clusters.begin(), r->clusters.end());
        referenced_routes_.insert(r->route_configs.begin(), r->route_configs.end());
      }
    }
  }
}

bool client_holdings::shape(std::string_view type,
                            std::map<std::string, xds_resource_ptr, std::less<>>& target,
                            const std::set<std::string, std::less<>>& cluster_target,
                            const snapshot& snap, std::set<std::string, std::less<>>* keep) {
  bool pending = false;
  const auto& held = sent(type);

  // Retain: what the client holds and something it holds still uses.
  if (type == cluster_type || type == endpoint_type || type == route_type) {
    refresh_references();
    std::set<std::string, std::less<>> held_eds;  // load assignments of held clusters
    bool held_eds_known = false;
    bool clusters_unknown = false;
    for (const auto& [name, h] : held) {
      if (target.contains(name)) {
        continue;
      }
      bool retain = false;
      if (type == cluster_type) {
        retain = routes_unknown_ || referenced_clusters_.contains(name);
      } else if (type == route_type) {
        retain = listeners_unknown_ || referenced_routes_.contains(name);
      } else {
        if (!held_eds_known) {
          held_eds_known = true;
          for (const auto& [cluster, ch] : sent(cluster_type)) {
            clusters_unknown |= !ch.resource;
            if (auto r = refs(ch); !r->eds_name.empty()) {
              held_eds.insert(r->eds_name);
            }
          }
        }
        retain = clusters_unknown || held_eds.contains(name);
      }
      if (!retain) {
        continue;
      }
      pending = true;
      if (h.resource) {
        target.emplace(name, h.resource);
      } else if (keep) {
        keep->insert(name);
      }
    }
  }

  // Hold: a new listener or route version must not route to a cluster still on its way.
  if (type == listener_type || type == route_type) {
    const auto& endpoints = snap.of(endpoint_type).items;
    auto ready = [&](const std::string& cluster) {
      if (active_.contains(cluster)) {
        return true;
      }
      // A warming cluster whose load assignment does not exist cannot be warmed by us.
      auto w = warming_.find(cluster);
      return w != warming_.end() && !endpoints.contains(w->second);
    };
    for (auto i = target.begin(); i != target.end();) {
      auto h = held.find(i->first);
      if (h != held.end() && (h->second.version == i->second->version || !h->second.resource)) {
        ++i;  // unchanged, or the client's version is unknown to us and cannot be kept
        continue;
      }
      auto r = index_.of(*i->second);
      const bool cold = std::any_of(r->clusters.begin(), r->clusters.end(), [&](const auto& c) {
        return cluster_target.contains(c) && !ready(c);
      });
      if (!cold) {
        ++i;
        continue;
      }
      pending = true;
      if (h != held.end()) {
        i->second = h->second.resource;
        ++i;
      } else {
        i = target.erase(i);
      }
    }
  }
  return pending;
}

}  // namespace sluice::xds
