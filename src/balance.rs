//! Load balancing as the compiler lowers it from DestinationRules: per DestinationRule host,
//! the top-level policy, its port-level entries and each subset's, resolved for a (subset,
//! port) with Istio's precedence (SEMANTICS §2.1, §2.2). The registry builds each cluster's
//! balancer from the [`LoadBalancer`] this yields; it never reads configuration.

use std::time::Duration;

use crate::hash::{HashKey, KeySource, cookie_value_hash, generated_cookie_value};
use crate::predicate::host::NameHasher;
use crate::request::Request;
use crate::session::set_cookie;
use crate::table::Visibility;

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

/// A DestinationRule `loadBalancer`, lowered: the policy, the hash policy a consistent hash
/// reads and the table size.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct LoadBalancer {
    pub(crate) policy: Policy,
    pub(crate) hash: HashPolicy,
    /// Maglev's `tableSize`, or ring hash's `minimumRingSize`, as written.
    pub(crate) table_size: Option<u64>,
    /// `localityLbSetting` as written; `None` when absent (the mesh default applies).
    pub(crate) locality: Option<LocalityLb>,
}

/// The route hash policy Istio derives from a `consistentHash` (route.go
/// `ConsistentHashToHashPolicy`): the request keys (in Envoy's order: header, cookie, source
/// IP, query parameter; Istio allows one), and for an `httpCookie` with a `ttl` the cookie
/// Envoy generates when the request lacks it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct HashPolicy {
    pub(crate) keys: Vec<KeySource>,
    pub(crate) generate: Option<GeneratedCookie>,
}

/// An `httpCookie` with a `ttl`, as Envoy's cookie hash policy keeps it
/// (source/common/http/hash_policy.cc `CookieHashMethod`): when the request has no such
/// cookie (or an empty one), the router generates a value, hashes it, and sends
/// `Set-Cookie` on the response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct GeneratedCookie {
    /// `name`.
    pub(crate) name: Box<str>,
    /// `ttl` in whole seconds (Envoy reads `ttl.seconds` and drops the fraction); 0 makes a
    /// session cookie (no `Max-Age`).
    pub(crate) max_age: Duration,
    /// `path`; empty when unset (no `Path`).
    pub(crate) path: Box<str>,
    /// `attributes[]`: `(name, value)`, the value empty for a flag such as `Secure`.
    pub(crate) attributes: Vec<(Box<str>, Box<str>)>,
}

impl HashPolicy {
    /// Adds the hash of each key for `req` to `key`, in order, as Envoy's `generateHash`
    /// evaluates the route's policies (Istio sets none terminal): a cookie key the request
    /// lacks, with a `ttl`, hashes the value generated from `draw`
    /// ([`crate::hash::generated_cookie_value`]); with no `draw` (a mirror's copy, which has
    /// no response to set a cookie on) it yields nothing. Allocates nothing.
    pub(crate) fn add_to<R: Request + ?Sized>(
        &self,
        key: &mut HashKey,
        req: &R,
        draw: Option<u64>,
    ) {
        for k in &self.keys {
            let mut hash = k.hash(req);
            if hash.is_none()
                && let (KeySource::Cookie(name), Some(g), Some(draw)) = (k, &self.generate, draw)
                && **name == *g.name
            {
                hash = cookie_value_hash(&generated_cookie_value(draw));
            }
            key.add(hash);
        }
    }

    /// The `Set-Cookie` values Envoy's router adds to the response for `req`: one per cookie
    /// key it generated a value for in [`HashPolicy::add_to`], in Envoy's
    /// `makeSetCookieValue` form ([`crate::session::set_cookie`]). Allocates.
    pub(crate) fn set_cookies<R: Request + ?Sized>(
        &self,
        req: &R,
        draw: u64,
        out: &mut Vec<String>,
    ) {
        let Some(g) = &self.generate else { return };
        for k in &self.keys {
            if matches!(k, KeySource::Cookie(name) if **name == *g.name) && k.hash(req).is_none() {
                let value = generated_cookie_value(draw);
                let value = std::str::from_utf8(&value).unwrap_or_default();
                let attributes: Vec<(&str, &str)> =
                    g.attributes.iter().map(|(n, v)| (&**n, &**v)).collect();
                out.push(set_cookie(
                    &g.name,
                    value,
                    &g.path,
                    Some(g.max_age),
                    &attributes,
                ));
            }
        }
    }
}

