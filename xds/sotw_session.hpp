#pragma once
/// The state-of-the-world protocol of one ADS stream, without gRPC: what the client subscribed
/// to per type, what it was last sent, which nonce is current, and what to send next.
///
/// The session owns no I/O. The transport feeds it requests (`on_request`), snapshots
/// (`set_snapshot`) and the startup gate (`open_gate`), and pulls responses one at a time with
/// `next_response()` whenever it can write. Building a response only when the transport is ready
/// to write gives "latest wins" for free: a response is always built from the newest snapshot,
/// so a slow client never makes the server queue stale versions.
///
/// Promises (xds.md §1.3–1.6):
///   - responses come out in push order CDS, EDS, LDS, RDS, SDS, and a snapshot change is
///     applied make-before-break (`client_holdings`): routes wait for the clusters they use,
///     clusters leave only after the client acknowledged routes that no longer use them, and
///     an Envoy gets a fresh load assignment after each cluster change;
///   - a type is sent only when what this client would receive differs from what it was last
///     sent, or when the client owes nothing and asked for the first time;
///   - a NACK is recorded and never answered by resending the same content;
///   - a request with a stale nonce updates the subscription but is neither ACK nor NACK;
///   - nothing is sent before the gate opens or before a snapshot exists;
///   - a malformed first node, an unknown type URL or too many names is an error (the
///     transport ends the stream); a known xDS type sluice does not serve is ignored.

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
#include "xds/xds_session_core.hpp"

namespace sluice::xds {

/// A response the session decided to send; the transport renders it with
/// `to_discovery_response`. Resources are shared with the snapshot, not copied.
struct sotw_response {
  std::string type_url;
  std::string version;
  std::string nonce;
  std::vector<xds_resource_ptr> resources;
};

/// The wire form: every resource becomes Any{type_url, bytes}.
envoy::service::discovery::v3::DiscoveryResponse to_discovery_response(const sotw_response& r);

/// How the session classified a request (xds.md §1.3).
enum class request_kind : uint8_t {
  initial,      ///< first request of this type on the stream
  ack,          ///< answers the latest nonce of its type, no error_detail
  nack,         ///< answers the latest nonce of its type, error_detail present
  stale,        ///< carries a nonce that is not the latest of its type
  update,       ///< empty nonce after the first request: a spontaneous subscription change
  unsupported,  ///< a type URL this server does not serve; ignored
};

std::string_view to_string(request_kind kind);

struct request_outcome {
  request_kind kind = request_kind::initial;
  bool subscription_changed = false;
  /// Set for ACKs and NACKs, for the observer and the status of the resources involved.
  std::optional<client_response> response;
};

struct sotw_session_options {
  /// Prepended to every nonce. Must differ between streams so that a nonce a client carries
  /// over from an older stream (Envoy #30155) never matches one of this stream.
  std::string nonce_prefix;
  /// Bound on the names one request may subscribe to for one type (reliability.md §3.2).
  size_t max_names_per_type = 100'000;
};

class sotw_session {
 public:
  explicit sotw_session(sotw_session_options options = {});

  /// Applies one DiscoveryRequest. The node is read from the first request only (later ones may
  /// omit it). Fails with ec::limit_exceeded when a request names too many resources, and with
  /// ec::protocol_error for a malformed first node or an unknown type URL; the transport should
  /// then end the stream.
  [[nodiscard]] caf::expected<request_outcome> on_request(
      const envoy::service::discovery::v3::DiscoveryRequest& request);

  /// Replaces the snapshot served to this stream; types whose version moved are re-evaluated.
  /// `diff`, when it starts from the snapshot the session serves, limits that to the resources
  /// that changed (see xds_session_core.hpp).
  void set_snapshot(snapshot_ptr snap, const snapshot_diff_ptr& diff = nullptr);

  /// The latest snapshots of the key, newest first: a reconnecting client's reported
  /// version_info is looked up there, and what it names seeds what the client holds, so the
  /// make-before-break rules apply across the reconnect (see `client_holdings`).
  void set_history(snapshot_history_ptr history);

  /// From now on responses may be produced.
  void open_gate();

  /// The next response to write, in push order, or nothing when the client is up to date (or
  /// the gate is closed, or no snapshot exists yet). Marks the response as sent.
  [[nodiscard]] std::optional<sotw_response> next_response();

  bool has_node() const { return has_node_; }
  const envoy::config::core::v3::Node& node() const { return node_; }
  /// The snapshot key of the node (`node_key`); empty until the first request.
  const std::string& key() const { return key_; }
  const snapshot_ptr& current_snapshot() const { return snapshot_; }
  bool gate_open() const { return gate_open_; }

  /// The names the stream subscribes to for `type_url` ("*" included when wildcard); empty when
  /// the type was never requested or everything was unsubscribed.
  std::vector<std::string> subscription(std::string_view type_url) const;
  /// The latest nonce sent for a type, "" before the first response.
  std::string last_nonce(std::string_view type_url) const;

 private:
  /// Per type URL: the logical sub-stream of ADS (own subscription, version, nonce, ACK state).
  /// What the client holds of each type lives in `holdings_`.
  struct type_state : type_state_core {
    bool ever_named = false;  ///< once true, an empty name list means "nothing", not wildcard
    std::string version;      ///< latest sent
    std::string names_digest = digest_names({});  ///< of `names`, for the version
    bool resend_all = false;       ///< after a NACK the client's holdings are unknown
    std::string reported_version;  ///< version_info of the first request (a reconnect)
    bool seed_pending = false;     ///< `reported_version` not looked up yet
  };

  /// Looks the type's reported version up in the history and seeds the holdings with what it
  /// names; gives up when the history has no match.
  void try_seed(std::string_view type_url, type_state& state);

  /// Applies `resource_names`; returns whether the subscription changed.
  bool apply_names(type_state& state, std::string_view type_url,
                   const google::protobuf::RepeatedPtrField<std::string>& names);
  std::optional<sotw_response> evaluate(std::string_view type_url, type_state& state);
  /// Builds the response listing `listed`; `changed` (what the client did not hold) is recorded
  /// as sent.
  std::optional<sotw_response> respond(std::string_view type_url, type_state& state,
                                       std::vector<xds_resource_ptr> listed,
                                       const std::vector<xds_resource_ptr>& changed,
                                       std::string version);

  std::string fresh_nonce();

  sotw_session_options options_;
  bool has_node_ = false;
  envoy::config::core::v3::Node node_;
  std::string key_;
  bool envoy_ = false;
  bool gate_open_ = false;
  snapshot_ptr snapshot_;
  snapshot_history_ptr history_;
  /// A reconnect reported versions: retain everything held until the client's first ACK (by
  /// then every first request of the stream has been read, so the holdings are complete).
  bool reconnect_barrier_ = false;
  uint64_t nonce_counter_ = 0;
  type_states<type_state> types_;
  client_holdings holdings_;
};

}  // namespace sluice::xds
