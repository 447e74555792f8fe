#include "adapters/validation_webhook.hpp"

#include <httplib.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <nlohmann/json.hpp>

#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>

#include "model/error.hpp"
#include "model/logging.hpp"

namespace sluice::adapters {

namespace {

using json = nlohmann::json;

std::string string_at(const json& j, const char* key) {
  auto i = j.find(key);
  return i != j.end() && i->is_string() ? i->get<std::string>() : std::string();
}

std::optional<std::string> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return std::nullopt;
  }
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

/// Warnings travel in an HTTP header of the API server's reply: one line each, printable.
std::string one_line(std::string text) {
  for (char& c : text) {
    if (c == '\n' || c == '\r' || c == '\t') {
      c = ' ';
    } else if (static_cast<unsigned char>(c) < 0x20) {
      c = '?';
    }
  }
  return text;
}

// The controllers whose deletions follow from a decision already admitted (see the header).
constexpr std::string_view cascade_deleters[] = {
    "system:serviceaccount:kube-system:namespace-controller",
    "system:serviceaccount:kube-system:generic-garbage-collector",
};

/// The serving certificate, reloaded from its files when they change.
class certificate_store {
 public:
  certificate_store(std::string cert_file, std::string key_file, std::chrono::milliseconds interval)
      : cert_file_(std::move(cert_file)), key_file_(std::move(key_file)), interval_(interval) {}

  ~certificate_store() { clear(); }

  /// Loads now; an error names the file and what is wrong with it.
  caf::expected<void> load() {
    std::lock_guard lock(mu_);
    return load_locked();
  }

  /// Installs the current certificate on a connection, reloading first when due.
  bool apply(SSL* ssl) {
    std::lock_guard lock(mu_);
    const auto now = std::chrono::steady_clock::now();
    if (now - checked_ >= interval_) {
      checked_ = now;
      if (auto ok = load_locked(); !ok) {
        log::adapters()->warn("webhook certificate reload failed, serving the previous one: {}",
                              describe(ok.error()));
      }
    }
    if (cert_ == nullptr || key_ == nullptr) {
      return false;
    }
    return SSL_use_cert_and_key(ssl, cert_, key_, chain_, 1) == 1;
  }

 private:
  caf::expected<void> load_locked() {
    auto cert_text = read_file(cert_file_);
    auto key_text = read_file(key_file_);
    if (!cert_text) {
      return make_error(ec::not_found, "cannot read the webhook certificate " + cert_file_);
    }
    if (!key_text) {
      return make_error(ec::not_found, "cannot read the webhook key " + key_file_);
    }
    if (*cert_text == cert_text_ && *key_text == key_text_) {
      return {};
    }
    BIO* cb = BIO_new_mem_buf(cert_text->data(), static_cast<int>(cert_text->size()));
    X509* cert = PEM_read_bio_X509(cb, nullptr, nullptr, nullptr);
    STACK_OF(X509)* chain = sk_X509_new_null();
    while (X509* extra = PEM_read_bio_X509(cb, nullptr, nullptr, nullptr)) {
      sk_X509_push(chain, extra);
    }
    BIO_free(cb);
    BIO* kb = BIO_new_mem_buf(key_text->data(), static_cast<int>(key_text->size()));
    EVP_PKEY* key = PEM_read_bio_PrivateKey(kb, nullptr, nullptr, nullptr);
    BIO_free(kb);
    ERR_clear_error();
    std::string problem;
    if (cert == nullptr) {
      problem = cert_file_ + " holds no PEM certificate";
    } else if (key == nullptr) {
      problem = key_file_ + " holds no PEM private key";
    } else if (X509_check_private_key(cert, key) != 1) {
      problem = key_file_ + " is not the key of " + cert_file_;
      ERR_clear_error();
    }
    if (!problem.empty()) {
      X509_free(cert);
      EVP_PKEY_free(key);
      sk_X509_pop_free(chain, X509_free);
      return make_error(ec::invalid_argument, problem);
    }
    clear();
    cert_ = cert;
    key_ = key;
    chain_ = chain;
    cert_text_ = std::move(*cert_text);
    key_text_ = std::move(*key_text);
    log::adapters()->info("webhook certificate loaded file={}", cert_file_);
    return {};
  }

  void clear() {
    X509_free(cert_);
    EVP_PKEY_free(key_);
    if (chain_ != nullptr) {
      sk_X509_pop_free(chain_, X509_free);
    }
    cert_ = nullptr;
    key_ = nullptr;
    chain_ = nullptr;
  }

