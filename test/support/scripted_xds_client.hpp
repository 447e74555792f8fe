#pragma once
/// A state-of-the-world ADS client over real gRPC, for tests: it plays the client side of the
/// protocol the way Envoy and gRPC do (node on the first request only, ACK with the response's
/// version and nonce, NACK with the last accepted version and error_detail, subscription changes
/// carrying the latest nonce), records every response, and checks that what it holds is
/// consistent (every cluster a route names exists, every EDS cluster has a load assignment, every
/// RDS name a listener uses exists, no duplicate names in a response).
///
/// Owns one channel, one ADS stream and a reader thread. Every public method is thread-safe.

#include <google/protobuf/any.pb.h>

#include <chrono>
#include <condition_variable>
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
  /// accepting clusters, subscribe to the EDS names of EDS clusters.
  bool follow_references = false;
};

class scripted_xds_client {
 public:
  using discovery_request = envoy::service::discovery::v3::DiscoveryRequest;
  using discovery_response = envoy::service::discovery::v3::DiscoveryResponse;
  /// Returns an error message to NACK a response, or nothing to ACK it.
  using nack_oracle = std::function<std::optional<std::string>(const discovery_response&)>;

  struct received {
    discovery_response response;
    bool nacked = false;
    std::string nack_message;
  };

  /// Everything the client knows, for predicates and assertions.
  struct state {
    std::vector<received> responses;  ///< in arrival order
    /// type URL -> name -> resource, as accepted (full-state types replaced, others merged).
    std::map<std::string, std::map<std::string, google::protobuf::Any>> held;
    std::map<std::string, std::string> accepted_version;  ///< by type URL
    std::map<std::string, std::string> last_nonce;        ///< by type URL
    /// Wire-level problems seen in responses (duplicate names, undecodable resources).
    std::vector<std::string> protocol_errors;
    bool stream_ended = false;
    int end_code = 0;  ///< grpc::StatusCode once the stream ended
    std::string end_message;

    /// Responses of one type, in arrival order.
    std::vector<const received*> of(std::string_view type_url) const;
    size_t count(std::string_view type_url) const { return of(type_url).size(); }
    /// Names held for a type.
    std::set<std::string> names(std::string_view type_url) const;
    /// The version last accepted for a type, "" if none.
    std::string version(std::string_view type_url) const;
  };

  explicit scripted_xds_client(scripted_xds_client_options options = {});
  ~scripted_xds_client();
  scripted_xds_client(const scripted_xds_client&) = delete;
  scripted_xds_client& operator=(const scripted_xds_client&) = delete;

  /// Opens the ADS stream to 127.0.0.1:`port`; sends nothing yet. False if already connected.
  bool connect(int port);

  /// Sets the subscription of a type and sends it (names empty = legacy wildcard for LDS/CDS,
  /// or "unsubscribe all" after names were given; "*" = explicit wildcard).
  void subscribe(std::string_view type_url, std::vector<std::string> names = {});

  /// Sends a request as given (node is added if it is the first request). For protocol tests:
  /// stale nonces, odd versions.
  void send(discovery_request request);

  /// Decides ACK or NACK for every later response; default ACKs everything.
  void set_nack_oracle(nack_oracle oracle);

  /// Waits up to `bound` for `predicate(state)` to hold; true if it did.
  bool wait_for(const std::function<bool(const state&)>& predicate,
                std::chrono::milliseconds bound = std::chrono::seconds(10));

  /// A copy of the current state.
  state current() const;

  /// Consistency problems in what the client holds (empty when consistent), plus any protocol
  /// errors seen. References into a type are only checked once that type was subscribed.
  std::vector<std::string> consistency_errors() const;

  /// Cancels the stream and joins the reader; idempotent.
  void close();

 private:
  void read_loop();
  void write(const discovery_request& request);
  /// Builds the request for a type from the current subscription; `mu_` held.
  discovery_request request_for_locked(const std::string& type_url);
  /// Envoy-like follow-up subscriptions after accepting listeners or clusters; `mu_` held.
  std::vector<discovery_request> follow_locked(const std::string& type_url);

  const scripted_xds_client_options options_;

  mutable std::mutex mu_;
  std::condition_variable changed_;
  state state_;
  std::map<std::string, std::vector<std::string>> subscriptions_;  ///< by type URL
  nack_oracle oracle_;
  bool node_sent_ = false;

  std::mutex write_mu_;  ///< one writer at a time on the stream
  bool writes_closed_ = false;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<grpc::ClientContext> context_;
  std::unique_ptr<grpc::ClientReaderWriter<discovery_request, discovery_response>> stream_;
  std::thread reader_;
};

}  // namespace sluice::test
