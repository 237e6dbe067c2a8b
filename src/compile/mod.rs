//! Config → [`Table`]: validation (Istio's rules, every error with its field path), lowering
//! into compiled rules, and the host indexes. The only place that validates, and the only
//! place that lowers: the table holds compiled types, never configuration.
//!
//! [`compile()`] reads as its steps: validate every resource (a rejected one is filed with all
//! of its errors and the rest go on), place the VirtualServices, place the Gateway API routes,
//! number the clusters destinations name, lower the DestinationRules' load balancing, then build the indexes and counters.
//!
//! Where things are:
//! * `istio/`: the `networking.istio.io` resources, one file per resource, plus delegation,
//!   reachability warnings, lowering and placement;
//! * `gateway_api/`: the `gateway.networking.k8s.io` resources, the same way;
//! * `names.rs` (DNS names, hosts, labels), `values.rs` (durations, header values, enums,
//!   counts), `regexes.rs` (the table's one regex budget), `report.rs` (errors and warnings
//!   at their paths): the vocabulary both APIs share.

mod gateway_api;
mod istio;
mod mesh_config;
pub(crate) mod names;
mod regexes;
pub(crate) mod report;
mod shrink;
pub(crate) mod values;

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::rc::Rc;
use std::sync::Arc;

use crate::config::{Config, Rejected, Resource};
use crate::error::{Diagnostic, Error, ErrorKind, Errors, ResourceId};
use crate::table::{Context, Inner, Table};

use self::istio::{destination_rule, gateway, virtual_service};
use self::report::Report;

pub(crate) use self::istio::lower::expand_host;
pub(crate) use self::istio::service_entry::analyze_service_entries;

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
    /// Mesh-wide settings (outbound traffic policy, root namespace); a loaded `istio`
    /// ConfigMap in the root namespace overrides what it sets.
    pub mesh: crate::mesh::MeshSettings,
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
            mesh: Default::default(),
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

/// A registry reads endpoints with the compile's namespace and cluster domain:
/// `Registry::from_config(&config, &(&options).into())`.
impl From<&CompileOptions> for crate::registry::RegistryOptions {
    fn from(options: &CompileOptions) -> crate::registry::RegistryOptions {
        let mut r = crate::registry::RegistryOptions::default();
        r.default_namespace.clone_from(&options.default_namespace);
        r.cluster_domain.clone_from(&options.cluster_domain);
        r
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
    compile_with(config, options, &mut Incremental::default())
}

/// One read of a resource: the read's serial (a [`ClusterSource`](crate::cluster) numbers the
/// objects it reads, and an object changed is read again under a new serial) and the
/// resource's position among those the read gave.
pub(crate) type Read = (u64, u32);

/// What a compile keeps for the next one, so that the work that depends on one resource alone
/// is not redone for a resource read no newer: the report of its validation, and a
/// VirtualService's lowering (with what it read of the others: [`istio::place::Lowerings`]),
/// keyed by its read.
/// A compile from scratch is the same compile with an empty cache ([`compile`]); what is kept is
/// what that compile would compute again, so that the table, rejections and diagnostics are the
/// same either way. The cache holds the entries of the last compile's resources only.
#[derive(Debug, Default)]
pub(crate) struct Incremental {
    /// The read of each resource of the configuration compiled next, by position in
    /// [`Config::resources`]; a resource without one (past the end) is validated afresh and
    /// its report not kept.
    pub(crate) reads: Vec<Read>,
    /// The validation report of each read, when validation read nothing but the resource's
    /// spec (no regex: those share the compile's budget with every other resource).
    validated: HashMap<Read, Filed>,
    /// How many resources the last compile validated afresh: the rest were reused.
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) validated_afresh: usize,
    /// The VirtualServices the last compile lowered.
    pub(crate) lowerings: istio::place::Lowerings,
}

