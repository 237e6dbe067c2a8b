//! Route filters: the type/field pairing, repeats, header modifiers, mirrors, redirects, URL
//! rewrites, CORS, and the raw-JSON `extensionRef` and `externalAuth`.

use serde_json::Value;
use std::fmt::Display;

use super::fields::{
    HEADER_VALUE_RULE, Repeat, check_backend_object, check_header_name, check_port, check_set,
    check_wildcard_alone, is_header_value, repeat_of,
};
use super::http_route::{METHODS, PATH_CHAR_RULE, first_invalid_path_char};
use super::raw::{
    Namespaced, check_raw_ref, check_raw_string_set, raw_field, raw_int, raw_object, raw_str,
};
use super::route::Route;
use crate::compile::names::check_precise_hostname;
use crate::compile::report::Report;
use crate::compile::values::{check_count, limit};
use crate::config::gateway_api::{
    BackendObjectRef, CorsFilter, Fraction, HeaderModifier, HeaderNameValue, HttpRouteFilter,
    PathModifier, RequestMirror, RequestRedirect, UrlRewrite,
};
use crate::limits::{MAX_HEADER_VALUE_LEN, MAX_NAME_LEN, MAX_ROUTE_PATH_LEN};

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

fn check_mirror_backend(b: &BackendObjectRef, path: &dyn Display, report: &mut Report) {
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

pub(super) fn check_filter_list(
    filters: &[HttpRouteFilter],
    route: Route,
    path: &dyn Display,
    report: &mut Report,
) {
    check_count(
        filters.len(),
        limit!(MAX_ROUTE_FILTERS),
        "filters",
        path,
        report,
    );
    for (k, f) in filters.iter().enumerate() {
        check_filter(f, route, &format_args!("{path}[{k}]"), report);
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

fn check_filter(f: &HttpRouteFilter, route: Route, path: &dyn Display, report: &mut Report) {
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
        let fpath = format_args!("{path}.{field}");
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
        check_header_modifier(m, &format_args!("{path}.requestHeaderModifier"), report);
    }
    if let Some(m) = &f.response_header_modifier {
        check_header_modifier(m, &format_args!("{path}.responseHeaderModifier"), report);
    }
    if let Some(m) = &f.request_mirror {
        check_request_mirror(m, &format_args!("{path}.requestMirror"), report);
    }
    if let Some(v) = &f.extension_ref {
        check_local_object_ref(v, &format_args!("{path}.extensionRef"), report);
    }
    if route == Route::Grpc {
        return;
    }
    if let Some(r) = &f.request_redirect {
        check_request_redirect(r, &format_args!("{path}.requestRedirect"), report);
    }
    if let Some(r) = &f.url_rewrite {
        check_url_rewrite(r, &format_args!("{path}.urlRewrite"), report);
    }
    if let Some(c) = &f.cors {
        check_cors(c, &format_args!("{path}.cors"), report);
    }
    if let Some(v) = &f.external_auth {
        check_external_auth(v, &format_args!("{path}.externalAuth"), report);
    }
}

fn check_header_modifier(m: &HeaderModifier, path: &dyn Display, report: &mut Report) {
    for (field, list) in [("set", &m.set), ("add", &m.add)] {
        check_header_list(list, field, &format_args!("{path}.{field}"), report);
    }
    let rpath = format_args!("{path}.remove");
    check_count(
        m.remove.len(),
        limit!(MAX_HEADER_MODIFIER_OPS),
        "headers to remove",
        &rpath,
        report,
    );
    for (i, name) in m.remove.iter().enumerate() {
        match repeat_of(m.remove[..i].iter().map(String::as_str), name, true) {
            Some(Repeat::Same(j)) => report.error(
                format!("{rpath}[{i}]"),
                format!("header {name:?} is already listed at remove[{j}]; entries must be unique"),
            ),
            Some(Repeat::OtherCase(j)) => report.warn(
                "duplicate-header",
                format!("{rpath}[{i}]"),
                format!(
                    "header {name:?} is already listed at remove[{j}] as {:?}; header names are \
                     case-insensitive, so this entry has no effect",
                    m.remove[j]
                ),
            ),
            None => {}
        }
    }
}

fn check_header_list(
    list: &[HeaderNameValue],
    field: &str,
    path: &dyn Display,
    report: &mut Report,
) {
    check_count(
        list.len(),
        limit!(MAX_HEADER_MODIFIER_OPS),
        &format!("headers to {field}"),
        path,
        report,
    );
    for (i, h) in list.iter().enumerate() {
        let p = format_args!("{path}[{i}]");
        let name = h.name.as_str();
        if check_header_name(name, "header name", &format_args!("{p}.name"), report) {
            match repeat_of(list[..i].iter().map(|o| o.name.as_str()), name, true) {
                Some(Repeat::Same(j)) => report.error(
                    format!("{p}.name"),
                    format!(
                        "header {name:?} is already listed at {field}[{j}]; names must be unique"
                    ),
                ),
                Some(Repeat::OtherCase(j)) => report.warn(
                    "duplicate-header",
                    format!("{p}.name"),
                    format!(
                        "header {name:?} is already listed at {field}[{j}] as {:?}; header names \
                         are case-insensitive, so this entry is ignored",
                        list[j].name
                    ),
                ),
                None => {}
            }
        }
        let vpath = format_args!("{p}.value");
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

fn check_request_mirror(m: &RequestMirror, path: &dyn Display, report: &mut Report) {
    match &m.backend_ref {
        Some(b) => check_mirror_backend(b, &format_args!("{path}.backendRef"), report),
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
        check_fraction(fraction, &format_args!("{path}.fraction"), report);
    }
    if m.percent.is_some() && m.fraction.is_some() {
        report.error(
            path,
            "percent and fraction are both set; give the share of mirrored requests one way",
        );
    }
}

fn check_fraction(f: &Fraction, path: &dyn Display, report: &mut Report) {
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

fn check_request_redirect(r: &RequestRedirect, path: &dyn Display, report: &mut Report) {
    if let Some(scheme) = &r.scheme
        && !matches!(scheme.as_str(), "http" | "https")
    {
        report.error(
            format!("{path}.scheme"),
            format!("scheme {scheme:?} is not http or https"),
        );
    }
    if let Some(h) = &r.hostname {
        check_precise_hostname(
            h,
            "redirect hostname",
            &format_args!("{path}.hostname"),
            report,
        );
    }
    if let Some(m) = &r.path {
        check_path_modifier(m, &format_args!("{path}.path"), report);
    }
    if let Some(port) = r.port {
        check_port(port, &format_args!("{path}.port"), report);
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

fn check_url_rewrite(r: &UrlRewrite, path: &dyn Display, report: &mut Report) {
    if let Some(h) = &r.hostname {
        check_precise_hostname(
            h,
            "rewrite hostname",
            &format_args!("{path}.hostname"),
            report,
        );
    }
    if let Some(m) = &r.path {
        check_path_modifier(m, &format_args!("{path}.path"), report);
    }
}

fn check_path_modifier(m: &PathModifier, path: &dyn Display, report: &mut Report) {
    let tpath = format_args!("{path}.type");
    let kind = m.kind.as_deref();
    match kind {
        None => report.error(
            tpath,
            "path modifier type is required; ReplaceFullPath or ReplacePrefixMatch",
        ),
        Some("ReplaceFullPath" | "ReplacePrefixMatch") => {}
        Some(k) => report.error(
            tpath,
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
            report.error(tpath, format!("type {ty} needs {field}, which is missing"));
        } else if k != ty && value.is_some() {
            report.error(
                tpath,
                format!("type is {k} but {field} is set; {field} needs type {ty}"),
            );
        }
    }
}

fn check_cors(c: &CorsFilter, path: &dyn Display, report: &mut Report) {
    let origins = format!("{path}.allowOrigins");
    check_count(
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
    check_count(
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
        let p = format_args!("{path}.{field}");
        check_count(list.len(), limit!(MAX_CORS_ITEMS), field, &p, report);
        check_set(list, &p, report);
        if wildcard {
            check_wildcard_alone(list, field, &p, report);
        }
        for (i, h) in list.iter().enumerate() {
            check_header_name(h, "header name", &format_args!("{p}[{i}]"), report);
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
pub(super) fn is_cors_origin(o: &str) -> bool {
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

/// `extensionRef` (a `LocalObjectReference`): `group` (may be empty), `kind` and `name`, all
/// required.
fn check_local_object_ref(v: &Value, path: &dyn Display, report: &mut Report) {
    check_raw_ref(v, Namespaced::No, &["group", "kind"], path, report);
}

/// `externalAuth` (experimental): protocol, backend, and the protocol's own settings.
fn check_external_auth(v: &Value, path: &dyn Display, report: &mut Report) {
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
        Some(b) => check_raw_backend_ref(b, &format_args!("{path}.backendRef"), report),
    }
    let grpc = raw_field(map, "grpc");
    if let Some(g) = grpc {
        let gpath = format_args!("{path}.grpc");
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
        let hpath = format_args!("{path}.http");
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
        let fpath = format_args!("{path}.forwardBody");
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
fn check_raw_backend_ref(v: &Value, path: &dyn Display, report: &mut Report) {
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
