#pragma once
/// What `sotw_session` and `delta_session` share beyond `client_holdings`: the snapshot change
/// the server computes once per publish, and the "changed resources only" evaluation that lets
/// a session answer an ordinary change in time proportional to what changed, not to the size
/// of the configuration (DESIGN.md promise 2: one VirtualService edit in a large world must not
/// cost every stream a pass over every resource).
///
/// The full evaluation of a type (subscription → target → make-before-break shaping → compare
/// with what the client holds) stays the reference; the fast path applies only when its result
/// provably equals the full one: the type changed only through the snapshot (no subscription
/// change, no first request, NACK or ordering move pending), nothing subscribed vanished (which
/// would bring in the retain rules), and, for listeners and routes, every cluster the client is
/// going to hold is already active (so the hold rule cannot apply).

#include <cstddef>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "caf/error.hpp"
#include "xds/client_holdings.hpp"
#include "xds/snapshot.hpp"

namespace sluice::xds {

/// The names whose resource differs (added, changed or removed) between two snapshots of one
/// key, per type. Immutable and shared by every stream of the key.
struct snapshot_diff {
  const snapshot* from = nullptr;  ///< identity only: the diff applies to a session at `from`
  std::map<std::string, std::vector<std::string>, std::less<>> changed;  ///< by type URL
};
using snapshot_diff_ptr = std::shared_ptr<const snapshot_diff>;

/// The latest snapshots published for a key, newest first (the current one included), so a
/// reconnecting SotW client's reported versions can be recognized. Immutable, shared.
using snapshot_history = std::vector<snapshot_ptr>;
using snapshot_history_ptr = std::shared_ptr<const snapshot_history>;

/// The diff from `from` to `to` (types whose version is equal are skipped).
snapshot_diff_ptr diff_snapshots(const snapshot& from, const snapshot& to);

/// Candidates per type a session accumulates from diffs until it evaluates the type. More than
/// this many, and the full evaluation is as cheap.
inline constexpr size_t max_candidates = 256;

using name_set = std::set<std::string, std::less<>>;

/// The subscription of one type, as the fast path needs it.
struct subscription_view {
  bool wildcard = false;
  const name_set* names = nullptr;
};

/// The fast path for one type: `candidates` are the names that changed in the snapshot since
/// the type was last evaluated. Returns the resources to send (possibly none), in name order,
/// or nothing when the full evaluation is needed. `clusters_settled` says that every cluster
/// the client is going to hold is active (see the file comment).
std::optional<std::vector<xds_resource_ptr>> changed_only(std::string_view type_url,
                                                          const typed_resources& available,
                                                          const subscription_view& subscription,
                                                          const name_set& candidates,
                                                          const client_holdings& holdings,
                                                          bool clusters_settled);

/// Version of a SotW response that lists the subscribed resources of a type without any
/// make-before-break adjustment: the type's version for a wildcard subscription, otherwise a
/// hash of the type's version and the subscribed names (`names_digest`), so it differs per
/// subscription and changes whenever the type does.
std::string subscription_version(const typed_resources& available, bool wildcard,
                                 const std::string& names_digest);

/// Digest of a set of names (for `subscription_version`).
std::string digest_names(const name_set& names);

// ---- per-type bookkeeping both sessions share ---------------------------------------------------

/// What both protocols track per type URL (ADS multiplexes one logical stream per type).
struct type_state_core {
  bool requested = false;
  bool wildcard = false;
  name_set names;                        ///< explicit subscriptions
  std::string nonce;                     ///< latest sent
  std::vector<std::string> nonce_names;  ///< resources in the latest response, for NACKs
  bool dirty = false;                    ///< subscription or snapshot moved: evaluate again
  bool full = true;                      ///< evaluate everything, not only `candidates`
  name_set candidates;        ///< names changed by snapshot diffs since the last evaluation
  bool initial_owed = false;  ///< the first request must be answered even when nothing differs
  bool shaped = false;        ///< holds or retention applied: re-evaluate when others move

