#include "model/logging.hpp"

#include <spdlog/cfg/env.h>
#include <spdlog/sinks/stdout_color_sinks.h>

#include <mutex>

namespace sluice::log {
namespace {

std::shared_ptr<spdlog::logger> make(const char* name) {
  static std::once_flag env_once;
  auto existing = spdlog::get(name);
  if (existing) {
    return existing;
  }
  auto logger = spdlog::stderr_color_mt(name);
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ [%n] %v");
  std::call_once(env_once, [] { spdlog::cfg::load_env_levels(); });
  return logger;
}

}  // namespace

#define SLUICE_LOGGER(fn, text)                       \
  std::shared_ptr<spdlog::logger> fn() {              \
    static const auto logger = make("sluice." text);  \
    return logger;                                    \
  }

SLUICE_LOGGER(model, "model")
SLUICE_LOGGER(store, "store")
SLUICE_LOGGER(xds, "xds")
SLUICE_LOGGER(adapters, "adapters")
SLUICE_LOGGER(actors, "actors")
SLUICE_LOGGER(cli, "cli")

#undef SLUICE_LOGGER

void set_level(std::string_view level) {
  auto lvl = spdlog::level::from_str(std::string(level));
  for (auto& l : {model(), store(), xds(), adapters(), actors(), cli()}) {
    l->set_level(lvl);
  }
}

}  // namespace sluice::log
