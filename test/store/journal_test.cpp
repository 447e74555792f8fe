// The journal's writer (actors/journal_actor): group commit, ordering of `synced` behind the
// appends before it, and holding appends while the disk is full. Here rather than in
// test/actors because it is the log's write path.
#include "actors/journal_actor.hpp"

#include <gtest/gtest.h>

#include <mutex>
#include <string>
#include <vector>

#include "model/error.hpp"
#include "test/store/faulty_file_system.hpp"
#include "test/support/temp_dir.hpp"

namespace sluice::actors {
namespace {

/// What the journal forwarded to the world, in order: "committed:<seqs>" and "synced:<kind>".
struct world_recorder {
  std::mutex mutex;
  std::vector<std::string> messages;
  std::vector<uint64_t> seqs;

  std::vector<std::string> snapshot() {
    std::lock_guard guard{mutex};
    return messages;
  }
  size_t committed_events() {
    std::lock_guard guard{mutex};
    return seqs.size();
  }
};

world_actor::behavior_type fake_world(world_actor::pointer, std::shared_ptr<world_recorder> rec) {
  return {
      [rec](atom::committed, const event_batch_ptr& batch) {
        std::lock_guard guard{rec->mutex};
        std::string text = "committed:";
        for (const auto& ev : *batch) {
          text += std::to_string(ev.seq()) + ",";
          rec->seqs.push_back(ev.seq());
        }
        rec->messages.push_back(text);
      },
      [rec](atom::synced, const std::string& kind) {
        std::lock_guard guard{rec->mutex};
        rec->messages.push_back("synced:" + kind);
      },
      [](atom::translate) {},
      [](atom::status) {},
      [](atom::record, const journal_actor&) {},
  };
}

event_batch_ptr events(const std::string& name, size_t n = 1) {
  auto batch = std::make_shared<event_batch>();
  for (size_t i = 0; i < n; ++i) {
    sluice::v1::Event ev;
    ev.set_kind("Upstream");
    ev.set_namespace_("gloo-system");
    ev.set_name(name + "-" + std::to_string(i));
    ev.set_op(sluice::v1::EVENT_OP_UPSERT);
    ev.set_verdict(sluice::v1::VERDICT_ACCEPTED);
    ev.set_resource("r");
    batch->push_back(std::move(ev));
  }
  return batch;
}

cursor_map_ptr no_cursors() { return std::make_shared<cursor_map>(); }

template <class Pred>
bool eventually(Pred pred) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) {
      return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));  // polling interval, bounded
  }
  return pred();
}

class JournalTest : public ::testing::Test {
 protected:
  JournalTest() {
    cfg_.add_message_types<caf::id_block::sluice>();
    sys_ = std::make_unique<caf::actor_system>(cfg_);
    fs_ = std::make_shared<test::faulty_file_system>();
    store::event_log_options options{dir_.str()};
    options.file_system = fs_;
    auto log = store::event_log::open(options);
    EXPECT_TRUE(log) << describe(log.error());
    log_ = std::shared_ptr<store::event_log>(std::move(*log));
    recorder_ = std::make_shared<world_recorder>();
    world_ = sys_->spawn(fake_world, recorder_);
    counters_ = std::make_shared<journal_counters>();
  }

