//! Explanations: how a decision was reached, step by step, for people and tools.
//!
//! [`Table::explain`] walks the same steps as [`Table::decide_with_draw`] and records each one:
//! the context (mesh or gateway) and port group, how the host was found, which VirtualService
//! or route claimed it, every candidate entry in evaluation order with the first condition
//! that failed (named by its field path in the resource, with the value the request carried),
//! and for the winner the split, the pick, faults, mirrors and what the CORS filter does. It allocates; use it for tools,
//! tests and debugging, not on the request path. [`Explain`] prints as readable text
//! (`Display`) and converts to JSON ([`Explain::to_json`]).

use std::fmt;
use std::time::Duration;

pub use super::explain_connection::{ConnectionCandidate, ConnectionExplain};

use serde_json::{Value, json};

use crate::action::{Abort, Action, Destination, Forward, PortFrom};
use crate::block::{Block, Miss};
use crate::decision::{Decision, MAX_MIRRORS, Outcome, Rolls};
use crate::predicate::StrMatch;
use crate::predicate::header::{HeaderMatch, HeaderSource};
use crate::predicate::host::{Via, with_request_host};
use crate::predicate::path::PathMatch;
use crate::predicate::query::first_value;
use crate::predicate::source::SourceMiss;
use crate::request::{Request, addressed_port};
use crate::table::{
    Claim, Context, Inner, LookupStep, Rule, Source, Table, VirtualHost, Visibility,
};

/// How one decision was reached ([`Table::explain`]). Everything is owned: an explanation
/// outlives the table it was made from.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Explain {
    /// The request's method.
    pub method: String,
    /// The request's `:path`, query included.
    pub path: String,
    /// The draw that drove every random choice.
    pub draw: u64,
    /// Where the request arrived: `None` for the mesh (a sidecar), else the gateway
    /// `(namespace, name)`.
    pub gateway: Option<(String, String)>,
    /// Whether the table knows the gateway (always true for the mesh).
    pub context_known: bool,
    /// The namespace of the source workload (`default` unless the request says otherwise); it
    /// decides which resources are visible.
    pub source_namespace: String,
    /// The Istio `Sidecar` that scoped what the client sees, as `(namespace, name)`, and the
    /// port of its egress listener that applied (`None`: the catch-all listener); `None` when no
    /// Sidecar applies (at a gateway, or none selects the client).
    pub sidecar: Option<SidecarUsed>,
    /// The group of hosts the host was looked up in; `None` when the context is unknown.
    pub port_group: Option<PortGroup>,
    /// The host lookup.
    pub host: HostLookup,
    /// The claim on the virtual host that applied, if a host was found.
    pub claim: Option<ClaimUsed>,
    /// The entries evaluated, in evaluation order; the last one won when a rule matched.
    pub candidates: Vec<Candidate>,
    /// Entries of the claim after the winner, not evaluated.
    pub not_evaluated: usize,
    /// The registry step, for a mesh request whose host no VirtualService claims: whether a
    /// loaded Service or ServiceEntry defines the host, and if not, what the outbound traffic
    /// policy does with it. `None` otherwise, and when the input held no Service and no
    /// ServiceEntry (the table cannot tell known hosts from unknown ones; every unclaimed
    /// host takes the default route).
    pub registry: Option<RegistryStep>,
    /// One of [`Outcome::LABELS`]: `matched`, `no_route`, `passthrough`, `no_virtual_host`,
    /// `bad_request`, `passthrough_cluster` or `black_hole`.
    pub outcome: &'static str,
    /// The HTTP status the request gets: from routing ([`Decision::status`]), or 200 for a
    /// CORS preflight the CORS filter answers itself ([`Winner::cors`]).
    pub status: u16,
    /// What the winning rule does to this request.
    pub winner: Option<Winner>,
    /// The port the request is sent to and where it comes from, when it is forwarded or
    /// passed through ([`Decision::port`]).
    pub port: Option<ForwardPort>,
    /// The DestinationRule whose traffic policy and subsets apply to the destination, as the
    /// client sees it ([`Table::destination_rule`]); `None` when nothing is forwarded or no
    /// rule applies.
    pub destination_rule: Option<DestinationRuleUsed>,
    /// For a mesh request on a port its service declares `HTTPS` or `TLS`: the sidecar routes
    /// the connection by SNI there, and this is how ([`TlsPort`]); `None` otherwise.
    pub tls_port: Option<Box<TlsPort>>,
}

/// A mesh request decided as the TLS (or TCP) connection that carries it, because its service
/// declares the port `HTTPS` or `TLS` ([`Explain::tls_port`]).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct TlsPort {
    /// The registry's name for the service.
    pub host: String,
    /// The port.
    pub port: u16,
    /// `HTTPS` or `TLS`.
    pub protocol: &'static str,
    /// The resource that declares it, as `Kind ns/name`.
    pub defined_by: String,
    /// The connection's explanation.
    pub connection: crate::tools::explain_connection::ConnectionExplain,
}

/// The DestinationRule that applied to a request's destination ([`Explain::destination_rule`]).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct DestinationRuleUsed {
    /// The host the rules name, fully qualified (a wildcard host stays one).
    pub host: String,
    /// The namespace of the rules.
    pub namespace: String,
    /// The rules merged into it, as `namespace/name`, oldest first.
    pub names: Vec<String>,
}

impl From<crate::table::DestinationRuleRef<'_>> for DestinationRuleUsed {
    fn from(r: crate::table::DestinationRuleRef<'_>) -> DestinationRuleUsed {
        DestinationRuleUsed {
            host: r.host.to_string(),
            namespace: r.namespace.to_string(),
            names: r.names.iter().map(|n| n.to_string()).collect(),
        }
    }
}

/// The port a forwarded request goes to, and why that one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ForwardPort {
    /// The port.
    pub number: u16,
    /// Where it comes from.
    pub from: PortFrom,
}

/// The group of virtual hosts a host is looked up in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PortGroup {
    /// Hosts that apply to every port.
    AllPorts,
    /// Hosts bound to one port: a Gateway API listener, or mesh routes for one Service port.
    Port(u16),
}

/// How the request's host was found.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct HostLookup {
    /// `:authority` as the request carried it.
    pub authority: String,
    /// The host looked up: lowercase, without the port.
    pub host: String,
    /// How the virtual host was found.
    pub found_by: HostMatch,
    /// The virtual host's name as configured (`*.example.com` for a wildcard).
    pub virtual_host: Option<String>,
    /// Hosts passed over on the way, and why (e.g. no route visible to the namespace).
    pub notes: Vec<String>,
}

/// How the registry answered for a host no VirtualService claims ([`Explain::registry`]).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RegistryStep {
    /// The registry's name that defines the host (a wildcard when one covered it).
    pub host: Option<String>,
    /// The resource that defines it, as `Kind ns/name`.
    pub defined_by: Option<String>,
    /// The mesh's `outboundTrafficPolicy` mode (`ALLOW_ANY` or `REGISTRY_ONLY`).
    pub policy: &'static str,
    /// For an undefined host, Envoy's catch-all `(route, cluster)` ([`Outcome::catch_all`]).
    pub catch_all: Option<(&'static str, &'static str)>,
}

/// Which lookup step found the virtual host.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum HostMatch {
    /// The exact name.
    Exact,
    /// A Kubernetes short name (`reviews`, `reviews.default`), expanded as a sidecar's DNS
    /// search path would.
    ShortName {
        /// The fully qualified name it expanded to.
        expanded: String,
    },
    /// A wildcard host (`*.example.com`, `*`).
    Wildcard,
    /// No virtual host.
    None,
}

