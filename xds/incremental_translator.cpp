#include "xds/incremental_translator.hpp"

#include <google/protobuf/message.h>
#include <time.h>

#include <algorithm>

#include "model/event_world.hpp"
#include "model/error.hpp"
#include "model/gateway_attribution.hpp"
#include "model/logging.hpp"
#include "xds/incremental_state.hpp"
#include "xds/world_translation.hpp"

namespace sluice::xds {

// --- small helpers ----------------------------------------------------------------------------

uint64_t thread_cpu_ns() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000ULL + static_cast<uint64_t>(ts.tv_nsec);
}

stopwatch::stopwatch(uint64_t& bucket) : bucket_(bucket), start_(thread_cpu_ns()) {}

stopwatch::~stopwatch() { bucket_ += thread_cpu_ns() - start_; }

const google::protobuf::Message* message_of(const model::world& w, const resource_key& key) {
  const auto* r = w.find(key);
  return r == nullptr ? nullptr : r->message.get();
}

uint64_t hash_of(const google::protobuf::Message& m) {
  return bytes_hash(model::canonical_bytes(m));
}

uint64_t mix(uint64_t a, uint64_t b) {
  // splitmix-style combination; only used to detect changed inputs, never published.
  uint64_t x = a ^ (b + 0x9e3779b97f4a7c15ULL + (a << 6) + (a >> 2));
  x ^= x >> 31;
  x *= 0xbf58476d1ce4e5b9ULL;
  return x ^ (x >> 29);
}

uint64_t mix(uint64_t a, std::string_view s) { return mix(a, bytes_hash(s)); }

uint64_t route_fingerprint(const google::protobuf::Message& upstream) {
  // What route translation reads from an Upstream besides its existence (envoy_routes.cpp
  // destination_upstream: kube subset selectors, consul tags and data centers).
  const auto& u = static_cast<const gl::Upstream&>(upstream);
  uint64_t h = static_cast<uint64_t>(u.upstream_type_case());
  if (u.has_kube()) {
    h = mix(h, model::canonical_bytes(u.kube().subset_spec()));
  }
  if (u.has_consul()) {
    for (const auto* list : {&u.consul().subset_tags(), &u.consul().service_tags(),
                             &u.consul().data_centers()}) {
      h = mix(h, list->size());
      for (const auto& t : *list) {
        h = mix(h, t);
      }
    }
  }
  return h;
}

xds_resource_ptr resource_from_bytes(std::string name, std::string_view type_url,
                                     std::string bytes, uint64_t& hash_ns) {
  auto r = std::make_shared<xds_resource>();
  r->name = std::move(name);
  r->type_url = std::string(type_url);
  r->bytes = std::move(bytes);
  stopwatch sw(hash_ns);
  r->version = resource_version(r->bytes);
  return r;
}

void snapshot_content::put(std::string_view type, const xds_resource_ptr& r) {
  auto t = types.find(type);
  if (t == types.end()) {
    t = types.emplace(std::string(type), typed_resources{}).first;
  }
  // Look before writing: a write copies the chunk the published snapshot shares.
  if (auto i = t->second.items.find(r->name); i != t->second.items.end() && i->second &&
      i->second->version == r->version && i->second->bytes.size() == r->bytes.size()) {
    return;
  }
  t->second.items.insert_or_assign(r->name, r);
  auto c = changes.find(type);
  if (c == changes.end()) {
    c = changes.emplace(std::string(type), type_change{}).first;
  }
  c->second.upserted.push_back(r->name);
  changed = true;
}

void snapshot_content::remove(std::string_view type, const std::string& name) {
  auto t = types.find(type);
  if (t == types.end() || t->second.items.erase(name) == 0) {
    return;
  }
  if (t->second.items.empty()) {
    types.erase(t);
  }
  auto c = changes.find(type);
  if (c == changes.end()) {
    c = changes.emplace(std::string(type), type_change{}).first;
  }
  c->second.removed.push_back(name);
  changed = true;
}

// --- state ------------------------------------------------------------------------------------

incremental_translator::state::state(incremental_options o) : requested(std::move(o)) {
  gopt = requested.gateway;
  eopt = requested.envoy;
}

model::piece_id incremental_translator::state::id_of(piece_kind kind, const resource_key& key) {
  auto [i, inserted] = ids.emplace(std::make_pair(kind, key), id_keys.size());
  if (inserted) {
    id_keys.emplace_back(kind, key);
  }
  return i->second;
}

