#include "xds/envoy_routes.hpp"

#include <re2/re2.h>

#include <cctype>
#include <utility>
#include <variant>

#include "model/gateway_attribution.hpp"
#include "xds/envoy_common.hpp"

namespace sluice::xds {

namespace {

namespace gl = ::gloo::solo::io;
namespace route_v3 = envoy::config::route::v3;
namespace core_v3 = envoy::config::core::v3;
namespace matcher_v3 = envoy::type::matcher::v3;
using model::resource_key;
using model::resource_kind;

// Where findings about one Proxy route go: the VirtualService(s) of the virtual host and, for a
// delegated route, the RouteTable that holds it.
struct blame {
  std::vector<resource_key> owners;
};

void blame_error(const route_context& ctx, const blame& b, const std::string& message) {
  for (const auto& k : b.owners) {
    model::report_error(ctx.report, k, message);
  }
}

void blame_warning(const route_context& ctx, const blame& b, const std::string& message) {
  for (const auto& k : b.owners) {
    model::report_warning(ctx.report, k, message);
  }
}

// --- deprecated Envoy fields, used on purpose ---------------------------------------------------
// google_re2 is the only engine older Envoys accept (newer ones default to it); exact_match /
// safe_regex_match are what gRPC C-core 1.51 understands; total_weight is what C-core 1.51 checks
// the weight sum against.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"

matcher_v3::RegexMatcher re2_matcher(const std::string& regex) {
  matcher_v3::RegexMatcher m;
  m.mutable_google_re2();
  m.set_regex(regex);
  return m;
}

void set_header_exact(route_v3::HeaderMatcher& h, const std::string& value,
                      header_matcher_style style) {
  if (style == header_matcher_style::legacy) {
    h.set_exact_match(value);
  } else {
    h.mutable_string_match()->set_exact(value);
  }
}

void set_header_regex(route_v3::HeaderMatcher& h, const std::string& regex,
                      header_matcher_style style) {
  if (style == header_matcher_style::legacy) {
    *h.mutable_safe_regex_match() = re2_matcher(regex);
  } else {
    *h.mutable_string_match()->mutable_safe_regex() = re2_matcher(regex);
  }
}

void set_total_weight(route_v3::WeightedCluster& w, uint32_t total) {
  w.mutable_total_weight()->set_value(total);
}

#pragma GCC diagnostic pop

// Gloo's ValidateRoutePath (GLTR/route_config.go): RFC 3986 path characters, no dot segments, no
// double or encoded slashes, no fragment.
std::optional<std::string> path_problem(const std::string& path) {
  static const std::string allowed = "/-._~!$&'()*+,;=:@%";
  for (size_t i = 0; i < path.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(path[i]);
    if (std::isalnum(c) == 0 && allowed.find(static_cast<char>(c)) == std::string::npos) {
      return "path " + path + " contains the character '" + std::string(1, path[i]) +
             "', which is not allowed in a URL path";
    }
    if (c == '%' &&
        (i + 2 >= path.size() || std::isxdigit(static_cast<unsigned char>(path[i + 1])) == 0 ||
         std::isxdigit(static_cast<unsigned char>(path[i + 2])) == 0)) {
      return "path " + path + " has a '%' that does not start a percent-encoded byte";
    }
  }
  for (const char* bad : {"//", "/./", "/../", "%2f", "%2F", "#"}) {
    if (path.find(bad) != std::string::npos) {
      return "path " + path + " must not contain " + bad;
    }
  }
  auto ends_with = [&](std::string_view s) {
    return path.size() >= s.size() && path.compare(path.size() - s.size(), s.size(), s) == 0;
  };
  if (ends_with("/..") || ends_with("/.")) {
    return "path " + path + " must not end with a dot segment";
  }
  return std::nullopt;
}

// Envoy rejects the whole RouteConfiguration when a route adds or removes a pseudo-header or
// Host, so such a route is refused here instead.
std::optional<std::string> header_name_problem(const std::string& name) {
  if (name.empty()) {
    return std::string("header manipulation needs a header name");
  }
  std::string lower;
  for (char c : name) {
    lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  if (lower[0] == ':' || lower == "host") {
    return "header " + name + " cannot be added or removed by a route";
  }
  return std::nullopt;
}

// Header manipulation on a route, weighted cluster or virtual host; all three have the same four
// fields in Envoy.
template <class Target>
std::optional<std::string> apply_headers(const gl::HeaderManipulation& hm, Target& out,
                                         const route_context& ctx, const blame& b) {
  auto add = [&](const gl::HeaderValueOption& in,
                 core_v3::HeaderValueOption& h) -> std::optional<std::string> {
    if (auto p = header_name_problem(in.header().key())) {
      return p;
    }
    h.mutable_header()->set_key(in.header().key());
    h.mutable_header()->set_value(in.header().value());
    if (in.has_append() && !in.append().value()) {
      h.set_append_action(core_v3::HeaderValueOption::OVERWRITE_IF_EXISTS_OR_ADD);
    }
    return std::nullopt;
  };
  for (const auto& in : hm.request_headers_to_add()) {
    if (in.has_header_secret_ref()) {
      blame_warning(ctx, b, "headerSecretRef is not supported yet: header ignored");
      continue;
    }
    if (auto p = add(in, *out.add_request_headers_to_add())) {
      return p;
    }
  }
  for (const auto& in : hm.response_headers_to_add()) {
    if (auto p = add(in, *out.add_response_headers_to_add())) {
      return p;
    }
  }
  for (const auto& name : hm.request_headers_to_remove()) {
    if (auto p = header_name_problem(name)) {
      return p;
    }
    out.add_request_headers_to_remove(name);
  }
  for (const auto& name : hm.response_headers_to_remove()) {
    if (auto p = header_name_problem(name)) {
      return p;
    }
    out.add_response_headers_to_remove(name);
  }
  return std::nullopt;
}

std::variant<route_v3::RetryPolicy, std::string> retry_policy(const gl::RetryPolicy& in) {
  route_v3::RetryPolicy p;
  p.set_retry_on(in.retry_on());
  // 0 is left unset: Envoy then retries once, and gRPC C-core 1.51 NACKs an explicit 0.
  if (in.num_retries() > 0) {
    p.mutable_num_retries()->set_value(in.num_retries());
  }
  if (in.has_per_try_timeout()) {
    *p.mutable_per_try_timeout() = in.per_try_timeout();
  }
  if (in.has_retry_back_off()) {
    const auto& bo = in.retry_back_off();
    if (!bo.has_base_interval() || millis(bo.base_interval()) < 1) {
      return std::string("retryBackOff.baseInterval must be at least 1ms");
    }
    if (bo.has_max_interval() && millis(bo.max_interval()) < millis(bo.base_interval())) {
      return std::string("retryBackOff.maxInterval must not be less than baseInterval");
    }
    *p.mutable_retry_back_off()->mutable_base_interval() = bo.base_interval();
    if (bo.has_max_interval()) {
      *p.mutable_retry_back_off()->mutable_max_interval() = bo.max_interval();
    }
  }
  *p.mutable_retriable_status_codes() = in.retriable_status_codes();
  return p;
}

matcher_v3::RegexMatchAndSubstitute regex_rewrite(const gl::RegexMatchAndSubstitute& in) {
  matcher_v3::RegexMatchAndSubstitute out;
  *out.mutable_pattern() = re2_matcher(in.pattern().regex());
  out.set_substitution(in.substitution());
  return out;
}

// Builds the Envoy routes of one Proxy virtual host.
class route_builder {
 public:
  route_builder(const route_context& ctx, std::string vhost_name, blame vs_blame)
      : ctx_(ctx), vhost_name_(std::move(vhost_name)), vs_blame_(std::move(vs_blame)) {}

  void add(const gl::Route& r, int index, route_v3::VirtualHost& out);

 private:
  using problem = std::optional<std::string>;

  problem build_match(const gl::Matcher& m, route_v3::RouteMatch& out) const;
  problem build_action(const gl::Route& r, route_v3::Route& out, const blame& b,
                       const std::string& label) const;
  problem build_route_action(const gl::RouteAction& a, route_v3::Route& out, const blame& b,
                             const std::string& label) const;
  problem build_weighted(const gl::MultiDestination& multi, route_v3::Route& out, const blame& b,
                         const std::string& label) const;
  problem apply_options(const gl::RouteOptions& o, route_v3::Route& out, const blame& b) const;
  resolved_destination resolve(const gl::Destination& d) const {
    return resolve_destination(d, ctx_.world, ctx_.clusters);
  }
  void replace_with_invalid_response(route_v3::Route& out, const blame& b, const std::string& label,
                                     const std::string& why) const;
  problem check_regex(const std::string& regex) const {
    return regex_problem(regex, ctx_.options.regex_max_program_size);
  }

  const route_context& ctx_;
  std::string vhost_name_;
  blame vs_blame_;
};

route_builder::problem route_builder::build_match(const gl::Matcher& m,
                                                  route_v3::RouteMatch& out) const {
  const auto style = ctx_.header_style;
  switch (m.path_specifier_case()) {
    case gl::Matcher::kPrefix:
      if (auto p = path_problem(m.prefix())) {
        return p;
      }
      out.set_prefix(m.prefix());
      break;
    case gl::Matcher::kExact:
      if (auto p = path_problem(m.exact())) {
        return p;
      }
      out.set_path(m.exact());
      break;
    case gl::Matcher::kRegex:
      if (auto p = check_regex(m.regex())) {
        return "path regex: " + *p;
      }
      *out.mutable_safe_regex() = re2_matcher(m.regex());
      break;
    case gl::Matcher::kConnectMatcher:
      out.mutable_connect_matcher();
      break;
    case gl::Matcher::PATH_SPECIFIER_NOT_SET:
      // A matcher with only headers / methods / query parameters means "any path".
      out.set_prefix("/");
      break;
  }
  if (m.has_case_sensitive()) {
    out.mutable_case_sensitive()->set_value(m.case_sensitive().value());
  }
  for (const auto& in : m.headers()) {
    auto* h = out.add_headers();
    h->set_name(in.name());
    if (in.value().empty()) {
      h->set_present_match(true);
    } else if (in.regex()) {
      if (auto p = check_regex(in.value())) {
        return "header " + in.name() + " regex: " + *p;
      }
      set_header_regex(*h, in.value(), style);
    } else {
      set_header_exact(*h, in.value(), style);
    }
    h->set_invert_match(in.invert_match());
  }
  for (const auto& in : m.query_parameters()) {
    auto* q = out.add_query_parameters();
    q->set_name(in.name());
    if (in.value().empty()) {
      q->set_present_match(true);
    } else if (in.regex()) {
      if (auto p = check_regex(in.value())) {
        return "query parameter " + in.name() + " regex: " + *p;
      }
      *q->mutable_string_match()->mutable_safe_regex() = re2_matcher(in.value());
    } else {
      q->mutable_string_match()->set_exact(in.value());
    }
  }
  if (!m.methods().empty()) {
    std::string regex;
    for (const auto& method : m.methods()) {
      regex += (regex.empty() ? "" : "|") + method;
    }
    if (auto p = check_regex(regex)) {
      return "methods: " + *p;
    }
    auto* h = out.add_headers();
    h->set_name(":method");
    set_header_regex(*h, regex, style);
  }
  return std::nullopt;
}

void route_builder::replace_with_invalid_response(route_v3::Route& out, const blame& b,
                                                  const std::string& label,
                                                  const std::string& why) const {
  // Gloo leaves a dangling cluster name here (Envoy answers 503 "no healthy upstream"); sluice
  // never serves a reference to a missing cluster, and says so on the VirtualService.
  out.clear_action();
  auto* dr = out.mutable_direct_response();
  dr->set_status(ctx_.options.invalid_route_status);
  if (!ctx_.options.invalid_route_body.empty()) {
    dr->mutable_body()->set_inline_string(ctx_.options.invalid_route_body);
  }
  blame_warning(ctx_, b,
                "route " + label + ": " + why + "; the route answers " +
                    std::to_string(ctx_.options.invalid_route_status) + " until it does");
}

void set_subset(const gl::Destination& d, core_v3::Metadata& md) {
  auto& fields = *(*md.mutable_filter_metadata())["envoy.lb"].mutable_fields();
  for (const auto& [k, v] : d.subset().values()) {
    fields[k].set_string_value(v);
  }
}

route_builder::problem route_builder::build_weighted(const gl::MultiDestination& multi,
                                                     route_v3::Route& out, const blame& b,
                                                     const std::string& label) const {
  if (multi.destinations().empty()) {
    return std::string("weighted destinations: the list is empty");
  }
  uint64_t sum = 0;
  for (const auto& wd : multi.destinations()) {
    sum += wd.has_weight() ? wd.weight().value() : 0;
  }
  if (sum < 1) {
    return std::string(
        "Weighted Destinations require a total weight that is greater than or equal to 1");
  }
  if (sum > UINT32_MAX) {
    return std::string("weighted destinations: the total weight exceeds 4294967295");
  }
  route_v3::WeightedCluster weighted;
  for (const auto& wd : multi.destinations()) {
    auto cluster = resolve(wd.destination());
    if (!cluster.problem.empty()) {
      replace_with_invalid_response(out, b, label, cluster.problem);
      return std::nullopt;
    }
    auto* cw = weighted.add_clusters();
    cw->set_name(cluster.cluster);
    cw->mutable_weight()->set_value(wd.has_weight() ? wd.weight().value() : 0);
    if (wd.destination().has_subset()) {
      set_subset(wd.destination(), *cw->mutable_metadata_match());
    }
    if (wd.options().has_header_manipulation()) {
      if (auto p = apply_headers(wd.options().header_manipulation(), *cw, ctx_, b)) {
        return p;
      }
    }
  }
  set_total_weight(weighted, static_cast<uint32_t>(sum));
  *out.mutable_route()->mutable_weighted_clusters() = std::move(weighted);
  return std::nullopt;
}

route_builder::problem route_builder::build_route_action(const gl::RouteAction& a,
                                                         route_v3::Route& out, const blame& b,
                                                         const std::string& label) const {
  switch (a.destination_case()) {
    case gl::RouteAction::kSingle: {
      auto cluster = resolve(a.single());
      if (!cluster.problem.empty()) {
        replace_with_invalid_response(out, b, label, cluster.problem);
        return std::nullopt;
      }
      auto* ra = out.mutable_route();
      ra->set_cluster(cluster.cluster);
      if (a.single().has_subset()) {
        set_subset(a.single(), *ra->mutable_metadata_match());
      }
      return std::nullopt;
    }
    case gl::RouteAction::kMulti:
      return build_weighted(a.multi(), out, b, label);
    case gl::RouteAction::kUpstreamGroup: {
      resource_key key{resource_kind::upstream_group, a.upstream_group().namespace_(),
                       a.upstream_group().name()};
      const auto* group = ctx_.groups.find(key);
      if (group == nullptr) {
        replace_with_invalid_response(
            out, b, label,
            "upstream group " + model::ref_key(key) +
                (ctx_.world.find(key) ? " is invalid (see its status)" : " does not exist"));
        return std::nullopt;
      }
      return build_weighted(*group, out, b, label);
    }
    case gl::RouteAction::kClusterHeader:
      if (a.cluster_header().empty()) {
        return std::string("clusterHeader must name a header");
      }
      out.mutable_route()->set_cluster_header(a.cluster_header());
      return std::nullopt;
    case gl::RouteAction::kDynamicForwardProxy:
      replace_with_invalid_response(out, b, label, "dynamicForwardProxy is not supported yet");
      return std::nullopt;
    case gl::RouteAction::DESTINATION_NOT_SET:
      return std::string("routeAction must set a destination");
  }
  return std::nullopt;
}

route_builder::problem route_builder::build_action(const gl::Route& r, route_v3::Route& out,
                                                   const blame& b, const std::string& label) const {
  switch (r.action_case()) {
    case gl::Route::kRouteAction:
      return build_route_action(r.route_action(), out, b, label);
    case gl::Route::kRedirectAction: {
      const auto& in = r.redirect_action();
      auto* rd = out.mutable_redirect();
      rd->set_host_redirect(in.host_redirect());
      switch (in.path_rewrite_specifier_case()) {
        case gl::RedirectAction::kPathRedirect:
          if (auto p = path_problem(in.path_redirect())) {
            return "pathRedirect: " + *p;
          }
          rd->set_path_redirect(in.path_redirect());
          break;
        case gl::RedirectAction::kPrefixRewrite:
          if (auto p = path_problem(in.prefix_rewrite())) {
            return "prefixRewrite: " + *p;
          }
          rd->set_prefix_rewrite(in.prefix_rewrite());
          break;
        case gl::RedirectAction::kRegexRewrite:
          if (auto p = check_regex(in.regex_rewrite().pattern().regex())) {
            return "regexRewrite: " + *p;
          }
          *rd->mutable_regex_rewrite() = regex_rewrite(in.regex_rewrite());
          break;
        case gl::RedirectAction::PATH_REWRITE_SPECIFIER_NOT_SET:
          break;
      }
      // Gloo's enum numbers equal Envoy's (301, 302, 303, 307, 308).
      rd->set_response_code(
          static_cast<route_v3::RedirectAction::RedirectResponseCode>(in.response_code()));
      if (in.https_redirect()) {
        rd->set_https_redirect(true);
      }
      rd->set_strip_query(in.strip_query());
      rd->set_port_redirect(in.port_redirect());
      return std::nullopt;
    }
    case gl::Route::kDirectResponseAction: {
      const auto& in = r.direct_response_action();
      // Out-of-range statuses and bodies over Envoy's default 4 KiB limit would make Envoy reject
      // the whole RouteConfiguration (every VirtualService on the listener).
      if (in.status() < 200 || in.status() >= 600) {
        return "direct response status " + std::to_string(in.status()) + " is outside [200, 600)";
      }
      if (in.body().size() > 4096) {
        return std::string("direct response body is larger than 4096 bytes");
      }
      auto* dr = out.mutable_direct_response();
      dr->set_status(in.status());
      if (!in.body().empty()) {
        dr->mutable_body()->set_inline_string(in.body());
      }
      return std::nullopt;
    }
    case gl::Route::ACTION_NOT_SET:
      return std::string("invalid route: route must specify an action");
  }
  return std::nullopt;
}

route_builder::problem route_builder::apply_options(const gl::RouteOptions& o, route_v3::Route& out,
                                                    const blame& b) const {
  // Basic options apply to forwarding routes only; Gloo silently skips them on redirect and
  // direct-response routes (including routes replaced because their destination is missing).
  if (out.has_route()) {
    auto* ra = out.mutable_route();
    if (o.has_prefix_rewrite() && o.has_regex_rewrite()) {
      return std::string("prefixRewrite and regexRewrite cannot both be set");
    }
    if (o.has_prefix_rewrite()) {
      if (auto p = path_problem(o.prefix_rewrite().value())) {
        return "prefixRewrite: " + *p;
      }
      ra->set_prefix_rewrite(o.prefix_rewrite().value());
    }
    if (o.has_regex_rewrite()) {
      if (auto p = check_regex(o.regex_rewrite().pattern().regex())) {
        return "regexRewrite: " + *p;
      }
      *ra->mutable_regex_rewrite() = regex_rewrite(o.regex_rewrite());
    }
    if (o.has_timeout()) {
      *ra->mutable_timeout() = o.timeout();
    }
    if (o.has_idle_timeout()) {
      *ra->mutable_idle_timeout() = o.idle_timeout();
    }
    if (o.has_retries()) {
      auto p = retry_policy(o.retries());
      if (auto* why = std::get_if<std::string>(&p)) {
        return "retries: " + *why;
      }
      *ra->mutable_retry_policy() = std::get<route_v3::RetryPolicy>(std::move(p));
    }
    switch (o.host_rewrite_type_case()) {
      case gl::RouteOptions::kHostRewrite:
        ra->set_host_rewrite_literal(o.host_rewrite());
        break;
      case gl::RouteOptions::kAutoHostRewrite:
        ra->mutable_auto_host_rewrite()->set_value(o.auto_host_rewrite().value());
        break;
      case gl::RouteOptions::kHostRewritePathRegex:
        if (auto p = check_regex(o.host_rewrite_path_regex().pattern().regex())) {
          return "hostRewritePathRegex: " + *p;
        }
        *ra->mutable_host_rewrite_path_regex() = regex_rewrite(o.host_rewrite_path_regex());
        break;
      case gl::RouteOptions::kHostRewriteHeader:
        ra->set_host_rewrite_header(o.host_rewrite_header());
        break;
      case gl::RouteOptions::HOST_REWRITE_TYPE_NOT_SET:
        break;
    }
    if (o.has_append_x_forwarded_host()) {
      ra->set_append_x_forwarded_host(o.append_x_forwarded_host().value());
    }
  }
  if (o.has_header_manipulation()) {
    if (auto p = apply_headers(o.header_manipulation(), out, ctx_, b)) {
      return "headerManipulation: " + *p;
    }
  }
  return std::nullopt;
}

void route_builder::add(const gl::Route& r, int index, route_v3::VirtualHost& out) {
  blame b = vs_blame_;
  // Only the table holding the route (the first RouteTable source: sources are recorded from
  // the deepest table outwards) is blamed besides the VirtualService.
  auto tables = model::sources_of(r.metadata_static(), resource_kind::route_table);
  if (!tables.empty()) {
    b.owners.push_back(tables.front());
  }
  std::string prefix = vhost_name_ + "-route-" + std::to_string(index);
  if (!r.name().empty()) {
    prefix += "-" + r.name();
  }
  const std::string label = r.name().empty() ? prefix : r.name();

  route_v3::Route base;
  auto fail = [&](const std::string& why) {
    blame_error(ctx_, b, "route " + label + " dropped: " + why);
  };
  if (auto p = build_action(r, base, b, label)) {
    return fail(*p);
  }
  if (r.has_options()) {
    if (auto p = apply_options(r.options(), base, b)) {
      return fail(*p);
    }
  }
  std::vector<route_v3::Route> built;
  const int matchers = std::max(1, r.matchers_size());
  for (int j = 0; j < matchers; ++j) {
    route_v3::Route er = base;
    er.set_name(prefix + "-matcher-" + std::to_string(j));
    if (r.matchers_size() == 0) {
      er.mutable_match()->set_prefix("/");
    } else if (auto p = build_match(r.matchers(j), *er.mutable_match())) {
      return fail(*p);
    }
    built.push_back(std::move(er));
  }
  for (auto& er : built) {
    *out.add_routes() = std::move(er);
  }
}

}  // namespace

std::optional<std::string> regex_problem(const std::string& regex, uint32_t max_program_size) {
  RE2 re(regex, RE2::Quiet);
  if (!re.ok()) {
    return "RE2 rejects regex \"" + regex + "\": " + re.error();
  }
  if (max_program_size > 0 && re.ProgramSize() > static_cast<int>(max_program_size)) {
    return "regex \"" + regex + "\" has program size " + std::to_string(re.ProgramSize()) +
           ", over the limit of " + std::to_string(max_program_size);
  }
  return std::nullopt;
}

resolved_destination resolve_destination(const gl::Destination& d, const model::world& w,
                                         const cluster_translation& clusters) {
  resource_key key{resource_kind::upstream, "", ""};
  switch (d.destination_type_case()) {
    case gl::Destination::kUpstream:
      key.ns = d.upstream().namespace_();
      key.name = d.upstream().name();
      break;
    case gl::Destination::kKube:
      // Gloo's in-memory upstream for a kube destination (upstreams/kubernetes/conversions.go).
      key.ns = d.kube().ref().namespace_();
      key.name = "kube-svc:" + d.kube().ref().namespace_() + "-" + d.kube().ref().name() + "-" +
                 std::to_string(d.kube().port());
      break;
    case gl::Destination::kConsul:
      // Gloo's in-memory upstream for a consul destination (upstreams/consul/conversions.go).
      key.ns = "gloo-system";
      key.name = "consul-svc:" + d.consul().service_name();
      break;
    case gl::Destination::DESTINATION_TYPE_NOT_SET:
      return {"", "the destination names no upstream"};
  }
  if (w.find(key) == nullptr) {
    return {"", "upstream " + model::ref_key(key) + " does not exist"};
  }
  auto name = cluster_name(key.name, key.ns);
  if (!clusters.has_cluster(name)) {
    return {"", "upstream " + model::ref_key(key) + " has no cluster (see its status)"};
  }
  return {std::move(name), ""};
}

upstream_group_index::upstream_group_index(const model::world& w,
                                           model::translation_report& report) {
  for (const auto& [nn, stored] : w.of(resource_kind::upstream_group)) {
    const auto& key = stored.key;
    const auto& g = static_cast<const gl::UpstreamGroup&>(*stored.message);
    report.touch(key);
    gl::MultiDestination multi;
    bool ok = true;
    for (int i = 0; i < g.destinations_size(); ++i) {
      auto wd = g.destinations(i);
      if (!wd.has_destination()) {
        model::report_error(report, key,
                            "destinations[" + std::to_string(i) + "] has no destination");
        ok = false;
        continue;
      }
      auto* d = wd.mutable_destination();
      if (d->has_upstream()) {
        // A ref without namespace means the group's namespace (GLTR/upstream_groups.go).
        if (d->upstream().namespace_().empty()) {
          d->mutable_upstream()->set_namespace_(key.ns);
        }
        const auto& ref = d->upstream();
        if (w.find(resource_kind::upstream, ref.namespace_(), ref.name()) == nullptr) {
          model::report_error(report, key,
                              "destinations[" + std::to_string(i) + "]: upstream " +
                                  model::ref_key(ref.namespace_(), ref.name()) + " not found");
          ok = false;
        }
      }
      *multi.add_destinations() = std::move(wd);
    }
    if (ok) {
      groups_.emplace(key, std::move(multi));
    } else {
      groups_.emplace(key, std::nullopt);
    }
  }
}

const gl::MultiDestination* upstream_group_index::find(const resource_key& key) const {
  auto i = groups_.find(key);
  if (i == groups_.end() || !i->second) {
    return nullptr;
  }
  return &*i->second;
}

route_v3::VirtualHost translate_virtual_host(const gl::VirtualHost& vhost, const route_context& ctx,
                                             bool require_tls) {
  route_v3::VirtualHost out;
  const auto name = envoy_virtual_host_name(vhost.name());
  out.set_name(name);
  if (vhost.domains().empty()) {
    out.add_domains("*");
  } else {
    *out.mutable_domains() = vhost.domains();
  }
  if (require_tls) {
    out.set_require_tls(route_v3::VirtualHost::ALL);
  }
  blame vs{model::sources_of(vhost.metadata_static(), resource_kind::virtual_service)};
  route_builder builder(ctx, name, vs);
  for (int i = 0; i < vhost.routes_size(); ++i) {
    builder.add(vhost.routes(i), i, out);
  }
  if (vhost.has_options()) {
    const auto& o = vhost.options();
    if (o.has_retries()) {
      auto p = retry_policy(o.retries());
      if (auto* why = std::get_if<std::string>(&p)) {
        blame_error(ctx, vs, "virtual host retries ignored: " + *why);
      } else {
        *out.mutable_retry_policy() = std::get<route_v3::RetryPolicy>(std::move(p));
      }
    }
    if (o.has_header_manipulation()) {
      route_v3::VirtualHost scratch;
      if (auto p = apply_headers(o.header_manipulation(), scratch, ctx, vs)) {
        blame_error(ctx, vs, "virtual host headerManipulation ignored: " + *p);
      } else {
        out.mutable_request_headers_to_add()->MergeFrom(scratch.request_headers_to_add());
        out.mutable_request_headers_to_remove()->MergeFrom(scratch.request_headers_to_remove());
        out.mutable_response_headers_to_add()->MergeFrom(scratch.response_headers_to_add());
        out.mutable_response_headers_to_remove()->MergeFrom(scratch.response_headers_to_remove());
      }
    }
    if (o.include_request_attempt_count().value()) {
      out.set_include_request_attempt_count(true);
    }
    if (o.include_attempt_count_in_response().value()) {
      out.set_include_attempt_count_in_response(true);
    }
  }
  return out;
}

}  // namespace sluice::xds
