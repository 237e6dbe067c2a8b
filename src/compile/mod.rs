//! Config → [`Table`]: validation (Istio's rules, every error with its field path), lowering
//! into compiled rules, and the host indexes. The only place that validates.

mod gateway_api;
mod istio;
pub(crate) mod names;
mod regexes;
pub(crate) mod report;
pub(crate) mod values;

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;
use std::sync::Arc;

use crate::config::{Config, Rejected, Resource};
use crate::error::{Diagnostic, Error, ErrorKind, Errors, ResourceId, Severity};
use crate::table::{Claim, Context, Entry, Inner, SubsetInfo, Table, Visibility};

use self::istio::{delegate, destination_rule, gateway, lower, virtual_service};
use self::report::Report;

pub(crate) use self::istio::lower::expand_host;

/// Options of a compile.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct CompileOptions {
    /// Fail the whole compile on any rejected resource (default: reject only the resource,
    /// as Istio's admission webhook does, and compile the rest).
    pub strict: bool,
    /// Namespace of resources that name none.
    pub default_namespace: String,
    /// Kubernetes cluster domain used to expand short host names.
    pub cluster_domain: String,
    /// Sticky split for every forwarding rule: the destination is picked from this request
    /// key's hash instead of the random draw. A resource's `meshroute.io/sticky-split`
    /// annotation (`header:NAME`, `cookie:NAME`, `query:NAME` or `source-ip`) overrides it.
    pub sticky_split: Option<crate::hash::KeySource>,
    /// Keep decision counters and per-version golden signals ([`crate::observe`]); off by
    /// default, so a table that does not count pays nothing.
    pub counters: bool,
    /// How request paths are normalized before rules see them (default: Istio's — dot
    /// segments removed, slashes not merged, escaped slashes kept, fragments stripped; `%00`
    /// refused).
    pub path_normalization: crate::predicate::normalize::PathNormalization,
    /// Index each host's routes by their path literals (default), so a decision evaluates
    /// only the rules that can match its path. The answer is the same either way; `false`
    /// evaluates every rule in order, the reference the index is tested against.
    pub route_index: bool,
}

impl Default for CompileOptions {
    fn default() -> CompileOptions {
        CompileOptions {
            strict: false,
            default_namespace: "default".into(),
            cluster_domain: "cluster.local".into(),
            sticky_split: None,
            counters: false,
            path_normalization: Default::default(),
            route_index: true,
        }
    }
}

/// The annotation that makes a resource's splits sticky (see [`CompileOptions::sticky_split`]).
pub const STICKY_SPLIT_ANNOTATION: &str = "meshroute.io/sticky-split";

/// The sticky-split key of a resource: its annotation, else the option; a bad annotation is an
/// error at its path.
pub(crate) fn sticky_key(
    annotations: &BTreeMap<String, String>,
    options: &CompileOptions,
    report: &mut Report,
) -> Option<crate::hash::KeySource> {
    match annotations.get(STICKY_SPLIT_ANNOTATION) {
        None => options.sticky_split.clone(),
        Some(v) if v == "off" || v.is_empty() => None,
        Some(v) => match crate::hash::KeySource::parse(v) {
            Ok(k) => Some(k),
            Err(e) => {
                report.error(
                    format!("metadata.annotations[{STICKY_SPLIT_ANNOTATION}]"),
                    e,
                );
                None
            }
        },
    }
}

impl CompileOptions {
    /// Options with `strict` set.
    pub fn strict() -> CompileOptions {
        CompileOptions {
            strict: true,
            ..CompileOptions::default()
        }
    }
}

/// The result of a compile: the table, the resources left out, and warnings.
#[derive(Debug)]
#[non_exhaustive]
pub struct Compiled {
    /// The table, built from every resource that was not rejected.
    pub table: Table,
    /// Resources left out, each with all of its errors.
    pub rejected: Vec<Rejected>,
    /// Warnings and notes (loading notes included).
    pub diagnostics: Vec<Diagnostic>,
}

impl Compiled {
    /// Every error of every rejected resource.
    pub fn errors(&self) -> impl Iterator<Item = &Error> {
        self.rejected.iter().flat_map(|r| r.errors.iter())
    }
}

