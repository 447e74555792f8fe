// Envoy virtual hosts, route configurations and listeners of each proxy, and the proxyless view,
// incrementally. The per-listener route configuration checks mirror xds/proxy_translator.cpp
// (route_configuration, translate_proxy, translate_proxyless); the property test holds them equal.
#include <algorithm>

#include "envoy/config/listener/v3/listener.pb.h"
#include "model/gateway_attribution.hpp"
#include "xds/envoy_common.hpp"
#include "xds/envoy_listeners.hpp"
#include "xds/envoy_tcp.hpp"
#include "xds/incremental_state.hpp"

namespace sluice::xds {

namespace {

namespace route_v3 = envoy::config::route::v3;

const gw::Gateway& gateway_of(const gateway_entry& g) {
  return static_cast<const gw::Gateway&>(*g.message);
}

void append_varint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}

// A length-delimited field (wire type 2), as the deterministic serializer writes it.
void append_field(std::string& out, uint32_t number, std::string_view bytes) {
  append_varint(out, (static_cast<uint64_t>(number) << 3) | 2);
  append_varint(out, bytes.size());
  out.append(bytes.data(), bytes.size());
}

// RouteConfiguration field tags (number << 3 | wire type 2).
constexpr uint64_t name_key = (1 << 3) | 2;
constexpr uint64_t virtual_hosts_key = (2 << 3) | 2;

bool same_shape(const envoy_vhost& a, const envoy_vhost& b) {
  return a.name == b.name && a.domains == b.domains && a.rejected == b.rejected &&
         a.filters.fault == b.filters.fault && a.filters.cors == b.filters.cors &&
         a.filters.ext_authz == b.filters.ext_authz && a.sets_ext_authz == b.sets_ext_authz;
}

uint64_t filter_bits(const http_filter_use& f) {
  return (f.fault ? 1u : 0u) | (f.cors ? 2u : 0u) | (f.ext_authz ? 4u : 0u);
}

// A destination's Upstream key, as resolve_destination computes it (kube and consul
// destinations name Gloo's in-memory upstreams).
std::optional<resource_key> destination_key(const gl::Destination& d) {
  switch (d.destination_type_case()) {
    case gl::Destination::kUpstream:
      return resource_key{resource_kind::upstream, d.upstream().namespace_(), d.upstream().name()};
    case gl::Destination::kKube:
      return resource_key{resource_kind::upstream, d.kube().ref().namespace_(),
                          "kube-svc:" + d.kube().ref().namespace_() + "-" + d.kube().ref().name() +
                              "-" + std::to_string(d.kube().port())};
    case gl::Destination::kConsul:
      return resource_key{resource_kind::upstream, "gloo-system",
                          "consul-svc:" + d.consul().service_name()};
    case gl::Destination::DESTINATION_TYPE_NOT_SET:
      break;
  }
  return std::nullopt;
}

void release_secrets(snapshot_content& content, std::map<std::string, size_t>& refs,
                     const secret_map& secrets) {
  for (const auto& [name, s] : secrets) {
    if (auto r = refs.find(name); r != refs.end() && --r->second == 0) {
      refs.erase(r);
      content.remove(secret_type, name);
    }
  }
}

void hold_secrets(snapshot_content& content, std::map<std::string, size_t>& refs,
                  const secret_map& secrets) {
  for (const auto& [name, s] : secrets) {
    ++refs[name];
    content.put(secret_type, make_resource(name, secret_type, s));
  }
}

}  // namespace

model::piece_reads incremental_translator::state::vhost_reads(const gl::VirtualHost& vh) const {
  model::piece_reads reads;
  bool ext_auth = vh.options().has_extauth();
  auto add = [&](const gl::Destination& d) {
    if (auto k = destination_key(d)) {
      reads.keys.push_back(std::move(*k));
    }
  };
  for (const auto& r : vh.routes()) {
    ext_auth = ext_auth || r.options().has_extauth();
    if (!r.has_route_action()) {
      continue;
    }
    const auto& a = r.route_action();
    if (a.has_single()) {
      add(a.single());
    }
    for (const auto& wd : a.multi().destinations()) {
      add(wd.destination());
      ext_auth = ext_auth || wd.options().has_extauth();
    }
    if (a.has_upstream_group()) {
      resource_key gk{resource_kind::upstream_group, a.upstream_group().namespace_(),
                      a.upstream_group().name()};
      if (const auto* g = world.get<gl::UpstreamGroup>(gk.kind, gk.ns, gk.name)) {
        for (const auto& wd : g->destinations()) {
          if (wd.destination().has_upstream()) {
            const auto& ref = wd.destination().upstream();
            reads.keys.push_back(resource_key{resource_kind::upstream,
                                              ref.namespace_().empty() ? gk.ns : ref.namespace_(),
                                              ref.name()});
          } else {
            add(wd.destination());
          }
          ext_auth = ext_auth || wd.options().has_extauth();
        }
      }
      reads.keys.push_back(std::move(gk));
    }
  }
  if (ext_auth) {
    // AuthConfigs by configRef, and the ext auth server's cluster.
    reads.kinds.push_back(resource_kind::auth_config);
    if (eopt.ext_auth_server) {
      reads.keys.push_back(*eopt.ext_auth_server);
    }
  }
  return reads;
}