/// The read of each VirtualService of `config` that `reads` gives one, by its address.
fn virtual_service_reads(
    config: &Config,
    reads: &[Read],
) -> HashMap<*const crate::config::Object<crate::config::VirtualServiceSpec>, Read> {
    (config.resources.iter().zip(reads))
        .filter_map(|(r, read)| match r {
            Resource::VirtualService(o) => Some((std::ptr::from_ref(&**o), *read)),
            _ => None,
        })
        .collect()
}

/// A validation report kept across compiles.
#[derive(Debug)]
struct Filed {
    errors: Vec<(String, String)>,
    warnings: Vec<(&'static str, String, String)>,
}

/// [`compile`] with what the last compile kept (`cache`), keeping what this one computes for
/// the next.
pub(crate) fn compile_with(
    config: &Config,
    options: &CompileOptions,
    cache: &mut Incremental,
) -> Result<Compiled, Errors> {
    let mut ledger = Ledger {
        rejected: config.rejected.clone(),
        diagnostics: config.notes.clone(),
    };
    let regexes = Rc::new(RefCell::new(regexes::Regexes::default()));
    let valid = validate(config, options, &regexes, &mut ledger, cache);
    // The root namespace's `istio` ConfigMap overrides the mesh settings of the options.
    let read = mesh_config::apply(&valid, options, &mut ledger);
    let options = read.as_ref().unwrap_or(options);
    let mut inner = Inner {
        cluster_domain: options.cluster_domain.as_str().into(),
        contexts: vec![Context::default()],
        mesh: options.mesh.clone(),
        default_retries: mesh_config::default_retries(&options.mesh),
        ..Inner::default()
    };
    let rules = istio::policy::with_hosts_in_precedence_order(&valid, options);
    let reads = virtual_service_reads(config, &cache.reads);
    istio::place::place_virtual_services(
        &valid,
        &rules,
        options,
        &regexes,
        &reads,
        &mut cache.lowerings,
        &mut inner,
        &mut ledger,
    );
    istio::l4::gateway_servers(&valid, &options.default_namespace, &mut inner.l4);
    let world = gateway_api_world(&valid, options, regexes, &inner.default_retries);
    place_gateway_api_routes(&valid, &world, &mut inner, &mut ledger);
    inner
        .l4
        .set_service_addresses(service_addresses(&world, options));
    let mut only_ports = single_port_services(&world, options);
    istio::service_entry::single_port_hosts(&valid, &mut only_ports);
    assign_clusters(&mut inner, &only_ports);
    (inner.policies, inner.dr_index) = istio::policy::lower_policies(&rules, options);
    inner.known = known_hosts(&valid, options);
    for (host, d) in inner.known.iter().flat_map(|k| k.definitions()) {
        inner
            .dr_index
            .add_service(host, &d.namespace, &d.visibility);
    }
    let mut tls_ports: Vec<u16> = (inner.known.iter())
        .flat_map(|k| k.definitions())
        .flat_map(|(_, d)| d.tls_ports.iter().map(|(p, _)| *p))
        .collect();
    tls_ports.sort_unstable();
    tls_ports.dedup();
    inner.tls_ports = tls_ports.into();
    inner.subset_scoped = subset_scoped(&inner);
    istio::sidecar::lower_sidecars(
        &valid,
        &options.default_namespace,
        &mut inner,
        &mut ledger.diagnostics,
    );
    finish(inner, options, ledger)
}

/// Validates every loaded resource, filing each one's report; returns those that passed. The
/// regexes validation reads are the compile's, so that each pattern is read once.
fn validate<'c>(
    config: &'c Config,
    options: &CompileOptions,
    regexes: &Rc<RefCell<regexes::Regexes>>,
    ledger: &mut Ledger,
    cache: &mut Incremental,
) -> Vec<&'c Resource> {
    let mut valid: Vec<&Resource> = Vec::with_capacity(config.resources.len());
    let mut kept = HashMap::with_capacity(cache.validated.len());
    cache.validated_afresh = 0;
    for (i, res) in config.resources.iter().enumerate() {
        let mut report = Report::with_regexes(regexes);
        let read = cache.reads.get(i).copied();
        match read.and_then(|read| Some((read, cache.validated.remove(&read)?))) {
            Some((read, filed)) => {
                report.errors.clone_from(&filed.errors);
                report.warnings.clone_from(&filed.warnings);
                kept.insert(read, filed);
            }
            None => {
                if validate_one(res, &mut report) {
                    cache.validated_afresh += 1;
                    if let Some(read) = read
                        && !report.read_regexes
                    {
                        let filed = Filed {
                            errors: report.errors.clone(),
                            warnings: report.warnings.clone(),
                        };
                        kept.insert(read, filed);
                    }
                }
            }
        }
        // A resource's id is written out only when its report files something.
        if report.errors.is_empty() && report.warnings.is_empty() {
            valid.push(res);
            continue;
        }
        let id = res.id(&options.default_namespace);
        if ledger.file(&id, res.source(), report) {
            valid.push(res);
        }
    }
    cache.validated = kept;
    valid
}

