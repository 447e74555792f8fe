// sluice: a Gloo-compatible control plane for Envoy. One binary, subcommands in cli/.
#include <CLI/CLI.hpp>

#include <algorithm>
#include <map>

#include "cli/commands.hpp"

namespace sluice::cli {

std::vector<command_entry>& command_registry() {
  static std::vector<command_entry> commands;
  return commands;
}

}  // namespace sluice::cli

int main(int argc, char** argv) {
  CLI::App app{"sluice: a Gloo-compatible control plane for Envoy gateways"};
  app.set_version_flag("--version", "sluice 0.1.0");
  app.require_subcommand(1);
  auto entries = sluice::cli::command_registry();
  std::sort(entries.begin(), entries.end(),
            [](const auto& a, const auto& b) { return a.name < b.name; });
  std::map<CLI::App*, sluice::cli::command_fn> commands;
  for (const auto& e : entries) {
    auto* sub = app.add_subcommand(e.name, e.help);
    commands[sub] = e.setup(*sub);
  }
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
