//! Gateway API routes (`HTTPRoute`, `GRPCRoute`) into the table: attachment to Gateway
//! listeners (sectionName, port, allowedRoutes, hostname intersection) or to Services (GAMMA),
//! rules lowered into the same [`Rule`] type as VirtualService rules, and the specificity
//! precedence the Gateway API specifies, computed once here.
//!
//! Precedence across every rule of every route attached to one listener host: exact path,
//! then longest prefix (regex after prefix, as Istio orders them), then a method match, then
//! most header matches, then most query matches, then the oldest route, then
//! `namespace/name`, then rule order, then match order. Host specificity comes first through
//! virtual-host selection (exact host, then the longest wildcard).

use std::cmp::Reverse;
use std::collections::BTreeMap;

use crate::action::{
    Action, Cors, Destination, DirectResponse, Forward, HeaderEdits, HeaderOps, Mirror,
    PathRewrite, PortFrom, Redirect, RedirectPort, Retries, Rewrite, Unavailable,
    WeightedDestination,
};
use crate::block::Block;
use crate::config::Object;
use crate::config::common::Duration;
use crate::config::gateway_api::{
    GatewaySpec, GrpcRouteSpec, HeaderModifier, HeaderNameValue, HttpBackendRef, HttpRouteFilter,
    HttpRouteSpec, LabelSelector, Listener, NameValueMatch, ParentRef, ReferenceGrantSpec,
    ServiceSpec,
};
use crate::error::ResourceId;
use crate::predicate::StrMatch;
use crate::predicate::header::{HeaderMatch, HeaderSource};
use crate::predicate::path::PathMatch;
use crate::predicate::query::QueryMatch;
use crate::split::Split;
use crate::table::{Claim, Context, Entry, Inner, Rule, Source, Visibility};

use super::report::Report;

/// Where the resources routes refer to can be looked up.
pub(crate) struct World<'a> {
    pub(crate) gateways: Vec<&'a Object<GatewaySpec>>,
    pub(crate) grants: Vec<&'a Object<ReferenceGrantSpec>>,
    /// `None` when no Service is loaded: backends are then assumed to exist.
    pub(crate) services: Option<Vec<&'a Object<ServiceSpec>>>,
    /// Namespace labels, from loaded `Namespace` resources.
    pub(crate) namespaces: BTreeMap<String, BTreeMap<String, String>>,
    pub(crate) default_ns: &'a str,
    pub(crate) domain: &'a str,
    pub(crate) options: &'a super::CompileOptions,
    /// The compile's regexes, shared with the VirtualServices lowered before.
    pub(crate) regexes: std::rc::Rc<std::cell::RefCell<super::regexes::Regexes>>,
}

/// A route of either kind, seen through what lowering needs.
pub(crate) enum Route<'a> {
    Http(&'a Object<HttpRouteSpec>),
    Grpc(&'a Object<GrpcRouteSpec>),
}

impl Route<'_> {
    fn kind(&self) -> &'static str {
        match self {
            Route::Http(_) => "HTTPRoute",
            Route::Grpc(_) => "GRPCRoute",
        }
    }
    fn meta(&self) -> &crate::config::Metadata {
        match self {
            Route::Http(o) => &o.metadata,
            Route::Grpc(o) => &o.metadata,
        }
    }
    fn parent_refs(&self) -> &[ParentRef] {
        match self {
            Route::Http(o) => &o.spec.parent_refs,
            Route::Grpc(o) => &o.spec.parent_refs,
        }
    }
    fn hostnames(&self) -> &[String] {
        match self {
            Route::Http(o) => &o.spec.hostnames,
            Route::Grpc(o) => &o.spec.hostnames,
        }
    }
}

/// Precedence of one (rule, match) entry; smaller sorts first (wins).
/// The match-level part of the precedence key; smaller sorts first.
type Specificity = (
    Reverse<u8>,
    Reverse<usize>,
    Reverse<bool>,
    Reverse<usize>,
    Reverse<usize>,
);

type Key = (
    Reverse<u8>,
    Reverse<usize>,
    Reverse<bool>,
    Reverse<usize>,
    Reverse<usize>,
    usize,
    usize,
    usize,
);

