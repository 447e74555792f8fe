#pragma once
/// Label and namespace selection as Gloo does it (Kubernetes label-selector semantics):
/// Gateways select VirtualServices, delegating routes select RouteTables (reference gloo.md
/// §1.1, §1.3). Pure functions, no state.

#include <google/protobuf/map.h>
#include <google/protobuf/repeated_field.h>

#include <string>

#include "caf/expected.hpp"
#include "solo/gateway.pb.h"

namespace sluice::model {

using label_map = google::protobuf::Map<std::string, std::string>;
using expression_list = google::protobuf::RepeatedPtrField<::gateway::solo::io::Expression>;

/// Every (key, value) of `selector` is present in `labels` (an empty selector matches all).
[[nodiscard]] bool labels_match(const label_map& selector, const label_map& labels);

/// All expressions hold for `labels` (ANDed). An expression that is malformed (wrong number of
/// values, a non-integer for GreaterThan / LessThan) is an error naming it.
[[nodiscard]] caf::expected<bool> expressions_match(const expression_list& expressions,
                                                    const label_map& labels);

/// Checks every expression for well-formedness without evaluating it.
[[nodiscard]] caf::error validate_expressions(const expression_list& expressions);

/// Namespace selection shared by Gateways and RouteTable selectors: `namespaces` containing "*"
/// selects all; a non-empty list selects its members; an empty list selects `empty_means`
/// (every namespace when empty_means is nullptr).
[[nodiscard]] bool namespace_selected(
    const google::protobuf::RepeatedPtrField<std::string>& namespaces, const std::string& ns,
    const std::string* empty_means);

}  // namespace sluice::model