envoy_vhost incremental_translator::state::translate_vhost(const gl::VirtualHost& vh,
                                                           bool require_tls, bool proxyless,
                                                           uint64_t input) {
  ++stats.envoy_virtual_hosts;
  envoy_vhost out;
  out.input = input;
  // The groups this virtual host routes to, checked against their Upstreams: an
  // upstream_group_index over just those gives what the index over the whole world gives them.
  model::world mini;
  for (const auto& r : vh.routes()) {
    if (!r.route_action().has_upstream_group()) {
      continue;
    }
    const auto& ref = r.route_action().upstream_group();
    const auto* gs = world.find(resource_kind::upstream_group, ref.namespace_(), ref.name());
    if (gs == nullptr || mini.find(gs->key) != nullptr) {
      continue;
    }
    mini.put(*gs);
    for (const auto& wd : static_cast<const gl::UpstreamGroup&>(*gs->message).destinations()) {
      if (!wd.destination().has_upstream()) {
        continue;
      }
      const auto& u = wd.destination().upstream();
      if (const auto* us = world.find(resource_kind::upstream,
                                      u.namespace_().empty() ? gs->key.ns : u.namespace_(),
                                      u.name())) {
        mini.put(*us);
      }
    }
  }
  virtual_host_result r;
  {
    stopwatch sw(stats.translate_ns);
    model::translation_report scratch;
    const upstream_group_index groups(mini, scratch);
    const route_context ctx{world,
                            proxyless ? proxyless_cluster_set : envoy_cluster_set,
                            groups,
                            eopt,
                            proxyless ? header_matcher_style::legacy
                                      : header_matcher_style::string_match,
                            out.report,
                            !proxyless};
    r = translate_virtual_host(vh, ctx, require_tls);
  }
  // Findings written to the context come first, then the virtual host's own (the order
  // route_configuration merges them in).
  model::merge_report(out.report, r.report);
  {
    stopwatch sw(stats.assemble_ns);
    out.bytes = model::canonical_bytes(r.virtual_host);
  }
  {
    stopwatch sw(stats.hash_ns);
    out.bytes_hash = field_hash(virtual_hosts_key, out.bytes);
  }
  stopwatch sw(stats.assemble_ns);
  out.name = r.virtual_host.name();
  out.domains.assign(r.virtual_host.domains().begin(), r.virtual_host.domains().end());
  out.rejected = r.rejected;
  out.filters = r.filters;
  out.sets_ext_authz = r.sets_ext_authz;
  return out;
}

xds_resource_ptr incremental_translator::state::route_configuration(
    const std::string& name, const std::vector<rc_part>& vhosts) {
  ++stats.route_configurations;
  auto r = std::make_shared<xds_resource>();
  {
    stopwatch sw(stats.assemble_ns);
    size_t size = name.size() + 16;
    for (const auto& v : vhosts) {
      size += v.bytes->size() + 16;
    }
    r->bytes.reserve(size);
    // RouteConfiguration: name = 1, virtual_hosts = 2; the serializer writes fields in number
    // order and a nested message exactly as it serializes alone, so this equals
    // canonical_bytes(RouteConfiguration{name, virtual_hosts}).
    if (!name.empty()) {
      append_field(r->bytes, 1, name);
    }
    for (const auto& v : vhosts) {
      append_field(r->bytes, 2, *v.bytes);
    }
    r->name = name;
    r->type_url = std::string(route_type);
  }
  // resource_version(bytes), from the fields' cached hashes.
  stopwatch sw(stats.hash_ns);
  resource_hasher h;
  if (!name.empty()) {
    h.add(field_hash(name_key, name));
  }
  for (const auto& v : vhosts) {
    h.add(v.hash);
  }
  r->version = h.finish(r->bytes.size());
  return r;
}

