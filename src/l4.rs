//! Connection (L4) routing: the compiled `tls` and `tcp` rules of VirtualServices and the
//! Gateway API's `TLSRoute` and `TCPRoute`, and the decision for one [`Connection`].
//!
//! # Semantics
//! Istio builds a listener's filter chains from the rules and Envoy picks one chain per
//! connection (istio/istio pilot/pkg/networking/core/tls.go
//! `buildSidecarOutboundTLSFilterChainOpts`, `buildSidecarOutboundTCPFilterChainOpts`; envoy
//! source/common/listener_manager/filter_chain_manager_impl.cc `findFilterChain`). meshroute
//! decides the connection as that chain would:
//! - The rules that apply are those of every VirtualService visible to the source namespace
//!   (`exportTo`) whose hosts match the service the connection is addressed to, in Istio's
//!   precedence order (`getConfigsForHost`); at a gateway, those of every VirtualService bound
//!   to it. `gateways`, `port`, `sourceLabels` and `sourceNamespace` are static: a match that
//!   fails them is not built for the proxy at all (`matchTLS`, `matchTCP`).
//! - TLS: of the matches left, Envoy first keeps the chains whose `destinationSubnets` hold
//!   the destination address by longest prefix (chains without subnets when none does), then
//!   among those the one whose `sniHosts` name the SNI most specifically (exact, then the
//!   longest wildcard suffix); equal chains go to the first declared, as istiod emits one
//!   chain per distinct (SNI, subnets) pair. Envoy does not go back a step: a connection whose
//!   SNI no chain of the chosen subnet names is closed ([`Outcome::NoRoute`]). A service
//!   without any TLS match for this proxy gets the default route ([`Outcome::Passthrough`]).
//! - TCP: the first rule without `match`, or whose first static match has no
//!   `destinationSubnets`, ends the list (Istio stops there); matches with subnets before it
//!   are chains of their own and win, longest prefix first, when they hold the destination
//!   address. Nothing matched is the default route to the service ([`Outcome::Passthrough`]).
//! - In the mesh, with Services or ServiceEntries loaded, a connection to a destination none
//!   of them defines (by host, SNI or Service address) meets the outbound traffic policy's
//!   passthrough chain instead: [`Outcome::PassthroughCluster`] under ALLOW_ANY,
//!   [`Outcome::BlackHole`] under REGISTRY_ONLY. A client's Sidecar scopes both: the
//!   VirtualServices and services it imports, and its own outbound traffic policy.
//! - At a gateway a connection nothing serves is closed: [`Outcome::NoVirtualHost`] when no
//!   rule is bound there (for a Gateway API route: to a listener on the connection's port),
//!   [`Outcome::NoRoute`] when rules are and none matches.
//! - Gateway API `TLSRoute`s and `TCPRoute`s are placed at their listeners' ports, oldest
//!   first: a TLSRoute's hostnames (intersected with the listener's) are its SNI names, and
//!   the first rule of a route serves (rules have no matches).

use std::net::IpAddr;

use crate::connection::{Connection, Protocol};
use crate::decision::{Decision, Outcome};
use crate::predicate::host::{HostIndex, lookup_names, with_request_host};
use crate::rule::Rule;
use crate::sidecar::View;
use crate::table::{Inner, Visibility};

/// A connection's client, as a Sidecar selects it.
struct Workload<'c, C: ?Sized>(&'c C);

impl<C: Connection + ?Sized> crate::balance::Client for Workload<'_, C> {
    fn namespace(&self) -> &str {
        self.0.source_namespace()
    }
    fn label(&self, key: &str) -> Option<&str> {
        self.0.source_label(key)
    }
}

/// An IP block (`10.0.0.0/8`, `2001:db8::/32`; a bare address is a `/32` or `/128`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr {
    /// The block's address.
    pub addr: IpAddr,
    /// Prefix length in bits.
    pub prefix: u8,
}

