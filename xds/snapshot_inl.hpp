#pragma once
#include "model/resource.hpp"

namespace sluice::xds {

template <class Message>
xds_resource_ptr make_resource(std::string name, std::string_view type_url,
                               const Message& message) {
  auto r = std::make_shared<xds_resource>();
  r->name = std::move(name);
  r->type_url = std::string(type_url);
  r->bytes = model::canonical_bytes(message);
  r->version = resource_version(r->bytes);
  return r;
}

}  // namespace sluice::xds
