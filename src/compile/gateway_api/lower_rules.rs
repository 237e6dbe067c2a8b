//! Route rules into [`Rule`]s: HTTPRoute and GRPCRoute matches, the one rule loop both share,
//! the filters as an action, and backendRefs as destinations.

use std::cmp::Reverse;
use std::fmt::Display;

use crate::action::{
    Action, Cors, Destination, DirectResponse, Forward, HeaderEdits, HeaderOps, Mirror,
    PathRewrite, PortFrom, Redirect, RedirectPort, Retries, Rewrite, Session, SessionKind,
    Unavailable, WeightedDestination,
};
use crate::block::Block;
use crate::config::common::Duration;
use crate::config::gateway_api::{
    GrpcRouteMatch, HeaderModifier, HeaderNameValue, HttpBackendRef, HttpRouteFilter,
    HttpRouteMatch, NameValueMatch,
};
use crate::cors::{OriginMatch, UnmatchedPreflights};
use crate::predicate::StrMatch;
use crate::predicate::header::{HeaderMatch, HeaderSource};
use crate::predicate::path::PathMatch;
use crate::predicate::query::QueryMatch;
use crate::split::Split;
use crate::table::{Entry, Rule};

use super::lower::{Key, RouteCtx, Specificity};
use super::reference_grant::granted;
use super::route::RuleParts;
use crate::compile::report::Report;

/// Specificity key of one match.
fn match_specificity(
    path: &Option<PathMatch>,
    method: bool,
    headers: usize,
    queries: usize,
) -> Specificity {
    let (rank, len) = match path {
        Some(PathMatch::Exact { value, .. }) => (3, value.len()),
        Some(PathMatch::SegmentPrefix(v)) => (2, if &**v == "/" { 1 } else { v.len() }),
        Some(PathMatch::Prefix { value, .. }) => (2, value.len()),
        Some(PathMatch::Regex(r)) => (1, r.as_str().len()),
        _ => (2, 1),
    };
    (
        Reverse(rank),
        Reverse(len),
        Reverse(method),
        Reverse(headers),
        Reverse(queries),
    )
}

fn str_match(
    kind: Option<&str>,
    value: &str,
    path: &dyn Display,
    report: &mut Report,
) -> Option<StrMatch> {
    match kind.unwrap_or("Exact") {
        "RegularExpression" => report
            .regex(value, format_args!("{path}.value"))
            .map(StrMatch::Regex),
        _ => Some(StrMatch::Exact(value.into())),
    }
}

/// Header conditions: names case-insensitive, the first of duplicate names wins. Each comes
/// with where it is written (`headers[2]`), for explanations.
fn header_matches(
    list: &[NameValueMatch],
    path: &dyn Display,
    report: &mut Report,
) -> (Vec<HeaderMatch>, Vec<Box<str>>) {
    let mut out: Vec<HeaderMatch> = Vec::new();
    let mut fields: Vec<Box<str>> = Vec::new();
    for (i, h) in list.iter().enumerate() {
        let source = HeaderSource::from_name(&h.name);
        if out
            .iter()
            .any(|x| x.source.name().eq_ignore_ascii_case(source.name()))
        {
            continue;
        }
        if let Some(value) = str_match(
            h.kind.as_deref(),
            &h.value,
            &format_args!("{path}.headers[{i}]"),
            report,
        ) {
            out.push(HeaderMatch {
                source,
                value: Some(value),
                invert: false,
                missing_as_empty: false,
            });
            fields.push(format!("headers[{i}]").into());
        }
    }
    (out, fields)
}

