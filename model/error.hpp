#pragma once
/// The one error vocabulary of sluice. Functions return `caf::expected<T>` built from these codes;
/// the context message says which file, resource and field, and what was expected.

#include <cstdint>
#include <string>

#include "caf/error.hpp"
#include "caf/expected.hpp"
#include "caf/make_message.hpp"

namespace sluice {

enum class ec : uint8_t {
  none = 0,
  /// Input could not be parsed (YAML/JSON syntax, limits exceeded).
  parse_error,
  /// Input parsed but does not fit the schema (unknown field, wrong type, bad enum value).
  schema_error,
  /// Input fits the schema but breaks a semantic rule (missing name, bad regex, zero weight...).
  invalid_resource,
  /// A referenced thing does not exist.
  not_found,
  /// The storage layer failed (RocksDB status in the context).
  storage_error,
  /// The store on disk is newer than this binary or not a sluice store.
  incompatible_store,
  /// A source (directory, API server) failed.
  source_error,
  /// A network peer broke the protocol.
  protocol_error,
  /// A configured limit was hit.
  limit_exceeded,
  /// Bad command-line or configuration option.
  invalid_argument,
};

std::string to_string(ec x);

/// Builds a `caf::error` with a human-readable message as its context.
inline caf::error make_error(ec code, std::string message) {
  return caf::error{static_cast<uint8_t>(code), caf::atom("sluice"),
                    caf::make_message(std::move(message))};
}

/// Renders an error as "code: message" without CAF's decoration, for logs and CLI output.
std::string describe(const caf::error& err);

}  // namespace sluice

CAF_ERROR_CODE_ENUM(sluice::ec, "sluice")
