#include "model/gateway_settings.hpp"

#include <google/protobuf/util/json_util.h>

#include <charconv>
#include <cmath>

#include "model/gateway_attribution.hpp"

namespace sluice::model {

namespace {

namespace gl = ::gloo::solo::io;
namespace pb = google::protobuf;

// Reads the Struct-typed parts of Settings; every unusable field is noted as a problem.
class settings_reader {
 public:
  explicit settings_reader(translation_settings& out) : out_(out) {}

  void gateway_validation(const pb::Struct& v) {
    if (const auto* f = struct_field(v, "warnMissingTlsSecret")) {
      if (f->kind_case() == pb::Value::kBoolValue) {
        out_.warn_missing_tls_secret = f->bool_value();
      } else {
        problem("gateway.validation.warnMissingTlsSecret", "expected true or false");
      }
    }
  }

  void virtual_service_options(const pb::Struct& v) {
    if (const auto* f = struct_field(v, "oneWayTls")) {
      if (f->kind_case() == pb::Value::kBoolValue) {
        out_.one_way_tls = f->bool_value();
      } else {
        problem("gateway.virtualServiceOptions.oneWayTls", "expected true or false");
      }
    }
  }

  void extauth(const pb::Struct& e) {
    const auto* ref = struct_struct(e, "extauthzServerRef");
    if (ref == nullptr) {
      if (struct_field(e, "extauthzServerRef") != nullptr) {
        problem("extauth.extauthzServerRef", "expected {name, namespace}");
      } else if (struct_field(e, "httpService") != nullptr) {
        problem("extauth.httpService",
                "HTTP ext auth services are not supported; use extauthzServerRef (gRPC)");
      }
      return;
    }
    auto name = struct_string(*ref, "name");
    if (!name || name->empty()) {
      problem("extauth.extauthzServerRef.name", "the auth server upstream needs a name");
      return;
    }
    auto ns = struct_string(*ref, "namespace").value_or("");
    out_.ext_auth_server =
        resource_key{resource_kind::upstream, ns.empty() ? out_.key.ns : ns, *name};
    if (auto t = struct_string(e, "requestTimeout")) {
      if (auto d = parse_duration(*t)) {
        out_.ext_auth_request_timeout = *d;
      } else {
        problem("extauth.requestTimeout", "expected a duration such as \"0.2s\", got \"" + *t + "\"");
      }
    }
    if (auto b = struct_bool(e, "failureModeAllow")) {
      out_.ext_auth_failure_mode_allow = *b;
    }
    if (auto b = struct_bool(e, "clearRouteCache")) {
      out_.ext_auth_clear_route_cache = *b;
    }
    if (auto n = struct_number(e, "statusOnError")) {
      if (*n >= 200 && *n < 600 && std::floor(*n) == *n) {
        out_.ext_auth_status_on_error = static_cast<uint32_t>(*n);
      } else {
        problem("extauth.statusOnError", "expected an HTTP status between 200 and 599");
      }
    }
  }

  void problem(const std::string& field, const std::string& why) {
    out_.problems.push_back(field + ": " + why + "; the default applies");
  }

