//! What HTTPRoute and GRPCRoute share: parentRefs, hostnames, the rule list (count, names,
//! total matches), header matches, backendRefs and weights, timeouts, retries and session
//! persistence.

use super::fields::{
    HEADER_VALUE_RULE, Repeat, check_backend_object, check_header_name, check_port,
    check_ref_names, is_header_value, repeat_of,
};
use super::filters::check_filter_list;
use crate::compile::names::{check_hostname, check_subdomain};
use crate::compile::report::Report;
use crate::compile::values::{check_count, check_header_chars, fits_length, limit};
use crate::config::gateway_api::{
    GrpcRouteMatch, GrpcRouteRuleSpec, HttpBackendRef, HttpRouteFilter, HttpRouteMatch,
    HttpRouteRetry, HttpRouteRuleSpec, HttpRouteTimeouts, NameValueMatch, ParentRef,
    SessionPersistence,
};
use crate::limits::{MAX_ROUTE_MATCHES, MAX_ROUTE_PATH_LEN, MAX_ROUTE_WEIGHT};
use std::fmt::Display;

/// `sessionName`'s `maxLength` in the CRD.
const MAX_SESSION_NAME_LEN: usize = 128;

const DURATION_RULE: &str =
    "use 1 to 4 parts of 1-5 digits followed by h, m, s or ms, such as 1h30m or 500ms";

/// Which route a shared check runs for.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Route {
    Http,
    Grpc,
}

impl Route {
    pub(super) fn kind(self) -> &'static str {
        match self {
            Route::Http => "HTTPRoute",
            Route::Grpc => "GRPCRoute",
        }
    }
}

/// The parts of an HTTPRoute or GRPCRoute rule that validation and lowering treat alike; `M`
/// is the route's match type, the one part the two kinds do not share. GRPCRoute rules have no
/// `timeouts` or `retry`.
pub(super) struct RuleParts<'a, M> {
    pub(super) name: Option<&'a str>,
    pub(super) matches: &'a [M],
    pub(super) filters: &'a [HttpRouteFilter],
    pub(super) backends: &'a [HttpBackendRef],
    pub(super) timeouts: Option<&'a HttpRouteTimeouts>,
    pub(super) retry: Option<&'a HttpRouteRetry>,
    pub(super) session_persistence: Option<&'a SessionPersistence>,
}

impl<'a> From<&'a HttpRouteRuleSpec> for RuleParts<'a, HttpRouteMatch> {
    fn from(r: &'a HttpRouteRuleSpec) -> Self {
        RuleParts {
            name: r.name.as_deref(),
            matches: &r.matches,
            filters: &r.filters,
            backends: &r.backend_refs,
            timeouts: r.timeouts.as_ref(),
            retry: r.retry.as_ref(),
            session_persistence: r.session_persistence.as_ref(),
        }
    }
}

impl<'a> From<&'a GrpcRouteRuleSpec> for RuleParts<'a, GrpcRouteMatch> {
    fn from(r: &'a GrpcRouteRuleSpec) -> Self {
        RuleParts {
            name: r.name.as_deref(),
            matches: &r.matches,
            filters: &r.filters,
            backends: &r.backend_refs,
            timeouts: None,
            retry: None,
            session_persistence: r.session_persistence.as_ref(),
        }
    }
}

