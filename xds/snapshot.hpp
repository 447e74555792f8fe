#pragma once
/// The unit the xDS server serves: for one node key (a Gloo role such as
/// "gloo-system~gateway-proxy", or the proxyless key), the Envoy resources of every type, each
/// already serialized deterministically and versioned by content hash.
///
/// Snapshots are immutable and shared between the translator that built them, the xDS actor and
/// every stream that serves them. Successive snapshots of one key share what did not change: a
/// type's resources live in a resource_map, whose copies share storage in chunks and copy a
/// chunk only when one of them writes to it, so publishing a snapshot after one change costs
/// the change, not the size of the snapshot.
///
/// Versions are content hashes, the same in every process for the same content (a restart or a
/// replica serves the same versions):
///  - a resource's version hashes its top-level wire fields one by one and folds the field
///    hashes in order (resource_version), so a RouteConfiguration assembled from cached
///    serialized virtual hosts is versioned from their cached hashes (resource_hasher);
///  - a type's version is an order-independent sum over its members' (name, version) hashes
///    (members_version), kept per chunk, so sealing a type after one change costs that change.

#include <cstddef>
#include <cstdint>
#include <iterator>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sluice::xds {

inline constexpr std::string_view listener_type =
    "type.googleapis.com/envoy.config.listener.v3.Listener";
inline constexpr std::string_view route_type =
    "type.googleapis.com/envoy.config.route.v3.RouteConfiguration";
inline constexpr std::string_view cluster_type =
    "type.googleapis.com/envoy.config.cluster.v3.Cluster";
inline constexpr std::string_view endpoint_type =
    "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment";
inline constexpr std::string_view secret_type =
    "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret";

/// The push order of the design: CDS, EDS, LDS, RDS (make before break).
inline constexpr std::string_view push_order[] = {cluster_type, endpoint_type, listener_type,
                                                  route_type, secret_type};

/// Key of the snapshot served to proxyless gRPC clients (nodes without a `role`).
inline constexpr std::string_view proxyless_key = "proxyless";

/// One Envoy resource, serialized.
struct xds_resource {
  std::string name;
  std::string type_url;
  std::string bytes;    ///< deterministic serialization of the typed message
  std::string version;  ///< resource_version(bytes)
};
using xds_resource_ptr = std::shared_ptr<const xds_resource>;

// --- content hashes -----------------------------------------------------------------------------

/// A fast 64-bit hash of bytes (the wyhash construction: 64x64->128 multiply-fold over 48-byte
/// stripes, little-endian reads), the same on every machine.
[[nodiscard]] uint64_t bytes_hash(std::string_view bytes, uint64_t seed = 0);

/// The hash of one top-level protobuf field: `key` is its tag (field number << 3 | wire type),
/// `payload` what follows the tag (and, for length-delimited fields, the length).
[[nodiscard]] uint64_t field_hash(uint64_t key, std::string_view payload);

/// Folds field hashes in wire order into a resource version.
class resource_hasher {
 public:
  void add(uint64_t field_hash);
  /// The version (16 hex digits); `total_bytes` is the size of the serialized resource.
  [[nodiscard]] std::string finish(size_t total_bytes) const;

 private:
  uint64_t state_ = 0x243f6a8885a308d3ULL;
  uint64_t fields_ = 0;
};

/// The version of a serialized resource: its top-level fields through resource_hasher (bytes
/// that are not a well-formed field sequence are hashed whole, under another seed).
[[nodiscard]] std::string resource_version(std::string_view bytes);

// --- the resources of one type ------------------------------------------------------------------

/// A sorted map from resource name to resource, with the interface of the std::map it replaces
/// (find, at, operator[], erase, iteration in name order), whose copies share storage: entries
/// live in chunks of about 64, a copy shares every chunk, and a write copies only the chunk it
/// touches (copy on write, decided by ownership counts, so a copy never sees another's writes).
/// Each chunk keeps the sum of its members' hashes once computed, so members_version after a
/// change re-hashes only the chunks that changed.
///
/// Like a std::map, one object must not be written while another thread uses it; distinct
/// objects that share chunks may be used from different threads freely.
class resource_map {
 public:
  using key_type = std::string;
  using mapped_type = xds_resource_ptr;
  using value_type = std::pair<std::string, xds_resource_ptr>;
  using size_type = size_t;

 private:
  struct chunk {
    std::vector<value_type> entries;  ///< sorted by name, never empty in a table
    uint64_t sum_a = 0;               ///< member hash sums, valid when `summed`
    uint64_t sum_b = 0;
    bool summed = false;
  };
  using chunk_ptr = std::shared_ptr<chunk>;
  struct table {
    std::vector<chunk_ptr> chunks;
    size_t size = 0;
  };

