#pragma once
/// The gRPC ADS server (port 9977): StreamAggregatedResources (state of the world) for every
/// connected node, serving the snapshot whose key matches the node.
///
/// Thread affinity: publish(), open_gate() and the observers may be called from any thread; the
/// server bridges gRPC's threads with one internal mutex. Each stream's protocol logic lives in
/// the pure class `sotw_session`, so it is unit-testable without gRPC.

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "caf/expected.hpp"
#include "xds/snapshot.hpp"

namespace envoy::config::core::v3 {
class Node;
}

namespace sluice::xds {

/// An ACK or NACK a client sent.
struct client_response {
  std::string node_id;
  std::string key;       ///< snapshot key served to the node
  std::string type_url;
  std::string version;   ///< version_info of the request
  std::string nonce;
  bool nack = false;
  std::string error_message;  ///< error_detail.message of a NACK
};

struct ads_server_options {
  std::string listen = "0.0.0.0:9977";  ///< host:port; port 0 picks a free port
  int max_receive_bytes = 4 * 1024 * 1024;
  int max_streams = 10'000;
};

/// Key of the fallback snapshot for an Envoy whose bootstrap sets no `role` (Gloo's name).
inline constexpr std::string_view misconfigured_node_key = "misconfigured-node";

/// Which snapshot a node gets: `metadata.role` when present (Gloo's key, "namespace~name");
/// otherwise the proxyless snapshot for gRPC clients, or "misconfigured-node" for an Envoy
/// (user_agent_name "envoy") that has no role, as Gloo does.
std::string node_key(const envoy::config::core::v3::Node& node);

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

  /// Live streams whose node is known (their first request was processed and they are bound
  /// to a snapshot key).
  size_t stream_count() const;

  class impl;

 private:
  std::unique_ptr<impl> impl_;
};

}  // namespace sluice::xds