/// Where one route's entries go: a context, a listener port (gateways), a host, and who sees it.
struct Attachment {
    context: Option<(String, String)>,
    /// The listener port (gateways), or the Service port a GAMMA `parentRef.port` limits to.
    port: Option<u16>,
    /// The listener's hostname (`*` when it has none, and for the mesh).
    listener: String,
    hosts: Vec<String>,
    /// GAMMA consumer route: only clients of this namespace see it.
    consumer: Option<String>,
}

/// An entry with what placement needs: its precedence key and whether it is a gRPC route's.
#[derive(Clone, Copy)]
struct Keyed {
    key: Key,
    entry: Entry,
    grpc: bool,
}

/// `None` for the mesh, `Some((namespace, name))` for a Gateway.
type ContextKey = Option<(String, String)>;

/// Claims being assembled: (context, port, listener hostname, host, consumer namespace) → entries.
type Pending = BTreeMap<
    (
        Option<(String, String)>,
        Option<u16>,
        String,
        String,
        Option<String>,
    ),
    Vec<Keyed>,
>;

/// Lowers every valid route into `inner` and places it, reporting attachment problems as
/// diagnostics and rule problems as rejections.
pub(crate) fn place_routes(
    routes: &mut [Route<'_>],
    world: &World<'_>,
    inner: &mut Inner,
    reports: &mut Vec<(ResourceId, String, Report)>,
) {
    // Oldest first, then "{namespace}/{name}": the route-level tie-breakers of the precedence.
    let full = |r: &Route<'_>| {
        format!(
            "{}/{}",
            r.meta().namespace.as_deref().unwrap_or(world.default_ns),
            r.meta().name
        )
    };
    routes.sort_by(|a, b| {
        let ta = a.meta().creation_timestamp.as_deref().unwrap_or("");
        let tb = b.meta().creation_timestamp.as_deref().unwrap_or("");
        ta.cmp(tb).then_with(|| full(a).cmp(&full(b)))
    });
    let mut pending = Pending::new();
    for (order, route) in routes.iter().enumerate() {
        let meta = route.meta();
        let ns = meta.namespace.as_deref().unwrap_or(world.default_ns);
        let id = ResourceId::new(route.kind(), ns, &meta.name);
        let source_name = match route {
            Route::Http(o) => o.source.clone(),
            Route::Grpc(o) => o.source.clone(),
        };
        let mut report = Report::with_regexes(&world.regexes);
        let source_index = inner.sources.len() as u32;
        let rule_base = inner.rules.len() as u32;
        // GAMMA routes (every parent a Service) may send to any namespace without a grant.
        let mesh_only = !route.parent_refs().is_empty()
            && route
                .parent_refs()
                .iter()
                .all(|p| p.kind.as_deref() == Some("Service"));
        let sticky = super::sticky_key(&meta.annotations, world.options, &mut report);
        let ctx = RouteCtx {
            ns,
            kind: route.kind(),
            mesh_only,
            world,
            sticky,
        };
        let (rules, keyed) = match route {
            Route::Http(o) => lower_http(o, &ctx, order, source_index, &mut report),
            Route::Grpc(o) => lower_grpc(o, &ctx, order, source_index, &mut report),
        };
        let attachments = attach(route, ns, world, &mut report);
        let failed = report.has_errors();
        reports.push((id.clone(), source_name, report));
        if failed {
            continue;
        }
        inner.sources.push(Source {
            kind: route.kind().into(),
            namespace: ns.into(),
            name: meta.name.as_str().into(),
        });
        inner.rules.extend(rules);
        let grpc = matches!(route, Route::Grpc(_));
        for a in attachments {
            for host in &a.hosts {
                let slot = pending
                    .entry((
                        a.context.clone(),
                        a.port,
                        a.listener.clone(),
                        host.clone(),
                        a.consumer.clone(),
                    ))
                    .or_default();
                for (key, e) in &keyed {
                    slot.push(Keyed {
                        key: *key,
                        entry: Entry {
                            rule: e.rule + rule_base,
                            block: e.block,
                        },
                        grpc,
                    });
                }
            }
        }
    }
    materialize(&pending, inner, reports);
}

