#include "test/support/fake_kube_apiserver.hpp"

#include <httplib.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <shared_mutex>
#include <set>
#include <thread>

#include "model/resource_kind.hpp"

namespace sluice::test {

using json = nlohmann::json;
using namespace std::chrono_literals;

// ---------------------------------------------------------------------------------------------
// PKI

namespace {

struct x509_deleter {
  void operator()(X509* x) const { X509_free(x); }
};
struct pkey_deleter {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
using x509_ptr = std::unique_ptr<X509, x509_deleter>;
using pkey_ptr = std::unique_ptr<EVP_PKEY, pkey_deleter>;

pkey_ptr new_key() { return pkey_ptr(EVP_EC_gen("P-256")); }

void add_ext(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
  if (ext != nullptr) {
    X509_add_ext(cert, ext, -1);
    X509_EXTENSION_free(ext);
  }
}

x509_ptr new_cert(const char* cn, EVP_PKEY* key, X509* issuer, EVP_PKEY* issuer_key,
                  const std::vector<std::pair<int, const char*>>& exts) {
  static std::atomic<long> serial{1};
  x509_ptr cert(X509_new());
  X509_set_version(cert.get(), 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), serial++);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 7 * 24 * 3600);
  X509_set_pubkey(cert.get(), key);
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(cn),
                             -1, -1, 0);
  X509_set_issuer_name(cert.get(), issuer != nullptr ? X509_get_subject_name(issuer) : name);
  for (const auto& [nid, value] : exts) {
    add_ext(cert.get(), issuer != nullptr ? issuer : cert.get(), nid, value);
  }
  X509_sign(cert.get(), issuer_key, EVP_sha256());
  return cert;
}

std::string pem_of(X509* cert) {
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_X509(bio, cert);
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  std::string out(data, static_cast<size_t>(n));
  BIO_free(bio);
  return out;
}

std::string pem_of(EVP_PKEY* key) {
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(bio, key, nullptr, nullptr, 0, nullptr, nullptr);
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  std::string out(data, static_cast<size_t>(n));
  BIO_free(bio);
  return out;
}

x509_ptr cert_from(const std::string& pem) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  x509_ptr out(PEM_read_bio_X509(bio, nullptr, nullptr, nullptr));
  BIO_free(bio);
  return out;
}

pkey_ptr key_from(const std::string& pem) {
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  pkey_ptr out(PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr));
  BIO_free(bio);
  return out;
}

}  // namespace

test_pki test_pki::make(std::string_view client_name) {
  test_pki out;
  auto ca_key = new_key();
  auto ca = new_cert("sluice-test-ca", ca_key.get(), nullptr, ca_key.get(),
                     {{NID_basic_constraints, "critical,CA:TRUE"},
                      {NID_key_usage, "critical,keyCertSign,cRLSign"},
                      {NID_subject_key_identifier, "hash"}});
  auto server_key = new_key();
  auto server = new_cert("127.0.0.1", server_key.get(), ca.get(), ca_key.get(),
                         {{NID_basic_constraints, "critical,CA:FALSE"},
                          {NID_key_usage, "critical,digitalSignature,keyEncipherment"},
                          {NID_ext_key_usage, "serverAuth"},
                          {NID_subject_alt_name, "IP:127.0.0.1,DNS:localhost"}});
  auto client_key = new_key();
  std::string cn(client_name);
  auto client = new_cert(cn.c_str(), client_key.get(), ca.get(), ca_key.get(),
                         {{NID_basic_constraints, "critical,CA:FALSE"},
                          {NID_key_usage, "critical,digitalSignature,keyEncipherment"},
                          {NID_ext_key_usage, "clientAuth"}});
  out.ca_cert = pem_of(ca.get());
  out.ca_key = pem_of(ca_key.get());
  out.server_cert = pem_of(server.get());
  out.server_key = pem_of(server_key.get());
  out.client_cert = pem_of(client.get());
  out.client_key = pem_of(client_key.get());
  return out;
}