/// Lowers the rules of one route. `lower_match` turns one match (at its field path) into a
/// block's conditions and its specificity; a rule without matches gets one default match.
pub(super) fn lower_rules<'a, M: Default + 'a>(
    rules_of: impl Iterator<Item = RuleParts<'a, M>>,
    rc: &RouteCtx<'_>,
    order: usize,
    source: u32,
    report: &mut Report,
    lower_match: impl Fn(&M, &str, &mut Report) -> (Block, Specificity),
) -> (Vec<Rule>, Vec<(Key, Entry)>) {
    let mut rules = Vec::new();
    let mut keyed = Vec::new();
    let implicit = M::default();
    for (i, r) in rules_of.enumerate() {
        let path = format_args!("spec.rules[{i}]");
        let name: Box<str> = r.name.unwrap_or("").into();
        let matches: Vec<&M> = if r.matches.is_empty() {
            vec![&implicit]
        } else {
            r.matches.iter().collect()
        };
        let mut blocks = Vec::new();
        for (j, m) in matches.into_iter().enumerate() {
            let mpath = format!("{path}.matches[{j}]");
            let (mut block, (a, b, c, d, e)) = lower_match(m, &mpath, report);
            keyed.push((
                (a, b, c, d, e, order, i, j),
                Entry::new(rules.len() as u32, Some(j as u16)),
            ));
            block.route_name = name.clone();
            block.path = block_path(&path, &mpath, r.matches.is_empty());
            blocks.push(block);
        }
        let mut action = lower_action(
            r.filters, r.backends, r.timeouts, r.retry, rc, &path, report,
        );
        if let (Action::Forward(f), Some(sp)) = (&mut action, r.session_persistence) {
            f.session = Some(Box::new(session(sp, rc, i)));
        }
        let headers = header_ops(r.filters);
        rules.push(Rule {
            source,
            index: i as u32,
            plain: false,
            name,
            blocks: blocks.into(),
            action,
            headers,
        });
    }
    (rules, keyed)
}

/// One HTTPRoute match: path, method, header and query conditions, and its specificity.
pub(super) fn lower_http_match(
    m: &HttpRouteMatch,
    mpath: &str,
    report: &mut Report,
) -> (Block, Specificity) {
    let uri = match &m.path {
        None => Some(PathMatch::segment_prefix("/")),
        Some(p) => {
            let value = p.value.as_deref().unwrap_or("/");
            match p.kind.as_deref().unwrap_or("PathPrefix") {
                "Exact" => Some(PathMatch::Exact {
                    value: value.into(),
                    ignore_case: false,
                }),
                "RegularExpression" => report
                    .regex(value, format_args!("{mpath}.path.value"))
                    .map(PathMatch::Regex),
                _ => Some(PathMatch::segment_prefix(value)),
            }
        }
    };
    let (headers, header_fields) = header_matches(&m.headers, &mpath, report);
    let mut query: Vec<QueryMatch> = Vec::new();
    for (k, q) in m.query_params.iter().enumerate() {
        if query.iter().any(|x| *x.key == *q.name) {
            continue;
        }
        let value = str_match(
            q.kind.as_deref(),
            &q.value,
            &format_args!("{mpath}.queryParams[{k}]"),
            report,
        );
        query.push(QueryMatch {
            key: q.name.as_str().into(),
            value,
        });
    }
    let method = m.method.as_deref().map(|x| StrMatch::Exact(x.into()));
    let spec = match_specificity(&uri, method.is_some(), headers.len(), query.len());
    (
        Block {
            uri,
            method,
            headers: headers.into(),
            query: query.into(),
            header_fields: header_fields.into(),
            ..Block::default()
        },
        spec,
    )
}

/// One GRPCRoute match: the `/service/method` path and header conditions, and its specificity.
pub(super) fn lower_grpc_match(
    m: &GrpcRouteMatch,
    mpath: &str,
    report: &mut Report,
) -> (Block, Specificity) {
    let method_match = m.method.as_ref();
    let svc = method_match
        .and_then(|mm| mm.service.as_deref())
        .filter(|s| !s.is_empty());
    let method = method_match
        .and_then(|mm| mm.method.as_deref())
        .filter(|s| !s.is_empty());
    let regex = method_match.is_some_and(|mm| mm.kind.as_deref() == Some("RegularExpression"));
    // The gRPC path is `/service/method`; a missing part matches any segment.
    let uri = if regex {
        let pattern = format!(
            "/(?:{})/(?:{})",
            svc.unwrap_or("[^/]+"),
            method.unwrap_or("[^/]+")
        );
        report
            .regex(&pattern, format_args!("{mpath}.method"))
            .map(PathMatch::Regex)
    } else {
        match (svc, method) {
            (Some(s), Some(m)) => Some(PathMatch::Exact {
                value: format!("/{s}/{m}").into(),
                ignore_case: false,
            }),
            (Some(s), None) => Some(PathMatch::Prefix {
                value: format!("/{s}/").into(),
                ignore_case: false,
            }),
            (None, Some(m)) => report
                .regex(
                    &format!("/[^/]+/{}", regex::escape(m)),
                    format_args!("{mpath}.method"),
                )
                .map(PathMatch::Regex),
            (None, None) => Some(PathMatch::Prefix {
                value: "/".into(),
                ignore_case: false,
            }),
        }
    };
    let (headers, header_fields) = header_matches(&m.headers, &mpath, report);
    // GRPCRoute precedence: characters of the service, then of the method, then header
    // matches (not the kind of match).
    let (slen, mlen) = (svc.map_or(0, str::len), method.map_or(0, str::len));
    let spec = (
        Reverse(0),
        Reverse(slen),
        Reverse(false),
        Reverse(mlen),
        Reverse(headers.len()),
    );
    (
        Block {
            uri,
            headers: headers.into(),
            header_fields: header_fields.into(),
            ..Block::default()
        },
        spec,
    )
}

