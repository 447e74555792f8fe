#include "store/event_log.hpp"

#include <gtest/gtest.h>
#include <rocksdb/db.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <limits>
#include <string>
#include <vector>

#include "model/error.hpp"
#include "store/key_codec.hpp"
#include "test/support/temp_dir.hpp"

namespace {

using sluice::ec;
using sluice::store::event_log;
using sluice::store::event_log_options;
using sluice::v1::Event;

constexpr uint64_t all = std::numeric_limits<uint64_t>::max();

ec code_of(const caf::error& err) {
  EXPECT_EQ(err.category(), caf::atom("sluice")) << caf::to_string(err);
  return static_cast<ec>(err.code());
}

Event upsert(std::string name, std::string resource,
             sluice::v1::Verdict verdict = sluice::v1::VERDICT_ACCEPTED) {
  Event event;
  event.set_source("directory:examples");
  event.set_kind("VirtualService");
  event.set_namespace_("gloo-system");
  event.set_name(std::move(name));
  event.set_op(sluice::v1::EVENT_OP_UPSERT);
  event.set_verdict(verdict);
  event.set_content_hash(resource.size() * 7919 + 1);
  event.set_origin("examples/" + event.name() + ".yaml");
  if (verdict == sluice::v1::VERDICT_REJECTED) {
    event.set_raw(resource);
    event.add_errors("examples/" + event.name() + ".yaml: spec.virtualHost: missing");
  } else {
    event.set_resource(std::move(resource));
  }
  return event;
}

Event remove(std::string name) {
  Event event = upsert(std::move(name), "");
  event.set_op(sluice::v1::EVENT_OP_DELETE);
  event.clear_resource();
  return event;
}

std::unique_ptr<event_log> open_log(const std::string& path, bool read_only = false) {
  auto log = event_log::open(event_log_options{path, true, read_only});
  EXPECT_TRUE(log) << sluice::describe(log.error());
  return log ? std::move(*log) : nullptr;
}

std::vector<Event> read_events(const event_log& log, uint64_t from = 0, uint64_t to = all) {
  std::vector<Event> out;
  auto done = log.for_each_event(from, to, [&](const Event& event) {
    out.push_back(event);
    return true;
  });
  EXPECT_TRUE(done) << sluice::describe(done.error());
  return out;
}

std::vector<uint64_t> seqs_of(const std::vector<Event>& events) {
  std::vector<uint64_t> out;
  for (const auto& event : events) {
    out.push_back(event.seq());
  }
  return out;
}

/// Opens a closed database with plain RocksDB, the way another program (or a newer sluice)
/// would, runs `fn` on it and closes it again.
template <class Fn>
void with_raw_db(const std::string& path, const std::vector<std::string>& families, Fn&& fn) {
  rocksdb::DBOptions options;
  options.create_if_missing = true;
  options.create_missing_column_families = true;
  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  for (const auto& name : families) {
    descriptors.emplace_back(name, rocksdb::ColumnFamilyOptions{});
  }
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* db = nullptr;
  auto status = rocksdb::DB::Open(options, path, descriptors, &handles, &db);
  ASSERT_TRUE(status.ok()) << status.ToString();
  fn(db, handles);
  for (auto* handle : handles) {
    EXPECT_TRUE(db->DestroyColumnFamilyHandle(handle).ok());
  }
  EXPECT_TRUE(db->Close().ok());
  delete db;
}

std::vector<std::string> column_families_of(const std::string& path) {
  std::vector<std::string> names;
  auto status = rocksdb::DB::ListColumnFamilies(rocksdb::DBOptions{}, path, &names);
  EXPECT_TRUE(status.ok()) << status.ToString();
  std::sort(names.begin(), names.end());
  return names;
}

TEST(EventLogKeyTest, SeqKeysAreBigEndianSoBytewiseOrderIsNumeric) {
  using sluice::store::keys::decode_seq;
  using sluice::store::keys::encode_seq;
  EXPECT_EQ(encode_seq(1), std::string("\0\0\0\0\0\0\0\1", 8));
  EXPECT_EQ(encode_seq(0x0102030405060708), std::string("\1\2\3\4\5\6\7\x8", 8));
  EXPECT_LT(encode_seq(255), encode_seq(256));
  EXPECT_LT(encode_seq(65535), encode_seq(65536));
  EXPECT_EQ(decode_seq(encode_seq(all)), all);
  EXPECT_EQ(decode_seq(encode_seq(123456789)), 123456789u);
  EXPECT_EQ(decode_seq("short"), std::nullopt);
}

TEST(EventLogKeyTest, CounterKeysAreFixedWidthHex) {
  using sluice::store::keys::counter_key;
  using sluice::store::keys::decode_counter_key;
  EXPECT_EQ(counter_key("publish/", 255), "publish/00000000000000ff");
  EXPECT_LT(counter_key("client/", 15), counter_key("client/", 16));
  EXPECT_EQ(decode_counter_key("client/", counter_key("client/", 4242)), 4242u);
  EXPECT_EQ(decode_counter_key("client/", counter_key("publish/", 1)), std::nullopt);
  EXPECT_EQ(decode_counter_key("client/", "client/00000000000000zz"), std::nullopt);
}

TEST(EventLogKeyTest, StateKeyIsKindNamespaceName) {
  EXPECT_EQ(sluice::store::state_key("Upstream", "gloo-system", "petstore"),
            "Upstream/gloo-system/petstore");
}

TEST(EventLogTest, AppendAssignsDenseSeqsFromOneAndSetsTime) {
  sluice::test::temp_dir dir;
  auto log = open_log(dir.str());
  ASSERT_NE(log, nullptr);
  EXPECT_EQ(log->last_seq(), 0u);

  // A preset time earlier than the commit is clamped (commit times never go backwards, so a
  // time maps to a seq); a later one is kept.
  auto preset = upsert("c", "three");
  preset.set_time_unix_ns(42);
  constexpr int64_t year_2100 = 4102444800LL * 1000000000LL;
  auto future = upsert("e", "five");
  future.set_time_unix_ns(year_2100);
  auto stored = log->append({upsert("a", "one"), upsert("b", "two"), preset, future});
  ASSERT_TRUE(stored) << sluice::describe(stored.error());
  ASSERT_EQ(stored->size(), 4u);
  EXPECT_EQ(seqs_of(*stored), (std::vector<uint64_t>{1, 2, 3, 4}));
  // 2020-01-01 in ns: any real commit time is later.
  constexpr int64_t year_2020 = 1577836800LL * 1000000000LL;
  EXPECT_GT((*stored)[0].time_unix_ns(), year_2020);
  EXPECT_EQ((*stored)[0].time_unix_ns(), (*stored)[1].time_unix_ns());
  EXPECT_EQ((*stored)[2].time_unix_ns(), (*stored)[0].time_unix_ns());
  EXPECT_EQ((*stored)[3].time_unix_ns(), year_2100);
  EXPECT_EQ(log->last_seq(), 4u);

  // Seqs the caller put in are overwritten: the log alone assigns them.
  auto bogus = upsert("d", "four");
  bogus.set_seq(99);
  auto more = log->append({bogus});
  ASSERT_TRUE(more);
  EXPECT_EQ(seqs_of(*more), (std::vector<uint64_t>{5}));
  EXPECT_EQ((*more)[0].time_unix_ns(), year_2100) << "a later commit went back in time";
  EXPECT_EQ(seqs_of(read_events(*log)), (std::vector<uint64_t>{1, 2, 3, 4, 5}));
}

TEST(EventLogTest, EventsRoundTripByteExact) {
  sluice::test::temp_dir dir;
  auto log = open_log(dir.str());
  ASSERT_NE(log, nullptr);
  Event accepted = upsert("binary", std::string("\0\xff\x01payload\n", 11));
  accepted.set_content_hash(std::numeric_limits<uint64_t>::max());
  accepted.set_source_revision("mtime=1700000000 size=11");
  Event rejected = upsert("broken", std::string("spec: [\0", 8), sluice::v1::VERDICT_REJECTED);
  rejected.add_errors("second error, with unicode: é");
  Event synced;
  synced.set_op(sluice::v1::EVENT_OP_SOURCE_SYNCED);
  synced.set_kind("directory");
  synced.set_name("examples");
  auto stored = log->append({accepted, rejected, synced});
  ASSERT_TRUE(stored) << sluice::describe(stored.error());

  auto read = read_events(*log);
  ASSERT_EQ(read.size(), 3u);
  for (size_t i = 0; i < read.size(); ++i) {
    EXPECT_EQ(read[i].SerializeAsString(), (*stored)[i].SerializeAsString()) << "event " << i;
  }
  EXPECT_EQ(read[0].resource(), accepted.resource());
  EXPECT_EQ(read[0].content_hash(), std::numeric_limits<uint64_t>::max());
  EXPECT_EQ(read[1].raw(), rejected.raw());
  ASSERT_EQ(read[1].errors_size(), 2);
  EXPECT_EQ(read[1].errors(1), "second error, with unicode: é");
  EXPECT_EQ(read[2].op(), sluice::v1::EVENT_OP_SOURCE_SYNCED);
}

TEST(EventLogTest, StateFollowsAcceptedUpsertsAndDeletesAndIgnoresRejected) {
  sluice::test::temp_dir dir;
  auto log = open_log(dir.str());
  ASSERT_NE(log, nullptr);
  ASSERT_TRUE(log->append({upsert("a", "a-v1"), upsert("b", "b-v1")}));
  ASSERT_TRUE(log->append({upsert("a", "a-v2-broken", sluice::v1::VERDICT_REJECTED)}));
  Event synced;
  synced.set_op(sluice::v1::EVENT_OP_SOURCE_SYNCED);
  synced.set_verdict(sluice::v1::VERDICT_ACCEPTED);
  synced.set_kind("directory");
  synced.set_name("examples");
  ASSERT_TRUE(log->append({synced}));

  auto state = log->load_state();
  ASSERT_TRUE(state) << sluice::describe(state.error());
  ASSERT_EQ(state->size(), 3u);
  // The rejection is a row of its own, after the resources ('~' sorts last).
  EXPECT_TRUE((*state)[2].has_rejection());
  EXPECT_EQ((*state)[2].name(), "a");
  EXPECT_TRUE((*state)[2].resource().empty());
  EXPECT_EQ((*state)[2].rejection().seq(), 3u);
  EXPECT_EQ((*state)[2].rejection().stage(), "ingest");
  EXPECT_FALSE((*state)[0].has_rejection());
  // The rejected edit left the last good form (seq 1) in place.
  EXPECT_EQ((*state)[0].name(), "a");
  EXPECT_EQ((*state)[0].resource(), "a-v1");
  EXPECT_EQ((*state)[0].seq(), 1u);
  EXPECT_EQ((*state)[0].kind(), "VirtualService");
  EXPECT_EQ((*state)[0].namespace_(), "gloo-system");
  EXPECT_EQ((*state)[0].origin(), "examples/a.yaml");
  EXPECT_EQ((*state)[0].content_hash(), upsert("a", "a-v1").content_hash());
  EXPECT_EQ((*state)[1].name(), "b");

  // Accepted upsert replaces, delete removes; in one batch the later event wins.
  ASSERT_TRUE(log->append({upsert("a", "a-v3"), remove("b"), upsert("c", "c-v1"), remove("c")}));
  state = log->load_state();
  ASSERT_TRUE(state);
  ASSERT_EQ(state->size(), 1u);
  EXPECT_EQ((*state)[0].resource(), "a-v3");
  EXPECT_EQ((*state)[0].seq(), 5u);

  // A rejected delete is not a delete either, and the state survives a restart.
  Event rejected_delete = remove("a");
  rejected_delete.set_verdict(sluice::v1::VERDICT_REJECTED);
  ASSERT_TRUE(log->append({rejected_delete}));
  log.reset();
  log = open_log(dir.str());
  ASSERT_NE(log, nullptr);
  state = log->load_state();
  ASSERT_TRUE(state);
  ASSERT_EQ(state->size(), 1u);
  EXPECT_EQ((*state)[0].resource(), "a-v3");
}

TEST(EventLogTest, CursorsWrittenWithAppendAreReadableAndSurviveReopen) {
  sluice::test::temp_dir dir;
  auto log = open_log(dir.str());
  ASSERT_NE(log, nullptr);
  ASSERT_TRUE(log->append({upsert("a", "one")},
                          {{"directory:examples", "mtime=1"}, {"kubernetes", "rv=5"}}));
  auto one = log->cursor("directory:examples");
  ASSERT_TRUE(one);
  EXPECT_EQ(*one, std::optional<std::string>{"mtime=1"});
  auto missing = log->cursor("consul");
  ASSERT_TRUE(missing);
  EXPECT_EQ(*missing, std::nullopt);

  // A cursor-only append moves the cursor without consuming a seq.
  ASSERT_TRUE(log->append({}, {{"directory:examples", "mtime=2"}, {"directory:other", "x"}}));
  EXPECT_EQ(log->last_seq(), 1u);

  log.reset();
  log = open_log(dir.str());
  ASSERT_NE(log, nullptr);
  auto directory = log->cursors("directory:");
  ASSERT_TRUE(directory) << sluice::describe(directory.error());
  EXPECT_EQ(*directory, (std::map<std::string, std::string>{{"directory:examples", "mtime=2"},
                                                            {"directory:other", "x"}}));
  auto every = log->cursors("");
  ASSERT_TRUE(every);
  EXPECT_EQ(every->size(), 3u);
  EXPECT_EQ(every->at("kubernetes"), "rv=5");
}

TEST(EventLogTest, ReopenKeepsLastSeqAndContinuesNumbering) {
  sluice::test::temp_dir dir;
  {
    auto log = open_log(dir.str());
    ASSERT_NE(log, nullptr);
    ASSERT_TRUE(log->append({upsert("a", "1"), upsert("b", "2"), upsert("c", "3")}));
    ASSERT_TRUE(log->append({upsert("d", "4"), upsert("e", "5")}));
  }
  auto log = open_log(dir.str());
  ASSERT_NE(log, nullptr);
  EXPECT_EQ(log->last_seq(), 5u);
  auto stored = log->append({upsert("f", "6"), upsert("g", "7")});
  ASSERT_TRUE(stored);
  EXPECT_EQ(seqs_of(*stored), (std::vector<uint64_t>{6, 7}));
  auto read = read_events(*log);
  ASSERT_EQ(seqs_of(read), (std::vector<uint64_t>{1, 2, 3, 4, 5, 6, 7}));
  EXPECT_EQ(read[5].name(), "f");
}

TEST(EventLogTest, ForEachEventHonoursRangeAndEarlyStop) {
  sluice::test::temp_dir dir;
  auto log = open_log(dir.str());
  ASSERT_NE(log, nullptr);
  std::vector<Event> batch;
  for (int i = 0; i < 10; ++i) {
    batch.push_back(upsert("r" + std::to_string(i), "v"));
  }
  ASSERT_TRUE(log->append(std::move(batch)));

  EXPECT_EQ(seqs_of(read_events(*log, 3, 6)), (std::vector<uint64_t>{3, 4, 5, 6}));
  EXPECT_EQ(seqs_of(read_events(*log, 9, 1000)), (std::vector<uint64_t>{9, 10}));
  EXPECT_EQ(seqs_of(read_events(*log, 0, 2)), (std::vector<uint64_t>{1, 2}));
  EXPECT_EQ(seqs_of(read_events(*log, 7, 7)), (std::vector<uint64_t>{7}));
  EXPECT_TRUE(read_events(*log, 6, 3).empty());
  EXPECT_TRUE(read_events(*log, 11, all).empty());

  std::vector<uint64_t> seen;
  auto done = log->for_each_event(3, all, [&](const Event& event) {
    seen.push_back(event.seq());
    return seen.size() < 2;
  });
  ASSERT_TRUE(done);
  EXPECT_EQ(seen, (std::vector<uint64_t>{3, 4}));
}

TEST(EventLogTest, ReadOnlyOpenSeesDataWhileWriterRunsAndRefusesWrites) {
  sluice::test::temp_dir dir;
  auto writer = open_log(dir.str());
  ASSERT_NE(writer, nullptr);
  ASSERT_TRUE(writer->append({upsert("a", "one"), upsert("b", "two")}, {{"kubernetes", "rv=9"}}));
  sluice::v1::PublishRecord published;
  published.set_version("v1");
  ASSERT_TRUE(writer->record_publish(published));

  auto reader = open_log(dir.str(), true);
  ASSERT_NE(reader, nullptr);
  EXPECT_EQ(reader->last_seq(), 2u);
  EXPECT_EQ(read_events(*reader).size(), 2u);
  auto state = reader->load_state();
  ASSERT_TRUE(state);
  EXPECT_EQ(state->size(), 2u);
  auto cursor = reader->cursor("kubernetes");
  ASSERT_TRUE(cursor);
  EXPECT_EQ(*cursor, std::optional<std::string>{"rv=9"});
  auto records = reader->publish_records();
  ASSERT_TRUE(records);
  ASSERT_EQ(records->size(), 1u);
  EXPECT_EQ((*records)[0].version(), "v1");

  auto refused = reader->append({upsert("c", "three")});
  ASSERT_FALSE(refused);
  EXPECT_EQ(code_of(refused.error()), ec::invalid_argument);
  EXPECT_NE(sluice::describe(refused.error()).find("read-only"), std::string::npos);
  EXPECT_EQ(reader->last_seq(), 2u);
  auto refused_record = reader->record_publish(published);
  ASSERT_FALSE(refused_record);
  EXPECT_EQ(code_of(refused_record.error()), ec::invalid_argument);

  reader.reset();
  EXPECT_EQ(writer->last_seq(), 2u);
  EXPECT_EQ(read_events(*writer).size(), 2u);
}

TEST(EventLogTest, ReadOnlyOpenOfMissingStoreFailsWithoutCreatingIt) {
  sluice::test::temp_dir dir;
  auto path = (dir.path() / "nothing-here").string();
  auto log = event_log::open(event_log_options{path, true, true});
  ASSERT_FALSE(log);
  EXPECT_EQ(code_of(log.error()), ec::storage_error);
  EXPECT_NE(sluice::describe(log.error()).find(path), std::string::npos);
  EXPECT_FALSE(std::filesystem::exists(path));
}

TEST(EventLogTest, SecondWriterIsRefusedWithReadOnlyHint) {
  sluice::test::temp_dir dir;
  auto first = open_log(dir.str());
  ASSERT_NE(first, nullptr);
  auto second = event_log::open(event_log_options{dir.str(), true, false});
  ASSERT_FALSE(second);
  EXPECT_EQ(code_of(second.error()), ec::storage_error);
  auto text = sluice::describe(second.error());
  EXPECT_NE(text.find(dir.str()), std::string::npos) << text;
  EXPECT_NE(text.find("read-only"), std::string::npos) << text;
}

TEST(EventLogTest, NewerSchemaVersionIsRefusedNamingBothVersions) {
  sluice::test::temp_dir dir;
  ASSERT_NE(open_log(dir.str()), nullptr);
  with_raw_db(dir.str(), {"default", "events", "state", "meta"},
              [](rocksdb::DB* db, const std::vector<rocksdb::ColumnFamilyHandle*>& handles) {
                std::string value;
                ASSERT_TRUE(db->Get({}, handles[3], "schema_version", &value).ok());
                EXPECT_EQ(value, "1");  // what a fresh store records
                ASSERT_TRUE(db->Put({}, handles[3], "schema_version", "2").ok());
              });
  auto log = event_log::open(event_log_options{dir.str(), true, false});
  ASSERT_FALSE(log);
  EXPECT_EQ(code_of(log.error()), ec::incompatible_store);
  auto text = sluice::describe(log.error());
  EXPECT_NE(text.find("schema version 2"), std::string::npos) << text;
  EXPECT_NE(text.find("version 1 this binary supports"), std::string::npos) << text;
  EXPECT_NE(text.find(dir.str()), std::string::npos) << text;
  // Read-only inspection applies the same check.
  auto reader = event_log::open(event_log_options{dir.str(), true, true});
  ASSERT_FALSE(reader);
  EXPECT_EQ(code_of(reader.error()), ec::incompatible_store);
}

TEST(EventLogTest, ForeignDatabaseIsRefusedAndLeftUntouched) {
  sluice::test::temp_dir dir;
  with_raw_db(dir.str(), {"default"},
              [](rocksdb::DB* db, const std::vector<rocksdb::ColumnFamilyHandle*>& handles) {
                ASSERT_TRUE(db->Put({}, handles[0], "user:1", "alice").ok());
              });
  auto log = event_log::open(event_log_options{dir.str(), true, false});
  ASSERT_FALSE(log);
  EXPECT_EQ(code_of(log.error()), ec::incompatible_store);
  EXPECT_NE(sluice::describe(log.error()).find("not a sluice store"), std::string::npos)
      << sluice::describe(log.error());
  EXPECT_EQ(column_families_of(dir.str()), (std::vector<std::string>{"default"}));
}

TEST(EventLogTest, DataWithoutSchemaVersionIsNotASluiceStore) {
  sluice::test::temp_dir dir;
  with_raw_db(dir.str(), {"default", "events", "state", "meta"},
              [](rocksdb::DB* db, const std::vector<rocksdb::ColumnFamilyHandle*>& handles) {
                ASSERT_TRUE(db->Put({}, handles[1], "some-key", "some-value").ok());
              });
  auto log = event_log::open(event_log_options{dir.str(), true, false});
  ASSERT_FALSE(log);
  EXPECT_EQ(code_of(log.error()), ec::incompatible_store);
  EXPECT_NE(sluice::describe(log.error()).find("not a sluice store"), std::string::npos)
      << sluice::describe(log.error());
}

TEST(EventLogTest, EmptyDatabaseWithoutOurColumnFamiliesIsInitialised) {
  // What an interrupted first open leaves behind: nothing stored, so nothing to protect.
  sluice::test::temp_dir dir;
  with_raw_db(dir.str(), {"default"}, [](rocksdb::DB*, const auto&) {});
  auto log = open_log(dir.str());
  ASSERT_NE(log, nullptr);
  ASSERT_TRUE(log->append({upsert("a", "one")}));
  EXPECT_EQ(log->last_seq(), 1u);
}

TEST(EventLogTest, RegularFilePathFailsWithClearError) {
  sluice::test::temp_dir dir;
  auto file = dir.write("store", "not a database");
  auto log = event_log::open(event_log_options{file.string(), true, false});
  ASSERT_FALSE(log);
  EXPECT_EQ(code_of(log.error()), ec::storage_error);
  auto text = sluice::describe(log.error());
  EXPECT_NE(text.find(file.string()), std::string::npos) << text;
  EXPECT_NE(text.find("not a directory"), std::string::npos) << text;
  EXPECT_EQ(sluice::test::read_file(file), "not a database");
}

TEST(EventLogTest, PublishAndClientRecordsRoundTripInOrderAcrossReopen) {
  sluice::test::temp_dir dir;
  auto publish = [](int i) {
    sluice::v1::PublishRecord record;
    record.set_role("gateway-proxy");
    record.set_type_url("type.googleapis.com/envoy.config.cluster.v3.Cluster");
    record.set_version("v" + std::to_string(i));
    record.set_watermark_seq(static_cast<uint64_t>(i));
    record.set_time_unix_ns(1000 + i);
    return record;
  };
  auto response = [](int i) {
    sluice::v1::ClientResponseRecord record;
    record.set_node_id("envoy-" + std::to_string(i));
    record.set_nonce("n" + std::to_string(i));
    record.set_nack(i % 2 == 1);
    record.set_error_message(i % 2 == 1 ? "cluster foo: bad" : "");
    return record;
  };
  {
    auto log = open_log(dir.str());
    ASSERT_NE(log, nullptr);
    // 17 records cross the 0xf -> 0x10 boundary, where a non-fixed-width key would misorder.
    for (int i = 0; i < 12; ++i) {
      ASSERT_TRUE(log->record_publish(publish(i)));
    }
    for (int i = 0; i < 3; ++i) {
      ASSERT_TRUE(log->record_client_response(response(i)));
    }
  }
  auto log = open_log(dir.str());
  ASSERT_NE(log, nullptr);
  for (int i = 12; i < 17; ++i) {
    ASSERT_TRUE(log->record_publish(publish(i)));
  }
  for (int i = 3; i < 5; ++i) {
    ASSERT_TRUE(log->record_client_response(response(i)));
  }
  auto published = log->publish_records();
  ASSERT_TRUE(published) << sluice::describe(published.error());
  ASSERT_EQ(published->size(), 17u);
  for (int i = 0; i < 17; ++i) {
    EXPECT_EQ((*published)[static_cast<size_t>(i)].SerializeAsString(),
              publish(i).SerializeAsString())
        << "publish record " << i;
  }
  auto responses = log->client_responses();
  ASSERT_TRUE(responses) << sluice::describe(responses.error());
  ASSERT_EQ(responses->size(), 5u);
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ((*responses)[static_cast<size_t>(i)].SerializeAsString(),
              response(i).SerializeAsString())
        << "client response " << i;
  }
  // Meta records are not cursors and do not move the log.
  auto every = log->cursors("");
  ASSERT_TRUE(every);
  EXPECT_TRUE(every->empty());
  EXPECT_EQ(log->last_seq(), 0u);
}

