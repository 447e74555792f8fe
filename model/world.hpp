#pragma once
/// The current accepted state of every input resource, as the world actor holds it.
///
/// Owned by exactly one actor; others get immutable copies (`std::shared_ptr<const world>`).
/// Lookups are by kind, then namespace and name, in a stable (sorted) order so that everything
/// derived from a world is deterministic.

#include <array>
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "model/resource.hpp"
#include "model/resource_kind.hpp"

namespace sluice::model {

/// Why the newest input of a resource (or of a whole origin) is not what is served: it failed to
/// decode or validate ("ingest"), or translation refused it and the last clean form was put back
/// ("translation"). The resource keeps its last accepted form and reports Rejected.
struct rejection {
  uint64_t seq = 0;  ///< the event that rejected
  std::vector<std::string> errors;
  std::string stage;
  std::string origin;
  std::string refused{};  ///< translation only: the refused form (canonical bytes), retried later
  bool operator==(const rejection&) const = default;
};

inline constexpr const char* rejection_stage_ingest = "ingest";
inline constexpr const char* rejection_stage_translation = "translation";

/// The state-row key of a rejection: "~rejected/<kind>/<ns>/<name>" for a resource,
/// "~rejected-origin/<kind>/<origin>" when `name` is empty (the input did not decode far enough
/// to name anything). '~' sorts after every kind name, so resource rows come first.
std::string rejection_row_key(std::string_view kind, std::string_view ns, std::string_view name,
                              std::string_view origin);

class world {
 public:
  using ns_name = std::pair<std::string, std::string>;
  using kind_map = std::map<ns_name, stored_resource>;

  /// Inserts or replaces.
  void put(stored_resource resource);

  /// Removes; returns false when it was not there.
  bool erase(const resource_key& key);

  const stored_resource* find(const resource_key& key) const;
  const stored_resource* find(resource_kind kind, const std::string& ns,
                              const std::string& name) const;

  /// The typed message, or nullptr when absent.
  template <class T>
  const T* get(resource_kind kind, const std::string& ns, const std::string& name) const {
    const auto* r = find(kind, ns, name);
    return r ? static_cast<const T*>(r->message.get()) : nullptr;
  }

  /// Every resource of a kind, sorted by namespace then name.
  const kind_map& of(resource_kind kind) const { return kinds_[static_cast<size_t>(kind)]; }

  size_t size() const;

  /// Rejections of resources' newest input, by resource; and of whole origins (inputs that
  /// named nothing), by (kind, origin). Translation ignores them; statuses report them.
  using origin_key = std::pair<resource_kind, std::string>;
  void set_rejection(const resource_key& key, rejection r) { rejected_[key] = std::move(r); }
  void set_origin_rejection(resource_kind kind, const std::string& origin, rejection r) {
    rejected_origins_[origin_key{kind, origin}] = std::move(r);
  }
  /// Clears the rejection of `key` and of its `origin` (an accepted change or a delete).
  void clear_rejections(const resource_key& key, const std::string& origin);
  const rejection* rejection_of(const resource_key& key) const;
  const std::map<resource_key, rejection>& rejections() const { return rejected_; }
  const std::map<origin_key, rejection>& origin_rejections() const { return rejected_origins_; }

  /// Highest log sequence number applied.
  uint64_t watermark() const { return watermark_; }
  void set_watermark(uint64_t seq) { watermark_ = seq; }

 private:
  std::array<kind_map, resource_kind_count> kinds_;
  std::map<resource_key, rejection> rejected_;
  std::map<origin_key, rejection> rejected_origins_;
  uint64_t watermark_ = 0;
};

}  // namespace sluice::model