  ~JournalTest() override {
    fs_->full = false;
    fs_->release_gate();
    caf::anon_send_exit(writer_, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(world_, caf::exit_reason::user_shutdown);
    // Handles keep actors alive: drop them before the system waits for its actors.
    writer_ = nullptr;
    world_ = nullptr;
    sys_.reset();
  }

  void spawn_writer(journal_options options = {}) {
    options.retry_first = std::chrono::milliseconds(10);
    options.retry_max = std::chrono::milliseconds(20);
    writer_ = sys_->spawn<caf::detached>(journal_writer_impl, log_, world_, options, counters_);
  }

  test::temp_dir dir_;
  caf::actor_system_config cfg_;
  std::unique_ptr<caf::actor_system> sys_;
  std::shared_ptr<test::faulty_file_system> fs_;
  std::shared_ptr<store::event_log> log_;
  std::shared_ptr<world_recorder> recorder_;
  world_actor world_;
  std::shared_ptr<journal_counters> counters_;
  journal_writer_actor writer_;
};

TEST_F(JournalTest, AppendsQueuedDuringASyncedWriteGoOutInOneBatch) {
  spawn_writer();
  caf::scoped_actor self{*sys_};
  fs_->arm_gate();
  auto first = self->request(writer_, caf::infinite, atom::append_v, events("first"), no_cursors());
  ASSERT_TRUE(fs_->wait_until_held()) << "the first write never reached its sync";
  // The writer is inside a synced write: these wait in its mailbox.
  constexpr int queued = 50;
  std::vector<decltype(first)> pending;
  for (int i = 0; i < queued; ++i) {
    pending.push_back(self->request(writer_, caf::infinite, atom::append_v,
                                    events("q" + std::to_string(i), 2), no_cursors()));
  }
  fs_->release_gate();
  std::vector<uint64_t> replies;
  auto collect = [&](auto& handle) {
    handle.receive([&](uint64_t head) { replies.push_back(head); },
                   [&](const caf::error& err) { ADD_FAILURE() << describe(err); });
  };
  collect(first);
  for (auto& handle : pending) {
    collect(handle);
  }
  // Answered in order, each with the last seq of its own events.
  std::vector<uint64_t> want{1};
  for (int i = 0; i < queued; ++i) {
    want.push_back(3 + 2 * static_cast<uint64_t>(i));
  }
  EXPECT_EQ(replies, want);
  EXPECT_EQ(counters_->appends.load(), queued + 1u);
  EXPECT_EQ(counters_->groups.load(), 2u) << "the queued appends were not group-committed";
  EXPECT_EQ(log_->last_seq(), 1u + 2 * queued);
  ASSERT_TRUE(eventually([&] { return recorder_->committed_events() == 1u + 2 * queued; }));
}

TEST_F(JournalTest, SyncedIsForwardedAfterTheAppendsQueuedBeforeIt) {
  spawn_writer();
  caf::scoped_actor self{*sys_};
  fs_->arm_gate();
  caf::anon_send(writer_, atom::append_v, events("a"), no_cursors());
  ASSERT_TRUE(fs_->wait_until_held());
  caf::anon_send(writer_, atom::append_v, events("b"), no_cursors());
  caf::anon_send(writer_, atom::synced_v, std::string("Upstream"));
  caf::anon_send(writer_, atom::append_v, events("c"), no_cursors());
  fs_->release_gate();
  ASSERT_TRUE(eventually([&] { return recorder_->snapshot().size() == 4; }))
      << ::testing::PrintToString(recorder_->snapshot());
  EXPECT_EQ(recorder_->snapshot(), (std::vector<std::string>{"committed:1,", "committed:2,",
                                                             "synced:Upstream", "committed:3,"}));
}

TEST_F(JournalTest, FullDiskHoldsAppendsUnansweredAndWritesThemWhenSpaceReturns) {
  spawn_writer();
  caf::scoped_actor self{*sys_};
  fs_->full = true;
  auto held
      = self->request(writer_, caf::infinite, atom::append_v, events("held", 3), no_cursors());
  ASSERT_TRUE(eventually([&] { return counters_->failed_writes.load() >= 2; }))
      << "the writer did not retry";
  EXPECT_FALSE(log_->health().healthy);
  EXPECT_EQ(log_->last_seq(), 0u);
  EXPECT_EQ(recorder_->committed_events(), 0u) << "unwritten events reached the world";
  EXPECT_EQ(counters_->appends.load(), 0u) << "an append was answered while nothing was on disk";

  fs_->full = false;
  uint64_t head = 0;
  held.receive([&](uint64_t h) { head = h; },
               [&](const caf::error& err) { ADD_FAILURE() << describe(err); });
  EXPECT_EQ(head, 3u);
  EXPECT_TRUE(log_->health().healthy);
  ASSERT_TRUE(eventually([&] { return recorder_->committed_events() == 3; }));
}

TEST_F(JournalTest, WritesCheckpointsAndAppliesRetention) {
  journal_options options;
  options.checkpoint_every = 10;
  options.retention.max_events = 5;
  spawn_writer(options);
  caf::scoped_actor self{*sys_};
  for (int i = 0; i < 25; ++i) {
    self->request(writer_, caf::infinite, atom::append_v, events("e" + std::to_string(i)),
                  no_cursors())
        .receive([](uint64_t) {}, [](const caf::error& err) { ADD_FAILURE() << describe(err); });
  }
  auto list = log_->checkpoints();
  ASSERT_TRUE(list);
  ASSERT_FALSE(list->empty());
  EXPECT_EQ(list->back().seq, 20u);
  EXPECT_EQ(counters_->checkpoints.load(), 2u);
  // Retention runs right after each checkpoint. At the one at seq 20 it keeps 16..20, whose
  // replay needs the checkpoint at 10: that is the floor, so disk use stays bounded by
  // max_events plus one checkpoint interval.
  EXPECT_EQ(log_->retention_floor(), 10u);
  EXPECT_EQ(log_->first_seq(), 11u);
  auto oldest = log_->checkpoint_for(10);
  ASSERT_TRUE(oldest);
  EXPECT_EQ(oldest->seq, 10u);
}

}  // namespace
}  // namespace sluice::actors
