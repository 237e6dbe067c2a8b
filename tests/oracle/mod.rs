//! A naive evaluator over the configuration model, written for clarity, not speed: it reads
//! the loaded resources (`meshroute::config`) directly and decides one request the way the
//! specifications say, without using anything meshroute compiles. Property tests and the
//! `decide` fuzz target compare its answers with the compiled table's.
//!
//! Covered:
//! - Istio, mesh (sidecar) requests: VirtualServices without `gateways`, host lookup
//!   (lowercase authority without its port; exact, then the Kubernetes short forms), the oldest
//!   VirtualService keeping a host claimed by several, first-match-wins over `spec.http[]`, OR
//!   across match blocks and AND within one: `uri` exact/prefix/regex with `ignoreUriCase`,
//!   `method`, `authority`, `headers`, `withoutHeaders` (presence forms `{}` and `regex: "*"`),
//!   `queryParams`; weighted destinations with subsets from DestinationRules.
//! - Gateway API, requests at a Gateway: `HTTPRoute`s attached to a listener by port and
//!   `allowedRoutes` (`Same`/`All`), hostname intersection and precedence, path
//!   Exact/PathPrefix/RegularExpression, headers, query parameters, method, the specificity
//!   order across rules, backend weights (default 1) and missing backends.
//!
//! Anything else (filters, faults, redirects, delegation, GRPCRoutes, listener hostnames,
//! `sectionName`, gateway-bound VirtualServices, pseudo-header names, percent-encoded paths,
//! regexes the `regex` crate rejects) is reported as [`Unsupported`], never guessed.

#![allow(dead_code)]

use std::cmp::Reverse;

use meshroute::config::common::StringMatch;
use meshroute::config::gateway_api::{
    GatewaySpec, HttpRouteMatch, HttpRouteSpec, NameValueMatch, ServiceSpec,
};
use meshroute::config::virtual_service::{HttpMatchRequest, HttpRouteRule};
use meshroute::config::{DestinationRuleSpec, Object, Resource, VirtualServiceSpec};
use meshroute::{Config, Decision, Outcome, OwnedRequest, Table};

/// The cluster domain short names expand with (the compile default).
pub const CLUSTER_DOMAIN: &str = "cluster.local";
/// The namespace of resources that name none (the compile default).
pub const DEFAULT_NAMESPACE: &str = "default";

/// What happens to a request, in the terms both evaluators can state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Answer {
    /// What kind of answer.
    pub outcome: Kind,
    /// The rule that matched.
    pub rule: Option<RuleRef>,
    /// The destination picked for the draw.
    pub destination: Option<Dest>,
    /// The HTTP status routing gives.
    pub status: u16,
}

/// Kinds of answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A rule matched.
    Matched,
    /// The host has rules, none matched (404).
    NoRoute,
    /// Mesh: no VirtualService claims the host; the request goes to the service itself.
    Passthrough,
    /// Gateway: nothing serves the host (404).
    NoVirtualHost,
    /// Refused before routing (400).
    BadRequest,
}

/// A rule: its resource as `Kind namespace/name`, its index in the resource, and the match
/// block that matched (`None` for an Istio rule without blocks; a Gateway API rule without
/// matches has one implicit match, block 0).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleRef {
    /// `VirtualService default/web`.
    pub resource: String,
    /// Position in `spec.http` or `spec.rules`.
    pub index: usize,
    /// The match block.
    pub block: Option<usize>,
}

/// A destination: fully qualified host, subset and port.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dest {
    /// Host.
    pub host: String,
    /// Subset.
    pub subset: Option<String>,
    /// Port.
    pub port: Option<u16>,
}

/// The configuration or request uses something this evaluator does not model.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unsupported(pub String);

type Result<T> = std::result::Result<T, Unsupported>;

fn unsupported<T>(what: impl Into<String>) -> Result<T> {
    Err(Unsupported(what.into()))
}

