#include "bench/xds_load_client.hpp"

#include <grpcpp/grpcpp.h>

#include <utility>

#include "envoy/config/cluster/v3/cluster.pb.h"
#include "envoy/service/discovery/v3/ads.grpc.pb.h"
#include "xds/client_holdings.hpp"
#include "xds/snapshot.hpp"

namespace sluice::bench {

namespace {

const std::string cds(xds::cluster_type);
const std::string eds(xds::endpoint_type);
const std::string lds(xds::listener_type);
const std::string rds(xds::route_type);

/// (name, EDS name or "") of a cluster payload.
std::pair<std::string, std::string> cluster_of(const std::string& bytes) {
  envoy::config::cluster::v3::Cluster c;
  if (!c.ParseFromString(bytes)) {
    return {};
  }
  std::string eds_name;
  if (c.type() == envoy::config::cluster::v3::Cluster::EDS) {
    eds_name = c.eds_cluster_config().service_name().empty()
                   ? c.name()
                   : c.eds_cluster_config().service_name();
  }
  return {c.name(), eds_name};
}

std::set<std::string> routes_of(const std::string& bytes) {
  xds::xds_resource r;
  r.type_url = lds;
  r.bytes = bytes;
  auto refs = xds::parse_refs(r);
  return {refs.route_configs.begin(), refs.route_configs.end()};
}

}  // namespace

xds_load_client::xds_load_client(load_client_options options) : options_(std::move(options)) {
  types_[cds];
  types_[lds];
}

xds_load_client::~xds_load_client() { close(); }

void xds_load_client::add_node(envoy::config::core::v3::Node* node) {
  node->set_id(options_.node_id);
  node->set_cluster("bench");
  node->set_user_agent_name("envoy");
  (*node->mutable_metadata()->mutable_fields())["role"].set_string_value(options_.role);
}

void xds_load_client::connect(int port) {
  {
    std::lock_guard write_lock(write_mu_);
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    args.SetMaxReceiveMessageSize(-1);
    channel_ = grpc::CreateCustomChannel("127.0.0.1:" + std::to_string(port),
                                         grpc::InsecureChannelCredentials(), args);
    auto stub = envoy::service::discovery::v3::AggregatedDiscoveryService::NewStub(channel_);
    context_ = std::make_unique<grpc::ClientContext>();
    node_sent_ = false;
    if (options_.delta) {
      delta_ = stub->DeltaAggregatedResources(context_.get());
    } else {
      sotw_ = stub->StreamAggregatedResources(context_.get());
    }
  }
  std::vector<sotw_request> sotw;
  std::vector<delta_request> delta;
  {
    std::lock_guard lock(mu_);
    for (auto& [type, st] : types_) {
      st.requested = false;
      st.nonce.clear();
    }
    // Envoy's order: CDS and LDS first, then what they referenced.
    for (const auto* type : {&cds, &lds, &eds, &rds}) {
      auto i = types_.find(*type);
      // An empty first request would be a wildcard; a child with no names is not wanted.
      if (i == types_.end() || ((*type == eds || *type == rds) && i->second.names.empty())) {
        continue;
      }
      if (options_.delta) {
        delta_request r;
        if (delta_for_locked(*type, i->second.names, r)) {
          delta.push_back(std::move(r));
        }
      } else {
        i->second.requested = true;
        sotw.push_back(sotw_for_locked(*type));
      }
    }
  }
  for (auto& r : sotw) {
    write_sotw(std::move(r));
  }
  for (auto& r : delta) {
    write_delta(std::move(r));
  }
  // As Envoy: every first request is out before any response is processed.
  if (options_.delta) {
    reader_ = std::thread([this] { read_delta(); });
  } else {
    reader_ = std::thread([this] { read_sotw(); });
  }
}

void xds_load_client::reconnect(int port) {
  close();
  {
    std::lock_guard write_lock(write_mu_);
    sotw_.reset();
    delta_.reset();
    context_.reset();
  }
  connect(port);
}

void xds_load_client::close() {
  if (context_) {
    context_->TryCancel();
  }
  if (reader_.joinable()) {
    reader_.join();
  }
}

xds_load_client::sotw_request xds_load_client::sotw_for_locked(const std::string& type) {
  const auto& st = types_[type];
  sotw_request r;
  r.set_type_url(type);
  r.set_version_info(st.version);
  r.set_response_nonce(st.nonce);
  for (const auto& n : st.names) {
    r.add_resource_names(n);
  }
  return r;
}

bool xds_load_client::delta_for_locked(const std::string& type, const std::set<std::string>& names,
                                       delta_request& out) {
  auto& st = types_[type];
  out.set_type_url(type);
  if (!st.requested) {
    st.requested = true;
    st.names = names;
    for (const auto& n : names) {
      out.add_resource_names_subscribe(n);
    }
    for (const auto& [n, v] : st.versions) {
      (*out.mutable_initial_resource_versions())[n] = v;
    }
    return true;
  }
  for (const auto& n : names) {
    if (!st.names.contains(n)) {
      out.add_resource_names_subscribe(n);
    }
  }
  for (const auto& n : st.names) {
    if (!names.contains(n)) {
      out.add_resource_names_unsubscribe(n);
      st.versions.erase(n);
    }
  }
  st.names = names;
  return out.resource_names_subscribe_size() > 0 || out.resource_names_unsubscribe_size() > 0;
}

std::vector<std::pair<std::string, std::set<std::string>>> xds_load_client::wanted_children_locked()
    const {
  std::set<std::string> endpoints;
  for (const auto& [cluster, eds_name] : cluster_eds_) {
    if (!eds_name.empty()) {
      endpoints.insert(eds_name);
    }
  }
  std::set<std::string> routes;
  for (const auto& [listener, names] : listener_rds_) {
    routes.insert(names.begin(), names.end());
  }
  return {{eds, std::move(endpoints)}, {rds, std::move(routes)}};
}

void xds_load_client::write_sotw(sotw_request r) {
  std::lock_guard write_lock(write_mu_);
  if (!sotw_) {
    return;
  }
  if (!node_sent_) {
    add_node(r.mutable_node());
    node_sent_ = true;
  }
  sotw_->Write(r);
}

void xds_load_client::write_delta(delta_request r) {
  std::lock_guard write_lock(write_mu_);
  if (!delta_) {
    return;
  }
  if (!node_sent_) {
    add_node(r.mutable_node());
    node_sent_ = true;
  }
  delta_->Write(r);
}

void xds_load_client::read_sotw() {
  sotw_response response;
  while (sotw_->Read(&response)) {
    bytes_.fetch_add(response.ByteSizeLong(), std::memory_order_relaxed);
    responses_.fetch_add(1, std::memory_order_relaxed);
    std::vector<sotw_request> out;
    {
      std::lock_guard lock(mu_);
      const std::string& type = response.type_url();
      auto& st = types_[type];
      st.nonce = response.nonce();
      st.version = response.version_info();
      if (type == cds || type == lds) {
        if (type == cds) {
          cluster_eds_.clear();
        } else {
          listener_rds_.clear();
        }
        for (const auto& any : response.resources()) {
          if (type == cds) {
            auto [name, eds_name] = cluster_of(any.value());
            cluster_eds_[name] = eds_name;
          } else {
            listener_rds_[std::to_string(listener_rds_.size())] = routes_of(any.value());
          }
        }
        for (auto& [child, names] : wanted_children_locked()) {
          auto& cs = types_[child];
          if (names == cs.names || (!cs.requested && names.empty())) {
            continue;
          }
          cs.names = std::move(names);
          cs.requested = true;
          out.push_back(sotw_for_locked(child));
        }
      }
      out.push_back(sotw_for_locked(type));  // the ACK, after the subscription change
    }
    for (auto& r : out) {
      write_sotw(std::move(r));
    }
  }
  std::lock_guard write_lock(write_mu_);
  sotw_->Finish();
}

void xds_load_client::read_delta() {
  delta_response response;
  while (delta_->Read(&response)) {
    bytes_.fetch_add(response.ByteSizeLong(), std::memory_order_relaxed);
    responses_.fetch_add(1, std::memory_order_relaxed);
    std::vector<delta_request> out;
    {
      std::lock_guard lock(mu_);
      const std::string& type = response.type_url();
      auto& st = types_[type];
      st.nonce = response.nonce();
      for (const auto& r : response.resources()) {
        st.versions[r.name()] = r.version();
        if (type == cds) {
          cluster_eds_[r.name()] = cluster_of(r.resource().value()).second;
        } else if (type == lds) {
          listener_rds_[r.name()] = routes_of(r.resource().value());
        }
      }
      for (const auto& name : response.removed_resources()) {
        st.versions.erase(name);
        cluster_eds_.erase(name);
        listener_rds_.erase(name);
      }
      if (type == cds || type == lds) {
        for (auto& [child, names] : wanted_children_locked()) {
          if (!types_[child].requested && names.empty()) {
            continue;
          }
          delta_request r;
          if (delta_for_locked(child, names, r)) {
            out.push_back(std::move(r));
          }
        }
      }
      delta_request ack;
      ack.set_type_url(type);
      ack.set_response_nonce(response.nonce());
      out.push_back(std::move(ack));
    }
    for (auto& r : out) {
      write_delta(std::move(r));
    }
  }
  std::lock_guard write_lock(write_mu_);
  delta_->Finish();
}

}  // namespace sluice::bench