/// A resource, as `kind namespace/name`.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ResourceRef {
    /// Kind, e.g. `VirtualService` or `HTTPRoute`.
    pub kind: String,
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
}

/// The claim on the virtual host that applied: in the mesh one VirtualService (the first, in
/// precedence order, visible to the request's namespace), at a gateway the merged routes.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClaimUsed {
    /// Position among the host's claims (0-based).
    pub index: usize,
    /// Number of claims on the host.
    pub of: usize,
    /// The resources whose rules the claim lists, in order of first appearance.
    pub resources: Vec<ResourceRef>,
    /// Which namespaces see the claim (`exportTo` as resolved, or a GAMMA consumer route's
    /// namespace): `None` for every namespace.
    pub visible_to: Option<Vec<String>>,
    /// Number of entries (rule and match block pairs) of the claim.
    pub entries: usize,
}

/// One evaluated entry: a rule and one of its match blocks.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Candidate {
    /// The resource the rule comes from.
    pub resource: ResourceRef,
    /// Position of the rule in the resource (`spec.http[rule]`, `spec.rules[rule]`).
    pub rule: u32,
    /// The rule's name, empty when unnamed.
    pub rule_name: String,
    /// The match block, `None` for a rule without blocks.
    pub block: Option<u16>,
    /// The route name as Envoy logs it.
    pub route_name: String,
    /// Where the entry is written (`spec.http[1].match[0]`, `spec.rules[0].matches[1]`).
    pub at: String,
    /// Whether it won, or the condition that failed.
    pub verdict: Verdict,
}

/// The result of one candidate.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Verdict {
    /// Every condition held: this entry decides the request.
    Won,
    /// A condition failed (the first, in evaluation order).
    Failed {
        /// Its field path in the resource, e.g. `spec.http[1].match[0].headers[end-user]`.
        field: String,
        /// What the request carried, e.g. `end-user: absent` or
        /// `:path "/x" is not prefix "/api"`.
        seen: String,
    },
}

/// What the winning rule does to this request.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Winner {
    /// Index of the winning entry in [`Explain::candidates`].
    pub candidate: usize,
    /// The action.
    pub action: WinnerAction,
    /// The destination picked (forwarding rules).
    pub destination: Option<DestinationRef>,
    /// Why the picked destination cannot serve, when it cannot (e.g. `UndefinedSubset`).
    pub unavailable: Option<&'static str>,
    /// Fault injection rolls: delay, then abort.
    pub faults: Vec<FaultRoll>,
    /// Mirror rolls, in declaration order.
    pub mirrors: Vec<MirrorRoll>,
    /// What the CORS filter does with the request, when the rule has a CORS policy and no
    /// injected abort answered first.
    pub cors: Option<CorsExplain>,
    /// The retry policy a forwarded request is under, in words ([`crate::action::Retries::describe`]):
    /// the rule's, or Istio's mesh default; `None` when the rule does not forward or retries
    /// are off.
    pub retries: Option<String>,
    /// The route timeout, the budget of every try and backoff; `None` when disabled.
    pub timeout: Option<std::time::Duration>,
}

/// What Envoy's CORS filter does with the request ([`crate::Decision::cors`]).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct CorsExplain {
    /// `none`, `preflight` or `simple` ([`crate::cors::CorsKind::as_str`]).
    pub request: &'static str,
    /// The request's `Origin`, when it has one.
    pub origin: Option<String>,
    /// The first allowed-origin matcher that allows it, as `kind pattern` (`regex https://.*`).
    pub allowed_by: Option<String>,
    /// `FORWARD` or `IGNORE`.
    pub unmatched_preflights: &'static str,
    /// Whether the filter answers the request itself with 200.
    pub answered: bool,
    /// The headers the filter writes, in order.
    pub response_headers: Vec<(String, String)>,
}

/// The winning rule's action.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum WinnerAction {
    /// Forward to a destination of the split.
    Forward(SplitExplain),
    /// Answer with a redirect.
    Redirect {
        /// Status code.
        code: u16,
        /// The `Location` to answer with ([`Decision::redirect_location`]).
        location: Option<String>,
    },
    /// Answer with a fixed response.
    DirectResponse {
        /// Status code.
        status: u16,
    },
}

/// The weighted split and how its destination was picked.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SplitExplain {
    /// Destinations with their weights and half-open intervals `[start, end)`.
    pub destinations: Vec<SplitEntry>,
    /// Σ effective weights.
    pub total: u64,
    /// What picked the destination.
    pub by: SplitBy,
    /// The sticky-split key configured, if any (`header:x-user`); when the request lacks it
    /// the draw picks.
    pub sticky_key: Option<String>,
    /// Index of the destination picked, `None` when every weight is 0.
    pub picked: Option<usize>,
    /// The rule's session persistence and what the request's session did.
    pub session: Option<SessionExplain>,
}

/// A rule's session persistence, for one request.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SessionExplain {
    /// `Cookie` or `Header`.
    pub kind: &'static str,
    /// The cookie or header name.
    pub name: String,
    /// What the request's session said.
    pub state: crate::session::SessionState,
}

/// One destination of a split.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SplitEntry {
    /// The destination.
    pub destination: DestinationRef,
    /// Weight as configured (a lone destination gets everything whatever its weight).
    pub weight: u32,
    /// Start of its interval (inclusive).
    pub start: u64,
    /// End of its interval (exclusive).
    pub end: u64,
}

/// What picked the destination of a split.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SplitBy {
    /// The draw: `u = draw % total` falls in the picked interval.
    Draw {
        /// `draw % total`.
        u: u64,
    },
    /// The sticky split: the request key's hash.
    Sticky {
        /// The hash of the request's key.
        hash: u64,
    },
    /// Every weight is 0: nothing can be picked.
    ZeroTotal,
    /// The request's session named the destination (session persistence).
    Session,
}

/// A destination, owned.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct DestinationRef {
    /// Fully qualified host.
    pub host: String,
    /// Subset, if any.
    pub subset: Option<String>,
    /// Port, if any.
    pub port: Option<u16>,
}

/// A fault injection roll.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct FaultRoll {
    /// `delay` or `abort`.
    pub kind: &'static str,
    /// The fault: `7s`, `http 503`, `grpc UNAVAILABLE`.
    pub fault: String,
    /// Share of requests hit, per million.
    pub per_million: u32,
    /// This request's roll in `0..1_000_000` (the draw mixed with the fault kind's constant).
    pub roll: u64,
    /// Whether the request is hit (`roll < per_million`).
    pub hit: bool,
}

/// A mirror roll.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct MirrorRoll {
    /// Where copies go.
    pub destination: DestinationRef,
    /// Share of requests mirrored, per million.
    pub per_million: u32,
    /// This request's roll, `draw % 1_000_000`.
    pub roll: u64,
    /// Whether the request is mirrored (`roll < per_million`).
    pub hit: bool,
}

