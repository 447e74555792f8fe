#include "adapters/validation_certificates.hpp"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <arpa/inet.h>

#include <algorithm>
#include <ctime>
#include <memory>

#include "model/error.hpp"

namespace sluice::adapters {

namespace {

template <auto Free>
struct deleter {
  template <class T>
  void operator()(T* p) const {
    Free(p);
  }
};
using pkey_ptr = std::unique_ptr<EVP_PKEY, deleter<EVP_PKEY_free>>;
using x509_ptr = std::unique_ptr<X509, deleter<X509_free>>;
using bio_ptr = std::unique_ptr<BIO, deleter<BIO_free>>;
using ext_ptr = std::unique_ptr<X509_EXTENSION, deleter<X509_EXTENSION_free>>;
using bn_ptr = std::unique_ptr<BIGNUM, deleter<BN_free>>;
using names_ptr = std::unique_ptr<GENERAL_NAMES, deleter<GENERAL_NAMES_free>>;

/// The newest OpenSSL error, for messages.
std::string openssl_error() {
  unsigned long code = ERR_get_error();
  ERR_clear_error();
  if (code == 0) {
    return "unknown OpenSSL error";
  }
  char buf[256];
  ERR_error_string_n(code, buf, sizeof(buf));
  return buf;
}

caf::error failure(const std::string& what) {
  return make_error(ec::invalid_argument, what + ": " + openssl_error());
}

/// DNS names go into an OpenSSL config string; anything but host-name characters is refused
/// rather than escaped.
bool valid_dns_name(const std::string& name) {
  if (name.empty() || name.size() > 253) {
    return false;
  }
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-'
           || c == '.' || c == '*';
  });
}

bool valid_ip(const std::string& ip) {
  unsigned char buf[16];
  return inet_pton(AF_INET, ip.c_str(), buf) == 1 || inet_pton(AF_INET6, ip.c_str(), buf) == 1;
}

caf::expected<pkey_ptr> new_key() {
  pkey_ptr key(EVP_EC_gen("P-256"));
  if (!key) {
    return failure("cannot generate an ECDSA P-256 key");
  }
  return key;
}

caf::error add_extension(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  ext_ptr ext(X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str()));
  if (!ext || X509_add_ext(cert, ext.get(), -1) != 1) {
    return failure("cannot add certificate extension " + std::string(OBJ_nid2sn(nid)) + "="
                   + value);
  }
  return {};
}

/// A certificate for `key`, with the given subject, valid from five minutes ago (clock skew
/// between nodes) for `validity`, not yet signed.
caf::expected<x509_ptr> new_certificate(EVP_PKEY* key, const std::string& common_name,
                                        std::chrono::seconds validity) {
  x509_ptr cert(X509_new());
  if (!cert || X509_set_version(cert.get(), 2) != 1) {
    return failure("cannot create a certificate");
  }
  // 127 random bits: positive, unique enough that no two certificates from here collide.
  unsigned char serial_bytes[16];
  if (RAND_bytes(serial_bytes, sizeof(serial_bytes)) != 1) {
    return failure("cannot draw a random serial number");
  }
  serial_bytes[0] &= 0x7f;
  bn_ptr serial(BN_bin2bn(serial_bytes, sizeof(serial_bytes), nullptr));
  if (!serial || BN_to_ASN1_INTEGER(serial.get(), X509_get_serialNumber(cert.get())) == nullptr) {
    return failure("cannot set the serial number");
  }
  if (X509_gmtime_adj(X509_getm_notBefore(cert.get()), -300) == nullptr
      || X509_time_adj_ex(X509_getm_notAfter(cert.get()),
                          static_cast<int>(validity.count() / 86400),
                          static_cast<long>(validity.count() % 86400), nullptr)
             == nullptr) {
    return failure("cannot set the validity period");
  }
  X509_NAME* name = X509_get_subject_name(cert.get());
  const auto* cn = reinterpret_cast<const unsigned char*>(common_name.c_str());
  if (X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
                                 reinterpret_cast<const unsigned char*>("sluice"), -1, -1, 0)
          != 1
      || X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, cn, -1, -1, 0) != 1) {
    return failure("cannot set the subject name \"" + common_name + "\"");
  }
  if (X509_set_pubkey(cert.get(), key) != 1) {
    return failure("cannot set the public key");
  }
  return cert;
}

