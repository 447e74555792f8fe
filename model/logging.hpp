#pragma once
/// Named spdlog loggers, one per component, created in one place. Messages are lower-case with
/// key=value fields; lines about a resource name its kind, namespace and name.

#include <spdlog/spdlog.h>

#include <memory>
#include <string_view>

namespace sluice::log {

std::shared_ptr<spdlog::logger> model();
std::shared_ptr<spdlog::logger> store();
std::shared_ptr<spdlog::logger> xds();
std::shared_ptr<spdlog::logger> adapters();
std::shared_ptr<spdlog::logger> actors();
std::shared_ptr<spdlog::logger> cli();

/// Sets every sluice logger's level ("trace".."off"); SPDLOG_LEVEL in the environment still wins
/// for the loggers it names.
void set_level(std::string_view level);

}  // namespace sluice::log
