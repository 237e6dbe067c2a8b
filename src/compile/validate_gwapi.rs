//! Validation of Gateway API `Gateway`, `HTTPRoute` and `GRPCRoute` specs as the kube-apiserver
//! enforces it: the CRDs' OpenAPI schema (enums, bounds, patterns, list sizes, list-map keys and
//! sets) and their CEL `x-kubernetes-validations` rules (kubernetes-sigs/gateway-api `apis/v1`
//! `httproute_types.go`, `grpcroute_types.go`, `shared_types.go`, `gateway_types.go`, and the
//! generated CRDs under `config/crd`). The experimental channel is followed where it differs from
//! the standard one: it is a superset (ExternalAuth, CORS, retries, session persistence, `port`
//! in parentRefs, the header value pattern), and the corpus was checked against it.
//!
//! Schema defaults are applied where a rule depends on them, as the apiserver defaults before it
//! validates: a path match without `type` is `PathPrefix`, a rule without `matches` matches
//! `PathPrefix /`, a backendRef without `group`/`kind` is a core `Service`, a parentRef without
//! them a `Gateway`, a listener's `tls.mode` is `Terminate`, a session persistence `type` is
//! `Cookie`. Every error is reported at the field that breaks the rule; list-level CEL rules
//! (uniqueness, repetition) point at the later entry and name the earlier one.
//!
//! Deliberate differences from the apiserver:
//! * Regular expressions (path, header, query parameter, gRPC service and method) must parse in
//!   meshroute's engine; the apiserver does not look at them.
//! * Header names repeated under another case (`foo`, `Foo`) are accepted with a warning: the
//!   apiserver compares list-map keys exactly, and the spec says the later entry is ignored.
//! * An `HTTPS` listener without `tls` gets a warning: the spec calls `tls` required there, but
//!   only controllers check it, per listener.
//! * An explicit empty `rules: []` or `matches: []` is read as absent (the model does not tell
//!   them apart), so the schema default applies instead of `minItems`.
//!
//! Fields kept as raw JSON by the model (`extensionRef`, `externalAuth`, `sessionPersistence`,
//! `certificateRefs`, Gateway `allowedListeners`, `infrastructure` and `tls`) are checked here
//! field by field, unknown fields included. Model fields that the v1 schema no longer has
//! (Gateway `backendTLS`, listener `tls.frontendValidation`) are rejected by name.

use serde_json::{Map, Value};

use super::names::is_ip_literal;
use super::report::Report;
use super::values::{
    TOKEN_RULE, check_count, check_header_chars, fits_length, is_http_token, limit,
};
use crate::config::gateway_api::{
    AllowedRoutes, BackendObjectRef, CorsFilter, Fraction, GatewayAddress, GatewaySpec,
    GrpcMethodMatch, GrpcRouteMatch, GrpcRouteRuleSpec, GrpcRouteSpec, HeaderModifier,
    HeaderNameValue, HttpBackendRef, HttpPathMatch, HttpRouteFilter, HttpRouteMatch,
    HttpRouteRetry, HttpRouteRuleSpec, HttpRouteSpec, HttpRouteTimeouts, Listener, ListenerTls,
    NameValueMatch, ParentRef, PathModifier, RequestMirror, RequestRedirect, UrlRewrite,
};
use crate::limits::{
    MAX_HEADER_NAME_LEN, MAX_HEADER_VALUE_LEN, MAX_LABEL_LEN, MAX_NAME_LEN, MAX_PROTOCOL_LEN,
    MAX_ROUTE_MATCHES, MAX_ROUTE_PATH_LEN, MAX_ROUTE_WEIGHT,
};
use crate::predicate::regex::check_pattern;

const METHODS: [&str; 9] = [
    "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH",
];
const REDIRECT_CODES: [i64; 5] = [301, 302, 303, 307, 308];
const HTTP_FILTER_TYPES: [&str; 8] = [
    "RequestHeaderModifier",
    "ResponseHeaderModifier",
    "RequestMirror",
    "RequestRedirect",
    "URLRewrite",
    "ExtensionRef",
    "CORS",
    "ExternalAuth",
];
const GRPC_FILTER_TYPES: [&str; 4] = [
    "RequestHeaderModifier",
    "ResponseHeaderModifier",
    "RequestMirror",
    "ExtensionRef",
];
/// Filter types an HTTPRoute filter list may hold at most once.
const HTTP_FILTERS_AT_MOST_ONCE: [&str; 5] = [
    "CORS",
    "RequestHeaderModifier",
    "ResponseHeaderModifier",
    "RequestRedirect",
    "URLRewrite",
];
const GRPC_FILTERS_AT_MOST_ONCE: [&str; 2] = ["RequestHeaderModifier", "ResponseHeaderModifier"];

const SUBDOMAIN_RULE: &str = "use lower-case DNS labels (letters, digits and '-', starting and \
                              ending with a letter or digit) separated by '.'";
const HOSTNAME_RULE: &str = "use lower-case DNS labels (letters, digits and '-', starting and \
                             ending with a letter or digit) separated by '.', optionally after a \
                             leading \"*.\"; no IP addresses, ports or schemes";
const LABEL_RULE: &str =
    "use 1-63 lower-case letters, digits or '-', starting and ending with a letter or digit";
const KIND_RULE: &str =
    "use 1-63 letters, digits or '-', starting with a letter and ending with a letter or digit";
const HEADER_VALUE_RULE: &str =
    "use visible ASCII characters, separated by single spaces or tabs, none at either end";
const PATH_CHAR_RULE: &str = "use letters, digits, -._~!$&'()*+,;=:@/ and %XX escapes";
const DURATION_RULE: &str =
    "use 1 to 4 parts of 1-5 digits followed by h, m, s or ms, such as 1h30m or 500ms";

/// Which route a shared check runs for.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Route {
    Http,
    Grpc,
}

impl Route {
    fn kind(self) -> &'static str {
        match self {
            Route::Http => "HTTPRoute",
            Route::Grpc => "GRPCRoute",
        }
    }
}

// ---------------------------------------------------------------------------------------------
// HTTPRoute
// ---------------------------------------------------------------------------------------------

/// Validates an `HTTPRoute` spec, recording every error and warning in `report` with paths that
/// start at `spec`.
pub(crate) fn validate_http_route(spec: &HttpRouteSpec, report: &mut Report) {
    check_parent_refs(&spec.parent_refs, report);
    check_hostnames(&spec.hostnames, report);
    check_rule_list(
        spec.rules.len(),
        spec.rules
            .iter()
            // A rule without matches has the default one.
            .map(|r| (r.name.as_deref(), r.matches.len().max(1))),
        report,
    );
    for (i, rule) in spec.rules.iter().enumerate() {
        check_http_rule(rule, &format!("spec.rules[{i}]"), report);
    }
}

fn check_http_rule(rule: &HttpRouteRuleSpec, path: &str, report: &mut Report) {
    check_max_items(
        rule.matches.len(),
        limit!(MAX_MATCHES_PER_RULE),
        "matches",
        &format!("{path}.matches"),
        report,
    );
    for (j, m) in rule.matches.iter().enumerate() {
        check_http_match(m, &format!("{path}.matches[{j}]"), report);
    }
    check_filter_list(
        &rule.filters,
        Route::Http,
        &format!("{path}.filters"),
        report,
    );
    check_max_items(
        rule.backend_refs.len(),
        limit!(MAX_BACKEND_REFS),
        "backendRefs",
        &format!("{path}.backendRefs"),
        report,
    );
    for (j, b) in rule.backend_refs.iter().enumerate() {
        check_backend_ref(b, Route::Http, &format!("{path}.backendRefs[{j}]"), report);
    }

    // A redirect answers the request itself: it has no use for backends.
    if !rule.backend_refs.is_empty() {
        for (k, f) in rule.filters.iter().enumerate() {
            if f.request_redirect.is_some() {
                report.error(
                    format!("{path}.filters[{k}].requestRedirect"),
                    format!(
                        "a RequestRedirect filter answers the request itself and cannot be \
                         combined with backendRefs (the rule has {}); remove one or the other",
                        rule.backend_refs.len()
                    ),
                );
            }
        }
    }

    // `ReplacePrefixMatch` needs exactly one match, on a path prefix (defaults applied).
    let filters = rule
        .filters
        .iter()
        .enumerate()
        .map(|(k, f)| (format!("{path}.filters[{k}]"), f));
    let backend_filters = rule.backend_refs.iter().enumerate().flat_map(|(j, b)| {
        b.filters
            .iter()
            .enumerate()
            .map(move |(k, f)| (format!("{path}.backendRefs[{j}].filters[{k}]"), f))
    });
    for (fpath, f) in filters.chain(backend_filters) {
        let modifiers = [
            (
                "requestRedirect",
                f.request_redirect.as_ref().and_then(|r| r.path.as_ref()),
            ),
            (
                "urlRewrite",
                f.url_rewrite.as_ref().and_then(|r| r.path.as_ref()),
            ),
        ];
        for (field, modifier) in modifiers {
            let replaces_prefix = modifier.is_some_and(|m| {
                m.kind.as_deref() == Some("ReplacePrefixMatch") && m.replace_prefix_match.is_some()
            });
            if !replaces_prefix {
                continue;
            }
            if let Some(problem) = single_prefix_match_problem(&rule.matches) {
                report.error(
                    format!("{fpath}.{field}.path"),
                    format!(
                        "replacePrefixMatch needs the rule to have exactly one match, with a \
                         PathPrefix path; {problem}"
                    ),
                );
            }
        }
    }

    if let Some(timeouts) = &rule.timeouts {
        check_timeouts(timeouts, &format!("{path}.timeouts"), report);
    }
    if let Some(retry) = &rule.retry {
        check_retry(retry, &format!("{path}.retry"), report);
    }
    if let Some(sp) = &rule.session_persistence {
        check_session_persistence(sp, &format!("{path}.sessionPersistence"), report);
    }
}

/// Why `matches` is not exactly one `PathPrefix` match, or `None` when it is.
fn single_prefix_match_problem(matches: &[HttpRouteMatch]) -> Option<String> {
    match matches {
        // Absent matches default to one `PathPrefix /` match.
        [] => None,
        [m] => {
            let kind = m
                .path
                .as_ref()
                .and_then(|p| p.kind.as_deref())
                .unwrap_or("PathPrefix");
            (kind != "PathPrefix").then(|| format!("its path match is of type {kind}"))
        }
        _ => Some(format!("it has {} matches", matches.len())),
    }
}

fn check_http_match(m: &HttpRouteMatch, path: &str, report: &mut Report) {
    if let Some(p) = &m.path {
        check_path_match(p, &format!("{path}.path"), report);
    }
    check_name_value_matches(
        &m.headers,
        Matched::HttpHeader,
        &format!("{path}.headers"),
        report,
    );
    check_name_value_matches(
        &m.query_params,
        Matched::QueryParam,
        &format!("{path}.queryParams"),
        report,
    );
    if let Some(method) = &m.method
        && !METHODS.contains(&method.as_str())
    {
        report.error(
            format!("{path}.method"),
            format!("method {method:?} is not one of {}", METHODS.join(", ")),
        );
    }
}

fn check_path_match(p: &HttpPathMatch, path: &str, report: &mut Report) {
    let kind = p.kind.as_deref().unwrap_or("PathPrefix");
    let value = p.value.as_deref().unwrap_or("/");
    let vpath = format!("{path}.value");
    if !matches!(kind, "Exact" | "PathPrefix" | "RegularExpression") {
        report.error(
            format!("{path}.type"),
            format!("path match type {kind:?} is not Exact, PathPrefix or RegularExpression"),
        );
    }
    if value.len() > MAX_ROUTE_PATH_LEN {
        report.error(
            &vpath,
            format!(
                "path of {} bytes is longer than the limit of {MAX_ROUTE_PATH_LEN} (limits::MAX_ROUTE_PATH_LEN)",
                value.len()
            ),
        );
    } else if kind == "RegularExpression" {
        if let Err(message) = check_pattern(value) {
            report.error(&vpath, message);
        }
    } else if matches!(kind, "Exact" | "PathPrefix") {
        for problem in path_value_problems(value) {
            report.error(&vpath, format!("path {value:?} of type {kind} {problem}"));
        }
    }
}

/// What is wrong with an `Exact` or `PathPrefix` path, one entry per broken CEL rule.
fn path_value_problems(value: &str) -> Vec<String> {
    let mut problems = Vec::new();
    if !value.starts_with('/') {
        problems.push("must start with '/'".to_string());
    }
    for seq in ["//", "/./", "/../", "%2f", "%2F", "#"] {
        if value.contains(seq) {
            problems.push(format!("must not contain {seq:?}"));
        }
    }
    for end in ["/..", "/."] {
        if value.ends_with(end) {
            problems.push(format!("must not end with {end:?}"));
            break;
        }
    }
    // `#` has its own rule above; name another character here.
    if let Some(c) = first_invalid_path_char(value) {
        problems.push(format!("has the invalid character {c:?}; {PATH_CHAR_RULE}"));
    } else if value.is_empty() {
        problems.push(format!("is empty; {PATH_CHAR_RULE}"));
    }
    problems
}

/// The first character outside `^(?:[-A-Za-z0-9/._~!$&'()*+,;=:@]|[%][0-9a-fA-F]{2})+$`, other
/// than `#`; a `%` not followed by two hex digits counts as invalid.
fn first_invalid_path_char(value: &str) -> Option<char> {
    let b = value.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == b'%' {
            if b.len() > i + 2 && b[i + 1].is_ascii_hexdigit() && b[i + 2].is_ascii_hexdigit() {
                i += 3;
                continue;
            }
            return Some('%');
        }
        if !(c.is_ascii_alphanumeric() || b"-/._~!$&'()*+,;=:@#".contains(&c)) {
            return value[i..].chars().next();
        }
        i += 1;
    }
    None
}

// ---------------------------------------------------------------------------------------------
// GRPCRoute
// ---------------------------------------------------------------------------------------------

/// Validates a `GRPCRoute` spec, recording every error and warning in `report` with paths that
/// start at `spec`.
pub(crate) fn validate_grpc_route(spec: &GrpcRouteSpec, report: &mut Report) {
    check_parent_refs(&spec.parent_refs, report);
    check_hostnames(&spec.hostnames, report);
    check_rule_list(
        spec.rules.len(),
        spec.rules
            .iter()
            .map(|r| (r.name.as_deref(), r.matches.len())),
        report,
    );
    for (i, rule) in spec.rules.iter().enumerate() {
        check_grpc_rule(rule, &format!("spec.rules[{i}]"), report);
    }
}

fn check_grpc_rule(rule: &GrpcRouteRuleSpec, path: &str, report: &mut Report) {
    check_max_items(
        rule.matches.len(),
        limit!(MAX_MATCHES_PER_RULE),
        "matches",
        &format!("{path}.matches"),
        report,
    );
    for (j, m) in rule.matches.iter().enumerate() {
        check_grpc_match(m, &format!("{path}.matches[{j}]"), report);
    }
    check_filter_list(
        &rule.filters,
        Route::Grpc,
        &format!("{path}.filters"),
        report,
    );
    check_max_items(
        rule.backend_refs.len(),
        limit!(MAX_BACKEND_REFS),
        "backendRefs",
        &format!("{path}.backendRefs"),
        report,
    );
    for (j, b) in rule.backend_refs.iter().enumerate() {
        check_backend_ref(b, Route::Grpc, &format!("{path}.backendRefs[{j}]"), report);
    }
    if let Some(sp) = &rule.session_persistence {
        check_session_persistence(sp, &format!("{path}.sessionPersistence"), report);
    }
}

fn check_grpc_match(m: &GrpcRouteMatch, path: &str, report: &mut Report) {
    if let Some(method) = &m.method {
        check_grpc_method(method, &format!("{path}.method"), report);
    }
    check_name_value_matches(
        &m.headers,
        Matched::GrpcHeader,
        &format!("{path}.headers"),
        report,
    );
}

fn check_grpc_method(m: &GrpcMethodMatch, path: &str, report: &mut Report) {
    let kind = m.kind.as_deref().unwrap_or("Exact");
    if !matches!(kind, "Exact" | "RegularExpression") {
        report.error(
            format!("{path}.type"),
            format!("method match type {kind:?} is not Exact or RegularExpression"),
        );
    }
    if m.service.is_none() && m.method.is_none() {
        report.error(
            path,
            "a method match needs service, method or both; remove it to match every call",
        );
    }
    let fields = [
        (
            "service",
            m.service.as_deref(),
            is_grpc_service as fn(&str) -> bool,
        ),
        ("method", m.method.as_deref(), is_grpc_identifier),
    ];
    for (field, value, valid) in fields {
        let Some(value) = value else { continue };
        let fpath = format!("{path}.{field}");
        if value.len() > MAX_ROUTE_PATH_LEN {
            report.error(
                fpath,
                format!(
                    "{field} of {} bytes is longer than the limit of {MAX_ROUTE_PATH_LEN} (limits::MAX_ROUTE_PATH_LEN)",
                    value.len()
                ),
            );
        } else if kind == "Exact" && !valid(value) {
            let rule = if field == "service" {
                "use identifiers (letters, digits and '_', not starting with a digit) separated \
                 by '.', such as foo.bar.Echo"
            } else {
                "use letters, digits and '_', not starting with a digit, such as Ping"
            };
            report.error(fpath, format!("{field} {value:?} is not valid; {rule}"));
        } else if kind == "RegularExpression"
            && let Err(message) = check_pattern(value)
        {
            report.error(fpath, message);
        }
    }
}

