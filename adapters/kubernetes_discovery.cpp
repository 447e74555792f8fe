#include "adapters/kubernetes_discovery.hpp"

#include <algorithm>
#include <utility>

#include "model/resource.hpp"

namespace sluice::adapters {
namespace {

using json = nlohmann::json;

constexpr size_t max_name = 63;

std::string str(const json& j, const char* field) {
  auto it = j.find(field);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

std::map<std::string, std::string> string_map(const json& j) {
  std::map<std::string, std::string> out;
  if (j.is_object()) {
    for (const auto& [k, v] : j.items()) {
      if (v.is_string()) {
        out[k] = v.get<std::string>();
      }
    }
  }
  return out;
}

uint32_t port_number(const json& j) {
  if (j.is_number_unsigned() || j.is_number_integer()) {
    auto v = j.get<int64_t>();
    return v > 0 && v <= 65535 ? static_cast<uint32_t>(v) : 0;
  }
  return 0;
}

// The Service as translation keeps it (proto/kube/core.proto): identity, labels, type, cluster
// IP, ports and selector. Nothing that changes without the Service changing (resourceVersion,
// status, managedFields), so an unchanged Service is not logged again.
json service_form(const json& service) {
  const json& meta = service.value("metadata", json::object());
  const json& spec = service.value("spec", json::object());
  json m{{"name", str(meta, "name")}, {"namespace", str(meta, "namespace")}};
  if (auto labels = string_map(meta.value("labels", json::object())); !labels.empty()) {
    m["labels"] = labels;
  }
  json s = json::object();
  for (const char* field : {"type", "clusterIP"}) {
    if (auto v = str(spec, field); !v.empty()) {
      s[field] = v;
    }
  }
  json ports = json::array();
  for (const auto& p : spec.value("ports", json::array())) {
    json port = json::object();
    for (const char* field : {"name", "protocol", "appProtocol"}) {
      if (auto v = str(p, field); !v.empty()) {
        port[field] = v;
      }
    }
    for (const char* field : {"port", "nodePort"}) {
      if (auto v = port_number(p.value(field, json())); v != 0) {
        port[field] = v;
      }
    }
    if (const json& t = p.value("targetPort", json()); t.is_string()) {
      port["targetPort"] = t;
    } else if (auto v = port_number(t); v != 0) {
      port["targetPort"] = std::to_string(v);
    }
    ports.push_back(std::move(port));
  }
  if (!ports.empty()) {
    s["ports"] = std::move(ports);
  }
  if (auto selector = string_map(spec.value("selector", json::object())); !selector.empty()) {
    s["selector"] = selector;
  }
  return json{{"apiVersion", "v1"}, {"kind", "Service"}, {"metadata", m}, {"spec", s}};
}

std::string origin(const char* plural, const std::string& ns, const std::string& name) {
  return std::string("discovery/") + plural + "/" + ns + "/" + name;
}

}  // namespace

std::string discovered_upstream_name(const std::string& ns, const std::string& service,
                                     uint32_t port) {
  // Gloo: UpstreamName(ns, svc, port) then SanitizeNameV2 (DNS-1123: lower case, '-' for the
  // rest, at most 63 characters with a hash keeping long names unique).
  std::string raw = ns + "-" + service + "-" + std::to_string(port);
  std::string out;
  for (char c : raw) {
    char l = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    out.push_back((l >= 'a' && l <= 'z') || (l >= '0' && l <= '9') || l == '-' ? l : '-');
  }
  if (out.size() > max_name) {
    out = out.substr(0, 31) + "-" + model::hash_hex(model::content_hash(raw));
  }
  while (!out.empty() && out.front() == '-') {
    out.erase(out.begin());
  }
  while (!out.empty() && out.back() == '-') {
    out.pop_back();
  }
  return out;
}

kubernetes_discovery::kubernetes_discovery(kubernetes_discovery_options options)
    : options_(std::move(options)) {}

model::source_batch kubernetes_discovery::upsert_service(const json& service) {
  const json& meta = service.value("metadata", json::object());
  key k{str(meta, "namespace"), str(meta, "name")};
  service_info info;
  info.labels = string_map(meta.value("labels", json::object()));
  const json& spec = service.value("spec", json::object());
  info.selector = string_map(spec.value("selector", json::object()));
  for (const auto& p : spec.value("ports", json::array())) {
    service_port sp{str(p, "name"), port_number(p.value("port", json()))};
    if (sp.port != 0) {
      info.ports.push_back(std::move(sp));
    }
  }
  info.form = service_form(service).dump();
  services_[k] = std::move(info);
  return refresh(k);
}

model::source_batch kubernetes_discovery::remove_service(const std::string& ns,
                                                         const std::string& name) {
  key k{ns, name};
  services_.erase(k);
  return refresh(k);
}

model::source_batch kubernetes_discovery::upsert_endpoint_slice(const json& slice) {
  const json& meta = slice.value("metadata", json::object());
  key k{str(meta, "namespace"), str(meta, "name")};
  std::string service
      = string_map(meta.value("labels", json::object()))["kubernetes.io/service-name"];
  const std::string type = str(slice, "addressType");
  address_set set;
  for (const auto& p : slice.value("ports", json::array())) {
    address_port ap{str(p, "name"), port_number(p.value("port", json()))};
    if (ap.port != 0) {
      set.ports.push_back(std::move(ap));
    }
  }
  if (type == "IPv4" || type == "IPv6") {  // FQDN slices name hosts, not addresses
    for (const auto& ep : slice.value("endpoints", json::array())) {
      // `ready` unset means ready (discovery.k8s.io/v1 EndpointConditions).
      const json& cond = ep.value("conditions", json::object());
      if (cond.contains("ready") && cond["ready"].is_boolean() && !cond["ready"].get<bool>()) {
        continue;
      }
      for (const auto& a : ep.value("addresses", json::array())) {
        if (a.is_string()) {
          set.addresses.push_back(a.get<std::string>());
        }
      }
    }
  }
  model::source_batch out;
  auto old = slices_.find(k);
  if (old != slices_.end() && old->second.first != service) {
    key previous{k.first, old->second.first};
    slices_.erase(old);
    out = refresh(previous);
  }
  slices_[k] = {service, {std::move(set)}};
  auto more = refresh({k.first, service});
  out.insert(out.end(), std::make_move_iterator(more.begin()), std::make_move_iterator(more.end()));
  return out;
}

model::source_batch kubernetes_discovery::remove_endpoint_slice(const std::string& ns,
                                                                const std::string& name) {
  auto it = slices_.find({ns, name});
  if (it == slices_.end()) {
    return {};
  }
  key service{ns, it->second.first};
  slices_.erase(it);
  return refresh(service);
}

model::source_batch kubernetes_discovery::upsert_endpoints(const json& endpoints) {
  const json& meta = endpoints.value("metadata", json::object());
  key k{str(meta, "namespace"), str(meta, "name")};
  std::vector<address_set> sets;
  for (const auto& subset : endpoints.value("subsets", json::array())) {
    address_set set;
    for (const auto& a : subset.value("addresses", json::array())) {
      if (auto ip = str(a, "ip"); !ip.empty()) {
        set.addresses.push_back(ip);
      }
    }
    for (const auto& p : subset.value("ports", json::array())) {
      address_port ap{str(p, "name"), port_number(p.value("port", json()))};
      if (ap.port != 0) {
        set.ports.push_back(std::move(ap));
      }
    }
    sets.push_back(std::move(set));
  }
  endpoints_[k] = std::move(sets);
  return refresh(k);
}

model::source_batch kubernetes_discovery::remove_endpoints(const std::string& ns,
                                                           const std::string& name) {
  key k{ns, name};
  if (endpoints_.erase(k) == 0) {
    return {};
  }
  return refresh(k);
}

model::source_batch kubernetes_discovery::upsert_upstream(const json& upstream) {
  const json& meta = upstream.value("metadata", json::object());
  key k{str(meta, "namespace"), str(meta, "name")};
  std::set<key> touched;
  const bool fresh = crd_upstreams_.insert(k).second;
  if (auto old = kube_upstreams_.find(k); old != kube_upstreams_.end()) {
    touched.insert(old->second.service);
    kube_upstreams_.erase(old);
  }
  const json& spec = upstream.value("spec", json::object());
  if (auto kube = spec.find("kube"); kube != spec.end() && kube->is_object()) {
    std::string svc_ns = str(*kube, "serviceNamespace");
    kube_ref ref{{svc_ns.empty() ? k.first : svc_ns, str(*kube, "serviceName")},
                 port_number(kube->value("servicePort", json()))};
    touched.insert(ref.service);
    kube_upstreams_[k] = std::move(ref);
  }
  if (fresh && k.first == options_.write_namespace) {
    // A CRD that takes a discovered upstream's name shadows it.
    for (const auto& [svc, info] : services_) {
      for (const auto& p : info.ports) {
        if (discovered_upstream_name(svc.first, svc.second, p.port) == k.second) {
          touched.insert(svc);
        }
      }
    }
  }
  model::source_batch out;
  for (const auto& svc : touched) {
    auto part = refresh(svc);
    out.insert(out.end(), std::make_move_iterator(part.begin()),
               std::make_move_iterator(part.end()));
  }
  return out;
}

model::source_batch kubernetes_discovery::remove_upstream(const std::string& ns,
                                                          const std::string& name) {
  key k{ns, name};
  std::set<key> touched;
  if (crd_upstreams_.erase(k) > 0 && ns == options_.write_namespace) {
    for (const auto& [svc, info] : services_) {
      for (const auto& p : info.ports) {
        if (discovered_upstream_name(svc.first, svc.second, p.port) == name) {
          touched.insert(svc);
        }
      }
    }
  }
  if (auto old = kube_upstreams_.find(k); old != kube_upstreams_.end()) {
    touched.insert(old->second.service);
    kube_upstreams_.erase(old);
  }
  model::source_batch out;
  for (const auto& svc : touched) {
    auto part = refresh(svc);
    out.insert(out.end(), std::make_move_iterator(part.begin()),
               std::make_move_iterator(part.end()));
  }
  return out;
}

std::map<std::string, json> kubernetes_discovery::discovered_for(const key& service) const {
  std::map<std::string, json> out;
  auto sit = services_.find(service);
  if (sit == services_.end()) {
    return out;
  }
  const service_info& info = sit->second;
  const std::string& wns = options_.write_namespace;
  json labels = json::object();
  for (const auto& [k, v] : info.labels) {
    labels[k] = v;
  }
  json selector = json::object();
  for (const auto& [k, v] : info.selector) {
    selector[k] = v;
  }
  for (const auto& p : info.ports) {
    std::string name = discovered_upstream_name(service.first, service.second, p.port);
    json kube{{"serviceName", service.second},
              {"serviceNamespace", service.first},
              {"servicePort", p.port}};
    if (!selector.empty()) {
      kube["selector"] = selector;
    }
    json spec{{"kube", kube}};
    if (!labels.empty()) {
      spec["discoveryMetadata"] = json{{"labels", labels}};
    }
    out[name] = json{
        {"apiVersion", "gloo.solo.io/v1"},
        {"kind", "Upstream"},
        {"metadata",
         {{"name", name}, {"namespace", wns}, {"labels", {{"discovered_by", "kubernetesplugin"}}}}},
        {"spec", spec}};
  }
  return out;
}

void kubernetes_discovery::track_discovered(const key& service) {
  auto now = discovered_for(service);
  auto& names = discovered_names_[service];
  std::set<std::string> touched = names;
  for (const auto& [name, _] : now) {
    touched.insert(name);
  }
  for (const auto& name : touched) {
    auto& owners = discovered_[name];
    const json before = owners.empty() ? json() : owners.begin()->second;
    if (auto it = now.find(name); it != now.end()) {
      owners[service] = it->second;
    } else {
      owners.erase(service);
    }
    const json after = owners.empty() ? json() : owners.begin()->second;
    if (owners.empty()) {
      discovered_.erase(name);
    }
    if (before != after) {
      discovered_changes_[name] = after;
    }
  }
  names.clear();
  for (const auto& [name, _] : now) {
    names.insert(name);
  }
  if (names.empty()) {
    discovered_names_.erase(service);
  }
}

std::map<std::string, json> kubernetes_discovery::discovered_upstreams() const {
  std::map<std::string, json> out;
  for (const auto& [name, owners] : discovered_) {
    if (!owners.empty()) {
      out[name] = owners.begin()->second;
    }
  }
  return out;
}

std::map<std::string, json> kubernetes_discovery::take_discovered_changes() {
  return std::exchange(discovered_changes_, {});
}

std::map<std::string, std::string> kubernetes_discovery::desired_for(const key& service) const {
  std::map<std::string, std::string> out;
  auto sit = services_.find(service);
  if (sit == services_.end()) {
    return out;  // Gloo: an upstream of a missing Service gets no endpoints
  }
  const service_info& info = sit->second;
  const std::string& wns = options_.write_namespace;
  out[origin("services", service.first, service.second)] = info.form;

  // Upstream refs that want endpoints, by Service port number.
  std::map<uint32_t, std::set<key>> wanted;
  const auto mine = discovered_for(service);
  for (const auto& p : info.ports) {
    std::string name = discovered_upstream_name(service.first, service.second, p.port);
    key dkey{wns, name};
    if (options_.upstreams && crd_upstreams_.count(dkey) == 0) {
      if (auto it = mine.find(name); it != mine.end()) {
        out[origin("upstreams", wns, name)] = it->second.dump();
        wanted[p.port].insert(dkey);
      }
    }
    if (options_.kube_destinations) {
      // Gloo's in-memory upstream of kube route destinations (upstreams/kubernetes/
      // conversions.go): in the Service's namespace, named with a prefix no stored object can
      // have, so it never collides with an Upstream CRD.
      const std::string kname
          = "kube-svc:" + service.first + "-" + service.second + "-" + std::to_string(p.port);
      json upstream{{"apiVersion", "gloo.solo.io/v1"},
                    {"kind", "Upstream"},
                    {"metadata", {{"name", kname}, {"namespace", service.first}}},
                    {"spec",
                     {{"kube",
                       {{"serviceName", service.second},
                        {"serviceNamespace", service.first},
                        {"servicePort", p.port}}}}}};
      out[origin("upstreams", service.first, kname)] = upstream.dump();
      wanted[p.port].insert({service.first, kname});
    }
  }
  for (const auto& [us, ref] : kube_upstreams_) {
    if (ref.service == service) {
      wanted[ref.port].insert(us);
    }
  }

  std::vector<const address_set*> sets;
  for (const auto& [slice, entry] : slices_) {
    if (slice.first == service.first && entry.first == service.second) {
      for (const auto& s : entry.second) {
        sets.push_back(&s);
      }
    }
  }
  if (sets.empty()) {  // no EndpointSlices: the core Endpoints object is the fallback
    if (auto e = endpoints_.find(service); e != endpoints_.end()) {
      for (const auto& s : e->second) {
        sets.push_back(&s);
      }
    }
  }

  std::map<std::pair<std::string, uint32_t>, std::set<key>> found;
  const bool single_port = info.ports.size() == 1;
  for (const auto& [port, refs] : wanted) {
    auto sp = std::find_if(info.ports.begin(), info.ports.end(),
                           [port = port](const service_port& p) { return p.port == port; });
    if (sp == info.ports.end()) {
      continue;  // the upstream names a port the Service does not have
    }
    for (const address_set* set : sets) {
      for (const auto& ap : set->ports) {
        if (ap.name != sp->name && !single_port) {
          continue;
        }
        for (const auto& addr : set->addresses) {
          found[{addr, ap.port}].insert(refs.begin(), refs.end());
        }
        if (single_port) {
          break;  // one endpoint port per address set
        }
      }
    }
  }
  for (const auto& [ap, refs] : found) {
    std::string dns;
    for (char c : ap.first) {
      char l = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      dns.push_back((l >= '0' && l <= '9') || (l >= 'a' && l <= 'z') ? l : '-');
    }
    std::string name
        = "ep-" + dns + "-" + std::to_string(ap.second) + "-"
          + model::hash_hex(model::content_hash(service.first + "/" + service.second + "/"
                                                + ap.first + ":" + std::to_string(ap.second)));
    json ups = json::array();
    for (const auto& r : refs) {
      ups.push_back({{"name", r.second}, {"namespace", r.first}});
    }
    json endpoint{{"apiVersion", "gloo.solo.io/v1"},
                  {"kind", "Endpoint"},
                  {"metadata", {{"name", name}, {"namespace", wns}}},
                  {"spec", {{"upstreams", ups}, {"address", ap.first}, {"port", ap.second}}}};
    out[origin("endpoints", wns, name)] = endpoint.dump();
  }
  return out;
}

model::source_batch kubernetes_discovery::refresh(const key& service) {
  track_discovered(service);
  auto desired = desired_for(service);
  auto& current = generated_[service];
  model::source_batch out;
  auto event = [&](model::source_event::op_t op, const std::string& origin_text,
                   std::string bytes) {
    model::source_event ev;
    ev.source = options_.source;
    ev.op = op;
    ev.kind = origin_text.rfind("discovery/upstreams/", 0) == 0  ? model::resource_kind::upstream
              : origin_text.rfind("discovery/services/", 0) == 0 ? model::resource_kind::service
                                                                  : model::resource_kind::endpoint;
    // "discovery/<plural>/<namespace>/<name>": in-memory kube-svc upstreams live in the
    // Service's namespace, everything else in the write namespace.
    auto ns_at = origin_text.find('/', std::string_view("discovery/").size()) + 1;
    ev.ns = origin_text.substr(ns_at, origin_text.find('/', ns_at) - ns_at);
    ev.origin = origin_text;
    ev.revision = bytes.empty() ? std::string() : model::hash_hex(model::content_hash(bytes));
    ev.bytes = std::move(bytes);
    out.push_back(std::move(ev));
  };
  for (const auto& [o, bytes] : current) {
    if (desired.count(o) == 0) {
      event(model::source_event::op_t::remove, o, {});
    }
  }
  for (const auto& [o, bytes] : desired) {
    auto it = current.find(o);
    if (it == current.end() || it->second != bytes) {
      event(model::source_event::op_t::upsert, o, bytes);
    }
  }
  if (desired.empty()) {
    generated_.erase(service);
  } else {
    current = std::move(desired);
  }
  return out;
}

std::map<std::string, std::string> kubernetes_discovery::generated() const {
  std::map<std::string, std::string> out;
  for (const auto& [_, m] : generated_) {
    out.insert(m.begin(), m.end());
  }
  return out;
}

}  // namespace sluice::adapters