/// Builds the claims of every host of every (context, port) from the pending entries.
///
/// - Listener isolation: a host is served by the most specific listener hostname that covers
///   it, and only with routes attached to that listener.
/// - Within it, the host's own rules come first, then those of less specific route hostnames
///   that cover it, each in precedence order.
/// - In the mesh, a Service port's routes merge with the routes for every port.
/// - HTTPRoutes and GRPCRoutes never merge on one host: the oldest route's kind keeps it.
fn materialize(
    pending: &Pending,
    inner: &mut Inner,
    reports: &mut Vec<(ResourceId, String, Report)>,
) {
    let mut groups: BTreeMap<(ContextKey, Option<u16>), Vec<String>> = BTreeMap::new();
    for (c, p, l, h, _) in pending.keys() {
        let g = groups.entry((c.clone(), *p)).or_default();
        for x in [l, h] {
            if !g.contains(x) {
                g.push(x.clone());
            }
        }
    }
    for ((context, port), hosts) in groups {
        let listeners: Vec<&String> = {
            let mut l: Vec<&String> = pending
                .keys()
                .filter(|(c, p, ..)| *c == context && *p == port)
                .map(|(_, _, l, ..)| l)
                .collect();
            l.sort();
            l.dedup();
            l
        };
        let consumers: Vec<Option<String>> = {
            let mut c: Vec<Option<String>> = pending
                .keys()
                .filter(|(c, p, ..)| {
                    *c == context && (*p == port || (context.is_none() && p.is_none()))
                })
                .map(|(.., n)| n.clone())
                .collect();
            c.sort_by_key(|n| (n.is_none(), n.clone()));
            c.dedup();
            c
        };
        for v in &hosts {
            // The listener that serves `v`: exact, then the longest wildcard, then `*`.
            let owner = listeners
                .iter()
                .filter(|l| **l == v || covered(v, l))
                .max_by_key(|l| specificity(l))
                .map(|l| l.as_str())
                .unwrap_or("*");
            for consumer in &consumers {
                let mut found: Vec<(usize, Keyed)> = Vec::new();
                for ((c, p, l, h, n), entries) in pending {
                    let same_port = *p == port || (context.is_none() && p.is_none());
                    if *c != context
                        || !same_port
                        || l != owner
                        || n != consumer
                        || !(h == v || covered(v, h))
                    {
                        continue;
                    }
                    found.extend(entries.iter().map(|k| (usize::MAX - specificity(h), *k)));
                }
                if found.is_empty() {
                    let shadows = listeners.iter().any(|l| *l != v && covered(v, l));
                    if consumer.is_none() && context.is_some() && owner == v && shadows {
                        // A listener hostname with routes elsewhere on the port: 404, not a
                        // less specific listener's routes.
                        insert_claim(inner, &context, port, v, None, Vec::new());
                    }
                    continue;
                }
                // One kind per host: the oldest route's (the key's route order).
                let oldest = found
                    .iter()
                    .min_by_key(|(_, k)| k.key.5)
                    .map(|(_, k)| k.grpc)
                    .unwrap_or(false);
                if found.iter().any(|(_, k)| k.grpc != oldest) {
                    let loser = if oldest { "HTTPRoute" } else { "GRPCRoute" };
                    let mut r = Report::default();
                    r.warn(
                        "not-attached",
                        "spec.hostnames",
                        format!(
                            "host {v:?} is served by an older {}; {loser}s are not merged with it and do not serve this host",
                            if oldest { "GRPCRoute" } else { "HTTPRoute" }
                        ),
                    );
                    reports.push((ResourceId::new(loser, "", v), String::new(), r));
                    found.retain(|(_, k)| k.grpc == oldest);
                }
                found.sort_by_key(|(rank, k)| (*rank, k.key));
                let mut entries: Vec<Entry> = Vec::new();
                for (_, k) in found {
                    if !entries.contains(&k.entry) {
                        entries.push(k.entry);
                    }
                }
                insert_claim(inner, &context, port, v, consumer.as_deref(), entries);
            }
        }
    }
}

/// How specific a hostname is: exact names beat wildcards, longer beats shorter, `*` last.
fn specificity(host: &str) -> usize {
    match host {
        "*" => 0,
        h if h.starts_with('*') => h.len(),
        h => 1_000 + h.len(),
    }
}

