#pragma once
/// Gloo's status model (reference gloo.md §2): every resource with a status gets Pending,
/// Accepted, Warning or Rejected, a reason a person can act on, `reportedBy`, and sub-resource
/// statuses. Statuses are a pure function of the world (with its rejections), its translation
/// report, the generated Proxies and the NACKs clients sent, so they can be recomputed anywhere
/// (server, `sluice get`, replay) and never need storing.
///
/// What each resource gets:
///  - a rejection in the world (world::rejections(): the newest input failed to decode or
///    validate, or translation refused it and the last clean form was put back) makes it
///    Rejected whatever the report says about the form that is served: the resource as written
///    is not in effect. The reason is the rejection's errors (multierror text), then a line
///    saying what is served instead: "the last accepted form (seq N) keeps serving" (ingest),
///    "translation refused the change at seq N; the last accepted form keeps serving"
///    (translation), or "no form of it was ever accepted, so nothing of it is served" for a
///    rejected resource absent from the world (it still gets a status). Report errors, NACKs
///    and warnings follow as for any resource. An origin rejection (world::origin_rejections():
///    the input named nothing) rejects every resource of that kind that came from that origin.
///  - findings recorded in the report: any error => Rejected, reason in Gloo's words (the errors
///    as hashicorp multierror text, then "\nwarning: \n  " and the warnings); only warnings =>
///    Warning, reason "warning: \n  " + warnings joined by newlines; none => Accepted, empty
///    reason (solo-kit reporter.go StatusFromReport). Reasons are cut at 1024 bytes and
///    sub-resource maps at 100 keys, as Gloo does unless DISABLE_TRUNCATE_STATUS.
///  - resources the report never mentions follow Gloo: Gateways, VirtualServices and RouteTables
///    are Accepted (Gloo marks every one Accepted each sync, so an unreferenced RouteTable is
///    Accepted); Settings, AuthConfigs, VirtualHostOptions and RouteOptions are Accepted (they
///    passed decoding and validation, and Gloo writes no translation findings for them; a
///    missing or unusable options ref is reported on the resource that holds the ref); Upstreams,
///    UpstreamGroups and stored Proxies are Pending (Gloo reports them only when a translation read
///    them).
///  - a NACK makes the resources it is attributed to Rejected, reason "rejected by xDS client
///    <node> (<Type>): <message>": the client refused that content and keeps its last accepted
///    version, so the resource as written is not in effect there, which is what Rejected means
///    in Gloo. (Gloo itself only logs NACKs.)
///  - each generated Proxy gets a status reported by "gloo" with one sub-resource status per
///    listener (keyed by the listener name): a listener is Warning when any resource that fed
///    it (its Gateway, the VirtualServices and RouteTables of its virtual hosts and routes) has
///    findings, listed as "<Kind> <ns>.<name>: <finding>". The Proxy is Rejected when a NACK is
///    attributed to it, else Warning when a listener is, else Accepted. Unlike Gloo, source
///    errors do not reject the Proxy: sluice already dropped just the broken piece and serves
///    the rest.
///  - every Gateway, VirtualService and RouteTable that fed a generated Proxy carries that
///    Proxy's status (state, reason, reportedBy) as sub-resource `*v1.Proxy.<name>_<namespace>`
///    (Gloo's key, GWSYNC translator_syncer.go).

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "model/gateway_translator.hpp"
#include "model/resource.hpp"
#include "model/translation_report.hpp"
#include "model/world.hpp"
#include "solo/core.pb.h"

namespace sluice::model {

/// A client's rejection of a resource it was served, attributed to the user resources that
/// produced it (from the Proxy's source metadata).
struct nack_attribution {
  resource_key key;  ///< the user resource blamed
  std::string node_id;
  std::string type_url;
  std::string message;  ///< the client's error_detail message
};

struct status_options {
  /// `reportedBy` for resources of the gateway API (Gateway, VirtualService, RouteTable) and
  /// for the rest; Gloo uses "gateway" and "gloo".
  std::string gateway_reporter = "gateway";
  std::string gloo_reporter = "gloo";
  /// Gloo cuts reasons at 1024 bytes and keeps at most 100 sub-resource statuses unless
  /// DISABLE_TRUNCATE_STATUS=true.
  bool truncate = true;
};

/// Status of every resource in `w` that carries a status (Secrets, Artifacts, Endpoints do not),
/// and of every rejected resource of such a kind that `w` does not hold.
[[nodiscard]] std::map<resource_key, ::core::solo::io::Status> build_statuses(
    const world& w, const translation_report& report,
    const std::vector<nack_attribution>& nacks = {}, const status_options& options = {});

/// As above, plus a status for each generated Proxy (keyed {proxy, namespace, name}; it replaces
/// a stored Proxy of the same name) and the `*v1.Proxy.<name>_<namespace>` sub-resource status on
/// every Gateway, VirtualService and RouteTable that fed it.
[[nodiscard]] std::map<resource_key, ::core::solo::io::Status> build_statuses(
    const world& w, const translation_report& report, const std::vector<translated_proxy>& proxies,
    const std::vector<nack_attribution>& nacks = {}, const status_options& options = {});

/// The status of a rejected input that no accepted form stands for (a resource absent from the
/// world): Rejected with the rejection's errors and "no form of it was ever accepted, so nothing
/// of it is served". build_statuses gives it to every such resource of `world::rejections()`;
/// a caller that can map an origin rejection to the object it names uses it for that object.
[[nodiscard]] ::core::solo::io::Status never_accepted_status(resource_kind kind, const rejection& r,
                                                             const status_options& options = {});

/// "Accepted", "Warning", "Rejected", "Pending".
std::string state_name(::core::solo::io::Status::State state);

/// The sub-resource key Gloo gives a Proxy's status on the resources that fed it:
/// "*v1.Proxy.<name>_<namespace>".
std::string proxy_subresource_key(const std::string& proxy_name, const std::string& proxy_ns);

/// Every user resource named in the `metadataStatic.sources` of a Proxy piece (a listener, a
/// virtual host, a route, or anything containing them), sorted by key, without repeats.
std::vector<resource_key> sources_in(const google::protobuf::Message& piece);

/// The resources of a rejected response that a client's NACK points at by position. gRPC's
/// clients prefix each rejection with "resource index N" (C-core adds the name, grpc-js does not),
/// an index into the response, whose names the server keeps in the order sent
/// (`response_names`). Returns those names, in the order first mentioned, ignoring indices
/// outside the list. A message without any index blames the response's only resource when it
/// held exactly one, and nothing otherwise: a guess over a whole state-of-the-world response
/// would reject every resource of that type.
[[nodiscard]] std::vector<std::string> nacked_resource_names(
    std::string_view message, const std::vector<std::string>& response_names);

/// The reason on one line, for tables: the individual findings joined by "; ".
std::string reason_summary(const std::string& reason);

}  // namespace sluice::model
