#include "adapters/kubernetes_leader.hpp"

#include <unistd.h>

#include <cmath>
#include <ctime>
#include <random>

#include <nlohmann/json.hpp>

#include "model/error.hpp"
#include "model/logging.hpp"

namespace sluice::adapters {
namespace {

using json = nlohmann::json;

// metav1.MicroTime: RFC 3339 with microseconds, UTC.
std::string micro_time(std::chrono::system_clock::time_point t) {
  auto us = std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count();
  std::time_t secs = static_cast<std::time_t>(us / 1'000'000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[40];
  size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  std::snprintf(buf + n, sizeof buf - n, ".%06lldZ", static_cast<long long>(us % 1'000'000));
  return buf;
}

std::string str(const json& j, const char* field) {
  if (!j.is_object()) {
    return {};
  }
  auto it = j.find(field);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

int64_t integer(const json& j, const char* field) {
  if (!j.is_object()) {
    return 0;
  }
  auto it = j.find(field);
  return it != j.end() && it->is_number_integer() ? it->get<int64_t>() : 0;
}

}  // namespace

kubernetes_leader::kubernetes_leader(kubernetes_leader_options options)
    : options_(std::move(options)) {
  if (!options_.now) {
    options_.now = [] { return std::chrono::steady_clock::now(); };
  }
  if (!options_.wall_now) {
    options_.wall_now = [] { return std::chrono::system_clock::now(); };
  }
  if (options_.identity.empty()) {
    // As client-go does: the host name plus something unique to this process.
    char host[256] = {};
    gethostname(host, sizeof host - 1);
    std::random_device rd;
    char suffix[17];
    std::snprintf(suffix, sizeof suffix, "%08x%08x", rd(), rd());
    options_.identity = std::string(host) + "_" + suffix;
  }
}

const std::string& kubernetes_leader::identity() const { return options_.identity; }

kubernetes_leader::~kubernetes_leader() { stop(); }

std::string kubernetes_leader::lease_path() const {
  return "apis/coordination.k8s.io/v1/namespaces/" + options_.ns + "/leases/" + options_.name;
}

bool kubernetes_leader::is_leader() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return holder_ == options_.identity && renewed_ != std::chrono::steady_clock::time_point{}
         && options_.now() - renewed_ < options_.renew_deadline;
}

std::string kubernetes_leader::holder() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return holder_;
}

bool kubernetes_leader::try_acquire_or_renew() {
  if (!options_.client) {
    return false;
  }
  const auto now = options_.now();
  const std::string wall = micro_time(options_.wall_now());
  const int64_t duration_s = std::max<int64_t>(
      1, static_cast<int64_t>(
             std::ceil(std::chrono::duration<double>(options_.lease_duration).count())));
  const std::string path = "/" + lease_path();

  auto got = options_.client->request("GET", path);
  if (!got) {
    log::adapters()->warn("lease read failed lease={}/{} error={}", options_.ns, options_.name,
                          describe(got.error()));
    return false;
  }
  if (got->status == 404) {
    json spec{{"holderIdentity", options_.identity},
              {"leaseDurationSeconds", duration_s},
              {"acquireTime", wall},
              {"renewTime", wall},
              {"leaseTransitions", 0}};
    json lease{{"apiVersion", "coordination.k8s.io/v1"},
               {"kind", "Lease"},
               {"metadata", {{"name", options_.name}, {"namespace", options_.ns}}},
               {"spec", spec}};
    auto created = options_.client->request(
        "POST", "/apis/coordination.k8s.io/v1/namespaces/" + options_.ns + "/leases", lease.dump());
    if (!created || (created->status != 201 && created->status != 200)) {
      return false;  // 409: another replica created it first
    }
    std::lock_guard<std::mutex> lock(mutex_);
    observed_record_ = spec.dump();
    observed_at_ = now;
    holder_ = options_.identity;
    renewed_ = now;
    return true;
  }
  if (got->status != 200) {
    log::adapters()->warn("lease read failed lease={}/{} status={}", options_.ns, options_.name,
                          got->status);
    return false;
  }
  json lease = json::parse(got->body, nullptr, false);
  if (!lease.is_object()) {
    return false;
  }
  json spec = lease.contains("spec") && lease["spec"].is_object() ? lease["spec"] : json::object();
  const std::string holder = str(spec, "holderIdentity");
  int64_t their_duration = integer(spec, "leaseDurationSeconds");
  {
    std::lock_guard<std::mutex> lock(mutex_);
    // Expiry is judged by when WE saw the record last change, on our clock (client-go does the
    // same): the holder's renewTime is its wall clock, not ours.
    if (std::string record = spec.dump(); record != observed_record_) {
      observed_record_ = std::move(record);
      observed_at_ = now;
    }
    holder_ = holder;
    if (holder != options_.identity) {
      renewed_ = {};  // someone else holds it: whatever we had is gone
    }
    auto their = their_duration > 0 ? std::chrono::milliseconds(their_duration * 1000)
                                    : options_.lease_duration;
    if (!holder.empty() && holder != options_.identity && now < observed_at_ + their) {
      return false;
    }
  }
  json next = spec;
  if (holder != options_.identity) {
    next["acquireTime"] = wall;
    next["leaseTransitions"] = integer(spec, "leaseTransitions") + (holder.empty() ? 0 : 1);
  }
  next["holderIdentity"] = options_.identity;
  next["renewTime"] = wall;
  next["leaseDurationSeconds"] = duration_s;
  lease["spec"] = next;
  // metadata.resourceVersion is the precondition: of two replicas racing, one gets 409.
  auto put = options_.client->request("PUT", path, lease.dump());
  if (!put || put->status != 200) {
    return false;
  }
  std::lock_guard<std::mutex> lock(mutex_);
  observed_record_ = next.dump();
  observed_at_ = now;
  holder_ = options_.identity;
  renewed_ = now;
  return true;
}

void kubernetes_leader::set_leader(bool leader) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (leader_ == leader) {
      return;
    }
    leader_ = leader;
  }
  log::adapters()->info("{} leadership lease={}/{} identity={}", leader ? "acquired" : "lost",
                        options_.ns, options_.name, options_.identity);
  if (options_.on_change) {
    options_.on_change(leader);
  }
}

