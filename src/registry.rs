//! Versions discovered, not hard-coded: endpoints fed by the embedder, grouped into the
//! (host, subset) clusters the table's destinations name by label selection (subset labels ⊆
//! endpoint labels), and load-balanced with the DestinationRule's policy.
//!
//! - [`Registry`]: the endpoints, per service host, as the embedder knows them (plain API, or
//!   Kubernetes `EndpointSlice`/`Service`/`Pod` resources through [`Registry::from_config`]).
//! - [`Router`]: a [`Table`] bound to a registry snapshot: every cluster's endpoints selected and
//!   its balancer built (Maglev and ring tables included), once. [`Router::decide`] routes a
//!   request to an endpoint without allocating. New endpoints make a new `Router` from the same
//!   table ([`Router::with_registry`]): routes are not recompiled.
//!
//! A `Router` (like a [`Table`]) is swapped whole under concurrent readers with
//! [`crate::Shared`].

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use crate::action::{Action, Forward};
use crate::balance::LoadBalancer;
pub use crate::balance::Policy;
use crate::compile::CompileOptions;
use crate::config::discovery::{Pod, target_port};
use crate::config::{Config, Object, Resource};
use crate::decision::{Decision, Outcome, mix};
use crate::error::{Diagnostic, ResourceId, Severity};
use crate::hash::{HashKey, KeySource, Maglev, RingHash};
use crate::predicate::host::{lookup_names, service_fqdn, with_request_host};
use crate::request::Request;
use crate::table::Table;

/// One endpoint of a service.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Endpoint {
    /// IP address (or host name).
    pub address: Box<str>,
    /// Port requests go to.
    pub port: u16,
    /// Labels (the pod's): subsets select endpoints by them.
    pub labels: BTreeMap<String, String>,
    /// Whether it may receive requests.
    pub healthy: bool,
    /// Load-balancing weight (default 1).
    pub weight: u32,
    /// Locality (`region/zone/subzone`; the zone alone when loaded from an EndpointSlice),
    /// informational.
    pub locality: Option<Box<str>>,
}

impl Endpoint {
    /// A healthy endpoint of weight 1 without labels.
    pub fn new(address: &str, port: u16) -> Endpoint {
        Endpoint {
            address: address.into(),
            port,
            labels: BTreeMap::new(),
            healthy: true,
            weight: 1,
            locality: None,
        }
    }

    /// Adds a label.
    pub fn label(mut self, key: &str, value: &str) -> Endpoint {
        self.labels.insert(key.to_string(), value.to_string());
        self
    }

    /// Sets the weight.
    pub fn weight(mut self, weight: u32) -> Endpoint {
        self.weight = weight;
        self
    }

    /// Sets the health.
    pub fn healthy(mut self, healthy: bool) -> Endpoint {
        self.healthy = healthy;
        self
    }

    /// Sets the locality.
    pub fn locality(mut self, locality: &str) -> Endpoint {
        self.locality = Some(locality.into());
        self
    }

    /// The key consistent hashing places the endpoint by: `address:port` (Envoy's default).
    pub fn hash_key(&self) -> String {
        if self.address.contains(':') {
            format!("[{}]:{}", self.address, self.port)
        } else {
            format!("{}:{}", self.address, self.port)
        }
    }
}

/// The endpoints of every service, by fully qualified host. Cheap to clone and to update;
/// binding it to a table ([`Router::new`]) is what builds balancers.
#[derive(Clone, Debug, Default)]
pub struct Registry {
    services: BTreeMap<String, Vec<Endpoint>>,
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Registry {
        Registry::default()
    }

    /// Adds an endpoint to `host` (a fully qualified service name, e.g.
    /// `reviews.default.svc.cluster.local`).
    pub fn add(&mut self, host: &str, endpoint: Endpoint) -> &mut Registry {
        self.services
            .entry(host.to_ascii_lowercase())
            .or_default()
            .push(endpoint);
        self
    }

    /// Replaces every endpoint of `host`.
    pub fn set(&mut self, host: &str, endpoints: Vec<Endpoint>) -> &mut Registry {
        self.services.insert(host.to_ascii_lowercase(), endpoints);
        self
    }