  /// Something other than the snapshot moved: evaluate the whole type again.
  void mark_full() {
    dirty = true;
    full = true;
  }
};

template <class State>
using type_states = std::map<std::string, State, std::less<>>;
using resource_target = std::map<std::string, xds_resource_ptr, std::less<>>;

/// The error for a type URL that is not an xDS v3 resource type.
caf::error unknown_type_error(const std::string& node_id, const std::string& type_url);

/// The snapshot resources of a type that a subscription covers (the wildcard, and named
/// resources that exist; names that do not exist yet are sent when they appear).
resource_target desired(const typed_resources& available, const type_state_core& state);

/// The snapshot served moves from `current` to `next`: marks the types whose version moved, with
/// the diff's names as candidates when `diff` starts at `current`, and re-evaluates shaped types.
template <class State>
void note_snapshot(type_states<State>& types, const snapshot* current, const snapshot* next,
                   const snapshot_diff_ptr& diff) {
  const bool related = diff && current && diff->from == current;
  for (auto& [type_url, state] : types) {
    if (state.shaped) {
      state.mark_full();
    }
    if (current && next && current->of(type_url).version == next->of(type_url).version) {
      continue;
    }
    state.dirty = true;
    auto changed = related ? diff->changed.find(type_url) : diff->changed.end();
    if (!related || changed == diff->changed.end()
        || state.candidates.size() + changed->second.size() > max_candidates) {
      state.full = true;
    } else if (!state.full) {
      state.candidates.insert(changed->second.begin(), changed->second.end());
    }
  }
}

/// Something the ordering rules depend on moved: re-evaluate the types they shaped.
template <class State>
void ordering_moved(type_states<State>& types) {
  for (auto& [type_url, state] : types) {
    if (state.shaped) {
      state.mark_full();
    }
  }
}

/// Every cluster the client is going to hold is active, so no hold can apply.
template <class State>
bool clusters_settled(const type_states<State>& types, const client_holdings& holdings) {
  auto i = types.find(cluster_type);
  if (i == types.end() || !i->second.requested) {
    return true;  // no cluster target: nothing to wait for
  }
  return !i->second.dirty && !i->second.shaped && holdings.clusters_warm();
}

/// The clusters the client is going to hold: its shaped CDS target.
template <class State>
name_set cluster_target(const type_states<State>& types, client_holdings& holdings,
                        const snapshot& snap) {
  name_set out;
  auto i = types.find(cluster_type);
  if (i == types.end() || !i->second.requested) {
    return out;
  }
  auto target = desired(snap.of(cluster_type), i->second);
  holdings.shape(cluster_type, target, out, snap);
  for (const auto& [name, r] : target) {
    out.insert(name);
  }
  return out;
}

/// The first response `evaluate(type_url, state)` yields, walking the types in push order.
template <class State, class Evaluate>
auto next_in_push_order(type_states<State>& types, Evaluate&& evaluate)
    -> decltype(evaluate(std::string_view{}, std::declval<State&>())) {
  for (std::string_view type_url : push_order) {
    auto i = types.find(type_url);
    if (i == types.end()) {
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

/// The names a stream subscribes to for a type ("*" first when wildcard).
template <class State>
std::vector<std::string> subscription_of(const type_states<State>& types,
                                         std::string_view type_url) {
  std::vector<std::string> out;
  auto i = types.find(type_url);
  if (i == types.end()) {
    return out;
  }
  if (i->second.wildcard) {
    out.emplace_back("*");
  }
  out.insert(out.end(), i->second.names.begin(), i->second.names.end());
  return out;
}

/// The latest nonce sent for a type, "" before the first response.
template <class State>
std::string last_nonce_of(const type_states<State>& types, std::string_view type_url) {
  auto i = types.find(type_url);
  return i == types.end() ? std::string{} : i->second.nonce;
}

}  // namespace sluice::xds
