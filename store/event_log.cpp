#include "store/event_log.hpp"

#include <rocksdb/cache.h>
#include <rocksdb/convenience.h>
#include <rocksdb/db.h>
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
#include <system_error>
#include <utility>

#include <fmt/format.h>

#include "model/error.hpp"
#include "model/logging.hpp"
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
const std::array<std::string, cf_count> column_family_names = {"default", "events", "state",
                                                               "meta"};

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
  return make_error(ec::storage_error, fmt::format("{} the sluice store at {}: {}", what, path,
                                                   status.ToString()));
}

std::string_view view(const rocksdb::Slice& slice) {
  return {slice.data(), slice.size()};
}

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
  [[nodiscard]] caf::expected<void> open(const std::string& path, bool read_only,
                                         const std::vector<std::string>& names) {
    cache_ = rocksdb::NewLRUCache(block_cache_bytes);
    rocksdb::DBOptions db_options;
    db_options.create_if_missing = !read_only;
    db_options.create_missing_column_families = !read_only;
    db_options.db_write_buffer_size = total_write_buffer_bytes;
    db_options.keep_log_file_num = 5;
    // The WAL stays on (the default): an append is acknowledged only once it is in the WAL.
    std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
    for (const auto& name : names) {
      descriptors.emplace_back(name, column_family_options(name));
    }
    rocksdb::DB* db = nullptr;
    auto status = read_only ? rocksdb::DB::OpenForReadOnly(db_options, path, descriptors,
                                                           &handles_, &db)
                            : rocksdb::DB::Open(db_options, path, descriptors, &handles_, &db);
    db_ = db;
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
        log::store()->warn("releasing a column family handle failed status={}",
                           status.ToString());
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

  std::shared_ptr<rocksdb::Cache> cache_;
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

/// The open store: handles, the in-memory head of the log and the meta record counters.
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
      return make_error(ec::storage_error, fmt::format("cannot inspect the store path {}: {}",
                                                       path, fs_error.message()));
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
    std::vector<std::string> names(column_family_names.begin(), column_family_names.end());
    if (auto opened = handles_.open(path, options_.read_only, names); !opened) {
      return opened.error();
    }
    if (auto checked = check_schema(); !checked) {
      return checked.error();
    }
    if (auto recovered = recover_last_seq(); !recovered) {
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
    log::store()->info("store opened path={} read_only={} last_seq={} compression={}", path,
                       options_.read_only, last_seq_.load(), pick_compression().second);
    return {};
  }

  caf::expected<std::vector<sluice::v1::Event>> append(
      std::vector<sluice::v1::Event> events, const std::map<std::string, std::string>& cursors) {
    if (options_.read_only) {
      return make_error(ec::invalid_argument,
                        fmt::format("the sluice store at {} is open read-only; refusing to "
                                    "append {} events",
                                    options_.path, events.size()));
    }
    if (events.empty() && cursors.empty()) {
      return events;
    }
    std::lock_guard guard{write_mutex_};
    const uint64_t first = last_seq_.load(std::memory_order_relaxed) + 1;
    const int64_t now = now_unix_ns();
    rocksdb::WriteBatch batch;
    std::string value;
    uint64_t seq = first;
    for (auto& event : events) {
      event.set_seq(seq++);
      if (event.time_unix_ns() == 0) {
        event.set_time_unix_ns(now);
      }
      if (!event.SerializeToString(&value)) {
        return make_error(ec::storage_error,
                          fmt::format("cannot serialise event seq={} kind={} namespace={} "
                                      "name={} for the store at {}",
                                      event.seq(), event.kind(), event.namespace_(),
                                      event.name(), options_.path));
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
    for (const auto& [name, position] : cursors) {
      auto status = batch.Put(cf(cf_meta), std::string{keys::cursor_prefix} + name, position);
      if (!status.ok()) {
        return storage_failure(fmt::format("cannot stage cursor {} for", name), options_.path,
                               status);
      }
    }
    rocksdb::WriteOptions write_options;
    write_options.sync = options_.sync;
    auto status = db()->Write(write_options, &batch);
    if (!status.ok()) {
      // Nothing was acknowledged, so the head stays where it was and the next append reuses
      // these seqs: the log never gets a hole.
      log::store()->error("append failed path={} events={} first_seq={} status={}",
                          options_.path, events.size(), first, status.ToString());
      return storage_failure(fmt::format("cannot append {} events (seq {}..{}) to", events.size(),
                                         first, seq - 1),
                             options_.path, status);
    }
    last_seq_.store(seq - 1, std::memory_order_release);
    log::store()->debug("appended events={} first_seq={} last_seq={} cursors={}",
                        events.size(), first, seq - 1, cursors.size());
    return events;
  }

  uint64_t last_seq() const { return last_seq_.load(std::memory_order_acquire); }

  caf::expected<void> for_each_event(
      uint64_t from, uint64_t to,
      const std::function<bool(const sluice::v1::Event&)>& fn) const {
    if (from > to) {
      return {};
    }
    std::unique_ptr<rocksdb::Iterator> it{db()->NewIterator(rocksdb::ReadOptions{},
                                                            cf(cf_events))};
    sluice::v1::Event event;
    for (it->Seek(keys::encode_seq(from)); it->Valid(); it->Next()) {
      auto seq = keys::decode_seq(view(it->key()));
      if (!seq) {
        return make_error(ec::storage_error,
                          fmt::format("the events of the store at {} hold a key of {} bytes "
                                      "(want 8); the store is damaged",
                                      options_.path, it->key().size()));
      }
      if (*seq > to) {
        break;
      }
      if (!event.ParseFromArray(it->value().data(), static_cast<int>(it->value().size()))) {
        return make_error(ec::storage_error,
                          fmt::format("event seq={} in the store at {} cannot be parsed; the "
                                      "store is damaged",
                                      *seq, options_.path));
      }
      if (!fn(event)) {
        return {};
      }
    }
    if (!it->status().ok()) {
      return storage_failure("cannot read events from", options_.path, it->status());
    }
    return {};
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
      return storage_failure(fmt::format("cannot read cursor {} from", name), options_.path, status);
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

  caf::expected<void> record(std::string_view prefix, uint64_t& counter,
                             const google::protobuf::Message& message) {
    if (options_.read_only) {
      return make_error(ec::invalid_argument,
                        fmt::format("the sluice store at {} is open read-only; refusing to "
                                    "record a {} entry",
                                    options_.path, prefix.substr(0, prefix.size() - 1)));
    }
    std::string value;
    if (!message.SerializeToString(&value)) {
      return make_error(ec::storage_error, fmt::format("cannot serialise a {} record for the "
                                                       "store at {}",
                                                       prefix, options_.path));
    }
    std::lock_guard guard{write_mutex_};
    const uint64_t next = counter + 1;
    rocksdb::WriteOptions write_options;
    write_options.sync = options_.sync;
    auto status = db()->Put(write_options, cf(cf_meta), keys::counter_key(prefix, next), value);
    if (!status.ok()) {
      return storage_failure(fmt::format("cannot record {} entry {} in", prefix.substr(0, prefix.size() - 1), next),
                             options_.path, status);
    }
    counter = next;
    return {};
  }

  caf::expected<void> record_publish(const sluice::v1::PublishRecord& record_value) {
    return record(keys::publish_prefix, last_publish_, record_value);
  }

  caf::expected<void> record_client_response(
      const sluice::v1::ClientResponseRecord& record_value) {
    return record(keys::client_prefix, last_client_, record_value);
  }

  template <class Record>
  caf::expected<std::vector<Record>> records(std::string_view prefix) const {
    std::vector<Record> out;
    auto scanned = scan(cf(cf_meta), std::string{prefix},
                        [&](std::string_view key, std::string_view value) {
                          return parse_into(out, value, "meta record", key);
                        });
    if (!scanned) {
      return scanned.error();
    }
    return out;
  }

 private:
  rocksdb::DB* db() const { return handles_.db(); }
  rocksdb::ColumnFamilyHandle* cf(column_family which) const { return handles_.handle(which); }

  /// Stages the state change an event implies. Only an accepted upsert replaces the row, so a
  /// rejected edit leaves the last good form in place across restarts (Gloo keeps serving the
  /// last accepted config, reliability.md §1.7).
  rocksdb::Status stage_state(rocksdb::WriteBatch& batch, const sluice::v1::Event& event,
                              std::string& scratch) const {
    if (event.verdict() == sluice::v1::VERDICT_REJECTED) {
      return rocksdb::Status::OK();
    }
    auto key = state_key(event.kind(), event.namespace_(), event.name());
    switch (event.op()) {
      case sluice::v1::EVENT_OP_UPSERT: {
        if (event.verdict() != sluice::v1::VERDICT_ACCEPTED) {
          return rocksdb::Status::OK();
        }
        sluice::v1::StateRecord row;
        row.set_seq(event.seq());
        row.set_kind(event.kind());
        row.set_namespace_(event.namespace_());
        row.set_name(event.name());
        row.set_resource(event.resource());
        row.set_content_hash(event.content_hash());
        row.set_origin(event.origin());
        if (!row.SerializeToString(&scratch)) {
          return rocksdb::Status::InvalidArgument("cannot serialise state row", key);
        }
        return batch.Put(cf(cf_state), key, scratch);
      }
      case sluice::v1::EVENT_OP_DELETE:
        return batch.Delete(cf(cf_state), key);
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
      if (std::find(column_family_names.begin(), column_family_names.end(), name) ==
          column_family_names.end()) {
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
    auto status = db()->Get(rocksdb::ReadOptions{}, cf(cf_meta),
                            std::string{keys::schema_version}, &value);
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

  caf::expected<void> recover_last_seq() {
    std::unique_ptr<rocksdb::Iterator> it{db()->NewIterator(rocksdb::ReadOptions{},
                                                            cf(cf_events))};
    it->SeekToLast();
    if (it->Valid()) {
      auto seq = keys::decode_seq(view(it->key()));
      if (!seq) {
        return make_error(ec::storage_error,
                          fmt::format("the last event key of the store at {} has {} bytes "
                                      "(want 8); the store is damaged",
                                      options_.path, it->key().size()));
      }
      last_seq_.store(*seq);
    }
    if (!it->status().ok()) {
      return storage_failure("cannot find the last event in", options_.path, it->status());
    }
    return {};
  }

  /// The highest counter under `prefix` in meta, 0 when there is none.
  caf::expected<uint64_t> last_counter(std::string_view prefix) const {
    std::unique_ptr<rocksdb::Iterator> it{db()->NewIterator(rocksdb::ReadOptions{},
                                                            cf(cf_meta))};
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
  /// Serialises writers: seq and counter assignment must match the order of the writes.
  std::mutex write_mutex_;
  uint64_t last_publish_ = 0;
  uint64_t last_client_ = 0;
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

caf::expected<std::vector<sluice::v1::Event>> event_log::append(
    std::vector<sluice::v1::Event> events, const std::map<std::string, std::string>& cursors) {
  return impl_->append(std::move(events), cursors);
}

uint64_t event_log::last_seq() const {
  return impl_->last_seq();
}

caf::expected<void> event_log::for_each_event(
    uint64_t from, uint64_t to, const std::function<bool(const sluice::v1::Event&)>& fn) const {
  return impl_->for_each_event(from, to, fn);
}

caf::expected<std::vector<sluice::v1::StateRecord>> event_log::load_state() const {
  return impl_->load_state();
}

caf::expected<std::optional<std::string>> event_log::cursor(std::string_view name) const {
  return impl_->cursor(name);
}

caf::expected<std::map<std::string, std::string>> event_log::cursors(
    std::string_view prefix) const {
  return impl_->cursors(prefix);
}

caf::expected<void> event_log::record_publish(const sluice::v1::PublishRecord& record) {
  return impl_->record_publish(record);
}

caf::expected<void> event_log::record_client_response(
    const sluice::v1::ClientResponseRecord& record) {
  return impl_->record_client_response(record);
}

caf::expected<std::vector<sluice::v1::PublishRecord>> event_log::publish_records() const {
  return impl_->records<sluice::v1::PublishRecord>(keys::publish_prefix);
}

caf::expected<std::vector<sluice::v1::ClientResponseRecord>> event_log::client_responses()
    const {
  return impl_->records<sluice::v1::ClientResponseRecord>(keys::client_prefix);
}

}  // namespace sluice::store