caf::expected<std::string> pem_of(X509* cert) {
  bio_ptr bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_X509(bio.get(), cert) != 1) {
    return failure("cannot encode a certificate as PEM");
  }
  char* data = nullptr;
  long n = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(n));
}

caf::expected<std::string> pem_of(EVP_PKEY* key) {
  bio_ptr bio(BIO_new(BIO_s_mem()));
  if (!bio
      || PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    return failure("cannot encode a private key as PEM");
  }
  char* data = nullptr;
  long n = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(n));
}

std::vector<x509_ptr> read_certificates(const std::string& pem) {
  std::vector<x509_ptr> out;
  bio_ptr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  while (bio) {
    x509_ptr cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
    if (!cert) {
      break;
    }
    out.push_back(std::move(cert));
  }
  ERR_clear_error();  // the read that ends the loop always fails
  return out;
}

std::chrono::system_clock::time_point time_of(const ASN1_TIME* t) {
  std::tm tm{};
  if (t == nullptr || ASN1_TIME_to_tm(t, &tm) != 1) {
    return {};
  }
  return std::chrono::system_clock::from_time_t(timegm(&tm));
}

std::string one_line(X509_NAME* name) {
  bio_ptr bio(BIO_new(BIO_s_mem()));
  if (!bio || X509_NAME_print_ex(bio.get(), name, 0, XN_FLAG_RFC2253) < 0) {
    return {};
  }
  char* data = nullptr;
  long n = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(n));
}

}  // namespace

std::vector<std::string> service_dns_names(const std::string& service, const std::string& ns,
                                           const std::string& cluster_domain) {
  std::vector<std::string> names{service, service + "." + ns, service + "." + ns + ".svc"};
  if (!cluster_domain.empty()) {
    names.push_back(service + "." + ns + ".svc." + cluster_domain);
  }
  return names;
}

