#pragma once
/// Which derived pieces read which inputs: the world's dependency index (DESIGN.md
/// "Translation: incremental by construction").
///
/// A piece (a virtual host, a cluster, a listener...) is an opaque id chosen by its owner. When
/// it is computed, its owner records everything it read:
///  - resources by identity, whether they existed or not (a route to a missing Upstream is
///    re-evaluated when that Upstream appears);
///  - label selections: every resource of a kind in selected namespaces whose labels match (a new
///    RouteTable with matching labels reaches the VirtualServices that select it);
///  - reverse references: every resource of a kind that names a given resource (the Endpoints of
///    an Upstream);
///  - whole kinds, for reads that are cheaper to over-approximate than to track.
///
/// `affected` answers, for one changed resource (its form before and after, either absent), the
/// pieces whose reads it may change. It over-approximates, never under-approximates: a piece not
/// returned is guaranteed to compute the same result. Plain data, no locking; one owner.

#include <google/protobuf/map.h>
#include <google/protobuf/repeated_field.h>

#include <cstdint>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "model/resource.hpp"
#include "solo/gateway.pb.h"

namespace google::protobuf {
class Message;
}

namespace sluice::model {

using piece_id = uint64_t;

/// A label selection (Kubernetes semantics, see model/selector.hpp).
struct selector_read {
  resource_kind kind{};
  /// "*" selects all namespaces; a non-empty list its members; an empty list `owner_namespace`,
  /// or every namespace when `empty_means_all`.
  google::protobuf::RepeatedPtrField<std::string> namespaces;
  std::string owner_namespace;
  bool empty_means_all = false;
  google::protobuf::Map<std::string, std::string> labels;
  google::protobuf::RepeatedPtrField<::gateway::solo::io::Expression> expressions;

  /// Whether a resource of `kind` in `ns` with `labels` may be selected (malformed expressions
  /// count as a match: the reader must look again).
  [[nodiscard]] bool may_select(const std::string& ns,
                                const google::protobuf::Map<std::string, std::string>& l) const;
};

/// "Every resource of `kind` that names `target`" (see references_of).
struct reference_read {
  resource_kind kind{};
  resource_key target;
};

/// Everything one piece read while it was computed.
struct piece_reads {
  std::vector<resource_key> keys;
  std::vector<selector_read> selectors;
  std::vector<reference_read> references;
  std::vector<resource_kind> kinds;
};

/// The resources `message` (of `kind`, stored in namespace `ns`) names in a way readers look up
/// in reverse: an Endpoint's Upstreams (a ref without namespace means the Endpoint's).
[[nodiscard]] std::vector<resource_key> references_of(resource_kind kind, const std::string& ns,
                                                      const google::protobuf::Message& message);

/// The labels of any Gloo resource (its metadata), or an empty map.
[[nodiscard]] const google::protobuf::Map<std::string, std::string>& labels_of(
    const google::protobuf::Message& message);

class dependency_index {
 public:
  /// Replaces what `piece` read.
  void record(piece_id piece, piece_reads reads);

  /// Drops `piece` (it no longer exists).
  void forget(piece_id piece);

  /// Appends to `out` every piece whose reads include `key` changing from `before` to `after`
  /// (nullptr: absent). May append a piece more than once.
  void affected(const resource_key& key, const google::protobuf::Message* before,
                const google::protobuf::Message* after, std::vector<piece_id>& out) const;

  /// What `piece` read, or nullptr when nothing is recorded.
  const piece_reads* reads_of(piece_id piece) const;

  size_t pieces() const { return reads_.size(); }

 private:
  struct key_hash {
    size_t operator()(const resource_key& k) const noexcept;
  };
  using piece_set = std::unordered_set<piece_id>;
  /// The readers of one key: a few, usually; a vector costs one allocation where a hash set
  /// costs a bucket array and a node each. A multiset: a piece that read the key twice is in
  /// it twice, and unindexing removes as many.
  using piece_list = std::vector<piece_id>;

  void index(piece_id piece, const piece_reads& reads);
  void unindex(piece_id piece, const piece_reads& reads);

  std::unordered_map<piece_id, piece_reads> reads_;
  std::unordered_map<resource_key, piece_list, key_hash> by_key_;
  /// (kind of the referencing resource, target) -> readers.
  std::unordered_map<resource_key, piece_list, key_hash> by_reference_[16];
  std::unordered_map<piece_id, size_t> selector_count_[16];  ///< readers with selectors, per kind
  piece_set by_kind_[16];
};

}  // namespace sluice::model
