#include "xds/ads_server.hpp"

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <random>
#include <unordered_set>
#include <utility>

#include "envoy/config/core/v3/base.pb.h"
#include "envoy/service/discovery/v3/ads.grpc.pb.h"
#include "model/error.hpp"
#include "model/logging.hpp"
#include "xds/sotw_session.hpp"

namespace sluice::xds {

using envoy::service::discovery::v3::DeltaDiscoveryRequest;
using envoy::service::discovery::v3::DeltaDiscoveryResponse;
using envoy::service::discovery::v3::DiscoveryRequest;
using envoy::service::discovery::v3::DiscoveryResponse;

std::string node_key(const envoy::config::core::v3::Node& node) {
  const auto& fields = node.metadata().fields();
  if (auto role = fields.find("role");
      role != fields.end() && role->second.kind_case() == google::protobuf::Value::kStringValue &&
      !role->second.string_value().empty()) {
    return role->second.string_value();
  }
  // Gloo serves a fallback snapshot to an Envoy without role; gRPC clients have no role by
  // design and get the proxyless snapshot (gloo.md, xds.md §1.2).
  if (node.user_agent_name() == "envoy") {
    return std::string(misconfigured_node_key);
  }
  return std::string(proxyless_key);
}

namespace {

/// Keepalive and abuse limits (reliability.md §1.6, §3.2): notice dead peers, refuse ping floods.
constexpr int keepalive_time_ms = 30'000;
constexpr int keepalive_timeout_ms = 10'000;
constexpr int min_recv_ping_interval_ms = 5'000;
constexpr int max_ping_strikes = 2;
/// An xDS client uses one stream per connection; more than this on one connection is abuse.
constexpr int max_streams_per_connection = 100;
/// How long stop() waits for streams to drain after cancelling them.
constexpr auto drain_bound = std::chrono::seconds(10);

/// A reactor that ends its stream at once with `status` (limits, shutdown, delta).
template <class Request, class Response>
class finishing_reactor final : public grpc::ServerBidiReactor<Request, Response> {
 public:
  explicit finishing_reactor(grpc::Status status) { this->Finish(std::move(status)); }
  void OnDone() override { delete this; }
};

}  // namespace

class sotw_reactor;

/// Shared state of the server: snapshots by key, live streams, the gate and the observer, all
/// under `mu_`. Lock order: `mu_` before any reactor's own mutex, never the other way.
class ads_server::impl {
 public:
  explicit impl(ads_server_options options);

  caf::expected<int> start();
  void stop();
  void publish(snapshot_ptr snap);
  void open_gate();
  void set_observer(std::function<void(const client_response&)> observer);
  size_t stream_count() const;

  // Called by reactors.
  grpc::ServerBidiReactor<DiscoveryRequest, DiscoveryResponse>* open_stream(
      grpc::CallbackServerContext* context);
  /// After the first request: binds the stream to its key and hands it the snapshot and gate.
  void attach(sotw_reactor* reactor, const std::string& key);
  void detach(sotw_reactor* reactor);
  void notify(const client_response& response);

 private:
  class service final
      : public envoy::service::discovery::v3::AggregatedDiscoveryService::CallbackService {
   public:
    explicit service(impl& owner) : owner_(owner) {}
    grpc::ServerBidiReactor<DiscoveryRequest, DiscoveryResponse>* StreamAggregatedResources(
        grpc::CallbackServerContext* context) override {
      return owner_.open_stream(context);
    }
    // Delta xDS gets its own session class later; until then say so plainly.
    grpc::ServerBidiReactor<DeltaDiscoveryRequest, DeltaDiscoveryResponse>*
    DeltaAggregatedResources(grpc::CallbackServerContext*) override {
      return new finishing_reactor<DeltaDiscoveryRequest, DeltaDiscoveryResponse>(
          grpc::Status(grpc::StatusCode::UNIMPLEMENTED,
                       "sluice serves state-of-the-world ADS only; use "
                       "StreamAggregatedResources"));
    }

   private:
    impl& owner_;
  };