/// Validates and compiles `config`.
///
/// # Errors
/// In strict mode, every error of every rejected resource. Otherwise compile does not fail:
/// invalid resources are listed in [`Compiled::rejected`] and the others serve.
///
/// # Example
/// ```
/// use meshroute::{compile, CompileOptions, Config};
/// let config = Config::from_str(include_str!("../../examples/bookinfo.yaml"), "bookinfo.yaml")?;
/// let compiled = compile(&config, &CompileOptions::strict())?;
/// assert!(compiled.rejected.is_empty());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn compile(config: &Config, options: &CompileOptions) -> Result<Compiled, Errors> {
    let ns_default = options.default_namespace.as_str();
    let mut rejected: Vec<Rejected> = config.rejected.clone();
    let mut diagnostics: Vec<Diagnostic> = config.notes.clone();
    let mut valid: Vec<&Resource> = Vec::new();

    for res in &config.resources {
        let id = res.id(ns_default);
        let mut report = Report::default();
        match res {
            Resource::VirtualService(o) => {
                virtual_service::validate_virtual_service(&o.spec, &mut report)
            }
            Resource::DestinationRule(o) => {
                destination_rule::validate_destination_rule(&o.spec, &mut report)
            }
            Resource::Gateway(o) => gateway::validate_istio_gateway(&o.spec, &mut report),
            Resource::KubeGateway(o) => gateway_api::validate_gateway(&o.spec, &mut report),
            Resource::HttpRoute(o) => gateway_api::validate_http_route(&o.spec, &mut report),
            Resource::GrpcRoute(o) => gateway_api::validate_grpc_route(&o.spec, &mut report),
            Resource::ReferenceGrant(_)
            | Resource::Service(_)
            | Resource::Namespace(_)
            | Resource::EndpointSlice(_)
            | Resource::Pod(_) => {}
        }
        if collect(&id, res.source(), report, &mut rejected, &mut diagnostics) {
            valid.push(res);
        }
    }

    // Subsets from the DestinationRules that passed validation (first definition wins).
    let mut subsets: Vec<SubsetInfo> = Vec::new();
    for res in &valid {
        if let Resource::DestinationRule(o) = res {
            let ns = o.namespace(ns_default);
            let host = lower::expand_host(
                &o.spec.host.clone().unwrap_or_default(),
                ns,
                &options.cluster_domain,
            );
            for s in o.spec.subsets.iter().flatten() {
                let name = s.name.clone().unwrap_or_default();
                if subsets.iter().any(|x| *x.host == *host && *x.name == *name) {
                    continue;
                }
                subsets.push(SubsetInfo {
                    host: host.clone().into(),
                    name: name.into(),
                    labels: s
                        .labels
                        .iter()
                        .map(|(k, v)| (k.as_str().into(), v.as_str().into()))
                        .collect(),
                });
            }
        }
    }

    // VirtualServices in precedence order: oldest first, then by name, then by namespace
    // (Istio's sortConfigByCreationTime), then load order.
    let mut services: Vec<_> = valid
        .iter()
        .filter_map(|r| match r {
            Resource::VirtualService(o) => Some(o),
            _ => None,
        })
        .collect();
    services.sort_by(|a, b| {
        let ta = a.metadata.creation_timestamp.as_deref().unwrap_or("");
        let tb = b.metadata.creation_timestamp.as_deref().unwrap_or("");
        ta.cmp(tb)
            .then_with(|| a.metadata.name.cmp(&b.metadata.name))
            .then_with(|| a.namespace(ns_default).cmp(b.namespace(ns_default)))
            .then(a.order.cmp(&b.order))
    });

    // Every regex of the table, compiled once per distinct pattern, within one budget.
    let regexes = Rc::new(RefCell::new(regexes::Regexes::default()));
    let mut inner = Inner {
        cluster_domain: options.cluster_domain.as_str().into(),
        ..Inner::default()
    };
    inner.contexts.push(Context::default());
    let find = |dns: &str, name: &str| {
        services.iter().copied().find(|o| {
            o.namespace(ns_default) == dns && o.metadata.name == name && o.spec.hosts.is_empty()
        })
    };
    // The VirtualService that claimed each host in the mesh first, and its sort key.
    let mut mesh_owner: BTreeMap<String, (ResourceId, String)> = BTreeMap::new();
    for &o in &services {
        // A service without hosts is a delegate: it routes only through a root that names it.
        if o.spec.hosts.is_empty() {
            continue;
        }
        let ns = o.namespace(ns_default);
        let id = ResourceId::new("VirtualService", ns, &o.metadata.name);
        let mut report = Report::with_regexes(&regexes);
        let merged;
        let o = if delegate::is_root(&o.spec) {
            let spec = delegate::merge_root(o, ns, find, ns_default, &mut report);
            merged = crate::config::Object { spec, ..o.clone() };
            &merged
        } else {
            o
        };
        let lowered = lower::lower_virtual_service(
            o,
            ns,
            options,
            inner.sources.len() as u32,
            &subsets,
            &mut report,
        );
        if !collect(&id, &o.source, report, &mut rejected, &mut diagnostics) {
            continue;
        }
        let lowered = lowered.expect("lowering returns a service when it reports no error");
        let mut lowered = lowered;
        restrict_to_gateway_servers(
            &mut lowered.placements,
            &valid,
            ns,
            ns_default,
            &id,
            &mut diagnostics,
        );
        inner.sources.push(lowered.source);
        let visibility = visibility(&o.spec.export_to, ns);
        let rule_base = inner.rules.len() as u32;
        let rules = &lowered.rules;
        for (key, hosts) in &lowered.placements {
            // At a gateway, visibility is decided once, for the Gateway's namespace.
            if let Some((gns, _)) = key
                && !visibility.admits(gns)
            {
                continue;
            }
            // Entries for this context, cut after the first unconditional catch-all: Istio
            // emits nothing after it, before any merging.
            let mut entries: Vec<Entry> = Vec::new();
            for (e, ctxs) in &lowered.entries {
                if ctxs.as_ref().is_some_and(|c| !c.contains(key)) {
                    continue;
                }
                entries.push(Entry {
                    rule: e.rule + rule_base,
                    block: e.block,
                });
                let catch_all = e
                    .block
                    .is_none_or(|b| rules[e.rule as usize].blocks[b as usize].is_catch_all());
                if catch_all {
                    break;
                }
            }
            let ctx = context_mut(&mut inner.contexts, key);
            for host in hosts {
                let vhost = ctx
                    .hosts
                    .get_or_insert(host, || format!("{host} ({id})").into());
                match (vhost.claims.first_mut(), key) {
                    (None, _) => {
                        if key.is_none() {
                            let ts = o.metadata.creation_timestamp.as_deref().unwrap_or("");
                            mesh_owner.insert(host.clone(), (id.clone(), ts.to_string()));
                        }
                        let visibility = if key.is_none() {
                            visibility.clone()
                        } else {
                            Visibility::Public
                        };
                        vhost.claims.push(Claim::new(visibility, entries.clone()));
                    }
                    // At a gateway, VirtualServices for one host merge.
                    (Some(claim), Some(_)) => claim.entries.extend(entries.iter().copied()),
                    // In the mesh the older one keeps the host where it is visible.
                    (Some(_), None) => {
                        let ts = o.metadata.creation_timestamp.as_deref().unwrap_or("");
                        let (winner, why) = match mesh_owner.get(host) {
                            Some((w, wts)) => (w.to_string(), why_first(w, wts, &id, ts)),
                            None => (vhost.name.to_string(), "it comes first".into()),
                        };
                        diagnostics.push(Diagnostic {
                            severity: Severity::Warning,
                            code: "conflicting-host",
                            resource: Some(id.clone()),
                            path: "spec.hosts".into(),
                            message: format!(
                                "host {host:?} is already claimed in the mesh by {winner}, which wins because {why}; this one applies only where that one is not exported to (IST0109)"
                            ),
                        });
                        vhost
                            .claims
                            .push(Claim::new(visibility.clone(), entries.clone()));
                    }
                }
            }
        }
        inner.rules.extend(lowered.rules);
    }
    // At gateways, VirtualServices for one host are merged and catch-all routes go last. Port
    // and source conditions count as met here: Istio applies them when it builds the
    // listener's routes, before this ordering.
    for ctx in inner.contexts.iter_mut().filter(|c| c.gateway.is_some()) {
        for vh in &mut ctx.hosts.vhosts {
            let rules = &inner.rules;
            vh.claims[0].entries.sort_by_key(|e| match e.block {
                None => true,
                Some(b) => rules[e.rule as usize].blocks[b as usize].is_catch_all_on_listener(),
            });
        }
    }
    inner.subsets = subsets;

    // Gateway API routes, placed by their own precedence.
    let world = gateway_api::lower::World {
        gateways: valid
            .iter()
            .filter_map(|r| {
                if let Resource::KubeGateway(g) = r {
                    Some(g)
                } else {
                    None
                }
            })
            .collect(),
        grants: valid
            .iter()
            .filter_map(|r| {
                if let Resource::ReferenceGrant(g) = r {
                    Some(g)
                } else {
                    None
                }
            })
            .collect(),
        services: {
            let s: Vec<_> = valid
                .iter()
                .filter_map(|r| {
                    if let Resource::Service(s) = r {
                        Some(s)
                    } else {
                        None
                    }
                })
                .collect();
            (!s.is_empty()).then_some(s)
        },
        namespaces: valid
            .iter()
            .filter_map(|r| {
                if let Resource::Namespace(n) = r {
                    Some((n.metadata.name.clone(), n.metadata.labels.clone()))
                } else {
                    None
                }
            })
            .collect(),
        default_ns: ns_default,
        domain: &options.cluster_domain,
        options,
        regexes,
    };
    let mut routes: Vec<gateway_api::lower::Route<'_>> = valid
        .iter()
        .filter_map(|r| match r {
            Resource::HttpRoute(o) => Some(gateway_api::lower::Route::Http(o)),
            Resource::GrpcRoute(o) => Some(gateway_api::lower::Route::Grpc(o)),
            _ => None,
        })
        .collect();
    let mut reports = Vec::new();
    gateway_api::lower::place_routes(&mut routes, &world, &mut inner, &mut reports);
    let only_ports = world
        .services
        .iter()
        .flatten()
        .filter_map(|s| match s.spec.ports.as_slice() {
            [one] => Some((
                format!(
                    "{}.{}.svc.{}",
                    s.metadata.name,
                    s.namespace(ns_default),
                    options.cluster_domain
                ),
                u16::try_from(one.port?).ok()?,
            )),
            _ => None,
        })
        .collect();
    assign_clusters(&mut inner, &only_ports);
    for res in &valid {
        if let Resource::DestinationRule(o) = res {
            let ns = o.namespace(ns_default);
            let host = lower::expand_host(
                o.spec.host.as_deref().unwrap_or(""),
                ns,
                &options.cluster_domain,
            );
            inner
                .destination_rules
                .push((host.into(), ns.to_string(), o.spec.clone()));
        }
    }
    for (id, source, report) in reports {
        collect(&id, &source, report, &mut rejected, &mut diagnostics);
    }

    inner.normalization = options.path_normalization;
    if options.route_index {
        inner.build_indexes();
    }
    if options.counters {
        inner.counters = Some(crate::observe::Counters::new(
            &inner.rules,
            inner.clusters.len(),
        ));
    }
    if options.strict && !rejected.is_empty() {
        return Err(Errors(
            rejected.into_iter().flat_map(|r| r.errors).collect(),
        ));
    }
    Ok(Compiled {
        table: Table {
            inner: Arc::new(inner),
        },
        rejected,
        diagnostics,
    })
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

