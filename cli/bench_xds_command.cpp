// `sluice bench xds [--clients N] [--vs N] [--json]`: the serving benchmark of the issue "xDS
// serving, complete" (bench/xds_measure.hpp): change -> every client ACKed, bytes per change per
// protocol, restart storm, RSS and CPU.
#include <iostream>

#include "bench/xds_client_host.hpp"
#include "bench/xds_measure.hpp"
#include "cli/commands.hpp"
#include "model/error.hpp"

namespace sluice::cli {

namespace {

struct bench_xds_flags {
  bench::xds_bench_options options;
  bool json = false;
  bool quiet = false;
  bool in_process = false;
  bool client_host = false;
};

int run_bench_xds(const bench_xds_flags& flags) {
  if (flags.client_host) {
    return bench::run_xds_client_host(std::cin, std::cout);
  }
  auto o = flags.options;
  if (!flags.in_process) {
    // The clients run in a second copy of this binary, so the server's CPU and memory are
    // measured apart from theirs.
    o.client_host = {"/proc/self/exe", "bench", "xds", "--client-host"};
  }
  if (o.clients == 0 || o.vs == 0 || o.rounds == 0 || o.delta_fraction < 0
      || o.delta_fraction > 1) {
    std::cerr << "error: --clients, --vs and --rounds must be positive and --delta-fraction "
                 "between 0 and 1\n";
    return 2;
  }
  auto progress = [&](const std::string& line) {
    if (!flags.quiet) {
      std::cerr << "bench xds: " << line << "\n";
    }
  };
  const auto figures = bench::run_xds_bench(o, progress);
  if (!figures) {
    std::cerr << "error: bench xds failed: " << describe(figures.error()) << "\n";
    return 1;
  }
  std::cout << (flags.json ? bench::to_json(*figures) + "\n" : bench::to_table(*figures));
  return 0;
}

command_fn setup_bench_xds(CLI::App& app) {
  auto flags = std::make_shared<bench_xds_flags>();
  app.add_option("--clients", flags->options.clients, "scripted Envoy-like clients over loopback")
      ->capture_default_str();
  app.add_option("--delta-fraction", flags->options.delta_fraction,
                 "fraction of the clients using delta xDS (the rest use SotW)")
      ->capture_default_str();
  app.add_option("--vs", flags->options.vs, "VirtualServices in the workload")
      ->capture_default_str();
  app.add_option("--rounds", flags->options.rounds,
                 "rounds of one VirtualService change then one endpoint change")
      ->capture_default_str();
  app.add_option("--seed", flags->options.seed, "workload seed")->capture_default_str();
  app.add_flag("--json", flags->json, "print one JSON object instead of the table");
  app.add_flag("-q,--quiet", flags->quiet, "no progress lines on stderr");
  app.add_flag("--in-process", flags->in_process,
               "run the load clients in this process (figures then mix server and clients)");
  app.add_flag("--client-host", flags->client_host,
               "internal: serve load clients for a benchmark driving this process over stdin");
  return [flags] { return run_bench_xds(*flags); };
}

const command_registration registration{
    "bench xds",
    "benchmark xDS serving: change -> all clients ACKed, bytes per change, restart storm",
    setup_bench_xds};

}  // namespace

}  // namespace sluice::cli