impl Cidr {
    /// Parses `ip` or `ip/bits`; `None` when it is neither.
    ///
    /// # Example
    /// ```
    /// use meshroute::l4::Cidr;
    /// let block = Cidr::parse("10.0.0.0/8").unwrap();
    /// assert!(block.contains("10.1.2.3".parse().unwrap()));
    /// assert!(!block.contains("11.0.0.1".parse().unwrap()));
    /// ```
    pub fn parse(s: &str) -> Option<Cidr> {
        let (addr, bits) = match s.split_once('/') {
            Some((a, b)) => (a, Some(b)),
            None => (s, None),
        };
        let addr: IpAddr = addr.parse().ok()?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match bits {
            None => max,
            Some(b) if !b.is_empty() && b.bytes().all(|c| c.is_ascii_digit()) => {
                b.parse::<u8>().ok().filter(|&p| p <= max)?
            }
            Some(_) => return None,
        };
        Some(Cidr { addr, prefix })
    }

    /// Whether the block holds `ip` (an IPv4 address is never in an IPv6 block, nor the
    /// reverse).
    pub fn contains(&self, ip: IpAddr) -> bool {
        fn masked(bits: u128, prefix: u8, width: u8) -> u128 {
            if prefix == 0 {
                0
            } else {
                bits >> (width - prefix)
            }
        }
        match (self.addr, ip) {
            (IpAddr::V4(a), IpAddr::V4(b)) => {
                masked(u32::from(a).into(), self.prefix, 32)
                    == masked(u32::from(b).into(), self.prefix, 32)
            }
            (IpAddr::V6(a), IpAddr::V6(b)) => {
                masked(u128::from(a), self.prefix, 128) == masked(u128::from(b), self.prefix, 128)
            }
            _ => false,
        }
    }
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// One match of a connection rule (`tls[].match[]`, `tcp[].match[]`): every condition holds.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct L4Match {
    /// SNI names (lowercase; `*.example.com` wildcards, `*` any); TLS only.
    pub sni_hosts: Box<[Box<str>]>,
    /// Destination address blocks; empty matches any.
    pub destination_subnets: Box<[Cidr]>,
    /// Destination port.
    pub port: Option<u16>,
    /// Labels the source workload must carry.
    pub source_labels: Box<[(Box<str>, Box<str>)]>,
    /// Namespace the source workload must be in.
    pub source_namespace: Option<Box<str>>,
    /// The match's field path, e.g. `spec.tcp[0].match[1]`.
    pub path: Box<str>,
}

impl L4Match {
    /// Whether the conditions Istio evaluates when it builds the proxy's configuration (port,
    /// source labels, source namespace) hold for `conn`.
    pub fn static_holds<C: Connection + ?Sized>(&self, conn: &C) -> bool {
        self.port.is_none_or(|p| p == conn.port())
            && self
                .source_namespace
                .as_deref()
                .is_none_or(|ns| ns == conn.source_namespace())
            && self
                .source_labels
                .iter()
                .all(|(k, v)| conn.source_label(k) == Some(&**v))
    }
}

/// A compiled connection rule: a VirtualService `tls` or `tcp` rule, or a Gateway API
/// `TLSRoute` or `TCPRoute` rule.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct L4Rule {
    /// Which connections it routes.
    pub protocol: Protocol,
    /// The rule: its source, position, name and forwarding action (destinations and split;
    /// no HTTP actions).
    pub rule: Rule,
    /// The rule's matches (OR); empty matches every connection (TCP, and Gateway API rules).
    pub matches: Box<[L4Match]>,
    /// The rule's field path, e.g. `spec.tls[0]`.
    pub path: Box<str>,
}

/// The connection rule that decided a connection, and its match.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub struct ConnectionMatch<'t> {
    /// The rule.
    pub rule: &'t L4Rule,
    /// The index of the match that held (`None` for a rule without matches).
    pub block: Option<u16>,
}

impl<'t> ConnectionMatch<'t> {
    /// The field path of what matched: the match, else the rule.
    pub fn path(&self) -> &'t str {
        match self.block {
            Some(b) => &self.rule.matches[b as usize].path,
            None => &self.rule.path,
        }
    }
}

/// One rule (or one match of it) in a service's ordered list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct L4Entry {
    /// Index into [`L4Table::rules`].
    pub(crate) rule: u32,
    pub(crate) block: Option<u16>,
}

