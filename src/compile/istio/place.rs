//! Placing the valid VirtualServices into the table, as istiod builds its routes: Istio's
//! precedence order, delegation merged in, the hosts each service claims in each context (the
//! mesh or a gateway), and the gateway-side ordering of catch-all routes.
//!
//! In the mesh the first VirtualService (in precedence order) to claim a host keeps it where it
//! is visible; a later one applies only where the first is not exported to (IST0109). At a
//! gateway, the VirtualServices for one host merge.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::rc::Rc;

use crate::config::{DestinationRuleSpec, Object, Resource, VirtualServiceSpec};
use crate::error::{Diagnostic, ResourceId};
use crate::table::{Claim, Entry, Hosts, Inner, Rule, Source, SubsetInfo, Visibility};

use super::delegate;
use super::l4::LoweredL4;
use super::lower::{ContextKey, DefinedSubsets, Lowered, SubsetQuestions, lower_virtual_service};
use crate::compile::names::host_subset_of;
use crate::compile::regexes::Regexes;
use crate::compile::report::Report;
use crate::compile::{CompileOptions, Ledger, Placements, Read, context_mut};

/// Places every valid VirtualService into `inner` (its sources, rules, hosts and subsets),
/// filing each one's report in `ledger`.
///
/// A VirtualService whose read `reads` gives is lowered once and its lowering kept in
/// `lowerings` for the next compile, which reuses it while the service is read no newer and
/// what the lowering read is the same ([`Lowerings`]).
#[allow(clippy::too_many_arguments)]
pub(crate) fn place_virtual_services<'c>(
    valid: &[&'c Resource],
    rules: &[(&Object<DestinationRuleSpec>, Box<str>)],
    options: &CompileOptions,
    regexes: &Rc<RefCell<Regexes>>,
    reads: &HashMap<*const Object<VirtualServiceSpec>, Read>,
    lowerings: &mut Lowerings,
    inner: &mut Inner,
    ledger: &mut Ledger,
) {
    let with = format!("{options:?} {:?}", inner.default_retries);
    if lowerings.with != with {
        lowerings.kept.clear();
        lowerings.with = with;
    }
    lowerings.afresh = 0;
    // Istio's precedence: oldest first, then by name, then by namespace.
    let vs = |r: &'c Resource| match r {
        Resource::VirtualService(o) => Some(&**o),
        _ => None,
    };
    let services = super::in_creation_order(valid, vs, &options.default_namespace);
    let mut placer = Placer {
        valid,
        services: &services,
        subsets: DefinedSubsets::new(subsets(rules)),
        options,
        regexes,
        mesh_owner: BTreeMap::new(),
        reads,
        last: std::mem::replace(&mut lowerings.kept, HashMap::with_capacity(reads.len())),
        lowerings,
    };
    // Room for the roots' own rules and sources up front: grown by doubling, a large table's
    // lists would hold up to twice their size until they are shrunk.
    let roots = || services.iter().filter(|o| !o.spec.hosts.is_empty());
    inner
        .rules
        .reserve_exact(roots().map(|o| o.spec.http.len()).sum());
    inner.sources.reserve_exact(roots().count());
    for &o in &services {
        // A service without hosts is a delegate: it routes only through a root that names it.
        if !o.spec.hosts.is_empty() {
            placer.place(o, inner, ledger);
        }
    }
    order_gateway_routes(inner);
    https_redirects(valid, &options.default_namespace, inner);
    inner.subsets = placer.subsets.list;
}

/// The VirtualServices lowered by one compile, kept for the next by their reads
/// ([`Incremental`](crate::compile::Incremental)). A lowering reads, besides the service
/// itself: the compile's options and the mesh's default retry policy (kept lowerings are
/// dropped when these change), the DestinationRules' subsets (each question asked, with its
/// answer, is kept with it and asked again before reuse), and its position in the table (the
/// rules are renumbered). One that read the compile's regexes (whose budget depends on every
/// other resource) or merged delegates (other services) is not kept.
#[derive(Default)]
pub(crate) struct Lowerings {
    /// The options and default retry policy of the lowerings kept, as printed.
    with: String,
    kept: HashMap<Read, Kept>,
    /// How many VirtualServices the last compile lowered afresh.
    pub(crate) afresh: usize,
}