fn insert_claim(
    inner: &mut Inner,
    context: &Option<(String, String)>,
    port: Option<u16>,
    host: &str,
    consumer: Option<&str>,
    entries: Vec<Entry>,
) {
    let ctx = super::context_mut(&mut inner.contexts, context);
    let hosts = match port {
        Some(p) => listener_hosts(ctx, p),
        None => &mut ctx.hosts,
    };
    let vhost = hosts.get_or_insert(host, || format!("{host} (Gateway API)").into());
    let visibility = match consumer {
        Some(ns) => Visibility::Only(vec![ns.into()]),
        None => Visibility::Public,
    };
    vhost.claims.push(Claim::new(visibility, entries));
}

/// What lowering a route's rules needs to know about the route.
struct RouteCtx<'a> {
    ns: &'a str,
    kind: &'static str,
    /// Every parent is a Service (GAMMA): cross-namespace backends need no ReferenceGrant.
    mesh_only: bool,
    world: &'a World<'a>,
    /// The sticky-split key, if any.
    sticky: Option<crate::hash::KeySource>,
}

fn listener_hosts(ctx: &mut Context, port: u16) -> &mut crate::table::Hosts {
    let i = match ctx.listeners.iter().position(|(p, _)| *p == port) {
        Some(i) => i,
        None => {
            ctx.listeners.push((port, Default::default()));
            ctx.listeners.len() - 1
        }
    };
    &mut ctx.listeners[i].1
}

/// Attachment of a route to its parents.
fn attach(route: &Route<'_>, ns: &str, world: &World<'_>, report: &mut Report) -> Vec<Attachment> {
    let mut out = Vec::new();
    // Per route hostname: whether a listener of a Gateway the route attached to takes it.
    let mut taken = vec![false; route.hostnames().len()];
    let mut attached_to: Vec<String> = Vec::new();
    for (i, p) in route.parent_refs().iter().enumerate() {
        let path = format!("spec.parentRefs[{i}]");
        let group = p.group.as_deref().unwrap_or("gateway.networking.k8s.io");
        let kind = p.kind.as_deref().unwrap_or("Gateway");
        let pns = p.namespace.as_deref().unwrap_or(ns);
        if kind == "Service" && (group.is_empty() || group == "core") {
            let host = format!("{}.{pns}.svc.{}", p.name.to_ascii_lowercase(), world.domain);
            let mut service_port = p.port.map(|x| x as u16);
            if let (Some(section), Some(services)) = (&p.section_name, &world.services) {
                let port = services
                    .iter()
                    .find(|s| s.metadata.name == p.name && s.namespace(world.default_ns) == pns)
                    .and_then(|s| {
                        s.spec
                            .ports
                            .iter()
                            .find(|sp| sp.name.as_deref() == Some(section))
                    })
                    .and_then(|sp| sp.port);
                match port {
                    Some(port) => service_port = Some(port as u16),
                    None => report.warn(
                        "not-attached",
                        &path,
                        format!(
                            "Service {pns}/{} has no port named {section:?} (NoMatchingParent)",
                            p.name
                        ),
                    ),
                }
            }
            let consumer = (pns != ns).then(|| ns.to_string());
            out.push(Attachment {
                context: None,
                port: service_port,
                listener: "*".into(),
                hosts: vec![host],
                consumer,
            });
            continue;
        }
        if kind != "Gateway" || group != "gateway.networking.k8s.io" {
            report.warn(
                "not-attached",
                &path,
                format!("parent kind {group}/{kind} is not supported (NoMatchingParent)"),
            );
            continue;
        }
        let Some(gw) = world
            .gateways
            .iter()
            .find(|g| g.metadata.name == p.name && g.namespace(world.default_ns) == pns)
        else {
            report.warn(
                "not-attached",
                &path,
                format!("Gateway {pns}/{} is not in the configuration; the route is not attached to it (NoMatchingParent)", p.name),
            );
            continue;
        };
        let mut matched_listener = false;
        let mut allowed = false;
        let mut attached = false;
        for l in &gw.spec.listeners {
            if p.section_name
                .as_deref()
                .is_some_and(|s| l.name.as_deref() != Some(s))
            {
                continue;
            }
            if p.port.is_some_and(|port| l.port != Some(port)) {
                continue;
            }
            if !matches!(l.protocol.as_deref(), Some("HTTP" | "HTTPS")) {
                continue;
            }
            matched_listener = true;
            if !admits(l, route.kind(), ns, pns, world) {
                continue;
            }
            allowed = true;
            let hosts = intersect(l.hostname.as_deref(), route.hostnames());
            if hosts.is_empty() {
                continue;
            }
            attached = true;
            for (k, h) in route.hostnames().iter().enumerate() {
                taken[k] |= !intersect(l.hostname.as_deref(), std::slice::from_ref(h)).is_empty();
            }
            out.push(Attachment {
                context: Some((pns.to_string(), p.name.clone())),
                port: Some(l.port.unwrap_or(0) as u16),
                listener: l.hostname.as_deref().unwrap_or("*").to_ascii_lowercase(),
                hosts,
                consumer: None,
            });
        }
        let reason = if !matched_listener {
            "no HTTP or HTTPS listener matches the sectionName and port (NoMatchingParent)"
        } else if !allowed {
            "the listeners do not allow routes of this kind from this namespace (NotAllowedByListeners)"
        } else if !attached {
            "no route hostname intersects a listener hostname (NoMatchingListenerHostname)"
        } else {
            attached_to.push(format!("{pns}/{}", p.name));
            continue;
        };
        report.warn(
            "not-attached",
            &path,
            format!("not attached to Gateway {pns}/{}: {reason}", p.name),
        );
    }
    if !attached_to.is_empty() {
        for (k, h) in route.hostnames().iter().enumerate() {
            if !taken[k] {
                report.warn(
                    "hostname-no-listener",
                    format!("spec.hostnames[{k}]"),
                    format!(
                        "hostname {h:?} intersects no listener hostname of Gateway{} {}; the route does not serve it there (NoMatchingListenerHostname for this hostname)",
                        if attached_to.len() == 1 { "" } else { "s" },
                        attached_to.join(", ")
                    ),
                );
            }
        }
    }
    out
}