/// One resource's connection rules in one context.
#[derive(Clone, Debug, Default)]
pub(crate) struct L4Service {
    /// For messages: the first host and the resource.
    pub(crate) name: Box<str>,
    /// Hosts as configured, lowercase (`*` and `*.suffix` wildcards).
    pub(crate) hosts: Box<[Box<str>]>,
    pub(crate) visibility: Visibility,
    /// Listener ports the rules are bound to (a Gateway API listener's); empty: every port.
    pub(crate) ports: Box<[u16]>,
    pub(crate) entries: Box<[L4Entry]>,
    /// A Gateway API TCPRoute on a TLS listener that terminates: its TCP rules take the TLS
    /// connections whose SNI `hosts` (the listener's hostname) names.
    pub(crate) terminates_tls: bool,
}

impl L4Service {
    /// Whether the service's rules apply to a connection on `port` from namespace `ns`
    /// addressed to `host` (in the mesh; `None` at a gateway).
    pub(crate) fn applies(&self, mesh: bool, ns: &str, port: u16, host: Option<&str>) -> bool {
        (!mesh || self.visibility.admits(ns))
            && (self.ports.is_empty() || self.ports.contains(&port))
            && host.is_none_or(|h| self.hosts.iter().any(|p| host_matches(p, h)))
    }
}

/// The connection rules of one context: the mesh or a gateway.
#[derive(Clone, Debug, Default)]
pub(crate) struct L4Context {
    /// `None` = mesh; `Some((namespace, name))` = gateway.
    pub(crate) gateway: Option<(Box<str>, Box<str>)>,
    /// In precedence order.
    pub(crate) services: Vec<L4Service>,
    /// An Istio `Gateway`'s servers, when it is loaded: a connection is taken only by a server
    /// on its port, and how depends on the server's protocol and TLS mode.
    pub(crate) servers: Option<Box<[GatewayServer]>>,
    /// Which services each host name may use, built once the services are final
    /// ([`L4Table::build_indexes`]).
    by_host: ByHost,
    /// Every service's index, in order: the list a lookup without a name reads.
    all: Box<[u32]>,
}

/// One server of an Istio `Gateway`, as its listener treats connections (istio/istio
/// pilot/pkg/networking/core/gateway.go `createGatewayTCPFilterChainOpts`).
#[derive(Clone, Debug)]
pub(crate) struct GatewayServer {
    pub(crate) port: u16,
    /// The host part of each `hosts` entry, lowercase: the SNI names its filter chain matches.
    pub(crate) hosts: Box<[Box<str>]>,
    pub(crate) kind: ServerKind,
    /// For explanations: `servers[i]` and its protocol and mode as written.
    pub(crate) label: Box<str>,
}

/// What an Istio gateway server does with a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ServerKind {
    /// Plain HTTP, or HTTPS that terminates TLS: it carries HTTP requests, decided by `http`
    /// rules (`Table::decide`), not connection rules.
    Http,
    /// No `tls` settings: opaque TCP, routed by `tcp` rules.
    Opaque,
    /// TLS terminated (`SIMPLE`, `MUTUAL`, `ISTIO_MUTUAL`, `OPTIONAL_MUTUAL`) on a non-HTTP
    /// port: the decrypted stream is routed by `tcp` rules.
    Terminate,
    /// `PASSTHROUGH` or `AUTO_PASSTHROUGH`: routed by SNI with `tls` rules.
    Passthrough,
}

impl ServerKind {
    /// The rules a connection of `protocol` taken by such a server is routed by: its own
    /// (passthrough), `tcp` (opaque, or TLS terminated), or none (HTTP).
    pub(crate) fn rules_for(self, protocol: Protocol) -> Option<Protocol> {
        match self {
            ServerKind::Http => None,
            ServerKind::Passthrough => Some(protocol),
            ServerKind::Opaque | ServerKind::Terminate => Some(Protocol::Tcp),
        }
    }

    /// How the kind reads in explanations.
    pub(crate) fn describe(self) -> &'static str {
        match self {
            ServerKind::Http => "carries HTTP: its requests are decided by http rules",
            ServerKind::Opaque => "opaque TCP: tcp rules apply",
            ServerKind::Terminate => "terminates TLS: tcp rules apply to the decrypted stream",
            ServerKind::Passthrough => "passes TLS through: tls rules apply by SNI",
        }
    }
}