impl std::fmt::Debug for Lowerings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lowerings")
            .field("kept", &self.kept.len())
            .field("afresh", &self.afresh)
            .finish()
    }
}

/// One VirtualService's lowering, kept: what it lowered to (`None` when its report has
/// errors), its report, and the subset questions it asked.
struct Kept {
    lowered: Option<Lowered>,
    l4: LoweredL4,
    errors: Vec<(String, String)>,
    warnings: Vec<(&'static str, String, String)>,
    subsets: SubsetQuestions,
}

/// The subsets of the DestinationRules that passed validation (`rules`, in Istio's merge
/// order, each with its host), the first definition winning. Each rule's host is shared by its
/// subsets; names already seen are looked up borrowed (a compile of 10,000 rules spent a
/// quarter of its time cloning keys here).
fn subsets(rules: &[(&Object<DestinationRuleSpec>, Box<str>)]) -> Vec<SubsetInfo> {
    let mut subsets: Vec<SubsetInfo> = Vec::new();
    let mut seen: HashSet<(&str, &str)> = HashSet::new();
    for (o, host) in rules {
        for s in o.spec.subsets.iter().flatten() {
            let name = s.name.as_deref().unwrap_or_default();
            if !seen.insert((host, name)) {
                continue;
            }
            subsets.push(SubsetInfo {
                host: host.clone(),
                name: name.into(),
                labels: s
                    .labels
                    .iter()
                    .map(|(k, v)| (k.as_str().into(), v.as_str().into()))
                    .collect(),
            });
        }
    }
    subsets
}

/// What placing one VirtualService needs to know about the others.
struct Placer<'a, 'c> {
    valid: &'a [&'c Resource],
    /// Every VirtualService in precedence order (delegates included).
    services: &'a [&'c Object<VirtualServiceSpec>],
    subsets: DefinedSubsets,
    options: &'a CompileOptions,
    /// Every regex of the table, compiled once per distinct pattern, within one budget.
    regexes: &'a Rc<RefCell<Regexes>>,
    /// The VirtualService that claimed each host in the mesh first.
    mesh_owner: BTreeMap<String, &'c Object<VirtualServiceSpec>>,
    /// The read of each VirtualService that has one.
    reads: &'a HashMap<*const Object<VirtualServiceSpec>, Read>,
    /// The lowerings the last compile kept, taken as they are reused.
    last: HashMap<Read, Kept>,
    /// This compile's, for the next.
    lowerings: &'a mut Lowerings,
}

