#include "actors/control_plane.hpp"

#include <map>

#include "actors/journal_actor.hpp"
#include "actors/kind_actor.hpp"
#include "actors/log_replayer.hpp"
#include "actors/world_actor.hpp"
#include "actors/xds_actor.hpp"
#include "adapters/admin_server.hpp"
#include "adapters/directory_source.hpp"
#include "adapters/metrics_server.hpp"
#include "model/error.hpp"
#include "model/logging.hpp"
#include "store/event_log.hpp"

namespace sluice::actors {

struct control_plane::parts {
  std::shared_ptr<store::event_log> log;
  std::shared_ptr<xds::ads_server> server;
  std::unique_ptr<adapters::directory_source> source;
  std::unique_ptr<adapters::metrics_server> metrics;
  std::unique_ptr<adapters::admin_server> admin;
  std::shared_ptr<served_snapshots> served = std::make_shared<served_snapshots>();
  int port = 0;
  int metrics_port = 0;
  int admin_port = 0;
  xds_actor xds;
  world_actor world;
  journal_actor journal;
  std::map<model::resource_kind, kind_actor> kinds;
  bool stopped = false;
};

control_plane::control_plane(std::unique_ptr<parts> p) : parts_(std::move(p)) {}

control_plane::~control_plane() { stop(); }

int control_plane::xds_port() const { return parts_->port; }

int control_plane::metrics_port() const { return parts_->metrics_port; }

int control_plane::admin_port() const { return parts_->admin_port; }

caf::expected<std::unique_ptr<control_plane>> control_plane::start(
    caf::actor_system& sys, const control_plane_options& options) {
  auto p = std::make_unique<parts>();

  // 1. The log, and what it says the world was.
  auto log = store::event_log::open({options.data_dir});
  if (!log) {
    return log.error();
  }
  p->log = std::shared_ptr<store::event_log>(std::move(*log));
  auto state = p->log->load_state();
  if (!state) {
    return state.error();
  }
  auto cursors = p->log->cursors("input/");
  if (!cursors) {
    return cursors.error();
  }
  auto initial = std::make_shared<model::world>();
  for (const auto& row : *state) {
    sluice::v1::Event ev;
    ev.set_seq(row.seq());
    ev.set_kind(row.kind());
    ev.set_namespace_(row.namespace_());
    ev.set_name(row.name());
    ev.set_op(sluice::v1::EVENT_OP_UPSERT);
    ev.set_verdict(sluice::v1::VERDICT_ACCEPTED);
    ev.set_resource(row.resource());
    ev.set_content_hash(row.content_hash());
    ev.set_origin(row.origin());
    if (auto ok = apply_event(*initial, ev); !ok) {
      return ok.error();
    }
  }
  initial->set_watermark(p->log->last_seq());
  log::actors()->info("restored from log resources={} last_seq={}", initial->size(),
                      p->log->last_seq());

  // 2. The ADS server, gate closed until the world is ready.
  auto ads = options.ads;
  ads.listen = options.xds_listen;
  p->server = std::make_shared<xds::ads_server>(ads);
  auto port = p->server->start();
  if (!port) {
    return port.error();
  }
  p->port = *port;

  // Metrics are for operators; a port conflict there must not stop xDS serving.
  if (!options.metrics_listen.empty()) {
    p->metrics = std::make_unique<adapters::metrics_server>();
    auto mport = p->metrics->start(options.metrics_listen);
    if (mport) {
      p->metrics_port = *mport;
      log::cli()->info("metrics listening address={} port={}", options.metrics_listen, *mport);
    } else {
      log::cli()->error("metrics unavailable, serving without them: {}", describe(mport.error()));
      p->metrics.reset();
    }
  }

  // The admin port reads the log (read-only handlers) and what the xDS actor last published.
  if (!options.admin_listen.empty()) {
    auto served = p->served;
    p->admin = std::make_unique<adapters::admin_server>(make_admin_handlers(
        {p->log, [served] { return served->all(); }, {}}));
    auto aport = p->admin->start(options.admin_listen);
    if (aport) {
      p->admin_port = *aport;
      log::cli()->info("admin listening address={} port={}", options.admin_listen, *aport);
    } else {
      log::cli()->error("admin port unavailable, serving without it: {}",
                        describe(aport.error()));
      p->admin.reset();
    }
  }

  // 3. The actors, downstream first so every handle exists before anything flows.
  p->xds = sys.spawn(xds_actor_impl, p->server, p->served);
  p->world = sys.spawn(world_actor_impl, std::shared_ptr<const model::world>(initial), p->xds,
                       options.hooks);
  p->journal = sys.spawn<caf::detached>(configured_journal_impl, p->log, p->world,
                                         options.journal, std::shared_ptr<journal_counters>{});
  caf::anon_send(p->xds, atom::record_v, p->journal);
  auto xds_handle = p->xds;
  p->server->on_client_response([xds_handle](const xds::client_response& r) {
    caf::anon_send(xds_handle, atom::response_v,
                   client_response_ptr{std::make_shared<const xds::client_response>(r)});
  });

  auto shared_state =
      std::make_shared<const std::vector<sluice::v1::StateRecord>>(std::move(*state));
  auto shared_cursors = std::make_shared<const cursor_map>(std::move(*cursors));
  for (const auto& k : model::all_kinds()) {
    p->kinds.emplace(k.kind, sys.spawn(kind_actor_impl, k.kind, p->journal, size_t{1},
                                       shared_state, cursor_map_ptr{shared_cursors}));
  }

  // 4. The source. Its sink splits each batch by kind; `synced` goes to every kind actor.
  auto kinds = p->kinds;
  auto sink = [kinds](model::source_batch batch) {
    std::map<model::resource_kind, model::source_batch> split;
    for (auto& ev : batch) {
      if (ev.op == model::source_event::op_t::synced) {
        for (const auto& [kind, _] : kinds) {
          split[kind].push_back(ev);
        }
      } else if (ev.kind) {
        split[*ev.kind].push_back(std::move(ev));
      }
    }
    for (auto& [kind, part] : split) {
      caf::anon_send(kinds.at(kind), atom::ingest_v,
                     source_batch_ptr{std::make_shared<const model::source_batch>(
                         std::move(part))});
    }
  };
  p->source = std::make_unique<adapters::directory_source>(
      adapters::directory_source_options{options.config_dir}, sink);
  if (auto ok = p->source->start(); !ok) {
    p->server->stop();
    return ok.error();
  }
  log::adapters()->info("watching directory path={}", options.config_dir);
  return std::unique_ptr<control_plane>(new control_plane(std::move(p)));
}

void control_plane::stop() {
  if (!parts_ || parts_->stopped) {
    return;
  }
  parts_->stopped = true;
  if (parts_->source) {
    parts_->source->stop();
  }
  if (parts_->server) {
    parts_->server->stop();
  }
  if (parts_->metrics) {
    parts_->metrics->stop();
  }
  if (parts_->admin) {
    parts_->admin->stop();
  }
  for (auto& [_, k] : parts_->kinds) {
    caf::anon_send_exit(k, caf::exit_reason::user_shutdown);
  }
  caf::anon_send_exit(parts_->journal, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(parts_->world, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(parts_->xds, caf::exit_reason::user_shutdown);
}

}  // namespace sluice::actors
