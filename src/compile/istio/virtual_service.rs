//! Validation of a VirtualService `spec`, rule for rule as Istio's admission webhook does it
//! (istio/istio `pkg/config/validation/validation.go` `ValidateVirtualService`, `virtualservice.go`,
//! `agent/validation.go`, `header_value_validator.go`, plus the CRD's oneOf/enum/range rules), and
//! the webhook's warnings (unreachable rules IST0130, ineffective matches IST0131, deprecated
//! fields).
//!
//! Every error is reported, not just the first, each at the path of the field that breaks the rule
//! (`spec.http[2].route[1].weight`). Deliberate differences from Istio:
//! * HTTP status codes for `fault.abort.httpStatus` and `directResponse.status` must be below 600
//!   (Istio's code lets 600 through, although its message says 200-599 and Envoy rejects 600).
//! * All gateway names are checked (Istio stops after the first bare name).
//! * `exportTo: [".", "<own namespace>"]` is not caught: the namespace is not known here.
//! * Gateway-API route semantics (an internal Istio annotation) are never assumed.
//!
//! Name and host syntax is checked in `names.rs`, durations and header values in `values.rs`; the
//! IST0130/IST0131 analysis is in `reachability.rs`.

use crate::action::GRPC_STATUS_NAMES;
use std::collections::BTreeMap;
use std::fmt::Display;

use super::reachability::{
    analyze_http_reachability, analyze_l4_reachability, l4_match_eq, tls_match_eq,
};
use crate::compile::names::{
    LABEL_RULE, check_export_to, check_gateway_bound_domain, check_gateway_name, check_labels,
    host_subset_of, hosts_overlap, is_dns1123_label, is_ip_literal, is_ip_or_cidr,
    is_valid_wildcard_domain,
};
use crate::compile::report::Report;
use crate::compile::values::{
    TOKEN_RULE, check_count, check_duration_at, check_header_chars, check_header_token,
    check_header_value, check_length, fits_length, is_http_token, limit,
};
use crate::config::common::{Percent, StringMatch};
use crate::config::virtual_service::{
    CorsPolicy, Destination, HeaderOperations, Headers, HttpDirectResponse, HttpFaultInjection,
    HttpMatchRequest, HttpMirrorPolicy, HttpRedirect, HttpRetry, HttpRewrite, HttpRouteDestination,
    HttpRouteRule, RouteDestination, TcpRoute, TlsMatchAttributes, TlsRoute, VirtualServiceSpec,
};

/// The reserved gateway name for "all sidecars".
const MESH: &str = "mesh";
/// Prefix of header keys that route on JWT claims (`@request.auth.claims.sub`).
const JWT_CLAIM_PREFIX: &str = "@request.auth.claims";
/// `corsPolicy.allowMethods` values istio validation accepts (`supportedCORSMethods`); `*`
/// makes Envoy echo the preflight's requested method.
const CORS_METHODS: [&str; 10] = [
    "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "CONNECT", "OPTIONS", "TRACE", "*",
];
/// `x-envoy-retry-on` and `x-envoy-retry-grpc-on` conditions Istio accepts.
const RETRY_ON_POLICIES: [&str; 16] = [
    "5xx",
    "gateway-error",
    "reset",
    "reset-before-request",
    "connect-failure",
    "retriable-4xx",
    "refused-stream",
    "retriable-status-codes",
    "retriable-headers",
    "envoy-ratelimited",
    "http3-post-connect-failure",
    "cancelled",
    "deadline-exceeded",
    "internal",
    "resource-exhausted",
    "unavailable",
];
const KB: usize = 1024;
const MB: usize = 1024 * KB;

/// Validates a VirtualService `spec`, recording every error and warning in `report` with paths
/// that start at `spec`.
pub(crate) fn validate_virtual_service(spec: &VirtualServiceSpec, report: &mut Report) {
    // A VirtualService without hosts is a delegate: it only makes sense as the target of a root
    // rule's `delegate`, which supplies hosts and gateways.
    let is_delegate = spec.hosts.is_empty();
    if is_delegate {
        check_delegate_fields(spec, report);
    }

    // Empty gateways means the mesh; otherwise only a listed `mesh` reaches the sidecars.
    let applies_to_gateway = !spec.gateways.is_empty() && !spec.gateways.iter().any(|g| g == MESH);
    let applies_to_mesh = !applies_to_gateway;
    for (i, gateway) in spec.gateways.iter().enumerate() {
        check_gateway_name(gateway, &format_args!("spec.gateways[{i}]"), report);
    }

    if applies_to_mesh {
        check_jwt_claims_need_gateway(spec, report);
    }
    check_hosts(spec, applies_to_gateway, report);
    check_rules(spec, is_delegate, report);
    check_export_to(&spec.export_to, &"spec.exportTo", report);

    analyze_http_reachability(&spec.http, report);
    analyze_l4_reachability(
        "spec.tls",
        &spec.tls,
        |r: &TlsRoute| &r.matches,
        tls_match_eq,
        report,
    );
    analyze_l4_reachability(
        "spec.tcp",
        &spec.tcp,
        |r: &TcpRoute| &r.matches,
        l4_match_eq,
        report,
    );
}

/// A delegate (no hosts) lists no gateways and has only http rules.
fn check_delegate_fields(spec: &VirtualServiceSpec, report: &mut Report) {
    if !spec.gateways.is_empty() {
        report.error(
            "spec.gateways",
            "a delegate virtual service (one without hosts) must not list gateways; \
             the root virtual service decides where it applies",
        );
    }
    if !spec.tls.is_empty() {
        report.error(
            "spec.tls",
            "a delegate virtual service (one without hosts) cannot have tls rules; \
             only http rules can be delegated",
        );
    }
    if !spec.tcp.is_empty() {
        report.error(
            "spec.tcp",
            "a delegate virtual service (one without hosts) cannot have tcp rules; \
             only http rules can be delegated",
        );
    }
}

/// Hosts: domain names (wildcard allowed in the first label) or IP literals, never `*` on the
/// mesh; when every host is valid, no two overlap.
fn check_hosts(spec: &VirtualServiceSpec, applies_to_gateway: bool, report: &mut Report) {
    let applies_to_mesh = !applies_to_gateway;
    let sni_routing = spec
        .tls
        .iter()
        .flatten()
        .flat_map(|t| t.matches.iter().flatten())
        .any(|m| !m.sni_hosts.is_empty());
    let mut all_hosts_valid = check_count(
        spec.hosts.len(),
        limit!(MAX_HOSTS),
        "hosts",
        &"spec.hosts",
        report,
    );
    for (i, host) in spec.hosts.iter().enumerate() {
        let syntax = if applies_to_gateway {
            check_gateway_bound_domain(host, sni_routing)
        } else {
            is_valid_wildcard_domain(host)
        };
        match syntax {
            Err(message) => {
                if !is_ip_literal(host) {
                    report.error(format!("spec.hosts[{i}]"), message);
                    all_hosts_valid = false;
                }
            }
            Ok(()) if applies_to_mesh && host == "*" => {
                report.error(
                    format!("spec.hosts[{i}]"),
                    "host \"*\" is not allowed when the virtual service applies to the mesh \
                     (gateways empty or listing \"mesh\"); name the services it is for",
                );
                all_hosts_valid = false;
            }
            Ok(()) => {}
        }
    }
    if all_hosts_valid {
        for (j, later) in spec.hosts.iter().enumerate() {
            for earlier in &spec.hosts[..j] {
                if hosts_overlap(earlier, later) {
                    report.error(
                        format!("spec.hosts[{j}]"),
                        format!("duplicate hosts {earlier:?} and {later:?} overlap"),
                    );
                }
            }
        }
    }
}

/// At least one rule, no more of each kind than the limit, and each http, tls and tcp rule.
fn check_rules(spec: &VirtualServiceSpec, is_delegate: bool, report: &mut Report) {
    if spec.http.is_empty() && spec.tcp.is_empty() && spec.tls.is_empty() {
        report.error(
            "spec",
            "a virtual service needs at least one http, tcp or tls rule",
        );
    }
    for (field, what, len) in [
        ("http", "http rules", spec.http.len()),
        ("tls", "tls rules", spec.tls.len()),
        ("tcp", "tcp rules", spec.tcp.len()),
    ] {
        check_count(
            len,
            limit!(MAX_VS_RULES),
            what,
            &format_args!("spec.{field}"),
            report,
        );
    }
    for (i, rule) in spec.http.iter().enumerate() {
        let path = format_args!("spec.http[{i}]");
        match rule {
            None => report.error(path, "http rule is null"),
            Some(rule) => check_http_rule(rule, &path, is_delegate, report),
        }
    }
    for (i, rule) in spec.tls.iter().enumerate() {
        if let Some(rule) = rule {
            check_tls_rule(rule, spec, &format_args!("spec.tls[{i}]"), report);
        }
    }
    for (i, rule) in spec.tcp.iter().enumerate() {
        if let Some(rule) = rule {
            check_tcp_rule(rule, &format_args!("spec.tcp[{i}]"), report);
        }
    }
}

