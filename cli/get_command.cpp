// `sluice get KIND [NAME] [-n NS] [-o table|yaml|json] --data-dir D`: the resources a sluice
// server holds, with their statuses in Gloo's model, read from the data directory of a running or
// stopped server. `get proxy` shows the Proxies translated from the Gateways; `get xds [ROLE]`
// lists the snapshot keys, or dumps one snapshot's Envoy resources like Envoy's config dump.
//
// Everything is recomputed from the log's state rows: the world as the server restores it,
// translated by the same functions the server runs, with statuses from model::build_statuses and
// the NACKs the server recorded. So what this prints is what the server computes, without asking
// it anything.
#include <google/protobuf/descriptor.h>
#include <google/protobuf/dynamic_message.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <iostream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "actors/world_actor.hpp"
#include "cli/commands.hpp"
#include "kube/core.pb.h"
#include "model/error.hpp"
#include "model/event_world.hpp"
#include "model/gateway_attribution.hpp"
#include "model/logging.hpp"
#include "model/redaction.hpp"
#include "model/resource_decoder.hpp"
#include "model/status.hpp"
#include "solo/enterprise.pb.h"
#include "solo/gateway.pb.h"
#include "solo/gloo.pb.h"
#include "store/event_log.hpp"
#include "xds/envoy_common.hpp"
#include "xds/nack_attribution.hpp"
#include "xds/world_translation.hpp"

