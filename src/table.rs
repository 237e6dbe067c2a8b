//! The compiled table and the evaluation entry point.

use std::sync::Arc;

use crate::balance::{Client, DrIndex, HostPolicy, LoadBalancer};
use crate::decision::{Decision, Outcome};
use crate::hot::{HeaderCache, HeaderNames, Hot, Quick};
use crate::index::{MIN_INDEXED_ENTRIES, PathIndex, decides, placement};
use crate::observe::{Counters, Handle, Metrics};
use crate::predicate::host::{HostIndex, Via, lookup_names, with_request_host};
use crate::predicate::normalize::MAX_PATH_LEN;
use crate::request::{Request, addressed_port};
pub(crate) use crate::rule::{ClusterKey, Rule, Source, SubsetInfo};
use crate::sidecar::View;

/// One entry of a virtual host's route list: a rule and one of its match blocks, with the
/// block's hot part inline ([`Hot`]), so that most failing candidates are rejected from here.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Entry {
    pub(crate) rule: u32,
    /// `None` for a rule with no match blocks.
    pub(crate) block: Option<u16>,
    /// Set once the table is complete ([`Inner::build_hot`]).
    pub(crate) hot: Hot,
}

impl Entry {
    pub(crate) fn new(rule: u32, block: Option<u16>) -> Entry {
        Entry {
            rule,
            block,
            hot: Hot::default(),
        }
    }
}

/// Entries are the same (rule, block); the hot part follows from them.
impl PartialEq for Entry {
    fn eq(&self, other: &Entry) -> bool {
        (self.rule, self.block) == (other.rule, other.block)
    }
}

impl Eq for Entry {}

/// The routes of one host. In the mesh each VirtualService claiming the host is a claim, in
/// precedence order, and a request uses the first claim visible to its namespace (`exportTo`);
/// at a gateway the VirtualServices are merged into one claim.
#[derive(Clone, Debug, Default)]
pub(crate) struct VirtualHost {
    /// Host as configured, for messages.
    pub(crate) name: Box<str>,
    pub(crate) claims: Vec<Claim>,
}

/// One VirtualService's (or, at a gateway, the merged) ordered entries for a host.
#[derive(Clone, Debug, Default)]
pub(crate) struct Claim {
    pub(crate) visibility: Visibility,
    /// The namespace of the resource the claim comes from (for [`VirtualHost::claim_for`]).
    pub(crate) namespace: Box<str>,
    /// The resource its rules come from ([`Rule::source`]), for Sidecar views; set when the
    /// table is complete ([`Inner::build_hot`]).
    pub(crate) source: u32,
    pub(crate) entries: Vec<Entry>,
    /// The entries' path index, built once the entries are final (see [`crate::index`]);
    /// `None` for short lists, which are scanned in order.
    pub(crate) index: Option<PathIndex<Entry>>,
    /// The ports the claim has routes on, when each of its entries names one (a match's
    /// `port`), sorted; `None` when some entry holds at every port. Set with the hot parts
    /// ([`Inner::build_hot`]). On another port the resource builds no routes, so istiod
    /// builds no virtual host for it there (istio/istio pilot/pkg/networking/core/route
    /// route.go `buildSidecarVirtualHostsForVirtualService`: no routes, no virtual host): the
    /// claim is as absent, and the next claim, or the service's default route, takes the
    /// request. A claim without entries (a VirtualService with only `tls` or `tcp` rules) has
    /// no port.
    pub(crate) ports: Option<Box<[u16]>>,
    /// Whether every entry names `sourceLabels` or `sourceNamespace`: then the claim has
    /// routes only for the clients some entry's source conditions admit. Set with `ports`.
    pub(crate) source_gated: bool,
}

impl Claim {
    pub(crate) fn new(visibility: Visibility, namespace: &str, entries: Vec<Entry>) -> Claim {
        Claim {
            visibility,
            namespace: namespace.into(),
            source: u32::MAX,
            entries,
            index: None,
            ports: None,
            source_gated: false,
        }
    }

    /// Whether the claim has routes at `port` (`None`: any port will do).
    #[inline]
    pub(crate) fn serves(&self, port: Option<u16>) -> bool {
        match (&self.ports, port) {
            (Some(ports), Some(port)) => ports.contains(&port),
            _ => true,
        }
    }
}

/// Which namespaces see a VirtualService (`exportTo`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) enum Visibility {
    /// Every namespace (`exportTo` empty or `*`).
    #[default]
    Public,
    /// Only these namespaces (`.` resolved to the resource's own).
    Only(Vec<Box<str>>),
}

impl Visibility {
    /// Whether a request from `ns` sees the resource.
    pub(crate) fn admits(&self, ns: &str) -> bool {
        match self {
            Visibility::Public => true,
            Visibility::Only(list) => list.iter().any(|n| **n == *ns),
        }
    }

    /// How near a resource of namespace `own` with this visibility is to a client in `ns`,
    /// in istiod's order of preference (push_context.go `servicesExportedToNamespace`, and
    /// `SelectVirtualServices` alike): 0 for its own namespace's, 1 for one exported to it by
    /// name, 2 for a public one; `None` when the client does not see it.
    pub(crate) fn tier(&self, own: &str, ns: &str) -> Option<u8> {
        match self {
            Visibility::Public => Some(2),
            v if v.admits(ns) => Some(if *own == *ns { 0 } else { 1 }),
            Visibility::Only(_) => None,
        }
    }
}

