#include "model/resource_decoder.hpp"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/message.h>
#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/type_resolver.h>
#include <google/protobuf/util/type_resolver_util.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <map>
#include <memory>

#include "model/decode_message.hpp"
#include "model/decode_scalar.hpp"
#include "model/logging.hpp"
#include "model/yaml_tree.hpp"
#include "solo/gloo.pb.h"

namespace sluice::model {

namespace pb = google::protobuf;

std::string decode_error::to_string() const {
  std::string out;
  if (!file.empty()) {
    out += file;
  }
  if (line > 0) {
    out += (out.empty() ? "" : ":") + std::to_string(line);
    if (column > 0) {
      out += ":" + std::to_string(column);
    }
  }
  if (!out.empty()) {
    out += ": ";
  }
  if (kind) {
    out += name_of(*kind);
    if (!name.empty()) {
      out += ' ';
      if (!ns.empty()) {
        out += ns + '.';
      }
      out += name;
    }
    out += ": ";
  } else if (!name.empty()) {
    out += (ns.empty() ? "" : ns + ".") + name + ": ";
  }
  if (!field.empty()) {
    out += field + ": ";
  }
  out += message;
  return out;
}

namespace {

// The top-level keys of the Kubernetes form; `status` is read by nobody (statuses are ours).
constexpr std::string_view kube_keys[] = {"apiVersion", "kind", "metadata", "spec", "status"};

// ObjectMeta fields that Gloo's Metadata does not carry. `kubectl get -o yaml` output has them,
// and solo-kit drops them when converting a CRD object, so the Kubernetes form accepts them.
const std::vector<std::string_view> kube_only_metadata = {
    "uid",        "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds",
    "managedFields", "selfLink",       "finalizers",        "generateName"};

const yaml_node* lookup(const yaml_node& mapping, std::string_view key) {
  for (const auto& [k, v] : mapping.entries) {
    if (k->is_scalar() && k->value == key) {
      return v.get();
    }
  }
  return nullptr;
}

std::string scalar_text(const yaml_node* node) {
  return node != nullptr && node->is_scalar() ? node->value : std::string();
}

const kind_info* kind_by_name(std::string_view name) {
  for (const auto& k : all_kinds()) {
    if (k.name == name) {
      return &k;
    }
  }
  return nullptr;
}

std::string kind_names() {
  std::string out;
  for (const auto& k : all_kinds()) {
    out += (out.empty() ? "" : ", ") + std::string(k.name);
  }
  return out;
}

// Service spec fields that sluice accepts and does not keep: a manifest or `kubectl get -o yaml`
// output loads as written, while a misspelt field is still an error.
const std::vector<std::string_view> service_spec_unread = {
    "clusterIPs",       "externalIPs",         "externalName",
    "externalTrafficPolicy", "internalTrafficPolicy", "healthCheckNodePort",
    "ipFamilies",       "ipFamilyPolicy",      "loadBalancerIP",
    "loadBalancerClass", "loadBalancerSourceRanges", "allocateLoadBalancerNodePorts",
    "publishNotReadyAddresses", "sessionAffinity", "sessionAffinityConfig",
    "topologyKeys",     "trafficDistribution"};

// Decodes one document. Collects every problem it can find rather than stopping at the first.
class document_decoder {
 public:
  document_decoder(const yaml_node& root, const decode_context& ctx) : root_(root), ctx_(ctx) {}

  std::optional<decoded_resource> run() {
    if (!root_.is_mapping()) {
      issue(root_.mark, "",
            "a resource document must be a mapping (metadata and spec fields), got "
                + root_.describe());
      return std::nullopt;
    }
    identify_resource();
    check_duplicate_top_keys(true);
    if (!determine_kind()) {
      return std::nullopt;
    }
    if (kube_form_ || kube_secret_) {
      check_duplicate_top_keys(false);  // in the flat form the field decoder reports them
    }
    std::shared_ptr<pb::Message> message = new_message(*kind_);
    if (kube_secret_) {
      decode_kube_secret(static_cast<::gloo::solo::io::Secret&>(*message));
    } else if (kube_form_) {
      decode_kube_form(*message);
    } else {
      decoder_.decode_fields(root_, *message, "", field_options{{"apiVersion", "kind"}, {}});
    }
    finish_metadata(*message);
    if (!issues_.empty()) {
      return std::nullopt;
    }
    decoded_resource out;
    out.key = resource_key{*kind_, ns_, name_};
    out.message = std::move(message);
    out.line = root_.mark.line;
    return out;
  }