 private:
  translation_settings& out_;
};

}  // namespace

std::optional<translation_settings> read_settings(const world& w, std::string_view ns,
                                                  std::string_view name) {
  const auto* stored = w.find(resource_kind::settings, std::string(ns), std::string(name));
  if (stored == nullptr) {
    return std::nullopt;
  }
  const auto& s = static_cast<const gl::Settings&>(*stored->message);
  translation_settings out;
  out.key = stored->key;
  settings_reader reader(out);

  out.discovery_namespace = s.discovery_namespace();
  const auto& gateway = s.gateway();
  out.read_gateways_from_all_namespaces = gateway.read_gateways_from_all_namespaces();
  out.translate_empty_gateways = gateway.translate_empty_gateways().value();
  out.isolate_virtual_hosts_by_ssl_config = gateway.isolate_virtual_hosts_by_ssl_config().value();
  if (gateway.has_validation()) {
    reader.gateway_validation(gateway.validation());
  }
  if (gateway.has_virtual_service_options()) {
    reader.virtual_service_options(gateway.virtual_service_options());
  }

  const auto& gloo = s.gloo();
  if (gloo.has_invalid_config_policy()) {
    const auto& p = gloo.invalid_config_policy();
    out.replace_invalid_routes = p.replace_invalid_routes();
    out.invalid_route_response_code = p.invalid_route_response_code();
    out.invalid_route_response_body = p.invalid_route_response_body();
    if (out.invalid_route_response_code != 0 &&
        (out.invalid_route_response_code < 200 || out.invalid_route_response_code >= 600)) {
      reader.problem("gloo.invalidConfigPolicy.invalidRouteResponseCode",
                     "Envoy only answers statuses between 200 and 599, got " +
                         std::to_string(out.invalid_route_response_code));
      out.invalid_route_response_code = 0;
    }
    if (out.invalid_route_response_body.size() > 4096) {
      reader.problem("gloo.invalidConfigPolicy.invalidRouteResponseBody",
                     "longer than Envoy's 4096 byte direct response limit");
      out.invalid_route_response_body.clear();
    }
  }
  if (gloo.has_regex_max_program_size()) {
    out.regex_max_program_size = gloo.regex_max_program_size().value();
  }
  if (gloo.has_circuit_breakers()) {
    out.circuit_breakers = gloo.circuit_breakers();
  }
  if (s.has_extauth()) {
    reader.extauth(s.extauth());
  }
  return out;
}

void report_settings(const translation_settings& settings, translation_report& report) {
  report.touch(settings.key);
  for (const auto& p : settings.problems) {
    report_warning(report, settings.key, p);
  }
}

const pb::Value* struct_field(const pb::Struct& s, std::string_view name) {
  auto i = s.fields().find(std::string(name));
  return i == s.fields().end() ? nullptr : &i->second;
}

std::optional<bool> struct_bool(const pb::Struct& s, std::string_view name) {
  const auto* v = struct_field(s, name);
  if (v == nullptr || v->kind_case() != pb::Value::kBoolValue) {
    return std::nullopt;
  }
  return v->bool_value();
}

std::optional<std::string> struct_string(const pb::Struct& s, std::string_view name) {
  const auto* v = struct_field(s, name);
  if (v == nullptr || v->kind_case() != pb::Value::kStringValue) {
    return std::nullopt;
  }
  return v->string_value();
}

std::optional<double> struct_number(const pb::Struct& s, std::string_view name) {
  const auto* v = struct_field(s, name);
  if (v == nullptr) {
    return std::nullopt;
  }
  if (v->kind_case() == pb::Value::kNumberValue) {
    return v->number_value();
  }
  // proto3 JSON writes 64-bit integers as strings; accept those too.
  if (v->kind_case() == pb::Value::kStringValue) {
    double d = 0;
    const auto& t = v->string_value();
    auto [ptr, ec] = std::from_chars(t.data(), t.data() + t.size(), d);
    if (ec == std::errc{} && ptr == t.data() + t.size() && !t.empty()) {
      return d;
    }
  }
  return std::nullopt;
}

const pb::Struct* struct_struct(const pb::Struct& s, std::string_view name) {
  const auto* v = struct_field(s, name);
  if (v == nullptr || v->kind_case() != pb::Value::kStructValue) {
    return nullptr;
  }
  return &v->struct_value();
}

const pb::ListValue* struct_list(const pb::Struct& s, std::string_view name) {
  const auto* v = struct_field(s, name);
  if (v == nullptr || v->kind_case() != pb::Value::kListValue) {
    return nullptr;
  }
  return &v->list_value();
}

std::optional<pb::Duration> parse_duration(std::string_view text) {
  if (text.size() < 2 || text.back() != 's') {
    return std::nullopt;
  }
  text.remove_suffix(1);
  bool negative = false;
  if (!text.empty() && text.front() == '-') {
    negative = true;
    text.remove_prefix(1);
  }
  auto dot = text.find('.');
  std::string_view whole = text.substr(0, dot);
  std::string_view frac = dot == std::string_view::npos ? std::string_view() : text.substr(dot + 1);
  if (whole.empty() || frac.size() > 9) {
    return std::nullopt;
  }
  int64_t seconds = 0;
  auto [p1, e1] = std::from_chars(whole.data(), whole.data() + whole.size(), seconds);
  if (e1 != std::errc{} || p1 != whole.data() + whole.size()) {
    return std::nullopt;
  }
  int32_t nanos = 0;
  if (!frac.empty()) {
    for (char c : frac) {
      if (c < '0' || c > '9') {
        return std::nullopt;
      }
    }
    std::string padded(frac);
    padded.resize(9, '0');
    std::from_chars(padded.data(), padded.data() + padded.size(), nanos);
  }
  pb::Duration d;
  d.set_seconds(negative ? -seconds : seconds);
  d.set_nanos(negative ? -nanos : nanos);
  return d;
}

std::optional<std::string> struct_to_message(const pb::Struct& s, pb::Message& out) {
  std::string json;
  auto status = pb::util::MessageToJsonString(s, &json);
  if (!status.ok()) {
    return std::string(status.message());
  }
  status = pb::util::JsonStringToMessage(json, &out);
  if (!status.ok()) {
    return std::string(status.message());
  }
  return std::nullopt;
}

pb::Struct message_to_struct(const pb::Message& m) {
  std::string json;
  pb::util::JsonPrintOptions options;
  options.preserve_proto_field_names = false;
  pb::Struct out;
  if (pb::util::MessageToJsonString(m, &json, options).ok()) {
    (void)pb::util::JsonStringToMessage(json, &out);
  }
  return out;
}

}  // namespace sluice::model