impl VirtualHost {
    /// The claim a client in namespace `ns` uses, as a sidecar selects VirtualServices
    /// (istio/istio pilot/pkg/model/virtualservice.go `SelectVirtualServices`, then
    /// `dedupeDomains` keeps the first for a domain): first those of `ns` itself exported to
    /// `ns`, then those exported to `ns` by name, then the public ones; in claim order
    /// (creation time) within each.
    ///
    /// Only the claims `fits` accepts count: for a request, those its client's Sidecar
    /// imports and that have a route for it ([`Inner::find_vhost_with`]).
    #[inline]
    pub(crate) fn claim_for(&self, ns: &str, fits: impl Fn(&Claim) -> bool) -> Option<&Claim> {
        // The usual host: one VirtualService, visible everywhere.
        if let [only] = &self.claims[..]
            && only.visibility == Visibility::Public
        {
            return fits(only).then_some(only);
        }
        let tier = |c: &Claim| {
            if fits(c) {
                c.visibility.tier(&c.namespace, ns)
            } else {
                None
            }
        };
        let mut best: Option<(u8, &Claim)> = None;
        for c in &self.claims {
            if let Some(t) = tier(c)
                && best.is_none_or(|(b, _)| t < b)
            {
                best = Some((t, c));
            }
        }
        best.map(|(_, c)| c)
    }
}

/// Where a request arrives: the mesh (sidecars) or a named gateway.
#[derive(Clone, Debug, Default)]
pub(crate) struct Context {
    /// `None` = mesh; `Some((namespace, name))` = gateway.
    pub(crate) gateway: Option<(Box<str>, Box<str>)>,
    /// Hosts of VirtualServices (and, in the mesh, of GAMMA routes), for every port.
    pub(crate) hosts: Hosts,
    /// A Gateway API Gateway's hosts per listener port.
    pub(crate) listeners: Vec<(u16, Hosts)>,
    /// An Istio gateway's hosts per server port, as istiod builds one route configuration
    /// per port (each VirtualService's routes built for that port).
    pub(crate) server_ports: Vec<(u16, Hosts)>,
    /// Whether the Istio `Gateway` is loaded, so that `server_ports` lists every port it has
    /// a server on (a port whose server carries no HTTP routes has no hosts).
    pub(crate) servers_known: bool,
}

/// Whether a cluster's subset exists for every client ([`Inner::subset_missing`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) enum SubsetScope {
    /// Every client sees a DestinationRule that defines it, or none defines it anywhere (the
    /// compile's own warning covers that).
    #[default]
    Everywhere,
    /// No rule for the host selects workloads, so the answer depends on the client's namespace
    /// alone: whether it is missing for the namespaces listed (those with rules of their own
    /// for the host, and the root namespace), and for every other namespace.
    ByNamespace {
        missing: Box<[(Box<str>, bool)]>,
        other: bool,
    },
    /// It depends on the client's labels too: look the client's rule up.
    Lookup,
}

/// Virtual hosts and their index.
#[derive(Clone, Debug, Default)]
pub(crate) struct Hosts {
    pub(crate) index: HostIndex,
    pub(crate) vhosts: Vec<VirtualHost>,
}

impl Hosts {
    /// The virtual host for `name` as inserted (`*`, `*suffix` or exact), created if absent.
    pub(crate) fn get_or_insert(
        &mut self,
        name: &str,
        label: impl FnOnce() -> Box<str>,
    ) -> &mut VirtualHost {
        let id = match self.index.get_key(name) {
            Some(id) => id,
            None => {
                let id = self.vhosts.len() as u32;
                self.index.insert(name, id);
                self.vhosts.push(VirtualHost {
                    name: label(),
                    claims: Vec::new(),
                });
                id
            }
        };
        &mut self.vhosts[id as usize]
    }

    /// Lookup of a lowercase host in the one order ([`lookup_names`], then wildcards); only
    /// hosts with a claim visible to `ns` that `fits` accepts count
    /// ([`VirtualHost::claim_for`]), and `on` hears of the others and of the find (with
    /// `port`, the port of this group of hosts; `None`: every port).
    #[inline]
    fn find<'h>(
        &'h self,
        host: &str,
        ns: &str,
        expand: Option<&str>,
        port: Option<u16>,
        fits: &impl Fn(&Claim) -> bool,
        on: &mut impl FnMut(LookupStep<'h, '_>),
    ) -> Option<(&'h VirtualHost, &'h Claim)> {
        let mut offer = |id: u32, via: Via<'_>| {
            let vh = &self.vhosts[id as usize];
            if let Some(claim) = vh.claim_for(ns, fits) {
                on(LookupStep::Found { via, port });
                Some((vh, claim))
            } else {
                on(LookupStep::Invisible(vh));
                None
            }
        };
        lookup_names(host, ns, expand, |name, via| {
            offer(self.index.get_exact(name)?, via)
        })
        .or_else(|| {
            self.index
                .wildcards_for(host)
                .find_map(|id| offer(id, Via::Wildcard))
        })
    }
}

