#include "actors/control_plane.hpp"

#include <unistd.h>

#include <map>
#include <mutex>
#include <random>

#include <nlohmann/json.hpp>

#include "actors/journal_actor.hpp"
#include "actors/kind_actor.hpp"
#include "actors/log_replayer.hpp"
#include "actors/world_actor.hpp"
#include "actors/xds_actor.hpp"
#include "adapters/admin_server.hpp"
#include "adapters/directory_source.hpp"
#include "adapters/kubernetes_client.hpp"
#include "adapters/kubernetes_discovery_writer.hpp"
#include "adapters/kubernetes_leader.hpp"
#include "adapters/kubernetes_source.hpp"
#include "adapters/kubernetes_status_reporter.hpp"
#include "adapters/kubernetes_status_writer.hpp"
#include "adapters/kubernetes_usage_reporter.hpp"
#include "adapters/metrics_server.hpp"
#include "adapters/validation_webhook.hpp"
#include "adapters/wasm_cache_server.hpp"
#include "model/error.hpp"
#include "model/logging.hpp"
#include "store/event_log.hpp"
#include "xds/nack_attribution.hpp"
#include "xds/proxy_translator.hpp"
#include "xds/validation_engine.hpp"
#include "xds/validation_service.hpp"

namespace sluice::actors {

caf::expected<serve_role> parse_serve_role(const std::string& text) {
  static const std::map<std::string, serve_role> roles{{"all", serve_role::all},
                                                       {"gloo", serve_role::gloo},
                                                       {"gateway", serve_role::gateway},
                                                       {"discovery", serve_role::discovery}};
  auto it = roles.find(text);
  if (it == roles.end()) {
    return make_error(ec::invalid_argument,
                      "--role: \"" + text + "\" is not a role (all, gloo, gateway, discovery)");
  }
  return it->second;
}

std::string_view name_of(serve_role role) {
  switch (role) {
    case serve_role::all:
      return "all";
    case serve_role::gloo:
      return "gloo";
    case serve_role::gateway:
      return "gateway";
    case serve_role::discovery:
      return "discovery";
  }
  return "all";
}

struct outcome_hub;

struct control_plane::parts {
  std::shared_ptr<store::event_log> log;
  std::shared_ptr<xds::ads_server> server;
  std::unique_ptr<adapters::directory_source> source;
  std::unique_ptr<adapters::kubernetes_source> kube_source;
  std::unique_ptr<adapters::kubernetes_leader> leader;
  std::shared_ptr<adapters::kubernetes_status_writer> status_writer;
  std::shared_ptr<adapters::kubernetes_status_reporter> status_reporter;
  std::shared_ptr<adapters::kubernetes_usage_reporter> usage_reporter;
  std::shared_ptr<adapters::kubernetes_discovery_writer> discovery_writer;
  std::shared_ptr<xds::validation_engine> validation;
  std::unique_ptr<xds::validation_service> validation_service;
  std::unique_ptr<adapters::validation_webhook> webhook;
  std::unique_ptr<adapters::wasm_cache_server> wasm_cache;
  std::unique_ptr<adapters::metrics_server> metrics;
  std::unique_ptr<adapters::admin_server> admin;
  std::shared_ptr<served_snapshots> served = std::make_shared<served_snapshots>();
  int port = 0;
  int metrics_port = 0;
  int admin_port = 0;
  int validation_port = 0;
  int webhook_port = 0;
  int wasm_cache_port = 0;
  xds_actor xds;
  world_actor world;
  journal_actor journal;
  std::map<model::resource_kind, kind_actor> kinds;
  bool stopped = false;

  /// The newest outcome; shared with the world actor's hook, which may outlive these parts.
  std::shared_ptr<outcome_hub> hub;