/// `distribute[].to`: `(locality pattern, weight)`.
pub(crate) type Weights = Vec<(Box<str>, u32)>;

/// A `localityLbSetting`, lowered.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct LocalityLb {
    /// `enabled`; `None` when unset.
    pub(crate) enabled: Option<bool>,
    /// `distribute[]`: `(from, [(to, weight)])`, in order.
    pub(crate) distribute: Vec<(Box<str>, Weights)>,
    /// `failover[]`: `(from region, to region)`, in order.
    pub(crate) failover: Vec<(Box<str>, Box<str>)>,
    /// `failoverPriority[]`: the label and, for `key=value`, the value the client is taken to
    /// have.
    pub(crate) failover_priority: Vec<(Box<str>, Option<Box<str>>)>,
}

/// An `outlierDetection`, lowered with Envoy's defaults for what Istio leaves unset
/// (pilot/pkg/networking/core/cluster_traffic_policy.go `applyOutlierDetection`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Outlier {
    /// Consecutive 5xx before ejection; 0 disables (Envoy default 5).
    pub(crate) consecutive_5xx: u32,
    /// Consecutive 502/503/504 before ejection; 0 disables (Envoy enforces it only when set).
    pub(crate) consecutive_gateway: u32,
    /// Sweep interval in ms (default 10 s): each interval an endpoint spends in, its ejection
    /// backoff falls by one.
    pub(crate) interval_ms: u64,
    /// `baseEjectionTime` in ms (default 30 s).
    pub(crate) base_ejection_ms: u64,
    /// Envoy's `max_ejection_time`: 300 s or the base, whichever is larger.
    pub(crate) max_ejection_ms: u64,
    /// `maxEjectionPercent` (default 10).
    pub(crate) max_ejection_percent: u32,
    /// `minHealthPercent`: Envoy's healthy panic threshold (Istio sets it, 0 when unset).
    pub(crate) min_health_percent: u32,
}

/// The `connectionPool` limits that can refuse a request (Envoy circuit breakers; Istio sets
/// every threshold it is not given to the largest value, so unset is unlimited).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Pool {
    /// `tcp.maxConnections`.
    pub(crate) max_connections: Option<u32>,
    /// `http.http1MaxPendingRequests`.
    pub(crate) max_pending: Option<u32>,
    /// `http.http2MaxRequests`.
    pub(crate) max_requests: Option<u32>,
}

/// The settings of one traffic-policy level, or of one of its port-level entries, that the
/// router builds a cluster with.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Settings {
    pub(crate) balancer: Option<LoadBalancer>,
    pub(crate) outlier: Option<Outlier>,
    pub(crate) pool: Option<Pool>,
}

/// The settings that apply to one cluster, resolved with Istio's precedence.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Resolved<'p> {
    pub(crate) balancer: Option<&'p LoadBalancer>,
    pub(crate) outlier: Option<&'p Outlier>,
    pub(crate) pool: Option<&'p Pool>,
}

/// One level of a traffic policy (the top level, or a subset's): its balancer, and the
/// port-level entries that replace the whole level for their port (an entry's unset
/// `loadBalancer` is the default, not the level's).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Level {
    /// The level's own settings.
    pub(crate) own: Settings,
    /// `(port, settings)` per `portLevelSettings` entry, in order (the first for a port
    /// applies).
    pub(crate) ports: Vec<(u16, Settings)>,
}

impl Level {
    /// The level's port-level entry for `port`, if it has one.
    fn port_entry(&self, port: Option<u16>) -> Option<&Settings> {
        let port = port?;
        self.ports.iter().find(|(p, _)| *p == port).map(|(_, s)| s)
    }

    /// The settings at `port`: its port-level entry's, else the level's.
    fn at(&self, port: Option<u16>) -> &Settings {
        self.port_entry(port).unwrap_or(&self.own)
    }
}

impl Settings {
    fn resolved(&self) -> Resolved<'_> {
        Resolved {
            balancer: self.balancer.as_ref(),
            outlier: self.outlier.as_ref(),
            pool: self.pool.as_ref(),
        }
    }
}