TEST(EventLogTest, TenThousandEventsInOneAppend) {
  sluice::test::temp_dir dir;
  auto log = open_log(dir.str());
  ASSERT_NE(log, nullptr);
  std::vector<Event> batch;
  batch.reserve(10000);
  for (int i = 0; i < 10000; ++i) {
    batch.push_back(upsert("r" + std::to_string(i % 100), "body-" + std::to_string(i)));
  }
  auto stored = log->append(std::move(batch), {{"directory:bulk", "done"}});
  ASSERT_TRUE(stored) << sluice::describe(stored.error());
  ASSERT_EQ(stored->size(), 10000u);
  EXPECT_EQ(stored->back().seq(), 10000u);
  EXPECT_EQ(log->last_seq(), 10000u);

  uint64_t expected = 1;
  bool dense = true;
  auto done = log->for_each_event(0, all, [&](const Event& event) {
    dense = dense && event.seq() == expected;
    ++expected;
    return true;
  });
  ASSERT_TRUE(done);
  EXPECT_TRUE(dense);
  EXPECT_EQ(expected, 10001u);

  auto state = log->load_state();
  ASSERT_TRUE(state);
  ASSERT_EQ(state->size(), 100u);
  // Keys sort as strings: "r0" first, last written at i = 9900.
  EXPECT_EQ((*state)[0].name(), "r0");
  EXPECT_EQ((*state)[0].seq(), 9901u);
  EXPECT_EQ((*state)[0].resource(), "body-9900");
}

}  // namespace
