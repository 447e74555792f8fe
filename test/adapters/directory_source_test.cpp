#include "adapters/directory_source.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <future>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "model/error.hpp"
#include "test/support/temp_dir.hpp"

namespace sluice::adapters {
namespace {

using namespace std::chrono_literals;
using model::resource_kind;
using model::source_batch;
using model::source_event;
using op = source_event::op_t;
namespace fs = std::filesystem;

/// Records every batch the source delivers. Tests wait on conditions over what arrived, with a
/// bound, instead of sleeping. It also notices overlapping sink calls and which threads call.
class recorder {
 public:
  directory_source::sink sink() {
    return [this](source_batch batch) {
      if (in_sink_.exchange(true)) {
        overlapped_ = true;
      }
      {
        std::lock_guard<std::mutex> lock(mutex_);
        batches_.push_back(std::move(batch));
        threads_.push_back(std::this_thread::get_id());
      }
      in_sink_ = false;
      cv_.notify_all();
    };
  }

  /// Waits up to `bound` for `pred(batches)`; returns whether it became true.
  template <class Pred>
  bool wait_for(Pred pred, std::chrono::milliseconds bound = 10s) {
    std::unique_lock<std::mutex> lock(mutex_);
    return cv_.wait_for(lock, bound, [&] { return pred(batches_); });
  }

  std::vector<source_batch> batches() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return batches_;
  }

  std::vector<source_event> events() const {
    std::vector<source_event> out;
    for (const auto& b : batches()) {
      out.insert(out.end(), b.begin(), b.end());
    }
    return out;
  }

  std::vector<std::thread::id> threads() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return threads_;
  }

  bool overlapped() const { return overlapped_; }

 private:
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::vector<source_batch> batches_;
  std::vector<std::thread::id> threads_;
  std::atomic<bool> in_sink_{false};
  std::atomic<bool> overlapped_{false};
};

std::vector<source_event> flatten(const std::vector<source_batch>& batches) {
  std::vector<source_event> out;
  for (const auto& b : batches) {
    out.insert(out.end(), b.begin(), b.end());
  }
  return out;
}

/// A predicate: some event for `origin` with operation `what` (and, if given, these bytes).
auto has_event(op what, std::string origin, std::optional<std::string> bytes = std::nullopt) {
  return [what, origin = std::move(origin), bytes = std::move(bytes)](
             const std::vector<source_batch>& batches) {
    for (const auto& ev : flatten(batches)) {
      if (ev.op == what && ev.origin == origin && (!bytes || ev.bytes == *bytes)) {
        return true;
      }
    }
    return false;
  };
}

size_t count_for(const std::vector<source_event>& events, const std::string& origin) {
  return static_cast<size_t>(std::count_if(events.begin(), events.end(),
                                           [&](const auto& ev) { return ev.origin == origin; }));
}

std::string stat_revision(const fs::path& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    return "stat failed";
  }
  int64_t ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
  return std::to_string(ns) + "-" + std::to_string(st.st_size);
}

/// Writes through a raw descriptor so the test controls exactly when bytes hit the file and when
/// it is closed (a stream would buffer).
class open_writer {
 public:
  explicit open_writer(const fs::path& path)
      : fd_(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)) {}
  ~open_writer() { close(); }
  bool ok() const { return fd_ >= 0; }
  bool write(std::string_view text) {
    return ::write(fd_, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  }
  void close() {
    if (fd_ >= 0) {
      ::close(fd_);
      fd_ = -1;
    }
  }

 private:
  int fd_;
};

directory_source_options options_for(const test::temp_dir& dir) {
  directory_source_options opts;
  opts.root = dir.str();
  opts.settle = 30ms;
  return opts;
}