impl<'c> Placer<'_, 'c> {
    /// Lowers one root VirtualService (its delegates merged in), files its report, and puts
    /// its rules under the hosts it claims in each context.
    fn place(&mut self, o: &'c Object<VirtualServiceSpec>, inner: &mut Inner, ledger: &mut Ledger) {
        let service = o;
        let ns_default = self.options.default_namespace.as_str();
        let ns = o.namespace(ns_default);
        let id = ResourceId::new("VirtualService", ns, &o.metadata.name);
        let mut report = Report::with_regexes(self.regexes);
        let root = delegate::is_root(&o.spec);
        let read = (!root)
            .then(|| self.reads.get(&std::ptr::from_ref(o)))
            .flatten()
            .copied();
        let source = inner.sources.len() as u32;
        let reused = read.and_then(|read| {
            let kept = self.last.remove(&read)?;
            self.subsets
                .answers_alike(&kept.subsets)
                .then_some((read, kept))
        });
        let (lowered, l4) = match reused {
            Some((read, kept)) => {
                report.errors.clone_from(&kept.errors);
                report.warnings.clone_from(&kept.warnings);
                let mut lowered = kept.lowered.clone();
                if let Some(lowered) = &mut lowered {
                    lowered.renumber(source);
                }
                let mut l4 = kept.l4.clone();
                l4.renumber(source);
                self.lowerings.kept.insert(read, kept);
                (lowered, l4)
            }
            None => {
                if read.is_some() {
                    self.subsets.record();
                }
                let (lowered, l4) = self.lower(o, root, ns, source, inner, &mut report);
                self.lowerings.afresh += 1;
                let subsets = self.subsets.recorded();
                if let Some(read) = read
                    && !report.read_regexes
                {
                    let kept = Kept {
                        lowered: lowered.clone(),
                        l4: l4.clone(),
                        errors: report.errors.clone(),
                        warnings: report.warnings.clone(),
                        subsets,
                    };
                    self.lowerings.kept.insert(read, kept);
                }
                (lowered, l4)
            }
        };
        if !ledger.file(&id, &o.source, report) {
            return;
        }
        let mut lowered = lowered.expect("lowering returns a service when it reports no error");
        let by_port = restrict_to_gateway_servers(
            &mut lowered.placements,
            self.valid,
            ns,
            ns_default,
            &id,
            &mut ledger.diagnostics,
        );
        self.put(service, o, lowered, l4, by_port, id, inner, ledger);
    }

    /// Lowers one root VirtualService, its delegates merged in when it is a delegating
    /// `root`, as the `source`-th resource of the table.
    fn lower(
        &self,
        o: &'c Object<VirtualServiceSpec>,
        root: bool,
        ns: &str,
        source: u32,
        inner: &Inner,
        report: &mut Report,
    ) -> (Option<Lowered>, LoweredL4) {
        let service = o;
        let ns_default = self.options.default_namespace.as_str();
        let merged;
        let o = if root {
            let services = self.services;
            let find = |dns: &str, name: &str| {
                services.iter().copied().find(|o| {
                    o.namespace(ns_default) == dns
                        && o.metadata.name == name
                        && o.spec.hosts.is_empty()
                })
            };
            let names = (ns_default, self.options.cluster_domain.as_str());
            let spec = delegate::merge_root(o, ns, find, names, report);
            merged = Object { spec, ..o.clone() };
            &merged
        } else {
            o
        };
        let lowered = lower_virtual_service(
            o,
            ns,
            self.options,
            source,
            &self.subsets,
            inner.default_retries.0.as_ref(),
            report,
        );
        let l4 = super::l4::lower_l4(
            &service.spec,
            ns,
            &self.options.cluster_domain,
            source,
            &self.subsets,
            report,
        );
        (lowered, l4)
    }

    /// Puts one lowered VirtualService (`o`; `service` as loaded, before delegates are
    /// merged in, which changes only its `http` rules) into the table: its source, its
    /// connection rules, its rules and its claims on hosts.
    #[allow(clippy::too_many_arguments)]
    fn put(
        &mut self,
        service: &'c Object<VirtualServiceSpec>,
        o: &'c Object<VirtualServiceSpec>,
        lowered: Lowered,
        l4: LoweredL4,
        by_port: ServedByPort,
        id: ResourceId,
        inner: &mut Inner,
        ledger: &mut Ledger,
    ) {
        let ns_default = self.options.default_namespace.as_str();
        let ns = o.namespace(ns_default);
        inner.sources.push(lowered.source);
        // A VirtualService that writes no `exportTo` gets the mesh's
        // `defaultVirtualServiceExportTo` (push_context.go `initVirtualServices`).
        let export_to = match &o.spec.export_to[..] {
            [] => &self.options.mesh.default_virtual_service_export_to[..],
            written => written,
        };
        let visibility = visibility(export_to, ns);
        let label = match service.spec.hosts.first() {
            Some(h) => format!("{h} ({id})"),
            None => id.to_string(),
        };
        super::l4::place_l4(
            l4,
            &service.spec,
            ns,
            &self.options.cluster_domain,
            &label,
            &visibility,
            &mut inner.l4,
        );
        let created = o.metadata.creation_timestamp.as_deref().unwrap_or("");
        let rule_base = inner.rules.len() as u32;
        for (key, hosts) in &lowered.placements {
            // At a gateway, visibility is decided once, for the Gateway's namespace.
            if let Some((gns, _)) = key
                && !visibility.admits(gns)
            {
                continue;
            }
            let entries = entries_for(&lowered.entries, &lowered.rules, key, rule_base);
            let claim = HostClaim {
                service,
                key,
                entries: &entries,
                visibility: &visibility,
                id: &id,
                created,
            };
            let ctx = context_mut(&mut inner.contexts, key);
            for host in hosts {
                self.claim(&mut ctx.hosts, host, &claim, &mut ledger.diagnostics);
            }
            let Some(ports) = key.as_ref().and_then(|k| by_port.get(k)) else {
                continue;
            };
            ctx.servers_known = true;
            for (port, hosts) in ports {
                let i = match ctx.server_ports.iter().position(|(p, _)| p == port) {
                    Some(i) => i,
                    None => {
                        ctx.server_ports.push((*port, Hosts::default()));
                        ctx.server_ports.len() - 1
                    }
                };
                for host in hosts {
                    let hosts = &mut ctx.server_ports[i].1;
                    self.claim(hosts, host, &claim, &mut ledger.diagnostics);
                }
            }
        }
        inner.rules.extend(lowered.rules);
    }

    /// Puts one service's entries under `host` in `ctx`: a new claim, merged into the
    /// gateway's claim, or (in the mesh, where an older service holds the host) a claim that
    /// applies only where the older one is not visible, with a warning.
    fn claim(
        &mut self,
        hosts: &mut Hosts,
        host: &str,
        claim: &HostClaim<'_, 'c>,
        diagnostics: &mut Vec<Diagnostic>,
    ) {
        let HostClaim {
            service,
            key,
            entries,
            visibility,
            id,
            created,
        } = *claim;
        let vhost = hosts.get_or_insert(host, || format!("{host} ({id})").into());
        match (vhost.claims.first_mut(), key) {
            (None, _) => {
                let visibility = if key.is_none() {
                    self.mesh_owner.insert(host.to_string(), service);
                    visibility.clone()
                } else {
                    Visibility::Public
                };
                // Most hosts keep one claim: room for exactly one (a first push makes room
                // for four).
                vhost.claims.reserve_exact(1);
                vhost
                    .claims
                    .push(Claim::new(visibility, &id.namespace, entries.to_vec()));
            }
            // At a gateway, VirtualServices for one host merge.
            (Some(first), Some(_)) => first.entries.extend(entries.iter().copied()),
            // In the mesh the older one keeps the host where it is visible.
            (Some(_), None) => {
                // The same resource given twice (two files, or one file twice) is no conflict
                // between services: one warning per resource says so.
                let ns_default = self.options.default_namespace.as_str();
                let owner = self.mesh_owner.get(host).map(|w| {
                    let ts = w.metadata.creation_timestamp.as_deref().unwrap_or("");
                    let ns = w.namespace(ns_default);
                    (ResourceId::new("VirtualService", ns, &w.metadata.name), ts)
                });
                if owner.as_ref().is_some_and(|(w, _)| w == id) {
                    let said = diagnostics
                        .iter()
                        .any(|d| d.code == "duplicate-resource" && d.resource.as_ref() == Some(id));
                    if !said {
                        diagnostics.push(Diagnostic::warning(
                            id,
                            "duplicate-resource",
                            "metadata.name",
                            "the resource is given twice; the copy loaded first serves its hosts \
                             in the mesh and this one is not used there (kubectl apply would keep \
                             the later one)",
                        ));
                    }
                    vhost.claims.push(Claim::new(
                        visibility.clone(),
                        &id.namespace,
                        entries.to_vec(),
                    ));
                    return;
                }
                let (winner, why) = match &owner {
                    Some((w, wts)) => (w.to_string(), why_first(w, wts, id, created)),
                    None => (vhost.name.to_string(), "it comes first".into()),
                };
                diagnostics.push(Diagnostic::warning(
                    id,
                    "conflicting-host",
                    "spec.hosts",
                    format!(
                        "host {host:?} is already claimed in the mesh by {winner}, which wins because {why}; this one applies only where that one is not exported to, or to clients it is exported to more narrowly (its own namespace first, then by name) (IST0109)"
                    ),
                ));
                vhost.claims.push(Claim::new(
                    visibility.clone(),
                    &id.namespace,
                    entries.to_vec(),
                ));
            }
        }
    }
}