/// One consolidated DestinationRule of a host, as istiod keeps them per namespace
/// (istio/istio pilot/pkg/model/destination_rule.go `mergeDestinationRule`): the rules of one
/// host in one namespace merged (subsets by name, the first definition winning; the top-level
/// `trafficPolicy` of the first that has one), in Istio's order (workload selectors first, then
/// oldest first). Rules whose `exportTo` differ, or whose workload selectors differ, stay apart.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct HostPolicy {
    /// The host as the DestinationRules name it, fully qualified (a wildcard stays one).
    pub(crate) host: Box<str>,
    pub(crate) top: Option<Level>,
    /// The subsets, in merge order.
    pub(crate) subsets: Vec<SubsetPolicy>,
    /// The namespace of the rules.
    pub(crate) namespace: Box<str>,
    /// `workloadSelector.matchLabels` of the first rule (`None`: every workload).
    pub(crate) selector: Option<Vec<(Box<str>, Box<str>)>>,
    /// `exportTo` of the first rule, as written (a rule with a selector: `.`).
    pub(crate) export_to: Vec<Box<str>>,
    /// The names of the rules merged into this one, first the rule it started from.
    pub(crate) from: Vec<Box<str>>,
}

/// A subset of a consolidated DestinationRule: its name, the labels that select its endpoints,
/// and its policy level (`None`: the subset sets no `trafficPolicy`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SubsetPolicy {
    pub(crate) name: Box<str>,
    pub(crate) labels: Vec<(Box<str>, Box<str>)>,
    pub(crate) level: Option<Level>,
}

impl HostPolicy {
    /// The subset named `name`, when this rule defines it.
    pub(crate) fn subset(&self, name: &str) -> Option<&SubsetPolicy> {
        self.subsets.iter().find(|x| *x.name == *name)
    }

    /// Whether `exportTo` admits a client in `ns` (istio push_context.go
    /// `getExportedDestinationRuleFromNamespace`: empty, `*`, or the namespace by name).
    pub(crate) fn exported_to(&self, ns: &str) -> bool {
        self.export_to.is_empty() || self.export_to.iter().any(|e| &**e == "*" || **e == *ns)
    }

    /// The ports whose `portLevelSettings` entry (the top level's, or `subset`'s) can change
    /// the balancer of (host, `subset`): Envoy builds a cluster `outbound|PORT|subset|host`
    /// per port, so a destination whose port comes from the request gets that port's policy.
    pub(crate) fn port_level_ports(&self, subset: Option<&str>) -> Vec<u16> {
        let sub = subset
            .and_then(|s| self.subset(s))
            .and_then(|x| x.level.as_ref());
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
        self.settings(subset, port).balancer
    }

    /// Every setting of (host, `subset`) at `port`, each with the precedence of
    /// [`HostPolicy::balancer`]: a subset's field replaces the top level's when set
    /// (SEMANTICS §2.2).
    pub(crate) fn settings(&self, subset: Option<&str>, port: Option<u16>) -> Resolved<'_> {
        let top = self
            .top
            .as_ref()
            .map_or_else(Resolved::default, |l| l.at(port).resolved());
        let level = subset.and_then(|s| self.subset(s)?.level.as_ref());
        let Some(level) = level else {
            return top;
        };
        match level.port_entry(port) {
            Some(entry) => entry.resolved(),
            None => Resolved {
                balancer: level.own.balancer.as_ref().or(top.balancer),
                outlier: level.own.outlier.as_ref().or(top.outlier),
                pool: level.own.pool.as_ref().or(top.pool),
            },
        }
    }
}

/// A map keyed by names from the configuration, hashed with [`NameHasher`]: lookups with a
/// request's namespace or host hash a few words instead of running SipHash, and since only the
/// configuration inserts keys, a request cannot lengthen a probe sequence.
pub(crate) type NameMap<V> =
    std::collections::HashMap<Box<str>, V, std::hash::BuildHasherDefault<NameHasher>>;

/// The consolidated DestinationRules of one namespace's pool, by host: exact hosts, and
/// wildcard hosts (`*.example.com`, `*`) in the order they were first seen. Each host's list
/// holds indexes into the table's policies, in merge order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct DrPool {
    pub(crate) exact: NameMap<Vec<u32>>,
    pub(crate) wildcards: Vec<(Box<str>, Vec<u32>)>,
}

