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
/// Checkpoint headers: counter_key(checkpoint_prefix, seq) -> "rows=<n> time_unix_ns=<t>
/// hash=<hex>".
inline constexpr std::string_view checkpoint_prefix = "checkpoint/";
/// Checkpoint rows: counter_key(checkpoint_row_prefix, seq) + "/" + state key -> StateRecord.
inline constexpr std::string_view checkpoint_row_prefix = "checkpoint_row/";
/// Meta key holding the retention floor (events up to it were deleted), as decimal text.
inline constexpr std::string_view retention_floor = "retention_floor";

/// The 8-byte big-endian form of `seq`, the key of an event.
std::string encode_seq(uint64_t seq);

/// The seq of an event key; nullopt unless `key` is exactly 8 bytes.
std::optional<uint64_t> decode_seq(std::string_view key);

/// `prefix` followed by `counter` as 16 lower-case hex digits: fixed width, so bytewise order is
/// insertion order.
std::string counter_key(std::string_view prefix, uint64_t counter);

/// The counter of a key written by counter_key(prefix, ...); nullopt for anything else.
std::optional<uint64_t> decode_counter_key(std::string_view prefix, std::string_view key);

/// The key of one row of the checkpoint at `seq`.
std::string checkpoint_row_key(uint64_t seq, std::string_view state_key);

/// The common prefix of every row of the checkpoint at `seq` (ends in '/').
std::string checkpoint_rows_prefix(uint64_t seq);

}  // namespace sluice::store::keys