/// At a gateway whose `Gateway` resource is loaded, a VirtualService serves only the hosts its
/// servers expose (Istio intersects the two: the narrower name wins); `ns/host` server entries
/// admit VirtualServices of that namespace only (`*` any, `.` the gateway's own).
fn restrict_to_gateway_servers(
    placements: &mut Placements,
    valid: &[&Resource],
    vs_ns: &str,
    ns_default: &str,
    id: &ResourceId,
    diagnostics: &mut Vec<Diagnostic>,
) {
    use names::host_subset_of;
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
        for host in hosts.iter() {
            let before = served.len();
            for server_host in gateway.spec.servers.iter().flatten().flat_map(|s| &s.hosts) {
                let (filter, sh) = server_host.split_once('/').unwrap_or(("*", server_host));
                let admitted = filter == "*" || filter == vs_ns || (filter == "." && vs_ns == gns);
                let sh = sh.to_ascii_lowercase();
                if !admitted {
                    continue;
                }
                if host_subset_of(host, &sh) {
                    served.insert(host.clone());
                } else if host_subset_of(&sh, host) {
                    served.insert(sh);
                }
            }
            if served.len() == before {
                diagnostics.push(Diagnostic {
                    severity: Severity::Warning,
                    code: "host-not-in-gateway",
                    resource: Some(id.clone()),
                    path: "spec.hosts".into(),
                    message: format!(
                        "host {host:?} is not exposed by any server of Gateway {gns}/{gname}; it is not served there (IST0132)"
                    ),
                });
            }
        }
        *hosts = served;
    }
}

