// `sluice install kubernetes`: renders everything a Kubernetes cluster needs to run sluice the way
// a Gloo user expects (reference gloo.md §1.0, §3.4, §3.6, §4.6), as one YAML stream:
//
//     sluice install kubernetes | kubectl apply -f -
//
// The manifests are built here, in code, so that the CRD schemas come straight from the protos
// sluice decodes with (a field sluice reads is a field the API server keeps, and the other way
// round). deploy/kubernetes/rendered/ holds the output for the default flags; a test re-renders
// and compares, so a change here without a re-render fails.
//
// The default Settings and Gateways are custom resources, which `kubectl apply` cannot create in
// the same run that creates their CRDs (the kinds are unknown until the CRDs are established).
// The `gloo-resource-rollout` Job therefore runs `sluice install rollout`, which waits for the
// CRDs and creates each default resource that does not exist yet (and never overwrites one, so an
// upgrade keeps a user's edits). `sluice install kubernetes --defaults` prints them instead.
#include <google/protobuf/descriptor.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstring>
#include <functional>
#include <iostream>
#include <set>
#include <thread>

#include "adapters/kubernetes_client.hpp"
#include "cli/commands.hpp"
#include "model/error.hpp"
#include "model/resource_kind.hpp"
#include "solo/core.pb.h"

