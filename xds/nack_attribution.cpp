#include "xds/nack_attribution.hpp"

#include <algorithm>
#include <cctype>
#include <set>
#include <string_view>
#include <utility>

#include "envoy/config/cluster/v3/cluster.pb.h"
#include "model/gateway_attribution.hpp"
#include "solo/gateway.pb.h"
#include "solo/gloo.pb.h"
#include "xds/ads_server.hpp"
#include "xds/envoy_common.hpp"

namespace sluice::xds {

namespace {

namespace gw = ::gateway::solo::io;
namespace gl = ::gloo::solo::io;
using model::resource_key;
using model::resource_kind;

bool name_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
}

// True when `name` appears in `text` as a whole name, so "a_gloo-system" is not found inside
// "aa_gloo-system" and a listener is not found inside its "<listener>-routes".
bool mentions(std::string_view text, std::string_view name) {
  if (name.empty()) {
    return false;
  }
  for (size_t at = text.find(name); at != std::string_view::npos; at = text.find(name, at + 1)) {
    const size_t end = at + name.size();
    const bool starts = at == 0 || !name_char(text[at - 1]);
    // A sentence may end right after a name: "... cluster a_gloo-system."
    const bool ends
        = end == text.size() || !name_char(text[end])
          || (text[end] == '.' && (end + 1 == text.size() || !name_char(text[end + 1])));
    if (starts && ends) {
      return true;
    }
  }
  return false;
}

// Who produced each Envoy resource of one snapshot, by type and name, from the Proxy's
// metadataStatic sources and Gloo's names.
class producers {
 public:
  producers(const model::world& w, const snapshot& snap, const gl::Proxy* proxy) {
    std::map<std::string, resource_key> upstream_by_cluster;
    for (const auto& [nn, stored] : w.of(resource_kind::upstream)) {
      upstream_by_cluster.emplace(cluster_name(stored.key.name, stored.key.ns), stored.key);
    }
    for (const auto& [name, res] : snap.of(cluster_type).items) {
      auto u = upstream_by_cluster.find(name);
      if (u == upstream_by_cluster.end()) {
        continue;
      }
      add(cluster_type, name, {u->second});
      envoy::config::cluster::v3::Cluster c;
      if (c.ParseFromString(res->bytes) && !c.eds_cluster_config().service_name().empty()) {
        add(endpoint_type, c.eds_cluster_config().service_name(), {u->second});
      }
      add(endpoint_type, name, {u->second});
    }
    if (proxy != nullptr) {
      for (const auto& l : proxy->listeners()) {
        add(listener_type, l.name(),
            model::sources_of(l.metadata_static(), resource_kind::gateway));
        std::vector<resource_key> routed;
        for (const auto& k : model::sources_in(l)) {
          if (k.kind != resource_kind::gateway) {
            routed.push_back(k);
          }
        }
        add(route_type, route_config_name(l.name()), routed);
        for (const auto& vh : l.http_listener().virtual_hosts()) {
          add_inner(route_type, envoy_virtual_host_name(vh.name()), model::sources_in(vh));
          for (const auto& r : vh.routes()) {
            if (!r.name().empty()) {
              add_inner(route_type, r.name(), model::sources_in(r));
            }
          }
        }
      }
      return;
    }
    // Proxyless: listeners are named after domains, each owned by the first VirtualService (in
    // namespace/name order) that lists it, as translate_proxyless assigns them.
    std::map<std::string, resource_key> owner;
    for (const auto& [nn, stored] : w.of(resource_kind::virtual_service)) {
      const auto& vs = static_cast<const gw::VirtualService&>(*stored.message);
      for (const auto& d : vs.virtual_host().domains()) {
        owner.emplace(d, stored.key);
      }
    }
    for (const auto& [name, res] : snap.of(listener_type).items) {
      if (auto o = owner.find(name); o != owner.end()) {
        add(listener_type, name, {o->second});
        add(route_type, route_config_name(name), {o->second});
      }
    }
  }

  /// The user resources a NACK points at: the producers of the resources of its type that its
  /// message names, narrowed to a named virtual host or route when it names one; failing that,
  /// the producers of the resources it points at by index into the rejected response
  /// (`response_names`; grpc-js names nothing else).
  std::vector<resource_key> blame(std::string_view type_url, std::string_view message,
                                  const std::vector<std::string>& response_names) const {
    std::set<resource_key> out;
    if (auto i = inner_.find(std::string(type_url)); i != inner_.end()) {
      for (const auto& [name, keys] : i->second) {
        if (mentions(message, name)) {
          out.insert(keys.begin(), keys.end());
        }
      }
    }
    if (out.empty()) {
      if (auto i = outer_.find(std::string(type_url)); i != outer_.end()) {
        for (const auto& [name, keys] : i->second) {
          if (mentions(message, name)) {
            out.insert(keys.begin(), keys.end());
          }
        }
      }
    }
    if (out.empty()) {
      if (auto i = outer_.find(std::string(type_url)); i != outer_.end()) {
        for (const auto& name : model::nacked_resource_names(message, response_names)) {
          if (auto k = i->second.find(name); k != i->second.end()) {
            out.insert(k->second.begin(), k->second.end());
          }
        }
      }
    }
    return {out.begin(), out.end()};
  }