    /// Removes `host` and its endpoints.
    pub fn remove(&mut self, host: &str) -> &mut Registry {
        self.services.remove(&host.to_ascii_lowercase());
        self
    }

    /// The endpoints of `host`.
    pub fn endpoints(&self, host: &str) -> &[Endpoint] {
        self.services
            .get(&host.to_ascii_lowercase())
            .map_or(&[], Vec::as_slice)
    }

    /// Every service host.
    pub fn hosts(&self) -> impl Iterator<Item = &str> {
        self.services.keys().map(String::as_str)
    }

    /// The endpoints Kubernetes resources in `config` describe: `EndpointSlice`s, with the
    /// labels of the `Pod`s they name, and the `Service`s no slice covers through the Pods they
    /// select. Other resources are ignored; the routes are compiled from the same `config`
    /// separately ([`crate::compile()`]).
    ///
    /// From an EndpointSlice (`discovery.k8s.io/v1`):
    /// - The service is the slice's `kubernetes.io/service-name` label, its host
    ///   `<service>.<namespace>.svc.<cluster_domain>` (the namespace the slice's, else
    ///   [`CompileOptions::default_namespace`]). A slice without the label is skipped with a
    ///   warning (`endpointslice-without-service`).
    /// - Every address × every port of every endpoint is one [`Endpoint`]: Kubernetes allows
    ///   up to 100 addresses per endpoint (calling them fungible), and each becomes an
    ///   endpoint of its own. Only TCP ports (protocol absent or `TCP`) with a number in
    ///   1..=65535 count; a port without a number or out of range is skipped with a warning
    ///   (`endpointslice-port`), and a slice with endpoints but no usable port gets a warning
    ///   (`endpointslice-without-ports`).
    /// - Labels: the slice's own labels except `kubernetes.io/*` and
    ///   `endpointslice.kubernetes.io/*` (the controller copies the Service's labels onto the
    ///   slice), overlaid with the labels of the Pod the endpoint's `targetRef` names (kind
    ///   `Pod`; namespace the slice's when absent) when that Pod is loaded. The Pod's labels
    ///   win on conflict: that is how `version: v2` is discovered.
    /// - Healthy: `conditions.ready` (absent means ready, as Kubernetes specifies) and not
    ///   `conditions.terminating`.
    /// - Locality: the endpoint's `zone` as written (the region is on the Node, which is not
    ///   loaded). Weight 1 (Kubernetes has no endpoint weights).
    /// - The same `address:port` of a host in several slices (Kubernetes allows transient
    ///   duplicates) is kept once: the first loaded.
    ///
    /// From a Service (core `v1`) that has a `selector`, is not `ExternalName`, and that no
    /// loaded EndpointSlice names: one endpoint per loaded Pod of its namespace whose labels
    /// include the selector and that has an IP (`status.podIP`, else the first of
    /// `status.podIPs`), per TCP Service port. The port is the `targetPort` when it is a
    /// number, the container port it names when it is a name (a Pod declaring no such port is
    /// skipped for that port, as Kubernetes does), else `port`. Labels are the Pod's; healthy
    /// is the Pod's readiness ([`Pod::ready`]). A Service alone, without Pods or slices,
    /// contributes no endpoints.
    ///
    /// # Example
    /// ```
    /// use meshroute::registry::Registry;
    /// use meshroute::{CompileOptions, Config};
    /// let config = Config::from_str(r#"
    /// apiVersion: discovery.k8s.io/v1
    /// kind: EndpointSlice
    /// metadata:
    ///   name: reviews-abc12
    ///   namespace: default
    ///   labels: {kubernetes.io/service-name: reviews, app: reviews}
    /// addressType: IPv4
    /// ports: [{name: http, port: 9080, protocol: TCP}]
    /// endpoints:
    /// - addresses: [10.1.0.7]
    ///   conditions: {ready: true}
    ///   targetRef: {kind: Pod, name: reviews-v2-7f8d, namespace: default}
    /// ---
    /// apiVersion: v1
    /// kind: Pod
    /// metadata: {name: reviews-v2-7f8d, namespace: default, labels: {app: reviews, version: v2}}
    /// status: {podIP: 10.1.0.7}
    /// "#, "inline")?;
    /// let (registry, diagnostics) = Registry::from_config(&config, &CompileOptions::default());
    /// assert!(diagnostics.is_empty());
    /// let eps = registry.endpoints("reviews.default.svc.cluster.local");
    /// assert_eq!((&*eps[0].address, eps[0].port), ("10.1.0.7", 9080));
    /// assert_eq!(eps[0].labels["version"], "v2");
    /// # Ok::<(), meshroute::Error>(())
    /// ```
    pub fn from_config(config: &Config, options: &CompileOptions) -> (Registry, Vec<Diagnostic>) {
        let ns_default = options.default_namespace.as_str();
        let domain = options.cluster_domain.as_str();
        let mut registry = Registry::new();
        let mut diagnostics = Vec::new();
        let mut warn = |id: &ResourceId, code: &'static str, path: String, message: String| {
            diagnostics.push(Diagnostic {
                severity: Severity::Warning,
                code,
                resource: Some(id.clone()),
                path,
                message,
            })
        };
        // Pods by (namespace, name); the first loaded wins.
        let mut pods: BTreeMap<(&str, &str), &Object<Pod>> = BTreeMap::new();
        for r in &config.resources {
            if let Resource::Pod(p) = r {
                pods.entry((p.namespace(ns_default), p.metadata.name.as_str()))
                    .or_insert(p);
            }
        }
        // (host, address, port) already added, to keep duplicates across slices once.
        let mut seen: BTreeSet<(String, String, u16)> = BTreeSet::new();
        let mut add = |registry: &mut Registry, host: &str, endpoint: Endpoint| {
            if seen.insert((
                host.to_string(),
                endpoint.address.to_string(),
                endpoint.port,
            )) {
                registry.add(host, endpoint);
            }
        };
        // Services (namespace, name) some slice names.
        let mut sliced: BTreeSet<(&str, &str)> = BTreeSet::new();
        for r in &config.resources {
            let Resource::EndpointSlice(slice) = r else {
                continue;
            };
            let id = r.id(ns_default);
            let ns = slice.namespace(ns_default);
            let Some(service) = slice
                .metadata
                .labels
                .get(SERVICE_NAME_LABEL)
                .filter(|s| !s.is_empty())
            else {
                warn(
                    &id,
                    "endpointslice-without-service",
                    "metadata.labels".into(),
                    format!(
                        "no {SERVICE_NAME_LABEL} label: the slice belongs to no Service, so \
                         its endpoints are not used"
                    ),
                );
                continue;
            };
            sliced.insert((ns, service.as_str()));
            let host = service_fqdn(service, ns, domain);
            let base: BTreeMap<String, String> = slice
                .metadata
                .labels
                .iter()
                .filter(|(k, _)| !is_kubernetes_label(k))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            let mut ports = Vec::new();
            for (j, p) in slice.spec.ports.iter().enumerate() {
                if !is_tcp(p.protocol.as_deref()) {
                    continue;
                }
                match p.port {
                    Some(n) if (1..=65535).contains(&n) => ports.push(n as u16),
                    Some(n) => warn(
                        &id,
                        "endpointslice-port",
                        format!("ports[{j}].port"),
                        format!("{n} is not a port number (1 to 65535); the port is skipped"),
                    ),
                    None => warn(
                        &id,
                        "endpointslice-port",
                        format!("ports[{j}].port"),
                        "not set (every port): there is no port to forward to, so the port \
                         is skipped"
                            .into(),
                    ),
                }
            }
            if ports.is_empty() && !slice.spec.endpoints.is_empty() {
                warn(
                    &id,
                    "endpointslice-without-ports",
                    "ports".into(),
                    "no TCP port with a number: the slice's endpoints are not used".into(),
                );
                continue;
            }
            for (i, ep) in slice.spec.endpoints.iter().enumerate() {
                if ep.addresses.is_empty() {
                    warn(
                        &id,
                        "endpointslice-endpoint",
                        format!("endpoints[{i}].addresses"),
                        "no address; the endpoint is skipped".into(),
                    );
                    continue;
                }
                let healthy = ep.conditions.ready.unwrap_or(true)
                    && !ep.conditions.terminating.unwrap_or(false);
                let mut labels = base.clone();
                let pod = ep.target_ref.as_ref().and_then(|t| {
                    if t.kind.as_deref().is_some_and(|k| k != "Pod") {
                        return None;
                    }
                    let pod_ns = t.namespace.as_deref().unwrap_or(ns);
                    pods.get(&(pod_ns, t.name.as_deref()?))
                });
                if let Some(pod) = pod {
                    for (k, v) in &pod.metadata.labels {
                        labels.insert(k.clone(), v.clone());
                    }
                }
                for address in &ep.addresses {
                    for &port in &ports {
                        let mut e = Endpoint::new(address, port).healthy(healthy);
                        e.labels = labels.clone();
                        e.locality = ep.zone.as_deref().map(Into::into);
                        add(&mut registry, &host, e);
                    }
                }
            }
        }
        for r in &config.resources {
            let Resource::Service(svc) = r else {
                continue;
            };
            let ns = svc.namespace(ns_default);
            let name = svc.metadata.name.as_str();
            let spec = &svc.spec;
            if spec.selector.is_empty()
                || spec.kind.as_deref() == Some("ExternalName")
                || sliced.contains(&(ns, name))
            {
                continue;
            }
            let host = service_fqdn(name, ns, domain);
            let selected = pods
                .range((ns, "")..)
                .take_while(|((pns, _), _)| *pns == ns)
                .map(|(_, p)| *p)
                .filter(|p| {
                    spec.selector
                        .iter()
                        .all(|(k, v)| p.metadata.labels.get(k) == Some(v))
                });
            for pod in selected {
                let Some(ip) = pod.spec.ip() else {
                    continue;
                };
                for port in &spec.ports {
                    if !is_tcp(port.protocol.as_deref()) {
                        continue;
                    }
                    let number = match target_port(port.target_port.as_ref()) {
                        Some(Ok(n)) => Some(n),
                        Some(Err(name)) => pod.spec.named_port(name),
                        None => port.port,
                    };
                    let Some(number) = number.filter(|n| (1..=65535).contains(n)) else {
                        continue;
                    };
                    let mut e = Endpoint::new(ip, number as u16).healthy(pod.spec.ready());
                    e.labels = pod.metadata.labels.clone();
                    add(&mut registry, &host, e);
                }
            }
        }
        (registry, diagnostics)
    }
}

