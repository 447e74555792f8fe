#include "xds/envoy_tls.hpp"

#include "model/gateway_attribution.hpp"
#include "xds/envoy_common.hpp"

namespace sluice::xds {

namespace {

namespace tls = envoy::extensions::transport_sockets::tls::v3;
namespace gl = ::gloo::solo::io;

tls::TlsParameters::TlsProtocol tls_protocol(gl::SslParameters::ProtocolVersion v) {
  switch (v) {
    case gl::SslParameters::TLSv1_0:
      return tls::TlsParameters::TLSv1_0;
    case gl::SslParameters::TLSv1_1:
      return tls::TlsParameters::TLSv1_1;
    case gl::SslParameters::TLSv1_2:
      return tls::TlsParameters::TLSv1_2;
    case gl::SslParameters::TLSv1_3:
      return tls::TlsParameters::TLSv1_3;
    default:
      return tls::TlsParameters::TLS_AUTO;
  }
}

template <class Config>
tls_settings common_settings(const Config& c, const std::string& owner_namespace) {
  tls_settings s;
  if (c.has_secret_ref()) {
    s.secret_ref = &c.secret_ref();
  } else if (c.has_ssl_files()) {
    s.ssl_files = &c.ssl_files();
  } else if (c.has_sds()) {
    s.sds = true;
  }
  s.verify_subject_alt_name = &c.verify_subject_alt_name();
  if (c.has_parameters()) {
    s.parameters = &c.parameters();
  }
  s.alpn_protocols = &c.alpn_protocols();
  s.default_namespace = owner_namespace;
  return s;
}

}  // namespace

tls_settings settings_of(const gl::UpstreamSslConfig& c, const std::string& owner_namespace) {
  return common_settings(c, owner_namespace);
}

tls_settings settings_of(const gl::SslConfig& c, const std::string& owner_namespace) {
  return common_settings(c, owner_namespace);
}

std::string sds_certificate_name(const std::string& ns, const std::string& name) {
  return name + "_" + ns;
}

std::string sds_validation_name(const std::string& ns, const std::string& name) {
  return name + "_" + ns + "-validation";
}

std::variant<tls::CommonTlsContext, std::string> common_tls_context(const tls_settings& s,
                                                                    const model::world& w,
                                                                    const tls_delivery& delivery) {
  tls::CommonTlsContext ctx;
  std::string cert, key, root_ca;
  bool inline_data = false;
  std::string secret_ns, secret_name;
  if (s.sds) {
    return std::string(
        "sslConfig.sds (an external SDS server) is not supported: use secretRef (optionally served "
        "by sluice over SDS) or sslFiles");
  }
  if (s.secret_ref != nullptr) {
    secret_ns =
        s.secret_ref->namespace_().empty() ? s.default_namespace : s.secret_ref->namespace_();
    secret_name = s.secret_ref->name();
    const auto* secret = w.get<gl::Secret>(model::resource_kind::secret, secret_ns, secret_name);
    if (secret == nullptr) {
      return "SSL secret " + model::ref_key(secret_ns, secret_name) + " not found";
    }
    if (!secret->has_tls()) {
      return "SSL secret " + model::ref_key(secret_ns, secret_name) + " is not a TLS secret";
    }
    cert = secret->tls().cert_chain();
    key = secret->tls().private_key();
    root_ca = secret->tls().root_ca();
    inline_data = true;
  } else if (s.ssl_files != nullptr) {
    cert = s.ssl_files->tls_cert();
    key = s.ssl_files->tls_key();
    root_ca = s.ssl_files->root_ca();
  }
  const bool sds = inline_data && delivery.mode == secret_delivery::sds && delivery.sink != nullptr;
  auto set_source = [&](envoy::config::core::v3::DataSource& d, const std::string& v) {
    if (inline_data) {
      d.set_inline_string(v);
    } else {
      d.set_filename(v);
    }
  };
  if (!cert.empty() || !key.empty()) {
    if (cert.empty() || key.empty()) {
      return std::string("TLS needs both a certificate chain and a private key");
    }
    if (sds) {
      tls::Secret secret;
      secret.set_name(sds_certificate_name(secret_ns, secret_name));
      set_source(*secret.mutable_tls_certificate()->mutable_certificate_chain(), cert);
      set_source(*secret.mutable_tls_certificate()->mutable_private_key(), key);
      auto* ref = ctx.add_tls_certificate_sds_secret_configs();
      ref->set_name(secret.name());
      *ref->mutable_sds_config() = ads_config_source();
      (*delivery.sink)[secret.name()] = std::move(secret);
    } else {
      auto* c = ctx.add_tls_certificates();
      set_source(*c->mutable_certificate_chain(), cert);
      set_source(*c->mutable_private_key(), key);
    }
  }
  if (!root_ca.empty()) {
    tls::CertificateValidationContext validation;
    if (s.verify_subject_alt_name != nullptr) {
      for (const auto& san : *s.verify_subject_alt_name) {
        auto* m = validation.add_match_typed_subject_alt_names();
        m->set_san_type(tls::SubjectAltNameMatcher::DNS);
        m->mutable_matcher()->set_exact(san);
      }
    }
    if (sds) {
      tls::Secret secret;
      secret.set_name(sds_validation_name(secret_ns, secret_name));
      set_source(*secret.mutable_validation_context()->mutable_trusted_ca(), root_ca);
      tls::SdsSecretConfig ref;
      ref.set_name(secret.name());
      *ref.mutable_sds_config() = ads_config_source();
      (*delivery.sink)[secret.name()] = std::move(secret);
      if (validation.match_typed_subject_alt_names().empty()) {
        *ctx.mutable_validation_context_sds_secret_config() = std::move(ref);
      } else {
        auto* combined = ctx.mutable_combined_validation_context();
        *combined->mutable_default_validation_context() = std::move(validation);
        *combined->mutable_validation_context_sds_secret_config() = std::move(ref);
      }
    } else {
      set_source(*validation.mutable_trusted_ca(), root_ca);
      *ctx.mutable_validation_context() = std::move(validation);
    }
  } else if (s.verify_subject_alt_name != nullptr && !s.verify_subject_alt_name->empty()) {
    return std::string("verifySubjectAltName needs a root CA to verify against");
  }
  if (s.parameters != nullptr) {
    auto* p = ctx.mutable_tls_params();
    p->set_tls_minimum_protocol_version(tls_protocol(s.parameters->minimum_protocol_version()));
    p->set_tls_maximum_protocol_version(tls_protocol(s.parameters->maximum_protocol_version()));
    *p->mutable_cipher_suites() = s.parameters->cipher_suites();
    *p->mutable_ecdh_curves() = s.parameters->ecdh_curves();
  }
  if (s.alpn_protocols != nullptr) {
    *ctx.mutable_alpn_protocols() = *s.alpn_protocols;
  }
  return ctx;
}

std::variant<tls::DownstreamTlsContext, std::string> downstream_tls_context(
    const gl::SslConfig& c, const std::string& ns, const model::world& w,
    const tls_delivery& delivery) {
  auto common = common_tls_context(settings_of(c, ns), w, delivery);
  if (auto* problem = std::get_if<std::string>(&common)) {
    return *problem;
  }
  tls::DownstreamTlsContext ctx;
  *ctx.mutable_common_tls_context() = std::get<tls::CommonTlsContext>(std::move(common));
  auto* alpn = ctx.mutable_common_tls_context()->mutable_alpn_protocols();
  // Gloo: no ALPN list means h2 and http/1.1; ["allow_empty"] means none.
  if (alpn->empty()) {
    alpn->Add("h2");
    alpn->Add("http/1.1");
  } else if (alpn->size() == 1 && alpn->Get(0) == "allow_empty") {
    alpn->Clear();
  }
  if (has_root_ca(ctx.common_tls_context()) && !c.one_way_tls().value()) {
    ctx.mutable_require_client_certificate()->set_value(true);
  }
  if (c.disable_tls_session_resumption().value()) {
    ctx.set_disable_stateful_session_resumption(true);
  }
  ctx.set_ocsp_staple_policy(
      static_cast<tls::DownstreamTlsContext::OcspStaplePolicy>(c.ocsp_staple_policy()));
  return ctx;
}

bool has_root_ca(const tls::CommonTlsContext& c) {
  return (c.has_validation_context() && c.validation_context().has_trusted_ca()) ||
         c.has_validation_context_sds_secret_config() ||
         (c.has_combined_validation_context() &&
          c.combined_validation_context().has_validation_context_sds_secret_config());
}

}  // namespace sluice::xds
