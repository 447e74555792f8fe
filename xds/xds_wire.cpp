#include "xds/xds_wire.hpp"

#include <grpcpp/support/slice.h>

#include <utility>

#include "envoy/service/discovery/v3/discovery.pb.h"
#include "xds/delta_session.hpp"
#include "xds/sotw_session.hpp"

namespace sluice::xds {

namespace {

void release_body(void* user_data) {
  delete static_cast<std::shared_ptr<const std::string>*>(user_data);
}

}  // namespace

size_t response_encoder::key_hash::operator()(const key& k) const {
  size_t h = k.delta ? 0x9e3779b97f4a7c15ULL : 0;
  for (const auto* p : k.resources) {
    h ^= std::hash<const void*>{}(p) + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
  }
  return h;
}

response_encoder::body_ptr response_encoder::body(bool delta,
                                                  const std::vector<xds_resource_ptr>& resources) {
  if (resources.empty()) {
    return nullptr;
  }
  key k{delta, {}};
  k.resources.reserve(resources.size());
  for (const auto& r : resources) {
    k.resources.push_back(r.get());
  }
  {
    std::lock_guard lock(mu_);
    if (auto i = bodies_.find(k); i != bodies_.end()) {
      ++shared_;
      return i->second.body;
    }
  }
  // Encode outside the lock: a megabyte route configuration must not stall other streams. Two
  // streams racing on the same list both encode; the second keeps the first's entry.
  std::string bytes;
  if (delta) {
    envoy::service::discovery::v3::DeltaDiscoveryResponse m;
    m.mutable_resources()->Reserve(static_cast<int>(resources.size()));
    for (const auto& r : resources) {
      auto* wire = m.add_resources();
      wire->set_name(r->name);
      wire->set_version(r->version);
      wire->mutable_resource()->set_type_url(r->type_url);
      wire->mutable_resource()->set_value(r->bytes);
    }
    m.SerializeToString(&bytes);
  } else {
    envoy::service::discovery::v3::DiscoveryResponse m;
    m.mutable_resources()->Reserve(static_cast<int>(resources.size()));
    for (const auto& r : resources) {
      auto* any = m.add_resources();
      any->set_type_url(r->type_url);
      any->set_value(r->bytes);
    }
    m.SerializeToString(&bytes);
  }
  auto encoded = std::make_shared<const std::string>(std::move(bytes));
  std::lock_guard lock(mu_);
  ++encoded_;
  if (bytes_ + encoded->size() > max_bytes_) {
    bodies_.clear();
    bytes_ = 0;
  }
  auto [i, inserted] = bodies_.try_emplace(std::move(k), entry{resources, encoded});
  if (inserted) {
    bytes_ += encoded->size();
  }
  return i->second.body;
}

grpc::ByteBuffer response_encoder::assemble(std::string header, const body_ptr& body,
                                            size_t& size) {
  size = header.size() + (body ? body->size() : 0);
  grpc::Slice parts[2] = {grpc::Slice(header), grpc::Slice()};
  if (!body) {
    return grpc::ByteBuffer(parts, 1);
  }
  // The slice refers to the shared body; gRPC releases its reference when the write is done.
  parts[1] = grpc::Slice(const_cast<char*>(body->data()), body->size(), &release_body,
                         new std::shared_ptr<const std::string>(body));
  return grpc::ByteBuffer(parts, 2);
}

grpc::ByteBuffer response_encoder::encode(const sotw_response& r, size_t& size) {
  envoy::service::discovery::v3::DiscoveryResponse header;
  header.set_type_url(r.type_url);
  header.set_version_info(r.version);
  header.set_nonce(r.nonce);
  return assemble(header.SerializeAsString(), body(false, r.resources), size);
}

grpc::ByteBuffer response_encoder::encode(const delta_response& r, size_t& size) {
  envoy::service::discovery::v3::DeltaDiscoveryResponse header;
  header.set_type_url(r.type_url);
  header.set_nonce(r.nonce);
  header.set_system_version_info(r.system_version);
  for (const auto& name : r.removed) {
    header.add_removed_resources(name);
  }
  return assemble(header.SerializeAsString(), body(true, r.resources), size);
}

uint64_t response_encoder::bodies_encoded() const {
  std::lock_guard lock(mu_);
  return encoded_;
}

uint64_t response_encoder::bodies_shared() const {
  std::lock_guard lock(mu_);
  return shared_;
}

}  // namespace sluice::xds