void incremental_translator::state::mark(model::piece_id id) {
  if (id >= id_keys.size()) {
    return;
  }
  const auto& [kind, key] = id_keys[id];
  switch (kind) {
    case piece_kind::vs_vhost:
      dirty_vs.insert(key);
      break;
    case piece_kind::envoy_vhosts:
      dirty_envoy.insert(key);
      break;
    case piece_kind::cluster:
      dirty_clusters.insert(key);
      break;
    case piece_kind::group:
      dirty_groups.insert(key);
      break;
    case piece_kind::vs_tls:
      dirty_placement.insert(key);
      break;
    case piece_kind::listeners:
      listeners_dirty = true;
      break;
    case piece_kind::tcp:
      tcp_dirty = true;
      break;
  }
}

void incremental_translator::state::note_change(
    const resource_key& key, std::shared_ptr<const google::protobuf::Message> before) {
  // The first change of a batch keeps the form before the batch: dependency questions are about
  // what the pieces read then.
  pending.emplace(key, pending_change{std::move(before)});
}

void incremental_translator::state::start_over() {
  ++stats.full_rebuilds;
  gopt = model::effective_gateway_options(world, requested.gateway);
  eopt = effective_envoy_options(world, requested.envoy);
  settings.reset();
  if (requested.gateway.apply_settings) {
    settings = model::read_settings(world, requested.gateway.settings_namespace,
                                    requested.gateway.settings_name);
  }
  vss.clear();
  envoy_clusters.clear();
  proxyless_clusters.clear();
  envoy_cluster_set = {};
  proxyless_cluster_set = {};
  groups.clear();
  gateways.clear();
  port_errors.clear();
  gateways_by_arrival.clear();
  for (auto& [name, role] : roles) {
    // Roles keep their published snapshot (to report what changed); their pieces go.
    role.listeners.clear();
    role.secret_refs.clear();
    role.content.types.clear();
    role.content.changes.clear();
    role.content.changed = true;
  }
  domain_candidates.clear();
  domain_owner.clear();
  vs_arrival.clear();
  proxyless.types.clear();
  proxyless.changes.clear();
  proxyless.changed = true;
  proxyless_secret_refs.clear();
  api_listeners.clear();
  deps = model::dependency_index();
  ids.clear();
  id_keys.clear();
  endpoints_of.clear();
  for (const auto& [nn, stored] : world.of(resource_kind::endpoint)) {
    for (const auto& u : model::references_of(resource_kind::endpoint, stored.key.ns,
                                              *stored.message)) {
      endpoints_of[u].insert(stored.key);
    }
  }
  dirty_vs.clear();
  for (const auto& [nn, stored] : world.of(resource_kind::virtual_service)) {
    dirty_vs.insert(stored.key);
  }
  changed_vs = dirty_vs;
  dirty_envoy.clear();
  dirty_placement.clear();
  dirty_clusters.clear();
  for (const auto& [nn, stored] : world.of(resource_kind::upstream)) {
    dirty_clusters.insert(stored.key);
  }
  services_known = !world.of(resource_kind::service).empty();
  dirty_groups.clear();
  for (const auto& [nn, stored] : world.of(resource_kind::upstream_group)) {
    dirty_groups.insert(stored.key);
  }
  dirty_domains.clear();
  gateways_dirty = true;
  listeners_dirty = true;
  tcp_dirty = true;
  proxies_dirty = true;
  rebuild = false;
}

