// Tests for model::ingest_tracker: raw source input -> log events, with dedupe, isolation of bad
// input and deletes for vanished resources.
#include "model/ingest_tracker.hpp"

#include <gtest/gtest.h>

namespace sluice::model {
namespace {

source_event upsert(std::string origin, std::string bytes, std::string ns = "gloo-system") {
  source_event ev;
  ev.source = "directory";
  ev.op = source_event::op_t::upsert;
  ev.kind = resource_kind::upstream;
  ev.ns = std::move(ns);
  ev.origin = std::move(origin);
  ev.bytes = std::move(bytes);
  return ev;
}

source_event remove(std::string origin) {
  auto ev = upsert(std::move(origin), "");
  ev.op = source_event::op_t::remove;
  return ev;
}

std::string upstream_yaml(const std::string& name, int port) {
  return "metadata:\n  name: " + name + "\nstatic:\n  hosts:\n    - addr: 127.0.0.1\n      port: "
         + std::to_string(port) + "\n";
}

int count(const ingest_tracker::output& out, sluice::v1::EventOp op, sluice::v1::Verdict v) {
  int n = 0;
  for (const auto& e : out.events) {
    n += (e.op() == op && e.verdict() == v) ? 1 : 0;
  }
  return n;
}

TEST(IngestTrackerTest, NewFileProducesAcceptedUpsertWithCanonicalBytes) {
  ingest_tracker t{resource_kind::upstream};
  auto out = t.ingest(upsert("upstreams/gloo-system/a.yaml", upstream_yaml("a", 80)));
  ASSERT_EQ(out.events.size(), 1u);
  const auto& ev = out.events[0];
  EXPECT_EQ(ev.kind(), "Upstream");
  EXPECT_EQ(ev.namespace_(), "gloo-system");
  EXPECT_EQ(ev.name(), "a");
  EXPECT_EQ(ev.verdict(), sluice::v1::VERDICT_ACCEPTED);
  EXPECT_FALSE(ev.resource().empty());
  EXPECT_EQ(ev.content_hash(), content_hash(ev.resource()));
  EXPECT_EQ(out.cursors.size(), 1u);
}

TEST(IngestTrackerTest, SameBytesTwiceProduceNothing) {
  ingest_tracker t{resource_kind::upstream};
  (void)t.ingest(upsert("u/a.yaml", upstream_yaml("a", 80)));
  auto again = t.ingest(upsert("u/a.yaml", upstream_yaml("a", 80)));
  EXPECT_TRUE(again.empty());
}

TEST(IngestTrackerTest, CommentOnlyChangeUpdatesCursorButAppendsNoEvent) {
  ingest_tracker t{resource_kind::upstream};
  (void)t.ingest(upsert("u/a.yaml", upstream_yaml("a", 80)));
  auto out = t.ingest(upsert("u/a.yaml", "# a comment\n" + upstream_yaml("a", 80)));
  EXPECT_TRUE(out.events.empty());
  EXPECT_EQ(out.cursors.size(), 1u);
}

TEST(IngestTrackerTest, MalformedFileIsRejectedAndKeepsLastGoodForm) {
  ingest_tracker t{resource_kind::upstream};
  (void)t.ingest(upsert("u/a.yaml", upstream_yaml("a", 80)));
  auto out = t.ingest(upsert("u/a.yaml", "metadata: [unclosed\n"));
  EXPECT_EQ(count(out, sluice::v1::EVENT_OP_UPSERT, sluice::v1::VERDICT_REJECTED), 1);
  EXPECT_EQ(count(out, sluice::v1::EVENT_OP_DELETE, sluice::v1::VERDICT_ACCEPTED), 0);
  ASSERT_FALSE(out.events[0].errors().empty());
  EXPECT_NE(out.events[0].errors(0).find("u/a.yaml"), std::string::npos);
  EXPECT_EQ(out.events[0].raw(), "metadata: [unclosed\n");
  // Repairing the file to the original content: the resource never left, so no new upsert;
  // one delete without a name clears the file's rejection.
  auto fixed = t.ingest(upsert("u/a.yaml", upstream_yaml("a", 80)));
  ASSERT_EQ(fixed.events.size(), 1u);
  EXPECT_EQ(fixed.events[0].op(), sluice::v1::EVENT_OP_DELETE);
  EXPECT_EQ(fixed.events[0].verdict(), sluice::v1::VERDICT_ACCEPTED);
  EXPECT_TRUE(fixed.events[0].name().empty());
  EXPECT_EQ(fixed.events[0].origin(), "u/a.yaml");
  // Only once: the file is clean now.
  auto touched = t.ingest(upsert("u/a.yaml", "# comment\n" + upstream_yaml("a", 80)));
  EXPECT_TRUE(touched.events.empty());
}

TEST(IngestTrackerTest, InvalidEditThenOriginalFormIsLoggedAgainToClearTheRejection) {
  ingest_tracker t{resource_kind::upstream};
  (void)t.ingest(upsert("u/a.yaml", upstream_yaml("a", 80)));
  auto bad = t.ingest(upsert("u/a.yaml", upstream_yaml("a", 80) + "  unknownField: 1\n"));
  ASSERT_EQ(count(bad, sluice::v1::EVENT_OP_UPSERT, sluice::v1::VERDICT_REJECTED), 1);
  EXPECT_EQ(bad.events[0].name(), "a");
  // The served form did not change, but the rejection must be cleared: the same form again is
  // an accepted upsert.
  auto back = t.ingest(upsert("u/a.yaml", upstream_yaml("a", 80)));
  EXPECT_EQ(count(back, sluice::v1::EVENT_OP_UPSERT, sluice::v1::VERDICT_ACCEPTED), 1);
}

TEST(IngestTrackerTest, RejectedNewResourceIsClearedWhenItsFileGoes) {
  ingest_tracker t{resource_kind::upstream};
  auto bad = t.ingest(upsert("u/b.yaml", upstream_yaml("b", 80) + "  unknownField: 1\n"));
  ASSERT_EQ(count(bad, sluice::v1::EVENT_OP_UPSERT, sluice::v1::VERDICT_REJECTED), 1);
  source_event gone;
  gone.source = "test";
  gone.op = source_event::op_t::remove;
  gone.kind = resource_kind::upstream;
  gone.origin = "u/b.yaml";
  auto out = t.ingest(gone);
  ASSERT_EQ(out.events.size(), 1u);
  EXPECT_EQ(out.events[0].op(), sluice::v1::EVENT_OP_DELETE);
  EXPECT_EQ(out.events[0].name(), "b");
}

TEST(IngestTrackerTest, DuplicateDefinitionRejectsTheOriginNotTheOwner) {
  ingest_tracker t{resource_kind::upstream};
  (void)t.ingest(upsert("u/a.yaml", upstream_yaml("a", 80)));
  auto dup = t.ingest(upsert("u/copy.yaml", upstream_yaml("a", 81)));
  ASSERT_EQ(count(dup, sluice::v1::EVENT_OP_UPSERT, sluice::v1::VERDICT_REJECTED), 1);
  EXPECT_TRUE(dup.events[0].name().empty());
  EXPECT_EQ(dup.events[0].origin(), "u/copy.yaml");
  EXPECT_NE(dup.events[0].errors(0).find("already defined in u/a.yaml"), std::string::npos);
}

TEST(IngestTrackerTest, RestoredRejectionMakesTheServedFormLoggableAgain) {
  sluice::v1::StateRecord row;
  row.set_kind("Upstream");
  row.set_namespace_("gloo-system");
  row.set_name("a");
  row.set_origin("u/a.yaml");
  {
    ingest_tracker first{resource_kind::upstream};
    auto out = first.ingest(upsert("u/a.yaml", upstream_yaml("a", 80)));
    ASSERT_EQ(out.events.size(), 1u);
    row.set_namespace_(out.events[0].namespace_());
    row.set_resource(out.events[0].resource());
    row.set_content_hash(out.events[0].content_hash());
  }
  sluice::v1::StateRecord rejection = row;
  rejection.clear_resource();
  rejection.set_content_hash(0);
  rejection.mutable_rejection()->set_stage("translation");
  rejection.mutable_rejection()->add_errors("domain conflict");
  ingest_tracker t{resource_kind::upstream};
  t.restore({row, rejection}, {});
  auto again = t.ingest(upsert("u/a.yaml", upstream_yaml("a", 80)));
  EXPECT_EQ(count(again, sluice::v1::EVENT_OP_UPSERT, sluice::v1::VERDICT_ACCEPTED), 1);
  // Without the rejection row the same input is nothing new.
  ingest_tracker plain{resource_kind::upstream};
  plain.restore({row}, {});
  EXPECT_TRUE(plain.ingest(upsert("u/a.yaml", upstream_yaml("a", 80))).events.empty());
}

TEST(IngestTrackerTest, UnknownFieldRejectsThatResourceOnly) {
  ingest_tracker t{resource_kind::upstream};
  auto out = t.ingest(upsert("u/two.yaml", upstream_yaml("a", 80) + "---\n"
                                               + "metadata:\n  name: b\nstatik: {}\n"));
  EXPECT_EQ(count(out, sluice::v1::EVENT_OP_UPSERT, sluice::v1::VERDICT_ACCEPTED), 1);
  EXPECT_EQ(count(out, sluice::v1::EVENT_OP_UPSERT, sluice::v1::VERDICT_REJECTED), 1);
  for (const auto& e : out.events) {
    if (e.verdict() == sluice::v1::VERDICT_REJECTED) {
      EXPECT_EQ(e.name(), "b");
      ASSERT_EQ(e.errors_size(), 1);
      EXPECT_NE(e.errors(0).find("statik"), std::string::npos) << e.errors(0);
    }
  }
}

TEST(IngestTrackerTest, ResourceDroppedFromFileIsDeleted) {
  ingest_tracker t{resource_kind::upstream};
  (void)t.ingest(upsert("u/two.yaml", upstream_yaml("a", 80) + "---\n" + upstream_yaml("b", 81)));
  auto out = t.ingest(upsert("u/two.yaml", upstream_yaml("a", 80)));
  ASSERT_EQ(out.events.size(), 1u);
  EXPECT_EQ(out.events[0].op(), sluice::v1::EVENT_OP_DELETE);
  EXPECT_EQ(out.events[0].name(), "b");
}

TEST(IngestTrackerTest, RemovedFileDeletesItsResources) {
  ingest_tracker t{resource_kind::upstream};
  (void)t.ingest(upsert("u/a.yaml", upstream_yaml("a", 80)));
  auto out = t.ingest(remove("u/a.yaml"));
  EXPECT_EQ(count(out, sluice::v1::EVENT_OP_DELETE, sluice::v1::VERDICT_ACCEPTED), 1);
  ASSERT_EQ(out.cursors.size(), 1u);
  EXPECT_EQ(out.cursors.begin()->second, "");
}

TEST(IngestTrackerTest, SameNameInTwoFilesRejectsTheNewcomer) {
  ingest_tracker t{resource_kind::upstream};
  (void)t.ingest(upsert("u/a.yaml", upstream_yaml("a", 80)));
  auto out = t.ingest(upsert("u/copy.yaml", upstream_yaml("a", 90)));
  ASSERT_EQ(out.events.size(), 1u);
  EXPECT_EQ(out.events[0].verdict(), sluice::v1::VERDICT_REJECTED);
  EXPECT_NE(out.events[0].errors(0).find("already defined in u/a.yaml"), std::string::npos);
}

TEST(IngestTrackerTest, RestoreThenSameInputAppendsNothing) {
  ingest_tracker first{resource_kind::upstream};
  auto out = first.ingest(upsert("u/a.yaml", upstream_yaml("a", 80)));
  auto bad = first.ingest(upsert("u/bad.yaml", "metadata: ["));
  std::vector<sluice::v1::StateRecord> state(1);
  state[0].set_kind("Upstream");
  state[0].set_namespace_("gloo-system");
  state[0].set_name("a");
  state[0].set_resource(out.events[0].resource());
  state[0].set_content_hash(out.events[0].content_hash());
  state[0].set_origin("u/a.yaml");
  std::map<std::string, std::string> cursors = out.cursors;
  cursors.insert(bad.cursors.begin(), bad.cursors.end());

  ingest_tracker second{resource_kind::upstream};
  second.restore(state, cursors);
  EXPECT_TRUE(second.ingest(upsert("u/a.yaml", upstream_yaml("a", 80))).empty());
  EXPECT_TRUE(second.ingest(upsert("u/bad.yaml", "metadata: [")).empty());
  EXPECT_TRUE(second.finish_sync("directory").empty());
}

TEST(IngestTrackerTest, FileDeletedWhileDownIsDeletedAtSync) {
  ingest_tracker first{resource_kind::upstream};
  auto out = first.ingest(upsert("u/a.yaml", upstream_yaml("a", 80)));
  std::vector<sluice::v1::StateRecord> state(1);
  state[0].set_kind("Upstream");
  state[0].set_namespace_("gloo-system");
  state[0].set_name("a");
  state[0].set_content_hash(out.events[0].content_hash());
  state[0].set_origin("u/a.yaml");

  ingest_tracker second{resource_kind::upstream};
  second.restore(state, out.cursors);
  auto sync = second.finish_sync("directory");
  ASSERT_EQ(sync.events.size(), 1u);
  EXPECT_EQ(sync.events[0].op(), sluice::v1::EVENT_OP_DELETE);
  EXPECT_EQ(sync.events[0].name(), "a");
}

TEST(IngestTrackerTest, InvalidResourceIsRejectedWithFieldPath) {
  ingest_tracker t{resource_kind::upstream};
  auto out = t.ingest(upsert("u/a.yaml",
                             "metadata:\n  name: a\nstatic:\n  hosts:\n    - addr: \"\"\n"
                             "      port: 0\n"));
  ASSERT_EQ(out.events.size(), 1u);
  EXPECT_EQ(out.events[0].verdict(), sluice::v1::VERDICT_REJECTED);
  EXPECT_EQ(out.events[0].name(), "a");
}

}  // namespace
}  // namespace sluice::model
