// Checkpoints, retention, commit times and read-side damage detection of store::event_log.
#include <gtest/gtest.h>
#include <rocksdb/db.h>

#include <chrono>
#include <limits>
#include <string>
#include <vector>

#include "model/error.hpp"
#include "store/event_log.hpp"
#include "store/key_codec.hpp"
#include "test/support/temp_dir.hpp"

namespace {

using sluice::ec;
using sluice::store::event_log;
using sluice::store::event_log_options;
using sluice::store::retention_policy;
using sluice::v1::Event;

constexpr uint64_t all = std::numeric_limits<uint64_t>::max();

ec code_of(const caf::error& err) { return static_cast<ec>(err.code()); }

Event upsert(const std::string& name, const std::string& resource) {
  Event event;
  event.set_source("directory");
  event.set_kind("Upstream");
  event.set_namespace_("gloo-system");
  event.set_name(name);
  event.set_op(sluice::v1::EVENT_OP_UPSERT);
  event.set_verdict(sluice::v1::VERDICT_ACCEPTED);
  event.set_resource(resource);
  event.set_content_hash(resource.size());
  event.set_origin("upstreams/gloo-system/" + name + ".yaml");
  return event;
}

std::unique_ptr<event_log> open_log(const std::string& path, bool read_only = false) {
  auto log = event_log::open(event_log_options{path, true, read_only});
  EXPECT_TRUE(log) << sluice::describe(log.error());
  return log ? std::move(*log) : nullptr;
}

/// Appends `n` events, one write each, cycling over 5 names; returns the last seq.
uint64_t append_n(event_log& log, int n, int64_t time_unix_ns = 0) {
  for (int i = 0; i < n; ++i) {
    auto ev = upsert("u" + std::to_string(log.last_seq() % 5),
                     "resource-" + std::to_string(log.last_seq() + 1));
    ev.set_time_unix_ns(time_unix_ns);
    EXPECT_TRUE(log.append({ev}));
  }
  return log.last_seq();
}

std::vector<uint64_t> stored_seqs(const event_log& log) {
  std::vector<uint64_t> out;
  auto walked = log.for_each_event(0, all, [&](const Event& ev) {
    out.push_back(ev.seq());
    return true;
  });
  EXPECT_TRUE(walked) << sluice::describe(walked.error());
  return out;
}

std::vector<std::string> rows_text(const std::vector<sluice::v1::StateRecord>& rows) {
  std::vector<std::string> out;
  for (const auto& r : rows) {
    out.push_back(r.SerializeAsString());
  }
  return out;
}

/// Runs `fn(db, events, meta)` on the closed store at `path` with plain RocksDB.
template <class Fn>
void with_raw_store(const std::string& path, Fn&& fn) {
  rocksdb::DBOptions options;
  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  for (const char* name : {"default", "events", "state", "meta"}) {
    descriptors.emplace_back(name, rocksdb::ColumnFamilyOptions{});
  }
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* db = nullptr;
  auto status = rocksdb::DB::Open(options, path, descriptors, &handles, &db);
  ASSERT_TRUE(status.ok()) << status.ToString();
  fn(db, handles[1], handles[3]);
  for (auto* handle : handles) {
    EXPECT_TRUE(db->DestroyColumnFamilyHandle(handle).ok());
  }
  EXPECT_TRUE(db->Close().ok());
  delete db;
}

TEST(EventLogCheckpointTest, CheckpointHoldsTheStateRowsAsOfItsSeq) {
  sluice::test::temp_dir dir;
  auto log = open_log(dir.str());
  ASSERT_NE(log, nullptr);
  append_n(*log, 7);
  auto state_at_7 = log->load_state();
  ASSERT_TRUE(state_at_7);
  auto checkpoint = log->write_checkpoint();
  ASSERT_TRUE(checkpoint) << sluice::describe(checkpoint.error());
  EXPECT_EQ(checkpoint->seq, 7u);
  EXPECT_EQ(checkpoint->rows, state_at_7->size());
  EXPECT_GT(checkpoint->time_unix_ns, 0);
  append_n(*log, 6);  // changes every row after the checkpoint

  auto rows = log->load_checkpoint(7);
  ASSERT_TRUE(rows) << sluice::describe(rows.error());
  EXPECT_EQ(rows_text(*rows), rows_text(*state_at_7));
  auto now = log->load_state();
  ASSERT_TRUE(now);
  EXPECT_NE(rows_text(*rows), rows_text(*now)) << "the checkpoint followed later writes";

  // Idempotent per seq, and listed oldest first.
  auto again = log->write_checkpoint();
  ASSERT_TRUE(again);
  auto same = log->write_checkpoint();
  ASSERT_TRUE(same);
  EXPECT_EQ(again->seq, 13u);
  EXPECT_EQ(same->hash, again->hash);
  auto list = log->checkpoints();
  ASSERT_TRUE(list);
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0].seq, 7u);
  EXPECT_EQ((*list)[1].seq, 13u);
}

