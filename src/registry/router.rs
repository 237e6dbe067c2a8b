//! A table bound to a registry snapshot: every cluster the table's destinations name, with its
//! endpoints selected by subset labels and its balancer built from the DestinationRule's
//! policy; a decision and its endpoint pick ([`Routed`]) for one request.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use super::cluster::{Cluster, ClusterId};
use super::{Ejection, Endpoint, EndpointPick, Pick, Registry};
use crate::action::{Action, Forward, PortFrom};
use crate::balance::{HashPolicy, NameMap, NamespaceOnly};
use crate::decision::{Decision, Outcome};
use crate::hash::HashKey;
use crate::predicate::host::{lookup_names, with_request_host};
use crate::request::Request;
use crate::span::SpanFields;
use crate::table::Table;

/// A table bound to a registry snapshot.
///
/// The DestinationRule that shapes a cluster depends on the client (`exportTo`,
/// `workloadSelector`: istiod builds each proxy's clusters with the rule its namespace and
/// labels see), so every cluster is built once per rule some client may see for its host (a
/// *view*), and a pick uses the view of the request's client.
#[derive(Debug)]
pub struct Router {
    table: Table,
    /// Every destination cluster under every view; `Destination::cluster` names a range of
    /// them (`dest_views`).
    clusters: Vec<Cluster>,
    /// Per `Destination::cluster`: the range of `clusters` holding its views, the first the
    /// view of a client in the host's namespace.
    dest_views: Vec<(u32, u32)>,
    /// The DestinationRule (an index into the table's rules) of each of `clusters`.
    policy_of: Vec<Option<u32>>,
    /// Per `Destination::cluster`: how a client's view among `dest_views` is chosen.
    dest_choice: Vec<ViewChoice>,
    /// Per whole service, by the index in `service_clusters` its views start at (ascending):
    /// how a client's view is chosen.
    service_choice: Vec<(u32, ViewChoice)>,
    /// Clusters of whole services (the mesh default route), by host: the range of
    /// `service_clusters` holding its views.
    services: BTreeMap<Box<str>, (u32, u32)>,
    /// `(DestinationRule, cluster)` of each whole service's views.
    service_clusters: Vec<(Option<u32>, Cluster)>,
    /// Envoy's cluster is `outbound|PORT|subset|host`: a destination whose port comes from the
    /// request is another cluster at each port, and DestinationRule `portLevelSettings` for
    /// that port choose its balancer. One cluster per (cluster of `clusters`, port with
    /// port-level settings): `(index in clusters, port, cluster)`.
    at_port: Vec<(u32, u16, Cluster)>,
    /// The same for whole services (the mesh default route): `(index in service_clusters,
    /// port, cluster)`.
    services_at_port: Vec<(u32, u16, Cluster)>,
    /// The route's hash keys for each of `clusters` when the VirtualService writes no
    /// port: Istio reads port-level `consistentHash` only for a written `destination.port`
    /// (route.go `HashForHTTPDestination`), so these come from the subset and top levels.
    portless_keys: Vec<HashPolicy>,
    /// The latest time (ms on the caller's monotonic clock) reported
    /// ([`Router::report_status`], [`Router::advance_to`]): ejections are judged at it.
    now_ms: AtomicU64,
}

/// How the view a client uses is chosen among a cluster's views, decided when the router is
/// built: the DestinationRule a client sees for a host depends on its namespace alone unless a
/// rule for the host selects workloads.
#[derive(Debug)]
enum ViewChoice {
    /// By namespace: the offset of the view of each namespace listed, and of any other.
    ByNamespace { at: NameMap<u32>, other: u32 },
    /// By the client's DestinationRule, looked up ([`DrIndex::lookup`]).
    ///
    /// [`DrIndex::lookup`]: crate::balance::DrIndex::lookup
    Lookup,
}

impl ViewChoice {
    /// The choice among `views` (the DestinationRule of each) of `host`'s clusters.
    fn new(inner: &crate::table::Inner, host: &str, views: &[Option<u32>]) -> ViewChoice {
        if views.len() <= 1 {
            return ViewChoice::ByNamespace {
                at: NameMap::default(),
                other: 0,
            };
        }
        let Some(namespaces) = inner.dr_index.namespaces_apart(&inner.policies, host) else {
            return ViewChoice::Lookup;
        };
        let offset = |ns: &str| {
            let seen = inner.policy_for(&NamespaceOnly(ns), host);
            views.iter().position(|v| *v == seen).unwrap_or(0) as u32
        };
        // No namespace is named "": it stands for every namespace the list leaves out.
        let other = offset("");
        let at = namespaces
            .into_iter()
            .map(|ns| (ns, offset(ns)))
            .filter(|&(_, at)| at != other)
            .map(|(ns, at)| (ns.into(), at))
            .collect();
        ViewChoice::ByNamespace { at, other }
    }