  /// The issues as decode errors, with as much of the resource identity as is known.
  std::vector<decode_error> errors() const {
    std::vector<decode_error> out;
    out.reserve(issues_.size());
    for (const auto& i : issues_) {
      decode_error e;
      e.file = ctx_.file;
      e.line = i.mark.line;
      e.column = i.mark.column;
      e.kind = kind_;
      e.ns = ns_;
      e.name = name_;
      e.field = i.field;
      e.message = i.message;
      out.push_back(std::move(e));
    }
    return out;
  }

 private:
  void issue(yaml_mark mark, std::string field, std::string message) {
    decoder_.report(mark, std::move(field), std::move(message));
  }

  // Name and namespace are read before the full decode so that every error can name the
  // resource, even an error found before `metadata` in the file.
  void identify_resource() {
    if (const yaml_node* meta = lookup(root_, "metadata"); meta != nullptr && meta->is_mapping()) {
      metadata_ = meta;
      name_ = sanitize_utf8(scalar_text(lookup(*meta, "name")));
      ns_ = sanitize_utf8(scalar_text(lookup(*meta, "namespace")));
    }
    if (ns_.empty()) {
      ns_ = ctx_.default_namespace;
    }
  }

  // `identity` checks apiVersion and kind only; otherwise every other top-level key.
  void check_duplicate_top_keys(bool identity) {
    std::map<std::string, int> seen;
    for (const auto& [k, v] : root_.entries) {
      if (!k->is_scalar() || identity != (k->value == "apiVersion" || k->value == "kind")) {
        continue;
      }
      if (!seen.emplace(k->value, k->mark.line).second) {
        issue(k->mark, k->value,
              "key given more than once (first at line " + std::to_string(seen[k->value]) + ")");
      }
    }
  }

  bool determine_kind() {
    const yaml_node* api = lookup(root_, "apiVersion");
    const yaml_node* kind = lookup(root_, "kind");
    for (const auto& [node, field] : {std::pair{api, "apiVersion"}, std::pair{kind, "kind"}}) {
      if (node != nullptr && !node->is_scalar()) {
        issue(node->mark, field, std::string("expected a string, got ") + node->describe());
        return false;
      }
    }
    std::string api_text = scalar_text(api);
    std::string kind_text = scalar_text(kind);

    if (api_text == "v1") {
      if (kind_text != "Secret" && kind_text != "Service") {
        issue(kind != nullptr ? kind->mark : api->mark, "kind",
              "apiVersion v1 kind \"" + kind_text
                  + "\" is not read by sluice; of the core v1 kinds only Secret (type "
                    "kubernetes.io/tls) and Service are");
        return false;
      }
      kube_secret_ = kind_text == "Secret";
      kube_form_ = !kube_secret_;
      kind_ = kube_secret_ ? resource_kind::secret : resource_kind::service;
      if (ctx_.expected_kind && *ctx_.expected_kind != *kind_) {
        issue(kind->mark, "kind",
              "kind " + kind_text + " does not match the kind expected here, "
                  + std::string(name_of(*ctx_.expected_kind)));
        return false;
      }
      return true;
    }

    bool has_spec = lookup(root_, "spec") != nullptr;
    bool only_kube_keys = std::all_of(root_.entries.begin(), root_.entries.end(), [](const auto& e) {
      return e.first->is_scalar()
             && std::find(std::begin(kube_keys), std::end(kube_keys), e.first->value)
                    != std::end(kube_keys);
    });
    kube_form_ = has_spec || (api != nullptr && only_kube_keys);

    std::optional<resource_kind> written;
    if (kind != nullptr) {
      const kind_info* k = kind_by_name(kind_text);
      if (k == nullptr) {
        issue(kind->mark, "kind", "unknown kind \"" + kind_text + "\"; valid kinds: " + kind_names());
        return false;
      }
      written = k->kind;
    }
    // The Kubernetes form names its kind; when it does not, the directory's kind is used.
    kind_ = written ? written : ctx_.expected_kind;
    if (!kind_) {
      issue(root_.mark, "kind",
            "cannot tell the resource kind: the document has no kind and none is expected "
            "here (write apiVersion and kind, or put the file in a kind's directory)");
      return false;
    }
    if (written && ctx_.expected_kind && *written != *ctx_.expected_kind) {
      issue(kind->mark, "kind",
            "kind " + kind_text + " does not match the kind expected here, "
                + std::string(name_of(*ctx_.expected_kind)));
      return false;
    }
    if (api != nullptr && api_text != api_version_of(*kind_)) {
      issue(api->mark, "apiVersion",
            "apiVersion \"" + api_text + "\" does not match kind " + std::string(name_of(*kind_))
                + " (expected \"" + api_version_of(*kind_) + "\")");
      return false;
    }
    return true;
  }