/// A step of a host lookup ([`Inner::find_vhost_with`]), for callers that record them.
#[derive(Clone, Copy, Debug)]
pub(crate) enum LookupStep<'h, 'n> {
    /// The host was found, by `via`, among the hosts of `port` (`None`: of every port).
    Found { via: Via<'n>, port: Option<u16> },
    /// A virtual host that has the name but no claim for the request: none visible to its
    /// namespace (or imported by its Sidecar), or none with a route for it (its port, its
    /// source).
    Invisible(&'h VirtualHost),
    /// The context binds hosts to this port, the request's, and none of them is the host:
    /// the lookup goes on in the hosts of every port.
    PortMissed(u16),
    /// The Istio gateway has no server on the request's port: the lookup goes on in the hosts
    /// of every port.
    NoServer(u16),
}

#[derive(Debug, Default)]
pub(crate) struct Inner {
    pub(crate) contexts: Vec<Context>,
    pub(crate) sources: Vec<Source>,
    pub(crate) rules: Vec<Rule>,
    pub(crate) cluster_domain: Box<str>,
    pub(crate) subsets: Vec<SubsetInfo>,
    /// Every (host, subset) a destination or mirror names, indexed by `Destination::cluster`.
    pub(crate) clusters: Vec<ClusterKey>,
    /// How request paths are normalized before matching.
    pub(crate) normalization: crate::predicate::normalize::PathNormalization,
    /// Decision counters and golden signals, when the table counts.
    pub(crate) counters: Option<Counters>,
    /// Every consolidated DestinationRule (a host's rules of one namespace merged), indexed
    /// by [`Inner::policy_for`].
    pub(crate) policies: Vec<HostPolicy>,
    /// Which of `policies` each client sees for a host (`exportTo`, `workloadSelector`).
    pub(crate) dr_index: DrIndex,
    /// Per cluster (`Destination::cluster`): whether the subset it names may be undefined for
    /// some clients though a DestinationRule defines it, and how a decision finds out for its
    /// client ([`Inner::subset_missing`]).
    pub(crate) subset_scoped: Vec<SubsetScope>,
    /// The header names of the entries' inline conditions ([`Hot`]).
    pub(crate) header_names: HeaderNames,
    /// The mesh-wide settings the table was compiled with.
    pub(crate) mesh: crate::mesh::MeshSettings,
    /// The retry policy of the routes that write none and of the mesh default route: the mesh
    /// config's `defaultHttpRetryPolicy`, else Istio's built-in default.
    pub(crate) default_retries: crate::retry::DefaultRetries,
    /// The Sidecars: what each client workload sees.
    pub(crate) sidecars: crate::sidecar::Sidecars,
    /// The hosts the registry defines (loaded Services and ServiceEntries); `None` when the
    /// input holds neither, so that known and unknown hosts cannot be told apart.
    pub(crate) known: Option<crate::known::KnownHosts>,
    /// Every port some registry definition declares `HTTPS` or `TLS`, sorted: the only ports
    /// where a mesh request can be a TLS connection ([`Inner::tls_service`]).
    pub(crate) tls_ports: Box<[u16]>,
    /// The connection (`tls` and `tcp`) rules.
    pub(crate) l4: crate::l4::L4Table,
}

/// A DestinationRule as a client sees it ([`Table::destination_rule`]): the rules of one
/// namespace for one host, merged (istiod's `ENABLE_ENHANCED_DESTINATIONRULE_MERGE`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct DestinationRuleRef<'t> {
    /// The host the rules name, fully qualified (a wildcard host stays one).
    pub host: &'t str,
    /// The namespace of the rules.
    pub namespace: &'t str,
    /// The rules merged, as `namespace/name`, in Istio's order (oldest first): the first is
    /// the rule the merge started from; where several set a top-level policy or a subset of
    /// one name, the earlier wins.
    pub names: &'t [Box<str>],
}

/// An immutable routing table: built once by [`crate::compile()`], shared cheaply (`Clone` is an
/// `Arc` clone), evaluated concurrently with `&self`.
#[derive(Clone, Debug, Default)]
pub struct Table {
    pub(crate) inner: Arc<Inner>,
}

impl Table {
    /// Decides `req`, drawing the one random value of the request from `rng`.
    ///
    /// # Example
    /// ```
    /// use meshroute::{OwnedRequest, Table};
    /// let table = Table::from_yaml(include_str!("../examples/bookinfo.yaml"))?;
    /// let req = OwnedRequest::new("GET", "http://reviews/reviews/1").header("end-user", "jason")
    ///     .from_namespace("default");
    /// // Any `rand_core::Rng` (rand_core 0.10) works; `rand_pcg` is a crate of its own.
    /// let d = table.decide(&req, &mut rand_pcg::Pcg64::new(1, 1));
    /// assert_eq!(d.destination().unwrap().subset.as_deref(), Some("v2"));
    /// # Ok::<(), meshroute::Errors>(())
    /// ```
    pub fn decide<'t, R, G>(&'t self, req: &R, rng: &mut G) -> Decision<'t>
    where
        R: Request + ?Sized,
        G: rand_core::Rng + ?Sized,
    {
        self.decide_with_draw(req, rng.next_u64())
    }

