//! HTTPRoute: the entry point, and what only HTTPRoute rules have: path, method and query
//! parameter matches, a redirect without backends, `replacePrefixMatch` on one prefix match.

use super::route::{
    Matched, Route, RouteMatch, RuleParts, check_name_value_matches, validate_route,
};
use crate::compile::report::Report;
use crate::config::gateway_api::{HttpPathMatch, HttpRouteMatch, HttpRouteSpec};
use crate::limits::MAX_ROUTE_PATH_LEN;
use std::fmt::Display;

pub(super) const METHODS: [&str; 9] = [
    "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH",
];

pub(super) const PATH_CHAR_RULE: &str = "use letters, digits, -._~!$&'()*+,;=:@/ and %XX escapes";

/// Validates an `HTTPRoute` spec, recording every error and warning in `report` with paths that
/// start at `spec`.
pub(crate) fn validate_http_route(spec: &HttpRouteSpec, report: &mut Report) {
    let rules: Vec<RuleParts<'_, HttpRouteMatch>> =
        spec.rules.iter().map(RuleParts::from).collect();
    validate_route(&spec.parent_refs, &spec.hostnames, &rules, report);
}

impl RouteMatch for HttpRouteMatch {
    const ROUTE: Route = Route::Http;
    const DEFAULT_MATCH: bool = true;

    fn check(&self, path: &dyn Display, report: &mut Report) {
        check_http_match(self, path, report);
    }

    fn check_rule(rule: &RuleParts<'_, Self>, path: &dyn Display, report: &mut Report) {
        check_redirect_without_backends(rule, path, report);
        check_replace_prefix_match(rule, path, report);
    }
}

/// A redirect answers the request itself: it has no use for backends.
fn check_redirect_without_backends(
    rule: &RuleParts<'_, HttpRouteMatch>,
    path: &dyn Display,
    report: &mut Report,
) {
    if !rule.backends.is_empty() {
        for (k, f) in rule.filters.iter().enumerate() {
            if f.request_redirect.is_some() {
                report.error(
                    format!("{path}.filters[{k}].requestRedirect"),
                    format!(
                        "a RequestRedirect filter answers the request itself and cannot be \
                         combined with backendRefs (the rule has {}); remove one or the other",
                        rule.backends.len()
                    ),
                );
            }
        }
    }
}

/// `ReplacePrefixMatch` needs exactly one match, on a path prefix (defaults applied).
fn check_replace_prefix_match(
    rule: &RuleParts<'_, HttpRouteMatch>,
    path: &dyn Display,
    report: &mut Report,
) {
    let filters = rule
        .filters
        .iter()
        .enumerate()
        .map(|(k, f)| (format!("{path}.filters[{k}]"), f));
    let backend_filters = rule.backends.iter().enumerate().flat_map(|(j, b)| {
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
            if let Some(problem) = single_prefix_match_problem(rule.matches) {
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

fn check_http_match(m: &HttpRouteMatch, path: &dyn Display, report: &mut Report) {
    if let Some(p) = &m.path {
        check_path_match(p, &format_args!("{path}.path"), report);
    }
    check_name_value_matches(
        &m.headers,
        Matched::HttpHeader,
        &format_args!("{path}.headers"),
        report,
    );
    check_name_value_matches(
        &m.query_params,
        Matched::QueryParam,
        &format_args!("{path}.queryParams"),
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

fn check_path_match(p: &HttpPathMatch, path: &dyn Display, report: &mut Report) {
    let kind = p.kind.as_deref().unwrap_or("PathPrefix");
    let value = p.value.as_deref().unwrap_or("/");
    let vpath = format_args!("{path}.value");
    if !matches!(kind, "Exact" | "PathPrefix" | "RegularExpression") {
        report.error(
            format!("{path}.type"),
            format!("path match type {kind:?} is not Exact, PathPrefix or RegularExpression"),
        );
    }
    if value.len() > MAX_ROUTE_PATH_LEN {
        report.error(
            vpath,
            format!(
                "path of {} bytes is longer than the limit of {MAX_ROUTE_PATH_LEN} (limits::MAX_ROUTE_PATH_LEN)",
                value.len()
            ),
        );
    } else if kind == "RegularExpression" {
        if let Err(message) = report.check_regex(value) {
            report.error(vpath, message);
        }
    } else if matches!(kind, "Exact" | "PathPrefix") {
        for problem in path_value_problems(value) {
            report.error(vpath, format!("path {value:?} of type {kind} {problem}"));
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
pub(super) fn first_invalid_path_char(value: &str) -> Option<char> {
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