TEST(DirectorySourceTest, InitialScanDeliversEveryFileInOneBatchThenSynced) {
  test::temp_dir root;
  root.write("virtualservices/gloo-system/default.yaml", "vs: 1\n");
  root.write("upstreams/gloo-system/petstore.yml", "us: petstore\n");
  root.write("upstreams/team-a/u.json", "{\"us\": \"a\"}");
  root.write("gateways/gloo-system/gw.yaml", "gw: 1\n");
  // Wrong layout: none of these may be reported.
  root.write("top.yaml", "x");
  root.write("upstreams/stray.yaml", "x");
  root.write("upstreams/gloo-system/deeper/x.yaml", "x");
  root.write("upstreams/gloo-system/readme.txt", "x");
  root.write("upstreams/gloo-system/.petstore.yml.swp", "x");
  root.write("upstreams/gloo-system/4913", "x");
  root.write("upstreams/gloo-system/petstore.yml~", "x");
  root.write("unknownkinds/gloo-system/x.yaml", "x");
  root.write("upstreams/.hidden/x.yaml", "x");

  recorder rec;
  directory_source source(options_for(root), rec.sink());
  auto started = source.start();
  ASSERT_TRUE(started) << describe(started.error());

  auto batches = rec.batches();
  ASSERT_EQ(batches.size(), 1u) << "the initial scan is one batch, delivered before start returns";
  const auto& batch = batches[0];
  ASSERT_EQ(batch.size(), 5u);

  struct expected_file {
    std::string origin;
    resource_kind kind;
    std::string ns;
    std::string bytes;
  };
  std::vector<expected_file> want = {
      {"gateways/gloo-system/gw.yaml", resource_kind::gateway, "gloo-system", "gw: 1\n"},
      {"upstreams/gloo-system/petstore.yml", resource_kind::upstream, "gloo-system",
       "us: petstore\n"},
      {"upstreams/team-a/u.json", resource_kind::upstream, "team-a", "{\"us\": \"a\"}"},
      {"virtualservices/gloo-system/default.yaml", resource_kind::virtual_service, "gloo-system",
       "vs: 1\n"},
  };
  for (size_t i = 0; i < want.size(); ++i) {
    SCOPED_TRACE(want[i].origin);
    const auto& ev = batch[i];
    EXPECT_EQ(ev.source, "directory");
    EXPECT_EQ(ev.op, op::upsert);
    EXPECT_EQ(ev.origin, want[i].origin);
    ASSERT_TRUE(ev.kind.has_value());
    EXPECT_EQ(*ev.kind, want[i].kind);
    EXPECT_EQ(ev.ns, want[i].ns);
    EXPECT_EQ(ev.bytes, want[i].bytes);
    EXPECT_EQ(ev.revision, stat_revision(root.path() / want[i].origin));
  }
  const auto& last = batch.back();
  EXPECT_EQ(last.op, op::synced);
  EXPECT_EQ(last.source, "directory");
  EXPECT_FALSE(last.kind.has_value());
  EXPECT_TRUE(last.origin.empty());
}

TEST(DirectorySourceTest, MissingRootIsSourceErrorNamingThePath) {
  test::temp_dir parent;
  auto missing = (parent.path() / "no-such-root").string();
  recorder rec;
  directory_source_options opts;
  opts.root = missing;
  directory_source source(opts, rec.sink());
  auto started = source.start();
  ASSERT_FALSE(started);
  EXPECT_EQ(started.error().category(), caf::atom("sluice"));
  EXPECT_EQ(started.error().code(), static_cast<uint8_t>(ec::source_error));
  EXPECT_NE(describe(started.error()).find(missing), std::string::npos)
      << describe(started.error());
  EXPECT_TRUE(rec.batches().empty());
}

TEST(DirectorySourceTest, CreatedFileIsUpserted) {
  test::temp_dir root;
  fs::create_directories(root.path() / "upstreams" / "gloo-system");
  recorder rec;
  directory_source source(options_for(root), rec.sink());
  ASSERT_TRUE(source.start());

  root.write("upstreams/gloo-system/new.yaml", "name: new\n");
  const std::string origin = "upstreams/gloo-system/new.yaml";
  ASSERT_TRUE(rec.wait_for(has_event(op::upsert, origin)));
  auto events = rec.events();
  auto it = std::find_if(events.begin(), events.end(),
                         [&](const auto& ev) { return ev.origin == origin; });
  ASSERT_NE(it, events.end());
  EXPECT_EQ(it->source, "directory");
  EXPECT_EQ(it->kind, resource_kind::upstream);
  EXPECT_EQ(it->ns, "gloo-system");
  EXPECT_EQ(it->bytes, "name: new\n");
  EXPECT_EQ(it->revision, stat_revision(root.path() / origin));
}

TEST(DirectorySourceTest, ModifiedFileIsUpsertedWithItsNewContent) {
  test::temp_dir root;
  const std::string origin = "virtualservices/gloo-system/default.yaml";
  root.write(origin, "version: 1\n");
  recorder rec;
  directory_source source(options_for(root), rec.sink());
  ASSERT_TRUE(source.start());

  root.write(origin, "version: 2, longer\n");
  ASSERT_TRUE(rec.wait_for(has_event(op::upsert, origin, "version: 2, longer\n")));
  auto events = rec.events();
  EXPECT_EQ(events.back().revision, stat_revision(root.path() / origin));
}