std::string base64_encode(std::string_view bytes) {
  static constexpr char table[]
      = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    uint32_t v = (uint8_t(bytes[i]) << 16) | (uint8_t(bytes[i + 1]) << 8) | uint8_t(bytes[i + 2]);
    out += table[(v >> 18) & 63];
    out += table[(v >> 12) & 63];
    out += table[(v >> 6) & 63];
    out += table[v & 63];
  }
  if (i + 1 == bytes.size()) {
    uint32_t v = uint8_t(bytes[i]) << 16;
    out += table[(v >> 18) & 63];
    out += table[(v >> 12) & 63];
    out += "==";
  } else if (i + 2 == bytes.size()) {
    uint32_t v = (uint8_t(bytes[i]) << 16) | (uint8_t(bytes[i + 1]) << 8);
    out += table[(v >> 18) & 63];
    out += table[(v >> 12) & 63];
    out += table[(v >> 6) & 63];
    out += '=';
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Server

namespace {

/// A resource type the server knows.
struct resource_type {
  std::string group;  ///< "" for the core group
  std::string version;
  std::string plural;
  std::string kind;
  bool namespaced = true;
  bool has_status = false;       ///< PUT on the object keeps the stored status
  bool core_list_items = false;  ///< list items come without apiVersion/kind
  /// A custom resource: an update must carry metadata.resourceVersion (the CRD strategy does not
  /// allow unconditional updates; the server answers 422 Invalid).
  bool custom = false;

  std::string api_version() const { return group.empty() ? version : group + "/" + version; }
  std::string prefix() const {
    return group.empty() ? "api/" + version : "apis/" + group + "/" + version;
  }
  std::string collection() const { return prefix() + "/" + plural; }
};

std::vector<resource_type> known_types() {
  std::vector<resource_type> out = {
      {"", "v1", "secrets", "Secret", true, false, true},
      {"", "v1", "configmaps", "ConfigMap", true, false, true},
      {"", "v1", "services", "Service", true, true, true},
      {"", "v1", "endpoints", "Endpoints", true, false, true},
      {"", "v1", "namespaces", "Namespace", false, true, true},
      {"discovery.k8s.io", "v1", "endpointslices", "EndpointSlice", true, false, true},
      {"coordination.k8s.io", "v1", "leases", "Lease", true, false, true},
  };
  for (const auto& k : model::all_kinds()) {
    if (k.group.empty()) {
      continue;  // a core kind (Service), served above
    }
    out.push_back({std::string(k.group), std::string(k.version), std::string(k.plural),
                   std::string(k.name), true, k.has_status, false, true});
  }
  return out;
}

/// A parsed request path.
struct api_target {
  const resource_type* type = nullptr;
  std::string ns;    ///< namespace in the path (namespaced kinds); empty = all namespaces
  std::string name;  ///< empty for a collection
  bool status = false;
};

json status_body(int code, const std::string& reason, const std::string& message) {
  return json{{"kind", "Status"},    {"apiVersion", "v1"}, {"metadata", json::object()},
              {"status", "Failure"}, {"message", message}, {"reason", reason},
              {"code", code}};
}

json yaml_to_json(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Map: {
      json out = json::object();
      for (const auto& kv : node) {
        out[kv.first.as<std::string>()] = yaml_to_json(kv.second);
      }
      return out;
    }
    case YAML::NodeType::Sequence: {
      json out = json::array();
      for (const auto& item : node) {
        out.push_back(yaml_to_json(item));
      }
      return out;
    }
    case YAML::NodeType::Scalar: {
      const std::string& s = node.Scalar();
      if (node.Tag() == "?") {  // plain scalar: typed as YAML 1.2 core would
        if (s == "true" || s == "false") {
          return s == "true";
        }
        if (s == "null" || s == "~") {
          return nullptr;
        }
        char* end = nullptr;
        long long v = std::strtoll(s.c_str(), &end, 10);
        if (!s.empty() && *end == '\0') {
          return v;
        }
      }
      return s;
    }
    default:
      return nullptr;
  }
}

std::string now_rfc3339() {
  auto t = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

}  // namespace

class fake_kube_apiserver::impl {
 public:
  struct stored {
    json object;
  };
  struct watcher {
    const resource_type* type = nullptr;
    std::string ns;
    bool bookmarks = false;
    std::deque<std::string> queue;
    bool end = false;   ///< end cleanly after the queue drains
    bool drop = false;  ///< end abruptly
    std::chrono::steady_clock::time_point deadline;
    std::chrono::steady_clock::time_point next_bookmark;
  };
  struct history_event {
    uint64_t rv;
    const resource_type* type;
    std::string ns;
    std::string line;  ///< the serialized watch event
  };
  struct snapshot {
    uint64_t rv;
    std::vector<json> items;
    size_t offset = 0;
  };
  struct failure {
    std::string method;
    std::string path_part;
    int status;
    int count;
  };

  explicit impl(fake_kube_options options) : options_(std::move(options)), types_(known_types()) {
    for (const auto& t : options_.tokens) {
      tokens_.insert(t);
    }
    for (const auto& t : types_) {
      installed_.insert(t.collection());
    }
  }

  // ---- lookup

  const resource_type* type_by_kind(const std::string& api_version, const std::string& kind) const {
    for (const auto& t : types_) {
      if (t.api_version() == api_version && t.kind == kind) {
        return &t;
      }
    }
    return nullptr;
  }

  // "api/v1/namespaces/ns/secrets/name[/status]", "apis/g/v/plural", with or without leading '/'.
  std::optional<api_target> parse(std::string_view path) const {
    std::vector<std::string> seg;
    size_t i = 0;
    while (i <= path.size()) {
      size_t j = path.find('/', i);
      if (j == std::string_view::npos) {
        j = path.size();
      }
      if (j > i) {
        seg.emplace_back(path.substr(i, j - i));
      }
      i = j + 1;
    }
    std::string group;
    std::string version;
    size_t rest = 0;
    if (seg.size() >= 2 && seg[0] == "api") {
      version = seg[1];
      rest = 2;
    } else if (seg.size() >= 3 && seg[0] == "apis") {
      group = seg[1];
      version = seg[2];
      rest = 3;
    } else {
      return std::nullopt;
    }
    std::vector<std::string> r(seg.begin() + static_cast<long>(rest), seg.end());
    auto find = [&](const std::string& plural) -> const resource_type* {
      for (const auto& t : types_) {
        if (t.group == group && t.version == version && t.plural == plural) {
          return &t;
        }
      }
      return nullptr;
    };
    api_target out;
    if (r.size() >= 3 && r[0] == "namespaces" && r[2] != "status") {
      out.ns = r[1];
      out.type = find(r[2]);
      if (out.type == nullptr || !out.type->namespaced || r.size() > 5) {
        return std::nullopt;
      }
      if (r.size() >= 4) {
        out.name = r[3];
      }
      if (r.size() == 5) {
        if (r[4] != "status") {
          return std::nullopt;
        }
        out.status = true;
      }
      return out;
    }
    if (r.empty() || r.size() > 3) {
      return std::nullopt;
    }
    out.type = find(r[0]);
    if (out.type == nullptr) {
      return std::nullopt;
    }
    if (r.size() >= 2) {
      if (out.type->namespaced) {
        return std::nullopt;  // a namespaced kind's object needs its namespace
      }
      out.name = r[1];
    }
    if (r.size() == 3) {
      if (r[2] != "status") {
        return std::nullopt;
      }
      out.status = true;
    }
    return out;
  }

  // ---- state changes (mutex_ held)

  std::string next_rv() { return std::to_string(++rv_); }

  void record(const resource_type* type, const std::string& ns, const std::string& event_type,
              const json& object) {
    if (unnoticed_) {
      return;
    }
    json ev{{"type", event_type}, {"object", object}};
    std::string line = ev.dump() + "\n";
    history_.push_back({rv_, type, ns, line});
    for (auto& w : watchers_) {
      if (w->type == type && (w->ns.empty() || w->ns == ns) && !w->end && !w->drop) {
        w->queue.push_back(line);
      }
    }
    cv_.notify_all();
  }

  // Creates or replaces; sets resourceVersion (and uid, creationTimestamp, generation).
  json put_object(const resource_type* type, const std::string& ns, const std::string& name,
                  json object, bool keep_status, bool status_only) {
    auto& coll = objects_[type];
    auto key = std::make_pair(ns, name);
    auto it = coll.find(key);
    const bool exists = it != coll.end();
    if (exists && status_only) {
      json merged = it->second.object;
      merged["status"] = object.contains("status") ? object["status"] : json::object();
      object = std::move(merged);
    } else if (exists && keep_status) {
      if (it->second.object.contains("status")) {
        object["status"] = it->second.object["status"];
      } else {
        object.erase("status");
      }
    }
    object["apiVersion"] = type->api_version();
    object["kind"] = type->kind;
    auto& meta = object["metadata"];
    meta["name"] = name;
    if (type->namespaced) {
      meta["namespace"] = ns;
    }
    if (exists) {
      const json& old = it->second.object["metadata"];
      meta["uid"] = old.value("uid", "");
      meta["creationTimestamp"] = old.value("creationTimestamp", "");
      int64_t generation = old.value("generation", int64_t{1});
      json a = object;
      json b = it->second.object;
      for (json* j : {&a, &b}) {
        j->erase("metadata");
        j->erase("status");
      }
      meta["generation"] = a == b ? generation : generation + 1;
    } else {
      meta["uid"] = "uid-" + std::to_string(++uid_);
      meta["creationTimestamp"] = now_rfc3339();
      meta["generation"] = 1;
    }
    meta["resourceVersion"] = next_rv();
    coll[key] = stored{object};
    record(type, ns, exists ? "MODIFIED" : "ADDED", object);
    return object;
  }

  std::optional<json> delete_object(const resource_type* type, const std::string& ns,
                                    const std::string& name) {
    auto& coll = objects_[type];
    auto it = coll.find({ns, name});
    if (it == coll.end()) {
      return std::nullopt;
    }
    json object = std::move(it->second.object);
    coll.erase(it);
    object["metadata"]["resourceVersion"] = next_rv();
    record(type, ns, "DELETED", object);
    return object;
  }

  // ---- HTTP handling

  void reply(httplib::Response& res, int status, const json& body) {
    res.status = status;
    res.set_content(body.dump(), "application/json");
  }

  void fail(httplib::Response& res, int code, const std::string& reason,
            const std::string& message) {
    reply(res, code, status_body(code, reason, message));
  }

  bool authenticated(const httplib::Request& req) {
    auto auth = req.get_header_value("Authorization");
    if (auth.rfind("Bearer ", 0) == 0) {
      std::lock_guard<std::mutex> lock(mutex_);
      if (tokens_.count(auth.substr(7)) > 0) {
        return true;
      }
    }
    if (options_.tls && options_.client_certs && req.ssl != nullptr) {
      X509* peer = SSL_get1_peer_certificate(req.ssl);
      bool ok = peer != nullptr && SSL_get_verify_result(req.ssl) == X509_V_OK;
      X509_free(peer);
      return ok;
    }
    return false;
  }

  void handle(const httplib::Request& req, httplib::Response& res) {
    std::string query;
    for (const auto& [k, v] : req.params) {
      query += (query.empty() ? "" : "&") + k + "=" + v;
    }
    std::function<void(const std::string&, const std::string&)> hook;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      hook = hook_;
    }
    if (hook) {
      hook(req.method, req.path);
    }
    // Writes are short; reads (watches above all) must not wait for each other.
    std::unique_lock<std::shared_mutex> write_gate(writes_, std::defer_lock);
    if (req.method != "GET") {
      write_gate.lock();
    }
    handle_inner(req, res);
    std::lock_guard<std::mutex> lock(mutex_);
    requests_.push_back({req.method, req.path, query, res.status});
  }

  void handle_inner(const httplib::Request& req, httplib::Response& res) {
    if (!authenticated(req)) {
      fail(res, 401, "Unauthorized", "Unauthorized");
      return;
    }
    {
      std::lock_guard<std::mutex> lock(mutex_);
      for (auto& f : failures_) {
        if (f.count > 0 && (f.method.empty() || f.method == req.method)
            && req.path.find(f.path_part) != std::string::npos) {
          --f.count;
          fail(res, f.status, "InjectedFailure", "injected by the test");
          return;
        }
      }
    }
    auto target = parse(req.path);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (target && installed_.count(target->type->collection()) == 0) {
        target.reset();
      }
    }
    if (!target) {
      fail(res, 404, "NotFound", "the server could not find the requested resource");
      return;
    }
    const auto& m = req.method;
    if (m == "GET" && target->name.empty()) {
      auto watch = req.get_param_value("watch");
      if (watch == "1" || watch == "true") {
        start_watch(req, res, *target);
      } else {
        list(req, res, *target);
      }
    } else if (m == "GET") {
      std::lock_guard<std::mutex> lock(mutex_);
      auto& coll = objects_[target->type];
      auto it = coll.find({target->ns, target->name});
      if (it == coll.end()) {
        fail(res, 404, "NotFound", target->type->plural + " \"" + target->name + "\" not found");
      } else {
        reply(res, 200, it->second.object);
      }
    } else if (m == "POST" && target->name.empty()) {
      create(req, res, *target);
    } else if (m == "PUT" && !target->name.empty()) {
      update(req, res, *target);
    } else if (m == "DELETE" && !target->name.empty()) {
      remove_with_preconditions(req, res, *target);
    } else {
      fail(res, 405, "MethodNotAllowed", "method " + m + " not supported on " + req.path);
    }
  }

  std::optional<json> body_object(const httplib::Request& req, httplib::Response& res) {
    json body = json::parse(req.body, nullptr, false);
    if (body.is_discarded() || !body.is_object()) {
      fail(res, 400, "BadRequest", "the body is not a JSON object");
      return std::nullopt;
    }
    return body;
  }

  void create(const httplib::Request& req, httplib::Response& res, const api_target& t) {
    auto body = body_object(req, res);
    if (!body) {
      return;
    }
    std::string name = (*body)["metadata"].value("name", "");
    std::string ns = (*body)["metadata"].value("namespace", t.ns);
    if (name.empty()) {
      fail(res, 422, "Invalid", "metadata.name: Required value");
      return;
    }
    if (t.type->namespaced && ns != t.ns) {
      fail(res, 400, "BadRequest", "the namespace of the object does not match the request");
      return;
    }
    std::lock_guard<std::mutex> lock(mutex_);
    if (objects_[t.type].count({t.ns, name}) > 0) {
      fail(res, 409, "AlreadyExists", t.type->plural + " \"" + name + "\" already exists");
      return;
    }
    reply(res, 201, put_object(t.type, t.ns, name, std::move(*body), false, false));
  }

  // DELETE with an optional DeleteOptions body: `preconditions.uid` / `.resourceVersion` that do
  // not match the stored object answer 409 Conflict, as the API server does.
  void remove_with_preconditions(const httplib::Request& req, httplib::Response& res,
                                 const api_target& t) {
    json pre = json::object();
    if (!req.body.empty()) {
      json body = json::parse(req.body, nullptr, false);
      if (body.is_discarded() || !body.is_object()) {
        fail(res, 400, "BadRequest", "the body is not a DeleteOptions object");
        return;
      }
      if (body.contains("preconditions") && body["preconditions"].is_object()) {
        pre = body["preconditions"];
      }
    }
    std::lock_guard<std::mutex> lock(mutex_);
    auto& coll = objects_[t.type];
    auto it = coll.find({t.ns, t.name});
    if (it == coll.end()) {
      fail(res, 404, "NotFound", t.type->plural + " \"" + t.name + "\" not found");
      return;
    }
    const json& meta = it->second.object["metadata"];
    for (const char* f : {"uid", "resourceVersion"}) {
      std::string want = pre.value(f, "");
      std::string have = meta.value(f, "");
      if (!want.empty() && want != have) {
        fail(res, 409, "Conflict",
             std::string("Precondition failed: ") + (f[0] == 'u' ? "UID" : "ResourceVersion")
                 + " in precondition: " + want + ", " + (f[0] == 'u' ? "UID" : "ResourceVersion")
                 + " in object meta: " + have);
        return;
      }
    }
    reply(res, 200, *delete_object(t.type, t.ns, t.name));
  }

  void update(const httplib::Request& req, httplib::Response& res, const api_target& t) {
    auto body = body_object(req, res);
    if (!body) {
      return;
    }
    std::string name = (*body)["metadata"].value("name", t.name);
    if (name != t.name) {
      fail(res, 400, "BadRequest", "the name of the object does not match the request");
      return;
    }
    std::string precondition = (*body)["metadata"].value("resourceVersion", "");
    if (t.type->custom && precondition.empty()) {
      fail(res, 422, "Invalid",
           t.type->plural + "." + t.type->group + " \"" + t.name
               + "\" is invalid: metadata.resourceVersion: Invalid value: 0x0: must be "
                 "specified for an update");
      return;
    }
    std::lock_guard<std::mutex> lock(mutex_);
    auto& coll = objects_[t.type];
    auto it = coll.find({t.ns, t.name});
    if (it == coll.end()) {
      fail(res, 404, "NotFound", t.type->plural + " \"" + t.name + "\" not found");
      return;
    }
    std::string current = it->second.object["metadata"].value("resourceVersion", "");
    if (!precondition.empty() && precondition != current) {
      fail(res, 409, "Conflict",
           "Operation cannot be fulfilled on " + t.type->plural + " \"" + t.name
               + "\": the object has been modified; please apply your changes to the latest "
                 "version and try again");
      return;
    }
    reply(res, 200,
          put_object(t.type, t.ns, t.name, std::move(*body), t.type->has_status && !t.status,
                     t.status));
  }

  void list(const httplib::Request& req, httplib::Response& res, const api_target& t) {
    std::lock_guard<std::mutex> lock(mutex_);
    const std::string cont = req.get_param_value("continue");
    std::shared_ptr<snapshot> snap;
    if (!cont.empty()) {
      auto it = snapshots_.find(cont);
      if (it == snapshots_.end() || it->second->rv < compacted_) {
        fail(res, 410, "Expired",
             "The provided continue parameter is too old to display a consistent list result. "
             "You can start a new list without the continue parameter.");
        return;
      }
      snap = it->second;
      snapshots_.erase(it);
    } else {
      const std::string rv = req.get_param_value("resourceVersion");
      if (req.get_param_value("resourceVersionMatch") == "Exact" && !rv.empty()
          && std::strtoull(rv.c_str(), nullptr, 10) < compacted_) {
        fail(res, 410, "Expired", "too old resource version: " + rv);
        return;
      }
      snap = std::make_shared<snapshot>();
      snap->rv = rv_;
      for (const auto& [key, s] : objects_[t.type]) {
        if (!t.ns.empty() && key.first != t.ns) {
          continue;
        }
        json item = s.object;
        if (t.type->core_list_items) {
          item.erase("apiVersion");
          item.erase("kind");
        }
        snap->items.push_back(std::move(item));
      }
    }
    size_t limit = 0;
    if (auto l = req.get_param_value("limit"); !l.empty()) {
      limit = std::strtoull(l.c_str(), nullptr, 10);
    }
    json items = json::array();
    size_t end
        = limit == 0 ? snap->items.size() : std::min(snap->items.size(), snap->offset + limit);
    for (size_t i = snap->offset; i < end; ++i) {
      items.push_back(snap->items[i]);
    }
    json meta{{"resourceVersion", std::to_string(snap->rv)}};
    if (end < snap->items.size()) {
      snap->offset = end;
      std::string token = "c" + std::to_string(++continue_id_);
      snapshots_[token] = snap;
      meta["continue"] = token;
      meta["remainingItemCount"] = snap->items.size() - end;
    }
    reply(res, 200,
          json{{"kind", t.type->kind + "List"},
               {"apiVersion", t.type->api_version()},
               {"metadata", meta},
               {"items", items}});
  }

  void start_watch(const httplib::Request& req, httplib::Response& res, const api_target& t) {
    auto w = std::make_shared<watcher>();
    w->type = t.type;
    w->ns = t.ns;
    w->bookmarks = req.get_param_value("allowWatchBookmarks") == "true";
    auto timeout = std::chrono::seconds(1800);
    if (auto s = req.get_param_value("timeoutSeconds"); !s.empty()) {
      timeout = std::chrono::seconds(std::strtoll(s.c_str(), nullptr, 10));
    }
    w->deadline = std::chrono::steady_clock::now() + timeout;
    w->next_bookmark = std::chrono::steady_clock::now() + options_.bookmark_interval;
    const std::string rv_text = req.get_param_value("resourceVersion");
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (paused_) {
        fail(res, 503, "ServiceUnavailable", "the server is restarting");
        return;
      }
      if (rv_text.empty() || rv_text == "0") {
        for (const auto& [key, s] : objects_[t.type]) {
          if (t.ns.empty() || key.first == t.ns) {
            w->queue.push_back(json{{"type", "ADDED"}, {"object", s.object}}.dump() + "\n");
          }
        }
      } else {
        char* end = nullptr;
        uint64_t from = std::strtoull(rv_text.c_str(), &end, 10);
        if (*end != '\0') {
          fail(res, 400, "BadRequest", "invalid resourceVersion " + rv_text);
          return;
        }
        if (from < compacted_) {
          // Older servers answered the watch request itself with 410; current ones send the
          // 410 as the stream's first (and last) event.
          std::string message
              = "too old resource version: " + rv_text + " (" + std::to_string(compacted_) + ")";
          if (options_.gone_as_http_status) {
            fail(res, 410, "Expired", message);
            return;
          }
          w->queue.push_back(
              json{{"type", "ERROR"}, {"object", status_body(410, "Expired", message)}}.dump()
              + "\n");
          w->end = true;
        } else {
          for (const auto& h : history_) {
            if (h.rv > from && h.type == t.type && (t.ns.empty() || h.ns == t.ns)) {
              w->queue.push_back(h.line);
            }
          }
        }
      }
      watchers_.push_back(w);
    }
    res.status = 200;
    res.set_chunked_content_provider(
        "application/json", [this, w](size_t, httplib::DataSink& sink) { return pump(*w, sink); },
        [this, w](bool) {
          std::lock_guard<std::mutex> lock(mutex_);
          watchers_.erase(std::remove(watchers_.begin(), watchers_.end(), w), watchers_.end());
          cv_.notify_all();
        });
  }

  // Called repeatedly by the server while the watch is open: writes what is queued, then waits
  // a little for more.
  bool pump(watcher& w, httplib::DataSink& sink) {
    std::unique_lock<std::mutex> lock(mutex_);
    cv_.wait_for(lock, 20ms, [&] { return !w.queue.empty() || w.end || w.drop || stopping_; });
    if (stopping_ || w.drop) {
      return false;
    }
    auto now = std::chrono::steady_clock::now();
    if (w.bookmarks && options_.bookmark_interval.count() > 0 && now >= w.next_bookmark && !w.end) {
      w.queue.push_back(bookmark_line(w));
      w.next_bookmark = now + options_.bookmark_interval;
    }
    while (!w.queue.empty()) {
      std::string line = std::move(w.queue.front());
      w.queue.pop_front();
      lock.unlock();
      if (!sink.write(line.data(), line.size())) {
        return false;
      }
      lock.lock();
    }
    if (w.end || now >= w.deadline) {
      sink.done();
    }
    return true;
  }

  std::string bookmark_line(const watcher& w) const {
    json object{{"apiVersion", w.type->api_version()},
                {"kind", w.type->kind},
                {"metadata", {{"resourceVersion", std::to_string(rv_)}}}};
    return json{{"type", "BOOKMARK"}, {"object", object}}.dump() + "\n";
  }

  fake_kube_options options_;
  std::vector<resource_type> types_;
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  int port_ = 0;
  test_pki pki_;

  mutable std::mutex mutex_;
  std::condition_variable cv_;
  bool stopping_ = false;
  bool paused_ = false;
  bool unnoticed_ = false;  ///< apply_unnoticed() in progress
  uint64_t rv_ = 1000;      // not 1: clients must not assume anything about the numbers
  uint64_t compacted_ = 0;
  uint64_t uid_ = 0;
  uint64_t continue_id_ = 0;
  std::map<const resource_type*, std::map<std::pair<std::string, std::string>, stored>> objects_;
  std::deque<history_event> history_;
  std::vector<std::shared_ptr<watcher>> watchers_;
  std::map<std::string, std::shared_ptr<snapshot>> snapshots_;
  std::set<std::string> tokens_;
  std::set<std::string> installed_;
  std::vector<failure> failures_;
  std::vector<request_record> requests_;
  std::function<void(const std::string&, const std::string&)> hook_;
  /// Held exclusively across a write request and its record, shared by get(): an object a test
  /// reads back is never newer than the request log (a reader that sees a write also finds the
  /// request that made it). Taken before `mutex_`.
  mutable std::shared_mutex writes_;
};