void incremental_translator::state::propagate() {
  std::vector<model::piece_id> affected;
  for (const auto& [key, change] : pending) {
    const auto* after = message_of(world, key);
    const auto* before = change.before.get();
    if (key.kind == resource_kind::endpoint) {
      if (before != nullptr) {
        for (const auto& u : model::references_of(key.kind, key.ns, *before)) {
          if (auto i = endpoints_of.find(u); i != endpoints_of.end()) {
            i->second.erase(key);
            if (i->second.empty()) {
              endpoints_of.erase(i);
            }
          }
        }
      }
      if (after != nullptr) {
        for (const auto& u : model::references_of(key.kind, key.ns, *after)) {
          endpoints_of[u].insert(key);
        }
      }
    }
    affected.clear();
    deps.affected(key, before, after, affected);
    // Routes read an Upstream only for what route_fingerprint covers (plus whether it has a
    // cluster, which translate_clusters propagates): other Upstream edits (timeouts, TLS, the
    // EDS name) leave the virtual hosts that route to it alone.
    const bool routes_unaffected = key.kind == resource_kind::upstream && before != nullptr &&
                                   after != nullptr &&
                                   route_fingerprint(*before) == route_fingerprint(*after);
    for (auto id : affected) {
      if (routes_unaffected && id < id_keys.size() &&
          id_keys[id].first == piece_kind::envoy_vhosts) {
        continue;
      }
      mark(id);
    }
    switch (key.kind) {
      case resource_kind::virtual_service:
        dirty_vs.insert(key);
        changed_vs.insert(key);
        break;
      case resource_kind::gateway:
        gateways_dirty = true;
        break;
      case resource_kind::upstream:
        dirty_clusters.insert(key);
        break;
      case resource_kind::upstream_group:
        dirty_groups.insert(key);
        break;
      default:
        break;
    }
  }
  if (const bool known = !world.of(resource_kind::service).empty(); known != services_known) {
    services_known = known;
    for (const auto& [nn, stored] : world.of(resource_kind::upstream)) {
      if (static_cast<const gl::Upstream&>(*stored.message).has_kube()) {
        dirty_clusters.insert(stored.key);
      }
    }
  }
}

void incremental_translator::state::translate_clusters() {
  if (dirty_clusters.empty()) {
    return;
  }
  // Upstreams whose cluster came or went: routes resolve against clusters, so their readers
  // must look again even when the Upstream itself did not change (a Secret did).
  std::vector<resource_key> presence_changed;
  for (const auto& key : dirty_clusters) {
    const auto* stored = world.find(key);
    const auto id = id_of(piece_kind::cluster, key);
    const auto kube_alias
        = stored == nullptr
              ? std::nullopt
              : kube_service_upstream_of(static_cast<const gl::Upstream&>(*stored->message), key);
    // The Upstream's endpoints, in world order, as translate_upstreams finds them; the same for
    // both client flavors.
    std::vector<upstream_endpoint> upstream_endpoints;
    if (stored != nullptr) {
      model::world endpoints;
      for (const auto& named : {std::optional<resource_key>(key), kube_alias}) {
        auto e = named ? endpoints_of.find(*named) : endpoints_of.end();
        if (e == endpoints_of.end()) {
          continue;
        }
        for (const auto& ek : e->second) {
          if (const auto* es = world.find(ek)) {
            endpoints.put(*es);
          }
        }
      }
      upstream_endpoints = xds::endpoints_of(index_endpoints(endpoints), *stored);
    }
    for (bool envoy : {true, false}) {
      auto& entries = envoy ? envoy_clusters : proxyless_clusters;
      auto& set = envoy ? envoy_cluster_set : proxyless_cluster_set;
      std::optional<cluster_entry> before;
      if (auto i = entries.find(key); i != entries.end()) {
        before = std::move(i->second);
        entries.erase(i);
        if (before->cluster_name) {
          set.clusters.erase(*before->cluster_name);
        }
      }
      std::optional<cluster_entry> after;
      if (stored != nullptr) {
        cluster_piece piece;
        {
          stopwatch sw(stats.translate_ns);
          piece = translate_upstream(*stored, upstream_endpoints, world,
                                     envoy ? cluster_flavor::envoy : cluster_flavor::proxyless,
                                     eopt);
        }
        cluster_entry entry;
        entry.report = std::move(piece.report);
        if (piece.cluster) {
          stopwatch sw(stats.assemble_ns);
          entry.cluster_name = piece.cluster->name();
          entry.cluster = make_resource(piece.cluster->name(), cluster_type, *piece.cluster);
          if (piece.load_assignment) {
            entry.load_assignment = make_resource(piece.load_assignment->cluster_name(),
                                                  endpoint_type, *piece.load_assignment);
          }
          for (auto& [name, secret] : piece.secrets) {
            entry.secret_resources[name] = make_resource(name, secret_type, secret);
          }
          entry.secrets = std::move(piece.secrets);
          set.clusters[*entry.cluster_name] = std::move(*piece.cluster);
        }
        after = std::move(entry);
      }
      const bool had = before && before->cluster;
      const bool has = after && after->cluster;
      if (had != has || (had && has && before->cluster->name != after->cluster->name)) {
        presence_changed.push_back(key);
      }
      if (envoy) {
        for (auto& [name, role] : roles) {
          put_cluster_items(role.content, role.secret_refs, before ? &*before : nullptr,
                            after ? &*after : nullptr);
        }
      } else {
        put_cluster_items(proxyless, proxyless_secret_refs, before ? &*before : nullptr,
                          after ? &*after : nullptr);
      }
      if (after) {
        entries.emplace(key, std::move(*after));
      }
    }
    ++stats.upstreams;
    if (stored == nullptr) {
      deps.forget(id);
      continue;
    }
    model::piece_reads reads;
    reads.keys.push_back(key);
    reads.references.push_back({resource_kind::endpoint, key});
    const auto& u = static_cast<const gl::Upstream&>(*stored->message);
    if (auto service = kube_service_of(u, key)) {
      reads.keys.push_back(std::move(*service));  // present or not
    }
    if (kube_alias) {
      reads.references.push_back({resource_kind::endpoint, *kube_alias});
    }
    if (u.has_ssl_config()) {
      // translate_upstream reads the Secrets its sslConfig names.
      reads.kinds.push_back(resource_kind::secret);
    }
    deps.record(id, std::move(reads));
  }
  dirty_clusters.clear();
  std::vector<model::piece_id> affected;
  for (const auto& key : presence_changed) {
    affected.clear();
    const auto* m = message_of(world, key);
    deps.affected(key, m, m, affected);
    for (auto id : affected) {
      if (id < id_keys.size() && id_keys[id].first != piece_kind::cluster) {
        mark(id);
      }
    }
  }
}

