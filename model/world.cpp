#include "model/world.hpp"

namespace sluice::model {

void world::put(stored_resource resource) {
  auto& m = kinds_[static_cast<size_t>(resource.key.kind)];
  ns_name k{resource.key.ns, resource.key.name};
  m.insert_or_assign(std::move(k), std::move(resource));
}

bool world::erase(const resource_key& key) {
  return kinds_[static_cast<size_t>(key.kind)].erase(ns_name{key.ns, key.name}) > 0;
}

const stored_resource* world::find(const resource_key& key) const {
  return find(key.kind, key.ns, key.name);
}

const stored_resource* world::find(resource_kind kind, const std::string& ns,
                                   const std::string& name) const {
  const auto& m = kinds_[static_cast<size_t>(kind)];
  auto i = m.find(ns_name{ns, name});
  return i == m.end() ? nullptr : &i->second;
}

std::string rejection_row_key(std::string_view kind, std::string_view ns, std::string_view name,
                              std::string_view origin) {
  std::string key;
  if (name.empty()) {
    key.append("~rejected-origin/").append(kind).append("/").append(origin);
  } else {
    key.append("~rejected/").append(kind).append("/").append(ns).append("/").append(name);
  }
  return key;
}

void world::clear_rejections(const resource_key& key, const std::string& origin) {
  if (!key.name.empty()) {
    rejected_.erase(key);
  }
  if (!origin.empty()) {
    rejected_origins_.erase(origin_key{key.kind, origin});
  }
}

const rejection* world::rejection_of(const resource_key& key) const {
  auto i = rejected_.find(key);
  return i == rejected_.end() ? nullptr : &i->second;
}

size_t world::size() const {
  size_t n = 0;
  for (const auto& m : kinds_) {
    n += m.size();
  }
  return n;
}

}  // namespace sluice::model