  std::string cert_file_;
  std::string key_file_;
  std::chrono::milliseconds interval_;
  std::mutex mu_;
  std::chrono::steady_clock::time_point checked_ = std::chrono::steady_clock::now();
  std::string cert_text_;
  std::string key_text_;
  X509* cert_ = nullptr;
  EVP_PKEY* key_ = nullptr;
  STACK_OF(X509) * chain_ = nullptr;
};

int apply_certificate(SSL* ssl, void* arg) {
  return static_cast<certificate_store*>(arg)->apply(ssl) ? 1 : 0;
}

}  // namespace

caf::expected<admission_request> parse_admission_review(std::string_view body) {
  json review = json::parse(body.begin(), body.end(), nullptr, false);
  if (review.is_discarded() || !review.is_object()) {
    return make_error(ec::parse_error, "the body is not a JSON object");
  }
  admission_request out;
  out.api_version = string_at(review, "apiVersion");
  if (string_at(review, "kind") != "AdmissionReview"
      || (out.api_version != "admission.k8s.io/v1"
          && out.api_version != "admission.k8s.io/v1beta1")) {
    return make_error(ec::schema_error,
                      "expected an AdmissionReview of apiVersion admission.k8s.io/v1 or v1beta1, "
                      "got kind \""
                          + string_at(review, "kind") + "\" apiVersion \"" + out.api_version
                          + "\"");
  }
  auto request = review.find("request");
  if (request == review.end() || !request->is_object()) {
    return make_error(ec::schema_error, "the AdmissionReview has no request");
  }
  const json& r = *request;
  out.uid = string_at(r, "uid");
  if (out.uid.empty()) {
    return make_error(ec::schema_error, "the AdmissionReview request has no uid");
  }
  if (auto k = r.find("kind"); k != r.end() && k->is_object()) {
    out.group = string_at(*k, "group");
    out.version = string_at(*k, "version");
    out.kind = string_at(*k, "kind");
  }
  if (auto res = r.find("resource"); res != r.end() && res->is_object()) {
    out.resource = string_at(*res, "resource");
  }
  out.sub_resource = string_at(r, "subResource");
  out.ns = string_at(r, "namespace");
  out.name = string_at(r, "name");
  out.operation = string_at(r, "operation");
  if (auto o = r.find("object"); o != r.end() && o->is_object()) {
    out.object = o->dump();
  }
  if (auto o = r.find("oldObject"); o != r.end() && o->is_object()) {
    out.old_object = o->dump();
  }
  if (auto d = r.find("dryRun"); d != r.end() && d->is_boolean()) {
    out.dry_run = d->get<bool>();
  }
  if (auto u = r.find("userInfo"); u != r.end() && u->is_object()) {
    out.username = string_at(*u, "username");
  }
  if (out.kind.empty() || out.operation.empty()) {
    return make_error(ec::schema_error, "the AdmissionReview request has no kind or operation");
  }
  return out;
}

std::optional<admission_change> change_of(const admission_request& request, std::string& why) {
  const bool is_delete = request.operation == "DELETE";
  if (request.operation == "CONNECT") {
    why = "CONNECT is not validated";
    return std::nullopt;
  }
  if (is_delete) {
    for (auto who : cascade_deleters) {
      if (request.username == who) {
        why = "deletions by " + request.username + " follow an admitted deletion";
        return std::nullopt;
      }
    }
  }
  admission_change change;
  change.kind = request.kind;
  change.ns = request.ns;
  change.name = request.name;
  change.dry_run = request.dry_run;
  if (request.group.empty() && request.kind == "Namespace") {
    if (!is_delete) {
      why = "only namespace deletions are validated";
      return std::nullopt;
    }
    change.op = admission_change::op_t::remove_namespace;
    change.ns = request.name;  // a Namespace's name is the namespace
    return change;
  }
  if (is_delete) {
    change.op = admission_change::op_t::remove;
    return change;
  }
  if (request.object.empty()) {
    why = request.operation + " without an object is not validated";
    return std::nullopt;
  }
  change.op = admission_change::op_t::upsert;
  change.object = request.object;
  return change;
}

std::string render_admission_response(const admission_request& request,
                                      const admission_verdict& verdict, size_t max_warnings) {
  json response = {{"uid", request.uid}, {"allowed", verdict.allowed}};
  if (!verdict.allowed) {
    response["status"]
        = {{"code", 403},
           {"reason", "Forbidden"},
           {"message", verdict.message.empty() ? "denied by sluice validation" : verdict.message}};
  }
  json warnings = json::array();
  if (verdict.allowed && !verdict.message.empty()) {
    warnings.push_back(one_line(verdict.message));
  }
  for (size_t i = 0; i < verdict.warnings.size(); ++i) {
    if (warnings.size() >= max_warnings) {
      warnings.push_back(std::to_string(verdict.warnings.size() - i) + " more warnings not shown");
      break;
    }
    warnings.push_back(one_line(verdict.warnings[i]));
  }
  if (!warnings.empty()) {
    response["warnings"] = std::move(warnings);
  }
  json review
      = {{"apiVersion", request.api_version.empty() ? "admission.k8s.io/v1" : request.api_version},
         {"kind", "AdmissionReview"},
         {"response", std::move(response)}};
  return review.dump();
}

