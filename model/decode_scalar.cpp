#include "model/decode_scalar.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <limits>

namespace sluice::model {
namespace {

std::string lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

std::string quoted(std::string_view text) {
  std::string shown(text.substr(0, 40));
  if (text.size() > 40) {
    shown += "...";
  }
  return "\"" + shown + "\"";
}

bool all_digits(std::string_view text) {
  return !text.empty()
         && std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// Splits an optional sign off; returns false when nothing but digits remains to be checked.
std::string_view strip_sign(std::string_view text, bool& negative) {
  negative = false;
  if (!text.empty() && (text.front() == '-' || text.front() == '+')) {
    negative = text.front() == '-';
    text.remove_prefix(1);
  }
  return text;
}

}  // namespace

parsed<int64_t> parse_int(std::string_view text, int64_t min, int64_t max, std::string_view type) {
  bool negative = false;
  std::string_view digits = strip_sign(text, negative);
  if (!all_digits(digits)) {
    return "expected an integer (" + std::string(type) + "), got " + quoted(text);
  }
  uint64_t magnitude = 0;
  auto [ptr, err] = std::from_chars(digits.data(), digits.data() + digits.size(), magnitude);
  std::string range = "out of range for " + std::string(type) + " (" + std::to_string(min) + ".."
                      + std::to_string(max) + "): " + std::string(text);
  if (err != std::errc{} || ptr != digits.data() + digits.size()) {
    return range;
  }
  if (negative) {
    // -min as unsigned, without overflowing when min is INT64_MIN.
    uint64_t limit = static_cast<uint64_t>(-(min + 1)) + 1;
    if (magnitude > limit) {
      return range;
    }
    return magnitude == 0 ? int64_t{0} : static_cast<int64_t>(-(magnitude - 1)) - 1;
  }
  if (magnitude > static_cast<uint64_t>(max)) {
    return range;
  }
  return static_cast<int64_t>(magnitude);
}

parsed<uint64_t> parse_uint(std::string_view text, uint64_t max, std::string_view type) {
  bool negative = false;
  std::string_view digits = strip_sign(text, negative);
  if (!all_digits(digits)) {
    return "expected a non-negative integer (" + std::string(type) + "), got " + quoted(text);
  }
  uint64_t value = 0;
  auto [ptr, err] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
  if (negative && !(err == std::errc{} && value == 0)) {
    return "must not be negative (" + std::string(type) + "), got " + std::string(text);
  }
  if (err != std::errc{} || ptr != digits.data() + digits.size() || value > max) {
    return "out of range for " + std::string(type) + " (0.." + std::to_string(max)
           + "): " + std::string(text);
  }
  return value;
}

parsed<double> parse_float(std::string_view text, bool single) {
  std::string l = lower(text);
  if (l == ".inf" || l == "+.inf" || text == "Infinity") {
    return std::numeric_limits<double>::infinity();
  }
  if (l == "-.inf" || text == "-Infinity") {
    return -std::numeric_limits<double>::infinity();
  }
  if (l == ".nan" || text == "NaN") {
    return std::numeric_limits<double>::quiet_NaN();
  }
  std::string_view body = text;
  if (!body.empty() && body.front() == '+') {
    body.remove_prefix(1);
  }
  // from_chars would accept "inf"/"nan" spelled other ways; require a digit or a dot first.
  std::string_view unsigned_body = body;
  if (!unsigned_body.empty() && unsigned_body.front() == '-') {
    unsigned_body.remove_prefix(1);
  }
  bool starts_ok = !unsigned_body.empty()
                   && (std::isdigit(static_cast<unsigned char>(unsigned_body.front()))
                       || (unsigned_body.front() == '.' && unsigned_body.size() > 1));
  double value = 0;
  auto [ptr, err] = std::from_chars(body.data(), body.data() + body.size(), value);
  if (!starts_ok || ptr != body.data() + body.size() || err == std::errc::invalid_argument) {
    return "expected a number, got " + quoted(text);
  }
  if (err == std::errc::result_out_of_range) {
    return "number out of range: " + std::string(text);
  }
  if (single && std::isfinite(value)
      && std::fabs(value) > static_cast<double>(std::numeric_limits<float>::max())) {
    return "out of range for float: " + std::string(text);
  }
  return value;
}

std::optional<bool> parse_bool(std::string_view text) {
  std::string l = lower(text);
  if (l == "true" || l == "yes" || l == "on") {
    return true;
  }
  if (l == "false" || l == "no" || l == "off") {
    return false;
  }
  return std::nullopt;
}

bool looks_like_non_string(std::string_view text) {
  if (text.empty()) {
    return true;
  }
  std::string l = lower(text);
  if (l == "null" || l == "~" || parse_bool(text).has_value()) {
    return true;
  }
  // Number-like text (0x1F, 0o17, 1_000, 2024-01-01, 12:30) resolves to a non-string in some
  // YAML reader (Go's yaml.v2 reads hex, octal and timestamps), so it is quoted too. Durations
  // such as "1.5s" or "100ms" are left plain, as Gloo's docs write them.
  auto digit = [](char c) { return c >= '0' && c <= '9'; };
  bool numeric_start = digit(text[0])
                       || (text.size() > 1 && (text[0] == '-' || text[0] == '+' || text[0] == '.')
                           && digit(text[1]));
  if (numeric_start
      && text.find_first_not_of("0123456789abcdefABCDEFxXoO_.:+-TZtz") == std::string_view::npos) {
    return true;
  }
  return std::holds_alternative<double>(parse_float(text, false));
}

parsed<duration_value> parse_duration(std::string_view text) {
  const std::string expected = "expected a duration such as \"1.5s\", \"100ms\" or \"1m30s\", got "
                               + quoted(text);
  std::string_view rest = text;
  bool negative = false;
  if (!rest.empty() && (rest.front() == '-' || rest.front() == '+')) {
    negative = rest.front() == '-';
    rest.remove_prefix(1);
  }
  if (rest == "0") {  // Go accepts a bare zero
    return duration_value{};
  }
  if (rest.empty()) {
    return expected;
  }
  // Accumulate in nanoseconds with 128-bit headroom; the range check comes at the end.
  __int128 total = 0;
  constexpr __int128 max_total = static_cast<__int128>(315'576'000'000LL) * 1'000'000'000 + 999'999'999;
  while (!rest.empty()) {
    size_t i = 0;
    while (i < rest.size() && std::isdigit(static_cast<unsigned char>(rest[i]))) {
      ++i;
    }
    std::string_view whole = rest.substr(0, i);
    std::string_view fraction;
    if (i < rest.size() && rest[i] == '.') {
      size_t start = ++i;
      while (i < rest.size() && std::isdigit(static_cast<unsigned char>(rest[i]))) {
        ++i;
      }
      fraction = rest.substr(start, i - start);
    }
    if (whole.empty() && fraction.empty()) {
      return expected;
    }
    size_t unit_start = i;
    while (i < rest.size() && !std::isdigit(static_cast<unsigned char>(rest[i])) && rest[i] != '.') {
      ++i;
    }
    std::string_view unit = rest.substr(unit_start, i - unit_start);
    rest.remove_prefix(i);
    int64_t scale = 0;  // nanoseconds per unit
    if (unit == "ns") {
      scale = 1;
    } else if (unit == "us" || unit == "\xC2\xB5s" || unit == "\xCE\xBCs") {  // µs, μs
      scale = 1'000;
    } else if (unit == "ms") {
      scale = 1'000'000;
    } else if (unit == "s") {
      scale = 1'000'000'000;
    } else if (unit == "m") {
      scale = 60LL * 1'000'000'000;
    } else if (unit == "h") {
      scale = 3600LL * 1'000'000'000;
    } else {
      return expected;
    }
    if (whole.size() > 18 || fraction.size() > 18) {
      return "duration out of range: " + std::string(text);
    }
    __int128 w = 0;
    for (char c : whole) {
      w = w * 10 + (c - '0');
    }
    total += w * scale;
    // The fraction, scaled to the unit; digits beyond nanosecond precision are dropped.
    __int128 frac = 0;
    __int128 denom = 1;
    for (char c : fraction) {
      frac = frac * 10 + (c - '0');
      denom *= 10;
    }
    total += frac * scale / denom;
    if (total > max_total) {
      return "duration out of range (at most 315576000000s): " + std::string(text);
    }
  }
  duration_value out;
  out.seconds = static_cast<int64_t>(total / 1'000'000'000);
  out.nanos = static_cast<int32_t>(total % 1'000'000'000);
  if (negative) {
    out.seconds = -out.seconds;
    out.nanos = -out.nanos;
  }
  return out;
}

std::optional<std::string> decode_base64(std::string_view text, std::string& error) {
  auto value_of = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+' || c == '-') return 62;
    if (c == '/' || c == '_') return 63;
    return -1;
  };
  std::string out;
  out.reserve(text.size() * 3 / 4);
  uint32_t buffer = 0;
  int bits = 0;
  size_t padding = 0;
  size_t symbols = 0;
  for (char c : text) {
    if (c == ' ' || c == '\n' || c == '\r' || c == '\t') {
      continue;
    }
    if (c == '=') {
      ++padding;
      continue;
    }
    int v = value_of(c);
    if (v < 0 || padding > 0) {
      error = "invalid base64: unexpected character '" + std::string(1, c) + "'";
      return std::nullopt;
    }
    ++symbols;
    buffer = (buffer << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((buffer >> bits) & 0xFF));
    }
  }
  if (symbols % 4 == 1 || padding > 2) {
    error = "invalid base64: wrong length";
    return std::nullopt;
  }
  return out;
}

std::string encode_base64(std::string_view bytes) {
  static constexpr char alphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    uint32_t n = (static_cast<uint8_t>(bytes[i]) << 16) | (static_cast<uint8_t>(bytes[i + 1]) << 8)
                 | static_cast<uint8_t>(bytes[i + 2]);
    out += alphabet[(n >> 18) & 63];
    out += alphabet[(n >> 12) & 63];
    out += alphabet[(n >> 6) & 63];
    out += alphabet[n & 63];
  }
  if (i < bytes.size()) {
    uint32_t n = static_cast<uint8_t>(bytes[i]) << 16;
    if (i + 1 < bytes.size()) {
      n |= static_cast<uint8_t>(bytes[i + 1]) << 8;
    }
    out += alphabet[(n >> 18) & 63];
    out += alphabet[(n >> 12) & 63];
    out += (i + 1 < bytes.size()) ? alphabet[(n >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

bool valid_utf8(std::string_view text) {
  size_t i = 0;
  while (i < text.size()) {
    auto c = static_cast<unsigned char>(text[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t len = 0;
    uint32_t cp = 0;
    uint32_t min = 0;
    if ((c & 0xE0) == 0xC0) {
      len = 2, cp = c & 0x1F, min = 0x80;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3, cp = c & 0x0F, min = 0x800;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4, cp = c & 0x07, min = 0x10000;
    } else {
      return false;
    }
    if (i + len > text.size()) {
      return false;
    }
    for (size_t k = 1; k < len; ++k) {
      auto cc = static_cast<unsigned char>(text[i + k]);
      if ((cc & 0xC0) != 0x80) {
        return false;
      }
      cp = (cp << 6) | (cc & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
      return false;
    }
    i += len;
  }
  return true;
}

std::string sanitize_utf8(std::string_view text) {
  if (valid_utf8(text)) {
    return std::string(text);
  }
  std::string out;
  out.reserve(text.size());
  size_t i = 0;
  while (i < text.size()) {
    auto c = static_cast<unsigned char>(text[i]);
    size_t len = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 0;
    if (len > 0 && i + len <= text.size() && valid_utf8(text.substr(i, len))) {
      out.append(text.substr(i, len));
      i += len;
    } else {
      out += '?';
      ++i;
    }
  }
  return out;
}

}  // namespace sluice::model