  const ads_server_options options_;
  const std::string epoch_;  ///< random per server instance, keeps nonces apart across restarts
  service service_;
  std::unique_ptr<grpc::Server> server_;

  mutable std::mutex mu_;
  std::condition_variable drained_;
  std::map<std::string, snapshot_ptr, std::less<>> snapshots_;
  std::unordered_set<sotw_reactor*> reactors_;
  bool gate_open_ = false;
  bool stopping_ = false;
  uint64_t next_stream_id_ = 0;
  std::shared_ptr<const std::function<void(const client_response&)>> observer_;
};

/// One SotW ADS stream: feeds requests to its `sotw_session` and writes what the session says,
/// one write outstanding at a time. All gRPC stream operations happen under `mu_`; gRPC never
/// runs a reaction inline from StartRead/StartWrite/Finish on a server bidi stream, so this
/// cannot deadlock, and it makes "no write after Finish" a simple flag check.
class sotw_reactor final : public grpc::ServerBidiReactor<DiscoveryRequest, DiscoveryResponse> {
 public:
  sotw_reactor(ads_server::impl& server, std::string peer, std::string nonce_prefix)
      : server_(server),
        peer_(std::move(peer)),
        session_(sotw_session_options{.nonce_prefix = std::move(nonce_prefix)}) {
    std::lock_guard lock(mu_);
    StartRead(&request_);
  }

  void OnReadDone(bool ok) override {
    std::unique_lock lock(mu_);
    if (!ok) {
      // Client half-closed or the call was cancelled.
      log::xds()->debug("[{}] stream ended by client peer={}", label_, peer_);
      finish_locked(grpc::Status::OK);
      return;
    }
    if (finished_) {
      return;
    }
    const bool first = !session_.has_node();
    auto outcome = session_.on_request(request_);
    if (first) {
      label_ = session_.node().id().empty() ? std::string("no-node-id") : session_.node().id();
      log::xds()->debug("[{}] stream opened key={} user_agent={} peer={}", label_, session_.key(),
                        session_.node().user_agent_name(), peer_);
    }
    if (!outcome) {
      log::xds()->warn("[{}] ending stream: {}", label_, describe(outcome.error()));
      finish_locked(grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED, describe(outcome.error())));
      return;
    }
    log_request(*outcome);
    pump_locked();
    std::string key = session_.key();
    lock.unlock();

    if (outcome->response) {
      server_.notify(*outcome->response);
    }
    if (first) {
      server_.attach(this, key);
    }

    lock.lock();
    if (!finished_) {
      StartRead(&request_);
    }
  }

  void OnWriteDone(bool ok) override {
    std::lock_guard lock(mu_);
    writing_ = false;
    if (!ok) {
      finish_locked(grpc::Status(grpc::StatusCode::UNAVAILABLE, "write to the client failed"));
      return;
    }
    pump_locked();
  }

  void OnCancel() override {
    std::lock_guard lock(mu_);
    finish_locked(grpc::Status::CANCELLED);
  }

  void OnDone() override {
    server_.detach(this);
    log::xds()->debug("[{}] stream closed peer={}", label_, peer_);
    delete this;
  }

  /// The snapshot key this stream serves, set by `attach`; both guarded by the server's mutex.
  std::string server_key;
  bool attached = false;

  // Called by the server with its mutex held.
  void deliver_snapshot(snapshot_ptr snap) {
    std::lock_guard lock(mu_);
    session_.set_snapshot(std::move(snap));
    pump_locked();
  }

  void deliver_gate_open() {
    std::lock_guard lock(mu_);
    session_.open_gate();
    pump_locked();
  }

  void shut_down() {
    std::lock_guard lock(mu_);
    finish_locked(grpc::Status(grpc::StatusCode::UNAVAILABLE, "xds server is shutting down"));
  }