namespace sluice::cli {

namespace {

namespace pb = google::protobuf;
namespace gw = ::gateway::solo::io;
namespace gl = ::gloo::solo::io;
using json = nlohmann::ordered_json;
using model::resource_key;
using model::resource_kind;
using Status = ::core::solo::io::Status;

struct get_flags {
  std::string kind;
  std::string name;
  std::string ns;
  std::string output = "table";
  std::string data_dir = ".sluice/data";
  std::string log_level = "error";
};

// --- the state, recomputed from the log ------------------------------------------------------

struct loaded {
  model::world world;
  xds::world_translation translation;
  std::vector<model::nack_attribution> nacks;
  std::map<resource_key, Status> statuses;
};

caf::expected<loaded> load(const std::string& data_dir) {
  store::event_log_options options;
  options.path = data_dir;
  options.read_only = true;  // a running server holds the write lock; reading needs none
  auto log = store::event_log::open(options);
  if (!log) {
    return log.error();
  }
  auto rows = (*log)->load_state();
  if (!rows) {
    return rows.error();
  }
  loaded out;
  // The same restore the server does at startup (actors/control_plane.cpp).
  if (auto ok = model::apply_state_rows(out.world, *rows); !ok) {
    return ok.error();
  }
  out.world.set_watermark((*log)->last_seq());
  out.translation = xds::translate_world(out.world);

  auto responses = (*log)->client_responses();
  if (!responses) {
    return responses.error();
  }
  auto publishes = (*log)->publish_records();
  if (!publishes) {
    return publishes.error();
  }
  out.nacks = xds::attribute_nacks(out.world, out.translation.proxies, out.translation.snapshots,
                                   xds::current_nacks(*responses, *publishes));
  out.statuses = model::build_statuses(out.world, out.translation.report, out.translation.proxies,
                                       out.nacks);
  return out;
}

// --- output ----------------------------------------------------------------------------------

void print_table(const std::vector<std::string>& headers,
                 const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> width(headers.size());
  for (size_t i = 0; i < headers.size(); ++i) {
    width[i] = headers[i].size();
    for (const auto& r : rows) {
      width[i] = std::max(width[i], r[i].size());
    }
  }
  auto line = [&](const std::vector<std::string>& cells) {
    std::string text;
    for (size_t i = 0; i < cells.size(); ++i) {
      text += cells[i];
      if (i + 1 < cells.size()) {
        text += std::string(width[i] - cells[i].size() + 3, ' ');
      }
    }
    std::cout << text << "\n";
  };
  line(headers);
  for (const auto& r : rows) {
    line(r);
  }
}

std::string joined(const std::vector<std::string>& parts, std::string_view sep = ",") {
  std::string out;
  for (const auto& p : parts) {
    if (!out.empty()) {
      out += sep;
    }
    out += p;
  }
  return out;
}

// Tables stay one line per resource.
std::string shorten(std::string text, size_t max = 100) {
  if (text.size() > max) {
    text.resize(max - 3);
    text += "...";
  }
  return text;
}

std::string destination_text(const gl::Destination& d) {
  if (d.has_upstream()) {
    return model::ref_key(d.upstream().namespace_(), d.upstream().name());
  }
  return "-";
}

// The kind-specific table columns (like glooctl's), between STATUS and REASON.
std::vector<std::string> detail_headers(resource_kind kind) {
  switch (kind) {
    case resource_kind::gateway:
      return {"BIND", "TYPE", "PROXIES"};
    case resource_kind::virtual_service:
      return {"DOMAINS", "ROUTES", "SSL"};
    case resource_kind::route_table:
      return {"ROUTES", "WEIGHT"};
    case resource_kind::upstream:
      return {"TYPE", "DETAILS"};
    case resource_kind::upstream_group:
      return {"DESTINATIONS"};
    case resource_kind::proxy:
      return {"LISTENERS", "VIRTUAL HOSTS"};
    case resource_kind::secret:
      return {"TYPE"};
    case resource_kind::artifact:
      return {"KEYS"};
    case resource_kind::endpoint:
      return {"ADDRESS", "UPSTREAMS"};
    case resource_kind::service:
      return {"TYPE", "CLUSTER-IP", "PORTS"};
    case resource_kind::auth_config:
      return {"CONFIGS"};
    case resource_kind::virtual_host_option:
    case resource_kind::route_option:
      return {"OPTIONS"};
    case resource_kind::settings:
      return {};
  }
  return {};
}

// The JSON names of the top-level fields set in `m`, sorted ("-" for none).
std::string set_fields(const pb::Message& m) {
  std::vector<const pb::FieldDescriptor*> fields;
  m.GetReflection()->ListFields(m, &fields);
  std::vector<std::string> names;
  for (const auto* f : fields) {
    names.push_back(f->json_name());
  }
  std::sort(names.begin(), names.end());
  return names.empty() ? "-" : joined(names);
}

std::string oneof_name(const pb::Message& m, const char* oneof) {
  const auto* o = m.GetDescriptor()->FindOneofByName(oneof);
  if (o == nullptr) {
    return "-";
  }
  const auto* f = m.GetReflection()->GetOneofFieldDescriptor(m, o);
  return f == nullptr ? "-" : f->json_name();
}

std::vector<std::string> detail_cells(resource_kind kind, const pb::Message& m) {
  switch (kind) {
    case resource_kind::gateway: {
      const auto& g = static_cast<const gw::Gateway&>(m);
      std::vector<std::string> proxies(g.proxy_names().begin(), g.proxy_names().end());
      const std::string address = g.bind_address().empty() ? "::" : g.bind_address();
      return {"[" + address + "]:" + std::to_string(g.bind_port()), oneof_name(m, "GatewayType"),
              proxies.empty() ? "gateway-proxy" : joined(proxies)};
    }
    case resource_kind::virtual_service: {
      const auto& vs = static_cast<const gw::VirtualService&>(m);
      std::vector<std::string> domains(vs.virtual_host().domains().begin(),
                                       vs.virtual_host().domains().end());
      return {domains.empty() ? "*" : joined(domains),
              std::to_string(vs.virtual_host().routes_size()), vs.has_ssl_config() ? "yes" : "no"};
    }
    case resource_kind::route_table: {
      const auto& rt = static_cast<const gw::RouteTable&>(m);
      return {std::to_string(rt.routes_size()), std::to_string(rt.weight().value())};
    }
    case resource_kind::upstream: {
      const auto& u = static_cast<const gl::Upstream&>(m);
      std::string details = "-";
      if (u.has_static_()) {
        std::vector<std::string> hosts;
        for (const auto& h : u.static_().hosts()) {
          hosts.push_back(h.addr() + ":" + std::to_string(h.port()));
        }
        details = joined(hosts);
      } else if (u.has_kube()) {
        details = u.kube().service_name() + "." + u.kube().service_namespace() + ":"
                  + std::to_string(u.kube().service_port());
      } else if (u.has_consul()) {
        details = u.consul().service_name();
      }
      return {oneof_name(m, "upstream_type"), details};
    }
    case resource_kind::upstream_group: {
      const auto& g = static_cast<const gl::UpstreamGroup&>(m);
      std::vector<std::string> parts;
      for (const auto& d : g.destinations()) {
        parts.push_back(destination_text(d.destination()) + ":"
                        + std::to_string(d.weight().value()));
      }
      return {joined(parts)};
    }
    case resource_kind::proxy: {
      const auto& p = static_cast<const gl::Proxy&>(m);
      size_t vhosts = 0;
      std::vector<std::string> listeners;
      for (const auto& l : p.listeners()) {
        listeners.push_back(l.name());
        vhosts += static_cast<size_t>(l.http_listener().virtual_hosts_size());
      }
      return {joined(listeners), std::to_string(vhosts)};
    }
    case resource_kind::secret:
      return {oneof_name(m, "kind")};
    case resource_kind::artifact: {
      std::vector<std::string> keys;
      for (const auto& [k, v] : static_cast<const gl::Artifact&>(m).data()) {
        keys.push_back(k);
      }
      std::sort(keys.begin(), keys.end());
      return {keys.empty() ? "-" : joined(keys)};
    }
    case resource_kind::endpoint: {
      const auto& e = static_cast<const gl::Endpoint&>(m);
      std::vector<std::string> ups;
      for (const auto& u : e.upstreams()) {
        ups.push_back(model::ref_key(u.namespace_(), u.name()));
      }
      return {e.address() + ":" + std::to_string(e.port()), joined(ups)};
    }
    case resource_kind::service: {
      // kubectl's PORT(S) column: port[:nodePort]/protocol.
      const auto& svc = static_cast<const kube::core::v1::Service&>(m);
      std::vector<std::string> ports;
      for (const auto& p : svc.ports()) {
        ports.push_back(std::to_string(p.port())
                        + (p.node_port() != 0 ? ":" + std::to_string(p.node_port()) : "") + "/"
                        + (p.protocol().empty() ? "TCP" : p.protocol()));
      }
      return {svc.type().empty() ? "ClusterIP" : svc.type(),
              svc.cluster_ip().empty() ? "-" : svc.cluster_ip(),
              ports.empty() ? "-" : joined(ports)};
    }
    case resource_kind::auth_config:
      return {std::to_string(
          static_cast<const enterprise::gloo::solo::io::AuthConfig&>(m).configs_size())};
    case resource_kind::virtual_host_option:
      return {set_fields(static_cast<const gw::VirtualHostOption&>(m).options())};
    case resource_kind::route_option:
      return {set_fields(static_cast<const gw::RouteOption&>(m).options())};
    case resource_kind::settings:
      return {};
  }
  return {};
}

struct item {
  resource_key key;
  const pb::Message* message = nullptr;
};

// The namespace Gloo writes its statuses under: its install namespace, which is where it writes
// its Proxies too (Settings discoveryNamespace, gloo-system by default).
std::string status_namespace(const loaded& state) {
  if (!state.translation.proxies.empty()) {
    return state.translation.proxies.front().proxy.metadata().namespace_();
  }
  return model::gateway_translation_options{}.write_namespace;
}

// An empty resource of `key`'s kind carrying only its name: what `get` shows of a rejected input
// that no accepted form stands for.
std::unique_ptr<pb::Message> named_placeholder(const resource_key& key) {
  auto m = model::new_message(key.kind);
  const auto* field = m->GetDescriptor()->FindFieldByName("metadata");
  if (field != nullptr && field->message_type() == ::core::solo::io::Metadata::descriptor()) {
    auto* md = static_cast<::core::solo::io::Metadata*>(
        m->GetReflection()->MutableMessage(m.get(), field));
    md->set_name(key.name);
    md->set_namespace_(key.ns);
  }
  return m;
}

// A copy of the resource with its status set under this controller's namespace (other
// controllers' entries, e.g. from a Kubernetes object, are kept), and Secret values redacted.
std::unique_ptr<pb::Message> decorated(const item& it, const loaded& state) {
  std::unique_ptr<pb::Message> copy(it.message->New());
  copy->CopyFrom(*it.message);
  if (auto s = state.statuses.find(it.key); s != state.statuses.end()) {
    const auto* field = copy->GetDescriptor()->FindFieldByName("namespaced_statuses");
    if (field != nullptr) {
      auto* ns = static_cast<::core::solo::io::NamespacedStatuses*>(
          copy->GetReflection()->MutableMessage(copy.get(), field));
      (*ns->mutable_statuses())[status_namespace(state)] = s->second;
    }
  }
  if (it.key.kind == resource_kind::secret) {
    // Like Envoy's config dump: whoever can read the data dir can read the files, but a status
    // command should not put keys on a terminal or in a ticket.
    auto& secret = static_cast<gl::Secret&>(*copy);
    if (secret.has_tls() && !secret.tls().private_key().empty()) {
      secret.mutable_tls()->set_private_key(model::redacted(secret.tls().private_key()));
    }
  }
  return copy;
}

json parsed(const std::string& text) {
  auto j = json::parse(text, nullptr, false);
  return j.is_discarded() ? json::object() : j;
}

// A plain YAML scalar with this text would read back as a number, bool or null; proto3 JSON
// writes 64-bit integers as strings, so those must stay quoted to round-trip.
bool reads_as_non_string(const std::string& text) {
  if (text.empty()) {
    return true;
  }
  std::string lower;
  for (char c : text) {
    lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  static const std::set<std::string> words
      = {"true", "false", "null", "~", "yes", "no", "on", "off", "y", "n"};
  if (words.count(lower) > 0) {
    return true;
  }
  char* end = nullptr;
  std::strtod(text.c_str(), &end);
  return end == text.c_str() + text.size();
}

void emit_yaml(YAML::Emitter& out, const json& j) {
  if (j.is_object()) {
    out << YAML::BeginMap;
    for (const auto& [k, v] : j.items()) {
      out << YAML::Key << k << YAML::Value;
      emit_yaml(out, v);
    }
    out << YAML::EndMap;
  } else if (j.is_array()) {
    out << YAML::BeginSeq;
    for (const auto& e : j) {
      emit_yaml(out, e);
    }
    out << YAML::EndSeq;
  } else if (j.is_string()) {
    const auto text = j.get<std::string>();
    if (reads_as_non_string(text)) {
      out << YAML::DoubleQuoted;
    }
    out << text;
  } else if (j.is_null()) {
    out << YAML::Null;
  } else {
    out << j.dump();
  }
}

std::string to_yaml_text(const json& j) {
  YAML::Emitter out;
  out.SetIndent(2);
  emit_yaml(out, j);
  return std::string(out.c_str()) + "\n";
}

int print_items(const std::vector<item>& items, resource_kind kind, const get_flags& flags,
                const loaded& state) {
  if (flags.output == "yaml") {
    for (size_t i = 0; i < items.size(); ++i) {
      if (i > 0) {
        std::cout << "---\n";
      }
      std::cout << model::to_yaml(*decorated(items[i], state));
    }
    return 0;
  }
  if (flags.output == "json") {
    if (!flags.name.empty() && items.size() == 1) {
      std::cout << model::to_json(*decorated(items.front(), state), true) << "\n";
      return 0;
    }
    json list = json::array();
    for (const auto& it : items) {
      list.push_back(parsed(model::to_json(*decorated(it, state), false)));
    }
    std::cout << list.dump(2) << "\n";
    return 0;
  }
  const bool with_status = model::info(kind).has_status;
  std::vector<std::string> headers{"NAMESPACE", "NAME"};
  if (with_status) {
    headers.emplace_back("STATUS");
  }
  for (auto& h : detail_headers(kind)) {
    headers.push_back(std::move(h));
  }
  if (with_status) {
    headers.emplace_back("REASON");
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto& it : items) {
    std::vector<std::string> row{it.key.ns, it.key.name};
    const Status* s = nullptr;
    if (auto i = state.statuses.find(it.key); i != state.statuses.end()) {
      s = &i->second;
    }
    if (with_status) {
      row.push_back(s != nullptr ? model::state_name(s->state()) : "Pending");
    }
    for (auto& c : detail_cells(kind, *it.message)) {
      row.push_back(std::move(c));
    }
    if (with_status) {
      std::string reason = s != nullptr ? model::reason_summary(s->reason()) : "";
      row.push_back(reason.empty() ? "-" : shorten(reason));
    }
    rows.push_back(std::move(row));
  }
  print_table(headers, rows);
  return 0;
}

// --- get xds ---------------------------------------------------------------------------------

std::unique_ptr<pb::Message> decode_envoy(const xds::xds_resource& r) {
  auto slash = r.type_url.rfind('/');
  const auto* d = pb::DescriptorPool::generated_pool()->FindMessageTypeByName(
      r.type_url.substr(slash == std::string::npos ? 0 : slash + 1));
  if (d == nullptr) {
    return nullptr;
  }
  const auto* prototype = pb::MessageFactory::generated_factory()->GetPrototype(d);
  if (prototype == nullptr) {
    return nullptr;
  }
  std::unique_ptr<pb::Message> m(prototype->New());
  if (!m->ParseFromString(r.bytes)) {
    return nullptr;
  }
  return m;
}

// One resource as Envoy's config dump shows it: the message as an Any ("@type" first).
json dumped(const xds::xds_resource& r) {
  json out = json::object();
  out["@type"] = r.type_url;
  auto m = decode_envoy(r);
  if (!m) {
    out["error"] = "sluice cannot decode this resource's bytes as " + r.type_url;
    return out;
  }
  auto body = parsed(model::to_json(*m, false));
  for (auto& [k, v] : body.items()) {
    out[k] = v;
  }
  model::redact_envoy_json(out);  // as Envoy's config dump does
  return out;
}

// The layout of Envoy's /config_dump (envoy.admin.v3.*ConfigDump), dynamic resources only.
json config_dump(const xds::snapshot& snap) {
  struct section {
    std::string_view type_url;
    const char* dump_type;
    const char* list;
  };
  const section sections[] = {
      {xds::cluster_type, "type.googleapis.com/envoy.admin.v3.ClustersConfigDump",
       "dynamic_active_clusters"},
      {xds::endpoint_type, "type.googleapis.com/envoy.admin.v3.EndpointsConfigDump",
       "dynamic_endpoint_configs"},
      {xds::listener_type, "type.googleapis.com/envoy.admin.v3.ListenersConfigDump",
       "dynamic_listeners"},
      {xds::route_type, "type.googleapis.com/envoy.admin.v3.RoutesConfigDump",
       "dynamic_route_configs"},
      {xds::secret_type, "type.googleapis.com/envoy.admin.v3.SecretsConfigDump",
       "dynamic_active_secrets"},
  };
  json configs = json::array();
  for (const auto& s : sections) {
    const auto& set = snap.of(s.type_url);
    json part = json::object();
    part["@type"] = s.dump_type;
    if (s.type_url != xds::secret_type && s.type_url != xds::endpoint_type) {
      part["version_info"] = set.version;
    }
    json list = json::array();
    for (const auto& [name, r] : set.items) {
      json entry = json::object();
      if (s.type_url == xds::listener_type) {
        entry["name"] = name;
        entry["active_state"] = {{"version_info", r->version}, {"listener", dumped(*r)}};
      } else if (s.type_url == xds::secret_type) {
        entry["name"] = name;
        entry["version_info"] = r->version;
        entry["secret"] = dumped(*r);
      } else {
        entry["version_info"] = r->version;
        const char* field = s.type_url == xds::cluster_type ? "cluster"
                            : s.type_url == xds::route_type ? "route_config"
                                                            : "endpoint_config";
        entry[field] = dumped(*r);
      }
      list.push_back(std::move(entry));
    }
    part[s.list] = std::move(list);
    configs.push_back(std::move(part));
  }
  return json{{"configs", std::move(configs)}};
}

int run_get_xds(const get_flags& flags, const loaded& state) {
  const auto& snaps = state.translation.snapshots;
  if (flags.name.empty()) {
    if (flags.output != "table") {
      json all = json::object();
      for (const auto& [key, snap] : snaps) {
        all[key] = config_dump(*snap);
      }
      std::cout << (flags.output == "json" ? all.dump(2) + "\n" : to_yaml_text(all));
      return 0;
    }
    std::vector<std::vector<std::string>> rows;
    for (const auto& [key, snap] : snaps) {
      rows.push_back({key, std::to_string(snap->of(xds::listener_type).items.size()),
                      std::to_string(snap->of(xds::route_type).items.size()),
                      std::to_string(snap->of(xds::cluster_type).items.size()),
                      std::to_string(snap->of(xds::endpoint_type).items.size()),
                      std::to_string(snap->of(xds::secret_type).items.size())});
    }
    print_table({"ROLE", "LISTENERS", "ROUTES", "CLUSTERS", "ENDPOINTS", "SECRETS"}, rows);
    return 0;
  }
  auto snap = snaps.find(flags.name);
  if (snap == snaps.end()) {
    std::vector<std::string> keys;
    for (const auto& [key, s] : snaps) {
      keys.push_back(key);
    }
    std::cerr << "error: no xDS snapshot for role \"" << flags.name
              << "\"; roles are <namespace>~<proxy name>, here: " << joined(keys, ", ") << "\n";
    return 1;
  }
  if (flags.output == "json") {
    std::cout << config_dump(*snap->second).dump(2) << "\n";
    return 0;
  }
  if (flags.output == "yaml") {
    std::cout << to_yaml_text(config_dump(*snap->second));
    return 0;
  }
  std::vector<std::vector<std::string>> rows;
  for (auto type : xds::push_order) {
    for (const auto& [name, r] : snap->second->of(type).items) {
      auto slash = type.rfind('.');
      rows.push_back({std::string(type.substr(slash + 1)), name, r->version});
    }
  }
  print_table({"TYPE", "NAME", "VERSION"}, rows);
  return 0;
}

// --- get KIND --------------------------------------------------------------------------------

int run_get(const get_flags& flags) {
  log::set_level(flags.log_level);
  if (flags.output != "table" && flags.output != "yaml" && flags.output != "json") {
    std::cerr << "error: -o must be table, yaml or json, not \"" << flags.output << "\"\n";
    return 2;
  }
  const bool xds_kind = flags.kind == "xds";
  std::optional<resource_kind> kind;
  if (!xds_kind) {
    kind = model::parse_kind(flags.kind);
    if (!kind) {
      std::vector<std::string> names{"xds"};
      for (const auto& k : model::all_kinds()) {
        names.emplace_back(k.plural);
      }
      std::cerr << "error: unknown kind \"" << flags.kind << "\"; one of: " << joined(names, ", ")
                << " (singular and short names work too)\n";
      return 2;
    }
  }
  auto state = load(flags.data_dir);
  if (!state) {
    std::cerr << "error: cannot read the sluice data directory " << flags.data_dir << ": "
              << describe(state.error()) << "\n";
    return 1;
  }
  if (xds_kind) {
    return run_get_xds(flags, *state);
  }

  std::vector<item> items;
  std::set<resource_key> generated;
  if (*kind == resource_kind::proxy) {
    // The Proxies sluice translated (and serves) first; a stored Proxy of the same name is the
    // older form they replace.
    for (const auto& p : state->translation.proxies) {
      resource_key key{resource_kind::proxy, p.proxy.metadata().namespace_(),
                       p.proxy.metadata().name()};
      generated.insert(key);
      items.push_back({key, &p.proxy});
    }
  }
  for (const auto& [nn, stored] : state->world.of(*kind)) {
    if (generated.count(stored.key) == 0) {
      items.push_back({stored.key, stored.message.get()});
    }
  }
  // Rejected input that was never accepted is in no world but exists where the user wrote it:
  // listed by name, with the status saying why nothing of it is served.
  std::vector<std::unique_ptr<pb::Message>> never_accepted;
  for (const auto& [key, r] : state->world.rejections()) {
    if (key.kind != *kind || state->world.find(key) != nullptr || generated.count(key) > 0) {
      continue;
    }
    never_accepted.push_back(named_placeholder(key));
    items.push_back({key, never_accepted.back().get()});
  }
  std::sort(items.begin(), items.end(), [](const item& a, const item& b) { return a.key < b.key; });
  items.erase(std::remove_if(items.begin(), items.end(),
                             [&](const item& it) {
                               return (!flags.ns.empty() && it.key.ns != flags.ns)
                                      || (!flags.name.empty() && it.key.name != flags.name);
                             }),
              items.end());
  const std::string where = flags.ns.empty() ? "" : " in namespace " + flags.ns;
  if (items.empty() && !flags.name.empty()) {
    std::cerr << "error: " << model::name_of(*kind) << " \"" << flags.name << "\" not found"
              << where << "\n";
    return 1;
  }
  if (!flags.name.empty() && items.size() > 1) {
    std::vector<std::string> namespaces;
    for (const auto& it : items) {
      namespaces.push_back(it.key.ns);
    }
    std::cerr << "error: " << model::name_of(*kind) << " \"" << flags.name
              << "\" exists in several namespaces (" << joined(namespaces, ", ")
              << "); pick one with -n\n";
    return 1;
  }
  if (items.empty() && flags.output == "table") {
    std::cerr << "No " << model::info(*kind).plural << " found" << where << ".\n";
    return 0;
  }
  return print_items(items, *kind, flags, *state);
}

}  // namespace

command_fn setup_get(CLI::App& app) {
  auto flags = std::make_shared<get_flags>();
  app.add_option("kind", flags->kind,
                 "a Gloo kind (virtualservices, vs, Upstream, proxy, ...) or xds")
      ->required();
  app.add_option("name", flags->name,
                 "one resource by name; for xds, the role "
                 "(<namespace>~<proxy name>, or proxyless)");
  app.add_option("-n,--namespace", flags->ns, "only this namespace (default: all)");
  app.add_option("-o,--output", flags->output, "table, yaml or json")->capture_default_str();
  app.add_option("--data-dir", flags->data_dir, "the server's data directory (it may be running)")
      ->capture_default_str();
  app.add_option("--log-level", flags->log_level, "trace|debug|info|warn|error|off")
      ->capture_default_str();
  return [flags] { return run_get(*flags); };
}

namespace {
const command_registration registration{
    "get", "show resources with their statuses, translated Proxies, or a role's xDS resources",
    setup_get};
}  // namespace

}  // namespace sluice::cli