/// One service's claim on the hosts of one context.
#[derive(Clone, Copy)]
struct HostClaim<'a, 'c> {
    /// The service as loaded (before delegates are merged in).
    service: &'c Object<VirtualServiceSpec>,
    key: &'a ContextKey,
    entries: &'a [Entry],
    visibility: &'a Visibility,
    id: &'a ResourceId,
    /// The service's creation timestamp (empty when it has none).
    created: &'a str,
}

/// The service's entries (`listed`, over its `rules`) for the context `key`, numbered from `rule_base`, cut after the first
/// unconditional catch-all: Istio emits nothing after it, before any merging.
fn entries_for(
    listed: &[(Entry, Option<Vec<ContextKey>>)],
    rules: &[Rule],
    key: &ContextKey,
    rule_base: u32,
) -> Vec<Entry> {
    let mut entries: Vec<Entry> = Vec::new();
    for (e, ctxs) in listed {
        if ctxs.as_ref().is_some_and(|c| !c.contains(key)) {
            continue;
        }
        entries.push(Entry::new(e.rule + rule_base, e.block));
        let catch_all = e
            .block
            .is_none_or(|b| rules[e.rule as usize].blocks[b as usize].is_catch_all());
        if catch_all {
            break;
        }
    }
    entries
}

/// At gateways, VirtualServices for one host are merged and catch-all routes go last, per
/// server port as istiod builds them (pilot/pkg/networking/core/gateway.go
/// `buildGatewayHTTPRouteConfig` calls route.go `BuildHTTPRoutesForVirtualService` once per
/// server port, then `SortVHostRoutes`). On its port a block whose only config-time condition
/// is `port: P` and that is otherwise a catch-all cuts the rest of its VirtualService. With the
/// `Gateway` loaded, placement filled each server port's hosts; without it, each port such a
/// block names gets the shared hosts, built for that port. Source conditions count as met
/// here, as Istio applies them when it builds the listener's routes.
fn order_gateway_routes(inner: &mut Inner) {
    let rules = &inner.rules;
    for ctx in inner.contexts.iter_mut().filter(|c| c.gateway.is_some()) {
        if !ctx.servers_known {
            let ports: BTreeSet<u16> = ctx
                .hosts
                .vhosts
                .iter()
                .flat_map(|vh| vh.claims.iter().flat_map(|c| &c.entries))
                .filter_map(|e| {
                    let b = &rules[e.rule as usize].blocks[e.block? as usize];
                    b.source.port.filter(|_| cuts_on_listener(b))
                })
                .collect();
            for port in ports {
                ctx.server_ports.push((port, ctx.hosts.clone()));
            }
        }
        for (port, hosts) in &mut ctx.server_ports {
            for claim in hosts.vhosts.iter_mut().flat_map(|v| v.claims.iter_mut()) {
                claim.entries = entries_on_port(&claim.entries, rules, *port);
                sort_catch_alls_last(&mut claim.entries, rules);
            }
        }
        for claim in ctx
            .hosts
            .vhosts
            .iter_mut()
            .flat_map(|v| v.claims.iter_mut())
        {
            sort_catch_alls_last(&mut claim.entries, rules);
        }
    }
}

