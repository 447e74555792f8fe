#include "adapters/kubernetes_discovery_writer.hpp"

#include <algorithm>
#include <vector>

#include "model/error.hpp"
#include "model/logging.hpp"

namespace sluice::adapters {
namespace {

using json = nlohmann::json;
using steady = std::chrono::steady_clock;

const json& member(const json& j, const char* field) {
  static const json empty = json::object();
  if (!j.is_object()) {
    return empty;
  }
  auto it = j.find(field);
  return it != j.end() && !it->is_null() ? *it : empty;
}

/// An absent map and an empty one mean the same to Gloo (proto3 maps).
json map_or_empty(const json& j) { return j.is_object() ? j : json::object(); }

/// What discovery owns in an Upstream, in a form that compares equal when nothing it owns
/// differs.
json owned(const json& upstream) {
  const json& labels = member(member(upstream, "metadata"), "labels");
  const json& spec = member(upstream, "spec");
  const json& kube = member(spec, "kube");
  json out = json::object();
  out["label"] = labels.value(std::string(kubernetes_discovery_writer::label_key), "");
  for (const char* f : {"serviceName", "serviceNamespace", "servicePort"}) {
    out[f] = kube.contains(f) ? kube[f] : json();
  }
  out["selector"] = map_or_empty(member(kube, "selector"));
  out["discoveryLabels"] = map_or_empty(member(member(spec, "discoveryMetadata"), "labels"));
  return out;
}

std::string status_message(const std::string& body) {
  json j = json::parse(body, nullptr, false);
  if (j.is_object() && j.contains("message") && j["message"].is_string()) {
    return j["message"].get<std::string>();
  }
  return body.substr(0, 200);
}

}  // namespace

kubernetes_discovery_writer::kubernetes_discovery_writer(
    kubernetes_discovery_writer_options options)
    : options_(std::move(options)) {
  if (!options_.now) {
    options_.now = [] { return steady::now(); };
  }
  bucket_.emplace(options_.qps, options_.burst, options_.now());
  std::random_device rd;
  rng_.seed(options_.seed != 0 ? options_.seed : (uint64_t{rd()} << 32) ^ rd());
}

kubernetes_discovery_writer::~kubernetes_discovery_writer() { stop(); }

bool kubernetes_discovery_writer::discovered(const json& object) {
  const json& labels = member(member(object, "metadata"), "labels");
  auto it = labels.find(std::string(label_key));
  return it != labels.end() && it->is_string() && it->get<std::string>() == label_value;
}

bool kubernetes_discovery_writer::owned_fields_equal(const json& observed, const json& desired) {
  return owned(observed) == owned(desired);
}

json kubernetes_discovery_writer::merged(const json& observed, const json& desired) {
  json out = observed;
  out.erase("status");  // the main resource's PUT ignores it; the status writer owns it
  json& meta = out["metadata"];
  if (!meta.is_object()) {
    meta = json::object();
  }
  meta.erase("managedFields");
  if (!meta["labels"].is_object()) {
    meta["labels"] = json::object();
  }
  meta["labels"][std::string(label_key)] = std::string(label_value);
  json& spec = out["spec"];
  if (!spec.is_object()) {
    spec = json::object();
  }
  json& kube = spec["kube"];
  if (!kube.is_object()) {
    kube = json::object();
  }
  const json& want_spec = member(desired, "spec");
  const json& want_kube = member(want_spec, "kube");
  for (const char* f : {"serviceName", "serviceNamespace", "servicePort", "selector"}) {
    if (want_kube.contains(f)) {
      kube[f] = want_kube[f];
    } else {
      kube.erase(f);
    }
  }
  if (want_spec.contains("discoveryMetadata")) {
    spec["discoveryMetadata"] = want_spec["discoveryMetadata"];
  } else {
    spec.erase("discoveryMetadata");
  }
  return out;
}

std::string kubernetes_discovery_writer::path(const std::string& name) const {
  return "/apis/gloo.solo.io/v1/namespaces/" + options_.write_namespace + "/upstreams"
         + (name.empty() ? std::string() : "/" + name);
}

void kubernetes_discovery_writer::desire(const std::string& name, const json& upstream) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = desired_.find(name);
  if (upstream.is_null()) {
    if (it == desired_.end()) {
      return;
    }
    desired_.erase(it);
  } else {
    if (it != desired_.end() && it->second == upstream) {
      return;
    }
    desired_[name] = upstream;
  }
  dirty_.insert(name);
  nudged_ = true;
  cv_.notify_all();
}

void kubernetes_discovery_writer::observe(const std::string& name, const json& object) {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = observed_.find(name);
  bool was_ours = false;
  if (object.is_null()) {
    if (it == observed_.end()) {
      return;
    }
    was_ours = discovered(it->second);
    observed_.erase(it);
  } else {
    if (it != observed_.end() && it->second == object) {
      return;
    }
    was_ours = it != observed_.end() && discovered(it->second);
    observed_[name] = object;
  }
  // A user's Upstream that discovery neither wants nor owns is none of the writer's business.
  if (desired_.count(name) > 0 || was_ours || (!object.is_null() && discovered(object))) {
    dirty_.insert(name);
    nudged_ = true;
    cv_.notify_all();
  }
}

