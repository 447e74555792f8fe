#pragma once
/// The `sluice` subcommands. Each lives in its own cli/<name>_command.cpp and registers itself
/// with a static `command_registration`, so adding a command touches no other file.

#include <CLI/CLI.hpp>

#include <functional>
#include <string>
#include <vector>

namespace sluice::cli {

/// Runs the command after parsing; returns the process exit code.
using command_fn = std::function<int()>;
/// Adds the command's flags to its subcommand and returns what runs it.
using command_setup = command_fn (*)(CLI::App& sub);

struct command_entry {
  std::string name;
  std::string help;
  command_setup setup;
};

/// All registered commands, in registration order.
std::vector<command_entry>& command_registry();

struct command_registration {
  command_registration(std::string name, std::string help, command_setup setup) {
    command_registry().push_back({std::move(name), std::move(help), setup});
  }
};

}  // namespace sluice::cli
