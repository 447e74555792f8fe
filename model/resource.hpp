#pragma once
/// Identity and storage form of one Gloo resource inside sluice.

#include <compare>
#include <cstdint>
#include <memory>
#include <string>

#include "model/resource_kind.hpp"

namespace google::protobuf {
class Message;
}

namespace sluice::model {

/// kind + namespace + name: the identity of a resource everywhere (log, world, statuses).
struct resource_key {
  resource_kind kind{};
  std::string ns;
  std::string name;

  auto operator<=>(const resource_key&) const = default;
  bool operator==(const resource_key&) const = default;

  /// "VirtualService gloo-system.default": Gloo writes refs as namespace.name in messages.
  std::string to_string() const;
};

/// Resources are immutable once decoded; they travel as shared pointers to const.
using resource_ptr = std::shared_ptr<const google::protobuf::Message>;

/// One accepted resource as the world holds it.
struct stored_resource {
  resource_key key;
  resource_ptr message;
  uint64_t content_hash = 0;  ///< hash of the canonical bytes
  uint64_t seq = 0;           ///< log sequence number of the event that set it
  std::string origin;         ///< file path or API path it came from
};

/// Deterministic serialization: equal messages give equal bytes (map entries sorted).
std::string canonical_bytes(const google::protobuf::Message& message);

/// 64-bit content hash (FNV-1a) of bytes; stable across processes and machines.
uint64_t content_hash(std::string_view bytes);

/// The hash rendered as 16 lower-case hex digits, used as an xDS version string.
std::string hash_hex(uint64_t hash);

}  // namespace sluice::model
