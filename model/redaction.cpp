#include "model/redaction.hpp"

#include <set>

#include <fmt/format.h>

#include "model/resource.hpp"

namespace sluice::model {

namespace {

using json = nlohmann::json;

void redact_all_strings(json& j) {
  if (j.is_string()) {
    j = redacted(j.get<std::string>());
  } else if (j.is_object() || j.is_array()) {
    for (auto& v : j) {
      redact_all_strings(v);
    }
  }
}

// Field names that hold secret values in Gloo's API wherever they appear.
bool secret_field(const std::string& key) {
  static const std::set<std::string> names = {
      "privateKey", "secretKey", "sessionToken", "apiKey",     "clientSecret",
      "password",   "token",     "credentials",  "privateKeyProvider"};
  return names.count(key) > 0;
}

void redact_fields(json& j) {
  if (j.is_object()) {
    for (auto& [k, v] : j.items()) {
      if (secret_field(k)) {
        redact_all_strings(v);
      } else {
        redact_fields(v);
      }
    }
  } else if (j.is_array()) {
    for (auto& v : j) {
      redact_fields(v);
    }
  }
}

template <class Json>
void redact_envoy_json_impl(Json& resource) {
  static const std::set<std::string> sensitive = {"privateKey", "password", "keys", "secret",
                                                  "sessionTicketKeys"};
  if (resource.is_object()) {
    for (auto& [k, v] : resource.items()) {
      if (sensitive.count(k) > 0) {
        auto scrub = [](Json& source) {
          for (const char* inline_field : {"inlineString", "inlineBytes"}) {
            if (source.is_object() && source.contains(inline_field) &&
                source[inline_field].is_string()) {
              source[inline_field] = redacted(source[inline_field].template get<std::string>());
            }
          }
        };
        if (v.is_array()) {
          for (auto& e : v) {
            scrub(e);
          }
        } else {
          scrub(v);
        }
      }
      redact_envoy_json_impl(v);
    }
  } else if (resource.is_array()) {
    for (auto& e : resource) {
      redact_envoy_json_impl(e);
    }
  }
}

}  // namespace

std::string redacted(std::string_view value) {
  return fmt::format("[redacted {}]", hash_hex(content_hash(value)).substr(0, 8));
}

void redact_gloo_json(std::string_view kind, json& resource) {
  if (kind == "Secret") {
    // Every kind of Secret payload (tls, aws, apiKey, oauth, header, extension, and the
    // Kubernetes data / stringData form) is secret except its metadata.
    for (auto& [k, v] : resource.items()) {
      if (k != "metadata" && k != "namespacedStatuses") {
        redact_all_strings(v);
      }
    }
    return;
  }
  redact_fields(resource);
}

void redact_envoy_json(json& resource) { redact_envoy_json_impl(resource); }

void redact_envoy_json(nlohmann::ordered_json& resource) { redact_envoy_json_impl(resource); }

}  // namespace sluice::model