 private:
  using by_name = std::map<std::string, std::vector<resource_key>>;

  void add(std::string_view type, const std::string& name, const std::vector<resource_key>& keys) {
    auto& v = outer_[std::string(type)][name];
    v.insert(v.end(), keys.begin(), keys.end());
  }
  void add_inner(std::string_view type, const std::string& name,
                 const std::vector<resource_key>& keys) {
    auto& v = inner_[std::string(type)][name];
    v.insert(v.end(), keys.begin(), keys.end());
  }

  std::map<std::string, by_name> outer_;  ///< whole Envoy resources
  std::map<std::string, by_name> inner_;  ///< virtual hosts and routes inside RDS resources
};

}  // namespace

std::vector<sluice::v1::ClientResponseRecord> current_nacks(
    const std::vector<sluice::v1::ClientResponseRecord>& responses,
    const std::vector<sluice::v1::PublishRecord>& publishes) {
  std::map<std::tuple<std::string, std::string, std::string>, sluice::v1::ClientResponseRecord>
      latest;
  for (const auto& r : responses) {
    latest[{r.role(), r.node_id(), r.type_url()}] = r;  // records are oldest first
  }
  std::map<std::pair<std::string, std::string>, int64_t> last_publish;
  for (const auto& p : publishes) {
    auto& t = last_publish[{p.role(), p.type_url()}];
    t = std::max(t, p.time_unix_ns());
  }
  std::vector<sluice::v1::ClientResponseRecord> out;
  for (const auto& [k, r] : latest) {
    if (!r.nack()) {
      continue;
    }
    auto p = last_publish.find({r.role(), r.type_url()});
    if (p != last_publish.end() && p->second > r.time_unix_ns()) {
      continue;
    }
    out.push_back(r);
  }
  return out;
}

std::vector<model::nack_attribution> attribute_nacks(
    const model::world& w, const std::vector<model::translated_proxy>& proxies,
    const std::map<std::string, snapshot_ptr>& snapshots,
    const std::vector<sluice::v1::ClientResponseRecord>& nacks) {
  std::vector<model::nack_attribution> out;
  for (const auto& n : nacks) {
    auto snap = snapshots.find(n.role());
    if (snap == snapshots.end() || !snap->second) {
      continue;  // the role is gone: its NACK describes nothing that exists now
    }
    const gl::Proxy* proxy = nullptr;
    for (const auto& p : proxies) {
      if (p.role == n.role()) {
        proxy = &p.proxy;
      }
    }
    producers who(w, *snap->second, proxy);
    const std::vector<std::string> response_names(n.resource_names().begin(),
                                                  n.resource_names().end());
    for (const auto& key : who.blame(n.type_url(), n.error_message(), response_names)) {
      out.push_back({key, n.node_id(), n.type_url(), n.error_message()});
    }
    // The Proxy was served, so it always carries its clients' rejections.
    if (proxy != nullptr) {
      out.push_back({resource_key{resource_kind::proxy, proxy->metadata().namespace_(),
                                  proxy->metadata().name()},
                     n.node_id(), n.type_url(), n.error_message()});
    }
  }
  return out;
}

bool nack_book::record(const client_response& response) {
  const answer_key key{response.key, response.node_id, response.type_url};
  std::lock_guard<std::mutex> lock(mutex_);
  if (!response.nack) {
    return nacks_.erase(key) > 0;
  }
  sluice::v1::ClientResponseRecord rec;
  rec.set_role(response.key);
  rec.set_node_id(response.node_id);
  rec.set_type_url(response.type_url);
  rec.set_nack(true);
  rec.set_error_message(response.error_message);
  rec.mutable_resource_names()->Assign(response.resource_names.begin(),
                                       response.resource_names.end());
  // Version and nonce change with every response; only what is blamed matters here.
  auto [at, inserted] = nacks_.try_emplace(key, rec);
  if (inserted) {
    return true;
  }
  const bool changed
      = at->second.error_message() != rec.error_message()
        || !std::equal(at->second.resource_names().begin(), at->second.resource_names().end(),
                       rec.resource_names().begin(), rec.resource_names().end());
  at->second = std::move(rec);
  return changed;
}

bool nack_book::forget(const std::string& key, const std::string& node_id) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto first = nacks_.lower_bound(answer_key{key, node_id, std::string()});
  auto last = first;
  while (last != nacks_.end() && std::get<0>(last->first) == key
         && std::get<1>(last->first) == node_id) {
    ++last;
  }
  const bool changed = first != last;
  nacks_.erase(first, last);
  return changed;
}

std::vector<sluice::v1::ClientResponseRecord> nack_book::current() const {
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<sluice::v1::ClientResponseRecord> out;
  out.reserve(nacks_.size());
  for (const auto& [key, rec] : nacks_) {
    out.push_back(rec);
  }
  return out;
}

}  // namespace sluice::xds