/// A server with `tls.httpsRedirect` makes its port's virtual hosts for its hosts require TLS
/// (pilot/pkg/networking/core/gateway.go `buildGatewayHTTPRouteConfig` sets `RequireTls: ALL`,
/// also on a virtual host of its own for a server host no VirtualService serves), and Envoy
/// answers every request that is not TLS with a 301 to the same URL with `https`, before any
/// route (envoy source/common/router/config_impl.cc, `SslRedirectRoute`). Here that is a rule of
/// the Gateway's, first on each of those hosts: scheme `http` redirects to `https`.
fn https_redirects(valid: &[&Resource], ns_default: &str, inner: &mut Inner) {
    for res in valid {
        let Resource::Gateway(g) = res else { continue };
        let gns = g.namespace(ns_default);
        let key = Some((gns.to_string(), g.metadata.name.clone()));
        for (i, server) in g.spec.servers.iter().enumerate() {
            let Some(server) = server else { continue };
            let redirect = server.tls.as_ref().and_then(|t| t.https_redirect) == Some(true);
            let Some(port) = http_server_port(server).filter(|_| redirect) else {
                continue;
            };
            let source = inner.sources.len() as u32;
            inner.sources.push(Source {
                kind: "Gateway".into(),
                namespace: gns.into(),
                name: g.metadata.name.as_str().into(),
            });
            let path = format!("spec.servers[{i}].tls.httpsRedirect");
            let entry = Entry::new(inner.rules.len() as u32, Some(0));
            inner
                .rules
                .push(https_redirect_rule(source, i as u32, path));
            let ctx = context_mut(&mut inner.contexts, &key);
            ctx.servers_known = true;
            let hosts = match ctx.server_ports.iter().position(|(p, _)| *p == port) {
                Some(at) => &mut ctx.server_ports[at].1,
                None => {
                    ctx.server_ports.push((port, Hosts::default()));
                    &mut ctx.server_ports.last_mut().expect("just pushed").1
                }
            };
            let server_hosts: Vec<String> = server
                .hosts
                .iter()
                .map(|h| {
                    h.split_once('/')
                        .map_or(h.as_str(), |(_, h)| h)
                        .to_ascii_lowercase()
                })
                .collect();
            for vh in &mut hosts.vhosts {
                let name = vh.name.split(" (").next().unwrap_or_default().to_string();
                if server_hosts
                    .iter()
                    .any(|sh| host_subset_of(&name, sh) || host_subset_of(sh, &name))
                    && let Some(claim) = vh.claims.first_mut()
                {
                    claim.entries.insert(0, entry);
                }
            }
            for sh in &server_hosts {
                let vh = hosts.get_or_insert(sh, || {
                    format!("{sh} (Gateway {gns}/{})", g.metadata.name).into()
                });
                if vh.claims.is_empty() {
                    vh.claims
                        .push(Claim::new(Visibility::Public, gns, vec![entry]));
                }
            }
        }
    }
}