fake_kube_apiserver::fake_kube_apiserver(fake_kube_options options)
    : impl_(std::make_unique<impl>(std::move(options))) {
  auto& p = *impl_;
  if (p.options_.tls) {
    p.pki_ = test_pki::make();
    const test_pki& pki = p.pki_;
    const bool client_certs = p.options_.client_certs;
    p.server_ = std::make_unique<httplib::SSLServer>([&pki, client_certs](SSL_CTX& ctx) {
      SSL_CTX_set_min_proto_version(&ctx, TLS1_2_VERSION);
      auto cert = cert_from(pki.server_cert);
      auto key = key_from(pki.server_key);
      if (SSL_CTX_use_certificate(&ctx, cert.get()) != 1
          || SSL_CTX_use_PrivateKey(&ctx, key.get()) != 1) {
        return false;
      }
      if (client_certs) {
        // Ask for a client certificate but do not require one: token clients have none.
        X509_STORE* store = SSL_CTX_get_cert_store(&ctx);
        auto ca = cert_from(pki.ca_cert);
        X509_STORE_add_cert(store, ca.get());
        SSL_CTX_set_verify(&ctx, SSL_VERIFY_PEER, nullptr);
      }
      return true;
    });
  } else {
    p.server_ = std::make_unique<httplib::Server>();
  }
  // Watches hold a thread each for as long as they are open.
  p.server_->new_task_queue = [] { return new httplib::ThreadPool(64); };
  p.server_->set_keep_alive_timeout(1);
  p.server_->set_tcp_nodelay(true);
  auto handler = [&p](const httplib::Request& req, httplib::Response& res) { p.handle(req, res); };
  p.server_->Get(".*", handler);
  p.server_->Post(".*", handler);
  p.server_->Put(".*", handler);
  p.server_->Delete(".*", handler);
  p.server_->Patch(".*", handler);
  p.port_ = p.server_->bind_to_any_port("127.0.0.1");
  p.thread_ = std::thread([&p] { p.server_->listen_after_bind(); });
  eventually([&p] { return p.server_->is_running(); });
}