    /// Decides `req` with an explicit draw. The one draw drives the weighted pick
    /// (`draw % total`), mirror shares (`draw % 10^6`) and, mixed with a fixed constant per
    /// kind, the fault delay and abort shares, so a test can pin every random choice.
    pub fn decide_with_draw<'t, R>(&'t self, req: &R, draw: u64) -> Decision<'t>
    where
        R: Request + ?Sized,
    {
        let d = self.decide_untraced(req, draw);
        #[cfg(feature = "tracing")]
        crate::span::emit(&d);
        d
    }

    fn decide_untraced<'t, R>(&'t self, req: &R, draw: u64) -> Decision<'t>
    where
        R: Request + ?Sized,
    {
        let inner = &*self.inner;
        if inner.tls_service(req).is_some() {
            return inner.decide_connection(&crate::connection::RequestConnection(req), draw);
        }
        // The path rules see: normalized as the table says, in a stack buffer only when the
        // path needs work.
        let raw = req.path();
        let mut buf: [u8; MAX_PATH_LEN];
        let path = if let Some(clean) = inner.normalization.clean_path(raw) {
            clean
        } else {
            buf = [0; MAX_PATH_LEN];
            match inner.normalization.apply(raw, &mut buf) {
                Ok(p) => p,
                Err(reason) => {
                    let d = Decision {
                        outcome: Outcome::BadRequest { reason },
                        draw,
                        port: None,
                        normalization: &inner.normalization,
                        default_retries: inner.default_retries(),
                    };
                    inner.count(&d, None);
                    return d;
                }
            }
        };
        let Some(ctx) = inner.context(req.gateway()) else {
            let d = Decision {
                outcome: Outcome::NoVirtualHost,
                draw,
                port: None,
                normalization: &inner.normalization,
                default_retries: inner.default_retries(),
            };
            inner.count(&d, None);
            return d;
        };
        // The client's Sidecar view, once for the host lookup and the catch-all.
        let view = inner.request_view(ctx, req);
        let view = view.as_ref();
        let Some((vhost, claim)) = inner.find_vhost_in(ctx, req, view, &mut |_| {}) else {
            // The mesh default route to a known service, else the catch-all route of the
            // outbound traffic policy.
            let (outcome, port) = if ctx.gateway.is_none() {
                let port = addressed_port(req);
                let outcome = inner.catch_all(Some(req.authority()), req, port, view).0;
                let port = (!matches!(outcome, Outcome::BlackHole)).then_some(port);
                (outcome, port)
            } else {
                (Outcome::NoVirtualHost, None)
            };
            let d = Decision {
                outcome,
                draw,
                port,
                normalization: &inner.normalization,
                default_retries: inner.default_retries(),
            };
            inner.count(&d, None);
            return d;
        };
        // `uri_known`: the index decided the block's path condition (it holds). The entry's
        // hot part decides most candidates; the block is read only when it cannot.
        let mut headers = HeaderCache::default();
        let mut holds = |entry: &Entry, uri_known: bool| {
            let quick = entry
                .hot
                .quick(uri_known, &mut headers, &inner.header_names, req);
            match quick {
                Quick::Fails => false,
                Quick::Holds => true,
                Quick::Uri | Quick::Check => match entry.block {
                    None => true,
                    Some(b) => {
                        let block = &inner.rules[entry.rule as usize].blocks[b as usize];
                        if quick == Quick::Uri {
                            block.uri.as_ref().is_none_or(|u| u.is_match(path))
                        } else {
                            block.holds(req, path, uri_known)
                        }
                    }
                },
            }
        };
        // The index's postings carry their entries: the winner is read from its posting.
        let mut won = None;
        let first = match &claim.index {
            Some(index) => {
                index.first(path.as_bytes(), |_, known, entry| {
                    let h = holds(entry, known);
                    if h {
                        won = Some(*entry);
                    }
                    h
                });
                won.as_ref()
            }
            None => claim.entries.iter().find(|e| holds(e, false)),
        };
        if let Some(entry) = first {
            let rule = &inner.rules[entry.rule as usize];
            let d = inner.matched(rule, entry.block, req, draw);
            inner.count(&d, Some((entry.rule, entry.block)));
            return d;
        }
        let d = Decision {
            outcome: Outcome::NoRoute { host: &vhost.name },
            draw,
            port: None,
            normalization: &inner.normalization,
            default_retries: inner.default_retries(),
        };
        inner.count(&d, None);
        d
    }

    /// The mesh-wide settings the table was compiled with: [`crate::CompileOptions::mesh`],
    /// with what the root namespace's `istio` ConfigMap (`data.mesh`) sets applied.
    ///
    /// # Example
    /// ```
    /// use meshroute::mesh::OutboundPolicy;
    /// let table = meshroute::Table::from_yaml(r#"
    /// apiVersion: v1
    /// kind: ConfigMap
    /// metadata: {name: istio, namespace: istio-system}
    /// data:
    ///   mesh: |-
    ///     outboundTrafficPolicy:
    ///       mode: REGISTRY_ONLY
    /// "#)?;
    /// assert_eq!(table.mesh().outbound_traffic_policy, OutboundPolicy::RegistryOnly);
    /// # Ok::<(), meshroute::Errors>(())
    /// ```
    pub fn mesh(&self) -> &crate::mesh::MeshSettings {
        &self.inner.mesh
    }

    /// Decides the connection `conn`, drawing its one random value from `rng`: the same
    /// machinery and the same [`Decision`] as a request, decided by the `tls` and `tcp` rules
    /// (VirtualService) and `TLSRoute`/`TCPRoute`s (Gateway API); see [`crate::l4`] for the
    /// semantics. A matched decision carries [`Matched::connection`](crate::Matched) and no
    /// HTTP actions. Allocates nothing.
    ///
    /// # Example
    /// ```
    /// use meshroute::{OwnedConnection, Table};
    /// let table = Table::from_yaml(r#"
    /// apiVersion: networking.istio.io/v1
    /// kind: VirtualService
    /// metadata: {name: tcp-echo, namespace: default}
    /// spec:
    ///   hosts: [tcp-echo]
    ///   tcp:
    ///   - match: [{port: 9000}]
    ///     route:
    ///     - {destination: {host: tcp-echo, subset: v1, port: {number: 9000}}, weight: 80}
    ///     - {destination: {host: tcp-echo, subset: v2, port: {number: 9000}}, weight: 20}
    /// "#)?;
    /// let conn = OwnedConnection::tcp(9000).to_host("tcp-echo");
    /// let d = table.decide_connection(&conn, &mut rand_pcg::Pcg64::new(1, 1));
    /// assert!(d.matched().unwrap().connection.is_some());
    /// // The draw decides the split: 85 % 100 falls in v2's interval [80, 100).
    /// let d = table.decide_connection_with_draw(&conn, 85);
    /// assert_eq!(d.destination().unwrap().subset.as_deref(), Some("v2"));
    /// # Ok::<(), meshroute::Errors>(())
    /// ```
    pub fn decide_connection<'t, C, G>(&'t self, conn: &C, rng: &mut G) -> Decision<'t>
    where
        C: crate::Connection + ?Sized,
        G: rand_core::Rng + ?Sized,
    {
        self.decide_connection_with_draw(conn, rng.next_u64())
    }

    /// Decides the connection `conn` with an explicit draw (`draw % total` picks the
    /// destination). Allocates nothing.
    pub fn decide_connection_with_draw<'t, C>(&'t self, conn: &C, draw: u64) -> Decision<'t>
    where
        C: crate::Connection + ?Sized,
    {
        let d = self.inner.decide_connection(conn, draw);
        #[cfg(feature = "tracing")]
        crate::span::emit(&d);
        d
    }

    /// The protocol a mesh request is routed by when it is not HTTP to its sidecar: on a port
    /// the service it is addressed to declares `HTTPS` or `TLS` (a ServiceEntry port's
    /// `protocol`, a Kubernetes Service port's `appProtocol` or name prefix), the sidecar's
    /// listener routes the connection by SNI, so [`Table::decide`] decides the request as
    /// that connection, by the `tls` rules ([`Protocol::Tls`](crate::Protocol::Tls) for an
    /// `https` request, whose SNI is its host) or the `tcp` rules (any other scheme). `None`
    /// for a request decided by `http` rules. Allocates nothing.
    ///
    /// # Example
    /// ```
    /// use meshroute::{OwnedRequest, Protocol, Table};
    /// let table = Table::from_yaml(r#"
    /// apiVersion: networking.istio.io/v1
    /// kind: ServiceEntry
    /// metadata: {name: googleapis}
    /// spec:
    ///   hosts: [www.googleapis.com]
    ///   ports: [{number: 443, name: https, protocol: HTTPS}]
    ///   resolution: DNS
    /// "#)?;
    /// let req = OwnedRequest::new("GET", "https://www.googleapis.com/drive");
    /// assert_eq!(table.request_protocol(&req), Some(Protocol::Tls));
    /// let req = OwnedRequest::new("GET", "http://www.googleapis.com/drive");
    /// assert_eq!(table.request_protocol(&req), None);
    /// # Ok::<(), meshroute::Errors>(())
    /// ```
    pub fn request_protocol<R: Request + ?Sized>(&self, req: &R) -> Option<crate::Protocol> {
        use crate::Connection;
        self.inner.tls_service(req)?;
        Some(crate::connection::RequestConnection(req).protocol())
    }

    /// Every compiled connection rule (`tls` and `tcp` rules, `TLSRoute`s and `TCPRoute`s).
    pub fn connection_rules(&self) -> &[crate::l4::L4Rule] {
        &self.inner.l4.rules
    }

    /// The DestinationRule whose traffic policy and subsets apply where `decision` sends
    /// `req`, as the request's client sees it (`exportTo`, `workloadSelector`): the rules of
    /// one namespace for the host, merged as istiod merges them. The host is the picked
    /// destination's, or on the mesh default route the addressed host (as written, else its
    /// Kubernetes short form expanded in the client's namespace, the order the router finds
    /// the Service in). `None` when nothing is forwarded or no rule applies. Allocates nothing.
    ///
    /// # Example
    /// ```
    /// use meshroute::{OwnedRequest, Table};
    /// let table = Table::from_yaml(include_str!("../examples/bookinfo.yaml"))?;
    /// let req = OwnedRequest::new("GET", "http://reviews/").from_namespace("default");
    /// let d = table.decide_with_draw(&req, 0);
    /// let dr = table.destination_rule(&d, &req).expect("bookinfo has a rule for reviews");
    /// assert_eq!((dr.namespace, &*dr.names[0]), ("default", "default/reviews"));
    /// # Ok::<(), meshroute::Errors>(())
    /// ```
    pub fn destination_rule<'t, R: Request + ?Sized>(
        &'t self,
        decision: &Decision<'_>,
        req: &R,
    ) -> Option<DestinationRuleRef<'t>> {
        self.inner.destination_rule(&decision.outcome, req)
    }

    /// The resources rules come from, indexed by [`Rule::source`].
    pub fn sources(&self) -> &[Source] {
        &self.inner.sources
    }

    /// Every compiled rule.
    pub fn rules(&self) -> &[Rule] {
        &self.inner.rules
    }

    /// Subsets defined by DestinationRules.
    pub fn subsets(&self) -> &[SubsetInfo] {
        &self.inner.subsets
    }

    /// Every (host, subset) cluster destinations name, indexed by `Destination::cluster`.
    pub fn clusters(&self) -> &[ClusterKey] {
        &self.inner.clusters
    }

    /// The source of a rule.
    pub fn source_of(&self, rule: &Rule) -> &Source {
        self.inner.source_of(rule)
    }

    /// Reports the outcome of a decided request: its status code and latency. Lock-free and
    /// allocation-free; does nothing when the table counts nothing.
    pub fn report(&self, handle: Handle, status: u16, latency: std::time::Duration) {
        if let Some(c) = &self.inner.counters {
            c.report(handle, status, latency);
        }
    }

    /// A snapshot of every counter, or `None` when the table was compiled without counters.
    pub fn metrics(&self) -> Option<Metrics> {
        let i = &*self.inner;
        let c = i.counters.as_ref()?;
        Some(c.snapshot(&i.rules, &i.sources, &i.clusters))
    }
}

