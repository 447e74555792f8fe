#pragma once
/// Key layouts of the event log's column families, in one place so the reader and the writer
/// cannot drift apart. Integers are big-endian so RocksDB's default bytewise comparator orders
/// keys numerically (the LogDevice layout, reference/reliability.md §2.3).

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace sluice::store::keys {

/// Meta key holding the store format version, as decimal text.
inline constexpr std::string_view schema_version = "schema_version";
/// Meta key prefixes. Each is a distinct first segment, so their key ranges never interleave.
inline constexpr std::string_view cursor_prefix = "cursor/";
inline constexpr std::string_view publish_prefix = "publish/";
inline constexpr std::string_view client_prefix = "client/";

/// The 8-byte big-endian form of `seq`, the key of an event.
std::string encode_seq(uint64_t seq);

/// The seq of an event key; nullopt unless `key` is exactly 8 bytes.
std::optional<uint64_t> decode_seq(std::string_view key);

/// `prefix` followed by `counter` as 16 lower-case hex digits: fixed width, so bytewise order is
/// insertion order.
std::string counter_key(std::string_view prefix, uint64_t counter);

/// The counter of a key written by counter_key(prefix, ...); nullopt for anything else.
std::optional<uint64_t> decode_counter_key(std::string_view prefix, std::string_view key);

}  // namespace sluice::store::keys