struct validation_webhook::impl {
  validation_webhook_options options;
  admission_handler handler;
  certificate_store certificates;
  std::unique_ptr<httplib::SSLServer> server;
  std::thread thread;
  std::mutex mu;

  impl(validation_webhook_options o, admission_handler h)
      : options(std::move(o)),
        handler(std::move(h)),
        certificates(options.cert_file, options.key_file, options.reload_interval) {}

  void review(const httplib::Request& req, httplib::Response& res) {
    auto request = parse_admission_review(req.body);
    if (!request) {
      log::adapters()->warn("webhook bad request error=\"{}\"", describe(request.error()));
      res.status = 400;
      res.set_content(describe(request.error()), "text/plain");
      return;
    }
    admission_verdict verdict;
    std::string why;
    if (auto change = change_of(*request, why)) {
      try {
        verdict = handler(*change);
      } catch (const std::exception& e) {
        // The handler is ours and throws nothing by design; a library exception must not take
        // the server down, and the API server applies the failure policy to a 500.
        log::adapters()->error("webhook handler failed uid={} error=\"{}\"", request->uid,
                               e.what());
        res.status = 500;
        res.set_content("validation failed: " + std::string(e.what()), "text/plain");
        return;
      }
    } else {
      verdict.allowed = true;
      log::adapters()->debug("webhook allowed unchecked uid={} kind={} reason=\"{}\"", request->uid,
                             request->kind, why);
    }
    log::adapters()->debug(
        "webhook review uid={} operation={} kind={} namespace={} name={} "
        "allowed={} dry_run={}",
        request->uid, request->operation, request->kind, request->ns, request->name,
        verdict.allowed, request->dry_run);
    res.status = 200;
    res.set_content(render_admission_response(*request, verdict, options.max_warnings),
                    "application/json");
  }
};

validation_webhook::validation_webhook(validation_webhook_options options,
                                       admission_handler handler)
    : impl_(std::make_unique<impl>(std::move(options), std::move(handler))) {}

validation_webhook::~validation_webhook() { stop(); }

caf::expected<int> validation_webhook::start() {
  std::lock_guard lock(impl_->mu);
  if (impl_->server) {
    return make_error(ec::invalid_argument, "webhook already started");
  }
  if (auto ok = impl_->certificates.load(); !ok) {
    return ok.error();
  }
  auto* certs = &impl_->certificates;
  auto server = std::make_unique<httplib::SSLServer>([certs](SSL_CTX& ctx) {
    SSL_CTX_set_min_proto_version(&ctx, TLS1_2_VERSION);
    SSL_CTX_set_options(&ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
    SSL_CTX_set_cert_cb(&ctx, &apply_certificate, certs);
    return true;
  });
  if (!server->is_valid()) {
    return make_error(ec::invalid_argument, "cannot set up TLS for the webhook");
  }
  server->set_payload_max_length(impl_->options.max_body_bytes);
  server->set_read_timeout(10, 0);
  server->set_write_timeout(10, 0);
  auto* self = impl_.get();
  server->Post(impl_->options.path, [self](const httplib::Request& req, httplib::Response& res) {
    self->review(req, res);
  });
  server->Get("/healthz", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("ok\n", "text/plain");
  });
  int port = impl_->options.port;
  if (port == 0) {
    port = server->bind_to_any_port(impl_->options.address);
  } else if (!server->bind_to_port(impl_->options.address, port)) {
    port = -1;
  }
  if (port <= 0) {
    return make_error(ec::invalid_argument, "cannot serve the webhook on " + impl_->options.address
                                                + ":" + std::to_string(impl_->options.port)
                                                + ": the address is invalid or the port is in use");
  }
  auto* raw = server.get();
  impl_->thread = std::thread([raw] { raw->listen_after_bind(); });
  // httplib's stop() does nothing until the loop runs, so wait for it (bounded) before anyone
  // can call stop().
  for (int i = 0; i < 5000 && !raw->is_running(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  impl_->server = std::move(server);
  log::adapters()->info("webhook listening address={} port={} path={}", impl_->options.address,
                        port, impl_->options.path);
  return port;
}

void validation_webhook::stop() {
  std::lock_guard lock(impl_->mu);
  if (!impl_->server) {
    return;
  }
  impl_->server->stop();
  if (impl_->thread.joinable()) {
    impl_->thread.join();
  }
  impl_->server.reset();
}

}  // namespace sluice::adapters
