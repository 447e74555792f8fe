#include "xds/sotw_session.hpp"

#include <algorithm>
#include <utility>

#include "model/error.hpp"
#include "model/resource.hpp"
#include "xds/xds_session_core.hpp"

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
  return members_version(resources);
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
      return unknown_type_error(node_.id(), type_url);
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
    state.mark_full();
    out.kind = request_kind::initial;
    if (!request.version_info().empty()) {
      // A reconnect: the client holds this version from an earlier stream (xds.md §1.3).
      state.reported_version = request.version_info();
      state.seed_pending = true;
      if (!reconnect_barrier_) {
        reconnect_barrier_ = true;
        holdings_.assume_unknown_references(true);
      }
    }
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
  try_seed(type_url, state);
  if ((out.kind == request_kind::ack || out.kind == request_kind::nack) && reconnect_barrier_) {
    // The client answers only after it sent every first request: the holdings are complete.
    reconnect_barrier_ = false;
    holdings_.assume_unknown_references(false);
    for (auto& [t, st] : types_) {
      st.mark_full();
    }
  }
  if (out.kind == request_kind::ack) {
    // Applied after the names: Envoy changes its EDS subscription before it ACKs clusters.
    holdings_.record_ack(type_url, [this](std::string_view eds_name) {
      auto e = types_.find(endpoint_type);
      return e != types_.end() && e->second.requested
             && (e->second.wildcard || e->second.names.contains(eds_name));
    });
    xds::ordering_moved(types_);
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
  state.names_digest = digest_names(state.names);
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
  state.mark_full();
  xds::ordering_moved(types_);
  return true;
}

void sotw_session::set_snapshot(snapshot_ptr snap, const snapshot_diff_ptr& diff) {
  if (snap == snapshot_) {
    return;
  }
  note_snapshot(types_, snapshot_.get(), snap.get(), diff);
  snapshot_ = std::move(snap);
}

void sotw_session::open_gate() { gate_open_ = true; }

void sotw_session::set_history(snapshot_history_ptr history) {
  history_ = std::move(history);
  for (auto& [type_url, state] : types_) {
    try_seed(type_url, state);
  }
}

void sotw_session::try_seed(std::string_view type_url, type_state& state) {
  if (!state.seed_pending || !history_ || history_->empty()) {
    return;  // looked up when the history arrives
  }
  state.seed_pending = false;
  for (const auto& snap : *history_) {
    const auto& available = snap->of(type_url);
    if (subscription_version(available, state.wildcard, state.names_digest)
        != state.reported_version) {
      continue;
    }
    // The client holds what this snapshot gave its subscription (an unshaped response).
    std::map<std::string, std::string> versions;
    if (state.wildcard) {
      for (const auto& [name, r] : available.items) {
        versions.emplace(name, r->version);
      }
    } else {
      for (const auto& name : state.names) {
        if (auto r = available.items.find(name); r != available.items.end()) {
          versions.emplace(name, r->second->version);
        }
      }
    }
    holdings_.seed(type_url, versions, snap.get());
    state.mark_full();
    xds::ordering_moved(types_);
    return;
  }
}

std::optional<sotw_response> sotw_session::next_response() {
  if (!gate_open_ || !snapshot_) {
    return std::nullopt;
  }
  return next_in_push_order(
      types_, [this](std::string_view type_url, type_state& state) { return evaluate(type_url, state); });
}

std::vector<std::string> sotw_session::subscription(std::string_view type_url) const {
  return subscription_of(types_, type_url);
}

std::string sotw_session::last_nonce(std::string_view type_url) const {
  return last_nonce_of(types_, type_url);
}

std::optional<sotw_response> sotw_session::evaluate(std::string_view type_url, type_state& state) {
  const bool full = state.full || state.initial_owed || state.resend_all;
  state.dirty = false;
  state.full = false;
  const auto candidates = std::move(state.candidates);
  state.candidates.clear();
  const auto& available = snapshot_->of(type_url);
  if (!full) {
    auto changed = changed_only(type_url, available, {state.wildcard, &state.names}, candidates,
                                holdings_, xds::clusters_settled(types_, holdings_));
    if (changed) {
      if (changed->empty()) {
        return std::nullopt;
      }
      // Full-state types list every subscribed resource; the others only what changed.
      std::vector<xds_resource_ptr> listed;
      if (is_full_state(type_url) && state.wildcard) {
        listed.reserve(available.items.size());
        for (const auto& [name, r] : available.items) {
          listed.push_back(r);
        }
      } else if (is_full_state(type_url)) {
        for (const auto& [name, r] : xds::desired(snapshot_->of(type_url), state)) {
          listed.push_back(r);
        }
      } else {
        listed = *changed;
      }
      return respond(type_url, state, std::move(listed), *changed,
                     subscription_version(available, state.wildcard, state.names_digest));
    }
  }

  auto target = xds::desired(snapshot_->of(type_url), state);
  std::set<std::string, std::less<>> clusters;
  if (type_url == listener_type || type_url == route_type) {
    clusters = xds::cluster_target(types_, holdings_, *snapshot_);
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
    // The first request of a type is answered with everything subscribed, even what a
    // reconnecting client reported holding: SotW clients expect an answer to it.
    const bool all = (changed && state.resend_all) || state.initial_owed;
    for (const auto& entry : target) {
      if (all || differs(entry) || owed.contains(entry.first)) {
        to_send.push_back(entry.second);
      }
    }
    if (to_send.empty()) {
      // RDS/EDS/SDS: an empty response is a no-op for the client, so say nothing.
      state.initial_owed = false;
      return std::nullopt;
    }
  }

  std::string version;
  if (state.shaped) {
    // Held back or retained resources: a version of its own for exactly what is listed.
    std::vector<xds_resource_ptr> all;
    all.reserve(target.size());
    for (const auto& [name, r] : target) {
      all.push_back(r);
    }
    version = version_of(all);
  } else {
    version = subscription_version(available, state.wildcard, state.names_digest);
  }
  if (full_state) {
    holdings_.record_sent(type_url, to_send, {}, true);
    return respond(type_url, state, std::move(to_send), {}, std::move(version));
  }
  auto sent = to_send;
  return respond(type_url, state, std::move(to_send), sent, std::move(version));
}

std::optional<sotw_response> sotw_session::respond(std::string_view type_url, type_state& state,
                                                   std::vector<xds_resource_ptr> listed,
                                                   const std::vector<xds_resource_ptr>& changed,
                                                   std::string version) {
  // `changed` is what the client did not hold; for a full-state type recorded by the caller
  // when the listing replaces what it holds.
  if (!changed.empty()) {
    holdings_.record_sent(type_url, changed, {}, false);
  }
  sotw_response out;
  out.type_url = std::string(type_url);
  out.version = std::move(version);
  out.nonce = fresh_nonce();
  state.nonce_names.clear();
  for (const auto& r : listed) {
    state.nonce_names.push_back(r->name);
  }
  out.resources = std::move(listed);
  state.nonce = out.nonce;
  state.version = out.version;
  state.initial_owed = false;
  state.resend_all = false;
  if (type_url == cluster_type) {
    // Clusters sent may owe load assignments.
    if (auto e = types_.find(endpoint_type); e != types_.end()) {
      e->second.mark_full();
    }
  }
  xds::ordering_moved(types_);
  return out;
}

std::string sotw_session::fresh_nonce() {
  return options_.nonce_prefix + std::to_string(++nonce_counter_);
}

}  // namespace sluice::xds