/// Validates one resource into `report`; whether its kind has anything to validate.
fn validate_one(res: &Resource, report: &mut Report) -> bool {
    match res {
        Resource::VirtualService(o) => virtual_service::validate_virtual_service(&o.spec, report),
        Resource::DestinationRule(o) => {
            destination_rule::validate_destination_rule(&o.spec, report)
        }
        Resource::Gateway(o) => gateway::validate_istio_gateway(&o.spec, report),
        Resource::Sidecar(o) => istio::sidecar::validate_sidecar(&o.spec, report),
        Resource::ServiceEntry(o) => istio::service_entry::validate_service_entry(&o.spec, report),
        Resource::WorkloadEntry(o) => {
            istio::service_entry::validate_workload_entry(&o.spec, report)
        }
        Resource::KubeGateway(o) => gateway_api::validate_gateway(&o.spec, report),
        Resource::HttpRoute(o) => gateway_api::validate_http_route(&o.spec, report),
        Resource::GrpcRoute(o) => gateway_api::validate_grpc_route(&o.spec, report),
        Resource::TlsRoute(o) => gateway_api::l4::validate_l4_route(
            "TLSRoute",
            &o.spec.parent_refs,
            Some(&o.spec.hostnames),
            &o.spec.rules,
            report,
        ),
        Resource::TcpRoute(o) => gateway_api::l4::validate_l4_route(
            "TCPRoute",
            &o.spec.parent_refs,
            None,
            &o.spec.rules,
            report,
        ),
        Resource::ReferenceGrant(_)
        | Resource::Service(_)
        | Resource::Namespace(_)
        | Resource::EndpointSlice(_)
        | Resource::Pod(_)
        | Resource::ConfigMap(_) => return false,
    }
    true
}

/// What Gateway API routes are placed against: the valid Gateways, ReferenceGrants,
/// Services and Namespaces.
fn gateway_api_world<'c>(
    valid: &[&'c Resource],
    options: &'c CompileOptions,
    regexes: Rc<RefCell<regexes::Regexes>>,
    default_retries: &crate::retry::DefaultRetries,
) -> gateway_api::lower::World<'c> {
    let services: Vec<_> = valid
        .iter()
        .filter_map(|r| match r {
            Resource::Service(s) => Some(&**s),
            _ => None,
        })
        .collect();
    gateway_api::lower::World {
        gateways: valid
            .iter()
            .filter_map(|r| match r {
                Resource::KubeGateway(g) => Some(&**g),
                _ => None,
            })
            .collect(),
        grants: valid
            .iter()
            .filter_map(|r| match r {
                Resource::ReferenceGrant(g) => Some(&**g),
                _ => None,
            })
            .collect(),
        services: (!services.is_empty()).then_some(services),
        namespaces: valid
            .iter()
            .filter_map(|r| match r {
                Resource::Namespace(n) => {
                    Some((n.metadata.name.clone(), n.metadata.labels.clone()))
                }
                _ => None,
            })
            .collect(),
        default_ns: &options.default_namespace,
        domain: &options.cluster_domain,
        options,
        default_retries: default_retries.0.clone(),
        regexes,
    }
}

