#include "test/support/scripted_xds_client.hpp"

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <utility>

#include "envoy/config/cluster/v3/cluster.pb.h"
#include "envoy/config/endpoint/v3/endpoint.pb.h"
#include "envoy/config/listener/v3/listener.pb.h"
#include "envoy/config/route/v3/route.pb.h"
#include "envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.pb.h"
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

constexpr std::string_view hcm_type =
    "type.googleapis.com/"
    "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager";

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

std::set<std::string> route_names_of(const std::map<std::string, google::protobuf::Any>& ls) {
  std::set<std::string> out;
  for (const auto& [name, any] : ls) {
    Listener listener;
    if (!listener.ParseFromString(any.value())) continue;
    for (const auto& hcm : connection_managers(listener)) {
      if (hcm.has_rds()) out.insert(hcm.rds().route_config_name());
    }
  }
  return out;
}

std::string eds_name_of(const Cluster& cluster) {
  const auto& service = cluster.eds_cluster_config().service_name();
  return service.empty() ? cluster.name() : service;
}

std::set<std::string> eds_names_of(const std::map<std::string, google::protobuf::Any>& cs) {
  std::set<std::string> out;
  for (const auto& [name, any] : cs) {
    Cluster cluster;
    if (cluster.ParseFromString(any.value()) && cluster.type() == Cluster::EDS) {
      out.insert(eds_name_of(cluster));
    }
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

}  // namespace

std::vector<const scripted_xds_client::received*> scripted_xds_client::state::of(
    std::string_view type_url) const {
  std::vector<const received*> out;
  for (const auto& r : responses) {
    if (r.response.type_url() == type_url) out.push_back(&r);
  }
  return out;
}

std::set<std::string> scripted_xds_client::state::names(std::string_view type_url) const {
  std::set<std::string> out;
  if (auto i = held.find(std::string(type_url)); i != held.end()) {
    for (const auto& [name, any] : i->second) out.insert(name);
  }
  return out;
}

std::string scripted_xds_client::state::version(std::string_view type_url) const {
  auto i = accepted_version.find(std::string(type_url));
  return i == accepted_version.end() ? std::string{} : i->second;
}

scripted_xds_client::scripted_xds_client(scripted_xds_client_options options)
    : options_(std::move(options)) {}

scripted_xds_client::~scripted_xds_client() { close(); }

bool scripted_xds_client::connect(int port) {
  std::lock_guard write_lock(write_mu_);
  if (stream_) return false;
  // Its own connection, like a separate proxy process: gRPC would otherwise share one
  // connection between clients of the same target.
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  channel_ = grpc::CreateCustomChannel("127.0.0.1:" + std::to_string(port),
                                       grpc::InsecureChannelCredentials(), args);
  auto stub = envoy::service::discovery::v3::AggregatedDiscoveryService::NewStub(channel_);
  context_ = std::make_unique<grpc::ClientContext>();
  stream_ = stub->StreamAggregatedResources(context_.get());
  reader_ = std::thread([this] { read_loop(); });
  return true;
}

void scripted_xds_client::subscribe(std::string_view type_url, std::vector<std::string> names) {
  discovery_request request;
  {
    std::lock_guard lock(mu_);
    subscriptions_[std::string(type_url)] = std::move(names);
    request = request_for_locked(std::string(type_url));
  }
  write(request);
}

void scripted_xds_client::send(discovery_request request) { write(request); }

void scripted_xds_client::set_nack_oracle(nack_oracle oracle) {
  std::lock_guard lock(mu_);
  oracle_ = std::move(oracle);
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

void scripted_xds_client::close() {
  // No lock: a Write blocked on flow control holds write_mu_, and cancelling is what frees it.
  // context_ is only set by connect(), which tests call before close().
  if (context_) context_->TryCancel();
  if (reader_.joinable()) reader_.join();
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

std::vector<scripted_xds_client::discovery_request> scripted_xds_client::follow_locked(
    const std::string& type_url) {
  std::vector<discovery_request> out;
  auto follow = [&](const std::string& child_type, const std::set<std::string>& wanted) {
    std::vector<std::string> names(wanted.begin(), wanted.end());
    auto& current = subscriptions_[child_type];
    if (current == names) return;
    current = std::move(names);
    out.push_back(request_for_locked(child_type));
  };
  if (type_url == xds::listener_type) {
    follow(std::string(xds::route_type), route_names_of(state_.held[type_url]));
  } else if (type_url == xds::cluster_type) {
    follow(std::string(xds::endpoint_type), eds_names_of(state_.held[type_url]));
  }
  return out;
}

void scripted_xds_client::write(const discovery_request& request) {
  std::lock_guard write_lock(write_mu_);
  if (!stream_ || writes_closed_) return;
  if (!node_sent_) {
    // Like gRPC and Envoy's set_node_on_first_message_only: the node goes out once.
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

void scripted_xds_client::read_loop() {
  discovery_response response;
  while (stream_->Read(&response)) {
    std::vector<discovery_request> replies;
    {
      std::lock_guard lock(mu_);
      const std::string type_url = response.type_url();
      std::map<std::string, google::protobuf::Any> decoded;
      std::optional<std::string> nack;
      for (const auto& any : response.resources()) {
        auto name = any.type_url() == type_url ? resource_name(any) : std::nullopt;
        if (!name) {
          nack = "resource of type " + any.type_url() + " cannot be decoded in a " + type_url +
                 " response";
        } else if (!decoded.emplace(*name, any).second) {
          // Duplicate names are a protocol error; clients NACK them (xds.md §1.3 rule 8).
          nack = "duplicate resource name " + *name + " in " + type_url + " response";
        }
      }
      if (nack) {
        state_.protocol_errors.push_back(*nack);
      } else if (oracle_) {
        nack = oracle_(response);
      }
      received record;
      record.response = response;
      if (nack) {
        record.nacked = true;
        record.nack_message = *nack;
      } else {
        auto& held = state_.held[type_url];
        if (is_full_state(type_url)) {
          held = std::move(decoded);
        } else {
          for (auto& [name, any] : decoded) held[name] = std::move(any);
        }
        state_.accepted_version[type_url] = response.version_info();
      }
      state_.last_nonce[type_url] = response.nonce();
      state_.responses.push_back(std::move(record));

      // ACK: the new version; NACK: the last accepted version plus error_detail.
      auto reply = request_for_locked(type_url);
      if (nack) {
        reply.mutable_error_detail()->set_code(grpc::StatusCode::INVALID_ARGUMENT);
        reply.mutable_error_detail()->set_message(*nack);
      }
      replies.push_back(std::move(reply));
      if (!nack && options_.follow_references) {
        for (auto& r : follow_locked(type_url)) replies.push_back(std::move(r));
      }
    }
    for (const auto& r : replies) write(r);
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

std::vector<std::string> scripted_xds_client::consistency_errors() const {
  std::lock_guard lock(mu_);
  std::vector<std::string> errors = state_.protocol_errors;
  auto held = [&](std::string_view type) -> const std::map<std::string, google::protobuf::Any>& {
    static const std::map<std::string, google::protobuf::Any> empty;
    auto i = state_.held.find(std::string(type));
    return i == state_.held.end() ? empty : i->second;
  };
  auto subscribed = [&](std::string_view type) {
    return subscriptions_.contains(std::string(type));
  };
  const auto& listeners = held(xds::listener_type);
  const auto& routes = held(xds::route_type);
  const auto& clusters = held(xds::cluster_type);
  const auto& endpoints = held(xds::endpoint_type);

  std::vector<std::pair<std::string, std::string>> cluster_refs;  // (referrer, cluster)
  for (const auto& [name, any] : listeners) {
    Listener listener;
    if (!listener.ParseFromString(any.value())) continue;
    for (const auto& hcm : connection_managers(listener)) {
      if (hcm.has_rds() && subscribed(xds::route_type) &&
          !routes.contains(hcm.rds().route_config_name())) {
        errors.push_back("listener " + name + " uses route configuration " +
                         hcm.rds().route_config_name() + ", which the client does not hold");
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
        errors.push_back(referrer + " routes to cluster " + cluster +
                         ", which the client does not hold");
      }
    }
  }
  if (subscribed(xds::endpoint_type)) {
    for (const auto& [name, any] : clusters) {
      Cluster cluster;
      if (cluster.ParseFromString(any.value()) && cluster.type() == Cluster::EDS &&
          !endpoints.contains(eds_name_of(cluster))) {
        errors.push_back("EDS cluster " + name + " has no load assignment " + eds_name_of(cluster));
      }
    }
  }
  return errors;
}

}  // namespace sluice::test