void incremental_translator::state::translate_groups() {
  for (const auto& key : dirty_groups) {
    const auto* stored = world.find(key);
    const auto id = id_of(piece_kind::group, key);
    if (stored == nullptr) {
      groups.erase(key);
      deps.forget(id);
      continue;
    }
    // The group checked against the Upstreams it names: upstream_group_index on just those.
    model::world mini;
    mini.put(*stored);
    model::piece_reads reads;
    reads.keys.push_back(key);
    for (const auto& wd : static_cast<const gl::UpstreamGroup&>(*stored->message).destinations()) {
      if (!wd.destination().has_upstream()) {
        continue;
      }
      const auto& ref = wd.destination().upstream();
      resource_key u{resource_kind::upstream, ref.namespace_().empty() ? key.ns : ref.namespace_(),
                     ref.name()};
      if (const auto* us = world.find(u)) {
        mini.put(*us);
      }
      reads.keys.push_back(std::move(u));
    }
    model::translation_report report;
    {
      stopwatch sw(stats.translate_ns);
      const upstream_group_index index(mini, report);
    }
    groups[key] = std::move(report);
    deps.record(id, std::move(reads));
  }
  dirty_groups.clear();
}

namespace {

// Every delegate action in `routes` (of a resource in namespace `owner_ns`) that selects
// RouteTables by labels, as a selector read.
template <class Routes>
void selector_reads(const Routes& routes, const std::string& owner_ns,
                    std::vector<model::selector_read>& out) {
  for (const auto& r : routes) {
    if (!r.has_delegate_action() || !r.delegate_action().has_selector()) {
      continue;
    }
    const auto& sel = r.delegate_action().selector();
    model::selector_read s;
    s.kind = resource_kind::route_table;
    s.namespaces = sel.namespaces();
    s.owner_namespace = owner_ns;
    s.labels = sel.labels();
    s.expressions = sel.expressions();
    out.push_back(std::move(s));
  }
}

}  // namespace