  pb::Message* metadata_message(pb::Message& message) {
    const pb::FieldDescriptor* f = message.GetDescriptor()->FindFieldByName("metadata");
    return f == nullptr ? nullptr : message.GetReflection()->MutableMessage(&message, f);
  }

  void decode_kube_metadata(pb::Message& message) {
    if (metadata_ == nullptr) {
      if (const yaml_node* meta = lookup(root_, "metadata"); meta != nullptr && !meta->is_null()) {
        issue(meta->mark, "metadata", "expected a mapping, got " + meta->describe());
      }
      return;
    }
    if (pb::Message* meta = metadata_message(message)) {
      decoder_.decode_fields(*metadata_, *meta, "metadata", field_options{kube_only_metadata, {}});
    }
  }

  void decode_kube_form(pb::Message& message) {
    for (const auto& [k, v] : root_.entries) {
      if (!k->is_scalar()
          || std::find(std::begin(kube_keys), std::end(kube_keys), k->value) == std::end(kube_keys)) {
        issue(k->mark, k->is_scalar() ? k->value : std::string(),
              "unknown top-level field \"" + (k->is_scalar() ? k->value : k->describe())
                  + "\" in the Kubernetes form; valid fields: apiVersion, kind, metadata, spec, "
                    "status (or drop apiVersion/kind/spec for Gloo's flat form)");
      }
    }
    decode_kube_metadata(message);
    if (const yaml_node* spec = lookup(root_, "spec"); spec != nullptr && !spec->is_null()) {
      decoder_.decode_fields(
          *spec, message, "",
          field_options{*kind_ == resource_kind::service ? service_spec_unread
                                                         : std::vector<std::string_view>{},
                        {"metadata", "namespacedStatuses"}});
    }
  }

  // A Kubernetes TLS Secret becomes a Gloo Secret with tls{certChain, privateKey, rootCa}, as
  // Gloo's Kubernetes secret converter does.
  void decode_kube_secret(::gloo::solo::io::Secret& secret) {
    static constexpr std::string_view allowed[] = {"apiVersion", "kind", "metadata", "type",
                                                   "data", "stringData", "immutable"};
    for (const auto& [k, v] : root_.entries) {
      if (!k->is_scalar()
          || std::find(std::begin(allowed), std::end(allowed), k->value) == std::end(allowed)) {
        issue(k->mark, k->is_scalar() ? k->value : std::string(),
              "unknown field in a Kubernetes Secret; valid fields: apiVersion, kind, metadata, "
              "type, data, stringData, immutable");
      }
    }
    decode_kube_metadata(secret);

    const yaml_node* type = lookup(root_, "type");
    std::string type_text = scalar_text(type);
    if (type_text != "kubernetes.io/tls") {
      issue(type != nullptr ? type->mark : root_.mark, "type",
            "Secret type \"" + (type_text.empty() ? std::string("Opaque") : type_text)
                + "\" is not supported; sluice reads Kubernetes Secrets of type kubernetes.io/tls "
                  "(tls.crt, tls.key, optional ca.crt)");
      return;
    }
    std::map<std::string, std::string> values;
    auto read_section = [&](std::string_view section, bool base64) {
      const yaml_node* node = lookup(root_, section);
      if (node == nullptr || node->is_null()) {
        return;
      }
      if (!node->is_mapping()) {
        issue(node->mark, std::string(section), "expected a mapping, got " + node->describe());
        return;
      }
      for (const auto& [k, v] : node->entries) {
        std::string path = std::string(section) + "[\"" + (k->is_scalar() ? k->value : "") + "\"]";
        if (!k->is_scalar() || !(v->is_scalar() || v->is_null())) {
          issue(v->mark, path, "expected a string, got " + v->describe());
          continue;
        }
        if (!base64) {
          values[k->value] = v->value;
          continue;
        }
        std::string error;
        auto decoded = decode_base64(v->value, error);
        if (!decoded) {
          issue(v->mark, path, error + " (Secret data values are base64)");
          continue;
        }
        values[k->value] = std::move(*decoded);
      }
    };
    read_section("data", true);
    read_section("stringData", false);  // Kubernetes: stringData wins over data
    if (!issues_.empty()) {
      return;
    }
    if (values["tls.crt"].empty() || values["tls.key"].empty()) {
      issue(root_.mark, "data",
            "a kubernetes.io/tls Secret needs non-empty tls.crt and tls.key");
      return;
    }
    for (const char* key : {"tls.crt", "tls.key", "ca.crt"}) {
      if (!valid_utf8(values[key])) {
        issue(root_.mark, std::string("data[\"") + key + "\"]",
              "is not valid UTF-8 text; sluice reads PEM-encoded certificates and keys");
      }
    }
    if (!issues_.empty()) {
      return;
    }
    auto* tls = secret.mutable_tls();
    tls->set_cert_chain(values["tls.crt"]);
    tls->set_private_key(values["tls.key"]);
    tls->set_root_ca(values["ca.crt"]);
    tls->set_ocsp_staple(values["tls.ocsp-staple"]);
  }

