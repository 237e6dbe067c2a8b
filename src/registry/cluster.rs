//! One cluster (a host, or a host's subset): its healthy endpoints and the balancer built for
//! them once (round robin, random, least request, ring hash, Maglev), and the pick it makes
//! for one request without allocating.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use super::health::{self, Ejection, HostState, Level, Locality, MAX_LEVELS};
use super::{Endpoint, Policy};
use crate::balance::{HashPolicy, LocalityLb, Outlier, Pool, Resolved};
use crate::decision::mix;
use crate::hash::{Maglev, RingHash};
use crate::request::Request;

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
    /// The DestinationRule's hash policy (consistent hash only): the one Istio puts on
    /// routes to this cluster.
    pub(super) hash_policies: HashPolicy,
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
    /// The locality setting in force (istiod `GetLocalityLbSetting`: the DestinationRule's,
    /// else the mesh default, enabled); `None` when turned off.
    pub(super) locality_lb: Option<LocalityLb>,
    /// `outlierDetection`, when set: ejections, the panic threshold, and the precondition of
    /// locality failover.
    pub(super) outlier: Option<Outlier>,
    /// `connectionPool` limits.
    pub(super) pool: Option<Pool>,
    /// Outlier state per endpoint.
    pub(super) hosts: Vec<HostState>,
    /// Serializes ejection decisions (reports only; picks read atomics).
    pub(super) eject_lock: Mutex<()>,
    /// Requests in flight on the whole cluster (connection-pool limits).
    pub(super) active: AtomicU32,
    /// Locality group of each endpoint: index into `group_weight`.
    pub(super) group: Vec<u32>,
    /// Σ endpoint weights per locality group (istiod's locality `loadBalancingWeight`).
    pub(super) group_weight: Vec<u64>,
    /// An endpoint of each group, for its locality.
    pub(super) group_first: Vec<u32>,
}

/// How one pick spreads over priority levels and localities.
struct Spread<'a, R: ?Sized> {
    req: &'a R,
    client: Locality<'a>,
    /// `localityLbSetting` failover in force (outlier detection set, no `distribute`).
    failover: Option<&'a LocalityLb>,
    /// The `distribute[].to` entry for the client, when one matches its locality.
    distribute: Option<&'a [(Box<str>, u32)]>,
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
    /// The cluster's `connectionPool` is full (`http2MaxRequests` requests in flight, or
    /// `tcp.maxConnections` busy and `http1MaxPendingRequests` waiting): 503, Envoy flag `UO`.
    Overflow,
    /// The decision forwards to Envoy's `PassthroughCluster`
    /// ([`Outcome::PassthroughCluster`](crate::Outcome::PassthroughCluster)): the address the
    /// client asked for, not an endpoint of the registry; the embedder connects to the
    /// request's own authority.
    OriginalDestination,
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
    /// split skipped), hashed as [`KeySource::hash`](crate::hash::KeySource::hash) and combined in order with [`HashKey`](crate::hash::HashKey),
    /// as Istio lists one hash policy per destination on the route and Envoy combines them;
    /// with one destination (or one that has a key) it is that key's hash, e.g.
    /// [`crate::hash::header_hash`]. For the mesh default route (no VirtualService), the
    /// service's top-level key. An `httpCookie` key with a `ttl` that the request lacks
    /// hashes the cookie generated for it ([`crate::hash::generated_cookie_value`] of the
    /// decision's draw), which [`Router::set_cookies`](crate::registry::Router::set_cookies)
    /// says to send.
    pub hash: Option<u64>,
    /// The cluster, as `host` or `host/subset`.
    pub cluster: &'r str,
    /// The Envoy priority level the endpoint was picked from (0 the highest): istiod's
    /// locality failover levels for the client, when outlier detection makes them apply.
    pub priority: u32,
    /// Whether that level was in panic (too few healthy endpoints: ejected ones picked too).
    pub panic: bool,
    pub(super) cluster_id: ClusterId,
    pub(super) index: u32,
}