impl Table {
    /// Explains the decision [`Table::decide_with_draw`] makes for `req` and `draw`: the
    /// same winner and the same destination, with every step recorded. Allocates; for tools,
    /// tests and debugging, not for the request path. It does not touch the table's counters.
    ///
    /// # Example
    /// ```
    /// use meshroute::{OwnedRequest, Table};
    /// let table = Table::from_yaml(include_str!("../../examples/bookinfo.yaml"))?;
    /// let req = OwnedRequest::new("GET", "http://reviews/r/1").from_namespace("default");
    /// let e = table.explain(&req, 95);
    /// assert_eq!(e.outcome, "matched");
    /// let meshroute::explain::Verdict::Failed { field, seen } = &e.candidates[0].verdict else {
    ///     panic!("the jason rule does not match a request without end-user");
    /// };
    /// assert_eq!(field, "spec.http[0].match[0].headers[end-user]");
    /// assert_eq!(seen, "end-user: absent");
    /// assert_eq!(e.winner.unwrap().destination.unwrap().subset.as_deref(), Some("v3"));
    /// # Ok::<(), meshroute::Errors>(())
    /// ```
    pub fn explain<R: Request + ?Sized>(&self, req: &R, draw: u64) -> Explain {
        let inner = &*self.inner;
        let mut e = started(req, draw);
        if let Some((known, protocol)) = inner.tls_service(req) {
            let conn = crate::connection::RequestConnection(req);
            let connection = self.explain_connection(&conn, draw);
            let d = inner.decide_connection(&conn, draw);
            e.context_known = true;
            e.tls_port = Some(Box::new(TlsPort {
                host: known.name.to_string(),
                port: addressed_port(req),
                protocol,
                defined_by: known.definition.by.to_string(),
                connection,
            }));
            e.port = d.port.map(|number| ForwardPort {
                number,
                from: d
                    .destination()
                    .map_or(PortFrom::Request, |dest| dest.port_from),
            });
            e.destination_rule = inner.destination_rule(&d.outcome, req).map(Into::into);
            return finish(e, d.outcome, draw, inner);
        }
        // The path is normalized before anything else, as `decide` does: a refused path is
        // refused whatever the gateway and host.
        let mut buf = [0u8; crate::predicate::normalize::MAX_PATH_LEN];
        let path = match inner.normalization().apply(req.path(), &mut buf) {
            Ok(p) => p,
            Err(reason) => {
                e.host.notes.push(format!("the path is refused: {reason}"));
                return finish(e, Outcome::BadRequest { reason }, draw, inner);
            }
        };
        let Some(ctx) = inner.context(req.gateway()) else {
            e.host
                .notes
                .push("the table has no routes for this gateway".to_string());
            return finish(e, Outcome::NoVirtualHost, draw, inner);
        };
        e.context_known = true;
        if ctx.gateway.is_none()
            && let Some(v) = inner.sidecars.view(req, crate::addressed_port(req))
        {
            e.sidecar = Some(SidecarUsed {
                namespace: v.scope.namespace.to_string(),
                name: v.scope.name.to_string(),
                by_selector: v.scope.has_selector(),
                listener: v.listener.map(|l| l.port),
            });
        }
        let (found, group) = look_up_host(inner, ctx, req, &mut e.host);
        let Some((vhost, claim)) = found else {
            e.port_group = Some(PortGroup::AllPorts);
            let outcome = if ctx.gateway.is_none() {
                let (outcome, known) = inner.unclaimed(req);
                if !matches!(outcome, Outcome::BlackHole) {
                    e.port = Some(ForwardPort {
                        number: addressed_port(req),
                        from: PortFrom::Request,
                    });
                }
                e.registry = inner.known.is_some().then(|| RegistryStep {
                    host: known.map(|k| k.name.to_string()),
                    defined_by: known.map(|k| k.definition.by.to_string()),
                    policy: inner.mesh.outbound_traffic_policy.as_str(),
                    catch_all: outcome.catch_all(),
                });
                outcome
            } else {
                Outcome::NoVirtualHost
            };
            e.destination_rule = inner.destination_rule(&outcome, req).map(Into::into);
            return finish(e, outcome, draw, inner);
        };
        e.port_group = Some(group);
        e.host.virtual_host = Some(host_name(vhost).to_string());
        e.claim = Some(claim_used(inner, vhost, claim));
        for (k, entry) in claim.entries.iter().enumerate() {
            let rule = &inner.rules()[entry.rule as usize];
            let candidate = candidate(inner, rule, entry.block, req, path);
            let won = candidate.verdict == Verdict::Won;
            e.candidates.push(candidate);
            if won {
                e.not_evaluated = claim.entries.len() - k - 1;
                record_winner(&mut e, inner, rule, entry.block, req, draw);
                return e;
            }
        }
        finish(e, Outcome::NoRoute { host: &vhost.name }, draw, inner)
    }
}

/// The Sidecar a mesh request was scoped by ([`Explain::sidecar`]).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SidecarUsed {
    /// Its namespace.
    pub namespace: String,
    /// Its name.
    pub name: String,
    /// Whether it selected the client by its `workloadSelector` (else it is the namespace's or
    /// the root namespace's default).
    pub by_selector: bool,
    /// The egress listener that applied: `Some(Some(port))` bound to the port, `Some(None)` the
    /// catch-all, `None` no listener for the port (the client sees no VirtualService).
    pub listener: Option<Option<u16>>,
}

/// The explanation before any step: the request as given, nothing found yet.
fn started<R: Request + ?Sized>(req: &R, draw: u64) -> Explain {
    Explain {
        method: req.method().to_string(),
        path: req.path().to_string(),
        draw,
        gateway: req.gateway().map(|(n, g)| (n.to_string(), g.to_string())),
        context_known: false,
        source_namespace: req.source_namespace().to_string(),
        sidecar: None,
        port_group: None,
        host: HostLookup {
            authority: req.authority().to_string(),
            host: with_request_host(req.authority(), str::to_string),
            found_by: HostMatch::None,
            virtual_host: None,
            notes: Vec::new(),
        },
        claim: None,
        candidates: Vec::new(),
        not_evaluated: 0,
        registry: None,
        outcome: "",
        status: 0,
        winner: None,
        port: None,
        destination_rule: None,
        tls_port: None,
    }
}

/// Looks the request's host up in `ctx` as `decide` does, recording each step in `host`;
/// returns the virtual host and claim found, and the port group they were found in.
fn look_up_host<'c, R: Request + ?Sized>(
    inner: &Inner,
    ctx: &'c Context,
    req: &R,
    host: &mut HostLookup,
) -> (Option<(&'c VirtualHost, &'c Claim)>, PortGroup) {
    let ns = req.source_namespace();
    let port = addressed_port(req);
    let sidecar = ctx.gateway.is_none() && !inner.sidecars.is_empty();
    let mut group = PortGroup::AllPorts;
    let found = inner.find_vhost_with(ctx, req, &mut |step| match step {
        LookupStep::Found { via, port } => {
            host.found_by = match via {
                Via::Exact => HostMatch::Exact,
                Via::ShortName(fqdn) => HostMatch::ShortName {
                    expanded: fqdn.to_string(),
                },
                Via::Wildcard => HostMatch::Wildcard,
            };
            group = port.map_or(PortGroup::AllPorts, PortGroup::Port);
        }
        LookupStep::Invisible(vh) => {
            let visible: Vec<&Claim> = (vh.claims.iter())
                .filter(|c| c.visibility.admits(ns))
                .collect();
            let elsewhere: Vec<String> = (visible.iter())
                .filter(|c| !c.serves(Some(port)))
                .flat_map(|c| c.ports.iter().flatten().map(u16::to_string))
                .collect();
            let no_http = visible.iter().any(|c| c.ports.as_deref() == Some(&[]));
            let gated = visible.iter().any(|c| c.source_gated);
            host.notes.push(if no_http && elsewhere.is_empty() {
                format!(
                    "virtual host {} has no http rules (only tls or tcp ones): it is not built",
                    host_name(vh)
                )
            } else if !elsewhere.is_empty() {
                format!(
                    "virtual host {} has no route on port {port}: its matches name port {} \
                     only, so it is not built for this port",
                    host_name(vh),
                    elsewhere.join(", ")
                )
            } else if gated {
                format!(
                    "virtual host {} has no route for this client: every match names \
                     sourceLabels or sourceNamespace it does not have, so it is not built for it",
                    host_name(vh)
                )
            } else {
                format!(
                    "virtual host {} has no route {}",
                    host_name(vh),
                    if sidecar {
                        format!("that namespace {ns} sees (exportTo) and its Sidecar imports")
                    } else {
                        format!("visible to namespace {ns}")
                    }
                )
            });
        }
        LookupStep::PortMissed(port) => host.notes.push(format!(
            "no host for port {port}; looked up in the hosts of every port"
        )),
        LookupStep::NoServer(port) => host.notes.push(format!(
            "the Gateway has no server on port {port}; looked up in the hosts of every port"
        )),
    });
    (found, group)
}

