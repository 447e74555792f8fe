#include "xds/delta_session.hpp"

#include <algorithm>
#include <utility>

#include "model/error.hpp"
#include "xds/xds_session_core.hpp"

namespace sluice::xds {

envoy::service::discovery::v3::DeltaDiscoveryResponse to_delta_discovery_response(
    const delta_response& r) {
  envoy::service::discovery::v3::DeltaDiscoveryResponse out;
  out.set_type_url(r.type_url);
  out.set_nonce(r.nonce);
  out.set_system_version_info(r.system_version);
  out.mutable_resources()->Reserve(static_cast<int>(r.resources.size()));
  for (const auto& res : r.resources) {
    auto* wire = out.add_resources();
    wire->set_name(res->name);
    wire->set_version(res->version);
    wire->mutable_resource()->set_type_url(res->type_url);
    wire->mutable_resource()->set_value(res->bytes);
  }
  for (const auto& name : r.removed) {
    out.add_removed_resources(name);
  }
  return out;
}

delta_session::delta_session(delta_session_options options) : options_(std::move(options)) {}

bool delta_session::eds_wanted(std::string_view name) const {
  auto e = types_.find(endpoint_type);
  return e != types_.end() && e->second.requested
         && (e->second.wildcard || e->second.names.contains(name));
}

caf::expected<request_outcome> delta_session::on_request(
    const envoy::service::discovery::v3::DeltaDiscoveryRequest& request) {
  if (!has_node_) {
    // Only the first request is guaranteed to carry the node (xds.md §1.2).
    if (auto err = check_node(request.node())) {
      return err;
    }
    node_ = request.node();
    key_ = node_key(node_);
    holdings_.set_envoy(node_.user_agent_name() == "envoy");
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
  const size_t named
      = static_cast<size_t>(std::max(request.resource_names_subscribe_size(),
                                     static_cast<int>(request.initial_resource_versions_size())));
  if (named > options_.max_names_per_type) {
    return make_error(ec::limit_exceeded,
                      "node " + node_.id() + " subscribed to " + std::to_string(named)
                          + " names of " + type_url + " in one request; at most "
                          + std::to_string(options_.max_names_per_type) + " are allowed per type");
  }

  auto& state = types_[type_url];
  const bool first = !state.requested;
  if (first) {
    // A nonce on the first request of a type comes from another stream (Envoy #15767): ignore.
    state.requested = true;
    state.mark_full();
    out.kind = request_kind::initial;
    if (!request.initial_resource_versions().empty()) {
      // Reconnect: what the client already holds (xds.md §1.7).
      std::map<std::string, std::string> versions(request.initial_resource_versions().begin(),
                                                  request.initial_resource_versions().end());
      holdings_.seed(type_url, versions, snapshot_.get());
      state.reconnect_barrier = true;
      state.initial_owed = true;  // a response, so an ACK lifts the barrier
    }
  } else if (request.response_nonce().empty()) {
    out.kind = request_kind::update;
  } else if (request.response_nonce() != state.nonce) {
    out.kind = request_kind::stale;
  } else {
    const bool nack = request.has_error_detail();
    out.kind = nack ? request_kind::nack : request_kind::ack;
    client_response response;
    response.node_id = node_.id();
    response.key = key_;
    response.type_url = type_url;
    response.nonce = request.response_nonce();
    response.nack = nack;
    response.delta = true;
    response.resource_names = state.nonce_names;
    if (state.reconnect_barrier) {
      state.reconnect_barrier = false;
      state.mark_full();
    }
    if (nack) {
      // Recorded only: what we believe the client holds stays as sent, so the same content is
      // never sent again; a later change of those resources is (xds.md §1.3, reliability §1.6).
      response.error_message = request.error_detail().message();
    }
    out.response = std::move(response);
  }

  // Subscription changes apply whatever the nonce says (xds.md §1.7).
  out.subscription_changed = apply_subscriptions(state, type_url, request, first);
  if (state.names.size() > options_.max_names_per_type) {
    return make_error(ec::limit_exceeded,
                      "node " + node_.id() + " subscribed to " + std::to_string(state.names.size())
                          + " names of " + type_url + " on one stream; at most "
                          + std::to_string(options_.max_names_per_type) + " are allowed per type");
  }
  if (out.kind == request_kind::ack) {
    // After the subscription change: Envoy changes its EDS subscription before it ACKs CDS.
    holdings_.record_ack(type_url, [this](std::string_view n) { return eds_wanted(n); });
    xds::ordering_moved(types_);
  }
  return out;
}

bool delta_session::apply_subscriptions(
    type_state& state, std::string_view type_url,
    const envoy::service::discovery::v3::DeltaDiscoveryRequest& request, bool first) {
  bool changed = false;
  if (first && request.resource_names_subscribe().empty()
      && request.resource_names_unsubscribe().empty()) {
    // Legacy wildcard: a first request with both lists empty (xds.md §1.7).
    state.wildcard = true;
    changed = true;
  }
  for (const auto& name : request.resource_names_subscribe()) {
    if (name == "*") {
      changed |= !state.wildcard;
      state.wildcard = true;
      continue;
    }
    changed |= state.names.insert(name).second;
    // Every subscribed name is answered, even one the client may hold (it may have dropped it
    // and re-subscribed before unsubscribing). On the first request initial_resource_versions
    // say what it holds, so there the ordinary difference decides.
    if (!first) {
      state.forced.insert(name);
    }
    state.reported_absent.erase(name);
  }
  std::vector<std::string> dropped;
  for (const auto& name : request.resource_names_unsubscribe()) {
    if (name == "*") {
      if (state.wildcard) {
        state.wildcard = false;
        changed = true;
        // What came only through the wildcard is of no interest any more.
        for (const auto& [held, h] : holdings_.sent(type_url)) {
          if (!state.names.contains(held)) {
            dropped.push_back(held);
          }
        }
      }
      continue;
    }
    // Superfluous unsubscribes are tolerated (xds.md §1.7).
    if (state.names.erase(name) == 0) {
      continue;
    }
    changed = true;
    state.forced.erase(name);
    state.reported_absent.erase(name);
    if (state.wildcard) {
      // Still covered by the wildcard: the client must hear about it again, as a resource or a
      // removal (xds.md §1.7).
      state.forced.insert(name);
    } else {
      dropped.push_back(name);
    }
  }
  if (!dropped.empty()) {
    holdings_.forget(type_url, dropped);
  }
  if (first && state.wildcard) {
    state.initial_owed = true;
  }
  if (changed || !state.forced.empty()) {
    state.mark_full();
    xds::ordering_moved(types_);
  }
  return changed;
}

void delta_session::set_snapshot(snapshot_ptr snap, const snapshot_diff_ptr& diff) {
  if (snap == snapshot_) {
    return;
  }
  note_snapshot(types_, snapshot_.get(), snap.get(), diff);
  snapshot_ = std::move(snap);
}

void delta_session::open_gate() { gate_open_ = true; }

std::optional<delta_response> delta_session::next_response() {
  if (!gate_open_ || !snapshot_) {
    return std::nullopt;
  }
  return next_in_push_order(
      types_, [this](std::string_view type_url, type_state& state) { return evaluate(type_url, state); });
}

std::vector<std::string> delta_session::subscription(std::string_view type_url) const {
  return subscription_of(types_, type_url);
}

std::string delta_session::last_nonce(std::string_view type_url) const {
  return last_nonce_of(types_, type_url);
}

std::optional<delta_response> delta_session::evaluate(std::string_view type_url,
                                                      type_state& state) {
  const bool full = state.full || state.initial_owed || state.reconnect_barrier
                    || !state.forced.empty();
  state.dirty = false;
  state.full = false;
  const auto candidates = std::move(state.candidates);
  state.candidates.clear();
  if (!full) {
    auto changed = changed_only(type_url, snapshot_->of(type_url), {state.wildcard, &state.names},
                                candidates, holdings_, xds::clusters_settled(types_, holdings_));
    if (changed) {
      if (changed->empty()) {
        return std::nullopt;
      }
      return respond(type_url, state, std::move(*changed), {});
    }
  }
  holdings_.adopt(type_url, snapshot_->of(type_url));
  auto target = xds::desired(snapshot_->of(type_url), state);
  std::set<std::string, std::less<>> clusters;
  if (type_url == listener_type || type_url == route_type) {
    clusters = xds::cluster_target(types_, holdings_, *snapshot_);
  }
  std::set<std::string, std::less<>> keep;
  state.shaped = holdings_.shape(type_url, target, clusters, *snapshot_, &keep);

  const auto& held = holdings_.sent(type_url);
  const auto& owed = type_url == endpoint_type ? holdings_.owed_endpoints()
                                               : std::set<std::string, std::less<>>{};
  std::vector<xds_resource_ptr> to_send;
  for (const auto& [name, r] : target) {
    auto h = held.find(name);
    if (h == held.end() || h->second.version != r->version || state.forced.contains(name)
        || owed.contains(name)) {
      to_send.push_back(r);
    }
  }
  // Route configurations and load assignments are children: Envoy drops them itself when it
  // unsubscribes, which it does only once no active or warming parent uses them. Removing one
  // it is still subscribed to could pull the routes from under a listener that is active while
  // its successor warms (the successor's ACK arrives before its new route configuration), so a
  // subscribed child is never removed from here.
  const bool child_type = type_url == route_type || type_url == endpoint_type;
  std::set<std::string> removed;
  for (const auto& [name, h] : held) {
    if (!target.contains(name) && !keep.contains(name) && !state.reconnect_barrier &&
        !(child_type && !state.wildcard && state.names.contains(name))) {
      removed.insert(name);
    }
  }
  for (const auto& name : state.forced) {
    if (!target.contains(name) && !keep.contains(name)) {
      removed.insert(name);
    }
  }
  for (const auto& name : state.names) {
    // Tell the client once that a name it asked for does not exist (xds.md §1.7). Names it
    // holds were decided above (retained, or removed).
    if (!target.contains(name) && !held.contains(name) && !state.reported_absent.contains(name)) {
      removed.insert(name);
    }
  }
  state.forced.clear();
  if (to_send.empty() && removed.empty() && !state.initial_owed) {
    return std::nullopt;
  }

  return respond(type_url, state, std::move(to_send), {removed.begin(), removed.end()});
}

std::optional<delta_response> delta_session::respond(std::string_view type_url, type_state& state,
                                                     std::vector<xds_resource_ptr> to_send,
                                                     std::vector<std::string> removed) {
  delta_response out;
  out.type_url = std::string(type_url);
  out.nonce = options_.nonce_prefix + std::to_string(++nonce_counter_);
  out.system_version = snapshot_->of(type_url).version;
  out.removed = std::move(removed);
  holdings_.record_sent(type_url, to_send, out.removed, false);
  for (const auto& name : out.removed) {
    if (state.names.contains(name)) {
      state.reported_absent.insert(name);
    }
  }
  state.nonce_names.clear();
  for (const auto& r : to_send) {
    state.nonce_names.push_back(r->name);
    state.reported_absent.erase(r->name);
  }
  out.resources = std::move(to_send);
  state.nonce = out.nonce;
  state.initial_owed = false;
  if (type_url == cluster_type) {
    // Clusters sent may owe load assignments.
    if (auto e = types_.find(endpoint_type); e != types_.end()) {
      e->second.mark_full();
    }
  }
  xds::ordering_moved(types_);
  return out;
}

std::map<std::string, std::string> delta_session::known(std::string_view type_url) const {
  std::map<std::string, std::string> out;
  for (const auto& [name, h] : holdings_.sent(type_url)) {
    out.emplace(name, h.version);
  }
  return out;
}

}  // namespace sluice::xds
