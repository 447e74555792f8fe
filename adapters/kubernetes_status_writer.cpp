#include "adapters/kubernetes_status_writer.hpp"

#include <google/protobuf/util/json_util.h>

#include <algorithm>
#include <set>
#include <vector>

#include <nlohmann/json.hpp>

#include "adapters/kubernetes_source.hpp"
#include "model/error.hpp"
#include "model/logging.hpp"

namespace sluice::adapters {
namespace {

using json = nlohmann::json;
using steady = std::chrono::steady_clock;

// The Status as Gloo writes it: proto3 JSON names, enum names; `state` always present (Pending
// is the zero value, which proto3 JSON would leave out).
std::string status_json(const ::core::solo::io::Status& status) {
  std::string text;
  google::protobuf::util::JsonPrintOptions opts;
  opts.preserve_proto_field_names = false;
  if (!google::protobuf::util::MessageToJsonString(status, &text, opts).ok()) {
    return {};
  }
  json j = json::parse(text, nullptr, false);
  if (!j.is_object()) {
    return {};
  }
  if (!j.contains("state")) {
    j["state"] = "Pending";
  }
  return j.dump();
}

}  // namespace

kubernetes_status_writer::kubernetes_status_writer(kubernetes_status_writer_options options)
    : options_(std::move(options)) {
  if (!options_.now) {
    options_.now = [] { return steady::now(); };
  }
  bucket_.emplace(options_.qps, options_.burst, options_.now());
}

kubernetes_status_writer::~kubernetes_status_writer() { stop(); }

std::string kubernetes_status_writer::status_path(const model::resource_key& key) {
  if (!model::info(key.kind).has_status) {
    return {};
  }
  auto coll = collection_for(key.kind);
  if (!coll || key.name.empty()) {
    return {};
  }
  return coll->path(key.ns) + "/" + key.name + "/status";
}

void kubernetes_status_writer::update(const status_map& statuses) {
  std::lock_guard<std::mutex> lock(mutex_);
  std::set<model::resource_key> present;
  for (const auto& [key, status] : statuses) {
    if (!model::info(key.kind).has_status) {
      continue;
    }
    present.insert(key);
    std::string desired = status_json(status);
    if (desired.empty()) {
      continue;
    }
    // Compared with what is being written, if a write is in flight: comparing with the older
    // written status would drop this one when it equals that older status (a quick flip back).
    const std::string* current = nullptr;
    if (auto f = in_flight_.find(key); f != in_flight_.end()) {
      current = &f->second;
    } else if (auto w = written_.find(key); w != written_.end()) {
      current = &w->second;
    }
    if (current != nullptr && *current == desired) {
      queue_.erase(key);  // back to what is already written
    } else {
      queue_[key] = std::move(desired);
    }
  }
  for (auto* m : {&written_, &queue_}) {
    for (auto it = m->begin(); it != m->end();) {
      it = present.count(it->first) > 0 ? std::next(it) : m->erase(it);
    }
  }
  latest_.clear();
  for (const auto& key : present) {
    latest_.emplace(key, statuses.at(key));
  }
  cv_.notify_all();
}

void kubernetes_status_writer::reset() {
  std::lock_guard<std::mutex> lock(mutex_);
  written_.clear();
  for (const auto& [key, status] : latest_) {
    if (auto j = status_json(status); !j.empty()) {
      queue_[key] = std::move(j);
    }
  }
  cv_.notify_all();
}

bool kubernetes_status_writer::allowed() const {
  return !options_.may_write || options_.may_write();
}

bool kubernetes_status_writer::take_token() {
  std::lock_guard<std::mutex> lock(mutex_);
  return bucket_->take(options_.now());
}

std::chrono::milliseconds kubernetes_status_writer::time_to_token() {
  std::lock_guard<std::mutex> lock(mutex_);
  return bucket_->time_to_token(options_.now());
}

kubernetes_status_writer::write_result kubernetes_status_writer::write_one(
    const model::resource_key& key, const std::string& desired_json) {
  const std::string path = status_path(key);
  const std::string object_path = "/" + path.substr(0, path.size() - 7);  // without "/status"
  const json desired = json::parse(desired_json, nullptr, false);
  auto count = [&](uint64_t counters::*field) {
    std::lock_guard<std::mutex> lock(mutex_);
    ++(stats_.*field);
  };
  for (int attempt = 0; attempt <= options_.max_conflict_retries; ++attempt) {
    auto got = options_.client->request("GET", object_path);
    if (!got) {
      log::adapters()->warn("status read failed kind={} namespace={} name={} error={}",
                            model::name_of(key.kind), key.ns, key.name, describe(got.error()));
      count(&counters::errors);
      return write_result::failed;
    }
    if (got->status == 404) {
      count(&counters::not_found);
      return write_result::dropped;
    }
    if (got->status != 200) {
      log::adapters()->warn("status read failed kind={} namespace={} name={} status={}",
                            model::name_of(key.kind), key.ns, key.name, got->status);
      count(&counters::errors);
      return write_result::failed;
    }
    json object = json::parse(got->body, nullptr, false);
    if (!object.is_object()) {
      count(&counters::errors);
      return write_result::failed;
    }
    json& status = object["status"];
    if (!status.is_object()) {
      status = json::object();
    }
    json& statuses = status["statuses"];
    if (!statuses.is_object()) {
      statuses = json::object();
    }
    if (auto it = statuses.find(options_.controller_namespace);
        it != statuses.end() && *it == desired) {
      count(&counters::unchanged);
      return write_result::unchanged;
    }
    if (!allowed()) {
      return write_result::not_allowed;
    }
    if (!take_token()) {
      return write_result::no_token;
    }
    statuses[options_.controller_namespace] = desired;
    // The object's resourceVersion rides along: the server refuses the write (409) if the
    // object changed since our read.
    auto put = options_.client->request("PUT", "/" + path, object.dump());
    if (!put) {
      log::adapters()->warn("status write failed kind={} namespace={} name={} error={}",
                            model::name_of(key.kind), key.ns, key.name, describe(put.error()));
      count(&counters::errors);
      return write_result::failed;
    }
    if (put->status == 200 || put->status == 201) {
      count(&counters::writes);
      log::adapters()->debug("status written kind={} namespace={} name={}",
                             model::name_of(key.kind), key.ns, key.name);
      return write_result::written;
    }
    if (put->status == 409) {
      count(&counters::conflicts);
      continue;  // read again and retry
    }
    if (put->status == 404) {
      count(&counters::not_found);
      return write_result::dropped;
    }
    log::adapters()->warn("status write failed kind={} namespace={} name={} status={}",
                          model::name_of(key.kind), key.ns, key.name, put->status);
    count(&counters::errors);
    return write_result::failed;
  }
  log::adapters()->warn("status write gave up after conflicts kind={} namespace={} name={}",
                        model::name_of(key.kind), key.ns, key.name);
  count(&counters::errors);
  return write_result::failed;
}

size_t kubernetes_status_writer::pump() {
  std::lock_guard<std::mutex> pass(pump_mutex_);
  std::vector<std::pair<model::resource_key, std::string>> work;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    for (const auto& [key, desired] : queue_) {
      if (work.size() >= options_.max_batch) {
        break;
      }
      work.emplace_back(key, desired);
    }
  }
  size_t written = 0;
  // A write that did not happen: the status stays queued, unless a newer one replaced it or
  // update() un-queued it while it was in flight (it then equals what we meant to write).
  auto not_written = [&](const model::resource_key& key, const std::string& desired) {
    std::lock_guard<std::mutex> lock(mutex_);
    in_flight_.erase(key);
    if (queue_.count(key) == 0 && latest_.count(key) > 0) {
      queue_[key] = desired;
    }
  };
  for (const auto& [key, desired] : work) {
    if (!allowed()) {
      log::adapters()->debug("status write deferred, not the leader kind={} namespace={} name={} "
                             "pending={}",
                             model::name_of(key.kind), key.ns, key.name, work.size());
      std::lock_guard<std::mutex> lock(mutex_);
      ++stats_.deferred;
      break;
    }
    {
      std::lock_guard<std::mutex> lock(mutex_);
      in_flight_[key] = desired;
    }
    auto result = write_one(key, desired);
    if (result == write_result::no_token) {
      not_written(key, desired);
      std::lock_guard<std::mutex> lock(mutex_);
      ++stats_.rate_limited;
      break;
    }
    if (result == write_result::not_allowed) {
      not_written(key, desired);
      std::lock_guard<std::mutex> lock(mutex_);
      ++stats_.deferred;
      break;
    }
    if (result == write_result::failed) {
      not_written(key, desired);
      continue;  // stays queued for a later pass
    }
    written += result == write_result::written ? 1 : 0;
    std::lock_guard<std::mutex> lock(mutex_);
    in_flight_.erase(key);
    if (latest_.count(key) > 0) {
      written_[key] = desired;
    }
    if (auto q = queue_.find(key); q != queue_.end() && q->second == desired) {
      queue_.erase(q);  // unless a newer status arrived meanwhile
    }
  }
  return written;
}

