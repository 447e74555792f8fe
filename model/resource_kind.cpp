#include "model/resource_kind.hpp"

#include <algorithm>
#include <array>
#include <cctype>

#include "kube/core.pb.h"
#include "solo/enterprise.pb.h"
#include "solo/gateway.pb.h"
#include "solo/gloo.pb.h"

namespace sluice::model {
namespace {

const std::array<kind_info, resource_kind_count>& table() {
  static const std::array<kind_info, resource_kind_count> kinds = {{
      {resource_kind::gateway, "Gateway", "gateways", "gw", "gateway.solo.io", "v1", true,
       ::gateway::solo::io::Gateway::descriptor()},
      {resource_kind::virtual_service, "VirtualService", "virtualservices", "vs",
       "gateway.solo.io", "v1", true, ::gateway::solo::io::VirtualService::descriptor()},
      {resource_kind::route_table, "RouteTable", "routetables", "rt", "gateway.solo.io", "v1",
       true, ::gateway::solo::io::RouteTable::descriptor()},
      {resource_kind::upstream, "Upstream", "upstreams", "us", "gloo.solo.io", "v1", true,
       ::gloo::solo::io::Upstream::descriptor()},
      {resource_kind::upstream_group, "UpstreamGroup", "upstreamgroups", "ug", "gloo.solo.io",
       "v1", true, ::gloo::solo::io::UpstreamGroup::descriptor()},
      {resource_kind::settings, "Settings", "settings", "st", "gloo.solo.io", "v1", true,
       ::gloo::solo::io::Settings::descriptor()},
      {resource_kind::proxy, "Proxy", "proxies", "px", "gloo.solo.io", "v1", true,
       ::gloo::solo::io::Proxy::descriptor()},
      {resource_kind::secret, "Secret", "secrets", "sec", "gloo.solo.io", "v1", false,
       ::gloo::solo::io::Secret::descriptor()},
      {resource_kind::artifact, "Artifact", "artifacts", "art", "gloo.solo.io", "v1", false,
       ::gloo::solo::io::Artifact::descriptor()},
      {resource_kind::endpoint, "Endpoint", "endpoints", "ep", "gloo.solo.io", "v1", false,
       ::gloo::solo::io::Endpoint::descriptor()},
      {resource_kind::auth_config, "AuthConfig", "authconfigs", "ac", "enterprise.gloo.solo.io",
       "v1", true, ::enterprise::gloo::solo::io::AuthConfig::descriptor()},
      {resource_kind::virtual_host_option, "VirtualHostOption", "virtualhostoptions", "vhopts",
       "gateway.solo.io", "v1", true, ::gateway::solo::io::VirtualHostOption::descriptor()},
      {resource_kind::route_option, "RouteOption", "routeoptions", "rtopts", "gateway.solo.io",
       "v1", true, ::gateway::solo::io::RouteOption::descriptor()},
      {resource_kind::service, "Service", "services", "svc", "", "v1", false,
       ::kube::core::v1::Service::descriptor()},
  }};
  return kinds;
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x))
                  == std::tolower(static_cast<unsigned char>(y));
         });
}

}  // namespace

std::span<const kind_info> all_kinds() { return table(); }

const kind_info& info(resource_kind kind) { return table()[static_cast<size_t>(kind)]; }

std::string api_version_of(resource_kind kind) {
  const auto& k = info(kind);
  return k.group.empty() ? std::string(k.version)
                         : std::string(k.group) + "/" + std::string(k.version);
}

bool is_custom_resource(resource_kind kind) {
  return kind != resource_kind::secret && kind != resource_kind::artifact
         && kind != resource_kind::endpoint && kind != resource_kind::service;
}

std::optional<resource_kind> parse_kind(std::string_view text) {
  for (const auto& k : table()) {
    if (iequals(text, k.name) || iequals(text, k.plural) || iequals(text, k.short_name)) {
      return k.kind;
    }
  }
  // Singular lower-case forms such as "virtualservice" or "upstreamgroup".
  for (const auto& k : table()) {
    std::string lower(k.name);
    if (iequals(text, lower)) {
      return k.kind;
    }
  }
  return std::nullopt;
}

std::unique_ptr<google::protobuf::Message> new_message(resource_kind kind) {
  const auto* prototype =
      google::protobuf::MessageFactory::generated_factory()->GetPrototype(info(kind).descriptor);
  return std::unique_ptr<google::protobuf::Message>(prototype->New());
}

}  // namespace sluice::model