/// Where a block is written: its `matches[j]`, or the rule itself when the rule has no
/// matches (the block then stands for the implicit match of every request).
fn block_path(rule_path: &dyn Display, match_path: &str, implicit: bool) -> Box<str> {
    if implicit {
        rule_path.to_string().into()
    } else {
        match_path.into()
    }
}

/// Header modifier lists; of names that differ only in case, the first entry wins (the
/// specification ignores the later ones).
fn edits(m: &HeaderModifier) -> HeaderEdits {
    fn first_wins(list: &[HeaderNameValue]) -> Vec<(Box<str>, Box<str>)> {
        let mut out: Vec<(Box<str>, Box<str>)> = Vec::new();
        for h in list {
            if !out.iter().any(|(n, _)| n.eq_ignore_ascii_case(&h.name)) {
                out.push((h.name.as_str().into(), h.value.as_str().into()));
            }
        }
        out
    }
    HeaderEdits {
        set: first_wins(&m.set).into(),
        add: first_wins(&m.add).into(),
        remove: m.remove.iter().map(|h| h.as_str().into()).collect(),
    }
}

fn header_ops(filters: &[HttpRouteFilter]) -> HeaderOps {
    let mut ops = HeaderOps::default();
    for f in filters {
        if let Some(m) = &f.request_header_modifier {
            ops.request = edits(m);
        }
        if let Some(m) = &f.response_header_modifier {
            ops.response = edits(m);
        }
    }
    ops
}

/// A Gateway API duration; zero disables the timeout.
fn timeout(text: Option<&str>) -> Option<std::time::Duration> {
    let d = Duration::parse(text?).ok()?;
    (d.as_nanos() > 0).then(|| d.to_std())
}

fn lower_action(
    filters: &[HttpRouteFilter],
    backends: &[HttpBackendRef],
    timeouts: Option<&crate::config::gateway_api::HttpRouteTimeouts>,
    retry: Option<&crate::config::gateway_api::HttpRouteRetry>,
    rc: &RouteCtx<'_>,
    path: &dyn Display,
    report: &mut Report,
) -> Action {
    let filtered = match lower_filters(filters, rc, path, report) {
        Ok(filtered) => filtered,
        Err(action) => return *action,
    };
    let destinations = lower_backends(backends, rc, path, report);
    let weights: Vec<u32> = destinations.iter().map(|d| d.weight).collect();
    warn_zero_weights(&weights, rc, path, report);
    Action::Forward(Forward {
        destinations: destinations.into(),
        split: Split::exact(&weights),
        rewrite: filtered.rewrite.map(Box::new),
        timeout: timeouts.and_then(|t| timeout(t.request.as_deref())),
        backend_timeout: timeouts.and_then(|t| timeout(t.backend_request.as_deref())),
        // No `retry`: istiod's conversion leaves the VirtualService's `retries` unset, which
        // is the mesh default policy, the mesh config's `defaultHttpRetryPolicy` when set
        // (pilot/pkg/config/kube/gateway/conversion.go; route.go
        // `applyHTTPRouteDestination`). `attempts: 0` turns retries off (`ConvertPolicy`
        // returns none for 0 attempts).
        retries: match retry {
            None => rc.world.default_retries.clone(),
            Some(r) if r.attempts == Some(0) => None,
            Some(r) => Some(std::sync::Arc::new(retries(r, timeouts))),
        },
        fault: None,
        mirrors: filtered.mirrors.into(),
        cors: filtered.cors.map(Box::new),
        // gRPC clients read 503 as UNAVAILABLE, which the GRPCRoute specification asks for.
        unavailable_status: if rc.kind == "GRPCRoute" { 503 } else { 500 },
        sticky: rc.sticky.clone().map(Box::new),
        session: None,
    })
}