/// The table's answer, read through meshroute's public decision API.
pub fn observe(table: &Table, d: &Decision<'_>) -> Answer {
    let outcome = match d.outcome {
        Outcome::Matched(_) => Kind::Matched,
        Outcome::NoRoute { .. } => Kind::NoRoute,
        Outcome::Passthrough => Kind::Passthrough,
        Outcome::NoVirtualHost => Kind::NoVirtualHost,
        Outcome::BadRequest { .. } => Kind::BadRequest,
        _ => panic!("an outcome this evaluator does not know: {d:?}"),
    };
    let rule = d.matched().map(|m| {
        let s = table.source_of(m.rule);
        RuleRef {
            resource: format!("{} {}/{}", s.kind, s.namespace, s.name),
            index: m.rule.index as usize,
            block: m.block.map(usize::from),
        }
    });
    let destination = d.destination().map(|x| Dest {
        host: x.host.to_string(),
        subset: x.subset.as_deref().map(String::from),
        port: x.port,
    });
    Answer {
        outcome,
        rule,
        destination,
        status: d.status(),
    }
}

/// Decides `req` with `draw` from the configuration alone.
///
/// # Errors
/// [`Unsupported`] when the configuration or the request uses something outside the scope
/// listed in the module documentation.
pub fn decide(config: &Config, req: &OwnedRequest, draw: u64) -> Result<Answer> {
    if !config.rejected.is_empty() {
        return unsupported("a resource did not load");
    }
    let path = normalized_path(&req.path)?;
    match &req.gateway {
        None => istio_mesh(config, req, &path, draw),
        Some((ns, name)) => gateway_api(config, req, &path, ns, name, draw),
    }
}

fn answer(outcome: Kind, rule: Option<RuleRef>, destination: Option<Dest>, status: u16) -> Answer {
    Answer {
        outcome,
        rule,
        destination,
        status,
    }
}

// ---------------------------------------------------------------------------------------------
// Request pieces
// ---------------------------------------------------------------------------------------------

/// The path rules see: `:path` without `#fragment` and `?query`, with RFC 3986 dot segments
/// removed (Istio normalizes paths; slashes are not merged).
fn normalized_path(raw: &str) -> Result<String> {
    let path = without_query(raw);
    if path.contains('%') {
        return unsupported("a percent-encoded path");
    }
    if !path.contains("/.") {
        return Ok(path.to_string());
    }
    if !path.starts_with('/') {
        return unsupported("dot segments in a relative path");
    }
    Ok(remove_dot_segments(path))
}

/// RFC 3986 §5.2.4 for an absolute path.
fn remove_dot_segments(path: &str) -> String {
    let mut input = path.to_string();
    let mut out = String::new();
    while !input.is_empty() {
        if let Some(rest) = input.strip_prefix("../") {
            input = rest.to_string();
        } else if let Some(rest) = input.strip_prefix("./") {
            input = rest.to_string();
        } else if input.starts_with("/./") {
            input = input[2..].to_string();
        } else if input == "/." {
            input = "/".to_string();
        } else if input.starts_with("/../") || input == "/.." {
            input = format!("/{}", &input[if input == "/.." { 3 } else { 4 }..]);
            match out.rfind('/') {
                Some(i) => out.truncate(i),
                None => out.clear(),
            }
        } else if input == "." || input == ".." {
            input.clear();
        } else {
            let start = usize::from(input.starts_with('/'));
            let end = input[start..].find('/').map_or(input.len(), |i| i + start);
            out.push_str(&input[..end]);
            input = input[end..].to_string();
        }
    }
    out
}

/// `:path` before the first `?` or `#`.
fn without_query(raw: &str) -> &str {
    match raw.find(['?', '#']) {
        Some(i) => &raw[..i],
        None => raw,
    }
}

/// The query string: after the first `?`, with any `#fragment` (and whatever follows it)
/// removed first, since the fragment is dropped from `:path` before routing.
fn query_string(raw: &str) -> Option<&str> {
    let before_fragment = raw.split('#').next().unwrap_or("");
    before_fragment.split_once('?').map(|(_, q)| q)
}

/// The first raw (not percent-decoded) value of query parameter `key`; `?k` gives `""`.
fn first_query_value<'r>(raw: &'r str, key: &str) -> Option<&'r str> {
    for pair in query_string(raw)?.split('&') {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        if k == key {
            return Some(v);
        }
    }
    None
}

/// Every value of a header (names compared case-insensitively) joined by `,`, as Envoy sees a
/// repeated header; `None` when the request does not carry it.
fn header_value(req: &OwnedRequest, name: &str) -> Option<String> {
    let values: Vec<&str> = req
        .headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v)
        .collect();
    if values.is_empty() {
        None
    } else {
        Some(values.join(","))
    }
}

