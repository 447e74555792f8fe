#include "xds/envoy_routes.hpp"

#include <re2/re2.h>

#include <algorithm>
#include <cctype>
#include <set>
#include <utility>
#include <variant>

#include "envoy/extensions/filters/http/cors/v3/cors.pb.h"
#include "envoy/extensions/filters/http/ext_authz/v3/ext_authz.pb.h"
#include "envoy/extensions/filters/http/fault/v3/fault.pb.h"
#include "model/gateway_attribution.hpp"
#include "model/gateway_settings.hpp"
#include "solo/enterprise.pb.h"
#include "xds/envoy_common.hpp"

namespace sluice::xds {

namespace {

namespace gl = ::gloo::solo::io;
namespace pb = google::protobuf;
namespace route_v3 = envoy::config::route::v3;
namespace core_v3 = envoy::config::core::v3;
namespace matcher_v3 = envoy::type::matcher::v3;
namespace cors_v3 = envoy::extensions::filters::http::cors::v3;
namespace fault_v3 = envoy::extensions::filters::http::fault::v3;
namespace authz_v3 = envoy::extensions::filters::http::ext_authz::v3;
using model::resource_key;
using model::resource_kind;

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
// fields in Envoy. `unsupported` collects what is ignored.
template <class Target>
std::optional<std::string> apply_headers(const gl::HeaderManipulation& hm, Target& out,
                                         std::vector<std::string>& unsupported) {
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
      unsupported.emplace_back("headerSecretRef is not supported yet: that header is not added");
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

// Gloo's CORS plugin: origins match exactly or by RE2 regex, lists are joined with ",".
std::variant<cors_v3::CorsPolicy, std::string> cors_policy(const gl::CorsPolicy& in,
                                                           uint32_t max_program_size,
                                                           bool route_level) {
  cors_v3::CorsPolicy out;
  for (const auto& o : in.allow_origin()) {
    out.add_allow_origin_string_match()->set_exact(o);
  }
  for (const auto& o : in.allow_origin_regex()) {
    if (auto p = regex_problem(o, max_program_size)) {
      return "cors.allowOriginRegex: " + *p;
    }
    *out.add_allow_origin_string_match()->mutable_safe_regex() = re2_matcher(o);
  }
  auto join = [](const pb::RepeatedPtrField<std::string>& list) {
    std::string s;
    for (const auto& x : list) {
      s += (s.empty() ? "" : ",") + x;
    }
    return s;
  };
  out.set_allow_methods(join(in.allow_methods()));
  out.set_allow_headers(join(in.allow_headers()));
  out.set_expose_headers(join(in.expose_headers()));
  out.set_max_age(in.max_age());
  if (in.allow_credentials()) {
    out.mutable_allow_credentials()->set_value(true);
  }
  if (route_level && in.disable_for_route()) {
    // Gloo: the virtual host's policy is switched off for this route.
    auto* enabled = out.mutable_filter_enabled()->mutable_default_value();
    enabled->set_numerator(0);
    enabled->set_denominator(envoy::type::v3::FractionalPercent::HUNDRED);
  }
  return out;
}

// Gloo's ToEnvoyPercentage: a float percentage becomes parts per million (truncated, as Go's
// uint32 conversion does).
envoy::type::v3::FractionalPercent fractional_percent(float percentage) {
  envoy::type::v3::FractionalPercent out;
  out.set_numerator(static_cast<uint32_t>(percentage * 10000.0f));
  out.set_denominator(envoy::type::v3::FractionalPercent::MILLION);
  return out;
}

std::variant<fault_v3::HTTPFault, std::string> http_fault(const gl::RouteFaults& in) {
  fault_v3::HTTPFault out;
  if (in.has_abort()) {
    const auto& a = in.abort();
    if (a.percentage() < 0 || a.percentage() > 100) {
      return std::string("faults.abort.percentage must be between 0 and 100");
    }
    if (a.http_status() < 200 || a.http_status() >= 600) {
      return "faults.abort.httpStatus must be between 200 and 599, got " +
             std::to_string(a.http_status());
    }
    out.mutable_abort()->set_http_status(a.http_status());
    *out.mutable_abort()->mutable_percentage() = fractional_percent(a.percentage());
  }
  if (in.has_delay()) {
    const auto& d = in.delay();
    if (d.percentage() < 0 || d.percentage() > 100) {
      return std::string("faults.delay.percentage must be between 0 and 100");
    }
    if (!d.has_fixed_delay() || millis(d.fixed_delay()) <= 0) {
      return std::string("faults.delay.fixedDelay must be greater than zero");
    }
    *out.mutable_delay()->mutable_fixed_delay() = d.fixed_delay();
    *out.mutable_delay()->mutable_percentage() = fractional_percent(d.percentage());
  }
  return out;
}

void put_filter_config(pb::Map<std::string, pb::Any>& configs, const char* filter,
                       const pb::Message& m) {
  configs[filter] = pack(m);
}

// Findings about one virtual host: the VirtualService(s) it came from, and for a delegated route
// the RouteTable that holds it. Tracks whether anything was an error (the vhost is then rejected).
class blame_sink {
 public:
  blame_sink(model::translation_report& report, std::vector<resource_key> owners)
      : report_(report), owners_(std::move(owners)) {}

  void error(const std::vector<resource_key>& extra, const std::string& message) {
    rejected_ = true;
    for (const auto& k : owners_) {
      model::report_error(report_, k, message);
    }
    for (const auto& k : extra) {
      model::report_error(report_, k, message);
    }
  }
  void warning(const std::vector<resource_key>& extra, const std::string& message) {
    for (const auto& k : owners_) {
      model::report_warning(report_, k, message);
    }
    for (const auto& k : extra) {
      model::report_warning(report_, k, message);
    }
  }
  bool rejected() const { return rejected_; }
  model::translation_report& report() { return report_; }

 private:
  model::translation_report& report_;
  std::vector<resource_key> owners_;
  bool rejected_ = false;
};

constexpr const char* not_served = " (the virtual host is not served until this is fixed)";

// Builds the Envoy routes of one Proxy virtual host.
class route_builder {
 public:
  route_builder(const route_context& ctx, std::string vhost_name, std::string owner_ns,
                blame_sink& blame)
      : ctx_(ctx),
        vhost_name_(std::move(vhost_name)),
        owner_ns_(std::move(owner_ns)),
        blame_(blame) {}

  void add(const gl::Route& r, int index, const gl::VirtualHostOptions* vhost_options,
           route_v3::VirtualHost& out);

  /// The ext_authz per-filter config for an ExtAuthExtension, or the problem; nullopt config
  /// with no problem means "nothing to configure". `source_type` / `source_name` go to the
  /// auth server as context extensions (Gloo).
  std::variant<std::optional<authz_v3::ExtAuthzPerRoute>, std::string> ext_auth(
      const gl::ExtAuthExtension& e, const std::string& source_type,
      const std::string& source_name) const;

  http_filter_use filters;

 private:
  using problem = std::optional<std::string>;

  problem build_match(const gl::Matcher& m, route_v3::RouteMatch& out) const;
  problem build_action(const gl::Route& r, route_v3::Route& out, const std::string& label,
                       std::vector<resource_key> extra);
  problem build_route_action(const gl::RouteAction& a, route_v3::Route& out,
                             const std::string& label, const std::vector<resource_key>& extra);
  problem build_weighted(const gl::MultiDestination& multi, route_v3::Route& out,
                         const std::string& label, const std::vector<resource_key>& extra);
  problem apply_options(const gl::RouteOptions& o, route_v3::Route& out, const std::string& label,
                        const std::vector<resource_key>& extra);
  problem check_subset(const gl::Destination& d) const;
  resolved_destination resolve(const gl::Destination& d) const {
    return resolve_destination(d, ctx_.world, ctx_.clusters);
  }
  void set_destination_metadata(const gl::Destination& d, core_v3::Metadata& md) const;
  void replace_with_invalid_response(route_v3::Route& out, const std::vector<resource_key>& extra,
                                     const std::string& label, const std::string& why) const;
  problem check_regex(const std::string& regex) const {
    return regex_problem(regex, ctx_.options.regex_max_program_size);
  }

  const route_context& ctx_;
  std::string vhost_name_;
  std::string owner_ns_;
  blame_sink& blame_;
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
    if (in.name().empty()) {
      return std::string("a header matcher needs a name");
    }
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
    if (in.name().empty()) {
      return std::string("a query parameter matcher needs a name");
    }
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

void route_builder::replace_with_invalid_response(route_v3::Route& out,
                                                  const std::vector<resource_key>& extra,
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
  blame_.warning(extra, "route " + label + ": " + why + "; the route answers " +
                            std::to_string(ctx_.options.invalid_route_status) + " until it does");
}

// The upstream an upstream/kube/consul destination names (as resolve_destination computes it).
const gl::Upstream* destination_upstream(const gl::Destination& d, const model::world& w) {
  switch (d.destination_type_case()) {
    case gl::Destination::kUpstream:
      return w.get<gl::Upstream>(resource_kind::upstream, d.upstream().namespace_(),
                                 d.upstream().name());
    case gl::Destination::kKube:
      return w.get<gl::Upstream>(resource_kind::upstream, d.kube().ref().namespace_(),
                                 "kube-svc:" + d.kube().ref().namespace_() + "-" +
                                     d.kube().ref().name() + "-" +
                                     std::to_string(d.kube().port()));
    case gl::Destination::kConsul:
      return w.get<gl::Upstream>(resource_kind::upstream, "gloo-system",
                                 "consul-svc:" + d.consul().service_name());
    case gl::Destination::DESTINATION_TYPE_NOT_SET:
      break;
  }
  return nullptr;
}

void route_builder::set_destination_metadata(const gl::Destination& d,
                                             core_v3::Metadata& md) const {
  std::map<std::string, std::string> match;
  for (const auto& [k, v] : d.subset().values()) {
    match[k] = v;
  }
  if (d.has_consul()) {
    // Gloo's consulMetadataMatch: every tag and data center the upstream knows is pinned to "1"
    // (asked for) or "0" (not asked for).
    if (const auto* u = destination_upstream(d, ctx_.world); u != nullptr && u->has_consul()) {
      const auto& c = u->consul();
      const auto& tags = c.subset_tags().empty() ? c.service_tags() : c.subset_tags();
      for (const auto& t : tags) {
        const bool want = std::find(d.consul().tags().begin(), d.consul().tags().end(), t) !=
                          d.consul().tags().end();
        match["tag_" + t] = want ? "1" : "0";
      }
      for (const auto& dc : c.data_centers()) {
        const bool want = std::find(d.consul().data_centers().begin(),
                                    d.consul().data_centers().end(),
                                    dc) != d.consul().data_centers().end();
        match["dc_" + dc] = want ? "1" : "0";
      }
    }
  }
  if (match.empty()) {
    return;
  }
  auto& fields = *(*md.mutable_filter_metadata())["envoy.lb"].mutable_fields();
  for (const auto& [k, v] : match) {
    fields[k].set_string_value(v);
  }
}

// Gloo's subset check (GLTR/route_config.go): a subset on a route needs an Upstream whose subset
// selectors include exactly the route's key set.
route_builder::problem route_builder::check_subset(const gl::Destination& d) const {
  if (d.subset().values().empty()) {
    return std::nullopt;
  }
  const auto* u = destination_upstream(d, ctx_.world);
  if (u == nullptr || !u->has_kube()) {
    return std::nullopt;  // unknown upstreams are reported by resolve; others carry no spec
  }
  std::set<std::string> wanted;
  for (const auto& [k, v] : d.subset().values()) {
    wanted.insert(k);
  }
  std::string keys;
  for (const auto& k : wanted) {
    keys += (keys.empty() ? "" : ", ") + k;
  }
  const auto* list = u->kube().has_subset_spec()
                         ? model::struct_list(u->kube().subset_spec(), "selectors")
                         : nullptr;
  if (list == nullptr || list->values().empty()) {
    return "subset [" + keys + "]: the upstream has no kube.subsetSpec, so Envoy cannot select a "
           "subset (add a subsetSpec selector with these keys)";
  }
  for (const auto& sel : list->values()) {
    if (sel.kind_case() != pb::Value::kStructValue) {
      continue;
    }
    std::set<std::string> have;
    if (const auto* k = model::struct_list(sel.struct_value(), "keys")) {
      for (const auto& key : k->values()) {
        have.insert(key.string_value());
      }
    }
    if (have == wanted) {
      return std::nullopt;
    }
  }
  return "subset [" + keys + "]: no selector of the upstream's kube.subsetSpec has exactly these "
         "keys";
}

route_builder::problem route_builder::build_weighted(const gl::MultiDestination& multi,
                                                     route_v3::Route& out,
                                                     const std::string& label,
                                                     const std::vector<resource_key>& extra) {
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
      replace_with_invalid_response(out, extra, label, cluster.problem);
      return std::nullopt;
    }
    if (auto p = check_subset(wd.destination())) {
      return p;
    }
    auto* cw = weighted.add_clusters();
    cw->set_name(cluster.cluster);
    cw->mutable_weight()->set_value(wd.has_weight() ? wd.weight().value() : 0);
    core_v3::Metadata match;
    set_destination_metadata(wd.destination(), match);
    if (!match.filter_metadata().empty()) {
      *cw->mutable_metadata_match() = std::move(match);
    }
    if (wd.options().has_header_manipulation()) {
      std::vector<std::string> unsupported;
      if (auto p = apply_headers(wd.options().header_manipulation(), *cw, unsupported)) {
        return "weighted destination headerManipulation: " + *p;
      }
      for (const auto& u : unsupported) {
        blame_.warning(extra, "route " + label + ": " + u);
      }
    }
    if (wd.options().has_extauth()) {
      auto e = ext_auth(wd.options().extauth(), "weighted_destination", cluster.cluster);
      if (auto* why = std::get_if<std::string>(&e)) {
        return *why;
      }
      if (auto& cfg = std::get<0>(e); cfg && ctx_.http_filters) {
        put_filter_config(*cw->mutable_typed_per_filter_config(), ext_authz_filter, *cfg);
        filters.ext_authz = filters.ext_authz || !cfg->disabled();
      }
    }
  }
  set_total_weight(weighted, static_cast<uint32_t>(sum));
  *out.mutable_route()->mutable_weighted_clusters() = std::move(weighted);
  return std::nullopt;
}

route_builder::problem route_builder::build_route_action(const gl::RouteAction& a,
                                                         route_v3::Route& out,
                                                         const std::string& label,
                                                         const std::vector<resource_key>& extra) {
  switch (a.destination_case()) {
    case gl::RouteAction::kSingle: {
      auto cluster = resolve(a.single());
      if (!cluster.problem.empty()) {
        replace_with_invalid_response(out, extra, label, cluster.problem);
        return std::nullopt;
      }
      if (auto p = check_subset(a.single())) {
        return p;
      }
      auto* ra = out.mutable_route();
      ra->set_cluster(cluster.cluster);
      set_destination_metadata(a.single(), *ra->mutable_metadata_match());
      if (ra->metadata_match().filter_metadata().empty()) {
        ra->clear_metadata_match();
      }
      return std::nullopt;
    }
    case gl::RouteAction::kMulti:
      return build_weighted(a.multi(), out, label, extra);
    case gl::RouteAction::kUpstreamGroup: {
      resource_key key{resource_kind::upstream_group, a.upstream_group().namespace_(),
                       a.upstream_group().name()};
      const auto* group = ctx_.groups.find(key);
      if (group == nullptr) {
        replace_with_invalid_response(
            out, extra, label,
            "upstream group " + model::ref_key(key) +
                (ctx_.world.find(key) ? " is invalid (see its status)" : " does not exist"));
        return std::nullopt;
      }
      return build_weighted(*group, out, label, extra);
    }
    case gl::RouteAction::kClusterHeader:
      if (a.cluster_header().empty()) {
        return std::string("clusterHeader must name a header");
      }
      out.mutable_route()->set_cluster_header(a.cluster_header());
      return std::nullopt;
    case gl::RouteAction::kDynamicForwardProxy:
      replace_with_invalid_response(out, extra, label, "dynamicForwardProxy is not supported yet");
      return std::nullopt;
    case gl::RouteAction::DESTINATION_NOT_SET:
      return std::string("routeAction must set a destination");
  }
  return std::nullopt;
}

route_builder::problem route_builder::build_action(const gl::Route& r, route_v3::Route& out,
                                                   const std::string& label,
                                                   std::vector<resource_key> extra) {
  switch (r.action_case()) {
    case gl::Route::kRouteAction:
      return build_route_action(r.route_action(), out, label, extra);
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
      // Gloo's enum: MOVED_PERMANENTLY=0 (301), FOUND (302), SEE_OTHER (303),
      // TEMPORARY_REDIRECT (307), PERMANENT_REDIRECT (308), the order of Envoy's enum.
      rd->set_response_code(
          static_cast<route_v3::RedirectAction::RedirectResponseCode>(in.response_code()));
      if (in.https_redirect()) {
        rd->set_https_redirect(true);
      }
      rd->set_strip_query(in.strip_query());
      if (in.port_redirect() > 65535) {
        return "portRedirect " + std::to_string(in.port_redirect()) + " is not a port";
      }
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

std::variant<std::optional<authz_v3::ExtAuthzPerRoute>, std::string> route_builder::ext_auth(
    const gl::ExtAuthExtension& e, const std::string& source_type,
    const std::string& source_name) const {
  authz_v3::ExtAuthzPerRoute out;
  switch (e.spec_case()) {
    case gl::ExtAuthExtension::kDisable:
      if (!e.disable()) {
        return std::optional<authz_v3::ExtAuthzPerRoute>{};
      }
      out.set_disabled(true);
      return std::optional<authz_v3::ExtAuthzPerRoute>{std::move(out)};
    case gl::ExtAuthExtension::kConfigRef: {
      const std::string ns =
          e.config_ref().namespace_().empty() ? owner_ns_ : e.config_ref().namespace_();
      const resource_key key{resource_kind::auth_config, ns, e.config_ref().name()};
      if (ctx_.world.find(key) == nullptr) {
        return "extauth.configRef: AuthConfig " + model::ref_key(key) +
               " not found, so requests cannot be authorized";
      }
      blame_.report().touch(key);
      if (!ctx_.options.ext_auth_server) {
        return "extauth.configRef " + model::ref_key(key) +
               " needs an ext auth server: set Settings extauth.extauthzServerRef";
      }
      const auto& server = *ctx_.options.ext_auth_server;
      if (!ctx_.clusters.has_cluster(cluster_name(server.name, server.ns))) {
        return "extauth.configRef " + model::ref_key(key) + ": the ext auth server upstream " +
               model::ref_key(server) + " (Settings extauth.extauthzServerRef) has no cluster";
      }
      auto& ext = *out.mutable_check_settings()->mutable_context_extensions();
      ext["config_id"] = model::ref_key(key);
      ext["source_type"] = source_type;
      ext["source_name"] = source_name;
      return std::optional<authz_v3::ExtAuthzPerRoute>{std::move(out)};
    }
    case gl::ExtAuthExtension::kCustomAuth:
      return std::string(
          "extauth.customAuth is not supported; use extauth.configRef to an AuthConfig");
    case gl::ExtAuthExtension::SPEC_NOT_SET:
      break;
  }
  return std::optional<authz_v3::ExtAuthzPerRoute>{};
}

route_builder::problem route_builder::apply_options(const gl::RouteOptions& o,
                                                    route_v3::Route& out,
                                                    const std::string& label,
                                                    const std::vector<resource_key>& extra) {
  // Basic options apply to forwarding routes only; Gloo silently skips them on redirect and
  // direct-response routes (including routes replaced because their destination is missing).
  if (out.has_route()) {
    auto* ra = out.mutable_route();
    if (o.has_prefix_rewrite() && o.has_regex_rewrite()) {
      return std::string("prefixRewrite and regexRewrite cannot both be set");
    }
    if (o.has_prefix_rewrite()) {
      if (!o.prefix_rewrite().value().empty()) {
        if (auto p = path_problem(o.prefix_rewrite().value())) {
          return "prefixRewrite: " + *p;
        }
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
      if (o.timeout().seconds() < 0 || o.timeout().nanos() < 0) {
        return std::string("timeout must not be negative");
      }
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
    std::vector<std::string> unsupported;
    if (auto p = apply_headers(o.header_manipulation(), out, unsupported)) {
      return "headerManipulation: " + *p;
    }
    for (const auto& u : unsupported) {
      blame_.warning(extra, "route " + label + ": " + u);
    }
  }
  if (ctx_.http_filters) {
    if (o.has_cors()) {
      auto c = cors_policy(o.cors(), ctx_.options.regex_max_program_size, true);
      if (auto* why = std::get_if<std::string>(&c)) {
        return *why;
      }
      put_filter_config(*out.mutable_typed_per_filter_config(), cors_filter,
                        std::get<cors_v3::CorsPolicy>(c));
      filters.cors = true;
    }
    if (o.has_faults()) {
      auto f = http_fault(o.faults());
      if (auto* why = std::get_if<std::string>(&f)) {
        return *why;
      }
      put_filter_config(*out.mutable_typed_per_filter_config(), fault_filter,
                        std::get<fault_v3::HTTPFault>(f));
      filters.fault = true;
    }
  }
  if (o.has_extauth()) {
    auto e = ext_auth(o.extauth(), "route", out.name());
    if (auto* why = std::get_if<std::string>(&e)) {
      return *why;
    }
    if (auto& cfg = std::get<0>(e); cfg && ctx_.http_filters) {
      put_filter_config(*out.mutable_typed_per_filter_config(), ext_authz_filter, *cfg);
      filters.ext_authz = filters.ext_authz || !cfg->disabled();
    }
  }
  return std::nullopt;
}

// Whether a route needs ext auth (its own configRef, or the virtual host's unless the route
// disables it), which proxyless gRPC clients cannot run.
bool needs_ext_auth(const gl::Route& r, const gl::VirtualHostOptions* vhost_options) {
  if (r.options().has_extauth()) {
    return r.options().extauth().has_config_ref();
  }
  if (r.route_action().has_multi()) {
    for (const auto& d : r.route_action().multi().destinations()) {
      if (d.options().extauth().has_config_ref()) {
        return true;
      }
    }
  }
  return vhost_options != nullptr && vhost_options->extauth().has_config_ref();
}

void route_builder::add(const gl::Route& r, int index, const gl::VirtualHostOptions* vhost_options,
                        route_v3::VirtualHost& out) {
  // Only the table holding the route (the first RouteTable source: sources are recorded from
  // the deepest table outwards) is blamed besides the VirtualService.
  std::vector<resource_key> extra;
  auto tables = model::sources_of(r.metadata_static(), resource_kind::route_table);
  if (!tables.empty()) {
    extra.push_back(tables.front());
  }
  std::string prefix = vhost_name_ + "-route-" + std::to_string(index);
  if (!r.name().empty()) {
    prefix += "-" + r.name();
  }
  const std::string label = r.name().empty() ? prefix : r.name();

  if (!ctx_.http_filters && needs_ext_auth(r, vhost_options)) {
    blame_.warning(extra, "route " + label +
                              " needs ext auth, which proxyless gRPC clients cannot run: it is "
                              "not served to them");
    return;
  }

  route_v3::Route base;
  base.set_name(prefix);  // for ext auth source names; replaced per matcher below
  http_filter_use before = filters;
  auto fail = [&](const std::string& why) {
    if (ctx_.options.replace_invalid_routes) {
      // Gloo's route-replacing sanitizer: the route answers the invalid-route response and the
      // error becomes a warning (reference §2.2 step 5).
      filters = before;
      base = route_v3::Route();
      auto* dr = base.mutable_direct_response();
      dr->set_status(ctx_.options.invalid_route_status);
      if (!ctx_.options.invalid_route_body.empty()) {
        dr->mutable_body()->set_inline_string(ctx_.options.invalid_route_body);
      }
      blame_.warning(extra, "route " + label + ": " + why + "; the route answers " +
                                std::to_string(ctx_.options.invalid_route_status) +
                                " (Settings gloo.invalidConfigPolicy.replaceInvalidRoutes) until "
                                "this is fixed");
      return true;
    }
    blame_.error(extra, "route " + label + ": " + why + not_served);
    return false;
  };
  if (auto p = build_action(r, base, label, extra)) {
    if (!fail(*p)) {
      return;
    }
  } else if (r.has_options()) {
    if (auto p2 = apply_options(r.options(), base, label, extra)) {
      if (!fail(*p2)) {
        return;
      }
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
      // A broken match cannot be served even as a replacement: there is nothing to match on.
      blame_.error(extra, "route " + label + ": matchers[" + std::to_string(j) + "]: " + *p +
                              not_served);
      return;
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
           ", over the limit of " + std::to_string(max_program_size) +
           " (Settings gloo.regexMaxProgramSize)";
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
    if (g.destinations().empty()) {
      model::report_error(report, key, "an upstream group needs at least one destination");
      ok = false;
    }
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
                                  model::ref_key(ref.namespace_(), ref.name()) +
                                  " not found; routes to this group answer the invalid-route "
                                  "response until it exists");
          ok = false;
        }
      } else if (!d->has_kube() && !d->has_consul()) {
        model::report_error(report, key,
                            "destinations[" + std::to_string(i) + "] names no upstream");
        ok = false;
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

virtual_host_result translate_virtual_host(const gl::VirtualHost& vhost, const route_context& ctx,
                                           bool require_tls) {
  virtual_host_result result;
  auto& out = result.virtual_host;
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
  const auto owners = model::sources_of(vhost.metadata_static(), resource_kind::virtual_service);
  const std::string owner_ns = owners.empty() ? std::string() : owners.front().ns;
  blame_sink blame(result.report, owners);
  route_builder builder(ctx, name, owner_ns, blame);
  const auto* options = vhost.has_options() ? &vhost.options() : nullptr;

  if (!ctx.http_filters && options != nullptr && options->extauth().has_config_ref()) {
    blame.warning({}, "virtual host " + name +
                          " needs ext auth, which proxyless gRPC clients cannot run: it is not "
                          "served to them");
    result.rejected = true;
    return result;
  }
  for (int i = 0; i < vhost.routes_size(); ++i) {
    builder.add(vhost.routes(i), i, options, out);
  }
  if (options != nullptr) {
    const auto& o = *options;
    auto vhost_error = [&](const std::string& why) {
      blame.error({}, "virtual host options: " + why + not_served);
    };
    if (o.has_retries()) {
      auto p = retry_policy(o.retries());
      if (auto* why = std::get_if<std::string>(&p)) {
        vhost_error("retries: " + *why);
      } else {
        *out.mutable_retry_policy() = std::get<route_v3::RetryPolicy>(std::move(p));
      }
    }
    if (o.has_header_manipulation()) {
      std::vector<std::string> unsupported;
      if (auto p = apply_headers(o.header_manipulation(), out, unsupported)) {
        vhost_error("headerManipulation: " + *p);
      }
      for (const auto& u : unsupported) {
        blame.warning({}, "virtual host options: " + u);
      }
    }
    if (o.include_request_attempt_count().value()) {
      out.set_include_request_attempt_count(true);
    }
    if (o.include_attempt_count_in_response().value()) {
      out.set_include_attempt_count_in_response(true);
    }
    if (ctx.http_filters && o.has_cors()) {
      auto c = cors_policy(o.cors(), ctx.options.regex_max_program_size, false);
      if (auto* why = std::get_if<std::string>(&c)) {
        vhost_error(*why);
      } else {
        put_filter_config(*out.mutable_typed_per_filter_config(), cors_filter,
                          std::get<cors_v3::CorsPolicy>(c));
        builder.filters.cors = true;
      }
    }
    if (o.has_extauth()) {
      auto e = builder.ext_auth(o.extauth(), "virtual_host", name);
      if (auto* why = std::get_if<std::string>(&e)) {
        vhost_error(*why);
      } else if (auto& cfg = std::get<0>(e); cfg && ctx.http_filters) {
        put_filter_config(*out.mutable_typed_per_filter_config(), ext_authz_filter, *cfg);
        result.sets_ext_authz = true;
        builder.filters.ext_authz = builder.filters.ext_authz || !cfg->disabled();
      }
    }
  }
  result.filters = builder.filters;
  result.rejected = blame.rejected();
  return result;
}

void disable_ext_authz(route_v3::VirtualHost& vhost) {
  authz_v3::ExtAuthzPerRoute off;
  off.set_disabled(true);
  put_filter_config(*vhost.mutable_typed_per_filter_config(), ext_authz_filter, off);
}

}  // namespace sluice::xds