fake_kube_apiserver::~fake_kube_apiserver() {
  {
    std::lock_guard<std::mutex> lock(impl_->mutex_);
    impl_->stopping_ = true;
    impl_->cv_.notify_all();
  }
  impl_->server_->stop();
  if (impl_->thread_.joinable()) {
    impl_->thread_.join();
  }
}

int fake_kube_apiserver::port() const { return impl_->port_; }

std::string fake_kube_apiserver::url() const {
  return std::string(impl_->options_.tls ? "https" : "http")
         + "://127.0.0.1:" + std::to_string(impl_->port_);
}

const test_pki& fake_kube_apiserver::pki() const { return impl_->pki_; }

std::string fake_kube_apiserver::kubeconfig(std::string_view token) const {
  std::string out
      = "apiVersion: v1\nkind: Config\ncurrent-context: fake\nclusters:\n- name: fake\n"
        "  cluster:\n    server: "
        + url() + "\n";
  if (impl_->options_.tls) {
    out += "    certificate-authority-data: " + base64_encode(impl_->pki_.ca_cert) + "\n";
  }
  out += "contexts:\n- name: fake\n  context: {cluster: fake, user: tester, namespace: default}\n"
         "users:\n- name: tester\n  user:\n";
  if (!token.empty()) {
    out += "    token: " + std::string(token) + "\n";
  } else {
    out += "    client-certificate-data: " + base64_encode(impl_->pki_.client_cert) + "\n";
    out += "    client-key-data: " + base64_encode(impl_->pki_.client_key) + "\n";
  }
  return out;
}

