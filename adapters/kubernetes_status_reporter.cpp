#include "adapters/kubernetes_status_reporter.hpp"

#include "model/logging.hpp"

namespace sluice::adapters {

namespace {

// hashicorp/go-multierror's format, which Gloo's reasons use (model/status does the same).
std::string multierror_text(const std::vector<std::string>& errors) {
  if (errors.size() == 1) {
    return "1 error occurred:\n\t* " + errors.front() + "\n\n";
  }
  std::string out = std::to_string(errors.size()) + " errors occurred:\n\t";
  for (size_t i = 0; i < errors.size(); ++i) {
    out += (i > 0 ? "\n\t* " : "* ") + errors[i];
  }
  return out + "\n\n";
}

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

void kubernetes_status_reporter::observe(const std::vector<sluice::v1::Event>& events) {
  bool changed = false;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    for (const auto& ev : events) {
      if (!is_kubernetes_origin(ev.origin())) {
        continue;
      }
      auto kind = model::parse_kind(ev.kind());
      if (!kind || !reports_kind(scope_, *kind)) {
        continue;
      }
      std::optional<model::resource_key> key;
      if (!ev.name().empty()) {
        key = model::resource_key{*kind, ev.namespace_(), ev.name()};
      } else {
        key = key_of_origin(*kind, ev.origin());  // the object did not decode far enough
      }
      if (!key) {
        continue;
      }
      if (ev.verdict() == sluice::v1::VERDICT_REJECTED) {
        rejected_[*key] = {ev.errors().begin(), ev.errors().end()};
        changed = true;
      } else if (rejected_.erase(*key) > 0) {
        changed = true;  // accepted again, or deleted
      }
    }
    rejections_changed_ = rejections_changed_ || changed;
  }
  if (changed) {
    cv_.notify_all();
  }
}

kubernetes_status_reporter::status_map kubernetes_status_reporter::statuses(
    const status_inputs& inputs) const {
  status_map out;
  if (inputs.world && inputs.report && inputs.proxies) {
    auto all = model::build_statuses(*inputs.world, *inputs.report, *inputs.proxies, {}, options_);
    for (auto& [key, status] : all) {
      if (!reports_kind(scope_, key.kind)) {
        continue;
      }
      const auto* stored = inputs.world->find(key);
      if (stored == nullptr || !is_kubernetes_origin(stored->origin)) {
        continue;
      }
      out.emplace(key, std::move(status));
    }
  }
  std::lock_guard<std::mutex> lock(mutex_);
  for (const auto& [key, errors] : rejected_) {
    ::core::solo::io::Status s;
    s.set_state(::core::solo::io::Status::Rejected);
    s.set_reason(multierror_text(errors));
    s.set_reported_by(is_gateway_kind(key.kind) ? options_.gateway_reporter
                                                : options_.gloo_reporter);
    out[key] = std::move(s);
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
      cv_.wait(lock, [&] { return stopping_ || pending_ || (rejections_changed_ && last_); });
      if (stopping_) {
        return;
      }
      if (pending_) {
        last_ = std::move(pending_);
        pending_.reset();
      }
      rejections_changed_ = false;
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