  void finish_metadata(pb::Message& message) {
    // Statuses are sluice's output, not input: drop any written into the file so that a status
    // write-back does not look like a content change.
    if (const pb::FieldDescriptor* f =
            message.GetDescriptor()->FindFieldByName("namespaced_statuses")) {
      message.GetReflection()->ClearField(&message, f);
    }
    pb::Message* meta = metadata_message(message);
    if (meta == nullptr) {
      return;
    }
    const pb::Descriptor* d = meta->GetDescriptor();
    const pb::Reflection* r = meta->GetReflection();
    const pb::FieldDescriptor* name_field = d->FindFieldByName("name");
    const pb::FieldDescriptor* ns_field = d->FindFieldByName("namespace");
    name_ = r->GetString(*meta, name_field);
    std::string ns = r->GetString(*meta, ns_field);
    if (ns.empty()) {
      ns = ctx_.default_namespace;
      r->SetString(meta, ns_field, ns);
    }
    ns_ = ns;
    bool reported = std::any_of(issues_.begin(), issues_.end(),
                                [](const decode_issue& i) { return i.field == "metadata.name"; });
    if (name_.empty() && !reported) {
      issue(metadata_ != nullptr ? metadata_->mark : root_.mark, "metadata.name",
            "metadata.name is required");
    }
  }