    /// The offset of the view `req`'s client uses when its namespace decides it; `None` when
    /// its DestinationRule must be looked up. Allocates nothing.
    #[inline]
    fn offset<R: Request + ?Sized>(&self, req: &R) -> Option<u32> {
        match self {
            ViewChoice::ByNamespace { at, other } if at.is_empty() => Some(*other),
            ViewChoice::ByNamespace { at, other } => {
                Some(at.get(req.source_namespace()).copied().unwrap_or(*other))
            }
            ViewChoice::Lookup => None,
        }
    }
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
            Pick::NoHealthyEndpoint | Pick::NoEndpoints | Pick::Overflow => 503,
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
    /// let table = Table::from_yaml(include_str!("../../examples/bookinfo.yaml"))?;
    /// let mut reg = Registry::new();
    /// let host = "reviews.default.svc.cluster.local";
    /// reg.add(host, Endpoint::new("10.0.0.1", 9080).label("version", "v1"));
    /// reg.add(host, Endpoint::new("10.0.0.2", 9080).label("version", "v2"));
    /// let router = Router::new(&table, &reg)?;
    /// let req = OwnedRequest::new("GET", "http://reviews/").header("end-user", "jason").from_namespace("default");
    /// // Any `rand_core::Rng` (rand_core 0.10) works; `rand_pcg` is a crate of its own.
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
        let mut dest_views = Vec::with_capacity(inner.clusters().len());
        let mut policy_of = Vec::with_capacity(inner.clusters().len());
        let mut dest_choice = Vec::with_capacity(inner.clusters().len());
        let mut service_choice = Vec::new();
        let mut at_port = Vec::new();
        let mut portless_keys = Vec::with_capacity(inner.clusters().len());
        for key in inner.clusters() {
            let start = clusters.len() as u32;
            let subset = key.subset.as_deref();
            let name = match &key.subset {
                Some(s) => format!("{}/{s}", key.host),
                None => key.host.to_string(),
            };
            for view in inner.policy_views(&key.host) {
                // The subset of the DestinationRule this view sees; an undefined subset is a
                // cluster that does not exist, so it selects nothing.
                let selector: Option<Vec<(&str, &str)>> = match subset {
                    None => Some(Vec::new()),
                    Some(s) => inner.policy(view).and_then(|p| {
                        let x = p.subset(s)?;
                        Some(x.labels.iter().map(|(k, v)| (&**k, &**v)).collect())
                    }),
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
                let portless = inner.balancer(view, subset, None);
                portless_keys.push(portless.map_or_else(HashPolicy::default, |lb| lb.hash.clone()));
                let index = clusters.len() as u32;
                if key.port.is_none() {
                    for port in cluster_ports(inner, view, subset, &eps) {
                        let lb = inner.settings(view, subset, Some(port));
                        let cluster = Cluster::build(name.clone(), serving(&eps, port), lb)?;
                        at_port.push((index, port, cluster));
                    }
                }
                let eps = match key.port {
                    Some(port) => serving(&eps, port),
                    None => eps,
                };
                let lb = inner.settings(view, subset, key.port);
                clusters.push(Cluster::build(name.clone(), eps, lb)?);
                policy_of.push(view);
            }
            dest_views.push((start, clusters.len() as u32 - start));
            let views = &policy_of[start as usize..];
            dest_choice.push(ViewChoice::new(inner, &key.host, views));
        }
        let mut services = BTreeMap::new();
        let mut service_clusters = Vec::new();
        let mut services_at_port = Vec::new();
        for host in registry.hosts() {
            let eps = registry.endpoints(host);
            let start = service_clusters.len() as u32;
            for view in inner.policy_views(host) {
                let index = service_clusters.len() as u32;
                for port in cluster_ports(inner, view, None, eps) {
                    let lb = inner.settings(view, None, Some(port));
                    let cluster = Cluster::build(host.to_string(), serving(eps, port), lb)?;
                    services_at_port.push((index, port, cluster));
                }
                let lb = inner.settings(view, None, None);
                service_clusters.push((view, Cluster::build(host.to_string(), eps.to_vec(), lb)?));
            }
            services.insert(host.into(), (start, service_clusters.len() as u32 - start));
            let views: Vec<Option<u32>> = service_clusters[start as usize..]
                .iter()
                .map(|(v, _)| *v)
                .collect();
            service_choice.push((start, ViewChoice::new(inner, host, &views)));
        }
        Ok(Router {
            table: table.clone(),
            clusters,
            dest_views,
            policy_of,
            dest_choice,
            service_choice,
            services,
            service_clusters,
            at_port,
            services_at_port,
            portless_keys,
            now_ms: AtomicU64::new(0),
        })
    }

