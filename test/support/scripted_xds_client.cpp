#include "test/support/scripted_xds_client.hpp"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/wire_format_lite.h>
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <utility>

#include "envoy/config/cluster/v3/cluster.pb.h"
#include "envoy/config/endpoint/v3/endpoint.pb.h"
#include "envoy/config/listener/v3/listener.pb.h"
#include "envoy/config/route/v3/route.pb.h"
#include "envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.pb.h"
#include "envoy/extensions/filters/network/tcp_proxy/v3/tcp_proxy.pb.h"
#include "envoy/extensions/transport_sockets/tls/v3/secret.pb.h"
#include "envoy/service/discovery/v3/ads.grpc.pb.h"
#include "xds/snapshot.hpp"

namespace sluice::test {

namespace {

using envoy::config::cluster::v3::Cluster;
using envoy::config::endpoint::v3::ClusterLoadAssignment;
using envoy::config::listener::v3::Listener;
using envoy::config::route::v3::RouteConfiguration;
using envoy::extensions::filters::network::http_connection_manager::v3::HttpConnectionManager;
using any_map = std::map<std::string, google::protobuf::Any>;

constexpr std::string_view hcm_type
    = "type.googleapis.com/"
      "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager";
constexpr std::string_view tcp_proxy_type
    = "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy";
constexpr size_t max_violations = 100;

bool is_full_state(std::string_view type_url) {
  return type_url == xds::listener_type || type_url == xds::cluster_type;
}

/// The name a resource is known by, as a client derives it from the payload.
std::optional<std::string> resource_name(const google::protobuf::Any& any) {
  const auto& type = any.type_url();
  if (type == xds::listener_type) {
    Listener m;
    if (m.ParseFromString(any.value())) return m.name();
  } else if (type == xds::route_type) {
    RouteConfiguration m;
    if (m.ParseFromString(any.value())) return m.name();
  } else if (type == xds::cluster_type) {
    Cluster m;
    if (m.ParseFromString(any.value())) return m.name();
  } else if (type == xds::endpoint_type) {
    ClusterLoadAssignment m;
    if (m.ParseFromString(any.value())) return m.cluster_name();
  } else if (type == xds::secret_type) {
    envoy::extensions::transport_sockets::tls::v3::Secret m;
    if (m.ParseFromString(any.value())) return m.name();
  }
  return std::nullopt;
}

/// The name of any served resource without decoding it: every one of them (Listener, Cluster,
/// RouteConfiguration, Secret name; ClusterLoadAssignment cluster_name) is field 1.
std::optional<std::string> fast_name(const google::protobuf::Any& any) {
  using google::protobuf::internal::WireFormatLite;
  const auto& bytes = any.value();
  google::protobuf::io::CodedInputStream in(reinterpret_cast<const uint8_t*>(bytes.data()),
                                            static_cast<int>(bytes.size()));
  while (true) {
    const uint32_t tag = in.ReadTag();
    if (tag == 0) return std::nullopt;
    if (WireFormatLite::GetTagFieldNumber(tag) == 1
        && WireFormatLite::GetTagWireType(tag) == WireFormatLite::WIRETYPE_LENGTH_DELIMITED) {
      std::string name;
      if (!WireFormatLite::ReadString(&in, &name)) return std::nullopt;
      return name;
    }
    if (!WireFormatLite::SkipField(&in, tag)) return std::nullopt;
  }
}

/// Every HttpConnectionManager of a listener: in filter chains and in a gRPC api_listener.
std::vector<HttpConnectionManager> connection_managers(const Listener& listener) {
  std::vector<HttpConnectionManager> out;
  auto take = [&](const google::protobuf::Any& any) {
    HttpConnectionManager hcm;
    if (any.type_url() == hcm_type && hcm.ParseFromString(any.value())) {
      out.push_back(std::move(hcm));
    }
  };
  auto scan = [&](const envoy::config::listener::v3::FilterChain& chain) {
    for (const auto& filter : chain.filters()) {
      if (filter.has_typed_config()) take(filter.typed_config());
    }
  };
  for (const auto& chain : listener.filter_chains()) scan(chain);
  if (listener.has_default_filter_chain()) scan(listener.default_filter_chain());
  if (listener.has_api_listener()) take(listener.api_listener().api_listener());
  return out;
}

/// Clusters a TCP proxy filter of the listener sends traffic to.
std::vector<std::string> tcp_clusters_of(const Listener& listener) {
  std::vector<std::string> out;
  auto scan = [&](const envoy::config::listener::v3::FilterChain& chain) {
    for (const auto& filter : chain.filters()) {
      envoy::extensions::filters::network::tcp_proxy::v3::TcpProxy tcp;
      if (filter.has_typed_config() && filter.typed_config().type_url() == tcp_proxy_type
          && tcp.ParseFromString(filter.typed_config().value())) {
        if (!tcp.cluster().empty()) out.push_back(tcp.cluster());
        for (const auto& wc : tcp.weighted_clusters().clusters()) out.push_back(wc.name());
      }
    }
  };
  for (const auto& chain : listener.filter_chains()) scan(chain);
  if (listener.has_default_filter_chain()) scan(listener.default_filter_chain());
  return out;
}

std::set<std::string> route_names_of_listener(const google::protobuf::Any& any) {
  std::set<std::string> out;
  Listener listener;
  if (!listener.ParseFromString(any.value())) return out;
  for (const auto& hcm : connection_managers(listener)) {
    if (hcm.has_rds()) out.insert(hcm.rds().route_config_name());
  }
  return out;
}

std::set<std::string> route_names_of(const any_map& ls) {
  std::set<std::string> out;
  for (const auto& [name, any] : ls) {
    auto names = route_names_of_listener(any);
    out.insert(names.begin(), names.end());
  }
  return out;
}

std::string eds_name_of(const Cluster& cluster) {
  const auto& service = cluster.eds_cluster_config().service_name();
  return service.empty() ? cluster.name() : service;
}

/// The load assignment an EDS cluster warms on, or nothing for other clusters.
std::optional<std::string> eds_name_of(const google::protobuf::Any& any) {
  Cluster cluster;
  if (cluster.ParseFromString(any.value()) && cluster.type() == Cluster::EDS) {
    return eds_name_of(cluster);
  }
  return std::nullopt;
}

std::set<std::string> eds_names_of(const any_map& cs) {
  std::set<std::string> out;
  for (const auto& [name, any] : cs) {
    if (auto eds = eds_name_of(any)) out.insert(*eds);
  }
  return out;
}

/// Clusters a route configuration sends traffic to, by name.
void clusters_of(const RouteConfiguration& rc, std::vector<std::string>& out) {
  for (const auto& vh : rc.virtual_hosts()) {
    for (const auto& route : vh.routes()) {
      if (!route.has_route()) continue;
      const auto& action = route.route();
      if (!action.cluster().empty()) out.push_back(action.cluster());
      for (const auto& wc : action.weighted_clusters().clusters()) out.push_back(wc.name());
    }
  }
}

const any_map& held_of(const scripted_xds_client::state& s, std::string_view type) {
  static const any_map empty;
  auto i = s.held.find(std::string(type));
  return i == s.held.end() ? empty : i->second;
}

}  // namespace

// ---- state ------------------------------------------------------------------------------------

std::vector<const scripted_xds_client::received*> scripted_xds_client::state::of(
    std::string_view type_url) const {
  std::vector<const received*> out;
  for (const auto& r : responses) {
    if (r.response.type_url() == type_url) out.push_back(&r);
  }
  return out;
}

std::vector<const scripted_xds_client::received_delta*> scripted_xds_client::state::delta_of(
    std::string_view type_url) const {
  std::vector<const received_delta*> out;
  for (const auto& r : delta_responses) {
    if (r.response.type_url() == type_url) out.push_back(&r);
  }
  return out;
}

size_t scripted_xds_client::state::count(std::string_view type_url) const {
  auto i = counts.find(std::string(type_url));
  return i == counts.end() ? 0 : i->second;
}

std::set<std::string> scripted_xds_client::state::names(std::string_view type_url) const {
  std::set<std::string> out;
  for (const auto& [name, any] : held_of(*this, type_url)) out.insert(name);
  return out;
}

std::string scripted_xds_client::state::version(std::string_view type_url) const {
  auto i = accepted_version.find(std::string(type_url));
  return i == accepted_version.end() ? std::string{} : i->second;
}

// ---- connection -------------------------------------------------------------------------------

scripted_xds_client::scripted_xds_client(scripted_xds_client_options options)
    : options_(std::move(options)) {}

scripted_xds_client::~scripted_xds_client() { close(); }

bool scripted_xds_client::connect(int port) {
  {
    std::lock_guard write_lock(write_mu_);
    if (stream_ || delta_stream_) return false;
  }
  open(port);
  start_reader();
  return true;
}

void scripted_xds_client::open(int port) {
  std::lock_guard write_lock(write_mu_);
  port_ = port;
  // Its own connection, like a separate proxy process: gRPC would otherwise share one
  // connection between clients of the same target.
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  args.SetMaxReceiveMessageSize(-1);
  channel_ = grpc::CreateCustomChannel("127.0.0.1:" + std::to_string(port),
                                       grpc::InsecureChannelCredentials(), args);
  auto stub = envoy::service::discovery::v3::AggregatedDiscoveryService::NewStub(channel_);
  context_ = std::make_unique<grpc::ClientContext>();
  node_sent_ = false;
  writes_closed_ = false;
  {
    std::lock_guard lock(mu_);
    ++state_.streams;
    state_.stream_ended = false;
    state_.end_code = 0;
    state_.end_message.clear();
  }
  if (options_.delta) {
    delta_stream_ = stub->DeltaAggregatedResources(context_.get());
  } else {
    stream_ = stub->StreamAggregatedResources(context_.get());
  }
}

void scripted_xds_client::start_reader() {
  if (options_.delta) {
    reader_ = std::thread([this] { read_loop_delta(); });
  } else {
    reader_ = std::thread([this] { read_loop_sotw(); });
  }
}

void scripted_xds_client::reconnect(int port) {
  close();
  {
    std::lock_guard write_lock(write_mu_);
    stream_.reset();
    delta_stream_.reset();
    context_.reset();
  }
  std::vector<discovery_request> requests;
  std::vector<delta_request> delta_requests;
  {
    std::lock_guard lock(mu_);
    // Nonces never survive a stream (xds.md §1.3); what the client holds does.
    state_.last_nonce.clear();
    requested_.clear();
    for (const auto& type : ever_requested_) {
      if (options_.delta) {
        auto names = subscriptions_[type];
        if (auto r = delta_change_locked(type, std::move(names))) delta_requests.push_back(*r);
      } else {
        requests.push_back(request_for_locked(type));
      }
    }
  }
  open(port);
  // Like Envoy on stream establishment: every first request goes out before any response is
  // processed (and so before any ACK), which is what lets a server see all the client holds.
  for (const auto& r : requests) write(r);
  for (const auto& r : delta_requests) write_delta(r);
  start_reader();
}

void scripted_xds_client::close() {
  // No lock: a Write blocked on flow control holds write_mu_, and cancelling is what frees it.
  // context_ is only replaced by connect()/reconnect(), which tests call from one thread.
  if (context_) context_->TryCancel();
  if (reader_.joinable()) reader_.join();
}

// ---- requests ---------------------------------------------------------------------------------

void scripted_xds_client::subscribe(std::string_view type_url, std::vector<std::string> names) {
  const std::string type(type_url);
  // Built and written under write_mu_, as the reader does with its ACKs: a request built from
  // an older subscription can then never overtake a newer one on the wire.
  std::lock_guard write_lock(write_mu_);
  if (options_.delta) {
    std::optional<delta_request> request;
    {
      std::lock_guard lock(mu_);
      request = delta_change_locked(type, names);
      subscriptions_[type] = std::move(names);
      drop_unsubscribed_locked(type);
    }
    if (request) write_delta_locked(*request);
    return;
  }
  discovery_request request;
  {
    std::lock_guard lock(mu_);
    subscriptions_[type] = std::move(names);
    if (std::find(ever_requested_.begin(), ever_requested_.end(), type) == ever_requested_.end()) {
      ever_requested_.push_back(type);
    }
    request = request_for_locked(type);
  }
  write_locked(request);
}

void scripted_xds_client::send(discovery_request request) { write(request); }

void scripted_xds_client::send_delta(delta_request request) { write_delta(request); }

void scripted_xds_client::set_nack_oracle(nack_oracle oracle) {
  std::lock_guard lock(mu_);
  oracle_ = std::move(oracle);
}

void scripted_xds_client::set_delta_nack_oracle(delta_nack_oracle oracle) {
  std::lock_guard lock(mu_);
  delta_oracle_ = std::move(oracle);
}

void scripted_xds_client::set_resource_nack_oracle(resource_nack_oracle oracle) {
  std::lock_guard lock(mu_);
  resource_oracle_ = std::move(oracle);
}

bool scripted_xds_client::wait_for(const std::function<bool(const state&)>& predicate,
                                   std::chrono::milliseconds bound) {
  std::unique_lock lock(mu_);
  return changed_.wait_for(lock, bound, [&] { return predicate(state_); });
}

scripted_xds_client::state scripted_xds_client::current() const {
  std::lock_guard lock(mu_);
  return state_;
}

std::vector<std::string> scripted_xds_client::violations() const {
  std::lock_guard lock(mu_);
  return state_.violations;
}

std::vector<std::string> scripted_xds_client::subscription(std::string_view type_url) const {
  std::lock_guard lock(mu_);
  auto i = subscriptions_.find(std::string(type_url));
  return i == subscriptions_.end() ? std::vector<std::string>{} : i->second;
}

scripted_xds_client::discovery_request scripted_xds_client::request_for_locked(
    const std::string& type_url) {
  discovery_request request;
  request.set_type_url(type_url);
  request.set_version_info(state_.accepted_version[type_url]);
  request.set_response_nonce(state_.last_nonce[type_url]);
  for (const auto& name : subscriptions_[type_url]) request.add_resource_names(name);
  return request;
}

std::optional<scripted_xds_client::delta_request> scripted_xds_client::delta_change_locked(
    const std::string& type_url, std::vector<std::string> names) {
  delta_request request;
  request.set_type_url(type_url);
  if (!requested_.contains(type_url)) {
    // First request of the type on this stream: the whole subscription (no names = legacy
    // wildcard) and, after a reconnect, every version held (xds.md §1.7).
    requested_.insert(type_url);
    if (std::find(ever_requested_.begin(), ever_requested_.end(), type_url)
        == ever_requested_.end()) {
      ever_requested_.push_back(type_url);
    }
    for (const auto& name : names) request.add_resource_names_subscribe(name);
    for (const auto& [name, version] : state_.resource_versions[type_url]) {
      (*request.mutable_initial_resource_versions())[name] = version;
    }
    return request;
  }
  const auto& old = subscriptions_[type_url];
  std::set<std::string> before(old.begin(), old.end());
  std::set<std::string> after(names.begin(), names.end());
  for (const auto& name : after) {
    if (!before.contains(name)) request.add_resource_names_subscribe(name);
  }
  for (const auto& name : before) {
    if (!after.contains(name)) request.add_resource_names_unsubscribe(name);
  }
  if (request.resource_names_subscribe().empty() && request.resource_names_unsubscribe().empty()) {
    return std::nullopt;
  }
  return request;
}

std::vector<std::string> scripted_xds_client::wanted_children_locked(
    const std::string& type_url) const {
  // Envoy keeps a subscription while any version of a parent uses it: the active one serving
  // traffic and a newer one still warming, besides what it was just sent.
  std::set<std::string> wanted;
  auto add = [&](const any_map& parents) {
    auto names = type_url == xds::listener_type ? route_names_of(parents) : eds_names_of(parents);
    wanted.insert(names.begin(), names.end());
  };
  add(held_of(state_, type_url));
  if (type_url == xds::listener_type) {
    add(model_.active_listeners);
    add(model_.warming_listeners);
  } else {
    add(model_.active_clusters);
    add(model_.warming_clusters);
  }
  return {wanted.begin(), wanted.end()};
}

std::vector<scripted_xds_client::discovery_request> scripted_xds_client::follow_locked() {
  std::vector<discovery_request> out;
  for (std::string_view parent : {xds::cluster_type, xds::listener_type}) {
    const std::string child
        = std::string(parent == xds::listener_type ? xds::route_type : xds::endpoint_type);
    auto names = wanted_children_locked(std::string(parent));
    auto& current = subscriptions_[child];
    if (current == names) continue;
    current = std::move(names);
    if (std::find(ever_requested_.begin(), ever_requested_.end(), child) == ever_requested_.end()) {
      ever_requested_.push_back(child);
    }
    out.push_back(request_for_locked(child));
    drop_unsubscribed_locked(child);
  }
  return out;
}

std::vector<scripted_xds_client::delta_request> scripted_xds_client::follow_delta_locked() {
  std::vector<delta_request> out;
  for (std::string_view parent : {xds::cluster_type, xds::listener_type}) {
    const std::string child
        = std::string(parent == xds::listener_type ? xds::route_type : xds::endpoint_type);
    auto names = wanted_children_locked(std::string(parent));
    // An empty first request would be a wildcard: Envoy sends nothing until it wants a name.
    if (!requested_.contains(child) && names.empty()) continue;
    if (auto r = delta_change_locked(child, names)) out.push_back(std::move(*r));
    subscriptions_[child] = std::move(names);
    drop_unsubscribed_locked(child);
  }
  return out;
}

void scripted_xds_client::drop_unsubscribed_locked(const std::string& type_url) {
  if (is_full_state(type_url)) return;  // full-state responses say what is gone
  const auto& names = subscriptions_[type_url];
  if (std::find(names.begin(), names.end(), "*") != names.end()) return;
  std::set<std::string> wanted(names.begin(), names.end());
  std::erase_if(state_.held[type_url], [&](const auto& e) { return !wanted.contains(e.first); });
  std::erase_if(state_.resource_versions[type_url],
                [&](const auto& e) { return !wanted.contains(e.first); });
}

void scripted_xds_client::write(const discovery_request& request) {
  std::lock_guard write_lock(write_mu_);
  write_locked(request);
}

void scripted_xds_client::write_delta(const delta_request& request) {
  std::lock_guard write_lock(write_mu_);
  write_delta_locked(request);
}

void scripted_xds_client::write_locked(const discovery_request& request) {
  if (!stream_ || writes_closed_) return;
  if (!node_sent_) {
    // Like gRPC and Envoy's set_node_on_first_message_only: the node goes out once per stream.
    discovery_request first = request;
    auto* node = first.mutable_node();
    node->set_id(options_.node_id);
    node->set_cluster(options_.node_cluster);
    node->set_user_agent_name(options_.user_agent_name);
    if (options_.role) {
      (*node->mutable_metadata()->mutable_fields())["role"].set_string_value(*options_.role);
    }
    node_sent_ = true;
    stream_->Write(first);
    return;
  }
  stream_->Write(request);
}

void scripted_xds_client::write_delta_locked(const delta_request& request) {
  if (!delta_stream_ || writes_closed_) return;
  if (!node_sent_) {
    delta_request first = request;
    auto* node = first.mutable_node();
    node->set_id(options_.node_id);
    node->set_cluster(options_.node_cluster);
    node->set_user_agent_name(options_.user_agent_name);
    if (options_.role) {
      (*node->mutable_metadata()->mutable_fields())["role"].set_string_value(*options_.role);
    }
    node_sent_ = true;
    delta_stream_->Write(first);
    return;
  }
  delta_stream_->Write(request);
}

// ---- responses --------------------------------------------------------------------------------

std::optional<std::string> scripted_xds_client::decode_locked(
    const std::string& type_url,
    const std::vector<std::pair<std::string, const google::protobuf::Any*>>& named,
    any_map& decoded) {
  std::optional<std::string> error;
  for (const auto& [declared, any] : named) {
    std::optional<std::string> name;
    if (any->type_url() == type_url) {
      name = !options_.light     ? resource_name(*any)
             : !declared.empty() ? std::optional<std::string>(declared)
                                 : fast_name(*any);
    }
    if (name && options_.light && !is_full_state(type_url)) {
      // Light mode keeps only names for routes and endpoints: no payload copies.
      google::protobuf::Any stub;
      stub.set_type_url(any->type_url());
      if (!decoded.emplace(*name, std::move(stub)).second) {
        error = "duplicate resource name " + *name + " in " + type_url + " response";
      }
      continue;
    }
    if (!name) {
      error = "resource of type " + any->type_url() + " cannot be decoded in a " + type_url
              + " response";
    } else if (!declared.empty() && declared != *name) {
      error = "delta resource named " + declared + " carries " + type_url + " " + *name;
    } else if (!decoded.emplace(*name, *any).second) {
      // Duplicate names are a protocol error; clients NACK them (xds.md §1.3 rule 8).
      error = "duplicate resource name " + *name + " in " + type_url + " response";
    }
  }
  return error;
}

std::optional<std::string> scripted_xds_client::ask_oracles_locked(const std::string& type_url,
                                                                   const any_map& decoded,
                                                                   const discovery_response* sotw,
                                                                   const delta_response* delta) {
  if (resource_oracle_) {
    std::vector<google::protobuf::Any> resources;
    for (const auto& [name, any] : decoded) resources.push_back(any);
    if (auto nack = resource_oracle_(type_url, resources)) return nack;
  }
  if (sotw && oracle_) return oracle_(*sotw);
  if (delta && delta_oracle_) return delta_oracle_(*delta);
  return std::nullopt;
}

void scripted_xds_client::read_loop_sotw() {
  discovery_response response;
  while (stream_->Read(&response)) {
    std::vector<discovery_request> replies;
    std::unique_lock write_lock(write_mu_);
    {
      std::lock_guard lock(mu_);
      const std::string type_url = response.type_url();
      ++state_.response_count;
      ++state_.counts[type_url];
      state_.bytes_received += response.ByteSizeLong();
      std::vector<std::pair<std::string, const google::protobuf::Any*>> named;
      for (const auto& any : response.resources()) named.emplace_back(std::string{}, &any);
      any_map decoded;
      auto nack = decode_locked(type_url, named, decoded);
      if (nack) {
        state_.protocol_errors.push_back(*nack);
      } else {
        nack = ask_oracles_locked(type_url, decoded, &response, nullptr);
      }
      if (options_.record_responses && !options_.light) {
        received record;
        record.response = response;
        record.nacked = nack.has_value();
        record.nack_message = nack.value_or("");
        state_.responses.push_back(std::move(record));
      }
      if (nack) {
        ++state_.nack_count;
      } else {
        const bool full = is_full_state(type_url);
        const std::string step = "after SotW response #" + std::to_string(state_.response_count)
                                 + " type=" + type_url + " version=" + response.version_info();
        model_apply_locked(type_url, decoded, {}, full, step);
        auto& held = state_.held[type_url];
        if (full) {
          held = std::move(decoded);
        } else {
          for (auto& [name, any] : decoded) held[name] = std::move(any);
        }
        state_.accepted_version[type_url] = response.version_info();
        if (options_.follow_references) {
          // Envoy changes the child subscription before it ACKs (grpc_mux_impl.cc pauses).
          replies = follow_locked();
        }
        model_check_locked(step);
      }
      state_.last_nonce[type_url] = response.nonce();

      // ACK: the new version; NACK: the last accepted version plus error_detail.
      auto reply = request_for_locked(type_url);
      if (nack) {
        reply.mutable_error_detail()->set_code(grpc::StatusCode::INVALID_ARGUMENT);
        reply.mutable_error_detail()->set_message(*nack);
      }
      replies.push_back(std::move(reply));
    }
    for (const auto& r : replies) write_locked(r);
    write_lock.unlock();
    // Notify after the replies went out, so a waiter that saw a response knows it was answered.
    changed_.notify_all();
  }
  grpc::Status status;
  {
    std::lock_guard write_lock(write_mu_);
    writes_closed_ = true;
    status = stream_->Finish();
  }
  {
    std::lock_guard lock(mu_);
    state_.stream_ended = true;
    state_.end_code = status.error_code();
    state_.end_message = status.error_message();
  }
  changed_.notify_all();
}

void scripted_xds_client::read_loop_delta() {
  delta_response response;
  while (delta_stream_->Read(&response)) {
    std::vector<delta_request> replies;
    std::unique_lock write_lock(write_mu_);
    {
      std::lock_guard lock(mu_);
      const std::string type_url = response.type_url();
      ++state_.response_count;
      ++state_.counts[type_url];
      state_.bytes_received += response.ByteSizeLong();
      std::vector<std::pair<std::string, const google::protobuf::Any*>> named;
      std::optional<std::string> nack;
      for (const auto& r : response.resources()) {
        if (r.name().empty()) nack = "delta resource without a name in " + type_url + " response";
        named.emplace_back(r.name(), &r.resource());
      }
      any_map decoded;
      if (auto error = decode_locked(type_url, named, decoded)) nack = error;
      for (const auto& removed : response.removed_resources()) {
        if (decoded.contains(removed)) {
          nack = type_url + " " + removed + " is both sent and removed in one response";
        }
      }
      if (response.nonce().empty()) nack = "delta response without a nonce";
      if (nack) {
        state_.protocol_errors.push_back(*nack);
      } else {
        nack = ask_oracles_locked(type_url, decoded, nullptr, &response);
      }
      if (options_.record_responses && !options_.light) {
        received_delta record;
        record.response = response;
        record.nacked = nack.has_value();
        record.nack_message = nack.value_or("");
        state_.delta_responses.push_back(std::move(record));
      }
      if (nack) {
        // Envoy rejects the whole delta response and keeps the versions it had.
        ++state_.nack_count;
      } else {
        const std::string step = "after delta response #" + std::to_string(state_.response_count)
                                 + " type=" + type_url + " nonce=" + response.nonce();
        std::vector<std::string> removed(response.removed_resources().begin(),
                                         response.removed_resources().end());
        model_apply_locked(type_url, decoded, removed, false, step);
        auto& held = state_.held[type_url];
        auto& versions = state_.resource_versions[type_url];
        for (const auto& r : response.resources()) versions[r.name()] = r.version();
        for (auto& [name, any] : decoded) held[name] = std::move(any);
        for (const auto& name : removed) {
          held.erase(name);
          versions.erase(name);
        }
        if (options_.follow_references) replies = follow_delta_locked();
        model_check_locked(step);
      }
      state_.last_nonce[type_url] = response.nonce();
      delta_request reply;
      reply.set_type_url(type_url);
      reply.set_response_nonce(response.nonce());
      if (nack) {
        reply.mutable_error_detail()->set_code(grpc::StatusCode::INVALID_ARGUMENT);
        reply.mutable_error_detail()->set_message(*nack);
      }
      replies.push_back(std::move(reply));
    }
    for (const auto& r : replies) write_delta_locked(r);
    write_lock.unlock();
    changed_.notify_all();
  }
  grpc::Status status;
  {
    std::lock_guard write_lock(write_mu_);
    writes_closed_ = true;
    status = delta_stream_->Finish();
  }
  {
    std::lock_guard lock(mu_);
    state_.stream_ended = true;
    state_.end_code = status.error_code();
    state_.end_message = status.error_message();
  }
  changed_.notify_all();
}

// ---- the Envoy model --------------------------------------------------------------------------

void scripted_xds_client::model_apply_locked(const std::string& type_url, const any_map& upserts,
                                             const std::vector<std::string>& removed, bool replace,
                                             const std::string& step) {
  (void)step;
  if (!envoy_like() || !options_.check_every_step || options_.light) return;
  auto erase = [&](auto& active, auto& warming) {
    if (replace) {
      std::erase_if(active, [&](const auto& e) { return !upserts.contains(e.first); });
      std::erase_if(warming, [&](const auto& e) { return !upserts.contains(e.first); });
    }
    for (const auto& name : removed) {
      active.erase(name);
      warming.erase(name);
    }
  };
  // A client that follows references is about to subscribe to what it warms on.
  const bool eds_used
      = options_.follow_references || subscriptions_.contains(std::string(xds::endpoint_type));
  const bool rds_used
      = options_.follow_references || subscriptions_.contains(std::string(xds::route_type));
  if (type_url == xds::cluster_type) {
    erase(model_.active_clusters, model_.warming_clusters);
    for (const auto& [name, any] : upserts) {
      auto a = model_.active_clusters.find(name);
      if (a != model_.active_clusters.end() && a->second.value() == any.value()) {
        model_.warming_clusters.erase(name);  // unchanged: Envoy ignores it
        continue;
      }
      if (eds_name_of(any) && eds_used) {
        // A new or changed EDS cluster warms until its load assignment arrives; a changed one
        // keeps serving its old version meanwhile.
        model_.warming_clusters[name] = any;
      } else {
        model_.active_clusters[name] = any;
        model_.warming_clusters.erase(name);
      }
    }
  } else if (type_url == xds::endpoint_type) {
    for (auto i = model_.warming_clusters.begin(); i != model_.warming_clusters.end();) {
      auto eds = eds_name_of(i->second);
      if (eds && upserts.contains(*eds)) {
        model_.active_clusters[i->first] = i->second;
        i = model_.warming_clusters.erase(i);
      } else {
        ++i;
      }
    }
  } else if (type_url == xds::listener_type) {
    erase(model_.active_listeners, model_.warming_listeners);
    const auto& routes = held_of(state_, xds::route_type);
    for (const auto& [name, any] : upserts) {
      auto a = model_.active_listeners.find(name);
      if (a != model_.active_listeners.end() && a->second.value() == any.value()) {
        model_.warming_listeners.erase(name);
        continue;
      }
      auto needed = route_names_of_listener(any);
      const bool ready = !rds_used || std::all_of(needed.begin(), needed.end(), [&](const auto& r) {
        return routes.contains(r);
      });
      if (ready) {
        model_.active_listeners[name] = any;
        model_.warming_listeners.erase(name);
      } else {
        model_.warming_listeners[name] = any;
      }
    }
  } else if (type_url == xds::route_type) {
    // Route configurations are not warmed; listeners waiting for them are (checked with the
    // held state including this response, which the caller applies before model_check).
    for (auto i = model_.warming_listeners.begin(); i != model_.warming_listeners.end();) {
      auto needed = route_names_of_listener(i->second);
      const auto& routes = held_of(state_, xds::route_type);
      const bool ready = std::all_of(needed.begin(), needed.end(), [&](const auto& r) {
        return routes.contains(r) || upserts.contains(r);
      });
      if (ready) {
        model_.active_listeners[i->first] = i->second;
        i = model_.warming_listeners.erase(i);
      } else {
        ++i;
      }
    }
  }
}

void scripted_xds_client::model_check_locked(const std::string& step) {
  if (!envoy_like() || !options_.check_every_step || options_.light) return;
  std::vector<std::string> problems;
  const auto& routes = held_of(state_, xds::route_type);
  const auto& endpoints = held_of(state_, xds::endpoint_type);
  const bool rds_used
      = options_.follow_references || subscriptions_.contains(std::string(xds::route_type));
  const bool cds_used = subscriptions_.contains(std::string(xds::cluster_type));
  const bool eds_used
      = options_.follow_references || subscriptions_.contains(std::string(xds::endpoint_type));
  auto cluster_state = [&](const std::string& c) {
    return model_.warming_clusters.contains(c) ? "warming" : "missing";
  };
  auto need_cluster = [&](const std::string& who, const std::string& c) {
    if (cds_used && !model_.active_clusters.contains(c)) {
      problems.push_back(who + " routes to cluster " + c + ", which is " + cluster_state(c));
    }
  };
  for (const auto& [name, any] : model_.active_listeners) {
    Listener listener;
    if (!listener.ParseFromString(any.value())) continue;
    for (const auto& hcm : connection_managers(listener)) {
      if (hcm.has_rds()) {
        const auto& rds = hcm.rds().route_config_name();
        auto r = routes.find(rds);
        if (r == routes.end()) {
          if (rds_used) {
            problems.push_back("active listener " + name + " uses route configuration " + rds
                               + ", which the client does not hold");
          }
          continue;
        }
        RouteConfiguration rc;
        if (!rc.ParseFromString(r->second.value())) continue;
        std::vector<std::string> named;
        clusters_of(rc, named);
        for (const auto& c : named) need_cluster("route configuration " + rds, c);
      }
      if (hcm.has_route_config()) {
        std::vector<std::string> named;
        clusters_of(hcm.route_config(), named);
        for (const auto& c : named) need_cluster("listener " + name, c);
      }
    }
    for (const auto& c : tcp_clusters_of(listener)) need_cluster("tcp listener " + name, c);
  }
  if (eds_used) {
    for (const auto& [name, any] : model_.active_clusters) {
      if (auto eds = eds_name_of(any); eds && !endpoints.contains(*eds)) {
        problems.push_back("active EDS cluster " + name + " has no load assignment " + *eds);
      }
    }
  }
  for (auto& p : problems) {
    if (state_.violations.size() >= max_violations) break;
    state_.violations.push_back(step + ": " + p);
  }
}

std::vector<std::string> scripted_xds_client::consistency_errors() const {
  std::lock_guard lock(mu_);
  std::vector<std::string> errors = state_.protocol_errors;
  auto subscribed
      = [&](std::string_view type) { return subscriptions_.contains(std::string(type)); };
  const auto& listeners = held_of(state_, xds::listener_type);
  const auto& routes = held_of(state_, xds::route_type);
  const auto& clusters = held_of(state_, xds::cluster_type);
  const auto& endpoints = held_of(state_, xds::endpoint_type);

  std::vector<std::pair<std::string, std::string>> cluster_refs;  // (referrer, cluster)
  for (const auto& [name, any] : listeners) {
    Listener listener;
    if (!listener.ParseFromString(any.value())) continue;
    for (const auto& hcm : connection_managers(listener)) {
      if (hcm.has_rds() && subscribed(xds::route_type)
          && !routes.contains(hcm.rds().route_config_name())) {
        errors.push_back("listener " + name + " uses route configuration "
                         + hcm.rds().route_config_name() + ", which the client does not hold");
      }
      if (hcm.has_route_config()) {
        std::vector<std::string> named;
        clusters_of(hcm.route_config(), named);
        for (auto& c : named) cluster_refs.emplace_back("listener " + name, std::move(c));
      }
    }
  }
  for (const auto& [name, any] : routes) {
    RouteConfiguration rc;
    if (!rc.ParseFromString(any.value())) continue;
    std::vector<std::string> named;
    clusters_of(rc, named);
    for (auto& c : named) cluster_refs.emplace_back("route configuration " + name, std::move(c));
  }
  if (subscribed(xds::cluster_type)) {
    for (const auto& [referrer, cluster] : cluster_refs) {
      if (!clusters.contains(cluster)) {
        errors.push_back(referrer + " routes to cluster " + cluster
                         + ", which the client does not hold");
      }
    }
  }
  if (subscribed(xds::endpoint_type)) {
    for (const auto& [name, any] : clusters) {
      Cluster cluster;
      if (cluster.ParseFromString(any.value()) && cluster.type() == Cluster::EDS
          && !endpoints.contains(eds_name_of(cluster))) {
        errors.push_back("EDS cluster " + name + " has no load assignment " + eds_name_of(cluster));
      }
    }
  }
  return errors;
}

}  // namespace sluice::test