/// The claim of `vhost` the request was routed by: where it stands, the resources its entries
/// come from, and who sees it.
fn claim_used(inner: &Inner, vhost: &VirtualHost, claim: &Claim) -> ClaimUsed {
    let index = vhost
        .claims
        .iter()
        .position(|c| std::ptr::eq(c, claim))
        .unwrap_or_default();
    let mut resources: Vec<ResourceRef> = Vec::new();
    for entry in &claim.entries {
        let r = resource(inner.source_of(&inner.rules()[entry.rule as usize]));
        if !resources.contains(&r) {
            resources.push(r);
        }
    }
    ClaimUsed {
        index,
        of: vhost.claims.len(),
        resources,
        visible_to: match &claim.visibility {
            Visibility::Public => None,
            Visibility::Only(list) => Some(list.iter().map(|n| n.to_string()).collect()),
        },
        entries: claim.entries.len(),
    }
}

/// One entry of the claim (`rule`, and its match block `block`) tried against the request:
/// won, or the first condition that failed.
fn candidate<R: Request + ?Sized>(
    inner: &Inner,
    rule: &Rule,
    block: Option<u16>,
    req: &R,
    path: &str,
) -> Candidate {
    let source = inner.source_of(rule);
    let dialect = Dialect::of(&source.kind);
    let b = block.map(|b| &rule.blocks[b as usize]);
    let at = match (b, block) {
        (Some(b), Some(i)) => block_at(b, dialect, rule.index, i),
        _ => rule_at(dialect, rule.index),
    };
    let failure = b.and_then(|b| {
        let miss = b.check(req, path).err()?;
        Some(describe_miss(b, dialect, req, path, miss))
    });
    let route_name = match b {
        Some(b) => b.route_name.to_string(),
        None => rule.name.to_string(),
    };
    let verdict = match failure {
        Some((field, seen)) => Verdict::Failed {
            field: format!("{at}.{field}"),
            seen,
        },
        None => Verdict::Won,
    };
    Candidate {
        resource: resource(source),
        rule: rule.index,
        rule_name: rule.name.to_string(),
        block,
        route_name,
        at,
        verdict,
    }
}

/// Decides the winning entry (`rule`, `block`) as `decide` does and records the result: the
/// winner (the last candidate), the port forwarded to, outcome and status.
fn record_winner<R: Request + ?Sized>(
    e: &mut Explain,
    inner: &Inner,
    rule: &Rule,
    block: Option<u16>,
    req: &R,
    draw: u64,
) {
    let d = inner.matched(rule, block, req, draw);
    let mut w = winner(rule, &d, req, draw, e.candidates.len() - 1);
    w.cors = cors_explain(&d, req);
    e.port = d
        .port
        .zip(d.destination())
        .map(|(number, dest)| ForwardPort {
            number,
            from: dest.port_from,
        });
    e.outcome = "matched";
    e.destination_rule = inner.destination_rule(&d.outcome, req).map(Into::into);
    // A preflight the CORS filter answers gets its 200, whatever the route would have done.
    e.status = match &w.cors {
        Some(c) if c.answered => 200,
        _ => d.status(),
    };
    e.winner = Some(w);
}

/// What the CORS filter does with `req` under the decision's rule.
fn cors_explain<R: Request + ?Sized>(d: &Decision<'_>, req: &R) -> Option<CorsExplain> {
    let a = d.cors(req)?;
    let policy = d.forward()?.cors.as_deref()?;
    let origin = req.header_values("origin").next().filter(|o| !o.is_empty());
    let allowed_by = origin.and_then(|o| {
        policy
            .allow_origins
            .iter()
            .find(|m| m.is_match(b"*") || m.is_match(o))
            .map(|m| format!("{} {}", m.kind(), m.pattern()))
    });
    Some(CorsExplain {
        request: a.kind.as_str(),
        origin: origin.map(|o| String::from_utf8_lossy(o).into_owned()),
        allowed_by,
        unmatched_preflights: policy.unmatched_preflights.as_str(),
        answered: a.answered,
        response_headers: a
            .response_headers()
            .map(|(n, v)| (n.to_string(), String::from_utf8_lossy(v).into_owned()))
            .collect(),
    })
}

fn finish(mut e: Explain, outcome: Outcome<'_>, draw: u64, inner: &Inner) -> Explain {
    e.outcome = outcome.label();
    e.status = Decision {
        outcome,
        draw,
        port: None,
        normalization: inner.normalization(),
        default_retries: inner.default_retries(),
    }
    .status();
    e
}

fn resource(s: &Source) -> ResourceRef {
    ResourceRef {
        kind: s.kind.to_string(),
        namespace: s.namespace.to_string(),
        name: s.name.to_string(),
    }
}

fn dest_ref(d: &Destination) -> DestinationRef {
    DestinationRef {
        host: d.host.to_string(),
        subset: d.subset.as_ref().map(|s| s.to_string()),
        port: d.port,
    }
}

/// The virtual host's name as configured: its label without the resource it names for
/// messages (`reviews.default.svc.cluster.local (VirtualService default/reviews)`).
fn host_name(vh: &VirtualHost) -> &str {
    vh.name.split_once(" (").map_or(&*vh.name, |(h, _)| h)
}

/// The API a resource's field names come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Dialect {
    Istio,
    HttpRoute,
    GrpcRoute,
}

impl Dialect {
    pub(crate) fn of(kind: &str) -> Dialect {
        match kind {
            "HTTPRoute" => Dialect::HttpRoute,
            "GRPCRoute" => Dialect::GrpcRoute,
            _ => Dialect::Istio,
        }
    }

    fn str_kind(self, m: &StrMatch) -> &'static str {
        match (self, m) {
            (Dialect::Istio, StrMatch::Exact(_)) => "exact",
            (Dialect::Istio, StrMatch::Prefix(_)) => "prefix",
            (Dialect::Istio, StrMatch::Regex(_)) => "regex",
            (_, StrMatch::Exact(_)) => "Exact",
            (_, StrMatch::Prefix(_)) => "prefix",
            (_, StrMatch::Regex(_)) => "RegularExpression",
        }
    }
}

/// The field path of rule `rule` of a resource: `spec.http[N]` or `spec.rules[N]`.
pub(crate) fn rule_at(d: Dialect, rule: u32) -> String {
    match d {
        Dialect::Istio => format!("spec.http[{rule}]"),
        _ => format!("spec.rules[{rule}]"),
    }
}