void kubernetes_discovery_writer::synced() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!synced_) {
    log::adapters()->info("discovery writer synced desired={} observed={} pending={}",
                          desired_.size(), observed_.size(), dirty_.size());
  }
  synced_ = true;
  nudged_ = true;
  cv_.notify_all();
}

bool kubernetes_discovery_writer::is_synced() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return synced_;
}

bool kubernetes_discovery_writer::allowed() const {
  return !options_.may_write || options_.may_write();
}

bool kubernetes_discovery_writer::take_token() {
  std::lock_guard<std::mutex> lock(mutex_);
  return bucket_->take(options_.now());
}

std::chrono::milliseconds kubernetes_discovery_writer::time_to_token() {
  std::lock_guard<std::mutex> lock(mutex_);
  return bucket_->time_to_token(options_.now());
}

kubernetes_discovery_writer::action kubernetes_discovery_writer::decide_locked(
    const std::string& name) const {
  auto d = desired_.find(name);
  auto o = observed_.find(name);
  if (o != observed_.end() && !discovered(o->second)) {
    return action::foreign;
  }
  if (d != desired_.end()) {
    if (o == observed_.end()) {
      return action::create;
    }
    return owned_fields_equal(o->second, d->second) ? action::none : action::update;
  }
  return o != observed_.end() ? action::remove : action::none;
}

void kubernetes_discovery_writer::failed_locked(const std::string& name) {
  ++stats_.errors;
  auto& r = retry_[name];
  auto base = options_.backoff_initial.count() << std::min(r.failures, 20);
  base = std::min<int64_t>(base, options_.backoff_max.count());
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  auto delay = std::chrono::milliseconds(
      static_cast<int64_t>(static_cast<double>(base) * (1.0 - 0.5 * unit(rng_))));
  ++r.failures;
  r.not_before = options_.now() + delay;
}

bool kubernetes_discovery_writer::refresh(const std::string& name) {
  auto got = options_.client->request("GET", path(name));
  if (!got) {
    log::adapters()->warn("discovered upstream read failed namespace={} name={} error={}",
                          options_.write_namespace, name, describe(got.error()));
    return false;
  }
  std::lock_guard<std::mutex> lock(mutex_);
  if (got->status == 404) {
    observed_.erase(name);
    return true;
  }
  json object = got->status == 200 ? json::parse(got->body, nullptr, false) : json();
  if (!object.is_object()) {
    log::adapters()->warn("discovered upstream read failed namespace={} name={} status={}",
                          options_.write_namespace, name, got->status);
    return false;
  }
  observed_[name] = std::move(object);
  return true;
}

kubernetes_discovery_writer::result kubernetes_discovery_writer::reconcile(
    const std::string& name) {
  const std::string& ns = options_.write_namespace;
  for (int attempt = 0; attempt <= options_.max_conflict_retries + 1; ++attempt) {
    action a;
    json desired;
    json observed;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      a = decide_locked(name);
      if (a == action::none || a == action::foreign) {
        // Settled (under the lock, so a change observed meanwhile marks it dirty again).
        dirty_.erase(name);
        retry_.erase(name);
        if (a == action::foreign && reported_foreign_.insert(name).second) {
          ++stats_.foreign;
          log::adapters()->info(
              "discovered upstream left alone: an upstream without the discovery label has its "
              "name namespace={} name={}",
              ns, name);
        }
        return result::done;
      }
      reported_foreign_.erase(name);
      if (auto d = desired_.find(name); d != desired_.end()) {
        desired = d->second;
      }
      if (auto o = observed_.find(name); o != observed_.end()) {
        observed = o->second;
      }
    }
    if (!allowed()) {
      return result::not_allowed;
    }
    if (attempt > options_.max_conflict_retries) {
      break;
    }
    if (!take_token()) {
      return result::no_token;
    }
    caf::expected<kubernetes_response> r{kubernetes_response{}};
    const char* verb = "";
    if (a == action::create) {
      verb = "create";
      r = options_.client->request("POST", path(""), desired.dump());
    } else if (a == action::update) {
      // The body carries the resourceVersion it was computed from: 409 if that is stale.
      verb = "update";
      r = options_.client->request("PUT", path(name), merged(observed, desired).dump());
    } else {
      verb = "delete";
      const json& meta = member(observed, "metadata");
      json pre = json::object();
      for (const char* f : {"uid", "resourceVersion"}) {
        if (meta.contains(f) && meta[f].is_string() && !meta[f].get<std::string>().empty()) {
          pre[f] = meta[f];
        }
      }
      json options{{"apiVersion", "v1"}, {"kind", "DeleteOptions"}, {"preconditions", pre}};
      r = options_.client->request("DELETE", path(name), options.dump());
    }
    if (!r) {
      log::adapters()->warn("discovered upstream {} failed namespace={} name={} error={}", verb, ns,
                            name, describe(r.error()));
      std::lock_guard<std::mutex> lock(mutex_);
      failed_locked(name);
      return result::failed;
    }
    const int status = r->status;
    if (status == 200 || status == 201 || status == 202) {
      std::lock_guard<std::mutex> lock(mutex_);
      if (a == action::remove) {
        ++stats_.deletes;
        observed_.erase(name);
      } else {
        ++(a == action::create ? stats_.creates : stats_.updates);
        json written = json::parse(r->body, nullptr, false);
        if (written.is_object()) {
          observed_[name] = std::move(written);
        } else {
          observed_[name] = a == action::create ? desired : merged(observed, desired);
        }
      }
      log::adapters()->info("discovered upstream {}d namespace={} name={}", verb, ns, name);
      continue;  // settles on the next decision
    }
    if (status == 409 || status == 404) {
      // 409: AlreadyExists on create, or the object changed since our read (a stale
      // resourceVersion); 404: it is gone. Either way: read it fresh and decide again.
      if (status == 409) {
        std::lock_guard<std::mutex> lock(mutex_);
        ++stats_.conflicts;
      }
      if (!refresh(name)) {
        std::lock_guard<std::mutex> lock(mutex_);
        failed_locked(name);
        return result::failed;
      }
      continue;
    }
    log::adapters()->warn(
        "discovered upstream {} refused namespace={} name={} status={} "
        "message={}",
        verb, ns, name, status, status_message(r->body));
    std::lock_guard<std::mutex> lock(mutex_);
    failed_locked(name);
    return result::failed;
  }
  log::adapters()->warn("discovered upstream gave up after conflicts namespace={} name={}", ns,
                        name);
  std::lock_guard<std::mutex> lock(mutex_);
  failed_locked(name);
  return result::failed;
}

