#include "store/event_log.hpp"

#include <rocksdb/cache.h>
#include <rocksdb/convenience.h>
#include <rocksdb/db.h>
#include <rocksdb/env.h>
#include <rocksdb/file_system.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/iterator.h>
#include <rocksdb/options.h>
#include <rocksdb/table.h>
#include <rocksdb/write_batch.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <charconv>
#include <chrono>
#include <filesystem>
#include <mutex>
#include <shared_mutex>
#include <system_error>
#include <utility>

#include <fmt/format.h>

#include "model/error.hpp"
#include "model/logging.hpp"
#include "model/resource.hpp"
#include "model/world.hpp"
#include "store/key_codec.hpp"

namespace sluice::store {
namespace {

/// The store format this binary writes and reads. Bump it, with a migration, whenever a key or
/// value layout changes; an older binary then refuses the newer store instead of misreading it.
constexpr uint64_t supported_schema_version = 1;

/// Shared by all column families. The hot read path (tailing `events`) is mostly served from
/// the memtable and the OS page cache, so a modest cache is enough.
constexpr size_t block_cache_bytes = size_t{32} << 20;

/// Caps the memtables of all column families together; config churn is small.
constexpr size_t total_write_buffer_bytes = size_t{64} << 20;

/// Position of each column family in the handle vector; the names are what RocksDB stores.
enum column_family : size_t { cf_default = 0, cf_events, cf_state, cf_meta, cf_count };
/// Literals, not rocksdb::kDefaultColumnFamilyName: that is a global of the static librocksdb
/// and may not be initialised yet when this array is.
const std::array<std::string, cf_count> column_family_names
    = {"default", "events", "state", "meta"};

/// ZSTD if this librocksdb has it, else LZ4, else none: the store stays readable by the same
/// build either way, and a missing codec is not worth refusing to start over.
std::pair<rocksdb::CompressionType, const char*> pick_compression() {
  static const auto picked = [] {
    auto supported = rocksdb::GetSupportedCompressions();
    auto has = [&](rocksdb::CompressionType type) {
      return std::find(supported.begin(), supported.end(), type) != supported.end();
    };
    if (has(rocksdb::kZSTD)) {
      return std::pair{rocksdb::kZSTD, "zstd"};
    }
    if (has(rocksdb::kLZ4Compression)) {
      return std::pair{rocksdb::kLZ4Compression, "lz4"};
    }
    return std::pair{rocksdb::kNoCompression, "none"};
  }();
  return picked;
}

caf::error storage_failure(std::string_view what, const std::string& path,
                           const rocksdb::Status& status) {
  return make_error(ec::storage_error,
                    fmt::format("{} the sluice store at {}: {}", what, path, status.ToString()));
}

std::string_view view(const rocksdb::Slice& slice) { return {slice.data(), slice.size()}; }

bool starts_with(std::string_view text, std::string_view prefix) {
  return text.substr(0, prefix.size()) == prefix;
}

int64_t now_unix_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

/// Owns an open database and its column family handles and releases them in the order RocksDB
/// requires; Debian's librocksdb has assertions on and aborts otherwise (reliability.md §2.4).
/// Iterators come first: every iterator in this file is a local of one call, so none is alive
/// by the time an owner is destroyed. Then the column family handles, then the DB. The block
/// cache is a member too so it outlives every table reader that points into it.
class rocksdb_handles {
 public:
  rocksdb_handles() = default;
  ~rocksdb_handles() { close(); }
  rocksdb_handles(const rocksdb_handles&) = delete;
  rocksdb_handles& operator=(const rocksdb_handles&) = delete;

  /// Opens `path` with the named column families (which must include the default one).
  /// `recovery` is how the WAL is replayed; `fs` (may be null) is the file system to write
  /// through. After a failure, corrupt() says whether RocksDB found damage.
  [[nodiscard]] caf::expected<void> open(const std::string& path, bool read_only,
                                         const std::vector<std::string>& names,
                                         rocksdb::WALRecoveryMode recovery
                                         = rocksdb::WALRecoveryMode::kPointInTimeRecovery,
                                         const std::shared_ptr<rocksdb::FileSystem>& fs = nullptr) {
    cache_ = rocksdb::NewLRUCache(block_cache_bytes);
    rocksdb::DBOptions db_options;
    db_options.create_if_missing = !read_only;
    db_options.create_missing_column_families = !read_only;
    db_options.db_write_buffer_size = total_write_buffer_bytes;
    db_options.keep_log_file_num = 5;
    db_options.wal_recovery_mode = recovery;
    if (fs) {
      env_ = rocksdb::NewCompositeEnv(fs);
      db_options.env = env_.get();
    }
    // The WAL stays on (the default): an append is acknowledged only once it is in the WAL.
    std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
    for (const auto& name : names) {
      descriptors.emplace_back(name, column_family_options(name));
    }
    rocksdb::DB* db = nullptr;
    auto status = read_only
                      ? rocksdb::DB::OpenForReadOnly(db_options, path, descriptors, &handles_, &db)
                      : rocksdb::DB::Open(db_options, path, descriptors, &handles_, &db);
    db_ = db;
    corrupt_ = status.IsCorruption();
    if (!status.ok()) {
      close();
      auto what = read_only ? "cannot open read-only" : "cannot open";
      auto text = status.ToString();
      if (!read_only && status.IsIOError() && text.find("lock") != std::string::npos) {
        return make_error(ec::storage_error,
                          fmt::format("cannot open the sluice store at {}: {}; another process "
                                      "(a running sluice server?) holds it, open it read-only "
                                      "to inspect it",
                                      path, text));
      }
      return storage_failure(what, path, status);
    }
    return {};
  }

  void close() {
    if (db_ == nullptr) {
      return;
    }
    for (auto* handle : handles_) {
      auto status = db_->DestroyColumnFamilyHandle(handle);
      if (!status.ok()) {
        log::store()->warn("releasing a column family handle failed status={}", status.ToString());
      }
    }
    handles_.clear();
    auto status = db_->Close();
    if (!status.ok() && !status.IsNotSupported()) {
      log::store()->warn("closing the store failed status={}", status.ToString());
    }
    delete db_;
    db_ = nullptr;
  }

  rocksdb::DB* db() const { return db_; }
  bool corrupt() const { return corrupt_; }
  rocksdb::ColumnFamilyHandle* handle(size_t index) const { return handles_[index]; }
  size_t size() const { return handles_.size(); }

 private:
  rocksdb::ColumnFamilyOptions column_family_options(const std::string& name) const {
    rocksdb::BlockBasedTableOptions table;
    table.block_cache = cache_;
    if (name == "state" || name == "meta") {
      // Point lookups (cursors, schema version) benefit; `events` is only ever scanned.
      table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
    }
    rocksdb::ColumnFamilyOptions options;
    options.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
    options.compression = pick_compression().first;
    return options;
  }