/// A rule's `sessionPersistence` (validated): either form, with the rule's default name when
/// none is written, and `Max-Age` from `absoluteTimeout` for a `Permanent` cookie.
fn session(
    sp: &crate::config::gateway_api::SessionPersistence,
    rc: &RouteCtx<'_>,
    rule: usize,
) -> Session {
    let kind = match sp.kind.as_deref() {
        Some("Header") => SessionKind::Header,
        _ => SessionKind::Cookie,
    };
    let name = sp
        .session_name
        .as_deref()
        .or(sp.cookie.as_ref().and_then(|c| c.name.as_deref()))
        .or(sp.header.as_ref().and_then(|h| h.name.as_deref()))
        .map_or_else(
            || Session::default_name(rc.kind, rc.ns, rc.name, rule),
            str::to_string,
        );
    let lifetime = sp
        .cookie_config
        .as_ref()
        .and_then(|c| c.lifetime_type.as_deref())
        .or(sp.cookie.as_ref().and_then(|c| c.lifetime_type.as_deref()));
    let duration = |t: Option<&str>| t.and_then(|t| Duration::parse(t).ok()).map(|d| d.to_std());
    let absolute_timeout = duration(sp.absolute_timeout.as_deref());
    Session {
        kind,
        name: name.into(),
        // The newer form's cookie path defaults to `/`; the released form's is the match's.
        path: sp
            .cookie
            .as_ref()
            .map(|c| c.path.as_deref().unwrap_or("/").into()),
        max_age: absolute_timeout.filter(|_| lifetime == Some("Permanent")),
        absolute_timeout,
        idle_timeout: duration(sp.idle_timeout.as_deref()),
    }
}

/// What a rule's filters add to forwarding.
#[derive(Default)]
struct Filtered {
    rewrite: Option<Rewrite>,
    mirrors: Vec<Mirror>,
    cors: Option<Cors>,
}

/// The filters of a rule in order; `Err` with the action that replaces forwarding: the first
/// redirect, or a 500 for the first filter that cannot be applied.
fn lower_filters(
    filters: &[HttpRouteFilter],
    rc: &RouteCtx<'_>,
    path: &dyn Display,
    report: &mut Report,
) -> Result<Filtered, Box<Action>> {
    let mut out = Filtered::default();
    for (i, f) in filters.iter().enumerate() {
        let fpath = format!("{path}.filters[{i}]");
        match f.kind.as_deref().unwrap_or("") {
            "RequestHeaderModifier" | "ResponseHeaderModifier" => {}
            "RequestRedirect" => return Err(Box::new(redirect(f))),
            "URLRewrite" => out.rewrite = Some(url_rewrite(f)),
            "RequestMirror" => {
                let Some(m) = &f.request_mirror else { continue };
                let Some(b) = &m.backend_ref else { continue };
                if let Some(mirror) = mirror(m, b, rc, &fpath, report) {
                    out.mirrors.push(mirror);
                }
            }
            "CORS" => {
                if let Some(c) = &f.cors {
                    out.cors = Some(cors(c, &format_args!("{fpath}.cors"), report));
                }
            }
            other => {
                // The specification: a filter that cannot be applied must not be skipped;
                // requests it would have processed get a 500.
                report.warn(
                    "unsupported-filter",
                    &fpath,
                    format!("filter type {other:?} is not supported; requests matching this rule get 500"),
                );
                return Err(Box::new(Action::DirectResponse(DirectResponse {
                    status: 500,
                    body: None,
                })));
            }
        }
    }
    Ok(out)
}

