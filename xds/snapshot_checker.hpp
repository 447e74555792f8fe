#pragma once
/// Consistency check of a whole snapshot, the promise the translators make about what is served
/// (DESIGN.md "never a dangling cluster reference, a duplicate name or an invalid regex"):
///
/// - every resource parses as its type, and is stored under its own name;
/// - every RouteConfiguration an HTTP connection manager names over RDS exists; RDS and EDS
///   config sources are ADS; HTTP filter lists are non-empty, uniquely named and end with the
///   router (and only there);
/// - every cluster a route or a tcp_proxy references (directly or weighted) exists; weighted
/// clusters are
///   non-empty and their total_weight, when set, equals the sum of their weights;
/// - every EDS cluster has its ClusterLoadAssignment (named by service_name, else the cluster
///   name), and every ClusterLoadAssignment belongs to some EDS cluster;
/// - virtual host names and domains are unique within a RouteConfiguration; socket listeners
///   have distinct addresses and at least one filter chain, whose matches are distinct;
/// - every regex (route, header, query parameter, rewrite) compiles with RE2;
/// - every SDS secret a listener or cluster TLS context names exists (fetched over ADS), and
///   every Secret is used.

#include <string>
#include <vector>

#include "xds/snapshot.hpp"

namespace sluice::xds {

/// One human-readable line per problem; empty when the snapshot is consistent.
[[nodiscard]] std::vector<std::string> check_snapshot(const snapshot& snap);

}  // namespace sluice::xds