  /// Declared before the DB so it is destroyed after it: RocksDB uses the Env until Close.
  std::unique_ptr<rocksdb::Env> env_;
  std::shared_ptr<rocksdb::Cache> cache_;
  bool corrupt_ = false;
  rocksdb::DB* db_ = nullptr;
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;
};

/// True when any of the open column families holds a key.
caf::expected<bool> holds_any_key(const rocksdb_handles& handles, const std::string& path) {
  for (size_t i = 0; i < handles.size(); ++i) {
    std::unique_ptr<rocksdb::Iterator> it{
        handles.db()->NewIterator(rocksdb::ReadOptions{}, handles.handle(i))};
    it->SeekToFirst();
    if (it->Valid()) {
      return true;
    }
    if (!it->status().ok()) {
      return storage_failure("cannot scan", path, it->status());
    }
  }
  return false;
}

/// An existing RocksDB database that lacks some of our column families is either a foreign
/// database (refuse it, and do not add column families to it) or a store whose very first open
/// was interrupted before every column family existed (empty: carry on). A read-only probe tells
/// the two apart without changing anything on disk.
caf::expected<void> check_partial_store(const std::string& path,
                                        const std::vector<std::string>& existing,
                                        const std::vector<std::string>& missing, bool read_only) {
  rocksdb_handles probe;
  std::vector<std::string> names{column_family_names[cf_default]};
  for (const auto& name : existing) {
    if (name != column_family_names[cf_default]) {
      names.push_back(name);
    }
  }
  if (auto opened = probe.open(path, true, names); !opened) {
    return opened.error();
  }
  auto has_data = holds_any_key(probe, path);
  if (!has_data) {
    return has_data.error();
  }
  if (*has_data) {
    return make_error(ec::incompatible_store,
                      fmt::format("{} is not a sluice store: it is a RocksDB database holding "
                                  "data but without the column families {}",
                                  path, fmt::join(missing, ", ")));
  }
  if (read_only) {
    return make_error(ec::incompatible_store,
                      fmt::format("{} is an empty RocksDB database without the sluice column "
                                  "families {}; open it read-write once to initialise it",
                                  path, fmt::join(missing, ", ")));
  }
  return {};
}

}  // namespace

std::string state_key(std::string_view kind, std::string_view ns, std::string_view name) {
  std::string key;
  key.reserve(kind.size() + ns.size() + name.size() + 2);
  key.append(kind).append("/").append(ns).append("/").append(name);
  return key;
}

namespace {

/// FNV-1a over a sequence of pieces, without joining them first.
class running_hash {
 public:
  void add(std::string_view bytes) {
    for (unsigned char c : bytes) {
      hash_ ^= c;
      hash_ *= 1099511628211ULL;
    }
  }
  uint64_t value() const { return hash_; }

 private:
  uint64_t hash_ = 14695981039346656037ULL;
};

std::string checkpoint_header(const checkpoint_info& info) {
  return fmt::format("rows={} time_unix_ns={} hash={}", info.rows, info.time_unix_ns,
                     model::hash_hex(info.hash));
}

/// Parses a header written by checkpoint_header; nullopt when it is not one.
std::optional<checkpoint_info> parse_checkpoint_header(uint64_t seq, std::string_view text) {
  checkpoint_info info;
  info.seq = seq;
  int found = 0;
  while (!text.empty()) {
    auto space = text.find(' ');
    auto field = text.substr(0, space);
    text = space == std::string_view::npos ? std::string_view{} : text.substr(space + 1);
    auto eq = field.find('=');
    if (eq == std::string_view::npos) {
      return std::nullopt;
    }
    auto name = field.substr(0, eq);
    auto value = field.substr(eq + 1);
    const char* first = value.data();
    const char* last = value.data() + value.size();
    std::from_chars_result parsed{};
    if (name == "rows") {
      parsed = std::from_chars(first, last, info.rows);
    } else if (name == "time_unix_ns") {
      parsed = std::from_chars(first, last, info.time_unix_ns);
    } else if (name == "hash") {
      parsed = std::from_chars(first, last, info.hash, 16);
    } else {
      continue;  // a newer writer's extra field
    }
    if (parsed.ec != std::errc{} || parsed.ptr != last) {
      return std::nullopt;
    }
    ++found;
  }
  if (found != 3) {
    return std::nullopt;
  }
  return info;
}

std::optional<uint64_t> parse_decimal(std::string_view text) {
  uint64_t value = 0;
  auto [end, err] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (err != std::errc{} || end != text.data() + text.size()) {
    return std::nullopt;
  }
  return value;
}

}  // namespace

size_t write_group::event_count() const {
  size_t n = 0;
  for (const auto& item : appends) {
    n += item.events.size();
  }
  return n;
}

/// The open store: handles, the in-memory head of the log, the retention floor, the meta record
/// counters and the write health.
class event_log::impl {
 public:
  explicit impl(event_log_options options) : options_(std::move(options)) {}

  caf::expected<void> open() {
    const auto& path = options_.path;
    if (path.empty()) {
      return make_error(ec::invalid_argument, "the store path is empty; give a directory");
    }
    namespace fs = std::filesystem;
    std::error_code fs_error;
    auto status = fs::status(path, fs_error);
    if (status.type() != fs::file_type::not_found && fs_error) {
      return make_error(ec::storage_error, fmt::format("cannot inspect the store path {}: {}", path,
                                                       fs_error.message()));
    }
    if (fs::exists(status) && !fs::is_directory(status)) {
      return make_error(ec::storage_error,
                        fmt::format("cannot open the sluice store at {}: the path exists and is "
                                    "not a directory",
                                    path));
    }
    bool database_exists = fs::exists(fs::path{path} / "CURRENT", fs_error);
    if (options_.read_only && !database_exists) {
      return make_error(ec::storage_error,
                        fmt::format("there is no sluice store at {} (no RocksDB database in that "
                                    "directory); check the path",
                                    path));
    }
    if (database_exists) {
      if (auto checked = check_column_families(); !checked) {
        return checked.error();
      }
    }
    if (auto opened = open_handles(); !opened) {
      return opened.error();
    }
    if (auto checked = check_schema(); !checked) {
      return checked.error();
    }
    if (auto recovered = recover_head(); !recovered) {
      return recovered.error();
    }
    auto publish = last_counter(keys::publish_prefix);
    if (!publish) {
      return publish.error();
    }
    last_publish_ = *publish;
    auto client = last_counter(keys::client_prefix);
    if (!client) {
      return client.error();
    }
    last_client_ = *client;
    log::store()->info(
        "store opened path={} read_only={} first_seq={} last_seq={} "
        "compression={}",
        path, options_.read_only, floor_.load() + 1, last_seq_.load(), pick_compression().second);
    return {};
  }

