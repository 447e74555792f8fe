#pragma once
/// The unit the xDS server serves: for one node key (a Gloo role such as
/// "gloo-system~gateway-proxy", or the proxyless key), the Envoy resources of every type, each
/// already serialized deterministically and versioned by content hash.
///
/// Snapshots are immutable and shared between the translator that built them, the xDS actor and
/// every stream that serves them.

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
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
  std::string version;  ///< hash of `bytes`, hex
};
using xds_resource_ptr = std::shared_ptr<const xds_resource>;

/// All resources of one type in a snapshot.
struct typed_resources {
  std::string version;  ///< hash over (name, version) of every member; "" when empty
  std::map<std::string, xds_resource_ptr, std::less<>> items;
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

/// Serializes `message` deterministically into an xds_resource.
template <class Message>
xds_resource_ptr make_resource(std::string name, std::string_view type_url,
                               const Message& message);

}  // namespace sluice::xds

#include "xds/snapshot_inl.hpp"