std::string fake_kube_apiserver::apply(nlohmann::json object) {
  auto& p = *impl_;
  const resource_type* type
      = p.type_by_kind(object.value("apiVersion", ""), object.value("kind", ""));
  if (type == nullptr || !object.contains("metadata")) {
    return "";
  }
  std::string name = object["metadata"].value("name", "");
  std::string ns = type->namespaced ? object["metadata"].value("namespace", "default") : "";
  std::lock_guard<std::mutex> lock(p.mutex_);
  auto stored = p.put_object(type, ns, name, std::move(object), false, false);
  return stored["metadata"]["resourceVersion"].get<std::string>();
}

std::string fake_kube_apiserver::apply_unnoticed(nlohmann::json object) {
  auto& p = *impl_;
  const resource_type* type
      = p.type_by_kind(object.value("apiVersion", ""), object.value("kind", ""));
  if (type == nullptr || !object.contains("metadata")) {
    return "";
  }
  std::string name = object["metadata"].value("name", "");
  std::string ns = type->namespaced ? object["metadata"].value("namespace", "default") : "";
  std::lock_guard<std::mutex> lock(p.mutex_);
  p.unnoticed_ = true;
  auto stored = p.put_object(type, ns, name, std::move(object), false, false);
  p.unnoticed_ = false;
  return stored["metadata"]["resourceVersion"].get<std::string>();
}