  caf::expected<std::vector<uint64_t>> write(write_group& group) {
    if (options_.read_only) {
      return make_error(ec::invalid_argument,
                        fmt::format("the sluice store at {} is open read-only; refusing to "
                                    "write {} events",
                                    options_.path, group.event_count()));
    }
    std::vector<uint64_t> heads;
    if (group.empty()) {
      return heads;
    }
    std::lock_guard guard{write_mutex_};
    const uint64_t first = last_seq_.load(std::memory_order_relaxed) + 1;
    int64_t time = std::max(now_unix_ns(), last_time_);
    rocksdb::WriteBatch batch;
    std::string value;
    uint64_t seq = first;
    heads.reserve(group.appends.size());
    for (auto& item : group.appends) {
      for (auto& event : item.events) {
        event.set_seq(seq++);
        // Commit times never go backwards, whatever the clock or the caller says, so that
        // seq_at_time can binary-search.
        event.set_time_unix_ns(
            std::max(event.time_unix_ns() == 0 ? time : event.time_unix_ns(), time));
        time = event.time_unix_ns();
        if (!event.SerializeToString(&value)) {
          return make_error(ec::storage_error,
                            fmt::format("cannot serialise event seq={} kind={} namespace={} "
                                        "name={} for the store at {}",
                                        event.seq(), event.kind(), event.namespace_(), event.name(),
                                        options_.path));
        }
        auto status = batch.Put(cf(cf_events), keys::encode_seq(event.seq()), value);
        if (status.ok()) {
          status = stage_state(batch, event, value);
        }
        if (!status.ok()) {
          return storage_failure(fmt::format("cannot stage event seq={} for", event.seq()),
                                 options_.path, status);
        }
      }
      for (const auto& [name, position] : item.cursors) {
        auto status = batch.Put(cf(cf_meta), std::string{keys::cursor_prefix} + name, position);
        if (!status.ok()) {
          return storage_failure(fmt::format("cannot stage cursor {} for", name), options_.path,
                                 status);
        }
      }
      heads.push_back(seq - 1);
    }
    uint64_t publish = last_publish_;
    for (const auto& record : group.publishes) {
      if (auto staged = stage_record(batch, keys::publish_prefix, ++publish, record); !staged) {
        return staged.error();
      }
    }
    uint64_t client = last_client_;
    for (const auto& record : group.client_responses) {
      if (auto staged = stage_record(batch, keys::client_prefix, ++client, record); !staged) {
        return staged.error();
      }
    }
    if (auto written = commit(batch, fmt::format("cannot append {} events (seq {}..{}) to",
                                                 seq - first, first, seq - 1));
        !written) {
      // Nothing was acknowledged, so the head stays where it was and the next write reuses
      // these seqs: the log never gets a hole.
      return written.error();
    }
    last_time_ = time;
    last_publish_ = publish;
    last_client_ = client;
    last_seq_.store(seq - 1, std::memory_order_release);
    log::store()->debug("appended events={} first_seq={} last_seq={} appends={} records={}",
                        seq - first, first, seq - 1, group.appends.size(),
                        group.publishes.size() + group.client_responses.size());
    return heads;
  }

  caf::expected<std::vector<sluice::v1::Event>> append(
      std::vector<sluice::v1::Event> events, const std::map<std::string, std::string>& cursors) {
    write_group group;
    group.appends.push_back(append_item{std::move(events), cursors});
    if (auto written = write(group); !written) {
      return written.error();
    }
    return std::move(group.appends.front().events);
  }

  uint64_t last_seq() const { return last_seq_.load(std::memory_order_acquire); }
  uint64_t floor() const { return floor_.load(std::memory_order_acquire); }

  caf::expected<void> for_each_event(
      uint64_t from, uint64_t to, const std::function<bool(const sluice::v1::Event&)>& fn) const {
    const uint64_t floor_seq = floor();
    from = std::max(from, floor_seq + 1);
    if (from > to) {
      return {};
    }
    std::unique_ptr<rocksdb::Iterator> it{db()->NewIterator(rocksdb::ReadOptions{}, cf(cf_events))};
    sluice::v1::Event event;
    uint64_t expected = from;
    const uint64_t head = last_seq();
    for (it->Seek(keys::encode_seq(from)); it->Valid(); it->Next()) {
      auto seq = keys::decode_seq(view(it->key()));
      if (!seq) {
        return make_error(ec::storage_error,
                          fmt::format("the events of the store at {} hold a key of {} bytes "
                                      "(want 8) after seq {}; the store is damaged",
                                      options_.path, it->key().size(), expected - 1));
      }
      if (*seq > to) {
        break;
      }
      if (*seq != expected) {
        return missing_events(expected, *seq);
      }
      if (!event.ParseFromArray(it->value().data(), static_cast<int>(it->value().size()))) {
        return make_error(ec::storage_error,
                          fmt::format("event seq={} in the store at {} cannot be parsed; the "
                                      "store is damaged from that event on",
                                      *seq, options_.path));
      }
      ++expected;
      if (!fn(event)) {
        return {};
      }
    }
    if (!it->status().ok()) {
      return make_error(ec::storage_error,
                        fmt::format("the events of the store at {} cannot be read after seq {}; "
                                    "the store is damaged: {}",
                                    options_.path, expected - 1, it->status().ToString()));
    }
    // The iterator ended early: the events between `expected` and the head are missing.
    if (expected <= std::min(to, head)) {
      return missing_events(expected, 0);
    }
    return {};
  }

  caf::expected<std::optional<sluice::v1::Event>> event(uint64_t seq) const {
    std::string value;
    auto status = db()->Get(rocksdb::ReadOptions{}, cf(cf_events), keys::encode_seq(seq), &value);
    if (status.IsNotFound()) {
      return std::optional<sluice::v1::Event>{};
    }
    if (!status.ok()) {
      return storage_failure(fmt::format("cannot read event seq={} from", seq), options_.path,
                             status);
    }
    sluice::v1::Event out;
    if (!out.ParseFromString(value)) {
      return make_error(ec::storage_error,
                        fmt::format("event seq={} in the store at {} cannot be parsed; the store "
                                    "is damaged from that event on",
                                    seq, options_.path));
    }
    return std::optional<sluice::v1::Event>{std::move(out)};
  }

  caf::expected<uint64_t> seq_at_time(int64_t t) const {
    uint64_t lo = floor() + 1;
    uint64_t hi = last_seq();
    // Binary search for the last seq with time <= t over [lo, hi]; times are non-decreasing.
    uint64_t found = 0;
    while (lo <= hi && hi != 0) {
      uint64_t mid = lo + (hi - lo) / 2;
      auto ev = event(mid);
      if (!ev) {
        return ev.error();
      }
      if (!*ev) {
        return missing_events(mid, 0);
      }
      if ((*ev)->time_unix_ns() <= t) {
        found = mid;
        lo = mid + 1;
      } else {
        if (mid == 0) {
          break;
        }
        hi = mid - 1;
      }
    }
    return found;
  }

  caf::expected<std::vector<sluice::v1::StateRecord>> load_state() const {
    std::vector<sluice::v1::StateRecord> out;
    auto scanned = scan(cf(cf_state), "", [&](std::string_view key, std::string_view value) {
      return parse_into(out, value, "state row", key);
    });
    if (!scanned) {
      return scanned.error();
    }
    return out;
  }

  caf::expected<std::optional<std::string>> cursor(std::string_view name) const {
    std::string value;
    auto key = std::string{keys::cursor_prefix}.append(name);
    auto status = db()->Get(rocksdb::ReadOptions{}, cf(cf_meta), key, &value);
    if (status.IsNotFound()) {
      return std::optional<std::string>{};
    }
    if (!status.ok()) {
      return storage_failure(fmt::format("cannot read cursor {} from", name), options_.path,
                             status);
    }
    return std::optional<std::string>{std::move(value)};
  }

  caf::expected<std::map<std::string, std::string>> cursors(std::string_view prefix) const {
    std::map<std::string, std::string> out;
    auto scanned = scan(cf(cf_meta), std::string{keys::cursor_prefix}.append(prefix),
                        [&](std::string_view key, std::string_view value) -> caf::error {
                          out.emplace(key.substr(keys::cursor_prefix.size()), value);
                          return {};
                        });
    if (!scanned) {
      return scanned.error();
    }
    return out;
  }

  caf::expected<void> record_publish(const sluice::v1::PublishRecord& record_value) {
    write_group group;
    group.publishes.push_back(record_value);
    if (auto written = write(group); !written) {
      return written.error();
    }
    return {};
  }

  caf::expected<void> record_client_response(const sluice::v1::ClientResponseRecord& record_value) {
    write_group group;
    group.client_responses.push_back(record_value);
    if (auto written = write(group); !written) {
      return written.error();
    }
    return {};
  }