impl L4Context {
    /// The server of this gateway's that takes `conn`, when the gateway's servers are known:
    /// among the servers on its port, for TLS the one whose hosts name its SNI most
    /// specifically (Envoy's `server_names`), else one without TLS (its filter chain matches
    /// any connection); for plain TCP only one without TLS. `Some(None)`: no server takes it.
    pub(crate) fn server_for<C: Connection + ?Sized>(
        &self,
        conn: &C,
    ) -> Option<Option<&GatewayServer>> {
        let servers = self.servers.as_deref()?;
        let port = conn.port();
        let on_port = servers.iter().filter(move |s| s.port == port);
        let opaque = || on_port.clone().find(|s| s.kind == ServerKind::Opaque);
        if conn.protocol() != Protocol::Tls {
            return Some(opaque());
        }
        // A server whose hosts hold `*` has a chain without `server_names`: it takes any
        // SNI, and a connection without one, least specifically.
        let sni = conn.sni();
        let mut best: Option<(usize, &GatewayServer)> = None;
        for s in on_port.clone().filter(|s| s.kind != ServerKind::Opaque) {
            let rank = s
                .hosts
                .iter()
                .filter_map(|h| match sni {
                    Some(sni) => sni_rank(h, sni),
                    None => (&**h == "*").then_some(0),
                })
                .max();
            if let Some(r) = rank
                && best.is_none_or(|(b, _)| r > b)
            {
                best = Some((r, s));
            }
        }
        Some(best.map(|(_, s)| s).or_else(opaque))
    }
}

/// A connection whose TLS a gateway server terminated, routed by `tcp` rules.
struct Decrypted<'c, C: ?Sized>(&'c C);

impl<C: Connection + ?Sized> Connection for Decrypted<'_, C> {
    fn protocol(&self) -> Protocol {
        Protocol::Tcp
    }
    fn sni(&self) -> Option<&str> {
        self.0.sni()
    }
    fn host(&self) -> Option<&str> {
        self.0.host()
    }
    fn destination_ip(&self) -> Option<IpAddr> {
        self.0.destination_ip()
    }
    fn port(&self) -> u16 {
        self.0.port()
    }
    fn source_label(&self, key: &str) -> Option<&str> {
        self.0.source_label(key)
    }
    fn source_namespace(&self) -> &str {
        self.0.source_namespace()
    }
    fn source_ip(&self) -> Option<IpAddr> {
        self.0.source_ip()
    }
    fn gateway(&self) -> Option<(&str, &str)> {
        self.0.gateway()
    }
}

/// The services of a context whose hosts match a name ([`host_matches`]), by name: an exact
/// name's list holds the services naming it and those of the wildcards covering it; a
/// wildcard's (`*suffix`, `*` too) those of every wildcard whose suffix ends its own (the
/// wildcards covering any name it is the longest cover of). Lists are in precedence order.
#[derive(Clone, Debug, Default)]
struct ByHost {
    names: HostIndex,
    /// Indexes into [`L4Context::services`], ascending.
    lists: Vec<Box<[u32]>>,
}

impl ByHost {
    fn new(services: &[L4Service]) -> ByHost {
        let mut names = HostIndex::default();
        let mut lists: Vec<Vec<u32>> = Vec::new();
        let mut add = |names: &mut HostIndex, key: &str, i: usize| {
            let id = names.get_key(key).unwrap_or_else(|| {
                let id = lists.len() as u32;
                names.insert(key, id);
                lists.push(Vec::new());
                id
            });
            lists[id as usize].push(i as u32);
        };
        let patterns = || {
            services
                .iter()
                .enumerate()
                .flat_map(|(i, s)| s.hosts.iter().map(move |h| (h.to_ascii_lowercase(), i)))
        };
        // The wildcards first: each its own services, then those of the wildcards it lies in.
        for (p, i) in patterns().filter(|(p, _)| p.starts_with('*')) {
            add(&mut names, &p, i);
        }
        let wildcard_lists = lists.clone();
        let covering = |names: &HostIndex, name: &str| -> Vec<u32> {
            names
                .get_suffix(name)
                .into_iter()
                .chain(names.wildcards_for(name))
                .flat_map(|id| wildcard_lists[id as usize].iter().copied())
                .collect()
        };
        let mut wildcards: Vec<(u32, Vec<u32>)> = Vec::new();
        for (p, _) in patterns().filter(|(p, _)| p.starts_with('*')) {
            let id = names.get_key(&p).expect("inserted above");
            if !wildcards.iter().any(|(w, _)| *w == id) {
                wildcards.push((id, covering(&names, &p[1..])));
            }
        }
        for (id, list) in wildcards {
            lists[id as usize] = list;
        }
        // Then the exact names, each with its covering wildcards' services.
        for (p, i) in patterns().filter(|(p, _)| !p.starts_with('*')) {
            if names.get_exact(&p).is_none() {
                let id = lists.len() as u32;
                names.insert(&p, id);
                lists.push(covering(&names, &p));
            }
            let id = names.get_exact(&p).expect("inserted above");
            lists[id as usize].push(i as u32);
        }
        ByHost {
            names,
            lists: lists
                .into_iter()
                .map(|mut l| {
                    l.sort_unstable();
                    l.dedup();
                    l.into()
                })
                .collect(),
        }
    }

