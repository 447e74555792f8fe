#pragma once
/// Converts the routes of a VirtualService into Proxy routes, expanding delegation to RouteTables
/// depth-first and in order (reference gloo.md §1.3; Gloo's GWTR/converter.go):
///
/// - a delegating route must omit its matcher or use exactly one prefix matcher (errors);
/// - RouteTables are found by ref or by selector (labels or expressions, namespaces: empty means
///   the owner's namespace, "*" all); a missing table or an empty selection is a warning and
///   drops only that delegating route;
/// - selected tables are visited by ascending weight; a weight group of several tables has its
///   routes sorted by path specificity (Gloo's SortRoutesByPath), a single table never is;
/// - children inherit path and header/method/query matchers when asked, must stay under the
///   parent prefix with the same case sensitivity and a superset of its header, query and method
///   matchers (else a warning and the child route is dropped), and their options win over the
///   parent's, which fill the gaps;
/// - `optionsConfigRefs.delegateOptions` on a route pull in RouteOption resources: inline
///   options win, then each ref in order fills the fields still unset, and only then does the
///   parent route fill the rest; a missing RouteOption is a warning;
/// - a table already on the current branch is a cycle: an error on that table and on the
///   VirtualService.
///
/// Findings on a RouteTable are repeated on the VirtualService as "on sub route table ns.name:
/// ..." (Gloo), so a broken table rejects the VirtualService that uses it.

#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "model/translation_report.hpp"
#include "model/world.hpp"
#include "solo/gateway.pb.h"
#include "solo/gloo.pb.h"

namespace sluice::model {

class route_converter {
 public:
  route_converter(const world& w, resource_key vs_key, translation_report& report);

  /// The Proxy routes of the VirtualService's virtual host, delegation expanded.
  std::vector<::gloo::solo::io::Route> convert(const ::gateway::solo::io::VirtualService& vs);

  /// The RouteTables read during conversion.
  const std::set<resource_key>& route_tables() const { return route_tables_; }

  /// The RouteOptions named by `optionsConfigRefs` on the routes visited, found or not.
  const std::set<resource_key>& route_options() const { return route_options_; }

 private:
  struct parent_route;

  std::vector<::gloo::solo::io::Route> visit(
      const resource_key& owner, int64_t owner_generation,
      const google::protobuf::RepeatedPtrField<::gateway::solo::io::Route>& routes,
      const parent_route* parent, const std::vector<resource_key>& chain);

  std::vector<const stored_resource*> select_route_tables(
      const resource_key& owner, const ::gateway::solo::io::DelegateAction& action);

  void apply_option_refs(const resource_key& owner, const std::string& route_label,
                         ::gateway::solo::io::Route& route);

  void add_error(const resource_key& on, const std::string& message);
  void add_warning(const resource_key& on, const std::string& message);

  const world& world_;
  resource_key vs_key_;
  translation_report& report_;
  std::set<resource_key> route_tables_;
  std::set<resource_key> route_options_;
};

/// The options resource an `optionsConfigRefs.delegateOptions` entry names. A ref without a
/// namespace means the namespace of the resource holding it (Gloo looks such a ref up in the
/// empty namespace and never finds it; sluice reads it the way it reads every other ref).
[[nodiscard]] resource_key option_ref_key(resource_kind kind,
                                          const ::core::solo::io::ResourceRef& ref,
                                          const std::string& owner_ns);

/// The warning for a delegated options resource that does not exist (Gloo's words first:
/// solo-kit's "list did not find <kind> <ns>.<name>").
[[nodiscard]] std::string missing_options_warning(const resource_key& key,
                                                  const std::string& holder);

/// Shallow "fill only unset top-level fields" merge (Gloo's ShallowMergeRouteOptions): fields set
/// on `dst` win; fields set only on `src` are copied. Repeated fields count as set when
/// non-empty; a oneof counts as set when any member is.
void merge_route_options(::gloo::solo::io::RouteOptions& dst,
                         const ::gloo::solo::io::RouteOptions& src);

/// The same merge for virtual host options (Gloo's ShallowMergeVirtualHostOptions).
void merge_virtual_host_options(::gloo::solo::io::VirtualHostOptions& dst,
                                const ::gloo::solo::io::VirtualHostOptions& src);

/// Gloo's SortRoutesByPath: stable; more methods first, then exact < regex < prefix, then the
/// lexicographically larger path first, comparing each route by its most specific matcher.
void sort_routes_by_path(std::vector<::gloo::solo::io::Route>& routes);

/// The path text of a matcher (prefix, exact or regex), "" for none.
[[nodiscard]] const std::string& path_as_string(const ::gloo::solo::io::Matcher& m);

}  // namespace sluice::model