TEST(DirectorySourceTest, DeletedFileIsRemoved) {
  test::temp_dir root;
  const std::string origin = "upstreams/team-a/gone.yaml";
  root.write(origin, "x: 1\n");
  recorder rec;
  directory_source source(options_for(root), rec.sink());
  ASSERT_TRUE(source.start());

  fs::remove(root.path() / origin);
  ASSERT_TRUE(rec.wait_for(has_event(op::remove, origin)));
  auto events = rec.events();
  const auto& ev = events.back();
  EXPECT_EQ(ev.origin, origin);
  EXPECT_EQ(ev.source, "directory");
  EXPECT_EQ(ev.kind, resource_kind::upstream);
  EXPECT_EQ(ev.ns, "team-a");
}

TEST(DirectorySourceTest, FileRenamedIntoPlaceIsUpserted) {
  test::temp_dir root;
  test::temp_dir outside;
  fs::create_directories(root.path() / "upstreams" / "gloo-system");
  recorder rec;
  directory_source source(options_for(root), rec.sink());
  ASSERT_TRUE(source.start());

  // The atomic-writer pattern: write a hidden temporary next to the target, then rename.
  root.write("upstreams/gloo-system/.a.yaml.tmp", "a: 1\n");
  fs::rename(root.path() / "upstreams/gloo-system/.a.yaml.tmp",
             root.path() / "upstreams/gloo-system/a.yaml");
  // And a file moved in from outside the tree.
  outside.write("b.yaml", "b: 1\n");
  fs::rename(outside.path() / "b.yaml", root.path() / "upstreams/gloo-system/b.yaml");

  ASSERT_TRUE(rec.wait_for(has_event(op::upsert, "upstreams/gloo-system/a.yaml", "a: 1\n")));
  ASSERT_TRUE(rec.wait_for(has_event(op::upsert, "upstreams/gloo-system/b.yaml", "b: 1\n")));
  EXPECT_EQ(count_for(rec.events(), "upstreams/gloo-system/.a.yaml.tmp"), 0u);
}

TEST(DirectorySourceTest, FileRenamedAwayIsRemoved) {
  test::temp_dir root;
  test::temp_dir outside;
  root.write("upstreams/gloo-system/a.yaml", "a: 1\n");
  root.write("upstreams/gloo-system/b.yaml", "b: 1\n");
  recorder rec;
  directory_source source(options_for(root), rec.sink());
  ASSERT_TRUE(source.start());

  fs::rename(root.path() / "upstreams/gloo-system/a.yaml", outside.path() / "a.yaml");
  fs::rename(root.path() / "upstreams/gloo-system/b.yaml",
             root.path() / "upstreams/gloo-system/b.yaml.bak");
  ASSERT_TRUE(rec.wait_for(has_event(op::remove, "upstreams/gloo-system/a.yaml")));
  ASSERT_TRUE(rec.wait_for(has_event(op::remove, "upstreams/gloo-system/b.yaml")));
  EXPECT_EQ(count_for(rec.events(), "upstreams/gloo-system/b.yaml.bak"), 0u);
}

TEST(DirectorySourceTest, HalfWrittenFileIsDeliveredOnlyWithItsFinalContent) {
  test::temp_dir root;
  fs::create_directories(root.path() / "upstreams" / "gloo-system");
  auto opts = options_for(root);
  opts.open_writer_quiet = 1h;  // this test is about closing, not about quiet open writers
  recorder rec;
  directory_source source(opts, rec.sink());
  ASSERT_TRUE(source.start());

  const std::string origin = "upstreams/gloo-system/big.yaml";
  const std::string first_half = "metadata:\n  name: big\n";
  const std::string second_half = "spec:\n  static: {}\n";
  open_writer writer(root.path() / origin);
  ASSERT_TRUE(writer.ok());
  ASSERT_TRUE(writer.write(first_half));

  // Negative check without a clock: a probe file written *after* the half write is closed, so it
  // gets the settle treatment. Its event comes after the half file's events in the same inotify
  // queue, so by the time the probe is delivered, the half file's settle period has passed too:
  // a source that read on modify + settle would have delivered the half content by now (in this
  // batch or an earlier one).
  root.write("upstreams/gloo-system/probe.yaml", "probe: 1\n");
  ASSERT_TRUE(rec.wait_for(has_event(op::upsert, "upstreams/gloo-system/probe.yaml")));
  EXPECT_EQ(count_for(rec.events(), origin), 0u) << "the half-written file was delivered";

  ASSERT_TRUE(writer.write(second_half));
  writer.close();
  ASSERT_TRUE(rec.wait_for(has_event(op::upsert, origin)));
  for (const auto& ev : rec.events()) {
    if (ev.origin == origin) {
      EXPECT_EQ(ev.bytes, first_half + second_half);
    }
  }
}