  const yaml_node& root_;
  const decode_context& ctx_;
  std::vector<decode_issue> issues_;
  message_decoder decoder_{issues_};
  const yaml_node* metadata_ = nullptr;
  std::optional<resource_kind> kind_;
  std::string ns_;
  std::string name_;
  bool kube_form_ = false;
  bool kube_secret_ = false;
};

}  // namespace

decode_result decode_documents(std::string_view text, const decode_context& ctx,
                               const decode_limits& limits) {
  decode_result result;
  yaml_budget budget{limits.max_bytes, limits.max_depth, limits.max_nodes, limits.max_aliases,
                     limits.max_documents};
  std::map<resource_key, int> seen;  // key -> line of the first definition in this file
  // Each document is decoded as soon as it is parsed and its tree dropped; a later file-level
  // failure discards everything.
  auto decode_one = [&](yaml_document doc) {
    if (doc.root->is_null()) {
      return;  // `---` alone or only comments
    }
    document_decoder decoder(*doc.root, ctx);
    std::optional<decoded_resource> resource = decoder.run();
    if (!resource) {
      auto errors = decoder.errors();
      result.errors.insert(result.errors.end(), std::make_move_iterator(errors.begin()),
                           std::make_move_iterator(errors.end()));
      return;
    }
    if (auto [it, fresh] = seen.emplace(resource->key, resource->line); !fresh) {
      decode_error e;
      e.file = ctx.file;
      e.line = resource->line;
      e.kind = resource->key.kind;
      e.ns = resource->key.ns;
      e.name = resource->key.name;
      e.message = "duplicate resource: also defined at line " + std::to_string(it->second)
                  + " of this file; the first definition is kept";
      result.errors.push_back(std::move(e));
      return;
    }
    result.resources.push_back(std::move(*resource));
  };
  yaml_file file = yaml_read(text, budget, decode_one);
  if (file.failed) {
    decode_error e;
    e.file = ctx.file;
    e.line = file.at.line;
    e.column = file.at.column;
    e.kind = ctx.expected_kind;
    e.message = sanitize_utf8(file.error);
    log::model()->debug("decode failed file={} error=\"{}\"", ctx.file, e.to_string());
    result.resources.clear();
    result.errors.clear();
    result.errors.push_back(std::move(e));
    result.file_failed = true;
  }
  return result;
}

std::string to_json(const pb::Message& message, bool pretty) {
  pb::util::JsonPrintOptions options;
  options.add_whitespace = pretty;
  options.preserve_proto_field_names = false;
  std::string out;
  // Printing from deterministic bytes sorts map and Struct keys, so equal messages give equal
  // text (MessageToJsonString would follow hash-map order).
  static const std::unique_ptr<pb::util::TypeResolver> resolver(
      pb::util::NewTypeResolverForDescriptorPool("type.googleapis.com",
                                                 pb::DescriptorPool::generated_pool()));
  pb::util::Status status;
  if (message.GetDescriptor()->file()->pool() == pb::DescriptorPool::generated_pool()) {
    status = pb::util::BinaryToJsonString(
        resolver.get(), "type.googleapis.com/" + message.GetDescriptor()->full_name(),
        canonical_bytes(message), &out, options);
  } else {
    status = pb::util::MessageToJsonString(message, &out, options);
  }
  if (!status.ok()) {
    log::model()->warn("json rendering failed type={} error=\"{}\"",
                       message.GetDescriptor()->full_name(), status.ToString());
    return {};
  }
  return out;
}

namespace {

// yaml-cpp writes `|` without a chomping indicator or an indentation indicator, so a literal
// block reads back unchanged only for text ending in exactly one newline whose first line does not
// start with a space, and with no control characters (PEM certificates are the common case).
// yaml-cpp would write control characters such as '\r' raw into a plain scalar, where a reader
// takes them as line breaks; double quotes escape them.
bool has_control(const std::string& text) {
  return std::any_of(text.begin(), text.end(), [](char c) {
    auto u = static_cast<unsigned char>(c);
    return u < 0x20 || u == 0x7f;
  });
}

bool literal_safe(const std::string& text) {
  if (text.size() < 2 || text.back() != '\n' || text[text.size() - 2] == '\n' || text.front() == ' '
      || text.front() == '\t' || text.front() == '\n') {
    return false;
  }
  return std::none_of(text.begin(), text.end(), [](char c) {
    auto u = static_cast<unsigned char>(c);
    return (u < 0x20 && c != '\n' && c != '\t') || u == 0x7f;
  });
}

void emit_node(YAML::Emitter& out, const YAML::Node& node, bool top) {
  switch (node.Type()) {
    case YAML::NodeType::Map: {
      if (node.size() == 0) {
        out << YAML::Flow << YAML::BeginMap << YAML::EndMap;
        return;
      }
      out << YAML::BeginMap;
      // Gloo's files start with metadata; everything else keeps the JSON order (field numbers,
      // sorted map keys). Two passes rather than a sort: YAML::Node assignment writes through.
      for (int pass = top ? 0 : 1; pass < 2; ++pass) {
        for (auto it = node.begin(); it != node.end(); ++it) {
          const std::string& key = it->first.Scalar();
          if (top && (key == "metadata") != (pass == 0)) {
            continue;
          }
          out << YAML::Key;
          if (looks_like_non_string(key)) {
            out << YAML::DoubleQuoted;
          }
          out << key << YAML::Value;
          emit_node(out, it->second, false);
        }
      }
      out << YAML::EndMap;
      return;
    }
    case YAML::NodeType::Sequence:
      if (node.size() == 0) {
        out << YAML::Flow << YAML::BeginSeq << YAML::EndSeq;
        return;
      }
      out << YAML::BeginSeq;
      for (const auto& item : node) {
        emit_node(out, item, false);
      }
      out << YAML::EndSeq;
      return;
    case YAML::NodeType::Scalar: {
      const std::string& text = node.Scalar();
      // A JSON string (quoted, tag "!") must stay a string when read back.
      if (node.Tag() == "!") {
        if (text.find('\n') != std::string::npos) {
          out << (literal_safe(text) ? YAML::Literal : YAML::DoubleQuoted);
        } else if (looks_like_non_string(text) || text.front() == ' ' || text.back() == ' '
                   || has_control(text)) {
          out << YAML::DoubleQuoted;
        }
      }
      out << text;
      return;
    }
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined:
      out << YAML::Null;
      return;
  }
}

}  // namespace

std::string to_yaml(const pb::Message& message) {
  std::string json = to_json(message, false);
  if (json.empty()) {
    return {};
  }
  try {
    YAML::Node node = YAML::Load(json);
    YAML::Emitter out;
    out.SetIndent(2);
    emit_node(out, node, true);
    std::string text = out.c_str();
    text += '\n';
    return text;
  } catch (const YAML::Exception& e) {
    log::model()->warn("yaml rendering failed type={} error=\"{}\"",
                       message.GetDescriptor()->full_name(), e.what());
    return {};
  }
}

}  // namespace sluice::model