void incremental_translator::state::translate_virtual_services() {
  for (const auto& key : dirty_vs) {
    const auto* stored = world.find(key);
    const auto vid = id_of(piece_kind::vs_vhost, key);
    auto it = vss.find(key);
    if (it != vss.end()) {
      // Out of the proxyless indexes; back in below with the new form.
      vs_arrival.erase({it->second.seq, key});
      for (const auto& d : it->second.proxyless_domains) {
        domain_candidates[d].erase({it->second.seq, key});
        dirty_domains.insert(d);
      }
    }
    if (stored == nullptr) {
      if (it != vss.end()) {
        vss.erase(it);
      }
      changed_vs.insert(key);
      deps.forget(vid);
      deps.forget(id_of(piece_kind::envoy_vhosts, key));
      deps.forget(id_of(piece_kind::vs_tls, key));
      continue;
    }
    const auto& vs = static_cast<const gw::VirtualService&>(*stored->message);
    model::virtual_host_translation t;
    {
      stopwatch sw(stats.translate_ns);
      t = model::translate_virtual_service(world, key, vs);
    }
    ++stats.virtual_services;
    uint64_t vhost_hash = 0;
    if (t.virtual_host) {
      stopwatch sw(stats.hash_ns);
      vhost_hash = hash_of(*t.virtual_host) | 1;  // never 0, which means "none"
    }
    if (it == vss.end()) {
      it = vss.emplace(key, vs_entry{}).first;
    }
    auto& e = it->second;
    if (e.vhost_hash != vhost_hash || !e.message) {
      dirty_envoy.insert(key);
    }
    if (e.vhost_hash != vhost_hash || e.message != stored->message || e.seq != stored->seq) {
      changed_vs.insert(key);
    }
    model::piece_reads reads;
    reads.keys.push_back(key);
    reads.keys.insert(reads.keys.end(), t.route_tables.begin(), t.route_tables.end());
    reads.keys.insert(reads.keys.end(), t.option_resources.begin(), t.option_resources.end());
    selector_reads(vs.virtual_host().routes(), key.ns, reads.selectors);
    for (const auto& rt_key : t.route_tables) {
      if (const auto* rt = world.get<gw::RouteTable>(resource_kind::route_table, rt_key.ns,
                                                     rt_key.name)) {
        selector_reads(rt->routes(), rt_key.ns, reads.selectors);
      }
    }
    deps.record(vid, std::move(reads));

    e.t = std::move(t);
    e.vhost_hash = vhost_hash;
    e.seq = stored->seq;
    e.message = stored->message;
    e.proxyless_domains.clear();
    if (e.t.virtual_host) {
      for (const auto& d : e.t.virtual_host->domains()) {
        // A gRPC target is a concrete name; wildcard domains cannot be asked for.
        if (d.find('*') == std::string::npos) {
          e.proxyless_domains.push_back(d);
          domain_candidates[d].insert({e.seq, key});
          dirty_domains.insert(d);
        }
      }
    } else {
      e.legacy.reset();
    }
    vs_arrival.insert({e.seq, key});
  }
  dirty_vs.clear();
  // What the Envoy virtual hosts of each changed VirtualService read.
  for (const auto& key : dirty_envoy) {
    const auto id = id_of(piece_kind::envoy_vhosts, key);
    auto it = vss.find(key);
    if (it == vss.end() || !it->second.t.virtual_host) {
      deps.forget(id);
      continue;
    }
    deps.record(id, vhost_reads(*it->second.t.virtual_host));
  }
}

namespace {

// A snapshot for publishing: the content's types, with versions already sealed. Copying a
// type shares its resources' storage (xds::resource_map), so this costs the number of types.
snapshot_ptr materialize(const std::string& key, uint64_t watermark,
                         const snapshot_content& content) {
  auto snap = std::make_shared<xds::snapshot>();
  snap->key = key;
  snap->watermark = watermark;
  snap->types = content.types;
  return snap;
}

// Seals the types that changed (each costs the chunks changed since its last seal).
void seal_changed(snapshot_content& content, uint64_t& hash_ns) {
  stopwatch sw(hash_ns);
  for (const auto& [type, change] : content.changes) {
    if (auto t = content.types.find(type); t != content.types.end()) {
      seal(t->second);
    }
  }
}

}  // namespace

translation_delta incremental_translator::state::publish() {
  translation_delta delta;
  delta.watermark = world.watermark();
  auto emit = [&](const std::string& key, snapshot_content& content) {
    if (!content.changed && content.ever_published) {
      return;
    }
    seal_changed(content, stats.hash_ns);
    // Built on first use (snapshot()): a caller that serves deltas never needs it.
    content.stale = true;
    content.ever_published = true;
    content.watermark = world.watermark();
    snapshot_change change;
    change.types = std::move(content.changes);
    content.changes.clear();
    content.changed = false;
    delta.changed.emplace(key, std::move(change));
  };
  for (auto it = roles.begin(); it != roles.end();) {
    if (it->second.listeners.empty()) {
      delta.removed.push_back(it->first);
      it = roles.erase(it);
      continue;
    }
    emit(it->first, it->second.content);
    ++it;
  }
  emit(std::string(proxyless_key), proxyless);
  return delta;
}

