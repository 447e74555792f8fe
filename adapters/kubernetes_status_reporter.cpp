#include "adapters/kubernetes_status_reporter.hpp"

#include "model/logging.hpp"

namespace sluice::adapters {

namespace {

bool is_gateway_kind(model::resource_kind kind) {
  return model::info(kind).group == "gateway.solo.io";
}

}  // namespace

bool reports_kind(status_scope scope, model::resource_kind kind) {
  if (!model::info(kind).has_status) {
    return false;
  }
  switch (scope) {
    case status_scope::gateway:
      return is_gateway_kind(kind);
    case status_scope::gloo:
      return !is_gateway_kind(kind);
    case status_scope::all:
      return true;
  }
  return false;
}

bool is_kubernetes_origin(const std::string& origin) {
  return origin.rfind("apis/", 0) == 0 || origin.rfind("api/", 0) == 0;
}

std::optional<model::resource_key> key_of_origin(model::resource_kind kind,
                                                 const std::string& origin) {
  static const std::string marker = "/namespaces/";
  auto at = origin.find(marker);
  if (!is_kubernetes_origin(origin) || at == std::string::npos) {
    return std::nullopt;
  }
  auto rest = origin.substr(at + marker.size());  // <ns>/<plural>/<name>
  auto first = rest.find('/');
  auto last = rest.rfind('/');
  if (first == std::string::npos || last == first || last + 1 >= rest.size()) {
    return std::nullopt;
  }
  return model::resource_key{kind, rest.substr(0, first), rest.substr(last + 1)};
}

kubernetes_status_reporter::kubernetes_status_reporter(
    std::shared_ptr<kubernetes_status_writer> writer, status_scope scope,
    model::status_options options)
    : writer_(std::move(writer)), scope_(scope), options_(std::move(options)) {}

kubernetes_status_reporter::~kubernetes_status_reporter() { stop(); }

void kubernetes_status_reporter::offer(status_inputs inputs) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    pending_ = std::move(inputs);
  }
  cv_.notify_all();
}

void kubernetes_status_reporter::set_nack_attributor(nack_attributor attributor) {
  std::lock_guard<std::mutex> lock(mutex_);
  attributor_ = std::move(attributor);
}

void kubernetes_status_reporter::nacks_changed() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    nacks_changed_ = true;
  }
  cv_.notify_all();
}

kubernetes_status_reporter::status_map kubernetes_status_reporter::statuses(
    const status_inputs& inputs) const {
  status_map out;
  if (!inputs.world || !inputs.report || !inputs.proxies) {
    return out;
  }
  const auto& w = *inputs.world;
  nack_attributor attributor;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    attributor = attributor_;
  }
  std::vector<model::nack_attribution> nacks;
  if (attributor) {
    nacks = attributor(inputs);
  }
  auto all = model::build_statuses(w, *inputs.report, *inputs.proxies, nacks, options_);
  for (auto& [key, status] : all) {
    if (!reports_kind(scope_, key.kind)) {
      continue;
    }
    // Where the object lives: its accepted form's origin, or for a rejected input that was
    // never accepted, the rejection's.
    const std::string* origin = nullptr;
    if (const auto* stored = w.find(key); stored != nullptr) {
      origin = &stored->origin;
    } else if (const auto* r = w.rejection_of(key); r != nullptr) {
      origin = &r->origin;
    }
    if (origin == nullptr || !is_kubernetes_origin(*origin)) {
      continue;
    }
    out.emplace(key, std::move(status));
  }
  // An object that did not decode far enough to name anything: its API path names it. When the
  // world holds a form of it from that path, build_statuses already rejected that.
  for (const auto& [kind_origin, r] : w.origin_rejections()) {
    const auto& [kind, origin] = kind_origin;
    if (!reports_kind(scope_, kind)) {
      continue;
    }
    auto key = key_of_origin(kind, origin);
    if (!key || out.count(*key) > 0) {
      continue;
    }
    out.emplace(*key, model::never_accepted_status(kind, r, options_));
  }
  return out;
}

void kubernetes_status_reporter::start() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (running_) {
    return;
  }
  running_ = true;
  stopping_ = false;
  thread_ = std::thread([this] { run(); });
}

void kubernetes_status_reporter::stop() {
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

uint64_t kubernetes_status_reporter::rounds() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return rounds_;
}

void kubernetes_status_reporter::run() {
  for (;;) {
    status_inputs inputs;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      cv_.wait(lock, [&] { return stopping_ || pending_ || (nacks_changed_ && last_); });
      if (stopping_) {
        return;
      }
      if (pending_) {
        last_ = std::move(pending_);
        pending_.reset();
      }
      nacks_changed_ = false;
      inputs = *last_;
    }
    auto map = statuses(inputs);
    log::adapters()->debug("statuses computed resources={} watermark={}", map.size(),
                           inputs.world ? inputs.world->watermark() : 0);
    writer_->update(map);
    writer_->nudge();
    std::lock_guard<std::mutex> lock(mutex_);
    ++rounds_;
  }
}

}  // namespace sluice::adapters