impl DrPool {
    /// The list of the most specific host that covers `host` (istio config.go
    /// `MostSpecificHostMatch`): `host` itself, else the longest wildcard whose suffix `host`
    /// ends with, the first of equals.
    pub(crate) fn lookup(&self, host: &str) -> Option<&[u32]> {
        if let Some(ids) = self.exact.get(host) {
            return Some(ids);
        }
        self.wildcards
            .iter()
            .filter(|(w, _)| w.strip_prefix('*').is_some_and(|s| host.ends_with(s)))
            .fold(None, |best: Option<&(Box<str>, Vec<u32>)>, e| match best {
                Some(b) if b.0.len() >= e.0.len() => Some(b),
                _ => Some(e),
            })
            .map(|(_, ids)| ids.as_slice())
    }

    /// The list for `host` as written (for building the pool).
    pub(crate) fn entry(&mut self, host: &str) -> &mut Vec<u32> {
        if host.starts_with('*') {
            let i = match self.wildcards.iter().position(|(w, _)| **w == *host) {
                Some(i) => i,
                None => {
                    self.wildcards.push((host.into(), Vec::new()));
                    self.wildcards.len() - 1
                }
            };
            &mut self.wildcards[i].1
        } else {
            self.exact.entry(host.into()).or_default()
        }
    }
}

/// Which consolidated DestinationRule a client sees for a host, as istiod indexes them
/// (istio/istio pilot/pkg/model/push_context.go `setDestinationRules`): per namespace, the
/// rules visible in it (exported to `.`, `*`, or it by name); per namespace, the rules
/// exported out of it; and the root namespace's private rules.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct DrIndex {
    pub(crate) local: NameMap<DrPool>,
    pub(crate) exported: NameMap<DrPool>,
    pub(crate) root_local: DrPool,
    /// The mesh's root namespace.
    pub(crate) root: Box<str>,
    /// The cluster domain, to read a Kubernetes host's namespace.
    pub(crate) domain: Box<str>,
    /// The namespaces of the services whose host does not name their namespace (ServiceEntry
    /// hosts), each with its visibility, in load order.
    pub(crate) services: NameMap<Vec<(Visibility, Box<str>)>>,
}

/// The client a DestinationRule is looked up for: its namespace and its labels.
pub(crate) trait Client {
    /// The client's namespace.
    fn namespace(&self) -> &str;
    /// The client's label `key`.
    fn label(&self, key: &str) -> Option<&str>;
}

/// A client known only by its namespace (no labels): for the lookups made at compile time.
pub(crate) struct NamespaceOnly<'a>(pub(crate) &'a str);

impl Client for NamespaceOnly<'_> {
    fn namespace(&self) -> &str {
        self.0
    }
    fn label(&self, _: &str) -> Option<&str> {
        None
    }
}

impl<R: Request + ?Sized> Client for R {
    fn namespace(&self) -> &str {
        self.source_namespace()
    }
    fn label(&self, key: &str) -> Option<&str> {
        self.source_label(key)
    }
}

impl DrIndex {
    /// The consolidated DestinationRule (an index into `policies`) that `client` sees for
    /// `host`, in istiod's order (push_context.go `destinationRule`, then sidecar.go
    /// `SidecarScope.DestinationRule`): the rules visible in the client's namespace (for a
    /// client in the root namespace, the root namespace's private rules); else those the
    /// host's own namespace exports to the client; else those the root namespace exports to
    /// it. The first step with a rule for the host decides; among its rules, the first whose
    /// workload selector selects the client (in the client's namespace) wins, else the last
    /// without a selector. Allocates nothing.
    pub(crate) fn lookup<C: Client + ?Sized>(
        &self,
        policies: &[HostPolicy],
        client: &C,
        host: &str,
    ) -> Option<u32> {
        let ns = client.namespace();
        let all = |_: &HostPolicy| true;
        let local = if ns != &*self.root {
            self.local.get(ns)
        } else {
            Some(&self.root_local)
        };
        if let Some(ids) = local.and_then(|p| p.lookup(host)) {
            return select(policies, ids, &all, client);
        }
        if self.exported.is_empty() {
            return None;
        }
        let admitted = |p: &HostPolicy| p.exported_to(ns);
        let owners = [self.service_namespace(host, ns), Some(&*self.root)];
        for owner in owners.into_iter().flatten() {
            if let Some(ids) = self.exported.get(owner).and_then(|p| p.lookup(host))
                && ids.iter().any(|&i| admitted(&policies[i as usize]))
            {
                return select(policies, ids, &admitted, client);
            }
        }
        None
    }
}

