// `sluice bench translate`: the translation benchmark of the issue "Incremental translation at
// scale" on a generated workload (bench/workload.hpp). Prints a table, or with --json one JSON
// object with the keys.
//
// `bench` is a command group: this file registers it with its `translate` subcommand. Other
// benchmarks (`bench xds`, `bench log`) join the same group (see the lead's note on cli/).
#include <iostream>

#include "bench/translate_measure.hpp"
#include "cli/commands.hpp"

namespace sluice::cli {

namespace {

struct bench_translate_flags {
  size_t vs = 10'000;
  bool json = false;
  double churn_seconds = 60;
  double churn_rate = 2'000;
  size_t samples = 200;
  size_t full_samples = 3;
  uint64_t seed = 1;
  std::string engine = "incremental";
  bool quiet = false;
  std::string clock = "wall";
};

int run_bench_translate(const bench_translate_flags& flags) {
  bench::translate_bench_options o;
  o.workload = bench::workload_options::scaled(flags.vs);
  o.workload.seed = flags.seed;
  o.churn_seconds = flags.churn_seconds;
  o.churn_rate = flags.churn_rate;
  o.samples = flags.samples;
  o.full_samples = flags.full_samples;
  if (flags.engine == "full") {
    o.engine = bench::engine_kind::full;
  } else if (flags.engine == "incremental") {
    o.engine = bench::engine_kind::incremental;
  } else {
    std::cerr << "error: --engine must be full or incremental, not '" << flags.engine << "'\n";
    return 2;
  }
  if (flags.clock != "wall" && flags.clock != "cpu") {
    std::cerr << "error: --clock must be wall or cpu, not '" << flags.clock << "'\n";
    return 2;
  }
  o.cpu_clock = flags.clock == "cpu";
  if (flags.vs == 0 || flags.samples == 0 || flags.churn_rate <= 0 || flags.churn_seconds < 0) {
    std::cerr << "error: --vs, --samples and --churn-rate must be positive, --churn-seconds "
                 "not negative\n";
    return 2;
  }
  auto progress = [&](const std::string& line) {
    if (!flags.quiet) {
      std::cerr << "bench translate: " << line << "\n";
    }
  };
  const auto figures = bench::run_translate_bench(o, progress);
  if (flags.json) {
    std::cout << bench::to_json(figures) << "\n";
  } else {
    std::cout << bench::to_table(figures);
  }
  return 0;
}

command_fn setup_bench_translate(CLI::App& app) {
  auto* translate = &app;
  auto flags = std::make_shared<bench_translate_flags>();
  translate->add_option("--vs", flags->vs, "VirtualServices in the workload (default scenario)")
      ->capture_default_str();
  translate->add_flag("--json", flags->json, "print one JSON object instead of the table");
  translate->add_option("--churn-seconds", flags->churn_seconds, "length of the churn (0: skip)")
      ->capture_default_str();
  translate->add_option("--churn-rate", flags->churn_rate, "events per second offered")
      ->capture_default_str();
  translate->add_option("--samples", flags->samples, "single edits measured per change kind")
      ->capture_default_str();
  translate->add_option("--full-samples", flags->full_samples,
                        "full re-translations per change measured")
      ->capture_default_str();
  translate->add_option("--seed", flags->seed, "workload seed")->capture_default_str();
  translate->add_option("--engine", flags->engine,
                        "incremental, or full (re-translate everything per publish)")
      ->capture_default_str();
  translate->add_option("--clock", flags->clock,
                        "wall, or cpu: this thread's CPU time (for busy, shared machines; the "
                        "churn then runs in virtual time)")
      ->capture_default_str();
  translate->add_flag("-q,--quiet", flags->quiet, "no progress lines on stderr");
  return [flags] { return run_bench_translate(*flags); };
}

const command_registration registration{
    "bench translate", "translation benchmark: cold, floor, single edits, full per change, churn",
    setup_bench_translate};

}  // namespace

}  // namespace sluice::cli
