#pragma once
/// An in-process Kubernetes API server for tests, over real HTTP(S) on 127.0.0.1 (port 0), that
/// follows the documented protocol closely enough for a client's watch logic to be tested against
/// it (reference reliability.md §1.1; kubernetes api-concepts):
///
///  - list: items sorted by namespace/name, the list's `resourceVersion`, optional `limit` and
///    `continue` (a continue token whose snapshot was compacted answers 410 Expired); items of core
///    kinds come without apiVersion/kind, as the real server sends them;
///  - watch (`?watch=1`): chunked JSON lines `{"type": ..., "object": ...}` with ADDED, MODIFIED,
///    DELETED, BOOKMARK (only with allowWatchBookmarks=true) and ERROR; no resourceVersion or "0"
///    starts with synthetic ADDED events for what exists, N starts strictly after N;
///    `timeoutSeconds` ends the stream cleanly;
///  - one global, monotonically increasing resourceVersion; compaction, after which an older
///    resourceVersion gets `410 Gone` (an ERROR event with code 410 on a watch, or the HTTP status
///    410 when `gone_as_http_status` is set, as older servers did);
///  - create (POST, 409 AlreadyExists), get, update (PUT with a resourceVersion precondition:
///    409 Conflict on mismatch; custom resources refuse an update without one, 422 Invalid),
///    delete (404 when absent; a DeleteOptions body's `preconditions.uid` / `.resourceVersion`
///    that do not match answer 409 Conflict); each change is a watch event; the `status`
///    subresource (PUT .../status changes only the status, same precondition);
///    coordination.k8s.io/v1 Leases are ordinary objects;
///  - authentication: a bearer token from the accepted set, or (over TLS) a client certificate
///    signed by the test CA; anything else is 401.
///
/// Kinds: Secrets, ConfigMaps, Services, Endpoints, Namespaces (cluster scoped), EndpointSlices
/// (discovery.k8s.io/v1), Leases, and every Gloo kind of model::all_kinds() by its group, version
/// and plural. The test hooks mutate objects directly (bypassing authentication), drop watches,
/// inject 410s, fail chosen requests and observe every request.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace sluice::test {

/// TLS material for tests, all PEM: a fresh CA (EC P-256) and leaf certificates it signed.
struct test_pki {
  std::string ca_cert;
  std::string ca_key;
  std::string server_cert;  ///< SAN IP:127.0.0.1, DNS:localhost; serverAuth
  std::string server_key;
  std::string client_cert;  ///< CN = the client name; clientAuth
  std::string client_key;

  static test_pki make(std::string_view client_name = "sluice-test-client");
};

std::string base64_encode(std::string_view bytes);

struct fake_kube_options {
  bool tls = true;
  std::vector<std::string> tokens = {"test-token"};  ///< accepted bearer tokens
  bool client_certs = true;  ///< over TLS, a client certificate from the test CA authenticates
  /// With allowWatchBookmarks=true, a BOOKMARK every interval; 0 = only on send_bookmarks().
  std::chrono::milliseconds bookmark_interval{0};
  bool gone_as_http_status = false;  ///< a too-old watch start answers HTTP 410, not an ERROR event
};

class fake_kube_apiserver {
 public:
  explicit fake_kube_apiserver(fake_kube_options options = {});
  ~fake_kube_apiserver();
  fake_kube_apiserver(const fake_kube_apiserver&) = delete;
  fake_kube_apiserver& operator=(const fake_kube_apiserver&) = delete;

  int port() const;
  /// "https://127.0.0.1:<port>" (or http:// without TLS).
  std::string url() const;
  const test_pki& pki() const;

  /// A kubeconfig for this server with the CA inline; `token` authenticates with that bearer
  /// token, an empty `token` with the test client certificate.
  std::string kubeconfig(std::string_view token = "test-token") const;

  // ---- direct mutation (bypasses authentication; bumps the resourceVersion, notifies watches)

  /// Creates or replaces the object named by its apiVersion, kind, metadata.namespace and
  /// metadata.name (`status` included as given). Returns its new resourceVersion, or "" when the
  /// kind is unknown.
  std::string apply(nlohmann::json object);
  /// Changes the object without telling open watches and without recording it in the history:
  /// an event lost on the way (the failure anti-entropy relists exist for).
  std::string apply_unnoticed(nlohmann::json object);
  /// The same as apply() from JSON or single-document YAML text.
  std::string apply_text(std::string_view text);
  /// Deletes the object at an API path ("api/v1/namespaces/default/secrets/s"); false when absent.
  bool remove(std::string_view api_path);
  /// The object at an API path, as stored.
  std::optional<nlohmann::json> get(std::string_view api_path) const;
  /// Every object of a collection ("apis/gloo.solo.io/v1/upstreams"), any namespace.
  std::vector<nlohmann::json> list(std::string_view collection_path) const;
  /// The current (global) resourceVersion.
  uint64_t resource_version() const;

  // ---- protocol faults

  /// Ends every open watch stream abruptly (no final chunk), as a broken connection would.
  void drop_watches();
  /// Forgets the change history up to now: a watch from an older resourceVersion gets 410.
  void compact();
  /// compact(), then sends an ERROR event with code 410 on every open watch and ends it.
  void inject_gone();
  /// A BOOKMARK with the current resourceVersion on every open watch that allows bookmarks.
  void send_bookmarks();
  /// While paused, new watch requests are refused with 503 (a server restarting); open ones are
  /// unaffected (drop them with drop_watches()).
  void pause_watches(bool paused);
  /// The next `count` requests whose method matches and whose path contains `path_part` get
  /// `status` with a Status body, without being handled.
  void fail_next(std::string method, std::string path_part, int status, int count = 1);
  /// Runs before each request is handled (outside the server's lock: it may call the mutation
  /// hooks), e.g. to change an object between a client's read and its write.
  void on_request(std::function<void(const std::string& method, const std::string& path)> hook);
  /// Makes a collection answer 404 (a CRD that is not installed), or installs it again.
  void set_installed(std::string_view collection_path, bool installed);
  /// Adds or removes an accepted bearer token.
  void set_token(const std::string& token, bool accepted);

  // ---- observation

  struct request_record {
    std::string method;
    std::string path;
    std::string query;
    int status = 0;
  };
  std::vector<request_record> requests() const;
  /// Requests with this method (empty = any), whose path contains `path_part` and whose query
  /// contains `query_part`.
  size_t count(std::string_view method, std::string_view path_part,
               std::string_view query_part = {}) const;
  size_t open_watches() const;
  /// Waits up to `bound` for `pred()` to become true, polling; returns its last value.
  static bool eventually(const std::function<bool()>& pred,
                         std::chrono::milliseconds bound = std::chrono::seconds(10));

  class impl;

 private:
  std::unique_ptr<impl> impl_;
};

}  // namespace sluice::test