    /// The services whose hosts match `name`, in order; `None` when the name has upper case
    /// (the lists are by lowercase name), for the caller to match each service.
    #[inline]
    fn services_for(&self, name: &str) -> Option<&[u32]> {
        if name.bytes().any(|b| b.is_ascii_uppercase()) {
            return None;
        }
        // A name equal to a wildcard's suffix (`.example.com` for `*.example.com`) is one the
        // wildcard matches; the index offers a wildcard only for longer names.
        let id = self
            .names
            .get_exact(name)
            .or_else(|| self.names.get_suffix(name))
            .or_else(|| self.names.wildcards_for(name).next());
        Some(id.map_or(&[], |id| &self.lists[id as usize]))
    }
}

/// Every connection rule of a table.
#[derive(Clone, Debug, Default)]
pub(crate) struct L4Table {
    pub(crate) rules: Vec<L4Rule>,
    pub(crate) contexts: Vec<L4Context>,
    /// Service addresses (a loaded Service's `clusterIP`s) → the Service's host, by address
    /// (the first Service given an address keeps it).
    vips: Vec<(IpAddr, Box<str>)>,
}

impl L4Table {
    /// Sets the Service addresses: `vips` in load order, the first of an address winning.
    pub(crate) fn set_service_addresses(&mut self, mut vips: Vec<(IpAddr, Box<str>)>) {
        vips.sort_by_key(|(ip, _)| *ip);
        vips.dedup_by_key(|(ip, _)| *ip);
        self.vips = vips;
    }

    /// The host of the Service whose address is `ip`.
    #[inline]
    pub(crate) fn service_at(&self, ip: IpAddr) -> Option<&str> {
        let i = self.vips.binary_search_by_key(&ip, |(a, _)| *a).ok()?;
        Some(&self.vips[i].1)
    }

    /// Builds each context's index of services by host, once the services are final.
    pub(crate) fn build_indexes(&mut self) {
        for ctx in &mut self.contexts {
            ctx.services.shrink_to_fit();
            ctx.by_host = ByHost::new(&ctx.services);
            ctx.all = (0..ctx.services.len() as u32).collect();
        }
        self.contexts.shrink_to_fit();
    }

    /// The context of `key`, added when new.
    pub(crate) fn context_mut(&mut self, key: &Option<(String, String)>) -> &mut L4Context {
        let pos = self.contexts.iter().position(|c| match (&c.gateway, key) {
            (None, None) => true,
            (Some((a, b)), Some((x, y))) => **a == **x && **b == **y,
            _ => false,
        });
        let i = pos.unwrap_or_else(|| {
            self.contexts.push(L4Context {
                gateway: key
                    .as_ref()
                    .map(|(n, g)| (n.as_str().into(), g.as_str().into())),
                services: Vec::new(),
                servers: None,
                by_host: ByHost::default(),
                all: Box::default(),
            });
            self.contexts.len() - 1
        });
        &mut self.contexts[i]
    }

    /// Every placed rule entry, for tools that probe connections (diff): the context it is
    /// placed in, the service whose hosts bind it, the rule and its match (`None` for a rule
    /// without matches).
    pub(crate) fn placements(
        &self,
    ) -> impl Iterator<Item = (&L4Context, &L4Service, &L4Rule, Option<&L4Match>)> {
        self.contexts.iter().flat_map(move |ctx| {
            ctx.services.iter().flat_map(move |s| {
                s.entries.iter().map(move |e| {
                    // Placement numbers entries from the rules and matches it placed.
                    let rule = &self.rules[e.rule as usize];
                    let m = e.block.map(|b| &rule.matches[usize::from(b)]);
                    (ctx, s, rule, m)
                })
            })
        })
    }

