#include "xds/ads_server.hpp"

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <thread>
#include <unordered_set>
#include <utility>

#include "envoy/config/core/v3/base.pb.h"
#include "envoy/service/discovery/v3/ads.grpc.pb.h"
#include "model/error.hpp"
#include "model/logging.hpp"
#include "xds/delta_session.hpp"
#include "xds/sotw_session.hpp"
#include "xds/xds_wire.hpp"

namespace sluice::xds {

using envoy::service::discovery::v3::DeltaDiscoveryRequest;
using envoy::service::discovery::v3::DeltaDiscoveryResponse;
using envoy::service::discovery::v3::DiscoveryRequest;
using envoy::service::discovery::v3::DiscoveryResponse;

std::string node_key(const envoy::config::core::v3::Node& node) {
  const auto& fields = node.metadata().fields();
  if (auto role = fields.find("role");
      role != fields.end() && role->second.kind_case() == google::protobuf::Value::kStringValue
      && !role->second.string_value().empty()) {
    return role->second.string_value();
  }
  // Gloo serves a fallback snapshot to an Envoy without role; gRPC clients have no role by
  // design and get the proxyless snapshot (gloo.md, xds.md §1.2).
  if (node.user_agent_name() == "envoy") {
    return std::string(misconfigured_node_key);
  }
  return std::string(proxyless_key);
}

caf::error check_node(const envoy::config::core::v3::Node& node) {
  constexpr size_t max_field = 4096;
  if (node.id().empty()) {
    return make_error(ec::protocol_error,
                      "the first request of the stream carries no node id; set node.id in the "
                      "client's bootstrap (Envoy: node.id or --service-node; gRPC: \"node\": "
                      "{\"id\": ...} in the xDS bootstrap)");
  }
  if (node.id().size() > max_field || node.cluster().size() > max_field) {
    return make_error(ec::protocol_error,
                      "node id or cluster is longer than " + std::to_string(max_field) + " bytes");
  }
  const auto& fields = node.metadata().fields();
  if (auto role = fields.find("role"); role != fields.end()) {
    if (role->second.kind_case() != google::protobuf::Value::kStringValue) {
      return make_error(ec::protocol_error,
                        "node " + node.id().substr(0, 200) +
                            ": metadata.role must be a string \"<namespace>~<proxy name>\" "
                            "(Gloo's snapshot key), got another JSON type");
    }
    if (role->second.string_value().size() > max_field) {
      return make_error(ec::protocol_error, "node " + node.id().substr(0, 200)
                                                + ": metadata.role is longer than "
                                                + std::to_string(max_field) + " bytes");
    }
  }
  return {};
}

type_support classify_type(std::string_view type_url) {
  if (std::find(std::begin(push_order), std::end(push_order), type_url) != std::end(push_order)) {
    return type_support::served;
  }
  // Real v3 types a client may ask for when configured to; they simply never exist here, as
  // for any server that does not produce them.
  static constexpr std::string_view unserved[] = {
      "type.googleapis.com/envoy.config.route.v3.VirtualHost",
      "type.googleapis.com/envoy.config.route.v3.ScopedRouteConfiguration",
      "type.googleapis.com/envoy.service.runtime.v3.Runtime",
      "type.googleapis.com/envoy.config.core.v3.TypedExtensionConfig",
      "type.googleapis.com/envoy.config.endpoint.v3.LbEndpoint",
  };
  if (std::find(std::begin(unserved), std::end(unserved), type_url) != std::end(unserved)) {
    return type_support::unserved;
  }
  return type_support::unknown;
}

namespace {

/// Stop-time and watchdog bounds.
constexpr auto drain_bound = std::chrono::seconds(10);
/// Abuse limits for pings (reliability.md §3.2): refuse ping floods.
constexpr int min_recv_ping_interval_ms = 5'000;
constexpr int max_ping_strikes = 2;

/// A reactor that ends its stream at once with `status` (limits, shutdown).
template <class Request, class Response>
class finishing_reactor final : public grpc::ServerBidiReactor<Request, Response> {
 public:
  explicit finishing_reactor(grpc::Status status) { this->Finish(std::move(status)); }
  void OnDone() override { delete this; }
};

grpc::Status to_status(const caf::error& err) {
  const auto code = static_cast<ec>(err.code());
  return grpc::Status(code == ec::limit_exceeded ? grpc::StatusCode::RESOURCE_EXHAUSTED
                                                 : grpc::StatusCode::INVALID_ARGUMENT,
                      describe(err));
}

/// What differs between the two ADS methods; everything else is shared by `ads_reactor`.
struct sotw_protocol {
  using session = sotw_session;
  using session_options = sotw_session_options;
  using request = DiscoveryRequest;
  using response = DiscoveryResponse;
  using session_response = sotw_response;
  static constexpr bool delta = false;
  static constexpr std::string_view name = "sotw";