/// The field path of a match block: `spec.http[N].match[M]` or `spec.rules[N].matches[M]`.
pub(crate) fn block_at(b: &Block, d: Dialect, rule: u32, block: u16) -> String {
    if !b.path.is_empty() {
        return b.path.to_string();
    }
    match d {
        Dialect::Istio => format!("spec.http[{rule}].match[{block}]"),
        _ => format!("spec.rules[{rule}].matches[{block}]"),
    }
}

/// `is exact "v"` or `is not exact "v"`.
fn versus(hit: bool, kind: &str, operand: &str) -> String {
    let not = if hit { "" } else { "not " };
    format!("is {not}{kind} {operand:?}")
}

/// The condition `miss` of `b` that failed for `req` ([`Block::check`]), as (field path
/// relative to the block, what the request carried).
fn describe_miss<R: Request + ?Sized>(
    b: &Block,
    d: Dialect,
    req: &R,
    path: &str,
    miss: Miss,
) -> (String, String) {
    let s = &b.source;
    match miss {
        Miss::Source(SourceMiss::Port) => {
            let want = s.port.unwrap_or_default();
            let seen = match req.port() {
                Some(p) => format!("port {p} is not {want}"),
                None => format!(
                    "port {} (addressed, the request names none) is not {want}",
                    addressed_port(req)
                ),
            };
            ("port".into(), seen)
        }
        Miss::Source(SourceMiss::Namespace) => {
            let want = s.namespace.as_deref().unwrap_or_default();
            let seen = format!(
                "source namespace {:?} is not {want:?}",
                req.source_namespace()
            );
            ("sourceNamespace".into(), seen)
        }
        Miss::Source(SourceMiss::Label(i)) => {
            let (k, v) = &s.labels[i];
            let seen = match req.source_label(k) {
                Some(x) => format!("source label {k} {x:?} is not {v:?}"),
                None => format!("source label {k}: absent"),
            };
            (format!("sourceLabels[{k}]"), seen)
        }
        Miss::Method | Miss::Scheme | Miss::Authority => {
            let (field, name, m, value) = match miss {
                Miss::Method => ("method", ":method", &b.method, req.method()),
                Miss::Scheme => ("scheme", ":scheme", &b.scheme, req.scheme()),
                _ => ("authority", ":authority", &b.authority, req.authority()),
            };
            let seen = match m {
                Some(m) => {
                    let (_, operand) = m.describe();
                    format!("{name} {value:?} {}", versus(false, d.str_kind(m), operand))
                }
                None => format!("{name} {value:?}"),
            };
            (field.into(), seen)
        }
        Miss::Uri => {
            let field = match d {
                Dialect::Istio => "uri",
                Dialect::HttpRoute => "path",
                Dialect::GrpcRoute => "method",
            };
            let Some(u) = &b.uri else {
                return (field.into(), format!(":path {path:?}"));
            };
            let (kind, operand, ignore_case) = match u {
                PathMatch::Exact { value, ignore_case } => {
                    let k = if d == Dialect::Istio {
                        "exact"
                    } else {
                        "Exact"
                    };
                    (k, &**value, *ignore_case)
                }
                PathMatch::Prefix { value, ignore_case } => ("prefix", &**value, *ignore_case),
                PathMatch::SegmentPrefix(v) => ("PathPrefix", &**v, false),
                PathMatch::Regex(r) => {
                    let k = if d == Dialect::Istio {
                        "regex"
                    } else {
                        "RegularExpression"
                    };
                    (k, r.as_str(), false)
                }
            };
            let mut seen = format!(":path {path:?} {}", versus(false, kind, operand));
            if ignore_case {
                seen.push_str(" (ignoreUriCase)");
            }
            (field.into(), seen)
        }
        Miss::Header(i) => {
            let h = &b.headers[i];
            let field = match b.header_fields.get(i) {
                Some(f) if b.header_fields.len() == b.headers.len() => f.to_string(),
                _ => match (d, h.invert) {
                    (Dialect::Istio, false) => format!("headers[{}]", h.source.name()),
                    (Dialect::Istio, true) => format!("withoutHeaders[{}]", h.source.name()),
                    _ => format!("headers[{i}]"),
                },
            };
            (field, header_seen(h, d, req, path))
        }
        Miss::Query(i) => {
            let q = &b.query[i];
            let field = match d {
                Dialect::Istio => format!("queryParams[{}]", q.key),
                _ => format!("queryParams[{i}]"),
            };
            let key = &q.key;
            let seen = match (first_value(req.path(), key), &q.value) {
                (None, _) => format!("query parameter {key}: absent"),
                (Some(v), Some(m)) => {
                    let (_, operand) = m.describe();
                    format!(
                        "query parameter {key} {v:?} {}",
                        versus(false, d.str_kind(m), operand)
                    )
                }
                (Some(v), None) => format!("query parameter {key} {v:?}"),
            };
            (field, seen)
        }
    }
}

/// What the request carried for a header condition that failed.
fn header_seen<R: Request + ?Sized>(h: &HeaderMatch, d: Dialect, req: &R, path: &str) -> String {
    let (name, value): (String, Option<String>) = match &h.source {
        HeaderSource::Header(n) => {
            let mut values = req.header_values(n).peekable();
            let v = values.peek().is_some().then(|| {
                values
                    .map(String::from_utf8_lossy)
                    .collect::<Vec<_>>()
                    .join(",")
            });
            (n.to_string(), v)
        }
        HeaderSource::Method => (":method".into(), Some(req.method().into())),
        HeaderSource::Scheme => (":scheme".into(), Some(req.scheme().into())),
        HeaderSource::Authority => (":authority".into(), Some(req.authority().into())),
        HeaderSource::Path => (
            ":path".into(),
            Some(format!(
                "{path}{}",
                crate::predicate::path::query_of(req.path())
            )),
        ),
        HeaderSource::Claim(c) => (
            format!("@request.auth.claims.{c}"),
            req.jwt_claim(c).map(str::to_string),
        ),
    };
    match (value, &h.value) {
        (None, Some(m)) if h.missing_as_empty => {
            let (_, operand) = m.describe();
            let hit = m.is_match(b"");
            format!(
                "{name}: absent, read as \"\" which {}",
                versus(hit, d.str_kind(m), operand)
            )
        }
        (None, _) => format!("{name}: absent"),
        (Some(v), None) if h.invert => format!("{name} {v:?} is present"),
        (Some(v), None) => format!("{name} {v:?}"),
        (Some(v), Some(m)) => {
            let (_, operand) = m.describe();
            format!("{name} {v:?} {}", versus(h.invert, d.str_kind(m), operand))
        }
    }
}