/// Whether listener `l` of a Gateway in `gw_ns` admits a route of `kind` from `route_ns`.
fn admits(l: &Listener, kind: &str, route_ns: &str, gw_ns: &str, world: &World<'_>) -> bool {
    let allowed = l.allowed_routes.as_ref();
    let kinds = allowed.map(|a| a.kinds.as_slice()).unwrap_or(&[]);
    if !kinds.is_empty()
        && !kinds.iter().any(|k| {
            k.kind.as_deref() == Some(kind)
                && k.group.as_deref().unwrap_or("gateway.networking.k8s.io")
                    == "gateway.networking.k8s.io"
        })
    {
        return false;
    }
    let from = allowed.and_then(|a| a.namespaces.as_ref());
    match from.and_then(|n| n.from.as_deref()).unwrap_or("Same") {
        "All" => true,
        "Same" => route_ns == gw_ns,
        "Selector" => {
            let labels = world.namespaces.get(route_ns);
            match (from.and_then(|n| n.selector.as_ref()), labels) {
                (Some(sel), Some(labels)) => selects(sel, labels),
                _ => false,
            }
        }
        _ => false,
    }
}

fn selects(sel: &LabelSelector, labels: &BTreeMap<String, String>) -> bool {
    sel.match_labels
        .iter()
        .all(|(k, v)| labels.get(k) == Some(v))
        && sel.match_expressions.iter().all(|e| {
            let v = labels.get(&e.key);
            match e.operator.as_str() {
                "In" => v.is_some_and(|v| e.values.contains(v)),
                "NotIn" => v.is_none_or(|v| !e.values.contains(v)),
                "Exists" => v.is_some(),
                "DoesNotExist" => v.is_none(),
                _ => false,
            }
        })
}

/// Whether `host` (exact or `*.` wildcard) is covered by wildcard `pattern` (`*.suffix`, or `*`
/// for every host): at least one more label.
fn covered(host: &str, pattern: &str) -> bool {
    if pattern == "*" {
        return host != "*";
    }
    match pattern.strip_prefix('*') {
        Some(suffix) => {
            host.len() > suffix.len()
                && host.ends_with(suffix)
                && !host[..host.len() - suffix.len()].is_empty()
        }
        None => false,
    }
}