void incremental_translator::state::put_cluster_items(snapshot_content& content,
                                                      std::map<std::string, size_t>& secret_refs,
                                                      const cluster_entry* before,
                                                      const cluster_entry* after) {
  if (after != nullptr) {
    if (after->cluster) {
      content.put(cluster_type, after->cluster);
    }
    if (after->load_assignment) {
      content.put(endpoint_type, after->load_assignment);
    }
    for (const auto& [name, r] : after->secret_resources) {
      ++secret_refs[name];
      content.put(secret_type, r);
    }
  }
  if (before != nullptr) {
    if (before->cluster &&
        !(after != nullptr && after->cluster && after->cluster->name == before->cluster->name)) {
      content.remove(cluster_type, before->cluster->name);
    }
    if (before->load_assignment &&
        !(after != nullptr && after->load_assignment &&
          after->load_assignment->name == before->load_assignment->name)) {
      content.remove(endpoint_type, before->load_assignment->name);
    }
    for (const auto& [name, r] : before->secret_resources) {
      if (auto i = secret_refs.find(name); i != secret_refs.end() && --i->second == 0) {
        secret_refs.erase(i);
        content.remove(secret_type, name);
      }
    }
  }
}

void incremental_translator::state::update_roles() {
  for (auto& [name, role] : roles) {
    for (auto& l : role.listeners) {
      update_listener(role, l);
    }
  }
}

void incremental_translator::state::update_listener(role_entry& role, listener_entry& l) {
  const auto& g = gateways.at(l.gateway);
  if (!l.duplicate.empty()) {
    if (l.served) {
      role.content.remove(listener_type, l.name);
      role.content.remove(route_type, route_config_name(l.name));
      l.served = false;
    }
    return;
  }
  if (l.http) {
    update_http_listener(role, l, g);
  } else {
    update_tcp_listener(role, l, g);
  }
}

