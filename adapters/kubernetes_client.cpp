#include "adapters/kubernetes_client.hpp"

#include <httplib.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <yaml-cpp/yaml.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>

#include "model/error.hpp"
#include "model/logging.hpp"

namespace sluice::adapters {
namespace {

using steady = std::chrono::steady_clock;
namespace fs = std::filesystem;

constexpr size_t max_line_bytes = 64 * 1024 * 1024;  // one watch event; etcd's limit is 1.5 MiB
constexpr size_t max_error_body = 1024 * 1024;
constexpr auto token_refresh = std::chrono::seconds(60);

// The verification error of this thread's last TLS handshake, for the error message.
thread_local long last_verify_error = X509_V_OK;

std::optional<std::string> read_whole(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return std::nullopt;
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string trim(std::string text) {
  auto not_space = [](unsigned char c) { return !std::isspace(c); };
  text.erase(text.begin(), std::find_if(text.begin(), text.end(), not_space));
  text.erase(std::find_if(text.rbegin(), text.rend(), not_space).base(), text.end());
  return text;
}

// Standard base64 as kubeconfig `*-data` fields use it; whitespace is ignored.
std::optional<std::string> base64_decode(std::string_view text) {
  auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+' || c == '-') return 62;
    if (c == '/' || c == '_') return 63;
    return -1;
  };
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  for (char c : text) {
    if (std::isspace(static_cast<unsigned char>(c)) || c == '=') {
      continue;
    }
    int v = value(c);
    if (v < 0) {
      return std::nullopt;
    }
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xff));
    }
  }
  return out;
}

struct bio_deleter {
  void operator()(BIO* b) const { BIO_free(b); }
};
using bio_ptr = std::unique_ptr<BIO, bio_deleter>;

bio_ptr memory_bio(const std::string& pem) {
  return bio_ptr(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
}

// Every certificate in a PEM bundle; empty when none parses.
std::vector<X509*> read_certs(const std::string& pem) {
  std::vector<X509*> out;
  auto bio = memory_bio(pem);
  while (X509* cert = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) {
    out.push_back(cert);
  }
  ERR_clear_error();  // the loop ends on a "no start line" error
  return out;
}

EVP_PKEY* read_key(const std::string& pem) {
  auto bio = memory_bio(pem);
  EVP_PKEY* key = PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr);
  ERR_clear_error();
  return key;
}

struct parsed_server {
  bool https = true;
  std::string host;
  int port = 443;
  std::string prefix;  ///< path prefix without trailing '/', e.g. "/k8s/clusters/c-1"
};

