#include "model/gateway_route_converter.hpp"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/message.h>

#include <algorithm>
#include <iterator>
#include <map>
#include <memory>
#include <optional>
#include <type_traits>
#include <utility>
#include <variant>

#include "model/error.hpp"
#include "model/gateway_attribution.hpp"
#include "model/selector.hpp"

namespace sluice::model {

namespace {

namespace gw = ::gateway::solo::io;
namespace gl = ::gloo::solo::io;
namespace pb = google::protobuf;

// Gloo's messages (GWTR/converter.go), kept verbatim where users may grep for them.
constexpr const char* no_action_error = "invalid route: route must specify an action";
constexpr const char* matcher_count_error =
    "invalid route: routes with delegate actions must omit or specify a single matcher";
constexpr const char* missing_prefix_error =
    "invalid route: routes with delegate actions must use a prefix matcher";
constexpr const char* no_matching_tables_warning = "no route table matches the given selector";

gl::Matcher default_matcher() {
  gl::Matcher m;
  m.set_prefix("/");
  return m;
}

void copy_path(gl::Matcher& to, const gl::Matcher& from) {
  switch (from.path_specifier_case()) {
    case gl::Matcher::kPrefix:
      to.set_prefix(from.prefix());
      break;
    case gl::Matcher::kExact:
      to.set_exact(from.exact());
      break;
    case gl::Matcher::kRegex:
      to.set_regex(from.regex());
      break;
    case gl::Matcher::kConnectMatcher:
      to.mutable_connect_matcher();
      break;
    case gl::Matcher::PATH_SPECIFIER_NOT_SET:
      to.clear_path_specifier();
      break;
  }
  if (from.has_case_sensitive()) {
    *to.mutable_case_sensitive() = from.case_sensitive();
  } else {
    to.clear_case_sensitive();
  }
}

bool same_case_sensitivity(const gl::Matcher& a, const gl::Matcher& b) {
  if (a.has_case_sensitive() != b.has_case_sensitive()) {
    return false;
  }
  return !a.has_case_sensitive() || a.case_sensitive().value() == b.case_sensitive().value();
}

bool equal_header(const gl::HeaderMatcher& a, const gl::HeaderMatcher& b) {
  return a.name() == b.name() && a.value() == b.value() && a.regex() == b.regex() &&
         a.invert_match() == b.invert_match();
}

bool equal_query(const gl::QueryParameterMatcher& a, const gl::QueryParameterMatcher& b) {
  return a.name() == b.name() && a.value() == b.value() && a.regex() == b.regex();
}

template <class List>
std::string join_names(const List& list) {
  std::string out = "[";
  bool first = true;
  for (const auto& x : list) {
    out += first ? "" : " ";
    first = false;
    if constexpr (std::is_same_v<std::decay_t<decltype(x)>, std::string>) {
      out += x;
    } else {
      out += x.name();
      if (!x.value().empty()) {
        out += "=" + x.value();
      }
    }
  }
  return out + "]";
}

std::string bool_text(const gl::Matcher& m) {
  return m.has_case_sensitive() ? (m.case_sensitive().value() ? "true" : "false") : "unset";
}

// Checks one child matcher against the parent's delegating matcher (Gloo's
// isRouteTableValidForDelegateMatcher); returns the reason it is invalid.
std::optional<std::string> invalid_for_parent(const gl::Matcher& parent, const gl::Matcher& child) {
  const auto& path = path_as_string(child);
  if (path.compare(0, parent.prefix().size(), parent.prefix()) != 0) {
    return "invalid route: route table matchers must begin with the prefix of their parent "
           "route's matcher (required prefix: " +
           parent.prefix() + ", path: " + path + ")";
  }
  if (!same_case_sensitivity(parent, child)) {
    return "invalid route: route table matchers must have the same case sensitivity of their "
           "parent route's matcher (required caseSensitive: " +
           bool_text(parent) + ", caseSensitive: " + bool_text(child) + ")";
  }
  for (const auto& ph : parent.headers()) {
    const gl::HeaderMatcher* found = nullptr;
    for (const auto& ch : child.headers()) {
      if (ch.name() == ph.name()) {
        found = &ch;  // the last one with the name, as Gloo's map does
      }
    }
    if (found == nullptr || !equal_header(ph, *found)) {
      return "invalid route: route table matchers must have all headers that were specified on "
             "their parent route's matcher (required headers: " +
             join_names(parent.headers()) + ", headers: " + join_names(child.headers()) + ")";
    }
  }
  for (const auto& pq : parent.query_parameters()) {
    const gl::QueryParameterMatcher* found = nullptr;
    for (const auto& cq : child.query_parameters()) {
      if (cq.name() == pq.name()) {
        found = &cq;
      }
    }
    if (found == nullptr || !equal_query(pq, *found)) {
      return "invalid route: route table matchers must have all query params that were "
             "specified on their parent route's matcher (required query params: " +
             join_names(parent.query_parameters()) +
             ", query params: " + join_names(child.query_parameters()) + ")";
    }
  }
  for (const auto& pm : parent.methods()) {
    if (std::find(child.methods().begin(), child.methods().end(), pm) == child.methods().end()) {
      return "invalid route: route table matchers must have all methods that were specified on "
             "their parent route's matcher (required methods: " +
             join_names(parent.methods()) + ", methods: " + join_names(child.methods()) + ")";
    }
  }
  return std::nullopt;
}

// The matcher a delegating route hands to its tables (Gloo's getDelegateRouteMatcher). Unlike
// Gloo, a matcher without a path keeps its header/method/query matchers and gets the "/" prefix
// (Gloo replaced it by the bare default matcher, silently dropping them).
std::variant<gl::Matcher, std::string> delegate_matcher(const gw::Route& route) {
  if (route.matchers_size() == 0) {
    return default_matcher();
  }
  if (route.matchers_size() > 1) {
    return std::string(matcher_count_error);
  }
  gl::Matcher m = route.matchers(0);
  if (m.path_specifier_case() == gl::Matcher::PATH_SPECIFIER_NOT_SET) {
    m.set_prefix("/");
    return m;
  }
  if (m.path_specifier_case() != gl::Matcher::kPrefix || m.prefix().empty()) {
    return std::string(missing_prefix_error);
  }
  return m;
}

void fill_upstream_namespace(gl::Destination& d, const std::string& ns) {
  if (d.has_upstream() && d.upstream().namespace_().empty()) {
    d.mutable_upstream()->set_namespace_(ns);
  }
}

void copy_singular(pb::Message& dst, const pb::Message& src, const pb::FieldDescriptor* f) {
  const auto* rs = src.GetReflection();
  const auto* rd = dst.GetReflection();
  switch (f->cpp_type()) {
    case pb::FieldDescriptor::CPPTYPE_MESSAGE:
      rd->MutableMessage(&dst, f)->CopyFrom(rs->GetMessage(src, f));
      break;
    case pb::FieldDescriptor::CPPTYPE_STRING:
      rd->SetString(&dst, f, rs->GetString(src, f));
      break;
    case pb::FieldDescriptor::CPPTYPE_BOOL:
      rd->SetBool(&dst, f, rs->GetBool(src, f));
      break;
    case pb::FieldDescriptor::CPPTYPE_INT32:
      rd->SetInt32(&dst, f, rs->GetInt32(src, f));
      break;
    case pb::FieldDescriptor::CPPTYPE_INT64:
      rd->SetInt64(&dst, f, rs->GetInt64(src, f));
      break;
    case pb::FieldDescriptor::CPPTYPE_UINT32:
      rd->SetUInt32(&dst, f, rs->GetUInt32(src, f));
      break;
    case pb::FieldDescriptor::CPPTYPE_UINT64:
      rd->SetUInt64(&dst, f, rs->GetUInt64(src, f));
      break;
    case pb::FieldDescriptor::CPPTYPE_DOUBLE:
      rd->SetDouble(&dst, f, rs->GetDouble(src, f));
      break;
    case pb::FieldDescriptor::CPPTYPE_FLOAT:
      rd->SetFloat(&dst, f, rs->GetFloat(src, f));
      break;
    case pb::FieldDescriptor::CPPTYPE_ENUM:
      rd->SetEnumValue(&dst, f, rs->GetEnumValue(src, f));
      break;
  }
}

void copy_repeated(pb::Message& dst, const pb::Message& src, const pb::FieldDescriptor* f) {
  // Swap in a scratch copy: the generic way to copy any repeated field by reflection.
  std::unique_ptr<pb::Message> scratch(src.New());
  scratch->CopyFrom(src);
  dst.GetReflection()->SwapFields(&dst, scratch.get(), {f});
}

int path_priority(const gl::Matcher& m) {
  switch (m.path_specifier_case()) {
    case gl::Matcher::kExact:
      return 1;
    case gl::Matcher::kRegex:
      return 2;
    case gl::Matcher::kPrefix:
      return 3;
    default:
      return 0;
  }
}

bool less_matcher(const gl::Matcher& a, const gl::Matcher& b) {
  if (a.methods_size() != b.methods_size()) {
    return a.methods_size() > b.methods_size();
  }
  if (path_priority(a) != path_priority(b)) {
    return path_priority(a) < path_priority(b);
  }
  return path_as_string(a) > path_as_string(b);
}

const gl::Matcher& most_specific(const gl::Route& r, const gl::Matcher& fallback) {
  if (r.matchers_size() == 0) {
    return fallback;
  }
  const gl::Matcher* best = &r.matchers(0);
  for (const auto& m : r.matchers()) {
    if (less_matcher(m, *best)) {
      best = &m;
    }
  }
  return *best;
}

}  // namespace

const std::string& path_as_string(const gl::Matcher& m) {
  static const std::string empty;
  switch (m.path_specifier_case()) {
    case gl::Matcher::kPrefix:
      return m.prefix();
    case gl::Matcher::kExact:
      return m.exact();
    case gl::Matcher::kRegex:
      return m.regex();
    default:
      return empty;
  }
}

namespace {

// Gloo's utils/merge.go ShallowMerge*: top-level fields only, `dst` wins.
void shallow_merge(pb::Message& dst, const pb::Message& src) {
  const auto* d = dst.GetDescriptor();
  const auto* r = dst.GetReflection();
  for (int i = 0; i < d->field_count(); ++i) {
    const auto* f = d->field(i);
    if (f->is_repeated()) {
      if (r->FieldSize(dst, f) == 0 && r->FieldSize(src, f) > 0) {
        copy_repeated(dst, src, f);
      }
      continue;
    }
    if (!r->HasField(src, f)) {
      continue;
    }
    if (const auto* oneof = f->containing_oneof(); oneof != nullptr) {
      if (r->HasOneof(dst, oneof)) {
        continue;
      }
    } else if (r->HasField(dst, f)) {
      continue;
    }
    copy_singular(dst, src, f);
  }
}

}  // namespace

void merge_route_options(gl::RouteOptions& dst, const gl::RouteOptions& src) {
  shallow_merge(dst, src);
}

void merge_virtual_host_options(gl::VirtualHostOptions& dst, const gl::VirtualHostOptions& src) {
  shallow_merge(dst, src);
}

void sort_routes_by_path(std::vector<gl::Route>& routes) {
  const auto fallback = default_matcher();
  std::stable_sort(routes.begin(), routes.end(), [&](const gl::Route& a, const gl::Route& b) {
    return less_matcher(most_specific(a, fallback), most_specific(b, fallback));
  });
}

struct route_converter::parent_route {
  gl::Matcher matcher;
  gl::RouteOptions options;
  std::string name;
  bool has_name = false;
  bool inheritable_matchers = false;
  bool inheritable_path_matchers = false;
};

route_converter::route_converter(const world& w, resource_key vs_key, translation_report& report)
    : world_(w), vs_key_(std::move(vs_key)), report_(report) {}

resource_key option_ref_key(resource_kind kind, const ::core::solo::io::ResourceRef& ref,
                            const std::string& owner_ns) {
  return resource_key{kind, ref.namespace_().empty() ? owner_ns : ref.namespace_(), ref.name()};
}

std::string missing_options_warning(const resource_key& key, const std::string& holder) {
  const char* what = key.kind == resource_kind::route_option ? "routeOption" : "virtualHostOption";
  return "list did not find " + std::string(what) + " " + ref_key(key) + " (referenced by " +
         holder + " in optionsConfigRefs.delegateOptions): its options are not applied; create "
         "it or remove the ref";
}

void route_converter::apply_option_refs(const resource_key& owner, const std::string& route_label,
                                        gw::Route& route) {
  const auto& refs = route.options_config_refs().delegate_options();
  if (refs.empty()) {
    return;
  }
  const bool had_options = route.has_options();
  for (const auto& ref : refs) {
    const auto key = option_ref_key(resource_kind::route_option, ref, owner.ns);
    route_options_.insert(key);
    const auto* option = world_.get<gw::RouteOption>(key.kind, key.ns, key.name);
    if (option == nullptr) {
      // A warning only, as in Gloo: resources may be applied in any order.
      add_warning(owner, missing_options_warning(key, "route " + route_label));
      continue;
    }
    merge_route_options(*route.mutable_options(), option->options());
  }
  if (!had_options && route.options().ByteSizeLong() == 0) {
    route.clear_options();
  }
}

void route_converter::add_error(const resource_key& on, const std::string& message) {
  report_error(report_, on, message);
  if (on.kind == resource_kind::route_table) {
    report_error(report_, vs_key_, "on sub route table " + ref_key(on) + ": " + message);
  }
}

void route_converter::add_warning(const resource_key& on, const std::string& message) {
  report_warning(report_, on, message);
  if (on.kind == resource_kind::route_table) {
    report_warning(report_, vs_key_, "on sub route table " + ref_key(on) + ": " + message);
  }
}

std::vector<gl::Route> route_converter::convert(const gw::VirtualService& vs) {
  report_.touch(vs_key_);
  return visit(vs_key_, vs.metadata().generation(), vs.virtual_host().routes(), nullptr, {});
}

std::vector<const stored_resource*> route_converter::select_route_tables(
    const resource_key& owner, const gw::DelegateAction& action) {
  std::vector<const stored_resource*> out;
  std::optional<resource_key> ref;
  // The deprecated name/namespace pair wins over ref and selector when either is set (Gloo);
  // existing YAML still uses it, so reading it is deliberate.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
  const std::string& old_name = action.name();
  const std::string& old_ns = action.namespace_();
#pragma GCC diagnostic pop
  if (!old_name.empty() || !old_ns.empty()) {
    ref = resource_key{resource_kind::route_table, old_ns.empty() ? owner.ns : old_ns, old_name};
  } else if (action.has_ref()) {
    ref = resource_key{resource_kind::route_table,
                       action.ref().namespace_().empty() ? owner.ns : action.ref().namespace_(),
                       action.ref().name()};
  }
  if (ref) {
    route_tables_.insert(*ref);
    const auto* rt = world_.find(*ref);
    if (rt == nullptr) {
      add_warning(owner, "route table " + ref_key(*ref) + " missing");
      return out;
    }
    out.push_back(rt);
    return out;
  }
  if (!action.has_selector()) {
    add_warning(owner, "cannot determine delegation target for " +
                           std::string(name_of(owner.kind)) + " " + ref_key(owner) +
                           ": you must specify a route table either via a resource reference or "
                           "a selector");
    return out;
  }
  const auto& sel = action.selector();
  if (!sel.labels().empty() && !sel.expressions().empty()) {
    add_warning(owner, "cannot use both labels and expressions in a route table selector");
    return out;
  }
  if (auto err = validate_expressions(sel.expressions())) {
    add_warning(owner, "route table selector: " + describe(err));
    return out;
  }
  for (const auto& [nn, stored] : world_.of(resource_kind::route_table)) {
    const auto& rt = static_cast<const gw::RouteTable&>(*stored.message);
    if (!namespace_selected(sel.namespaces(), stored.key.ns, &owner.ns)) {
      continue;
    }
    const auto& labels = rt.metadata().labels();
    if (!labels_match(sel.labels(), labels)) {
      continue;
    }
    auto ok = expressions_match(sel.expressions(), labels);
    if (!ok || !*ok) {
      continue;
    }
    route_tables_.insert(stored.key);
    out.push_back(&stored);
  }
  if (out.empty()) {
    add_warning(owner, no_matching_tables_warning);
  }
  return out;
}

std::vector<gl::Route> route_converter::visit(const resource_key& owner, int64_t owner_generation,
                                              const pb::RepeatedPtrField<gw::Route>& routes,
                                              const parent_route* parent,
                                              const std::vector<resource_key>& chain) {
  std::vector<gl::Route> out;
  for (int idx = 0; idx < routes.size(); ++idx) {
    gw::Route route = routes.Get(idx);

    // Gloo's generated name: it encodes the branch and is kept only if someone named a route on
    // it (GWTR/converter.go routeName).
    std::string name = parent ? parent->name + "_" : std::string();
    name += owner.kind == resource_kind::virtual_service ? "vs:" : "rt:";
    name += owner.ns + "_" + owner.name + "_route:";
    name += route.name().empty() ? "<unnamed-" + std::to_string(idx) + ">" : route.name();
    const bool named = !route.name().empty() || (parent && parent->has_name);

    // Gloo's order (GWTR/converter.go visit): the route's own RouteOption refs first, the
    // parent's options after, so a child's referenced options beat its parent's inline ones.
    apply_option_refs(owner, route.name().empty() ? "<unnamed-" + std::to_string(idx) + ">"
                                                  : route.name(),
                      route);

    if (parent != nullptr) {
      if (!route.has_inheritable_path_matchers()) {
        route.mutable_inheritable_path_matchers()->set_value(parent->inheritable_path_matchers);
      }
      if (!route.has_inheritable_matchers()) {
        route.mutable_inheritable_matchers()->set_value(parent->inheritable_matchers);
      }
      if (route.inheritable_path_matchers().value()) {
        for (auto& m : *route.mutable_matchers()) {
          copy_path(m, parent->matcher);
        }
        if (route.matchers_size() == 0) {
          copy_path(*route.add_matchers(), parent->matcher);
        }
      }
      if (route.matchers_size() == 0) {
        *route.add_matchers() = default_matcher();
      }
      if (route.inheritable_matchers().value()) {
        for (auto& m : *route.mutable_matchers()) {
          gl::Matcher merged = m;
          merged.clear_headers();
          merged.clear_methods();
          merged.clear_query_parameters();
          merged.mutable_headers()->CopyFrom(parent->matcher.headers());
          merged.mutable_headers()->MergeFrom(m.headers());
          merged.mutable_methods()->CopyFrom(parent->matcher.methods());
          merged.mutable_methods()->MergeFrom(m.methods());
          merged.mutable_query_parameters()->CopyFrom(parent->matcher.query_parameters());
          merged.mutable_query_parameters()->MergeFrom(m.query_parameters());
          m = std::move(merged);
        }
      }
      std::optional<std::string> invalid;
      for (const auto& m : route.matchers()) {
        if ((invalid = invalid_for_parent(parent->matcher, m))) {
          break;
        }
      }
      if (invalid) {
        // A warning, not an error: one team's bad child route must not take down the other routes
        // of the virtual host (Gloo made the same choice).
        add_warning(owner, *invalid);
        continue;
      }
      merge_route_options(*route.mutable_options(), parent->options);
      if (route.options().ByteSizeLong() == 0) {
        route.clear_options();
      }
    }

    switch (route.action_case()) {
      case gw::Route::kDelegateAction: {
        auto matcher = delegate_matcher(route);
        if (auto* err = std::get_if<std::string>(&matcher)) {
          add_error(owner, *err);
          continue;
        }
        auto tables = select_route_tables(owner, route.delegate_action());
        if (tables.empty()) {
          continue;
        }
        std::map<int32_t, std::vector<const stored_resource*>> by_weight;
        for (const auto* t : tables) {
          const auto& rt = static_cast<const gw::RouteTable&>(*t->message);
          by_weight[rt.has_weight() ? rt.weight().value() : 0].push_back(t);
        }
        parent_route info;
        info.matcher = std::get<gl::Matcher>(std::move(matcher));
        info.options = route.options();
        info.name = name;
        info.has_name = named;
        info.inheritable_matchers = route.inheritable_matchers().value();
        info.inheritable_path_matchers = route.inheritable_path_matchers().value();
        for (const auto& [weight, group] : by_weight) {
          std::vector<gl::Route> group_routes;
          for (const auto* t : group) {
            const auto& rt = static_cast<const gw::RouteTable&>(*t->message);
            report_.touch(t->key);
            if (auto pos = std::find(chain.begin(), chain.end(), t->key); pos != chain.end()) {
              std::string cycle;
              for (const auto& k : chain) {
                cycle += "[" + ref_key(k) + "] -> ";
              }
              cycle += "[" + ref_key(t->key) + "]";
              const std::string message =
                  "invalid route: delegation cycle detected: " + cycle +
                  " (remove one of these delegations to break the cycle)";
              // Gloo blames only the table that closes the cycle; every table on it is part of
              // the problem, and any of them may be the one to fix, so each is told.
              for (auto k = pos; k != chain.end(); ++k) {
                report_error(report_, *k, message);
              }
              add_error(t->key, message);
              continue;
            }
            auto next_chain = chain;
            next_chain.push_back(t->key);
            auto sub = visit(t->key, rt.metadata().generation(), rt.routes(), &info, next_chain);
            std::move(sub.begin(), sub.end(), std::back_inserter(group_routes));
          }
          // Sorting protects against short-circuiting when several tables share a weight; a single
          // table's order is the user's (Gloo #2529).
          if (group.size() > 1) {
            sort_routes_by_path(group_routes);
          }
          std::move(group_routes.begin(), group_routes.end(), std::back_inserter(out));
        }
        break;
      }
      case gw::Route::kRouteAction:
      case gw::Route::kRedirectAction:
      case gw::Route::kDirectResponseAction: {
        gl::Route g;
        if (route.matchers_size() == 0) {
          *g.add_matchers() = default_matcher();
        } else {
          *g.mutable_matchers() = route.matchers();
        }
        if (route.has_options()) {
          *g.mutable_options() = route.options();
        }
        if (named) {
          g.set_name(name);
        }
        if (route.has_route_action()) {
          auto* action = g.mutable_route_action();
          *action = route.route_action();
          // Refs without a namespace mean the namespace of the resource holding the route.
          if (action->has_single()) {
            fill_upstream_namespace(*action->mutable_single(), owner.ns);
          }
          if (action->has_multi()) {
            for (auto& d : *action->mutable_multi()->mutable_destinations()) {
              fill_upstream_namespace(*d.mutable_destination(), owner.ns);
            }
          }
          if (action->has_upstream_group() && action->upstream_group().namespace_().empty()) {
            action->mutable_upstream_group()->set_namespace_(owner.ns);
          }
        } else if (route.has_redirect_action()) {
          *g.mutable_redirect_action() = route.redirect_action();
        } else {
          *g.mutable_direct_response_action() = route.direct_response_action();
        }
        out.push_back(std::move(g));
        break;
      }
      case gw::Route::kGraphqlApiRef:
        add_warning(owner, "route " + name +
                               ": graphqlApiRef routes are not supported; route "
                               "ignored");
        break;
      case gw::Route::ACTION_NOT_SET:
        add_error(owner, no_action_error);
        break;
    }
  }
  for (auto& r : out) {
    add_source(*r.mutable_metadata_static(), owner, owner_generation);
  }
  return out;
}

}  // namespace sluice::model
