#pragma once
/// Scalar conversions used by the resource decoder: integers, floats, booleans, durations and
/// base64. Each returns the value or a message saying what was expected; none throws.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

namespace sluice::model {

/// A parsed value or the reason it could not be parsed.
template <class T>
using parsed = std::variant<T, std::string>;

/// Decimal integer with an optional sign ("42", "-7", "+3"), as YAML and quoted JSON write it.
parsed<int64_t> parse_int(std::string_view text, int64_t min, int64_t max, std::string_view type);
parsed<uint64_t> parse_uint(std::string_view text, uint64_t max, std::string_view type);

/// Decimal or exponent notation, YAML's `.inf`/`-.inf`/`.nan` and proto3 JSON's
/// "Infinity"/"-Infinity"/"NaN". `single` rejects finite values outside float's range.
parsed<double> parse_float(std::string_view text, bool single);

/// true/false, plus YAML 1.1's yes/no/on/off, case-insensitively: Gloo reads YAML with Go's
/// yaml.v2, which resolves those words to booleans, so existing files use them.
std::optional<bool> parse_bool(std::string_view text);

/// True when a plain scalar would resolve to something other than a string under the rules
/// above (null, bool, number); the YAML renderer quotes such strings.
bool looks_like_non_string(std::string_view text);

struct duration_value {
  int64_t seconds = 0;
  int32_t nanos = 0;
};

/// proto3 JSON durations ("1.5s", "-0.25s") and Go time.ParseDuration strings ("100ms", "1m30s",
/// "1h", "250us", "10ns"), since Gloo users write both. The result must lie within
/// google.protobuf.Duration's range of +-10,000 years.
parsed<duration_value> parse_duration(std::string_view text);

/// Standard or URL-safe base64, padding optional, whitespace ignored (jsonpb accepts both
/// alphabets; Kubernetes data may be wrapped). On failure returns nullopt and sets `error`.
std::optional<std::string> decode_base64(std::string_view text, std::string& error);

std::string encode_base64(std::string_view bytes);

/// Strict UTF-8 check (no overlong forms, surrogates or code points above U+10FFFF). proto3
/// string fields must hold UTF-8, or serialized resources fail to parse back (event replay).
bool valid_utf8(std::string_view text);

/// The text with every byte that is not part of valid UTF-8 replaced by '?', for messages that
/// quote user input (error reports end up in proto string fields too).
std::string sanitize_utf8(std::string_view text);

}  // namespace sluice::model
