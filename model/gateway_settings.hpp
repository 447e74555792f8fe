#pragma once
/// The fields of Gloo's Settings resource that change translation (reference gloo.md §1.8), read
/// once per translation from the world, plus helpers for the option fields sluice keeps as
/// google.protobuf.Struct (Settings.extauth, gateway.validation, hybridGateway matchers...).
///
/// A Settings field with the wrong shape is not fatal: it is ignored, the default applies, and a
/// warning on the Settings resource says which field and why.

#include <google/protobuf/duration.pb.h>
#include <google/protobuf/struct.pb.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "model/resource.hpp"
#include "model/translation_report.hpp"
#include "model/world.hpp"
#include "solo/gloo.pb.h"

namespace sluice::model {

/// Where Gloo finds its Settings by default: `--namespace` (gloo-system) and `--name` (default).
inline constexpr std::string_view default_settings_namespace = "gloo-system";
inline constexpr std::string_view default_settings_name = "default";

/// Gloo's default body of a replaced invalid route (settings.proto invalidRouteResponseBody).
inline constexpr std::string_view gloo_invalid_route_body =
    "Gloo Gateway has invalid configuration. Administrators should run `glooctl check` to find "
    "and fix config errors.";

struct translation_settings {
  resource_key key;  ///< the Settings resource these came from

  // --- gateway translation -------------------------------------------------------------------
  std::string discovery_namespace;  ///< "" when unset
  bool read_gateways_from_all_namespaces = false;
  bool translate_empty_gateways = false;
  /// gateway.validation.warnMissingTlsSecret (Gloo's Helm default true).
  std::optional<bool> warn_missing_tls_secret;
  /// gateway.isolateVirtualHostsBySslConfig.
  bool isolate_virtual_hosts_by_ssl_config = false;
  /// gateway.virtualServiceOptions.oneWayTls: the default for sslConfigs that leave it unset.
  std::optional<bool> one_way_tls;

  // --- Envoy translation -----------------------------------------------------------------------
  /// gloo.invalidConfigPolicy.
  bool replace_invalid_routes = false;
  uint32_t invalid_route_response_code = 0;  ///< 0 = unset (Gloo's default is 404)
  std::string invalid_route_response_body;
  /// gloo.regexMaxProgramSize.
  std::optional<uint32_t> regex_max_program_size;
  /// gloo.circuitBreakers: for Upstreams that set none.
  std::optional<::gloo::solo::io::CircuitBreakerConfig> circuit_breakers;
  /// extauth.extauthzServerRef and the ext_authz filter settings that go with it.
  std::optional<resource_key> ext_auth_server;  ///< an Upstream
  std::optional<google::protobuf::Duration> ext_auth_request_timeout;
  bool ext_auth_failure_mode_allow = false;
  bool ext_auth_clear_route_cache = false;
  uint32_t ext_auth_status_on_error = 0;  ///< 0 = unset (Envoy answers 403)

  /// Fields that were present but unusable, each "field: why" (reported as warnings).
  std::vector<std::string> problems;
};

/// The Settings `<ns>/<name>` of the world, read; nullopt when the world has no such resource.
[[nodiscard]] std::optional<translation_settings> read_settings(
    const world& w, std::string_view ns = default_settings_namespace,
    std::string_view name = default_settings_name);

/// Records the Settings resource (touched) and its problems as warnings in `report`.
void report_settings(const translation_settings& settings, translation_report& report);

// --- google.protobuf.Struct helpers ----------------------------------------------------------------

/// The field `name` of `s`, or nullptr.
[[nodiscard]] const google::protobuf::Value* struct_field(const google::protobuf::Struct& s,
                                                          std::string_view name);

/// The field as a bool / string / number / struct / list, or nullopt / nullptr when absent or of
/// another type.
[[nodiscard]] std::optional<bool> struct_bool(const google::protobuf::Struct& s,
                                              std::string_view name);
[[nodiscard]] std::optional<std::string> struct_string(const google::protobuf::Struct& s,
                                                       std::string_view name);
[[nodiscard]] std::optional<double> struct_number(const google::protobuf::Struct& s,
                                                  std::string_view name);
[[nodiscard]] const google::protobuf::Struct* struct_struct(const google::protobuf::Struct& s,
                                                            std::string_view name);
[[nodiscard]] const google::protobuf::ListValue* struct_list(const google::protobuf::Struct& s,
                                                             std::string_view name);

/// Parses the proto3 JSON form of a Duration ("1.5s", "-2s", "0.200s").
[[nodiscard]] std::optional<google::protobuf::Duration> parse_duration(std::string_view text);

/// Converts between a Struct and a typed message through their proto3 JSON form (Gloo's field
/// names). The typed direction fails with a message naming the bad field.
[[nodiscard]] std::optional<std::string> struct_to_message(const google::protobuf::Struct& s,
                                                           google::protobuf::Message& out);
[[nodiscard]] google::protobuf::Struct message_to_struct(const google::protobuf::Message& m);

}  // namespace sluice::model