TEST(EventLogCheckpointTest, CheckpointForPicksTheNewestAtOrBeforeTheSeq) {
  sluice::test::temp_dir dir;
  auto log = open_log(dir.str());
  ASSERT_NE(log, nullptr);
  append_n(*log, 3);
  ASSERT_TRUE(log->write_checkpoint());
  append_n(*log, 3);
  ASSERT_TRUE(log->write_checkpoint());
  append_n(*log, 3);
  for (auto [seq, want] :
       std::vector<std::pair<uint64_t, uint64_t>>{{0, 0}, {2, 0}, {3, 3}, {5, 3}, {6, 6}, {9, 6}}) {
    auto c = log->checkpoint_for(seq);
    ASSERT_TRUE(c) << sluice::describe(c.error());
    EXPECT_EQ(c->seq, want) << "for seq " << seq;
  }
  auto beyond = log->checkpoint_for(10);
  ASSERT_FALSE(beyond);
  EXPECT_EQ(code_of(beyond.error()), ec::not_found);
  EXPECT_NE(sluice::describe(beyond.error()).find("beyond the head"), std::string::npos);
}

TEST(EventLogCheckpointTest, DamagedCheckpointIsRefusedNamingItsSeq) {
  sluice::test::temp_dir dir;
  {
    auto log = open_log(dir.str());
    ASSERT_NE(log, nullptr);
    append_n(*log, 4);
    ASSERT_TRUE(log->write_checkpoint());
  }
  with_raw_store(dir.str(), [](rocksdb::DB* db, auto*, rocksdb::ColumnFamilyHandle* meta) {
    auto key = sluice::store::keys::checkpoint_row_key(4, "Upstream/gloo-system/u0");
    sluice::v1::StateRecord row;
    row.set_kind("Upstream");
    row.set_name("u0");
    row.set_resource("tampered");
    ASSERT_TRUE(db->Put(rocksdb::WriteOptions{}, meta, key, row.SerializeAsString()).ok());
  });
  auto log = open_log(dir.str());
  ASSERT_NE(log, nullptr);
  auto rows = log->load_checkpoint(4);
  ASSERT_FALSE(rows);
  EXPECT_EQ(code_of(rows.error()), ec::storage_error);
  EXPECT_NE(sluice::describe(rows.error()).find("checkpoint at seq 4"), std::string::npos)
      << sluice::describe(rows.error());
}

