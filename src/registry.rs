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
//! - [`Shared`]: an atomically swapped `Arc` for concurrent readers, so a reader never sees a
//!   half-applied update.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use crate::config::destination_rule::{LoadBalancerSettings, TrafficPolicy};
use crate::decision::{Decision, Outcome, mix};
use crate::hash::{HashKey, KeySource, Maglev, RingHash};
use crate::predicate::host::{MAX_HOST_LEN, lowercase_into};
use crate::request::{Request, split_port};
use crate::table::{Table, expand_short};

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
    /// Locality (`region/zone/subzone`), informational.
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
}

/// The load-balancing policy of a cluster.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Policy {
    /// Weighted round robin.
    RoundRobin,
    /// Weighted random.
    Random,
    /// Power of two choices over in-flight requests (Istio's default).
    LeastRequest,
    /// Consistent hashing on a ring (Envoy's ring hash).
    RingHash,
    /// Consistent hashing with a Maglev table.
    Maglev,
    /// No balancing: the original destination address (`PASSTHROUGH`).
    Passthrough,
}

impl Policy {
    /// The name as Istio writes it.
    pub fn name(self) -> &'static str {
        match self {
            Policy::RoundRobin => "ROUND_ROBIN",
            Policy::Random => "RANDOM",
            Policy::LeastRequest => "LEAST_REQUEST",
            Policy::RingHash => "RING_HASH",
            Policy::Maglev => "MAGLEV",
            Policy::Passthrough => "PASSTHROUGH",
        }
    }
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
    /// Hash policies (consistent hash only), combined as Envoy combines them.
    hash_policies: Vec<KeySource>,
    /// Cumulative weights over `endpoints`.
    cumulative: Vec<u64>,
    /// Weighted round-robin order (indices into `endpoints`).
    schedule: Vec<u32>,
    cursor: AtomicU64,
    in_flight: Vec<AtomicU32>,
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
    /// The hash it was placed by (consistent hash), if one was computed.
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
        let mut clusters = Vec::with_capacity(inner.clusters.len());
        for key in &inner.clusters {
            let labels = key.subset.as_deref().and_then(|s| {
                inner.subsets.iter().find(|x| {
                    *x.name == *s
                        && (x.host == key.host
                            || x.host
                                .strip_prefix('*')
                                .is_some_and(|suf| key.host.ends_with(suf)))
                })
            });
            let selector: Vec<(&str, &str)> = labels
                .map(|l| l.labels.iter().map(|(k, v)| (&**k, &**v)).collect())
                .unwrap_or_default();
            let name = match &key.subset {
                Some(s) => format!("{}/{s}", key.host),
                None => key.host.to_string(),
            };
            let eps: Vec<Endpoint> = registry
                .endpoints(&key.host)
                .iter()
                .filter(|e| {
                    selector
                        .iter()
                        .all(|(k, v)| e.labels.get(*k).map(String::as_str) == Some(*v))
                })
                .cloned()
                .collect();
            let lb = policy_for(table, &key.host, key.subset.as_deref());
            clusters.push(Cluster::build(name, eps, lb)?);
        }
        let mut services = BTreeMap::new();
        for host in registry.hosts() {
            let lb = policy_for(table, host, None);
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

    /// Picks the endpoint for a decision this router's table made.
    pub fn pick<R: Request + ?Sized>(
        &self,
        decision: &Decision<'_>,
        req: &R,
        draw: u64,
    ) -> Pick<'_> {
        let (cluster, id) = match &decision.outcome {
            Outcome::Passthrough => {
                let (host, _) = split_port(req.authority());
                let mut buf = [0u8; MAX_HOST_LEN];
                let Some(host) = lowercase_into(host, &mut buf) else {
                    return Pick::NoEndpoints;
                };
                let mut full = [0u8; 2 * MAX_HOST_LEN + 64];
                let c = self.services.get(host).or_else(|| {
                    let fqdn = expand_short(
                        host,
                        req.source_namespace(),
                        &self.table.inner.cluster_domain,
                        &mut full,
                    )?;
                    self.services.get(fqdn)
                });
                match c {
                    Some(c) => (c, ClusterId::Service),
                    None => return Pick::NoEndpoints,
                }
            }
            Outcome::Matched(m) => {
                if decision.status() != 200 {
                    return Pick::NotForwarded;
                }
                let Some(w) = m.destination else {
                    return Pick::NotForwarded;
                };
                let id = w.destination.cluster;
                (&self.clusters[id as usize], ClusterId::Destination(id))
            }
            _ => return Pick::NotForwarded,
        };
        cluster.pick(req, draw, id)
    }

    /// Reports that a request to `pick`'s endpoint started (for LEAST_REQUEST).
    pub fn started(&self, pick: &EndpointPick<'_>) {
        if let Some(c) = self.in_flight(pick) {
            c.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Reports that a request to `pick`'s endpoint finished (for LEAST_REQUEST).
    pub fn finished(&self, pick: &EndpointPick<'_>) {
        if let Some(c) = self.in_flight(pick) {
            let _ = c.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
        }
    }

    fn in_flight(&self, pick: &EndpointPick<'_>) -> Option<&AtomicU32> {
        let cluster = match pick.cluster_id {
            ClusterId::Destination(id) => self.clusters.get(id as usize)?,
            ClusterId::Service => self.services.get(pick.cluster)?,
        };
        cluster.in_flight.get(pick.index as usize)
    }
}

/// The load-balancer settings for (host, subset) with Istio's precedence: the subset's policy
/// over the DestinationRule's top-level one, field by field (SEMANTICS §2.2; the port-level
/// settings need the service port, which clusters do not split by, so they are not applied).
fn policy_for<'t>(
    table: &'t Table,
    host: &str,
    subset: Option<&str>,
) -> Option<&'t LoadBalancerSettings> {
    let drs = &table.inner.destination_rules;
    let dr = drs.iter().find(|(h, _, _)| **h == *host).or_else(|| {
        drs.iter()
            .find(|(h, _, _)| h.strip_prefix('*').is_some_and(|s| host.ends_with(s)))
    })?;
    let spec = &dr.2;
    let top = spec
        .traffic_policy
        .as_ref()
        .and_then(|t: &TrafficPolicy| t.load_balancer.as_ref());
    let sub = subset.and_then(|s| {
        spec.subsets
            .iter()
            .flatten()
            .find(|x| x.name.as_deref() == Some(s))
            .and_then(|x| x.traffic_policy.as_ref())
            .and_then(|t| t.load_balancer.as_ref())
    });
    sub.or(top)
}

