#pragma once
/// The `sluice` subcommands. Each registers its flags on the CLI11 app and returns the function
/// that runs it (exit code).

#include <CLI/CLI.hpp>

#include <functional>

namespace sluice::cli {

using command_fn = std::function<int()>;

command_fn add_serve(CLI::App& app);
command_fn add_check(CLI::App& app);

}  // namespace sluice::cli