  translation_outcome_ptr latest() const;
  std::shared_ptr<const model::world> latest_world() const {
    auto o = latest();
    return o ? o->world : nullptr;
  }
};

/// Where the world actor's hook leaves each outcome, and who else gets it.
struct outcome_hub {
  std::mutex mutex;
  translation_outcome_ptr outcome;
  std::shared_ptr<adapters::kubernetes_status_reporter> status_reporter;
  std::shared_ptr<adapters::kubernetes_usage_reporter> usage_reporter;
};

translation_outcome_ptr control_plane::parts::latest() const {
  std::lock_guard<std::mutex> lock(hub->mutex);
  return hub->outcome;
}

namespace {

/// The namespaces Settings asks to watch (`watchNamespaces`), read before the source starts:
/// the source cannot read Settings through itself before it knows what to watch. The write
/// namespace is always added by the source, which then follows changes of the Settings.
std::vector<std::string> settings_watch_namespaces(adapters::kubernetes_client& client,
                                                   const kubernetes_plane_options& kube) {
  auto target = "/apis/gloo.solo.io/v1/namespaces/" + kube.write_namespace + "/settings/"
                + kube.settings_name;
  auto got = client.request("GET", target);
  if (!got || got->status != 200) {
    log::adapters()->info("no settings read before watching, watching all namespaces "
                          "namespace={} name={} status={}",
                          kube.write_namespace, kube.settings_name,
                          got ? std::to_string(got->status) : describe(got.error()));
    return {};
  }
  auto j = nlohmann::json::parse(got->body, nullptr, false);
  std::vector<std::string> out;
  if (j.is_object() && j.contains("spec") && j["spec"].is_object()
      && j["spec"].contains("watchNamespaces") && j["spec"]["watchNamespaces"].is_array()) {
    for (const auto& ns : j["spec"]["watchNamespaces"]) {
      if (ns.is_string() && !ns.get<std::string>().empty()) {
        out.push_back(ns.get<std::string>());
      }
    }
  }
  return out;
}

std::string default_identity() {
  char host[256] = {0};
  if (gethostname(host, sizeof(host) - 1) != 0) {
    host[0] = '\0';
  }
  std::random_device rd;
  return std::string(host[0] ? host : "sluice") + "-" + std::to_string(rd() % 1'000'000);
}

adapters::status_scope scope_of(serve_role role) {
  switch (role) {
    case serve_role::gloo:
      return adapters::status_scope::gloo;
    case serve_role::gateway:
      return adapters::status_scope::gateway;
    default:
      return adapters::status_scope::all;
  }
}

/// The sink of the Kubernetes source: one message per kind actor, the batch's cursors going to
/// the kind whose collection they belong to, with that kind's events.
std::function<void(adapters::kubernetes_batch)> kubernetes_sink(
    std::map<model::resource_kind, kind_actor> kinds) {
  return [kinds](adapters::kubernetes_batch batch) {
    std::map<model::resource_kind, model::source_batch> split;
    for (auto& ev : batch.events) {
      if (ev.op == model::source_event::op_t::synced) {
        for (const auto& [kind, _] : kinds) {
          split[kind].push_back(ev);
        }
      } else if (ev.kind) {
        split[*ev.kind].push_back(std::move(ev));
      }
    }
    std::optional<model::resource_kind> cursor_kind;
    if (!batch.cursors.empty() && batch.cursor_kind && kinds.count(*batch.cursor_kind) > 0) {
      cursor_kind = batch.cursor_kind;
      split[*cursor_kind];  // a bookmark moves the cursor without any event
    }
    auto send = [&](model::resource_kind kind, model::source_batch& part) {
      auto events = source_batch_ptr{std::make_shared<const model::source_batch>(std::move(part))};
      if (cursor_kind && kind == *cursor_kind) {
        caf::anon_send(kinds.at(kind), atom::ingest_v, events,
                       cursor_map_ptr{std::make_shared<const cursor_map>(batch.cursors)});
      } else {
        caf::anon_send(kinds.at(kind), atom::ingest_v, events);
      }
    };
    // Services first: a new Service's in-memory `kube-svc:` upstreams come in the same batch,
    // and the log should hold the Service before the Upstreams that name it (the kind actors
    // append independently, so this makes it likely, not certain; the world actor does not
    // judge those upstreams either).
    if (auto svc = split.find(model::resource_kind::service); svc != split.end()) {
      send(svc->first, svc->second);
      split.erase(svc);
    }
    for (auto& [kind, part] : split) {
      send(kind, part);
    }
  };
}

}  // namespace

control_plane::control_plane(std::unique_ptr<parts> p) : parts_(std::move(p)) {}

control_plane::~control_plane() { stop(); }

int control_plane::xds_port() const { return parts_->port; }

int control_plane::metrics_port() const { return parts_->metrics_port; }

int control_plane::admin_port() const { return parts_->admin_port; }

int control_plane::validation_port() const { return parts_->validation_port; }

int control_plane::webhook_port() const { return parts_->webhook_port; }

int control_plane::wasm_cache_port() const { return parts_->wasm_cache_port; }

translation_outcome_ptr control_plane::latest_outcome() const { return parts_->latest(); }

bool control_plane::is_leader() const { return parts_->leader && parts_->leader->is_leader(); }

caf::expected<std::unique_ptr<control_plane>> control_plane::start(
    caf::actor_system& sys, const control_plane_options& options) {
  auto p = std::make_unique<parts>();
  p->hub = std::make_shared<outcome_hub>();
  const bool kube = options.kube.client != nullptr;

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
  if (auto ok = model::apply_state_rows(*initial, *state); !ok) {
    return ok.error();
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
  // An Envoy without a role gets Gloo's fallback (a listener on 8080 answering 500 that says
  // the bootstrap lacks `role`), not silence.
  p->server->publish(xds::misconfigured_node_snapshot());

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

  // Kubernetes write-back: the Lease decides who writes; the writer asks right before each PUT.
  const bool writes_statuses = kube && options.role != serve_role::discovery;
  if (kube) {
    adapters::kubernetes_leader_options lo;
    lo.client = options.kube.client;
    lo.ns = options.kube.write_namespace;
    lo.name = options.kube.lease_name.empty()
                  ? "sluice-" + std::string(name_of(options.role))
                  : options.kube.lease_name;
    lo.identity = options.kube.identity.empty() ? default_identity() : options.kube.identity;
    lo.lease_duration = options.kube.lease_duration;
    lo.renew_deadline = options.kube.renew_deadline;
    lo.retry_period = options.kube.retry_period;
    parts* raw = p.get();
    lo.on_change = [raw](bool leader) {
      log::adapters()->info("leadership changed leader={}", leader);
      if (leader) {
        // Another leader may have written meanwhile: re-check everything against the server.
        if (raw->status_writer) {
          raw->status_writer->reset();
          raw->status_writer->nudge();
        }
        if (raw->usage_reporter) {
          raw->usage_reporter->nudge();
        }
        if (raw->discovery_writer) {
          raw->discovery_writer->nudge();
        }
      }
    };
    p->leader = std::make_unique<adapters::kubernetes_leader>(std::move(lo));
    auto* leader = p->leader.get();
    if (writes_statuses) {
      adapters::kubernetes_status_writer_options wo;
      wo.client = options.kube.client;
      wo.controller_namespace = options.kube.write_namespace;
      wo.qps = options.kube.status_qps;
      wo.burst = options.kube.status_burst;
      wo.may_write = [leader] { return leader->is_leader(); };
      p->status_writer = std::make_shared<adapters::kubernetes_status_writer>(std::move(wo));
      p->status_reporter = std::make_shared<adapters::kubernetes_status_reporter>(
          p->status_writer, scope_of(options.role));
    }
    if (options.role == serve_role::all || options.role == serve_role::gloo) {
      adapters::kubernetes_usage_reporter_options uo;
      uo.client = options.kube.client;
      uo.ns = options.kube.write_namespace;
      uo.identity = leader->identity();
      uo.may_write = [leader] { return leader->is_leader(); };
      auto server = p->server;
      uo.stream_count = [server] { return server->stream_count(); };
      uo.interval = options.kube.usage_interval;
      p->usage_reporter = std::make_shared<adapters::kubernetes_usage_reporter>(std::move(uo));
    }
    if (options.kube.discovery
        && (options.role == serve_role::all || options.role == serve_role::discovery)) {
      // Gloo's discovery pod writes the discovered Upstreams; here the holder of this role's
      // Lease does, and every replica reads them back as Upstream CRDs.
      adapters::kubernetes_discovery_writer_options dw;
      dw.client = options.kube.client;
      dw.write_namespace = options.kube.write_namespace;
      dw.qps = options.kube.discovery_qps;
      dw.burst = options.kube.discovery_burst;
      dw.may_write = [leader] { return leader->is_leader(); };
      p->discovery_writer = std::make_shared<adapters::kubernetes_discovery_writer>(std::move(dw));
    }
  }

  // Who sees translation outcomes: the caller's hook, the validation engine and wasm cache
  // (latest world), the status and usage reporters.
  const bool wants_outcomes = options.hooks.on_translated || kube
                              || !options.validation_listen.empty()
                              || !options.webhook_listen.empty()
                              || !options.wasm_cache_listen.empty();
  world_hooks hooks = options.hooks;
  p->hub->status_reporter = p->status_reporter;
  p->hub->usage_reporter = p->usage_reporter;
  if (wants_outcomes) {
    auto hub = p->hub;
    auto user = options.hooks.on_translated;
    hooks.on_translated = [hub, user](translation_outcome_ptr o) {
      {
        std::lock_guard<std::mutex> lock(hub->mutex);
        hub->outcome = o;
      }
      if (hub->status_reporter) {
        // Aliasing pointers: the outcome stays alive, nothing is copied on the actor's thread.
        hub->status_reporter->offer(
            {o->world, std::shared_ptr<const model::translation_report>(o, &o->report),
             std::shared_ptr<const std::vector<model::translated_proxy>>(o, &o->proxies)});
      }
      if (hub->usage_reporter) {
        hub->usage_reporter->offer(
            std::shared_ptr<const std::vector<model::translated_proxy>>(o, &o->proxies));
      }
      if (user) {
        user(std::move(o));
      }
    };
  }

  // Validation answers against the live world (the newest outcome's).
  if (!options.validation_listen.empty() || !options.webhook_listen.empty()) {
    parts* raw = p.get();
    xds::validation_engine_options vo;
    if (kube) {
      vo.settings_namespace = options.kube.write_namespace;
      vo.settings_name = options.kube.settings_name;
    }
    p->validation = std::make_shared<xds::validation_engine>(
        [raw] { return raw->latest_world(); }, vo);
  }
  auto fail = [&p](caf::error err) {
    p->server->stop();
    return err;
  };
  if (!options.validation_listen.empty()) {
    p->validation_service = std::make_unique<xds::validation_service>(
        p->validation, xds::validation_service_options{options.validation_listen});
    auto vport = p->validation_service->start();
    if (!vport) {
      return fail(vport.error());
    }
    p->validation_port = *vport;
    log::cli()->info("validation listening address={} port={}", options.validation_listen,
                     *vport);
  }
  if (!options.webhook_listen.empty()) {
    adapters::validation_webhook_options wo;
    int wport = 0;
    if (!adapters::split_host_port(options.webhook_listen, wo.address, wport)) {
      return fail(make_error(ec::invalid_argument,
                             "webhook address '" + options.webhook_listen + "' is not host:port"));
    }
    wo.port = wport;
    wo.cert_file = options.webhook_cert_file;
    wo.key_file = options.webhook_key_file;
    auto engine = p->validation;
    p->webhook = std::make_unique<adapters::validation_webhook>(
        wo, [engine](const adapters::admission_change& c) {
          xds::proposed_change change;
          change.op = static_cast<xds::proposed_change::op_t>(c.op);
          change.object = c.object;
          change.kind = c.kind;
          change.ns = c.ns;
          change.name = c.name;
          change.dry_run = c.dry_run;
          auto v = engine->validate(change);
          adapters::admission_verdict out;
          out.allowed = v.allowed;
          out.message = v.message;
          for (const auto& w : v.warnings) {
            out.warnings.push_back(w.to_string());
          }
          return out;
        });
    auto bound = p->webhook->start();
    if (!bound) {
      return fail(bound.error());
    }
    p->webhook_port = *bound;
    log::cli()->info("webhook listening address={} port={}", options.webhook_listen, *bound);
  }
  if (!options.wasm_cache_listen.empty()) {
    parts* raw = p.get();
    p->wasm_cache =
        std::make_unique<adapters::wasm_cache_server>([raw] { return raw->latest_world(); });
    auto cport = p->wasm_cache->start(options.wasm_cache_listen);
    if (!cport) {
      return fail(cport.error());
    }
    p->wasm_cache_port = *cport;
    log::cli()->info("wasm-cache listening address={} port={}", options.wasm_cache_listen,
                     *cport);
  }

  // 3. The actors, downstream first so every handle exists before anything flows.
  p->xds = sys.spawn(xds_actor_impl, p->server, p->served);
  // Detached: a cold translation of a large world takes seconds and must not hold one of the
  // scheduler's few threads (the kind actors and the xDS actor run there).
  p->world = sys.spawn<caf::detached>(
      world_actor_impl, std::shared_ptr<const model::world>(initial), p->xds, hooks);
  p->journal = sys.spawn<caf::detached>(configured_journal_impl, p->log, p->world,
                                         options.journal, std::shared_ptr<journal_counters>{});
  caf::anon_send(p->xds, atom::record_v, p->journal);
  caf::anon_send(p->world, atom::record_v, p->journal);
  auto xds_handle = p->xds;
  // Client NACKs reach the written statuses: the book keeps each client's current NACKs, the
  // reporter attributes them over the served snapshots (as `sluice get` does over the log's).
  auto nacks = std::make_shared<xds::nack_book>();
  auto status_reporter = p->status_reporter;
  if (status_reporter) {
    auto served = p->served;
    status_reporter->set_nack_attributor([nacks, served](const adapters::status_inputs& in) {
      return xds::attribute_nacks(*in.world, *in.proxies, served->all(), nacks->current());
    });
  }
  p->server->on_client_response([xds_handle, nacks,
                                 status_reporter](const xds::client_response& r) {
    caf::anon_send(xds_handle, atom::response_v,
                   client_response_ptr{std::make_shared<const xds::client_response>(r)});
    if (status_reporter && nacks->record(r)) {
      status_reporter->nacks_changed();
    }
  });
  p->server->on_client_gone([nacks, status_reporter](const xds::client_gone& g) {
    if (nacks->forget(g.key, g.node_id) && status_reporter) {
      status_reporter->nacks_changed();
    }
  });

  // The Kubernetes source reports two sources ("kubernetes" and "kubernetes-discovery", which
  // syncs with nothing when discovery is off); a kind is synced when both are.
  const size_t expected_sources = kube ? 2 : 1;
  auto shared_state =
      std::make_shared<const std::vector<sluice::v1::StateRecord>>(std::move(*state));
  auto shared_cursors = std::make_shared<const cursor_map>(*cursors);
  for (const auto& k : model::all_kinds()) {
    p->kinds.emplace(k.kind, sys.spawn(kind_actor_impl, k.kind, p->journal, expected_sources,
                                       shared_state, cursor_map_ptr{shared_cursors}));
  }

  // 4. The source. Its sink splits each batch by kind; `synced` goes to every kind actor.
  if (kube) {
    adapters::kubernetes_source_options so;
    so.client = options.kube.client;
    so.write_namespace = options.kube.write_namespace;
    so.watch_namespaces = options.kube.watch_namespaces;
    if (so.watch_namespaces.empty()) {
      so.watch_namespaces = settings_watch_namespaces(*options.kube.client, options.kube);
    }
    so.kinds.clear();
    if (options.role == serve_role::discovery) {
      // What the discovery role may read (deploy/ RBAC): Settings and Upstreams, besides the
      // Services and endpoints discovery reads.
      so.kinds = {model::resource_kind::settings, model::resource_kind::upstream};
    } else {
      for (const auto& k : model::all_kinds()) {
        if (adapters::collection_for(k.kind)) {
          so.kinds.push_back(k.kind);
        }
      }
    }
    so.follow_settings = options.kube.watch_namespaces.empty();
    so.settings_name = options.kube.settings_name;
    so.discovery = options.kube.discovery;
    so.discovery_options.write_namespace = options.kube.write_namespace;
    // No role keeps discovered Upstreams in memory: the discovery leader writes them as CRDs and
    // everyone reads those, so an Upstream has one definition (Gloo: UDS writes, gloo reads).
    so.discovery_options.upstreams = false;
    so.discovery_writer = p->discovery_writer;
    // Resume: the watch cursors, and which objects the log holds (so objects deleted while
    // sluice was down still become deletes when a resumed watch later has to relist).
    auto watch_cursors = p->log->cursors("kubernetes/");
    if (!watch_cursors) {
      return fail(watch_cursors.error());
    }
    so.resume = std::move(*watch_cursors);
    const size_t resume_cursors = so.resume.size();
    for (const auto& [name, value] : *cursors) {
      // "input/<Kind>/kubernetes/<origin>"
      static const std::string source_part = "/kubernetes/";
      auto at = name.find(source_part, std::string_view("input/").size());
      auto kind_end = name.find('/', std::string_view("input/").size());
      if (!value.empty() && at != std::string::npos && at == kind_end) {
        so.known_origins.insert(name.substr(at + source_part.size()));
      }
      static const std::string discovery_part = "input/Upstream/kubernetes-discovery/";
      if (!value.empty() && name.rfind(discovery_part, 0) == 0) {
        so.known_discovery_origins.insert(name.substr(discovery_part.size()));
      }
    }
    p->kube_source =
        std::make_unique<adapters::kubernetes_source>(std::move(so), kubernetes_sink(p->kinds));
    if (p->status_reporter) {
      p->status_writer->start();
      p->status_reporter->start();
    }
    if (p->usage_reporter) {
      p->usage_reporter->start();
    }
    if (p->discovery_writer) {
      p->discovery_writer->start();
    }
    p->leader->start();
    if (auto ok = p->kube_source->start(); !ok) {
      return fail(ok.error());
    }
    log::adapters()->info("watching kubernetes server={} role={} resume_cursors={}",
                          options.kube.client->server(), name_of(options.role), resume_cursors);
    return std::unique_ptr<control_plane>(new control_plane(std::move(p)));
  }

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
    return fail(ok.error());
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
  if (parts_->kube_source) {
    parts_->kube_source->stop();
  }
  // Writers stop before the Lease is released, so nothing is written after another replica may
  // have taken over.
  if (parts_->status_reporter) {
    parts_->status_reporter->stop();
  }
  if (parts_->status_writer) {
    parts_->status_writer->stop();
  }
  if (parts_->usage_reporter) {
    parts_->usage_reporter->stop();
  }
  if (parts_->discovery_writer) {
    parts_->discovery_writer->stop();
  }
  if (parts_->leader) {
    parts_->leader->stop();
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
  if (parts_->validation_service) {
    parts_->validation_service->stop();
  }
  if (parts_->webhook) {
    parts_->webhook->stop();
  }
  if (parts_->wasm_cache) {
    parts_->wasm_cache->stop();
  }
  for (auto& [_, k] : parts_->kinds) {
    caf::anon_send_exit(k, caf::exit_reason::user_shutdown);
  }
  caf::anon_send_exit(parts_->journal, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(parts_->world, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(parts_->xds, caf::exit_reason::user_shutdown);
}

}  // namespace sluice::actors