  template <class Record>
  caf::expected<std::vector<Record>> records(std::string_view prefix) const {
    std::vector<Record> out;
    auto scanned
        = scan(cf(cf_meta), std::string{prefix}, [&](std::string_view key, std::string_view value) {
            return parse_into(out, value, "meta record", key);
          });
    if (!scanned) {
      return scanned.error();
    }
    return out;
  }

  caf::expected<checkpoint_info> write_checkpoint() {
    if (options_.read_only) {
      return make_error(ec::invalid_argument,
                        fmt::format("the sluice store at {} is open read-only; refusing to "
                                    "write a checkpoint",
                                    options_.path));
    }
    std::lock_guard guard{write_mutex_};
    checkpoint_info info;
    info.seq = last_seq_.load(std::memory_order_relaxed);
    if (auto existing = read_checkpoint_header(info.seq); !existing) {
      return existing.error();
    } else if (*existing) {
      return **existing;
    }
    if (info.seq != 0) {
      auto ev = event(info.seq);
      if (!ev) {
        return ev.error();
      }
      info.time_unix_ns = *ev ? (*ev)->time_unix_ns() : 0;
    }
    rocksdb::WriteBatch batch;
    running_hash hash;
    // The writer holds write_mutex_, so the state rows are exactly those of last_seq.
    auto scanned = scan(cf(cf_state), "", [&](std::string_view key, std::string_view value) {
      hash.add(key);
      hash.add(std::string_view{"\0", 1});
      hash.add(value);
      ++info.rows;
      auto status = batch.Put(cf(cf_meta), keys::checkpoint_row_key(info.seq, key),
                              rocksdb::Slice(value.data(), value.size()));
      if (!status.ok()) {
        return storage_failure("cannot stage a checkpoint row for", options_.path, status);
      }
      return caf::error{};
    });
    if (!scanned) {
      return scanned.error();
    }
    info.hash = hash.value();
    auto status = batch.Put(cf(cf_meta), keys::counter_key(keys::checkpoint_prefix, info.seq),
                            checkpoint_header(info));
    if (!status.ok()) {
      return storage_failure("cannot stage a checkpoint header for", options_.path, status);
    }
    if (auto written
        = commit(batch, fmt::format("cannot write the checkpoint at seq {} to", info.seq));
        !written) {
      return written.error();
    }
    log::store()->info("checkpoint written seq={} rows={}", info.seq, info.rows);
    return info;
  }

  caf::expected<std::vector<checkpoint_info>> checkpoints() const {
    std::vector<checkpoint_info> out;
    auto scanned = scan(cf(cf_meta), std::string{keys::checkpoint_prefix},
                        [&](std::string_view key, std::string_view value) -> caf::error {
                          auto info = decode_checkpoint(key, value);
                          if (!info) {
                            return info.error();
                          }
                          out.push_back(*info);
                          return {};
                        });
    if (!scanned) {
      return scanned.error();
    }
    return out;
  }

  caf::expected<checkpoint_info> checkpoint_for(uint64_t seq) const {
    const uint64_t floor_seq = floor();
    const uint64_t head = last_seq();
    if (seq > head) {
      return make_error(ec::not_found,
                        fmt::format("seq {} is beyond the head of the log at {} (last seq {})", seq,
                                    options_.path, head));
    }
    if (seq < floor_seq) {
      return make_error(ec::not_found,
                        fmt::format("seq {} is older than the retained history of the log at {}: "
                                    "retention removed events up to seq {}, the oldest point "
                                    "that can be replayed",
                                    seq, options_.path, floor_seq));
    }
    std::unique_ptr<rocksdb::Iterator> it{db()->NewIterator(rocksdb::ReadOptions{}, cf(cf_meta))};
    it->SeekForPrev(keys::counter_key(keys::checkpoint_prefix, seq));
    if (it->Valid() && starts_with(view(it->key()), keys::checkpoint_prefix)) {
      auto info = decode_checkpoint(view(it->key()), view(it->value()));
      if (!info) {
        return info.error();
      }
      if (info->seq >= floor_seq) {
        return *info;
      }
    }
    if (!it->status().ok()) {
      return storage_failure("cannot find a checkpoint in", options_.path, it->status());
    }
    if (floor_seq == 0) {
      return checkpoint_info{};
    }
    return make_error(ec::storage_error,
                      fmt::format("the log at {} has no checkpoint at its retention floor seq {}; "
                                  "the store is damaged",
                                  options_.path, floor_seq));
  }

  caf::expected<std::vector<sluice::v1::StateRecord>> load_checkpoint(uint64_t seq) const {
    std::vector<sluice::v1::StateRecord> out;
    if (seq == 0) {
      return out;
    }
    auto header = read_checkpoint_header(seq);
    if (!header) {
      return header.error();
    }
    if (!*header) {
      return make_error(ec::not_found, fmt::format("the log at {} has no checkpoint at seq {}",
                                                   options_.path, seq));
    }
    running_hash hash;
    const auto prefix = keys::checkpoint_rows_prefix(seq);
    auto scanned = scan(cf(cf_meta), prefix, [&](std::string_view key, std::string_view value) {
      auto state = key.substr(prefix.size());
      hash.add(state);
      hash.add(std::string_view{"\0", 1});
      hash.add(value);
      return parse_into(out, value, "checkpoint row", key);
    });
    if (!scanned) {
      return scanned.error();
    }
    if (out.size() != (*header)->rows || hash.value() != (*header)->hash) {
      return make_error(ec::storage_error,
                        fmt::format("the checkpoint at seq {} in the store at {} is damaged: it "
                                    "holds {} rows hashing to {}, its header says {} rows hashing "
                                    "to {}",
                                    seq, options_.path, out.size(), model::hash_hex(hash.value()),
                                    (*header)->rows, model::hash_hex((*header)->hash)));
    }
    return out;
  }

  caf::expected<uint64_t> prune_checkpoints(size_t keep) {
    if (options_.read_only) {
      return uint64_t{0};
    }
    std::lock_guard guard{write_mutex_};
    auto list = checkpoints();
    if (!list) {
      return list.error();
    }
    const uint64_t floor_seq = floor();
    rocksdb::WriteBatch batch;
    uint64_t deleted = 0;
    for (size_t i = 0; i + keep < list->size(); ++i) {
      const uint64_t seq = (*list)[i].seq;
      if (seq == floor_seq) {
        continue;
      }
      auto rows = keys::checkpoint_rows_prefix(seq);
      auto end = rows;
      end.back() = static_cast<char>('/' + 1);  // just past every key under `rows`
      auto status = batch.Delete(cf(cf_meta), keys::counter_key(keys::checkpoint_prefix, seq));
      if (status.ok()) {
        status = batch.DeleteRange(cf(cf_meta), rows, end);
      }
      if (!status.ok()) {
        return storage_failure("cannot stage a checkpoint delete for", options_.path, status);
      }
      ++deleted;
    }
    if (deleted == 0) {
      return deleted;
    }
    if (auto written = commit(batch, "cannot prune checkpoints of"); !written) {
      return written.error();
    }
    log::store()->debug("checkpoints pruned deleted={} kept={}", deleted, list->size() - deleted);
    return deleted;
  }