/// The label naming an EndpointSlice's Service.
pub const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";

/// `kubernetes.io/*` and `endpointslice.kubernetes.io/*` labels: Kubernetes' bookkeeping on a
/// slice, not labels of its endpoints.
fn is_kubernetes_label(key: &str) -> bool {
    key.split_once('/').is_some_and(|(prefix, _)| {
        matches!(prefix, "kubernetes.io" | "endpointslice.kubernetes.io")
    })
}

fn is_tcp(protocol: Option<&str>) -> bool {
    protocol.is_none_or(|p| p == "TCP")
}

/// One cluster's endpoints and balancer, built once.
#[derive(Debug)]
struct Cluster {
    /// Host and subset, for messages.
    name: Box<str>,
    /// The healthy endpoints of the cluster, in a stable order (by hash key).
    endpoints: Vec<Endpoint>,
    /// Number of endpoints the subset selected, healthy or not.
    selected: usize,
    policy: Policy,
    /// The DestinationRule's hash key (consistent hash only): the hash policy Istio puts on
    /// routes to this cluster.
    hash_policies: Vec<KeySource>,
    /// Cumulative weights over `endpoints`.
    cumulative: Vec<u64>,
    /// Weighted round-robin order (indices into `endpoints`).
    schedule: Vec<u32>,
    cursor: AtomicU64,
    in_flight: Vec<AtomicU32>,
    /// Requests picked per endpoint (monitoring).
    picks: Vec<AtomicU64>,
    maglev: Option<Maglev>,
    ring: Option<RingHash>,
}