/// The rule a server's `tls.httpsRedirect` stands for: a request over plain `http` is sent a
/// 301 to `https`, host and path kept.
fn https_redirect_rule(source: u32, index: u32, path: String) -> Rule {
    Rule {
        source,
        index,
        plain: false,
        name: "https-redirect".into(),
        blocks: vec![crate::block::Block {
            scheme: Some(crate::predicate::StrMatch::Exact("http".into())),
            path: path.into(),
            ..crate::block::Block::default()
        }]
        .into(),
        action: crate::action::Action::Redirect(crate::action::Redirect {
            uri: None,
            prefix_rewrite: None,
            authority: None,
            scheme: Some("https".into()),
            port: crate::action::RedirectPort::Unchanged,
            code: 301,
        }),
        headers: crate::action::HeaderOps::default(),
    }
}

/// istiod's `SortVHostRoutes`: the catch-all routes after the others, each group in order.
fn sort_catch_alls_last(entries: &mut [Entry], rules: &[Rule]) {
    entries.sort_by_key(|e| match e.block {
        None => true,
        Some(b) => rules[e.rule as usize].blocks[b as usize].is_catch_all_on_listener(),
    });
}

/// Whether a block, once selected for a listener, is a catch-all there that ends its
/// VirtualService's routes (route.go `IsCatchAllRoute` on the route `TranslateRoute` built):
/// a catch-all whose only config-time condition, if any, is `port`.
fn cuts_on_listener(b: &crate::block::Block) -> bool {
    b.is_catch_all_on_listener() && b.source.labels.is_empty() && b.source.namespace.is_none()
}

