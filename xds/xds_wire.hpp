#pragma once
/// Wire encoding of ADS responses that shares resource payloads between streams.
///
/// A response is written as two parts: a small per-stream header (type URL, version, nonce,
/// delta removals) and a body holding the resources. Protobuf parses a concatenation of two
/// encodings of the same message as their merge (repeated fields append), so header + body is
/// a valid DiscoveryResponse / DeltaDiscoveryResponse. The body depends only on which
/// resources are sent, so it is encoded once per distinct resource list and every stream that
/// sends that list writes the same bytes: a route configuration of a megabyte pushed to a
/// thousand clients is encoded once and held once, not a thousand times (gRPC writes the shared
/// buffer by reference).
///
/// Thread-safe. Memory is bounded: the cache of bodies is dropped when it holds more than
/// `max_bytes` (bodies still being written stay alive through their own references).

#include <grpcpp/support/byte_buffer.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "xds/snapshot.hpp"

namespace sluice::xds {

struct sotw_response;
struct delta_response;

class response_encoder {
 public:
  explicit response_encoder(size_t max_bytes = 16 * 1024 * 1024) : max_bytes_(max_bytes) {}

  /// The wire form of `r` (same bytes as `to_discovery_response(r)` parses to); `size` gets
  /// the encoded length.
  grpc::ByteBuffer encode(const sotw_response& r, size_t& size);
  grpc::ByteBuffer encode(const delta_response& r, size_t& size);

  /// Bodies encoded, and bodies reused from the cache, since construction.
  uint64_t bodies_encoded() const;
  uint64_t bodies_shared() const;

 private:
  using body_ptr = std::shared_ptr<const std::string>;
  struct key {
    bool delta = false;
    std::vector<const xds_resource*> resources;
    bool operator==(const key&) const = default;
  };
  struct key_hash {
    size_t operator()(const key& k) const;
  };
  struct entry {
    std::vector<xds_resource_ptr> pins;  ///< keeps the keys' addresses from being reused
    body_ptr body;
  };

  body_ptr body(bool delta, const std::vector<xds_resource_ptr>& resources);
  static grpc::ByteBuffer assemble(std::string header, const body_ptr& body, size_t& size);

  const size_t max_bytes_;
  mutable std::mutex mu_;
  std::unordered_map<key, entry, key_hash> bodies_;
  size_t bytes_ = 0;
  uint64_t encoded_ = 0;
  uint64_t shared_ = 0;
};

}  // namespace sluice::xds