/// Places the valid HTTPRoutes and GRPCRoutes by their own precedence, filing each one's
/// report.
fn place_gateway_api_routes(
    valid: &[&Resource],
    world: &gateway_api::lower::World<'_>,
    inner: &mut Inner,
    ledger: &mut Ledger,
) {
    let mut routes: Vec<gateway_api::lower::Route<'_>> = valid
        .iter()
        .filter_map(|r| match r {
            Resource::HttpRoute(o) => Some(gateway_api::lower::Route::Http(o)),
            Resource::GrpcRoute(o) => Some(gateway_api::lower::Route::Grpc(o)),
            _ => None,
        })
        .collect();
    let mut reports = Vec::new();
    gateway_api::lower::place_routes(&mut routes, world, inner, &mut reports);
    let mut l4 = gateway_api::l4::l4_routes(valid);
    gateway_api::l4::place_l4_routes(&mut l4, world, inner, &mut reports);
    for (id, source, report) in reports {
        ledger.file(&id, &source, report);
    }
}

/// The port of every loaded Service that has exactly one, by the Service's host.
fn single_port_services(
    world: &gateway_api::lower::World<'_>,
    options: &CompileOptions,
) -> HashMap<String, u16> {
    world
        .services
        .iter()
        .flatten()
        .filter_map(|s| match s.spec.ports.as_slice() {
            [one] => Some((
                format!(
                    "{}.{}.svc.{}",
                    s.metadata.name,
                    s.namespace(&options.default_namespace),
                    options.cluster_domain
                ),
                u16::try_from(one.port?).ok()?,
            )),
            _ => None,
        })
        .collect()
}

/// The hosts the registry defines ([`crate::known`]): every valid Service, as
/// `<name>.<ns>.svc.<domain>`, exported as its `networking.istio.io/exportTo` annotation says and
/// known at every port (the mesh default route has always taken a Service's host at the port
/// addressed; istiod would pass a port the Service does not list through to
/// PassthroughCluster), and every valid ServiceEntry's hosts with its `exportTo`, at its ports;
/// either without an `exportTo` gets the mesh's `defaultServiceExportTo`. `None` when there is
/// neither.
fn known_hosts(valid: &[&Resource], options: &CompileOptions) -> Option<crate::known::KnownHosts> {
    use crate::known::{Definition, KnownHosts};
    let ns_default = options.default_namespace.as_str();
    let mut known = KnownHosts::default();
    let mut any = false;
    for r in valid {
        match r {
            Resource::Service(s) => {
                any = true;
                let ns = s.namespace(ns_default);
                let ports = s
                    .spec
                    .ports
                    .iter()
                    .filter_map(|p| u16::try_from(p.port?).ok());
                let export_to: Vec<String> = s
                    .metadata
                    .annotations
                    .get(crate::config::EXPORT_TO_ANNOTATION)
                    .into_iter()
                    .flat_map(|a| a.split(','))
                    .map(|e| e.trim().to_string())
                    .filter(|e| !e.is_empty())
                    .collect();
                // Istio reads a Kubernetes port's protocol from its appProtocol, else its name,
                // up to the first `-` (istio pkg/config/kube `ConvertProtocol`); UDP is UDP.
                let tls_ports = s.spec.ports.iter().filter_map(|p| {
                    let number = u16::try_from(p.port?).ok()?;
                    if p.protocol.as_deref() == Some("UDP") {
                        return None;
                    }
                    let name = p.app_protocol.as_deref().or(p.name.as_deref())?;
                    let protocol = match name {
                        "kubernetes.io/wss" => "https",
                        _ => name.split('-').next().unwrap_or(name),
                    };
                    Some((number, istio::service_entry::tls_protocol(protocol)?))
                });
                known.insert(
                    &crate::predicate::host::service_fqdn(
                        &s.metadata.name,
                        ns,
                        &options.cluster_domain,
                    ),
                    Definition {
                        visibility: istio::service_entry::service_visibility(
                            &export_to,
                            ns,
                            &options.mesh.default_service_export_to,
                        ),
                        ports: ports.collect(),
                        any_port: true,
                        by: format!("Service {ns}/{}", s.metadata.name).into(),
                        namespace: ns.into(),
                        tls_ports: tls_ports.collect(),
                    },
                );
            }
            Resource::ServiceEntry(o) => {
                any = true;
                istio::service_entry::define_hosts(
                    o,
                    ns_default,
                    &options.mesh.default_service_export_to,
                    &mut known,
                );
            }
            _ => {}
        }
    }
    debug_assert!(any || known.is_empty());
    any.then_some(known)
}