void kubernetes_status_writer::start() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (running_) {
    return;
  }
  running_ = true;
  stopping_ = false;
  thread_ = std::thread([this] {
    while (true) {
      size_t before_queue;
      {
        std::lock_guard<std::mutex> lock(mutex_);
        if (stopping_) {
          return;
        }
        before_queue = queue_.size();
      }
      size_t done = before_queue > 0 ? pump() : 0;
      auto wait = time_to_token();
      std::unique_lock<std::mutex> lock(mutex_);
      if (stopping_) {
        return;
      }
      if (queue_.empty()) {
        cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
        continue;
      }
      // Work is left: wait for a token, or (no progress: an error or not the leader) a while.
      if (done == 0) {
        wait = std::max(wait, std::chrono::milliseconds(500));
      }
      wait = std::clamp(wait, std::chrono::milliseconds(1), std::chrono::milliseconds(5000));
      cv_.wait_for(lock, wait, [&] { return stopping_ || nudged_; });
      nudged_ = false;
    }
  });
}

void kubernetes_status_writer::nudge() {
  std::lock_guard<std::mutex> lock(mutex_);
  nudged_ = true;
  cv_.notify_all();
}

void kubernetes_status_writer::stop() {
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

size_t kubernetes_status_writer::pending() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return queue_.size();
}

kubernetes_status_writer::counters kubernetes_status_writer::stats() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return stats_;
}

}  // namespace sluice::adapters