    pub(crate) fn context(&self, gateway: Option<(&str, &str)>) -> Option<&L4Context> {
        self.contexts.iter().find(|c| match (&c.gateway, gateway) {
            (None, None) => true,
            (Some((ns, name)), Some((rns, rname))) => **ns == *rns && **name == *rname,
            _ => false,
        })
    }
}

/// Istio's `host.Name.Matches` of a configured host (possibly a wildcard) and a name.
pub(crate) fn host_matches(pattern: &str, name: &str) -> bool {
    match pattern.strip_prefix('*') {
        Some(suffix) => name.len() >= suffix.len() && ends_with_ignore_case(name, suffix),
        None => pattern.eq_ignore_ascii_case(name),
    }
}

fn ends_with_ignore_case(s: &str, suffix: &str) -> bool {
    s.len() >= suffix.len()
        && s.as_bytes()[s.len() - suffix.len()..].eq_ignore_ascii_case(suffix.as_bytes())
}

/// How specifically `pattern` names the server name `sni`, as Envoy ranks `server_names`:
/// exact above every wildcard, a longer wildcard suffix above a shorter; `None` when it does
/// not name it.
pub(crate) fn sni_rank(pattern: &str, sni: &str) -> Option<usize> {
    if pattern == "*" {
        return Some(0);
    }
    match pattern.strip_prefix('*') {
        Some(suffix) => {
            (sni.len() > suffix.len() && ends_with_ignore_case(sni, suffix)).then_some(suffix.len())
        }
        None => pattern.eq_ignore_ascii_case(sni).then_some(usize::MAX),
    }
}

/// The longest prefix of `subnets` that holds `ip`: `Some(-1)` when there are no subnets (any
/// address), `None` when none holds it (or the address is unknown).
pub(crate) fn cidr_rank(subnets: &[Cidr], ip: Option<IpAddr>) -> Option<i16> {
    if subnets.is_empty() {
        return Some(-1);
    }
    let ip = ip?;
    subnets
        .iter()
        .filter(|c| c.contains(ip))
        .map(|c| i16::from(c.prefix))
        .max()
}