/// JWT-claim header keys (`@request.auth.claims.*`) become dynamic-metadata matchers that only
/// gateways populate.
fn check_jwt_claims_need_gateway(spec: &VirtualServiceSpec, report: &mut Report) {
    // Only for the message: built once an error needs it.
    let context = || {
        if spec.gateways.is_empty() {
            "no gateways are listed, so it applies to the mesh".to_string()
        } else {
            format!("gateways: [{}]", spec.gateways.join(", "))
        }
    };
    for (i, rule) in spec.http.iter().enumerate() {
        let Some(rule) = rule else { continue };
        for (j, m) in rule.matches.iter().enumerate() {
            let Some(m) = m else { continue };
            for (field, map) in [
                ("headers", &m.headers),
                ("withoutHeaders", &m.without_headers),
            ] {
                for key in map.iter().flat_map(|m| m.keys()) {
                    if is_jwt_claim_key(key) {
                        report.error(
                            format!("spec.http[{i}].match[{j}].{field}[{key}]"),
                            format!(
                                "JWT claim routing ({key:?}) works only on gateways, but this virtual \
                                 service applies to the mesh ({})",
                                context()
                            ),
                        );
                    }
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// HTTP rules
// ---------------------------------------------------------------------------------------------

fn check_http_rule(
    rule: &HttpRouteRule,
    path: &dyn Display,
    in_delegate_vs: bool,
    report: &mut Report,
) {
    check_rule_shape(rule, path, in_delegate_vs, report);
    check_count(
        rule.matches.len(),
        limit!(MAX_MATCHES_PER_RULE),
        "match blocks",
        &format_args!("{path}.match"),
        report,
    );
    for (j, m) in rule.matches.iter().enumerate() {
        if let Some(m) = m {
            check_match_request(m, &format_args!("{path}.match[{j}]"), report);
        }
    }
    if let Some(headers) = &rule.headers {
        check_header_operations(headers, &format_args!("{path}.headers"), report);
    }
    if let Some(cors) = &rule.cors_policy {
        check_cors(cors, &format_args!("{path}.corsPolicy"), report);
    }
    if let Some(fault) = &rule.fault {
        check_fault(fault, &format_args!("{path}.fault"), report);
    }
    check_mirrors(rule, path, report);
    if let Some(redirect) = &rule.redirect {
        check_redirect(
            redirect,
            &rule.matches,
            &format_args!("{path}.redirect"),
            report,
        );
    }
    if let Some(direct) = &rule.direct_response {
        check_direct_response(direct, &format_args!("{path}.directResponse"), report);
    }
    if let Some(retries) = &rule.retries {
        check_retries(retries, &format_args!("{path}.retries"), report);
    }
    if let Some(rewrite) = &rule.rewrite {
        check_rewrite(rewrite, &format_args!("{path}.rewrite"), report);
    }
    check_authority_set_once(rule, path, report);
    if let Some(route) = &rule.route {
        check_http_destinations(route, &format_args!("{path}.route"), report);
    }
    if let Some(timeout) = rule.timeout {
        check_duration_at(timeout, &format_args!("{path}.timeout"), report);
    }
}

/// Exactly one action: route, redirect, directResponse, or (outside a delegate) delegate.
fn check_rule_shape(
    rule: &HttpRouteRule,
    path: &dyn Display,
    in_delegate_vs: bool,
    report: &mut Report,
) {
    let has_route = rule.route.as_ref().is_some_and(|r| !r.is_empty());
    if rule.delegate.is_some() && !in_delegate_vs {
        // A root rule: the delegate supplies the action.
        if rule.redirect.is_some() {
            report.error(
                format!("{path}.redirect"),
                "a rule with delegate cannot also redirect; the delegate virtual service supplies the action",
            );
        }
        if has_route {
            report.error(
                format!("{path}.route"),
                "a rule with delegate cannot also have a route; the delegate virtual service supplies \
                 the destinations",
            );
        }
        return;
    }
    if in_delegate_vs && rule.delegate.is_some() {
        report.error(
            format!("{path}.delegate"),
            "a delegate virtual service (one without hosts) cannot delegate again; delegation is one level deep",
        );
    }
    if rule.redirect.is_some() {
        if has_route {
            report.error(
                format!("{path}.redirect"),
                "redirect cannot be combined with route; a rule either forwards (route), redirects \
                 or answers itself (directResponse)",
            );
        }
        if rule.fault.is_some() {
            report.error(
                format!("{path}.fault"),
                "fault injection cannot be combined with redirect",
            );
        }
        if rule.rewrite.is_some() {
            report.error(
                format!("{path}.rewrite"),
                "rewrite cannot be combined with redirect; put the new path in redirect.uri",
            );
        }
        if rule.direct_response.is_some() {
            report.error(
                format!("{path}.directResponse"),
                "directResponse cannot be combined with redirect; a rule has one action",
            );
        }
    } else if rule.direct_response.is_some() {
        if has_route {
            report.error(
                format!("{path}.directResponse"),
                "directResponse cannot be combined with route; a rule has one action",
            );
        }
        if rule.fault.is_some() {
            report.error(
                format!("{path}.fault"),
                "fault injection cannot be combined with directResponse",
            );
        }
        if rule.rewrite.is_some() {
            report.error(
                format!("{path}.rewrite"),
                "rewrite cannot be combined with directResponse",
            );
        }
    } else if !has_route {
        let message = if in_delegate_vs {
            "rule has no action; set one of route, redirect or directResponse"
        } else {
            "rule has no action; set one of route, redirect, directResponse or delegate"
        };
        report.error(path, message);
    }
    if rule.mirror.is_some() && rule.mirrors.as_ref().is_some_and(|m| !m.is_empty()) {
        report.error(
            format!("{path}.mirrors"),
            "mirror and mirrors cannot both be set; move the mirror into mirrors",
        );
    }
}

fn check_match_request(m: &HttpMatchRequest, path: &dyn Display, report: &mut Report) {
    for (field, map, what, max) in [
        (
            "headers",
            &m.headers,
            "header matches",
            limit!(MAX_HEADER_MATCHES),
        ),
        (
            "withoutHeaders",
            &m.without_headers,
            "withoutHeaders matches",
            limit!(MAX_HEADER_MATCHES),
        ),
        (
            "queryParams",
            &m.query_params,
            "query parameter matches",
            limit!(MAX_QUERY_MATCHES),
        ),
    ] {
        let len = map.as_ref().map_or(0, BTreeMap::len);
        check_count(len, max, what, &format_args!("{path}.{field}"), report);
    }
    for (name, value) in m.headers.iter().flatten() {
        let p = format_args!("{path}.headers[{name}]");
        if value.is_none() {
            report.error(
                p,
                "header match is null; use {} to require only that the header is present",
            );
        }
        if let Err(message) = check_match_header_name(name) {
            report.error(p, message);
        }
        if let Some(value) = value {
            check_header_string_match(value, &p, report);
            check_header_literals(value, &p, report);
        }
    }
    for (name, value) in m.without_headers.iter().flatten() {
        let p = format_args!("{path}.withoutHeaders[{name}]");
        if let Err(message) = check_match_header_name(name) {
            report.error(p, message);
        }
        // `regex: "*"` is not a regex: it means "the header is present".
        if let Some(value) = value.as_ref().filter(|v| v.regex.as_deref() != Some("*")) {
            check_string_match(value, &p, false, HEADER_LITERAL, report);
            check_header_literals(value, &p, report);
        }
    }
    // An empty uri prefix is allowed (Envoy accepts `prefix: ""` for paths); not elsewhere.
    if let Some(uri) = &m.uri {
        let p = format_args!("{path}.uri");
        if uri.regex.as_deref() == Some("*") {
            report.error(
                format!("{p}.regex"),
                "regex \"*\" is not a pattern: istiod reads it as \"present\" only in headers and \
                 queryParams, and Istio's webhook and Envoy refuse it in uri; use prefix \"/\" \
                 for every path",
            );
        } else {
            check_string_match(uri, &p, true, URI_LITERAL, report);
        }
    }
    for (field, sm) in [
        ("scheme", &m.scheme),
        ("method", &m.method),
        ("authority", &m.authority),
    ] {
        if let Some(sm) = sm {
            let p = format_args!("{path}.{field}");
            check_header_string_match(sm, &p, report);
            check_header_literals(sm, &p, report);
        }
    }
    for (name, value) in m.query_params.iter().flatten() {
        let p = format_args!("{path}.queryParams[{name}]");
        check_length(
            name.len(),
            limit!(MAX_HEADER_NAME_LEN),
            "query parameter name",
            &p,
            report,
        );
        if let Some(value) = value {
            check_header_string_match(value, &p, report);
            check_header_literals(value, &p, report);
        }
    }
    if let Some(port) = m.port.filter(|&p| p != 0) {
        check_port_at(port, &format_args!("{path}.port"), report);
    }
    check_labels(
        &m.source_labels,
        &format_args!("{path}.sourceLabels"),
        report,
    );
    for (k, gateway) in m.gateways.iter().enumerate() {
        check_gateway_name(gateway, &format_args!("{path}.gateways[{k}]"), report);
    }
    if let Some(ns) = m.source_namespace.as_deref().filter(|ns| !ns.is_empty())
        && !is_dns1123_label(ns)
    {
        report.error(
            format!("{path}.sourceNamespace"),
            format!("namespace {ns:?} is not a valid DNS-1123 label ({LABEL_RULE})"),
        );
    }
}

/// A string match istiod turns into an Envoy header (or query parameter) matcher: `headers`,
/// `queryParams`, `scheme`, `method`, `authority`. `regex: "*"` is not a pattern there but
/// Istio's old spelling of "present" (istio/istio `pilot/pkg/networking/core/route/route.go`,
/// `canBeConvertedToPresentMatch`), which the admission webhook refuses
/// (`pkg/config/validation/virtualservice.go`, `validateStringMatch`: Go's `regexp` cannot
/// compile it): accepted as presence, with a warning. `withoutHeaders` does not come here:
/// the webhook itself lets `"*"` through there.
fn check_header_string_match(sm: &StringMatch, path: &dyn Display, report: &mut Report) {
    if sm.regex.as_deref() == Some("*") && sm.exact.is_none() && sm.prefix.is_none() {
        report.warn(
            "regex-star-presence",
            format!("{path}.regex"),
            "regex \"*\" is read as a presence match, as istiod translates it, but Istio's \
             admission webhook refuses it (it is not an RE2 pattern); write {} for presence",
        );
        return;
    }
    check_string_match(sm, path, false, HEADER_LITERAL, report);
}

/// The longest exact or prefix literal of a `uri` match, and of any other string match.
type LiteralLimit = (usize, &'static str);
const URI_LITERAL: LiteralLimit = limit!(MAX_URI_LITERAL_LEN);
const HEADER_LITERAL: LiteralLimit = limit!(MAX_HEADER_VALUE_LEN);

/// One of exact / prefix / regex; exact and prefix within `max_literal` bytes, non-empty prefix
/// (unless `empty_prefix_ok`); non-empty regex that compiles within the length limit.
fn check_string_match(
    sm: &StringMatch,
    path: &dyn Display,
    empty_prefix_ok: bool,
    max_literal: LiteralLimit,
    report: &mut Report,
) {
    check_one_of_string_match(sm, path, report);
    for (field, literal) in [("exact", &sm.exact), ("prefix", &sm.prefix)] {
        if let Some(literal) = literal {
            let what = format!("{field} literal");
            check_length(
                literal.len(),
                max_literal,
                &what,
                &format_args!("{path}.{field}"),
                report,
            );
        }
    }
    if sm.prefix.as_deref() == Some("") && !empty_prefix_ok {
        report.error(
            format!("{path}.prefix"),
            "prefix \"\" is empty; a prefix match needs at least one character",
        );
    }
    if let Some(re) = &sm.regex {
        check_regex_at(re, &format_args!("{path}.regex"), report);
    }
}

/// The exact and prefix literals of a match on a header (`headers`, `withoutHeaders`, `scheme`,
/// `method`, `authority`) or a query parameter (`queryParams`): a request header cannot carry
/// a control character, so a literal holding one could never match. Nor can a query value:
/// Envoy matches the raw, still percent-encoded value from `:path` (envoyproxy/envoy
/// `source/common/router/config_impl.cc`, `QueryParamsMulti::parseQueryString`, not the
/// decoding variant), and `:path` is a header too, which Envoy's codecs and the `http` crate
/// refuse with a NUL, CR or LF (`%00` in the query is three bytes, not a NUL). Istio's
/// webhook checks none of these literals (`validateStringMatch`).
fn check_header_literals(sm: &StringMatch, path: &dyn Display, report: &mut Report) {
    for (field, literal) in [("exact", &sm.exact), ("prefix", &sm.prefix)] {
        if let Some(literal) = literal
            && let Err(message) = check_header_chars(literal, &format!("{field} literal"))
        {
            report.error(format!("{path}.{field}"), message);
        }
    }
}

fn check_one_of_string_match(sm: &StringMatch, path: &dyn Display, report: &mut Report) {
    let set: Vec<&str> = [
        ("exact", &sm.exact),
        ("prefix", &sm.prefix),
        ("regex", &sm.regex),
    ]
    .into_iter()
    .filter(|(_, v)| v.is_some())
    .map(|(n, _)| n)
    .collect();
    if set.len() > 1 {
        report.error(
            path,
            format!(
                "set only one of exact, prefix and regex (found {})",
                set.join(" and ")
            ),
        );
    }
}

fn check_regex_at(re: &str, path: &dyn Display, report: &mut Report) {
    if re.is_empty() {
        report.error(path, "regex \"\" is empty; a regex match needs a pattern");
    } else if let Err(message) = report.check_regex(re) {
        // The message names the pattern (or its length) and the rule it breaks.
        report.error(path, message);
    }
}

/// Header names in `headers` / `withoutHeaders` matches: a token, an HTTP/2 pseudo-header, or a
/// JWT claim key.
fn check_match_header_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("header name is empty".into());
    }
    fits_length(name.len(), limit!(MAX_HEADER_NAME_LEN), "header name")?;
    if is_jwt_claim_key(name)
        || [":method", ":scheme", ":authority", ":path", ":status"].contains(&name)
    {
        return Ok(());
    }
    if !is_http_token(name) {
        return Err(format!("header name {name:?} is not valid; {TOKEN_RULE}"));
    }
    Ok(())
}

fn is_jwt_claim_key(name: &str) -> bool {
    let Some(head) = name.get(..JWT_CLAIM_PREFIX.len()) else {
        return false;
    };
    if !head.eq_ignore_ascii_case(JWT_CLAIM_PREFIX) {
        return false;
    }
    let rest = &name[JWT_CLAIM_PREFIX.len()..];
    (rest.starts_with('.') && rest.len() > 1)
        || (rest.starts_with('[') && rest.ends_with(']') && rest.len() > 2)
}

// ---------------------------------------------------------------------------------------------
// Header operations
// ---------------------------------------------------------------------------------------------

fn check_header_operations(headers: &Headers, path: &dyn Display, report: &mut Report) {
    if let Some(request) = &headers.request {
        check_header_ops_side(request, &format_args!("{path}.request"), true, report);
    }
    if let Some(response) = &headers.response {
        check_header_ops_side(response, &format_args!("{path}.response"), false, report);
    }
}

fn check_header_ops_side(
    ops: &HeaderOperations,
    path: &dyn Display,
    request: bool,
    report: &mut Report,
) {
    for (field, map) in [("set", &ops.set), ("add", &ops.add)] {
        for (name, value) in map {
            let name_path = if name.is_empty() {
                format!("{path}.{field}")
            } else {
                format!("{path}.{field}[{name}]")
            };
            let checked = if request {
                check_request_set_name(name)
            } else {
                check_modifiable_header_name(name)
            };
            if let Err(message) = checked {
                report.error(&name_path, message);
            }
            let value_path = format_args!("{path}.{field}[{name}]");
            let fits = check_length(
                value.len(),
                limit!(MAX_HEADER_VALUE_LEN),
                "header value",
                &value_path,
                report,
            );
            // A value over the limit is not also scanned for its syntax.
            if fits && let Err(message) = check_header_value(value) {
                report.error(value_path, message);
            }
        }
    }
    for (k, name) in ops.remove.iter().enumerate() {
        if let Err(message) = check_modifiable_header_name(name) {
            report.error(format!("{path}.remove[{k}]"), message);
        }
    }
}

/// Request `set`/`add`: `host` and `:authority` are allowed (they rewrite the authority), other
/// pseudo-headers are not.
fn check_request_set_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("header name is empty".into());
    }
    fits_length(name.len(), limit!(MAX_HEADER_NAME_LEN), "header name")?;
    if name.starts_with(':') && !is_authority_header(name) {
        return Err(format!(
            "header {name:?} cannot be set; \":\"-prefixed pseudo-headers other than \":authority\" \
             are managed by the proxy"
        ));
    }
    if is_authority_header(name) {
        return Ok(());
    }
    check_header_token(name)
}

/// Request `remove` and every response operation: no `host`, no pseudo-headers.
fn check_modifiable_header_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("header name is empty".into());
    }
    fits_length(name.len(), limit!(MAX_HEADER_NAME_LEN), "header name")?;
    if name.eq_ignore_ascii_case("host") {
        return Err(format!(
            "header {name:?} cannot be modified here; only request set/add may change it (as the authority)"
        ));
    }
    if name.starts_with(':') {
        return Err(format!(
            "header {name:?} cannot be modified; \":\"-prefixed pseudo-headers are managed by the proxy"
        ));
    }
    check_header_token(name)
}