/// A table bound to a registry snapshot.
#[derive(Debug)]
pub struct Router {
    table: Table,
    /// Indexed by `Destination::cluster`.
    clusters: Vec<Cluster>,
    /// Clusters of whole services (the mesh default route), by host.
    services: BTreeMap<Box<str>, Cluster>,
}

/// Why an endpoint was chosen, or why none was.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub enum Pick<'r> {
    /// An endpoint.
    Endpoint(EndpointPick<'r>),
    /// The cluster has endpoints but none is healthy: 503, Envoy flag `UH`.
    NoHealthyEndpoint,
    /// The registry knows no endpoint of the cluster: 503 (Envoy `UH` for an empty cluster).
    NoEndpoints,
    /// The decision does not forward (no match, redirect, direct response, abort, or an
    /// unavailable destination): no endpoint is needed.
    NotForwarded,
}

/// The chosen endpoint and why.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub struct EndpointPick<'r> {
    /// The endpoint.
    pub endpoint: &'r Endpoint,
    /// The policy that chose it.
    pub policy: Policy,
    /// The hash key it was placed by (ring hash and Maglev), when the request carries one;
    /// `None` for the other policies and for a request without the key (then a random point
    /// picks, as in Envoy). For a rule, the key is the route's: the DestinationRule
    /// `consistentHash` key of each of the rule's destinations (weight-0 destinations of a
    /// split skipped), hashed as [`KeySource::hash`] and combined in order with [`HashKey`],
    /// as Istio lists one hash policy per destination on the route and Envoy combines them;
    /// with one destination (or one that has a key) it is that key's hash, e.g.
    /// [`crate::hash::header_hash`]. For the mesh default route (no VirtualService), the
    /// service's top-level key.
    pub hash: Option<u64>,
    /// The cluster, as `host` or `host/subset`.
    pub cluster: &'r str,
    cluster_id: ClusterId,
    index: u32,
}