translation_delta incremental_translator::state::full_translation() {
  ++stats.full_translations;
  translation_delta delta;
  delta.watermark = world.watermark();
  world_translation t;
  {
    stopwatch sw(stats.translate_ns);
    t = translate_world(world, requested.gateway, requested.envoy);
  }
  std::set<std::string> live;
  auto emit = [&](const std::string& key, const snapshot_ptr& snap, snapshot_content& content) {
    live.insert(key);
    bool same = content.published && content.published->types.size() == snap->types.size();
    if (same) {
      for (const auto& [type, set] : snap->types) {
        if (content.published->of(type).version != set.version) {
          same = false;
          break;
        }
      }
    }
    content.types = snap->types;
    content.changes.clear();
    content.changed = false;
    content.ever_published = true;
    if (same) {
      return;
    }
    content.published = snap;
    content.stale = false;
    content.watermark = snap->watermark;
    delta.changed.emplace(key, snapshot_change{{}});
  };
  for (const auto& [key, snap] : t.snapshots) {
    if (key == proxyless_key) {
      emit(key, snap, proxyless);
      continue;
    }
    auto& role = roles[key];
    role.role = key;
    emit(key, snap, role.content);
  }
  for (auto it = roles.begin(); it != roles.end();) {
    if (live.count(it->first) == 0) {
      delta.removed.push_back(it->first);
      it = roles.erase(it);
    } else {
      ++it;
    }
  }
  full_report = std::move(t.report);
  return delta;
}

// --- the report -------------------------------------------------------------------------------

model::translation_report incremental_translator::state::assemble_report(
    model::translation_report r) const {
  if (full_mode) {
    r.merge(full_report);
    return r;
  }
  // The same findings in the same order as translate_world: gateway translation, then each
  // proxy, then the proxyless view (model::report_* de-duplicate as the batch code does).
  if (settings) {
    model::report_settings(*settings, r);
  }
  for (auto kind :
       {resource_kind::gateway, resource_kind::virtual_service, resource_kind::route_table}) {
    for (const auto& [nn, stored] : world.of(kind)) {
      r.touch(stored.key);
    }
  }
  std::set<resource_key> merged;  // VirtualServices whose translation is already merged
  auto merge_vs = [&](const resource_key& key) {
    if (!merged.insert(key).second) {
      return;
    }
    if (auto i = vss.find(key); i != vss.end()) {
      model::merge_report(r, i->second.t.report);
    }
  };
  for (const auto& [key, g] : gateways) {
    if (!g.read) {
      model::report_warning(r, key,
                            "gateway ignored: only gateways in namespace " + gopt.write_namespace +
                                " are read (Settings gateway.readGatewaysFromAllNamespaces is "
                                "false)");
      continue;
    }
    model::merge_report(r, g.report);
    for (const auto& [seq, vs] : g.arrival) {
      merge_vs(vs);
      const auto& p = g.selected.at(vs);
      if (p.finding) {
        if (p.finding->first) {
          model::report_error(r, vs, p.finding->second);
        } else {
          model::report_warning(r, vs, p.finding->second);
        }
      }
    }
  }
  for (const auto& key : gateways_by_arrival) {
    for (const auto& name : proxy_names(gateways.at(key))) {
      if (auto i = port_errors.find({key, name}); i != port_errors.end()) {
        model::report_error(r, key, i->second);
      }
    }
  }
  for (const auto& [name, role] : roles) {
    if (settings && requested.envoy.apply_settings) {
      model::report_settings(*settings, r);
    }
    for (const auto& [u, c] : envoy_clusters) {
      model::merge_report(r, c.report);
    }
    for (const auto& [g, report] : groups) {
      model::merge_report(r, report);
    }
    for (const auto& l : role.listeners) {
      if (!l.duplicate.empty()) {
        model::report_error(r, l.gateway, l.duplicate);
        continue;
      }
      if (!l.http) {
        model::merge_report(r, l.tcp_report);
        continue;
      }
      const bool keep_empty = eopt.serve_empty_http_listeners && l.h.members.empty();
      if (l.h.members.empty() && !keep_empty) {
        continue;
      }
      for (const auto& vs : l.h.members) {
        const auto& vh = l.h.vhosts.at(vs);
        model::merge_report(r, vh.report);
        if (auto b = l.h.blame.find(vs); b != l.h.blame.end()) {
          model::report_error(r, vs, b->second);
        }
      }
      if (l.h.accepted_vhosts.empty() && !keep_empty) {
        continue;
      }
      model::merge_report(r, l.h.listener_report);
    }
  }
  for (const auto& [u, c] : proxyless_clusters) {
    model::merge_report(r, c.report);
  }
  for (const auto& [g, report] : groups) {
    model::merge_report(r, report);
  }
  for (const auto& [seq, key] : vs_arrival) {
    const auto& e = vss.at(key);
    model::merge_report(r, e.t.report);
    if (!e.t.virtual_host) {
      continue;
    }
    bool computed = false;
    for (const auto& d : e.proxyless_domains) {
      const auto owner = domain_owner.find(d);
      if (owner != domain_owner.end() && owner->second != key) {
        const auto& o = vss.at(owner->second);
        if (arrival_key{o.seq, owner->second} < arrival_key{e.seq, key}) {
          model::report_warning(r, key,
                                "proxyless gRPC clients asking for " + d + " get virtual service " +
                                    model::ref_key(owner->second) +
                                    ", which had the domain first; this virtual service is not "
                                    "served to them for it");
          continue;
        }
      }
      if (!computed && e.legacy) {
        model::merge_report(r, e.legacy->report);
      }
      computed = true;
      if (e.legacy && e.legacy->rejected) {
        break;
      }
    }
  }
  return r;
}

