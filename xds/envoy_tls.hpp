#pragma once
/// Gloo TLS settings -> Envoy CommonTlsContext (reference gloo.md §1.4, §1.5, §3.2 "TLS
/// material"): a `secretRef` is inlined from the Secret resource (Gloo serves no SDS secrets) or,
/// when asked, served as SDS Secret resources over ADS; `sslFiles` become file data sources.
/// Shared by upstream (cluster) and downstream (listener) TLS.

#include <map>
#include <string>
#include <variant>

#include "envoy/extensions/transport_sockets/tls/v3/secret.pb.h"
#include "envoy/extensions/transport_sockets/tls/v3/tls.pb.h"
#include "model/world.hpp"
#include "solo/gloo.pb.h"
#include "xds/proxy_translator.hpp"

namespace sluice::xds {

/// The certificate source and validation settings both SslConfig and UpstreamSslConfig carry.
struct tls_settings {
  const ::core::solo::io::ResourceRef* secret_ref = nullptr;
  const ::gloo::solo::io::SslFiles* ssl_files = nullptr;
  bool sds = false;
  const google::protobuf::RepeatedPtrField<std::string>* verify_subject_alt_name = nullptr;
  const ::gloo::solo::io::SslParameters* parameters = nullptr;
  const google::protobuf::RepeatedPtrField<std::string>* alpn_protocols = nullptr;
  std::string default_namespace;  ///< for a secretRef without namespace: the owner's
};

[[nodiscard]] tls_settings settings_of(const ::gloo::solo::io::UpstreamSslConfig& c,
                                       const std::string& owner_namespace);
[[nodiscard]] tls_settings settings_of(const ::gloo::solo::io::SslConfig& c,
                                       const std::string& owner_namespace);

/// SDS Secret resources by name, collected while TLS contexts are built.
using secret_map = std::map<std::string, envoy::extensions::transport_sockets::tls::v3::Secret>;

/// How a TLS context gets the material of a `secretRef`.
struct tls_delivery {
  secret_delivery mode = secret_delivery::inline_data;
  secret_map* sink = nullptr;  ///< receives the SDS secrets; required when mode is sds
};

/// SDS names of a Secret resource's certificate and root CA.
[[nodiscard]] std::string sds_certificate_name(const std::string& ns, const std::string& name);
[[nodiscard]] std::string sds_validation_name(const std::string& ns, const std::string& name);

/// The CommonTlsContext, or a message saying what is wrong (missing or non-TLS secret, SDS).
[[nodiscard]] std::variant<envoy::extensions::transport_sockets::tls::v3::CommonTlsContext,
                           std::string>
common_tls_context(const tls_settings& settings, const model::world& w,
                   const tls_delivery& delivery = {});

/// The DownstreamTlsContext of a listener filter chain: ALPN defaults to h2 and http/1.1
/// (["allow_empty"] means none), a root CA requires client certificates unless oneWayTls.
[[nodiscard]] std::variant<envoy::extensions::transport_sockets::tls::v3::DownstreamTlsContext,
                           std::string>
downstream_tls_context(const ::gloo::solo::io::SslConfig& c, const std::string& owner_namespace,
                       const model::world& w, const tls_delivery& delivery = {});

/// Whether the settings carry a root CA (which asks for peer verification).
[[nodiscard]] bool has_root_ca(
    const envoy::extensions::transport_sockets::tls::v3::CommonTlsContext& c);

}  // namespace sluice::xds
