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

#include "model/resource.hpp"
#include "model/resource_kind.hpp"

namespace sluice::model {

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

  /// Highest log sequence number applied.
  uint64_t watermark() const { return watermark_; }
  void set_watermark(uint64_t seq) { watermark_ = seq; }

 private:
  std::array<kind_map, resource_kind_count> kinds_;
  uint64_t watermark_ = 0;
};

}  // namespace sluice::model