void incremental_translator::state::update_http_listener(role_entry& role, listener_entry& l,
                                                         const gateway_entry& g) {
  auto& h = l.h;
  const bool tls = gateway_of(g).ssl();
  const bool require_tls = tls && !g.served.empty();
  const bool all = h.fresh || h.require_tls != require_tls;
  std::vector<resource_key> todo;
  if (all || g.listener_changed) {
    if (h.members != g.served) {
      h.members = g.served;
      h.members_changed = true;
      // Both sorted by key: one merge walk drops the virtual hosts that left and finds the
      // members that have none yet.
      auto it = h.vhosts.begin();
      for (const auto& v : h.members) {
        while (it != h.vhosts.end() && it->first < v) {
          it = h.vhosts.erase(it);
        }
        if (it != h.vhosts.end() && it->first == v) {
          if (all) {
            todo.push_back(v);
          }
          ++it;
        } else {
          todo.push_back(v);
        }
      }
      h.vhosts.erase(it, h.vhosts.end());
    } else if (all) {
      todo = h.members;
    }
  }
  if (!all) {
    for (const auto* set : {&dirty_envoy, &changed_vs}) {
      for (const auto& v : *set) {
        if (std::binary_search(h.members.begin(), h.members.end(), v)) {
          todo.push_back(v);
        }
      }
    }
  }
  std::sort(todo.begin(), todo.end());
  todo.erase(std::unique(todo.begin(), todo.end()), todo.end());
  for (const auto& v : todo) {
    const auto input =
        mix(mix(mix(vss.at(v).vhost_hash, g.key.name), role.proxy_name), require_tls ? 1 : 2);
    auto it = h.vhosts.find(v);
    if (it != h.vhosts.end() && it->second.input == input && dirty_envoy.count(v) == 0) {
      continue;
    }
    auto piece = translate_vhost(qualified(v, g, role.proxy_name), require_tls, false, input);
    if (it == h.vhosts.end()) {
      h.members_changed = true;
      h.vhosts.emplace(v, std::move(piece));
      continue;
    }
    if (!same_shape(it->second, piece)) {
      h.members_changed = true;
    }
    if (it->second.bytes != piece.bytes) {
      h.bytes_changed = true;
    }
    it->second = std::move(piece);
  }
  if (h.members_changed) {
    // route_configuration's checks: rejected virtual hosts are left out, then a name or a domain
    // already used leaves the later one out.
    stopwatch sw(stats.assemble_ns);
    h.accepted_vhosts.clear();
    h.accepted_vhosts.reserve(h.members.size());
    h.blame.clear();
    h.filters = {};
    // Views into the virtual hosts (which outlive this block): no string copies.
    std::unordered_map<std::string_view, const std::string*> domain_owner;
    std::unordered_set<std::string_view> names;
    domain_owner.reserve(2 * h.members.size());
    names.reserve(h.members.size());
    const std::string where = "listener " + l.name;
    // Both sorted by key: walk them together instead of looking each member up.
    auto next = h.vhosts.begin();
    for (const auto& v : h.members) {
      while (next != h.vhosts.end() && next->first < v) {
        ++next;
      }
      auto& vh = next != h.vhosts.end() && next->first == v ? next->second : h.vhosts.at(v);
      if (vh.rejected) {
        continue;
      }
      if (!names.insert(vh.name).second) {
        h.blame[v] = where + ": virtual host name " + vh.name +
                     " is used twice; the later one is not served";
        continue;
      }
      std::string clash;
      for (const auto& d : vh.domains) {
        if (auto i = domain_owner.find(d); i != domain_owner.end()) {
          clash = "domain " + d + " is already served by virtual host " + *i->second;
          break;
        }
      }
      if (!clash.empty()) {
        h.blame[v] = where + ": " + clash + "; this one is not served";
        continue;
      }
      for (const auto& d : vh.domains) {
        domain_owner.emplace(d, &vh.name);
      }
      h.filters.merge(vh.filters);
      h.accepted_vhosts.push_back(&vh);
    }
    h.bytes_changed = true;
  }
  const bool keep_empty = eopt.serve_empty_http_listeners && h.members.empty();
  const std::string rc_name = route_config_name(l.name);
  bool served =
      (!h.members.empty() || keep_empty) && (!h.accepted_vhosts.empty() || keep_empty);
  if (served && (h.bytes_changed || !h.route_configuration)) {
    std::vector<rc_part> parts;
    parts.reserve(h.accepted_vhosts.size());
    for (auto* entry : h.accepted_vhosts) {
      auto& vh = *entry;
      if (h.filters.ext_authz && !vh.sets_ext_authz) {
        // Envoy runs ext_authz on every route of the listener unless a virtual host says not to.
        if (vh.disabled_bytes.empty()) {
          stopwatch sw(stats.assemble_ns);
          route_v3::VirtualHost m;
          m.ParseFromString(vh.bytes);
          disable_ext_authz(m);
          vh.disabled_bytes = model::canonical_bytes(m);
          vh.disabled_hash = field_hash(virtual_hosts_key, vh.disabled_bytes);
        }
        parts.push_back({&vh.disabled_bytes, vh.disabled_hash});
      } else {
        parts.push_back({&vh.bytes, vh.bytes_hash});
      }
    }
    h.route_configuration = route_configuration(rc_name, parts);
  }
  bool chains = false;
  if (served) {
    if (tls && (all || g.listener_changed || listeners_dirty || h.listener_input == 0)) {
      h.ssl_hash = 0;
      for (const auto& v : g.served) {
        h.ssl_hash = mix(h.ssl_hash, model::canonical_bytes(g.selected.at(v).ssl));
      }
    }
    const uint64_t ssl_hash = tls ? h.ssl_hash : 0;
    const uint64_t input =
        mix(mix(mix(g.header_hash, ssl_hash), filter_bits(h.filters)), rc_name) | 1;
    if (listeners_dirty || input != h.listener_input || !h.listener) {
      ++stats.listeners;
      gl::Listener proxy_listener = g.header;
      if (tls) {
        for (const auto& v : g.served) {
          *proxy_listener.add_ssl_configurations() = g.selected.at(v).ssl;
        }
      }
      model::translation_report report;
      secret_map secrets;
      envoy::config::listener::v3::Listener out;
      {
        stopwatch sw(stats.translate_ns);
        const listener_context lctx{world, report, eopt, secrets};
        out = http_listener(proxy_listener, rc_name, h.filters, lctx);
      }
      release_secrets(role.content, role.secret_refs, h.listener_secrets);
      hold_secrets(role.content, role.secret_refs, secrets);
      h.listener_secrets = std::move(secrets);
      h.listener_report = std::move(report);
      h.has_chains = out.filter_chains_size() > 0;
      stopwatch sw(stats.assemble_ns);
      h.listener = make_resource(l.name, listener_type, out);
      h.listener_input = input;
      deps.record(id_of(piece_kind::listeners, resource_key{}),
                  model::piece_reads{{}, {}, {}, {resource_kind::secret}});
    }
    chains = h.has_chains;
  } else {
    // Not translated now: translate again whenever it comes back.
    h.listener_input = 0;
    h.listener_report = {};
    release_secrets(role.content, role.secret_refs, h.listener_secrets);
    h.listener_secrets.clear();
  }
  served = served && chains;
  if (served) {
    role.content.put(listener_type, h.listener);
    role.content.put(route_type, h.route_configuration);
  } else if (l.served) {
    role.content.remove(listener_type, l.name);
    role.content.remove(route_type, rc_name);
  }
  l.served = served;
  h.members_changed = false;
  h.bytes_changed = false;
  h.fresh = false;
  h.require_tls = require_tls;
}