/// The host part of the authority, lowercased (`Web.Example.COM:8080` → `web.example.com`).
fn request_host(authority: &str) -> String {
    let host = match authority.rsplit_once(':') {
        Some((h, port)) if !h.contains(':') && (port.is_empty() || port.parse::<u16>().is_ok()) => {
            h
        }
        _ => authority,
    };
    host.to_ascii_lowercase()
}

/// RE2 full match, written for the `regex` crate (the patterns used are in the subset both
/// accept with the same meaning).
fn full_match(pattern: &str, value: &str) -> Result<bool> {
    match regex::Regex::new(&format!("^(?:{pattern})$")) {
        Ok(re) => Ok(re.is_match(value)),
        Err(_) => unsupported(format!("regex {pattern:?}")),
    }
}

// ---------------------------------------------------------------------------------------------
// Istio
// ---------------------------------------------------------------------------------------------

/// A name as Istio resolves it: a name without dots is `<name>.<namespace>.svc.<domain>`;
/// anything with a dot is taken as written (lowercased).
fn fqdn(name: &str, namespace: &str) -> String {
    let name = name.to_ascii_lowercase();
    if name.contains('.') || name == "*" {
        name
    } else {
        format!("{name}.{namespace}.svc.{CLUSTER_DOMAIN}")
    }
}

/// Names a sidecar resolves `host` to through its DNS search path (`name`, `name.ns`,
/// `name.ns.svc`).
fn short_form(host: &str, ns: Option<&str>) -> Option<String> {
    match host.matches('.').count() {
        0 => ns.map(|ns| format!("{host}.{ns}.svc.{CLUSTER_DOMAIN}")),
        1 => Some(format!("{host}.svc.{CLUSTER_DOMAIN}")),
        2 if host.ends_with(".svc") => Some(format!("{host}.{CLUSTER_DOMAIN}")),
        _ => None,
    }
}

fn ns_of<S>(o: &Object<S>) -> &str {
    o.namespace(DEFAULT_NAMESPACE)
}

fn istio_mesh(config: &Config, req: &OwnedRequest, path: &str, draw: u64) -> Result<Answer> {
    let mut services: Vec<&Object<VirtualServiceSpec>> = Vec::new();
    let mut rules_of_dr: Vec<&Object<DestinationRuleSpec>> = Vec::new();
    for r in &config.resources {
        match r {
            Resource::VirtualService(o) => {
                if o.spec.gateways.iter().any(|g| g != "mesh")
                    || !o.spec.export_to.is_empty()
                    || o.spec.hosts.is_empty()
                    || !o.metadata.annotations.is_empty()
                {
                    return unsupported(
                        "VirtualService gateways, exportTo, delegation or annotations",
                    );
                }
                services.push(o);
            }
            Resource::DestinationRule(o) => rules_of_dr.push(o),
            Resource::HttpRoute(o)
                if o.spec
                    .parent_refs
                    .iter()
                    .any(|p| p.kind.as_deref() == Some("Service")) =>
            {
                return unsupported("GAMMA routes");
            }
            Resource::GrpcRoute(_) => return unsupported("GRPCRoute"),
            _ => {}
        }
    }
    // Who keeps a host claimed by several VirtualServices in the mesh: the oldest, then by
    // name, then by namespace (Istio's creation-time order), then the one loaded first.
    services.sort_by(|a, b| {
        let ta = a.metadata.creation_timestamp.as_deref().unwrap_or("");
        let tb = b.metadata.creation_timestamp.as_deref().unwrap_or("");
        ta.cmp(tb)
            .then_with(|| a.metadata.name.cmp(&b.metadata.name))
            .then_with(|| ns_of(a).cmp(ns_of(b)))
            .then(a.order.cmp(&b.order))
    });
    for vs in &services {
        if vs.spec.hosts.iter().any(|h| h.starts_with('*')) {
            return unsupported("wildcard hosts");
        }
    }
    let claims = |name: &str| {
        services
            .iter()
            .copied()
            .find(|vs| vs.spec.hosts.iter().any(|h| fqdn(h, ns_of(vs)) == name))
    };
    let host = request_host(&req.authority);
    let owner = claims(&host).or_else(|| {
        short_form(&host, req.source_namespace.as_deref()).and_then(|full| claims(&full))
    });
    let Some(vs) = owner else {
        return Ok(answer(Kind::Passthrough, None, None, 200));
    };
    let resource = format!("VirtualService {}/{}", ns_of(vs), vs.metadata.name);
    // Each match block is one route, in order; the first that holds wins. Istio emits no
    // routes after the first catch-all one (SEMANTICS §1.4), which matters only for paths a
    // catch-all does not match (those not starting with `/`).
    for (index, rule) in vs.spec.http.iter().enumerate() {
        let Some(rule) = rule else {
            return unsupported("a null rule");
        };
        let rule_ref = |block| RuleRef {
            resource: resource.clone(),
            index,
            block,
        };
        if rule.matches.is_empty() {
            return istio_forward(rule, rule_ref(None), ns_of(vs), &rules_of_dr, draw);
        }
        for (j, m) in rule.matches.iter().enumerate() {
            let Some(m) = m else {
                return unsupported("a null match block");
            };
            if istio_block_matches(m, req, path)? {
                return istio_forward(rule, rule_ref(Some(j)), ns_of(vs), &rules_of_dr, draw);
            }
            if is_catch_all(m) {
                return Ok(answer(Kind::NoRoute, None, None, 404));
            }
        }
    }
    Ok(answer(Kind::NoRoute, None, None, 404))
}