    /// The index in `clusters` of destination cluster `id` under the DestinationRule the
    /// request's client sees for `host`. Allocates nothing.
    fn dest_cluster<R: Request + ?Sized>(&self, id: u32, host: &str, req: &R) -> Option<u32> {
        let &(start, len) = self.dest_views.get(id as usize)?;
        if len <= 1 {
            return (len == 1).then_some(start);
        }
        if let Some(at) = self
            .dest_choice
            .get(id as usize)
            .and_then(|c| c.offset(req))
        {
            return Some(start + at);
        }
        let seen = self.table.inner.policy_for(req, host);
        let views = &self.policy_of[start as usize..(start + len) as usize];
        let at = views.iter().position(|v| *v == seen).unwrap_or(0);
        Some(start + at as u32)
    }

    /// The index in `service_clusters` of `host`'s whole-service cluster (`range`) under the
    /// DestinationRule the request's client sees. Allocates nothing.
    fn service_cluster<R: Request + ?Sized>(&self, range: (u32, u32), host: &str, req: &R) -> u32 {
        let (start, len) = range;
        if len <= 1 {
            return start;
        }
        let choice = self
            .service_choice
            .binary_search_by_key(&start, |(s, _)| *s)
            .ok()
            .and_then(|i| self.service_choice[i].1.offset(req));
        if let Some(at) = choice {
            return start + at;
        }
        let seen = self.table.inner.policy_for(req, host);
        let views = &self.service_clusters[start as usize..(start + len) as usize];
        start + views.iter().position(|(v, _)| *v == seen).unwrap_or(0) as u32
    }

    /// Requests picked per endpoint since this router was built: `(cluster, endpoint, count)`
    /// for every healthy endpoint of every cluster.
    pub fn endpoint_counts(&self) -> Vec<(&str, &Endpoint, u64)> {
        self.clusters
            .iter()
            .chain(self.service_clusters.iter().map(|(_, c)| c))
            .chain(self.at_port.iter().map(|(_, _, c)| c))
            .chain(self.services_at_port.iter().map(|(_, _, c)| c))
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
        match self.target(decision, req) {
            Ok((cluster, id, forward)) => {
                let hash = self.hash(cluster, forward, req, Some(decision.draw));
                cluster.pick(hash, draw, id, req, self.now())
            }
            Err(pick) => pick,
        }
    }