/// A `RequestRedirect` filter as the rule's action.
fn redirect(f: &HttpRouteFilter) -> Action {
    let r = f.request_redirect.clone().unwrap_or_default();
    let (uri, prefix) = path_modifier(r.path.as_ref());
    Action::Redirect(Redirect {
        uri,
        prefix_rewrite: prefix,
        authority: r.hostname.as_deref().map(Into::into),
        scheme: r.scheme.as_deref().map(Into::into),
        // The specification: without a port, the scheme's well-known port when the scheme is
        // set, else the listener's (istiod's conversion writes FROM_PROTOCOL_DEFAULT and
        // FROM_REQUEST_PORT).
        port: match (r.port, &r.scheme) {
            (Some(p), _) => RedirectPort::Port(p as u16),
            (None, Some(_)) => RedirectPort::FromProtocolDefault,
            (None, None) => RedirectPort::FromRequest,
        },
        code: r.status_code.unwrap_or(302) as u16,
    })
}

/// A `URLRewrite` filter as the rewrite of forwarded requests.
fn url_rewrite(f: &HttpRouteFilter) -> Rewrite {
    let u = f.url_rewrite.clone().unwrap_or_default();
    let (full, prefix) = path_modifier(u.path.as_ref());
    Rewrite {
        path: full
            .map(PathRewrite::Full)
            .or(prefix.map(PathRewrite::MatchedPrefix)),
        authority: u.hostname.as_deref().map(Into::into),
    }
}

/// A `RequestMirror` filter's mirror; `None` when its backend cannot be used.
fn mirror(
    m: &crate::config::gateway_api::RequestMirror,
    b: &crate::config::gateway_api::BackendObjectRef,
    rc: &RouteCtx<'_>,
    fpath: &str,
    report: &mut Report,
) -> Option<Mirror> {
    let share = match (&m.percent, &m.fraction) {
        (Some(p), _) => (p.clamp(&0, &100) * 10_000) as u32,
        (None, Some(fr)) => {
            let n = fr.numerator.unwrap_or(0).max(0) as u64;
            let d = fr.denominator.unwrap_or(100).max(1) as u64;
            (n.min(d) * 1_000_000 / d) as u32
        }
        (None, None) => 1_000_000,
    };
    let destination = backend(
        &BackendRef::from(b),
        rc,
        &format_args!("{fpath}.requestMirror.backendRef"),
        report,
    );
    // The specification: an invalid mirror backend is dropped, not configured.
    destination.unavailable.is_none().then_some(Mirror {
        destination,
        per_million: share,
    })
}

/// The `maxAge` the CRD defaults an unset field to (`+kubebuilder:default=5`): the API server
/// stores 5, so istiod sees it.
const CORS_DEFAULT_MAX_AGE: i64 = 5;

/// A `CORS` filter as istiod's `createCorsFilter` turns it into an Istio `corsPolicy`: origins
/// per [`cors_origin`], credentials only when true, `maxAge` in seconds when positive (the
/// CRD default 5 when unset), and `unmatchedPreflights: IGNORE`, so a preflight from an origin
/// not allowed is answered without `Access-Control-Allow-Origin` instead of forwarded.
fn cors(
    c: &crate::config::gateway_api::CorsFilter,
    path: &dyn Display,
    report: &mut Report,
) -> Cors {
    let origins = c
        .allow_origins
        .iter()
        .enumerate()
        .filter(|(_, o)| !o.is_empty())
        .filter_map(|(i, o)| cors_origin(o, &format_args!("{path}.allowOrigins[{i}]"), report))
        .collect();
    let max_age = c.max_age.unwrap_or(CORS_DEFAULT_MAX_AGE);
    Cors::new(
        origins,
        &c.allow_methods,
        &c.allow_headers,
        &c.expose_headers,
        (max_age > 0).then(|| std::time::Duration::from_secs(max_age as u64)),
        c.allow_credentials == Some(true),
        UnmatchedPreflights::Ignore,
    )
}

/// The regex istiod writes for the origin `*`: any `scheme://host[:port]`.
pub(super) const ANY_ORIGIN_REGEX: &str = r"^[a-zA-Z][a-zA-Z0-9+.-]*://[^/\s?#]+$";