// --- the public class -------------------------------------------------------------------------

incremental_translator::incremental_translator(incremental_options options)
    : state_(std::make_unique<state>(std::move(options))) {}

incremental_translator::~incremental_translator() = default;

void incremental_translator::reset(model::world w) {
  state_->world = std::move(w);
  state_->pending.clear();
  state_->rebuild = true;
}

caf::expected<void> incremental_translator::apply(const sluice::v1::Event& ev) {
  set_watermark(ev.seq());
  model::apply_rejections(state_->world, ev);  // bookkeeping only: translation ignores it
  auto change = model::change_of(ev);
  if (!change) {
    return change.error();
  }
  if (*change) {
    if ((*change)->upsert) {
      put(std::move(*(*change)->upsert));
    } else {
      erase((*change)->key);
    }
  }
  return {};
}

void incremental_translator::put(model::stored_resource resource) {
  const auto* old = state_->world.find(resource.key);
  state_->note_change(resource.key, old ? old->message : nullptr);
  if (resource.key.kind == resource_kind::settings) {
    state_->rebuild = true;
  }
  state_->world.put(std::move(resource));
}

void incremental_translator::erase(const model::resource_key& key) {
  const auto* old = state_->world.find(key);
  if (old == nullptr) {
    return;
  }
  state_->note_change(key, old->message);
  if (key.kind == resource_kind::settings) {
    state_->rebuild = true;
  }
  state_->world.erase(key);
}

void incremental_translator::set_watermark(uint64_t seq) { state_->world.set_watermark(seq); }

translation_delta incremental_translator::flush() {
  auto& st = *state_;
  ++st.stats.flushes;
  // Hybrid gateways have no incremental path: translate_world while any is read.
  bool hybrid = false;
  {
    const auto gopt = model::effective_gateway_options(st.world, st.requested.gateway);
    for (const auto& [nn, stored] : st.world.of(resource_kind::gateway)) {
      const auto& g = static_cast<const gw::Gateway&>(*stored.message);
      if (g.has_hybrid_gateway() &&
          (stored.key.ns == gopt.write_namespace || gopt.read_gateways_from_all_namespaces)) {
        hybrid = true;
        break;
      }
    }
  }
  if (hybrid) {
    st.pending.clear();
    st.full_mode = true;
    st.rebuild = true;  // when the hybrid gateways go, every piece is rebuilt
    return st.full_translation();
  }
  if (st.full_mode) {
    st.full_mode = false;
    st.rebuild = true;
    st.full_report = {};
  }
  if (st.rebuild) {
    st.start_over();
  } else {
    st.propagate();
  }
  st.pending.clear();
  // Gloo: no VirtualService at all means no HTTP listener; the first one brings them back.
  if (st.world.of(resource_kind::virtual_service).empty() != st.no_virtual_services) {
    st.no_virtual_services = st.world.of(resource_kind::virtual_service).empty();
    st.gateways_dirty = true;
  }
  st.translate_clusters();
  st.translate_groups();
  st.translate_virtual_services();
  st.update_gateways();
  st.update_proxies();
  st.update_roles();
  st.update_proxyless();
  st.changed_vs.clear();
  st.dirty_envoy.clear();
  st.dirty_placement.clear();
  st.dirty_domains.clear();
  st.listeners_dirty = false;
  st.tcp_dirty = false;
  return st.publish();
}