  caf::expected<retention_result> apply_retention(const retention_policy& policy,
                                                  int64_t now_unix_ns) {
    retention_result result;
    result.floor = floor();
    if (options_.read_only || !policy.enabled()) {
      return result;
    }
    std::lock_guard guard{write_mutex_};
    const uint64_t head = last_seq_.load(std::memory_order_relaxed);
    const uint64_t old_floor = floor();
    uint64_t keep_from = old_floor + 1;
    if (policy.max_events > 0 && head > policy.max_events) {
      keep_from = std::max(keep_from, head - policy.max_events + 1);
    }
    if (policy.max_age.count() > 0) {
      auto cutoff = now_unix_ns - static_cast<int64_t>(policy.max_age.count());
      // The last seq older than the cutoff; everything after it is young enough to keep.
      auto last_old = seq_at_time(cutoff - 1);
      if (!last_old) {
        return last_old.error();
      }
      keep_from = std::max(keep_from, *last_old + 1);
    }
    if (keep_from <= old_floor + 1) {
      return result;
    }
    // The new floor is the newest checkpoint before keep_from: replay needs it.
    std::unique_ptr<rocksdb::Iterator> it{db()->NewIterator(rocksdb::ReadOptions{}, cf(cf_meta))};
    it->SeekForPrev(keys::counter_key(keys::checkpoint_prefix, keep_from - 1));
    uint64_t new_floor = 0;
    if (it->Valid() && starts_with(view(it->key()), keys::checkpoint_prefix)) {
      auto seq = keys::decode_counter_key(keys::checkpoint_prefix, view(it->key()));
      if (seq) {
        new_floor = *seq;
      }
    }
    if (!it->status().ok()) {
      return storage_failure("cannot find a checkpoint in", options_.path, it->status());
    }
    it.reset();
    if (new_floor <= old_floor) {
      log::store()->debug("retention waits for a checkpoint keep_from={} floor={}", keep_from,
                          old_floor);
      return result;
    }
    rocksdb::WriteBatch batch;
    auto status = batch.DeleteRange(cf(cf_events), keys::encode_seq(old_floor + 1),
                                    keys::encode_seq(new_floor + 1));
    auto stale = checkpoints();
    if (!stale) {
      return stale.error();
    }
    for (const auto& c : *stale) {
      if (c.seq < new_floor && status.ok()) {
        ++result.checkpoints_deleted;
        status = batch.Delete(cf(cf_meta), keys::counter_key(keys::checkpoint_prefix, c.seq));
        if (status.ok()) {
          auto rows = keys::checkpoint_rows_prefix(c.seq);
          auto end = rows;
          end.back() = static_cast<char>('/' + 1);  // just past every key under `rows`
          status = batch.DeleteRange(cf(cf_meta), rows, end);
        }
      }
    }
    if (!status.ok()) {
      return storage_failure("cannot stage the retention deletes for", options_.path, status);
    }
    // Records describe what was served: those older than the floor cannot be replayed any more.
    auto floor_event = event(new_floor);
    if (!floor_event) {
      return floor_event.error();
    }
    const int64_t floor_time = *floor_event ? (*floor_event)->time_unix_ns() : 0;
    auto trimmed = stage_record_trim(batch, keys::publish_prefix, [&](std::string_view value) {
      sluice::v1::PublishRecord r;
      return r.ParseFromArray(value.data(), static_cast<int>(value.size()))
             && r.watermark_seq() < new_floor;
    });
    if (!trimmed) {
      return trimmed.error();
    }
    result.records_deleted += *trimmed;
    trimmed = stage_record_trim(batch, keys::client_prefix, [&](std::string_view value) {
      sluice::v1::ClientResponseRecord r;
      return r.ParseFromArray(value.data(), static_cast<int>(value.size()))
             && r.time_unix_ns() < floor_time;
    });
    if (!trimmed) {
      return trimmed.error();
    }
    result.records_deleted += *trimmed;
    status = batch.Put(cf(cf_meta), std::string{keys::retention_floor}, std::to_string(new_floor));
    if (!status.ok()) {
      return storage_failure("cannot stage the retention floor for", options_.path, status);
    }
    if (auto written
        = commit(batch, fmt::format("cannot apply retention (floor {}) to", new_floor));
        !written) {
      return written.error();
    }
    floor_.store(new_floor, std::memory_order_release);
    result.floor = new_floor;
    result.events_deleted = new_floor - old_floor;
    // Tombstones alone do not free disk space; compacting the deleted range does.
    auto begin_key = keys::encode_seq(0);
    auto end_key = keys::encode_seq(new_floor + 1);
    rocksdb::Slice begin_slice{begin_key};
    rocksdb::Slice end_slice{end_key};
    rocksdb::CompactRangeOptions compact;
    if (auto compacted = db()->CompactRange(compact, cf(cf_events), &begin_slice, &end_slice);
        !compacted.ok()) {
      log::store()->warn("compacting deleted events failed path={} status={}", options_.path,
                         compacted.ToString());
    }
    log::store()->info(
        "retention applied floor={} events_deleted={} checkpoints_deleted={} "
        "records_deleted={}",
        new_floor, result.events_deleted, result.checkpoints_deleted, result.records_deleted);
    return result;
  }

  store_health health() const {
    std::lock_guard guard{health_mutex_};
    return health_;
  }

  caf::expected<void> recover() {
    if (options_.read_only) {
      return {};
    }
    // Handles first, then the writer: the same order as every other caller (see event_log::).
    std::unique_lock handles_guard{handles_mutex_};
    std::lock_guard guard{write_mutex_};
    if (health().healthy && !closed_) {
      return {};
    }
    if (!closed_) {
      auto status = db()->Resume();
      if (status.ok()) {
        log::store()->info("store resumed after a write error path={}", options_.path);
        return {};
      }
      // RocksDB treats a failed WAL write as fatal for this DB instance: Resume() refuses and
      // only a reopen (which replays the WAL and starts a new one) brings writes back.
      log::store()->warn("store cannot resume, reopening path={} status={}", options_.path,
                         status.ToString());
      handles_.close();
      closed_ = true;
    }
    if (auto reopened = open_handles(); !reopened) {
      return reopened.error();
    }
    closed_ = false;
    const uint64_t head = last_seq_.load();
    if (auto recovered = recover_head(); !recovered) {
      return recovered.error();
    }
    if (last_seq_.load() != head) {
      // A write that reported failure reached the WAL after all (its sync failed, its data
      // did not): those events are in the log now although nobody was told so. Retried
      // appends follow them; ingest dedupes by content, so nothing is lost or doubled in
      // the world.
      log::store()->warn(
          "store reopened with events the failed write left behind path={} "
          "head_before={} head_now={}",
          options_.path, head, last_seq_.load());
    }
    log::store()->info("store reopened after a write error path={} last_seq={}", options_.path,
                       last_seq_.load());
    return {};
  }

  /// Readers and writers hold this shared; recover() holds it exclusively while it reopens.
  std::shared_mutex& handles_mutex() const { return handles_mutex_; }

  /// Whether the DB is closed (a reopen after a fatal write error failed); every call then
  /// fails with this error until recover() succeeds.
  caf::error closed_error() const {
    if (!closed_) {
      return {};
    }
    return make_error(ec::storage_error,
                      fmt::format("the sluice store at {} is closed after a write error ({}) "
                                  "and could not be reopened yet",
                                  options_.path, health().error));
  }

  const std::string& path() const { return options_.path; }

 private:
  rocksdb::DB* db() const { return handles_.db(); }
  rocksdb::ColumnFamilyHandle* cf(column_family which) const { return handles_.handle(which); }