/// Istio's catch-all block: its path condition is absent, `prefix: "/"` or `regex: ".*"`, and
/// it has no other condition (`method`, `authority` and `scheme` are header conditions).
fn is_catch_all(m: &HttpMatchRequest) -> bool {
    let uri_all = match &m.uri {
        None => true,
        Some(u) => matches!(one_of(u), Ok(Str::Prefix("/")) | Ok(Str::Regex(".*"))),
    };
    uri_all
        && m.method.is_none()
        && m.authority.is_none()
        && m.scheme.is_none()
        && m.headers.as_ref().is_none_or(|h| h.is_empty())
        && m.without_headers.as_ref().is_none_or(|h| h.is_empty())
        && m.query_params.as_ref().is_none_or(|q| q.is_empty())
}

/// One match block: every condition it states holds.
fn istio_block_matches(m: &HttpMatchRequest, req: &OwnedRequest, path: &str) -> Result<bool> {
    if m.port.is_some()
        || !m.source_labels.is_empty()
        || !m.gateways.is_empty()
        || m.source_namespace.is_some()
        || m.scheme.is_some()
    {
        return unsupported("port, source, gateway or scheme conditions");
    }
    if let Some(uri) = &m.uri {
        let ignore_case = m.ignore_uri_case == Some(true);
        let ok = match one_of(uri)? {
            Str::Exact(v) if ignore_case => path.eq_ignore_ascii_case(v),
            Str::Exact(v) => path == v,
            Str::Prefix(v) if ignore_case => {
                path.len() >= v.len()
                    && path.is_char_boundary(v.len())
                    && path[..v.len()].eq_ignore_ascii_case(v)
            }
            Str::Prefix(v) => path.starts_with(v),
            // `ignoreUriCase` does not apply to regex (SEMANTICS §1.3).
            Str::Regex(r) => full_match(r, path)?,
            Str::Present => return unsupported("uri: {}"),
        };
        if !ok {
            return Ok(false);
        }
    }
    for (value, cond) in [(&req.method, &m.method), (&req.authority, &m.authority)] {
        if let Some(c) = cond
            && !string_match(one_of(c)?, value)?
        {
            return Ok(false);
        }
    }
    for (name, cond) in m.headers.iter().flatten() {
        let want = istio_value_match(name, cond.as_ref())?;
        let ok = match (header_value(req, name), want) {
            (None, _) => false,
            (Some(_), Str::Present) => true,
            (Some(v), s) => string_match(s, &v)?,
        };
        if !ok {
            return Ok(false);
        }
    }
    for (name, cond) in m.without_headers.iter().flatten() {
        let want = istio_value_match(name, cond.as_ref())?;
        // Inverted: the presence form holds when the header is absent; a value form reads a
        // missing header as "" (treat_missing_header_as_empty) and holds when that fails.
        let ok = match (header_value(req, name), want) {
            (v, Str::Present) => v.is_none(),
            (v, s) => !string_match(s, v.as_deref().unwrap_or(""))?,
        };
        if !ok {
            return Ok(false);
        }
    }
    for (key, cond) in m.query_params.iter().flatten() {
        let want = match cond {
            Some(c) => star_is_presence(one_of(c)?),
            None => Str::Present,
        };
        let ok = match (first_query_value(&req.path, key), want) {
            (None, _) => false,
            (Some(_), Str::Present) => true,
            (Some(v), s) => string_match(s, v)?,
        };
        if !ok {
            return Ok(false);
        }
    }
    Ok(true)
}

