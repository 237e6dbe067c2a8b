//! One cluster (a host, or a host's subset): its healthy endpoints and the balancer built for
//! them once (round robin, random, least request, ring hash, Maglev), and the pick it makes
//! for one request without allocating.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use super::{Endpoint, Policy};
use crate::balance::LoadBalancer;
use crate::decision::mix;
use crate::hash::{KeySource, Maglev, RingHash};

/// One cluster's endpoints and balancer, built once.
#[derive(Debug)]
pub(super) struct Cluster {
    /// Host and subset, for messages.
    pub(super) name: Box<str>,
    /// The healthy endpoints of the cluster, in a stable order (by hash key).
    pub(super) endpoints: Vec<Endpoint>,
    /// Number of endpoints the subset selected, healthy or not.
    pub(super) selected: usize,
    pub(super) policy: Policy,
    /// The DestinationRule's hash key (consistent hash only): the hash policy Istio puts on
    /// routes to this cluster.
    pub(super) hash_policies: Vec<KeySource>,
    /// Cumulative weights over `endpoints`.
    pub(super) cumulative: Vec<u64>,
    /// Weighted round-robin order (indices into `endpoints`).
    pub(super) schedule: Vec<u32>,
    pub(super) cursor: AtomicU64,
    pub(super) in_flight: Vec<AtomicU32>,
    /// Requests picked per endpoint (monitoring).
    pub(super) picks: Vec<AtomicU64>,
    pub(super) maglev: Option<Maglev>,
    pub(super) ring: Option<RingHash>,
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
    /// split skipped), hashed as [`KeySource::hash`] and combined in order with [`HashKey`](crate::hash::HashKey),
    /// as Istio lists one hash policy per destination on the route and Envoy combines them;
    /// with one destination (or one that has a key) it is that key's hash, e.g.
    /// [`crate::hash::header_hash`]. For the mesh default route (no VirtualService), the
    /// service's top-level key.
    pub hash: Option<u64>,
    /// The cluster, as `host` or `host/subset`.
    pub cluster: &'r str,
    pub(super) cluster_id: ClusterId,
    pub(super) index: u32,
}

/// Which of the router's cluster lists a pick's cluster is in.
#[derive(Clone, Copy, Debug)]
pub(super) enum ClusterId {
    /// A destination's cluster, by `Destination::cluster`.
    Destination(u32),
    /// A whole service's (the mesh default route).
    Service,
    /// A destination's cluster at a port taken from the request, by its index among the
    /// router's port-level clusters.
    DestinationAtPort(u32),
    /// A whole service's cluster at the addressed port, by its index among the router's
    /// port-level service clusters.
    ServiceAtPort(u32),
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

impl Cluster {
    /// Keeps the healthy endpoints of `selected` and builds the balancer `lb` asks for (Istio's
    /// default, least request, when none).
    pub(super) fn build(
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
    pub(super) fn pick(
        &self,
        route_hash: Option<u64>,
        draw: u64,
        cluster_id: ClusterId,
    ) -> Pick<'_> {
        self.pick_avoiding(route_hash, draw, cluster_id, 0, |_| false)
    }

    /// Picks an endpoint as [`Cluster::pick`] does, then, while the pick is one `avoid`
    /// rejects, picks again up to `retries` more times (Envoy's `LoadBalancerBase::chooseHost`
    /// with a retry host predicate): a new draw for the random policies, the next entry of
    /// the ring or the next Maglev hash for the consistent ones. The last pick stands.
    pub(super) fn pick_avoiding(
        &self,
        route_hash: Option<u64>,
        draw: u64,
        cluster_id: ClusterId,
        retries: u32,
        avoid: impl Fn(&Endpoint) -> bool,
    ) -> Pick<'_> {
        if self.endpoints.is_empty() {
            return if self.selected == 0 {
                Pick::NoEndpoints
            } else {
                Pick::NoHealthyEndpoint
            };
        }
        let (mut index, mut hash) = self.choose(route_hash, draw, 0);
        for attempt in 1..=retries {
            if !avoid(&self.endpoints[index]) {
                break;
            }
            (index, hash) = self.choose(route_hash, mix(draw, 16 + u64::from(attempt)), attempt);
        }
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

    /// One choice of the balancer (endpoints not empty): the endpoint's index and the hash it
    /// was placed by. `attempt` is the host selection attempt (0 for the first).
    fn choose(&self, route_hash: Option<u64>, draw: u64, attempt: u32) -> (usize, Option<u64>) {
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
                    (Some(m), _) => m.pick_attempt(h, attempt),
                    (_, Some(r)) => r.pick_attempt(h, attempt),
                    _ => weighted(h),
                }
            }
        };
        (index, hash)
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
