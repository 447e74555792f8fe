#include "store/key_codec.hpp"

namespace sluice::store::keys {

std::string encode_seq(uint64_t seq) {
  std::string out(8, '\0');
  for (int i = 7; i >= 0; --i) {
    out[static_cast<size_t>(i)] = static_cast<char>(seq & 0xffU);
    seq >>= 8;
  }
  return out;
}

std::optional<uint64_t> decode_seq(std::string_view key) {
  if (key.size() != 8) {
    return std::nullopt;
  }
  uint64_t seq = 0;
  for (char c : key) {
    seq = (seq << 8) | static_cast<uint8_t>(c);
  }
  return seq;
}

std::string counter_key(std::string_view prefix, uint64_t counter) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out(prefix);
  out.resize(prefix.size() + 16);
  for (size_t i = 0; i < 16; ++i) {
    out[out.size() - 1 - i] = digits[counter & 0xfU];
    counter >>= 4;
  }
  return out;
}

std::optional<uint64_t> decode_counter_key(std::string_view prefix, std::string_view key) {
  if (key.size() != prefix.size() + 16 || key.substr(0, prefix.size()) != prefix) {
    return std::nullopt;
  }
  uint64_t counter = 0;
  for (char c : key.substr(prefix.size())) {
    uint64_t digit = 0;
    if (c >= '0' && c <= '9') {
      digit = static_cast<uint64_t>(c - '0');
    } else if (c >= 'a' && c <= 'f') {
      digit = static_cast<uint64_t>(c - 'a' + 10);
    } else {
      return std::nullopt;
    }
    counter = (counter << 4) | digit;
  }
  return counter;
}

std::string checkpoint_rows_prefix(uint64_t seq) {
  return counter_key(checkpoint_row_prefix, seq) + "/";
}

std::string checkpoint_row_key(uint64_t seq, std::string_view state_key) {
  return checkpoint_rows_prefix(seq).append(state_key);
}

}  // namespace sluice::store::keys