impl Cluster {
    fn build(
        name: String,
        selected: Vec<Endpoint>,
        lb: Option<&LoadBalancerSettings>,
    ) -> Result<Cluster, String> {
        let count = selected.len();
        let mut endpoints: Vec<Endpoint> = selected
            .into_iter()
            .filter(|e| e.healthy && e.weight > 0)
            .collect();
        endpoints.sort_by_key(Endpoint::hash_key);
        let mut hash_policies = Vec::new();
        let mut policy = Policy::LeastRequest;
        let (mut maglev_size, mut ring_min) = (None, None);
        if let Some(lb) = lb {
            if let Some(ch) = &lb.consistent_hash {
                if let Some(h) = &ch.http_header_name {
                    hash_policies.push(KeySource::Header(h.to_ascii_lowercase().into()));
                }
                if let Some(c) = ch.http_cookie.as_ref().and_then(|c| c.name.as_deref()) {
                    hash_policies.push(KeySource::Cookie(c.into()));
                }
                if ch.use_source_ip == Some(true) {
                    hash_policies.push(KeySource::SourceIp);
                }
                if let Some(q) = &ch.http_query_parameter_name {
                    hash_policies.push(KeySource::Query(q.as_str().into()));
                }
                if let Some(m) = &ch.maglev {
                    policy = Policy::Maglev;
                    maglev_size = m.table_size;
                } else {
                    policy = Policy::RingHash;
                    ring_min = ch
                        .ring_hash
                        .as_ref()
                        .and_then(|r| r.minimum_ring_size)
                        .or(ch.minimum_ring_size);
                }
            } else {
                policy = match lb.simple.as_deref() {
                    Some("ROUND_ROBIN") => Policy::RoundRobin,
                    Some("RANDOM") => Policy::Random,
                    Some("PASSTHROUGH") => Policy::Passthrough,
                    _ => Policy::LeastRequest,
                };
            }
        }
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
                    let m = match maglev_size.filter(|&s| s > 0) {
                        Some(size) => Maglev::with_table_size(&weighted, size),
                        None => Maglev::new(&weighted),
                    };
                    maglev = Some(m.map_err(|e| format!("cluster {name}: {e}"))?);
                }
                Policy::RingHash => {
                    let r = match ring_min.filter(|&s| s > 0) {
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

    fn pick<R: Request + ?Sized>(&self, req: &R, draw: u64, cluster_id: ClusterId) -> Pick<'_> {
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
                let mut key = HashKey::new();
                for p in &self.hash_policies {
                    key.add(p.hash(req));
                }
                hash = key.hash();
                // No hash: a random point, as Envoy does.
                let h = hash.unwrap_or_else(|| mix(draw, 6));
                match (&self.maglev, &self.ring) {
                    (Some(m), _) => m.pick(h),
                    (_, Some(r)) => r.pick(h),
                    _ => weighted(h),
                }
            }
        };
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

/// An `Arc` that readers load and writers replace whole: a reader keeps the value it loaded
/// for as long as it needs, and never sees a half-applied update. Loading clones an `Arc`
/// (no allocation).
#[derive(Debug)]
pub struct Shared<T> {
    current: RwLock<Arc<T>>,
}

impl<T> Shared<T> {
    /// Starts with `value`.
    pub fn new(value: T) -> Shared<T> {
        Shared {
            current: RwLock::new(Arc::new(value)),
        }
    }

    /// The current value.
    pub fn load(&self) -> Arc<T> {
        match self.current.read() {
            Ok(g) => Arc::clone(&g),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    /// Replaces the value; readers that loaded the old one keep it.
    pub fn store(&self, value: T) {
        let value = Arc::new(value);
        match self.current.write() {
            Ok(mut g) => *g = value,
            Err(poisoned) => *poisoned.into_inner() = value,
        }
    }
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
