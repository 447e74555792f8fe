#pragma once
/// The gRPC ADS server (port 9977): StreamAggregatedResources (state of the world) and
/// DeltaAggregatedResources (incremental) for every connected node, serving the snapshot whose
/// key matches the node.
///
/// Thread affinity: publish(), open_gate(), metrics() and the observers may be called from any
/// thread; the server bridges gRPC's threads with one internal mutex. Each stream's protocol
/// logic lives in a pure class (`sotw_session`, `delta_session`), so it is unit-testable
/// without gRPC; both share the startup gate, the push order CDS → EDS → LDS → RDS, the
/// make-before-break rules of `client_holdings`, the limits below and the ACK/NACK observer.
///
/// Limits (reliability.md §3.2): received messages are capped (`max_receive_bytes`), streams
/// are capped per server and per connection, a request may name at most `max_names_per_request`
/// resources of one type, each stream has at most one response in flight and builds the next
/// one from the newest snapshot when the previous write completed (latest wins: a slow client
/// gets the newest state, never a queue), and a stream that does not drain a response (or never
/// sends its first request) within `stall_timeout` is cancelled. Malformed requests end the
/// stream with a gRPC error; the server and every other stream carry on.

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "caf/error.hpp"
#include "caf/expected.hpp"
#include "xds/snapshot.hpp"

namespace envoy::config::core::v3 {
class Node;
}

namespace sluice::xds {

/// An ACK or NACK a client sent.
struct client_response {
  std::string node_id;
  std::string key;  ///< snapshot key served to the node
  std::string type_url;
  std::string version;  ///< version_info of the request (SotW); "" for delta
  std::string nonce;
  bool nack = false;
  std::string error_message;  ///< error_detail.message of a NACK
  bool delta = false;         ///< came over DeltaAggregatedResources
  /// Names of the resources in the response this answers (for a NACK: the rejected content,
  /// so statuses can point at the Gloo resources that produced it). Delta removals excluded.
  std::vector<std::string> resource_names;
};

/// The last stream of a client (node id) for a snapshot key closed: what it answered no longer
/// describes anything a connected client holds.
struct client_gone {
  std::string node_id;
  std::string key;
};

struct ads_server_options {
  std::string listen = "0.0.0.0:9977";  ///< host:port; port 0 picks a free port
  int max_receive_bytes = 4 * 1024 * 1024;
  int max_streams = 10'000;
  /// HTTP/2 streams one connection may open (an xDS client uses one).
  int max_streams_per_connection = 100;
  /// Names one request may carry for one type (SotW resource_names; delta subscribe list and
  /// initial_resource_versions), and names one delta stream may subscribe to per type.
  size_t max_names_per_request = 50'000;
  /// A stream whose pending response is not drained, or that sends no first request, within
  /// this long is cancelled. Zero disables the check.
  std::chrono::milliseconds stall_timeout{60'000};
  /// HTTP/2 keepalive pings to notice dead peers (reliability.md §1.6).
  std::chrono::milliseconds keepalive_time{30'000};
  std::chrono::milliseconds keepalive_timeout{10'000};
  /// Snapshots remembered per key (the current one included), so that a SotW client that
  /// reconnects after changes can be recognized by the versions it reports and routes are
  /// kept make-before-break across the reconnect. Shared resources are not duplicated.
  size_t snapshot_history = 8;
  /// Bound on the cache of encoded response bodies shared between streams (a body is worth
  /// keeping only while the streams of a change are still writing it).
  size_t response_cache_bytes = 16 * 1024 * 1024;
};

/// Counters since start (monotonic) and live gauges, for the metrics port.
struct ads_metrics {
  uint64_t streams_opened = 0;   ///< accepted streams, SotW and delta
  uint64_t streams_refused = 0;  ///< refused: max_streams reached or shutting down
  uint64_t streams_stalled = 0;  ///< cancelled by stall_timeout
  uint64_t bad_requests = 0;     ///< streams ended for a malformed or over-limit request
  size_t sotw_streams = 0;       ///< live SotW streams
  size_t delta_streams = 0;      ///< live delta streams
  uint64_t acks = 0;
  uint64_t nacks = 0;
  std::map<std::string, uint64_t> nacks_by_type;  ///< by type URL
  uint64_t sotw_responses = 0;
  uint64_t sotw_bytes = 0;  ///< serialized DiscoveryResponse bytes written
  uint64_t delta_responses = 0;
  uint64_t delta_bytes = 0;  ///< serialized DeltaDiscoveryResponse bytes written
};

/// Key of the fallback snapshot for an Envoy whose bootstrap sets no `role` (Gloo's name).
inline constexpr std::string_view misconfigured_node_key = "misconfigured-node";

/// Which snapshot a node gets: `metadata.role` when present (Gloo's key, "namespace~name");
/// otherwise the proxyless snapshot for gRPC clients, or "misconfigured-node" for an Envoy
/// (user_agent_name "envoy") that has no role, as Gloo does.
std::string node_key(const envoy::config::core::v3::Node& node);

/// Checks the node of a stream's first request: an id must be present, `metadata.role`, when
/// present, must be a string, and identifying fields are bounded. Returns an ec::protocol_error
/// that tells the operator what to fix, or an empty error.
[[nodiscard]] caf::error check_node(const envoy::config::core::v3::Node& node);

/// How the server treats a request's type URL.
enum class type_support : uint8_t {
  served,    ///< LDS, RDS, CDS, EDS, SDS
  unserved,  ///< a real v3 xDS type sluice does not produce (VHDS, SRDS, RTDS, ECDS, LEDS): ignored
  unknown,   ///< anything else: the stream ends with INVALID_ARGUMENT
};
type_support classify_type(std::string_view type_url);

class ads_server {
 public:
  explicit ads_server(ads_server_options options);
  ~ads_server();
  ads_server(const ads_server&) = delete;
  ads_server& operator=(const ads_server&) = delete;

  /// Binds and starts serving; returns the bound port.
  [[nodiscard]] caf::expected<int> start();

  /// Cancels all streams and shuts down; idempotent.
  void stop();

  /// Replaces the snapshot for `snap->key` and pushes what changed to every stream of that key.
  void publish(snapshot_ptr snap);

  /// Until the gate opens (log replayed, every source synced), requests are held and nothing is
  /// sent, so no client ever sees an empty or partial configuration after a restart.
  void open_gate();

  /// Called (from a gRPC thread) for every ACK and NACK.
  void on_client_response(std::function<void(const client_response&)> observer);

  /// Called (from a gRPC thread) when the last stream of a node for a key closes.
  void on_client_gone(std::function<void(const client_gone&)> observer);

  /// Live streams whose node is known (their first request was processed and they are bound
  /// to a snapshot key), SotW and delta.
  size_t stream_count() const;

  /// Counters and gauges (NACKs in total and per type, streams, bytes written).
  ads_metrics metrics() const;

  class impl;

 private:
  std::unique_ptr<impl> impl_;
};

}  // namespace sluice::xds
