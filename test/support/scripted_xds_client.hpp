#pragma once
/// An ADS client over real gRPC, for tests and the xDS benchmark, in state-of-the-world or delta
/// mode. It plays the client side of the protocol the way Envoy and gRPC do (node on the first
/// request only, ACK with the response's version and nonce, NACK with the last accepted version
/// and error_detail, subscription changes carrying the latest nonce, delta subscribe/unsubscribe
/// lists and initial_resource_versions on reconnect), records every response, and checks what
/// it holds:
///
///  - `consistency_errors()`: the held state now (every cluster a route names exists, every EDS
///    cluster has a load assignment, every RDS name a listener uses exists, no duplicate names).
///  - `state::violations`: for an Envoy-like client (user agent "envoy"), after *every* applied
///    response, the state Envoy would be serving traffic from: clusters and listeners warm as in
///    Envoy (an EDS cluster is active only after a load assignment for it arrived after the
///    cluster; a listener only once its route configurations are held; a changed one keeps
///    serving its old version meanwhile), and no active listener or route configuration may use
///    a route configuration or cluster that is not active. A make-before-break violation anywhere
///    in a run shows up here, not just in the final state.
///
/// Owns one channel, one ADS stream at a time and a reader thread. Every public method is
/// thread-safe.

#include <google/protobuf/any.pb.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "envoy/service/discovery/v3/discovery.pb.h"

namespace grpc {
class Channel;
class ClientContext;
template <class W, class R>
class ClientReaderWriter;
}  // namespace grpc

namespace sluice::test {

struct scripted_xds_client_options {
  std::string node_id = "scripted-client";
  std::string node_cluster = "scripted";
  /// node.metadata.role; unset means no role at all (proxyless or misconfigured).
  std::optional<std::string> role;
  std::string user_agent_name = "envoy";
  /// Behave like Envoy: after accepting listeners, subscribe to the RDS names they use; after
  /// accepting clusters, subscribe to the EDS names of EDS clusters. Like Envoy, the
  /// subscription change goes out before the ACK of the response that caused it.
  bool follow_references = false;
  /// Use DeltaAggregatedResources instead of StreamAggregatedResources.
  bool delta = false;
  /// Check the Envoy model after every response (only for user agent "envoy").
  bool check_every_step = true;
  /// Keep every response in `state::responses` / `delta_responses` (the benchmark turns this
  /// off to keep memory flat; counters and held state are kept either way).
  bool record_responses = true;
  /// For load generation (the xDS benchmark): names are read from the first field of the
  /// payload without decoding it, only listeners and clusters keep their payload (to follow
  /// references), no Envoy-model checks and no response records. `holds`-style comparisons of
  /// route or endpoint payloads are then impossible.
  bool light = false;
};

class scripted_xds_client {
 public:
  using discovery_request = envoy::service::discovery::v3::DiscoveryRequest;
  using discovery_response = envoy::service::discovery::v3::DiscoveryResponse;
  using delta_request = envoy::service::discovery::v3::DeltaDiscoveryRequest;
  using delta_response = envoy::service::discovery::v3::DeltaDiscoveryResponse;
  /// Returns an error message to NACK a response, or nothing to ACK it.
  using nack_oracle = std::function<std::optional<std::string>(const discovery_response&)>;
  using delta_nack_oracle = std::function<std::optional<std::string>(const delta_response&)>;
  /// Mode-independent oracle: sees the type and the resources of any response.
  using resource_nack_oracle = std::function<std::optional<std::string>(
      const std::string& type_url, const std::vector<google::protobuf::Any>& resources)>;

  struct received {
    discovery_response response;
    bool nacked = false;
    std::string nack_message;
  };
  struct received_delta {
    delta_response response;
    bool nacked = false;
    std::string nack_message;
  };

  /// Everything the client knows, for predicates and assertions.
  struct state {
    std::vector<received> responses;              ///< SotW, in arrival order
    std::vector<received_delta> delta_responses;  ///< delta, in arrival order
    /// type URL -> name -> resource, as accepted (full-state types replaced, others merged).
    std::map<std::string, std::map<std::string, google::protobuf::Any>> held;
    std::map<std::string, std::string> accepted_version;  ///< SotW, by type URL
    /// Delta: type URL -> name -> version the client holds (what it reports on reconnect).
    std::map<std::string, std::map<std::string, std::string>> resource_versions;
    std::map<std::string, std::string> last_nonce;  ///< by type URL, this stream
    /// Wire-level problems seen in responses (duplicate names, undecodable resources).
    std::vector<std::string> protocol_errors;
    /// Envoy-model consistency problems seen after any response (see the file comment).
    std::vector<std::string> violations;
    size_t response_count = 0;             ///< responses of either mode, all streams
    std::map<std::string, size_t> counts;  ///< responses by type URL, all streams
    size_t nack_count = 0;
    uint64_t bytes_received = 0;  ///< serialized response bytes, all streams
    size_t streams = 0;           ///< streams opened (1 + reconnects)
    bool stream_ended = false;
    int end_code = 0;  ///< grpc::StatusCode once the stream ended
    std::string end_message;

    /// SotW responses of one type, in arrival order.
    std::vector<const received*> of(std::string_view type_url) const;
    /// Delta responses of one type, in arrival order.
    std::vector<const received_delta*> delta_of(std::string_view type_url) const;
    /// Responses of one type in either mode.
    size_t count(std::string_view type_url) const;
    /// Names held for a type.
    std::set<std::string> names(std::string_view type_url) const;
    /// The version last accepted for a type (SotW), "" if none.
    std::string version(std::string_view type_url) const;
  };