std::string fake_kube_apiserver::apply_text(std::string_view text) {
  json object = json::parse(text, nullptr, false);
  if (object.is_discarded()) {
    try {
      object = yaml_to_json(YAML::Load(std::string(text)));
    } catch (const YAML::Exception&) {
      return "";
    }
  }
  return apply(std::move(object));
}

bool fake_kube_apiserver::remove(std::string_view api_path) {
  auto& p = *impl_;
  auto t = p.parse(api_path);
  if (!t || t->name.empty()) {
    return false;
  }
  std::lock_guard<std::mutex> lock(p.mutex_);
  return p.delete_object(t->type, t->ns, t->name).has_value();
}

std::optional<nlohmann::json> fake_kube_apiserver::get(std::string_view api_path) const {
  auto& p = *impl_;
  auto t = p.parse(api_path);
  if (!t || t->name.empty()) {
    return std::nullopt;
  }
  std::shared_lock<std::shared_mutex> writes(p.writes_);
  std::lock_guard<std::mutex> lock(p.mutex_);
  auto& coll = p.objects_[t->type];
  auto it = coll.find({t->ns, t->name});
  if (it == coll.end()) {
    return std::nullopt;
  }
  return it->second.object;
}

std::vector<nlohmann::json> fake_kube_apiserver::list(std::string_view collection_path) const {
  auto& p = *impl_;
  std::vector<json> out;
  auto t = p.parse(collection_path);
  if (!t) {
    return out;
  }
  std::lock_guard<std::mutex> lock(p.mutex_);
  for (const auto& [key, s] : p.objects_[t->type]) {
    if (t->ns.empty() || key.first == t->ns) {
      out.push_back(s.object);
    }
  }
  return out;
}