TEST(EventLogCheckpointTest, PruningKeepsTheNewestAndTheFloor) {
  sluice::test::temp_dir dir;
  auto log = open_log(dir.str());
  ASSERT_NE(log, nullptr);
  for (int i = 0; i < 5; ++i) {
    append_n(*log, 2);
    ASSERT_TRUE(log->write_checkpoint());  // at 2, 4, 6, 8, 10
  }
  append_n(*log, 1);
  retention_policy keep_7;
  keep_7.max_events = 7;
  auto kept = log->apply_retention(keep_7, 0);  // keeps 5..11: floor is the checkpoint at 4
  ASSERT_TRUE(kept);
  ASSERT_EQ(kept->floor, 4u);
  // Retention already dropped the checkpoint at 2 (below the floor); of 4, 6, 8, 10 pruning to
  // one keeps the newest (10) and the floor's (4), so it deletes 6 and 8.
  auto pruned = log->prune_checkpoints(1);
  ASSERT_TRUE(pruned) << sluice::describe(pruned.error());
  EXPECT_EQ(*pruned, 2u);
  auto list = log->checkpoints();
  ASSERT_TRUE(list);
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0].seq, 4u) << "the floor's checkpoint was pruned";
  EXPECT_EQ((*list)[1].seq, 10u);
  // Every retained point still replays: seq 7 now starts from the floor.
  auto c = log->checkpoint_for(7);
  ASSERT_TRUE(c);
  EXPECT_EQ(c->seq, 4u);
  EXPECT_TRUE(log->load_checkpoint(4));
}

TEST(EventLogRetentionTest, CountLimitDeletesOnlyUpToACheckpoint) {
  sluice::test::temp_dir dir;
  auto log = open_log(dir.str());
  ASSERT_NE(log, nullptr);
  retention_policy keep_30;
  keep_30.max_events = 30;

  append_n(*log, 100);
  auto none = log->apply_retention(keep_30, 0);
  ASSERT_TRUE(none);
  EXPECT_EQ(none->events_deleted, 0u) << "deleted events without a checkpoint to replay from";
  EXPECT_EQ(log->first_seq(), 1u);

  ASSERT_TRUE(log->write_checkpoint());  // at 100
  append_n(*log, 20);                    // head 120: keep 91..120, newest checkpoint <= 90: none
  auto still_none = log->apply_retention(keep_30, 0);
  ASSERT_TRUE(still_none);
  EXPECT_EQ(still_none->events_deleted, 0u);

  append_n(*log, 20);                    // head 140: keep 111..140, checkpoint 100 <= 110
  ASSERT_TRUE(log->write_checkpoint());  // at 140, too new to be the floor
  auto kept = log->apply_retention(keep_30, 0);
  ASSERT_TRUE(kept) << sluice::describe(kept.error());
  EXPECT_EQ(kept->floor, 100u);
  EXPECT_EQ(kept->events_deleted, 100u);
  EXPECT_EQ(log->retention_floor(), 100u);
  EXPECT_EQ(log->first_seq(), 101u);
  auto seqs = stored_seqs(*log);
  ASSERT_EQ(seqs.size(), 40u);
  EXPECT_EQ(seqs.front(), 101u);
  EXPECT_EQ(seqs.back(), 140u);

  // Every retained point is still replayable; older ones name the floor.
  auto at_floor = log->checkpoint_for(100);
  ASSERT_TRUE(at_floor);
  EXPECT_EQ(at_floor->seq, 100u);
  auto too_old = log->checkpoint_for(99);
  ASSERT_FALSE(too_old);
  EXPECT_EQ(code_of(too_old.error()), ec::not_found);
  EXPECT_NE(sluice::describe(too_old.error()).find("up to seq 100"), std::string::npos)
      << sluice::describe(too_old.error());
}