/// One Gateway API origin as istiod matches it (`createCorsFilter`): `*` as
/// [`ANY_ORIGIN_REGEX`]; without `*`, exact; with one `*` at the end, a prefix; otherwise a
/// regex of the quoted origin with each `*` as `.*` (so `https://*.bar.com` allows any number
/// of labels before `.bar.com`).
fn cors_origin(origin: &str, path: &dyn Display, report: &mut Report) -> Option<OriginMatch> {
    if origin == "*" {
        return report.regex(ANY_ORIGIN_REGEX, path).map(OriginMatch::Regex);
    }
    if !origin.contains('*') {
        return Some(OriginMatch::Exact(origin.into()));
    }
    if let Some(prefix) = origin.strip_suffix('*')
        && !prefix.contains('*')
    {
        return Some(OriginMatch::Prefix(prefix.into()));
    }
    let mut pattern = String::from("^");
    for (i, part) in origin.split('*').enumerate() {
        if i > 0 {
            pattern.push_str(".*");
        }
        // Go's `regexp.QuoteMeta`, as istiod quotes.
        for c in part.chars() {
            if r"\.+*?()|[]{}^$".contains(c) {
                pattern.push('\\');
            }
            pattern.push(c);
        }
    }
    pattern.push('$');
    report.regex(&pattern, path).map(OriginMatch::Regex)
}

/// The backendRefs of a rule as weighted destinations.
fn lower_backends(
    backends: &[HttpBackendRef],
    rc: &RouteCtx<'_>,
    path: &dyn Display,
    report: &mut Report,
) -> Vec<WeightedDestination> {
    let mut destinations = Vec::new();
    for (j, b) in backends.iter().enumerate() {
        let mut destination = backend(
            &BackendRef::from(b),
            rc,
            &format_args!("{path}.backendRefs[{j}]"),
            report,
        );
        destination.headers = header_ops(&b.filters);
        if let Some(k) = b.filters.iter().position(|f| {
            !matches!(
                f.kind.as_deref(),
                Some("RequestHeaderModifier" | "ResponseHeaderModifier")
            )
        }) {
            // The specification (HTTPBackendRef.filters): a backend's filters run only for
            // requests forwarded to it, and a filter that cannot be applied "MUST NOT be
            // skipped": the requests it would process get an error. meshroute applies the
            // header modifiers here; any other filter makes this backend answer 500.
            let kind = b.filters[k].kind.as_deref().unwrap_or("");
            report.warn(
                "unsupported-filter",
                format!("{path}.backendRefs[{j}].filters[{k}]"),
                format!(
                    "filter type {kind:?} is not supported on a backendRef (only the header \
                     modifiers are); requests sent to this backend get {}; put the filter on \
                     the rule instead",
                    if rc.kind == "GRPCRoute" { 503 } else { 500 }
                ),
            );
            destination
                .unavailable
                .get_or_insert(Unavailable::UnsupportedFilter);
        }
        destinations.push(WeightedDestination {
            destination,
            weight: b.weight.unwrap_or(1).clamp(0, 1_000_000) as u32,
        });
    }
    destinations
}

/// A warning when every backendRef has weight 0.
fn warn_zero_weights(weights: &[u32], rc: &RouteCtx<'_>, path: &dyn Display, report: &mut Report) {
    // No single-destination exception here: weight 0 gets nothing.
    if !weights.is_empty() && weights.iter().all(|w| *w == 0) {
        report.warn(
            "zero-weights",
            format!("{path}.backendRefs"),
            format!(
                "{} weight 0; requests matching this rule get {}",
                match weights.len() {
                    1 => "the only backendRef has".to_string(),
                    n => format!("all {n} backendRefs have"),
                },
                if rc.kind == "GRPCRoute" { 503 } else { 500 }
            ),
        );
    }
}

