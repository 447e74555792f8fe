// sluice: the command-line entry point. Subcommands are added as their issues land.
#include <CLI/CLI.hpp>

#include <iostream>

int main(int argc, char** argv) {
  CLI::App app{"sluice: a Gloo-compatible control plane for Envoy"};
  app.set_version_flag("--version", "sluice 0.1.0");
  app.require_subcommand(0);
  CLI11_PARSE(app, argc, argv);
  std::cout << app.help();
  return 0;
}