TEST(EventLogRetentionTest, FloorSurvivesReopenAndNumberingContinues) {
  sluice::test::temp_dir dir;
  {
    auto log = open_log(dir.str());
    ASSERT_NE(log, nullptr);
    append_n(*log, 10);
    ASSERT_TRUE(log->write_checkpoint());
    append_n(*log, 1);
    retention_policy keep_1;
    keep_1.max_events = 1;
    auto kept = log->apply_retention(keep_1, 0);
    ASSERT_TRUE(kept);
    EXPECT_EQ(kept->floor, 10u) << "event 11 is kept and replays from the checkpoint at 10";
    EXPECT_EQ(stored_seqs(*log), (std::vector<uint64_t>{11}));
    // Everything older than a minute from a clock far ahead: every event goes, the checkpoint
    // at the head becomes the floor.
    ASSERT_TRUE(log->write_checkpoint());
    retention_policy minute;
    minute.max_age = std::chrono::minutes(1);
    auto all_old = log->apply_retention(minute, std::numeric_limits<int64_t>::max());
    ASSERT_TRUE(all_old) << sluice::describe(all_old.error());
    EXPECT_EQ(all_old->floor, 11u);
    EXPECT_TRUE(stored_seqs(*log).empty());
  }
  auto log = open_log(dir.str());
  ASSERT_NE(log, nullptr);
  EXPECT_EQ(log->retention_floor(), 11u);
  EXPECT_EQ(log->last_seq(), 11u) << "every event was removed but numbering must not restart";
  auto more = log->append({upsert("x", "after")});
  ASSERT_TRUE(more);
  EXPECT_EQ((*more)[0].seq(), 12u);
  EXPECT_EQ(stored_seqs(*log), (std::vector<uint64_t>{12}));
  auto rows = log->load_checkpoint(11);
  ASSERT_TRUE(rows) << sluice::describe(rows.error());
  EXPECT_EQ(rows->size(), 5u);
  auto list = log->checkpoints();
  ASSERT_TRUE(list);
  ASSERT_EQ(list->size(), 1u);
  EXPECT_EQ((*list)[0].seq, 11u);
}

TEST(EventLogRetentionTest, AgeLimitUsesCommitTimes) {
  sluice::test::temp_dir dir;
  auto log = open_log(dir.str());
  ASSERT_NE(log, nullptr);
  append_n(*log, 10);
  ASSERT_TRUE(log->write_checkpoint());  // at 10
  append_n(*log, 5);
  ASSERT_TRUE(log->write_checkpoint());  // at 15
  // Five events committed an hour later.
  auto first = log->event(1);
  ASSERT_TRUE(first && *first);
  const int64_t start = (*first)->time_unix_ns();
  const int64_t hour = int64_t{3600} * 1'000'000'000;
  append_n(*log, 5, start + hour);

  retention_policy half_hour;
  half_hour.max_age = std::chrono::minutes(30);
  auto nothing_old = log->apply_retention(half_hour, start + 1000);
  ASSERT_TRUE(nothing_old);
  EXPECT_EQ(nothing_old->events_deleted, 0u);

  auto kept = log->apply_retention(half_hour, start + hour + 1000);
  ASSERT_TRUE(kept) << sluice::describe(kept.error());
  EXPECT_EQ(kept->floor, 15u) << "events 1..15 are older than 30 minutes";
  EXPECT_EQ(stored_seqs(*log), (std::vector<uint64_t>{16, 17, 18, 19, 20}));
  auto list = log->checkpoints();
  ASSERT_TRUE(list);
  ASSERT_EQ(list->size(), 1u) << "checkpoints older than the floor are deleted";
  EXPECT_EQ((*list)[0].seq, 15u);
}

TEST(EventLogRetentionTest, PublishRecordsOlderThanTheFloorGo) {
  sluice::test::temp_dir dir;
  auto log = open_log(dir.str());
  ASSERT_NE(log, nullptr);
  for (uint64_t watermark : {2, 5, 8, 12}) {
    while (log->last_seq() < watermark) {
      append_n(*log, 1);
    }
    if (watermark == 8) {
      ASSERT_TRUE(log->write_checkpoint());
    }
    sluice::v1::PublishRecord r;
    r.set_role("gloo-system~gateway-proxy");
    r.set_version("v" + std::to_string(watermark));
    r.set_watermark_seq(watermark);
    ASSERT_TRUE(log->record_publish(r));
  }
  retention_policy keep_2;
  keep_2.max_events = 2;
  auto kept = log->apply_retention(keep_2, 0);
  ASSERT_TRUE(kept);
  EXPECT_EQ(kept->floor, 8u);
  EXPECT_EQ(kept->records_deleted, 2u);
  auto records = log->publish_records();
  ASSERT_TRUE(records);
  ASSERT_EQ(records->size(), 2u);
  EXPECT_EQ((*records)[0].watermark_seq(), 8u);
  EXPECT_EQ((*records)[1].watermark_seq(), 12u);
}

