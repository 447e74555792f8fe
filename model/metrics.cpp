#include "model/metrics.hpp"

namespace sluice::model {

metric_value& metrics_registry::get(type kind, std::string_view name, std::string_view help,
                                    std::string labels) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = families_.find(name);
  if (it == families_.end()) {
    it = families_.emplace(std::string(name), family{kind, std::string(help), {}}).first;
  }
  auto& slot = it->second.series[labels];
  if (!slot) {
    slot = std::make_unique<metric_value>();
  }
  return *slot;
}

metric_value& metrics_registry::counter(std::string_view name, std::string_view help,
                                        std::string labels) {
  return get(type::counter, name, help, std::move(labels));
}

metric_value& metrics_registry::gauge(std::string_view name, std::string_view help,
                                      std::string labels) {
  return get(type::gauge, name, help, std::move(labels));
}

std::string metrics_registry::render() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::string out;
  for (const auto& [name, fam] : families_) {
    out += "# HELP " + name + " " + fam.help + "\n";
    out += "# TYPE " + name + (fam.kind == type::counter ? " counter\n" : " gauge\n");
    for (const auto& [labels, value] : fam.series) {
      out += name;
      if (!labels.empty()) {
        out += "{" + labels + "}";
      }
      out += " " + std::to_string(value->get()) + "\n";
    }
  }
  return out;
}

metrics_registry& metrics_registry::global() {
  static metrics_registry registry;
  return registry;
}

}  // namespace sluice::model