TEST(DirectorySourceTest, WriterThatNeverClosesIsPickedUpOnceQuiet) {
  test::temp_dir root;
  fs::create_directories(root.path() / "upstreams" / "gloo-system");
  auto opts = options_for(root);
  opts.open_writer_quiet = 200ms;
  recorder rec;
  directory_source source(opts, rec.sink());
  ASSERT_TRUE(source.start());

  // Like `>>` from a long-running process: appended, never closed while we wait.
  const std::string origin = "upstreams/gloo-system/appended.yaml";
  open_writer writer(root.path() / origin);
  ASSERT_TRUE(writer.ok());
  ASSERT_TRUE(writer.write("a: 1\n"));
  ASSERT_TRUE(writer.write("b: 2\n"));
  ASSERT_TRUE(rec.wait_for(has_event(op::upsert, origin, "a: 1\nb: 2\n")));
  writer.close();
}

TEST(DirectorySourceTest, NewDirectoriesCreatedAfterStartAreWatched) {
  test::temp_dir root;
  fs::create_directories(root.path() / "upstreams");
  recorder rec;
  directory_source source(options_for(root), rec.sink());
  ASSERT_TRUE(source.start());

  // A new namespace directory under an existing kind directory.
  root.write("upstreams/new-ns/first.yaml", "first: 1\n");
  ASSERT_TRUE(rec.wait_for(has_event(op::upsert, "upstreams/new-ns/first.yaml", "first: 1\n")));
  // Written after the directory was picked up, so only a watch on it can see this one.
  root.write("upstreams/new-ns/second.yaml", "second: 1\n");
  ASSERT_TRUE(rec.wait_for(has_event(op::upsert, "upstreams/new-ns/second.yaml", "second: 1\n")));

  // A new kind directory at the root, with its namespace.
  root.write("routetables/team-a/routes.yaml", "rt: 1\n");
  ASSERT_TRUE(rec.wait_for(has_event(op::upsert, "routetables/team-a/routes.yaml", "rt: 1\n")));
  root.write("routetables/team-a/more.yaml", "rt: 2\n");
  ASSERT_TRUE(rec.wait_for(has_event(op::upsert, "routetables/team-a/more.yaml", "rt: 2\n")));

  auto events = rec.events();
  auto it = std::find_if(events.begin(), events.end(), [](const auto& ev) {
    return ev.origin == "routetables/team-a/more.yaml";
  });
  ASSERT_NE(it, events.end());
  EXPECT_EQ(it->kind, resource_kind::route_table);
  EXPECT_EQ(it->ns, "team-a");
}

TEST(DirectorySourceTest, NamespaceDirectoryMovedInArrivesAsOneSortedBatch) {
  test::temp_dir root;
  test::temp_dir staging;
  fs::create_directories(root.path() / "upstreams");
  staging.write("ns1/c.yaml", "c\n");
  staging.write("ns1/a.yaml", "a\n");
  staging.write("ns1/b.yml", "b\n");
  recorder rec;
  directory_source source(options_for(root), rec.sink());
  ASSERT_TRUE(source.start());

  // One rename brings three files at once: they settle together and go out together.
  fs::rename(staging.path() / "ns1", root.path() / "upstreams" / "ns1");
  ASSERT_TRUE(rec.wait_for([](const auto& batches) { return batches.size() >= 2; }));
  auto batches = rec.batches();
  ASSERT_EQ(batches[1].size(), 3u);
  EXPECT_EQ(batches[1][0].origin, "upstreams/ns1/a.yaml");
  EXPECT_EQ(batches[1][1].origin, "upstreams/ns1/b.yml");
  EXPECT_EQ(batches[1][2].origin, "upstreams/ns1/c.yaml");
  for (const auto& ev : batches[1]) {
    EXPECT_EQ(ev.op, op::upsert);
    EXPECT_EQ(ev.ns, "ns1");
  }
  EXPECT_EQ(batches[1][0].bytes, "a\n");
}

