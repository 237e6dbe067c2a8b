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
//!
//! Attachment to parents is in [`super::attach`], the rules themselves in
//! [`super::lower_rules`].

use std::cmp::Reverse;
use std::collections::BTreeMap;

use crate::config::Object;
use crate::config::gateway_api::{
    GatewaySpec, GrpcRouteSpec, HttpRouteSpec, ParentRef, ReferenceGrantSpec, ServiceSpec,
};
use crate::error::ResourceId;
use crate::table::{Claim, Context, Entry, Inner, Source, Visibility};

use super::attach::{attach, covered};
use super::lower_rules::{lower_grpc_match, lower_http_match, lower_rules};
use super::route::RuleParts;
use crate::compile::report::Report;

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
    pub(crate) options: &'a crate::compile::CompileOptions,
    /// The table's default retry policy: a rule without `retry` gets it.
    pub(crate) default_retries: Option<std::sync::Arc<crate::action::Retries>>,
    /// The compile's regexes, shared with the VirtualServices lowered before.
    pub(crate) regexes: std::rc::Rc<std::cell::RefCell<crate::compile::regexes::Regexes>>,
}

/// A route of either kind, seen through what lowering needs.
pub(crate) enum Route<'a> {
    Http(&'a Object<HttpRouteSpec>),
    Grpc(&'a Object<GrpcRouteSpec>),
    /// Connection routes are attached here and placed by `l4.rs`.
    Tls(&'a Object<crate::config::gateway_api::TlsRouteSpec>),
    Tcp(&'a Object<crate::config::gateway_api::TcpRouteSpec>),
}

impl Route<'_> {
    pub(super) fn kind(&self) -> &'static str {
        match self {
            Route::Http(_) => "HTTPRoute",
            Route::Grpc(_) => "GRPCRoute",
            Route::Tls(_) => "TLSRoute",
            Route::Tcp(_) => "TCPRoute",
        }
    }
    pub(super) fn meta(&self) -> &crate::config::Metadata {
        match self {
            Route::Http(o) => &o.metadata,
            Route::Grpc(o) => &o.metadata,
            Route::Tls(o) => &o.metadata,
            Route::Tcp(o) => &o.metadata,
        }
    }
    pub(super) fn parent_refs(&self) -> &[ParentRef] {
        match self {
            Route::Http(o) => &o.spec.parent_refs,
            Route::Grpc(o) => &o.spec.parent_refs,
            Route::Tls(o) => &o.spec.parent_refs,
            Route::Tcp(o) => &o.spec.parent_refs,
        }
    }
    /// Where the route was read from.
    pub(super) fn source(&self) -> &str {
        match self {
            Route::Http(o) => &o.source,
            Route::Grpc(o) => &o.source,
            Route::Tls(o) => &o.source,
            Route::Tcp(o) => &o.source,
        }
    }
    pub(super) fn hostnames(&self) -> &[String] {
        match self {
            Route::Http(o) => &o.spec.hostnames,
            Route::Grpc(o) => &o.spec.hostnames,
            Route::Tls(o) => &o.spec.hostnames,
            Route::Tcp(_) => &[],
        }
    }
}

/// The match-level part of the precedence key; smaller sorts first.
pub(super) type Specificity = (
    Reverse<u8>,
    Reverse<usize>,
    Reverse<bool>,
    Reverse<usize>,
    Reverse<usize>,
);

/// The whole precedence key of one (rule, match) entry; smaller sorts first (wins).
pub(super) type Key = (
    Reverse<u8>,
    Reverse<usize>,
    Reverse<bool>,
    Reverse<usize>,
    Reverse<usize>,
    usize,
    usize,
    usize,
);

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

/// Sorts routes oldest first, then by `{namespace}/{name}`: the route-level tie-breakers of the
/// Gateway API's precedence, for HTTP and connection routes alike.
pub(crate) fn in_precedence_order(routes: &mut [Route<'_>], default_ns: &str) {
    let full = |r: &Route<'_>| {
        format!(
            "{}/{}",
            r.meta().namespace.as_deref().unwrap_or(default_ns),
            r.meta().name
        )
    };
    routes.sort_by(|a, b| {
        let ta = a.meta().creation_timestamp.as_deref().unwrap_or("");
        let tb = b.meta().creation_timestamp.as_deref().unwrap_or("");
        ta.cmp(tb).then_with(|| full(a).cmp(&full(b)))
    });
}

/// Lowers every valid route into `inner` and places it, reporting attachment problems as
/// diagnostics and rule problems as rejections.
pub(crate) fn place_routes(
    routes: &mut [Route<'_>],
    world: &World<'_>,
    inner: &mut Inner,
    reports: &mut Vec<(ResourceId, String, Report)>,
) {
    in_precedence_order(routes, world.default_ns);
    let mut pending = Pending::new();
    for (order, route) in routes.iter().enumerate() {
        let meta = route.meta();
        let ns = meta.namespace.as_deref().unwrap_or(world.default_ns);
        let id = ResourceId::new(route.kind(), ns, &meta.name);
        let source_name = route.source().to_string();
        let mut report = Report::with_regexes(&world.regexes);
        let source_index = inner.sources.len() as u32;
        let rule_base = inner.rules.len() as u32;
        // GAMMA routes (every parent a Service) may send to any namespace without a grant.
        let mesh_only = !route.parent_refs().is_empty()
            && route
                .parent_refs()
                .iter()
                .all(|p| p.kind.as_deref() == Some("Service"));
        let sticky = crate::compile::sticky_key(&meta.annotations, world.options, &mut report);
        let ctx = RouteCtx {
            ns,
            kind: route.kind(),
            mesh_only,
            world,
            sticky,
            name: &meta.name,
        };
        let (rules, keyed) = match route {
            Route::Http(o) => lower_rules(
                o.spec.rules.iter().map(RuleParts::from),
                &ctx,
                order,
                source_index,
                &mut report,
                lower_http_match,
            ),
            Route::Grpc(o) => lower_rules(
                o.spec.rules.iter().map(RuleParts::from),
                &ctx,
                order,
                source_index,
                &mut report,
                lower_grpc_match,
            ),
            // Connection routes are placed by `l4.rs`, never given here.
            Route::Tls(_) | Route::Tcp(_) => continue,
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
                        entry: Entry::new(e.rule + rule_base, e.block),
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
pub(super) fn specificity(host: &str) -> usize {
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
    let ctx = crate::compile::context_mut(&mut inner.contexts, context);
    let hosts = match port {
        Some(p) => listener_hosts(ctx, p),
        None => &mut ctx.hosts,
    };
    let vhost = hosts.get_or_insert(host, || format!("{host} (Gateway API)").into());
    let visibility = match consumer {
        Some(ns) => Visibility::Only(vec![ns.into()]),
        None => Visibility::Public,
    };
    vhost
        .claims
        .push(Claim::new(visibility, consumer.unwrap_or(""), entries));
}

/// What lowering a route's rules needs to know about the route.
pub(super) struct RouteCtx<'a> {
    pub(super) ns: &'a str,
    pub(super) kind: &'static str,
    /// Every parent is a Service (GAMMA): cross-namespace backends need no ReferenceGrant.
    pub(super) mesh_only: bool,
    pub(super) world: &'a World<'a>,
    /// The sticky-split key, if any.
    pub(super) sticky: Option<crate::hash::KeySource>,
    /// The route's name (for a session's default name).
    pub(super) name: &'a str,
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