  static void log_send(const std::string& label, const session_response& r) {
    log::xds()->debug("[{}] send type={} version={} nonce={} resources={}", label, r.type_url,
                      r.version, r.nonce, r.resources.size());
  }
  static void log_request(const std::string& label, const std::string& key, const request& q,
                          const request_outcome& outcome) {
    if (outcome.kind == request_kind::nack) {
      log::xds()->warn("[{}] nack key={} type={} version={} nonce={} error={}", label, key,
                       q.type_url(), q.version_info(), q.response_nonce(),
                       q.error_detail().message());
      return;
    }
    log::xds()->debug("[{}] request kind={} type={} names={} version={} nonce={} changed={}", label,
                      to_string(outcome.kind), q.type_url(), q.resource_names_size(),
                      q.version_info(), q.response_nonce(), outcome.subscription_changed);
  }
};

struct delta_protocol {
  using session = delta_session;
  using session_options = delta_session_options;
  using request = DeltaDiscoveryRequest;
  using response = DeltaDiscoveryResponse;
  using session_response = delta_response;
  static constexpr bool delta = true;
  static constexpr std::string_view name = "delta";

  static void log_send(const std::string& label, const session_response& r) {
    log::xds()->debug("[{}] send delta type={} nonce={} resources={} removed={}", label, r.type_url,
                      r.nonce, r.resources.size(), r.removed.size());
  }
  static void log_request(const std::string& label, const std::string& key, const request& q,
                          const request_outcome& outcome) {
    if (outcome.kind == request_kind::nack) {
      log::xds()->warn("[{}] nack delta key={} type={} nonce={} error={}", label, key, q.type_url(),
                       q.response_nonce(), q.error_detail().message());
      return;
    }
    log::xds()->debug(
        "[{}] request delta kind={} type={} subscribe={} unsubscribe={} initial={} nonce={} "
        "changed={}",
        label, to_string(outcome.kind), q.type_url(), q.resource_names_subscribe_size(),
        q.resource_names_unsubscribe_size(), q.initial_resource_versions_size(), q.response_nonce(),
        outcome.subscription_changed);
  }
};

}  // namespace

/// What the server sees of any stream, SotW or delta. The server calls these with its mutex
/// held, except `end_stall_cancel` (see the watchdog).
class stream_base {
 public:
  virtual ~stream_base() = default;
  /// `diff` leads from the previously published snapshot of the key to `snap` (or is null);
  /// `history` holds the key's latest snapshots, newest (`snap`) first.
  virtual void deliver_snapshot(snapshot_ptr snap, snapshot_diff_ptr diff,
                                snapshot_history_ptr history)
      = 0;
  virtual void deliver_gate_open() = 0;
  virtual void shut_down() = 0;
  /// True if the stream is stalled at `now`; it is then marked so it cannot finish (nor be
  /// deleted) until `end_stall_cancel` ran.
  virtual bool begin_stall_cancel(std::chrono::steady_clock::time_point now,
                                  std::chrono::milliseconds timeout)
      = 0;
  /// Cancels the stalled call and finishes it; called without the server mutex.
  virtual void end_stall_cancel() = 0;