 private:
  void pump_locked() {
    if (finished_ || writing_) {
      return;
    }
    auto next = session_.next_response();
    if (!next) {
      return;
    }
    log::xds()->debug("[{}] send type={} version={} nonce={} resources={}", label_, next->type_url,
                      next->version, next->nonce, next->resources.size());
    response_ = to_discovery_response(*next);
    writing_ = true;
    StartWrite(&response_);
  }

  void finish_locked(grpc::Status status) {
    if (finished_) {
      return;
    }
    finished_ = true;
    Finish(std::move(status));
  }

  void log_request(const request_outcome& outcome) {
    const auto& type = request_.type_url();
    if (outcome.kind == request_kind::nack) {
      log::xds()->warn("[{}] nack key={} type={} version={} nonce={} error={}", label_,
                       session_.key(), type, request_.version_info(), request_.response_nonce(),
                       request_.error_detail().message());
      return;
    }
    log::xds()->debug("[{}] request kind={} type={} names={} version={} nonce={} changed={}",
                      label_, to_string(outcome.kind), type, request_.resource_names_size(),
                      request_.version_info(), request_.response_nonce(),
                      outcome.subscription_changed);
  }

  ads_server::impl& server_;
  const std::string peer_;
  std::mutex mu_;
  sotw_session session_;
  std::string label_ = "unidentified";
  DiscoveryRequest request_;
  DiscoveryResponse response_;
  bool writing_ = false;
  bool finished_ = false;
};

// ---- impl ------------------------------------------------------------------------------------

namespace {

std::string random_epoch() {
  std::random_device rd;
  std::uniform_int_distribution<uint32_t> dist;
  char buf[9];
  std::snprintf(buf, sizeof buf, "%08x", dist(rd));
  return buf;
}

}  // namespace

ads_server::impl::impl(ads_server_options options)
    : options_(std::move(options)), epoch_(random_epoch()), service_(*this) {}

caf::expected<int> ads_server::impl::start() {
  {
    std::lock_guard lock(mu_);
    if (server_) {
      return make_error(ec::invalid_argument, "xds server already started");
    }
    stopping_ = false;
  }
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(options_.listen, grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&service_);
  builder.SetMaxReceiveMessageSize(options_.max_receive_bytes);
  // gRPC sets SO_REUSEPORT by default: a second sluice on the same port would then start
  // "successfully" and silently take half the proxies. Fail loudly instead.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS,
                             std::min(options_.max_streams, max_streams_per_connection));
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, keepalive_time_ms);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, keepalive_timeout_ms);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS,
                             min_recv_ping_interval_ms);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MAX_PING_STRIKES, max_ping_strikes);
  auto server = builder.BuildAndStart();
  if (!server || port == 0) {
    return make_error(ec::invalid_argument,
                      "cannot serve xDS on " + options_.listen +
                          ": the address is invalid or the port is in use (set another listen "
                          "address, or port 0 to pick a free one)");
  }
  std::lock_guard lock(mu_);
  server_ = std::move(server);
  log::xds()->info("xds server listening address={} port={}", options_.listen, port);
  return port;
}

void ads_server::impl::stop() {
  std::unique_lock lock(mu_);
  if (!server_ || stopping_) {
    return;
  }
  stopping_ = true;
  for (auto* reactor : reactors_) {
    reactor->shut_down();
  }
  lock.unlock();
  // Cancels whatever is still in flight; gRPC then waits for every stream's OnDone.
  server_->Shutdown(std::chrono::system_clock::now());
  lock.lock();
  if (!drained_.wait_for(lock, drain_bound, [&] { return reactors_.empty(); })) {
    log::xds()->error("xds server stopped with streams={} still open after {}s", reactors_.size(),
                      drain_bound.count());
  }
  auto server = std::move(server_);
  lock.unlock();
  server.reset();
  log::xds()->info("xds server stopped");
}