/// An HTTPRoute `retry` as istiod lowers it (pilot/pkg/config/kube/gateway/conversion.go,
/// `convertHTTPRoute`): the connection errors GEP-1731 says implementations should retry
/// (`connect-failure,refused-stream,unavailable,cancelled`) plus each of `codes` as a
/// retriable status code, `attempts` 2 when unset, `backoff` as the base interval, the backend
/// request timeout as the per-try timeout, and Istio's default previous-hosts predicate
/// (`retry.ConvertPolicy` starts from `DefaultPolicy`).
fn retries(
    r: &crate::config::gateway_api::HttpRouteRetry,
    timeouts: Option<&crate::config::gateway_api::HttpRouteTimeouts>,
) -> Retries {
    let mut retry_on = String::from(GATEWAY_RETRY_ON);
    let codes: Vec<u16> = r
        .codes
        .iter()
        .filter_map(|c| u16::try_from(*c).ok())
        .collect();
    if !codes.is_empty() {
        retry_on.push_str(",retriable-status-codes");
    }
    Retries {
        attempts: r.attempts.unwrap_or(2).max(0) as u32,
        per_try_timeout: timeouts.and_then(|t| timeout(t.backend_request.as_deref())),
        on: crate::retry::RetryOn::parse(&retry_on),
        retry_on: retry_on.into(),
        retriable_status_codes: codes,
        retry_remote_localities: None,
        retry_ignore_previous_hosts: None,
        host_selection_attempts: crate::retry::HOST_SELECTION_ATTEMPTS,
        backoff: timeout(r.backoff.as_deref()),
        is_default: false,
    }
}

/// The conditions istiod retries for every HTTPRoute `retry`, before its `codes`.
const GATEWAY_RETRY_ON: &str = "connect-failure,refused-stream,unavailable,cancelled";

fn path_modifier(
    m: Option<&crate::config::gateway_api::PathModifier>,
) -> (Option<Box<str>>, Option<Box<str>>) {
    match m {
        None => (None, None),
        Some(m) => match m.kind.as_deref() {
            Some("ReplacePrefixMatch") => (None, m.replace_prefix_match.as_deref().map(Into::into)),
            _ => (m.replace_full_path.as_deref().map(Into::into), None),
        },
    }
}

/// The fields of a backend reference (rule backends and mirror backends alike).
pub(super) struct BackendRef<'a> {
    group: Option<&'a str>,
    kind: Option<&'a str>,
    name: &'a str,
    namespace: Option<&'a str>,
    port: Option<i64>,
}

/// The same fields, read from one of the two reference types.
macro_rules! backend_ref_from {
    ($($t:ty),*) => {$(
        impl<'a> From<&'a $t> for BackendRef<'a> {
            fn from(b: &'a $t) -> Self {
                BackendRef {
                    group: b.group.as_deref(),
                    kind: b.kind.as_deref(),
                    name: &b.name,
                    namespace: b.namespace.as_deref(),
                    port: b.port,
                }
            }
        }
    )*};
}
backend_ref_from!(
    HttpBackendRef,
    crate::config::gateway_api::BackendObjectRef,
    crate::config::gateway_api::L4BackendRef
);

/// A backend reference as a destination, marked unavailable when it cannot be used.
pub(super) fn backend(
    b: &BackendRef<'_>,
    rc: &RouteCtx<'_>,
    path: &dyn Display,
    report: &mut Report,
) -> Destination {
    let world = rc.world;
    let group = b.group.unwrap_or("");
    let kind = b.kind.unwrap_or("Service");
    let bns = b.namespace.unwrap_or(rc.ns);
    let name = b.name;
    let host: Box<str> = format!("{}.{bns}.svc.{}", name.to_ascii_lowercase(), world.domain).into();
    let unavailable = if !(group.is_empty() || group == "core") || kind != "Service" {
        Some(Unavailable::InvalidKind)
    } else if bns != rc.ns && !rc.mesh_only && !granted(world, rc.kind, rc.ns, bns, name) {
        Some(Unavailable::RefNotPermitted)
    } else if world.services.as_ref().is_some_and(|svcs| {
        !svcs
            .iter()
            .any(|s| s.metadata.name == name && s.namespace(world.default_ns) == bns)
    }) {
        Some(Unavailable::BackendNotFound)
    } else {
        None
    };
    if let Some(u) = unavailable {
        report.warn(
            "unresolved-backend",
            path,
            format!("backend {group}/{kind} {bns}/{name} cannot be used ({}); its share of requests is refused", u.reason()),
        );
    }
    let port = b.port.map(|p| p as u16);
    Destination {
        host,
        subset: None,
        port,
        port_from: if port.is_some() {
            PortFrom::Configured
        } else {
            PortFrom::Request
        },
        headers: HeaderOps::default(),
        unavailable,
        cluster: 0,
    }
}