/// The merged `entries` of one host as istiod emits them for the listener on `port`
/// (route.go `TranslateRoute` drops a block for another port; `BuildHTTPRoutesForVirtualService`
/// stops a VirtualService's routes after its first catch-all).
fn entries_on_port(entries: &[Entry], rules: &[Rule], port: u16) -> Vec<Entry> {
    let mut cut: Vec<u32> = Vec::new();
    let mut out = Vec::new();
    for e in entries {
        let rule = &rules[e.rule as usize];
        if cut.contains(&rule.source) {
            continue;
        }
        let block = e.block.map(|b| &rule.blocks[b as usize]);
        if block.is_some_and(|b| b.source.port.is_some_and(|p| p != port)) {
            continue;
        }
        out.push(*e);
        if block.is_none_or(cuts_on_listener) {
            cut.push(rule.source);
        }
    }
    out
}

/// Why VirtualService `a` (created at `ta`) comes before `b` (created at `tb`) in Istio's
/// order: creation time, then name, then namespace, then load order.
fn why_first(a: &ResourceId, ta: &str, b: &ResourceId, tb: &str) -> String {
    if ta != tb {
        if ta.is_empty() {
            format!("it has no creationTimestamp, which sorts before {tb}")
        } else {
            format!("it was created earlier ({ta}, this one {tb})")
        }
    } else if a.name != b.name {
        format!(
            "with equal creation times its name {:?} sorts before {:?}",
            a.name, b.name
        )
    } else if a.namespace != b.namespace {
        format!(
            "with equal creation times and names its namespace {:?} sorts before {:?}",
            a.namespace, b.namespace
        )
    } else {
        "it was loaded first".into()
    }
}

/// The hosts a VirtualService serves at each HTTP server port of each loaded `Gateway` it
/// binds: `(gateway namespace, name)` → `(port, hosts)`.
type ServedByPort = BTreeMap<(String, String), Vec<(u16, BTreeSet<String>)>>;