/// The readers of a compiled table. The fields are written by the compiler alone; every other
/// module reads through these methods.
impl Inner {
    /// Every compiled rule, indexed by [`Entry::rule`].
    pub(crate) fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// Every (host, subset) cluster, indexed by `Destination::cluster`.
    pub(crate) fn clusters(&self) -> &[ClusterKey] {
        &self.clusters
    }

    /// The routing contexts: the mesh (first) and each gateway.
    pub(crate) fn contexts(&self) -> &[Context] {
        &self.contexts
    }

    /// The hosts the registry defines, when the input held a Service or a ServiceEntry.
    pub(crate) fn known(&self) -> Option<&crate::known::KnownHosts> {
        self.known.as_ref()
    }

    /// The cluster domain short host names were expanded with.
    pub(crate) fn cluster_domain(&self) -> &str {
        &self.cluster_domain
    }

    /// The consolidated DestinationRule `client` sees for `host` ([`DrIndex::lookup`]), as an
    /// index into [`Inner::policy`]. Allocates nothing.
    #[inline]
    pub(crate) fn policy_for<C: Client + ?Sized>(&self, client: &C, host: &str) -> Option<u32> {
        if self.policies.is_empty() {
            return None;
        }
        self.dr_index.lookup(&self.policies, client, host)
    }