  bool delta = false;
  /// The snapshot key this stream serves and its client's node id, set by `attach`; guarded by
  /// the server's mutex.
  std::string server_key;
  std::string node_id;
  bool attached = false;
};

/// Shared state of the server: snapshots by key, live streams, the gate, the observer and the
/// metrics, all under `mu_` (counters are atomics). Lock order: `observers_mu_` (held only while
/// an observer runs, never under a reactor's mutex), then `mu_`, then any reactor's own mutex;
/// `metrics_mu_` is a leaf.
class ads_server::impl {
 public:
  explicit impl(ads_server_options options);

  caf::expected<int> start();
  void stop();
  void publish(snapshot_ptr snap);
  void open_gate();
  void set_observer(std::function<void(const client_response&)> observer);
  void set_gone_observer(std::function<void(const client_gone&)> observer);
  size_t stream_count() const;
  ads_metrics metrics() const;

  // Called by reactors.
  template <class P>
  grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>* open_stream(
      grpc::CallbackServerContext* context);
  /// After the first request: binds the stream to its key and hands it the snapshot and gate.
  void attach(stream_base* stream, const std::string& key, const std::string& node_id);
  void detach(stream_base* stream);
  void notify(const client_response& response);
  void count_response(bool delta, size_t bytes) {
    (delta ? delta_responses_ : sotw_responses_).fetch_add(1, std::memory_order_relaxed);
    (delta ? delta_bytes_ : sotw_bytes_).fetch_add(bytes, std::memory_order_relaxed);
  }
  void count_bad_request() { bad_requests_.fetch_add(1, std::memory_order_relaxed); }

  const ads_server_options& options() const { return options_; }
  response_encoder& encoder() { return encoder_; }

 private:
  /// Raw (ByteBuffer) methods: requests are parsed by the reactor, responses are written as
  /// pre-encoded bytes so that streams share resource payloads (`response_encoder`).
  using raw_ads = envoy::service::discovery::v3::AggregatedDiscoveryService::
      WithRawCallbackMethod_StreamAggregatedResources<
          envoy::service::discovery::v3::AggregatedDiscoveryService::
              WithRawCallbackMethod_DeltaAggregatedResources<
                  envoy::service::discovery::v3::AggregatedDiscoveryService::Service>>;
  class service final : public raw_ads {
   public:
    explicit service(impl& owner) : owner_(owner) {}
    grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>* StreamAggregatedResources(
        grpc::CallbackServerContext* context) override {
      return owner_.open_stream<sotw_protocol>(context);
    }
    grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>* DeltaAggregatedResources(
        grpc::CallbackServerContext* context) override {
      return owner_.open_stream<delta_protocol>(context);
    }

   private:
    impl& owner_;
  };

  /// Cancels streams that stalled longer than `stall_timeout` (reliability.md §3.2).
  void watchdog();

  const ads_server_options options_;
  const std::string epoch_;  ///< random per server instance, keeps nonces apart across restarts
  response_encoder encoder_;
  service service_;
  std::unique_ptr<grpc::Server> server_;

  mutable std::mutex mu_;
  std::condition_variable drained_;
  std::condition_variable watchdog_wake_;
  std::thread watchdog_;
  std::map<std::string, snapshot_ptr, std::less<>> snapshots_;
  std::map<std::string, snapshot_history_ptr, std::less<>> history_;
  std::unordered_set<stream_base*> streams_;
  bool gate_open_ = false;
  bool stopping_ = false;
  uint64_t next_stream_id_ = 0;
  std::shared_ptr<const std::function<void(const client_response&)>> observer_;
  std::shared_ptr<const std::function<void(const client_gone&)>> gone_observer_;
  /// Held while an observer runs, before `mu_`: a node's answers and its leaving reach the
  /// observers in the order they happened.
  std::mutex observers_mu_;
  /// Attached streams per (key, node id): a node is gone when its last one closes.
  std::map<std::pair<std::string, std::string>, size_t> attached_nodes_;

