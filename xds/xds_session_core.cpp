#include "xds/xds_session_core.hpp"

#include "model/error.hpp"
#include "model/resource.hpp"

namespace sluice::xds {

snapshot_diff_ptr diff_snapshots(const snapshot& from, const snapshot& to) {
  auto out = std::make_shared<snapshot_diff>();
  out->from = &from;
  auto add_type = [&](std::string_view type, const typed_resources& before,
                      const typed_resources& after) {
    if (before.version == after.version) {
      return;
    }
    auto& names = out->changed[std::string(type)];
    // Merge-join of two name-ordered maps.
    auto b = before.items.begin();
    auto a = after.items.begin();
    while (b != before.items.end() || a != after.items.end()) {
      if (a == after.items.end() || (b != before.items.end() && b->first < a->first)) {
        names.push_back(b->first);  // removed
        ++b;
      } else if (b == before.items.end() || a->first < b->first) {
        names.push_back(a->first);  // added
        ++a;
      } else {
        if (a->second != b->second && a->second->version != b->second->version) {
          names.push_back(a->first);
        }
        ++a;
        ++b;
      }
    }
  };
  for (const auto& [type, set] : to.types) {
    add_type(type, from.of(type), set);
  }
  for (const auto& [type, set] : from.types) {
    if (!to.types.contains(type)) {
      add_type(type, set, to.of(type));
    }
  }
  return out;
}

std::optional<std::vector<xds_resource_ptr>> changed_only(std::string_view type_url,
                                                          const typed_resources& available,
                                                          const subscription_view& subscription,
                                                          const name_set& candidates,
                                                          const client_holdings& holdings,
                                                          bool clusters_settled) {
  if (!holdings.content_known()) {
    return std::nullopt;  // a reconnected delta client's holdings still resolve
  }
  if (type_url == endpoint_type && !holdings.owed_endpoints().empty()) {
    return std::nullopt;  // fresh load assignments owed after a cluster change
  }
  const auto& held = holdings.sent(type_url);
  std::vector<xds_resource_ptr> out;
  for (const auto& name : candidates) {
    if (!subscription.wildcard && !subscription.names->contains(name)) {
      continue;
    }
    auto a = available.items.find(name);
    if (a == available.items.end()) {
      return std::nullopt;  // vanished: removal, retention or "does not exist" rules apply
    }
    auto h = held.find(name);
    if (h != held.end() && h->second.version == a->second->version) {
      continue;
    }
    out.push_back(a->second);
  }
  if (!out.empty() && (type_url == listener_type || type_url == route_type) && !clusters_settled) {
    return std::nullopt;  // the hold rule may apply
  }
  return out;
}

caf::error unknown_type_error(const std::string& node_id, const std::string& type_url) {
  return make_error(ec::protocol_error,
                    "node " + node_id + " requested type URL \"" + type_url.substr(0, 200)
                        + "\", which is not an xDS v3 resource type; use "
                          "type.googleapis.com/envoy.config.<kind>.v3.<Message>");
}

resource_target desired(const typed_resources& available, const type_state_core& state) {
  resource_target out;
  if (state.wildcard) {
    out.insert(available.items.begin(), available.items.end());
    return out;
  }
  for (const auto& name : state.names) {
    if (auto r = available.items.find(name); r != available.items.end()) {
      out.emplace(name, r->second);
    }
  }
  return out;
}

std::string digest_names(const name_set& names) {
  std::string acc;
  for (const auto& n : names) {
    acc += n;
    acc += '\0';
  }
  return model::hash_hex(model::content_hash(acc));
}

std::string subscription_version(const typed_resources& available, bool wildcard,
                                 const std::string& names_digest) {
  if (wildcard || available.version.empty()) {
    return available.version;
  }
  return model::hash_hex(model::content_hash(available.version + '\0' + names_digest));
}

}  // namespace sluice::xds
