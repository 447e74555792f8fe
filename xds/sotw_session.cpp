#include "xds/sotw_session.hpp"

#include <algorithm>
#include <utility>

#include "model/error.hpp"
#include "model/resource.hpp"

namespace sluice::xds {

namespace {

/// LDS and CDS are "full state" in SotW: a response must list every subscribed resource, and a
/// missing one means deleted (xds.md §1.4).
bool is_full_state(std::string_view type_url) {
  return type_url == listener_type || type_url == cluster_type;
}

/// Same construction as `seal()`, so a named subscription that covers every resource of a type
/// gets the type's own version, and any other subset a version of its own.
std::string version_of(const std::vector<xds_resource_ptr>& resources) {
  if (resources.empty()) {
    return {};
  }
  std::string acc;
  for (const auto& r : resources) {
    acc += r->name;
    acc += '\0';
    acc += r->version;
    acc += '\0';
  }
  return model::hash_hex(model::content_hash(acc));
}

}  // namespace

std::string_view to_string(request_kind kind) {
  switch (kind) {
    case request_kind::initial:
      return "initial";
    case request_kind::ack:
      return "ack";
    case request_kind::nack:
      return "nack";
    case request_kind::stale:
      return "stale";
    case request_kind::update:
      return "update";
    case request_kind::unsupported:
      return "unsupported";
  }
  return "unknown";
}

envoy::service::discovery::v3::DiscoveryResponse to_discovery_response(const sotw_response& r) {
  envoy::service::discovery::v3::DiscoveryResponse out;
  out.set_type_url(r.type_url);
  out.set_version_info(r.version);
  out.set_nonce(r.nonce);
  out.mutable_resources()->Reserve(static_cast<int>(r.resources.size()));
  for (const auto& res : r.resources) {
    auto* any = out.add_resources();
    any->set_type_url(res->type_url);
    any->set_value(res->bytes);
  }
  return out;
}

sotw_session::sotw_session(sotw_session_options options) : options_(std::move(options)) {}

caf::expected<request_outcome> sotw_session::on_request(
    const envoy::service::discovery::v3::DiscoveryRequest& request) {
  if (!has_node_) {
    // Only the first request is guaranteed to carry the node (xds.md §1.2).
    if (auto err = check_node(request.node())) {
      return err;
    }
    node_ = request.node();
    key_ = node_key(node_);
    envoy_ = node_.user_agent_name() == "envoy";
    holdings_.set_envoy(envoy_);
    has_node_ = true;
  }
  request_outcome out;
  const std::string& type_url = request.type_url();
  switch (classify_type(type_url)) {
    case type_support::served:
      break;
    case type_support::unserved:
      out.kind = request_kind::unsupported;
      return out;
    case type_support::unknown:
      return make_error(ec::protocol_error,
                        "node " + node_.id() + " requested type URL \"" + type_url.substr(0, 200) +
                            "\", which is not an xDS v3 resource type; use "
                            "type.googleapis.com/envoy.config.<kind>.v3.<Message>");
  }
  if (static_cast<size_t>(request.resource_names_size()) > options_.max_names_per_type) {
    return make_error(ec::limit_exceeded, "node " + node_.id() + " subscribed to "
                                              + std::to_string(request.resource_names_size())
                                              + " names of " + type_url + "; at most "
                                              + std::to_string(options_.max_names_per_type)
                                              + " are allowed per type");
  }
  auto& state = types_[type_url];
  if (!state.requested) {
    // A nonce on the first request of a type comes from another stream: ignore it.
    state.requested = true;
    state.initial_owed = true;
    state.dirty = true;
    out.kind = request_kind::initial;
  } else if (request.response_nonce().empty()) {
    out.kind = request_kind::update;
  } else if (request.response_nonce() != state.nonce) {
    // gRPC clients change names with stale nonces (xds-clients.md): apply them, but the
    // version and error_detail describe an older response and mean nothing now.
    out.kind = request_kind::stale;
  } else {
    // NACK is detected by error_detail, not by comparing versions (xds.md §1.3 rule 4).
    const bool nack = request.has_error_detail();
    out.kind = nack ? request_kind::nack : request_kind::ack;
    client_response response;
    response.node_id = node_.id();
    response.key = key_;
    response.type_url = type_url;
    response.version = request.version_info();
    response.nonce = request.response_nonce();
    response.nack = nack;
    response.resource_names = state.nonce_names;
    if (nack) {
      response.error_message = request.error_detail().message();
      // Envoy rejects a NACKed response whole; gRPC keeps its valid part (A46). Either way we no
      // longer know what the client holds, so the next change sends the full subscribed set.
      state.resend_all = true;
    }
    out.response = std::move(response);
  }
  out.subscription_changed = apply_names(state, type_url, request.resource_names());
  if (out.kind == request_kind::ack) {
    // Applied after the names: Envoy changes its EDS subscription before it ACKs clusters.
    holdings_.record_ack(type_url, [this](std::string_view eds_name) {
      auto e = types_.find(endpoint_type);
      return e != types_.end() && e->second.requested
             && (e->second.wildcard || e->second.names.contains(eds_name));
    });
    ordering_moved();
  }
  return out;
}

bool sotw_session::apply_names(type_state& state, std::string_view type_url,
                               const google::protobuf::RepeatedPtrField<std::string>& names) {
  bool wildcard = false;
  std::set<std::string, std::less<>> explicit_names;
  for (const auto& name : names) {
    if (name == "*") {
      wildcard = true;
    } else {
      explicit_names.insert(name);
    }
  }
  if (names.empty()) {
    // Legacy wildcard: a LDS/CDS stream that never named anything wants everything. After the
    // first name, an empty list unsubscribes from all (xds.md §1.4).
    wildcard = is_full_state(type_url) && !state.ever_named;
  } else {
    state.ever_named = true;
  }
  if (wildcard == state.wildcard && explicit_names == state.names) {
    return false;
  }
  state.wildcard = wildcard;
  state.names = std::move(explicit_names);
  if (!state.wildcard) {
    // Forget what was sent for names the client dropped: if it asks for them again it must get
    // them again, even unchanged (xds.md §1.4).
    std::vector<std::string> dropped;
    for (const auto& [name, held] : holdings_.sent(type_url)) {
      if (!state.names.contains(name)) {
        dropped.push_back(name);
      }
    }
    holdings_.forget(type_url, dropped);
  }
  state.dirty = true;
  ordering_moved();
  return true;
}

void sotw_session::set_snapshot(snapshot_ptr snap) {
  if (snap == snapshot_) {
    return;
  }
  for (auto& [type_url, state] : types_) {
    if (!snapshot_ || !snap || snapshot_->of(type_url).version != snap->of(type_url).version
        || state.shaped) {
      state.dirty = true;
    }
  }
  snapshot_ = std::move(snap);
}

void sotw_session::open_gate() { gate_open_ = true; }

void sotw_session::ordering_moved() {
  for (auto& [type_url, state] : types_) {
    if (state.shaped) {
      state.dirty = true;
    }
  }
}

std::optional<sotw_response> sotw_session::next_response() {
  if (!gate_open_ || !snapshot_) {
    return std::nullopt;
  }
  for (std::string_view type_url : push_order) {
    auto i = types_.find(type_url);
    if (i == types_.end()) {
      continue;
    }
    auto& state = i->second;
    if (!state.requested || !(state.dirty || state.initial_owed)) {
      continue;
    }
    if (auto response = evaluate(type_url, state)) {
      return response;
    }
  }
  return std::nullopt;
}

sotw_session::resource_map sotw_session::desired(std::string_view type_url,
                                                 const type_state& state) const {
  resource_map out;
  const auto& available = snapshot_->of(type_url);
  if (state.wildcard) {
    out.insert(available.items.begin(), available.items.end());
  } else {
    // Requested names that do not exist yet stay in `names`; they are sent when they appear.
    for (const auto& name : state.names) {
      if (auto r = available.items.find(name); r != available.items.end()) {
        out.emplace(name, r->second);
      }
    }
  }
  return out;
}

std::set<std::string, std::less<>> sotw_session::cluster_target() {
  std::set<std::string, std::less<>> out;
  auto i = types_.find(cluster_type);
  if (i == types_.end() || !i->second.requested) {
    return out;
  }
  auto target = desired(cluster_type, i->second);
  holdings_.shape(cluster_type, target, out, *snapshot_);
  for (const auto& [name, r] : target) {
    out.insert(name);
  }
  return out;
}

std::optional<sotw_response> sotw_session::evaluate(std::string_view type_url, type_state& state) {
  state.dirty = false;
  auto target = desired(type_url, state);
  std::set<std::string, std::less<>> clusters;
  if (type_url == listener_type || type_url == route_type) {
    clusters = cluster_target();
  }
  state.shaped = holdings_.shape(type_url, target, clusters, *snapshot_);

  const auto& held = holdings_.sent(type_url);
  auto differs = [&](const std::pair<const std::string, xds_resource_ptr>& entry) {
    auto s = held.find(entry.first);
    return s == held.end() || s->second.version != entry.second->version;
  };
  const bool full_state = is_full_state(type_url);
  bool changed = std::any_of(target.begin(), target.end(), differs);
  if (full_state && !changed) {
    // For full-state types a deletion is a change too.
    changed = target.size() != held.size();
  }

  std::vector<xds_resource_ptr> to_send;
  if (full_state) {
    // LDS/CDS answer the first request even when empty: that tells the client what exists.
    if (!changed && !state.initial_owed) {
      return std::nullopt;
    }
    to_send.reserve(target.size());
    for (const auto& [name, r] : target) {
      to_send.push_back(r);
    }
  } else {
    // An Envoy warms a changed cluster until it gets its load assignment again (xds.md §1.6).
    const auto& owed = type_url == endpoint_type ? holdings_.owed_endpoints()
                                                 : std::set<std::string, std::less<>>{};
    for (const auto& entry : target) {
      if ((changed && state.resend_all) || differs(entry) || owed.contains(entry.first)) {
        to_send.push_back(entry.second);
      }
    }
    if (to_send.empty()) {
      // RDS/EDS/SDS: an empty response is a no-op for the client, so say nothing.
      state.initial_owed = false;
      return std::nullopt;
    }
  }

  std::vector<xds_resource_ptr> all;
  all.reserve(target.size());
  for (const auto& [name, r] : target) {
    all.push_back(r);
  }
  sotw_response out;
  out.type_url = std::string(type_url);
  out.version = version_of(all);
  out.nonce = fresh_nonce();
  holdings_.record_sent(type_url, to_send, {}, full_state);
  state.nonce_names.clear();
  for (const auto& r : to_send) {
    state.nonce_names.push_back(r->name);
  }
  out.resources = std::move(to_send);
  state.nonce = out.nonce;
  state.version = out.version;
  state.initial_owed = false;
  state.resend_all = false;
  if (type_url == cluster_type) {
    // Clusters sent may owe load assignments.
    if (auto e = types_.find(endpoint_type); e != types_.end()) {
      e->second.dirty = true;
    }
  }
  ordering_moved();
  return out;
}

std::string sotw_session::fresh_nonce() {
  return options_.nonce_prefix + std::to_string(++nonce_counter_);
}

std::vector<std::string> sotw_session::subscription(std::string_view type_url) const {
  std::vector<std::string> out;
  auto i = types_.find(type_url);
  if (i == types_.end()) {
    return out;
  }
  if (i->second.wildcard) {
    out.emplace_back("*");
  }
  out.insert(out.end(), i->second.names.begin(), i->second.names.end());
  return out;
}

std::string sotw_session::last_nonce(std::string_view type_url) const {
  auto i = types_.find(type_url);
  return i == types_.end() ? std::string{} : i->second.nonce;
}

}  // namespace sluice::xds