TEST(DirectorySourceTest, RemovedDirectoryRemovesEveryFileUnderIt) {
  test::temp_dir root;
  root.write("upstreams/ns1/a.yaml", "a\n");
  root.write("upstreams/ns1/b.yaml", "b\n");
  root.write("upstreams/ns2/c.yaml", "c\n");
  root.write("gateways/ns1/gw.yaml", "gw\n");
  recorder rec;
  directory_source source(options_for(root), rec.sink());
  ASSERT_TRUE(source.start());

  fs::remove_all(root.path() / "upstreams" / "ns1");
  ASSERT_TRUE(rec.wait_for(has_event(op::remove, "upstreams/ns1/a.yaml")));
  ASSERT_TRUE(rec.wait_for(has_event(op::remove, "upstreams/ns1/b.yaml")));
  fs::remove_all(root.path() / "gateways");
  ASSERT_TRUE(rec.wait_for(has_event(op::remove, "gateways/ns1/gw.yaml")));
  EXPECT_EQ(count_for(rec.events(), "upstreams/ns2/c.yaml"), 1u) << "only its initial upsert";
}

TEST(DirectorySourceTest, DirectoryMovedOutIsRemovedAndNoLongerReported) {
  test::temp_dir root;
  test::temp_dir outside;
  root.write("upstreams/ns1/a.yaml", "a\n");
  root.write("upstreams/ns1/b.yaml", "b\n");
  recorder rec;
  directory_source source(options_for(root), rec.sink());
  ASSERT_TRUE(source.start());

  fs::rename(root.path() / "upstreams" / "ns1", outside.path() / "ns1");
  ASSERT_TRUE(rec.wait_for([](const auto& batches) {
    return has_event(op::remove, "upstreams/ns1/a.yaml")(batches)
           && has_event(op::remove, "upstreams/ns1/b.yaml")(batches);
  }));

  // The moved directory still exists elsewhere; writing there must not surface under its old
  // name. The probe written afterwards bounds the wait (same queue, same settle period).
  std::ofstream(outside.path() / "ns1" / "late.yaml") << "late\n";
  root.write("upstreams/probe/p.yaml", "p\n");
  ASSERT_TRUE(rec.wait_for(has_event(op::upsert, "upstreams/probe/p.yaml")));
  EXPECT_EQ(count_for(rec.events(), "upstreams/ns1/late.yaml"), 0u);
}

TEST(DirectorySourceTest, IgnoredNamesCreatedAfterStartProduceNoEvents) {
  test::temp_dir root;
  fs::create_directories(root.path() / "upstreams" / "gloo-system");
  recorder rec;
  directory_source source(options_for(root), rec.sink());
  ASSERT_TRUE(source.start());

  const std::vector<std::string> ignored = {
      "upstreams/gloo-system/.x.yaml.swp", "upstreams/gloo-system/4913",
      "upstreams/gloo-system/x.yaml~",     "upstreams/gloo-system/readme.txt",
      "upstreams/gloo-system/deeper/x.yaml", "upstreams/stray.yaml",
      "unknownkinds/gloo-system/x.yaml",   "upstreams/.hidden/x.yaml",
      "top.yaml",
  };
  for (const auto& rel : ignored) {
    root.write(rel, "junk\n");
  }
  // Bounded negative check: the probe is written last, so once it is delivered every earlier
  // file has had its settle period.
  root.write("upstreams/gloo-system/probe.yaml", "probe\n");
  ASSERT_TRUE(rec.wait_for(has_event(op::upsert, "upstreams/gloo-system/probe.yaml")));
  for (const auto& ev : rec.events()) {
    if (ev.op != op::synced) {
      EXPECT_EQ(ev.origin, "upstreams/gloo-system/probe.yaml");
    }
  }
}

TEST(DirectorySourceTest, OversizedFileIsReportedWithAtMostMaxPlusOneBytes) {
  test::temp_dir root;
  const std::string big(1000, 'x');
  root.write("upstreams/gloo-system/big.yaml", big);
  auto opts = options_for(root);
  opts.max_file_bytes = 16;
  recorder rec;
  directory_source source(opts, rec.sink());
  ASSERT_TRUE(source.start());

  auto initial = rec.batches().at(0);
  ASSERT_EQ(initial.size(), 2u);
  EXPECT_EQ(initial[0].bytes, big.substr(0, 17));
  EXPECT_EQ(initial[0].revision, stat_revision(root.path() / "upstreams/gloo-system/big.yaml"))
      << "the revision names the whole file";

  root.write("upstreams/gloo-system/later.yaml", big);
  ASSERT_TRUE(rec.wait_for(
      has_event(op::upsert, "upstreams/gloo-system/later.yaml", big.substr(0, 17))));
}