uint64_t fake_kube_apiserver::resource_version() const {
  std::lock_guard<std::mutex> lock(impl_->mutex_);
  return impl_->rv_;
}

void fake_kube_apiserver::drop_watches() {
  std::lock_guard<std::mutex> lock(impl_->mutex_);
  for (auto& w : impl_->watchers_) {
    w->drop = true;
  }
  impl_->cv_.notify_all();
}

void fake_kube_apiserver::compact() {
  std::lock_guard<std::mutex> lock(impl_->mutex_);
  impl_->compacted_ = impl_->rv_;
  impl_->history_.clear();
}

void fake_kube_apiserver::inject_gone() {
  std::lock_guard<std::mutex> lock(impl_->mutex_);
  auto& p = *impl_;
  p.compacted_ = p.rv_;
  p.history_.clear();
  for (auto& w : p.watchers_) {
    if (w->end || w->drop) {
      continue;
    }
    w->queue.push_back(
        json{{"type", "ERROR"},
             {"object", status_body(410, "Expired", "too old resource version (injected)")}}
            .dump()
        + "\n");
    w->end = true;
  }
  p.cv_.notify_all();
}

void fake_kube_apiserver::send_bookmarks() {
  std::lock_guard<std::mutex> lock(impl_->mutex_);
  for (auto& w : impl_->watchers_) {
    if (w->bookmarks && !w->end && !w->drop) {
      w->queue.push_back(impl_->bookmark_line(*w));
    }
  }
  impl_->cv_.notify_all();
}

