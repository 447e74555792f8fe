// sluice: a Gloo-compatible control plane for Envoy. One binary, subcommands in cli/.
#include <CLI/CLI.hpp>

#include <algorithm>
#include <map>
#include <string>

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
  // A name with a space ("bench translate") is a subcommand of a group ("bench") made on demand.
  std::map<CLI::App*, sluice::cli::command_fn> commands;
  std::map<std::string, CLI::App*> groups;
  for (const auto& e : entries) {
    CLI::App* parent = &app;
    std::string name = e.name;
    if (auto space = name.find(' '); space != std::string::npos) {
      const std::string group = name.substr(0, space);
      name = name.substr(space + 1);
      auto& g = groups[group];
      if (g == nullptr) {
        g = app.add_subcommand(group, group + " commands");
        g->require_subcommand(1);
      }
      parent = g;
    }
    auto* sub = parent->add_subcommand(name, e.help);
    commands[sub] = e.setup(*sub);
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  for (auto* sub : app.get_subcommands()) {
    if (auto it = commands.find(sub); it != commands.end()) {
      return it->second();
    }
    for (auto* child : sub->get_subcommands()) {
      return commands.at(child)();
    }
  }
  return 0;
}