void incremental_translator::state::update_tcp_listener(role_entry& role, listener_entry& l,
                                                        const gateway_entry& g) {
  const uint64_t input = mix(g.header_hash, 7) | 1;
  if (tcp_dirty || input != l.tcp_input || !l.tcp_translated) {
    ++stats.listeners;
    model::translation_report report;
    secret_map secrets;
    envoy::config::listener::v3::Listener out;
    {
      stopwatch sw(stats.translate_ns);
      model::translation_report scratch;
      const upstream_group_index groups(world, scratch);
      const listener_context lctx{world, report, eopt, secrets};
      out = tcp_listener(g.header, envoy_cluster_set, groups, lctx);
    }
    release_secrets(role.content, role.secret_refs, l.tcp_secrets);
    hold_secrets(role.content, role.secret_refs, secrets);
    l.tcp_secrets = std::move(secrets);
    l.tcp_report = std::move(report);
    l.tcp = out.filter_chains_size() > 0 ? make_resource(l.name, listener_type, out) : nullptr;
    l.tcp_input = input;
    l.tcp_translated = true;
    // TCP hosts resolve Upstreams, UpstreamGroups and Secrets: any of them changing redoes them.
    deps.record(id_of(piece_kind::tcp, resource_key{}),
                model::piece_reads{{},
                                   {},
                                   {},
                                   {resource_kind::upstream, resource_kind::upstream_group,
                                    resource_kind::secret}});
  }
  if (l.tcp) {
    role.content.put(listener_type, l.tcp);
  } else if (l.served) {
    role.content.remove(listener_type, l.name);
  }
  l.served = l.tcp != nullptr;
}

void incremental_translator::state::update_proxyless() {
  for (const auto& key : dirty_envoy) {
    auto it = vss.find(key);
    if (it == vss.end()) {
      continue;
    }
    auto& e = it->second;
    if (!e.t.virtual_host) {
      e.legacy.reset();
      continue;
    }
    auto piece = translate_vhost(*e.t.virtual_host, false, true, e.vhost_hash);
    if (!e.legacy || e.legacy->bytes != piece.bytes || e.legacy->rejected != piece.rejected) {
      dirty_domains.insert(e.proxyless_domains.begin(), e.proxyless_domains.end());
    }
    e.legacy = std::move(piece);
  }
  for (const auto& d : dirty_domains) {
    std::optional<resource_key> owner;
    auto c = domain_candidates.find(d);
    if (c != domain_candidates.end()) {
      for (const auto& [seq, key] : c->second) {
        const auto& e = vss.at(key);
        if (e.legacy && !e.legacy->rejected) {
          owner = key;
          break;
        }
      }
      if (c->second.empty()) {
        domain_candidates.erase(c);
      }
    }
    const auto rc_name = route_config_name(d);
    if (!owner) {
      domain_owner.erase(d);
      api_listeners.erase(d);
      proxyless.remove(listener_type, d);
      proxyless.remove(route_type, rc_name);
      continue;
    }
    domain_owner[d] = *owner;
    const auto& legacy = *vss.at(*owner).legacy;
    proxyless.put(route_type, route_configuration(rc_name, {{&legacy.bytes, legacy.bytes_hash}}));
    auto& listener = api_listeners[d];
    if (!listener) {
      stopwatch sw(stats.assemble_ns);
      listener = make_resource(d, listener_type, api_listener(d, rc_name));
    }
    proxyless.put(listener_type, listener);
  }
}

}  // namespace sluice::xds
