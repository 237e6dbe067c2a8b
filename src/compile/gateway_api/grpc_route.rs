//! GRPCRoute: the entry point, and what only GRPCRoute rules have: gRPC method matches.

use super::route::{
    Matched, Route, RouteMatch, RuleParts, check_name_value_matches, validate_route,
};
use crate::compile::report::Report;
use crate::config::gateway_api::{GrpcMethodMatch, GrpcRouteMatch, GrpcRouteSpec};
use crate::limits::MAX_ROUTE_PATH_LEN;
use std::fmt::Display;

/// Validates a `GRPCRoute` spec, recording every error and warning in `report` with paths that
/// start at `spec`.
pub(crate) fn validate_grpc_route(spec: &GrpcRouteSpec, report: &mut Report) {
    let rules: Vec<RuleParts<'_, GrpcRouteMatch>> =
        spec.rules.iter().map(RuleParts::from).collect();
    validate_route(&spec.parent_refs, &spec.hostnames, &rules, report);
}

impl RouteMatch for GrpcRouteMatch {
    const ROUTE: Route = Route::Grpc;
    const DEFAULT_MATCH: bool = false;

    fn check(&self, path: &dyn Display, report: &mut Report) {
        check_grpc_match(self, path, report);
    }
}

fn check_grpc_match(m: &GrpcRouteMatch, path: &dyn Display, report: &mut Report) {
    if let Some(method) = &m.method {
        check_grpc_method(method, &format_args!("{path}.method"), report);
    }
    check_name_value_matches(
        &m.headers,
        Matched::GrpcHeader,
        &format_args!("{path}.headers"),
        report,
    );
}

fn check_grpc_method(m: &GrpcMethodMatch, path: &dyn Display, report: &mut Report) {
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
        let fpath = format_args!("{path}.{field}");
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
            && let Err(message) = report.check_regex(value)
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