    /// [`Table::destination_rule`], for a decision's `outcome`.
    pub(crate) fn destination_rule<R: Request + ?Sized>(
        &self,
        outcome: &Outcome<'_>,
        req: &R,
    ) -> Option<DestinationRuleRef<'_>> {
        let id = match outcome {
            Outcome::Matched(m) => self.policy_for(req, &m.destination?.destination.host),
            Outcome::Passthrough => with_request_host(req.authority(), |host| {
                let domain = Some(self.cluster_domain());
                lookup_names(host, req.source_namespace(), domain, |name, _| {
                    self.policy_for(req, name)
                })
            }),
            _ => None,
        };
        self.policy(id).map(|p| DestinationRuleRef {
            host: &p.host,
            namespace: &p.namespace,
            names: &p.from,
        })
    }

    /// The consolidated DestinationRule `id` ([`Inner::policy_for`]).
    pub(crate) fn policy(&self, id: Option<u32>) -> Option<&HostPolicy> {
        self.policies.get(id? as usize)
    }

    /// Every consolidated DestinationRule some client may see for `host`, and `None` (no
    /// rule): the views a router builds clusters for. The first is the view of a client in
    /// the host's own namespace without labels.
    pub(crate) fn policy_views(&self, host: &str) -> Vec<Option<u32>> {
        let own = self
            .dr_index
            .service_namespace(host, "")
            .unwrap_or("default");
        let first = self.policy_for(&crate::balance::NamespaceOnly(own), host);
        let mut views = vec![first];
        for (i, p) in self.policies.iter().enumerate() {
            let covers = crate::compile::names::host_subset_of(host, &p.host);
            if covers && first != Some(i as u32) {
                views.push(Some(i as u32));
            }
        }
        if first.is_some() {
            views.push(None);
        }
        views
    }

    /// The balancer for (`subset`) at `port` under the DestinationRule `policy`
    /// ([`HostPolicy::balancer`]).
    pub(crate) fn balancer(
        &self,
        policy: Option<u32>,
        subset: Option<&str>,
        port: Option<u16>,
    ) -> Option<&LoadBalancer> {
        self.policy(policy)?.balancer(subset, port)
    }

    /// Every cluster setting for (`subset`) at `port` under the DestinationRule `policy`
    /// ([`HostPolicy::settings`]).
    pub(crate) fn settings(
        &self,
        policy: Option<u32>,
        subset: Option<&str>,
        port: Option<u16>,
    ) -> crate::balance::Resolved<'_> {
        self.policy(policy)
            .map_or_else(Default::default, |p| p.settings(subset, port))
    }

    /// Whether the subset `destination` names does not exist for `client`: the cluster is one a
    /// DestinationRule defines, but not the one the client sees. Allocates nothing.
    #[inline]
    pub(crate) fn subset_missing<C: Client + ?Sized>(
        &self,
        client: &C,
        destination: &crate::action::Destination,
    ) -> bool {
        let Some(subset) = &destination.subset else {
            return false;
        };
        match self.subset_scoped.get(destination.cluster as usize) {
            None | Some(SubsetScope::Everywhere) => false,
            Some(SubsetScope::ByNamespace { missing, other }) => {
                let ns = client.namespace();
                missing
                    .iter()
                    .find(|(n, _)| crate::request::bytes_eq(n.as_bytes(), ns.as_bytes()))
                    .map_or(*other, |(_, m)| *m)
            }
            Some(SubsetScope::Lookup) => {
                let seen = self.policy(self.policy_for(client, &destination.host));
                seen.is_none_or(|p| p.subset(subset).is_none())
            }
        }
    }

    /// How request paths are normalized before rules see them.
    pub(crate) fn normalization(&self) -> &crate::predicate::normalize::PathNormalization {
        &self.normalization
    }

    /// The outcome of a mesh request for a host no VirtualService claims
    /// ([`crate::known`]): [`Outcome::Passthrough`] for a host the registry defines (and for
    /// every host when the table has no registry), else the outbound traffic policy's
    /// catch-all; with the registry's definition that applied. Allocates nothing.
    #[inline]
    pub(crate) fn unclaimed<R: Request + ?Sized>(
        &self,
        req: &R,
    ) -> (Outcome<'static>, Option<crate::known::Known<'_>>) {
        let port = addressed_port(req);
        let view = self.sidecars.view(req, port);
        self.catch_all(Some(req.authority()), req, port, view.as_ref())
    }

    /// For a mesh request on a port that the service it is addressed to declares `HTTPS` or
    /// `TLS` (a ServiceEntry port's `protocol`; a Service port's `appProtocol` or name): that
    /// service's definition and the protocol's name. A sidecar's listener on such a port is a
    /// TLS listener that routes connections by SNI (istio/istio
    /// pilot/pkg/networking/core/listener.go `buildSidecarOutboundListener`, the `tls` rules
    /// of a VirtualService), so the request is decided as the connection Envoy sees
    /// ([`crate::connection::RequestConnection`]), not by `http` rules. The client's Sidecar,
    /// if any, must import the service. Allocates nothing.
    #[inline]
    pub(crate) fn tls_service<R: Request + ?Sized>(
        &self,
        req: &R,
    ) -> Option<(crate::known::Known<'_>, &'static str)> {
        if self.tls_ports.is_empty() || req.gateway().is_some() {
            return None;
        }
        let port = addressed_port(req);
        if self.tls_ports.binary_search(&port).is_err() {
            return None;
        }
        let known = self.known.as_ref()?;
        let view = self.sidecars.view(req, port);
        let found = with_request_host(req.authority(), |host| {
            known.find(
                host,
                req.source_namespace(),
                &self.cluster_domain,
                port,
                view.as_ref(),
            )
        })?;
        Some((found, found.definition.tls_at(port)?))
    }

    /// For a mesh request or connection that no rule takes, addressed to `host` (an authority
    /// or a name; `None` when nothing names it) at `port` by `client`: the default route to a
    /// service the registry defines (and to anything when the table has no registry), else
    /// the outbound traffic policy's catch-all: `allow_any` / `PassthroughCluster` under
    /// ALLOW_ANY, `block_all` / `BlackHoleCluster` under REGISTRY_ONLY (istio/istio
    /// pilot/pkg/networking/core/httproute.go `buildCatchAllVirtualHost`, listener.go
    /// `buildSidecarOutboundListener`). A client with a Sidecar knows the services it imports,
    /// and its Sidecar's outbound traffic policy, when it has one, replaces the mesh's:
    /// `view` is the client's on `port` ([`crate::sidecar::Sidecars::view`]). Allocates
    /// nothing.
    #[inline]
    pub(crate) fn catch_all<W: crate::balance::Client + ?Sized>(
        &self,
        host: Option<&str>,
        client: &W,
        port: u16,
        view: Option<&View<'_>>,
    ) -> (Outcome<'static>, Option<crate::known::Known<'_>>) {
        let Some(known) = &self.known else {
            return (Outcome::Passthrough, None);
        };
        let policy = view
            .and_then(|v| v.scope.outbound)
            .unwrap_or(self.mesh.outbound_traffic_policy);
        let found = host.and_then(|host| {
            with_request_host(host, |host| {
                known.find(host, client.namespace(), &self.cluster_domain, port, view)
            })
        });
        match (found, policy) {
            (Some(k), _) => (Outcome::Passthrough, Some(k)),
            (None, crate::mesh::OutboundPolicy::RegistryOnly) => (Outcome::BlackHole, None),
            (None, _) => (Outcome::PassthroughCluster, None),
        }
    }

    /// The retry policy of the routes that write none and of the mesh default route.
    pub(crate) fn default_retries(&self) -> Option<&crate::action::Retries> {
        self.default_retries.0.as_deref()
    }

    /// Counts a decision when the table counts.
    #[inline]
    pub(crate) fn count(&self, decision: &Decision<'_>, entry: Option<(u32, Option<u16>)>) {
        if let Some(c) = &self.counters {
            c.record(decision, entry);
        }
    }

    /// The decision for `rule` of this table matching `req` at `block`.
    #[inline]
    pub(crate) fn matched<'t, R: Request + ?Sized>(
        &'t self,
        rule: &'t Rule,
        block: Option<u16>,
        req: &R,
        draw: u64,
    ) -> Decision<'t> {
        let mut d = Decision::from_match(
            self.source_of(rule),
            &self.normalization,
            self.default_retries(),
            rule,
            block,
            req,
            draw,
        );
        if let Outcome::Matched(m) = &mut d.outcome
            && let Some(w) = m.destination
            && m.unavailable.is_none()
            && self.subset_missing(req, &w.destination)
        {
            m.unavailable = Some(crate::action::Unavailable::UndefinedSubset);
        }
        d
    }

    /// The resource `rule` comes from.
    #[inline]
    pub(crate) fn source_of(&self, rule: &Rule) -> &Source {
        &self.sources[rule.source as usize]
    }

    /// Sets every entry's hot part ([`Hot`]), interning the header names it reads, and every
    /// claim's source.
    pub(crate) fn build_hot(&mut self) {
        let Inner {
            contexts,
            rules,
            header_names,
            ..
        } = self;
        for ctx in contexts {
            let lists = std::iter::once(&mut ctx.hosts)
                .chain(ctx.listeners.iter_mut().map(|l| &mut l.1))
                .chain(ctx.server_ports.iter_mut().map(|l| &mut l.1));
            for hosts in lists {
                let claims = hosts.vhosts.iter_mut().flat_map(|v| v.claims.iter_mut());
                for claim in claims {
                    if let Some(e) = claim.entries.first() {
                        claim.source = rules[e.rule as usize].source;
                    }
                    let port_of = |e: &Entry| {
                        let block = e.block.map(|b| &rules[e.rule as usize].blocks[b as usize]);
                        block.and_then(|b| b.source.port)
                    };
                    claim.source_gated = !claim.entries.is_empty()
                        && claim.entries.iter().all(|e| {
                            e.block.is_some_and(|b| {
                                let source = &rules[e.rule as usize].blocks[b as usize].source;
                                !source.labels.is_empty() || source.namespace.is_some()
                            })
                        });
                    claim.ports = claim
                        .entries
                        .iter()
                        .map(port_of)
                        .collect::<Option<Vec<u16>>>()
                        .map(|mut ports| {
                            ports.sort_unstable();
                            ports.dedup();
                            ports.into()
                        });
                    for e in &mut claim.entries {
                        let block = e.block.map(|b| &rules[e.rule as usize].blocks[b as usize]);
                        e.hot = Hot::new(block, header_names);
                    }
                }
            }
        }
        header_names.finish();
        for rule in rules.iter_mut() {
            rule.plain = match &rule.action {
                crate::action::Action::Forward(f) => {
                    f.session.is_none()
                        && f.sticky.is_none()
                        && f.fault.is_none()
                        && f.mirrors.is_empty()
                        && f.destinations.len() == 1
                        && f.split.total() > 0
                }
                _ => false,
            };
        }
    }

    /// Builds the path index of every claim long enough to gain from one.
    pub(crate) fn build_indexes(&mut self) {
        let rules = &self.rules;
        for ctx in &mut self.contexts {
            let lists = std::iter::once(&mut ctx.hosts)
                .chain(ctx.listeners.iter_mut().map(|l| &mut l.1))
                .chain(ctx.server_ports.iter_mut().map(|l| &mut l.1));
            for hosts in lists {
                for claim in hosts.vhosts.iter_mut().flat_map(|v| v.claims.iter_mut()) {
                    claim.index = (claim.entries.len() >= MIN_INDEXED_ENTRIES).then(|| {
                        let entries = &claim.entries;
                        PathIndex::new(
                            entries.iter().map(|e| {
                                let uri = e.block.and_then(|b| {
                                    rules[e.rule as usize].blocks[b as usize].uri.as_ref()
                                });
                                (placement(uri), decides(uri))
                            }),
                            |pos| entries[pos as usize],
                        )
                    });
                }
            }
        }
    }

    #[inline]
    pub(crate) fn context(&self, gateway: Option<(&str, &str)>) -> Option<&Context> {
        // The mesh comes first.
        if gateway.is_none()
            && let Some(mesh) = self.contexts.first()
            && mesh.gateway.is_none()
        {
            return Some(mesh);
        }
        self.contexts.iter().find(|c| match (&c.gateway, gateway) {
            (None, None) => true,
            (Some((ns, name)), Some((rns, rname))) => **ns == *rns && **name == *rname,
            _ => false,
        })
    }

    /// The Sidecar view of `req`'s client in `ctx`: a sidecar's client sees what its Sidecar
    /// imports; `None` at a gateway and for a client without a Sidecar.
    #[inline]
    pub(crate) fn request_view<'a, R: Request + ?Sized>(
        &'a self,
        ctx: &Context,
        req: &'a R,
    ) -> Option<View<'a>> {
        match ctx.gateway {
            // Without Sidecars there is no view, and no port to work out for one.
            None if self.sidecars.is_empty() => None,
            None => self.sidecars.view(req, addressed_port(req)),
            Some(_) => None,
        }
    }

    /// Host lookup, telling `on` each step ([`Inner::find_vhost_in`] with the request's
    /// Sidecar view): for explain, which records the steps.
    #[inline]
    pub(crate) fn find_vhost_with<'c, R: Request + ?Sized>(
        &self,
        ctx: &'c Context,
        req: &R,
        on: &mut impl FnMut(LookupStep<'c, '_>),
    ) -> Option<(&'c VirtualHost, &'c Claim)> {
        let view = self.request_view(ctx, req);
        self.find_vhost_in(ctx, req, view.as_ref(), on)
    }

    /// Host lookup: the authority lowercased without its port; exact, then (mesh only) the
    /// Kubernetes short forms `name`, `name.ns`, `name.ns.svc` expanded as the sidecar's DNS
    /// search path would, then wildcards. Hosts whose VirtualServices are all invisible to the
    /// request's namespace (or, with the client's Sidecar `view`, not imported) do not exist
    /// for it. Returns the host and its claim the request's namespace sees, telling `on` each
    /// step: the one lookup, for decide (which ignores the steps) and explain (which records
    /// them).
    #[inline]
    pub(crate) fn find_vhost_in<'c, R: Request + ?Sized>(
        &self,
        ctx: &'c Context,
        req: &R,
        view: Option<&View<'_>>,
        on: &mut impl FnMut(LookupStep<'c, '_>),
    ) -> Option<(&'c VirtualHost, &'c Claim)> {
        let ns = req.source_namespace();
        let expand = ctx.gateway.is_none().then_some(&*self.cluster_domain);
        let port = addressed_port(req);
        let rules = &self.rules;
        // A claim counts when the client's Sidecar imports it and it has a route for the
        // request: istiod builds no virtual host from a VirtualService none of whose routes
        // is for the listener's port or the proxy's labels and namespace (route.go
        // `TranslateRoute`, `sourceMatchHTTP`).
        let fits = |c: &Claim| {
            c.serves(Some(port))
                && view.is_none_or(|v| v.admits_source(c.source))
                && (!c.source_gated
                    || c.entries.iter().any(|e| {
                        e.block.is_none_or(|b| {
                            rules[e.rule as usize].blocks[b as usize]
                                .source
                                .is_match(req)
                        })
                    }))
        };
        with_request_host(req.authority(), |host| {
            // Hosts bound to the request's port first: a Gateway API Gateway's listeners, or
            // in the mesh the routes limited to one Service port.
            if !ctx.listeners.is_empty()
                && let Some((_, hosts)) = ctx.listeners.iter().find(|(p, _)| *p == port)
            {
                if let Some(vh) = hosts.find(host, ns, expand, Some(port), &fits, on) {
                    return Some(vh);
                }
                on(LookupStep::PortMissed(port));
            }
            // An Istio gateway: the hosts of the server port, and only those.
            if let Some((_, hosts)) = ctx.server_ports.iter().find(|(p, _)| *p == port) {
                return hosts.find(host, ns, expand, Some(port), &fits, on);
            }
            // No server on the port (it may be named as the gateway Service's port, not the
            // server's): the hosts of every port.
            if ctx.servers_known && req.port().is_some() {
                on(LookupStep::NoServer(port));
            }
            ctx.hosts.find(host, ns, expand, None, &fits, on)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_send_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Table>();
        assert_send_sync::<Decision<'static>>();
    }
}
