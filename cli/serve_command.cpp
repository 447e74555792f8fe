// `sluice serve`: the control plane. With no flags it reads ./gloo (Gloo's directory layout) and
// keeps its event log in ./.sluice/data. `--source kubernetes` reads the Kubernetes API instead
// (kubeconfig or in-cluster), and `--role` picks what a replica writes (docs/kubernetes.md).
#include <signal.h>

#include <cstdlib>
#include <filesystem>
#include <sstream>

#include <charconv>
#include <chrono>
#include <cmath>
#include <iostream>
#include <map>
#include <tuple>

#include "actors/actor_types.hpp"
#include "actors/control_plane.hpp"
#include "adapters/kubernetes_client.hpp"
#include "cli/commands.hpp"
#include "model/error.hpp"
#include "model/logging.hpp"

namespace sluice::cli {

namespace {

struct serve_flags {
  std::string config_dir = "gloo";
  std::string data_dir = ".sluice/data";
  std::string xds_addr = "0.0.0.0:9977";
  std::string metrics_addr = "0.0.0.0:9966";
  std::string admin_addr = "127.0.0.1:9095";
  std::string log_level = "info";
  size_t threads = 0;
  // ADS limits.
  int max_receive_bytes = 4 * 1024 * 1024;
  int max_streams = 10'000;
  size_t max_names_per_request = 50'000;
  std::string stall_timeout = "60s";
  std::string keepalive_time = "30s";
  std::string keepalive_timeout = "10s";
  // Event log.
  uint64_t checkpoint_every = 10'000;
  size_t keep_checkpoints = 8;
  uint64_t retention_events = 0;
  std::string retention_age = "0";
  // Sources and roles.
  std::string source = "directory";
  std::string role = "all";
  std::string kubeconfig;
  std::string context;
  std::string write_namespace;  ///< --namespace; empty = POD_NAMESPACE or gloo-system
  std::string watch_namespaces;
  bool discovery = true;
  std::string identity;  ///< empty = POD_NAME or host name
  std::string lease_name;
  std::string lease_duration = "15s";
  std::string renew_deadline = "10s";
  std::string retry_period = "2s";
  double status_qps = 5.0;
  double status_burst = 10.0;
  double discovery_qps = 20.0;
  double discovery_burst = 50.0;
  std::string usage_interval = "30s";
  // Other ports: "" = the role's default (Kubernetes source only), "off" = disabled.
  std::string validation_addr;
  std::string webhook_addr;
  std::string webhook_cert = "/etc/gateway/validation-certs/tls.crt";
  std::string webhook_key = "/etc/gateway/validation-certs/tls.key";
  std::string wasm_cache_addr;
};

std::string env_or(const char* name, std::string fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? std::string(v) : std::move(fallback);
}

std::vector<std::string> split_list(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    if (!item.empty()) {
      out.push_back(item);
    }
  }
  return out;
}

/// "" = the role's default address (when the role serves it), "off" = none, else as given.
std::string port_flag(const std::string& flag, bool role_serves, const char* role_default) {
  if (flag == "off") {
    return "";
  }
  if (flag.empty()) {
    return role_serves ? role_default : "";
  }
  return flag;
}

/// "250ms", "60s", "15m", "24h", "7d" or "0"; a bare number is seconds.
caf::expected<std::chrono::milliseconds> parse_duration(const std::string& flag,
                                                        const std::string& text) {
  uint64_t n = 0;
  const char* end = text.data() + text.size();
  auto [rest, ec] = std::from_chars(text.data(), end, n);
  const std::string unit(rest, end);
  const std::map<std::string, uint64_t> ms_per{
      {"", 1000}, {"ms", 1}, {"s", 1000}, {"m", 60'000}, {"h", 3'600'000}, {"d", 86'400'000}};
  auto it = ms_per.find(unit);
  if (ec != std::errc{} || it == ms_per.end()) {
    return make_error(ec::invalid_argument,
                      flag + ": \"" + text + "\" is not a duration (like 250ms, 60s, 15m, 24h, 7d)");
  }
  return std::chrono::milliseconds{n * it->second};
}

int run_serve(const serve_flags& flags) {
  log::set_level(flags.log_level);
  // Block the stop signals before CAF starts its threads, so only sigwait below sees them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  caf::actor_system_config cfg;
  cfg.add_message_types<caf::id_block::sluice>();
  if (flags.threads > 0) {
    cfg.set("scheduler.max-threads", flags.threads);
  }
  caf::actor_system sys{cfg};
  actors::control_plane_options options;
  options.config_dir = flags.config_dir;
  options.data_dir = flags.data_dir;
  options.xds_listen = flags.xds_addr;
  options.metrics_listen = flags.metrics_addr;
  options.admin_listen = flags.admin_addr;
  options.ads.max_receive_bytes = flags.max_receive_bytes;
  options.ads.max_streams = flags.max_streams;
  options.ads.max_names_per_request = flags.max_names_per_request;
  options.journal.checkpoint_every = flags.checkpoint_every;
  options.journal.keep_checkpoints = flags.keep_checkpoints;
  options.journal.retention.max_events = flags.retention_events;
  for (auto [flag, text, out] : {
           std::tuple{"--stall-timeout", &flags.stall_timeout, &options.ads.stall_timeout},
           std::tuple{"--keepalive-time", &flags.keepalive_time, &options.ads.keepalive_time},
           std::tuple{"--keepalive-timeout", &flags.keepalive_timeout,
                      &options.ads.keepalive_timeout}}) {
    auto d = parse_duration(flag, *text);
    if (!d) {
      log::cli()->error("{}", describe(d.error()));
      return 2;
    }
    *out = *d;
  }
  auto age = parse_duration("--retention-age", flags.retention_age);
  if (!age) {
    log::cli()->error("{}", describe(age.error()));
    return 2;
  }
  options.journal.retention.max_age = *age;
  // A token bucket with no rate or no room never writes: refuse it rather than serve with
  // discovery silently stalled.
  if (!(flags.discovery_qps > 0.0) || !std::isfinite(flags.discovery_qps)) {
    log::cli()->error("--discovery-qps: {} is not a rate; give writes per second above 0",
                      flags.discovery_qps);
    return 2;
  }
  if (!(flags.discovery_burst >= 1.0) || !std::isfinite(flags.discovery_burst)) {
    log::cli()->error("--discovery-burst: {} leaves no room for a single write; give 1 or more",
                      flags.discovery_burst);
    return 2;
  }

  auto role = actors::parse_serve_role(flags.role);
  if (!role) {
    log::cli()->error("{}", describe(role.error()));
    return 2;
  }
  options.role = *role;
  if (flags.source == "kubernetes") {
    auto creds = adapters::default_credentials(flags.kubeconfig, flags.context);
    if (!creds) {
      log::cli()->error("cannot reach kubernetes: {}", describe(creds.error()));
      return 1;
    }
    auto client = adapters::kubernetes_client::make(std::move(*creds));
    if (!client) {
      log::cli()->error("cannot reach kubernetes: {}", describe(client.error()));
      return 1;
    }
    auto& kube = options.kube;
    kube.client = std::move(*client);
    kube.write_namespace = flags.write_namespace.empty()
                               ? env_or("POD_NAMESPACE", "gloo-system")
                               : flags.write_namespace;
    kube.watch_namespaces = split_list(flags.watch_namespaces);
    kube.discovery = flags.discovery;
    kube.identity = flags.identity.empty() ? env_or("POD_NAME", "") : flags.identity;
    kube.lease_name = flags.lease_name;
    kube.status_qps = flags.status_qps;
    kube.status_burst = flags.status_burst;
    kube.discovery_qps = flags.discovery_qps;
    kube.discovery_burst = flags.discovery_burst;
    for (auto [flag, text, out] : {
             std::tuple{"--lease-duration", &flags.lease_duration, &kube.lease_duration},
             std::tuple{"--renew-deadline", &flags.renew_deadline, &kube.renew_deadline},
             std::tuple{"--retry-period", &flags.retry_period, &kube.retry_period},
             std::tuple{"--usage-interval", &flags.usage_interval, &kube.usage_interval}}) {
      auto d = parse_duration(flag, *text);
      if (!d) {
        log::cli()->error("{}", describe(d.error()));
        return 2;
      }
      *out = *d;
    }
    if (kube.renew_deadline >= kube.lease_duration) {
      log::cli()->error("--renew-deadline must be shorter than --lease-duration, or two replicas "
                        "could both believe they lead");
      return 2;
    }
    const bool gloo_ports = *role == actors::serve_role::all || *role == actors::serve_role::gloo;
    const bool gateway_ports
        = *role == actors::serve_role::all || *role == actors::serve_role::gateway;
    options.validation_listen = port_flag(flags.validation_addr, gloo_ports, "0.0.0.0:9988");
    options.wasm_cache_listen = port_flag(flags.wasm_cache_addr, gloo_ports, "0.0.0.0:9979");
    // By default the webhook runs only where its certificate is mounted (the gateway pods).
    std::error_code fs_ec;
    const bool have_cert = std::filesystem::exists(flags.webhook_cert, fs_ec);
    if (gateway_ports && !have_cert && flags.webhook_addr.empty()) {
      log::cli()->info("webhook off: no certificate at {}", flags.webhook_cert);
    }
    options.webhook_listen
        = port_flag(flags.webhook_addr, gateway_ports && have_cert, "0.0.0.0:8443");
  } else if (flags.source == "directory") {
    options.validation_listen = port_flag(flags.validation_addr, false, "");
    options.wasm_cache_listen = port_flag(flags.wasm_cache_addr, false, "");
    options.webhook_listen = port_flag(flags.webhook_addr, false, "");
  } else {
    log::cli()->error("--source: \"{}\" is not a source (directory, kubernetes)", flags.source);
    return 2;
  }
  options.webhook_cert_file = flags.webhook_cert;
  options.webhook_key_file = flags.webhook_key;
  auto cp = actors::control_plane::start(sys, options);
  if (!cp) {
    log::cli()->error("cannot start: {}", describe(cp.error()));
    return 1;
  }
  int sig = 0;
  sigwait(&stop_signals, &sig);
  log::cli()->info("stopping signal={}", sig);
  (*cp)->stop();
  return 0;
}

}  // namespace

command_fn setup_serve(CLI::App& app) {
  auto flags = std::make_shared<serve_flags>();
  app.add_option("--config-dir", flags->config_dir,
                 "directory in Gloo's layout: <plural>/<namespace>/<name>.yaml")
      ->capture_default_str();
  app.add_option("--data-dir", flags->data_dir, "RocksDB event log directory")
      ->capture_default_str();
  app.add_option("--xds-addr", flags->xds_addr, "gRPC ADS listen address (port 0 picks one)")
      ->capture_default_str();
  app.add_option("--metrics-addr", flags->metrics_addr,
                 "Prometheus /metrics listen address (empty: off)")
      ->capture_default_str();
  app.add_option("--admin-addr", flags->admin_addr,
                 "admin / debug JSON listen address: /events, /snapshots, /statuses, /replay, "
                 "/diff (empty: off)")
      ->capture_default_str();
  app.add_option("--max-receive-bytes", flags->max_receive_bytes,
                 "largest xDS request accepted")
      ->capture_default_str();
  app.add_option("--max-streams", flags->max_streams, "concurrent xDS streams")
      ->capture_default_str();
  app.add_option("--max-names-per-request", flags->max_names_per_request,
                 "resource names one xDS request may carry per type")
      ->capture_default_str();
  app.add_option("--stall-timeout", flags->stall_timeout,
                 "close an xDS stream that does not drain its pending response for this long (0: "
                 "never)")
      ->capture_default_str();
  app.add_option("--keepalive-time", flags->keepalive_time, "HTTP/2 keepalive ping interval")
      ->capture_default_str();
  app.add_option("--keepalive-timeout", flags->keepalive_timeout,
                 "drop a connection whose keepalive ping is not answered in this long")
      ->capture_default_str();
  app.add_option("--checkpoint-every", flags->checkpoint_every,
                 "events between event-log checkpoints (0: none)")
      ->capture_default_str();
  app.add_option("--keep-checkpoints", flags->keep_checkpoints,
                 "checkpoints kept besides the retention floor's")
      ->capture_default_str();
  app.add_option("--retention-events", flags->retention_events,
                 "keep about this many newest events in the log (0: all)")
      ->capture_default_str();
  app.add_option("--retention-age", flags->retention_age,
                 "drop events older than this, e.g. 7d (0: keep)")
      ->capture_default_str();
  app.add_option("--log-level", flags->log_level, "trace|debug|info|warn|error|off")
      ->capture_default_str();
  app.add_option("--threads", flags->threads, "actor scheduler threads (0: one per core)");
  app.add_option("--source", flags->source, "where the configuration comes from: directory|kubernetes")
      ->capture_default_str();
  app.add_option("--role", flags->role,
                 "what this replica writes: all|gloo|gateway|discovery (docs/kubernetes.md); every "
                 "role reads, translates and serves xDS")
      ->capture_default_str();
  app.add_option("--kubeconfig", flags->kubeconfig,
                 "kubeconfig file (default: in-cluster when KUBERNETES_SERVICE_HOST is set, else "
                 "$KUBECONFIG or ~/.kube/config)");
  app.add_option("--context", flags->context, "kubeconfig context (default: current-context)");
  app.add_option("--namespace", flags->write_namespace,
                 "namespace of sluice itself: Settings, the Lease, gloo-usage, discovered "
                 "resources, status key (default: $POD_NAMESPACE or gloo-system)");
  app.add_option("--watch-namespaces", flags->watch_namespaces,
                 "comma-separated namespaces to watch (default: Settings watchNamespaces, else "
                 "all); the --namespace is always watched");
  app.add_option("--discovery", flags->discovery,
                 "Upstreams from Services and Endpoints from EndpointSlices (kubernetes source)")
      ->capture_default_str();
  app.add_option("--identity", flags->identity,
                 "this replica's name in the Lease (default: $POD_NAME, else host name)");
  app.add_option("--lease-name", flags->lease_name, "Lease name (default: sluice-<role>)");
  app.add_option("--lease-duration", flags->lease_duration,
                 "how long a silent leader keeps the Lease")
      ->capture_default_str();
  app.add_option("--renew-deadline", flags->renew_deadline,
                 "a leader that has not renewed for this long stops writing")
      ->capture_default_str();
  app.add_option("--retry-period", flags->retry_period, "between Lease attempts")
      ->capture_default_str();
  app.add_option("--status-qps", flags->status_qps, "status writes per second (token bucket)")
      ->capture_default_str();
  app.add_option("--status-burst", flags->status_burst, "status write burst")
      ->capture_default_str();
  app.add_option("--discovery-qps", flags->discovery_qps,
                 "discovered Upstream writes (creates, updates, deletes) per second (token "
                 "bucket; roles discovery, all)")
      ->capture_default_str();
  app.add_option("--discovery-burst", flags->discovery_burst,
                 "discovered Upstream write burst")
      ->capture_default_str();
  app.add_option("--usage-interval", flags->usage_interval,
                 "between gloo-usage ConfigMap checks (roles gloo, all)")
      ->capture_default_str();
  app.add_option("--validation-addr", flags->validation_addr,
                 "gRPC validation service (default with --source kubernetes and roles gloo/all: "
                 "0.0.0.0:9988; 'off' disables)");
  app.add_option("--webhook-addr", flags->webhook_addr,
                 "admission webhook, HTTPS /validation (default with --source kubernetes and roles "
                 "gateway/all: 0.0.0.0:8443; 'off' disables)");
  app.add_option("--webhook-cert", flags->webhook_cert, "webhook certificate (PEM)")
      ->capture_default_str();
  app.add_option("--webhook-key", flags->webhook_key, "webhook private key (PEM)")
      ->capture_default_str();
  app.add_option("--wasm-cache-addr", flags->wasm_cache_addr,
                 "content-addressed Artifact bytes, GET /<sha256> (default with --source "
                 "kubernetes and roles gloo/all: 0.0.0.0:9979; 'off' disables)");
  return [flags] { return run_serve(*flags); };
}

namespace {
const command_registration registration{
    "serve", "run the control plane (xDS on 9977) on a directory of Gloo YAML or Kubernetes",
    setup_serve};
}  // namespace

}  // namespace sluice::cli