caf::expected<certificate_bundle> generate_serving_certificate(const certificate_request& request) {
  if (request.dns_names.empty() && request.ip_addresses.empty()) {
    return make_error(ec::invalid_argument,
                      "a serving certificate needs at least one DNS name or IP address");
  }
  std::string san;
  for (const auto& n : request.dns_names) {
    if (!valid_dns_name(n)) {
      return make_error(ec::invalid_argument, "\"" + n + "\" is not a valid DNS name");
    }
    san += (san.empty() ? "DNS:" : ",DNS:") + n;
  }
  for (const auto& ip : request.ip_addresses) {
    if (!valid_ip(ip)) {
      return make_error(ec::invalid_argument, "\"" + ip + "\" is not an IP address");
    }
    san += (san.empty() ? "IP:" : ",IP:") + ip;
  }
  if (request.validity.count() < 3600) {
    return make_error(ec::invalid_argument, "certificate validity must be at least one hour");
  }

  auto ca_key = new_key();
  if (!ca_key) {
    return ca_key.error();
  }
  // The CA outlives the serving certificate a little, so a renewal of the leaf alone stays valid.
  auto ca = new_certificate(ca_key->get(), request.ca_common_name,
                            request.validity + std::chrono::hours(24));
  if (!ca) {
    return ca.error();
  }
  if (X509_set_issuer_name(ca->get(), X509_get_subject_name(ca->get())) != 1) {
    return failure("cannot set the CA issuer");
  }
  for (auto [nid, value] : {std::pair{NID_basic_constraints, "critical,CA:TRUE"},
                            std::pair{NID_key_usage, "critical,keyCertSign,cRLSign"},
                            std::pair{NID_subject_key_identifier, "hash"}}) {
    if (auto err = add_extension(ca->get(), ca->get(), nid, value)) {
      return err;
    }
  }
  if (X509_sign(ca->get(), ca_key->get(), EVP_sha256()) == 0) {
    return failure("cannot sign the CA certificate");
  }

  auto key = new_key();
  if (!key) {
    return key.error();
  }
  std::string cn
      = request.common_name.empty()
            ? (request.dns_names.empty() ? request.ip_addresses.front() : request.dns_names.back())
            : request.common_name;
  auto cert = new_certificate(key->get(), cn, request.validity);
  if (!cert) {
    return cert.error();
  }
  if (X509_set_issuer_name(cert->get(), X509_get_subject_name(ca->get())) != 1) {
    return failure("cannot set the certificate issuer");
  }
  for (auto [nid, value] :
       {std::pair{NID_basic_constraints, std::string("critical,CA:FALSE")},
        std::pair{NID_key_usage, std::string("critical,digitalSignature,keyEncipherment")},
        std::pair{NID_ext_key_usage, std::string("serverAuth")},
        std::pair{NID_subject_key_identifier, std::string("hash")},
        std::pair{NID_authority_key_identifier, std::string("keyid:always")},
        std::pair{NID_subject_alt_name, san}}) {
    if (auto err = add_extension(cert->get(), ca->get(), nid, value)) {
      return err;
    }
  }
  if (X509_sign(cert->get(), ca_key->get(), EVP_sha256()) == 0) {
    return failure("cannot sign the serving certificate");
  }

  certificate_bundle out;
  auto ca_pem = pem_of(ca->get());
  auto cert_pem = pem_of(cert->get());
  auto key_pem = pem_of(key->get());
  if (!ca_pem || !cert_pem || !key_pem) {
    return !ca_pem ? ca_pem.error() : !cert_pem ? cert_pem.error() : key_pem.error();
  }
  out.ca_pem = std::move(*ca_pem);
  out.cert_pem = std::move(*cert_pem);
  out.key_pem = std::move(*key_pem);
  return out;
}

caf::expected<certificate_facts> inspect_bundle(const certificate_bundle& bundle) {
  auto cas = read_certificates(bundle.ca_pem);
  auto certs = read_certificates(bundle.cert_pem);
  if (cas.empty()) {
    return make_error(ec::parse_error, "ca.crt holds no PEM certificate");
  }
  if (certs.empty()) {
    return make_error(ec::parse_error, "tls.crt holds no PEM certificate");
  }
  bio_ptr key_bio(BIO_new_mem_buf(bundle.key_pem.data(), static_cast<int>(bundle.key_pem.size())));
  pkey_ptr key(key_bio ? PEM_read_bio_PrivateKey(key_bio.get(), nullptr, nullptr, nullptr)
                       : nullptr);
  if (!key) {
    ERR_clear_error();
    return make_error(ec::parse_error, "tls.key holds no PEM private key");
  }
  X509* cert = certs.front().get();
  certificate_facts facts;
  facts.subject = one_line(X509_get_subject_name(cert));
  facts.not_before = time_of(X509_get0_notBefore(cert));
  facts.not_after = time_of(X509_get0_notAfter(cert));
  facts.key_matches = X509_check_private_key(cert, key.get()) == 1;
  // Any CA in ca.crt may have signed it (a bundle during rotation holds two).
  for (const auto& ca : cas) {
    facts.ca_is_ca = facts.ca_is_ca || X509_check_ca(ca.get()) >= 1;
    if (X509_verify(cert, X509_get0_pubkey(ca.get())) == 1) {
      facts.signed_by_ca = true;
      facts.ca_is_ca = X509_check_ca(ca.get()) >= 1;
      break;
    }
  }
  ERR_clear_error();
  names_ptr names(
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr)));
  for (int i = 0; names && i < sk_GENERAL_NAME_num(names.get()); ++i) {
    const GENERAL_NAME* n = sk_GENERAL_NAME_value(names.get(), i);
    if (n->type == GEN_DNS) {
      const auto* s = n->d.dNSName;
      facts.dns_names.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                                   static_cast<size_t>(ASN1_STRING_length(s)));
    } else if (n->type == GEN_IPADD) {
      const auto* s = n->d.iPAddress;
      char text[INET6_ADDRSTRLEN] = {};
      int family = ASN1_STRING_length(s) == 4 ? AF_INET : AF_INET6;
      if (inet_ntop(family, ASN1_STRING_get0_data(s), text, sizeof(text)) != nullptr) {
        facts.ip_addresses.emplace_back(text);
      }
    }
  }
  return facts;
}