#[derive(Clone, Copy, Debug)]
enum ClusterId {
    Destination(u32),
    Service,
}

/// A decision and the endpoint that serves it.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub struct Routed<'r> {
    /// What the table decided.
    pub decision: Decision<'r>,
    /// Which endpoint gets the request.
    pub pick: Pick<'r>,
}

impl Routed<'_> {
    /// The status: the decision's, or 503 when no healthy endpoint can take it.
    pub fn status(&self) -> u16 {
        match self.pick {
            Pick::NoHealthyEndpoint | Pick::NoEndpoints => 503,
            _ => self.decision.status(),
        }
    }
}

impl<'r> Pick<'r> {
    /// Envoy's response flag for the pick: `UH` (no healthy upstream) when there is no
    /// endpoint to send the request to, `None` otherwise.
    pub fn response_flag(&self) -> Option<&'static str> {
        match self {
            Pick::NoHealthyEndpoint | Pick::NoEndpoints => Some("UH"),
            _ => None,
        }
    }

    /// The chosen endpoint, if any.
    pub fn endpoint(&self) -> Option<EndpointPick<'r>> {
        match self {
            Pick::Endpoint(p) => Some(*p),
            _ => None,
        }
    }
}

impl Router {
    /// Binds `table` to the endpoints of `registry`: selects each cluster's endpoints by its
    /// subset's labels and builds its balancer with the DestinationRule's policy.
    ///
    /// # Errors
    /// When a Maglev or ring table cannot be built (e.g. a table size that is not prime).
    ///
    /// # Example
    /// ```
    /// use meshroute::registry::{Endpoint, Registry, Router};
    /// use meshroute::{OwnedRequest, Table};
    /// let table = Table::from_yaml(include_str!("../examples/bookinfo.yaml"))?;
    /// let mut reg = Registry::new();
    /// let host = "reviews.default.svc.cluster.local";
    /// reg.add(host, Endpoint::new("10.0.0.1", 9080).label("version", "v1"));
    /// reg.add(host, Endpoint::new("10.0.0.2", 9080).label("version", "v2"));
    /// let router = Router::new(&table, &reg)?;
    /// let req = OwnedRequest::new("GET", "http://reviews/").header("end-user", "jason").from_namespace("default");
    /// let routed = router.decide(&req, &mut rand_pcg::Pcg64::new(1, 1));
    /// match routed.pick {
    ///     meshroute::registry::Pick::Endpoint(p) => assert_eq!(&*p.endpoint.address, "10.0.0.2"),
    ///     other => panic!("{other:?}"),
    /// }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn new(table: &Table, registry: &Registry) -> Result<Router, String> {
        let inner = &table.inner;
        let mut clusters = Vec::with_capacity(inner.clusters().len());
        for key in inner.clusters() {
            // The subset of the DestinationRule that applies to the host; an undefined subset
            // is a cluster that does not exist, so it selects nothing.
            let selector: Option<Vec<(&str, &str)>> = match key.subset.as_deref() {
                None => Some(Vec::new()),
                Some(s) => inner.host_policy(&key.host).and_then(|p| {
                    inner
                        .subsets()
                        .iter()
                        .find(|x| *x.host == *p.host && *x.name == *s)
                        .map(|x| x.labels.iter().map(|(k, v)| (&**k, &**v)).collect())
                }),
            };
            let name = match &key.subset {
                Some(s) => format!("{}/{s}", key.host),
                None => key.host.to_string(),
            };
            let eps: Vec<Endpoint> = match &selector {
                None => Vec::new(),
                Some(selector) => registry
                    .endpoints(&key.host)
                    .iter()
                    .filter(|e| {
                        selector
                            .iter()
                            .all(|(k, v)| e.labels.get(*k).map(String::as_str) == Some(*v))
                    })
                    .cloned()
                    .collect(),
            };
            let lb = inner.balancer(&key.host, key.subset.as_deref(), key.port);
            clusters.push(Cluster::build(name, eps, lb)?);
        }
        let mut services = BTreeMap::new();
        for host in registry.hosts() {
            let lb = table.inner.balancer(host, None, None);
            services.insert(
                host.into(),
                Cluster::build(host.to_string(), registry.endpoints(host).to_vec(), lb)?,
            );
        }
        Ok(Router {
            table: table.clone(),
            clusters,
            services,
        })
    }

    /// Requests picked per endpoint since this router was built: `(cluster, endpoint, count)`
    /// for every healthy endpoint of every cluster.
    pub fn endpoint_counts(&self) -> Vec<(&str, &Endpoint, u64)> {
        self.clusters
            .iter()
            .chain(self.services.values())
            .flat_map(|c| {
                c.endpoints
                    .iter()
                    .zip(&c.picks)
                    .map(move |(e, n)| (&*c.name, e, n.load(Ordering::Relaxed)))
            })
            .collect()
    }

    /// The same table bound to other endpoints: routes are not recompiled.
    ///
    /// # Errors
    /// As [`Router::new`].
    pub fn with_registry(&self, registry: &Registry) -> Result<Router, String> {
        Router::new(&self.table, registry)
    }

    /// The table.
    pub fn table(&self) -> &Table {
        &self.table
    }

    /// Decides `req` and picks the endpoint; the one draw from `rng` drives both.
    pub fn decide<R, G>(&self, req: &R, rng: &mut G) -> Routed<'_>
    where
        R: Request + ?Sized,
        G: rand_core::Rng + ?Sized,
    {
        self.decide_with_draw(req, rng.next_u64())
    }

    /// Decides `req` with an explicit draw and picks the endpoint. Allocates nothing.
    pub fn decide_with_draw<R: Request + ?Sized>(&self, req: &R, draw: u64) -> Routed<'_> {
        let decision = self.table.decide_with_draw(req, draw);
        let pick = self.pick(&decision, req, draw);
        Routed { decision, pick }
    }

    /// Picks the endpoint for a decision this router's table made: [`Pick::NotForwarded`] when
    /// the decision does not forward (no match, redirect, direct response, an abort, an
    /// unavailable destination), else the cluster's pick. Allocates nothing.
    pub fn pick<R: Request + ?Sized>(
        &self,
        decision: &Decision<'_>,
        req: &R,
        draw: u64,
    ) -> Pick<'_> {
        let (cluster, id) = match &decision.outcome {
            Outcome::Passthrough => {
                // The mesh default route: the addressed Service, found as the host is.
                let domain = self.table.inner.cluster_domain();
                let c = with_request_host(req.authority(), |host| {
                    lookup_names(host, req.source_namespace(), Some(domain), |name, _| {
                        self.services.get(name)
                    })
                });
                match c {
                    Some(c) => (c, ClusterId::Service),
                    None => return Pick::NoEndpoints,
                }
            }
            Outcome::Matched(m) => {
                // An abort answers without forwarding, also a gRPC one (status 200).
                if decision.status() != 200 || m.abort.is_some() {
                    return Pick::NotForwarded;
                }
                let (Some(w), Action::Forward(f)) = (m.destination, &m.rule.action) else {
                    return Pick::NotForwarded;
                };
                let id = w.destination.cluster;
                let Some(cluster) = self.clusters.get(id as usize) else {
                    // A decision of another table.
                    return Pick::NoEndpoints;
                };
                let hash = if cluster.policy.is_consistent_hash() {
                    self.route_hash(f, req)
                } else {
                    None
                };
                return cluster.pick(hash, draw, ClusterId::Destination(id));
            }
            _ => return Pick::NotForwarded,
        };
        // The mesh default route carries the service's own hash policy.
        let hash = if cluster.policy.is_consistent_hash() {
            let mut key = HashKey::new();
            for p in &cluster.hash_policies {
                key.add(p.hash(req));
            }
            key.hash()
        } else {
            None
        };
        cluster.pick(hash, draw, id)
    }

    /// The route's hash key as Envoy computes it from the hash policies Istio puts on the
    /// route: one per destination (weight-0 destinations of a split skipped), the
    /// DestinationRule `consistentHash` key of that destination's (host, subset), combined in
    /// declaration order with [`HashKey`]. One destination: that key's hash.
    fn route_hash<R: Request + ?Sized>(&self, forward: &Forward, req: &R) -> Option<u64> {
        let several = forward.destinations.len() > 1;
        let mut key = HashKey::new();
        for d in &forward.destinations {
            if several && d.weight == 0 {
                continue;
            }
            if let Some(c) = self.clusters.get(d.destination.cluster as usize) {
                for p in &c.hash_policies {
                    key.add(p.hash(req));
                }
            }
        }
        key.hash()
    }

    /// Reports that a request to `pick`'s endpoint started (for LEAST_REQUEST). Report to the
    /// router that made the pick: a pick of another router (e.g. the one before
    /// [`Router::with_registry`]) is ignored, and a new router starts with no request in
    /// flight.
    pub fn started(&self, pick: &EndpointPick<'_>) {
        if let Some(c) = self.in_flight(pick) {
            c.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Reports that a request to `pick`'s endpoint finished (for LEAST_REQUEST); the count
    /// never goes below 0.
    pub fn finished(&self, pick: &EndpointPick<'_>) {
        if let Some(c) = self.in_flight(pick) {
            let _ = c.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
        }
    }

    /// The in-flight counter of `pick`'s endpoint, when the pick is this router's (a pick of
    /// another router, e.g. the one before a registry update, is ignored).
    fn in_flight(&self, pick: &EndpointPick<'_>) -> Option<&AtomicU32> {
        let cluster = match pick.cluster_id {
            ClusterId::Destination(id) => self.clusters.get(id as usize)?,
            ClusterId::Service => self.services.get(pick.cluster)?,
        };
        let i = pick.index as usize;
        std::ptr::eq(cluster.endpoints.get(i)?, pick.endpoint).then(|| &cluster.in_flight[i])
    }
}

impl Cluster {
    fn build(
        name: String,
        selected: Vec<Endpoint>,
        lb: Option<&LoadBalancer>,
    ) -> Result<Cluster, String> {
        let count = selected.len();
        let mut endpoints: Vec<Endpoint> = selected
            .into_iter()
            .filter(|e| e.healthy && e.weight > 0)
            .collect();
        endpoints.sort_by_key(Endpoint::hash_key);
        // No DestinationRule balancer: Istio's default, least request.
        let policy = lb.map_or(Policy::LeastRequest, |lb| lb.policy);
        let hash_policies = lb.map_or_else(Vec::new, |lb| lb.hash_keys.clone());
        let table_size = lb.and_then(|lb| lb.table_size).filter(|&s| s > 0);
        let keys: Vec<String> = endpoints.iter().map(Endpoint::hash_key).collect();
        let weighted: Vec<(&str, u32)> = keys
            .iter()
            .map(String::as_str)
            .zip(endpoints.iter().map(|e| e.weight))
            .collect();
        let (mut maglev, mut ring) = (None, None);
        if !endpoints.is_empty() {
            match policy {
                Policy::Maglev => {
                    let m = match table_size {
                        Some(size) => Maglev::with_table_size(&weighted, size),
                        None => Maglev::new(&weighted),
                    };
                    maglev = Some(m.map_err(|e| format!("cluster {name}: {e}"))?);
                }
                Policy::RingHash => {
                    let r = match table_size {
                        Some(min) => RingHash::with_ring_size(
                            &weighted,
                            min,
                            RingHash::MAX_RING_SIZE.max(min),
                        ),
                        None => RingHash::new(&weighted),
                    };
                    ring = Some(r.map_err(|e| format!("cluster {name}: {e}"))?);
                }
                _ => {}
            }
        }
        let mut sum = 0u64;
        let cumulative = endpoints
            .iter()
            .map(|e| {
                sum += u64::from(e.weight);
                sum
            })
            .collect();
        Ok(Cluster {
            name: name.into(),
            schedule: smooth_weighted_order(&endpoints),
            in_flight: endpoints.iter().map(|_| AtomicU32::new(0)).collect(),
            picks: endpoints.iter().map(|_| AtomicU64::new(0)).collect(),
            endpoints,
            selected: count,
            policy,
            hash_policies,
            cumulative,
            cursor: AtomicU64::new(0),
            maglev,
            ring,
        })
    }

    /// Picks an endpoint; `route_hash` is the request's hash key (consistent hash only).
    fn pick(&self, route_hash: Option<u64>, draw: u64, cluster_id: ClusterId) -> Pick<'_> {
        if self.endpoints.is_empty() {
            return if self.selected == 0 {
                Pick::NoEndpoints
            } else {
                Pick::NoHealthyEndpoint
            };
        }
        let mut hash = None;
        let weighted = |u: u64| {
            let total = *self.cumulative.last().expect("endpoints are not empty");
            self.cumulative.partition_point(|&end| end <= u % total)
        };
        let index = match self.policy {
            Policy::RoundRobin => {
                let n = self.cursor.fetch_add(1, Ordering::Relaxed);
                self.schedule[(n % self.schedule.len() as u64) as usize] as usize
            }
            Policy::Random | Policy::Passthrough => weighted(mix(draw, 3)),
            Policy::LeastRequest => {
                let a = weighted(mix(draw, 4));
                let b = weighted(mix(draw, 5));
                let load = |i: usize| self.in_flight[i].load(Ordering::Relaxed);
                if load(b) < load(a) { b } else { a }
            }
            Policy::RingHash | Policy::Maglev => {
                hash = route_hash;
                // No hash: a random point, as Envoy does.
                let h = hash.unwrap_or_else(|| mix(draw, 6));
                match (&self.maglev, &self.ring) {
                    (Some(m), _) => m.pick(h),
                    (_, Some(r)) => r.pick(h),
                    _ => weighted(h),
                }
            }
        };
        self.picks[index].fetch_add(1, Ordering::Relaxed);
        Pick::Endpoint(EndpointPick {
            endpoint: &self.endpoints[index],
            policy: self.policy,
            hash,
            cluster: &self.name,
            cluster_id,
            index: index as u32,
        })
    }
}

