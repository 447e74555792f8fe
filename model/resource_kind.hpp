#pragma once
/// The Gloo resource kinds sluice reads, with their API group, version, plural (the directory and
/// CRD name) and the protobuf message that holds them.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace google::protobuf {
class Descriptor;
class Message;
}  // namespace google::protobuf

namespace sluice::model {

enum class resource_kind : uint8_t {
  gateway,
  virtual_service,
  route_table,
  upstream,
  upstream_group,
  settings,
  proxy,
  secret,
  artifact,
  endpoint,
  auth_config,
  virtual_host_option,
  route_option,
  /// A Kubernetes Service (core/v1, not a Gloo kind): kube Upstreams are checked against it.
  service,
};

/// How many kinds there are (the enum is dense, starting at 0).
inline constexpr size_t resource_kind_count = 14;

struct kind_info {
  resource_kind kind;
  std::string_view name;        ///< Kind as written in YAML: "VirtualService"
  std::string_view plural;      ///< CRD plural and directory name: "virtualservices"
  std::string_view short_name;  ///< kubectl short name: "vs"
  std::string_view group;       ///< "gateway.solo.io"; empty for the Kubernetes core group
  std::string_view version;     ///< "v1"
  bool has_status;  ///< Secrets, Artifacts, Endpoints and Services carry no status
  const google::protobuf::Descriptor* descriptor;
};

/// Every kind, in a stable order (the enum order).
std::span<const kind_info> all_kinds();

const kind_info& info(resource_kind kind);

inline std::string_view name_of(resource_kind kind) { return info(kind).name; }

/// "group/version", or the version alone for the Kubernetes core group ("v1").
std::string api_version_of(resource_kind kind);

/// Whether the kind is one of Gloo's custom resources (a CRD in Kubernetes). Secrets, Artifacts
/// (ConfigMaps) and Services are core Kubernetes objects; Endpoints live only in memory.
bool is_custom_resource(resource_kind kind);

/// Accepts the kind name, plural or short name, case-insensitively ("vs", "VirtualService").
std::optional<resource_kind> parse_kind(std::string_view text);

/// A fresh, empty message of the kind's type.
std::unique_ptr<google::protobuf::Message> new_message(resource_kind kind);

}  // namespace sluice::model