/// At a gateway whose `Gateway` resource is loaded, a VirtualService serves only the hosts its
/// servers expose (Istio intersects the two: the narrower name wins); `ns/host` server entries
/// admit VirtualServices of that namespace only (`*` any, `.` the gateway's own). Returns, per
/// gateway, the hosts served on each port with an HTTP server (pilot/pkg/networking/core/
/// gateway.go `buildGatewayHTTPRouteConfig` intersects per server of the port's route
/// configuration; pkg/config/gateway/gateway.go `IsHTTPServer`: HTTP protocols, or HTTPS that
/// is not TLS passthrough); `placements` keep the hosts of every server.
fn restrict_to_gateway_servers(
    placements: &mut Placements,
    valid: &[&Resource],
    vs_ns: &str,
    ns_default: &str,
    id: &ResourceId,
    diagnostics: &mut Vec<Diagnostic>,
) -> ServedByPort {
    let mut by_port = ServedByPort::new();
    for (key, hosts) in placements.iter_mut() {
        let Some((gns, gname)) = key else { continue };
        let gateway = valid.iter().find_map(|r| match r {
            Resource::Gateway(g) if g.namespace(ns_default) == gns && g.metadata.name == *gname => {
                Some(g)
            }
            _ => None,
        });
        let Some(gateway) = gateway else { continue };
        let mut served = BTreeSet::new();
        let ports = by_port.entry((gns.clone(), gname.clone())).or_default();
        for server in gateway.spec.servers.iter().flatten() {
            let on_port = served_by(server, hosts, vs_ns, gns);
            served.extend(on_port.iter().cloned());
            // A port whose server carries no HTTP routes (TCP, TLS passthrough) serves none.
            let (port, on_port) = match (http_server_port(server), server_port(server)) {
                (Some(port), _) => (port, on_port),
                (None, Some(port)) => (port, BTreeSet::new()),
                (None, None) => continue,
            };
            match ports.iter_mut().find(|(p, _)| *p == port) {
                Some((_, set)) => set.extend(on_port),
                None => ports.push((port, on_port)),
            }
        }
        for host in hosts.iter() {
            let exposed = gateway
                .spec
                .servers
                .iter()
                .flatten()
                .any(|s| !served_by(s, &BTreeSet::from([host.clone()]), vs_ns, gns).is_empty());
            if !exposed {
                diagnostics.push(Diagnostic::warning(
                    id,
                    "host-not-in-gateway",
                    "spec.hosts",
                    format!(
                        "host {host:?} is not exposed by any server of Gateway {gns}/{gname}; it is not served there (IST0132)"
                    ),
                ));
            }
        }
        *hosts = served;
    }
    by_port
}

/// The hosts of `hosts` (a VirtualService's, of namespace `vs_ns`) that `server` of a Gateway
/// in namespace `gns` exposes, each as the narrower of the two names.
fn served_by(
    server: &crate::config::gateway::Server,
    hosts: &BTreeSet<String>,
    vs_ns: &str,
    gns: &str,
) -> BTreeSet<String> {
    let mut served = BTreeSet::new();
    for server_host in &server.hosts {
        let (filter, sh) = server_host.split_once('/').unwrap_or(("*", server_host));
        let admitted = filter == "*" || filter == vs_ns || (filter == "." && vs_ns == gns);
        if !admitted {
            continue;
        }
        let sh = sh.to_ascii_lowercase();
        for host in hosts {
            if host_subset_of(host, &sh) {
                served.insert(host.clone());
            } else if host_subset_of(&sh, host) {
                served.insert(sh.clone());
            }
        }
    }
    served
}

/// The port of a server that carries HTTP routes (pkg/config/gateway/gateway.go
/// `IsHTTPServer`: HTTP, HTTP2, GRPC, GRPC-WEB, or HTTPS that is not TLS passthrough).
fn http_server_port(server: &crate::config::gateway::Server) -> Option<u16> {
    let port = server.port.as_ref()?;
    let protocol = port.protocol.as_deref()?.to_ascii_uppercase();
    let passthrough = server.tls.as_ref().is_some_and(|t| {
        matches!(
            t.mode.as_deref().unwrap_or("PASSTHROUGH"),
            "PASSTHROUGH" | "AUTO_PASSTHROUGH"
        )
    });
    let http = matches!(protocol.as_str(), "HTTP" | "HTTP2" | "GRPC" | "GRPC-WEB")
        || (protocol == "HTTPS" && !passthrough);
    server_port(server).filter(|_| http)
}

/// A server's port number, when it has one.
fn server_port(server: &crate::config::gateway::Server) -> Option<u16> {
    let number = server.port.as_ref()?.number?;
    u16::try_from(number).ok().filter(|&p| p > 0)
}

/// `exportTo` as a [`Visibility`]: empty or `*` is public; `.` is the resource's namespace.
pub(crate) fn visibility(export_to: &[String], ns: &str) -> Visibility {
    if export_to.is_empty() || export_to.iter().any(|e| e == "*") {
        return Visibility::Public;
    }
    Visibility::Only(
        export_to
            .iter()
            .map(|e| {
                if e == "." {
                    ns.into()
                } else {
                    e.as_str().into()
                }
            })
            .collect(),
    )
}