fn is_authority_header(name: &str) -> bool {
    name.eq_ignore_ascii_case(":authority") || name.eq_ignore_ascii_case("host")
}

/// The authority may be rewritten in one place only: `rewrite.authority` or one request
/// `set`/`add` of `host` / `:authority`.
fn check_authority_set_once(rule: &HttpRouteRule, path: &dyn Display, report: &mut Report) {
    let mut current: Option<(String, &str)> = rule
        .rewrite
        .as_ref()
        .and_then(|r| r.authority.as_deref())
        .filter(|a| !a.is_empty())
        .map(|a| ("rewrite.authority".to_string(), a));
    let Some(request) = rule.headers.as_ref().and_then(|h| h.request.as_ref()) else {
        return;
    };
    for (field, map) in [("set", &request.set), ("add", &request.add)] {
        for (name, value) in map.iter().filter(|(name, _)| is_authority_header(name)) {
            let here = format!("headers.request.{field}[{name}]");
            if let Some((by, have)) = &current {
                report.error(
                    format!("{path}.{here}"),
                    format!(
                        "authority is already set to {have:?} by {by}; it cannot be set again (to {value:?})"
                    ),
                );
                return;
            }
            current = Some((here, value));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// CORS, fault, mirror, redirect, direct response, retries, rewrite
// ---------------------------------------------------------------------------------------------

fn check_cors(cors: &CorsPolicy, path: &dyn Display, report: &mut Report) {
    if !cors.allow_origin.is_empty() {
        report.warn(
            "deprecated-field",
            format!("{path}.allowOrigin"),
            "allowOrigin is deprecated; use allowOrigins with exact matches",
        );
    }
    for (k, origin) in cors.allow_origins.iter().enumerate() {
        let p = format_args!("{path}.allowOrigins[{k}]");
        let Some(origin) = origin else {
            report.error(p, "allow origin is null");
            continue;
        };
        check_one_of_string_match(origin, &p, report);
        let value = origin
            .exact
            .as_deref()
            .or(origin.prefix.as_deref())
            .or(origin.regex.as_deref());
        match value {
            None | Some("") => report.error(
                p,
                "origin match has no value; set exact, prefix or regex to a non-empty string",
            ),
            Some(_) => {
                if let Some(re) = &origin.regex {
                    check_regex_at(re, &format_args!("{p}.regex"), report);
                }
            }
        }
    }
    for (k, method) in cors.allow_methods.iter().enumerate() {
        if !CORS_METHODS.contains(&method.as_str()) {
            report.error(
                format!("{path}.allowMethods[{k}]"),
                format!(
                    "method {method:?} is not one of {}",
                    CORS_METHODS.join(", ")
                ),
            );
        }
    }
    for (field, names) in [
        ("allowHeaders", &cors.allow_headers),
        ("exposeHeaders", &cors.expose_headers),
    ] {
        for (k, name) in names.iter().enumerate() {
            let message = if name.is_empty() {
                "header name is empty".to_string()
            } else if name != "*" && !is_http_token(name) {
                format!(
                    "header name {name:?} is not valid; use \"*\" or letters, digits and !#$%&'*+-.^_`|~"
                )
            } else {
                continue;
            };
            report.error(format!("{path}.{field}[{k}]"), message);
        }
    }
    if let Some(max_age) = cors.max_age {
        let p = format_args!("{path}.maxAge");
        check_duration_at(max_age, &p, report);
        if max_age.as_nanos() % 1_000_000_000 > 0 {
            report.error(
                p,
                format!("max age {max_age} must be a whole number of seconds"),
            );
        }
    }
    if let Some(mode) = &cors.unmatched_preflights
        && !["UNSPECIFIED", "FORWARD", "IGNORE"].contains(&mode.as_str())
    {
        report.error(
            format!("{path}.unmatchedPreflights"),
            format!("{mode:?} is not one of UNSPECIFIED, FORWARD, IGNORE"),
        );
    }
}

fn check_fault(fault: &HttpFaultInjection, path: &dyn Display, report: &mut Report) {
    if fault.abort.is_none() && fault.delay.is_none() {
        report.error(path, "fault injection needs an abort, a delay or both");
    }
    if let Some(abort) = &fault.abort {
        let p = format_args!("{path}.abort");
        if let Some(pct) = &abort.percentage {
            check_fault_percentage(pct, &format_args!("{p}.percentage.value"), report);
        }
        let kinds: Vec<&str> = [
            ("httpStatus", abort.http_status.is_some()),
            ("grpcStatus", abort.grpc_status.is_some()),
            ("http2Error", abort.http2_error.is_some()),
        ]
        .into_iter()
        .filter(|(_, set)| *set)
        .map(|(n, _)| n)
        .collect();
        if kinds.len() > 1 {
            report.error(
                p,
                format!(
                    "set only one of httpStatus, grpcStatus and http2Error (found {})",
                    kinds.join(" and ")
                ),
            );
        }
        if let Some(status) = abort.http_status
            && !(200..=599).contains(&status)
        {
            report.error(
                format!("{p}.httpStatus"),
                format!("HTTP status {status} must be in 200..=599"),
            );
        }
        if let Some(code) = &abort.grpc_status
            && !GRPC_STATUS_NAMES.contains(&code.as_str())
        {
            report.error(
                format!("{p}.grpcStatus"),
                format!(
                    "gRPC status {code:?} is not a known code name (e.g. UNAVAILABLE, NOT_FOUND)"
                ),
            );
        }
        if abort.http2_error.is_some() {
            report.error(
                format!("{p}.http2Error"),
                "http2Error aborts are not supported (Istio rejects them); use httpStatus or grpcStatus",
            );
        }
        if kinds.is_empty() {
            report.warn(
                "ineffective-fault",
                p,
                "abort sets neither httpStatus nor grpcStatus, so it aborts nothing",
            );
        }
    }
    if let Some(delay) = &fault.delay {
        let p = format_args!("{path}.delay");
        if let Some(pct) = &delay.percentage {
            check_fault_percentage(pct, &format_args!("{p}.percentage.value"), report);
        }
        if delay.percent.is_some() {
            report.warn(
                "deprecated-field",
                format!("{p}.percent"),
                "percent is deprecated; use percentage: {value: N}",
            );
        }
        if delay.fixed_delay.is_some() && delay.exponential_delay.is_some() {
            report.error(p, "set only one of fixedDelay and exponentialDelay");
        }
        if let Some(d) = delay.fixed_delay {
            check_duration_at(d, &format_args!("{p}.fixedDelay"), report);
        }
        if let Some(d) = delay.exponential_delay {
            let pe = format!("{p}.exponentialDelay");
            check_duration_at(d, &pe, report);
            report.error(
                pe,
                "exponentialDelay is not supported (Istio rejects it); use fixedDelay",
            );
        }
        if delay.fixed_delay.is_none() && delay.exponential_delay.is_none() {
            report.warn(
                "ineffective-fault",
                p,
                "delay sets no fixedDelay, so it delays nothing",
            );
        }
    }
}

/// Fault percentages: 0, or 0.0001..=100 (Envoy's finest granularity is one in a million).
fn check_fault_percentage(pct: &Percent, path: &dyn Display, report: &mut Report) {
    let v = pct.value;
    if !v.is_finite() || !(0.0..=100.0).contains(&v) || (v > 0.0 && v < 0.0001) {
        report.error(path, format!("percentage {v} must be 0 or in 0.0001..=100"));
    }
}

fn check_mirrors(rule: &HttpRouteRule, path: &dyn Display, report: &mut Report) {
    if let Some(pct) = rule.mirror_percent {
        let p = format_args!("{path}.mirrorPercent");
        if !(0..=100).contains(&pct) {
            report.error(p, format!("mirrorPercent {pct} must be in 0..=100"));
        }
        report.warn(
            "deprecated-field",
            p,
            "mirrorPercent is deprecated; use mirrorPercentage: {value: N}",
        );
    }
    if let Some(pct) = &rule.mirror_percentage {
        check_mirror_percentage(pct, &format_args!("{path}.mirrorPercentage.value"), report);
    }
    if let Some(mirror) = &rule.mirror {
        check_destination(mirror, &format_args!("{path}.mirror"), report);
    }
    for (k, policy) in rule.mirrors.iter().flatten().enumerate() {
        let p = format_args!("{path}.mirrors[{k}]");
        let Some(HttpMirrorPolicy {
            destination,
            percentage,
            ..
        }) = policy
        else {
            report.error(p, "mirror is null");
            continue;
        };
        match destination {
            None => report.error(format!("{p}.destination"), "destination is required"),
            Some(d) => check_destination(d, &format_args!("{p}.destination"), report),
        }
        if let Some(pct) = percentage {
            check_mirror_percentage(pct, &format_args!("{p}.percentage.value"), report);
        }
    }
}

fn check_mirror_percentage(pct: &Percent, path: &dyn Display, report: &mut Report) {
    let v = pct.value;
    if !v.is_finite() || !(0.0..=100.0).contains(&v) {
        report.error(path, format!("mirror percentage {v} must be in 0..=100"));
    }
}

fn check_redirect(
    redirect: &HttpRedirect,
    matches: &[Option<HttpMatchRequest>],
    path: &dyn Display,
    report: &mut Report,
) {
    check_authority_value(redirect.authority.as_deref(), path, report);
    let set = |s: &Option<String>| s.as_deref().is_some_and(|s| !s.is_empty());
    let (uri, prefix_rewrite) = (set(&redirect.uri), set(&redirect.prefix_rewrite));
    if uri && prefix_rewrite {
        report.error(
            path,
            format!(
                "redirect sets both uri {:?} and prefixRewrite {:?}; use one",
                redirect.uri.as_deref().unwrap_or_default(),
                redirect.prefix_rewrite.as_deref().unwrap_or_default()
            ),
        );
    }
    if prefix_rewrite {
        let non_prefix = matches.iter().enumerate().find_map(|(j, m)| {
            m.as_ref()?
                .uri
                .as_ref()
                .filter(|u| u.prefix.is_none())
                .map(|u| (j, u))
        });
        if let Some((j, uri)) = non_prefix {
            let kind = if uri.exact.is_some() {
                "an exact"
            } else if uri.regex.is_some() {
                "a regex"
            } else {
                "an empty"
            };
            report.error(
                format!("{path}.prefixRewrite"),
                format!("prefixRewrite needs every uri match of the rule to be a prefix match; match[{j}].uri is {kind} match"),
            );
        }
    }
    if !uri
        && !prefix_rewrite
        && !set(&redirect.authority)
        && redirect.port.is_none()
        && redirect.derive_port.is_none()
        && !set(&redirect.scheme)
    {
        report.error(path, "redirect changes nothing; set uri, prefixRewrite, authority, scheme, port or derivePort");
    }
    if let Some(code) = redirect.redirect_code.filter(|&c| c != 0) {
        if !(300..=399).contains(&code) {
            report.error(
                format!("{path}.redirectCode"),
                format!("redirect code {code} must be in 300..=399"),
            );
        } else if ![301, 302, 303, 307, 308].contains(&code) {
            report.warn(
                "unsupported-redirect-code",
                format!("{path}.redirectCode"),
                format!(
                    "redirect code {code} passes validation but Istio only generates 301, 302, 303, 307 and 308; \
                     the route gets no action"
                ),
            );
        }
    }
    if let Some(scheme) = redirect.scheme.as_deref().filter(|s| !s.is_empty())
        && scheme != "http"
        && scheme != "https"
    {
        report.error(
            format!("{path}.scheme"),
            format!("scheme {scheme:?} must be \"http\" or \"https\""),
        );
    }
    if redirect.port.is_some() && redirect.derive_port.is_some() {
        report.error(path, "set only one of port and derivePort");
    }
    if let Some(port) = redirect.port.filter(|&p| p != 0) {
        check_port_at(port, &format_args!("{path}.port"), report);
    }
    if let Some(mode) = &redirect.derive_port
        && mode != "FROM_PROTOCOL_DEFAULT"
        && mode != "FROM_REQUEST_PORT"
    {
        report.error(
            format!("{path}.derivePort"),
            format!("{mode:?} is not one of FROM_PROTOCOL_DEFAULT, FROM_REQUEST_PORT"),
        );
    }
}

fn check_direct_response(direct: &HttpDirectResponse, path: &dyn Display, report: &mut Report) {
    if let Some(body) = &direct.body {
        let p = format_args!("{path}.body");
        if body.string.is_some() && body.bytes.is_some() {
            report.error(p, "set only one of string and bytes");
        }
        // `bytes` is base64 in YAML; Istio measures the decoded size.
        let sizes = [
            ("string", body.string.as_ref().map(|s| s.len())),
            (
                "bytes",
                body.bytes
                    .as_ref()
                    .map(|b| b.trim_end_matches('=').len() * 3 / 4),
            ),
        ];
        for (field, size) in sizes {
            match size {
                Some(n) if n > MB => report.error(
                    format!("{p}.{field}"),
                    format!("body of {n} bytes is larger than the 1 MiB limit"),
                ),
                Some(n) if n > 100 * KB => report.warn(
                    "large-direct-response",
                    format!("{p}.{field}"),
                    format!("body of {n} bytes is over 100 KiB; large bodies slow down configuration distribution"),
                ),
                _ => {}
            }
        }
    }
    match direct.status {
        None => report.error(format!("{path}.status"), "status is required"),
        Some(status) if !(200..=599).contains(&status) => {
            report.error(
                format!("{path}.status"),
                format!("HTTP status {status} must be in 200..=599"),
            );
        }
        Some(_) => {}
    }
}

pub(crate) fn check_retries(retries: &HttpRetry, path: &dyn Display, report: &mut Report) {
    let attempts = retries.attempts.unwrap_or(0);
    if attempts < 0 {
        report.error(
            format!("{path}.attempts"),
            format!("attempts {attempts} is negative; use 0 to disable retries"),
        );
    } else if attempts > i64::from(i32::MAX) {
        report.error(
            format!("{path}.attempts"),
            format!("attempts {attempts} exceeds {}", i32::MAX),
        );
    }
    let retry_on = retries.retry_on.as_deref().filter(|s| !s.is_empty());
    if attempts == 0 {
        let configured: Vec<&str> = [
            ("perTryTimeout", retries.per_try_timeout.is_some()),
            ("retryOn", retry_on.is_some()),
            (
                "retryRemoteLocalities",
                retries.retry_remote_localities.is_some(),
            ),
        ]
        .into_iter()
        .filter(|(_, set)| *set)
        .map(|(n, _)| n)
        .collect();
        if !configured.is_empty() {
            let (verb, them) = if configured.len() > 1 {
                ("are", "them")
            } else {
                ("is", "it")
            };
            report.error(
                path,
                format!(
                    "attempts is 0 (retries disabled) but {} {verb} set; remove {them} or set attempts",
                    configured.join(" and ")
                ),
            );
        }
    }
    if let Some(d) = retries.per_try_timeout {
        check_duration_at(d, &format_args!("{path}.perTryTimeout"), report);
    }
    if let Some(retry_on) = retry_on {
        for token in retry_on.split(',') {
            let known_status = token.parse::<i64>().ok().is_some_and(is_known_http_status);
            if !known_status && !RETRY_ON_POLICIES.contains(&token) {
                report.error(
                    format!("{path}.retryOn"),
                    format!(
                        "{token:?} is not a retry condition; use an HTTP status code or one of {}",
                        RETRY_ON_POLICIES.join(", ")
                    ),
                );
            }
        }
    }
    if let Some(d) = retries.backoff {
        check_duration_at(d, &format_args!("{path}.backoff"), report);
    }
}

/// Status codes with a registered reason phrase (Go's `net/http.StatusText`).
pub(crate) fn is_known_http_status(code: i64) -> bool {
    matches!(code,
        100..=103 | 200..=208 | 226 | 300..=305 | 307 | 308 | 400..=418 | 421..=426 | 428 | 429
        | 431 | 451 | 500..=508 | 510 | 511)
}

/// A rewritten or redirected authority becomes the `:authority` header (or the `Location`
/// header's host): Envoy's `host_rewrite_literal` and `host_redirect` refuse NUL, CR and LF
/// (`HTTP_HEADER_VALUE`), `http` every control character but tab.
fn check_authority_value(authority: Option<&str>, path: &dyn Display, report: &mut Report) {
    if let Some(a) = authority
        && let Err(message) = check_header_chars(a, "authority")
    {
        report.error(format!("{path}.authority"), message);
    }
}

fn check_rewrite(rewrite: &HttpRewrite, path: &dyn Display, report: &mut Report) {
    check_authority_value(rewrite.authority.as_deref(), path, report);
    let uri = rewrite.uri.as_deref().is_some_and(|u| !u.is_empty());
    let authority = rewrite.authority.as_deref().is_some_and(|a| !a.is_empty());
    if uri && rewrite.uri_regex_rewrite.is_some() {
        report.error(path, "rewrite sets both uri and uriRegexRewrite; use one");
    }
    if !uri && !authority && rewrite.uri_regex_rewrite.is_none() {
        report.error(
            path,
            "rewrite changes nothing; set uri, uriRegexRewrite or authority",
        );
    }
    if let Some(rr) = &rewrite.uri_regex_rewrite {
        let p = format_args!("{path}.uriRegexRewrite");
        match rr.pattern.as_deref() {
            None | Some("") => report.error(
                format!("{p}.match"),
                "uriRegexRewrite needs match (the pattern)",
            ),
            Some(re) => check_regex_at(re, &format_args!("{p}.match"), report),
        }
        if rr.rewrite.as_deref().is_none_or(str::is_empty) {
            report.error(
                format!("{p}.rewrite"),
                "uriRegexRewrite needs rewrite (the replacement)",
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Destinations
// ---------------------------------------------------------------------------------------------

fn check_http_destinations(
    route: &[Option<HttpRouteDestination>],
    path: &dyn Display,
    report: &mut Report,
) {
    let weights = route.iter().enumerate().map(|(k, d)| {
        let p = format!("{path}[{k}]");
        match d {
            None => {
                report.error(&p, "destination entry is null");
                None
            }
            Some(d) => {
                if let Some(headers) = &d.headers {
                    check_header_operations(headers, &format_args!("{p}.headers"), report);
                }
                Some((p, d.destination.as_ref(), d.weight))
            }
        }
    });
    let weights: Vec<_> = weights.collect();
    check_weighted(weights, route.len(), path, report);
}

fn check_route_destinations(
    route: &[Option<RouteDestination>],
    path: &dyn Display,
    report: &mut Report,
) {
    let weights: Vec<_> = route
        .iter()
        .enumerate()
        .map(|(k, d)| {
            let p = format!("{path}[{k}]");
            match d {
                None => {
                    report.error(&p, "destination entry is null");
                    None
                }
                Some(d) => Some((p, d.destination.as_ref(), d.weight)),
            }
        })
        .collect();
    check_weighted(weights, route.len(), path, report);
}

/// One destination of a route: its path, destination and weight.
type WeightedEntry<'a> = (String, Option<&'a Destination>, Option<i64>);

/// At most [`MAX_DESTINATIONS`](crate::limits::MAX_DESTINATIONS) entries; destination
/// required and valid; weights non-negative int32; several destinations need a positive total
/// (a single destination's weight is ignored) that fits in a uint32.
fn check_weighted(
    entries: Vec<Option<WeightedEntry<'_>>>,
    count: usize,
    path: &dyn Display,
    report: &mut Report,
) {
    check_count(
        count,
        limit!(MAX_DESTINATIONS),
        "destinations",
        path,
        report,
    );
    let (max_weight, max_weight_name) = limit!(MAX_WEIGHT);
    let (max_total, max_total_name) = limit!(MAX_WEIGHT_SUM);
    let mut total: u64 = 0;
    let mut all_weights_valid = true;
    for (p, destination, weight) in entries.into_iter().flatten() {
        match destination {
            None => report.error(format!("{p}.destination"), "destination is required"),
            Some(d) => check_destination(d, &format_args!("{p}.destination"), report),
        }
        let weight = weight.unwrap_or(0);
        match u64::try_from(weight) {
            Err(_) => {
                all_weights_valid = false;
                report.error(
                    format!("{p}.weight"),
                    format!(
                        "weight {weight} is negative; weights are relative and must be 0 or more"
                    ),
                );
            }
            Ok(_) if weight > max_weight => {
                all_weights_valid = false;
                report.error(
                    format!("{p}.weight"),
                    format!(
                        "weight {weight} exceeds the limit of {max_weight} ({max_weight_name})"
                    ),
                );
            }
            Ok(w) => total += w,
        }
    }
    // The totals are only meaningful once every weight is.
    if !all_weights_valid {
        return;
    }
    if count > 1 && total == 0 {
        report.error(
            path,
            format!("total weight of {count} destinations is 0; at least one must be positive"),
        );
    } else if total > max_total {
        report.error(
            path,
            format!("total weight {total} exceeds the limit of {max_total} ({max_total_name})"),
        );
    }
}

fn check_destination(d: &Destination, path: &dyn Display, report: &mut Report) {
    if d.host.is_empty() {
        report.error(format!("{path}.host"), "host is required; name a service");
    } else if d.host == "*" {
        report.error(
            format!("{path}.host"),
            "destination host \"*\" is not allowed; name a service",
        );
    } else if let Err(message) = is_valid_wildcard_domain(&d.host) {
        report.error(format!("{path}.host"), message);
    }
    if let Some(subset) = d.subset.as_deref().filter(|s| !s.is_empty())
        && !is_dns1123_label(subset)
    {
        report.error(
            format!("{path}.subset"),
            format!("subset {subset:?} is not a valid DNS-1123 label ({LABEL_RULE})"),
        );
    }
    if let Some(port) = &d.port {
        match port.number {
            None => report.error(format!("{path}.port.number"), "port number is required"),
            Some(n) => check_port_at(n, &format_args!("{path}.port.number"), report),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// TLS and TCP rules
// ---------------------------------------------------------------------------------------------

fn check_tls_rule(
    rule: &TlsRoute,
    spec: &VirtualServiceSpec,
    path: &dyn Display,
    report: &mut Report,
) {
    if rule.matches.is_empty() {
        report.error(
            format!("{path}.match"),
            "tls rule needs at least one match with sniHosts",
        );
    }
    check_l4_matches(&rule.matches, path, report, |m, p, report| {
        check_tls_match(m, spec, p, report)
    });
    check_l4_route(&rule.route, "tls", path, report);
}

fn check_tls_match(
    m: &TlsMatchAttributes,
    spec: &VirtualServiceSpec,
    path: &dyn Display,
    report: &mut Report,
) {
    if m.sni_hosts.is_empty() {
        report.error(
            format!("{path}.sniHosts"),
            "a tls match needs at least one SNI host",
        );
    }
    // Istio checks SNI names with the gateway rules unless `mesh` is listed (even when gateways is empty).
    let gateway_rules = !spec.gateways.iter().any(|g| g == MESH);
    for (k, sni) in m.sni_hosts.iter().enumerate() {
        let p = format_args!("{path}.sniHosts[{k}]");
        let syntax = if gateway_rules {
            check_gateway_bound_domain(sni, true)
        } else {
            is_valid_wildcard_domain(sni)
        };
        if let Err(message) = syntax {
            if is_ip_literal(sni) {
                report.warn(
                    "sni-ip-address",
                    p,
                    format!("SNI host {sni:?} is an IP address; SNI carries names and most clients never send an IP"),
                );
            } else {
                report.error(p, message);
            }
            continue;
        }
        if !spec.hosts.iter().any(|h| host_subset_of(sni, h)) {
            report.error(
                p,
                format!(
                    "SNI host {sni:?} is not a subset of any host of the virtual service [{}]",
                    spec.hosts.join(", ")
                ),
            );
        }
    }
    check_l4_common(
        &m.destination_subnets,
        m.port,
        &m.source_labels,
        &m.gateways,
        path,
        report,
    );
}

fn check_tcp_rule(rule: &TcpRoute, path: &dyn Display, report: &mut Report) {
    check_l4_matches(&rule.matches, path, report, |m, p, report| {
        check_l4_common(
            &m.destination_subnets,
            m.port,
            &m.source_labels,
            &m.gateways,
            p,
            report,
        )
    });
    check_l4_route(&rule.route, "tcp", path, report);
}

/// The `match` list of a tls or tcp rule at `path`: within the limit, no null entry, and each
/// entry checked by `check` at its own path.
fn check_l4_matches<M>(
    matches: &[Option<M>],
    path: &dyn Display,
    report: &mut Report,
    mut check: impl FnMut(&M, &dyn Display, &mut Report),
) {
    check_count(
        matches.len(),
        limit!(MAX_MATCHES_PER_RULE),
        "match blocks",
        &format_args!("{path}.match"),
        report,
    );
    for (j, m) in matches.iter().enumerate() {
        let p = format_args!("{path}.match[{j}]");
        let Some(m) = m else {
            report.error(p, "match is null");
            continue;
        };
        check(m, &p, report);
    }
}

/// The `route` of a `kind` (tls or tcp) rule at `path`: at least one destination, each valid.
fn check_l4_route(
    route: &[Option<RouteDestination>],
    kind: &str,
    path: &dyn Display,
    report: &mut Report,
) {
    if route.is_empty() {
        report.error(
            format!("{path}.route"),
            format!("{kind} rule has no route; at least one destination is required"),
        );
    }
    check_route_destinations(route, &format_args!("{path}.route"), report);
}

fn check_l4_common(
    subnets: &[String],
    port: Option<i64>,
    labels: &BTreeMap<String, String>,
    gateways: &[String],
    path: &dyn Display,
    report: &mut Report,
) {
    for (k, subnet) in subnets.iter().enumerate() {
        if !is_ip_or_cidr(subnet) {
            report.error(
                format!("{path}.destinationSubnets[{k}]"),
                format!("{subnet:?} is not an IP address or a CIDR block"),
            );
        }
    }
    if let Some(port) = port.filter(|&p| p != 0) {
        check_port_at(port, &format_args!("{path}.port"), report);
    }
    check_labels(labels, &format_args!("{path}.sourceLabels"), report);
    for (k, gateway) in gateways.iter().enumerate() {
        check_gateway_name(gateway, &format_args!("{path}.gateways[{k}]"), report);
    }
}

// ---------------------------------------------------------------------------------------------
// Ports and durations
// ---------------------------------------------------------------------------------------------

fn check_port_at(port: i64, path: &dyn Display, report: &mut Report) {
    if !(1..=65535).contains(&port) {
        report.error(path, format!("port {port} must be in 1..=65535"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compile::report::validate_yaml;

    fn validate(yaml: &str) -> Report {
        validate_yaml(yaml, validate_virtual_service)
    }

    fn errors(yaml: &str) -> Vec<(String, String)> {
        validate(yaml).errors
    }

    /// The single error of `yaml`, as `(path, message)`.
    fn error(yaml: &str) -> (String, String) {
        let errors = errors(yaml);
        assert_eq!(errors.len(), 1, "expected one error, got {errors:#?}");
        errors.into_iter().next().expect("one error")
    }

    fn warnings(yaml: &str) -> Vec<(&'static str, String, String)> {
        let report = validate(yaml);
        assert!(
            report.errors.is_empty(),
            "unexpected errors {:#?}",
            report.errors
        );
        report.warnings
    }

    fn pair(path: &str, message: &str) -> (String, String) {
        (path.to_string(), message.to_string())
    }

    /// A spec for host `r` with one http rule (flow-style YAML for the rule).
    fn rule(rule: &str) -> String {
        format!("{{hosts: [r], http: [{rule}]}}")
    }

    const BOOKINFO_REVIEWS: &str = r#"
hosts:
- reviews
- reviews.prod.svc.cluster.local
gateways: [mesh, istio-system/bookinfo-gateway]
http:
- name: jason
  match:
  - headers:
      end-user:
        exact: jason
    uri:
      prefix: /reviews
    ignoreUriCase: true
  - headers:
      x-canary: {}
    withoutHeaders:
      x-opt-out:
        regex: "*"
  route:
  - destination:
      host: reviews
      subset: v2
      port:
        number: 9080
    weight: 90
    headers:
      response:
        set:
          x-served-by: "v2 %HOSTNAME%"
  - destination:
      host: reviews
      subset: v3
    weight: 10
  fault:
    delay:
      percentage:
        value: 0.1
      fixedDelay: 7s
    abort:
      percentage:
        value: 0.0001
      httpStatus: 503
  retries:
    attempts: 3
    perTryTimeout: 2s
    retryOn: gateway-error,connect-failure,refused-stream,503
    backoff: 25ms
  timeout: 10s
  mirror:
    host: reviews
    subset: v4
  mirrorPercentage:
    value: 12.5
  corsPolicy:
    allowOrigins:
    - exact: https://example.com
    - regex: "https://.*\\.example\\.com"
    allowMethods: [GET, POST, OPTIONS]
    allowHeaders: [x-user, "*"]
    exposeHeaders: [x-request-id]
    maxAge: 24h
    allowCredentials: true
  headers:
    request:
      set:
        x-forwarded-client: "%DOWNSTREAM_REMOTE_ADDRESS%"
      add:
        x-percent: "100%%"
      remove: [x-debug]
- name: api
  match:
  - uri:
      regex: "/api/v[0-9]+/.*"
    method:
      exact: GET
    queryParams:
      tenant:
        exact: acme
  rewrite:
    uriRegexRewrite:
      match: "^/api/v[0-9]+/(.*)$"
      rewrite: /\1
    authority: reviews.internal
  route:
  - destination:
      host: reviews
      subset: v1
- route:
  - destination:
      host: reviews
      subset: v1
"#;

    #[test]
    fn bookinfo_reviews_with_every_feature_is_valid() {
        let report = validate(BOOKINFO_REVIEWS);
        assert_eq!(report.errors, vec![]);
        assert_eq!(report.warnings, vec![]);
    }

    #[test]
    fn needs_a_rule() {
        assert_eq!(
            error("{hosts: [r]}"),
            pair(
                "spec",
                "a virtual service needs at least one http, tcp or tls rule"
            )
        );
    }

    #[test]
    fn hosts_must_be_domain_names_or_ips() {
        let e = errors(
            "{hosts: [foo.ba!r, 10.0.0.1, '::1', foo.*.com, '*', a.123], gateways: [gw], \
             http: [{route: [{destination: {host: r}}]}]}",
        );
        assert_eq!(
            e,
            vec![
                pair(
                    "spec.hosts[0]",
                    "\"foo.ba!r\" is not a valid domain name: label \"ba!r\" must be 1-63 letters, \
                     digits or '-', starting and ending with a letter or digit"
                ),
                pair(
                    "spec.hosts[3]",
                    "\"foo.*.com\" is not a valid domain name: label \"*\" must be 1-63 letters, \
                     digits or '-', starting and ending with a letter or digit; \"*\" is allowed \
                     only at the start of the first label"
                ),
                pair(
                    "spec.hosts[5]",
                    "\"a.123\" is not a valid domain name: top-level label \"123\" is all digits"
                ),
            ]
        );
    }

    #[test]
    fn wildcard_host_is_rejected_on_the_mesh_only() {
        let mesh = "{hosts: ['*'], http: [{route: [{destination: {host: r}}]}]}";
        assert_eq!(
            error(mesh),
            pair(
                "spec.hosts[0]",
                "host \"*\" is not allowed when the virtual service applies to the mesh (gateways \
                 empty or listing \"mesh\"); name the services it is for"
            )
        );
        let gateway =
            "{hosts: ['*'], gateways: [ns/gw], http: [{route: [{destination: {host: r}}]}]}";
        assert_eq!(errors(gateway), vec![]);
    }

    #[test]
    fn overlapping_hosts_are_duplicates() {
        let yaml = "{hosts: ['*.foo.bar', a.b, '*.bar', a.b], http: [{route: [{destination: {host: r}}]}]}";
        assert_eq!(
            errors(yaml),
            vec![
                pair(
                    "spec.hosts[2]",
                    "duplicate hosts \"*.foo.bar\" and \"*.bar\" overlap"
                ),
                pair(
                    "spec.hosts[3]",
                    "duplicate hosts \"a.b\" and \"a.b\" overlap"
                ),
            ]
        );
    }

    #[test]
    fn weights_are_relative() {
        let negative = rule(
            "{route: [{destination: {host: a}, weight: 5}, {destination: {host: b}, weight: -5}]}",
        );
        assert_eq!(
            error(&negative),
            pair(
                "spec.http[0].route[1].weight",
                "weight -5 is negative; weights are relative and must be 0 or more"
            )
        );
        let zero = rule("{route: [{destination: {host: a}}, {destination: {host: b}, weight: 0}]}");
        assert_eq!(
            error(&zero),
            pair(
                "spec.http[0].route",
                "total weight of 2 destinations is 0; at least one must be positive"
            )
        );
        // One destination: its weight is ignored. {0, 5}: all to the second.
        assert_eq!(
            errors(&rule("{route: [{destination: {host: a}, weight: 0}]}")),
            vec![]
        );
        assert_eq!(
            errors(&rule(
                "{route: [{destination: {host: a}, weight: 0}, {destination: {host: b}, weight: 5}]}"
            )),
            vec![]
        );
        let huge = rule(
            "{route: [{destination: {host: a}, weight: 2147483647}, {destination: {host: b}, \
             weight: 2147483647}, {destination: {host: c}, weight: 2147483647}]}",
        );
        assert_eq!(
            error(&huge),
            pair(
                "spec.http[0].route",
                "total weight 6442450941 exceeds the limit of 4294967295 (limits::MAX_WEIGHT_SUM)"
            )
        );
    }

    #[test]
    fn durations_need_whole_milliseconds() {
        let timeout = |t: &str| {
            errors(&rule(&format!(
                "{{timeout: {t}, route: [{{destination: {{host: a}}}}]}}"
            )))
        };
        assert_eq!(
            timeout("999ns"),
            vec![pair(
                "spec.http[0].timeout",
                "duration 999ns must be at least 1ms"
            )]
        );
        assert_eq!(
            timeout("0s"),
            vec![pair(
                "spec.http[0].timeout",
                "duration 0s must be at least 1ms"
            )]
        );
        assert_eq!(
            timeout("1.5ms"),
            vec![pair(
                "spec.http[0].timeout",
                "duration 1500us must be a whole number of milliseconds"
            )]
        );
        assert_eq!(timeout("0.5s"), vec![]);
    }

    #[test]
    fn delegate_virtual_service_rules() {
        let e = errors(
            "{gateways: [gw], http: [{delegate: {name: d}}], tcp: [{route: [{destination: {host: a}}]}]}",
        );
        assert_eq!(
            e,
            vec![
                pair(
                    "spec.gateways",
                    "a delegate virtual service (one without hosts) must not list gateways; the \
                     root virtual service decides where it applies"
                ),
                pair(
                    "spec.tcp",
                    "a delegate virtual service (one without hosts) cannot have tcp rules; only \
                     http rules can be delegated"
                ),
                pair(
                    "spec.http[0].delegate",
                    "a delegate virtual service (one without hosts) cannot delegate again; \
                     delegation is one level deep"
                ),
                pair(
                    "spec.http[0]",
                    "rule has no action; set one of route, redirect or directResponse"
                ),
            ]
        );
        let root = rule("{delegate: {name: d, namespace: ns}, route: [{destination: {host: a}}]}");
        assert_eq!(
            error(&root),
            pair(
                "spec.http[0].route",
                "a rule with delegate cannot also have a route; the delegate virtual service \
                 supplies the destinations"
            )
        );
        assert_eq!(
            errors(&rule("{delegate: {name: d, namespace: ns}}")),
            vec![]
        );
    }

    #[test]
    fn one_action_per_rule() {
        assert_eq!(
            errors(&rule(
                "{redirect: {uri: /x}, route: [{destination: {host: a}}], fault: {abort: {httpStatus: 500}}}"
            )),
            vec![
                pair(
                    "spec.http[0].redirect",
                    "redirect cannot be combined with route; a rule either forwards (route), \
                     redirects or answers itself (directResponse)"
                ),
                pair(
                    "spec.http[0].fault",
                    "fault injection cannot be combined with redirect"
                ),
            ]
        );
        assert_eq!(
            error(&rule("{name: r1}")),
            pair(
                "spec.http[0]",
                "rule has no action; set one of route, redirect, directResponse or delegate"
            )
        );
        assert_eq!(
            error(&rule(
                "{mirror: {host: m}, mirrors: [{destination: {host: mm}}], route: [{destination: {host: a}}]}"
            )),
            pair(
                "spec.http[0].mirrors",
                "mirror and mirrors cannot both be set; move the mirror into mirrors"
            )
        );
        assert_eq!(
            error("{hosts: [r], http: [null]}"),
            pair("spec.http[0]", "http rule is null")
        );
    }

    #[test]
    fn match_blocks() {
        let yaml = rule(
            "{match: [{headers: {x-null: null, 'bad name': {exact: v}, x-p: {prefix: ''}, \
             x-r: {regex: '['}, x-two: {exact: a, prefix: b}}, uri: {prefix: ''}, \
             method: {prefix: ''}, port: 70000, sourceNamespace: Not_Valid, \
             sourceLabels: {'app/x/y': v, ok: 'bad value'}, withoutHeaders: {x-any: {regex: '*'}}}], \
             route: [{destination: {host: a}}]}",
        );
        let e = errors(&yaml);
        let paths: Vec<&str> = e.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(
            paths,
            vec![
                "spec.http[0].match[0].headers[bad name]",
                "spec.http[0].match[0].headers[x-null]",
                "spec.http[0].match[0].headers[x-p].prefix",
                "spec.http[0].match[0].headers[x-r].regex",
                "spec.http[0].match[0].headers[x-two]",
                "spec.http[0].match[0].method.prefix",
                "spec.http[0].match[0].port",
                "spec.http[0].match[0].sourceLabels[app/x/y]",
                "spec.http[0].match[0].sourceLabels[ok]",
                "spec.http[0].match[0].sourceNamespace",
            ],
            "{e:#?}"
        );
        assert_eq!(
            e[0].1,
            "header name \"bad name\" is not valid; use letters, digits and !#$%&'*+-.^_`|~"
        );
        assert_eq!(
            e[1].1,
            "header match is null; use {} to require only that the header is present"
        );
        assert_eq!(
            e[2].1,
            "prefix \"\" is empty; a prefix match needs at least one character"
        );
        assert!(
            e[3].1.starts_with("regex \"[\" does not parse"),
            "{}",
            e[3].1
        );
        assert_eq!(
            e[4].1,
            "set only one of exact, prefix and regex (found exact and prefix)"
        );
        assert_eq!(e[6].1, "port 70000 must be in 1..=65535");
        assert_eq!(
            e[9].1,
            "namespace \"Not_Valid\" is not a valid DNS-1123 label (1-63 letters, digits or '-', \
             starting and ending with a letter or digit)"
        );
    }

    #[test]
    fn long_regexes_are_rejected() {
        let long = format!("/{}", "a".repeat(1030));
        let e = error(&rule(&format!(
            "{{match: [{{uri: {{regex: '{long}'}}}}], route: [{{destination: {{host: a}}}}]}}"
        )));
        assert_eq!(e.0, "spec.http[0].match[0].uri.regex");
        assert!(e.1.contains("1031 bytes"), "{}", e.1);
    }

    #[test]
    fn jwt_claims_need_a_gateway_only_virtual_service() {
        let mesh = "{hosts: [r], http: [{match: [{headers: {'@request.auth.claims.group': {exact: a}}}], \
                    route: [{destination: {host: a}}]}]}";
        assert_eq!(
            error(mesh),
            pair(
                "spec.http[0].match[0].headers[@request.auth.claims.group]",
                "JWT claim routing (\"@request.auth.claims.group\") works only on gateways, but \
                 this virtual service applies to the mesh (no gateways are listed, so it applies \
                 to the mesh)"
            )
        );
        let gateway = mesh.replace("{hosts: [r],", "{hosts: [r], gateways: [ns/gw],");
        assert_eq!(errors(&gateway), vec![]);
    }

    #[test]
    fn header_operations() {
        let yaml = rule(
            "{headers: {request: {set: {':path': /x, host: h}, remove: [Host, ':method']}, \
             response: {add: {'': v, ok: \"a\\nb\"}, set: {x: 'abc%'}}}, \
             route: [{destination: {host: a}}]}",
        );
        assert_eq!(
            errors(&yaml),
            vec![
                pair(
                    "spec.http[0].headers.request.set[:path]",
                    "header \":path\" cannot be set; \":\"-prefixed pseudo-headers other than \
                     \":authority\" are managed by the proxy"
                ),
                pair(
                    "spec.http[0].headers.request.remove[0]",
                    "header \"Host\" cannot be modified here; only request set/add may change it \
                     (as the authority)"
                ),
                pair(
                    "spec.http[0].headers.request.remove[1]",
                    "header \":method\" cannot be modified; \":\"-prefixed pseudo-headers are \
                     managed by the proxy"
                ),
                pair(
                    "spec.http[0].headers.response.set[x]",
                    "header value \"abc%\" ends with a lone %; write %% for a literal %"
                ),
                pair("spec.http[0].headers.response.add", "header name is empty"),
                pair(
                    "spec.http[0].headers.response.add[ok]",
                    "header value \"a\\nb\" contains control character U+000A; only tab is allowed"
                ),
            ]
        );
    }

    #[test]
    fn authority_is_set_in_one_place() {
        let yaml = rule(
            "{rewrite: {authority: bar}, headers: {request: {set: {':authority': foo}, add: {host: baz}}}, \
             route: [{destination: {host: a}}]}",
        );
        assert_eq!(
            error(&yaml),
            pair(
                "spec.http[0].headers.request.set[:authority]",
                "authority is already set to \"bar\" by rewrite.authority; it cannot be set again (to \"foo\")"
            )
        );
        let twice = rule(
            "{headers: {request: {set: {host: a}, add: {':authority': b}}}, route: [{destination: {host: a}}]}",
        );
        assert_eq!(
            error(&twice),
            pair(
                "spec.http[0].headers.request.add[:authority]",
                "authority is already set to \"a\" by headers.request.set[host]; it cannot be set again (to \"b\")"
            )
        );
    }

    #[test]
    fn cors_policy() {
        let yaml = rule(
            "{corsPolicy: {allowOrigins: [{exact: ''}, {regex: '('}], allowOrigin: [a.com], \
             allowMethods: [GET, PUTT], allowHeaders: ['a b'], exposeHeaders: [''], maxAge: 2.5s, \
             unmatchedPreflights: DROP}, route: [{destination: {host: a}}]}",
        );
        let report = validate(&yaml);
        let e: Vec<(&str, &str)> = report
            .errors
            .iter()
            .map(|(p, m)| (p.as_str(), m.as_str()))
            .collect();
        assert_eq!(
            e[0],
            (
                "spec.http[0].corsPolicy.allowOrigins[0]",
                "origin match has no value; set exact, prefix or regex to a non-empty string"
            )
        );
        assert_eq!(e[1].0, "spec.http[0].corsPolicy.allowOrigins[1].regex");
        assert_eq!(
            e[2],
            (
                "spec.http[0].corsPolicy.allowMethods[1]",
                "method \"PUTT\" is not one of GET, HEAD, POST, PUT, PATCH, DELETE, CONNECT, OPTIONS, TRACE, *"
            )
        );
        assert_eq!(
            e[3],
            (
                "spec.http[0].corsPolicy.allowHeaders[0]",
                "header name \"a b\" is not valid; use \"*\" or letters, digits and !#$%&'*+-.^_`|~"
            )
        );
        assert_eq!(
            e[4],
            (
                "spec.http[0].corsPolicy.exposeHeaders[0]",
                "header name is empty"
            )
        );
        assert_eq!(
            e[5],
            (
                "spec.http[0].corsPolicy.maxAge",
                "max age 2500ms must be a whole number of seconds"
            )
        );
        assert_eq!(
            e[6],
            (
                "spec.http[0].corsPolicy.unmatchedPreflights",
                "\"DROP\" is not one of UNSPECIFIED, FORWARD, IGNORE"
            )
        );
        assert_eq!(e.len(), 7);
        assert_eq!(
            report.warnings,
            vec![(
                "deprecated-field",
                "spec.http[0].corsPolicy.allowOrigin".to_string(),
                "allowOrigin is deprecated; use allowOrigins with exact matches".to_string()
            )]
        );
    }

    #[test]
    fn fault_injection() {
        let route = "route: [{destination: {host: a}}]";
        assert_eq!(
            error(&rule(&format!("{{fault: {{}}, {route}}}"))),
            pair(
                "spec.http[0].fault",
                "fault injection needs an abort, a delay or both"
            )
        );
        let yaml = rule(&format!(
            "{{fault: {{abort: {{httpStatus: 600, grpcStatus: NOPE, percentage: {{value: 0.00001}}}}, \
             delay: {{exponentialDelay: 1s, percentage: {{value: 101}}}}}}, {route}}}"
        ));
        assert_eq!(
            errors(&yaml),
            vec![
                pair(
                    "spec.http[0].fault.abort.percentage.value",
                    "percentage 0.00001 must be 0 or in 0.0001..=100"
                ),
                pair(
                    "spec.http[0].fault.abort",
                    "set only one of httpStatus, grpcStatus and http2Error (found httpStatus and grpcStatus)"
                ),
                pair(
                    "spec.http[0].fault.abort.httpStatus",
                    "HTTP status 600 must be in 200..=599"
                ),
                pair(
                    "spec.http[0].fault.abort.grpcStatus",
                    "gRPC status \"NOPE\" is not a known code name (e.g. UNAVAILABLE, NOT_FOUND)"
                ),
                pair(
                    "spec.http[0].fault.delay.percentage.value",
                    "percentage 101 must be 0 or in 0.0001..=100"
                ),
                pair(
                    "spec.http[0].fault.delay.exponentialDelay",
                    "exponentialDelay is not supported (Istio rejects it); use fixedDelay"
                ),
            ]
        );
        let no_type = rule(&format!(
            "{{fault: {{abort: {{percentage: {{value: 5}}}}}}, {route}}}"
        ));
        assert_eq!(
            warnings(&no_type),
            vec![(
                "ineffective-fault",
                "spec.http[0].fault.abort".to_string(),
                "abort sets neither httpStatus nor grpcStatus, so it aborts nothing".to_string()
            )]
        );
    }

    #[test]
    fn mirrors() {
        let yaml = rule(
            "{mirror: {host: '*'}, mirrorPercent: 101, mirrorPercentage: {value: -1}, \
             route: [{destination: {host: a}}]}",
        );
        let report = validate(&yaml);
        assert_eq!(
            report.errors,
            vec![
                pair(
                    "spec.http[0].mirrorPercent",
                    "mirrorPercent 101 must be in 0..=100"
                ),
                pair(
                    "spec.http[0].mirrorPercentage.value",
                    "mirror percentage -1 must be in 0..=100"
                ),
                pair(
                    "spec.http[0].mirror.host",
                    "destination host \"*\" is not allowed; name a service"
                ),
            ]
        );
        assert_eq!(report.warnings[0].0, "deprecated-field");
        let many = rule(
            "{mirrors: [{percentage: {value: 5}}, null, {destination: {host: m, port: {}}, percentage: {value: 101}}], \
             route: [{destination: {host: a}}]}",
        );
        assert_eq!(
            errors(&many),
            vec![
                pair(
                    "spec.http[0].mirrors[0].destination",
                    "destination is required"
                ),
                pair("spec.http[0].mirrors[1]", "mirror is null"),
                pair(
                    "spec.http[0].mirrors[2].destination.port.number",
                    "port number is required"
                ),
                pair(
                    "spec.http[0].mirrors[2].percentage.value",
                    "mirror percentage 101 must be in 0..=100"
                ),
            ]
        );
    }

    #[test]
    fn redirects() {
        let yaml = rule(
            "{match: [{uri: {exact: /a}}, {uri: {prefix: /b}}], \
             redirect: {uri: /x, prefixRewrite: /y, redirectCode: 400, scheme: ftp, port: 0, derivePort: SOMETIMES}}",
        );
        assert_eq!(
            errors(&yaml),
            vec![
                pair(
                    "spec.http[0].redirect",
                    "redirect sets both uri \"/x\" and prefixRewrite \"/y\"; use one"
                ),
                pair(
                    "spec.http[0].redirect.prefixRewrite",
                    "prefixRewrite needs every uri match of the rule to be a prefix match; match[0].uri is an exact match"
                ),
                pair(
                    "spec.http[0].redirect.redirectCode",
                    "redirect code 400 must be in 300..=399"
                ),
                pair(
                    "spec.http[0].redirect.scheme",
                    "scheme \"ftp\" must be \"http\" or \"https\""
                ),
                pair(
                    "spec.http[0].redirect",
                    "set only one of port and derivePort"
                ),
                pair(
                    "spec.http[0].redirect.derivePort",
                    "\"SOMETIMES\" is not one of FROM_PROTOCOL_DEFAULT, FROM_REQUEST_PORT"
                ),
            ]
        );
        assert_eq!(
            error(&rule("{redirect: {uri: '', authority: ''}}")),
            pair(
                "spec.http[0].redirect",
                "redirect changes nothing; set uri, prefixRewrite, authority, scheme, port or derivePort"
            )
        );
        assert_eq!(
            warnings(&rule("{redirect: {authority: x, redirectCode: 304}}"))[0].0,
            "unsupported-redirect-code"
        );
        assert_eq!(
            errors(&rule("{redirect: {derivePort: FROM_REQUEST_PORT}}")),
            vec![]
        );
    }

    #[test]
    fn direct_responses() {
        assert_eq!(
            error(&rule("{directResponse: {status: 199}}")),
            pair(
                "spec.http[0].directResponse.status",
                "HTTP status 199 must be in 200..=599"
            )
        );
        assert_eq!(
            error(&rule("{directResponse: {body: {string: hi}}}")),
            pair("spec.http[0].directResponse.status", "status is required")
        );
        assert_eq!(
            error(&rule(
                "{directResponse: {status: 200}, route: [{destination: {host: a}}]}"
            )),
            pair(
                "spec.http[0].directResponse",
                "directResponse cannot be combined with route; a rule has one action"
            )
        );
        let big = format!(
            "{{hosts: [r], http: [{{directResponse: {{status: 200, body: {{string: {}}}}}}}]}}",
            "x".repeat(MB + 1)
        );
        assert_eq!(
            error(&big),
            pair(
                "spec.http[0].directResponse.body.string",
                "body of 1048577 bytes is larger than the 1 MiB limit"
            )
        );
    }

    #[test]
    fn retries() {
        let yaml = rule(
            "{retries: {attempts: 0, retryOn: '5xx, reset', retryRemoteLocalities: false, backoff: 0.5ms}, \
             route: [{destination: {host: a}}]}",
        );
        let e = errors(&yaml);
        assert_eq!(
            e[0],
            pair(
                "spec.http[0].retries",
                "attempts is 0 (retries disabled) but retryOn and retryRemoteLocalities are set; \
                 remove them or set attempts"
            )
        );
        assert_eq!(e[1].0, "spec.http[0].retries.retryOn");
        assert!(e[1].1.starts_with(
            "\" reset\" is not a retry condition; use an HTTP status code or one of 5xx, "
        ));
        assert_eq!(
            e[2],
            pair(
                "spec.http[0].retries.backoff",
                "duration 500us must be at least 1ms"
            )
        );
        assert_eq!(e.len(), 3);
        assert_eq!(
            error(&rule(
                "{retries: {attempts: -1}, route: [{destination: {host: a}}]}"
            )),
            pair(
                "spec.http[0].retries.attempts",
                "attempts -1 is negative; use 0 to disable retries"
            )
        );
        assert_eq!(
            errors(&rule(
                "{retries: {attempts: 2, retryOn: '503,retriable-4xx,429'}, route: [{destination: {host: a}}]}"
            )),
            vec![]
        );
        assert_eq!(
            error(&rule(
                "{retries: {attempts: 2, retryOn: '600'}, route: [{destination: {host: a}}]}"
            ))
            .0,
            "spec.http[0].retries.retryOn"
        );
    }

    #[test]
    fn rewrites() {
        let route = "route: [{destination: {host: a}}]";
        assert_eq!(
            error(&rule(&format!("{{rewrite: {{}}, {route}}}"))),
            pair(
                "spec.http[0].rewrite",
                "rewrite changes nothing; set uri, uriRegexRewrite or authority"
            )
        );
        assert_eq!(
            errors(&rule(&format!(
                "{{rewrite: {{uri: /x, uriRegexRewrite: {{match: '['}}}}, {route}}}"
            )))
            .iter()
            .map(|(p, _)| p.as_str())
            .collect::<Vec<_>>(),
            vec![
                "spec.http[0].rewrite",
                "spec.http[0].rewrite.uriRegexRewrite.match",
                "spec.http[0].rewrite.uriRegexRewrite.rewrite",
            ]
        );
    }

    #[test]
    fn destinations() {
        let yaml = rule(
            "{route: [{destination: {host: '', subset: v_1}}, {destination: {host: default/baz, port: {number: 0}}, weight: 1}, {weight: 1}, null]}",
        );
        assert_eq!(
            errors(&yaml),
            vec![
                pair("spec.http[0].route[3]", "destination entry is null"),
                pair(
                    "spec.http[0].route[0].destination.host",
                    "host is required; name a service"
                ),
                pair(
                    "spec.http[0].route[0].destination.subset",
                    "subset \"v_1\" is not a valid DNS-1123 label (1-63 letters, digits or '-', starting and ending with a letter or digit)"
                ),
                pair(
                    "spec.http[0].route[1].destination.host",
                    "\"default/baz\" is not a valid domain name: label \"default/baz\" must be 1-63 letters, digits or '-', starting and ending with a letter or digit"
                ),
                pair(
                    "spec.http[0].route[1].destination.port.number",
                    "port 0 must be in 1..=65535"
                ),
                pair(
                    "spec.http[0].route[2].destination",
                    "destination is required"
                ),
            ]
        );
    }

    #[test]
    fn gateway_names() {
        let yaml = "{hosts: [r], gateways: [b@d, gw.ns, '*/gw', ns/*, /gw, mesh, ns/gw], \
                    http: [{route: [{destination: {host: a}}]}]}";
        let report = validate(yaml);
        assert_eq!(
            report.errors,
            vec![
                pair(
                    "spec.gateways[0]",
                    "gateway \"b@d\" is not a valid domain name: label \"b@d\" must be 1-63 letters, digits or '-', starting and ending with a letter or digit"
                ),
                pair(
                    "spec.gateways[2]",
                    "gateway \"*/gw\": namespace \"*\" is not a valid DNS-1123 label (1-63 letters, digits or '-', starting and ending with a letter or digit)"
                ),
                pair(
                    "spec.gateways[3]",
                    "gateway \"ns/*\": name \"*\" is not a valid DNS-1123 label (1-63 letters, digits or '-', starting and ending with a letter or digit)"
                ),
                pair(
                    "spec.gateways[4]",
                    "gateway \"/gw\" must be <namespace>/<name> with both parts non-empty"
                ),
            ]
        );
        assert_eq!(
            report.warnings,
            vec![(
                "deprecated-field",
                "spec.gateways[1]".to_string(),
                "gateway \"gw.ns\" uses the legacy name.namespace form; write \"ns/gw\""
                    .to_string()
            )]
        );
    }

    #[test]
    fn tls_and_tcp_rules() {
        let yaml = "{hosts: [a.example.com, '*.b.example.com'], gateways: [ns/gw], \
                    tls: [{match: [{sniHosts: [a.example.com, x.b.example.com, other.com, 1.2.3.4], port: 443}], \
                           route: [{destination: {host: a}}]}, {match: [null]}], \
                    tcp: [{match: [{destinationSubnets: [10.0.0.0/33], port: 0}]}]}";
        let report = validate(yaml);
        assert_eq!(
            report.errors,
            vec![
                pair(
                    "spec.tls[0].match[0].sniHosts[2]",
                    "SNI host \"other.com\" is not a subset of any host of the virtual service [a.example.com, *.b.example.com]"
                ),
                pair("spec.tls[1].match[0]", "match is null"),
                pair(
                    "spec.tls[1].route",
                    "tls rule has no route; at least one destination is required"
                ),
                pair(
                    "spec.tcp[0].match[0].destinationSubnets[0]",
                    "\"10.0.0.0/33\" is not an IP address or a CIDR block"
                ),
                pair(
                    "spec.tcp[0].route",
                    "tcp rule has no route; at least one destination is required"
                ),
            ]
        );
        assert_eq!(report.warnings[0].0, "sni-ip-address");
        assert_eq!(report.warnings[0].1, "spec.tls[0].match[0].sniHosts[3]");
        assert_eq!(
            error("{hosts: [r], tls: [{route: [{destination: {host: a}}]}]}"),
            pair(
                "spec.tls[0].match",
                "tls rule needs at least one match with sniHosts"
            )
        );
    }

    #[test]
    fn export_to() {
        let yaml = "{hosts: [r], exportTo: [., '*', ns1, ns1, '~', Bad_NS], http: [{route: [{destination: {host: a}}]}]}";
        assert_eq!(
            errors(yaml),
            vec![
                pair("spec.exportTo[3]", "\"ns1\" is listed twice"),
                pair(
                    "spec.exportTo[4]",
                    "\"~\" (visible to no one) is only allowed for service entries"
                ),
                pair(
                    "spec.exportTo[5]",
                    "\"Bad_NS\" is not \".\", \"*\" or a namespace name (a DNS-1123 label: 1-63 letters, digits or '-', starting and ending with a letter or digit)"
                ),
                pair(
                    "spec.exportTo",
                    "\"*\" (all namespaces) must be the only entry"
                ),
            ]
        );
    }

    #[test]
    fn every_error_is_reported() {
        let yaml = "{hosts: ['*'], http: [{route: [{destination: {host: a}, weight: -1}, {destination: {host: b}}]}, \
                    {timeout: 1us, route: [{destination: {host: c}}]}]}";
        assert_eq!(
            errors(yaml)
                .iter()
                .map(|(p, _)| p.as_str())
                .collect::<Vec<_>>(),
            vec![
                "spec.hosts[0]",
                "spec.http[0].route[0].weight",
                "spec.http[1].timeout"
            ]
        );
    }

    /// istio/istio `pilot/pkg/networking/core/route/route.go`, `canBeConvertedToPresentMatch`:
    /// `regex: "*"` is presence in every header and query parameter matcher; the webhook
    /// (`pkg/config/validation/virtualservice.go`, `validateStringMatch`) refuses it, so it is a
    /// warning. In `uri` the webhook and Envoy refuse it, and so does meshroute.
    #[test]
    fn regex_star_is_presence_in_header_matchers_and_an_error_in_uri() {
        let star = r#"{regex: "*"}"#;
        for field in [
            format!("headers: {{x: {star}}}"),
            format!("queryParams: {{q: {star}}}"),
            format!("method: {star}"),
            format!("authority: {star}"),
            format!("scheme: {star}"),
        ] {
            let yaml = rule(&format!(
                "{{match: [{{{field}}}], route: [{{destination: {{host: r}}}}]}}"
            ));
            let w = warnings(&yaml);
            assert_eq!(w.len(), 1, "{field}: {w:#?}");
            assert_eq!(w[0].0, "regex-star-presence");
            assert!(w[0].1.ends_with(".regex"), "{field}: {}", w[0].1);
        }
        let quiet = rule(
            r#"{match: [{withoutHeaders: {x: {regex: "*"}}}], route: [{destination: {host: r}}]}"#,
        );
        assert!(
            warnings(&quiet).is_empty(),
            "the webhook lets * through in withoutHeaders"
        );
        assert_eq!(
            error(&rule(
                r#"{match: [{uri: {regex: "*"}}], route: [{destination: {host: r}}]}"#
            )),
            pair(
                "spec.http[0].match[0].uri.regex",
                "regex \"*\" is not a pattern: istiod reads it as \"present\" only in headers and \
                 queryParams, and Istio's webhook and Envoy refuse it in uri; use prefix \"/\" for \
                 every path"
            )
        );
    }
}