/// Which of the router's cluster lists a pick's cluster is in.
#[derive(Clone, Copy, Debug)]
pub(super) enum ClusterId {
    /// A destination's cluster under one DestinationRule view, by its index among the
    /// router's destination clusters.
    Destination(u32),
    /// A whole service's (the mesh default route), by its index among the router's service
    /// clusters.
    Service(u32),
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
            Pick::Overflow => Some("UO"),
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
        settings: Resolved<'_>,
    ) -> Result<Cluster, String> {
        let lb = settings.balancer;
        let count = selected.len();
        let mut endpoints: Vec<Endpoint> = selected
            .into_iter()
            .filter(|e| e.healthy && e.weight > 0)
            .collect();
        endpoints.sort_by_key(Endpoint::hash_key);
        // No DestinationRule balancer: Istio's default, least request.
        let policy = lb.map_or(Policy::LeastRequest, |lb| lb.policy);
        let hash_policies = lb.map_or_else(HashPolicy::default, |lb| lb.hash.clone());
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
        let locality_lb = match lb.and_then(|lb| lb.locality.as_ref()) {
            Some(l) if l.enabled == Some(false) => None,
            Some(l) => Some(l.clone()),
            // The mesh default: locality load balancing on, no settings.
            None => Some(LocalityLb::default()),
        };
        let mut names: Vec<Option<&str>> =
            endpoints.iter().map(|e| e.locality.as_deref()).collect();
        names.sort_unstable();
        names.dedup();
        let group: Vec<u32> = endpoints
            .iter()
            .map(|e| names.partition_point(|n| *n < e.locality.as_deref()) as u32)
            .collect();
        let mut group_weight = vec![0u64; names.len()];
        let mut group_first = vec![0u32; names.len()];
        for (i, (e, &g)) in endpoints.iter().zip(&group).enumerate().rev() {
            group_weight[g as usize] += u64::from(e.weight);
            group_first[g as usize] = i as u32;
        }
        Ok(Cluster {
            locality_lb,
            outlier: settings.outlier.copied(),
            pool: settings.pool.copied(),
            hosts: endpoints.iter().map(|_| HostState::default()).collect(),
            eject_lock: Mutex::new(()),
            active: AtomicU32::new(0),
            group,
            group_weight,
            group_first,
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

    /// Picks an endpoint for `req` at `now` (ms, for ejections); `route_hash` is the request's
    /// hash key (consistent hash only). Allocates nothing.
    pub(super) fn pick<R: Request + ?Sized>(
        &self,
        route_hash: Option<u64>,
        draw: u64,
        cluster_id: ClusterId,
        req: &R,
        now: u64,
    ) -> Pick<'_> {
        self.pick_avoiding(
            route_hash,
            draw,
            cluster_id,
            req,
            now,
            0,
            |_| false,
            |_| false,
        )
    }

    /// Picks an endpoint as [`Cluster::pick`] does, then, while the pick is one `avoid`
    /// rejects, picks again (in the same priority level and locality) up to `retries` more
    /// times (Envoy's `LoadBalancerBase::chooseHost` with a retry host predicate): a new draw
    /// for the random policies, the next entry of the ring or the next Maglev hash for the
    /// consistent ones. The last pick stands. The priority levels of the endpoints `skip_level`
    /// accepts are left out of the priority load while another level has endpoints (Envoy's
    /// `previous_priorities` retry priority; when every level would be left out, none is).
    /// Allocates nothing.
    #[allow(clippy::too_many_arguments)] // the pick's inputs, as `pick` takes them, plus the predicates
    pub(super) fn pick_avoiding<R: Request + ?Sized>(
        &self,
        route_hash: Option<u64>,
        draw: u64,
        cluster_id: ClusterId,
        req: &R,
        now: u64,
        retries: u32,
        avoid: impl Fn(&Endpoint) -> bool,
        skip_level: impl Fn(&Endpoint) -> bool,
    ) -> Pick<'_> {
        let choose = |eligible: &dyn Fn(usize) -> bool| {
            let mut index = self.pick_in(route_hash, draw, 0, eligible);
            for attempt in 1..=retries {
                if !avoid(&self.endpoints[index]) {
                    break;
                }
                let again = mix(draw, 16 + u64::from(attempt));
                index = self.pick_in(route_hash, again, attempt, eligible);
            }
            index
        };
        if self.endpoints.is_empty() {
            return if self.selected == 0 {
                Pick::NoEndpoints
            } else {
                Pick::NoHealthyEndpoint
            };
        }
        if self.overflows() {
            return Pick::Overflow;
        }
        // Without outlier detection there is no failover, and without `distribute` entries
        // nothing spreads by locality: the plain balancer, without reading the client's
        // locality; else the same when neither applies to this client.
        let no_distribute = (self.locality_lb.as_ref()).is_none_or(|l| l.distribute.is_empty());
        let spread = (self.outlier.is_some() || !no_distribute).then(|| self.spread(req));
        let Some(spread) = spread
            .filter(|s| s.failover.is_some() || s.distribute.is_some() || self.outlier.is_some())
        else {
            let index = choose(&|_| true);
            return self.picked(index, route_hash, cluster_id, 0, false);
        };
        // Levels by raw priority, counted in place.
        let mut by_raw = [Level::default(); MAX_LEVELS];
        for i in 0..self.endpoints.len() {
            if !self.member(&spread, i) {
                continue;
            }
            let l = &mut by_raw[self.raw(&spread, i)];
            l.total += 1;
            l.healthy += u32::from(!self.hosts[i].ejected(now));
        }
        // Levels already tried, when a retry skips them.
        let mut skipped = [false; MAX_LEVELS];
        for i in 0..self.endpoints.len() {
            if self.member(&spread, i) && skip_level(&self.endpoints[i]) {
                skipped[self.raw(&spread, i)] = true;
            }
        }
        if (0..MAX_LEVELS).any(|r| by_raw[r].total > 0 && !skipped[r]) {
            for r in 0..MAX_LEVELS {
                if skipped[r] {
                    by_raw[r] = Level::default();
                }
            }
        }
        let mut levels = [Level::default(); MAX_LEVELS];
        let mut rank = [0u8; MAX_LEVELS];
        let mut n = 0;
        for (raw, l) in by_raw.iter().enumerate() {
            if l.total > 0 {
                levels[n] = *l;
                rank[raw] = n as u8;
                n += 1;
            }
        }
        if n == 0 {
            return Pick::NoHealthyEndpoint;
        }
        let threshold = self.outlier.map_or(50, |o| o.min_health_percent);
        let (mut load, mut panic) = ([0u32; MAX_LEVELS], [false; MAX_LEVELS]);
        if health::priority_load(&levels[..n], threshold, &mut load, &mut panic).is_none() {
            return Pick::NoHealthyEndpoint;
        }
        let h = (mix(draw, 7) % 100 + 1) as u32;
        let mut sum = 0;
        let p = (0..n)
            .find(|&p| {
                sum += load[p];
                h <= sum
            })
            .unwrap_or(0);
        let in_level = |i: usize| {
            let raw = self.raw(&spread, i);
            self.member(&spread, i)
                && by_raw[raw].total > 0
                && usize::from(rank[raw]) == p
                && (panic[p] || !self.hosts[i].ejected(now))
        };
        // Locality-weighted: a locality first, by weight × availability (Envoy
        // `chooseHealthyLocality`), then an endpoint in it.
        // A level in panic picks among all its hosts, without the locality step (Envoy's
        // `hostSourceToUse`).
        let group = spread.distribute.filter(|_| !panic[p]).and_then(|to| {
            let weight = |g: usize| {
                let (mut total, mut up) = (0u64, 0u64);
                for i in 0..self.endpoints.len() {
                    if self.group[i] as usize == g && self.member(&spread, i) {
                        total += 1;
                        up += u64::from(panic[p] || !self.hosts[i].ejected(now));
                    }
                }
                if total == 0 {
                    return 0;
                }
                let avail = (health::OVERPROVISIONING * up / total).min(100);
                self.locality_weight(to, g) * avail
            };
            let all: u64 = (0..self.group_weight.len()).map(weight).sum();
            if all == 0 {
                return None;
            }
            let mut u = mix(draw, 8) % all;
            (0..self.group_weight.len()).find(|&g| {
                let w = weight(g);
                if u < w {
                    true
                } else {
                    u -= w;
                    false
                }
            })
        });
        let eligible = |i: usize| in_level(i) && group.is_none_or(|g| self.group[i] as usize == g);
        if !(0..self.endpoints.len()).any(eligible) {
            return Pick::NoHealthyEndpoint;
        }
        let index = choose(&eligible);
        self.picked(index, route_hash, cluster_id, p as u32, panic[p])
    }

    /// The pick's answer for endpoint `index`.
    fn picked(
        &self,
        index: usize,
        route_hash: Option<u64>,
        cluster_id: ClusterId,
        priority: u32,
        panic: bool,
    ) -> Pick<'_> {
        self.picks[index].fetch_add(1, Ordering::Relaxed);
        Pick::Endpoint(EndpointPick {
            endpoint: &self.endpoints[index],
            policy: self.policy,
            hash: route_hash.filter(|_| self.policy.is_consistent_hash()),
            cluster: &self.name,
            priority,
            panic,
            cluster_id,
            index: index as u32,
        })
    }

    /// Whether one more request would overflow the connection pool: `http2MaxRequests` in
    /// flight, or every one of `tcp.maxConnections` busy and `http1MaxPendingRequests` waiting.
    fn overflows(&self) -> bool {
        let Some(pool) = self.pool else {
            return false;
        };
        let active = self.active.load(Ordering::Relaxed);
        pool.max_requests.is_some_and(|m| active >= m)
            || pool
                .max_connections
                .zip(pool.max_pending)
                .is_some_and(|(c, p)| active >= c.saturating_add(p))
    }

    /// What spreads a pick for `req`: the client's locality and the locality setting that
    /// applies to it.
    fn spread<'a, R: Request + ?Sized>(&'a self, req: &'a R) -> Spread<'a, R> {
        let client = Locality::of_client(req);
        let lb = self.locality_lb.as_ref();
        // istiod `ApplyLocalityLoadBalancer`: distribute when set (the first entry whose
        // `from` covers the client); else failover, only with outlier detection.
        let distribute = lb.and_then(|l| {
            l.distribute
                .iter()
                .find(|(from, _)| client.matches(from))
                .map(|(_, to)| to.as_slice())
        });
        let failover = lb.filter(|l| l.distribute.is_empty() && self.outlier.is_some());
        Spread {
            req,
            client,
            failover,
            distribute,
        }
    }

    /// Whether endpoint `i` is in the cluster for this client: with `distribute`, only the
    /// localities some `to` entry weights (istiod drops the others).
    fn member<R: Request + ?Sized>(&self, spread: &Spread<'_, R>, i: usize) -> bool {
        spread
            .distribute
            .is_none_or(|to| self.locality_weight(to, self.group[i] as usize) > 0)
    }

    /// Endpoint `i`'s raw priority for the client (0 when failover does not apply).
    fn raw<R: Request + ?Sized>(&self, spread: &Spread<'_, R>, i: usize) -> usize {
        let Some(lb) = spread.failover else {
            return 0;
        };
        let e = &self.endpoints[i];
        let ep = Locality::parse(e.locality.as_deref().unwrap_or(""));
        let raw = health::raw_priority(lb, &spread.client, spread.req, &ep, &e.labels);
        (raw as usize).min(MAX_LEVELS - 1)
    }

    /// istiod `applyLocalityWeights`: the weight of locality group `g` under `to`: the first
    /// entry whose pattern covers it shares its weight among the groups it covers in proportion
    /// to their own weight, rounded up; 0 when no entry covers it.
    fn locality_weight(&self, to: &[(Box<str>, u32)], g: usize) -> u64 {
        let loc = |g: usize| {
            let e = &self.endpoints[self.group_first[g] as usize];
            Locality::parse(e.locality.as_deref().unwrap_or(""))
        };
        let mine = loc(g);
        let Some((pattern, w)) = to.iter().find(|(t, _)| mine.matches(t)) else {
            return 0;
        };
        let total: u64 = (0..self.group_weight.len())
            .filter(|&o| loc(o).matches(pattern))
            .map(|o| self.group_weight[o])
            .sum();
        (self.group_weight[g] * u64::from(*w)).div_ceil(total.max(1))
    }

    /// Picks an endpoint among those `eligible` accepts (at least one) with the cluster's
    /// policy. With every endpoint eligible this is the cluster's plain balancer; otherwise
    /// weighted choices skip the others, round robin walks its order to the next eligible one,
    /// and a consistent hash probes again (then falls back to a weighted choice) when it lands
    /// on an ineligible endpoint, where Envoy would rebuild its table over the eligible hosts.
    fn pick_in(
        &self,
        route_hash: Option<u64>,
        draw: u64,
        attempt: u32,
        eligible: &dyn Fn(usize) -> bool,
    ) -> usize {
        let all = (0..self.endpoints.len()).all(eligible);
        let weighted = |u: u64| {
            if all {
                let total = *self.cumulative.last().expect("endpoints are not empty");
                return self.cumulative.partition_point(|&end| end <= u % total);
            }
            let total: u64 = (0..self.endpoints.len())
                .filter(|&i| eligible(i))
                .map(|i| u64::from(self.endpoints[i].weight))
                .sum();
            let mut u = u % total.max(1);
            (0..self.endpoints.len())
                .filter(|&i| eligible(i))
                .find(|&i| {
                    let w = u64::from(self.endpoints[i].weight);
                    if u < w {
                        true
                    } else {
                        u -= w;
                        false
                    }
                })
                .unwrap_or(0)
        };
        match self.policy {
            Policy::RoundRobin => {
                let n = self.cursor.fetch_add(1, Ordering::Relaxed);
                let len = self.schedule.len() as u64;
                (0..len)
                    .map(|k| self.schedule[((n + k) % len) as usize] as usize)
                    .find(|&i| eligible(i))
                    .unwrap_or_else(|| weighted(mix(draw, 3)))
            }
            Policy::Random | Policy::Passthrough => weighted(mix(draw, 3)),
            Policy::LeastRequest => {
                let a = weighted(mix(draw, 4));
                let b = weighted(mix(draw, 5));
                let load = |i: usize| self.in_flight[i].load(Ordering::Relaxed);
                if load(b) < load(a) { b } else { a }
            }
            Policy::RingHash | Policy::Maglev => {
                // No hash: a random point, as Envoy does.
                let h = route_hash.unwrap_or_else(|| mix(draw, 6));
                // A retry's host selection attempt moves along the ring or alters the
                // Maglev hash, as Envoy does.
                let at = |h: u64| match (&self.maglev, &self.ring) {
                    (Some(m), _) => m.pick_attempt(h, attempt),
                    (_, Some(r)) => r.pick_attempt(h, attempt),
                    _ => weighted(h),
                };
                (0..32)
                    .map(|k| at(if k == 0 { h } else { mix(h, k) }))
                    .find(|&i| eligible(i))
                    .unwrap_or_else(|| weighted(h))
            }
        }
    }

    /// Feeds a result of endpoint `index` to outlier detection at `now` (ms).
    pub(super) fn report(&self, index: usize, status: u16, now: u64) -> Ejection {
        let Some(outlier) = &self.outlier else {
            return Ejection::None;
        };
        let _guard = self
            .eject_lock
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        health::report(outlier, &self.hosts, index, status, now)
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