/// What a route kind adds to the shared checks, implemented by its match type.
pub(super) trait RouteMatch: Sized {
    /// The route kind, for the filter types it allows and for messages.
    const ROUTE: Route;
    /// Whether a rule without matches has the default one (it then counts as one match).
    const DEFAULT_MATCH: bool;
    /// Checks one match at `path` (`spec.rules[i].matches[j]`).
    fn check(&self, path: &dyn Display, report: &mut Report);
    /// Checks across the fields of one rule at `path`, run after its backendRefs.
    fn check_rule(_rule: &RuleParts<'_, Self>, _path: &dyn Display, _report: &mut Report) {}
}

/// Validates a route of either kind: parentRefs, hostnames, the rule list, then each rule.
pub(super) fn validate_route<M: RouteMatch>(
    parent_refs: &[ParentRef],
    hostnames: &[String],
    rules: &[RuleParts<'_, M>],
    report: &mut Report,
) {
    check_parent_refs(parent_refs, report);
    check_hostnames(hostnames, report);
    let counted = |r: &RuleParts<'_, M>| {
        if M::DEFAULT_MATCH {
            r.matches.len().max(1)
        } else {
            r.matches.len()
        }
    };
    check_rule_list(
        rules.len(),
        rules.iter().map(|r| (r.name, counted(r))),
        report,
    );
    for (i, rule) in rules.iter().enumerate() {
        check_rule(rule, &format_args!("spec.rules[{i}]"), report);
    }
}

/// One rule: matches, filters, backendRefs, the kind's own rule checks, then timeouts, retry
/// and session persistence.
fn check_rule<M: RouteMatch>(rule: &RuleParts<'_, M>, path: &dyn Display, report: &mut Report) {
    check_count(
        rule.matches.len(),
        limit!(MAX_MATCHES_PER_RULE),
        "matches",
        &format_args!("{path}.matches"),
        report,
    );
    for (j, m) in rule.matches.iter().enumerate() {
        m.check(&format_args!("{path}.matches[{j}]"), report);
    }
    check_filter_list(
        rule.filters,
        M::ROUTE,
        &format_args!("{path}.filters"),
        report,
    );
    check_count(
        rule.backends.len(),
        limit!(MAX_BACKEND_REFS),
        "backendRefs",
        &format_args!("{path}.backendRefs"),
        report,
    );
    for (j, b) in rule.backends.iter().enumerate() {
        check_backend_ref(
            b,
            M::ROUTE,
            &format_args!("{path}.backendRefs[{j}]"),
            report,
        );
    }
    M::check_rule(rule, path, report);
    if let Some(timeouts) = rule.timeouts {
        check_timeouts(timeouts, &format_args!("{path}.timeouts"), report);
    }
    if let Some(retry) = rule.retry {
        check_retry(retry, &format_args!("{path}.retry"), report);
    }
    if let Some(sp) = rule.session_persistence {
        check_session_persistence(sp, &format_args!("{path}.sessionPersistence"), report);
    }
}

pub(super) fn check_parent_refs(refs: &[ParentRef], report: &mut Report) {
    check_count(
        refs.len(),
        limit!(MAX_PARENT_REFS),
        "parentRefs",
        &"spec.parentRefs",
        report,
    );
    for (i, r) in refs.iter().enumerate() {
        let path = format_args!("spec.parentRefs[{i}]");
        check_ref_names(
            r.group.as_deref(),
            r.kind.as_deref(),
            &r.name,
            r.namespace.as_deref(),
            &path,
            report,
        );
        if let Some(port) = r.port {
            check_port(port, &format_args!("{path}.port"), report);
        }
        if let Some(section) = &r.section_name {
            check_subdomain(
                section,
                "sectionName",
                &format_args!("{path}.sectionName"),
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

pub(super) fn check_hostnames(hostnames: &[String], report: &mut Report) {
    check_count(
        hostnames.len(),
        limit!(MAX_ROUTE_HOSTNAMES),
        "hostnames",
        &"spec.hostnames",
        report,
    );
    for (i, h) in hostnames.iter().enumerate() {
        check_hostname(h, &format_args!("spec.hostnames[{i}]"), report);
    }
}

/// Rule count, total matches and unique rule names, shared by HTTPRoute and GRPCRoute.
pub(super) fn check_rule_list<'a>(
    count: usize,
    rules: impl Iterator<Item = (Option<&'a str>, usize)>,
    report: &mut Report,
) {
    check_count(
        count,
        limit!(MAX_ROUTE_RULES),
        "rules",
        &"spec.rules",
        report,
    );
    let mut total = 0;
    let mut names: Vec<(usize, &str)> = Vec::new();
    for (i, (name, matches)) in rules.enumerate() {
        total += matches;
        let Some(name) = name else { continue };
        let path = format_args!("spec.rules[{i}].name");
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
pub(super) enum Matched {
    HttpHeader,
    GrpcHeader,
    QueryParam,
}

pub(super) fn check_name_value_matches(
    list: &[NameValueMatch],
    matched: Matched,
    path: &dyn Display,
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
    check_count(
        list.len(),
        max_matches,
        &format!("{what} matches"),
        path,
        report,
    );
    for (i, m) in list.iter().enumerate() {
        let p = format_args!("{path}[{i}]");
        let name = m.name.as_str();
        if check_header_name(
            name,
            &format!("{what} name"),
            &format_args!("{p}.name"),
            report,
        ) {
            let fold_case = matched != Matched::QueryParam;
            match repeat_of(list[..i].iter().map(|o| o.name.as_str()), name, fold_case) {
                Some(Repeat::Same(j)) => report.error(
                    format!("{p}.name"),
                    format!(
                        "{what} {name:?} is already matched by {field}[{j}]; names must be unique \
                         within a match"
                    ),
                ),
                Some(Repeat::OtherCase(j)) => report.warn(
                    "duplicate-header",
                    format!("{p}.name"),
                    format!(
                        "header {name:?} is already matched by {field}[{j}] as {:?}; header names \
                         are case-insensitive, so this entry is ignored",
                        list[j].name
                    ),
                ),
                None => {}
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
        let vpath = format_args!("{p}.value");
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
            // The raw query of `:path` cannot hold one (see `check_header_literals` in
            // `compile/istio/virtual_service.rs`).
            report.error(vpath, message);
        } else if kind == "RegularExpression"
            && let Err(message) = report.check_regex(value)
        {
            report.error(vpath, message);
        }
    }
}

pub(super) fn check_backend_ref(
    b: &HttpBackendRef,
    route: Route,
    path: &dyn Display,
    report: &mut Report,
) {
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
    check_filter_list(&b.filters, route, &format_args!("{path}.filters"), report);
}

fn check_timeouts(t: &HttpRouteTimeouts, path: &dyn Display, report: &mut Report) {
    let request = t
        .request
        .as_deref()
        .and_then(|d| check_duration(d, &format_args!("{path}.request"), report));
    let backend = t
        .backend_request
        .as_deref()
        .and_then(|d| check_duration(d, &format_args!("{path}.backendRequest"), report));
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

fn check_retry(r: &HttpRouteRetry, path: &dyn Display, report: &mut Report) {
    if let Some(a) = r.attempts
        && a < 1
    {
        report.error(
            format!("{path}.attempts"),
            format!("attempts {a} must be 1 or more"),
        );
    }
    if let Some(b) = &r.backoff {
        check_duration(b, &format_args!("{path}.backoff"), report);
    }
    for (i, code) in r.codes.iter().enumerate() {
        let p = format_args!("{path}.codes[{i}]");
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
fn check_duration(value: &str, path: &dyn Display, report: &mut Report) -> Option<u64> {
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
pub(super) fn parse_duration(value: &str) -> Option<u64> {
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

/// `sessionPersistence`, as the CRD's schema and CEL rules check it (`shared_types.go`
/// `SessionPersistence`): the released form (`sessionName` at most 128 characters,
/// `absoluteTimeout`, `idleTimeout`, `type`, `cookieConfig.lifetimeType`; "AbsoluteTimeout must
/// be specified when cookie lifetimeType is Permanent", "cookieConfig can only be set with
/// type Cookie") or the main branch's union form (`cookie`, `header`, with "cookie must be
/// specified for Cookie type" and its kin). A field of one form beside a field of the other is
/// an error. meshroute writes the session name into a `Set-Cookie` or response header, so it
/// must also be an HTTP token.
fn check_session_persistence(sp: &SessionPersistence, path: &dyn Display, report: &mut Report) {
    if let Some(d) = &sp.absolute_timeout {
        check_duration(d, &format_args!("{path}.absoluteTimeout"), report);
    }
    if let Some(d) = &sp.idle_timeout {
        check_duration(d, &format_args!("{path}.idleTimeout"), report);
    }
    let kind = sp.kind.as_deref().unwrap_or("Cookie");
    let known_kind = matches!(kind, "Cookie" | "Header");
    if !known_kind {
        report.error(
            format!("{path}.type"),
            format!("session persistence type {kind:?} is not Cookie or Header"),
        );
    }
    let check_lifetime = |lifetime: Option<&str>, lpath: &dyn Display, report: &mut Report| {
        let lifetime = lifetime.unwrap_or("Session");
        if !matches!(lifetime, "Permanent" | "Session") {
            report.error(
                lpath,
                format!("cookie lifetimeType {lifetime:?} is not Permanent or Session"),
            );
        } else if lifetime == "Permanent" && sp.absolute_timeout.is_none() {
            report.error(
                lpath,
                "a Permanent cookie needs absoluteTimeout, which is missing",
            );
        }
    };
    let union = sp.cookie.is_some() || sp.header.is_some();
    if union {
        // The main branch's form: the released fields cannot be mixed in.
        let other = if sp.cookie.is_some() {
            "cookie"
        } else {
            "header"
        };
        for (field, present, instead) in [
            (
                "sessionName",
                sp.session_name.is_some(),
                "cookie.name or header.name",
            ),
            (
                "cookieConfig",
                sp.cookie_config.is_some(),
                "cookie.lifetimeType",
            ),
            (
                "idleTimeout",
                sp.idle_timeout.is_some(),
                "absoluteTimeout alone",
            ),
        ] {
            if present {
                report.error(
                    format!("{path}.{field}"),
                    format!(
                        "{field} belongs to the released form of sessionPersistence (gateway-api \
                         v1.1 to v1.6) and cannot be mixed with {other} (the newer form); write \
                         {instead}"
                    ),
                );
            }
        }
    } else if let Some(name) = &sp.session_name {
        let npath = format_args!("{path}.sessionName");
        let chars = name.chars().count();
        if name.is_empty() {
            report.error(
                npath,
                "sessionName is empty; leave it out for a generated name",
            );
        } else if chars > MAX_SESSION_NAME_LEN {
            report.error(
                npath,
                format!(
                    "sessionName of {chars} characters is longer than the limit of \
                     {MAX_SESSION_NAME_LEN}"
                ),
            );
        } else {
            check_header_name(name, "session name", &npath, report);
        }
    }
    if let Some(c) = &sp.cookie_config {
        let cpath = format_args!("{path}.cookieConfig");
        check_lifetime(
            c.lifetime_type.as_deref(),
            &format_args!("{cpath}.lifetimeType"),
            report,
        );
        if known_kind && kind != "Cookie" && !union {
            report.error(
                cpath,
                format!(
                    "cookieConfig is set but the session persistence type is {kind}; \
                     cookieConfig needs type Cookie"
                ),
            );
        }
    }
    if let Some(c) = &sp.cookie {
        let cpath = format_args!("{path}.cookie");
        check_lifetime(
            c.lifetime_type.as_deref(),
            &format_args!("{cpath}.lifetimeType"),
            report,
        );
        if let Some(name) = &c.name {
            check_header_name(name, "cookie name", &format_args!("{cpath}.name"), report);
        }
        if let Some(p) = &c.path
            && p.len() > MAX_ROUTE_PATH_LEN
        {
            report.error(
                format!("{cpath}.path"),
                format!(
                    "cookie path of {} bytes is longer than the limit of {MAX_ROUTE_PATH_LEN} (limits::MAX_ROUTE_PATH_LEN)",
                    p.len()
                ),
            );
        } else if let Some(p) = &c.path
            && (!p.starts_with('/') || p.bytes().any(|b| b == b';' || !(b' '..=b'~').contains(&b)))
        {
            report.error(
                format!("{cpath}.path"),
                format!(
                    "cookie path {p:?} is not valid; it starts with / and holds visible ASCII \
                     without ;"
                ),
            );
        }
    }
    if let Some(h) = &sp.header {
        let hpath = format_args!("{path}.header");
        match &h.name {
            Some(name) => {
                check_header_name(name, "header name", &format_args!("{hpath}.name"), report);
            }
            None => report.error(format!("{hpath}.name"), "header name is required"),
        }
    }
    if !union {
        return;
    }
    // The union's CEL rules: the member of the type, and only that one. An unknown type is
    // reported above; the members cannot be judged against it.
    for (ty, field, present) in [
        ("Cookie", "cookie", sp.cookie.is_some()),
        ("Header", "header", sp.header.is_some()),
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