/// `^(?i)\.?[a-z_][a-z_0-9]*(\.[a-z_][a-z_0-9]*)*$`
fn is_grpc_service(s: &str) -> bool {
    let s = s.strip_prefix('.').unwrap_or(s);
    s.split('.').all(is_grpc_identifier)
}

/// `^[A-Za-z_][A-Za-z_0-9]*$`
fn is_grpc_identifier(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && (b[0].is_ascii_alphabetic() || b[0] == b'_')
        && b.iter().all(|&c| c.is_ascii_alphanumeric() || c == b'_')
}

// ---------------------------------------------------------------------------------------------
// Shared route parts: parentRefs, hostnames, rule lists, header and query matches
// ---------------------------------------------------------------------------------------------

fn check_parent_refs(refs: &[ParentRef], report: &mut Report) {
    check_max_items(
        refs.len(),
        limit!(MAX_PARENT_REFS),
        "parentRefs",
        "spec.parentRefs",
        report,
    );
    for (i, r) in refs.iter().enumerate() {
        let path = format!("spec.parentRefs[{i}]");
        check_ref_names(
            r.group.as_deref(),
            r.kind.as_deref(),
            &r.name,
            r.namespace.as_deref(),
            &path,
            report,
        );
        if let Some(port) = r.port {
            check_port(port, &format!("{path}.port"), report);
        }
        if let Some(section) = &r.section_name {
            check_subdomain(
                section,
                "sectionName",
                &format!("{path}.sectionName"),
                report,
            );
        }
    }
    // Two references to one parent must be told apart by sectionName or port, and no reference
    // may be repeated (defaults applied: a missing group and kind mean a Gateway; a missing or
    // empty namespace, sectionName or port is "unset").
    for j in 1..refs.len() {
        for i in 0..j {
            let (a, b) = (&refs[i], &refs[j]);
            if !same_parent(a, b) {
                continue;
            }
            let (sa, sb) = (section_of(a), section_of(b));
            let (pa, pb) = (port_of(a), port_of(b));
            let parent = describe_parent(b);
            if sa.is_some() != sb.is_some() || pa.is_some() != pb.is_some() {
                report.error(
                    format!("spec.parentRefs[{j}]"),
                    format!(
                        "parentRefs[{i}] ({}) and parentRefs[{j}] ({}) both name {parent}; \
                         references to one parent must each set sectionName, port or both, and \
                         the same ones",
                        describe_section(sa, pa),
                        describe_section(sb, pb)
                    ),
                );
                break;
            }
            if sa == sb && pa == pb {
                report.error(
                    format!("spec.parentRefs[{j}]"),
                    format!(
                        "parentRefs[{j}] repeats parentRefs[{i}] ({parent}, same sectionName and \
                         port); references to one parent must differ in sectionName or port"
                    ),
                );
                break;
            }
        }
    }
}

fn same_parent(a: &ParentRef, b: &ParentRef) -> bool {
    let group = |r: &ParentRef| r.group.clone().unwrap_or_else(|| GATEWAY_GROUP.to_string());
    let kind = |r: &ParentRef| r.kind.clone().unwrap_or_else(|| "Gateway".to_string());
    let ns = |r: &ParentRef| r.namespace.clone().filter(|n| !n.is_empty());
    group(a) == group(b) && kind(a) == kind(b) && a.name == b.name && ns(a) == ns(b)
}

const GATEWAY_GROUP: &str = "gateway.networking.k8s.io";

fn section_of(r: &ParentRef) -> Option<&str> {
    r.section_name.as_deref().filter(|s| !s.is_empty())
}

fn port_of(r: &ParentRef) -> Option<i64> {
    r.port.filter(|&p| p != 0)
}

fn describe_section(section: Option<&str>, port: Option<i64>) -> String {
    match (section, port) {
        (None, None) => "no sectionName or port".to_string(),
        (Some(s), None) => format!("sectionName {s:?}"),
        (None, Some(p)) => format!("port {p}"),
        (Some(s), Some(p)) => format!("sectionName {s:?} and port {p}"),
    }
}

fn describe_parent(r: &ParentRef) -> String {
    let kind = r.kind.as_deref().unwrap_or("Gateway");
    match r.namespace.as_deref().filter(|n| !n.is_empty()) {
        Some(ns) => format!("{kind} {ns}/{}", r.name),
        None => format!("{kind} {}", r.name),
    }
}

fn check_hostnames(hostnames: &[String], report: &mut Report) {
    check_max_items(
        hostnames.len(),
        limit!(MAX_ROUTE_HOSTNAMES),
        "hostnames",
        "spec.hostnames",
        report,
    );
    for (i, h) in hostnames.iter().enumerate() {
        check_hostname(h, &format!("spec.hostnames[{i}]"), report);
    }
}

/// Rule count, total matches and unique rule names, shared by HTTPRoute and GRPCRoute.
fn check_rule_list<'a>(
    count: usize,
    rules: impl Iterator<Item = (Option<&'a str>, usize)>,
    report: &mut Report,
) {
    check_max_items(
        count,
        limit!(MAX_ROUTE_RULES),
        "rules",
        "spec.rules",
        report,
    );
    let mut total = 0;
    let mut names: Vec<(usize, &str)> = Vec::new();
    for (i, (name, matches)) in rules.enumerate() {
        total += matches;
        let Some(name) = name else { continue };
        let path = format!("spec.rules[{i}].name");
        check_subdomain(name, "rule name", &path, report);
        if let Some((first, _)) = names.iter().find(|(_, n)| *n == name) {
            report.error(
                path,
                format!(
                    "rule name {name:?} is already used by rules[{first}]; names must be unique \
                     within the route"
                ),
            );
        } else {
            names.push((i, name));
        }
    }
    if total > MAX_ROUTE_MATCHES {
        report.error(
            "spec.rules",
            format!(
                "{total} matches across all rules exceed the limit of \
                 {MAX_ROUTE_MATCHES} per route (limits::MAX_ROUTE_MATCHES)"
            ),
        );
    }
}

/// What a name/value match list matches, for its rules and messages.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Matched {
    HttpHeader,
    GrpcHeader,
    QueryParam,
}