/// Route hostnames intersected with a listener hostname: the narrower name of each pair that
/// overlaps; no route hostnames means the listener's (or `*`).
pub(crate) fn intersect(listener: Option<&str>, route: &[String]) -> Vec<String> {
    let l = listener.unwrap_or("*").to_ascii_lowercase();
    if route.is_empty() {
        return vec![l];
    }
    let mut out: Vec<String> = Vec::new();
    for r in route {
        let r = r.to_ascii_lowercase();
        let pick = if l == "*" || r == l || covered(&r, &l) {
            Some(r)
        } else if covered(&l, &r) {
            Some(l.clone())
        } else {
            None
        };
        if let Some(h) = pick
            && !out.contains(&h)
        {
            out.push(h);
        }
    }
    out
}

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

fn str_match(kind: Option<&str>, value: &str, path: &str, report: &mut Report) -> Option<StrMatch> {
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
    path: &str,
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
            &format!("{path}.headers[{i}]"),
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

/// The parts of an HTTPRoute or GRPCRoute rule that lowering treats alike.
struct RuleParts<'a, M> {
    name: Option<&'a str>,
    matches: &'a [M],
    filters: &'a [HttpRouteFilter],
    backends: &'a [HttpBackendRef],
    timeouts: Option<&'a crate::config::gateway_api::HttpRouteTimeouts>,
    retry: Option<&'a crate::config::gateway_api::HttpRouteRetry>,
}

/// Lowers the rules of one route. `lower_match` turns one match (at its field path) into a
/// block's conditions and its specificity; a rule without matches gets one default match.
fn lower_rules<'a, M: Default + 'a>(
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
        let path = format!("spec.rules[{i}]");
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
                Entry {
                    rule: rules.len() as u32,
                    block: Some(j as u16),
                },
            ));
            block.route_name = name.clone();
            block.path = block_path(&path, &mpath, r.matches.is_empty());
            blocks.push(block);
        }
        let action = lower_action(
            r.filters, r.backends, r.timeouts, r.retry, rc, &path, report,
        );
        let headers = header_ops(r.filters);
        rules.push(Rule {
            source,
            index: i as u32,
            name,
            blocks,
            action,
            headers,
        });
    }
    (rules, keyed)
}

fn lower_http(
    o: &Object<HttpRouteSpec>,
    rc: &RouteCtx<'_>,
    order: usize,
    source: u32,
    report: &mut Report,
) -> (Vec<Rule>, Vec<(Key, Entry)>) {
    let parts = o.spec.rules.iter().map(|r| RuleParts {
        name: r.name.as_deref(),
        matches: &r.matches,
        filters: &r.filters,
        backends: &r.backend_refs,
        timeouts: r.timeouts.as_ref(),
        retry: r.retry.as_ref(),
    });
    lower_rules(
        parts,
        rc,
        order,
        source,
        report,
        |m: &crate::config::gateway_api::HttpRouteMatch, mpath, report| {
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
            let (headers, header_fields) = header_matches(&m.headers, mpath, report);
            let mut query: Vec<QueryMatch> = Vec::new();
            for (k, q) in m.query_params.iter().enumerate() {
                if query.iter().any(|x| *x.key == *q.name) {
                    continue;
                }
                let value = str_match(
                    q.kind.as_deref(),
                    &q.value,
                    &format!("{mpath}.queryParams[{k}]"),
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
                    headers,
                    query,
                    header_fields,
                    ..Block::default()
                },
                spec,
            )
        },
    )
}

fn lower_grpc(
    o: &Object<GrpcRouteSpec>,
    rc: &RouteCtx<'_>,
    order: usize,
    source: u32,
    report: &mut Report,
) -> (Vec<Rule>, Vec<(Key, Entry)>) {
    let parts = o.spec.rules.iter().map(|r| RuleParts {
        name: r.name.as_deref(),
        matches: &r.matches,
        filters: &r.filters,
        backends: &r.backend_refs,
        timeouts: None,
        retry: None,
    });
    lower_rules(
        parts,
        rc,
        order,
        source,
        report,
        |m: &crate::config::gateway_api::GrpcRouteMatch, mpath, report| {
            let method_match = m.method.as_ref();
            let svc = method_match
                .and_then(|mm| mm.service.as_deref())
                .filter(|s| !s.is_empty());
            let method = method_match
                .and_then(|mm| mm.method.as_deref())
                .filter(|s| !s.is_empty());
            let regex =
                method_match.is_some_and(|mm| mm.kind.as_deref() == Some("RegularExpression"));
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
            let (headers, header_fields) = header_matches(&m.headers, mpath, report);
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
                    headers,
                    header_fields,
                    ..Block::default()
                },
                spec,
            )
        },
    )
}