  /// Opens RocksDB. Read-write opens tolerate only a torn WAL tail (kTolerateCorruptedTailRecords)
  /// and refuse any other damage, naming the last intact seq; read-only opens (inspection, maybe
  /// of a log that is being written) stop at the first incomplete record (point in time).
  caf::expected<void> open_handles() {
    std::vector<std::string> names(column_family_names.begin(), column_family_names.end());
    const bool strict = !options_.read_only && !options_.truncate_damaged_log;
    auto mode = strict ? rocksdb::WALRecoveryMode::kTolerateCorruptedTailRecords
                       : rocksdb::WALRecoveryMode::kPointInTimeRecovery;
    auto opened
        = handles_.open(options_.path, options_.read_only, names, mode, options_.file_system);
    if (opened || !strict || !handles_.corrupt()) {
      return opened;
    }
    // Damage before the end of the WAL. Find the intact prefix without changing anything.
    std::string intact = "unknown (a read-only open failed too)";
    {
      rocksdb_handles probe;
      if (probe.open(options_.path, true, names)) {
        std::unique_ptr<rocksdb::Iterator> it{
            probe.db()->NewIterator(rocksdb::ReadOptions{}, probe.handle(cf_events))};
        it->SeekToLast();
        auto seq = it->Valid() ? keys::decode_seq(view(it->key())) : std::optional<uint64_t>{0};
        if (seq) {
          intact = std::to_string(*seq);
        }
      }
    }
    auto message = fmt::format(
        "the sluice store at {} is damaged: its write-ahead log is corrupt before its end ({}). "
        "The log is intact up to seq {}; the records after it cannot be trusted, so sluice "
        "refuses to open it rather than leave a hole. Restore the directory from a backup, or "
        "accept losing the damaged part by opening with truncate_damaged_log (`sluice serve "
        "--truncate-damaged-log`): the sources then re-deliver what is missing",
        options_.path, describe(opened.error()), intact);
    log::store()->error("{}", message);
    return make_error(ec::storage_error, std::move(message));
  }

  caf::error missing_events(uint64_t expected, uint64_t next) const {
    if (next == 0) {
      return make_error(ec::storage_error,
                        fmt::format("the log at {} is damaged: seq {} is missing (no event is "
                                    "stored from it up to the head, seq {})",
                                    options_.path, expected, last_seq()));
    }
    return make_error(ec::storage_error,
                      fmt::format("the log at {} is damaged: seq {} is missing (the next stored "
                                  "event is seq {}), a hole in the log",
                                  options_.path, expected, next));
  }

  /// Writes a batch with the configured sync, tracking health: a failure makes the store
  /// unhealthy, a success healthy.
  caf::expected<void> commit(rocksdb::WriteBatch& batch, const std::string& what) {
    rocksdb::WriteOptions write_options;
    write_options.sync = options_.sync;
    auto status = db()->Write(write_options, &batch);
    std::lock_guard guard{health_mutex_};
    if (!status.ok()) {
      ++health_.failed_writes;
      if (health_.healthy) {
        health_.since_unix_ns = now_unix_ns();
      }
      health_.healthy = false;
      health_.error = status.ToString();
      log::store()->error("write failed path={} status={}", options_.path, status.ToString());
      return storage_failure(what, options_.path, status);
    }
    if (!health_.healthy) {
      log::store()->info("store healthy again path={} failed_writes={}", options_.path,
                         health_.failed_writes);
    }
    health_.healthy = true;
    health_.error.clear();
    return {};
  }

  caf::expected<void> stage_record(rocksdb::WriteBatch& batch, std::string_view prefix,
                                   uint64_t counter, const google::protobuf::Message& message) {
    std::string value;
    if (!message.SerializeToString(&value)) {
      return make_error(ec::storage_error, fmt::format("cannot serialise a {} record for the "
                                                       "store at {}",
                                                       prefix, options_.path));
    }
    auto status = batch.Put(cf(cf_meta), keys::counter_key(prefix, counter), value);
    if (!status.ok()) {
      return storage_failure(fmt::format("cannot stage {} entry {} for", prefix, counter),
                             options_.path, status);
    }
    return {};
  }

  /// Stages deletes for records under `prefix`, oldest first, while `old(value)` holds: records
  /// are written in time order, so the first young one ends the old ones.
  template <class Pred>
  caf::expected<uint64_t> stage_record_trim(rocksdb::WriteBatch& batch, std::string_view prefix,
                                            Pred old) {
    uint64_t deleted = 0;
    std::unique_ptr<rocksdb::Iterator> it{db()->NewIterator(rocksdb::ReadOptions{}, cf(cf_meta))};
    for (it->Seek(std::string{prefix}); it->Valid(); it->Next()) {
      auto key = view(it->key());
      if (!starts_with(key, prefix) || !old(view(it->value()))) {
        break;
      }
      auto status = batch.Delete(cf(cf_meta), it->key());
      if (!status.ok()) {
        return storage_failure("cannot stage a record delete for", options_.path, status);
      }
      ++deleted;
    }
    if (!it->status().ok()) {
      return storage_failure("cannot scan records in", options_.path, it->status());
    }
    return deleted;
  }

  caf::expected<checkpoint_info> decode_checkpoint(std::string_view key,
                                                   std::string_view value) const {
    auto seq = keys::decode_counter_key(keys::checkpoint_prefix, key);
    auto info = seq ? parse_checkpoint_header(*seq, value) : std::nullopt;
    if (!info) {
      return make_error(ec::storage_error,
                        fmt::format("the checkpoint header '{}' = '{}' in the store at {} cannot "
                                    "be parsed; the store is damaged",
                                    key, value, options_.path));
    }
    return *info;
  }

  caf::expected<std::optional<checkpoint_info>> read_checkpoint_header(uint64_t seq) const {
    std::string value;
    auto key = keys::counter_key(keys::checkpoint_prefix, seq);
    auto status = db()->Get(rocksdb::ReadOptions{}, cf(cf_meta), key, &value);
    if (status.IsNotFound()) {
      return std::optional<checkpoint_info>{};
    }
    if (!status.ok()) {
      return storage_failure(fmt::format("cannot read the checkpoint at seq {} from", seq),
                             options_.path, status);
    }
    auto info = decode_checkpoint(key, value);
    if (!info) {
      return info.error();
    }
    return std::optional<checkpoint_info>{*info};
  }

