#pragma once
/// The Kubernetes validating admission webhook: HTTPS (port 8443, behind the `gateway` Service's
/// port 443), path `/validation`, AdmissionReview v1 (v1beta1 is answered in kind). It turns each
/// review into one `admission_change`, asks the handler (`sluice serve` wires it to
/// xds::validation_engine), and answers allowed or denied with the reason in `status.message` and
/// the warnings in `warnings`, which kubectl prints.
///
/// What it decides itself, before the handler:
///  - CREATE / UPDATE carry `request.object`; DELETE names the resource by request kind,
///    namespace and name (oldObject is not needed); DELETE of a core Namespace becomes
///    `remove_namespace`; other Namespace operations and CONNECT are allowed unchecked.
///  - Deletions made by the namespace controller or the garbage collector are allowed unchecked:
///    the namespace (or owner) deletion that caused them was the decision, and refusing its
///    consequences would leave a namespace stuck in Terminating forever.
///  - `dryRun` is passed on, so a dry-run admission is not remembered as stored.
///
/// TLS: the certificate and key are files (the `gateway-validation-certs` Secret mounted as a
/// volume). Kubernetes replaces mounted Secret files in place when certgen rotates them, so the
/// files are checked at most every `reload_interval` during handshakes and reloaded when changed;
/// no restart is needed. TLS 1.2 is the minimum.
///
/// Limits: request bodies over `max_body_bytes` get 413; a malformed review gets 400 (the API
/// server then applies the webhook's failurePolicy). The handler runs on the server's worker
/// threads and must be thread-safe.

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "caf/expected.hpp"

namespace sluice::adapters {

/// One AdmissionReview request, as far as validation needs it.
struct admission_request {
  std::string api_version;  ///< of the review: "admission.k8s.io/v1" (or v1beta1)
  std::string uid;
  std::string group;  ///< request.kind
  std::string version;
  std::string kind;
  std::string resource;  ///< request.resource.resource, e.g. "virtualservices"
  std::string sub_resource;
  std::string ns;
  std::string name;
  std::string operation;   ///< CREATE, UPDATE, DELETE, CONNECT
  std::string object;      ///< request.object as JSON text; empty when null
  std::string old_object;  ///< request.oldObject as JSON text; empty when null
  bool dry_run = false;
  std::string username;  ///< request.userInfo.username
};

/// The question put to the handler.
struct admission_change {
  enum class op_t { upsert, remove, remove_namespace };
  op_t op = op_t::upsert;
  std::string object;  ///< upsert: the object as JSON (Kubernetes form)
  std::string kind;    ///< request.kind.kind, e.g. "VirtualService", "Secret"
  std::string ns;
  std::string name;
  bool dry_run = false;
};

/// The handler's answer.
struct admission_verdict {
  bool allowed = false;
  std::string message;                ///< why it was denied (or what to know when allowed)
  std::vector<std::string> warnings;  ///< shown by kubectl as "Warning: ..."
};

using admission_handler = std::function<admission_verdict(const admission_change&)>;

struct validation_webhook_options {
  std::string address = "0.0.0.0";
  int port = 8443;        ///< 0 picks a free port
  std::string cert_file;  ///< PEM certificate (chain), e.g. /etc/gateway/validation-certs/tls.crt
  std::string key_file;   ///< PEM private key
  std::string path = "/validation";
  /// Kubernetes objects are at most ~1.5 MiB; a review carries object and oldObject.
  size_t max_body_bytes = 4 * 1024 * 1024;
  std::chrono::milliseconds reload_interval{std::chrono::seconds(10)};
  /// Warnings returned per review (the API server keeps about 4 KiB of them anyway).
  size_t max_warnings = 20;
};

/// Parses an AdmissionReview (v1 or v1beta1) body.
[[nodiscard]] caf::expected<admission_request> parse_admission_review(std::string_view body);

/// The change a review asks about, or nullopt when the webhook allows it without asking
/// (with `why` saying so).
[[nodiscard]] std::optional<admission_change> change_of(const admission_request& request,
                                                        std::string& why);

/// The AdmissionReview response body for `request`.
[[nodiscard]] std::string render_admission_response(const admission_request& request,
                                                    const admission_verdict& verdict,
                                                    size_t max_warnings = 20);

class validation_webhook {
 public:
  validation_webhook(validation_webhook_options options, admission_handler handler);
  ~validation_webhook();
  validation_webhook(const validation_webhook&) = delete;
  validation_webhook& operator=(const validation_webhook&) = delete;

  /// Loads the certificate, binds and starts serving on a background thread; returns the port.
  [[nodiscard]] caf::expected<int> start();

  /// Stops serving and joins the thread; idempotent.
  void stop();

  struct impl;

 private:
  std::unique_ptr<impl> impl_;
};

}  // namespace sluice::adapters