/// Where a block is written: its `matches[j]`, or the rule itself when the rule has no
/// matches (the block then stands for the implicit match of every request).
fn block_path(rule_path: &str, match_path: &str, implicit: bool) -> Box<str> {
    if implicit { rule_path } else { match_path }.into()
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
        set: first_wins(&m.set),
        add: first_wins(&m.add),
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
    path: &str,
    report: &mut Report,
) -> Action {
    let mut rewrite: Option<Rewrite> = None;
    let mut mirrors = Vec::new();
    let mut cors = None;
    for (i, f) in filters.iter().enumerate() {
        let fpath = format!("{path}.filters[{i}]");
        match f.kind.as_deref().unwrap_or("") {
            "RequestHeaderModifier" | "ResponseHeaderModifier" => {}
            "RequestRedirect" => {
                let r = f.request_redirect.clone().unwrap_or_default();
                let (uri, prefix) = path_modifier(r.path.as_ref());
                return Action::Redirect(Redirect {
                    uri,
                    prefix_rewrite: prefix,
                    authority: r.hostname.as_deref().map(Into::into),
                    scheme: r.scheme.as_deref().map(Into::into),
                    port: r
                        .port
                        .map_or(RedirectPort::Unchanged, |p| RedirectPort::Port(p as u16)),
                    code: r.status_code.unwrap_or(302) as u16,
                });
            }
            "URLRewrite" => {
                let u = f.url_rewrite.clone().unwrap_or_default();
                let (full, prefix) = path_modifier(u.path.as_ref());
                rewrite = Some(Rewrite {
                    path: full
                        .map(PathRewrite::Full)
                        .or(prefix.map(PathRewrite::MatchedPrefix)),
                    authority: u.hostname.as_deref().map(Into::into),
                });
            }
            "RequestMirror" => {
                let Some(m) = &f.request_mirror else { continue };
                let Some(b) = &m.backend_ref else { continue };
                let share = match (&m.percent, &m.fraction) {
                    (Some(p), _) => (p.clamp(&0, &100) * 10_000) as u32,
                    (None, Some(fr)) => {
                        let n = fr.numerator.unwrap_or(0).max(0) as u64;
                        let d = fr.denominator.unwrap_or(100).max(1) as u64;
                        (n.min(d) * 1_000_000 / d) as u32
                    }
                    (None, None) => 1_000_000,
                };
                let r = BackendRef {
                    group: b.group.as_deref(),
                    kind: b.kind.as_deref(),
                    name: &b.name,
                    namespace: b.namespace.as_deref(),
                    port: b.port,
                };
                let destination =
                    backend(&r, rc, &format!("{fpath}.requestMirror.backendRef"), report);
                // The specification: an invalid mirror backend is dropped, not configured.
                if destination.unavailable.is_none() {
                    mirrors.push(Mirror {
                        destination,
                        per_million: share,
                    });
                }
            }
            "CORS" => {
                if let Some(c) = &f.cors {
                    cors = Some(Cors {
                        allow_origins: c
                            .allow_origins
                            .iter()
                            .map(|o| {
                                (
                                    if o.contains('*') { "wildcard" } else { "exact" },
                                    o.as_str().into(),
                                )
                            })
                            .collect(),
                        allow_methods: c.allow_methods.iter().map(|s| s.as_str().into()).collect(),
                        allow_headers: c.allow_headers.iter().map(|s| s.as_str().into()).collect(),
                        expose_headers: c
                            .expose_headers
                            .iter()
                            .map(|s| s.as_str().into())
                            .collect(),
                        max_age: c
                            .max_age
                            .map(|s| std::time::Duration::from_secs(s.max(0) as u64)),
                        allow_credentials: c.allow_credentials,
                        unmatched_preflights: "FORWARD".into(),
                    });
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
                return Action::DirectResponse(DirectResponse {
                    status: 500,
                    body: None,
                });
            }
        }
    }
    let mut destinations = Vec::new();
    for (j, b) in backends.iter().enumerate() {
        let r = BackendRef {
            group: b.group.as_deref(),
            kind: b.kind.as_deref(),
            name: &b.name,
            namespace: b.namespace.as_deref(),
            port: b.port,
        };
        let mut destination = backend(&r, rc, &format!("{path}.backendRefs[{j}]"), report);
        destination.headers = header_ops(&b.filters);
        destinations.push(WeightedDestination {
            destination,
            weight: b.weight.unwrap_or(1).clamp(0, 1_000_000) as u32,
        });
    }
    // No single-destination exception here: weight 0 gets nothing.
    let weights: Vec<u32> = destinations.iter().map(|d| d.weight).collect();
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
    let retries = retry.map(|r| Retries {
        attempts: r.attempts.unwrap_or(1).max(0) as u32,
        per_try_timeout: timeouts.and_then(|t| timeout(t.backend_request.as_deref())),
        retry_on: r
            .codes
            .iter()
            .map(i64::to_string)
            .collect::<Vec<_>>()
            .join(",")
            .into(),
        retry_remote_localities: None,
        retry_ignore_previous_hosts: false,
        backoff: timeout(r.backoff.as_deref()),
        is_default: false,
    });
    Action::Forward(Forward {
        destinations,
        split: Split::exact(&weights),
        rewrite,
        timeout: timeouts.and_then(|t| timeout(t.request.as_deref())),
        backend_timeout: timeouts.and_then(|t| timeout(t.backend_request.as_deref())),
        retries,
        fault: None,
        mirrors,
        cors,
        // gRPC clients read 503 as UNAVAILABLE, which the GRPCRoute specification asks for.
        unavailable_status: if rc.kind == "GRPCRoute" { 503 } else { 500 },
        sticky: rc.sticky.clone(),
    })
}

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
struct BackendRef<'a> {
    group: Option<&'a str>,
    kind: Option<&'a str>,
    name: &'a str,
    namespace: Option<&'a str>,
    port: Option<i64>,
}