/// Numbers every (host, subset) pair that a destination or mirror names.
///
/// A destination without a port whose Service is in the configuration with exactly one port
/// goes to that port, as istiod's `GetDestinationCluster` sends it (istio/istio
/// `pilot/pkg/networking/core/route/route.go`); the others keep the request's port.
fn assign_clusters(inner: &mut Inner, only_ports: &std::collections::HashMap<String, u16>) {
    use crate::action::{Action, PortFrom};
    use crate::table::ClusterKey;
    let mut ids: std::collections::HashMap<ClusterKey, u32> = std::collections::HashMap::new();
    let mut clusters = Vec::new();
    for rule in &mut inner.rules {
        let Action::Forward(f) = &mut rule.action else {
            continue;
        };
        let dests = f
            .destinations
            .iter_mut()
            .map(|w| &mut w.destination)
            .chain(f.mirrors.iter_mut().map(|m| &mut m.destination));
        for d in dests {
            if d.port.is_none()
                && let Some(&p) = only_ports.get(&*d.host)
            {
                d.port = Some(p);
                d.port_from = PortFrom::ServiceOnlyPort;
            }
            let key = ClusterKey {
                host: d.host.clone(),
                subset: d.subset.clone(),
                port: d.port,
            };
            d.cluster = *ids.entry(key.clone()).or_insert_with(|| {
                clusters.push(key);
                clusters.len() as u32 - 1
            });
        }
    }
    inner.clusters = clusters;
}

