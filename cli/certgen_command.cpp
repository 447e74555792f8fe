// `sluice certgen`: the admission webhook's TLS, as Gloo's certgen job makes it. Creates a CA and
// a serving certificate for the `gateway` Service's DNS names, stores them in the
// `gateway-validation-certs` Secret (tls.crt, tls.key, ca.crt; type kubernetes.io/tls), and puts
// the CA into the caBundle of every webhook of the ValidatingWebhookConfiguration, so the API
// server trusts the webhook. With --output-dir it writes the three files instead and touches no
// cluster.
//
// Idempotent: a Secret whose certificate is signed by its CA, names every DNS name, and is valid
// beyond the renewal window is kept (the Job runs again on every upgrade). On rotation the new CA
// goes into the caBundle *before* the Secret changes, next to the old CA while that is valid, so
// the API server trusts the webhook through the switch.
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "adapters/kubernetes_client.hpp"
#include "adapters/validation_certificates.hpp"
#include "cli/commands.hpp"
#include "model/error.hpp"

namespace sluice::cli {

namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

struct certgen_flags {
  std::string secret_name = "gateway-validation-certs";
  std::string service = "gateway";
  std::string ns = "gloo-system";
  std::string cluster_domain = "cluster.local";
  std::string webhook_configuration;
  std::string kubeconfig;
  std::string output_dir;
  std::vector<std::string> extra_dns;
  std::vector<std::string> ips;
  int validity_days = 365;
  int renew_before_days = 30;
  bool force = false;
};

std::vector<std::string> wanted_names(const certgen_flags& f) {
  auto names = adapters::service_dns_names(f.service, f.ns, f.cluster_domain);
  names.insert(names.end(), f.extra_dns.begin(), f.extra_dns.end());
  return names;
}

caf::expected<adapters::certificate_bundle> fresh_bundle(const certgen_flags& f) {
  adapters::certificate_request req;
  req.dns_names = wanted_names(f);
  req.common_name = f.service + "." + f.ns + ".svc";
  req.ip_addresses = f.ips;
  req.validity = std::chrono::hours(24) * f.validity_days;
  return adapters::generate_serving_certificate(req);
}

std::string expiry_text(const adapters::certificate_bundle& b) {
  auto facts = adapters::inspect_bundle(b);
  if (!facts) {
    return "unknown";
  }
  auto t = std::chrono::system_clock::to_time_t(facts->not_after);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char text[32];
  std::strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return text;
}

std::optional<std::string> read_text(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) {
    return std::nullopt;
  }
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool write_text(const fs::path& p, const std::string& text, fs::perms perms) {
  {
    std::ofstream out(p, std::ios::binary | std::ios::trunc);
    out << text;
    if (!out) {
      return false;
    }
  }
  std::error_code ec;
  fs::permissions(p, perms, ec);
  return !ec;
}

int run_output_dir(const certgen_flags& f) {
  const fs::path dir = f.output_dir;
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) {
    std::cerr << "error: cannot create " << dir << ": " << ec.message() << "\n";
    return 1;
  }
  adapters::certificate_bundle existing;
  auto ca = read_text(dir / "ca.crt");
  auto crt = read_text(dir / "tls.crt");
  auto key = read_text(dir / "tls.key");
  if (ca && crt && key && !f.force) {
    existing = {*ca, *crt, *key};
    auto why = adapters::renewal_reason(existing, wanted_names(f), std::chrono::system_clock::now(),
                                        std::chrono::hours(24) * f.renew_before_days);
    if (!why) {
      std::cout << "certificates in " << dir.string() << " are valid until "
                << expiry_text(existing) << "; kept\n";
      return 0;
    }
    std::cout << "replacing the certificates in " << dir.string() << ": " << *why << "\n";
  }
  auto bundle = fresh_bundle(f);
  if (!bundle) {
    std::cerr << "error: " << describe(bundle.error()) << "\n";
    return 1;
  }
  const auto readable = fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read
                        | fs::perms::others_read;
  if (!write_text(dir / "ca.crt", bundle->ca_pem, readable)
      || !write_text(dir / "tls.crt", bundle->cert_pem, readable)
      || !write_text(dir / "tls.key", bundle->key_pem,
                     fs::perms::owner_read | fs::perms::owner_write)) {
    std::cerr << "error: cannot write the certificates into " << dir << "\n";
    return 1;
  }
  std::cout << "wrote ca.crt, tls.crt and tls.key to " << dir.string() << " (valid until "
            << expiry_text(*bundle) << ")\n";
  return 0;
}

std::string status_message(const adapters::kubernetes_response& response) {
  auto body = json::parse(response.body, nullptr, false);
  if (body.is_object() && body.contains("message") && body["message"].is_string()) {
    return "HTTP " + std::to_string(response.status) + ": " + body["message"].get<std::string>();
  }
  return "HTTP " + std::to_string(response.status) + ": " + response.body.substr(0, 300);
}