TEST(DirectorySourceTest, PeriodicRescanCatchesChangesInotifyCannotSee) {
  test::temp_dir root;
  test::temp_dir outside;
  auto target = outside.write("target.yaml", "v: 1\n");
  fs::create_directories(root.path() / "upstreams" / "gloo-system");
  const std::string origin = "upstreams/gloo-system/link.yaml";
  // A change to a symlink's target raises no event in the watched directory.
  fs::create_symlink(target, root.path() / origin);
  auto opts = options_for(root);
  opts.rescan = 50ms;
  recorder rec;
  directory_source source(opts, rec.sink());
  ASSERT_TRUE(source.start());
  ASSERT_TRUE(has_event(op::upsert, origin, "v: 1\n")(rec.batches()));

  outside.write("target.yaml", "v: 2, longer\n");
  ASSERT_TRUE(rec.wait_for(has_event(op::upsert, origin, "v: 2, longer\n")));
  fs::remove(target);
  ASSERT_TRUE(rec.wait_for(has_event(op::remove, origin)));
}

TEST(DirectorySourceTest, SinkIsCalledFromOneWatchThreadAndNeverConcurrently) {
  test::temp_dir root;
  root.write("upstreams/ns/a.yaml", "a\n");
  recorder rec;
  directory_source source(options_for(root), rec.sink());
  ASSERT_TRUE(source.start());
  for (int i = 0; i < 5; ++i) {
    root.write("upstreams/ns/f" + std::to_string(i) + ".yaml", "f\n");
    ASSERT_TRUE(rec.wait_for(
        has_event(op::upsert, "upstreams/ns/f" + std::to_string(i) + ".yaml")));
  }
  auto threads = rec.threads();
  ASSERT_GE(threads.size(), 2u);
  EXPECT_EQ(threads[0], std::this_thread::get_id()) << "the initial scan is synchronous";
  for (size_t i = 1; i < threads.size(); ++i) {
    EXPECT_NE(threads[i], std::this_thread::get_id());
    EXPECT_EQ(threads[i], threads[1]);
  }
  EXPECT_FALSE(rec.overlapped());
}

TEST(DirectorySourceTest, StopReturnsPromptlyAndNoSinkCallFollows) {
  test::temp_dir root;
  fs::create_directories(root.path() / "upstreams" / "gloo-system");
  auto opts = options_for(root);
  opts.open_writer_quiet = 1h;  // a pending check far in the future must not delay stop()
  opts.rescan = 1h;
  recorder rec;
  directory_source source(opts, rec.sink());
  ASSERT_TRUE(source.start());
  open_writer writer(root.path() / "upstreams/gloo-system/open.yaml");
  ASSERT_TRUE(writer.ok());
  ASSERT_TRUE(writer.write("half"));

  auto stopped = std::async(std::launch::async, [&] { source.stop(); });
  ASSERT_EQ(stopped.wait_for(10s), std::future_status::ready) << "stop() hung";
  const size_t calls_at_stop = rec.batches().size();

  // A second source on the same tree is the yardstick: once it has delivered the new file, the
  // stopped one would have too, had it still been running.
  recorder witness_rec;
  directory_source witness(options_for(root), witness_rec.sink());
  ASSERT_TRUE(witness.start());
  root.write("upstreams/gloo-system/after-stop.yaml", "x\n");
  writer.write(" and the rest");
  writer.close();
  ASSERT_TRUE(witness_rec.wait_for(
      has_event(op::upsert, "upstreams/gloo-system/after-stop.yaml")));
  EXPECT_EQ(rec.batches().size(), calls_at_stop);

  source.stop();  // idempotent
  EXPECT_EQ(rec.batches().size(), calls_at_stop);
}

TEST(DirectorySourceTest, StopBeforeStartAndDestructionWithoutStopAreHarmless) {
  test::temp_dir root;
  recorder rec;
  {
    directory_source never_started(options_for(root), rec.sink());
    never_started.stop();
    never_started.stop();
  }
  {
    directory_source running(options_for(root), rec.sink());
    ASSERT_TRUE(running.start());
  }  // the destructor stops and joins
  ASSERT_EQ(rec.batches().size(), 1u);
  EXPECT_EQ(rec.batches()[0].back().op, op::synced);
}

}  // namespace
}  // namespace sluice::adapters