fn check_name_value_matches(
    list: &[NameValueMatch],
    matched: Matched,
    path: &str,
    report: &mut Report,
) {
    let (what, field, max_matches, max_value) = match matched {
        Matched::HttpHeader | Matched::GrpcHeader => (
            "header",
            "headers",
            limit!(MAX_ROUTE_HEADER_MATCHES),
            limit!(MAX_HEADER_VALUE_LEN),
        ),
        Matched::QueryParam => (
            "query parameter",
            "queryParams",
            limit!(MAX_ROUTE_QUERY_MATCHES),
            limit!(MAX_ROUTE_PATH_LEN),
        ),
    };
    check_max_items(
        list.len(),
        max_matches,
        &format!("{what} matches"),
        path,
        report,
    );
    for (i, m) in list.iter().enumerate() {
        let p = format!("{path}[{i}]");
        let name = m.name.as_str();
        if check_header_name(name, &format!("{what} name"), &format!("{p}.name"), report) {
            if let Some(j) = list[..i].iter().position(|o| o.name == name) {
                report.error(
                    format!("{p}.name"),
                    format!(
                        "{what} {name:?} is already matched by {field}[{j}]; names must be unique \
                         within a match"
                    ),
                );
            } else if matched != Matched::QueryParam
                && let Some(j) = list[..i]
                    .iter()
                    .position(|o| o.name.eq_ignore_ascii_case(name))
            {
                report.warn(
                    "duplicate-header",
                    format!("{p}.name"),
                    format!(
                        "header {name:?} is already matched by {field}[{j}] as {:?}; header names \
                         are case-insensitive, so this entry is ignored",
                        list[j].name
                    ),
                );
            }
        }
        let kind = m.kind.as_deref().unwrap_or("Exact");
        if !matches!(kind, "Exact" | "RegularExpression") {
            report.error(
                format!("{p}.type"),
                format!("{what} match type {kind:?} is not Exact or RegularExpression"),
            );
        }
        let value = m.value.as_str();
        let vpath = format!("{p}.value");
        if value.is_empty() {
            report.error(vpath, format!("{what} match value is required"));
        } else if let Err(message) =
            fits_length(value.len(), max_value, &format!("{what} match value"))
        {
            report.error(vpath, message);
        } else if matched == Matched::HttpHeader && !is_header_value(value) {
            report.error(
                vpath,
                format!("header value {value:?} is not valid; {HEADER_VALUE_RULE}"),
            );
        } else if matched == Matched::QueryParam
            && kind == "Exact"
            && let Err(message) = check_header_chars(value, "query parameter match value")
        {
            // The raw query of `:path` cannot hold one (see validate_vs `check_header_literals`).
            report.error(vpath, message);
        } else if kind == "RegularExpression"
            && let Err(message) = check_pattern(value)
        {
            report.error(vpath, message);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Backends
// ---------------------------------------------------------------------------------------------

fn check_backend_ref(b: &HttpBackendRef, route: Route, path: &str, report: &mut Report) {
    check_backend_object(
        b.group.as_deref(),
        b.kind.as_deref(),
        &b.name,
        b.namespace.as_deref(),
        b.port,
        path,
        report,
    );
    if let Some(w) = b.weight {
        if w < 0 {
            report.error(
                format!("{path}.weight"),
                format!("weight {w} is negative; weights are relative and must be 0 or more"),
            );
        } else if w > MAX_ROUTE_WEIGHT {
            report.error(
                format!("{path}.weight"),
                format!(
                    "weight {w} exceeds the limit of {MAX_ROUTE_WEIGHT} (limits::MAX_ROUTE_WEIGHT)"
                ),
            );
        }
    }
    check_filter_list(&b.filters, route, &format!("{path}.filters"), report);
}

fn check_mirror_backend(b: &BackendObjectRef, path: &str, report: &mut Report) {
    check_backend_object(
        b.group.as_deref(),
        b.kind.as_deref(),
        &b.name,
        b.namespace.as_deref(),
        b.port,
        path,
        report,
    );
}

/// A backend object reference: names, port range, and the port a core Service needs.
fn check_backend_object(
    group: Option<&str>,
    kind: Option<&str>,
    name: &str,
    namespace: Option<&str>,
    port: Option<i64>,
    path: &str,
    report: &mut Report,
) {
    check_ref_names(group, kind, name, namespace, path, report);
    match port {
        Some(port) => check_port(port, &format!("{path}.port"), report),
        None if group.unwrap_or("").is_empty() && kind.unwrap_or("Service") == "Service" => {
            report.error(
                format!("{path}.port"),
                format!("port is required for a Service backend ({name:?})"),
            );
        }
        None => {}
    }
}

/// `group`, `kind`, `name` (required) and `namespace` of an object reference.
fn check_ref_names(
    group: Option<&str>,
    kind: Option<&str>,
    name: &str,
    namespace: Option<&str>,
    path: &str,
    report: &mut Report,
) {
    if let Some(group) = group {
        check_group(group, &format!("{path}.group"), report);
    }
    if let Some(kind) = kind {
        check_kind(kind, &format!("{path}.kind"), report);
    }
    check_object_name(name, &format!("{path}.name"), report);
    if let Some(ns) = namespace {
        check_namespace(ns, &format!("{path}.namespace"), report);
    }
}

// ---------------------------------------------------------------------------------------------
// Filters
// ---------------------------------------------------------------------------------------------

fn check_filter_list(filters: &[HttpRouteFilter], route: Route, path: &str, report: &mut Report) {
    check_max_items(
        filters.len(),
        limit!(MAX_ROUTE_FILTERS),
        "filters",
        path,
        report,
    );
    for (k, f) in filters.iter().enumerate() {
        check_filter(f, route, &format!("{path}[{k}]"), report);
    }
    let once: &[&str] = match route {
        Route::Http => &HTTP_FILTERS_AT_MOST_ONCE,
        Route::Grpc => &GRPC_FILTERS_AT_MOST_ONCE,
    };
    for ty in once {
        let mut of_type = filters
            .iter()
            .enumerate()
            .filter(|(_, f)| f.kind.as_deref() == Some(*ty))
            .map(|(k, _)| k);
        let Some(first) = of_type.next() else {
            continue;
        };
        for k in of_type {
            report.error(
                format!("{path}[{k}].type"),
                format!(
                    "filter type {ty} is repeated (first at filters[{first}]); it may appear at \
                     most once per filter list"
                ),
            );
        }
    }
    if route == Route::Http {
        let position = |ty: &str| filters.iter().position(|f| f.kind.as_deref() == Some(ty));
        if let (Some(r), Some(w)) = (position("RequestRedirect"), position("URLRewrite")) {
            let (first, later) = (r.min(w), r.max(w));
            let (this, other) = if later == w {
                ("URLRewrite", "RequestRedirect")
            } else {
                ("RequestRedirect", "URLRewrite")
            };
            report.error(
                format!("{path}[{later}].type"),
                format!(
                    "a {this} filter cannot be combined with the {other} filter filters[{first}]; \
                     a redirect answers the request, a rewrite forwards it"
                ),
            );
        }
    }
}

fn check_filter(f: &HttpRouteFilter, route: Route, path: &str, report: &mut Report) {
    let allowed: &[&str] = match route {
        Route::Http => &HTTP_FILTER_TYPES,
        Route::Grpc => &GRPC_FILTER_TYPES,
    };
    let kind = f.kind.as_deref();
    match kind {
        None => report.error(
            format!("{path}.type"),
            format!("filter type is required; one of {}", allowed.join(", ")),
        ),
        Some(k) if !allowed.contains(&k) => report.error(
            format!("{path}.type"),
            format!(
                "filter type {k:?} is not one of {} ({})",
                allowed.join(", "),
                route.kind()
            ),
        ),
        Some(_) => {}
    }
    let fields = [
        (
            "RequestHeaderModifier",
            "requestHeaderModifier",
            f.request_header_modifier.is_some(),
        ),
        (
            "ResponseHeaderModifier",
            "responseHeaderModifier",
            f.response_header_modifier.is_some(),
        ),
        ("RequestMirror", "requestMirror", f.request_mirror.is_some()),
        (
            "RequestRedirect",
            "requestRedirect",
            f.request_redirect.is_some(),
        ),
        ("URLRewrite", "urlRewrite", f.url_rewrite.is_some()),
        ("ExtensionRef", "extensionRef", f.extension_ref.is_some()),
        ("CORS", "cors", f.cors.is_some()),
        ("ExternalAuth", "externalAuth", f.external_auth.is_some()),
    ];
    for (ty, field, present) in fields {
        let fpath = format!("{path}.{field}");
        if !allowed.contains(&ty) {
            if present {
                report.error(
                    fpath,
                    format!(
                        "{field} is not a {} filter field; use one of {}",
                        route.kind(),
                        allowed.join(", ")
                    ),
                );
            }
            continue;
        }
        // An unknown or missing type is reported above; the fields cannot be judged against it.
        match kind.filter(|k| allowed.contains(k)) {
            Some(k) if present && k != ty => report.error(
                fpath,
                format!(
                    "{field} is set but the filter type is {k}; set only the field of the type"
                ),
            ),
            Some(k) if !present && k == ty => report.error(
                fpath,
                format!("filter type {ty} needs {field}, which is missing"),
            ),
            _ => {}
        }
    }

    if let Some(m) = &f.request_header_modifier {
        check_header_modifier(m, &format!("{path}.requestHeaderModifier"), report);
    }
    if let Some(m) = &f.response_header_modifier {
        check_header_modifier(m, &format!("{path}.responseHeaderModifier"), report);
    }
    if let Some(m) = &f.request_mirror {
        check_request_mirror(m, &format!("{path}.requestMirror"), report);
    }
    if let Some(v) = &f.extension_ref {
        check_local_object_ref(v, &format!("{path}.extensionRef"), report);
    }
    if route == Route::Grpc {
        return;
    }
    if let Some(r) = &f.request_redirect {
        check_request_redirect(r, &format!("{path}.requestRedirect"), report);
    }
    if let Some(r) = &f.url_rewrite {
        check_url_rewrite(r, &format!("{path}.urlRewrite"), report);
    }
    if let Some(c) = &f.cors {
        check_cors(c, &format!("{path}.cors"), report);
    }
    if let Some(v) = &f.external_auth {
        check_external_auth(v, &format!("{path}.externalAuth"), report);
    }
}

fn check_header_modifier(m: &HeaderModifier, path: &str, report: &mut Report) {
    for (field, list) in [("set", &m.set), ("add", &m.add)] {
        check_header_list(list, field, &format!("{path}.{field}"), report);
    }
    let rpath = format!("{path}.remove");
    check_max_items(
        m.remove.len(),
        limit!(MAX_HEADER_MODIFIER_OPS),
        "headers to remove",
        &rpath,
        report,
    );
    for (i, name) in m.remove.iter().enumerate() {
        if let Some(j) = m.remove[..i].iter().position(|o| o == name) {
            report.error(
                format!("{rpath}[{i}]"),
                format!("header {name:?} is already listed at remove[{j}]; entries must be unique"),
            );
        } else if let Some(j) = m.remove[..i]
            .iter()
            .position(|o| o.eq_ignore_ascii_case(name))
        {
            report.warn(
                "duplicate-header",
                format!("{rpath}[{i}]"),
                format!(
                    "header {name:?} is already listed at remove[{j}] as {:?}; header names are \
                     case-insensitive, so this entry has no effect",
                    m.remove[j]
                ),
            );
        }
    }
}

fn check_header_list(list: &[HeaderNameValue], field: &str, path: &str, report: &mut Report) {
    check_max_items(
        list.len(),
        limit!(MAX_HEADER_MODIFIER_OPS),
        &format!("headers to {field}"),
        path,
        report,
    );
    for (i, h) in list.iter().enumerate() {
        let p = format!("{path}[{i}]");
        let name = h.name.as_str();
        if check_header_name(name, "header name", &format!("{p}.name"), report) {
            if let Some(j) = list[..i].iter().position(|o| o.name == name) {
                report.error(
                    format!("{p}.name"),
                    format!(
                        "header {name:?} is already listed at {field}[{j}]; names must be unique"
                    ),
                );
            } else if let Some(j) = list[..i]
                .iter()
                .position(|o| o.name.eq_ignore_ascii_case(name))
            {
                report.warn(
                    "duplicate-header",
                    format!("{p}.name"),
                    format!(
                        "header {name:?} is already listed at {field}[{j}] as {:?}; header names \
                         are case-insensitive, so this entry is ignored",
                        list[j].name
                    ),
                );
            }
        }
        let vpath = format!("{p}.value");
        let value = h.value.as_str();
        if value.is_empty() {
            report.error(vpath, "header value is required");
        } else if value.len() > MAX_HEADER_VALUE_LEN {
            report.error(
                vpath,
                format!(
                    "header value of {} bytes is longer than the limit of {MAX_HEADER_VALUE_LEN} (limits::MAX_HEADER_VALUE_LEN)",
                    value.len()
                ),
            );
        } else if !is_header_value(value) {
            report.error(
                vpath,
                format!("header value {value:?} is not valid; {HEADER_VALUE_RULE}"),
            );
        }
    }
}

fn check_request_mirror(m: &RequestMirror, path: &str, report: &mut Report) {
    match &m.backend_ref {
        Some(b) => check_mirror_backend(b, &format!("{path}.backendRef"), report),
        None => report.error(
            format!("{path}.backendRef"),
            "backendRef is required: it names where the copies go",
        ),
    }
    if let Some(p) = m.percent
        && !(0..=100).contains(&p)
    {
        report.error(
            format!("{path}.percent"),
            format!("percent {p} is out of range; use 0-100"),
        );
    }
    if let Some(fraction) = &m.fraction {
        check_fraction(fraction, &format!("{path}.fraction"), report);
    }
    if m.percent.is_some() && m.fraction.is_some() {
        report.error(
            path,
            "percent and fraction are both set; give the share of mirrored requests one way",
        );
    }
}

fn check_fraction(f: &Fraction, path: &str, report: &mut Report) {
    let denominator = f.denominator.unwrap_or(100);
    if denominator < 1 {
        report.error(
            format!("{path}.denominator"),
            format!("denominator {denominator} must be 1 or more"),
        );
    }
    match f.numerator {
        None => report.error(format!("{path}.numerator"), "numerator is required"),
        Some(n) if n < 0 => report.error(
            format!("{path}.numerator"),
            format!("numerator {n} is negative; it must be 0 or more"),
        ),
        Some(n) if n > denominator => report.error(
            path,
            format!(
                "numerator {n} is greater than denominator {denominator}; a fraction may be at \
                 most 1"
            ),
        ),
        Some(_) => {}
    }
}

fn check_request_redirect(r: &RequestRedirect, path: &str, report: &mut Report) {
    if let Some(scheme) = &r.scheme
        && !matches!(scheme.as_str(), "http" | "https")
    {
        report.error(
            format!("{path}.scheme"),
            format!("scheme {scheme:?} is not http or https"),
        );
    }
    if let Some(h) = &r.hostname {
        check_precise_hostname(h, "redirect hostname", &format!("{path}.hostname"), report);
    }
    if let Some(m) = &r.path {
        check_path_modifier(m, &format!("{path}.path"), report);
    }
    if let Some(port) = r.port {
        check_port(port, &format!("{path}.port"), report);
    }
    if let Some(code) = r.status_code
        && !REDIRECT_CODES.contains(&code)
    {
        report.error(
            format!("{path}.statusCode"),
            format!("redirect status code {code} is not one of 301, 302, 303, 307, 308"),
        );
    }
}

fn check_url_rewrite(r: &UrlRewrite, path: &str, report: &mut Report) {
    if let Some(h) = &r.hostname {
        check_precise_hostname(h, "rewrite hostname", &format!("{path}.hostname"), report);
    }
    if let Some(m) = &r.path {
        check_path_modifier(m, &format!("{path}.path"), report);
    }
}

fn check_path_modifier(m: &PathModifier, path: &str, report: &mut Report) {
    let tpath = format!("{path}.type");
    let kind = m.kind.as_deref();
    match kind {
        None => report.error(
            &tpath,
            "path modifier type is required; ReplaceFullPath or ReplacePrefixMatch",
        ),
        Some("ReplaceFullPath" | "ReplacePrefixMatch") => {}
        Some(k) => report.error(
            &tpath,
            format!("path modifier type {k:?} is not ReplaceFullPath or ReplacePrefixMatch"),
        ),
    }
    let fields = [
        (
            "ReplaceFullPath",
            "replaceFullPath",
            m.replace_full_path.as_deref(),
        ),
        (
            "ReplacePrefixMatch",
            "replacePrefixMatch",
            m.replace_prefix_match.as_deref(),
        ),
    ];
    for (ty, field, value) in fields {
        if let Some(v) = value
            && v.len() > MAX_ROUTE_PATH_LEN
        {
            report.error(
                format!("{path}.{field}"),
                format!(
                    "{field} of {} bytes is longer than the limit of {MAX_ROUTE_PATH_LEN} (limits::MAX_ROUTE_PATH_LEN)",
                    v.len()
                ),
            );
        }
        let Some(k) = kind else { continue };
        if k == ty && value.is_none() {
            report.error(&tpath, format!("type {ty} needs {field}, which is missing"));
        } else if k != ty && value.is_some() {
            report.error(
                &tpath,
                format!("type is {k} but {field} is set; {field} needs type {ty}"),
            );
        }
    }
}

fn check_cors(c: &CorsFilter, path: &str, report: &mut Report) {
    let origins = format!("{path}.allowOrigins");
    check_max_items(
        c.allow_origins.len(),
        limit!(MAX_CORS_ITEMS),
        "allowOrigins",
        &origins,
        report,
    );
    check_set(&c.allow_origins, &origins, report);
    check_wildcard_alone(&c.allow_origins, "allowOrigins", &origins, report);
    for (i, o) in c.allow_origins.iter().enumerate() {
        if o.len() > MAX_NAME_LEN {
            report.error(
                format!("{origins}[{i}]"),
                format!(
                    "origin of {} bytes is longer than the limit of {MAX_NAME_LEN} (limits::MAX_NAME_LEN)",
                    o.len()
                ),
            );
        } else if !is_cors_origin(o) {
            report.error(
                format!("{origins}[{i}]"),
                format!(
                    "origin {o:?} is not valid; use \"*\" or http(s)://host[:port], where the \
                     host may start with \"*.\" or be \"*\""
                ),
            );
        }
    }

    let methods = format!("{path}.allowMethods");
    check_max_items(
        c.allow_methods.len(),
        limit!(MAX_CORS_METHODS),
        "allowMethods",
        &methods,
        report,
    );
    check_set(&c.allow_methods, &methods, report);
    check_wildcard_alone(&c.allow_methods, "allowMethods", &methods, report);
    for (i, m) in c.allow_methods.iter().enumerate() {
        if m != "*" && !METHODS.contains(&m.as_str()) {
            report.error(
                format!("{methods}[{i}]"),
                format!("method {m:?} is not one of {} or \"*\"", METHODS.join(", ")),
            );
        }
    }

    for (field, list, wildcard) in [
        ("allowHeaders", &c.allow_headers, true),
        ("exposeHeaders", &c.expose_headers, false),
    ] {
        let p = format!("{path}.{field}");
        check_max_items(list.len(), limit!(MAX_CORS_ITEMS), field, &p, report);
        check_set(list, &p, report);
        if wildcard {
            check_wildcard_alone(list, field, &p, report);
        }
        for (i, h) in list.iter().enumerate() {
            check_header_name(h, "header name", &format!("{p}[{i}]"), report);
        }
    }

    if let Some(age) = c.max_age
        && age < 1
    {
        report.error(
            format!("{path}.maxAge"),
            format!("maxAge {age} must be at least 1 (seconds)"),
        );
    }
}

/// `(^\*$)|(^(http(s)?):\/\/(((\*\.)?([a-zA-Z0-9\-]+\.)*[a-zA-Z0-9-]+|\*)(:([0-9]{1,5}))?)$)`
fn is_cors_origin(o: &str) -> bool {
    if o == "*" {
        return true;
    }
    let Some(rest) = o
        .strip_prefix("https://")
        .or_else(|| o.strip_prefix("http://"))
    else {
        return false;
    };
    let (host, port) = match rest.split_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (rest, None),
    };
    if let Some(port) = port
        && (!(1..=5).contains(&port.len()) || !port.bytes().all(|b| b.is_ascii_digit()))
    {
        return false;
    }
    if host == "*" {
        return true;
    }
    let host = host.strip_prefix("*.").unwrap_or(host);
    host.split('.').all(|label| {
        !label.is_empty()
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    })
}

// ---------------------------------------------------------------------------------------------
// Timeouts, retries, session persistence
// ---------------------------------------------------------------------------------------------

fn check_timeouts(t: &HttpRouteTimeouts, path: &str, report: &mut Report) {
    let request = t
        .request
        .as_deref()
        .and_then(|d| check_duration(d, &format!("{path}.request"), report));
    let backend = t
        .backend_request
        .as_deref()
        .and_then(|d| check_duration(d, &format!("{path}.backendRequest"), report));
    if let (Some(request), Some(backend)) = (request, backend)
        && request != 0
        && backend > request
    {
        report.error(
            format!("{path}.backendRequest"),
            format!(
                "backendRequest timeout {:?} is longer than the request timeout {:?}",
                t.backend_request.as_deref().unwrap_or_default(),
                t.request.as_deref().unwrap_or_default()
            ),
        );
    }
}

fn check_retry(r: &HttpRouteRetry, path: &str, report: &mut Report) {
    if let Some(a) = r.attempts
        && a < 1
    {
        report.error(
            format!("{path}.attempts"),
            format!("attempts {a} must be 1 or more"),
        );
    }
    if let Some(b) = &r.backoff {
        check_duration(b, &format!("{path}.backoff"), report);
    }
    for (i, code) in r.codes.iter().enumerate() {
        let p = format!("{path}.codes[{i}]");
        if !(400..=599).contains(code) {
            report.error(
                p,
                format!("status code {code} is out of range; use 400-599"),
            );
        } else if let Some(j) = r.codes[..i].iter().position(|c| c == code) {
            report.error(
                p,
                format!(
                    "status code {code} is already listed at codes[{j}]; entries must be unique"
                ),
            );
        }
    }
}

/// A Gateway API duration (GEP-2257): checks the pattern and returns milliseconds.
fn check_duration(value: &str, path: &str, report: &mut Report) -> Option<u64> {
    let ms = parse_duration(value);
    if ms.is_none() {
        report.error(
            path,
            format!("duration {value:?} is not valid; {DURATION_RULE}"),
        );
    }
    ms
}

/// `^([0-9]{1,5}(h|m|s|ms)){1,4}$`, in milliseconds.
fn parse_duration(value: &str) -> Option<u64> {
    let b = value.as_bytes();
    let mut i = 0;
    let mut parts = 0;
    let mut total = 0u64;
    while i < b.len() {
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        let digits = i - start;
        if !(1..=5).contains(&digits) {
            return None;
        }
        let n: u64 = value[start..i].parse().ok()?;
        let unit = if b[i..].starts_with(b"ms") {
            i += 2;
            1
        } else {
            let unit = match b.get(i) {
                Some(b'h') => 3_600_000,
                Some(b'm') => 60_000,
                Some(b's') => 1_000,
                _ => return None,
            };
            i += 1;
            unit
        };
        total += n * unit;
        parts += 1;
    }
    (1..=4).contains(&parts).then_some(total)
}

fn check_session_persistence(v: &Value, path: &str, report: &mut Report) {
    let Some(map) = raw_object(
        v,
        &["absoluteTimeout", "cookie", "header", "type"],
        path,
        report,
    ) else {
        return;
    };
    let absolute = raw_str(map, "absoluteTimeout", path, report);
    if let Some(d) = absolute {
        check_duration(d, &format!("{path}.absoluteTimeout"), report);
    }
    let kind = raw_str(map, "type", path, report).unwrap_or("Cookie");
    if !matches!(kind, "Cookie" | "Header") {
        report.error(
            format!("{path}.type"),
            format!("session persistence type {kind:?} is not Cookie or Header"),
        );
    }
    let cookie = raw_field(map, "cookie");
    let header = raw_field(map, "header");
    if let Some(c) = cookie {
        let cpath = format!("{path}.cookie");
        if let Some(c) = raw_object(c, &["lifetimeType", "name", "path"], &cpath, report) {
            let lifetime = raw_str(c, "lifetimeType", &cpath, report).unwrap_or("Session");
            if !matches!(lifetime, "Permanent" | "Session") {
                report.error(
                    format!("{cpath}.lifetimeType"),
                    format!("cookie lifetimeType {lifetime:?} is not Permanent or Session"),
                );
            } else if lifetime == "Permanent" && absolute.is_none() {
                report.error(
                    format!("{cpath}.lifetimeType"),
                    "a Permanent cookie needs absoluteTimeout, which is missing",
                );
            }
            if let Some(name) = raw_str(c, "name", &cpath, report) {
                check_header_name(name, "cookie name", &format!("{cpath}.name"), report);
            }
            if let Some(p) = raw_str(c, "path", &cpath, report)
                && p.len() > MAX_ROUTE_PATH_LEN
            {
                report.error(
                    format!("{cpath}.path"),
                    format!(
                        "cookie path of {} bytes is longer than the limit of {MAX_ROUTE_PATH_LEN} (limits::MAX_ROUTE_PATH_LEN)",
                        p.len()
                    ),
                );
            }
        }
    }
    if let Some(h) = header {
        let hpath = format!("{path}.header");
        if let Some(h) = raw_object(h, &["name"], &hpath, report) {
            match raw_str(h, "name", &hpath, report) {
                Some(name) => {
                    check_header_name(name, "header name", &format!("{hpath}.name"), report);
                }
                None => report.error(format!("{hpath}.name"), "header name is required"),
            }
        }
    }
    // An unknown type is reported above; the fields cannot be judged against it.
    let known_kind = matches!(kind, "Cookie" | "Header");
    for (ty, field, present) in [
        ("Cookie", "cookie", cookie.is_some()),
        ("Header", "header", header.is_some()),
    ] {
        if known_kind && present && kind != ty {
            report.error(
                format!("{path}.{field}"),
                format!(
                    "{field} is set but the session persistence type is {kind}; {field} needs \
                     type {ty}"
                ),
            );
        } else if known_kind && !present && kind == ty {
            report.error(
                format!("{path}.{field}"),
                format!("session persistence type {ty} needs {field}, which is missing"),
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Raw-JSON filters: extensionRef, externalAuth
// ---------------------------------------------------------------------------------------------

/// `extensionRef` (a `LocalObjectReference`): `group` (may be empty), `kind` and `name`, all
/// required.
fn check_local_object_ref(v: &Value, path: &str, report: &mut Report) {
    check_raw_ref(v, Namespaced::No, &["group", "kind"], path, report);
}

/// `externalAuth` (experimental): protocol, backend, and the protocol's own settings.
fn check_external_auth(v: &Value, path: &str, report: &mut Report) {
    let Some(map) = raw_object(
        v,
        &["protocol", "backendRef", "grpc", "http", "forwardBody"],
        path,
        report,
    ) else {
        return;
    };
    let protocol = raw_str(map, "protocol", path, report);
    match protocol {
        None => report.error(
            format!("{path}.protocol"),
            "protocol is required; HTTP or GRPC",
        ),
        Some("HTTP" | "GRPC") => {}
        Some(p) => report.error(
            format!("{path}.protocol"),
            format!("protocol {p:?} is not HTTP or GRPC"),
        ),
    }
    match raw_field(map, "backendRef") {
        None => report.error(
            format!("{path}.backendRef"),
            "backendRef is required: it names the authorization service",
        ),
        Some(b) => check_raw_backend_ref(b, &format!("{path}.backendRef"), report),
    }
    let grpc = raw_field(map, "grpc");
    if let Some(g) = grpc {
        let gpath = format!("{path}.grpc");
        if let Some(g) = raw_object(g, &["allowedHeaders"], &gpath, report) {
            check_raw_string_set(
                g,
                "allowedHeaders",
                limit!(MAX_AUTH_HEADERS),
                &gpath,
                report,
            );
        }
    }
    let http = raw_field(map, "http");
    if let Some(h) = http {
        let hpath = format!("{path}.http");
        if let Some(h) = raw_object(
            h,
            &["path", "allowedHeaders", "allowedResponseHeaders"],
            &hpath,
            report,
        ) {
            if let Some(p) = raw_str(h, "path", &hpath, report) {
                if p.len() > MAX_ROUTE_PATH_LEN {
                    report.error(
                        format!("{hpath}.path"),
                        format!(
                            "path of {} bytes is longer than the limit of {MAX_ROUTE_PATH_LEN} (limits::MAX_ROUTE_PATH_LEN)",
                            p.len()
                        ),
                    );
                } else if p.is_empty() || p.contains('#') || first_invalid_path_char(p).is_some() {
                    let c = first_invalid_path_char(p).unwrap_or('#');
                    let what = if p.is_empty() {
                        "is empty".to_string()
                    } else {
                        format!("has the invalid character {c:?}")
                    };
                    report.error(
                        format!("{hpath}.path"),
                        format!("path {p:?} {what}; {PATH_CHAR_RULE}"),
                    );
                }
            }
            check_raw_string_set(
                h,
                "allowedHeaders",
                limit!(MAX_AUTH_HEADERS),
                &hpath,
                report,
            );
            check_raw_string_set(
                h,
                "allowedResponseHeaders",
                limit!(MAX_AUTH_HEADERS),
                &hpath,
                report,
            );
        }
    }
    if let Some(fb) = raw_field(map, "forwardBody") {
        let fpath = format!("{path}.forwardBody");
        if let Some(fb) = raw_object(fb, &["maxSize"], &fpath, report)
            && let Some(size) = raw_int(fb, "maxSize", &fpath, report)
            && size < 0
        {
            report.error(
                format!("{fpath}.maxSize"),
                format!("maxSize {size} is negative; it must be 0 or more"),
            );
        }
    }
    for (proto, field, present) in [
        ("GRPC", "grpc", grpc.is_some()),
        ("HTTP", "http", http.is_some()),
    ] {
        match protocol.filter(|p| matches!(*p, "HTTP" | "GRPC")) {
            Some(p) if p == proto && !present => report.error(
                format!("{path}.{field}"),
                format!("protocol {proto} needs {field}, which is missing"),
            ),
            Some(p) if p != proto && present => report.error(
                format!("{path}.{field}"),
                format!("{field} is set but the protocol is {p}; {field} needs protocol {proto}"),
            ),
            _ => {}
        }
    }
}

/// A backend reference kept as raw JSON (as in `externalAuth`).
fn check_raw_backend_ref(v: &Value, path: &str, report: &mut Report) {
    let Some(map) = raw_object(
        v,
        &["group", "kind", "name", "namespace", "port"],
        path,
        report,
    ) else {
        return;
    };
    let group = raw_str(map, "group", path, report);
    let kind = raw_str(map, "kind", path, report);
    let name = raw_str(map, "name", path, report).unwrap_or_default();
    let namespace = raw_str(map, "namespace", path, report);
    let port = raw_int(map, "port", path, report);
    check_backend_object(group, kind, name, namespace, port, path, report);
}

fn check_raw_string_set(
    map: &Map<String, Value>,
    field: &str,
    max: (usize, &str),
    path: &str,
    report: &mut Report,
) {
    let fpath = format!("{path}.{field}");
    let Some(value) = raw_field(map, field) else {
        return;
    };
    let Some(items) = value.as_array() else {
        report.error(
            fpath,
            format!(
                "{field} must be a list of strings, not {}",
                json_type(value)
            ),
        );
        return;
    };
    check_max_items(items.len(), max, field, &fpath, report);
    let mut seen: Vec<&str> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let Some(s) = item.as_str() else {
            report.error(
                format!("{fpath}[{i}]"),
                format!("entry must be a string, not {}", json_type(item)),
            );
            continue;
        };
        if let Some(j) = seen.iter().position(|o| *o == s) {
            report.error(
                format!("{fpath}[{i}]"),
                format!("{s:?} is already listed at {field}[{j}]; entries must be unique"),
            );
        }
        seen.push(s);
    }
}

// ---------------------------------------------------------------------------------------------
// Gateway
// ---------------------------------------------------------------------------------------------

/// Validates a Gateway API `Gateway` spec, recording every error and warning in `report` with
/// paths that start at `spec`.
pub(crate) fn validate_gateway(spec: &GatewaySpec, report: &mut Report) {
    match spec.gateway_class_name.as_deref() {
        None | Some("") => report.error(
            "spec.gatewayClassName",
            "gatewayClassName is required: it names the GatewayClass that implements the Gateway",
        ),
        Some(c) if c.len() > MAX_NAME_LEN => report.error(
            "spec.gatewayClassName",
            format!(
                "gatewayClassName of {} bytes is longer than the limit of {MAX_NAME_LEN} (limits::MAX_NAME_LEN)",
                c.len()
            ),
        ),
        Some(_) => {}
    }

    if spec.listeners.is_empty() {
        report.error("spec.listeners", "a Gateway needs at least one listener");
    }
    check_max_items(
        spec.listeners.len(),
        limit!(MAX_LISTENERS),
        "listeners",
        "spec.listeners",
        report,
    );
    for (i, l) in spec.listeners.iter().enumerate() {
        check_listener(l, &format!("spec.listeners[{i}]"), report);
    }
    for j in 1..spec.listeners.len() {
        let b = &spec.listeners[j];
        if let Some(name) = &b.name
            && let Some(i) = spec.listeners[..j]
                .iter()
                .position(|a| a.name.as_ref() == Some(name))
        {
            report.error(
                format!("spec.listeners[{j}].name"),
                format!(
                    "listener name {name:?} is already used by listeners[{i}]; names must be \
                     unique within the Gateway"
                ),
            );
        }
        let (Some(port), Some(protocol)) = (b.port, b.protocol.as_deref()) else {
            continue;
        };
        if let Some(i) = spec.listeners[..j].iter().position(|a| {
            a.port == Some(port)
                && a.protocol.as_deref() == Some(protocol)
                && a.hostname == b.hostname
        }) {
            let host = match &b.hostname {
                Some(h) => format!("hostname {h:?}"),
                None => "no hostname".to_string(),
            };
            report.error(
                format!("spec.listeners[{j}]"),
                format!(
                    "listeners[{i}] already has port {port}, protocol {protocol} and {host}; each \
                     listener needs its own combination of the three"
                ),
            );
        }
    }

    check_addresses(&spec.addresses, report);

    if let Some(v) = &spec.allowed_listeners {
        check_allowed_listeners(v, "spec.allowedListeners", report);
    }
    if let Some(v) = &spec.infrastructure {
        check_infrastructure(v, "spec.infrastructure", report);
    }
    if let Some(v) = &spec.tls {
        check_gateway_tls(v, "spec.tls", report);
    }
    if spec.backend_tls.is_some() {
        report.error(
            "spec.backendTLS",
            "backendTLS is not a Gateway field in Gateway API v1; the client certificate for \
             backends is spec.tls.backend.clientCertificateRef",
        );
    }
    if let Some(scope) = &spec.default_scope
        && !matches!(scope.as_str(), "All" | "None")
    {
        report.error(
            "spec.defaultScope",
            format!("defaultScope {scope:?} is not All or None"),
        );
    }
}

fn check_listener(l: &Listener, path: &str, report: &mut Report) {
    match l.name.as_deref() {
        None => report.error(
            format!("{path}.name"),
            "listener name is required: routes attach to it by sectionName",
        ),
        Some(name) => check_subdomain(name, "listener name", &format!("{path}.name"), report),
    }
    match l.port {
        None => report.error(format!("{path}.port"), "port is required"),
        Some(port) => check_port(port, &format!("{path}.port"), report),
    }
    let protocol = l.protocol.as_deref();
    match protocol {
        None => report.error(
            format!("{path}.protocol"),
            "protocol is required; HTTP, HTTPS, TLS, TCP, UDP or a domain-prefixed protocol",
        ),
        Some(p) if p.len() > MAX_PROTOCOL_LEN || !is_protocol(p) => report.error(
            format!("{path}.protocol"),
            format!(
                "protocol {p:?} is not valid; use letters, digits and '-' (such as HTTP or HTTPS), \
                 or a domain-prefixed name such as example.com/proto"
            ),
        ),
        Some(_) => {}
    }
    let protocol = protocol.unwrap_or_default();
    if let Some(h) = &l.hostname {
        check_hostname(h, &format!("{path}.hostname"), report);
        if matches!(protocol, "TCP" | "UDP") && !h.is_empty() {
            report.error(
                format!("{path}.hostname"),
                format!("protocol {protocol} has no host names to match; remove hostname {h:?}"),
            );
        }
    }
    match &l.tls {
        Some(tls) => {
            if matches!(protocol, "HTTP" | "TCP" | "UDP") {
                report.error(
                    format!("{path}.tls"),
                    format!(
                        "protocol {protocol} does not use TLS; remove tls, or use HTTPS or TLS"
                    ),
                );
            }
            check_listener_tls(tls, protocol, &format!("{path}.tls"), report);
        }
        None if protocol == "TLS" => report.error(
            format!("{path}.tls"),
            "protocol TLS needs tls with a mode (Terminate or Passthrough)",
        ),
        None if protocol == "HTTPS" => report.warn(
            "missing-tls",
            format!("{path}.tls"),
            "protocol HTTPS needs tls with certificateRefs to terminate connections; \
             implementations do not program this listener",
        ),
        None => {}
    }
    if let Some(ar) = &l.allowed_routes {
        check_allowed_routes(ar, &format!("{path}.allowedRoutes"), report);
    }
}

fn check_listener_tls(tls: &ListenerTls, protocol: &str, path: &str, report: &mut Report) {
    let mode = tls.mode.as_deref().unwrap_or("Terminate");
    let mpath = format!("{path}.mode");
    if !matches!(mode, "Terminate" | "Passthrough") {
        report.error(
            &mpath,
            format!("tls mode {mode:?} is not Terminate or Passthrough"),
        );
    } else if protocol == "HTTPS" && mode != "Terminate" {
        report.error(
            &mpath,
            format!(
                "tls mode {mode} is not allowed for protocol HTTPS, which terminates TLS; use \
                 Terminate, or protocol TLS to pass connections through"
            ),
        );
    }
    if tls.frontend_validation.is_some() {
        report.error(
            format!("{path}.frontendValidation"),
            "frontendValidation is not a listener tls field in Gateway API v1; client certificate \
             validation is configured in spec.tls.frontend",
        );
    }
    if mode == "Terminate" && tls.certificate_refs.is_empty() && tls.options.is_empty() {
        report.error(
            path,
            "tls mode Terminate needs certificateRefs or options to find a certificate",
        );
    }
    let cpath = format!("{path}.certificateRefs");
    check_max_items(
        tls.certificate_refs.len(),
        limit!(MAX_CERTIFICATE_REFS),
        "certificateRefs",
        &cpath,
        report,
    );
    for (i, r) in tls.certificate_refs.iter().enumerate() {
        check_raw_ref(r, Namespaced::Yes, &[], &format!("{cpath}[{i}]"), report);
    }
    check_max_items(
        tls.options.len(),
        limit!(MAX_TLS_OPTIONS),
        "tls options",
        &format!("{path}.options"),
        report,
    );
    for (key, value) in &tls.options {
        if value.len() > MAX_HEADER_VALUE_LEN {
            report.error(
                format!("{path}.options[{key}]"),
                format!(
                    "option value of {} bytes is longer than the limit of {MAX_HEADER_VALUE_LEN} (limits::MAX_HEADER_VALUE_LEN)",
                    value.len()
                ),
            );
        }
    }
}

fn check_allowed_routes(ar: &AllowedRoutes, path: &str, report: &mut Report) {
    if let Some(from) = ar.namespaces.as_ref().and_then(|n| n.from.as_deref())
        && !matches!(from, "All" | "Selector" | "Same")
    {
        report.error(
            format!("{path}.namespaces.from"),
            format!("namespaces.from {from:?} is not All, Selector or Same"),
        );
    }
    let kpath = format!("{path}.kinds");
    check_max_items(
        ar.kinds.len(),
        limit!(MAX_ROUTE_KINDS),
        "route kinds",
        &kpath,
        report,
    );
    for (i, k) in ar.kinds.iter().enumerate() {
        let p = format!("{kpath}[{i}]");
        if let Some(group) = &k.group {
            check_group(group, &format!("{p}.group"), report);
        }
        match &k.kind {
            Some(kind) => check_kind(kind, &format!("{p}.kind"), report),
            None => report.error(format!("{p}.kind"), "kind is required"),
        }
    }
}

/// `allowedListeners` (experimental): only `namespaces.from` has rules beyond its shape.
fn check_allowed_listeners(v: &Value, path: &str, report: &mut Report) {
    let Some(map) = raw_object(v, &["namespaces"], path, report) else {
        return;
    };
    let Some(ns) = raw_field(map, "namespaces") else {
        return;
    };
    let npath = format!("{path}.namespaces");
    let Some(ns) = raw_object(ns, &["from", "selector"], &npath, report) else {
        return;
    };
    if let Some(from) = raw_str(ns, "from", &npath, report)
        && !matches!(from, "All" | "Selector" | "Same" | "None")
    {
        report.error(
            format!("{npath}.from"),
            format!("namespaces.from {from:?} is not All, Selector, Same or None"),
        );
    }
}

/// `infrastructure`: labels and annotations for generated resources, and a parameters reference.
fn check_infrastructure(v: &Value, path: &str, report: &mut Report) {
    let Some(map) = raw_object(v, &["labels", "annotations", "parametersRef"], path, report) else {
        return;
    };
    for (field, max_entries, max_value) in [("labels", 8, MAX_LABEL_LEN), ("annotations", 16, 4096)]
    {
        let Some(m) = raw_field(map, field) else {
            continue;
        };
        let fpath = format!("{path}.{field}");
        let Some(m) = m.as_object() else {
            report.error(
                fpath,
                format!("{field} must be a map of strings, not {}", json_type(m)),
            );
            continue;
        };
        check_max_items(
            m.len(),
            (max_entries, "the CRD's maxProperties"),
            field,
            &fpath,
            report,
        );
        for (key, value) in m {
            let kpath = format!("{fpath}[{key}]");
            if !is_label_key(key) {
                report.error(
                    &kpath,
                    format!(
                        "key {key:?} is not valid; use an optional lower-case DNS prefix (under \
                         253 bytes) and '/', then 1-63 letters, digits, '-', '_' or '.', starting \
                         and ending with a letter or digit"
                    ),
                );
            }
            let Some(value) = value.as_str() else {
                report.error(
                    kpath,
                    format!("value must be a string, not {}", json_type(value)),
                );
                continue;
            };
            if value.len() > max_value {
                report.error(
                    kpath,
                    format!(
                        "value of {} bytes is longer than the limit of {max_value}",
                        value.len()
                    ),
                );
            } else if field == "labels" && !is_label_value(value) {
                report.error(
                    kpath,
                    format!(
                        "label value {value:?} is not valid; use letters, digits, '-', '_' or '.', \
                         starting and ending with a letter or digit"
                    ),
                );
            }
        }
    }
    if let Some(r) = raw_field(map, "parametersRef") {
        check_raw_ref(
            r,
            Namespaced::No,
            &["group", "kind"],
            &format!("{path}.parametersRef"),
            report,
        );
    }
}

/// `^(<lower-case DNS subdomain>/)?([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9]$`, with a prefix
/// shorter than 253 bytes.
fn is_label_key(key: &str) -> bool {
    let (prefix, name) = match key.split_once('/') {
        Some((prefix, name)) => (Some(prefix), name),
        None => (None, key),
    };
    prefix.is_none_or(|p| p.len() < MAX_NAME_LEN && is_dns_subdomain(p))
        && name.len() <= MAX_LABEL_LEN
        && !name.is_empty()
        && is_label_value(name)
}

/// `^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$`
fn is_label_value(v: &str) -> bool {
    let b = v.as_bytes();
    b.is_empty()
        || (b[0].is_ascii_alphanumeric()
            && b[b.len() - 1].is_ascii_alphanumeric()
            && b.iter()
                .all(|&c| c.is_ascii_alphanumeric() || b"-_.".contains(&c)))
}

/// Gateway-level `tls`: client certificate validation (per port or by default) and the client
/// certificate the Gateway presents to backends.
fn check_gateway_tls(v: &Value, path: &str, report: &mut Report) {
    let Some(map) = raw_object(v, &["frontend", "backend"], path, report) else {
        return;
    };
    if let Some(b) = raw_field(map, "backend") {
        let bpath = format!("{path}.backend");
        if let Some(b) = raw_object(b, &["clientCertificateRef"], &bpath, report)
            && let Some(r) = raw_field(b, "clientCertificateRef")
        {
            check_raw_ref(
                r,
                Namespaced::Yes,
                &[],
                &format!("{bpath}.clientCertificateRef"),
                report,
            );
        }
    }
    let Some(f) = raw_field(map, "frontend") else {
        return;
    };
    let fpath = format!("{path}.frontend");
    let Some(f) = raw_object(f, &["default", "perPort"], &fpath, report) else {
        return;
    };
    match raw_field(f, "default") {
        None => report.error(format!("{fpath}.default"), "default is required"),
        Some(d) => check_tls_validation_holder(d, &format!("{fpath}.default"), report),
    }
    let Some(per_port) = raw_field(f, "perPort") else {
        return;
    };
    let ppath = format!("{fpath}.perPort");
    let Some(per_port) = per_port.as_array() else {
        report.error(
            ppath,
            format!("perPort must be a list, not {}", json_type(per_port)),
        );
        return;
    };
    check_max_items(
        per_port.len(),
        limit!(MAX_LISTENERS),
        "perPort entries",
        &ppath,
        report,
    );
    let mut ports: Vec<i64> = Vec::new();
    for (i, entry) in per_port.iter().enumerate() {
        let epath = format!("{ppath}[{i}]");
        let Some(entry) = raw_object(entry, &["port", "tls"], &epath, report) else {
            continue;
        };
        match raw_int(entry, "port", &epath, report) {
            None => report.error(format!("{epath}.port"), "port is required"),
            Some(port) => {
                check_port(port, &format!("{epath}.port"), report);
                if let Some(j) = ports.iter().position(|&p| p == port) {
                    report.error(
                        format!("{epath}.port"),
                        format!(
                            "port {port} is already configured by perPort[{j}]; ports must be \
                             unique"
                        ),
                    );
                }
                ports.push(port);
            }
        }
        match raw_field(entry, "tls") {
            None => report.error(format!("{epath}.tls"), "tls is required"),
            Some(t) => check_tls_validation_holder(t, &format!("{epath}.tls"), report),
        }
    }
}

/// An object holding an optional `validation`: CA certificates (1-16, required) and a mode.
fn check_tls_validation_holder(v: &Value, path: &str, report: &mut Report) {
    let Some(map) = raw_object(v, &["validation"], path, report) else {
        return;
    };
    let Some(val) = raw_field(map, "validation") else {
        return;
    };
    let vpath = format!("{path}.validation");
    let Some(val) = raw_object(val, &["caCertificateRefs", "mode"], &vpath, report) else {
        return;
    };
    if let Some(mode) = raw_str(val, "mode", &vpath, report)
        && !matches!(mode, "AllowValidOnly" | "AllowInsecureFallback")
    {
        report.error(
            format!("{vpath}.mode"),
            format!("validation mode {mode:?} is not AllowValidOnly or AllowInsecureFallback"),
        );
    }
    let cpath = format!("{vpath}.caCertificateRefs");
    let refs = raw_field(val, "caCertificateRefs").and_then(Value::as_array);
    match refs {
        None => report.error(
            cpath,
            "caCertificateRefs is required: at least one CA certificate",
        ),
        Some(refs) if refs.is_empty() => report.error(
            cpath,
            "caCertificateRefs is empty; at least one CA certificate is required",
        ),
        Some(refs) => {
            check_max_items(
                refs.len(),
                (16, "the CRD's maxItems"),
                "caCertificateRefs",
                &cpath,
                report,
            );
            for (i, r) in refs.iter().enumerate() {
                check_raw_ref(
                    r,
                    Namespaced::Yes,
                    &["group", "kind"],
                    &format!("{cpath}[{i}]"),
                    report,
                );
            }
        }
    }
}

/// Whether a raw object reference may name a namespace.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Namespaced {
    Yes,
    No,
}

/// An object reference kept as raw JSON: `group`, `kind`, `name` (always required) and, when
/// `namespaced`, `namespace`; `group` and `kind` are required when listed in `required` (`group`
/// may be empty).
fn check_raw_ref(
    v: &Value,
    namespaced: Namespaced,
    required: &[&str],
    path: &str,
    report: &mut Report,
) {
    let known: &[&str] = match namespaced {
        Namespaced::Yes => &["group", "kind", "name", "namespace"],
        Namespaced::No => &["group", "kind", "name"],
    };
    let Some(map) = raw_object(v, known, path, report) else {
        return;
    };
    let group = raw_str(map, "group", path, report);
    let kind = raw_str(map, "kind", path, report);
    let name = raw_str(map, "name", path, report);
    let namespace = match namespaced {
        Namespaced::Yes => raw_str(map, "namespace", path, report),
        Namespaced::No => None,
    };
    for (field, value) in [("group", group), ("kind", kind)] {
        if value.is_none() && required.contains(&field) {
            report.error(format!("{path}.{field}"), format!("{field} is required"));
        }
    }
    check_ref_names(
        group,
        kind,
        name.unwrap_or_default(),
        namespace,
        path,
        report,
    );
}

fn check_addresses(addresses: &[GatewayAddress], report: &mut Report) {
    check_max_items(
        addresses.len(),
        limit!(MAX_ADDRESSES),
        "addresses",
        "spec.addresses",
        report,
    );
    for (i, a) in addresses.iter().enumerate() {
        let path = format!("spec.addresses[{i}]");
        let kind = a.kind.as_deref().unwrap_or("IPAddress");
        if kind.is_empty() || kind.len() > MAX_NAME_LEN || !is_address_type(kind) {
            report.error(
                format!("{path}.type"),
                format!(
                    "address type {kind:?} is not IPAddress, Hostname, NamedAddress or a \
                     domain-prefixed type such as example.com/custom"
                ),
            );
        }
        let Some(value) = a.value.as_deref() else {
            continue;
        };
        let vpath = format!("{path}.value");
        if value.len() > MAX_NAME_LEN {
            report.error(
                &vpath,
                format!(
                    "address of {} bytes is longer than the limit of {MAX_NAME_LEN} (limits::MAX_NAME_LEN)",
                    value.len()
                ),
            );
            continue;
        }
        match kind {
            "IPAddress" if value.parse::<std::net::IpAddr>().is_err() => report.error(
                &vpath,
                format!("address {value:?} is not an IPv4 or IPv6 address (type IPAddress)"),
            ),
            "Hostname" if !value.is_empty() && !is_route_hostname(value) => report.error(
                &vpath,
                format!(
                    "address {value:?} is not a valid host name (type Hostname); {HOSTNAME_RULE}"
                ),
            ),
            "IPAddress" | "Hostname" => {
                if let Some(j) = addresses[..i].iter().position(|o| {
                    o.kind.as_deref().unwrap_or("IPAddress") == kind
                        && o.value.as_deref() == Some(value)
                }) {
                    report.error(
                        &vpath,
                        format!(
                            "address {value:?} is already listed at addresses[{j}]; {kind} values \
                             must be unique"
                        ),
                    );
                }
            }
            _ => {}
        }
    }
}

/// The CRD's `^Hostname|IPAddress|NamedAddress|<domain>\/<path chars>$` pattern. Its `^` and `$`
/// bind only to the first and last alternatives, so the middle ones match anywhere; this follows
/// the pattern as the apiserver applies it.
fn is_address_type(kind: &str) -> bool {
    if kind.starts_with("Hostname") || kind.contains("IPAddress") || kind.contains("NamedAddress") {
        return true;
    }
    let tail_ok = |c: u8| c.is_ascii_alphanumeric() || b"/-._~%!$&'()*+,;=:".contains(&c);
    let b = kind.as_bytes();
    (1..b.len()).any(|k| {
        b[k] == b'/'
            && (b[k - 1].is_ascii_lowercase() || b[k - 1].is_ascii_digit())
            && k + 1 < b.len()
            && b[k + 1..].iter().all(|&c| tail_ok(c))
    })
}

/// The CRD's `^[a-zA-Z0-9]([-a-zA-Z0-9]*[a-zA-Z0-9])?$|<domain>\/[A-Za-z0-9]+$` pattern. The
/// second alternative is not anchored at the start, so only its end is checked: a lower-case
/// letter or digit, `/`, then letters and digits.
fn is_protocol(p: &str) -> bool {
    let b = p.as_bytes();
    let plain = !b.is_empty()
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter().all(|&c| c.is_ascii_alphanumeric() || c == b'-');
    let prefixed = p.rsplit_once('/').is_some_and(|(head, tail)| {
        !tail.is_empty()
            && tail.bytes().all(|c| c.is_ascii_alphanumeric())
            && head
                .bytes()
                .last()
                .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
    });
    plain || prefixed
}

// ---------------------------------------------------------------------------------------------
// Names, hosts, ports, headers
// ---------------------------------------------------------------------------------------------

/// A list of at most `limit` (from [`limit!`]) entries; see [`check_count`].
fn check_max_items(len: usize, limit: (usize, &str), what: &str, path: &str, report: &mut Report) {
    check_count(len, limit, what, path, report);
}

fn check_port(port: i64, path: &str, report: &mut Report) {
    if !(1..=65535).contains(&port) {
        report.error(path, format!("port {port} is out of range; use 1-65535"));
    }
}

/// A route or listener hostname: `^(\*\.)?<lower-case DNS subdomain>$`, at most 253 bytes.
fn check_hostname(h: &str, path: &str, report: &mut Report) {
    if h.len() > MAX_NAME_LEN {
        report.error(
            path,
            format!(
                "hostname of {} bytes is longer than the limit of {MAX_NAME_LEN} (limits::MAX_NAME_LEN)",
                h.len()
            ),
        );
    } else if !is_route_hostname(h) {
        report.error(
            path,
            format!("hostname {h:?} is not valid; {HOSTNAME_RULE}"),
        );
    } else if is_ip_literal(h) {
        report.error(path, ip_hostname(h, "hostname"));
    }
}

/// A redirect or rewrite hostname (`PreciseHostname`): a lower-case DNS subdomain, no wildcard,
/// not an IP address.
fn check_precise_hostname(h: &str, what: &str, path: &str, report: &mut Report) {
    if is_ip_literal(h) {
        report.error(path, ip_hostname(h, what));
    } else {
        check_subdomain(h, what, path, report);
    }
}

/// The Gateway API `Hostname` and `PreciseHostname` types allow no IP addresses, though the
/// CRD pattern lets a dotted quad through.
fn ip_hostname(h: &str, what: &str) -> String {
    format!("{what} {h:?} is an IP address; the Gateway API allows only DNS names here")
}

fn is_route_hostname(h: &str) -> bool {
    is_dns_subdomain(h.strip_prefix("*.").unwrap_or(h))
}

/// A lower-case DNS subdomain of at most 253 bytes (listener, rule and section names, redirect
/// hostnames).
fn check_subdomain(s: &str, what: &str, path: &str, report: &mut Report) {
    if s.len() > MAX_NAME_LEN {
        report.error(
            path,
            format!(
                "{what} of {} bytes is longer than the limit of {MAX_NAME_LEN} (limits::MAX_NAME_LEN)",
                s.len()
            ),
        );
    } else if !is_dns_subdomain(s) {
        report.error(path, format!("{what} {s:?} is not valid; {SUBDOMAIN_RULE}"));
    }
}

/// `^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$` (no per-label limit).
fn is_dns_subdomain(s: &str) -> bool {
    s.split('.').all(is_dns_label_chars)
}

/// `^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
fn is_dns_label_chars(s: &str) -> bool {
    let b = s.as_bytes();
    let edge = |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    !b.is_empty() && edge(b[0]) && edge(b[b.len() - 1]) && b.iter().all(|&c| edge(c) || c == b'-')
}

/// An API group: empty (core) or a lower-case DNS subdomain of at most 253 bytes.
fn check_group(g: &str, path: &str, report: &mut Report) {
    if g.len() > MAX_NAME_LEN {
        report.error(
            path,
            format!(
                "group of {} bytes is longer than the limit of {MAX_NAME_LEN} (limits::MAX_NAME_LEN)",
                g.len()
            ),
        );
    } else if !g.is_empty() && !is_dns_subdomain(g) {
        report.error(
            path,
            format!("group {g:?} is not valid; use \"\" for the core group, or {SUBDOMAIN_RULE}"),
        );
    }
}

/// `^[a-zA-Z]([-a-zA-Z0-9]*[a-zA-Z0-9])?$`, 1-63 bytes.
fn check_kind(k: &str, path: &str, report: &mut Report) {
    let b = k.as_bytes();
    let valid = !b.is_empty()
        && b.len() <= MAX_LABEL_LEN
        && b[0].is_ascii_alphabetic()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter().all(|&c| c.is_ascii_alphanumeric() || c == b'-');
    if !valid {
        report.error(path, format!("kind {k:?} is not valid; {KIND_RULE}"));
    }
}

/// An object name: required, at most 253 bytes.
fn check_object_name(name: &str, path: &str, report: &mut Report) {
    if name.is_empty() {
        report.error(path, "name is required");
    } else if name.len() > MAX_NAME_LEN {
        report.error(
            path,
            format!(
                "name of {} bytes is longer than the limit of {MAX_NAME_LEN} (limits::MAX_NAME_LEN)",
                name.len()
            ),
        );
    }
}

/// A namespace: a lower-case DNS label of at most 63 bytes.
fn check_namespace(ns: &str, path: &str, report: &mut Report) {
    if ns.len() > MAX_LABEL_LEN || !is_dns_label_chars(ns) {
        report.error(path, format!("namespace {ns:?} is not valid; {LABEL_RULE}"));
    }
}

/// A header name: an HTTP token of 1-256 bytes. Returns whether it is valid.
fn check_header_name(name: &str, what: &str, path: &str, report: &mut Report) -> bool {
    if name.is_empty() {
        report.error(path, format!("{what} is required"));
        false
    } else if name.len() > MAX_HEADER_NAME_LEN {
        report.error(
            path,
            format!(
                "{what} of {} bytes is longer than the limit of {MAX_HEADER_NAME_LEN} (limits::MAX_HEADER_NAME_LEN)",
                name.len()
            ),
        );
        false
    } else if !is_http_token(name) {
        report.error(path, format!("{what} {name:?} is not valid; {TOKEN_RULE}"));
        false
    } else {
        true
    }
}

/// `^[!-~]+([\t ]?[!-~]+)*$`: visible ASCII, single spaces or tabs between, none at the ends.
fn is_header_value(s: &str) -> bool {
    let b = s.as_bytes();
    let visible = |c: u8| (b'!'..=b'~').contains(&c);
    !b.is_empty()
        && visible(b[0])
        && visible(b[b.len() - 1])
        && b.iter().all(|&c| visible(c) || c == b' ' || c == b'\t')
        && !b
            .windows(2)
            .any(|w| matches!(w[0], b' ' | b'\t') && matches!(w[1], b' ' | b'\t'))
}

/// `x-kubernetes-list-type: set`: no entry twice.
fn check_set(list: &[String], path: &str, report: &mut Report) {
    for (i, s) in list.iter().enumerate() {
        if let Some(j) = list[..i].iter().position(|o| o == s) {
            report.error(
                format!("{path}[{i}]"),
                format!("{s:?} is already listed at [{j}]; entries must be unique"),
            );
        }
    }
}

/// `!('*' in self && self.size() > 1)`
fn check_wildcard_alone(list: &[String], field: &str, path: &str, report: &mut Report) {
    if list.len() > 1 && list.iter().any(|s| s == "*") {
        report.error(
            path,
            format!(
                "\"*\" must be the only entry of {field}, which has {} entries",
                list.len()
            ),
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Raw JSON access
// ---------------------------------------------------------------------------------------------

/// `v` as an object whose keys are all in `known`; errors for anything else.
fn raw_object<'a>(
    v: &'a Value,
    known: &[&str],
    path: &str,
    report: &mut Report,
) -> Option<&'a Map<String, Value>> {
    let Value::Object(map) = v else {
        report.error(path, format!("must be an object, not {}", json_type(v)));
        return None;
    };
    for key in map.keys() {
        if !known.contains(&key.as_str()) {
            report.error(
                format!("{path}.{key}"),
                format!(
                    "unknown field {key:?}; expected one of {}",
                    known.join(", ")
                ),
            );
        }
    }
    Some(map)
}

/// A field that is present and not null.
fn raw_field<'a>(map: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    map.get(key).filter(|v| !v.is_null())
}

fn raw_str<'a>(
    map: &'a Map<String, Value>,
    key: &str,
    path: &str,
    report: &mut Report,
) -> Option<&'a str> {
    let v = raw_field(map, key)?;
    let s = v.as_str();
    if s.is_none() {
        report.error(
            format!("{path}.{key}"),
            format!("{key} must be a string, not {}", json_type(v)),
        );
    }
    s
}

fn raw_int(map: &Map<String, Value>, key: &str, path: &str, report: &mut Report) -> Option<i64> {
    let v = raw_field(map, key)?;
    let n = v.as_i64();
    if n.is_none() {
        report.error(
            format!("{path}.{key}"),
            format!("{key} must be an integer, not {}", json_type(v)),
        );
    }
    n
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "an integer",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compile::report::validate_yaml;

    fn http(yaml: &str) -> Report {
        validate_yaml(yaml, validate_http_route)
    }

    fn grpc(yaml: &str) -> Report {
        validate_yaml(yaml, validate_grpc_route)
    }

    fn gateway(yaml: &str) -> Report {
        validate_yaml(yaml, validate_gateway)
    }

    fn pair(path: &str, message: &str) -> (String, String) {
        (path.to_string(), message.to_string())
    }

    /// The errors of an HTTPRoute whose single rule is `rule` (flow-style YAML).
    fn rule_errors(rule: &str) -> Vec<(String, String)> {
        http(&format!("{{rules: [{rule}]}}")).errors
    }

    /// The single error of an HTTPRoute whose single rule is `rule`.
    fn rule_error(rule: &str) -> (String, String) {
        let errors = rule_errors(rule);
        assert_eq!(errors.len(), 1, "expected one error, got {errors:#?}");
        errors.into_iter().next().expect("one error")
    }

    /// The single error of an HTTPRoute whose single rule has the single `filter`.
    fn filter_error(filter: &str) -> (String, String) {
        rule_error(&format!("{{filters: [{filter}]}}"))
    }

    /// The single error of a Gateway with the given listeners (flow-style YAML).
    fn listener_errors(listeners: &str) -> Vec<(String, String)> {
        gateway(&format!("{{gatewayClassName: c, listeners: {listeners}}}")).errors
    }

    const FULL_HTTP_ROUTE: &str = r#"
parentRefs:
- name: gw
  sectionName: http
- name: gw
  sectionName: https
- group: ""
  kind: Service
  name: reviews
  port: 9080
hostnames: [example.com, "*.example.com"]
rules:
- name: api
  matches:
  - path: {type: PathPrefix, value: /api}
    method: GET
    headers:
    - {name: x-user, value: "jason smith"}
    - {name: x-tier, type: RegularExpression, value: "gold|silver"}
    queryParams:
    - {name: debug, value: "1"}
  filters:
  - type: RequestHeaderModifier
    requestHeaderModifier:
      set: [{name: x-a, value: "1"}]
      add: [{name: x-b, value: "two words"}]
      remove: [x-c]
  - type: URLRewrite
    urlRewrite:
      hostname: internal.example.com
      path: {type: ReplacePrefixMatch, replacePrefixMatch: /v2}
  - type: RequestMirror
    requestMirror:
      backendRef: {name: shadow, port: 8080}
      fraction: {numerator: 1, denominator: 10}
  - type: CORS
    cors:
      allowOrigins: ["https://*.example.com", "http://localhost:8080"]
      allowMethods: [GET, POST]
      allowHeaders: [x-user]
      exposeHeaders: [x-request-id]
      allowCredentials: true
      maxAge: 600
  - type: ExtensionRef
    extensionRef: {group: example.com, kind: Policy, name: p}
  - type: ExternalAuth
    externalAuth:
      protocol: HTTP
      backendRef: {name: auth, port: 9000}
      http: {path: /check, allowedHeaders: [authorization]}
  backendRefs:
  - name: api-v1
    port: 8080
    weight: 90
  - name: api-v2
    port: 8080
    weight: 10
    filters:
    - type: ResponseHeaderModifier
      responseHeaderModifier: {set: [{name: x-version, value: v2}]}
  - group: networking.istio.io
    kind: Hostname
    name: api.example.com
    weight: 0
  timeouts: {request: 10s, backendRequest: 2s}
  retry: {attempts: 3, backoff: 100ms, codes: [502, 503]}
  sessionPersistence:
    type: Cookie
    absoluteTimeout: 1h
    cookie: {name: session, lifetimeType: Permanent}
- matches:
  - path: {type: Exact, value: /old}
  filters:
  - type: RequestRedirect
    requestRedirect:
      scheme: https
      hostname: new.example.com
      port: 443
      statusCode: 301
      path: {type: ReplaceFullPath, replaceFullPath: /new}
- matches:
  - path: {type: RegularExpression, value: "/items/[0-9]+"}
  backendRefs: [{name: items, port: 80}]
- backendRefs: [{name: default, port: 80}]
"#;

    #[test]
    fn an_http_route_with_every_feature_is_valid() {
        let report = http(FULL_HTTP_ROUTE);
        assert_eq!(report.errors, vec![]);
        assert_eq!(report.warnings, vec![]);
    }

    #[test]
    fn exact_and_prefix_paths_follow_the_cel_rules() {
        let cases = [
            ("foo", "path \"foo\" of type PathPrefix must start with '/'"),
            (
                "/a//b",
                "path \"/a//b\" of type PathPrefix must not contain \"//\"",
            ),
            (
                "/a/./b",
                "path \"/a/./b\" of type PathPrefix must not contain \"/./\"",
            ),
            (
                "/a/../b",
                "path \"/a/../b\" of type PathPrefix must not contain \"/../\"",
            ),
            (
                "/a%2fb",
                "path \"/a%2fb\" of type PathPrefix must not contain \"%2f\"",
            ),
            (
                "/a%2Fb",
                "path \"/a%2Fb\" of type PathPrefix must not contain \"%2F\"",
            ),
            (
                "/a#b",
                "path \"/a#b\" of type PathPrefix must not contain \"#\"",
            ),
            (
                "/a/..",
                "path \"/a/..\" of type PathPrefix must not end with \"/..\"",
            ),
            (
                "/a/.",
                "path \"/a/.\" of type PathPrefix must not end with \"/.\"",
            ),
            (
                "/a b",
                "path \"/a b\" of type PathPrefix has the invalid character ' '; use letters, \
                 digits, -._~!$&'()*+,;=:@/ and %XX escapes",
            ),
            (
                "/a%zz",
                "path \"/a%zz\" of type PathPrefix has the invalid character '%'; use letters, \
                 digits, -._~!$&'()*+,;=:@/ and %XX escapes",
            ),
            (
                "/caf\u{e9}",
                "path \"/caf\u{e9}\" of type PathPrefix has the invalid character '\u{e9}'; use \
                 letters, digits, -._~!$&'()*+,;=:@/ and %XX escapes",
            ),
        ];
        for (value, message) in cases {
            let rule = format!("{{matches: [{{path: {{value: {value:?}}}}}]}}");
            assert_eq!(
                rule_error(&rule),
                pair("spec.rules[0].matches[0].path.value", message),
                "{value}"
            );
        }
        for ok in ["/", "/a.b/c~d", "/%20x", "/a/..b", "/.well-known", "/a:b@c"] {
            let rule = format!("{{matches: [{{path: {{type: Exact, value: {ok:?}}}}}]}}");
            assert_eq!(rule_errors(&rule), vec![], "{ok}");
        }
        // An empty value breaks two rules.
        assert_eq!(
            rule_errors("{matches: [{path: {type: Exact, value: ''}}]}"),
            vec![
                pair(
                    "spec.rules[0].matches[0].path.value",
                    "path \"\" of type Exact must start with '/'"
                ),
                pair(
                    "spec.rules[0].matches[0].path.value",
                    "path \"\" of type Exact is empty; use letters, digits, -._~!$&'()*+,;=:@/ \
                     and %XX escapes"
                ),
            ]
        );
    }

    #[test]
    fn regex_paths_must_compile_and_types_are_an_enum() {
        // No path rules for regexes, but the pattern must parse.
        assert_eq!(
            rule_errors("{matches: [{path: {type: RegularExpression, value: '//a#(b|c)'}}]}"),
            vec![]
        );
        let (path, message) =
            rule_error("{matches: [{path: {type: RegularExpression, value: '/a['}}]}");
        assert_eq!(path, "spec.rules[0].matches[0].path.value");
        assert!(
            message.starts_with("regex \"/a[\" does not parse: "),
            "{message}"
        );
        assert_eq!(
            rule_error("{matches: [{path: {type: Prefix, value: /a}}]}"),
            pair(
                "spec.rules[0].matches[0].path.type",
                "path match type \"Prefix\" is not Exact, PathPrefix or RegularExpression"
            )
        );
        let long = format!("/{}", "a".repeat(1024));
        assert_eq!(
            rule_error(&format!("{{matches: [{{path: {{value: {long}}}}}]}}")),
            pair(
                "spec.rules[0].matches[0].path.value",
                "path of 1025 bytes is longer than the limit of 1024 (limits::MAX_ROUTE_PATH_LEN)"
            )
        );
    }

    #[test]
    fn header_and_query_param_matches() {
        let errors = rule_errors(
            r#"{matches: [{
                headers: [
                  {name: x-a, value: "1"},
                  {name: x-a, value: "2"},
                  {name: "magic/", value: "3"},
                  {name: x-b, type: Prefix, value: "4"},
                  {name: x-c, value: "two  spaces"},
                  {name: x-d, value: ""},
                  {name: x-e, type: RegularExpression, value: "(a"}
                ],
                queryParams: [
                  {name: q, value: "1"},
                  {name: q, value: "2"},
                  {name: Q, value: "3"},
                  {name: r, value: "has  spaces are fine here"}
                ],
                method: FETCH}]}"#,
        );
        let m = "spec.rules[0].matches[0]";
        assert_eq!(errors.len(), 8, "{errors:#?}");
        assert_eq!(
            errors[..6],
            [
                pair(
                    &format!("{m}.headers[1].name"),
                    "header \"x-a\" is already matched by headers[0]; names must be unique within \
                     a match"
                ),
                pair(
                    &format!("{m}.headers[2].name"),
                    "header name \"magic/\" is not valid; use letters, digits and !#$%&'*+-.^_`|~"
                ),
                pair(
                    &format!("{m}.headers[3].type"),
                    "header match type \"Prefix\" is not Exact or RegularExpression"
                ),
                pair(
                    &format!("{m}.headers[4].value"),
                    "header value \"two  spaces\" is not valid; use visible ASCII characters, \
                     separated by single spaces or tabs, none at either end"
                ),
                pair(
                    &format!("{m}.headers[5].value"),
                    "header match value is required"
                ),
                (errors[5].0.clone(), errors[5].1.clone()),
            ]
        );
        assert_eq!(errors[5].0, format!("{m}.headers[6].value"));
        assert!(
            errors[5].1.starts_with("regex \"(a\" does not parse"),
            "{}",
            errors[5].1
        );
        // Query parameter names are case-sensitive: `Q` is not a repeat of `q`.
        assert_eq!(
            errors[6..],
            [
                pair(
                    &format!("{m}.queryParams[1].name"),
                    "query parameter \"q\" is already matched by queryParams[0]; names must be \
                     unique within a match"
                ),
                pair(
                    &format!("{m}.method"),
                    "method \"FETCH\" is not one of GET, HEAD, POST, PUT, DELETE, CONNECT, \
                     OPTIONS, TRACE, PATCH"
                ),
            ]
        );
    }

    #[test]
    fn header_names_repeated_in_another_case_are_ignored_with_a_warning() {
        let report = http(
            "{rules: [{matches: [{headers: [{name: X-User, value: a}, {name: x-user, value: b}]}]}]}",
        );
        assert_eq!(report.errors, vec![]);
        assert_eq!(
            report.warnings,
            vec![(
                "duplicate-header",
                "spec.rules[0].matches[0].headers[1].name".to_string(),
                "header \"x-user\" is already matched by headers[0] as \"X-User\"; header names \
                 are case-insensitive, so this entry is ignored"
                    .to_string()
            )]
        );
    }

    #[test]
    fn list_sizes_have_limits() {
        let many = |n: usize, item: &dyn Fn(usize) -> String| {
            (0..n).map(item).collect::<Vec<_>>().join(", ")
        };
        let hostnames = many(17, &|i| format!("h{i}.example.com"));
        assert_eq!(
            http(&format!("{{hostnames: [{hostnames}]}}")).errors,
            vec![pair(
                "spec.hostnames",
                "17 hostnames exceed the limit of 16 (limits::MAX_ROUTE_HOSTNAMES)"
            )]
        );
        let rules = many(17, &|_| "{}".to_string());
        assert_eq!(
            http(&format!("{{rules: [{rules}]}}")).errors,
            vec![pair(
                "spec.rules",
                "17 rules exceed the limit of 16 (limits::MAX_ROUTE_RULES)"
            )]
        );
        let matches = many(65, &|_| "{}".to_string());
        assert_eq!(
            rule_errors(&format!("{{matches: [{matches}]}}")),
            vec![pair(
                "spec.rules[0].matches",
                "65 matches exceed the limit of 64 (limits::MAX_MATCHES_PER_RULE)"
            )]
        );
        // 3 rules of 43 matches: within the per-rule limit, over the per-route one.
        let rule = format!("{{matches: [{}]}}", many(43, &|_| "{}".to_string()));
        assert_eq!(
            http(&format!("{{rules: [{rule}, {rule}, {rule}]}}")).errors,
            vec![pair(
                "spec.rules",
                "129 matches across all rules exceed the limit of 128 per route \
                 (limits::MAX_ROUTE_MATCHES)"
            )]
        );
        let headers = many(17, &|i| format!("{{name: h{i}, value: v}}"));
        assert_eq!(
            rule_errors(&format!("{{matches: [{{headers: [{headers}]}}]}}")),
            vec![pair(
                "spec.rules[0].matches[0].headers",
                "17 header matches exceed the limit of 16 (limits::MAX_ROUTE_HEADER_MATCHES)"
            )]
        );
        let backends = many(17, &|i| format!("{{name: b{i}, port: 80}}"));
        assert_eq!(
            rule_errors(&format!("{{backendRefs: [{backends}]}}")),
            vec![pair(
                "spec.rules[0].backendRefs",
                "17 backendRefs exceed the limit of 16 (limits::MAX_BACKEND_REFS)"
            )]
        );
        let filters = many(17, &|i| {
            format!("{{type: ExtensionRef, extensionRef: {{group: '', kind: K, name: e{i}}}}}")
        });
        assert_eq!(
            rule_errors(&format!("{{filters: [{filters}]}}")),
            vec![pair(
                "spec.rules[0].filters",
                "17 filters exceed the limit of 16 (limits::MAX_ROUTE_FILTERS)"
            )]
        );
        let sets = many(17, &|i| format!("{{name: h{i}, value: v}}"));
        assert_eq!(
            filter_error(&format!(
                "{{type: RequestHeaderModifier, requestHeaderModifier: {{set: [{sets}]}}}}"
            )),
            pair(
                "spec.rules[0].filters[0].requestHeaderModifier.set",
                "17 headers to set exceed the limit of 16 (limits::MAX_HEADER_MODIFIER_OPS)"
            )
        );
    }

    #[test]
    fn backend_refs() {
        let b = "spec.rules[0].backendRefs";
        assert_eq!(
            rule_errors(
                "{backendRefs: [
                    {name: a, port: 80, weight: -1},
                    {name: b, port: 80, weight: 1000001},
                    {name: c, port: 0},
                    {name: d, port: 65536},
                    {name: e},
                    {name: f, kind: Service, group: ''},
                    {name: '', port: 80},
                    {name: g, port: 80, group: '*', kind: '*', namespace: Prod}
                ]}"
            ),
            vec![
                pair(
                    &format!("{b}[0].weight"),
                    "weight -1 is negative; weights are relative and must be 0 or more"
                ),
                pair(
                    &format!("{b}[1].weight"),
                    "weight 1000001 exceeds the limit of 1000000 (limits::MAX_ROUTE_WEIGHT)"
                ),
                pair(
                    &format!("{b}[2].port"),
                    "port 0 is out of range; use 1-65535"
                ),
                pair(
                    &format!("{b}[3].port"),
                    "port 65536 is out of range; use 1-65535"
                ),
                pair(
                    &format!("{b}[4].port"),
                    "port is required for a Service backend (\"e\")"
                ),
                pair(
                    &format!("{b}[5].port"),
                    "port is required for a Service backend (\"f\")"
                ),
                pair(&format!("{b}[6].name"), "name is required"),
                pair(
                    &format!("{b}[7].group"),
                    "group \"*\" is not valid; use \"\" for the core group, or use lower-case DNS \
                     labels (letters, digits and '-', starting and ending with a letter or digit) \
                     separated by '.'"
                ),
                pair(
                    &format!("{b}[7].kind"),
                    "kind \"*\" is not valid; use 1-63 letters, digits or '-', starting with a \
                     letter and ending with a letter or digit"
                ),
                pair(
                    &format!("{b}[7].namespace"),
                    "namespace \"Prod\" is not valid; use 1-63 lower-case letters, digits or '-', \
                     starting and ending with a letter or digit"
                ),
            ]
        );
        // Only core Services need a port; zero weights are fine.
        assert_eq!(
            rule_errors(
                "{backendRefs: [
                    {group: inference.networking.k8s.io, kind: InferencePool, name: pool, weight: 0},
                    {group: gateway.envoyproxy.io, kind: Backend, name: be}
                ]}"
            ),
            vec![]
        );
    }

    #[test]
    fn a_filter_sets_exactly_the_field_of_its_type() {
        let f = "spec.rules[0].filters[0]";
        assert_eq!(
            filter_error("{type: RequestHeaderModifier}"),
            pair(
                &format!("{f}.requestHeaderModifier"),
                "filter type RequestHeaderModifier needs requestHeaderModifier, which is missing"
            )
        );
        assert_eq!(
            rule_errors(
                "{filters: [{type: RequestHeaderModifier, requestHeaderModifier: {}, \
                 requestRedirect: {port: 443}}]}"
            ),
            vec![pair(
                &format!("{f}.requestRedirect"),
                "requestRedirect is set but the filter type is RequestHeaderModifier; set only \
                 the field of the type"
            )]
        );
        assert_eq!(
            filter_error("{requestHeaderModifier: {}}"),
            pair(
                &format!("{f}.type"),
                "filter type is required; one of RequestHeaderModifier, ResponseHeaderModifier, \
                 RequestMirror, RequestRedirect, URLRewrite, ExtensionRef, CORS, ExternalAuth"
            )
        );
        assert_eq!(
            filter_error("{type: Lua, extensionRef: {group: '', kind: K, name: ext}}"),
            pair(
                &format!("{f}.type"),
                "filter type \"Lua\" is not one of RequestHeaderModifier, ResponseHeaderModifier, \
                 RequestMirror, RequestRedirect, URLRewrite, ExtensionRef, CORS, ExternalAuth \
                 (HTTPRoute)"
            )
        );
    }

    #[test]
    fn filters_that_may_appear_once() {
        let errors = rule_errors(
            "{filters: [
                {type: RequestHeaderModifier, requestHeaderModifier: {}},
                {type: RequestRedirect, requestRedirect: {scheme: https}},
                {type: RequestHeaderModifier, requestHeaderModifier: {}},
                {type: URLRewrite, urlRewrite: {hostname: a.com}},
                {type: RequestMirror, requestMirror: {backendRef: {name: m, port: 80}}},
                {type: RequestMirror, requestMirror: {backendRef: {name: mirror2, port: 80}}}
            ]}",
        );
        assert_eq!(
            errors,
            vec![
                pair(
                    "spec.rules[0].filters[2].type",
                    "filter type RequestHeaderModifier is repeated (first at filters[0]); it may \
                     appear at most once per filter list"
                ),
                pair(
                    "spec.rules[0].filters[3].type",
                    "a URLRewrite filter cannot be combined with the RequestRedirect filter \
                     filters[1]; a redirect answers the request, a rewrite forwards it"
                ),
            ]
        );
    }

    #[test]
    fn redirects() {
        let r = "spec.rules[0].filters[0].requestRedirect";
        assert_eq!(
            rule_errors(
                "{filters: [{type: RequestRedirect, requestRedirect: {scheme: ftp, \
                 hostname: '*.example.com', port: 0, statusCode: 304}}]}"
            ),
            vec![
                pair(
                    &format!("{r}.scheme"),
                    "scheme \"ftp\" is not http or https"
                ),
                pair(
                    &format!("{r}.hostname"),
                    "redirect hostname \"*.example.com\" is not valid; use lower-case DNS labels \
                     (letters, digits and '-', starting and ending with a letter or digit) \
                     separated by '.'"
                ),
                pair(&format!("{r}.port"), "port 0 is out of range; use 1-65535"),
                pair(
                    &format!("{r}.statusCode"),
                    "redirect status code 304 is not one of 301, 302, 303, 307, 308"
                ),
            ]
        );
        assert_eq!(
            rule_error(
                "{filters: [{type: RequestRedirect, requestRedirect: {scheme: https}}], \
                 backendRefs: [{name: a, port: 80}, {name: b, port: 80}]}"
            ),
            pair(
                r,
                "a RequestRedirect filter answers the request itself and cannot be combined with \
                 backendRefs (the rule has 2); remove one or the other"
            )
        );
    }

    #[test]
    fn replace_prefix_match_needs_one_prefix_match() {
        let redirect = "{type: RequestRedirect, requestRedirect: {path: {type: ReplacePrefixMatch, \
                        replacePrefixMatch: /new}}}";
        // Defaults: no matches, or a match without a path, mean `PathPrefix /`.
        for matches in [
            "[]",
            "[{}]",
            "[{path: {value: /old}}]",
            "[{headers: [{name: a, value: b}]}]",
        ] {
            assert_eq!(
                rule_errors(&format!("{{matches: {matches}, filters: [{redirect}]}}")),
                vec![],
                "{matches}"
            );
        }
        assert_eq!(
            rule_error(&format!(
                "{{matches: [{{path: {{value: /a}}}}, {{path: {{value: /b}}}}], filters: [{redirect}]}}"
            )),
            pair(
                "spec.rules[0].filters[0].requestRedirect.path",
                "replacePrefixMatch needs the rule to have exactly one match, with a PathPrefix \
                 path; it has 2 matches"
            )
        );
        let rewrite = "{type: URLRewrite, urlRewrite: {path: {type: ReplacePrefixMatch, \
                       replacePrefixMatch: /new}}}";
        assert_eq!(
            rule_error(&format!(
                "{{matches: [{{path: {{type: Exact, value: /a}}}}], \
                 backendRefs: [{{name: a, port: 80, filters: [{rewrite}]}}]}}"
            )),
            pair(
                "spec.rules[0].backendRefs[0].filters[0].urlRewrite.path",
                "replacePrefixMatch needs the rule to have exactly one match, with a PathPrefix \
                 path; its path match is of type Exact"
            )
        );
    }

    #[test]
    fn path_modifier_type_matches_its_field() {
        let p = "spec.rules[0].filters[0].urlRewrite.path";
        assert_eq!(
            rule_errors(
                "{filters: [{type: URLRewrite, urlRewrite: {path: {type: ReplaceFullPath, \
                 replacePrefixMatch: /x}}}]}"
            ),
            vec![
                pair(
                    &format!("{p}.type"),
                    "type ReplaceFullPath needs replaceFullPath, which is missing"
                ),
                pair(
                    &format!("{p}.type"),
                    "type is ReplaceFullPath but replacePrefixMatch is set; replacePrefixMatch \
                     needs type ReplacePrefixMatch"
                ),
            ]
        );
        assert_eq!(
            filter_error("{type: URLRewrite, urlRewrite: {path: {replaceFullPath: /x}}}"),
            pair(
                &format!("{p}.type"),
                "path modifier type is required; ReplaceFullPath or ReplacePrefixMatch"
            )
        );
    }

    #[test]
    fn header_modifiers() {
        let m = "spec.rules[0].filters[0].responseHeaderModifier";
        let report = http(
            "{rules: [{filters: [{type: ResponseHeaderModifier, responseHeaderModifier: {
                set: [{name: x-a, value: '1'}, {name: x-a, value: '2'}, {name: X-A, value: '3'}],
                add: [{name: 'bad name', value: ok}, {name: x-b, value: ''},
                      {name: x-c, value: \"line\\nbreak\"}],
                remove: [x-d, x-d, X-D]}}]}]}",
        );
        assert_eq!(
            report.errors,
            vec![
                pair(
                    &format!("{m}.set[1].name"),
                    "header \"x-a\" is already listed at set[0]; names must be unique"
                ),
                pair(
                    &format!("{m}.add[0].name"),
                    "header name \"bad name\" is not valid; use letters, digits and \
                     !#$%&'*+-.^_`|~"
                ),
                pair(&format!("{m}.add[1].value"), "header value is required"),
                pair(
                    &format!("{m}.add[2].value"),
                    "header value \"line\\nbreak\" is not valid; use visible ASCII characters, \
                     separated by single spaces or tabs, none at either end"
                ),
                pair(
                    &format!("{m}.remove[1]"),
                    "header \"x-d\" is already listed at remove[0]; entries must be unique"
                ),
            ]
        );
        let warned: Vec<&str> = report.warnings.iter().map(|w| w.1.as_str()).collect();
        assert_eq!(
            warned,
            [format!("{m}.set[2].name"), format!("{m}.remove[2]")]
        );
    }

    #[test]
    fn request_mirrors() {
        let m = "spec.rules[0].filters[0].requestMirror";
        assert_eq!(
            rule_errors(
                "{filters: [{type: RequestMirror, requestMirror: {backendRef: {name: m, port: 80}, \
                 percent: 50, fraction: {numerator: 1}}}]}"
            ),
            vec![pair(
                m,
                "percent and fraction are both set; give the share of mirrored requests one way"
            )]
        );
        assert_eq!(
            rule_errors(
                "{filters: [{type: RequestMirror, requestMirror: {percent: 101}}, \
                 {type: RequestMirror, requestMirror: {backendRef: {name: m}, \
                 fraction: {numerator: 3, denominator: 2}}}, \
                 {type: RequestMirror, requestMirror: {backendRef: {name: m, port: 1}, \
                 fraction: {numerator: -1, denominator: 0}}}]}"
            ),
            vec![
                pair(
                    &format!("{m}.backendRef"),
                    "backendRef is required: it names where the copies go"
                ),
                pair(
                    &format!("{m}.percent"),
                    "percent 101 is out of range; use 0-100"
                ),
                pair(
                    "spec.rules[0].filters[1].requestMirror.backendRef.port",
                    "port is required for a Service backend (\"m\")"
                ),
                pair(
                    "spec.rules[0].filters[1].requestMirror.fraction",
                    "numerator 3 is greater than denominator 2; a fraction may be at most 1"
                ),
                pair(
                    "spec.rules[0].filters[2].requestMirror.fraction.denominator",
                    "denominator 0 must be 1 or more"
                ),
                pair(
                    "spec.rules[0].filters[2].requestMirror.fraction.numerator",
                    "numerator -1 is negative; it must be 0 or more"
                ),
            ]
        );
    }

    #[test]
    fn timeouts_and_retries() {
        let t = "spec.rules[0].timeouts";
        for bad in [
            "1.5s",
            "500us",
            "1d",
            "100000s",
            "1h1m1s1ms1h",
            "s",
            "",
            "1 s",
        ] {
            assert_eq!(
                rule_error(&format!("{{timeouts: {{request: {bad:?}}}}}")),
                pair(
                    &format!("{t}.request"),
                    &format!(
                        "duration {bad:?} is not valid; use 1 to 4 parts of 1-5 digits followed \
                         by h, m, s or ms, such as 1h30m or 500ms"
                    )
                ),
                "{bad}"
            );
        }
        assert_eq!(
            rule_error("{timeouts: {request: 1s, backendRequest: 1001ms}}"),
            pair(
                &format!("{t}.backendRequest"),
                "backendRequest timeout \"1001ms\" is longer than the request timeout \"1s\""
            )
        );
        // A zero request timeout disables it: any backend timeout fits.
        assert_eq!(
            rule_errors("{timeouts: {request: 0s, backendRequest: 1h}}"),
            vec![]
        );
        assert_eq!(
            rule_errors("{retry: {attempts: 0, backoff: 1.5s, codes: [500, 500, 200]}}"),
            vec![
                pair(
                    "spec.rules[0].retry.attempts",
                    "attempts 0 must be 1 or more"
                ),
                pair(
                    "spec.rules[0].retry.backoff",
                    "duration \"1.5s\" is not valid; use 1 to 4 parts of 1-5 digits followed by \
                     h, m, s or ms, such as 1h30m or 500ms"
                ),
                pair(
                    "spec.rules[0].retry.codes[1]",
                    "status code 500 is already listed at codes[0]; entries must be unique"
                ),
                pair(
                    "spec.rules[0].retry.codes[2]",
                    "status code 200 is out of range; use 400-599"
                ),
            ]
        );
    }

    #[test]
    fn gateway_api_durations() {
        assert_eq!(parse_duration("1h30m"), Some(5_400_000));
        assert_eq!(parse_duration("1m"), Some(60_000));
        assert_eq!(parse_duration("1ms"), Some(1));
        assert_eq!(parse_duration("1m1ms"), Some(60_001));
        assert_eq!(parse_duration("99999h"), Some(99_999 * 3_600_000));
        assert_eq!(parse_duration("1s2s3s4s"), Some(10_000));
        assert_eq!(parse_duration("1s2s3s4s5s"), None);
        assert_eq!(parse_duration("0"), None);
        assert_eq!(parse_duration("+1s"), None);
    }

    #[test]
    fn cors() {
        let c = "spec.rules[0].filters[0].cors";
        assert_eq!(
            rule_errors(
                "{filters: [{type: CORS, cors: {
                    allowOrigins: ['*', 'https://a.com', 'http://bar.*.com', 'spiffe://x',
                                   'http://a.com:123456', 'https://a.com'],
                    allowMethods: ['*', GET, FETCH],
                    allowHeaders: ['*', x-a],
                    exposeHeaders: ['x b'],
                    maxAge: 0}}]}"
            ),
            vec![
                pair(
                    &format!("{c}.allowOrigins[5]"),
                    "\"https://a.com\" is already listed at [1]; entries must be unique"
                ),
                pair(
                    &format!("{c}.allowOrigins"),
                    "\"*\" must be the only entry of allowOrigins, which has 6 entries"
                ),
                pair(
                    &format!("{c}.allowOrigins[2]"),
                    "origin \"http://bar.*.com\" is not valid; use \"*\" or http(s)://host[:port], \
                     where the host may start with \"*.\" or be \"*\""
                ),
                pair(
                    &format!("{c}.allowOrigins[3]"),
                    "origin \"spiffe://x\" is not valid; use \"*\" or http(s)://host[:port], \
                     where the host may start with \"*.\" or be \"*\""
                ),
                pair(
                    &format!("{c}.allowOrigins[4]"),
                    "origin \"http://a.com:123456\" is not valid; use \"*\" or \
                     http(s)://host[:port], where the host may start with \"*.\" or be \"*\""
                ),
                pair(
                    &format!("{c}.allowMethods"),
                    "\"*\" must be the only entry of allowMethods, which has 3 entries"
                ),
                pair(
                    &format!("{c}.allowMethods[2]"),
                    "method \"FETCH\" is not one of GET, HEAD, POST, PUT, DELETE, CONNECT, \
                     OPTIONS, TRACE, PATCH or \"*\""
                ),
                pair(
                    &format!("{c}.allowHeaders"),
                    "\"*\" must be the only entry of allowHeaders, which has 2 entries"
                ),
                pair(
                    &format!("{c}.exposeHeaders[0]"),
                    "header name \"x b\" is not valid; use letters, digits and !#$%&'*+-.^_`|~"
                ),
                pair(
                    &format!("{c}.maxAge"),
                    "maxAge 0 must be at least 1 (seconds)"
                ),
            ]
        );
        for ok in [
            "*",
            "http://*",
            "https://*.a.com:8443",
            "http://localhost",
            "https://A-b.C",
        ] {
            assert!(is_cors_origin(ok), "{ok}");
        }
    }

    #[test]
    fn parent_refs_to_one_parent_differ_in_section_name_or_port() {
        let cases: [(&str, Option<&str>); 9] = [
            ("[{name: gw}, {name: gw}]", Some("repeats")),
            ("[{name: gw}, {name: gw, port: 80}]", Some("same ones")),
            (
                "[{name: gw}, {name: gw, sectionName: a, port: 80}]",
                Some("same ones"),
            ),
            (
                "[{name: gw, port: 80}, {name: gw, port: 80}]",
                Some("repeats"),
            ),
            (
                "[{name: gw, sectionName: a}, {name: gw, port: 443}]",
                Some("same ones"),
            ),
            ("[{name: gw, port: 80}, {name: gw, port: 443}]", None),
            (
                "[{name: gw, port: 443, sectionName: a}, {name: gw, port: 443, sectionName: b}]",
                None,
            ),
            ("[{name: gw, namespace: test}, {name: gw}]", None),
            // `group: ""` differs from the default group.
            ("[{name: gw, group: ''}, {name: gw}]", None),
        ];
        for (refs, want) in cases {
            let errors = http(&format!("{{parentRefs: {refs}}}")).errors;
            match want {
                None => assert_eq!(errors, vec![], "{refs}"),
                Some(word) => {
                    assert_eq!(errors.len(), 1, "{refs}: {errors:#?}");
                    assert_eq!(errors[0].0, "spec.parentRefs[1]", "{refs}");
                    assert!(errors[0].1.contains(word), "{refs}: {}", errors[0].1);
                }
            }
        }
        assert_eq!(
            http("{parentRefs: [{name: gw}, {name: gw, sectionName: https}]}").errors,
            vec![pair(
                "spec.parentRefs[1]",
                "parentRefs[0] (no sectionName or port) and parentRefs[1] (sectionName \
                 \"https\") both name Gateway gw; references to one parent must each set \
                 sectionName, port or both, and the same ones"
            )]
        );
        assert_eq!(
            http("{parentRefs: [{name: gw, namespace: infra, port: 80}, {name: gw, namespace: infra, port: 80}]}")
                .errors,
            vec![pair(
                "spec.parentRefs[1]",
                "parentRefs[1] repeats parentRefs[0] (Gateway infra/gw, same sectionName and \
                 port); references to one parent must differ in sectionName or port"
            )]
        );
        assert_eq!(
            http("{parentRefs: [{name: '', sectionName: 'Bad_Name', port: 70000}]}").errors,
            vec![
                pair("spec.parentRefs[0].name", "name is required"),
                pair(
                    "spec.parentRefs[0].port",
                    "port 70000 is out of range; use 1-65535"
                ),
                pair(
                    "spec.parentRefs[0].sectionName",
                    "sectionName \"Bad_Name\" is not valid; use lower-case DNS labels (letters, \
                     digits and '-', starting and ending with a letter or digit) separated by '.'"
                ),
            ]
        );
    }

    #[test]
    fn hostnames_and_rule_names() {
        assert_eq!(
            http("{hostnames: [a.example.com, '*.example.com', Example.com, '*', 'foo.*.com', 'a.com:80']}")
                .errors
                .iter()
                .map(|e| e.0.as_str())
                .collect::<Vec<_>>(),
            [
                "spec.hostnames[2]",
                "spec.hostnames[3]",
                "spec.hostnames[4]",
                "spec.hostnames[5]"
            ]
        );
        assert_eq!(
            http("{hostnames: ['http://a<']}").errors,
            vec![pair(
                "spec.hostnames[0]",
                "hostname \"http://a<\" is not valid; use lower-case DNS labels (letters, digits \
                 and '-', starting and ending with a letter or digit) separated by '.', \
                 optionally after a leading \"*.\"; no IP addresses, ports or schemes"
            )]
        );
        let long = format!("{}.com", "a".repeat(250));
        assert_eq!(
            http(&format!("{{hostnames: [{long}]}}")).errors,
            vec![pair(
                "spec.hostnames[0]",
                "hostname of 254 bytes is longer than the limit of 253 (limits::MAX_NAME_LEN)"
            )]
        );
        assert_eq!(
            http("{rules: [{name: a}, {name: B}, {name: a}]}").errors,
            vec![
                pair(
                    "spec.rules[1].name",
                    "rule name \"B\" is not valid; use lower-case DNS labels (letters, digits and \
                     '-', starting and ending with a letter or digit) separated by '.'"
                ),
                pair(
                    "spec.rules[2].name",
                    "rule name \"a\" is already used by rules[0]; names must be unique within the \
                     route"
                ),
            ]
        );
    }

    #[test]
    fn external_auth_and_extension_ref() {
        let a = "spec.rules[0].filters[0].externalAuth";
        assert_eq!(
            rule_errors("{filters: [{type: ExternalAuth, externalAuth: {}}]}"),
            vec![
                pair(
                    &format!("{a}.protocol"),
                    "protocol is required; HTTP or GRPC"
                ),
                pair(
                    &format!("{a}.backendRef"),
                    "backendRef is required: it names the authorization service"
                ),
            ]
        );
        assert_eq!(
            rule_errors(
                "{filters: [{type: ExternalAuth, externalAuth: {protocol: HTTP, \
                 backendRef: {name: auth}, grpc: {}, http: {path: '/[]'}, forwardBody: {maxSize: -1}, \
                 timeout: 1s}}]}"
            ),
            vec![
                pair(
                    &format!("{a}.timeout"),
                    "unknown field \"timeout\"; expected one of protocol, backendRef, grpc, http, \
                     forwardBody"
                ),
                pair(
                    &format!("{a}.backendRef.port"),
                    "port is required for a Service backend (\"auth\")"
                ),
                pair(
                    &format!("{a}.http.path"),
                    "path \"/[]\" has the invalid character '['; use letters, digits, \
                     -._~!$&'()*+,;=:@/ and %XX escapes"
                ),
                pair(
                    &format!("{a}.forwardBody.maxSize"),
                    "maxSize -1 is negative; it must be 0 or more"
                ),
                pair(
                    &format!("{a}.grpc"),
                    "grpc is set but the protocol is HTTP; grpc needs protocol GRPC"
                ),
            ]
        );
        assert_eq!(
            filter_error(
                "{type: ExternalAuth, externalAuth: {protocol: GRPC, backendRef: {name: a, port: 1}}}"
            ),
            pair(
                &format!("{a}.grpc"),
                "protocol GRPC needs grpc, which is missing"
            )
        );
        let e = "spec.rules[0].filters[0].extensionRef";
        assert_eq!(
            rule_errors(
                "{filters: [{type: ExtensionRef, extensionRef: {kind: '1x', name: ext, namespace: x}}]}"
            ),
            vec![
                pair(
                    &format!("{e}.namespace"),
                    "unknown field \"namespace\"; expected one of group, kind, name"
                ),
                pair(&format!("{e}.group"), "group is required"),
                pair(
                    &format!("{e}.kind"),
                    "kind \"1x\" is not valid; use 1-63 letters, digits or '-', starting with a \
                     letter and ending with a letter or digit"
                ),
            ]
        );
        assert_eq!(
            filter_error("{type: ExtensionRef, extensionRef: [a]}"),
            pair(e, "must be an object, not a list")
        );
    }

    #[test]
    fn session_persistence() {
        let s = "spec.rules[0].sessionPersistence";
        assert_eq!(
            rule_errors("{sessionPersistence: {absoluteTimeout: 1h}}"),
            vec![pair(
                &format!("{s}.cookie"),
                "session persistence type Cookie needs cookie, which is missing"
            )]
        );
        assert_eq!(
            rule_errors(
                "{sessionPersistence: {type: Header, cookie: {lifetimeType: Permanent}, \
                 header: {name: x-session}}}"
            ),
            vec![
                pair(
                    &format!("{s}.cookie.lifetimeType"),
                    "a Permanent cookie needs absoluteTimeout, which is missing"
                ),
                pair(
                    &format!("{s}.cookie"),
                    "cookie is set but the session persistence type is Header; cookie needs type \
                     Cookie"
                ),
            ]
        );
        assert_eq!(
            grpc("{rules: [{sessionPersistence: {type: Sticky, header: {}}}]}").errors,
            vec![
                pair(
                    &format!("{s}.type"),
                    "session persistence type \"Sticky\" is not Cookie or Header"
                ),
                pair(&format!("{s}.header.name"), "header name is required"),
            ]
        );
    }

    const FULL_GRPC_ROUTE: &str = r#"