std::string data_of(const json& secret, const char* key) {
  if (!secret.contains("data") || !secret["data"].is_object()) {
    return {};
  }
  const auto& d = secret["data"];
  if (!d.contains(key) || !d[key].is_string()) {
    return {};
  }
  return adapters::base64_decode(d[key].get<std::string>()).value_or("");
}

/// The PEM blocks of `text`, each with its END line.
std::vector<std::string> pem_blocks(const std::string& text) {
  std::vector<std::string> out;
  const std::string end = "-----END CERTIFICATE-----";
  size_t pos = 0;
  while (true) {
    size_t b = text.find("-----BEGIN CERTIFICATE-----", pos);
    if (b == std::string::npos) {
      break;
    }
    size_t e = text.find(end, b);
    if (e == std::string::npos) {
      break;
    }
    out.push_back(text.substr(b, e + end.size() - b) + "\n");
    pos = e + end.size();
  }
  return out;
}

/// `first` followed by the still-valid certificates of `others` that are not already in it.
std::string merged_bundle(const std::string& first, const std::vector<std::string>& others) {
  std::string out = first;
  const auto now = std::chrono::system_clock::now();
  for (const auto& text : others) {
    for (const auto& block : pem_blocks(adapters::unexpired_certificates(text, now))) {
      if (out.find(block) == std::string::npos) {
        out += block;
      }
    }
  }
  return out;
}

/// Puts `ca_pem` into every webhook's caBundle (keeping still-valid CAs from `keep`). A conflict
/// (someone else wrote in between) is retried on a fresh read.
caf::expected<std::string> update_ca_bundle(adapters::kubernetes_client& api,
                                            const certgen_flags& f, const std::string& ca_pem,
                                            const std::vector<std::string>& keep) {
  const std::string path = "/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations/"
                           + f.webhook_configuration;
  for (int attempt = 0; attempt < 5; ++attempt) {
    auto got = api.request("GET", path);
    if (!got) {
      return got.error();
    }
    if (got->status == 404) {
      return make_error(ec::not_found, "ValidatingWebhookConfiguration " + f.webhook_configuration
                                           + " does not exist (apply the manifests first)");
    }
    if (got->status != 200) {
      return make_error(ec::source_error, "reading ValidatingWebhookConfiguration "
                                              + f.webhook_configuration + ": "
                                              + status_message(*got));
    }
    json config = json::parse(got->body, nullptr, false);
    if (!config.is_object() || !config.contains("webhooks") || !config["webhooks"].is_array()) {
      return make_error(
          ec::protocol_error,
          "ValidatingWebhookConfiguration " + f.webhook_configuration + " has no webhooks list");
    }
    size_t changed = 0;
    for (auto& hook : config["webhooks"]) {
      std::string current;
      if (hook.contains("clientConfig") && hook["clientConfig"].contains("caBundle")
          && hook["clientConfig"]["caBundle"].is_string()) {
        current = adapters::base64_decode(hook["clientConfig"]["caBundle"].get<std::string>())
                      .value_or("");
      }
      std::vector<std::string> others = keep;
      others.push_back(current);
      const std::string bundle = merged_bundle(ca_pem, others);
      if (bundle != current) {
        hook["clientConfig"]["caBundle"] = adapters::base64_encode(bundle);
        ++changed;
      }
    }
    if (changed == 0) {
      return "caBundle already current on " + std::to_string(config["webhooks"].size())
             + " webhooks";
    }
    auto put = api.request("PUT", path, config.dump());
    if (!put) {
      return put.error();
    }
    if (put->status == 409) {
      continue;
    }
    if (put->status != 200) {
      return make_error(ec::source_error, "updating ValidatingWebhookConfiguration "
                                              + f.webhook_configuration + ": "
                                              + status_message(*put));
    }
    return "caBundle updated on " + std::to_string(changed) + " webhooks";
  }
  return make_error(ec::source_error, "ValidatingWebhookConfiguration " + f.webhook_configuration
                                          + " kept changing; gave up after 5 conflicts");
}