/// A header condition; names that are not plain header names are out of scope.
fn istio_value_match<'a>(name: &str, cond: Option<&'a StringMatch>) -> Result<Str<'a>> {
    if name.starts_with(':') || name.starts_with('@') || name.eq_ignore_ascii_case("host") {
        return unsupported("pseudo-header or claim names");
    }
    match cond {
        None => Ok(Str::Present),
        Some(c) => Ok(star_is_presence(one_of(c)?)),
    }
}

/// Istio reads `regex: "*"` as a presence match.
fn star_is_presence(s: Str<'_>) -> Str<'_> {
    match s {
        Str::Regex("*") => Str::Present,
        s => s,
    }
}

/// One StringMatch operand.
#[derive(Clone, Copy, Debug)]
enum Str<'a> {
    Exact(&'a str),
    Prefix(&'a str),
    Regex(&'a str),
    Present,
}

fn one_of(m: &StringMatch) -> Result<Str<'_>> {
    match (&m.exact, &m.prefix, &m.regex) {
        (Some(e), None, None) => Ok(Str::Exact(e)),
        (None, Some(p), None) => Ok(Str::Prefix(p)),
        (None, None, Some(r)) => Ok(Str::Regex(r)),
        (None, None, None) => Ok(Str::Present),
        _ => unsupported("a StringMatch with several operands"),
    }
}

fn string_match(s: Str<'_>, value: &str) -> Result<bool> {
    Ok(match s {
        Str::Exact(e) => value == e,
        Str::Prefix(p) => value.starts_with(p),
        Str::Regex(r) => full_match(r, value)?,
        Str::Present => true,
    })
}

/// The destination `draw` picks among a rule's `route` entries: one destination gets every
/// request whatever its weight; several split `draw % Σweights` over consecutive intervals
/// `[Σ earlier weights, + own weight)` in declaration order (a missing weight is 0).
fn istio_forward(
    rule: &HttpRouteRule,
    rule_ref: RuleRef,
    ns: &str,
    destination_rules: &[&Object<DestinationRuleSpec>],
    draw: u64,
) -> Result<Answer> {
    if rule.redirect.is_some()
        || rule.direct_response.is_some()
        || rule.delegate.is_some()
        || rule.fault.is_some()
    {
        return unsupported("redirect, direct response, delegate or fault");
    }
    let Some(route) = &rule.route else {
        return unsupported("a rule without route");
    };
    let mut dests = Vec::new();
    for d in route {
        let Some(d) = d else {
            return unsupported("a null destination");
        };
        let Some(dest) = &d.destination else {
            return unsupported("a destination without destination");
        };
        let port = match dest.port.as_ref().and_then(|p| p.number) {
            Some(p) => Some(u16::try_from(p).map_err(|_| Unsupported("port".into()))?),
            None => None,
        };
        let weight = d.weight.unwrap_or(0);
        if weight < 0 {
            return unsupported("negative weight");
        }
        dests.push((
            Dest {
                host: fqdn(&dest.host, ns),
                subset: dest.subset.clone(),
                port,
            },
            weight as u64,
        ));
    }
    let picked = if dests.len() == 1 {
        Some(0)
    } else {
        pick(&dests.iter().map(|(_, w)| *w).collect::<Vec<_>>(), draw)
    };
    let Some(j) = picked else {
        return unsupported("all weights 0");
    };
    let dest = dests.swap_remove(j).0;
    // A subset no DestinationRule for the host defines names a cluster that does not exist:
    // 503 (SEMANTICS §6.17).
    let status = match &dest.subset {
        None => 200,
        Some(s) => {
            let defined = destination_rules.iter().any(|dr| {
                dr.spec
                    .host
                    .as_deref()
                    .is_some_and(|h| fqdn(h, ns_of(dr)) == dest.host)
                    && dr
                        .spec
                        .subsets
                        .iter()
                        .flatten()
                        .any(|x| x.name.as_deref() == Some(s))
            });
            if defined { 200 } else { 503 }
        }
    };
    Ok(answer(Kind::Matched, Some(rule_ref), Some(dest), status))
}

/// The index whose interval holds `draw % Σweights`; `None` when the weights sum to 0.
fn pick(weights: &[u64], draw: u64) -> Option<usize> {
    let total: u64 = weights.iter().sum();
    if total == 0 {
        return None;
    }
    let u = draw % total;
    let mut start = 0;
    for (j, w) in weights.iter().enumerate() {
        if start <= u && u < start + w {
            return Some(j);
        }
        start += w;
    }
    unreachable!("the intervals cover [0, total)")
}

// ---------------------------------------------------------------------------------------------
// Gateway API
// ---------------------------------------------------------------------------------------------

/// How well a route hostname matches the request host; larger wins. Exact names beat
/// wildcards, longer names beat shorter ones, and a route without hostnames (every host) comes
/// last (HTTPRoute `spec.hostnames`: "precedence must be given to rules from the HTTPRoute
/// with the largest number of characters in a matching non-wildcard hostname, then characters
/// in a matching hostname").
fn hostname_rank(route: &HttpRouteSpec, host: &str) -> Option<(u8, usize)> {
    if route.hostnames.is_empty() {
        return Some((0, 0));
    }
    route
        .hostnames
        .iter()
        .filter_map(|h| {
            let h = h.to_ascii_lowercase();
            if h == host {
                Some((2, h.len()))
            } else if let Some(suffix) = h.strip_prefix('*') {
                // `*.example.com` matches one or more labels before `.example.com`.
                (host.len() > suffix.len() && host.ends_with(suffix)).then_some((1, h.len()))
            } else {
                None
            }
        })
        .max()
}

/// The specificity of one match, larger wins, in the order HTTPRoute `spec.rules` gives: an
/// Exact path, then the longest PathPrefix, then a method, then most headers, then most query
/// parameters. RegularExpression paths rank below every prefix, longer patterns first (the
/// specification leaves regex precedence to implementations; this is Istio's order). A
/// PathPrefix counts the characters of its element-wise prefix, so `/api/` and `/api` (which
/// match the same paths) rank alike, and the default `/` counts one.
fn specificity(m: &HttpRouteMatch) -> (u8, usize, bool, usize, usize) {
    let (rank, len) = match path_condition(m) {
        PathCond::Exact(v) => (3, v.len()),
        PathCond::Prefix(v) => (2, segment_prefix(v).len()),
        PathCond::Regex(r) => (1, r.len()),
    };
    (
        rank,
        len,
        m.method.is_some(),
        first_of_each(&m.headers, true).len(),
        first_of_each(&m.query_params, false).len(),
    )
}

enum PathCond<'a> {
    Exact(&'a str),
    Prefix(&'a str),
    Regex(&'a str),
}

/// The path condition; absent means `PathPrefix /`.
fn path_condition(m: &HttpRouteMatch) -> PathCond<'_> {
    let Some(p) = &m.path else {
        return PathCond::Prefix("/");
    };
    let v = p.value.as_deref().unwrap_or("/");
    match p.kind.as_deref().unwrap_or("PathPrefix") {
        "Exact" => PathCond::Exact(v),
        "RegularExpression" => PathCond::Regex(v),
        _ => PathCond::Prefix(v),
    }
}

/// A PathPrefix value without its trailing `/` (`/` itself stays).
fn segment_prefix(v: &str) -> &str {
    let t = v.trim_end_matches('/');
    if t.is_empty() { "/" } else { t }
}

/// Of entries with equivalent names only the first counts (header names compare
/// case-insensitively, query parameter names exactly).
fn first_of_each(list: &[NameValueMatch], ignore_case: bool) -> Vec<&NameValueMatch> {
    let mut out: Vec<&NameValueMatch> = Vec::new();
    for x in list {
        let same = |y: &&NameValueMatch| {
            if ignore_case {
                y.name.eq_ignore_ascii_case(&x.name)
            } else {
                y.name == x.name
            }
        };
        if !out.iter().any(same) {
            out.push(x);
        }
    }
    out
}

fn gwapi_value_match(cond: &NameValueMatch, value: &str) -> Result<bool> {
    match cond.kind.as_deref().unwrap_or("Exact") {
        "Exact" => Ok(value == cond.value),
        "RegularExpression" => full_match(&cond.value, value),
        other => unsupported(format!("match type {other}")),
    }
}

fn gwapi_match(m: &HttpRouteMatch, req: &OwnedRequest, path: &str) -> Result<bool> {
    let path_ok = match path_condition(m) {
        PathCond::Exact(v) => path == v,
        // Element-wise: `/abc` matches `/abc`, `/abc/` and `/abc/x`, never `/abcd`.
        PathCond::Prefix(v) => {
            let v = segment_prefix(v);
            v == "/"
                || path == v
                || path
                    .strip_prefix(v)
                    .is_some_and(|rest| rest.starts_with('/'))
        }
        PathCond::Regex(r) => full_match(r, path)?,
    };
    if !path_ok {
        return Ok(false);
    }
    if let Some(method) = &m.method
        && req.method != *method
    {
        return Ok(false);
    }
    for h in first_of_each(&m.headers, true) {
        if h.name.starts_with(':') || h.name.eq_ignore_ascii_case("host") {
            return unsupported("pseudo-header names");
        }
        match header_value(req, &h.name) {
            Some(v) if gwapi_value_match(h, &v)? => {}
            _ => return Ok(false),
        }
    }
    for q in first_of_each(&m.query_params, false) {
        match first_query_value(&req.path, &q.name) {
            Some(v) if gwapi_value_match(q, v)? => {}
            _ => return Ok(false),
        }
    }
    Ok(true)
}

fn gateway_api(
    config: &Config,
    req: &OwnedRequest,
    path: &str,
    gw_ns: &str,
    gw_name: &str,
    draw: u64,
) -> Result<Answer> {
    let mut gateway: Option<&Object<GatewaySpec>> = None;
    let mut routes: Vec<&Object<HttpRouteSpec>> = Vec::new();
    let mut services: Vec<&Object<ServiceSpec>> = Vec::new();
    for r in &config.resources {
        match r {
            Resource::KubeGateway(o) if ns_of(o) == gw_ns && o.metadata.name == gw_name => {
                gateway = Some(o);
            }
            Resource::HttpRoute(o) => routes.push(o),
            Resource::Service(o) => services.push(o),
            Resource::GrpcRoute(_) | Resource::Gateway(_) => {
                return unsupported("GRPCRoute or Istio Gateway");
            }
            Resource::VirtualService(o) if !o.spec.gateways.is_empty() => {
                return unsupported("gateway-bound VirtualService");
            }
            _ => {}
        }
    }
    let no_host = Ok(answer(Kind::NoVirtualHost, None, None, 404));
    let Some(gateway) = gateway else {
        return no_host;
    };
    // The listener port: the request's, else the port it is addressed to.
    let port = meshroute::addressed_port(req);
    let listeners: Vec<_> = gateway
        .spec
        .listeners
        .iter()
        .filter(|l| l.port == Some(i64::from(port)))
        .collect();
    let listener = match listeners.as_slice() {
        [] => return no_host,
        [l] => *l,
        _ => return unsupported("several listeners on one port"),
    };
    if listener.hostname.is_some()
        || listener.protocol.as_deref() != Some("HTTP")
        || listener
            .allowed_routes
            .as_ref()
            .is_some_and(|a| !a.kinds.is_empty())
    {
        return unsupported("listener hostname, protocol or allowedRoutes.kinds");
    }
    let from = listener
        .allowed_routes
        .as_ref()
        .and_then(|a| a.namespaces.as_ref())
        .and_then(|n| n.from.as_deref())
        .unwrap_or("Same");
    let host = request_host(&req.authority);

    // Every (route, rule, match) that holds, with its precedence key; the smallest key wins.
    type Key = (
        Reverse<(u8, usize)>,
        Reverse<(u8, usize, bool, usize, usize)>,
        String,
        String,
        usize,
        usize,
    );
    let mut best: Option<(Key, &Object<HttpRouteSpec>, usize, usize)> = None;
    let mut any_host = false;
    for route in &routes {
        let rns = ns_of(route);
        if !route.metadata.annotations.is_empty() {
            return unsupported("route annotations");
        }
        let mut attached = false;
        for p in &route.spec.parent_refs {
            if p.section_name.is_some()
                || p.port.is_some()
                || p.group
                    .as_deref()
                    .is_some_and(|g| g != "gateway.networking.k8s.io")
                || p.kind.as_deref().is_some_and(|k| k != "Gateway")
            {
                return unsupported("parentRef sectionName, port, group or kind");
            }
            if p.namespace.as_deref().unwrap_or(rns) == gw_ns && p.name == gw_name {
                attached = true;
            }
        }
        let admitted = match from {
            "All" => true,
            "Same" => rns == gw_ns,
            _ => return unsupported("allowedRoutes selector"),
        };
        if !attached || !admitted {
            continue;
        }
        if route.spec.hostnames.iter().any(|h| h == "*") {
            return unsupported("hostname *");
        }
        let Some(hrank) = hostname_rank(&route.spec, &host) else {
            continue;
        };
        any_host = true;
        for (i, rule) in route.spec.rules.iter().enumerate() {
            let implicit = [HttpRouteMatch::default()];
            let matches: &[HttpRouteMatch] = if rule.matches.is_empty() {
                &implicit
            } else {
                &rule.matches
            };
            for (j, m) in matches.iter().enumerate() {
                if !gwapi_match(m, req, path)? {
                    continue;
                }
                let key: Key = (
                    Reverse(hrank),
                    Reverse(specificity(m)),
                    route
                        .metadata
                        .creation_timestamp
                        .clone()
                        .unwrap_or_default(),
                    format!("{rns}/{}", route.metadata.name),
                    i,
                    j,
                );
                if best.as_ref().is_none_or(|(k, ..)| key < *k) {
                    best = Some((key, route, i, j));
                }
            }
        }
    }
    if !any_host {
        return no_host;
    }
    let Some((_, route, i, j)) = best else {
        return Ok(answer(Kind::NoRoute, None, None, 404));
    };
    let rns = ns_of(route);
    let rule = &route.spec.rules[i];
    let rule_ref = RuleRef {
        resource: format!("HTTPRoute {rns}/{}", route.metadata.name),
        index: i,
        block: Some(j),
    };
    if !rule.filters.is_empty() {
        return unsupported("filters");
    }
    // Weights default to 1 and are taken as written, also for a single backend: weight 0
    // gets nothing, and a rule whose backends all weigh 0 (or that has none) answers 500.
    let mut weights = Vec::new();
    for b in &rule.backend_refs {
        if !b.filters.is_empty() {
            return unsupported("backend filters");
        }
        let w = b.weight.unwrap_or(1);
        if !(0..=1_000_000).contains(&w) {
            return unsupported("weight out of range");
        }
        weights.push(w as u64);
    }
    let Some(k) = pick(&weights, draw) else {
        return Ok(answer(Kind::Matched, Some(rule_ref), None, 500));
    };
    let b = &rule.backend_refs[k];
    if b.group
        .as_deref()
        .is_some_and(|g| !g.is_empty() && g != "core")
        || b.kind.as_deref().is_some_and(|x| x != "Service")
    {
        return unsupported("backend group or kind");
    }
    let bns = b.namespace.as_deref().unwrap_or(rns);
    if bns != rns {
        return unsupported("cross-namespace backend");
    }
    let port = match b.port {
        Some(p) => Some(u16::try_from(p).map_err(|_| Unsupported("backend port".into()))?),
        None => None,
    };
    // A backend that does not exist gets its share answered with 500. Without any Service
    // loaded there is nothing to check against, and backends are taken to exist.
    let exists = services.is_empty()
        || services
            .iter()
            .any(|s| s.metadata.name == b.name && ns_of(s) == bns);
    let dest = Dest {
        host: format!("{}.{bns}.svc.{CLUSTER_DOMAIN}", b.name.to_ascii_lowercase()),
        subset: None,
        port,
    };
    Ok(answer(
        Kind::Matched,
        Some(rule_ref),
        Some(dest),
        if exists { 200 } else { 500 },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_segments() {
        assert_eq!(remove_dot_segments("/a/./b"), "/a/b");
        assert_eq!(remove_dot_segments("/a/../b"), "/b");
        assert_eq!(remove_dot_segments("/a/b/.."), "/a/");
        assert_eq!(remove_dot_segments("/.."), "/");
    }
}