caf::expected<parsed_server> parse_server(const std::string& url) {
  parsed_server out;
  std::string rest;
  if (url.rfind("https://", 0) == 0) {
    rest = url.substr(8);
  } else if (url.rfind("http://", 0) == 0) {
    out.https = false;
    out.port = 80;
    rest = url.substr(7);
  } else {
    return make_error(ec::invalid_argument,
                      "Kubernetes API server \"" + url + "\" must start with https://");
  }
  auto slash = rest.find('/');
  std::string authority = rest.substr(0, slash);
  if (slash != std::string::npos) {
    out.prefix = rest.substr(slash);
    while (!out.prefix.empty() && out.prefix.back() == '/') {
      out.prefix.pop_back();
    }
  }
  std::string port_text;
  if (!authority.empty() && authority.front() == '[') {  // [ipv6]:port
    auto close = authority.find(']');
    if (close == std::string::npos) {
      return make_error(ec::invalid_argument, "Kubernetes API server \"" + url
                                                  + "\": unterminated [ in the IPv6 address");
    }
    out.host = authority.substr(1, close - 1);
    if (close + 1 < authority.size() && authority[close + 1] == ':') {
      port_text = authority.substr(close + 2);
    }
  } else {
    auto colon = authority.rfind(':');
    out.host = authority.substr(0, colon);
    if (colon != std::string::npos) {
      port_text = authority.substr(colon + 1);
    }
  }
  if (out.host.empty()) {
    return make_error(ec::invalid_argument, "Kubernetes API server \"" + url + "\" has no host");
  }
  if (!port_text.empty()) {
    char* end = nullptr;
    long port = std::strtol(port_text.c_str(), &end, 10);
    if (*end != '\0' || port <= 0 || port > 65535) {
      return make_error(ec::invalid_argument,
                        "Kubernetes API server \"" + url + "\" has an invalid port");
    }
    out.port = static_cast<int>(port);
  }
  return out;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Credentials

caf::expected<kubernetes_credentials> load_kubeconfig(const std::string& path,
                                                      const std::string& context) {
  auto text = read_whole(path);
  if (!text) {
    return make_error(ec::invalid_argument, "cannot read kubeconfig " + path);
  }
  auto fail = [&](const std::string& what) {
    return make_error(ec::invalid_argument, "kubeconfig " + path + ": " + what);
  };
  YAML::Node root;
  try {
    root = YAML::Load(*text);
  } catch (const YAML::Exception& e) {
    return fail(std::string("not valid YAML: ") + e.what());
  }
  const fs::path base = fs::path(path).parent_path();
  try {
    auto named = [&](const char* list, const std::string& name, const char* inner) -> YAML::Node {
      const YAML::Node entries = root[list];
      if (entries.IsSequence()) {
        for (const auto& entry : entries) {
          if (entry.IsMap() && entry["name"] && entry["name"].as<std::string>() == name) {
            return entry[inner];
          }
        }
      }
      return YAML::Node(YAML::NodeType::Undefined);
    };
    std::string ctx_name = context;
    if (ctx_name.empty() && root["current-context"]) {
      ctx_name = root["current-context"].as<std::string>();
    }
    if (ctx_name.empty()) {
      return fail("no context given and no current-context set");
    }
    YAML::Node ctx = named("contexts", ctx_name, "context");
    if (!ctx.IsMap()) {
      return fail("context \"" + ctx_name + "\" not found");
    }
    std::string cluster_name = ctx["cluster"] ? ctx["cluster"].as<std::string>() : "";
    std::string user_name = ctx["user"] ? ctx["user"].as<std::string>() : "";
    YAML::Node cluster = named("clusters", cluster_name, "cluster");
    if (!cluster.IsMap()) {
      return fail("cluster \"" + cluster_name + "\" of context \"" + ctx_name + "\" not found");
    }
    kubernetes_credentials out;
    out.source = "kubeconfig " + path + " context=" + ctx_name;
    out.default_namespace = ctx["namespace"] ? ctx["namespace"].as<std::string>() : "default";
    if (!cluster["server"]) {
      return fail("cluster \"" + cluster_name + "\" has no server");
    }
    out.server = cluster["server"].as<std::string>();
    out.insecure_skip_tls_verify
        = cluster["insecure-skip-tls-verify"] && cluster["insecure-skip-tls-verify"].as<bool>();

    // A field given inline (`<name>-data`, base64) or as a file path relative to the kubeconfig.
    auto material = [&](const YAML::Node& node, const std::string& name,
                        std::string& into) -> caf::expected<void> {
      if (node[name + "-data"]) {
        auto decoded = base64_decode(node[name + "-data"].as<std::string>());
        if (!decoded) {
          return fail(name + "-data is not valid base64");
        }
        into = std::move(*decoded);
      } else if (node[name]) {
        fs::path file = node[name].as<std::string>();
        if (file.is_relative()) {
          file = base / file;
        }
        auto content = read_whole(file);
        if (!content) {
          return fail(name + ": cannot read " + file.string());
        }
        into = std::move(*content);
      }
      return {};
    };
    if (auto ok = material(cluster, "certificate-authority", out.ca_pem); !ok) {
      return ok.error();
    }
    YAML::Node user = named("users", user_name, "user");
    if (user.IsMap()) {
      if (user["exec"] || user["auth-provider"]) {
        return fail("user \"" + user_name
                    + "\" uses an exec or auth-provider plugin, which sluice does not run; give it "
                      "a token (token or tokenFile) or a client certificate");
      }
      if (user["token"]) {
        out.token = user["token"].as<std::string>();
      }
      if (user["tokenFile"]) {
        fs::path file = user["tokenFile"].as<std::string>();
        out.token_file = (file.is_relative() ? base / file : file).string();
      }
      if (auto ok = material(user, "client-certificate", out.client_cert_pem); !ok) {
        return ok.error();
      }
      if (auto ok = material(user, "client-key", out.client_key_pem); !ok) {
        return ok.error();
      }
      if (out.client_cert_pem.empty() != out.client_key_pem.empty()) {
        return fail("user \"" + user_name
                    + "\" needs both client-certificate and client-key, or neither");
      }
    }
    return out;
  } catch (const YAML::Exception& e) {
    return fail(std::string("unexpected structure: ") + e.what());
  }
}

caf::expected<kubernetes_credentials> in_cluster_credentials(const std::string& account_dir,
                                                             const std::string& host,
                                                             const std::string& port) {
  if (host.empty() || port.empty()) {
    return make_error(ec::invalid_argument,
                      "not running in a Kubernetes pod: KUBERNETES_SERVICE_HOST and "
                      "KUBERNETES_SERVICE_PORT must be set");
  }
  const fs::path dir = account_dir;
  kubernetes_credentials out;
  out.source = "service account " + account_dir;
  out.token_file = (dir / "token").string();
  if (!read_whole(out.token_file)) {
    return make_error(ec::invalid_argument, "cannot read the service-account token "
                                                + out.token_file
                                                + " (is automountServiceAccountToken disabled?)");
  }
  auto ca = read_whole(dir / "ca.crt");
  if (!ca) {
    return make_error(ec::invalid_argument,
                      "cannot read the service-account CA " + (dir / "ca.crt").string());
  }
  out.ca_pem = std::move(*ca);
  if (auto ns = read_whole(dir / "namespace")) {
    out.default_namespace = trim(*ns);
  }
  // An IPv6 service host needs brackets in a URL.
  const bool v6 = host.find(':') != std::string::npos;
  out.server = "https://" + (v6 ? "[" + host + "]" : host) + ":" + port;
  return out;
}

caf::expected<kubernetes_credentials> default_credentials(const std::string& kubeconfig,
                                                          const std::string& context) {
  if (!kubeconfig.empty()) {
    return load_kubeconfig(kubeconfig, context);
  }
  const char* host = std::getenv("KUBERNETES_SERVICE_HOST");
  const char* port = std::getenv("KUBERNETES_SERVICE_PORT");
  if (host != nullptr && port != nullptr && context.empty()) {
    return in_cluster_credentials(std::string(service_account_dir), host, port);
  }
  if (const char* env = std::getenv("KUBECONFIG"); env != nullptr && *env != '\0') {
    std::string list = env;
    std::string first = list.substr(0, list.find(':'));
    return load_kubeconfig(first, context);
  }
  const char* home = std::getenv("HOME");
  if (home == nullptr) {
    return make_error(ec::invalid_argument,
                      "no Kubernetes credentials: not in a pod, no KUBECONFIG and no HOME");
  }
  return load_kubeconfig((fs::path(home) / ".kube" / "config").string(), context);
}

std::string url_encode(std::string_view text) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(hex[c >> 4]);
      out.push_back(hex[c & 15]);
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Stream control

void kubernetes_stream_control::cancel() {
  cancelled_ = true;
  std::lock_guard<std::mutex> lock(mutex_);
  if (stop_) {
    stop_();
  }
}

// ---------------------------------------------------------------------------------------------
// Client

class kubernetes_client::impl {
 public:
  impl(kubernetes_credentials creds, kubernetes_client_options options, parsed_server server)
      : creds_(std::move(creds)), options_(std::move(options)), server_(std::move(server)) {}

  ~impl() {
    if (ca_store_ != nullptr) {
      X509_STORE_free(ca_store_);
    }
  }

  caf::expected<void> init() {
    if (!creds_.ca_pem.empty()) {
      auto certs = read_certs(creds_.ca_pem);
      if (certs.empty()) {
        return make_error(ec::invalid_argument, "the certificate authority of " + creds_.source
                                                    + " holds no PEM certificate");
      }
      ca_store_ = X509_STORE_new();
      for (X509* c : certs) {
        X509_STORE_add_cert(ca_store_, c);
        X509_free(c);
      }
    } else if (server_.https && !creds_.insecure_skip_tls_verify) {
      // No CA given: the system's trusted roots, loaded once (not per connection).
      ca_store_ = X509_STORE_new();
      X509_STORE_set_default_paths(ca_store_);
    }
    if (!creds_.client_cert_pem.empty()) {
      auto certs = read_certs(creds_.client_cert_pem);
      EVP_PKEY* key = read_key(creds_.client_key_pem);
      bool ok = !certs.empty() && key != nullptr;
      for (X509* c : certs) {
        X509_free(c);
      }
      EVP_PKEY_free(key);
      if (!ok) {
        return make_error(ec::invalid_argument, "the client certificate or key of " + creds_.source
                                                    + " is not valid PEM");
      }
    }
    if (!server_.https && (!creds_.client_cert_pem.empty())) {
      return make_error(ec::invalid_argument,
                        "a client certificate needs an https:// server (" + creds_.source + ")");
    }
    return {};
  }

  // The bearer token, re-read from the token file at most once a minute.
  std::string token() {
    if (creds_.token_file.empty()) {
      return creds_.token;
    }
    std::lock_guard<std::mutex> lock(token_mutex_);
    auto now = steady::now();
    if (!token_read_ || now - token_read_at_ >= token_refresh) {
      if (auto text = read_whole(creds_.token_file)) {
        file_token_ = trim(*text);
      } else {
        log::adapters()->warn("cannot re-read the kubernetes token file path={}",
                              creds_.token_file);
      }
      token_read_ = true;
      token_read_at_ = now;
    }
    return file_token_.empty() ? creds_.token : file_token_;
  }

  httplib::Headers headers() {
    httplib::Headers h{{"Accept", "application/json"}, {"User-Agent", options_.user_agent}};
    if (auto t = token(); !t.empty()) {
      h.emplace("Authorization", "Bearer " + t);
    }
    return h;
  }

  // Chain and host verification are done here, against our own store, instead of by httplib:
  // httplib would load the whole system CA bundle for every new connection (tens of
  // milliseconds each) and would trust it next to the configured CA. The verify parameters
  // (the expected host name or IP) come from the SSL_CTX, set in secure().
  static int verify_chain(X509_STORE_CTX* ctx, void* arg) {
    auto* store = static_cast<X509_STORE*>(arg);
    X509_STORE_CTX* mine = X509_STORE_CTX_new();
    if (mine == nullptr) {
      return 0;
    }
    int ok = 0;
    if (X509_STORE_CTX_init(mine, store, X509_STORE_CTX_get0_cert(ctx),
                            X509_STORE_CTX_get0_untrusted(ctx))
        == 1) {
      X509_VERIFY_PARAM_set1(X509_STORE_CTX_get0_param(mine), X509_STORE_CTX_get0_param(ctx));
      ok = X509_verify_cert(mine);
      last_verify_error = ok == 1 ? X509_V_OK : X509_STORE_CTX_get_error(mine);
      X509_STORE_CTX_set_error(ctx, static_cast<int>(last_verify_error));
    } else {
      last_verify_error = X509_V_ERR_UNSPECIFIED;
      X509_STORE_CTX_set_error(ctx, static_cast<int>(last_verify_error));
    }
    X509_STORE_CTX_free(mine);
    return ok == 1 ? 1 : 0;
  }

  void secure(httplib::SSLClient& ssl) {
    SSL_CTX* ctx = ssl.ssl_context();
    ssl.enable_server_certificate_verification(false);  // done by verify_chain instead
    if (ctx == nullptr) {
      return;
    }
    if (creds_.insecure_skip_tls_verify || ca_store_ == nullptr) {
      SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
      return;
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
    SSL_CTX_set_cert_verify_callback(ctx, &impl::verify_chain, ca_store_);
    X509_VERIFY_PARAM* param = SSL_CTX_get0_param(ctx);
    if (X509_VERIFY_PARAM_set1_ip_asc(param, server_.host.c_str()) != 1) {
      X509_VERIFY_PARAM_set1_host(param, server_.host.c_str(), 0);
    }
  }

  std::unique_ptr<httplib::ClientImpl> make_http(std::chrono::seconds read_timeout) {
    std::unique_ptr<httplib::ClientImpl> out;
    if (server_.https) {
      std::unique_ptr<httplib::SSLClient> ssl;
      if (!creds_.client_cert_pem.empty()) {
        auto certs = read_certs(creds_.client_cert_pem);
        EVP_PKEY* key = read_key(creds_.client_key_pem);
        ssl = std::make_unique<httplib::SSLClient>(server_.host, server_.port,
                                                   certs.empty() ? nullptr : certs.front(), key);
        for (X509* c : certs) {
          X509_free(c);
        }
        EVP_PKEY_free(key);
      } else {
        ssl = std::make_unique<httplib::SSLClient>(server_.host, server_.port);
      }
      secure(*ssl);
      out = std::move(ssl);
    } else {
      out = std::make_unique<httplib::ClientImpl>(server_.host, server_.port);
    }
    out->set_connection_timeout(options_.connect_timeout);
    out->set_read_timeout(read_timeout);
    out->set_write_timeout(options_.request_timeout);
    out->set_keep_alive(true);
    out->set_tcp_nodelay(true);  // small request writes must not wait for delayed ACKs
    return out;
  }

  /// A client from the pool (`reused` set) or a fresh one.
  std::unique_ptr<httplib::ClientImpl> take(bool* reused = nullptr) {
    {
      std::lock_guard<std::mutex> lock(pool_mutex_);
      if (!idle_.empty()) {
        auto c = std::move(idle_.back());
        idle_.pop_back();
        if (reused != nullptr) {
          *reused = true;
        }
        return c;
      }
    }
    if (reused != nullptr) {
      *reused = false;
    }
    return make_http(options_.request_timeout);
  }

  void give_back(std::unique_ptr<httplib::ClientImpl> c) {
    std::lock_guard<std::mutex> lock(pool_mutex_);
    if (idle_.size() < 4) {
      idle_.push_back(std::move(c));
    }
  }

  caf::error transport_error(const std::string& target, httplib::Error err) {
    std::string why = httplib::to_string(err);
    if (err == httplib::Error::SSLConnection && last_verify_error != X509_V_OK) {
      why += std::string(": server certificate not trusted (")
             + X509_verify_cert_error_string(last_verify_error) + ")";
    }
    return make_error(ec::source_error, "kubernetes API server " + creds_.server + " request "
                                            + target + " failed: " + why);
  }

  kubernetes_credentials creds_;
  kubernetes_client_options options_;
  parsed_server server_;
  X509_STORE* ca_store_ = nullptr;

  std::mutex token_mutex_;
  bool token_read_ = false;
  steady::time_point token_read_at_;
  std::string file_token_;

  std::mutex pool_mutex_;
  std::vector<std::unique_ptr<httplib::ClientImpl>> idle_;
};

kubernetes_client::kubernetes_client(std::unique_ptr<impl> p) : impl_(std::move(p)) {}
kubernetes_client::~kubernetes_client() = default;

caf::expected<std::shared_ptr<kubernetes_client>> kubernetes_client::make(
    kubernetes_credentials credentials, kubernetes_client_options options) {
  auto server = parse_server(credentials.server);
  if (!server) {
    return server.error();
  }
  auto p = std::make_unique<impl>(std::move(credentials), std::move(options), std::move(*server));
  if (auto ok = p->init(); !ok) {
    return ok.error();
  }
  return std::shared_ptr<kubernetes_client>(new kubernetes_client(std::move(p)));
}

const std::string& kubernetes_client::server() const { return impl_->creds_.server; }

const kubernetes_credentials& kubernetes_client::credentials() const { return impl_->creds_; }

caf::expected<kubernetes_response> kubernetes_client::request(std::string_view method,
                                                              const std::string& target,
                                                              const std::string& body) {
  if (method != "GET" && method != "POST" && method != "PUT" && method != "PATCH"
      && method != "DELETE") {
    return make_error(ec::invalid_argument, "unsupported HTTP method " + std::string(method));
  }
  bool reused = false;
  auto client = impl_->take(&reused);
  const std::string path = impl_->server_.prefix + target;
  auto headers = impl_->headers();
  httplib::Result result{nullptr, httplib::Error::Unknown};
  const char* json = "application/json";
  auto send = [&] {
    last_verify_error = X509_V_OK;
    if (method == "GET") {
      result = client->Get(path.c_str(), headers);
    } else if (method == "POST") {
      result = client->Post(path.c_str(), headers, body, json);
    } else if (method == "PUT") {
      result = client->Put(path.c_str(), headers, body, json);
    } else if (method == "PATCH") {
      result = client->Patch(path.c_str(), headers, body, "application/merge-patch+json");
    } else {
      result = client->Delete(path.c_str(), headers, body, json);
    }
  };
  send();
  if (!result && reused
      && (method == "GET" || result.error() == httplib::Error::Write
          || result.error() == httplib::Error::Connection)) {
    // A pooled keep-alive connection the server had closed meanwhile. Like Go's net/http: retry
    // once on a fresh connection when the request is idempotent or was never sent.
    client = impl_->make_http(impl_->options_.request_timeout);
    send();
  }
  if (!result) {
    return impl_->transport_error(target, result.error());
  }
  kubernetes_response out{result->status, std::move(result->body)};
  impl_->give_back(std::move(client));
  return out;
}

caf::expected<kubernetes_response> kubernetes_client::stream(
    const std::string& target, std::chrono::seconds read_timeout,
    const std::function<void(int)>& on_status,
    const std::function<bool(const std::vector<std::string_view>&)>& on_lines,
    kubernetes_stream_control& control) {
  if (control.cancelled()) {
    return make_error(ec::source_error, "watch " + target + " cancelled");
  }
  auto client = impl_->make_http(read_timeout);
  last_verify_error = X509_V_OK;
  httplib::ClientImpl* raw = client.get();
  {
    std::lock_guard<std::mutex> lock(control.mutex_);
    control.stop_ = [raw] { raw->stop(); };
  }
  const std::string path = impl_->server_.prefix + target;
  int status = 0;
  std::string pending;  // a partial line, or the body of a non-2xx answer
  bool too_long = false;
  bool stopped_by_reader = false;
  auto result = client->Get(
      path.c_str(), impl_->headers(),
      [&](const httplib::Response& r) {
        status = r.status;
        if (control.cancelled()) {
          return false;
        }
        on_status(status);
        return true;
      },
      [&](const char* data, size_t n) {
        if (control.cancelled()) {
          return false;
        }
        if (status < 200 || status >= 300) {
          if (pending.size() < max_error_body) {
            pending.append(data, std::min(n, max_error_body - pending.size()));
          }
          return true;
        }
        pending.append(data, n);
        size_t start = 0;
        std::vector<std::string_view> lines;
        for (size_t nl = pending.find('\n'); nl != std::string::npos;
             nl = pending.find('\n', start)) {
          std::string_view line(pending.data() + start, nl - start);
          start = nl + 1;
          if (!line.empty()) {
            lines.push_back(line);
          }
        }
        if (!lines.empty() && !on_lines(lines)) {
          stopped_by_reader = true;
          return false;
        }
        pending.erase(0, start);
        if (pending.size() > max_line_bytes) {
          too_long = true;
          return false;
        }
        return true;
      });
  {
    std::lock_guard<std::mutex> lock(control.mutex_);
    control.stop_ = nullptr;
  }
  if (control.cancelled()) {
    return make_error(ec::source_error, "watch " + target + " cancelled");
  }
  if (too_long) {
    return make_error(ec::limit_exceeded,
                      "watch " + target + ": an event is longer than the line limit");
  }
  if (stopped_by_reader) {
    return kubernetes_response{status, {}};
  }
  if (!result) {
    return impl_->transport_error(target, result.error());
  }
  if (status >= 200 && status < 300) {
    if (auto last = trim(pending); !last.empty()) {
      on_lines({std::string_view(last)});  // a last line without a newline
    }
    return kubernetes_response{status, {}};
  }
  return kubernetes_response{status, std::move(pending)};
}

}  // namespace sluice::adapters