/// The `clusterIP` of every loaded Service that has one, with the Service's host: how a TCP
/// connection to a Service's address finds the Service (istiod binds a Service's listener to
/// its address).
fn service_addresses(
    world: &gateway_api::lower::World<'_>,
    options: &CompileOptions,
) -> Vec<(std::net::IpAddr, Box<str>)> {
    world
        .services
        .iter()
        .flatten()
        .filter_map(|s| {
            let ip = s.spec.cluster_ip.as_deref()?.parse().ok()?;
            let host = format!(
                "{}.{}.svc.{}",
                s.metadata.name,
                s.namespace(&options.default_namespace),
                options.cluster_domain
            );
            Some((ip, host.into()))
        })
        .collect()
}

/// The last step: the table's path normalization, route indexes and counters; in strict mode,
/// every error of a rejected resource fails the compile.
fn finish(mut inner: Inner, options: &CompileOptions, ledger: Ledger) -> Result<Compiled, Errors> {
    inner.normalization = options.path_normalization;
    shrink::shrink(&mut inner);
    inner.build_hot();
    inner.l4.build_indexes();
    if options.route_index {
        inner.build_indexes();
    }
    if options.counters {
        inner.counters = Some(crate::observe::Counters::new(
            &inner.rules,
            inner.clusters.len(),
        ));
    }
    let Ledger {
        rejected,
        diagnostics,
    } = ledger;
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

/// Numbers every (host, subset) pair that a destination or mirror names.
///
/// A destination without a port whose Service is in the configuration with exactly one port
/// goes to that port, as istiod's `GetDestinationCluster` sends it (istio/istio
/// `pilot/pkg/networking/core/route/route.go`); the others keep the request's port.
fn assign_clusters(inner: &mut Inner, only_ports: &HashMap<String, u16>) {
    use crate::action::{Action, PortFrom};
    use crate::table::ClusterKey;
    // Every destination's port (its own, else its Service's only one) and cluster number,
    // in the order the second pass meets them: the keys are looked up borrowed, and only a
    // new cluster's key is copied.
    // Sized for about one cluster per rule, so that the map is not rehashed as it grows.
    let mut ids: HashMap<(&str, Option<&str>, Option<u16>), u32> =
        HashMap::with_capacity(inner.rules.len() + inner.l4.rules.len());
    let mut clusters = Vec::new();
    let mut assigned: Vec<(Option<u16>, u32)> = Vec::new();
    let l4 = inner.l4.rules.iter().map(|r| &r.rule);
    for rule in inner.rules.iter().chain(l4) {
        let Action::Forward(f) = &rule.action else {
            continue;
        };
        let dests = f
            .destinations
            .iter()
            .map(|w| &w.destination)
            .chain(f.mirrors.iter().map(|m| &m.destination));
        for d in dests {
            let port = match d.port {
                None => only_ports.get(&*d.host).copied(),
                own => own,
            };
            let id = *ids
                .entry((&d.host, d.subset.as_deref(), port))
                .or_insert_with(|| {
                    clusters.push(ClusterKey {
                        host: d.host.clone(),
                        subset: d.subset.clone(),
                        port,
                    });
                    clusters.len() as u32 - 1
                });
            assigned.push((port, id));
        }
    }
    drop(ids);
    let mut assigned = assigned.into_iter();
    let l4 = inner.l4.rules.iter_mut().map(|r| &mut r.rule);
    for rule in inner.rules.iter_mut().chain(l4) {
        let Action::Forward(f) = &mut rule.action else {
            continue;
        };
        let dests = f
            .destinations
            .iter_mut()
            .map(|w| &mut w.destination)
            .chain(f.mirrors.iter_mut().map(|m| &mut m.destination));
        for d in dests {
            let (port, id) = assigned
                .next()
                .expect("the second pass meets the destinations of the first");
            if d.port.is_none() && port.is_some() {
                d.port = port;
                d.port_from = PortFrom::ServiceOnlyPort;
            }
            d.cluster = id;
        }
    }
    inner.clusters = clusters;
}

/// Per cluster: whether a decision must check that the DestinationRule its client sees defines
/// the cluster's subset ([`Inner::subset_missing`]). Not when no rule defines it (the
/// destination is unavailable for everyone), nor when every client sees one that does: every
/// rule for the host defines it, and one of them is exported to every namespace from the
/// host's namespace or the root namespace, so that no client is left without a rule.
fn subset_scoped(inner: &Inner) -> Vec<crate::table::SubsetScope> {
    use crate::balance::{HostPolicy, host_namespace};
    use crate::table::SubsetScope;
    // The policies whose host covers a cluster's: those of exactly its host, when it is not a
    // wildcard, and the wildcard ones that cover it (`host_subset_of`). Indexed by host, so
    // that a cluster does not scan every policy of the table.
    let mut exact: HashMap<&str, Vec<&HostPolicy>> = HashMap::new();
    let mut wildcards: Vec<&HostPolicy> = Vec::new();
    for p in &inner.policies {
        if p.host.starts_with('*') {
            wildcards.push(p);
        } else {
            exact.entry(&p.host).or_default().push(p);
        }
    }
    let index = &inner.dr_index;
    inner
        .clusters
        .iter()
        .map(|key| {
            let Some(subset) = &key.subset else {
                return SubsetScope::Everywhere;
            };
            let mut defined_somewhere = false;
            let mut everywhere = true;
            let host = &*key.host;
            let same = (!host.starts_with('*')).then(|| exact.get(host)).flatten();
            let covering = same.into_iter().flatten().chain(
                wildcards
                    .iter()
                    .filter(|p| names::host_subset_of(host, &p.host)),
            );
            for p in covering {
                let has = p.subset(subset).is_some();
                defined_somewhere |= has;
                everywhere &= has;
            }
            if !defined_somewhere {
                return SubsetScope::Everywhere;
            }
            // The namespace of the host's service, unless it depends on the client.
            let owner = match index.services.get(&*key.host) {
                None => Some(host_namespace(&key.host, &index.domain)),
                Some(defs) => defs
                    .iter()
                    .all(|(_, ns)| *ns == defs[0].1)
                    .then(|| defs.first().map(|(_, ns)| &**ns)),
            };
            let Some(owner) = owner else {
                return by_namespace(inner, &key.host, subset).unwrap_or(SubsetScope::Lookup);
            };
            let owners = [owner, Some(&*index.root)];
            let public = owners
                .into_iter()
                .flatten()
                .find_map(|owner| index.exported.get(owner)?.lookup(&key.host))
                .is_some_and(|ids| {
                    let public = |&i: &u32| {
                        let p = &inner.policies[i as usize];
                        p.export_to.iter().all(|e| &**e == "*")
                    };
                    ids.iter().all(public)
                });
            if everywhere && public {
                return SubsetScope::Everywhere;
            }
            by_namespace(inner, &key.host, subset).unwrap_or(SubsetScope::Lookup)
        })
        .collect()
}

/// The answer of [`Inner::subset_missing`] per client namespace, computed with the lookup
/// itself: for each namespace a client of which may see another rule for `host`
/// ([`DrIndex::namespaces_apart`](crate::balance::DrIndex::namespaces_apart): with rules of
/// its own, named in a rule's or a service's `exportTo`, the root namespace), and for any
/// other namespace (which all look the same to the lookup).
/// `None` when a rule for the host selects workloads, so that labels matter.
fn by_namespace(inner: &Inner, host: &str, subset: &str) -> Option<crate::table::SubsetScope> {
    let index = &inner.dr_index;
    let namespaces = index.namespaces_apart(&inner.policies, host)?;
    let missing = |ns: &str| {
        let seen =
            inner.policy(index.lookup(&inner.policies, &crate::balance::NamespaceOnly(ns), host));
        seen.is_none_or(|p| p.subset(subset).is_none())
    };
    // No namespace is named "": it stands for every namespace no rule names.
    let other = missing("");
    // Only the namespaces whose answer differs from every other namespace's are listed.
    let apart: Box<[(Box<str>, bool)]> = namespaces
        .into_iter()
        .map(|ns| (ns, missing(ns)))
        .filter(|&(_, m)| m != other)
        .map(|(ns, m)| (ns.into(), m))
        .collect();
    Some(if apart.is_empty() && !other {
        crate::table::SubsetScope::Everywhere
    } else {
        crate::table::SubsetScope::ByNamespace {
            missing: apart,
            other,
        }
    })
}

/// What a compile files as it goes: the resources it rejects and its warnings.
pub(crate) struct Ledger {
    pub(crate) rejected: Vec<Rejected>,
    pub(crate) diagnostics: Vec<Diagnostic>,
}

impl Ledger {
    /// Files a report: errors reject the resource, warnings become diagnostics. Returns
    /// whether the resource is valid.
    pub(crate) fn file(&mut self, id: &ResourceId, source: &str, report: Report) -> bool {
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
            self.rejected.push(Rejected {
                resource: id.clone(),
                errors,
            });
            return false;
        }
        for (code, path, message) in report.warnings {
            self.diagnostics
                .push(Diagnostic::warning(id, code, path, message));
        }
        true
    }
}

