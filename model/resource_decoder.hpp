#pragma once
/// Decoding of Gloo YAML and JSON into sluice's protos.
///
/// Accepts multi-document YAML (JSON is YAML) in both storage forms Gloo uses:
///  - the flat form of Gloo's directory and Consul storage: `metadata:` and the spec fields side
///    by side at the top level, no `kind` (the kind comes from the directory, see decode_context);
///  - the Kubernetes form: `apiVersion`, `kind`, `metadata`, `spec`, optional `status`.
///
/// Decoding is driven by the protobuf descriptors, so field names are proto3 JSON names (Gloo's
/// camelCase; the original snake_case names are accepted too, as jsonpb does). Every problem is
/// reported with the file, line and column, the resource (kind, namespace, name, as far as known)
/// and the field path, e.g. `virtualHost.routes[2].matchers[0].prefx`.
///
/// Hostile input is bounded before and during parsing (bytes, nesting depth, node count, aliases),
/// so a billion-laughs file or a million nested brackets fails fast with a clear error.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "model/resource.hpp"
#include "model/resource_kind.hpp"

namespace sluice::model {

struct decode_limits {
  size_t max_bytes = 8 * 1024 * 1024;  ///< per file
  size_t max_depth = 64;               ///< nesting of mappings and sequences
  size_t max_nodes = 1'000'000;        ///< YAML nodes per file, after alias expansion
  size_t max_aliases = 10'000;         ///< alias uses per file
  size_t max_documents = 10'000;       ///< documents per file
};

struct decode_context {
  std::string file;                           ///< shown in errors; any path the user recognizes
  std::optional<resource_kind> expected_kind; ///< from the directory; required for the flat form
  std::string default_namespace;              ///< from the directory; used when metadata omits it
};

struct decode_error {
  std::string file;
  int line = 0;    ///< 1-based; 0 when unknown
  int column = 0;  ///< 1-based; 0 when unknown
  std::optional<resource_kind> kind;
  std::string ns;
  std::string name;
  std::string field;    ///< path inside the resource, e.g. "virtualHost.routes[0].matchers[0]"
  std::string message;  ///< what is wrong and what was expected

  /// "file:line:col: Kind ns.name: field path: message" (parts that are unknown are left out).
  std::string to_string() const;
};

struct decoded_resource {
  resource_key key;
  resource_ptr message;  ///< of the kind's proto type; metadata.namespace is filled in
  int line = 0;          ///< line of the document start
};

struct decode_result {
  std::vector<decoded_resource> resources;
  /// Errors for documents that were not decoded. A document with any error yields no resource;
  /// other documents in the same file are unaffected.
  std::vector<decode_error> errors;
  /// True when the whole file failed (syntax error, limits): then no document is trusted.
  bool file_failed = false;
};

[[nodiscard]] decode_result decode_documents(std::string_view text, const decode_context& ctx,
                                             const decode_limits& limits = {});

/// Per-resource semantic checks that need no other resource: metadata.name present and a valid
/// name, regexes compile under RE2, static hosts have an address and a non-zero port, weighted
/// destinations sum to at least 1, a route has an action, and so on. Returns every problem found.
[[nodiscard]] std::vector<decode_error> validate_resource(const decoded_resource& resource,
                                                          const decode_context& ctx);

/// Renders a resource in Gloo's flat YAML form (metadata + spec fields), for `sluice get -o yaml`.
[[nodiscard]] std::string to_yaml(const google::protobuf::Message& message);

/// Renders a resource as proto3 JSON with Gloo's field names.
[[nodiscard]] std::string to_json(const google::protobuf::Message& message, bool pretty = true);

}  // namespace sluice::model