  std::atomic<uint64_t> streams_opened_{0};
  std::atomic<uint64_t> streams_refused_{0};
  std::atomic<uint64_t> streams_stalled_{0};
  std::atomic<uint64_t> bad_requests_{0};
  std::atomic<uint64_t> acks_{0};
  std::atomic<uint64_t> sotw_responses_{0};
  std::atomic<uint64_t> sotw_bytes_{0};
  std::atomic<uint64_t> delta_responses_{0};
  std::atomic<uint64_t> delta_bytes_{0};
  mutable std::mutex metrics_mu_;
  uint64_t nacks_ = 0;
  std::map<std::string, uint64_t> nacks_by_type_;
};

/// One ADS stream of protocol `P`: feeds requests to its session and writes what the session
/// says, one write outstanding at a time. All gRPC stream operations happen under `mu_`; gRPC
/// never runs a reaction inline from StartRead/StartWrite/Finish on a server bidi stream, so this
/// cannot deadlock, and it makes "no write after Finish" a simple flag check.
template <class P>
class ads_reactor final : public grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>,
                          public stream_base {
 public:
  ads_reactor(ads_server::impl& server, grpc::CallbackServerContext* context,
              std::string nonce_prefix)
      : server_(server),
        context_(context),
        peer_(context->peer()),
        opened_at_(std::chrono::steady_clock::now()),
        session_(typename P::session_options{
            .nonce_prefix = std::move(nonce_prefix),
            .max_names_per_type = server.options().max_names_per_request}) {
    delta = P::delta;
    std::lock_guard lock(mu_);
    this->StartRead(&request_bytes_);
  }

  void OnReadDone(bool ok) override {
    std::unique_lock lock(mu_);
    if (!ok) {
      // Client half-closed or the call was cancelled.
      log::xds()->debug("[{}] stream ended by client peer={}", label_, peer_);
      finish_locked(grpc::Status::OK);
      return;
    }
    if (finish_requested_) {
      return;
    }
    request_.Clear();
    if (auto parsed = grpc::SerializationTraits<typename P::request>::Deserialize(&request_bytes_,
                                                                                &request_);
        !parsed.ok()) {
      log::xds()->warn("[{}] ending {} stream peer={}: unparsable request: {}", label_, P::name,
                       peer_, parsed.error_message());
      server_.count_bad_request();
      finish_locked(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                                 "the request is not a valid " + std::string(P::name)
                                     + " discovery request: " + parsed.error_message()));
      return;
    }
    const bool first = !session_.has_node();
    first_request_seen_ = true;
    auto outcome = session_.on_request(request_);
    if (first && session_.has_node()) {
      label_ = session_.node().id();
      log::xds()->debug("[{}] {} stream opened key={} user_agent={} peer={}", label_, P::name,
                        session_.key(), session_.node().user_agent_name(), peer_);
    }
    if (!outcome) {
      log::xds()->warn("[{}] ending {} stream peer={}: {}", label_, P::name, peer_,
                       describe(outcome.error()));
      server_.count_bad_request();
      finish_locked(to_status(outcome.error()));
      return;
    }
    P::log_request(label_, session_.key(), request_, *outcome);
    pump_locked();
    std::string key = session_.key();
    std::string node_id = first ? session_.node().id() : std::string();
    lock.unlock();

    if (outcome->response) {
      server_.notify(*outcome->response);
    }
    if (first) {
      server_.attach(this, key, node_id);
    }

    lock.lock();
    if (!finish_requested_) {
      this->StartRead(&request_bytes_);
    }
  }

  void OnWriteDone(bool ok) override {
    std::lock_guard lock(mu_);
    writing_since_.reset();
    // Free the written message now: a stream must not pin the largest response it ever sent
    // (a route configuration can be megabytes, times every stream).
    response_.Clear();
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
    log::xds()->debug("[{}] {} stream closed peer={}", label_, P::name, peer_);
    delete this;
  }

  void deliver_snapshot(snapshot_ptr snap, snapshot_diff_ptr diff,
                        snapshot_history_ptr history) override {
    std::lock_guard lock(mu_);
    session_.set_snapshot(std::move(snap), diff);
    if constexpr (!P::delta) {
      // Delta clients report what they hold per resource; SotW clients only a version.
      session_.set_history(std::move(history));
    }
    pump_locked();
  }

  void deliver_gate_open() override {
    std::lock_guard lock(mu_);
    session_.open_gate();
    pump_locked();
  }

