// `sluice serve`: the control plane. With no flags it reads ./gloo (Gloo's directory layout) and
// keeps its event log in ./.sluice/data.
#include <signal.h>

#include <charconv>
#include <chrono>
#include <iostream>
#include <map>
#include <tuple>

#include "actors/actor_types.hpp"
#include "actors/control_plane.hpp"
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
};

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
  return [flags] { return run_serve(*flags); };
}

namespace {
const command_registration registration{"serve", "run the control plane (xDS on 9977) on a directory of Gloo YAML", setup_serve};
}  // namespace

}  // namespace sluice::cli