    /// Picks the endpoint of the next try after `verdict` ([`Decision::retry_after`]): the
    /// decision's cluster (Envoy retries within the cluster the first try chose), with a
    /// new `draw`; when the verdict avoids previous hosts, a pick that is one of `tried`
    /// (compared by address and port) is made again up to
    /// [`RetryVerdict::host_selection_attempts`](crate::retry::RetryVerdict) times, as
    /// Envoy's previous-hosts predicate has the load balancer do (ring hash steps along the
    /// ring, Maglev alters the hash, the other policies draw again), and the last pick
    /// stands. Allocates nothing.
    ///
    /// # Example
    /// ```
    /// use std::time::Duration;
    /// use meshroute::registry::{Endpoint, Registry, Router};
    /// use meshroute::retry::UpstreamResult;
    /// use meshroute::{OwnedRequest, Table};
    /// let table = Table::from_yaml(include_str!("../../examples/bookinfo.yaml"))?;
    /// let mut reg = Registry::new();
    /// let host = "ratings.default.svc.cluster.local";
    /// reg.add(host, Endpoint::new("10.0.0.1", 9080).label("version", "v1"));
    /// reg.add(host, Endpoint::new("10.0.0.2", 9080).label("version", "v1"));
    /// let router = Router::new(&table, &reg)?;
    /// let req = OwnedRequest::new("GET", "http://ratings/").from_namespace("default");
    /// let routed = router.decide_with_draw(&req, 3);
    /// let first = routed.pick.endpoint().unwrap().endpoint;
    /// let verdict = routed.decision.retry_after(&UpstreamResult::ConnectFailure, 1, Duration::ZERO, 9).unwrap();
    /// let next = router.pick_retry(&routed.decision, &req, 9, &verdict, &[first]);
    /// assert_ne!(next.endpoint().unwrap().endpoint.address, first.address);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn pick_retry<R: Request + ?Sized>(
        &self,
        decision: &Decision<'_>,
        req: &R,
        draw: u64,
        verdict: &crate::retry::RetryVerdict,
        tried: &[&Endpoint],
    ) -> Pick<'_> {
        let (cluster, id, forward) = match self.target(decision, req) {
            Ok(t) => t,
            Err(pick) => return pick,
        };
        // The same hash as the first try's: a generated cookie comes from the decision's draw.
        let hash = self.hash(cluster, forward, req, Some(decision.draw));
        let verdict = &self.refine(decision, cluster, forward, *verdict);
        let again = if verdict.avoid_previous_hosts {
            verdict.host_selection_attempts
        } else {
            0
        };
        let same = |t: &&Endpoint, e: &Endpoint| t.address == e.address && t.port == e.port;
        // `retryRemoteLocalities`: istiod sets Envoy's `previous_priorities` retry priority with
        // `update_frequency: 2`: the first retry keeps the priority load; from the second on,
        // the levels of the tries before the last update (every second try) are left out.
        let skipped: &[&Endpoint] = if verdict.remote_localities {
            &tried[..tried.len() / 2 * 2]
        } else {
            &[]
        };
        cluster.pick_avoiding(
            hash,
            draw,
            id,
            req,
            self.now(),
            again,
            |e| tried.iter().any(|t| same(t, e)),
            |e| skipped.iter().any(|t| same(t, e)),
        )
    }

    /// The cluster a decision sends to, its id and the rule's forward action whose
    /// destinations' hash policies apply (`None` for the mesh default route, where the
    /// cluster's own policy applies); or the pick when there is no cluster to pick from.
    /// `verdict` ([`Decision::retry_after`]) as the cluster the decision sends to refines it:
    /// when the route sends to a single destination whose cluster balances by consistent hash
    /// and the rule does not write `retryIgnorePreviousHosts`, istiod leaves the
    /// previous-hosts predicate out (retry.go `DefaultConsistentHashPolicy`: a hashed request
    /// is retried on the endpoint its hash names), so `avoid_previous_hosts` is false. Otherwise
    /// the verdict as given. [`Router::pick_retry`] applies this itself.
    pub fn retry_verdict<R: Request + ?Sized>(
        &self,
        decision: &Decision<'_>,
        req: &R,
        verdict: crate::retry::RetryVerdict,
    ) -> crate::retry::RetryVerdict {
        match self.target(decision, req) {
            Ok((cluster, _, forward)) => self.refine(decision, cluster, forward, verdict),
            Err(_) => verdict,
        }
    }

    /// [`Router::retry_verdict`] for a target already found.
    fn refine(
        &self,
        decision: &Decision<'_>,
        cluster: &Cluster,
        forward: Option<&Forward>,
        mut verdict: crate::retry::RetryVerdict,
    ) -> crate::retry::RetryVerdict {
        let single = forward.is_some_and(|f| f.destinations.len() == 1);
        let written = decision
            .retries()
            .is_some_and(|r| r.retry_ignore_previous_hosts.is_some());
        if single && cluster.policy.is_consistent_hash() && !written {
            verdict.avoid_previous_hosts = false;
        }
        verdict
    }

    fn target<'s, 'd, R: Request + ?Sized>(
        &'s self,
        decision: &'d Decision<'_>,
        req: &R,
    ) -> Result<(&'s Cluster, ClusterId, Option<&'d Forward>), Pick<'s>> {
        let (cluster, id) = match &decision.outcome {
            Outcome::Passthrough => {
                // The mesh default route: the addressed Service, found as the host is.
                let domain = self.table.inner.cluster_domain();
                let c = with_request_host(req.authority(), |host| {
                    lookup_names(host, req.source_namespace(), Some(domain), |name, _| {
                        self.services.get_key_value(name)
                    })
                });
                let Some((host, &range)) = c else {
                    return Err(Pick::NoEndpoints);
                };
                let index = self.service_cluster(range, host, req);
                // The addressed port's cluster when port-level settings give it its own.
                let at = decision.port.and_then(|port| {
                    self.services_at_port
                        .iter()
                        .position(|(i, p, _)| *i == index && *p == port)
                });
                match at {
                    Some(i) => (
                        &self.services_at_port[i].2,
                        ClusterId::ServiceAtPort(i as u32),
                    ),
                    None => (
                        &self.service_clusters[index as usize].1,
                        ClusterId::Service(index),
                    ),
                }
            }
            Outcome::PassthroughCluster => return Err(Pick::OriginalDestination),
            Outcome::Matched(m) => {
                // An abort answers without forwarding, also a gRPC one (status 200).
                if decision.status() != 200 || m.abort.is_some() {
                    return Err(Pick::NotForwarded);
                }
                let (Some(w), Action::Forward(f)) = (m.destination, &m.rule.action) else {
                    return Err(Pick::NotForwarded);
                };
                // A decision of another table names a cluster this router does not have.
                let Some(index) =
                    self.dest_cluster(w.destination.cluster, &w.destination.host, req)
                else {
                    return Err(Pick::NoEndpoints);
                };
                // A port from the request: that port's cluster when port-level settings give
                // it its own.
                let at = match (w.destination.port, decision.port) {
                    (None, Some(port)) => self
                        .at_port
                        .iter()
                        .position(|(c, p, _)| *c == index && *p == port),
                    _ => None,
                };
                let (cluster, cid) = match at {
                    Some(i) => (&self.at_port[i].2, ClusterId::DestinationAtPort(i as u32)),
                    None => (
                        &self.clusters[index as usize],
                        ClusterId::Destination(index),
                    ),
                };
                return Ok((cluster, cid, Some(f)));
            }
            _ => return Err(Pick::NotForwarded),
        };
        // The mesh default route carries the service's own hash policy.
        Ok((cluster, id, None))
    }

    /// The request's hash key for a pick in `cluster` (consistent hash only): the route's
    /// ([`Router::route_policies`]) when `forward` is a rule's, else the cluster's own.
    /// `draw` is the decision's, for generated cookies (`None`: none generated). Allocates
    /// nothing.
    fn hash<R: Request + ?Sized>(
        &self,
        cluster: &Cluster,
        forward: Option<&Forward>,
        req: &R,
        draw: Option<u64>,
    ) -> Option<u64> {
        let mut key = HashKey::new();
        self.each_policy(cluster, forward, req, |p| p.add_to(&mut key, req, draw));
        key.hash()
    }

    /// Calls `f` with each hash policy Envoy evaluates for a pick in `cluster`, in order:
    /// none when the cluster does not hash (Envoy computes the hash key only for a hashing
    /// load balancer); the route's when `forward` is a rule's ([`Router::route_policies`]);
    /// else the cluster's own (the mesh default route).
    fn each_policy<'s, R: Request + ?Sized>(
        &'s self,
        cluster: &'s Cluster,
        forward: Option<&Forward>,
        req: &R,
        mut f: impl FnMut(&'s HashPolicy),
    ) {
        if !cluster.policy.is_consistent_hash() {
            return;
        }
        match forward {
            Some(forward) => self.route_policies(forward, req, f),
            None => f(&cluster.hash_policies),
        }
    }

    /// The `Set-Cookie` header values Envoy's router adds to the response of `routed` (this
    /// router's decision for `req` and its pick): for each DestinationRule
    /// `consistentHash.httpCookie` with a `ttl` among the hash policies of the pick whose
    /// cookie the request lacks (absent or empty), the cookie generated for it, whose hash
    /// placed the request ([`EndpointPick::hash`](crate::registry::EndpointPick::hash)), so
    /// that the next request carrying it lands on the same endpoint. Envoy's
    /// `makeSetCookieValue` form ([`crate::session::set_cookie`]): `name="value"`,
    /// `; Max-Age=N` (whole seconds of the `ttl`; left out for `0s`, a session cookie),
    /// `; Path=P` when `path` is set, each attribute, `; HttpOnly`. The value is
    /// [`crate::hash::generated_cookie_value`] of the decision's draw (Envoy derives it from
    /// the connection's addresses).
    ///
    /// One per policy in Envoy's order, so a weighted route whose destinations share one
    /// DestinationRule lists the same cookie once per destination, as Envoy sends it. Empty
    /// when no endpoint was picked (Envoy adds the cookies to an upstream response only),
    /// when the cluster does not hash, when the request carries every cookie, and for an
    /// `httpCookie` without a `ttl`. Allocates (only here: deciding and picking do not).
    ///
    /// # Example
    /// ```
    /// use meshroute::registry::{Endpoint, Registry, Router};
    /// use meshroute::{OwnedRequest, Table};
    /// let table = Table::from_yaml(r#"
    /// apiVersion: networking.istio.io/v1
    /// kind: DestinationRule
    /// metadata: {name: cart, namespace: default}
    /// spec:
    ///   host: cart
    ///   trafficPolicy:
    ///     loadBalancer:
    ///       consistentHash: {httpCookie: {name: lb, ttl: 3600s, path: /}}
    /// "#)?;
    /// let mut reg = Registry::new();
    /// for ip in ["10.0.0.1", "10.0.0.2", "10.0.0.3"] {
    ///     reg.add("cart.default.svc.cluster.local", Endpoint::new(ip, 8080));
    /// }
    /// let router = Router::new(&table, &reg)?;
    /// let first = OwnedRequest::new("GET", "http://cart/");
    /// let routed = router.decide_with_draw(&first, 7);
    /// let cookies = router.set_cookies(&routed, &first);
    /// assert_eq!(cookies.len(), 1);
    /// assert!(cookies[0].ends_with("; Max-Age=3600; Path=/; HttpOnly"));
    /// // The browser sends the cookie back: the next request lands on the same endpoint.
    /// let value = cookies[0].split(';').next().unwrap().trim_start_matches("lb=");
    /// let next = OwnedRequest::new("GET", "http://cart/").header("cookie", &format!("lb={value}"));
    /// let again = router.decide_with_draw(&next, 99);
    /// assert_eq!(again.pick.endpoint().unwrap().endpoint.address, routed.pick.endpoint().unwrap().endpoint.address);
    /// assert!(router.set_cookies(&again, &next).is_empty());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn set_cookies<R: Request + ?Sized>(&self, routed: &Routed<'_>, req: &R) -> Vec<String> {
        self.set_cookies_for(&routed.decision, &routed.pick, req)
    }

    /// [`Router::set_cookies`] for a decision and the pick made for it apart (as a proxy
    /// holds them: the decision from the route layer, the pick from [`Router::pick`]).
    pub fn set_cookies_for<R: Request + ?Sized>(
        &self,
        decision: &Decision<'_>,
        pick: &Pick<'_>,
        req: &R,
    ) -> Vec<String> {
        let mut out = Vec::new();
        if pick.endpoint().is_none() {
            return out;
        }
        if let Ok((cluster, _, forward)) = self.target(decision, req) {
            let draw = decision.draw;
            self.each_policy(cluster, forward, req, |p| {
                p.set_cookies(req, draw, &mut out)
            });
        }
        out
    }

    /// Picks an endpoint of `destination`'s cluster, as for a mirror's copy of `req`: the
    /// cluster's own balancer, with its DestinationRule hash key when it hashes. Allocates
    /// nothing.
    pub fn pick_destination<R: Request + ?Sized>(
        &self,
        destination: &crate::action::Destination,
        req: &R,
        draw: u64,
    ) -> Pick<'_> {
        let Some(id) = self.dest_cluster(destination.cluster, &destination.host, req) else {
            return Pick::NoEndpoints;
        };
        let cluster = &self.clusters[id as usize];
        // A mirror's copy gets no response to carry a cookie: none is generated for it.
        cluster.pick(
            self.hash(cluster, None, req, None),
            draw,
            ClusterId::Destination(id),
            req,
            self.now(),
        )
    }

    /// Calls `f` with the hash policies Istio puts on the route, in order: one per
    /// destination (weight-0 destinations of a split skipped), the DestinationRule
    /// `consistentHash` of that destination's (host, subset) (and of its port-level entry
    /// only when the destination writes its port). Envoy combines their hashes in this order
    /// with [`HashKey`]; one destination: that key's hash.
    fn route_policies<'s, R: Request + ?Sized>(
        &'s self,
        forward: &Forward,
        req: &R,
        mut f: impl FnMut(&'s HashPolicy),
    ) {
        let several = forward.destinations.len() > 1;
        for d in &forward.destinations {
            if several && d.weight == 0 {
                continue;
            }
            let Some(id) = self.dest_cluster(d.destination.cluster, &d.destination.host, req)
            else {
                continue;
            };
            let id = id as usize;
            let policy = match d.destination.port_from {
                PortFrom::Configured => self.clusters.get(id).map(|c| &c.hash_policies),
                _ => self.portless_keys.get(id),
            };
            if let Some(p) = policy {
                f(p);
            }
        }
    }

    /// Reports that a request to `pick`'s endpoint started (for LEAST_REQUEST). Report to the
    /// router that made the pick: a pick of another router (e.g. the one before
    /// [`Router::with_registry`]) is ignored, and a new router starts with no request in
    /// flight.
    ///
    /// The cluster's count of requests in flight is what its `connectionPool` limits are
    /// checked against ([`Pick::Overflow`]).
    pub fn started(&self, pick: &EndpointPick<'_>) {
        if let Some((cluster, c)) = self.in_flight(pick) {
            c.fetch_add(1, Ordering::Relaxed);
            cluster.active.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Reports that a request to `pick`'s endpoint finished (for LEAST_REQUEST); the count
    /// never goes below 0.
    pub fn finished(&self, pick: &EndpointPick<'_>) {
        if let Some((cluster, c)) = self.in_flight(pick) {
            let down = |n: u32| n.checked_sub(1);
            if c.fetch_update(Ordering::Relaxed, Ordering::Relaxed, down)
                .is_ok()
            {
                let _ = cluster
                    .active
                    .fetch_update(Ordering::Relaxed, Ordering::Relaxed, down);
            }
        }
    }

    /// Reports the result of a request to `pick`'s endpoint at `now` (a monotonic time of the
    /// caller's clock: the router reads none), for outlier detection: the response status, or
    /// 503 for a connect failure and 504 for a timeout, as Envoy maps them (envoy
    /// outlier_detection_impl.cc `putHttpResponseCode`). When the cluster's DestinationRule
    /// sets `outlierDetection`, the `consecutive5xxErrors`-th 5xx in a row (default 5), or the
    /// `consecutiveGatewayErrors`-th 502/503/504, ejects the endpoint for `baseEjectionTime` ×
    /// the times it was ejected (default 30 s; at most 300 s or the base; the count falls by
    /// one per `interval` spent back), unless that would eject more than `maxEjectionPercent`
    /// of the cluster's endpoints (default 10 %: a cluster of fewer than 10 ejects none).
    /// An ejected endpoint is back once its time has passed (not at Envoy's next sweep);
    /// later picks see ejections at the latest time reported. A pick of another router is
    /// ignored.
    ///
    /// # Example
    /// ```
    /// use std::time::Duration;
    /// use meshroute::registry::{Ejection, Endpoint, Registry, Router};
    /// use meshroute::{OwnedRequest, Table};
    /// let table = Table::from_yaml(r#"
    /// apiVersion: networking.istio.io/v1
    /// kind: DestinationRule
    /// metadata: {name: ratings, namespace: default}
    /// spec:
    ///   host: ratings
    ///   trafficPolicy:
    ///     outlierDetection: {consecutive5xxErrors: 2, baseEjectionTime: 10s, maxEjectionPercent: 50}
    /// "#)?;
    /// let mut reg = Registry::new();
    /// reg.add("ratings.default.svc.cluster.local", Endpoint::new("10.0.0.1", 9080));
    /// reg.add("ratings.default.svc.cluster.local", Endpoint::new("10.0.0.2", 9080));
    /// let router = Router::new(&table, &reg)?;
    /// let req = OwnedRequest::new("GET", "http://ratings/");
    /// let pick = router.decide_with_draw(&req, 1).pick.endpoint().unwrap();
    /// let t = Duration::from_secs(100);
    /// assert_eq!(router.report_status(&pick, 500, t), Ejection::None);
    /// assert_eq!(
    ///     router.report_status(&pick, 503, t),
    ///     Ejection::Ejected { for_ms: 10_000, gateway: false }
    /// );
    /// // Every pick now avoids the ejected endpoint, until 10 s have passed.
    /// for draw in 0..20 {
    ///     let p = router.decide_with_draw(&req, draw).pick.endpoint().unwrap();
    ///     assert_ne!(p.endpoint.address, pick.endpoint.address);
    /// }
    /// router.advance_to(t + Duration::from_secs(10));
    /// assert!((0..20).any(|d| router.decide_with_draw(&req, d).pick.endpoint().unwrap().endpoint.address
    ///     == pick.endpoint.address));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn report_status(&self, pick: &EndpointPick<'_>, status: u16, now: Duration) -> Ejection {
        self.advance_to(now);
        match self.in_flight(pick) {
            Some((cluster, _)) => cluster.report(pick.index as usize, status, millis(now)),
            None => Ejection::None,
        }
    }

    /// Moves the router's time to `now` (never back): ejections that ran out by then end.
    pub fn advance_to(&self, now: Duration) {
        self.now_ms.fetch_max(millis(now), Ordering::Relaxed);
    }

    /// Until when (on the caller's clock) `pick`'s endpoint is ejected, if it is at the
    /// router's time.
    pub fn ejected_until(&self, pick: &EndpointPick<'_>) -> Option<Duration> {
        let (cluster, _) = self.in_flight(pick)?;
        cluster.hosts[pick.index as usize]
            .ejected_until(self.now())
            .map(Duration::from_millis)
    }

    /// The router's time, ms.
    fn now(&self) -> u64 {
        self.now_ms.load(Ordering::Relaxed)
    }

    /// The in-flight counter of `pick`'s endpoint, when the pick is this router's (a pick of
    /// another router, e.g. the one before a registry update, is ignored).
    fn in_flight(&self, pick: &EndpointPick<'_>) -> Option<(&Cluster, &AtomicU32)> {
        let cluster = match pick.cluster_id {
            ClusterId::Destination(id) => self.clusters.get(id as usize)?,
            ClusterId::Service(i) => &self.service_clusters.get(i as usize)?.1,
            ClusterId::DestinationAtPort(i) => &self.at_port.get(i as usize)?.2,
            ClusterId::ServiceAtPort(i) => &self.services_at_port.get(i as usize)?.2,
        };
        let i = pick.index as usize;
        std::ptr::eq(cluster.endpoints.get(i)?, pick.endpoint)
            .then(|| (cluster, &cluster.in_flight[i]))
    }
}