  explicit scripted_xds_client(scripted_xds_client_options options = {});
  ~scripted_xds_client();
  scripted_xds_client(const scripted_xds_client&) = delete;
  scripted_xds_client& operator=(const scripted_xds_client&) = delete;

  /// Opens the ADS stream to 127.0.0.1:`port`; sends nothing yet. False if already connected.
  bool connect(int port);

  /// Ends the current stream and opens a new one to `port` (the same or a restarted server),
  /// keeping what the client holds, and re-sends every subscription as Envoy does: SotW with
  /// the last accepted version and no nonce, delta with initial_resource_versions.
  void reconnect(int port);

  /// Sets the subscription of a type and sends it. SotW: names empty = legacy wildcard for
  /// LDS/CDS, or "unsubscribe all" after names were given; "*" = explicit wildcard. Delta: the
  /// difference to the previous subscription goes out as subscribe/unsubscribe lists; the first
  /// request of a type with no names is the legacy wildcard.
  void subscribe(std::string_view type_url, std::vector<std::string> names = {});

  /// Sends a request as given (node is added if it is the first request). For protocol tests:
  /// stale nonces, odd versions.
  void send(discovery_request request);
  void send_delta(delta_request request);

  /// Decides ACK or NACK for every later response; default ACKs everything.
  void set_nack_oracle(nack_oracle oracle);
  void set_delta_nack_oracle(delta_nack_oracle oracle);
  void set_resource_nack_oracle(resource_nack_oracle oracle);

  /// Waits up to `bound` for `predicate(state)` to hold; true if it did.
  bool wait_for(const std::function<bool(const state&)>& predicate,
                std::chrono::milliseconds bound = std::chrono::seconds(10));

  /// A copy of the current state.
  state current() const;

  /// Consistency problems in what the client holds (empty when consistent), plus any protocol
  /// errors seen. References into a type are only checked once that type was subscribed.
  std::vector<std::string> consistency_errors() const;

  /// Envoy-model violations seen so far (a copy of state::violations).
  std::vector<std::string> violations() const;

  /// The subscription of a type as the client last sent it.
  std::vector<std::string> subscription(std::string_view type_url) const;

  /// Cancels the stream and joins the reader; idempotent.
  void close();

 private:
  /// What Envoy would be serving from (see the file comment).
  struct envoy_model {
    std::map<std::string, google::protobuf::Any> active_clusters, warming_clusters;
    std::map<std::string, google::protobuf::Any> active_listeners, warming_listeners;
  };

  /// Opens channel and stream; `start_reader` then starts reading responses.
  void open(int port);
  void start_reader();
  void read_loop_sotw();
  void read_loop_delta();
  void write(const discovery_request& request);
  void write_delta(const delta_request& request);
  /// With `write_mu_` held.
  void write_locked(const discovery_request& request);
  void write_delta_locked(const delta_request& request);
  /// Builds the SotW request for a type from the current subscription; `mu_` held.
  discovery_request request_for_locked(const std::string& type_url);
  /// The delta request moving a type's subscription to `names`; `mu_` held. Nothing when the
  /// subscription does not change (and the type was requested on this stream).
  std::optional<delta_request> delta_change_locked(const std::string& type_url,
                                                   std::vector<std::string> names);
  /// Envoy-like follow-up subscriptions (RDS names of listeners, EDS names of clusters) after
  /// accepting a response; `mu_` held.
  std::vector<discovery_request> follow_locked();
  std::vector<delta_request> follow_delta_locked();
  /// The references a client follows from what it holds; `mu_` held.
  std::vector<std::string> wanted_children_locked(const std::string& type_url) const;
  /// Decodes and checks a response's resources; returns a NACK message for protocol errors.
  std::optional<std::string> decode_locked(
      const std::string& type_url,
      const std::vector<std::pair<std::string, const google::protobuf::Any*>>& named,
      std::map<std::string, google::protobuf::Any>& decoded);
  std::optional<std::string> ask_oracles_locked(
      const std::string& type_url, const std::map<std::string, google::protobuf::Any>& decoded,
      const discovery_response* sotw, const delta_response* delta);
  /// Applies an accepted response to the Envoy model and records violations; `mu_` held.
  void model_apply_locked(const std::string& type_url,
                          const std::map<std::string, google::protobuf::Any>& upserts,
                          const std::vector<std::string>& removed, bool replace,
                          const std::string& step);
  void model_check_locked(const std::string& step);
  /// Drops held resources the client no longer subscribes to (Envoy forgets them); `mu_` held.
  void drop_unsubscribed_locked(const std::string& type_url);
  bool envoy_like() const { return options_.user_agent_name == "envoy"; }

  const scripted_xds_client_options options_;

  mutable std::mutex mu_;
  std::condition_variable changed_;
  state state_;
  envoy_model model_;
  std::map<std::string, std::vector<std::string>> subscriptions_;  ///< by type URL
  std::set<std::string> requested_;          ///< types requested on the current stream
  std::vector<std::string> ever_requested_;  ///< types ever requested, in first-request order
  nack_oracle oracle_;
  delta_nack_oracle delta_oracle_;
  resource_nack_oracle resource_oracle_;

  /// One writer at a time on the stream; taken before `mu_` when both are needed.
  std::mutex write_mu_;
  bool node_sent_ = false;
  bool writes_closed_ = false;
  int port_ = 0;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<grpc::ClientContext> context_;
  std::unique_ptr<grpc::ClientReaderWriter<discovery_request, discovery_response>> stream_;
  std::unique_ptr<grpc::ClientReaderWriter<delta_request, delta_response>> delta_stream_;
  std::thread reader_;
};

}  // namespace sluice::test