size_t kubernetes_discovery_writer::pump() {
  std::lock_guard<std::mutex> pass(pump_mutex_);
  std::vector<std::string> work;
  uint64_t before = 0;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!synced_) {
      return 0;
    }
    const auto now = options_.now();
    for (const auto& name : dirty_) {
      if (work.size() >= options_.max_batch) {
        break;
      }
      if (auto r = retry_.find(name); r != retry_.end() && r->second.not_before > now) {
        continue;
      }
      work.push_back(name);
    }
    before = stats_.creates + stats_.updates + stats_.deletes;
  }
  bool deferred = false;
  for (const auto& name : work) {
    auto r = reconcile(name);
    if (r == result::no_token) {
      std::lock_guard<std::mutex> lock(mutex_);
      ++stats_.rate_limited;
      break;
    }
    // Not the leader: settle what needs no write, keep the rest pending.
    deferred = deferred || r == result::not_allowed;
  }
  std::lock_guard<std::mutex> lock(mutex_);
  if (deferred) {
    ++stats_.deferred;
  }
  return stats_.creates + stats_.updates + stats_.deletes - before;
}

std::chrono::milliseconds kubernetes_discovery_writer::next_wait_locked() {
  // The earliest backoff deadline among pending names; 0 when one is ready now.
  const auto now = options_.now();
  auto wait = std::chrono::milliseconds(5000);
  for (const auto& name : dirty_) {
    auto r = retry_.find(name);
    if (r == retry_.end() || r->second.not_before <= now) {
      return std::chrono::milliseconds(0);
    }
    wait = std::min(
        wait, std::chrono::duration_cast<std::chrono::milliseconds>(r->second.not_before - now));
  }
  return wait;
}

void kubernetes_discovery_writer::start() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (running_) {
    return;
  }
  running_ = true;
  stopping_ = false;
  thread_ = std::thread([this] {
    while (true) {
      {
        std::lock_guard<std::mutex> lock(mutex_);
        if (stopping_) {
          return;
        }
        nudged_ = false;
      }
      const auto deferred_before = stats().deferred;
      const auto limited_before = stats().rate_limited;
      pump();
      auto token_wait = time_to_token();
      std::unique_lock<std::mutex> lock(mutex_);
      if (stopping_) {
        return;
      }
      if (!synced_ || dirty_.empty()) {
        cv_.wait(lock, [&] { return stopping_ || nudged_; });
        continue;
      }
      auto wait = next_wait_locked();
      if (stats_.rate_limited != limited_before) {
        wait = std::max(wait, token_wait);
      }
      if (stats_.deferred != deferred_before) {
        // Not the leader: the leadership callback nudges; poll now and then regardless.
        wait = std::max(wait, std::chrono::milliseconds(1000));
      }
      wait = std::clamp(wait, std::chrono::milliseconds(1), std::chrono::milliseconds(5000));
      cv_.wait_for(lock, wait, [&] { return stopping_ || nudged_; });
    }
  });
}

void kubernetes_discovery_writer::nudge() {
  std::lock_guard<std::mutex> lock(mutex_);
  nudged_ = true;
  cv_.notify_all();
}

void kubernetes_discovery_writer::stop() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!running_) {
      return;
    }
    stopping_ = true;
    running_ = false;
    cv_.notify_all();
  }
  if (thread_.joinable()) {
    thread_.join();
  }
}

size_t kubernetes_discovery_writer::pending() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return dirty_.size();
}

kubernetes_discovery_writer::counters kubernetes_discovery_writer::stats() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return stats_;
}

}  // namespace sluice::adapters
