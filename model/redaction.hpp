#pragma once
/// Keeps secret material off terminals, tickets and HTTP answers. Whoever can read the data
/// directory can read the keys; a debugging command or the admin port should not print them.
/// Like Envoy's config dump, values are replaced, never dropped, so the shape stays readable;
/// a short content hash stays in the placeholder so a diff still shows that a key changed.

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace sluice::model {

/// "[redacted 1a2b3c4d]": the placeholder for `value`.
std::string redacted(std::string_view value);

/// Redacts the JSON form of a Gloo resource of `kind` ("Secret": every value under tls, aws,
/// apiKey, oauth, header, extension and credentials; other kinds: fields named like secrets).
void redact_gloo_json(std::string_view kind, nlohmann::json& resource);

/// Redacts the JSON form of an Envoy resource: inline data of private keys, passwords, session
/// ticket keys and generic secrets (the fields Envoy marks sensitive), which Gloo inlines into
/// LDS and CDS.
void redact_envoy_json(nlohmann::json& resource);
void redact_envoy_json(nlohmann::ordered_json& resource);  ///< the same, key order kept

}  // namespace sluice::model