/// `exportTo` as a [`Visibility`]: empty or `*` is public; `.` is the resource's namespace.
fn visibility(export_to: &[String], ns: &str) -> Visibility {
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

/// Files a report: errors reject the resource, warnings become diagnostics. Returns whether
/// the resource is valid.
fn collect(
    id: &ResourceId,
    source: &str,
    report: Report,
    rejected: &mut Vec<Rejected>,
    diagnostics: &mut Vec<Diagnostic>,
) -> bool {
    if report.has_errors() {
        let errors = report
            .errors
            .into_iter()
            .map(|(path, msg)| {
                Error::new(ErrorKind::Invalid, path, msg)
                    .with_resource(id)
                    .with_source(source)
            })
            .collect();
        rejected.push(Rejected {
            resource: id.clone(),
            errors,
        });
        return false;
    }
    for (code, path, message) in report.warnings {
        diagnostics.push(Diagnostic {
            severity: Severity::Warning,
            code,
            resource: Some(id.clone()),
            path,
            message,
        });
    }
    true
}

fn context_mut<'a>(
    contexts: &'a mut Vec<Context>,
    key: &Option<(String, String)>,
) -> &'a mut Context {
    let pos = contexts.iter().position(|c| match (&c.gateway, key) {
        (None, None) => true,
        (Some((a, b)), Some((x, y))) => **a == **x && **b == **y,
        _ => false,
    });
    match pos {
        Some(i) => &mut contexts[i],
        None => {
            contexts.push(Context {
                gateway: key
                    .as_ref()
                    .map(|(n, g)| (n.as_str().into(), g.as_str().into())),
                ..Context::default()
            });
            contexts.last_mut().expect("just pushed")
        }
    }
}

/// Placement of one VirtualService: which contexts and hosts it serves.
pub(crate) type Placements = BTreeMap<Option<(String, String)>, BTreeSet<String>>;

impl Table {
    /// Loads YAML or JSON text and compiles it in strict mode.
    ///
    /// # Errors
    /// Any syntax error, or every error of every invalid resource.
    ///
    /// # Example
    /// ```
    /// let table = meshroute::Table::from_yaml(include_str!("../../examples/bookinfo.yaml"))?;
    /// assert!(!table.rules().is_empty());
    /// # Ok::<(), meshroute::Errors>(())
    /// ```
    pub fn from_yaml(text: &str) -> Result<Table, Errors> {
        let config = Config::from_str(text, "").map_err(|e| Errors(vec![e]))?;
        compile(&config, &CompileOptions::strict()).map(|c| c.table)
    }
}
