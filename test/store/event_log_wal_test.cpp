// The documented damage and failure policy of store::event_log (reliability.md §5, A3 and A5):
// a torn WAL tail is recovered as a prefix, a corrupt middle refuses the open naming the last
// intact seq, and a full disk fails writes, marks the store unhealthy and recovers.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>
#include <vector>

#include "model/error.hpp"
#include "store/event_log.hpp"
#include "test/store/faulty_file_system.hpp"
#include "test/support/temp_dir.hpp"

namespace {

namespace fs = std::filesystem;
using sluice::ec;
using sluice::store::event_log;
using sluice::store::event_log_options;
using sluice::v1::Event;

ec code_of(const caf::error& err) { return static_cast<ec>(err.code()); }

Event upsert(uint64_t n) {
  Event event;
  event.set_source("directory");
  event.set_kind("Upstream");
  event.set_namespace_("gloo-system");
  event.set_name("u" + std::to_string(n));
  event.set_op(sluice::v1::EVENT_OP_UPSERT);
  event.set_verdict(sluice::v1::VERDICT_ACCEPTED);
  event.set_resource(std::string(200, static_cast<char>('a' + n % 26)));
  event.set_content_hash(n);
  return event;
}

/// Appends events 1..n, one synced write each, and closes the store; returns what was stored.
std::vector<Event> write_and_close(const std::string& path, uint64_t n) {
  std::vector<Event> out;
  auto log = event_log::open(event_log_options{path});
  EXPECT_TRUE(log) << sluice::describe(log.error());
  for (uint64_t i = 1; i <= n; ++i) {
    auto stored = (*log)->append({upsert(i)});
    EXPECT_TRUE(stored);
    out.push_back(stored->front());
  }
  return out;
}

/// The newest WAL file: RocksDB keeps the recent writes there until a flush.
fs::path newest_wal(const fs::path& dir) {
  fs::path best;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.path().extension() == ".log" && (best.empty() || entry.path() > best)) {
      best = entry.path();
    }
  }
  return best;
}

std::vector<Event> read_all(const event_log& log) {
  std::vector<Event> out;
  auto walked = log.for_each_event(0, std::numeric_limits<uint64_t>::max(), [&](const Event& ev) {
    out.push_back(ev);
    return true;
  });
  EXPECT_TRUE(walked) << sluice::describe(walked.error());
  return out;
}

/// The recovered log is exactly the first `count` written events, byte for byte.
void expect_prefix(const std::vector<Event>& written, const std::vector<Event>& read) {
  ASSERT_LE(read.size(), written.size());
  for (size_t i = 0; i < read.size(); ++i) {
    EXPECT_EQ(read[i].SerializeAsString(), written[i].SerializeAsString()) << "seq " << i + 1;
  }
}

TEST(EventLogWalTest, TornTailIsRecoveredAsTheIntactPrefix) {
  for (uintmax_t cut : {1u, 7u, 150u}) {
    sluice::test::temp_dir dir;
    auto written = write_and_close(dir.str(), 40);
    auto wal = newest_wal(dir.path());
    ASSERT_FALSE(wal.empty()) << "no WAL file in " << dir.str();
    const auto size = fs::file_size(wal);
    ASSERT_GT(size, cut);
    fs::resize_file(wal, size - cut);  // a crash in the middle of the last write

    auto log = event_log::open(event_log_options{dir.str()});
    ASSERT_TRUE(log) << "cut " << cut << ": " << sluice::describe(log.error());
    auto read = read_all(**log);
    EXPECT_EQ(read.size(), (*log)->last_seq());
    EXPECT_LT(read.size(), written.size()) << "cut " << cut << " lost nothing?";
    EXPECT_GE(read.size(), written.size() - 2) << "cut " << cut << " lost more than the tail";
    expect_prefix(written, read);
    // Writing continues right after the prefix: no hole, no reused seq with other content.
    auto next = (*log)->append({upsert(99)});
    ASSERT_TRUE(next);
    EXPECT_EQ(next->front().seq(), read.size() + 1);
  }
}