/// A backend reference as a destination, marked unavailable when it cannot be used.
fn backend(b: &BackendRef<'_>, rc: &RouteCtx<'_>, path: &str, report: &mut Report) -> Destination {
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

/// Whether a ReferenceGrant in `to_ns` lets routes of `kind` in `from_ns` refer to Service `name`.
fn granted(world: &World<'_>, kind: &str, from_ns: &str, to_ns: &str, name: &str) -> bool {
    world.grants.iter().any(|g| {
        g.namespace(world.default_ns) == to_ns
            && g.spec.from.iter().any(|f| {
                f.group == "gateway.networking.k8s.io" && f.kind == kind && f.namespace == from_ns
            })
            && g.spec.to.iter().any(|t| {
                (t.group.is_empty() || t.group == "core")
                    && t.kind == "Service"
                    && t.name.as_deref().is_none_or(|n| n == name)
            })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostnames_intersect_to_the_narrower_name() {
        let v = |l: Option<&str>, r: &[&str]| {
            intersect(l, &r.iter().map(|s| s.to_string()).collect::<Vec<_>>())
        };
        assert_eq!(v(None, &[]), vec!["*"]);
        assert_eq!(v(Some("*.example.com"), &[]), vec!["*.example.com"]);
        assert_eq!(
            v(
                Some("*.example.com"),
                &["foo.example.com", "example.com", "a.b.example.com"]
            ),
            vec!["foo.example.com", "a.b.example.com"]
        );
        assert_eq!(
            v(Some("foo.example.com"), &["*.example.com"]),
            vec!["foo.example.com"]
        );
        assert_eq!(
            v(Some("foo.example.com"), &["bar.example.com"]),
            Vec::<String>::new()
        );
        assert_eq!(
            v(Some("*.example.com"), &["*.foo.example.com"]),
            vec!["*.foo.example.com"]
        );
        assert_eq!(v(None, &["Foo.Example.com"]), vec!["foo.example.com"]);
    }
}
