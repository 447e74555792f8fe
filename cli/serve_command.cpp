// `sluice serve`: the control plane. With no flags it reads ./gloo (Gloo's directory layout) and
// keeps its event log in ./.sluice/data.
#include <signal.h>

#include <iostream>

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
  std::string log_level = "info";
  size_t threads = 0;
};

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
  actors::control_plane_options options{flags.config_dir, flags.data_dir, flags.xds_addr,
                                        flags.metrics_addr};
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
  app.add_option("--log-level", flags->log_level, "trace|debug|info|warn|error|off")
      ->capture_default_str();
  app.add_option("--threads", flags->threads, "actor scheduler threads (0: one per core)");
  return [flags] { return run_serve(*flags); };
}

namespace {
const command_registration registration{"serve", "run the control plane (xDS on 9977) on a directory of Gloo YAML", setup_serve};
}  // namespace

}  // namespace sluice::cli