impl<'r> Routed<'r> {
    /// The decision's attributes ([`Decision::span_fields`]) with the endpoint picked and the
    /// status after the pick (503 when no endpoint can take the request). Allocates nothing.
    pub fn span_fields(&self) -> SpanFields<'r> {
        let mut f = self.decision.span_fields();
        f.status = self.status();
        if let Some(p) = self.pick.endpoint() {
            f.endpoint_address = Some(&p.endpoint.address);
            f.endpoint_port = Some(p.endpoint.port);
        }
        f
    }
}

/// The ports a cluster whose port comes from the request gets a cluster of its own at, as
/// Envoy has one `outbound|PORT|subset|host` per Service port: the ports with DestinationRule
/// port-level settings for (`host`, `subset`), and each Service port of a multi-port Service
/// (its endpoints' [`Endpoint::service_port`]s), so each port's traffic reaches its own target
/// port.
fn cluster_ports(
    inner: &crate::table::Inner,
    policy: Option<u32>,
    subset: Option<&str>,
    endpoints: &[Endpoint],
) -> Vec<u16> {
    let mut ports = inner
        .policy(policy)
        .map_or_else(Vec::new, |p| p.port_level_ports(subset));
    let served: std::collections::BTreeSet<u16> =
        endpoints.iter().filter_map(|e| e.service_port).collect();
    if served.len() > 1 {
        ports.extend(served);
        ports.sort_unstable();
        ports.dedup();
    }
    ports
}