const model::world& incremental_translator::world() const { return state_->world; }

snapshot_ptr incremental_translator::state::published(const std::string& key,
                                                     snapshot_content& content) {
  if (!content.ever_published) {
    return nullptr;
  }
  if (!content.published || content.stale) {
    stopwatch sw(stats.assemble_ns);
    content.published = materialize(key, content.watermark, content);
    content.stale = false;
  }
  return content.published;
}

std::map<std::string, snapshot_ptr> incremental_translator::snapshots() {
  std::map<std::string, snapshot_ptr> out;
  for (auto& [key, role] : state_->roles) {
    if (auto s = state_->published(key, role.content)) {
      out.emplace(key, std::move(s));
    }
  }
  if (auto s = state_->published(std::string(proxyless_key), state_->proxyless)) {
    out.emplace(std::string(proxyless_key), std::move(s));
  }
  return out;
}

snapshot_ptr incremental_translator::snapshot(std::string_view key) {
  if (key == proxyless_key) {
    return state_->published(std::string(proxyless_key), state_->proxyless);
  }
  auto i = state_->roles.find(std::string(key));
  return i == state_->roles.end() ? nullptr : state_->published(i->first, i->second.content);
}

model::translation_report incremental_translator::report() const {
  return state_->assemble_report({});
}

std::optional<std::vector<std::string>> incremental_translator::errors_of(
    const model::resource_key& key) const {
  const auto& st = *state_;
  if (st.full_mode) {
    return std::nullopt;
  }
  if (key.kind != resource_kind::upstream && key.kind != resource_kind::virtual_service) {
    return std::nullopt;
  }
  std::vector<std::string> out;
  auto add = [&](const std::string& e) {
    if (std::find(out.begin(), out.end(), e) == out.end()) {
      out.push_back(e);
    }
  };
  auto add_from = [&](const model::translation_report& r) {
    if (auto i = r.entries().find(key); i != r.entries().end()) {
      for (const auto& e : i->second.errors) {
        add(e);
      }
    }
  };
  if (key.kind == resource_kind::upstream) {
    // An Upstream's own findings come from its clusters: the proxyless flavor, and the gateway
    // flavor when some Proxy is served (assemble_report merges those per role).
    if (auto c = st.proxyless_clusters.find(key); c != st.proxyless_clusters.end()) {
      add_from(c->second.report);
    }
    if (auto c = st.envoy_clusters.find(key); !st.roles.empty() && c != st.envoy_clusters.end()) {
      add_from(c->second.report);
    }
    return out;
  }
  // Where assemble_report finds a VirtualService's errors: its own translation (which includes
  // the RouteTables it reaches), its placement on each Gateway (domain conflicts), its Envoy
  // virtual host on each listener, the listener's blame, and its proxyless form.
  auto vs = st.vss.find(key);
  if (vs == st.vss.end()) {
    return out;
  }
  add_from(vs->second.t.report);
  if (vs->second.legacy) {
    add_from(vs->second.legacy->report);
  }
  for (const auto& [gkey, g] : st.gateways) {
    if (auto p = g.selected.find(key); p != g.selected.end() && p->second.finding
                                         && p->second.finding->first) {
      add(p->second.finding->second);
    }
  }
  for (const auto& [name, role] : st.roles) {
    for (const auto& l : role.listeners) {
      if (!l.http) {
        continue;
      }
      if (auto vh = l.h.vhosts.find(key); vh != l.h.vhosts.end()) {
        add_from(vh->second.report);
      }
      if (auto b = l.h.blame.find(key); b != l.h.blame.end()) {
        add(b->second);
      }
    }
  }
  return out;
}

model::translation_report incremental_translator::report_for(
    std::set<model::resource_key> keys) const {
  return state_->assemble_report(model::translation_report::only(std::move(keys)));
}

const incremental_stats& incremental_translator::stats() const { return state_->stats; }

}  // namespace sluice::xds