int run_cluster(const certgen_flags& f) {
  auto creds = adapters::default_credentials(f.kubeconfig);
  if (!creds) {
    std::cerr << "error: " << describe(creds.error()) << "\n";
    return 1;
  }
  auto client = adapters::kubernetes_client::make(*creds);
  if (!client) {
    std::cerr << "error: " << describe(client.error()) << "\n";
    return 1;
  }
  auto& api = **client;
  const std::string secrets = "/api/v1/namespaces/" + f.ns + "/secrets";
  const std::string secret_path = secrets + "/" + f.secret_name;
  const std::string what = "Secret " + f.ns + "/" + f.secret_name;

  auto got = api.request("GET", secret_path);
  if (!got) {
    std::cerr << "error: " << describe(got.error()) << "\n";
    return 1;
  }
  if (got->status != 200 && got->status != 404) {
    std::cerr << "error: reading " << what << ": " << status_message(*got) << "\n";
    return 1;
  }
  json existing = got->status == 200 ? json::parse(got->body, nullptr, false) : json();
  adapters::certificate_bundle current;
  if (existing.is_object()) {
    current
        = {data_of(existing, "ca.crt"), data_of(existing, "tls.crt"), data_of(existing, "tls.key")};
  }

  std::optional<std::string> why;
  if (!existing.is_object()) {
    why = "it does not exist";
  } else if (f.force) {
    why = "--force-rotation";
  } else {
    why = adapters::renewal_reason(current, wanted_names(f), std::chrono::system_clock::now(),
                                   std::chrono::hours(24) * f.renew_before_days);
  }

  adapters::certificate_bundle bundle = current;
  if (why) {
    auto fresh = fresh_bundle(f);
    if (!fresh) {
      std::cerr << "error: " << describe(fresh.error()) << "\n";
      return 1;
    }
    bundle = std::move(*fresh);
  }

  // Trust first, then serve: the caBundle learns the new CA before the Secret changes.
  if (!f.webhook_configuration.empty()) {
    auto done = update_ca_bundle(
        api, f, bundle.ca_pem,
        why ? std::vector<std::string>{current.ca_pem} : std::vector<std::string>{});
    if (!done) {
      std::cerr << "error: " << describe(done.error()) << "\n";
      return 1;
    }
    std::cout << "ValidatingWebhookConfiguration " << f.webhook_configuration << ": " << *done
              << "\n";
  }

  if (!why) {
    std::cout << what << ": valid until " << expiry_text(bundle) << "; kept\n";
    return 0;
  }
  json secret = existing.is_object() ? existing : json::object();
  secret["apiVersion"] = "v1";
  secret["kind"] = "Secret";
  secret["type"] = "kubernetes.io/tls";
  secret["metadata"]["name"] = f.secret_name;
  secret["metadata"]["namespace"] = f.ns;
  secret["metadata"]["labels"]["app"] = "gloo";
  secret["metadata"]["labels"]["gloo"] = "gateway-certgen";
  secret["data"] = {{"tls.crt", adapters::base64_encode(bundle.cert_pem)},
                    {"tls.key", adapters::base64_encode(bundle.key_pem)},
                    {"ca.crt", adapters::base64_encode(bundle.ca_pem)}};
  secret.erase("stringData");
  auto wrote = existing.is_object() ? api.request("PUT", secret_path, secret.dump())
                                    : api.request("POST", secrets, secret.dump());
  if (!wrote) {
    std::cerr << "error: " << describe(wrote.error()) << "\n";
    return 1;
  }
  if (wrote->status != 200 && wrote->status != 201) {
    std::cerr << "error: writing " << what << ": " << status_message(*wrote)
              << (wrote->status == 409 ? " (written concurrently; run certgen again)" : "") << "\n";
    return 1;
  }
  std::cout << what << ": " << (existing.is_object() ? "replaced" : "created") << " because "
            << *why << " (valid until " << expiry_text(bundle) << ")\n";
  return 0;
}

int run_certgen(const certgen_flags& f) {
  if (f.validity_days < 1 || f.renew_before_days < 0 || f.renew_before_days >= f.validity_days) {
    std::cerr << "error: need --validity-days >= 1 and 0 <= --renew-before-days < "
                 "--validity-days\n";
    return 2;
  }
  return f.output_dir.empty() ? run_cluster(f) : run_output_dir(f);
}

}  // namespace

command_fn setup_certgen(CLI::App& app) {
  auto flags = std::make_shared<certgen_flags>();
  app.add_option("--secret-name", flags->secret_name, "Secret that holds tls.crt, tls.key, ca.crt")
      ->capture_default_str();
  app.add_option("--svc-name", flags->service, "Service in front of the webhook")
      ->capture_default_str();
  app.add_option("-n,--namespace", flags->ns, "namespace of the Service and the Secret")
      ->capture_default_str();
  app.add_option("--cluster-domain", flags->cluster_domain, "the cluster's DNS domain")
      ->capture_default_str();
  app.add_option("--validating-webhook-configuration-name", flags->webhook_configuration,
                 "ValidatingWebhookConfiguration whose caBundle to set (empty: none)");
  app.add_option("--kubeconfig", flags->kubeconfig,
                 "kubeconfig file (default: in-cluster, then $KUBECONFIG, ~/.kube/config)");
  app.add_option("--output-dir", flags->output_dir,
                 "write ca.crt, tls.crt and tls.key here instead of into the cluster");
  app.add_option("--dns-name", flags->extra_dns, "another DNS name for the certificate");
  app.add_option("--ip", flags->ips, "an IP address for the certificate");
  app.add_option("--validity-days", flags->validity_days, "lifetime of a new certificate")
      ->capture_default_str();
  app.add_option("--renew-before-days", flags->renew_before_days,
                 "replace a certificate that expires within this many days")
      ->capture_default_str();
  app.add_flag("--force-rotation", flags->force, "replace the certificate even if it is valid");
  return [flags] { return run_certgen(*flags); };
}

namespace {
const command_registration registration{
    "certgen",
    "create the validation webhook's CA and serving certificate (Secret "
    "gateway-validation-certs) and set the webhook's caBundle",
    setup_certgen};
}  // namespace

}  // namespace sluice::cli