  /// Stages the state change an event implies, exactly as model::apply_event changes a world (so
  /// a checkpoint equals the replayed world):
  ///  - an accepted upsert replaces the resource's row, so a rejected edit leaves the last good
  ///    form in place across restarts (Gloo keeps serving the last accepted config,
  ///    reliability.md §1.7), and clears the resource's rejection;
  ///  - an accepted delete removes the row and the resource's rejection; one without a name
  ///    (the tracker's "this origin is clean or gone") removes the origin's rejection;
  ///  - a rejected event puts a rejection row for the resource (or, without a name, its origin);
  ///  - a reverted event puts the form it carries back (an upsert) or removes the resource (a
  ///    delete: it never translated cleanly), and puts a rejection row for it.
  rocksdb::Status stage_state(rocksdb::WriteBatch& batch, const sluice::v1::Event& event,
                              std::string& scratch) const {
    const auto key = state_key(event.kind(), event.namespace_(), event.name());
    const auto rejection_key = model::rejection_row_key(event.kind(), event.namespace_(),
                                                        event.name(), event.origin());
    auto put_row = [&](const sluice::v1::StateRecord& row, const std::string& row_key) {
      if (!row.SerializeToString(&scratch)) {
        return rocksdb::Status::InvalidArgument("cannot serialise state row", row_key);
      }
      return batch.Put(cf(cf_state), row_key, scratch);
    };
    auto base_row = [&] {
      sluice::v1::StateRecord row;
      row.set_seq(event.seq());
      row.set_kind(event.kind());
      row.set_namespace_(event.namespace_());
      row.set_name(event.name());
      row.set_origin(event.origin());
      return row;
    };
    auto put_rejection = [&](std::string_view stage) {
      auto row = base_row();
      auto* r = row.mutable_rejection();
      r->set_seq(event.seq());
      r->set_stage(std::string(stage));
      if (event.verdict() == sluice::v1::VERDICT_REVERTED) {
        r->set_refused(event.raw());
      }
      for (const auto& e : event.errors()) {
        r->add_errors(e);
      }
      return put_row(row, rejection_key);
    };
    auto put_accepted = [&]() {
      auto row = base_row();
      row.set_resource(event.resource());
      row.set_content_hash(event.content_hash());
      return put_row(row, key);
    };
    // A named change clears its resource's rejection row, a nameless delete its origin's
    // (model::apply_rejections).
    auto clear_rejections = [&]() { return batch.Delete(cf(cf_state), rejection_key); };
    if (event.op() != sluice::v1::EVENT_OP_UPSERT && event.op() != sluice::v1::EVENT_OP_DELETE) {
      return rocksdb::Status::OK();
    }
    switch (event.verdict()) {
      case sluice::v1::VERDICT_ACCEPTED: {
        if (event.op() == sluice::v1::EVENT_OP_DELETE) {
          auto status = event.name().empty() ? rocksdb::Status::OK()
                                             : batch.Delete(cf(cf_state), key);
          return status.ok() ? clear_rejections() : status;
        }
        auto status = put_accepted();
        return status.ok() ? clear_rejections() : status;
      }
      case sluice::v1::VERDICT_REJECTED:
        // Only input can be rejected; a rejected delete (none is written today) means nothing.
        return event.op() == sluice::v1::EVENT_OP_UPSERT
                   ? put_rejection(model::rejection_stage_ingest)
                   : rocksdb::Status::OK();
      case sluice::v1::VERDICT_REVERTED: {
        if (event.name().empty()) {
          return rocksdb::Status::OK();
        }
        auto status = event.op() == sluice::v1::EVENT_OP_UPSERT
                          ? put_accepted()
                          : batch.Delete(cf(cf_state), key);
        return status.ok() ? put_rejection(model::rejection_stage_translation) : status;
      }
      default:
        return rocksdb::Status::OK();
    }
  }

  template <class Record>
  caf::error parse_into(std::vector<Record>& out, std::string_view value, std::string_view what,
                        std::string_view key) const {
    Record record_value;
    if (!record_value.ParseFromArray(value.data(), static_cast<int>(value.size()))) {
      return make_error(ec::storage_error,
                        fmt::format("{} {} in the store at {} cannot be parsed; the store is "
                                    "damaged",
                                    what, key, options_.path));
    }
    out.push_back(std::move(record_value));
    return {};
  }

  /// Calls `fn(key, value)` for each key starting with `prefix`, in key order, stopping at the
  /// first error it returns.
  template <class Fn>
  caf::expected<void> scan(rocksdb::ColumnFamilyHandle* family, const std::string& prefix,
                           Fn&& fn) const {
    std::unique_ptr<rocksdb::Iterator> it{db()->NewIterator(rocksdb::ReadOptions{}, family)};
    for (it->Seek(prefix); it->Valid(); it->Next()) {
      auto key = view(it->key());
      if (!starts_with(key, prefix)) {
        break;
      }
      if (caf::error err = fn(key, view(it->value()))) {
        return err;
      }
    }
    if (!it->status().ok()) {
      return storage_failure("cannot scan", options_.path, it->status());
    }
    return {};
  }
  /// Refuses databases with column families we do not know, and checks partial ones, before an
  /// open that would otherwise create our column families inside someone else's database.
  caf::expected<void> check_column_families() const {
    std::vector<std::string> existing;
    auto status = rocksdb::DB::ListColumnFamilies(rocksdb::DBOptions{}, options_.path, &existing);
    if (!status.ok()) {
      return storage_failure("cannot list the column families of", options_.path, status);
    }
    std::vector<std::string> foreign;
    for (const auto& name : existing) {
      if (std::find(column_family_names.begin(), column_family_names.end(), name)
          == column_family_names.end()) {
        foreign.push_back(name);
      }
    }
    if (!foreign.empty()) {
      return make_error(ec::incompatible_store,
                        fmt::format("{} is not a sluice store: it has the column families {}, "
                                    "which sluice does not use",
                                    options_.path, fmt::join(foreign, ", ")));
    }
    std::vector<std::string> missing;
    for (const auto& name : column_family_names) {
      if (std::find(existing.begin(), existing.end(), name) == existing.end()) {
        missing.push_back(name);
      }
    }
    if (missing.empty()) {
      return {};
    }
    return check_partial_store(options_.path, existing, missing, options_.read_only);
  }

  caf::expected<void> check_schema() {
    std::string value;
    auto status
        = db()->Get(rocksdb::ReadOptions{}, cf(cf_meta), std::string{keys::schema_version}, &value);
    if (status.ok()) {
      uint64_t version = 0;
      auto [end, err] = std::from_chars(value.data(), value.data() + value.size(), version);
      if (err != std::errc{} || end != value.data() + value.size() || version == 0) {
        return make_error(ec::incompatible_store,
                          fmt::format("{} is not a sluice store this binary can read: its "
                                      "schema_version is '{}', expected a number up to {}",
                                      options_.path, value, supported_schema_version));
      }
      if (version > supported_schema_version) {
        return make_error(ec::incompatible_store,
                          fmt::format("the sluice store at {} has schema version {}, newer than "
                                      "the version {} this binary supports; run a newer sluice",
                                      options_.path, version, supported_schema_version));
      }
      return {};
    }
    if (!status.IsNotFound()) {
      return storage_failure("cannot read the schema version of", options_.path, status);
    }
    auto has_data = holds_any_key(handles_, options_.path);
    if (!has_data) {
      return has_data.error();
    }
    if (*has_data) {
      return make_error(ec::incompatible_store,
                        fmt::format("{} is not a sluice store: it holds data but no "
                                    "schema_version",
                                    options_.path));
    }
    if (options_.read_only) {
      return {};  // an empty store that was never initialised reads as an empty log
    }
    rocksdb::WriteOptions write_options;
    write_options.sync = true;
    status = db()->Put(write_options, cf(cf_meta), std::string{keys::schema_version},
                       std::to_string(supported_schema_version));
    if (!status.ok()) {
      return storage_failure("cannot write the schema version to", options_.path, status);
    }
    log::store()->info("store created path={} schema_version={}", options_.path,
                       supported_schema_version);
    return {};
  }