parentRefs: [{name: gw}]
hostnames: [grpc.example.com]
rules:
- name: echo
  matches:
  - method: {service: foo.bar.Echo, method: Ping}
    headers: [{name: x-user, value: "  spaces are fine in gRPC header matches"}]
  - method: {type: RegularExpression, service: "foo\\..*", method: "Get.*"}
  - method: {service: .foo.Bar}
  filters:
  - type: RequestHeaderModifier
    requestHeaderModifier: {add: [{name: x-a, value: b}]}
  - type: RequestMirror
    requestMirror: {backendRef: {name: shadow, port: 50051}, percent: 10}
  backendRefs:
  - name: echo
    port: 50051
    filters:
    - type: ResponseHeaderModifier
      responseHeaderModifier: {remove: [x-b]}
- backendRefs: [{name: default, port: 50051}]
"#;

    #[test]
    fn a_grpc_route_with_every_feature_is_valid() {
        let report = grpc(FULL_GRPC_ROUTE);
        assert_eq!(report.errors, vec![]);
        assert_eq!(report.warnings, vec![]);
    }

    #[test]
    fn grpc_method_matches() {
        let m = "spec.rules[0].matches";
        assert_eq!(
            grpc(
                "{rules: [{matches: [
                    {method: {type: Exact}},
                    {method: {service: com.example/User, method: 2fa}},
                    {method: {type: RegularExpression, service: '(a'}},
                    {method: {type: Prefix, method: Get}}
                ]}]}"
            )
            .errors
            .into_iter()
            .map(|(p, m)| if m.starts_with("regex") {
                (p, "regex".into())
            } else {
                (p, m)
            })
            .collect::<Vec<_>>(),
            vec![
                pair(
                    &format!("{m}[0].method"),
                    "a method match needs service, method or both; remove it to match every call"
                ),
                pair(
                    &format!("{m}[1].method.service"),
                    "service \"com.example/User\" is not valid; use identifiers (letters, digits \
                     and '_', not starting with a digit) separated by '.', such as foo.bar.Echo"
                ),
                pair(
                    &format!("{m}[1].method.method"),
                    "method \"2fa\" is not valid; use letters, digits and '_', not starting with \
                     a digit, such as Ping"
                ),
                pair(&format!("{m}[2].method.service"), "regex"),
                pair(
                    &format!("{m}[3].method.type"),
                    "method match type \"Prefix\" is not Exact or RegularExpression"
                ),
            ]
        );
    }

    #[test]
    fn grpc_filters_are_a_smaller_set() {
        let f = "spec.rules[0].filters";
        assert_eq!(
            grpc(
                "{rules: [{filters: [
                    {type: RequestRedirect, requestRedirect: {scheme: https}},
                    {type: RequestHeaderModifier, requestHeaderModifier: {}},
                    {type: RequestHeaderModifier, requestHeaderModifier: {}},
                    {type: CORS, cors: {}}
                ]}]}"
            )
            .errors,
            vec![
                pair(
                    &format!("{f}[0].type"),
                    "filter type \"RequestRedirect\" is not one of RequestHeaderModifier, \
                     ResponseHeaderModifier, RequestMirror, ExtensionRef (GRPCRoute)"
                ),
                pair(
                    &format!("{f}[0].requestRedirect"),
                    "requestRedirect is not a GRPCRoute filter field; use one of \
                     RequestHeaderModifier, ResponseHeaderModifier, RequestMirror, ExtensionRef"
                ),
                pair(
                    &format!("{f}[3].type"),
                    "filter type \"CORS\" is not one of RequestHeaderModifier, \
                     ResponseHeaderModifier, RequestMirror, ExtensionRef (GRPCRoute)"
                ),
                pair(
                    &format!("{f}[3].cors"),
                    "cors is not a GRPCRoute filter field; use one of RequestHeaderModifier, \
                     ResponseHeaderModifier, RequestMirror, ExtensionRef"
                ),
                pair(
                    &format!("{f}[2].type"),
                    "filter type RequestHeaderModifier is repeated (first at filters[1]); it may \
                     appear at most once per filter list"
                ),
            ]
        );
    }

    const FULL_GATEWAY: &str = r#"
