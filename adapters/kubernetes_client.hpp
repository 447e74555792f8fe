#pragma once
/// A small client for the Kubernetes API server: who to talk to and how to prove who we are
/// (kubeconfig or in-cluster service account), plain requests, and line-streamed watches.
///
/// TLS is always verified against the configured CA (or the system store when none is given),
/// including the server's host name or IP, unless the kubeconfig says
/// `insecure-skip-tls-verify: true`. Bearer tokens are sent only in the Authorization header and
/// never logged. A token file (the service account's, or a kubeconfig `tokenFile`) is re-read every
/// minute, because bound service-account tokens rotate.
///
/// Thread safety: every member function may be called from any thread; requests run on the
/// caller's thread (blocking I/O, adapter threads only).

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "caf/expected.hpp"

namespace sluice::adapters {

/// Where the API server is and how to authenticate to it.
struct kubernetes_credentials {
  std::string server;           ///< "https://host:port[/prefix]"; http:// only for local tests
  std::string token;            ///< bearer token; never logged
  std::string token_file;       ///< read for the token (and re-read every minute) when set
  std::string ca_pem;           ///< PEM bundle of trusted CAs; empty = the system store
  std::string client_cert_pem;  ///< client certificate (PEM), with client_key_pem
  std::string client_key_pem;
  bool insecure_skip_tls_verify = false;
  std::string default_namespace;  ///< of the kubeconfig context or the service account
  std::string source;             ///< where these came from, for messages ("kubeconfig ctx=...")
};

/// Reads a kubeconfig: the `context` named (or `current-context`), its cluster and user. Inline
/// `*-data` fields and file paths (relative to the kubeconfig's directory) are both accepted.
/// Errors: ec::invalid_argument naming the file and the missing or unsupported entry (exec and
/// auth-provider plugins are not supported: give the user a token or a client certificate).
[[nodiscard]] caf::expected<kubernetes_credentials> load_kubeconfig(const std::string& path,
                                                                    const std::string& context
                                                                    = {});

/// In-cluster credentials: `<account_dir>/token` (re-read as it rotates), `<account_dir>/ca.crt`,
/// `<account_dir>/namespace`, and the API server at `host`:`port` (normally the environment's
/// KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT).
[[nodiscard]] caf::expected<kubernetes_credentials> in_cluster_credentials(
    const std::string& account_dir, const std::string& host, const std::string& port);

/// The standard service-account directory inside a pod.
inline constexpr std::string_view service_account_dir
    = "/var/run/secrets/kubernetes.io/serviceaccount";

/// What a Kubernetes client normally does: in-cluster when KUBERNETES_SERVICE_HOST is set and
/// `kubeconfig` is empty, otherwise the kubeconfig at `kubeconfig`, $KUBECONFIG (first entry) or
/// ~/.kube/config.
[[nodiscard]] caf::expected<kubernetes_credentials> default_credentials(
    const std::string& kubeconfig = {}, const std::string& context = {});

struct kubernetes_response {
  int status = 0;
  std::string body;
};

struct kubernetes_client_options {
  std::chrono::seconds connect_timeout{10};
  std::chrono::seconds request_timeout{30};  ///< read timeout of a plain request
  std::string user_agent = "sluice";
};

/// Lets another thread end a running watch stream at once (stop() of a source).
class kubernetes_stream_control {
 public:
  /// Ends the stream (if one runs) and every later one started with this control.
  void cancel();
  bool cancelled() const { return cancelled_; }
  /// Makes the stream usable again after cancel() (a source restarted after stop()).
  void reset() { cancelled_ = false; }

 private:
  friend class kubernetes_client;
  std::atomic<bool> cancelled_{false};
  std::mutex mutex_;
  std::function<void()> stop_;  ///< set while a stream runs
};

class kubernetes_client {
 public:
  /// Validates the credentials (server URL, PEM material) up front.
  [[nodiscard]] static caf::expected<std::shared_ptr<kubernetes_client>> make(
      kubernetes_credentials credentials, kubernetes_client_options options = {});
  ~kubernetes_client();
  kubernetes_client(const kubernetes_client&) = delete;
  kubernetes_client& operator=(const kubernetes_client&) = delete;

  /// One request; `target` is the path with query ("/api/v1/namespaces?limit=5"). Any HTTP
  /// status is a response; only transport failures (connect, TLS, timeout) are errors
  /// (ec::source_error, saying which server and why).
  [[nodiscard]] caf::expected<kubernetes_response> request(std::string_view method,
                                                           const std::string& target,
                                                           const std::string& body = {});

  /// A streaming GET (a watch). `on_status` is called once with the HTTP status when the headers
  /// arrive; for a 2xx status, `on_lines` gets the complete lines of the body as they arrive, all
  /// lines of one network read together (return false to stop). For other statuses the body is
  /// returned in the response. Returns when the server ends the stream, `on_lines` said stop,
  /// `read_timeout` passed without data, or `control.cancel()` was called (then an error).
  [[nodiscard]] caf::expected<kubernetes_response> stream(
      const std::string& target, std::chrono::seconds read_timeout,
      const std::function<void(int status)>& on_status,
      const std::function<bool(const std::vector<std::string_view>& lines)>& on_lines,
      kubernetes_stream_control& control);

  const std::string& server() const;
  const kubernetes_credentials& credentials() const;

  class impl;

 private:
  explicit kubernetes_client(std::unique_ptr<impl> p);
  std::unique_ptr<impl> impl_;
};

/// Percent-encodes a query parameter value.
std::string url_encode(std::string_view text);

}  // namespace sluice::adapters
