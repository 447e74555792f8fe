#include "adapters/kubernetes_usage_reporter.hpp"

#include <nlohmann/json.hpp>

#include "model/error.hpp"
#include "model/logging.hpp"

namespace sluice::adapters {

using json = nlohmann::json;

std::string usage_of_proxies(const std::vector<model::translated_proxy>& proxies) {
  json out = json::array();
  for (const auto& p : proxies) {
    size_t vhosts = 0;
    size_t routes = 0;
    for (const auto& l : p.proxy.listeners()) {
      if (l.has_http_listener()) {
        vhosts += static_cast<size_t>(l.http_listener().virtual_hosts_size());
        for (const auto& vh : l.http_listener().virtual_hosts()) {
          routes += static_cast<size_t>(vh.routes_size());
        }
      }
    }
    out.push_back({{"role", p.role},
                   {"listeners", p.proxy.listeners_size()},
                   {"virtualHosts", vhosts},
                   {"routes", routes}});
  }
  return out.dump();
}

kubernetes_usage_reporter::kubernetes_usage_reporter(kubernetes_usage_reporter_options options)
    : options_(std::move(options)) {}

kubernetes_usage_reporter::~kubernetes_usage_reporter() { stop(); }

void kubernetes_usage_reporter::offer(
    std::shared_ptr<const std::vector<model::translated_proxy>> proxies) {
  auto text = proxies ? usage_of_proxies(*proxies) : std::string("[]");
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (text == proxies_json_) {
      return;
    }
    proxies_json_ = std::move(text);
    dirty_ = true;
  }
  cv_.notify_all();
}

std::map<std::string, std::string> kubernetes_usage_reporter::desired() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return {{"reportedBy", options_.identity},
          {"proxies", proxies_json_},
          {"xdsStreams", std::to_string(options_.stream_count ? options_.stream_count() : 0)}};
}

bool kubernetes_usage_reporter::pump() {
  if (options_.may_write && !options_.may_write()) {
    return false;
  }
  const std::string path = "/api/v1/namespaces/" + options_.ns + "/configmaps/" + options_.name;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (proxies_json_.empty()) {
      return false;  // nothing translated yet: no usage to report
    }
  }
  auto got = options_.client->request("GET", path);
  if (!got || got->status != 200) {
    // Said once per streak: a missing ConfigMap stays missing until someone installs it.
    if (!complained_) {
      log::adapters()->warn("usage configmap unreadable, retrying every interval namespace={} "
                            "name={} status={}",
                            options_.ns, options_.name,
                            got ? std::to_string(got->status) : describe(got.error()));
    }
    complained_ = true;
    return false;
  }
  complained_ = false;
  json cm = json::parse(got->body, nullptr, false);
  if (!cm.is_object()) {
    return false;
  }
  auto want = desired();
  json data = json::object();
  for (const auto& [k, v] : want) {
    data[k] = v;
  }
  if (cm.contains("data") && cm["data"] == data) {
    return true;
  }
  cm["data"] = data;
  if (options_.may_write && !options_.may_write()) {
    return false;  // lost the lease while reading
  }
  auto put = options_.client->request("PUT", path, cm.dump());
  if (!put || put->status != 200) {
    log::adapters()->warn("usage configmap not written namespace={} name={} status={}",
                          options_.ns, options_.name, put ? std::to_string(put->status)
                                                          : describe(put.error()));
    return false;
  }
  std::lock_guard<std::mutex> lock(mutex_);
  ++writes_;
  return true;
}

void kubernetes_usage_reporter::nudge() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    dirty_ = true;
  }
  cv_.notify_all();
}

void kubernetes_usage_reporter::start() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (running_) {
    return;
  }
  running_ = true;
  stopping_ = false;
  thread_ = std::thread([this] {
    std::unique_lock<std::mutex> lock(mutex_);
    while (!stopping_) {
      cv_.wait_for(lock, options_.interval, [&] { return stopping_ || dirty_; });
      if (stopping_) {
        break;
      }
      dirty_ = false;
      lock.unlock();
      bool ok = pump();
      lock.lock();
      if (!ok && !stopping_) {
        // Not leader, nothing to report yet, or the server refused: try again after a while,
        // or at once when the proxies change or leadership arrives (nudge).
        cv_.wait_for(lock, options_.interval / 10, [&] { return stopping_ || dirty_; });
        dirty_ = true;
      }
    }
  });
}

void kubernetes_usage_reporter::stop() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!running_) {
      return;
    }
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) {
    thread_.join();
  }
  std::lock_guard<std::mutex> lock(mutex_);
  running_ = false;
}

uint64_t kubernetes_usage_reporter::writes() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return writes_;
}

}  // namespace sluice::adapters