impl DrIndex {
    /// The namespace of the service `host` names, as a client in `ns` sees it (push_context.go
    /// `destinationRule` reads `service.Attributes.Namespace`): of the services defining the
    /// host, the nearest one the client sees (its own namespace's, then one exported to it by
    /// name, then a public one; the first of equals), else the first; for a host no
    /// ServiceEntry defines, the namespace a Kubernetes host names.
    pub(crate) fn service_namespace<'s>(&'s self, host: &'s str, ns: &str) -> Option<&'s str> {
        let defs = match self.services.is_empty() {
            true => None,
            false => self.services.get(host),
        };
        let Some(defs) = defs else {
            return host_namespace(host, &self.domain);
        };
        let mut best: Option<(u8, &str)> = None;
        for (visibility, own) in defs {
            if let Some(t) = visibility.tier(own, ns)
                && best.is_none_or(|(b, _)| t < b)
            {
                best = Some((t, own));
            }
        }
        best.map(|(_, own)| own)
            .or_else(|| defs.first().map(|(_, own)| &**own))
    }

    /// The namespaces whose clients may see another DestinationRule for `host` than a client
    /// of any namespace outside the list, which sees what [`DrIndex::lookup`] gives for
    /// namespace `""` (a name no namespace has): the namespaces with rules for the host in
    /// their pools, those the rules' `exportTo` name, those of the services defining the host
    /// and named in their `exportTo`, and the root namespace. `None` when a rule the lookup
    /// can reach selects workloads, so that the client's labels matter too.
    pub(crate) fn namespaces_apart<'s>(
        &'s self,
        policies: &'s [HostPolicy],
        host: &str,
    ) -> Option<Vec<&'s str>> {
        let pools = self
            .local
            .iter()
            .chain(self.exported.iter())
            .map(|(ns, pool)| (&**ns, pool))
            .chain(std::iter::once((&*self.root, &self.root_local)));
        let mut out = vec![&*self.root];
        for (ns, pool) in pools {
            let Some(ids) = pool.lookup(host) else {
                continue;
            };
            out.push(ns);
            for &i in ids {
                let p = &policies[i as usize];
                if p.selector.is_some() {
                    return None;
                }
                out.extend(p.export_to.iter().map(|e| &**e));
            }
        }
        for (visibility, own) in self.services.get(host).into_iter().flatten() {
            out.push(own);
            if let Visibility::Only(named) = visibility {
                out.extend(named.iter().map(|n| &**n));
            }
        }
        out.sort_unstable();
        out.dedup();
        Some(out)
    }

    /// Notes that `host`'s service, of namespace `namespace`, has `visibility`: for the hosts
    /// whose name does not say their namespace.
    pub(crate) fn add_service(&mut self, host: &str, namespace: &str, visibility: &Visibility) {
        if host_namespace(host, &self.domain) != Some(namespace) {
            self.services
                .entry(host.into())
                .or_default()
                .push((visibility.clone(), namespace.into()));
        }
    }
}

/// Among one step's rules, the one for `client` (sidecar.go `SidecarScope.DestinationRule`).
fn select<C: Client + ?Sized>(
    policies: &[HostPolicy],
    ids: &[u32],
    admitted: &impl Fn(&HostPolicy) -> bool,
    client: &C,
) -> Option<u32> {
    let mut catch_all = None;
    for &i in ids {
        let p = &policies[i as usize];
        if !admitted(p) {
            continue;
        }
        match &p.selector {
            None => catch_all = Some(i),
            Some(sel) => {
                if *p.namespace == *client.namespace()
                    && sel.iter().all(|(k, v)| client.label(k) == Some(&**v))
                {
                    return Some(i);
                }
            }
        }
    }
    catch_all
}

/// The namespace of a Kubernetes service host `name.ns.svc.<domain>`; `None` for another host.
pub(crate) fn host_namespace<'h>(host: &'h str, domain: &str) -> Option<&'h str> {
    let rest = host.strip_suffix(domain)?.strip_suffix(".svc.")?;
    let (_, ns) = rest.rsplit_once('.')?;
    (!ns.is_empty()).then_some(ns)
}