void ads_server::impl::publish(snapshot_ptr snap) {
  if (!snap) {
    return;
  }
  std::lock_guard lock(mu_);
  log::xds()->debug("publish key={} watermark={}", snap->key, snap->watermark);
  snapshots_[snap->key] = snap;
  for (auto* reactor : reactors_) {
    if (reactor->server_key == snap->key) {
      reactor->deliver_snapshot(snap);
    }
  }
}

void ads_server::impl::open_gate() {
  std::lock_guard lock(mu_);
  if (gate_open_) {
    return;
  }
  gate_open_ = true;
  log::xds()->info("xds gate open streams={} snapshots={}", reactors_.size(), snapshots_.size());
  for (auto* reactor : reactors_) {
    reactor->deliver_gate_open();
  }
}

void ads_server::impl::set_observer(std::function<void(const client_response&)> observer) {
  auto ptr =
      observer
          ? std::make_shared<const std::function<void(const client_response&)>>(std::move(observer))
          : nullptr;
  std::lock_guard lock(mu_);
  observer_ = std::move(ptr);
}

size_t ads_server::impl::stream_count() const {
  std::lock_guard lock(mu_);
  return static_cast<size_t>(
      std::count_if(reactors_.begin(), reactors_.end(), [](const auto* r) { return r->attached; }));
}

grpc::ServerBidiReactor<DiscoveryRequest, DiscoveryResponse>* ads_server::impl::open_stream(
    grpc::CallbackServerContext* context) {
  std::lock_guard lock(mu_);
  if (stopping_) {
    return new finishing_reactor<DiscoveryRequest, DiscoveryResponse>(
        grpc::Status(grpc::StatusCode::UNAVAILABLE, "xds server is shutting down"));
  }
  if (reactors_.size() >= static_cast<size_t>(std::max(options_.max_streams, 0))) {
    log::xds()->warn("refusing xds stream peer={} streams={} max_streams={}", context->peer(),
                     reactors_.size(), options_.max_streams);
    return new finishing_reactor<DiscoveryRequest, DiscoveryResponse>(
        grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                     "xds server has reached max_streams=" + std::to_string(options_.max_streams)));
  }
  auto id = ++next_stream_id_;
  auto* reactor = new sotw_reactor(*this, context->peer(), epoch_ + "." + std::to_string(id) + ".");
  reactors_.insert(reactor);
  return reactor;
}

void ads_server::impl::attach(sotw_reactor* reactor, const std::string& key) {
  std::lock_guard lock(mu_);
  if (!reactors_.contains(reactor)) {
    return;
  }
  reactor->server_key = key;
  reactor->attached = true;
  if (auto i = snapshots_.find(key); i != snapshots_.end()) {
    reactor->deliver_snapshot(i->second);
  }
  if (gate_open_) {
    reactor->deliver_gate_open();
  }
}

void ads_server::impl::detach(sotw_reactor* reactor) {
  std::lock_guard lock(mu_);
  reactors_.erase(reactor);
  if (reactors_.empty()) {
    drained_.notify_all();
  }
}

void ads_server::impl::notify(const client_response& response) {
  std::shared_ptr<const std::function<void(const client_response&)>> observer;
  {
    std::lock_guard lock(mu_);
    observer = observer_;
  }
  if (observer) {
    (*observer)(response);
  }
}

// ---- ads_server ------------------------------------------------------------------------------

ads_server::ads_server(ads_server_options options)
    : impl_(std::make_unique<impl>(std::move(options))) {}

ads_server::~ads_server() { impl_->stop(); }

caf::expected<int> ads_server::start() { return impl_->start(); }

void ads_server::stop() { impl_->stop(); }

void ads_server::publish(snapshot_ptr snap) { impl_->publish(std::move(snap)); }

void ads_server::open_gate() { impl_->open_gate(); }

void ads_server::on_client_response(std::function<void(const client_response&)> observer) {
  impl_->set_observer(std::move(observer));
}

size_t ads_server::stream_count() const { return impl_->stream_count(); }

}  // namespace sluice::xds