gatewayClassName: istio
addresses:
- value: 10.0.0.1
- type: IPAddress
  value: "2001:db8::1"
- type: Hostname
  value: lb.example.com
- type: example.com/custom
  value: anything goes
- type: NamedAddress
  value: my-address
listeners:
- name: http
  port: 80
  protocol: HTTP
  allowedRoutes:
    namespaces: {from: All}
    kinds: [{kind: HTTPRoute}, {group: gateway.networking.k8s.io, kind: GRPCRoute}]
- name: https
  port: 443
  protocol: HTTPS
  hostname: "*.example.com"
  tls:
    certificateRefs: [{name: cert}, {group: "", kind: Secret, name: other, namespace: certs}]
- name: https-options
  port: 443
  protocol: HTTPS
  hostname: api.example.com
  tls: {mode: Terminate, options: {example.com/cert: from-vault}}
- name: passthrough
  port: 8443
  protocol: TLS
  hostname: db.example.com
  tls: {mode: Passthrough}
- name: tcp
  port: 5432
  protocol: TCP
- name: custom
  port: 9000
  protocol: example.com/proto
infrastructure:
  labels: {app.kubernetes.io/name: gw, tier: ""}
  annotations: {example.com/note: "anything at all"}
  parametersRef: {group: "", kind: ConfigMap, name: gw-options}