fn winner<R: Request + ?Sized>(
    rule: &Rule,
    d: &Decision<'_>,
    req: &R,
    draw: u64,
    candidate: usize,
) -> Winner {
    let m = d.matched().expect("from_match returns a match");
    let mut w = Winner {
        candidate,
        action: WinnerAction::DirectResponse { status: 0 },
        destination: m.destination.map(|w| dest_ref(&w.destination)),
        unavailable: m.unavailable.map(|u| u.reason()),
        faults: Vec::new(),
        mirrors: Vec::new(),
        cors: None,
        retries: d.retries().map(crate::action::Retries::describe),
        timeout: d.forward().and_then(|f| f.timeout),
    };
    w.action = match &rule.action {
        Action::Forward(f) => {
            forward_rolls(f, m.delay, m.abort, m.mirrored, draw, &mut w);
            let mut split = split_explain(f, m.sticky_hash, m.destination, draw);
            if let Some(s) = &f.session {
                let state = m.session.unwrap_or(crate::session::SessionState::Absent);
                if state == crate::session::SessionState::Pinned {
                    split.by = SplitBy::Session;
                }
                split.session = Some(SessionExplain {
                    kind: s.kind.name(),
                    name: s.name.to_string(),
                    state,
                });
            }
            WinnerAction::Forward(split)
        }
        Action::Redirect(r) => WinnerAction::Redirect {
            code: r.code,
            location: d.redirect_location(req),
        },
        Action::DirectResponse(r) => WinnerAction::DirectResponse { status: r.status },
    };
    w
}

fn split_explain(
    f: &Forward,
    sticky_hash: Option<u64>,
    picked: Option<&crate::action::WeightedDestination>,
    draw: u64,
) -> SplitExplain {
    let ends = f.split.cumulative();
    let total = f.split.total();
    let destinations = f
        .destinations
        .iter()
        .enumerate()
        .map(|(j, w)| SplitEntry {
            destination: dest_ref(&w.destination),
            weight: w.weight,
            start: if j == 0 { 0 } else { ends[j - 1] },
            end: ends[j],
        })
        .collect();
    let by = match (total, sticky_hash) {
        (0, _) => SplitBy::ZeroTotal,
        (_, Some(hash)) => SplitBy::Sticky { hash },
        (t, None) => SplitBy::Draw { u: draw % t },
    };
    let picked = picked.and_then(|p| f.destinations.iter().position(|w| std::ptr::eq(w, p)));
    SplitExplain {
        destinations,
        total,
        by,
        sticky_key: f.sticky.as_deref().map(key_name),
        picked,
        session: None,
    }
}

fn key_name(k: &crate::hash::KeySource) -> String {
    use crate::hash::KeySource;
    match k {
        KeySource::Header(n) => format!("header:{n}"),
        KeySource::Cookie(n) => format!("cookie:{n}"),
        KeySource::Query(n) => format!("query:{n}"),
        KeySource::SourceIp => "source-ip".to_string(),
    }
}

/// The fault and mirror rolls of a forwarding rule, from the draw as [`Rolls`] makes them;
/// whether each hit is the decision's own answer.
fn forward_rolls(
    f: &Forward,
    delay: Option<Duration>,
    abort: Option<&Abort>,
    mirrored: u64,
    draw: u64,
    w: &mut Winner,
) {
    let rolls = Rolls(draw);
    if let Some(fault) = &f.fault {
        if let Some((d, share)) = &fault.delay {
            w.faults.push(FaultRoll {
                kind: "delay",
                fault: format!("{d:?}"),
                per_million: *share,
                roll: rolls.delay(),
                hit: delay.is_some(),
            });
        }
        if let Some((a, share)) = &fault.abort {
            w.faults.push(FaultRoll {
                kind: "abort",
                fault: match a {
                    Abort::Http(c) => format!("http {c}"),
                    Abort::Grpc(g) => format!("grpc {g}"),
                },
                per_million: *share,
                roll: rolls.abort(),
                hit: abort.is_some(),
            });
        }
    }
    for (i, mirror) in f.mirrors.iter().enumerate() {
        w.mirrors.push(MirrorRoll {
            destination: dest_ref(&mirror.destination),
            per_million: mirror.per_million,
            roll: rolls.mirror(),
            hit: i < MAX_MIRRORS && mirrored & (1 << i) != 0,
        });
    }
}

/// `1 entry`, `2 entries`.
fn plural(n: usize, one: &str, many: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {many}")
    }
}

/// `50%`, `0.1%`, `12.3456%`.
fn percent(per_million: u32) -> String {
    let whole = per_million / 10_000;
    let frac = per_million % 10_000;
    if frac == 0 {
        return format!("{whole}%");
    }
    let frac = format!("{frac:04}");
    format!("{whole}.{}%", frac.trim_end_matches('0'))
}

impl fmt::Display for ResourceRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}/{}", self.kind, self.namespace, self.name)
    }
}

impl fmt::Display for DestinationRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.host)?;
        if let Some(s) = &self.subset {
            write!(f, " subset {s}")?;
        }
        if let Some(p) = self.port {
            write!(f, " port {p}")?;
        }
        Ok(())
    }
}

impl fmt::Display for Explain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write_context(f)?;
        self.write_host(f)?;
        self.write_candidates(f)?;
        if let Some(r) = &self.registry {
            write_registry(f, r, &self.source_namespace)?;
        }
        if let Some(t) = &self.tls_port {
            writeln!(
                f,
                "protocol: port {} of {} is {} ({}): the sidecar routes the connection by SNI \
                 there, not HTTP requests; as a connection:",
                t.port, t.host, t.protocol, t.defined_by
            )?;
            for line in t.connection.to_string().lines() {
                writeln!(f, "  {line}")?;
            }
        }
        writeln!(f, "outcome: {}, status {}", self.outcome, self.status)?;
        let Some(w) = &self.winner else {
            return self.write_destination_rule(f);
        };
        match &w.action {
            WinnerAction::Redirect { code, location } => match location {
                Some(l) => writeln!(f, "action: redirect {code} to {l}")?,
                None => writeln!(f, "action: redirect {code}")?,
            },
            WinnerAction::DirectResponse { status } => {
                writeln!(f, "action: direct response {status}")?
            }
            WinnerAction::Forward(s) => write_split(f, s, self.draw)?,
        }
        write_winner_effects(f, w)?;
        if let Some(c) = &w.cors {
            write_cors(f, c)?;
        }
        if let Some(p) = &self.port {
            writeln!(f, "port: {} ({})", p.number, p.from.describe())?;
        }
        self.write_destination_rule(f)
    }
}

/// The registry step of [`Explain`]'s text form.
fn write_registry(f: &mut fmt::Formatter<'_>, r: &RegistryStep, ns: &str) -> fmt::Result {
    match (&r.host, &r.defined_by, r.catch_all) {
        (Some(host), Some(by), _) => writeln!(
            f,
            "registry: {host} is defined by {by}: the default route to it"
        ),
        (_, _, Some((route, cluster))) => writeln!(
            f,
            "registry: no Service or ServiceEntry visible to namespace {ns} defines the host at \
             this port; outboundTrafficPolicy {}: route {route} to {cluster}",
            r.policy
        ),
        _ => Ok(()),
    }
}

/// The steps of [`Explain`]'s text form, in the order they are written.
impl Explain {
    /// The DestinationRule that applied, when one did.
    fn write_destination_rule(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Some(r) = &self.destination_rule else {
            return Ok(());
        };
        let merged = if r.names.len() > 1 { " (merged)" } else { "" };
        writeln!(
            f,
            "destination rule: {}{merged} for host {}",
            r.names.join(", "),
            r.host
        )
    }

