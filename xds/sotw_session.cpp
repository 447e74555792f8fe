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

bool is_served(std::string_view type_url) {
  return std::find(std::begin(push_order), std::end(push_order), type_url) != std::end(push_order);
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
    node_ = request.node();
    key_ = node_key(node_);
    envoy_ = node_.user_agent_name() == "envoy";
    has_node_ = true;
  }
  request_outcome out;
  const std::string& type_url = request.type_url();
  if (!is_served(type_url)) {
    out.kind = request_kind::unsupported;
    return out;
  }
  if (static_cast<size_t>(request.resource_names_size()) > options_.max_names_per_type) {
    return make_error(ec::limit_exceeded, "node " + node_.id() + " subscribed to " +
                                              std::to_string(request.resource_names_size()) +
                                              " names of " + type_url + "; at most " +
                                              std::to_string(options_.max_names_per_type) +
                                              " are allowed per type");
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
    if (nack) {
      response.error_message = request.error_detail().message();
      // Envoy rejects a NACKed response whole; gRPC keeps its valid part (A46). Either way we no
      // longer know what the client holds, so the next change sends the full subscribed set.
      state.resend_all = true;
    }
    out.response = std::move(response);
  }
  out.subscription_changed = apply_names(state, type_url, request.resource_names());
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
    std::erase_if(state.sent,
                  [&](const auto& entry) { return !state.names.contains(entry.first); });
  }
  state.dirty = true;
  return true;
}

void sotw_session::set_snapshot(snapshot_ptr snap) {
  if (snap == snapshot_) {
    return;
  }
  for (auto& [type_url, state] : types_) {
    if (!snapshot_ || !snap || snapshot_->of(type_url).version != snap->of(type_url).version) {
      state.dirty = true;
    }
  }
  snapshot_ = std::move(snap);
}

void sotw_session::open_gate() { gate_open_ = true; }

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
    if (!state.requested || !(state.dirty || state.initial_owed || state.warm_owed)) {
      continue;
    }
    if (auto response = evaluate(type_url, state)) {
      return response;
    }
  }
  return std::nullopt;
}

std::optional<sotw_response> sotw_session::evaluate(std::string_view type_url, type_state& state) {
  state.dirty = false;
  const auto& available = snapshot_->of(type_url);
  std::vector<xds_resource_ptr> desired;
  if (state.wildcard) {
    desired.reserve(available.items.size());
    for (const auto& [name, res] : available.items) {
      desired.push_back(res);
    }
  } else {
    // Requested names that do not exist yet stay in `names`; they are sent when they appear.
    for (const auto& name : state.names) {
      if (auto r = available.items.find(name); r != available.items.end()) {
        desired.push_back(r->second);
      }
    }
  }

  auto differs = [&](const xds_resource_ptr& r) {
    auto s = state.sent.find(r->name);
    return s == state.sent.end() || s->second != r->version;
  };
  const bool full_state = is_full_state(type_url);
  bool changed = std::any_of(desired.begin(), desired.end(), differs);
  if (full_state && !changed) {
    // For full-state types a deletion is a change too.
    changed = desired.size() != state.sent.size();
  }

  std::vector<xds_resource_ptr> to_send;
  bool cluster_updated = false;
  if (full_state) {
    // LDS/CDS answer the first request even when empty: that tells the client what exists.
    if (!changed && !state.initial_owed) {
      return std::nullopt;
    }
    if (type_url == cluster_type && envoy_) {
      // Envoy warms an updated cluster until it receives EDS for it, even when the endpoints
      // did not change (xds.md §1.6); new clusters come with new EDS names and need nothing.
      cluster_updated = std::any_of(desired.begin(), desired.end(), [&](const auto& r) {
        auto s = state.sent.find(r->name);
        return s != state.sent.end() && s->second != r->version;
      });
    }
    to_send = desired;
    state.sent.clear();
  } else if (changed) {
    if (state.resend_all) {
      to_send = desired;
    } else {
      std::copy_if(desired.begin(), desired.end(), std::back_inserter(to_send), differs);
    }
  } else if (state.warm_owed && !desired.empty()) {
    to_send = desired;
  } else {
    // RDS/EDS/SDS: an empty response is a no-op for the client, so say nothing.
    state.initial_owed = false;
    state.warm_owed = false;
    return std::nullopt;
  }

  if (cluster_updated) {
    if (auto e = types_.find(endpoint_type); e != types_.end() && e->second.requested) {
      e->second.warm_owed = true;
    }
  }

  sotw_response out;
  out.type_url = std::string(type_url);
  out.version = state.wildcard ? available.version : version_of(desired);
  out.nonce = fresh_nonce();
  for (const auto& r : to_send) {
    state.sent[r->name] = r->version;
  }
  out.resources = std::move(to_send);
  state.nonce = out.nonce;
  state.version = out.version;
  state.initial_owed = false;
  state.warm_owed = false;
  state.resend_all = false;
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