std::optional<std::string> renewal_reason(const certificate_bundle& bundle,
                                          const std::vector<std::string>& dns_names,
                                          std::chrono::system_clock::time_point now,
                                          std::chrono::seconds renew_before) {
  auto facts = inspect_bundle(bundle);
  if (!facts) {
    return describe(facts.error());
  }
  if (!facts->signed_by_ca) {
    return "tls.crt is not signed by a certificate in ca.crt";
  }
  if (!facts->ca_is_ca) {
    return "ca.crt is not a CA certificate";
  }
  if (!facts->key_matches) {
    return "tls.key is not the key of tls.crt";
  }
  for (const auto& n : dns_names) {
    if (std::find(facts->dns_names.begin(), facts->dns_names.end(), n) == facts->dns_names.end()) {
      return "tls.crt does not name " + n;
    }
  }
  if (facts->not_before > now + std::chrono::minutes(5)) {
    return "tls.crt is not valid yet";
  }
  if (facts->not_after <= now + renew_before) {
    auto t = std::chrono::system_clock::to_time_t(facts->not_after);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char text[32];
    std::strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%SZ", &tm);
    return std::string("tls.crt expires at ") + text + ", within the renewal window";
  }
  return std::nullopt;
}

std::string unexpired_certificates(const std::string& pem,
                                   std::chrono::system_clock::time_point now) {
  std::string out;
  for (const auto& cert : read_certificates(pem)) {
    if (time_of(X509_get0_notAfter(cert.get())) > now) {
      if (auto text = pem_of(cert.get())) {
        out += *text;
      }
    }
  }
  return out;
}

std::string base64_encode(std::string_view bytes) {
  static constexpr char alphabet[]
      = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    uint32_t v = (uint32_t(uint8_t(bytes[i])) << 16) | (uint32_t(uint8_t(bytes[i + 1])) << 8)
                 | uint8_t(bytes[i + 2]);
    out += alphabet[(v >> 18) & 63];
    out += alphabet[(v >> 12) & 63];
    out += alphabet[(v >> 6) & 63];
    out += alphabet[v & 63];
  }
  if (i + 1 == bytes.size()) {
    uint32_t v = uint32_t(uint8_t(bytes[i])) << 16;
    out += alphabet[(v >> 18) & 63];
    out += alphabet[(v >> 12) & 63];
    out += "==";
  } else if (i + 2 == bytes.size()) {
    uint32_t v = (uint32_t(uint8_t(bytes[i])) << 16) | (uint32_t(uint8_t(bytes[i + 1])) << 8);
    out += alphabet[(v >> 18) & 63];
    out += alphabet[(v >> 12) & 63];
    out += alphabet[(v >> 6) & 63];
    out += '=';
  }
  return out;
}

std::optional<std::string> base64_decode(std::string_view text) {
  auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  size_t padding = 0;
  for (char c : text) {
    if (c == '\n' || c == '\r' || c == ' ' || c == '\t') {
      continue;
    }
    if (c == '=') {
      ++padding;
      continue;
    }
    int v = value(c);
    if (v < 0 || padding > 0) {
      return std::nullopt;
    }
    acc = (acc << 6) | uint32_t(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += char((acc >> bits) & 0xff);
    }
  }
  if (padding > 2) {
    return std::nullopt;
  }
  return out;
}

}  // namespace sluice::adapters