TEST(EventLogTimeTest, SeqAtTimeFindsTheLastEventCommittedThen) {
  sluice::test::temp_dir dir;
  auto log = open_log(dir.str());
  ASSERT_NE(log, nullptr);
  auto empty = log->seq_at_time(std::numeric_limits<int64_t>::max());
  ASSERT_TRUE(empty);
  EXPECT_EQ(*empty, 0u);
  const int64_t base = int64_t{4102444800} * 1'000'000'000;  // 2100, so presets are kept
  for (int i = 0; i < 9; ++i) {
    auto ev = upsert("u", std::to_string(i));
    ev.set_time_unix_ns(base + (i / 3) * 1000);  // three events per instant
    ASSERT_TRUE(log->append({ev}));
  }
  auto t = [&](int64_t time) {
    auto seq = log->seq_at_time(time);
    EXPECT_TRUE(seq);
    return seq ? *seq : all;
  };
  EXPECT_EQ(t(base - 1), 0u);
  EXPECT_EQ(t(base), 3u);
  EXPECT_EQ(t(base + 999), 3u);
  EXPECT_EQ(t(base + 1000), 6u);
  EXPECT_EQ(t(base + 5000), 9u);
}

TEST(EventLogDamageTest, MissingEventIsAHoleNamingTheSeq) {
  sluice::test::temp_dir dir;
  {
    auto log = open_log(dir.str());
    ASSERT_NE(log, nullptr);
    append_n(*log, 6);
  }
  with_raw_store(dir.str(), [](rocksdb::DB* db, rocksdb::ColumnFamilyHandle* events, auto*) {
    ASSERT_TRUE(
        db->Delete(rocksdb::WriteOptions{}, events, sluice::store::keys::encode_seq(4)).ok());
  });
  auto log = open_log(dir.str(), true);
  ASSERT_NE(log, nullptr);
  std::vector<uint64_t> seen;
  auto walked = log->for_each_event(0, all, [&](const Event& ev) {
    seen.push_back(ev.seq());
    return true;
  });
  ASSERT_FALSE(walked) << "a hole was skipped silently";
  EXPECT_EQ(code_of(walked.error()), ec::storage_error);
  EXPECT_NE(sluice::describe(walked.error()).find("seq 4 is missing"), std::string::npos)
      << sluice::describe(walked.error());
  EXPECT_EQ(seen, (std::vector<uint64_t>{1, 2, 3}));
}

TEST(EventLogDamageTest, MissingTailEventsAreReportedToo) {
  sluice::test::temp_dir dir;
  {
    auto log = open_log(dir.str());
    ASSERT_NE(log, nullptr);
    append_n(*log, 6);
  }
  auto log = open_log(dir.str(), true);
  ASSERT_NE(log, nullptr);
  // A range past the head is not a hole.
  EXPECT_TRUE(log->for_each_event(5, 100, [](const Event&) { return true; }));
  auto none = log->event(7);
  ASSERT_TRUE(none);
  EXPECT_FALSE(*none);
}

TEST(EventLogDamageTest, UnparsableEventNamesItsSeq) {
  sluice::test::temp_dir dir;
  {
    auto log = open_log(dir.str());
    ASSERT_NE(log, nullptr);
    append_n(*log, 5);
  }
  with_raw_store(dir.str(), [](rocksdb::DB* db, rocksdb::ColumnFamilyHandle* events, auto*) {
    ASSERT_TRUE(db->Put(rocksdb::WriteOptions{}, events, sluice::store::keys::encode_seq(3),
                        std::string("\xff\xff\xff\xff", 4))
                    .ok());
  });
  auto log = open_log(dir.str(), true);
  ASSERT_NE(log, nullptr);
  auto walked = log->for_each_event(0, all, [](const Event&) { return true; });
  ASSERT_FALSE(walked);
  EXPECT_NE(sluice::describe(walked.error()).find("seq=3"), std::string::npos)
      << sluice::describe(walked.error());
  auto single = log->event(3);
  ASSERT_FALSE(single);
  EXPECT_NE(sluice::describe(single.error()).find("seq=3"), std::string::npos);
}

}  // namespace