namespace sluice::cli {

namespace {

namespace pb = google::protobuf;
using ojson = nlohmann::ordered_json;

constexpr const char* sluice_version = "0.1.0";

struct install_flags {
  std::string ns = "gloo-system";
  std::string image = std::string("ghcr.io/sluice-proxy/sluice:") + sluice_version;
  std::string envoy_image = "envoyproxy/envoy:v1.31.2";
  std::string pull_policy = "IfNotPresent";
  std::string cluster_domain = "cluster.local";
  std::string failure_policy = "Ignore";
  bool defaults_only = false;
  // rollout
  std::string kubeconfig;
  int timeout_seconds = 300;
};

// ---------------------------------------------------------------------------------------------
// YAML output. Block style, keys in insertion order; strings are plain only when no YAML 1.1 or
// 1.2 reader could take them for anything else (booleans, numbers, nulls, dates), otherwise
// double-quoted with JSON escapes (valid YAML). Multi-line strings become literal blocks.

bool plain_ok(const std::string& s) {
  if (s.empty()) {
    return false;
  }
  std::string lower;
  for (char c : s) {
    lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  for (const char* word : {"true", "false", "yes", "no", "on", "off", "y", "n", "null"}) {
    if (lower == word) {
      return false;
    }
  }
  const char first = s.front();
  if (!(std::isalpha(static_cast<unsigned char>(first)) || first == '/' || first == '_')) {
    return false;  // digits, signs, dots, indicators: numbers, dates and YAML syntax start so
  }
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    const bool last = i + 1 == s.size();
    if (std::isalnum(static_cast<unsigned char>(c)) || std::strchr("_-./@~+=%", c) != nullptr) {
      continue;
    }
    if (c == ':' && !last && s[i + 1] != ' ') {
      continue;
    }
    if (c == ' ' && !last && s[i + 1] != '#' && s[i + 1] != ' ') {
      continue;
    }
    return false;
  }
  return true;
}

std::string quoted(const std::string& s) { return ojson(s).dump(); }

std::string key_text(const std::string& k) { return plain_ok(k) ? k : quoted(k); }

bool block_string(const ojson& v) {
  if (!v.is_string()) {
    return false;
  }
  const auto& s = v.get_ref<const std::string&>();
  if (s.find('\n') == std::string::npos || s.front() == ' ' || s.front() == '\n'
      || (s.size() >= 2 && s.compare(s.size() - 2, 2, "\n\n") == 0)) {
    return false;
  }
  return std::none_of(s.begin(), s.end(),
                      [](char c) { return static_cast<unsigned char>(c) < 0x20 && c != '\n'; });
}

std::string scalar_text(const ojson& v) {
  if (v.is_string()) {
    const auto& s = v.get_ref<const std::string&>();
    return plain_ok(s) ? s : quoted(s);
  }
  if (v.is_object()) {
    return "{}";  // only reached for empty ones
  }
  if (v.is_array()) {
    return "[]";
  }
  return v.dump();  // numbers, booleans, null
}

void emit_map(const ojson& m, size_t indent, std::string& out);
void emit_seq(const ojson& a, size_t indent, std::string& out);

void emit_block(const std::string& s, size_t indent, std::string& out) {
  size_t start = 0;
  while (start < s.size()) {
    size_t end = s.find('\n', start);
    if (end == std::string::npos) {
      end = s.size();
    }
    if (end > start) {
      out.append(indent, ' ');
      out.append(s, start, end - start);
    }
    out += '\n';
    start = end + 1;
  }
}

void emit_after_key(const ojson& v, size_t indent, std::string& out) {
  if (v.is_object() && !v.empty()) {
    out += '\n';
    emit_map(v, indent + 2, out);
  } else if (v.is_array() && !v.empty()) {
    out += '\n';
    emit_seq(v, indent, out);
  } else if (block_string(v)) {
    const auto& s = v.get_ref<const std::string&>();
    out += s.back() == '\n' ? " |\n" : " |-\n";
    emit_block(s, indent + 2, out);
  } else {
    out += ' ' + scalar_text(v) + '\n';
  }
}

void emit_map(const ojson& m, size_t indent, std::string& out) {
  for (const auto& [k, v] : m.items()) {
    out.append(indent, ' ');
    out += key_text(k) + ':';
    emit_after_key(v, indent, out);
  }
}

void emit_seq(const ojson& a, size_t indent, std::string& out) {
  for (const auto& item : a) {
    if (item.is_object() && !item.empty()) {
      std::string sub;
      emit_map(item, indent + 2, sub);
      sub.replace(0, indent + 2, std::string(indent, ' ') + "- ");
      out += sub;
    } else if (item.is_array() && !item.empty()) {
      out.append(indent, ' ');
      out += "-\n";
      emit_seq(item, indent + 2, out);
    } else if (block_string(item)) {
      const auto& s = item.get_ref<const std::string&>();
      out.append(indent, ' ');
      out += s.back() == '\n' ? "- |\n" : "- |-\n";
      emit_block(s, indent + 2, out);
    } else {
      out.append(indent, ' ');
      out += "- " + scalar_text(item) + '\n';
    }
  }
}

std::string to_yaml(const ojson& doc) {
  std::string out;
  emit_map(doc, 0, out);
  return out;
}

// ---------------------------------------------------------------------------------------------
// CRD schemas from the protos' descriptors: proto3 JSON names, the JSON type each field takes,
// enums by name, maps as additionalProperties, well-known types as their JSON forms. Only
// google.protobuf.Struct fields (the option types sluice keeps without translating) preserve
// unknown fields. A message type that contains itself (Status.subresourceStatuses) is expanded
// two levels deep, as deep as Gloo writes statuses: structural schemas cannot recurse.

ojson int_or_string() {
  return {{"x-kubernetes-int-or-string", true},
          {"anyOf", ojson::array({{{"type", "integer"}}, {{"type", "string"}}})}};
}

std::optional<ojson> well_known_schema(const pb::Descriptor* d) {
  const std::string& n = d->full_name();
  if (n == "google.protobuf.Struct") {
    return ojson{{"type", "object"}, {"x-kubernetes-preserve-unknown-fields", true}};
  }
  if (n == "google.protobuf.Value" || n == "google.protobuf.Any") {
    return ojson{{"x-kubernetes-preserve-unknown-fields", true}};
  }
  if (n == "google.protobuf.ListValue") {
    return ojson{{"type", "array"}, {"items", {{"x-kubernetes-preserve-unknown-fields", true}}}};
  }
  if (n == "google.protobuf.Duration" || n == "google.protobuf.StringValue") {
    return ojson{{"type", "string"}};
  }
  if (n == "google.protobuf.Timestamp") {
    return ojson{{"type", "string"}, {"format", "date-time"}};
  }
  if (n == "google.protobuf.BytesValue") {
    return ojson{{"type", "string"}, {"format", "byte"}};
  }
  if (n == "google.protobuf.BoolValue") {
    return ojson{{"type", "boolean"}};
  }
  if (n == "google.protobuf.Int32Value") {
    return ojson{{"type", "integer"}, {"format", "int32"}};
  }
  if (n == "google.protobuf.UInt32Value") {
    return ojson{
        {"type", "integer"}, {"format", "int64"}, {"minimum", 0}, {"maximum", 4294967295u}};
  }
  if (n == "google.protobuf.Int64Value" || n == "google.protobuf.UInt64Value") {
    return int_or_string();
  }
  if (n == "google.protobuf.DoubleValue" || n == "google.protobuf.FloatValue") {
    return ojson{{"type", "number"}};
  }
  if (n == "google.protobuf.Empty") {
    return ojson{{"type", "object"}};
  }
  return std::nullopt;
}

ojson message_schema(const pb::Descriptor* d, std::vector<const pb::Descriptor*>& stack,
                     bool in_status, const std::set<std::string>& skip = {});

/// The schema of one value of `f` (an element, for repeated fields).
std::optional<ojson> value_schema(const pb::FieldDescriptor* f,
                                  std::vector<const pb::Descriptor*>& stack, bool in_status) {
  switch (f->type()) {
    case pb::FieldDescriptor::TYPE_STRING:
      return ojson{{"type", "string"}};
    case pb::FieldDescriptor::TYPE_BYTES:
      return ojson{{"type", "string"}, {"format", "byte"}};
    case pb::FieldDescriptor::TYPE_BOOL:
      return ojson{{"type", "boolean"}};
    case pb::FieldDescriptor::TYPE_INT32:
    case pb::FieldDescriptor::TYPE_SINT32:
    case pb::FieldDescriptor::TYPE_SFIXED32:
      return ojson{{"type", "integer"}, {"format", "int32"}};
    case pb::FieldDescriptor::TYPE_UINT32:
    case pb::FieldDescriptor::TYPE_FIXED32:
      return ojson{
          {"type", "integer"}, {"format", "int64"}, {"minimum", 0}, {"maximum", 4294967295u}};
    case pb::FieldDescriptor::TYPE_INT64:
    case pb::FieldDescriptor::TYPE_SINT64:
    case pb::FieldDescriptor::TYPE_SFIXED64:
    case pb::FieldDescriptor::TYPE_UINT64:
    case pb::FieldDescriptor::TYPE_FIXED64:
      return int_or_string();  // proto3 JSON writes 64-bit integers as strings
    case pb::FieldDescriptor::TYPE_DOUBLE:
    case pb::FieldDescriptor::TYPE_FLOAT:
      return ojson{{"type", "number"}};
    case pb::FieldDescriptor::TYPE_ENUM: {
      if (in_status) {
        return int_or_string();  // Gloo wrote status states as numbers before names
      }
      ojson names = ojson::array();
      for (int i = 0; i < f->enum_type()->value_count(); ++i) {
        names.push_back(f->enum_type()->value(i)->name());
      }
      return ojson{{"type", "string"}, {"enum", std::move(names)}};
    }
    case pb::FieldDescriptor::TYPE_MESSAGE:
    case pb::FieldDescriptor::TYPE_GROUP: {
      const pb::Descriptor* m = f->message_type();
      if (auto wk = well_known_schema(m)) {
        return wk;
      }
      if (std::count(stack.begin(), stack.end(), m) >= 2) {
        return std::nullopt;  // recursion: two levels are expanded, deeper ones are not
      }
      return message_schema(m, stack, in_status);
    }
  }
  return std::nullopt;
}

std::optional<ojson> field_schema(const pb::FieldDescriptor* f,
                                  std::vector<const pb::Descriptor*>& stack, bool in_status) {
  if (f->is_map()) {
    auto value = value_schema(f->message_type()->map_value(), stack, in_status);
    if (!value) {
      return std::nullopt;
    }
    return ojson{{"type", "object"}, {"additionalProperties", std::move(*value)}};
  }
  auto value = value_schema(f, stack, in_status);
  if (!value) {
    return std::nullopt;
  }
  if (f->is_repeated()) {
    return ojson{{"type", "array"}, {"items", std::move(*value)}};
  }
  return value;
}

ojson message_schema(const pb::Descriptor* d, std::vector<const pb::Descriptor*>& stack,
                     bool in_status, const std::set<std::string>& skip) {
  stack.push_back(d);
  ojson properties = ojson::object();
  for (int i = 0; i < d->field_count(); ++i) {
    const pb::FieldDescriptor* f = d->field(i);
    if (skip.count(f->name()) != 0) {
      continue;
    }
    if (auto s = field_schema(f, stack, in_status)) {
      properties[f->json_name()] = std::move(*s);
    }
  }
  stack.pop_back();
  ojson out{{"type", "object"}};
  if (!properties.empty()) {
    out["properties"] = std::move(properties);
  }
  return out;
}

/// Gloo's kinds stored as CRDs; Secrets are core Secrets, Artifacts ConfigMaps, Services core
/// Services, and Endpoints exist only in memory (reference gloo.md §1.0).
bool stored_as_crd(model::resource_kind kind) { return model::is_custom_resource(kind); }

ojson common_labels(const std::string& component) {
  return {{"app", "gloo"},
          {"gloo", component},
          {"app.kubernetes.io/name", "sluice"},
          {"app.kubernetes.io/component", component},
          {"app.kubernetes.io/version", sluice_version}};
}

ojson crd_for(const model::kind_info& k) {
  std::vector<const pb::Descriptor*> stack;
  ojson spec = message_schema(k.descriptor, stack, false, {"metadata", "namespaced_statuses"});
  ojson status = message_schema(::core::solo::io::NamespacedStatuses::descriptor(), stack, true);
  std::string singular;
  for (char c : k.name) {
    singular += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  ojson schema = {{"type", "object"},
                  {"properties",
                   {{"apiVersion", {{"type", "string"}}},
                    {"kind", {{"type", "string"}}},
                    {"metadata", {{"type", "object"}}},
                    {"spec", std::move(spec)},
                    {"status", std::move(status)}}}};
  ojson labels = {{"app", "gloo"},
                  {"app.kubernetes.io/name", "sluice"},
                  {"app.kubernetes.io/version", sluice_version}};
  return {{"apiVersion", "apiextensions.k8s.io/v1"},
          {"kind", "CustomResourceDefinition"},
          {"metadata",
           {{"name", std::string(k.plural) + "." + std::string(k.group)}, {"labels", labels}}},
          {"spec",
           {{"group", k.group},
            {"names",
             {{"kind", k.name},
              {"listKind", std::string(k.name) + "List"},
              {"plural", k.plural},
              {"singular", singular},
              {"shortNames", ojson::array({k.short_name})},
              {"categories", ojson::array({"gloo", "solo-io"})}}},
            {"scope", "Namespaced"},
            {"versions", ojson::array({{{"name", k.version},
                                        {"served", true},
                                        {"storage", true},
                                        {"subresources", {{"status", ojson::object()}}},
                                        {"schema", {{"openAPIV3Schema", std::move(schema)}}}}})}}}};
}

// ---------------------------------------------------------------------------------------------
// The rest of the deployment.

ojson meta(const std::string& name, const std::string& ns, const std::string& component) {
  ojson m = {{"name", name}};
  if (!ns.empty()) {
    m["namespace"] = ns;
  }
  m["labels"] = common_labels(component);
  return m;
}

ojson env_from_pod() {
  return ojson::array(
      {{{"name", "POD_NAME"}, {"valueFrom", {{"fieldRef", {{"fieldPath", "metadata.name"}}}}}},
       {{"name", "POD_NAMESPACE"},
        {"valueFrom", {{"fieldRef", {{"fieldPath", "metadata.namespace"}}}}}}});
}

ojson restricted_container_security() {
  return {{"allowPrivilegeEscalation", false},
          {"capabilities", {{"drop", ojson::array({"ALL"})}}},
          {"readOnlyRootFilesystem", true},
          {"runAsNonRoot", true},
          {"runAsUser", 10101}};
}

ojson pod_security() {
  return {
      {"runAsNonRoot", true}, {"fsGroup", 10101}, {"seccompProfile", {{"type", "RuntimeDefault"}}}};
}

ojson port(const std::string& name, int number) {
  return {{"name", name}, {"containerPort", number}, {"protocol", "TCP"}};
}

ojson deployment(const std::string& name, const install_flags& f, const std::string& account,
                 ojson container, ojson volumes, ojson annotations = ojson::object()) {
  ojson pod_meta = {{"labels", common_labels(name)}};
  if (!annotations.empty()) {
    pod_meta["annotations"] = std::move(annotations);
  }
  ojson pod = {{"serviceAccountName", account},
               {"automountServiceAccountToken", account != "gateway-proxy"},
               {"securityContext", pod_security()},
               {"terminationGracePeriodSeconds", 30},
               {"containers", ojson::array({std::move(container)})}};
  if (!volumes.empty()) {
    pod["volumes"] = std::move(volumes);
  }
  return {
      {"apiVersion", "apps/v1"},
      {"kind", "Deployment"},
      {"metadata", meta(name, f.ns, name)},
      {"spec",
       {{"replicas", 1},
        {"revisionHistoryLimit", 5},
        {"selector", {{"matchLabels", {{"gloo", name}}}}},
        {"strategy",
         {{"type", "RollingUpdate"}, {"rollingUpdate", {{"maxUnavailable", 0}, {"maxSurge", 1}}}}},
        {"template", {{"metadata", std::move(pod_meta)}, {"spec", std::move(pod)}}}}}};
}

/// One sluice container; `role` picks what the process does (`sluice serve --role`).
ojson sluice_container(const std::string& role, const install_flags& f, ojson args, ojson ports,
                       ojson readiness, ojson mounts) {
  ojson c = {{"name", role},
             {"image", f.image},
             {"imagePullPolicy", f.pull_policy},
             {"args", std::move(args)},
             {"env", env_from_pod()}};
  if (!ports.empty()) {
    c["ports"] = std::move(ports);
  }
  if (!readiness.is_null()) {
    c["readinessProbe"] = std::move(readiness);
  }
  c["resources"]
      = {{"requests", {{"cpu", "250m"}, {"memory", "256Mi"}}}, {"limits", {{"memory", "1Gi"}}}};
  c["securityContext"] = restricted_container_security();
  c["volumeMounts"] = std::move(mounts);
  return c;
}

ojson serve_args(const std::string& role, const install_flags& f, ojson extra) {
  ojson args = ojson::array({"serve", "--role=" + role, "--source=kubernetes",
                             "--namespace=" + f.ns, "--data-dir=/var/lib/sluice/data"});
  for (auto& a : extra) {
    args.push_back(std::move(a));
  }
  return args;
}

ojson data_volume() { return ojson::array({{{"name", "data"}, {"emptyDir", ojson::object()}}}); }

ojson data_mount() { return ojson::array({{{"name", "data"}, {"mountPath", "/var/lib/sluice"}}}); }

ojson tcp_probe(int number) {
  return {{"tcpSocket", {{"port", number}}}, {"periodSeconds", 5}, {"failureThreshold", 3}};
}

ojson rule(ojson groups, ojson resources, ojson verbs, ojson names = nullptr) {
  ojson r = {{"apiGroups", std::move(groups)},
             {"resources", std::move(resources)},
             {"verbs", std::move(verbs)}};
  if (!names.is_null()) {
    r["resourceNames"] = std::move(names);
  }
  return r;
}

const ojson read_verbs = ojson::array({"get", "list", "watch"});

/// The CRD plurals (with `suffix`, e.g. "/status") of every kind sluice reads, by API group in
/// a fixed order; `want` picks kinds. `sluice serve --source kubernetes` watches every kind, so
/// a kind missing here would keep the source from ever syncing.
std::vector<std::pair<std::string, std::vector<std::string>>> crd_plurals(
    const std::function<bool(const model::kind_info&)>& want, const std::string& suffix = "") {
  std::vector<std::pair<std::string, std::vector<std::string>>> out;
  for (const char* group : {"gateway.solo.io", "gloo.solo.io", "enterprise.gloo.solo.io"}) {
    std::vector<std::string> plurals;
    for (const auto& k : model::all_kinds()) {
      if (stored_as_crd(k.kind) && k.group == group && want(k)) {
        plurals.push_back(std::string(k.plural) + suffix);
      }
    }
    if (!plurals.empty()) {
      out.emplace_back(group, std::move(plurals));
    }
  }
  return out;
}

ojson gloo_kinds_read() {
  ojson rules = ojson::array();
  for (auto& [group, plurals] : crd_plurals([](const model::kind_info&) { return true; })) {
    rules.push_back(rule({group}, plurals, read_verbs));
  }
  rules.push_back(
      rule({""}, {"secrets", "configmaps", "services", "endpoints", "namespaces"}, read_verbs));
  rules.push_back(rule({"discovery.k8s.io"}, {"endpointslices"}, read_verbs));
  return rules;
}

/// Status write rules of the kinds a role reports (`gateway`: gateway.solo.io kinds; otherwise
/// the others), as `sluice serve --role` splits them.
void add_status_rules(ojson& rules, bool gateway) {
  auto pick = [gateway](const model::kind_info& k) {
    return k.has_status && (k.group == "gateway.solo.io") == gateway;
  };
  for (auto& [group, plurals] : crd_plurals(pick, "/status")) {
    rules.push_back(rule({group}, plurals, {"get", "update", "patch"}));
  }
}

ojson leases_rule() {
  return rule({"coordination.k8s.io"}, {"leases"},
              {"get", "list", "watch", "create", "update", "patch"});
}

void add_binding(std::vector<ojson>& docs, const std::string& kind, const std::string& name,
                 const std::string& account, const install_flags& f, const std::string& component) {
  const bool cluster = kind == "ClusterRole";
  docs.push_back(
      {{"apiVersion", "rbac.authorization.k8s.io/v1"},
       {"kind", cluster ? "ClusterRoleBinding" : "RoleBinding"},
       {"metadata", meta(name, cluster ? "" : f.ns, component)},
       {"roleRef", {{"apiGroup", "rbac.authorization.k8s.io"}, {"kind", kind}, {"name", name}}},
       {"subjects",
        ojson::array({{{"kind", "ServiceAccount"}, {"name", account}, {"namespace", f.ns}}})}});
}

void add_role(std::vector<ojson>& docs, const std::string& kind, const std::string& name,
              const std::string& account, ojson rules, const install_flags& f,
              const std::string& component) {
  const bool cluster = kind == "ClusterRole";
  docs.push_back({{"apiVersion", "rbac.authorization.k8s.io/v1"},
                  {"kind", kind},
                  {"metadata", meta(name, cluster ? "" : f.ns, component)},
                  {"rules", std::move(rules)}});
  add_binding(docs, kind, name, account, f, component);
}

std::string webhook_configuration_name(const install_flags& f) {
  return "gloo-gateway-validation-webhook-" + f.ns;
}

/// The Envoy bootstrap of the default proxy (gloo.md §4.6, the Helm form): node role
/// `<ns>~gateway-proxy`, ADS over gRPC to the gloo Service on 9977, admin on localhost, and the
/// prometheus listener on 8081 (/metrics and /ready, for probes and scraping).
std::string envoy_bootstrap(const install_flags& f) {
  const std::string gloo_host = "gloo." + f.ns + ".svc." + f.cluster_domain;
  const std::string xds_cluster = gloo_host + ":9977";
  auto static_cluster = [](const std::string& name, const std::string& type,
                           const std::string& host, int number, bool http2) {
    ojson c = {
        {"name", name},
        {"connect_timeout", "5s"},
        {"type", type},
        {"load_assignment",
         {{"cluster_name", name},
          {"endpoints",
           ojson::array(
               {{{"lb_endpoints",
                  ojson::array({{{"endpoint",
                                  {{"address",
                                    {{"socket_address",
                                      {{"address", host}, {"port_value", number}}}}}}}}})}}})}}}};
    if (type == "STRICT_DNS") {
      c["respect_dns_ttl"] = true;
    }
    if (http2) {
      c["typed_extension_protocol_options"] = {
          {"envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
           {{"@type", "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions"},
            {"explicit_http_config", {{"http2_protocol_options", ojson::object()}}}}}};
    }
    return c;
  };
  ojson xds = static_cluster(xds_cluster, "STRICT_DNS", gloo_host, 9977, true);
  xds["alt_stat_name"] = "xds_cluster";
  xds["upstream_connection_options"] = {{"tcp_keepalive", {{"keepalive_time", 10}}}};

  auto get_only = ojson::array({{{"name", ":method"}, {"string_match", {{"exact", "GET"}}}}});
  ojson prometheus_listener = {
      {"name", "prometheus_listener"},
      {"address", {{"socket_address", {{"address", "0.0.0.0"}, {"port_value", 8081}}}}},
      {"filter_chains",
       ojson::array(
           {{{"filters",
              ojson::array(
                  {{{"name", "envoy.filters.network.http_connection_manager"},
                    {"typed_config",
                     {{"@type",
                       "type.googleapis.com/"
                       "envoy.extensions.filters.network.http_connection_manager.v3."
                       "HttpConnectionManager"},
                      {"codec_type", "AUTO"},
                      {"stat_prefix", "prometheus"},
                      {"route_config",
                       {{"name", "prometheus_route"},
                        {"virtual_hosts",
                         ojson::array(
                             {{{"name", "prometheus_host"},
                               {"domains", ojson::array({"*"})},
                               {"routes",
                                ojson::array(
                                    {{{"match", {{"path", "/ready"}, {"headers", get_only}}},
                                      {"route", {{"cluster", "admin_port_cluster"}}}},
                                     {{"match", {{"prefix", "/metrics"}, {"headers", get_only}}},
                                      {"route",
                                       {{"prefix_rewrite", "/stats/prometheus"},
                                        {"cluster", "admin_port_cluster"}}}}})}}})}}},
                      {"http_filters",
                       ojson::array(
                           {{{"name", "envoy.filters.http.router"},
                             {"typed_config",
                              {{"@type",
                                "type.googleapis.com/"
                                "envoy.extensions.filters.http.router.v3.Router"}}}}})}}}}})}}})}};

  ojson bootstrap = {
      {"node",
       {{"cluster", "gateway"},
        {"id", "gateway-proxy"},  // replaced by --service-node <pod>.<namespace>
        {"metadata", {{"role", f.ns + "~gateway-proxy"}}}}},
      {"layered_runtime",
       {{"layers", ojson::array({{{"name", "static_layer"},
                                  {"static_layer",
                                   {{"overload", {{"global_downstream_max_connections", 250000}}},
                                    {"upstream", {{"healthy_panic_threshold", {{"value", 50}}}}}}}},
                                 {{"name", "admin_layer"}, {"admin_layer", ojson::object()}}})}}},
      {"static_resources",
       {{"listeners", ojson::array({prometheus_listener})},
        {"clusters",
         ojson::array(
             {xds, static_cluster("wasm-cache", "STRICT_DNS", gloo_host, 9979, false),
              static_cluster("admin_port_cluster", "STATIC", "127.0.0.1", 19000, false)})}}},
      {"dynamic_resources",
       {{"ads_config",
         {{"api_type", "GRPC"},
          {"transport_api_version", "V3"},
          {"rate_limit_settings", ojson::object()},
          {"grpc_services", ojson::array({{{"envoy_grpc", {{"cluster_name", xds_cluster}}}}})}}},
        {"cds_config", {{"ads", ojson::object()}, {"resource_api_version", "V3"}}},
        {"lds_config", {{"ads", ojson::object()}, {"resource_api_version", "V3"}}}}},
      {"admin",
       {{"address", {{"socket_address", {{"address", "127.0.0.1"}, {"port_value", 19000}}}}}}}};
  return to_yaml(bootstrap);
}

/// Settings `default` and the two Gateways of the default proxy, as Gloo's Helm chart makes them
/// (validation rejects errors by default: sluice's choice, see docs/kubernetes.md).
std::vector<ojson> default_resources(const install_flags& f) {
  std::vector<ojson> docs;
  docs.push_back({{"apiVersion", "gloo.solo.io/v1"},
                  {"kind", "Settings"},
                  {"metadata", meta("default", f.ns, "settings")},
                  {"spec",
                   {{"discoveryNamespace", f.ns},
                    {"kubernetesConfigSource", ojson::object()},
                    {"kubernetesSecretSource", ojson::object()},
                    {"kubernetesArtifactSource", ojson::object()},
                    {"refreshRate", "60s"},
                    {"gloo",
                     {{"xdsBindAddr", "0.0.0.0:9977"},
                      {"validationBindAddr", "0.0.0.0:9988"},
                      {"disableKubernetesDestinations", false}}},
                    {"gateway",
                     {{"readGatewaysFromAllNamespaces", false},
                      {"validation",
                       {{"proxyValidationServerAddr", "gloo:9988"},
                        {"serverEnabled", true},
                        {"alwaysAccept", false},
                        {"allowWarnings", true},
                        {"validationWebhookTlsCert", "/etc/gateway/validation-certs/tls.crt"},
                        {"validationWebhookTlsKey", "/etc/gateway/validation-certs/tls.key"}}}}},
                    {"discovery", {{"fdsMode", "WHITELIST"}}}}}});
  for (auto [name, port, ssl] :
       {std::tuple{"gateway-proxy", 8080, false}, std::tuple{"gateway-proxy-ssl", 8443, true}}) {
    ojson spec = {{"bindAddress", "::"}, {"bindPort", port}};
    if (ssl) {
      spec["ssl"] = true;
    }
    spec["httpGateway"] = ojson::object();
    spec["useProxyProto"] = false;
    spec["proxyNames"] = ojson::array({"gateway-proxy"});
    docs.push_back({{"apiVersion", "gateway.solo.io/v1"},
                    {"kind", "Gateway"},
                    {"metadata", meta(name, f.ns, "gateway-proxy")},
                    {"spec", std::move(spec)}});
  }
  return docs;
}

std::vector<ojson> render_kubernetes(const install_flags& f) {
  std::vector<ojson> docs;
  docs.push_back({{"apiVersion", "v1"},
                  {"kind", "Namespace"},
                  {"metadata", {{"name", f.ns}, {"labels", common_labels("namespace")}}}});
  for (const auto& k : model::all_kinds()) {
    if (stored_as_crd(k.kind)) {
      docs.push_back(crd_for(k));
    }
  }

  // Service accounts: one per role, so RBAC can be least privilege per role.
  for (const char* account :
       {"gloo", "gateway", "discovery", "gateway-proxy", "certgen", "gloo-resource-rollout"}) {
    docs.push_back({{"apiVersion", "v1"},
                    {"kind", "ServiceAccount"},
                    {"metadata", meta(account, f.ns, account)},
                    {"automountServiceAccountToken", std::string(account) != "gateway-proxy"}});
  }

  // RBAC. gloo: reads every input, writes statuses of the gloo.solo.io and enterprise kinds and
  // the gloo-usage ConfigMap, holds the leader Lease.
  const std::string suffix = "-" + f.ns;
  {
    ojson rules = gloo_kinds_read();
    add_status_rules(rules, false);
    add_role(docs, "ClusterRole", "sluice-gloo" + suffix, "gloo", std::move(rules), f, "gloo");
    add_role(docs, "Role", "sluice-gloo", "gloo",
             ojson::array({leases_rule(), rule({""}, {"configmaps"}, {"get", "update", "patch"},
                                               ojson::array({"gloo-usage"}))}),
             f, "gloo");
  }
  // gateway: the webhook validates against the same inputs; writes gateway.solo.io statuses.
  {
    ojson rules = gloo_kinds_read();
    add_status_rules(rules, true);
    add_role(docs, "ClusterRole", "sluice-gateway" + suffix, "gateway", std::move(rules), f,
             "gateway");
    add_role(docs, "Role", "sluice-gateway", "gateway", ojson::array({leases_rule()}), f,
             "gateway");
  }
  // discovery: reads Services and their endpoints, writes the Upstreams it discovers.
  {
    ojson rules
        = ojson::array({rule({""}, {"services", "endpoints", "namespaces"}, read_verbs),
                        rule({"discovery.k8s.io"}, {"endpointslices"}, read_verbs),
                        rule({"gloo.solo.io"}, {"settings"}, read_verbs),
                        rule({"gloo.solo.io"}, {"upstreams"},
                             {"get", "list", "watch", "create", "update", "patch", "delete"})});
    add_role(docs, "ClusterRole", "sluice-discovery" + suffix, "discovery", std::move(rules), f,
             "discovery");
    add_role(docs, "Role", "sluice-discovery", "discovery", ojson::array({leases_rule()}), f,
             "discovery");
  }
  // certgen: its own Secret, and the caBundle of its own webhook configuration.
  add_role(docs, "Role", "sluice-certgen", "certgen",
           ojson::array({rule({""}, {"secrets"}, {"create"}),
                         rule({""}, {"secrets"}, {"get", "update", "patch"},
                              ojson::array({"gateway-validation-certs"}))}),
           f, "certgen");
  add_role(docs, "ClusterRole", "sluice-certgen" + suffix, "certgen",
           ojson::array(
               {rule({"admissionregistration.k8s.io"}, {"validatingwebhookconfigurations"},
                     {"get", "update", "patch"}, ojson::array({webhook_configuration_name(f)}))}),
           f, "certgen");
  // rollout: creates the default Settings and Gateways when missing, never updates them.
  add_role(docs, "Role", "sluice-resource-rollout", "gloo-resource-rollout",
           ojson::array({rule({"gloo.solo.io"}, {"settings"}, {"get", "create"}),
                         rule({"gateway.solo.io"}, {"gateways"}, {"get", "create"})}),
           f, "gloo-resource-rollout");

  // ConfigMaps.
  docs.push_back({{"apiVersion", "v1"},
                  {"kind", "ConfigMap"},
                  {"metadata", meta("gateway-proxy-envoy-config", f.ns, "gateway-proxy")},
                  {"data", {{"envoy.yaml", envoy_bootstrap(f)}}}});
  docs.push_back({{"apiVersion", "v1"},
                  {"kind", "ConfigMap"},
                  {"metadata", meta("gloo-usage", f.ns, "gloo")},
                  {"data", ojson::object()}});

  // Services.
  auto service_port = [](const std::string& name, int number, int target) {
    return ojson{{"name", name}, {"port", number}, {"targetPort", target}, {"protocol", "TCP"}};
  };
  docs.push_back({{"apiVersion", "v1"},
                  {"kind", "Service"},
                  {"metadata", meta("gloo", f.ns, "gloo")},
                  {"spec",
                   {{"type", "ClusterIP"},
                    {"selector", {{"gloo", "gloo"}}},
                    {"ports", ojson::array({service_port("http-metrics", 9966, 9966),
                                            service_port("grpc-xds", 9977, 9977),
                                            service_port("wasm-cache", 9979, 9979),
                                            service_port("grpc-validation", 9988, 9988)})}}}});
  docs.push_back({{"apiVersion", "v1"},
                  {"kind", "Service"},
                  {"metadata", meta("gateway", f.ns, "gateway")},
                  {"spec",
                   {{"type", "ClusterIP"},
                    {"selector", {{"gloo", "gateway"}}},
                    {"ports", ojson::array({service_port("https", 443, 8443)})}}}});
  docs.push_back({{"apiVersion", "v1"},
                  {"kind", "Service"},
                  {"metadata", meta("gateway-proxy", f.ns, "gateway-proxy")},
                  {"spec",
                   {{"type", "LoadBalancer"},
                    {"selector", {{"gloo", "gateway-proxy"}}},
                    {"ports", ojson::array({service_port("http", 80, 8080),
                                            service_port("https", 443, 8443)})}}}});

  // Deployments: one sluice image in three roles, and Envoy.
  docs.push_back(deployment(
      "gloo", f, "gloo",
      sluice_container(
          "gloo", f,
          serve_args(
              "gloo", f,
              ojson::array({"--xds-addr=0.0.0.0:9977", "--validation-addr=0.0.0.0:9988",
                            "--metrics-addr=0.0.0.0:9966", "--wasm-cache-addr=0.0.0.0:9979"})),
          ojson::array({port("http-metrics", 9966), port("grpc-xds", 9977),
                        port("wasm-cache", 9979), port("grpc-validation", 9988)}),
          tcp_probe(9977), data_mount()),
      data_volume(),
      {{"prometheus.io/scrape", "true"},
       {"prometheus.io/port", "9966"},
       {"prometheus.io/path", "/metrics"}}));
  {
    ojson mounts = data_mount();
    mounts.push_back({{"name", "validation-certs"},
                      {"mountPath", "/etc/gateway/validation-certs"},
                      {"readOnly", true}});
    ojson volumes = data_volume();
    volumes.push_back(
        {{"name", "validation-certs"},
         {"secret", {{"secretName", "gateway-validation-certs"}, {"defaultMode", 420}}}});
    ojson readiness = {{"httpGet", {{"path", "/healthz"}, {"port", 8443}, {"scheme", "HTTPS"}}},
                       {"periodSeconds", 5},
                       {"failureThreshold", 3}};
    docs.push_back(deployment(
        "gateway", f, "gateway",
        sluice_container("gateway", f,
                         serve_args("gateway", f,
                                    ojson::array({"--webhook-addr=0.0.0.0:8443",
                                                  "--webhook-cert=/etc/gateway/validation-certs/"
                                                  "tls.crt",
                                                  "--webhook-key=/etc/gateway/validation-certs/"
                                                  "tls.key"})),
                         ojson::array({port("https", 8443)}), std::move(readiness),
                         std::move(mounts)),
        std::move(volumes)));
  }
  docs.push_back(
      deployment("discovery", f, "discovery",
                 sluice_container("discovery", f, serve_args("discovery", f, ojson::array()),
                                  ojson::array(), nullptr, data_mount()),
                 data_volume()));
  {
    ojson envoy
        = {{"name", "gateway-proxy"},
           {"image", f.envoy_image},
           {"imagePullPolicy", f.pull_policy},
           {"command", ojson::array({"envoy"})},
           {"args", ojson::array({"--config-path", "/etc/envoy/envoy.yaml", "--disable-hot-restart",
                                  "--service-node", "$(POD_NAME).$(POD_NAMESPACE)",
                                  "--service-cluster", "gateway", "--log-level", "info"})},
           {"env", env_from_pod()},
           {"ports",
            ojson::array({port("http", 8080), port("https", 8443), port("http-monitoring", 8081)})},
           {"readinessProbe",
            {{"httpGet", {{"path", "/ready"}, {"port", 8081}}},
             {"periodSeconds", 5},
             {"failureThreshold", 3}}},
           {"resources", {{"requests", {{"cpu", "250m"}, {"memory", "128Mi"}}}}},
           {"securityContext", restricted_container_security()},
           {"volumeMounts",
            ojson::array(
                {{{"name", "envoy-config"}, {"mountPath", "/etc/envoy"}, {"readOnly", true}}})}};
    docs.push_back(deployment(
        "gateway-proxy", f, "gateway-proxy", std::move(envoy),
        ojson::array(
            {{{"name", "envoy-config"}, {"configMap", {{"name", "gateway-proxy-envoy-config"}}}}}),
        {{"prometheus.io/scrape", "true"},
         {"prometheus.io/port", "8081"},
         {"prometheus.io/path", "/metrics"}}));
  }

  // Jobs. Completed Jobs are removed after a minute, so re-applying the manifests (an upgrade)
  // creates them afresh instead of failing on their immutable pod template; both are idempotent.
  auto job = [&](const std::string& name, const std::string& account, ojson args) {
    ojson c = {{"name", name},
               {"image", f.image},
               {"imagePullPolicy", f.pull_policy},
               {"args", std::move(args)},
               {"resources", {{"requests", {{"cpu", "10m"}, {"memory", "32Mi"}}}}},
               {"securityContext", restricted_container_security()}};
    return ojson{{"apiVersion", "batch/v1"},
                 {"kind", "Job"},
                 {"metadata", meta(name, f.ns, name)},
                 {"spec",
                  {{"ttlSecondsAfterFinished", 60},
                   {"backoffLimit", 6},
                   {"template",
                    {{"metadata", {{"labels", common_labels(name)}}},
                     {"spec",
                      {{"serviceAccountName", account},
                       {"restartPolicy", "OnFailure"},
                       {"securityContext", pod_security()},
                       {"containers", ojson::array({std::move(c)})}}}}}}}};
  };
  docs.push_back(job(
      "gateway-certgen", "certgen",
      ojson::array({"certgen", "--secret-name=gateway-validation-certs", "--svc-name=gateway",
                    "--namespace=" + f.ns, "--cluster-domain=" + f.cluster_domain,
                    "--validating-webhook-configuration-name=" + webhook_configuration_name(f)})));
  docs.push_back(job("gloo-resource-rollout", "gloo-resource-rollout",
                     ojson::array({"install", "rollout", "--namespace=" + f.ns})));

  // The validating webhook (gloo.md §3.6 rules), served by the gateway Service. caBundle is left
  // out: certgen fills it, and `kubectl apply` leaves fields it never set alone. VirtualHostOptions
  // and RouteOptions are judged on delete too (Gloo's chart: create and update only): deleting
  // one that a VirtualService or RouteTable references is a new warning, refused when Settings
  // disallow warnings, as deleting a used Upstream is.
  ojson client
      = {{"service",
          {{"name", "gateway"}, {"namespace", f.ns}, {"path", "/validation"}, {"port", 443}}}};
  auto webhook = [&](const std::string& name, ojson rules) {
    return ojson{{"name", name},
                 {"clientConfig", client},
                 {"rules", std::move(rules)},
                 {"failurePolicy", f.failure_policy},
                 {"matchPolicy", "Equivalent"},
                 {"sideEffects", "None"},
                 {"timeoutSeconds", 10},
                 {"admissionReviewVersions", ojson::array({"v1"})}};
  };
  auto admission_rule = [](ojson operations, const std::string& group, ojson resources) {
    return ojson{{"operations", std::move(operations)},
                 {"apiGroups", ojson::array({group})},
                 {"apiVersions", ojson::array({"v1"})},
                 {"resources", std::move(resources)}};
  };
  docs.push_back(
      {{"apiVersion", "admissionregistration.k8s.io/v1"},
       {"kind", "ValidatingWebhookConfiguration"},
       {"metadata", meta(webhook_configuration_name(f), "", "gateway")},
       {"webhooks",
        ojson::array(
            {webhook("gloo." + f.ns + ".svc",
                     ojson::array(
                         {admission_rule({"CREATE", "UPDATE", "DELETE"}, "gateway.solo.io",
                                         {"virtualservices", "routetables", "virtualhostoptions",
                                          "routeoptions"}),
                          admission_rule({"CREATE", "UPDATE"}, "gateway.solo.io", {"gateways"}),
                          admission_rule({"CREATE", "UPDATE", "DELETE"}, "gloo.solo.io",
                                         {"upstreams"})})),
             webhook(
                 "kube." + f.ns + ".svc",
                 ojson::array({admission_rule({"DELETE"}, "", {"secrets", "namespaces"})}))})}});
  return docs;
}

std::string render_stream(const std::vector<ojson>& docs, const std::string& header) {
  std::string out = header;
  for (size_t i = 0; i < docs.size(); ++i) {
    out += "---\n";
    out += to_yaml(docs[i]);
  }
  return out;
}

/// The `message` of a Kubernetes Status body (or the start of the body), for error messages.
std::string status_message(const adapters::kubernetes_response& response) {
  auto body = nlohmann::json::parse(response.body, nullptr, false);
  if (body.is_object() && body.contains("message") && body["message"].is_string()) {
    return "HTTP " + std::to_string(response.status) + ": " + body["message"].get<std::string>();
  }
  return "HTTP " + std::to_string(response.status) + ": " + response.body.substr(0, 300);
}

bool valid_namespace(const std::string& ns) {
  if (ns.empty() || ns.size() > 63 || ns.front() == '-' || ns.back() == '-') {
    return false;
  }
  return std::all_of(ns.begin(), ns.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
  });
}

int run_kubernetes(const install_flags& f) {
  if (!valid_namespace(f.ns)) {
    std::cerr << "error: --namespace \"" << f.ns
              << "\" is not a valid namespace name (lower-case letters, digits and '-', at most "
                 "63 characters)\n";
    return 2;
  }
  if (f.failure_policy != "Ignore" && f.failure_policy != "Fail") {
    std::cerr << "error: --failure-policy must be Ignore or Fail\n";
    return 2;
  }
  if (f.defaults_only) {
    std::cout << render_stream(default_resources(f),
                               "# sluice " + std::string(sluice_version)
                                   + ": the default Settings and Gateways (namespace " + f.ns
                                   + ").\n");
    return 0;
  }
  std::cout << render_stream(
      render_kubernetes(f),
      "# sluice " + std::string(sluice_version) + " for Kubernetes, namespace " + f.ns
          + ". Generated by `sluice install kubernetes`; do not edit, re-render.\n"
            "# Install or upgrade: sluice install kubernetes | kubectl apply -f -\n");
  return 0;
}

/// Creates each default resource that does not exist; waits (up to the timeout) for the CRDs,
/// which `kubectl apply` may have created seconds earlier.
int run_rollout(const install_flags& f) {
  auto creds = adapters::default_credentials(f.kubeconfig);
  if (!creds) {
    std::cerr << "error: " << describe(creds.error()) << "\n";
    return 1;
  }
  auto client = adapters::kubernetes_client::make(*creds);
  if (!client) {
    std::cerr << "error: " << describe(client.error()) << "\n";
    return 1;
  }
  auto& api = **client;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(f.timeout_seconds);
  for (const auto& doc : default_resources(f)) {
    const std::string api_version = doc["apiVersion"].get<std::string>();
    const std::string kind_name = doc["kind"].get<std::string>();
    const std::string name = doc["metadata"]["name"].get<std::string>();
    auto kind = model::parse_kind(kind_name);
    if (!kind) {
      std::cerr << "error: unknown kind " << kind_name << "\n";
      return 1;
    }
    const std::string collection = "/apis/" + api_version + "/namespaces/" + f.ns + "/"
                                   + std::string(model::info(*kind).plural);
    const std::string what = kind_name + " " + f.ns + "/" + name;
    for (;;) {
      auto got = api.request("GET", collection + "/" + name);
      if (!got) {
        std::cerr << "error: " << describe(got.error()) << "\n";
        return 1;
      }
      if (got->status == 200) {
        std::cout << what << ": exists, left as it is\n";
        break;
      }
      if (got->status == 404) {
        auto made = api.request("POST", collection, ojson(doc).dump());
        if (!made) {
          std::cerr << "error: " << describe(made.error()) << "\n";
          return 1;
        }
        if (made->status == 201 || made->status == 200) {
          std::cout << what << ": created\n";
          break;
        }
        if (made->status == 409) {
          std::cout << what << ": exists, left as it is\n";
          break;
        }
        if (made->status != 404) {  // 404: the CRD is not established yet
          std::cerr << "error: creating " << what << ": " << status_message(*made) << "\n";
          return 1;
        }
      } else if (got->status != 503) {
        std::cerr << "error: reading " << what << ": " << status_message(*got) << "\n";
        return 1;
      }
      if (std::chrono::steady_clock::now() >= deadline) {
        std::cerr << "error: " << what << ": the " << model::info(*kind).plural << "."
                  << model::info(*kind).group << " CRD did not become available within "
                  << f.timeout_seconds << "s (apply the manifests first)\n";
        return 1;
      }
      std::this_thread::sleep_for(std::chrono::seconds(2));
    }
  }
  return 0;
}

}  // namespace

command_fn setup_install(CLI::App& app) {
  auto flags = std::make_shared<install_flags>();
  app.require_subcommand(1);
  auto* k8s = app.add_subcommand(
      "kubernetes",
      "print the Kubernetes manifests (CRDs, RBAC, Deployments, Services, webhook, Jobs); "
      "install with: sluice install kubernetes | kubectl apply -f -");
  k8s->add_option("-n,--namespace", flags->ns, "namespace to install into")->capture_default_str();
  k8s->add_option("--image", flags->image, "sluice image (gloo, gateway, discovery, Jobs)")
      ->capture_default_str();
  k8s->add_option("--envoy-image", flags->envoy_image, "Envoy image of gateway-proxy")
      ->capture_default_str();
  k8s->add_option("--image-pull-policy", flags->pull_policy, "Always|IfNotPresent|Never")
      ->capture_default_str();
  k8s->add_option("--cluster-domain", flags->cluster_domain, "the cluster's DNS domain")
      ->capture_default_str();
  k8s->add_option("--failure-policy", flags->failure_policy,
                  "webhook failurePolicy: Ignore (writes pass when sluice is unreachable) or "
                  "Fail")
      ->capture_default_str();
  k8s->add_flag("--defaults", flags->defaults_only,
                "print only the default Settings and Gateways (the rollout Job creates them)");
  auto* rollout = app.add_subcommand(
      "rollout",
      "create the default Settings and Gateways in a cluster when missing (run by the "
      "gloo-resource-rollout Job)");
  rollout->add_option("-n,--namespace", flags->ns, "namespace sluice is installed in")
      ->capture_default_str();
  rollout->add_option("--kubeconfig", flags->kubeconfig,
                      "kubeconfig file (default: in-cluster, then $KUBECONFIG, ~/.kube/config)");
  rollout->add_option("--timeout-seconds", flags->timeout_seconds, "how long to wait for the CRDs")
      ->capture_default_str();
  return [flags, k8s, rollout] {
    if (k8s->parsed()) {
      return run_kubernetes(*flags);
    }
    if (rollout->parsed()) {
      return run_rollout(*flags);
    }
    return 2;
  };
}

namespace {
const command_registration registration{
    "install", "render deployments: `sluice install kubernetes | kubectl apply -f -`",
    setup_install};
}  // namespace

}  // namespace sluice::cli
