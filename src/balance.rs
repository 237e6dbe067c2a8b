//! Load balancing as the compiler lowers it from DestinationRules: per DestinationRule host,
//! the top-level policy, its port-level entries and each subset's, resolved for a (subset,
//! port) with Istio's precedence (SEMANTICS §2.1, §2.2). The registry builds each cluster's
//! balancer from the [`LoadBalancer`] this yields; it never reads configuration.

use crate::hash::KeySource;

/// The load-balancing policy of a cluster.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Policy {
    /// Weighted round robin: the smooth (nginx) order over one period of Σ weights, one
    /// cursor per cluster shared by every thread; the draw plays no part.
    RoundRobin,
    /// Weighted random, from the request's draw.
    Random,
    /// Power of two choices (Istio's default): two weighted random choices from the draw, the
    /// one with fewer requests in flight ([`Router::started`](crate::registry::Router::started),
    /// [`Router::finished`](crate::registry::Router::finished)) wins, the
    /// first on a tie.
    LeastRequest,
    /// Consistent hashing on a ring (Envoy's ring hash).
    RingHash,
    /// Consistent hashing with a Maglev table.
    Maglev,
    /// No balancing: the original destination address (`PASSTHROUGH`). The original address
    /// is the caller's to know, so a weighted random endpoint stands in.
    Passthrough,
}

impl Policy {
    /// Whether the policy places requests by a hash key (ring hash or Maglev).
    pub fn is_consistent_hash(self) -> bool {
        matches!(self, Policy::RingHash | Policy::Maglev)
    }

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

/// A DestinationRule `loadBalancer`, lowered: the policy, the request keys a consistent hash
/// reads (in Envoy's order: header, cookie, source IP, query parameter) and the table size.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct LoadBalancer {
    pub(crate) policy: Policy,
    pub(crate) hash_keys: Vec<KeySource>,
    /// Maglev's `tableSize`, or ring hash's `minimumRingSize`, as written.
    pub(crate) table_size: Option<u64>,
}

/// One level of a traffic policy (the top level, or a subset's): its balancer, and the
/// port-level entries that replace the whole level for their port (an entry's unset
/// `loadBalancer` is the default, not the level's).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Level {
    pub(crate) balancer: Option<LoadBalancer>,
    /// `(port, loadBalancer)` per `portLevelSettings` entry, in order (the first for a port
    /// applies).
    pub(crate) ports: Vec<(u16, Option<LoadBalancer>)>,
}

impl Level {
    /// The level's port-level entry for `port`, if it has one.
    fn port_entry(&self, port: Option<u16>) -> Option<&Option<LoadBalancer>> {
        let port = port?;
        self.ports
            .iter()
            .find(|(p, _)| *p == port)
            .map(|(_, lb)| lb)
    }

    /// The balancer at `port`: its port-level entry's, else the level's.
    fn at(&self, port: Option<u16>) -> Option<&LoadBalancer> {
        match self.port_entry(port) {
            Some(entry) => entry.as_ref(),
            None => self.balancer.as_ref(),
        }
    }
}

/// The load-balancing policy of one DestinationRule host, merged over every DestinationRule
/// of that host as Istio merges them: the top-level `trafficPolicy` of the first that has one;
/// subsets by name, the first definition winning, in Istio's order (oldest first).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct HostPolicy {
    /// The host as the DestinationRules name it, fully qualified (a wildcard stays one).
    pub(crate) host: Box<str>,
    pub(crate) top: Option<Level>,
    /// Each subset's policy level (`None`: the subset sets no `trafficPolicy`).
    pub(crate) subsets: Vec<(Box<str>, Option<Level>)>,
}

impl HostPolicy {
    /// The ports whose `portLevelSettings` entry (the top level's, or `subset`'s) can change
    /// the balancer of (host, `subset`): Envoy builds a cluster `outbound|PORT|subset|host`
    /// per port, so a destination whose port comes from the request gets that port's policy.
    pub(crate) fn port_level_ports(&self, subset: Option<&str>) -> Vec<u16> {
        let sub = subset
            .and_then(|s| self.subsets.iter().find(|(name, _)| **name == *s))
            .and_then(|(_, level)| level.as_ref());
        let mut ports: Vec<u16> = self
            .top
            .iter()
            .chain(sub)
            .flat_map(|l| l.ports.iter().map(|(p, _)| *p))
            .collect();
        ports.sort_unstable();
        ports.dedup();
        ports
    }

    /// The balancer for `subset` at `port`, in Istio's order: the subset's port-level entry,
    /// the subset's policy, the top-level port-level entry, the top-level policy. A subset's
    /// port-level entry applies even when it leaves the balancer unset.
    pub(crate) fn balancer(
        &self,
        subset: Option<&str>,
        port: Option<u16>,
    ) -> Option<&LoadBalancer> {
        let top = self.top.as_ref().and_then(|l| l.at(port));
        let level = subset.and_then(|s| {
            let (_, level) = self.subsets.iter().find(|(name, _)| **name == *s)?;
            level.as_ref()
        });
        let Some(level) = level else {
            return top;
        };
        match level.port_entry(port) {
            Some(entry) => entry.as_ref(),
            None => level.balancer.as_ref().or(top),
        }
    }
}

/// The policy that applies to `host`: the one for `host` itself, else the most specific
/// wildcard (`*.example.com`, `*`) that covers it, the first of equals.
pub(crate) fn host_policy<'p>(policies: &'p [HostPolicy], host: &str) -> Option<&'p HostPolicy> {
    if let Some(p) = policies.iter().find(|p| *p.host == *host) {
        return Some(p);
    }
    policies
        .iter()
        .filter(|p| p.host.strip_prefix('*').is_some_and(|s| host.ends_with(s)))
        .fold(None, |best: Option<&HostPolicy>, p| match best {
            Some(b) if b.host.len() >= p.host.len() => Some(b),
            _ => Some(p),
        })
}
