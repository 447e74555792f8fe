#pragma once
/// A lean Envoy-like ADS client for the xDS benchmark, in SotW or delta mode: wildcard CDS and
/// LDS, follows the EDS names of its clusters and the RDS names of its listeners (subscription
/// change before the ACK, as Envoy), ACKs every response, and on reconnect re-sends its
/// subscriptions with the versions it holds (SotW version_info, delta
/// initial_resource_versions). It keeps names and versions only, never payloads of routes or
/// endpoints, so a thousand of them fit in one process. The protocol-checking client for tests
/// is test/support/scripted_xds_client.
///
/// Owns one channel, one stream at a time and a reader thread. Thread-safe.

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "envoy/service/discovery/v3/discovery.pb.h"

namespace grpc {
class Channel;
class ClientContext;
template <class W, class R>
class ClientReaderWriter;
}  // namespace grpc

namespace sluice::bench {

struct load_client_options {
  std::string node_id;
  std::string role;  ///< node.metadata.role
  bool delta = false;
};

class xds_load_client {
 public:
  explicit xds_load_client(load_client_options options);
  ~xds_load_client();
  xds_load_client(const xds_load_client&) = delete;
  xds_load_client& operator=(const xds_load_client&) = delete;

  /// Opens a stream to 127.0.0.1:`port` and subscribes (or re-subscribes) to everything.
  void connect(int port);
  /// Ends the stream (if any) and connects again, keeping what it holds.
  void reconnect(int port);
  /// Cancels the stream and joins the reader; idempotent.
  void close();

  uint64_t bytes_received() const { return bytes_.load(std::memory_order_relaxed); }
  uint64_t responses() const { return responses_.load(std::memory_order_relaxed); }

 private:
  using sotw_request = envoy::service::discovery::v3::DiscoveryRequest;
  using sotw_response = envoy::service::discovery::v3::DiscoveryResponse;
  using delta_request = envoy::service::discovery::v3::DeltaDiscoveryRequest;
  using delta_response = envoy::service::discovery::v3::DeltaDiscoveryResponse;

  struct type_state {
    std::set<std::string> names;                  ///< subscription (empty for the wildcard types)
    bool requested = false;                       ///< on this stream
    std::string nonce;                            ///< latest received on this stream
    std::string version;                          ///< SotW: last accepted
    std::map<std::string, std::string> versions;  ///< delta: name -> version held
  };

  void read_sotw();
  void read_delta();
  /// Children wanted after a parent changed: (child type, names). `mu_` held.
  std::vector<std::pair<std::string, std::set<std::string>>> wanted_children_locked() const;
  sotw_request sotw_for_locked(const std::string& type);
  /// The first delta request of a type, or the change to `names`; nothing if no change.
  bool delta_for_locked(const std::string& type, const std::set<std::string>& names,
                        delta_request& out);
  void write_sotw(sotw_request r);
  void write_delta(delta_request r);
  void add_node(envoy::config::core::v3::Node* node);

  const load_client_options options_;
  std::mutex mu_;
  std::map<std::string, type_state> types_;
  std::map<std::string, std::string> cluster_eds_;             ///< cluster -> EDS name
  std::map<std::string, std::set<std::string>> listener_rds_;  ///< listener -> RDS names
  std::atomic<uint64_t> bytes_{0};
  std::atomic<uint64_t> responses_{0};

  std::mutex write_mu_;
  bool node_sent_ = false;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<grpc::ClientContext> context_;
  std::unique_ptr<grpc::ClientReaderWriter<sotw_request, sotw_response>> sotw_;
  std::unique_ptr<grpc::ClientReaderWriter<delta_request, delta_response>> delta_;
  std::thread reader_;
};

}  // namespace sluice::bench