TEST(EventLogWalTest, CorruptMiddleRefusesToOpenNamingTheLastIntactSeq) {
  sluice::test::temp_dir dir;
  auto written = write_and_close(dir.str(), 40);
  auto wal = newest_wal(dir.path());
  ASSERT_FALSE(wal.empty());
  const auto size = fs::file_size(wal);
  {
    std::fstream file(wal, std::ios::in | std::ios::out | std::ios::binary);
    file.seekp(static_cast<std::streamoff>(size / 2));
    const char garbage[8] = {'\x13', '\x37', '\x13', '\x37', '\x13', '\x37', '\x13', '\x37'};
    file.write(garbage, sizeof(garbage));
  }

  auto refused = event_log::open(event_log_options{dir.str()});
  ASSERT_FALSE(refused) << "a corrupt middle record was skipped or truncated silently";
  EXPECT_EQ(code_of(refused.error()), ec::storage_error);
  auto text = sluice::describe(refused.error());
  EXPECT_NE(text.find("corrupt before its end"), std::string::npos) << text;
  auto at = text.find("intact up to seq ");
  ASSERT_NE(at, std::string::npos) << text;
  const uint64_t intact = std::stoull(text.substr(at + 17));
  EXPECT_GT(intact, 0u);
  EXPECT_LT(intact, written.size());
  EXPECT_NE(text.find("--truncate-damaged-log"), std::string::npos) << text;

  // The store was not changed by the refusal: a second open refuses the same way.
  auto again = event_log::open(event_log_options{dir.str()});
  ASSERT_FALSE(again);
  EXPECT_EQ(sluice::describe(again.error()), text);

  // The operator's explicit choice keeps exactly the intact prefix.
  event_log_options truncate{dir.str()};
  truncate.truncate_damaged_log = true;
  auto kept = event_log::open(truncate);
  ASSERT_TRUE(kept) << sluice::describe(kept.error());
  EXPECT_EQ((*kept)->last_seq(), intact);
  auto read = read_all(**kept);
  EXPECT_EQ(read.size(), intact);
  expect_prefix(written, read);
}

TEST(EventLogFaultTest, DiskFullFailsTheWriteMarksUnhealthyAndRecoversWithoutAHole) {
  sluice::test::temp_dir dir;
  auto faulty = std::make_shared<sluice::test::faulty_file_system>();
  event_log_options options{dir.str()};
  options.file_system = faulty;
  auto log = event_log::open(options);
  ASSERT_TRUE(log) << sluice::describe(log.error());
  ASSERT_TRUE((*log)->append({upsert(1), upsert(2)}));
  EXPECT_TRUE((*log)->health().healthy);

  faulty->full = true;
  auto failed = (*log)->append({upsert(3)});
  ASSERT_FALSE(failed);
  EXPECT_EQ(code_of(failed.error()), ec::storage_error);
  EXPECT_EQ((*log)->last_seq(), 2u) << "a failed write moved the head";
  auto health = (*log)->health();
  EXPECT_FALSE(health.healthy);
  EXPECT_NE(health.error.find("No space"), std::string::npos) << health.error;
  EXPECT_GE(health.failed_writes, 1u);
  EXPECT_GT(health.since_unix_ns, 0);
  // Still full: still refused, still unhealthy.
  EXPECT_FALSE((*log)->append({upsert(3)}));
  EXPECT_FALSE((*log)->health().healthy);

  faulty->full = false;
  auto resumed = (*log)->recover();
  ASSERT_TRUE(resumed) << sluice::describe(resumed.error());
  auto written = (*log)->append({upsert(3)});
  ASSERT_TRUE(written) << sluice::describe(written.error());
  EXPECT_EQ(written->front().seq(), 3u);
  EXPECT_TRUE((*log)->health().healthy);
  log->reset();

  auto reopened = event_log::open(event_log_options{dir.str()});
  ASSERT_TRUE(reopened) << sluice::describe(reopened.error());
  auto read = read_all(**reopened);
  ASSERT_EQ(read.size(), 3u);
  EXPECT_EQ(read[2].name(), "u3");
}

}  // namespace