bool kubernetes_leader::step() {
  std::lock_guard<std::mutex> lock(step_mutex_);
  try_acquire_or_renew();
  bool leading = is_leader();
  set_leader(leading);
  return leading;
}

void kubernetes_leader::release() {
  std::lock_guard<std::mutex> lock(step_mutex_);
  bool held;
  {
    std::lock_guard<std::mutex> l(mutex_);
    held = holder_ == options_.identity && renewed_ != std::chrono::steady_clock::time_point{};
  }
  if (held && options_.client) {
    const std::string path = "/" + lease_path();
    auto got = options_.client->request("GET", path);
    if (got && got->status == 200) {
      json lease = json::parse(got->body, nullptr, false);
      if (lease.is_object() && lease.contains("spec") && lease["spec"].is_object()
          && str(lease["spec"], "holderIdentity") == options_.identity) {
        // As client-go's ReleaseOnCancel: no holder, a one-second lease.
        lease["spec"]["holderIdentity"] = "";
        lease["spec"]["leaseDurationSeconds"] = 1;
        lease["spec"]["renewTime"] = micro_time(options_.wall_now());
        auto put = options_.client->request("PUT", path, lease.dump());
        if (!put || put->status != 200) {
          log::adapters()->warn("lease release failed lease={}/{}", options_.ns, options_.name);
        }
      }
    }
  }
  {
    std::lock_guard<std::mutex> l(mutex_);
    renewed_ = {};
    if (holder_ == options_.identity) {
      holder_.clear();
    }
  }
  set_leader(false);
}

void kubernetes_leader::start() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (running_) {
    return;
  }
  running_ = true;
  stopping_ = false;
  thread_ = std::thread([this] {
    while (true) {
      step();
      std::unique_lock<std::mutex> l(mutex_);
      if (cv_.wait_for(l, options_.retry_period, [&] { return stopping_; })) {
        return;
      }
    }
  });
}

void kubernetes_leader::stop() {
  bool was_running;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    was_running = running_;
    stopping_ = true;
    running_ = false;
    cv_.notify_all();
  }
  if (thread_.joinable()) {
    thread_.join();
  }
  if (was_running || is_leader()) {
    release();
  }
}

}  // namespace sluice::adapters
