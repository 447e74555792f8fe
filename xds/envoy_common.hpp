#pragma once
/// Small building blocks every Envoy translation piece uses: Gloo's resource names, the ADS
/// config source, deterministic Any packing and duration conversion.

#include <google/protobuf/any.pb.h>
#include <google/protobuf/duration.pb.h>
#include <google/protobuf/message.h>

#include <string>
#include <string_view>

#include "envoy/config/core/v3/config_source.pb.h"
#include "model/resource.hpp"

namespace sluice::xds {

/// Gloo's cluster name for an Upstream: "<name>_<namespace>" (GLTR/utils.go
/// UpstreamToClusterName), just the name when the namespace is empty.
inline std::string cluster_name(std::string_view name, std::string_view ns) {
  std::string out(name);
  if (!ns.empty()) {
    out += '_';
    out += ns;
  }
  return out;
}

/// Envoy virtual host name from a Proxy virtual host name: dots become underscores
/// ("ns.name" -> "ns_name", Gloo utils/sanitize.go).
inline std::string envoy_virtual_host_name(std::string_view proxy_name) {
  std::string out(proxy_name);
  for (auto& c : out) {
    if (c == '.') {
      c = '_';
    }
  }
  return out;
}

/// Route configuration name of an HTTP listener: "<listener>-routes" (Gloo utils/names.go).
inline std::string route_config_name(std::string_view listener_name) {
  return std::string(listener_name) + "-routes";
}

/// `{ads: {}, resource_api_version: V3}`: what Envoy and gRPC clients both accept for RDS and EDS.
inline envoy::config::core::v3::ConfigSource ads_config_source() {
  envoy::config::core::v3::ConfigSource source;
  source.mutable_ads();
  source.set_resource_api_version(envoy::config::core::v3::V3);
  return source;
}

/// Packs `message` into an Any with deterministic bytes (Any::PackFrom does not promise that), so
/// equal configurations give equal resource versions.
inline google::protobuf::Any pack(const google::protobuf::Message& message) {
  google::protobuf::Any any;
  any.set_type_url("type.googleapis.com/" + message.GetDescriptor()->full_name());
  any.set_value(model::canonical_bytes(message));
  return any;
}

inline google::protobuf::Duration seconds(int64_t s) {
  google::protobuf::Duration d;
  d.set_seconds(s);
  return d;
}

/// Milliseconds of a duration, for comparisons.
inline int64_t millis(const google::protobuf::Duration& d) {
  return d.seconds() * 1000 + d.nanos() / 1000000;
}

}  // namespace sluice::xds