 public:
  class const_iterator {
   public:
    using iterator_category = std::forward_iterator_tag;
    using value_type = resource_map::value_type;
    using difference_type = std::ptrdiff_t;
    using pointer = const value_type*;
    using reference = const value_type&;

    const_iterator() = default;
    reference operator*() const { return (*chunks_)[chunk_]->entries[entry_]; }
    pointer operator->() const { return &**this; }
    const_iterator& operator++() {
      if (++entry_ == (*chunks_)[chunk_]->entries.size()) {
        ++chunk_;
        entry_ = 0;
      }
      return *this;
    }
    const_iterator operator++(int) {
      auto old = *this;
      ++*this;
      return old;
    }
    friend bool operator==(const const_iterator& a, const const_iterator& b) {
      return a.chunk_ == b.chunk_ && a.entry_ == b.entry_;
    }

   private:
    friend class resource_map;
    const_iterator(const std::vector<chunk_ptr>* chunks, size_t c, size_t e)
        : chunks_(chunks), chunk_(c), entry_(e) {}
    const std::vector<chunk_ptr>* chunks_ = nullptr;
    size_t chunk_ = 0;
    size_t entry_ = 0;
  };
  using iterator = const_iterator;

  [[nodiscard]] size_t size() const { return table_ ? table_->size : 0; }
  [[nodiscard]] bool empty() const { return size() == 0; }
  const_iterator begin() const { return {&chunks(), 0, 0}; }
  const_iterator end() const { return {&chunks(), chunks().size(), 0}; }

  const_iterator find(std::string_view name) const;
  size_t count(std::string_view name) const { return find(name) == end() ? 0 : 1; }
  bool contains(std::string_view name) const { return find(name) != end(); }
  /// As std::map::at: the resource named `name`; throws std::out_of_range when there is none.
  const xds_resource_ptr& at(std::string_view name) const;

  /// As std::map::operator[]: the slot for `name`, inserted empty when missing.
  xds_resource_ptr& operator[](std::string_view name);
  void insert_or_assign(std::string_view name, xds_resource_ptr resource);
  /// Erases `name`; returns how many were erased (0 or 1).
  size_t erase(std::string_view name);
  void clear() { table_.reset(); }

  /// The order-independent hash of every (name, version) member, as two 64-bit sums.
  [[nodiscard]] std::pair<uint64_t, uint64_t> member_sums();

  /// True when both hold the same entries (same names, same resource pointers).
  friend bool operator==(const resource_map& a, const resource_map& b);

 private:
  const std::vector<chunk_ptr>& chunks() const;
  /// Where `name` is or would go: chunk index and entry index (chunk == chunks().size() when
  /// the map is empty).
  std::pair<size_t, size_t> locate(std::string_view name) const;
  table& own_table();
  chunk& own_chunk(table& t, size_t c);

  std::shared_ptr<table> table_;
};

/// The hash a member contributes to its type's version (two independent halves).
[[nodiscard]] std::pair<uint64_t, uint64_t> member_hash(std::string_view name,
                                                        std::string_view version);

/// A type version from member sums and the member count; "" when there are no members.
[[nodiscard]] std::string members_version(std::pair<uint64_t, uint64_t> sums, size_t count);

/// The type version of a set of resources (what seal() computes for a type holding exactly
/// these): for a subscription that names some resources of a type.
[[nodiscard]] std::string members_version(const std::vector<xds_resource_ptr>& resources);

/// All resources of one type in a snapshot.
struct typed_resources {
  std::string version;  ///< members_version of `items`; "" when empty
  resource_map items;
};

struct snapshot {
  std::string key;           ///< role or proxyless_key
  uint64_t watermark = 0;    ///< highest event seq reflected
  std::map<std::string, typed_resources, std::less<>> types;  ///< by type URL

  /// The resources of one type, or an empty set.
  const typed_resources& of(std::string_view type_url) const;
};
using snapshot_ptr = std::shared_ptr<const snapshot>;

/// Builds `typed_resources::version` for every type from the member versions.
void seal(snapshot& snap);

/// Seals one type: its version from its members (cost proportional to the chunks changed
/// since it was last sealed).
void seal(typed_resources& set);

/// Serializes `message` deterministically into an xds_resource.
template <class Message>
xds_resource_ptr make_resource(std::string name, std::string_view type_url,
                               const Message& message);

}  // namespace sluice::xds

#include "xds/snapshot_inl.hpp"
