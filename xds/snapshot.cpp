#include "xds/snapshot.hpp"

#include "model/resource.hpp"

namespace sluice::xds {

const typed_resources& snapshot::of(std::string_view type_url) const {
  static const typed_resources empty;
  auto i = types.find(type_url);
  return i == types.end() ? empty : i->second;
}

void seal(snapshot& snap) {
  for (auto& [type, set] : snap.types) {
    if (set.items.empty()) {
      set.version.clear();
      continue;
    }
    std::string acc;
    for (const auto& [name, res] : set.items) {
      acc += name;
      acc += '\0';
      acc += res->version;
      acc += '\0';
    }
    set.version = model::hash_hex(model::content_hash(acc));
  }
}

}  // namespace sluice::xds