/// The context of `key` (`None`: the mesh), added when it is new.
pub(crate) fn context_mut<'a>(
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
    /// Loads YAML or JSON text and compiles it in strict mode. The warnings (a rule no request
    /// reaches, a subset no DestinationRule defines, ...) are dropped: [`Compiled::from_yaml`]
    /// does the same and keeps them.
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
        Compiled::from_yaml(text).map(|c| c.table)
    }
}

impl Compiled {
    /// Loads YAML or JSON text and compiles it in strict mode, as [`Table::from_yaml`] does,
    /// keeping the warnings and notes in [`Compiled::diagnostics`]. In strict mode nothing is
    /// rejected, so [`Compiled::rejected`] is empty.
    ///
    /// # Errors
    /// Any syntax error, or every error of every invalid resource.
    ///
    /// # Example
    /// ```
    /// use meshroute::Compiled;
    ///
    /// let compiled = Compiled::from_yaml(r#"
    /// apiVersion: networking.istio.io/v1
    /// kind: VirtualService
    /// metadata: {name: reviews, namespace: default}
    /// spec:
    ///   hosts: [reviews]
    ///   http:
    ///   - route: [{destination: {host: reviews, subset: v2}}]
    ///   - route: [{destination: {host: reviews, subset: v1}}]
    /// "#)?;
    /// for d in &compiled.diagnostics {
    ///     eprintln!("{d}");
    /// }
    /// assert!(compiled.diagnostics.iter().any(|d| d.code == "unreachable-rule"));
    /// let table = compiled.table;
    /// # let _ = table;
    /// # Ok::<(), meshroute::Errors>(())
    /// ```
    pub fn from_yaml(text: &str) -> Result<Compiled, Errors> {
        let config = Config::from_str(text, "")?;
        compile(&config, &CompileOptions::strict())
    }
}
