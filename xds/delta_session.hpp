#pragma once
/// The incremental (delta) xDS protocol of one ADS stream, without gRPC: per type, what the
/// client subscribes to (names, wildcard), which version of each resource it holds, which nonce
/// is current, and what to send next.
///
/// Like `sotw_session`, it owns no I/O: the transport feeds requests (`on_request`), snapshots
/// (`set_snapshot`) and the gate (`open_gate`) and pulls one response at a time with
/// `next_response()` when it can write, so every response is built from the newest snapshot.
///
/// Promises (xds.md §1.7, reliability.md §1.6):
///   - only resources whose version differs from what the client holds are sent, each with its
///     own version (the content hash, so equal across restarts and replicas);
///   - a name in `resource_names_subscribe` is always answered, even when the client may
///     already hold it: with the resource, or in `removed_resources` if it does not exist;
///     explicitly subscribed names that do not exist are reported once, and again only after
///     they existed in between;
///   - a resource the client holds that vanished (or stopped being covered by its wildcard) is
///     sent in `removed_resources`;
///   - wildcard: "*" in the subscribe list, or the legacy first request with both lists empty;
///     unsubscribing "*" ends it; a wildcard subscription is answered on its first request even
///     when there is nothing to send;
///   - on reconnect, `initial_resource_versions` of the type's first request seed what the
///     client holds: unchanged resources are not sent again, known names that are gone are
///     removed, once the client acknowledged its first response of the type (until then the
///     server cannot know which of them its routes still use; see `reconnect_barrier`);
///   - subscription changes apply whatever the nonce (stale or empty); only a request carrying
///     the latest nonce of its type is an ACK or a NACK (NACK iff error_detail);
///   - a NACK is recorded and never answered by resending the same content;
///   - push order CDS, EDS, LDS, RDS, SDS, and make-before-break across snapshot changes, by the
///     same `client_holdings` rules as SotW (routes wait for their clusters, clusters and their
///     load assignments leave only after nothing the client holds uses them, Envoy gets a fresh
///     load assignment after each cluster change);
///   - nothing is sent before the gate opens or before a snapshot exists.

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "caf/expected.hpp"
#include "envoy/config/core/v3/base.pb.h"
#include "envoy/service/discovery/v3/discovery.pb.h"
#include "xds/ads_server.hpp"
#include "xds/client_holdings.hpp"
#include "xds/snapshot.hpp"
#include "xds/sotw_session.hpp"
#include "xds/xds_session_core.hpp"

namespace sluice::xds {

/// A delta response the session decided to send. Resources are shared with the snapshot.
struct delta_response {
  std::string type_url;
  std::string nonce;
  std::string system_version;  ///< the snapshot's type version; for debugging only (xds.md §1.7)
  std::vector<xds_resource_ptr> resources;
  std::vector<std::string> removed;
};

/// The wire form: every resource becomes Resource{name, version, Any{type_url, bytes}}.
envoy::service::discovery::v3::DeltaDiscoveryResponse to_delta_discovery_response(
    const delta_response& r);

struct delta_session_options {
  /// Prepended to every nonce; must differ between streams (Envoy #15767 reused delta nonces).
  std::string nonce_prefix;
  /// Bound on names per request (subscribe list, initial_resource_versions) and on the names
  /// one stream subscribes to per type (reliability.md §3.2).
  size_t max_names_per_type = 100'000;
};

class delta_session {
 public:
  explicit delta_session(delta_session_options options = {});

  /// Applies one DeltaDiscoveryRequest (see the promises above). Fails with
  /// ec::limit_exceeded or ec::protocol_error (malformed first node, unknown type URL); the
  /// transport should then end the stream.
  [[nodiscard]] caf::expected<request_outcome> on_request(
      const envoy::service::discovery::v3::DeltaDiscoveryRequest& request);

  /// Replaces the snapshot served to this stream; types whose version moved are re-evaluated.
  /// `diff`, when it starts from the snapshot the session serves, limits that to the resources
  /// that changed (see xds_session_core.hpp).
  void set_snapshot(snapshot_ptr snap, const snapshot_diff_ptr& diff = nullptr);

  /// From now on responses may be produced.
  void open_gate();

  /// The next response to write, in push order, or nothing when the client is up to date (or
  /// the gate is closed, or no snapshot exists yet). Marks the response as sent.
  [[nodiscard]] std::optional<delta_response> next_response();

  bool has_node() const { return has_node_; }
  const envoy::config::core::v3::Node& node() const { return node_; }
  const std::string& key() const { return key_; }
  const snapshot_ptr& current_snapshot() const { return snapshot_; }
  bool gate_open() const { return gate_open_; }

  /// The names the stream subscribes to for `type_url` ("*" first when wildcard).
  std::vector<std::string> subscription(std::string_view type_url) const;
  /// The latest nonce sent for a type, "" before the first response.
  std::string last_nonce(std::string_view type_url) const;
  /// What the session believes the client holds of a type: name → version.
  std::map<std::string, std::string> known(std::string_view type_url) const;

 private:
  /// `initial_owed`: the first wildcard request is answered even when empty.
  struct type_state : type_state_core {
    name_set forced;           ///< must be answered (newly subscribed)
    name_set reported_absent;  ///< told "does not exist"
    /// Reconnected with initial_resource_versions: removals of held names wait for the first
    /// ACK of this type, by which time the client's other first requests (what routes it
    /// holds) have been read, since a client sends them all before it answers anything.
    bool reconnect_barrier = false;
  };

  /// Applies subscribe/unsubscribe lists; returns whether the subscription changed.
  bool apply_subscriptions(type_state& state, std::string_view type_url,
                           const envoy::service::discovery::v3::DeltaDiscoveryRequest& request,
                           bool first);
  std::optional<delta_response> evaluate(std::string_view type_url, type_state& state);
  std::optional<delta_response> respond(std::string_view type_url, type_state& state,
                                        std::vector<xds_resource_ptr> to_send,
                                        std::vector<std::string> removed);

  bool eds_wanted(std::string_view name) const;

  delta_session_options options_;
  bool has_node_ = false;
  envoy::config::core::v3::Node node_;
  std::string key_;
  bool gate_open_ = false;
  snapshot_ptr snapshot_;
  uint64_t nonce_counter_ = 0;
  type_states<type_state> types_;
  client_holdings holdings_;
};

}  // namespace sluice::xds