    /// The request, the routing context and the port group.
    fn write_context(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "request: {} {} {} (draw {})",
            self.method, self.host.authority, self.path, self.draw
        )?;
        let ns = &self.source_namespace;
        match &self.gateway {
            None => {
                writeln!(f, "context: mesh, source namespace {ns}")?;
                if let Some(s) = &self.sidecar {
                    let how = if s.by_selector {
                        "its workloadSelector selects the client"
                    } else if s.namespace == *ns {
                        "the namespace's default"
                    } else {
                        "the root namespace's default"
                    };
                    let listener = match s.listener {
                        Some(Some(p)) => format!("egress listener for port {p}"),
                        Some(None) => "catch-all egress listener".into(),
                        None => "no egress listener for the port: no VirtualService is seen".into(),
                    };
                    writeln!(f, "sidecar: {}/{} ({how}); {listener}", s.namespace, s.name)?;
                }
            }
            Some((gns, name)) => {
                let unknown = if self.context_known {
                    ""
                } else {
                    " (unknown gateway)"
                };
                writeln!(
                    f,
                    "context: gateway {gns}/{name}{unknown}, source namespace {ns}"
                )?
            }
        }
        if let Some(g) = self.port_group {
            match g {
                PortGroup::AllPorts => writeln!(f, "port group: all ports")?,
                PortGroup::Port(p) => writeln!(f, "port group: port {p}")?,
            }
        }
        Ok(())
    }

    /// The host lookup, its notes, and the claim it led to.
    fn write_host(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let h = &self.host;
        if self.tls_port.is_some() {
            return writeln!(
                f,
                "host: {:?}: not looked up among HTTP virtual hosts",
                h.host
            );
        }
        let vh = h.virtual_host.as_deref().unwrap_or("");
        match &h.found_by {
            HostMatch::Exact => writeln!(f, "host: {:?}: exact, virtual host {vh}", h.host)?,
            HostMatch::ShortName { expanded } => writeln!(
                f,
                "host: {:?}: short name expanded to {expanded}, virtual host {vh}",
                h.host
            )?,
            HostMatch::Wildcard => writeln!(f, "host: {:?}: wildcard, virtual host {vh}", h.host)?,
            HostMatch::None => writeln!(f, "host: {:?}: no virtual host", h.host)?,
        }
        for n in &h.notes {
            writeln!(f, "  note: {n}")?;
        }
        if let Some(c) = &self.claim {
            let resources: Vec<String> = c.resources.iter().map(ToString::to_string).collect();
            let visible = match &c.visible_to {
                None => "every namespace".to_string(),
                Some(list) => format!("namespace {}", list.join(", ")),
            };
            writeln!(
                f,
                "claim: {} (visible to {visible}), claim {} of {}, {}",
                resources.join(", "),
                c.index + 1,
                c.of,
                plural(c.entries, "entry", "entries")
            )?;
        }
        Ok(())
    }

    /// Each entry tried, with its verdict, and how many were not evaluated.
    fn write_candidates(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.candidates.is_empty() {
            writeln!(f, "candidates:")?;
        }
        for (i, c) in self.candidates.iter().enumerate() {
            let name = if c.route_name.is_empty() {
                String::new()
            } else {
                format!(" (route {:?})", c.route_name)
            };
            match &c.verdict {
                Verdict::Won => writeln!(f, "  {}. {} {}{name}: won", i + 1, c.resource, c.at)?,
                Verdict::Failed { field, seen } => writeln!(
                    f,
                    "  {}. {} {}{name}: failed at {field}: {seen}",
                    i + 1,
                    c.resource,
                    c.at
                )?,
            }
        }
        if self.not_evaluated > 0 {
            let n = plural(self.not_evaluated, "later entry", "later entries");
            writeln!(f, "  ({n} not evaluated)")?;
        }
        Ok(())
    }
}

/// How the winner's split picked a destination, and the ranges of its destinations.
fn write_split(f: &mut fmt::Formatter<'_>, s: &SplitExplain, draw: u64) -> fmt::Result {
    match (&s.by, &s.sticky_key) {
        (_, _) if s.destinations.len() == 1 && s.total > 0 => {
            writeln!(f, "split: one destination, takes every request")?
        }
        (SplitBy::Draw { u }, None) => writeln!(f, "split: draw {draw} % {} = {u}", s.total)?,
        (SplitBy::Draw { u }, Some(k)) => writeln!(
            f,
            "split: sticky key {k} absent, draw {draw} % {} = {u}",
            s.total
        )?,
        (SplitBy::Sticky { hash }, k) => writeln!(
            f,
            "split: sticky hash {hash:#018x} of {}",
            k.as_deref().unwrap_or("the key")
        )?,
        (SplitBy::ZeroTotal, _) => writeln!(f, "split: every weight is 0")?,
        (SplitBy::Session, _) => writeln!(f, "split: the session picks")?,
    }
    if let Some(sp) = &s.session {
        let what = match sp.state {
            crate::session::SessionState::Pinned => "pins the request to its backend",
            crate::session::SessionState::Unrecognized => {
                "names no backend of the rule: a new session, placed by the split"
            }
            _ => "is absent: a new session, placed by the split",
        };
        writeln!(
            f,
            "session: {} {:?} {what}",
            sp.kind.to_lowercase(),
            sp.name
        )?;
    }
    for (j, d) in s.destinations.iter().enumerate() {
        if s.destinations.len() == 1 && s.total > 0 {
            break;
        }
        let mark = if s.picked == Some(j) {
            " <- picked"
        } else {
            ""
        };
        writeln!(
            f,
            "  [{}, {}) {} weight {}{mark}",
            d.start, d.end, d.destination, d.weight
        )?;
    }
    Ok(())
}

/// The winner's destination, and the fault and mirror rolls.
fn write_winner_effects(f: &mut fmt::Formatter<'_>, w: &Winner) -> fmt::Result {
    if let Some(d) = &w.destination {
        match w.unavailable {
            None => writeln!(f, "destination: {d}")?,
            Some(u) => writeln!(f, "destination: {d} (unavailable: {u})")?,
        }
    }
    for r in &w.faults {
        writeln!(
            f,
            "fault {} {} for {} of requests: roll {} {}",
            r.kind,
            r.fault,
            percent(r.per_million),
            r.roll,
            roll_verdict(r.hit, r.per_million, "hit")
        )?;
    }
    for m in &w.mirrors {
        writeln!(
            f,
            "mirror {} for {} of requests: roll draw % 1000000 = {} {}",
            m.destination,
            percent(m.per_million),
            m.roll,
            roll_verdict(m.hit, m.per_million, "mirrored")
        )?;
    }
    if let Some(t) = w.timeout {
        writeln!(f, "timeout: {} ms", t.as_millis())?;
    }
    if let Some(r) = &w.retries {
        writeln!(f, "retries: {r}")?;
    }
    Ok(())
}

/// The CORS filter's verdict and the headers it writes.
fn write_cors(f: &mut fmt::Formatter<'_>, c: &CorsExplain) -> fmt::Result {
    let Some(origin) = &c.origin else {
        return writeln!(f, "cors: no Origin -> not a CORS request");
    };
    let allowed = match &c.allowed_by {
        Some(m) => format!("allowed by {m}"),
        None => "not allowed".to_string(),
    };
    let then = match (c.request, c.answered) {
        ("preflight", true) => {
            "answered 200 by the CORS filter; the route's action does not run".to_string()
        }
        ("preflight", false) => {
            format!("forwarded (unmatchedPreflights {})", c.unmatched_preflights)
        }
        _ if c.response_headers.is_empty() => "no CORS headers".to_string(),
        _ => "headers set on the response".to_string(),
    };
    writeln!(
        f,
        "cors: {} from origin {origin:?} {allowed} -> {then}",
        c.request
    )?;
    for (name, value) in &c.response_headers {
        writeln!(f, "  {name}: {value}")?;
    }
    Ok(())
}