  void shut_down() override {
    std::lock_guard lock(mu_);
    finish_locked(grpc::Status(grpc::StatusCode::UNAVAILABLE, "xds server is shutting down"));
  }

  bool begin_stall_cancel(std::chrono::steady_clock::time_point now,
                          std::chrono::milliseconds timeout) override {
    std::lock_guard lock(mu_);
    if (finish_requested_ || cancelling_) {
      return false;
    }
    const bool write_stalled = writing_since_ && now - *writing_since_ > timeout;
    const bool never_spoke = !first_request_seen_ && now - opened_at_ > timeout;
    if (!write_stalled && !never_spoke) {
      return false;
    }
    log::xds()->warn("[{}] cancelling stalled {} stream peer={} reason={} timeout_ms={}", label_,
                     P::name, peer_, write_stalled ? "response not drained" : "no first request",
                     timeout.count());
    cancelling_ = true;
    return true;
  }

  void end_stall_cancel() override {
    // Finish is held back while cancelling_ is set, so OnDone cannot run and `this` and the
    // context stay valid here; TryCancel may run reactions inline, so no lock is held.
    context_->TryCancel();
    std::lock_guard lock(mu_);
    cancelling_ = false;
    finish_requested_ = true;
    // After TryCancel the handler must report CANCELLED (grpcpp server_context.h).
    this->Finish(grpc::Status(grpc::StatusCode::CANCELLED,
                              "xds stream stalled: a response was not drained, or no request "
                              "arrived, within the server's stall timeout"));
  }

 private:
  void pump_locked() {
    if (finish_requested_ || writing_since_) {
      return;
    }
    auto next = session_.next_response();
    if (!next) {
      return;
    }
    P::log_send(label_, *next);
    size_t bytes = 0;
    response_ = server_.encoder().encode(*next, bytes);
    server_.count_response(P::delta, bytes);
    writing_since_ = std::chrono::steady_clock::now();
    this->StartWrite(&response_);
  }

  void finish_locked(grpc::Status status) {
    if (finish_requested_) {
      return;
    }
    finish_requested_ = true;
    if (cancelling_) {
      return;  // end_stall_cancel finishes the call
    }
    this->Finish(std::move(status));
  }

  ads_server::impl& server_;
  grpc::CallbackServerContext* const context_;
  const std::string peer_;
  const std::chrono::steady_clock::time_point opened_at_;
  std::mutex mu_;
  typename P::session session_;
  std::string label_ = "unidentified";
  grpc::ByteBuffer request_bytes_;
  typename P::request request_;
  grpc::ByteBuffer response_;
  std::optional<std::chrono::steady_clock::time_point> writing_since_;
  bool first_request_seen_ = false;
  bool finish_requested_ = false;
  bool cancelling_ = false;
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

int clamp_ms(std::chrono::milliseconds ms) {
  return static_cast<int>(std::clamp<int64_t>(ms.count(), 1, INT32_MAX));
}

}  // namespace

ads_server::impl::impl(ads_server_options options)
    : options_(std::move(options)),
      epoch_(random_epoch()),
      encoder_(options_.response_cache_bytes),
      service_(*this) {}

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
  builder.AddChannelArgument(
      GRPC_ARG_MAX_CONCURRENT_STREAMS,
      std::max(1, std::min(options_.max_streams, options_.max_streams_per_connection)));
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, clamp_ms(options_.keepalive_time));
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, clamp_ms(options_.keepalive_timeout));
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
  if (options_.stall_timeout.count() > 0) {
    watchdog_ = std::thread([this] { watchdog(); });
  }
  log::xds()->info("xds server listening address={} port={}", options_.listen, port);
  return port;
}