impl Inner {
    /// The decision for `conn` (see the module docs), counted when the table counts.
    pub(crate) fn decide_connection<'t, C: Connection + ?Sized>(
        &'t self,
        conn: &C,
        draw: u64,
    ) -> Decision<'t> {
        let d = self.decide_connection_uncounted(conn, draw);
        self.count(&d, None);
        d
    }

    fn decide_connection_uncounted<'t, C: Connection + ?Sized>(
        &'t self,
        conn: &C,
        draw: u64,
    ) -> Decision<'t> {
        let nothing = |outcome| Decision {
            // A connection has no HTTP retry policy.
            default_retries: None,
            outcome,
            draw,
            port: None,
            normalization: &self.normalization,
        };
        if conn.gateway().is_some() {
            let Some(ctx) = self.l4.context(conn.gateway()) else {
                return nothing(Outcome::NoVirtualHost);
            };
            // An Istio gateway's server on the port decides which rules may take it.
            let decided = match ctx.server_for(conn) {
                None => self.decide_among(ctx, None, None, conn, draw),
                Some(None) => None,
                Some(Some(server)) => match server.kind.rules_for(conn.protocol()) {
                    None => None,
                    Some(Protocol::Tcp) => {
                        self.decide_among(ctx, None, None, &Decrypted(conn), draw)
                    }
                    Some(Protocol::Tls) => self.decide_among(ctx, None, None, conn, draw),
                },
            };
            return decided.unwrap_or_else(|| nothing(Outcome::NoVirtualHost));
        }
        // In the mesh, the client's Sidecar imports the VirtualServices and services it sees.
        let workload = Workload(conn);
        let view = self.sidecars.view(&workload, conn.port());
        let view = view.as_ref();
        let Some(ctx) = self.l4.context(None) else {
            return self.passthrough(conn, view, draw);
        };
        let Some(host) = self.connection_host(conn) else {
            return self.passthrough(conn, view, draw);
        };
        let ns = conn.source_namespace();
        with_request_host(host, |host| {
            lookup_names(host, ns, Some(&self.cluster_domain), |name, _| {
                self.decide_among(ctx, Some(name), view, conn, draw)
            })
        })
        .unwrap_or_else(|| self.passthrough(conn, view, draw))
    }

    /// The decision among the services of `ctx` that apply to `conn` (for the mesh, those with
    /// a host matching `host` that the client's Sidecar `view` imports); `None` when none
    /// applies.
    fn decide_among<'t, C: Connection + ?Sized>(
        &'t self,
        ctx: &'t L4Context,
        host: Option<&str>,
        view: Option<&View<'_>>,
        conn: &C,
        draw: u64,
    ) -> Option<Decision<'t>> {
        let protocol = conn.protocol();
        let ns = conn.source_namespace();
        let mesh = ctx.gateway.is_none();
        let port = conn.port();
        let rules = &self.l4.rules;
        let imported = move |s: &L4Service| {
            view.is_none_or(|v| {
                s.entries.first().is_some_and(|e| {
                    let source = rules[e.rule as usize].rule.source;
                    v.admits_source(source)
                })
            })
        };
        // The services whose hosts match, from the index; every service, each matched, when
        // the index cannot tell.
        let (ids, unindexed) = match host.map(|h| ctx.by_host.services_for(h)) {
            None => (&ctx.all[..], None),
            Some(Some(ids)) => (ids, None),
            Some(None) => (&ctx.all[..], host),
        };
        let services = ids
            .iter()
            .map(|&i| &ctx.services[i as usize])
            .filter(move |s| s.applies(mesh, ns, port, unindexed) && imported(s));
        let first = services.clone().next()?;
        // Every entry of the protocol whose static conditions hold, with the SNI names and
        // subnets Envoy matches at run time.
        let candidates = services.flat_map(move |s| {
            s.entries.iter().filter_map(move |e| {
                let rule = &rules[e.rule as usize];
                let terminated = protocol == Protocol::Tls && s.terminates_tls;
                if rule.protocol != protocol && !terminated {
                    return None;
                }
                let (snis, subnets): (&[Box<str>], &[Cidr]) = match e.block {
                    Some(b) => {
                        let m = &rule.matches[b as usize];
                        if !m.static_holds(conn) {
                            return None;
                        }
                        (&m.sni_hosts, &m.destination_subnets)
                    }
                    None => (&s.hosts, &[]),
                };
                Some((e, snis, subnets))
            })
        });
        let ip = conn.destination_ip();
        let picked = match protocol {
            Protocol::Tls => {
                let sni = conn.sni().unwrap_or("");
                let mut any = false;
                let mut best_cidr: Option<i16> = None;
                for (_, _, subnets) in candidates.clone() {
                    any = true;
                    if let Some(r) = cidr_rank(subnets, ip)
                        && best_cidr.is_none_or(|b| r > b)
                    {
                        best_cidr = Some(r);
                    }
                }
                if !any {
                    return mesh.then(|| self.passthrough(conn, view, draw));
                }
                let mut best: Option<(usize, &L4Entry)> = None;
                if let Some(want) = best_cidr {
                    for (e, snis, subnets) in candidates {
                        if cidr_rank(subnets, ip) != Some(want) {
                            continue;
                        }
                        let rank = snis.iter().filter_map(|p| sni_rank(p, sni)).max();
                        if let Some(r) = rank
                            && best.is_none_or(|(b, _)| r > b)
                        {
                            best = Some((r, e));
                        }
                    }
                }
                best.map(|(_, e)| e)
            }
            Protocol::Tcp => {
                let mut best: Option<(i16, &L4Entry)> = None;
                let mut terminal = None;
                for (e, _, subnets) in candidates {
                    if subnets.is_empty() {
                        terminal = Some(e);
                        break;
                    }
                    if let Some(r) = cidr_rank(subnets, ip)
                        && best.is_none_or(|(b, _)| r > b)
                    {
                        best = Some((r, e));
                    }
                }
                best.map(|(_, e)| e).or(terminal)
            }
        };
        Some(match picked {
            Some(e) => {
                let rule = &rules[e.rule as usize];
                Decision::from_connection(
                    self.source_of(&rule.rule),
                    &self.normalization,
                    rule,
                    e.block,
                    conn,
                    draw,
                )
            }
            None if mesh && protocol == Protocol::Tcp => self.passthrough(conn, view, draw),
            None => Decision {
                // A connection has no HTTP retry policy.
                default_retries: None,
                outcome: Outcome::NoRoute { host: &first.name },
                draw,
                port: None,
                normalization: &self.normalization,
            },
        })
    }

    /// The service a mesh connection is for: its `host`, else (TLS) its SNI, else the Service
    /// whose `clusterIP` it is addressed to.
    fn connection_host<'c, C: Connection + ?Sized>(&'c self, conn: &'c C) -> Option<&'c str> {
        let sni = conn.sni().filter(|_| conn.protocol() == Protocol::Tls);
        conn.host()
            .or(sni)
            .or_else(|| self.l4.service_at(conn.destination_ip()?))
    }

    /// A mesh connection no rule takes: the default route to a service the registry defines
    /// (and to any destination when the table has no registry), else the outbound traffic
    /// policy's passthrough filter chain: `PassthroughCluster` under ALLOW_ANY, `BlackHoleCluster`
    /// under REGISTRY_ONLY (istio/istio pilot/pkg/networking/core/listener.go
    /// `buildSidecarOutboundListener`'s passthrough chains).
    /// `view` is the client's Sidecar view.
    fn passthrough<C: Connection + ?Sized>(
        &self,
        conn: &C,
        view: Option<&View<'_>>,
        draw: u64,
    ) -> Decision<'_> {
        let host = self.connection_host(conn);
        let (outcome, _) = self.catch_all(host, &Workload(conn), conn.port(), view);
        let port = (!matches!(outcome, Outcome::BlackHole)).then(|| conn.port());
        Decision {
            // A connection has no HTTP retry policy.
            default_retries: None,
            outcome,
            draw,
            port,
            normalization: &self.normalization,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The index of services by host gives, for every name, the services a scan with
    /// [`host_matches`] finds, in order: exact names, wildcards (dotted, undotted, `*`), a
    /// name equal to a wildcard's suffix, names no service has, and upper case (left to the
    /// scan).
    #[test]
    fn services_by_host_agree_with_matching_each() {
        let patterns: &[&[&str]] = &[
            &["a.example.com"],
            &["*.example.com"],
            &["*.b.example.com", "c.example.com"],
            &["*example.com"],
            &["*"],
            &["b.example.com"],
            &["x.b.example.com", "*.org"],
            &["*.example.com"],
            &["Upper.Example.com"],
        ];
        let services: Vec<L4Service> = patterns
            .iter()
            .map(|hosts| L4Service {
                hosts: hosts.iter().map(|&h| h.into()).collect(),
                ..L4Service::default()
            })
            .collect();
        let names = [
            "a.example.com",
            "b.example.com",
            "x.b.example.com",
            "y.b.example.com",
            ".b.example.com",
            ".example.com",
            "example.com",
            "myexample.com",
            "c.example.com",
            "upper.example.com",
            "wikipedia.org",
            "org",
            "other.net",
            "",
            "A.example.com",
        ];
        let index = ByHost::new(&services);
        for (k, with_star) in [(services.len(), true), (4, false)] {
            let index = if with_star {
                &index
            } else {
                &ByHost::new(&services[..k])
            };
            for name in names {
                let scanned: Vec<u32> = (0..k as u32)
                    .filter(|&i| {
                        services[i as usize]
                            .hosts
                            .iter()
                            .any(|p| host_matches(p, name))
                    })
                    .collect();
                match index.services_for(name) {
                    Some(ids) => assert_eq!(ids, &scanned[..], "{name:?} among {k} services"),
                    None => assert!(name.bytes().any(|b| b.is_ascii_uppercase()), "{name:?}"),
                }
            }
        }
    }

    /// A Service address finds its Service; the first Service given an address keeps it.
    #[test]
    fn service_addresses() {
        let mut t = L4Table::default();
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        t.set_service_addresses(vec![
            (ip("10.0.0.2"), "b".into()),
            (ip("10.0.0.1"), "a".into()),
            (ip("10.0.0.2"), "b-later".into()),
            (ip("2001:db8::1"), "v6".into()),
        ]);
        assert_eq!(t.service_at(ip("10.0.0.1")), Some("a"));
        assert_eq!(t.service_at(ip("10.0.0.2")), Some("b"));
        assert_eq!(t.service_at(ip("2001:db8::1")), Some("v6"));
        assert_eq!(t.service_at(ip("10.0.0.3")), None);
    }
}