/// Smooth weighted round robin (as nginx orders it) over one period of Σ weights, scaled down
/// so the schedule stays under 4,096 entries.
fn smooth_weighted_order(endpoints: &[Endpoint]) -> Vec<u32> {
    if endpoints.is_empty() {
        return Vec::new();
    }
    let total: u64 = endpoints.iter().map(|e| u64::from(e.weight)).sum();
    let scale = total.div_ceil(4096).max(1);
    let weights: Vec<i64> = endpoints
        .iter()
        .map(|e| (u64::from(e.weight) / scale).max(1) as i64)
        .collect();
    let period: i64 = weights.iter().sum();
    let mut current = vec![0i64; weights.len()];
    let mut order = Vec::with_capacity(period as usize);
    for _ in 0..period {
        for (c, w) in current.iter_mut().zip(&weights) {
            *c += w;
        }
        let (best, _) = current
            .iter()
            .enumerate()
            .max_by_key(|(i, c)| (**c, std::cmp::Reverse(*i)))
            .expect("not empty");
        current[best] -= period;
        order.push(best as u32);
    }
    order
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smooth_round_robin_interleaves_by_weight() {
        let eps = vec![
            Endpoint::new("a", 1).weight(3),
            Endpoint::new("b", 1).weight(1),
        ];
        let order = smooth_weighted_order(&eps);
        assert_eq!(order, vec![0, 0, 1, 0]);
    }
}