/// A roll against a share of `per_million`: `< share -> taken`, or `>= share -> not taken`.
fn roll_verdict(hit: bool, per_million: u32, taken: &str) -> String {
    if hit {
        format!("< {per_million} -> {taken}")
    } else {
        format!(">= {per_million} -> not {taken}")
    }
}

fn dest_json(d: &DestinationRef) -> Value {
    json!({"host": d.host, "subset": d.subset, "port": d.port})
}

fn resource_json(r: &ResourceRef) -> Value {
    json!({"kind": r.kind, "namespace": r.namespace, "name": r.name})
}

impl Explain {
    /// The explanation as JSON: every field of [`Explain`], with enums as strings or small
    /// objects (`"found_by": "short-name"`, `"verdict": "failed"` with `field` and `seen`).
    pub fn to_json(&self) -> Value {
        let context = match &self.gateway {
            None => json!({"kind": "mesh"}),
            Some((ns, name)) => json!({
                "kind": "gateway", "namespace": ns, "name": name, "known": self.context_known,
            }),
        };
        let port_group = match self.port_group {
            None => Value::Null,
            Some(PortGroup::AllPorts) => json!("all"),
            Some(PortGroup::Port(p)) => json!(p),
        };
        let h = &self.host;
        let (found_by, expanded) = match &h.found_by {
            HostMatch::Exact => ("exact", None),
            HostMatch::ShortName { expanded } => ("short-name", Some(expanded.as_str())),
            HostMatch::Wildcard => ("wildcard", None),
            HostMatch::None => ("none", None),
        };
        let host = json!({
            "authority": h.authority,
            "host": h.host,
            "found_by": found_by,
            "expanded": expanded,
            "virtual_host": h.virtual_host,
            "notes": h.notes,
        });
        let claim = self.claim.as_ref().map_or(Value::Null, |c| {
            json!({
                "index": c.index,
                "of": c.of,
                "resources": c.resources.iter().map(resource_json).collect::<Vec<_>>(),
                "visible_to": c.visible_to,
                "entries": c.entries,
            })
        });
        let candidates: Vec<Value> = self.candidates.iter().map(candidate_json).collect();
        let winner = self
            .winner
            .as_ref()
            .map_or(Value::Null, |w| winner_json(w, self.draw));
        let mut out = json!({
            "method": self.method,
            "path": self.path,
            "draw": self.draw,
            "context": context,
            "source_namespace": self.source_namespace,
            "port_group": port_group,
            "host": host,
            "claim": claim,
            "candidates": candidates,
            "not_evaluated": self.not_evaluated,
            "registry": self.registry.as_ref().map(|r| json!({
                "host": r.host,
                "defined_by": r.defined_by,
                "policy": r.policy,
                "route": r.catch_all.map(|c| c.0),
                "cluster": r.catch_all.map(|c| c.1),
            })),
            "outcome": self.outcome,
            "status": self.status,
            "winner": winner,
            "port": self.port.map(|p| json!({"number": p.number, "from": p.from.describe()})),
        });
        // Present only where a DestinationRule applies, so that other answers keep their shape.
        if let Some(r) = &self.destination_rule {
            out["destination_rule"] = json!({
                "host": r.host,
                "namespace": r.namespace,
                "names": r.names,
            });
        }
        // Present only where the port is TLS, so that other answers keep their shape.
        if let Some(t) = &self.tls_port {
            out["tls_port"] = json!({
                "host": t.host,
                "port": t.port,
                "protocol": t.protocol,
                "defined_by": t.defined_by,
                "connection": t.connection.to_json(),
            });
        }
        // Present only where a Sidecar applies, so that other answers keep their shape.
        if let Some(s) = &self.sidecar {
            out["sidecar"] = json!({
                "namespace": s.namespace,
                "name": s.name,
                "by_selector": s.by_selector,
                "listener": s.listener.map(|p| p.map_or(json!("catch-all"), |p| json!(p))),
            });
        }
        out
    }
}

/// One candidate of [`Explain::to_json`].
fn candidate_json(c: &Candidate) -> Value {
    let mut v = json!({
        "resource": resource_json(&c.resource),
        "rule": c.rule,
        "rule_name": c.rule_name,
        "match": c.block,
        "route_name": c.route_name,
        "at": c.at,
    });
    match &c.verdict {
        Verdict::Won => v["verdict"] = json!("won"),
        Verdict::Failed { field, seen } => {
            v["verdict"] = json!("failed");
            v["field"] = json!(field);
            v["seen"] = json!(seen);
        }
    }
    v
}

/// The winner of [`Explain::to_json`]; `draw` is the request's draw.
fn winner_json(w: &Winner, draw: u64) -> Value {
    let action = match &w.action {
        WinnerAction::Redirect { code, location } => {
            json!({"kind": "redirect", "code": code, "location": location})
        }
        WinnerAction::DirectResponse { status } => {
            json!({"kind": "direct_response", "status": status})
        }
        WinnerAction::Forward(s) => {
            let by = match &s.by {
                SplitBy::Draw { u } => {
                    json!({"kind": "draw", "draw": draw, "total": s.total, "u": u})
                }
                SplitBy::Sticky { hash } => json!({"kind": "sticky", "hash": hash}),
                SplitBy::ZeroTotal => json!({"kind": "zero_total"}),
                SplitBy::Session => json!({"kind": "session"}),
            };
            {
                let mut forward = json!({
                    "kind": "forward",
                    "split": s.destinations.iter().map(|d| json!({
                        "destination": dest_json(&d.destination),
                        "weight": d.weight,
                        "interval": [d.start, d.end],
                    })).collect::<Vec<_>>(),
                    "total": s.total,
                    "by": by,
                    "sticky_key": s.sticky_key,
                    "picked": s.picked,

                });
                // Only a rule with session persistence says what the session did.
                if let Some(sp) = &s.session {
                    forward["session"] = json!({
                        "type": sp.kind,
                        "name": sp.name,
                        "state": sp.state.label(),
                    });
                }
                forward
            }
        }
    };
    json!({
        "candidate": w.candidate,
        "action": action,
        "destination": w.destination.as_ref().map(dest_json),
        "unavailable": w.unavailable,
        "faults": w.faults.iter().map(|r| json!({
            "kind": r.kind,
            "fault": r.fault,
            "per_million": r.per_million,
            "roll": r.roll,
            "hit": r.hit,
        })).collect::<Vec<_>>(),
        "mirrors": w.mirrors.iter().map(|m| json!({
            "destination": dest_json(&m.destination),
            "per_million": m.per_million,
            "roll": m.roll,
            "hit": m.hit,
        })).collect::<Vec<_>>(),
        "timeout_ms": w.timeout.map(|t| t.as_millis() as u64),
        "retries": w.retries,
        "cors": w.cors.as_ref().map(|c| json!({
            "request": c.request,
            "origin": c.origin,
            "allowed_by": c.allowed_by,
            "unmatched_preflights": c.unmatched_preflights,
            "answered": c.answered,
            "response_headers": c.response_headers.iter().map(|(n, v)| json!([n, v])).collect::<Vec<_>>(),
        })),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentages_read_naturally() {
        assert_eq!(percent(1_000_000), "100%");
        assert_eq!(percent(500_000), "50%");
        assert_eq!(percent(1_000), "0.1%");
        assert_eq!(percent(123_456), "12.3456%");
        assert_eq!(percent(0), "0%");
    }

    #[test]
    fn explain_is_send_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Explain>();
    }
}