/// Milliseconds of a caller's time, saturating.
fn millis(t: Duration) -> u64 {
    u64::try_from(t.as_millis()).unwrap_or(u64::MAX)
}

/// The endpoints that can serve Service port `port` ([`Endpoint::serves`]).
fn serving(endpoints: &[Endpoint], port: u16) -> Vec<Endpoint> {
    endpoints
        .iter()
        .filter(|e| e.serves(port))
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::OwnedRequest;

    /// The view a router chooses for a client by its namespace alone is the one the client's
    /// DestinationRule lookup gives: rules private to their namespace, exported to every
    /// namespace or to one by name (a namespace only a rule's `exportTo` names), the root
    /// namespace's, a ServiceEntry host exported to a few namespaces, and a rule with a
    /// workload selector (looked up).
    #[test]
    fn views_chosen_by_namespace_agree_with_the_lookup() {
        let table = Table::from_yaml(
            r#"
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews, namespace: bookinfo}
spec:
  host: reviews
  exportTo: [.]
  subsets: [{name: v1, labels: {version: v1}}, {name: v2, labels: {version: v2}}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews-for-b, namespace: team-a}
spec:
  host: reviews.bookinfo.svc.cluster.local
  exportTo: [team-b]
  subsets: [{name: v1, labels: {version: v2}}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews-all, namespace: istio-system}
spec:
  host: "*.bookinfo.svc.cluster.local"
  subsets: [{name: v2, labels: {version: v1}}]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: api, namespace: egress}
spec:
  hosts: [api.example.com]
  exportTo: [., team-b]
  ports: [{number: 443, name: tls, protocol: TLS}]
  resolution: NONE
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: api, namespace: egress}
spec:
  host: api.example.com
  exportTo: [team-a]
  subsets: [{name: v1, labels: {version: v1}}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: ratings, namespace: bookinfo}
