// sluice: a Gloo-compatible control plane for Envoy. One binary, subcommands in cli/.
#include <CLI/CLI.hpp>

#include <iostream>
#include <map>

#include "cli/commands.hpp"

int main(int argc, char** argv) {
  CLI::App app{"sluice: a Gloo-compatible control plane for Envoy gateways"};
  app.set_version_flag("--version", "sluice 0.1.0");
  app.require_subcommand(1);
  std::map<CLI::App*, sluice::cli::command_fn> commands;
  auto add = [&](const char* name, const char* help, auto adder) {
    auto* sub = app.add_subcommand(name, help);
    commands[sub] = adder(*sub);
  };
  add("serve", "run the control plane (xDS on 9977) on a directory of Gloo YAML",
      sluice::cli::add_serve);
  add("check", "decode and validate Gloo YAML files offline; exit 1 on any error",
      sluice::cli::add_check);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  for (auto* sub : app.get_subcommands()) {
    return commands.at(sub)();
  }
  return 0;
}