  /// Reads the head (last seq and its commit time) and the retention floor.
  caf::expected<void> recover_head() {
    std::unique_ptr<rocksdb::Iterator> it{db()->NewIterator(rocksdb::ReadOptions{}, cf(cf_events))};
    it->SeekToLast();
    if (it->Valid()) {
      auto seq = keys::decode_seq(view(it->key()));
      if (!seq) {
        return make_error(ec::storage_error,
                          fmt::format("the last event key of the store at {} has {} bytes "
                                      "(want 8); the store is damaged",
                                      options_.path, it->key().size()));
      }
      sluice::v1::Event last;
      if (!last.ParseFromArray(it->value().data(), static_cast<int>(it->value().size()))) {
        return make_error(ec::storage_error,
                          fmt::format("the last event (seq {}) of the store at {} cannot be "
                                      "parsed; the store is damaged",
                                      *seq, options_.path));
      }
      last_seq_.store(*seq);
      last_time_ = last.time_unix_ns();
    }
    if (!it->status().ok()) {
      return storage_failure("cannot find the last event in", options_.path, it->status());
    }
    it.reset();
    std::string value;
    auto status = db()->Get(rocksdb::ReadOptions{}, cf(cf_meta), std::string{keys::retention_floor},
                            &value);
    if (status.ok()) {
      auto parsed = parse_decimal(value);
      if (!parsed) {
        return make_error(ec::storage_error,
                          fmt::format("the retention floor '{}' of the store at {} is not a "
                                      "number; the store is damaged",
                                      value, options_.path));
      }
      floor_.store(*parsed);
      // Every event may have been removed while the head stayed: the head is never below the
      // floor, so numbering continues after it.
      if (last_seq_.load() < *parsed) {
        last_seq_.store(*parsed);
      }
    } else if (!status.IsNotFound()) {
      return storage_failure("cannot read the retention floor of", options_.path, status);
    }
    return {};
  }

  /// The highest counter under `prefix` in meta, 0 when there is none.
  caf::expected<uint64_t> last_counter(std::string_view prefix) const {
    std::unique_ptr<rocksdb::Iterator> it{db()->NewIterator(rocksdb::ReadOptions{}, cf(cf_meta))};
    // '\xff' sorts after every hex digit, so this lands on the last key under the prefix.
    it->SeekForPrev(std::string{prefix} + '\xff');
    uint64_t counter = 0;
    if (it->Valid() && starts_with(view(it->key()), prefix)) {
      auto decoded = keys::decode_counter_key(prefix, view(it->key()));
      if (!decoded) {
        return make_error(ec::storage_error,
                          fmt::format("the meta key '{}' in the store at {} is not a {} record "
                                      "key; the store is damaged",
                                      view(it->key()), options_.path, prefix));
      }
      counter = *decoded;
    }
    if (!it->status().ok()) {
      return storage_failure("cannot find the last meta record in", options_.path, it->status());
    }
    return counter;
  }

  event_log_options options_;
  rocksdb_handles handles_;
  /// The head of the log; written by the one writer, read from any thread.
  std::atomic<uint64_t> last_seq_{0};
  /// Events up to here were removed by retention.
  std::atomic<uint64_t> floor_{0};
  /// Commit time of the head event; later commits are clamped to it. Writer only.
  int64_t last_time_ = 0;
  /// Serialises writers: seq and counter assignment must match the order of the writes.
  std::mutex write_mutex_;
  uint64_t last_publish_ = 0;
  uint64_t last_client_ = 0;
  mutable std::mutex health_mutex_;
  store_health health_;
  mutable std::shared_mutex handles_mutex_;
  bool closed_ = false;  ///< guarded by handles_mutex_
};

caf::expected<std::unique_ptr<event_log>> event_log::open(const event_log_options& options) {
  auto state = std::make_unique<impl>(options);
  if (auto opened = state->open(); !opened) {
    return opened.error();
  }
  return std::unique_ptr<event_log>{new event_log(std::move(state))};
}

event_log::event_log(std::unique_ptr<impl> impl) : impl_(std::move(impl)) {}

event_log::~event_log() = default;

/// Runs `fn` under the shared handles lock, or fails when the DB is closed (see recover()).
template <class Fn>
auto event_log::guarded(Fn&& fn) const -> decltype(fn()) {
  std::shared_lock lock{impl_->handles_mutex()};
  if (auto err = impl_->closed_error()) {
    return err;
  }
  return fn();
}

caf::expected<std::vector<sluice::v1::Event>> event_log::append(
    std::vector<sluice::v1::Event> events, const std::map<std::string, std::string>& cursors) {
  return guarded([&] { return impl_->append(std::move(events), cursors); });
}

caf::expected<std::vector<uint64_t>> event_log::write(write_group& group) {
  return guarded([&] { return impl_->write(group); });
}

uint64_t event_log::last_seq() const { return impl_->last_seq(); }

uint64_t event_log::first_seq() const { return impl_->floor() + 1; }

uint64_t event_log::retention_floor() const { return impl_->floor(); }

caf::expected<void> event_log::for_each_event(
    uint64_t from, uint64_t to, const std::function<bool(const sluice::v1::Event&)>& fn) const {
  return guarded([&] { return impl_->for_each_event(from, to, fn); });
}

caf::expected<std::optional<sluice::v1::Event>> event_log::event(uint64_t seq) const {
  return guarded([&] { return impl_->event(seq); });
}

caf::expected<uint64_t> event_log::seq_at_time(int64_t time_unix_ns) const {
  return guarded([&] { return impl_->seq_at_time(time_unix_ns); });
}

caf::expected<std::vector<sluice::v1::StateRecord>> event_log::load_state() const {
  return guarded([&] { return impl_->load_state(); });
}

caf::expected<std::optional<std::string>> event_log::cursor(std::string_view name) const {
  return guarded([&] { return impl_->cursor(name); });
}

caf::expected<std::map<std::string, std::string>> event_log::cursors(
    std::string_view prefix) const {
  return guarded([&] { return impl_->cursors(prefix); });
}

caf::expected<void> event_log::record_publish(const sluice::v1::PublishRecord& record) {
  return guarded([&] { return impl_->record_publish(record); });
}

caf::expected<void> event_log::record_client_response(
    const sluice::v1::ClientResponseRecord& record) {
  return guarded([&] { return impl_->record_client_response(record); });
}

caf::expected<std::vector<sluice::v1::PublishRecord>> event_log::publish_records() const {
  return guarded([&] { return impl_->records<sluice::v1::PublishRecord>(keys::publish_prefix); });
}

caf::expected<std::vector<sluice::v1::ClientResponseRecord>> event_log::client_responses() const {
  return guarded(
      [&] { return impl_->records<sluice::v1::ClientResponseRecord>(keys::client_prefix); });
}

caf::expected<checkpoint_info> event_log::write_checkpoint() {
  return guarded([&] { return impl_->write_checkpoint(); });
}

caf::expected<std::vector<checkpoint_info>> event_log::checkpoints() const {
  return guarded([&] { return impl_->checkpoints(); });
}

caf::expected<checkpoint_info> event_log::checkpoint_for(uint64_t seq) const {
  return guarded([&] { return impl_->checkpoint_for(seq); });
}

caf::expected<std::vector<sluice::v1::StateRecord>> event_log::load_checkpoint(uint64_t seq) const {
  return guarded([&] { return impl_->load_checkpoint(seq); });
}

caf::expected<uint64_t> event_log::prune_checkpoints(size_t keep) {
  return guarded([&] { return impl_->prune_checkpoints(keep); });
}

caf::expected<retention_result> event_log::apply_retention(const retention_policy& policy,
                                                           int64_t now_unix_ns) {
  return guarded([&] { return impl_->apply_retention(policy, now_unix_ns); });
}

store_health event_log::health() const { return impl_->health(); }

caf::expected<void> event_log::recover() { return impl_->recover(); }

const std::string& event_log::path() const { return impl_->path(); }

}  // namespace sluice::store