spec:
  host: ratings
  workloadSelector: {matchLabels: {app: productpage}}
  subsets: [{name: v1, labels: {version: v1}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: all, namespace: bookinfo}
spec:
  hosts: [reviews, ratings, api.example.com]
  http:
  - route:
    - {destination: {host: reviews, subset: v1}, weight: 30}
    - {destination: {host: reviews, subset: v2}, weight: 30}
    - {destination: {host: ratings, subset: v1}, weight: 20}
    - {destination: {host: api.example.com, subset: v1}, weight: 20}
"#,
        )
        .expect("the configuration compiles");
        let mut registry = Registry::new();
        for (host, ip) in [
            ("reviews.bookinfo.svc.cluster.local", "10.0.0.1"),
            ("ratings.bookinfo.svc.cluster.local", "10.0.0.2"),
            ("api.example.com", "10.0.0.3"),
        ] {
            registry.add(host, Endpoint::new(ip, 80).label("version", "v1"));
        }
        let router = Router::new(&table, &registry).expect("the router builds");
        let inner = &table.inner;
        let mut chosen = 0;
        for (id, key) in inner.clusters().iter().enumerate() {
            let (start, len) = router.dest_views[id];
            for ns in [
                "bookinfo",
                "team-a",
                "team-b",
                "istio-system",
                "egress",
                "other",
            ] {
                for labels in [None, Some("productpage")] {
                    let mut req = OwnedRequest::new("GET", "http://reviews/").from_namespace(ns);
                    if let Some(app) = labels {
                        req = req.source_label("app", app);
                    }
                    let seen = inner.policy_for(&req, &key.host);
                    let views = &router.policy_of[start as usize..(start + len) as usize];
                    let want = start + views.iter().position(|v| *v == seen).unwrap_or(0) as u32;
                    let got = router.dest_cluster(id as u32, &key.host, &req);
                    assert_eq!(got, Some(want), "{key:?} from {ns} ({labels:?})");
                    chosen += usize::from(router.dest_choice[id].offset(&req).is_some());
                }
            }
        }
        // Most answers come from the namespace alone; the selector's host needs the lookup.
        assert!(chosen > 0);
        assert!(
            router
                .dest_choice
                .iter()
                .any(|c| matches!(c, ViewChoice::Lookup))
        );
    }
}