void fake_kube_apiserver::pause_watches(bool paused) {
  std::lock_guard<std::mutex> lock(impl_->mutex_);
  impl_->paused_ = paused;
}

void fake_kube_apiserver::fail_next(std::string method, std::string path_part, int status,
                                    int count) {
  std::lock_guard<std::mutex> lock(impl_->mutex_);
  impl_->failures_.push_back({std::move(method), std::move(path_part), status, count});
}

void fake_kube_apiserver::on_request(
    std::function<void(const std::string& method, const std::string& path)> hook) {
  std::lock_guard<std::mutex> lock(impl_->mutex_);
  impl_->hook_ = std::move(hook);
}

void fake_kube_apiserver::set_installed(std::string_view collection_path, bool installed) {
  auto t = impl_->parse(collection_path);
  if (!t) {
    return;
  }
  std::lock_guard<std::mutex> lock(impl_->mutex_);
  if (installed) {
    impl_->installed_.insert(t->type->collection());
  } else {
    impl_->installed_.erase(t->type->collection());
  }
}

void fake_kube_apiserver::set_token(const std::string& token, bool accepted) {
  std::lock_guard<std::mutex> lock(impl_->mutex_);
  if (accepted) {
    impl_->tokens_.insert(token);
  } else {
    impl_->tokens_.erase(token);
  }
}

std::vector<fake_kube_apiserver::request_record> fake_kube_apiserver::requests() const {
  std::lock_guard<std::mutex> lock(impl_->mutex_);
  return impl_->requests_;
}

size_t fake_kube_apiserver::count(std::string_view method, std::string_view path_part,
                                  std::string_view query_part) const {
  std::lock_guard<std::mutex> lock(impl_->mutex_);
  size_t n = 0;
  for (const auto& r : impl_->requests_) {
    if ((method.empty() || r.method == method) && r.path.find(path_part) != std::string::npos
        && r.query.find(query_part) != std::string::npos) {
      ++n;
    }
  }
  return n;
}

size_t fake_kube_apiserver::open_watches() const {
  std::lock_guard<std::mutex> lock(impl_->mutex_);
  return impl_->watchers_.size();
}

bool fake_kube_apiserver::eventually(const std::function<bool()>& pred,
                                     std::chrono::milliseconds bound) {
  auto until = std::chrono::steady_clock::now() + bound;
  while (!pred()) {
    if (std::chrono::steady_clock::now() >= until) {
      return pred();
    }
    std::this_thread::sleep_for(5ms);
  }
  return true;
}

}  // namespace sluice::test