void ads_server::impl::watchdog() {
  const auto timeout = options_.stall_timeout;
  const auto tick = std::clamp<std::chrono::milliseconds>(
      timeout / 4, std::chrono::milliseconds(10), std::chrono::milliseconds(1000));
  std::unique_lock lock(mu_);
  while (!stopping_) {
    watchdog_wake_.wait_for(lock, tick, [&] { return stopping_; });
    if (stopping_) {
      break;
    }
    std::vector<stream_base*> stalled;
    const auto now = std::chrono::steady_clock::now();
    for (auto* s : streams_) {
      if (s->begin_stall_cancel(now, timeout)) {
        stalled.push_back(s);
      }
    }
    if (stalled.empty()) {
      continue;
    }
    lock.unlock();
    for (auto* s : stalled) {
      streams_stalled_.fetch_add(1, std::memory_order_relaxed);
      s->end_stall_cancel();
    }
    lock.lock();
  }
}

void ads_server::impl::stop() {
  std::unique_lock lock(mu_);
  if (!server_ || stopping_) {
    return;
  }
  stopping_ = true;
  watchdog_wake_.notify_all();
  lock.unlock();
  if (watchdog_.joinable()) {
    watchdog_.join();
  }
  lock.lock();
  for (auto* s : streams_) {
    s->shut_down();
  }
  lock.unlock();
  // Cancels whatever is still in flight; gRPC then waits for every stream's OnDone.
  server_->Shutdown(std::chrono::system_clock::now());
  lock.lock();
  if (!drained_.wait_for(lock, drain_bound, [&] { return streams_.empty(); })) {
    log::xds()->error("xds server stopped with streams={} still open after {}s", streams_.size(),
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
  // The replaced snapshot is released after the lock: when it is the last reference, freeing
  // it must not delay the streams.
  snapshot_ptr replaced;
  std::lock_guard lock(mu_);
  log::xds()->debug("publish key={} watermark={}", snap->key, snap->watermark);
  auto& current = snapshots_[snap->key];
  if (current == snap) {
    return;
  }
  replaced = current;
  // Once per publish, not per stream: what changed, so each stream's work is proportional to
  // the change rather than to the configuration.
  auto diff = current ? diff_snapshots(*current, *snap) : nullptr;
  current = snap;
  auto& old_history = history_[snap->key];
  auto history = std::make_shared<snapshot_history>();
  history->push_back(snap);
  if (old_history) {
    for (const auto& s : *old_history) {
      if (history->size() >= std::max<size_t>(1, options_.snapshot_history)) {
        break;
      }
      history->push_back(s);
    }
  }
  old_history = history;
  for (auto* s : streams_) {
    if (s->attached && s->server_key == snap->key) {
      s->deliver_snapshot(snap, diff, history);
    }
  }
}

void ads_server::impl::open_gate() {
  std::lock_guard lock(mu_);
  if (gate_open_) {
    return;
  }
  gate_open_ = true;
  log::xds()->info("xds gate open streams={} snapshots={}", streams_.size(), snapshots_.size());
  for (auto* s : streams_) {
    if (s->attached) {
      s->deliver_gate_open();
    }
  }
}

void ads_server::impl::set_observer(std::function<void(const client_response&)> observer) {
  auto ptr = observer ? std::make_shared<const std::function<void(const client_response&)>>(
                 std::move(observer))
                      : nullptr;
  std::lock_guard lock(mu_);
  observer_ = std::move(ptr);
}

void ads_server::impl::set_gone_observer(std::function<void(const client_gone&)> observer) {
  auto ptr = observer ? std::make_shared<const std::function<void(const client_gone&)>>(
                 std::move(observer))
                      : nullptr;
  std::lock_guard lock(mu_);
  gone_observer_ = std::move(ptr);
}

size_t ads_server::impl::stream_count() const {
  std::lock_guard lock(mu_);
  return static_cast<size_t>(
      std::count_if(streams_.begin(), streams_.end(), [](const auto* s) { return s->attached; }));
}

ads_metrics ads_server::impl::metrics() const {
  ads_metrics m;
  {
    std::lock_guard lock(mu_);
    for (const auto* s : streams_) {
      ++(s->delta ? m.delta_streams : m.sotw_streams);
    }
  }
  m.streams_opened = streams_opened_.load(std::memory_order_relaxed);
  m.streams_refused = streams_refused_.load(std::memory_order_relaxed);
  m.streams_stalled = streams_stalled_.load(std::memory_order_relaxed);
  m.bad_requests = bad_requests_.load(std::memory_order_relaxed);
  m.acks = acks_.load(std::memory_order_relaxed);
  m.sotw_responses = sotw_responses_.load(std::memory_order_relaxed);
  m.sotw_bytes = sotw_bytes_.load(std::memory_order_relaxed);
  m.delta_responses = delta_responses_.load(std::memory_order_relaxed);
  m.delta_bytes = delta_bytes_.load(std::memory_order_relaxed);
  std::lock_guard lock(metrics_mu_);
  m.nacks = nacks_;
  m.nacks_by_type = nacks_by_type_;
  return m;
}

template <class P>
grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>* ads_server::impl::open_stream(
    grpc::CallbackServerContext* context) {
  using refused = finishing_reactor<grpc::ByteBuffer, grpc::ByteBuffer>;
  std::lock_guard lock(mu_);
  if (stopping_) {
    streams_refused_.fetch_add(1, std::memory_order_relaxed);
    return new refused(grpc::Status(grpc::StatusCode::UNAVAILABLE, "xds server is shutting down"));
  }
  if (streams_.size() >= static_cast<size_t>(std::max(options_.max_streams, 0))) {
    streams_refused_.fetch_add(1, std::memory_order_relaxed);
    log::xds()->warn("refusing xds stream peer={} streams={} max_streams={}", context->peer(),
                     streams_.size(), options_.max_streams);
    return new refused(
        grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                     "xds server has reached max_streams=" + std::to_string(options_.max_streams)));
  }
  auto id = ++next_stream_id_;
  auto* reactor = new ads_reactor<P>(*this, context, epoch_ + "." + std::to_string(id) + ".");
  streams_.insert(reactor);
  streams_opened_.fetch_add(1, std::memory_order_relaxed);
  return reactor;
}

void ads_server::impl::attach(stream_base* stream, const std::string& key,
                              const std::string& node_id) {
  std::lock_guard lock(mu_);
  if (!streams_.contains(stream)) {
    return;
  }
  stream->server_key = key;
  stream->node_id = node_id;
  stream->attached = true;
  ++attached_nodes_[{key, node_id}];
  if (auto i = snapshots_.find(key); i != snapshots_.end()) {
    stream->deliver_snapshot(i->second, nullptr, history_[key]);
  }
  if (gate_open_) {
    stream->deliver_gate_open();
  }
}

void ads_server::impl::detach(stream_base* stream) {
  std::shared_ptr<const std::function<void(const client_gone&)>> observer;
  client_gone gone;
  {
    std::lock_guard lock(mu_);
    streams_.erase(stream);
    if (streams_.empty()) {
      drained_.notify_all();
    }
    // A client that reconnected before its old stream closed is still there: report only the
    // last stream of a (key, node).
    if (stream->attached) {
      auto i = attached_nodes_.find({stream->server_key, stream->node_id});
      if (i != attached_nodes_.end() && --i->second == 0) {
        attached_nodes_.erase(i);
        observer = gone_observer_;
        gone.key = stream->server_key;
        gone.node_id = stream->node_id;
      }
    }
  }
  if (!observer) {
    return;
  }
  std::lock_guard reporting(observers_mu_);
  {
    // The node may have reconnected, and answered, since the count reached zero: it is not gone.
    std::lock_guard lock(mu_);
    if (attached_nodes_.contains({gone.key, gone.node_id})) {
      return;
    }
  }
  (*observer)(gone);
}

void ads_server::impl::notify(const client_response& response) {
  if (response.nack) {
    std::lock_guard lock(metrics_mu_);
    ++nacks_;
    ++nacks_by_type_[response.type_url];
  } else {
    acks_.fetch_add(1, std::memory_order_relaxed);
  }
  std::lock_guard reporting(observers_mu_);
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

void ads_server::on_client_gone(std::function<void(const client_gone&)> observer) {
  impl_->set_gone_observer(std::move(observer));
}

size_t ads_server::stream_count() const { return impl_->stream_count(); }

ads_metrics ads_server::metrics() const { return impl_->metrics(); }

}  // namespace sluice::xds
