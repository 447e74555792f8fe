#include "bench/log_measure.hpp"

#include <grpcpp/grpcpp.h>
#include <rocksdb/db.h>
#include <rocksdb/write_batch.h>
#include <stdlib.h>

#include <chrono>
#include <filesystem>
#include <fstream>

#include <fmt/format.h>

#include "actors/actor_types.hpp"
#include "actors/control_plane.hpp"
#include "actors/journal_actor.hpp"
#include "actors/log_replayer.hpp"
#include "envoy/service/discovery/v3/ads.grpc.pb.h"
#include "model/error.hpp"
#include "model/ingest_tracker.hpp"
#include "model/logging.hpp"
#include "model/resource.hpp"
#include "solo/gloo.pb.h"
#include "store/event_log.hpp"
#include "store/key_codec.hpp"

namespace sluice::bench {

namespace {

namespace fs = std::filesystem;
using clock_type = std::chrono::steady_clock;

double seconds_since(clock_type::time_point start) {
  return std::chrono::duration<double>(clock_type::now() - start).count();
}

/// A fresh directory under `parent`, removed with everything in it on destruction.
class scratch_dir {
 public:
  explicit scratch_dir(const std::string& parent) {
    auto base = parent.empty() ? fs::temp_directory_path() : fs::path(parent);
    auto pattern = (base / "sluice-bench-log-XXXXXX").string();
    if (mkdtemp(pattern.data()) != nullptr) {
      path_ = pattern;
    }
  }
  ~scratch_dir() {
    std::error_code ec;
    if (!path_.empty()) {
      fs::remove_all(path_, ec);
    }
  }
  scratch_dir(const scratch_dir&) = delete;
  scratch_dir& operator=(const scratch_dir&) = delete;
  bool ok() const { return !path_.empty(); }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

std::string upstream_yaml(size_t k, uint32_t port) {
  return fmt::format(
      "metadata:\n  name: u{}\n  namespace: gloo-system\nstatic:\n  hosts:\n"
      "    - addr: 10.0.{}.{}\n      port: {}\n",
      k, k / 250 % 250, k % 250 + 1, port);
}

/// An accepted Upstream upsert as the kind actor makes it (canonical bytes, content hash).
sluice::v1::Event upstream_event(size_t k, uint32_t port) {
  ::gloo::solo::io::Upstream u;
  u.mutable_metadata()->set_name(fmt::format("u{}", k));
  u.mutable_metadata()->set_namespace_("gloo-system");
  auto* host = u.mutable_static_()->add_hosts();
  host->set_addr(fmt::format("10.0.{}.{}", k / 250 % 250, k % 250 + 1));
  host->set_port(port);
  sluice::v1::Event ev;
  ev.set_source("directory");
  ev.set_kind("Upstream");
  ev.set_namespace_("gloo-system");
  ev.set_name(u.metadata().name());
  ev.set_op(sluice::v1::EVENT_OP_UPSERT);
  ev.set_verdict(sluice::v1::VERDICT_ACCEPTED);
  ev.set_origin(fmt::format("upstreams/gloo-system/u{}.yaml", k));
  ev.set_resource(model::canonical_bytes(u));
  ev.set_content_hash(model::content_hash(ev.resource()));
  ev.set_source_revision(fmt::format("size={}", ev.resource().size()));
  return ev;
}

/// Counts what the journal forwards; stands in for the world.
actors::world_actor::behavior_type counting_world(actors::world_actor::pointer) {
  return {
      [](sluice::atom::committed, const actors::event_batch_ptr&) {},
      [](sluice::atom::synced, const std::string&) {},
      [](sluice::atom::translate) {},
      [](sluice::atom::status) {},
      [](sluice::atom::record, const actors::journal_actor&) {},
  };
}

/// Appends of `batch` events through the journal, each answered before the next.
caf::expected<double> journal_ingest(const fs::path& dir,
                                     const std::vector<sluice::v1::Event>& pool, size_t batch,
                                     double seconds) {
  auto log = store::event_log::open(store::event_log_options{dir.string()});
  if (!log) {
    return log.error();
  }
  std::vector<actors::event_batch_ptr> batches;
  for (size_t i = 0; i + batch <= pool.size(); i += batch) {
    batches.push_back(std::make_shared<actors::event_batch>(
        pool.begin() + static_cast<long>(i), pool.begin() + static_cast<long>(i + batch)));
  }
  caf::actor_system_config cfg;
  cfg.add_message_types<caf::id_block::sluice>();
  caf::actor_system sys{cfg};
  auto world = sys.spawn(counting_world);
  actors::journal_options options;
  options.checkpoint_every = 0;
  auto journal = sys.spawn<caf::detached>(actors::configured_journal_impl,
                                          std::shared_ptr<store::event_log>(std::move(*log)), world,
                                          options, std::shared_ptr<actors::journal_counters>{});
  auto cursors = std::make_shared<const actors::cursor_map>();
  caf::scoped_actor self{sys};
  uint64_t events = 0;
  caf::error failure;
  auto start = clock_type::now();
  for (size_t i = 0; seconds_since(start) < seconds || i == 0; ++i) {
    const auto& b = batches[i % batches.size()];
    self->request(journal, caf::infinite, sluice::atom::append_v, b, cursors)
        .receive([&](uint64_t) { events += b->size(); },
                 [&](const caf::error& err) { failure = err; });
    if (failure) {
      break;
    }
  }
  const double elapsed = seconds_since(start);
  self->send_exit(journal, caf::exit_reason::user_shutdown);
  self->send_exit(world, caf::exit_reason::user_shutdown);
  if (failure) {
    return failure;
  }
  return static_cast<double>(events) / elapsed;
}

/// Raw synced RocksDB WriteBatches of the bytes the log writes for the same events: the event
/// under its seq key and the state row under its state key.
caf::expected<double> rocksdb_floor(const fs::path& dir, const std::vector<sluice::v1::Event>& pool,
                                    size_t batch, double seconds) {
  struct bytes {
    std::string event;
    std::string state_key;
    std::string state_row;
  };
  std::vector<bytes> values;
  values.reserve(pool.size());
  for (const auto& ev : pool) {
    sluice::v1::StateRecord row;
    row.set_seq(1);
    row.set_kind(ev.kind());
    row.set_namespace_(ev.namespace_());
    row.set_name(ev.name());
    row.set_resource(ev.resource());
    row.set_content_hash(ev.content_hash());
    row.set_origin(ev.origin());
    auto stamped = ev;
    stamped.set_seq(1'000'000);
    stamped.set_time_unix_ns(1'700'000'000'000'000'000);
    values.push_back({stamped.SerializeAsString(),
                      store::state_key(ev.kind(), ev.namespace_(), ev.name()),
                      row.SerializeAsString()});
  }
  rocksdb::DBOptions db_options;
  db_options.create_if_missing = true;
  db_options.create_missing_column_families = true;
  std::vector<rocksdb::ColumnFamilyDescriptor> families;
  for (const char* name : {"default", "events", "state", "meta"}) {
    families.emplace_back(name, rocksdb::ColumnFamilyOptions{});
  }
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* db = nullptr;
  auto status = rocksdb::DB::Open(db_options, dir.string(), families, &handles, &db);
  if (!status.ok()) {
    return make_error(ec::storage_error, "floor: cannot open RocksDB: " + status.ToString());
  }
  rocksdb::WriteOptions sync;
  sync.sync = true;
  uint64_t seq = 0;
  auto start = clock_type::now();
  while (seconds_since(start) < seconds || seq == 0) {
    rocksdb::WriteBatch wb;
    for (size_t i = 0; i < batch; ++i) {
      const auto& v = values[seq % values.size()];
      ++seq;
      wb.Put(handles[1], store::keys::encode_seq(seq), v.event);
      wb.Put(handles[2], v.state_key, v.state_row);
    }
    status = db->Write(sync, &wb);
    if (!status.ok()) {
      break;
    }
  }
  const double elapsed = seconds_since(start);
  for (auto* h : handles) {
    (void)db->DestroyColumnFamilyHandle(h);
  }
  (void)db->Close();
  delete db;
  if (!status.ok()) {
    return make_error(ec::storage_error, "floor: write failed: " + status.ToString());
  }
  return static_cast<double>(seq) / elapsed;
}

/// Single-event appends sent without waiting: they queue behind the synced write in flight and
/// go out together.
caf::expected<nlohmann::json> group_commit(const fs::path& dir,
                                           const std::vector<sluice::v1::Event>& pool,
                                           size_t appends) {
  auto log = store::event_log::open(store::event_log_options{dir.string()});
  if (!log) {
    return log.error();
  }
  caf::actor_system_config cfg;
  cfg.add_message_types<caf::id_block::sluice>();
  caf::actor_system sys{cfg};
  auto world = sys.spawn(counting_world);
  auto counters = std::make_shared<actors::journal_counters>();
  actors::journal_options options;
  options.checkpoint_every = 0;
  auto journal = sys.spawn<caf::detached>(actors::configured_journal_impl,
                                          std::shared_ptr<store::event_log>(std::move(*log)), world,
                                          options, counters);
  std::vector<actors::event_batch_ptr> singles;
  for (size_t i = 0; i < appends; ++i) {
    singles.push_back(std::make_shared<actors::event_batch>(1, pool[i % pool.size()]));
  }
  auto cursors = std::make_shared<const actors::cursor_map>();
  caf::scoped_actor self{sys};
  auto start = clock_type::now();
  for (const auto& single : singles) {
    self->send(journal, sluice::atom::append_v, single, cursors);
  }
  size_t answered = 0;
  caf::error failure;
  for (size_t i = 0; i < appends && !failure; ++i) {
    self->receive([&](uint64_t) { ++answered; }, [&](const caf::error& err) { failure = err; });
  }
  const double elapsed = seconds_since(start);
  self->send_exit(journal, caf::exit_reason::user_shutdown);
  self->send_exit(world, caf::exit_reason::user_shutdown);
  if (failure) {
    return failure;
  }
  const double groups = static_cast<double>(std::max<uint64_t>(counters->groups.load(), 1));
  return nlohmann::json{{"appends", answered},
                        {"events_per_s", static_cast<double>(answered) / elapsed},
                        {"write_batches", counters->groups.load()},
                        {"appends_per_write_batch", static_cast<double>(answered) / groups}};
}

/// Writes a log of about `events` Upstream edits cycling over `upstreams` files, plus a Gateway
/// and a VirtualService, with checkpoints; the files of its final state go to `config`, with the
/// cursors the kind actors would have written, so a server restarting on both appends nothing.
caf::expected<void> build_store(const fs::path& data, const fs::path& config,
                                const log_bench_options& o) {
  store::event_log_options options{data.string()};
  options.sync = false;  // building the fixture, not measuring it
  auto opened = store::event_log::open(options);
  if (!opened) {
    return opened.error();
  }
  auto& log = **opened;
  auto write_file = [&](const std::string& origin, const std::string& text) {
    auto path = config / origin;
    fs::create_directories(path.parent_path());
    std::ofstream(path, std::ios::trunc) << text;
  };
  auto through_tracker = [&](model::resource_kind kind, const std::string& origin,
                             const std::string& text) -> caf::expected<void> {
    model::ingest_tracker tracker{kind};
    model::source_event ev;
    ev.source = "directory";
    ev.kind = kind;
    ev.ns = "gloo-system";
    ev.origin = origin;
    ev.bytes = text;
    auto out = tracker.ingest(ev);
    write_file(origin, text);
    if (auto stored = log.append(std::move(out.events), out.cursors); !stored) {
      return stored.error();
    }
    return {};
  };
  const std::string gateway
      = "metadata:\n  name: gateway-proxy\n  namespace: gloo-system\n"
        "bindAddress: \"::\"\nbindPort: 8080\nhttpGateway: {}\n";
  const std::string vs
      = "metadata:\n  name: greeter\n  namespace: gloo-system\nvirtualHost:\n"
        "  domains: [greeter]\n  routes:\n    - matchers: [{prefix: /}]\n"
        "      routeAction:\n        single:\n          upstream: {name: u0}\n";
  if (auto ok = through_tracker(model::resource_kind::gateway,
                                "gateways/gloo-system/gateway-proxy.yaml", gateway);
      !ok) {
    return ok.error();
  }
  if (auto ok = through_tracker(model::resource_kind::virtual_service,
                                "virtualservices/gloo-system/greeter.yaml", vs);
      !ok) {
    return ok.error();
  }
  const uint64_t bulk = o.replay_events > o.upstreams ? o.replay_events - o.upstreams : 0;
  constexpr uint64_t chunk = 10'000;
  uint64_t next_checkpoint = o.checkpoint_every;
  for (uint64_t i = 0; i < bulk;) {
    store::write_group group;
    group.appends.emplace_back();
    auto& events = group.appends.back().events;
    for (uint64_t end = std::min(bulk, i + chunk); i < end; ++i) {
      events.push_back(
          upstream_event(i % o.upstreams, static_cast<uint32_t>(1000 + i / o.upstreams)));
    }
    if (auto written = log.write(group); !written) {
      return written.error();
    }
    if (o.checkpoint_every > 0 && log.last_seq() >= next_checkpoint) {
      if (auto c = log.write_checkpoint(); !c) {
        return c.error();
      }
      next_checkpoint += o.checkpoint_every;
    }
  }
  // The final form of every upstream, through the tracker so the cursors match the files.
  model::ingest_tracker tracker{model::resource_kind::upstream};
  store::write_group last;
  last.appends.emplace_back();
  for (size_t k = 0; k < o.upstreams; ++k) {
    const auto origin = fmt::format("upstreams/gloo-system/u{}.yaml", k);
    const auto text = upstream_yaml(k, static_cast<uint32_t>(60'000 + k % 5'000));
    model::source_event ev;
    ev.source = "directory";
    ev.kind = model::resource_kind::upstream;
    ev.ns = "gloo-system";
    ev.origin = origin;
    ev.bytes = text;
    auto out = tracker.ingest(ev);
    for (auto& e : out.events) {
      last.appends.back().events.push_back(std::move(e));
    }
    for (auto& [k2, v] : out.cursors) {
      last.appends.back().cursors[k2] = v;
    }
    write_file(origin, text);
  }
  if (auto written = log.write(last); !written) {
    return written.error();
  }
  if (auto c = log.write_checkpoint(); !c) {
    return c.error();
  }
  return {};
}

caf::expected<nlohmann::json> replay_figures(const fs::path& data) {
  auto log = store::event_log::open(store::event_log_options{data.string(), true, true});
  if (!log) {
    return log.error();
  }
  actors::log_replayer replayer{**log};
  actors::replayed_world w;
  auto start = clock_type::now();
  if (auto ok = replayer.advance(w, (*log)->last_seq()); !ok) {
    return ok.error();
  }
  const double full = seconds_since(start);
  start = clock_type::now();
  auto head = replayer.replay((*log)->last_seq() - 1);
  if (!head) {
    return head.error();
  }
  const double from_checkpoint = seconds_since(start);
  return nlohmann::json{{"replay_events", w.events_applied},
                        {"replay_events_per_s", static_cast<double>(w.events_applied) / full},
                        {"replay_resources", w.world.size()},
                        {"replay_head_from_checkpoint_ms", from_checkpoint * 1000},
                        {"replay_head_checkpoint_seq", head->checkpoint_seq},
                        {"replay_head_events_after_checkpoint", head->events_applied}};
}

/// control_plane::start until an ADS client gets its first clusters.
caf::expected<nlohmann::json> restart_to_serving(const fs::path& data, const fs::path& config) {
  uint64_t before = 0;
  {
    auto log = store::event_log::open(store::event_log_options{data.string(), true, true});
    if (!log) {
      return log.error();
    }
    before = (*log)->last_seq();
  }
  caf::actor_system_config cfg;
  cfg.add_message_types<caf::id_block::sluice>();
  caf::actor_system sys{cfg};
  actors::control_plane_options options;
  options.config_dir = config.string();
  options.data_dir = data.string();
  options.xds_listen = "127.0.0.1:0";
  auto start = clock_type::now();
  auto cp = actors::control_plane::start(sys, options);
  if (!cp) {
    return cp.error();
  }
  const double started = seconds_since(start);
  auto channel = grpc::CreateChannel(fmt::format("127.0.0.1:{}", (*cp)->xds_port()),
                                     grpc::InsecureChannelCredentials());
  auto stub = envoy::service::discovery::v3::AggregatedDiscoveryService::NewStub(channel);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::minutes(5));
  auto stream = stub->StreamAggregatedResources(&ctx);
  envoy::service::discovery::v3::DiscoveryRequest request;
  request.mutable_node()->set_id("bench");
  (*request.mutable_node()->mutable_metadata()->mutable_fields())["role"].set_string_value(
      "gloo-system~gateway-proxy");
  request.set_type_url("type.googleapis.com/envoy.config.cluster.v3.Cluster");
  envoy::service::discovery::v3::DiscoveryResponse response;
  const bool answered = stream->Write(request) && stream->Read(&response);
  const double serving = seconds_since(start);
  ctx.TryCancel();
  (void)stream->Finish();
  (*cp)->stop();
  cp->reset();
  if (!answered) {
    return make_error(ec::protocol_error, "restart: the server never answered the ADS request");
  }
  uint64_t after = 0;
  {
    auto log = store::event_log::open(store::event_log_options{data.string(), true, true});
    if (!log) {
      return log.error();
    }
    after = (*log)->last_seq();
  }
  return nlohmann::json{{"restart_to_serving_ms", serving * 1000},
                        {"restart_start_returned_ms", started * 1000},
                        {"restart_store_events", before},
                        {"restart_first_response_clusters", response.resources_size()},
                        {"restart_appended_events", after - before}};
}

}  // namespace

caf::expected<nlohmann::json> run_log_bench(const log_bench_options& o) {
  scratch_dir root{o.work_dir};
  if (!root.ok()) {
    return make_error(ec::invalid_argument, "cannot create a directory under '" + o.work_dir + "'");
  }
  nlohmann::json out;
  out["command"] = "sluice bench log --json";

  std::vector<sluice::v1::Event> pool;
  for (size_t i = 0; i < 200'000; ++i) {
    pool.push_back(upstream_event(i % o.upstreams, static_cast<uint32_t>(1000 + i / o.upstreams)));
  }
  nlohmann::json ingest = nlohmann::json::array();
  int run = 0;
  for (size_t batch : o.batch_sizes) {
    auto ours = journal_ingest(root.path() / fmt::format("ingest-{}", ++run), pool, batch,
                               o.seconds_per_point);
    if (!ours) {
      return ours.error();
    }
    auto floor = rocksdb_floor(root.path() / fmt::format("floor-{}", run), pool, batch,
                               o.seconds_per_point);
    if (!floor) {
      return floor.error();
    }
    ingest.push_back({{"batch", batch},
                      {"ingest_events_per_s", *ours},
                      {"floor_events_per_s", *floor},
                      {"ingest_over_floor", *ours / *floor}});
  }
  out["ingest"] = std::move(ingest);

  auto grouped = group_commit(root.path() / "group", pool, 20'000);
  if (!grouped) {
    return grouped.error();
  }
  out["group_commit"] = *grouped;

  const auto data = root.path() / "replay-data";
  const auto config = root.path() / "replay-config";
  auto build_start = clock_type::now();
  if (auto built = build_store(data, config, o); !built) {
    return built.error();
  }
  out["store_build_s"] = seconds_since(build_start);
  out["checkpoint_every"] = o.checkpoint_every;
  auto replay = replay_figures(data);
  if (!replay) {
    return replay.error();
  }
  out.update(*replay);
  auto restart = restart_to_serving(data, config);
  if (!restart) {
    return restart.error();
  }
  out.update(*restart);
  std::error_code ec;
  out["store_bytes"] = [&] {
    uintmax_t total = 0;
    for (const auto& e : fs::recursive_directory_iterator(data, ec)) {
      if (e.is_regular_file(ec)) {
        total += e.file_size(ec);
      }
    }
    return total;
  }();
  return out;
}

}  // namespace sluice::bench
