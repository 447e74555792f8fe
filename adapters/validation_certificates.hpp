#pragma once
/// The admission webhook's TLS material: a private CA and a serving certificate signed by it
/// (what Gloo's certgen job creates into the `gateway-validation-certs` Secret: tls.crt, tls.key,
/// ca.crt), and the checks that decide whether an existing bundle can keep serving.
///
/// Keys are ECDSA P-256; certificates are X.509 v3 with SHA-256 signatures. The CA is marked
/// CA:TRUE with keyCertSign; the serving certificate is CA:FALSE, serverAuth, with the Service
/// DNS names as subjectAltNames (the API server verifies the name it dials,
/// `<service>.<namespace>.svc`, against them; the common name is not consulted). The CA key is not
/// kept: a rotation makes a new CA, and certgen publishes old and new CA side by side in the
/// webhook's caBundle until the old one expires.

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "caf/expected.hpp"

namespace sluice::adapters {

struct certificate_request {
  std::string common_name;                ///< the serving certificate's CN
  std::vector<std::string> dns_names;     ///< subjectAltName DNS entries
  std::vector<std::string> ip_addresses;  ///< subjectAltName IP entries (tests dial 127.0.0.1)
  std::chrono::seconds validity{std::chrono::hours(24 * 365)};
  std::string ca_common_name = "sluice validation webhook CA";
};

struct certificate_bundle {
  std::string ca_pem;    ///< ca.crt
  std::string cert_pem;  ///< tls.crt
  std::string key_pem;   ///< tls.key, PKCS#8
};

[[nodiscard]] caf::expected<certificate_bundle> generate_serving_certificate(
    const certificate_request& request);

/// What a bundle holds, read back from its PEM.
struct certificate_facts {
  std::string subject;  ///< one-line form, e.g. "CN=gateway.gloo-system.svc"
  std::vector<std::string> dns_names;
  std::vector<std::string> ip_addresses;
  std::chrono::system_clock::time_point not_before;
  std::chrono::system_clock::time_point not_after;
  bool signed_by_ca = false;  ///< tls.crt's signature verifies with ca.crt's key
  bool key_matches = false;   ///< tls.key is the private key of tls.crt
  bool ca_is_ca = false;      ///< ca.crt may sign certificates (basicConstraints CA:TRUE)
};

[[nodiscard]] caf::expected<certificate_facts> inspect_bundle(const certificate_bundle& bundle);

/// Why `bundle` should be replaced before it serves `dns_names` (unreadable, not signed by its
/// CA, key mismatch, a name missing, expiring within `renew_before`), or nullopt when it is fine.
[[nodiscard]] std::optional<std::string> renewal_reason(const certificate_bundle& bundle,
                                                        const std::vector<std::string>& dns_names,
                                                        std::chrono::system_clock::time_point now,
                                                        std::chrono::seconds renew_before);

/// The certificates in a PEM text that have not expired at `now`, re-encoded (used to keep a
/// previous CA in a caBundle during a rotation).
[[nodiscard]] std::string unexpired_certificates(const std::string& pem,
                                                 std::chrono::system_clock::time_point now);

/// The DNS names the API server may use for a Service: name, name.ns, name.ns.svc and
/// name.ns.svc.<cluster domain>.
[[nodiscard]] std::vector<std::string> service_dns_names(const std::string& service,
                                                         const std::string& ns,
                                                         const std::string& cluster_domain);

/// Standard base64 (RFC 4648 with padding), as Kubernetes Secret data and caBundle use.
[[nodiscard]] std::string base64_encode(std::string_view bytes);
[[nodiscard]] std::optional<std::string> base64_decode(std::string_view text);

}  // namespace sluice::adapters