tls:
  backend:
    clientCertificateRef: {name: client}
  frontend:
    default:
      validation:
        caCertificateRefs: [{group: "", kind: ConfigMap, name: ca}]
    perPort:
    - port: 443
      tls:
        validation:
          mode: AllowInsecureFallback
          caCertificateRefs: [{group: "", kind: ConfigMap, name: ca-443}]
"#;

    #[test]
    fn a_gateway_with_every_feature_is_valid() {
        let report = gateway(FULL_GATEWAY);
        assert_eq!(report.errors, vec![]);
        assert_eq!(report.warnings, vec![]);
    }

    #[test]
    fn gateways_need_a_class_and_listeners() {
        assert_eq!(
            gateway("{}").errors,
            vec![
                pair(
                    "spec.gatewayClassName",
                    "gatewayClassName is required: it names the GatewayClass that implements the \
                     Gateway"
                ),
                pair("spec.listeners", "a Gateway needs at least one listener"),
            ]
        );
    }

    #[test]
    fn listener_fields() {
        let l = "spec.listeners[0]";
        assert_eq!(
            listener_errors("[{name: 'bad>', port: 123456789, protocol: 'HTTP 2', hostname: '*'}]"),
            vec![
                pair(
                    &format!("{l}.name"),
                    "listener name \"bad>\" is not valid; use lower-case DNS labels (letters, \
                     digits and '-', starting and ending with a letter or digit) separated by '.'"
                ),
                pair(
                    &format!("{l}.port"),
                    "port 123456789 is out of range; use 1-65535"
                ),
                pair(
                    &format!("{l}.protocol"),
                    "protocol \"HTTP 2\" is not valid; use letters, digits and '-' (such as HTTP \
                     or HTTPS), or a domain-prefixed name such as example.com/proto"
                ),
                pair(
                    &format!("{l}.hostname"),
                    "hostname \"*\" is not valid; use lower-case DNS labels (letters, digits and \
                     '-', starting and ending with a letter or digit) separated by '.', \
                     optionally after a leading \"*.\"; no IP addresses, ports or schemes"
                ),
            ]
        );
        assert_eq!(
            listener_errors("[{}]"),
            vec![
                pair(
                    &format!("{l}.name"),
                    "listener name is required: routes attach to it by sectionName"
                ),
                pair(&format!("{l}.port"), "port is required"),
                pair(
                    &format!("{l}.protocol"),
                    "protocol is required; HTTP, HTTPS, TLS, TCP, UDP or a domain-prefixed \
                     protocol"
                ),
            ]
        );
        assert_eq!(
            listener_errors(
                "[{name: a, port: 80, protocol: TCP, hostname: example.com}, \
                 {name: b, port: 81, protocol: UDP, tls: {certificateRefs: [{name: c}]}}]"
            ),
            vec![
                pair(
                    &format!("{l}.hostname"),
                    "protocol TCP has no host names to match; remove hostname \"example.com\""
                ),
                pair(
                    "spec.listeners[1].tls",
                    "protocol UDP does not use TLS; remove tls, or use HTTPS or TLS"
                ),
            ]
        );
    }

    #[test]
    fn the_crd_protocol_and_address_type_patterns_are_followed_as_written() {
        for ok in ["HTTP", "h2c", "example.com/proto", "x y/z", "a/b"] {
            assert!(is_protocol(ok), "{ok}");
        }
        for bad in ["", "-HTTP", "HTTP-", "HTTP/2", "a/", "a/b-c"] {
            assert!(!is_protocol(bad), "{bad}");
        }
        for ok in [
            "IPAddress",
            "Hostname",
            "NamedAddress",
            "example.com/custom",
            "HostnameX",
            "a/b/c",
        ] {
            assert!(is_address_type(ok), "{ok}");
        }
        for bad in ["hostname", "custom", "EXAMPLE/x", "a/", "a/b c"] {
            assert!(!is_address_type(bad), "{bad}");
        }
    }

    #[test]
    fn listener_tls() {
        let l = "spec.listeners[0]";
        assert_eq!(
            listener_errors("[{name: a, port: 443, protocol: HTTPS, tls: {mode: Terminate}}]"),
            vec![pair(
                &format!("{l}.tls"),
                "tls mode Terminate needs certificateRefs or options to find a certificate"
            )]
        );
        assert_eq!(
            listener_errors("[{name: a, port: 443, protocol: HTTPS, tls: {mode: Passthrough}}]"),
            vec![pair(
                &format!("{l}.tls.mode"),
                "tls mode Passthrough is not allowed for protocol HTTPS, which terminates TLS; use \
                 Terminate, or protocol TLS to pass connections through"
            )]
        );
        assert_eq!(
            listener_errors("[{name: a, port: 443, protocol: TLS}]"),
            vec![pair(
                &format!("{l}.tls"),
                "protocol TLS needs tls with a mode (Terminate or Passthrough)"
            )]
        );
        assert_eq!(
            listener_errors(
                "[{name: a, port: 443, protocol: TLS, tls: {mode: Mutual, \
                 certificateRefs: [{kind: '', name: ''}]}}]"
            ),
            vec![
                pair(
                    &format!("{l}.tls.mode"),
                    "tls mode \"Mutual\" is not Terminate or Passthrough"
                ),
                pair(
                    &format!("{l}.tls.certificateRefs[0].kind"),
                    "kind \"\" is not valid; use 1-63 letters, digits or '-', starting with a \
                     letter and ending with a letter or digit"
                ),
                pair(
                    &format!("{l}.tls.certificateRefs[0].name"),
                    "name is required"
                ),
            ]
        );
        assert_eq!(
            listener_errors(
                "[{name: a, port: 443, protocol: HTTPS, tls: {certificateRefs: [{name: c}], \
                 frontendValidation: {}}}]"
            ),
            vec![pair(
                &format!("{l}.tls.frontendValidation"),
                "frontendValidation is not a listener tls field in Gateway API v1; client \
                 certificate validation is configured in spec.tls.frontend"
            )]
        );
        let report =
            gateway("{gatewayClassName: c, listeners: [{name: a, port: 443, protocol: HTTPS}]}");
        assert_eq!(report.errors, vec![]);
        assert_eq!(
            report.warnings,
            vec![(
                "missing-tls",
                format!("{l}.tls"),
                "protocol HTTPS needs tls with certificateRefs to terminate connections; \
                 implementations do not program this listener"
                    .to_string()
            )]
        );
    }

    #[test]
    fn listeners_are_unique() {
        assert_eq!(
            listener_errors(
                "[{name: a, port: 80, protocol: HTTP, hostname: a.com},
                  {name: a, port: 81, protocol: HTTP},
                  {name: b, port: 80, protocol: HTTP, hostname: a.com},
                  {name: c, port: 80, protocol: HTTP},
                  {name: d, port: 80, protocol: HTTP},
                  {name: e, port: 80, protocol: HTTPS, hostname: a.com, tls: {options: {k: v}}}]"
            ),
            vec![
                pair(
                    "spec.listeners[1].name",
                    "listener name \"a\" is already used by listeners[0]; names must be unique \
                     within the Gateway"
                ),
                pair(
                    "spec.listeners[2]",
                    "listeners[0] already has port 80, protocol HTTP and hostname \"a.com\"; each \
                     listener needs its own combination of the three"
                ),
                pair(
                    "spec.listeners[4]",
                    "listeners[3] already has port 80, protocol HTTP and no hostname; each \
                     listener needs its own combination of the three"
                ),
            ]
        );
    }

    #[test]
    fn addresses() {
        assert_eq!(
            gateway(
                "{gatewayClassName: c, listeners: [{name: a, port: 80, protocol: HTTP}],
                  addresses: [
                    {value: 1.1.1},
                    {type: IPAddress, value: 1.2.3.4},
                    {value: 1.2.3.4},
                    {type: Hostname, value: 'a.com:80'},
                    {type: Hostname, value: ''},
                    {type: custom, value: x},
                    {type: IPAddress}
                  ]}"
            )
            .errors,
            vec![
                pair(
                    "spec.addresses[0].value",
                    "address \"1.1.1\" is not an IPv4 or IPv6 address (type IPAddress)"
                ),
                pair(
                    "spec.addresses[2].value",
                    "address \"1.2.3.4\" is already listed at addresses[1]; IPAddress values must \
                     be unique"
                ),
                pair(
                    "spec.addresses[3].value",
                    "address \"a.com:80\" is not a valid host name (type Hostname); use lower-case \
                     DNS labels (letters, digits and '-', starting and ending with a letter or \
                     digit) separated by '.', optionally after a leading \"*.\"; no IP addresses, \
                     ports or schemes"
                ),
                pair(
                    "spec.addresses[5].type",
                    "address type \"custom\" is not IPAddress, Hostname, NamedAddress or a \
                     domain-prefixed type such as example.com/custom"
                ),
            ]
        );
    }

    #[test]
    fn gateway_infrastructure_and_tls() {
        let errors = gateway(
            "{gatewayClassName: c, listeners: [{name: a, port: 80, protocol: HTTP}],
              allowedListeners: {namespaces: {from: Some}},
              defaultScope: Most,
              backendTLS: {},
              infrastructure: {labels: {'-bad': v, ok: 'no spaces'}, parametersRef: {name: p}},
              tls: {frontend: {perPort: [{port: 443}, {port: 443, tls: {validation: {caCertificateRefs: []}}}]}}}",
        )
        .errors;
        let paths: Vec<&str> = errors.iter().map(|e| e.0.as_str()).collect();
        assert_eq!(
            paths,
            [
                "spec.allowedListeners.namespaces.from",
                "spec.infrastructure.labels[-bad]",
                "spec.infrastructure.labels[ok]",
                "spec.infrastructure.parametersRef.group",
                "spec.infrastructure.parametersRef.kind",
                "spec.tls.frontend.default",
                "spec.tls.frontend.perPort[0].tls",
                "spec.tls.frontend.perPort[1].port",
                "spec.tls.frontend.perPort[1].tls.validation.caCertificateRefs",
                "spec.backendTLS",
                "spec.defaultScope",
            ],
            "{errors:#?}"
        );
        assert_eq!(
            errors[2].1,
            "label value \"no spaces\" is not valid; use letters, digits, '-', '_' or '.', \
             starting and ending with a letter or digit"
        );
        assert_eq!(
            errors[7].1,
            "port 443 is already configured by perPort[0]; ports must be unique"
        );
    }
}
