//! DestinationRule load balancing, lowered: one [`HostPolicy`] per DestinationRule host, with
//! Istio's merge of several rules for one host already applied, so that the router builds its
//! balancers from compiled types only.

use crate::balance::{
    DrIndex, DrPool, GeneratedCookie, HashPolicy, HostPolicy, Level, LoadBalancer, LocalityLb,
    Outlier, Policy, Pool, Settings, SubsetPolicy,
};
use crate::compile::CompileOptions;
use crate::config::common::Duration;
use crate::config::destination_rule::{
    ConnectionPoolSettings, HttpCookie, LoadBalancerSettings, LocalityLbSetting, OutlierDetection,
    TrafficPolicy,
};
use crate::config::{DestinationRuleSpec, Object, Resource};
use crate::hash::KeySource;

use super::lower::expand_host;

/// Every consolidated DestinationRule and the index of which one each client sees, as istiod
/// builds them (istio/istio pilot/pkg/model/push_context.go `setDestinationRules`): each valid
/// rule, in Istio's order, is merged into the pool of its namespace when it is visible there
/// (`exportTo` empty, `.`, `*` or the namespace), into the pool its namespace exports unless it
/// is private (`exportTo` `.` or its own namespace alone, or empty under a mesh
/// `defaultDestinationRuleExportTo` of `.`), and, private in the root namespace, into the root
/// namespace's own pool. A rule with a workload selector is private to its namespace.
///
/// `rules` are the valid DestinationRules in that order, each with its host
/// ([`with_hosts_in_precedence_order`]).
pub(crate) fn lower_policies(
    rules: &[(&Object<DestinationRuleSpec>, Box<str>)],
    options: &CompileOptions,
) -> (Vec<HostPolicy>, DrIndex) {
    let mesh = &options.mesh;
    // A rule merges into at most two pools: room for a policy of its own in each up front,
    // rather than growing (and moving) the list as it fills.
    let mut policies: Vec<HostPolicy> = Vec::with_capacity(2 * rules.len());
    let mut index = DrIndex {
        root: mesh.root_namespace.as_str().into(),
        domain: options.cluster_domain.as_str().into(),
        ..DrIndex::default()
    };
    let default_private = mesh
        .default_destination_rule_export_to
        .iter()
        .any(|e| e == ".");
    for (o, host) in rules {
        let ns = o.namespace(&options.default_namespace);
        let export_to: Vec<Box<str>> = match &o.spec.workload_selector {
            None => o.spec.export_to.iter().map(|e| e.as_str().into()).collect(),
            Some(_) => vec![".".into()],
        };
        let has = |e: &str| export_to.iter().any(|x| **x == *e);
        if export_to.is_empty() || has("*") || has(".") || has(ns) {
            let pool = index.local.entry(ns.into()).or_default();
            merge(&mut policies, pool, o, ns, host, &export_to);
        }
        let private_only = (export_to.is_empty() && default_private)
            || (export_to.len() == 1 && (has(".") || has(ns)));
        if !private_only {
            let pool = index.exported.entry(ns.into()).or_default();
            merge(&mut policies, pool, o, ns, host, &export_to);
        } else if ns == mesh.root_namespace {
            merge(
                &mut policies,
                &mut index.root_local,
                o,
                ns,
                host,
                &export_to,
            );
        }
    }
    (policies, index)
}

/// Merges rule `o` into `pool`'s list for its host, as istio destination_rule.go
/// `mergeDestinationRule` does (with `ENABLE_ENHANCED_DESTINATIONRULE_MERGE`, the default): into
/// each earlier rule whose `exportTo` is the same (or a subset of the new one's) and whose
/// workload selector is compatible (both without, or both with the same; a rule with a selector
/// takes the subsets of a later one without), adding the subsets it does not define yet and its
/// top-level policy when the earlier one has none; and as an entry of its own unless an earlier
/// rule with the same `exportTo` and selector took it whole.
fn merge(
    policies: &mut Vec<HostPolicy>,
    pool: &mut DrPool,
    o: &Object<DestinationRuleSpec>,
    ns: &str,
    host: &str,
    export_to: &[Box<str>],
) {
    let selector = o.spec.workload_selector.as_ref().map(|w| {
        w.match_labels
            .iter()
            .map(|(k, v)| (k.as_str().into(), v.as_str().into()))
            .collect::<Vec<(Box<str>, Box<str>)>>()
    });
    let list = pool.entry(host);
    let same_set = |a: &[Box<str>], b: &[Box<str>]| {
        a.iter().all(|x| b.contains(x)) && b.iter().all(|x| a.contains(x))
    };
    let mut separately = true;
    for &i in list.iter() {
        let existing = &mut policies[i as usize];
        if same_set(export_to, &existing.export_to) {
            separately = false;
        } else if !existing.export_to.is_empty()
            && existing.export_to.iter().all(|x| export_to.contains(x))
        {
            separately = true;
        } else {
            separately = true;
            continue;
        }
        let selectors_match = match (&existing.selector, &selector) {
            (Some(a), Some(b)) => same_labels(a, b),
            (None, None) => true,
            // Istio compares the label maps, and no selector reads as an empty map.
            (Some(a), None) | (None, Some(a)) => a.is_empty(),
        };
        let both_with = existing.selector.is_some() && selector.is_some();
        if both_with && !selectors_match {
            separately = true;
            continue;
        }
        let both_without = existing.selector.is_none() && selector.is_none();
        if both_without || (both_with && selectors_match) {
            separately = false;
        }
        existing.from.push(name_of(o, ns));
        add_subsets(existing, o);
        if existing.top.is_none() {
            existing.top = o.spec.traffic_policy.as_ref().map(level);
        }
    }
    if separately {
        let mut p = HostPolicy {
            host: host.into(),
            top: o.spec.traffic_policy.as_ref().map(level),
            subsets: Vec::new(),
            namespace: ns.into(),
            selector,
            export_to: export_to.to_vec(),
            from: vec![name_of(o, ns)],
        };
        add_subsets(&mut p, o);
        list.push(policies.len() as u32);
        policies.push(p);
    }
}

/// `namespace/name` of a DestinationRule.
fn name_of(o: &Object<DestinationRuleSpec>, ns: &str) -> Box<str> {
    format!("{ns}/{}", o.metadata.name).into()
}

/// Whether two label selectors are the same map.
fn same_labels(a: &[(Box<str>, Box<str>)], b: &[(Box<str>, Box<str>)]) -> bool {
    a.len() == b.len() && a.iter().all(|x| b.contains(x))
}

/// Adds the subsets of `o` that `p` does not define yet (the first definition wins).
fn add_subsets(p: &mut HostPolicy, o: &Object<DestinationRuleSpec>) {
    p.subsets
        .reserve_exact(o.spec.subsets.iter().flatten().count());
    for s in o.spec.subsets.iter().flatten() {
        let name = s.name.as_deref().unwrap_or("");
        if p.subset(name).is_none() {
            p.subsets.push(SubsetPolicy {
                name: name.into(),
                labels: s
                    .labels
                    .iter()
                    .map(|(k, v)| (k.as_str().into(), v.as_str().into()))
                    .collect(),
                level: s.traffic_policy.as_ref().map(level),
            });
        }
    }
}

/// The valid DestinationRules in the order Istio merges them: those with a workload selector
/// first, then oldest first, then by name, then by namespace (istio/istio
/// pilot/pkg/model/push_context.go `sortConfigBySelectorAndCreationTime`), then load order. So
/// when two rules for one host both set a top-level policy or define a subset of one name, the
/// older one's wins.
pub(crate) fn in_precedence_order<'c>(
    valid: &[&'c Resource],
    ns_default: &str,
) -> Vec<&'c Object<DestinationRuleSpec>> {
    let pick = |r: &'c Resource| match r {
        Resource::DestinationRule(o) => Some(&**o),
        _ => None,
    };
    let mut rules = super::in_creation_order(valid, pick, ns_default);
    // Stable: creation order within each group.
    rules.sort_by_key(|o| o.spec.workload_selector.is_none());
    rules
}

/// The valid DestinationRules in precedence order ([`in_precedence_order`]), each with its host
/// ([`rule_host`]): sorted and expanded once per compile, for the subsets placement checks and
/// for the policies.
pub(crate) fn with_hosts_in_precedence_order<'c>(
    valid: &[&'c Resource],
    options: &CompileOptions,
) -> Vec<(&'c Object<DestinationRuleSpec>, Box<str>)> {
    in_precedence_order(valid, &options.default_namespace)
        .into_iter()
        .map(|o| (o, rule_host(o, options).into()))
        .collect()
}

/// A DestinationRule's `host`, fully qualified in the rule's namespace.
pub(crate) fn rule_host(o: &Object<DestinationRuleSpec>, options: &CompileOptions) -> String {
    expand_host(
        o.spec.host.as_deref().unwrap_or(""),
        o.namespace(&options.default_namespace),
        &options.cluster_domain,
    )
}

/// One traffic-policy level: its `loadBalancer`, `outlierDetection` and `connectionPool`, and
/// its `portLevelSettings` entries (an entry for a port outside 1..=65535 can never apply and
/// is left out).
fn level(t: &TrafficPolicy) -> Level {
    Level {
        own: Settings {
            balancer: t.load_balancer.as_ref().map(load_balancer),
            outlier: t.outlier_detection.as_ref().map(outlier),
            pool: t.connection_pool.as_ref().map(pool),
        },
        ports: t
            .port_level_settings
            .iter()
            .flatten()
            .filter_map(|pl| {
                let port = u16::try_from(pl.port.as_ref()?.number?).ok()?;
                Some((
                    port,
                    Settings {
                        balancer: pl.load_balancer.as_ref().map(load_balancer),
                        outlier: pl.outlier_detection.as_ref().map(outlier),
                        pool: pl.connection_pool.as_ref().map(pool),
                    },
                ))
            })
            .collect(),
    }
}

/// Milliseconds of a duration, saturating.
fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_nanos().max(0) / 1_000_000).unwrap_or(u64::MAX)
}

/// `outlierDetection` with Envoy's defaults where Istio leaves a field unset (istio
/// cluster_traffic_policy.go `applyOutlierDetection`; envoy outlier_detection_impl.h
/// `DEFAULT_*`): 5 consecutive 5xx, gateway errors not enforced, 10 s interval, 30 s base
/// ejection time, 10 % at most ejected, a panic threshold of `minHealthPercent` (0 when unset).
/// The deprecated `consecutiveErrors` is Istio's `consecutive5xxErrors` when that is unset.
fn outlier(o: &OutlierDetection) -> Outlier {
    let consecutive_5xx = o
        .consecutive_5xx_errors
        .or_else(|| o.consecutive_errors.and_then(|n| u32::try_from(n).ok()))
        .unwrap_or(5);
    let base = o.base_ejection_time.map_or(30_000, millis);
    Outlier {
        consecutive_5xx,
        consecutive_gateway: o.consecutive_gateway_errors.unwrap_or(0),
        interval_ms: o.interval.map_or(10_000, millis).max(1),
        base_ejection_ms: base,
        max_ejection_ms: base.max(300_000),
        max_ejection_percent: o
            .max_ejection_percent
            .filter(|&p| p > 0)
            .map_or(10, |p| p.min(100) as u32),
        min_health_percent: o.min_health_percent.map_or(0, |p| p.clamp(0, 100) as u32),
    }
}

/// The `connectionPool` limits a request can overflow.
fn pool(p: &ConnectionPoolSettings) -> Pool {
    let limit = |n: Option<i32>| n.and_then(|n| u32::try_from(n).ok()).filter(|&n| n > 0);
    Pool {
        max_connections: limit(p.tcp.as_ref().and_then(|t| t.max_connections)),
        max_pending: limit(p.http.as_ref().and_then(|h| h.http1_max_pending_requests)),
        max_requests: limit(p.http.as_ref().and_then(|h| h.http2_max_requests)),
    }
}

/// `localityLbSetting`, with `key=value` failover priorities split.
fn locality(l: &LocalityLbSetting) -> LocalityLb {
    LocalityLb {
        enabled: l.enabled,
        distribute: l
            .distribute
            .iter()
            .flatten()
            .map(|d| {
                let to =
                    d.to.iter()
                        .map(|(k, &w)| (k.as_str().into(), u32::try_from(w).unwrap_or(0)))
                        .collect();
                (d.from.as_deref().unwrap_or("").into(), to)
            })
            .collect(),
        failover: l
            .failover
            .iter()
            .flatten()
            .map(|f| {
                (
                    f.from.as_deref().unwrap_or("").into(),
                    f.to.as_deref().unwrap_or("").into(),
                )
            })
            .collect(),
        failover_priority: l
            .failover_priority
            .iter()
            .map(|p| match p.split_once('=') {
                Some((k, v)) => (k.into(), Some(v.into())),
                None => (p.as_str().into(), None),
            })
            .collect(),
    }
}

/// A `loadBalancer`: `consistentHash` (Maglev when `maglev` is set, else a ring) with its hash
/// keys, or the `simple` policy (least request when unset or unknown).
fn load_balancer(lb: &LoadBalancerSettings) -> LoadBalancer {
    let Some(ch) = &lb.consistent_hash else {
        let policy = match lb.simple.as_deref() {
            Some("ROUND_ROBIN") => Policy::RoundRobin,
            Some("RANDOM") => Policy::Random,
            Some("PASSTHROUGH") => Policy::Passthrough,
            _ => Policy::LeastRequest,
        };
        return LoadBalancer {
            policy,
            hash: HashPolicy::default(),
            table_size: None,
            locality: lb.locality_lb_setting.as_ref().map(locality),
        };
    };
    let mut hash_keys = Vec::new();
    if let Some(h) = &ch.http_header_name {
        hash_keys.push(KeySource::Header(h.to_ascii_lowercase().into()));
    }
    let mut generate = None;
    if let Some(c) = &ch.http_cookie
        && let Some(name) = c.name.as_deref()
    {
        hash_keys.push(KeySource::Cookie(name.into()));
        generate = c.ttl.map(|ttl| generated_cookie(name, ttl, c));
    }
    if ch.use_source_ip == Some(true) {
        hash_keys.push(KeySource::SourceIp);
    }
    if let Some(q) = &ch.http_query_parameter_name {
        hash_keys.push(KeySource::Query(q.as_str().into()));
    }
    let (policy, table_size) = match &ch.maglev {
        Some(m) => (Policy::Maglev, m.table_size),
        None => (
            Policy::RingHash,
            ch.ring_hash
                .as_ref()
                .and_then(|r| r.minimum_ring_size)
                .or(ch.minimum_ring_size),
        ),
    };
    LoadBalancer {
        policy,
        hash: HashPolicy {
            keys: hash_keys,
            generate,
        },
        table_size,
        locality: lb.locality_lb_setting.as_ref().map(locality),
    }
}

/// The cookie Envoy generates for an `httpCookie` with a `ttl` (istio route.go
/// `ConsistentHashToHashPolicy` passes `name`, `ttl`, `path` and `attributes` on; envoy
/// hash_policy.cc keeps `ttl.seconds` only, so a fraction of a second is dropped and a `ttl`
/// under 1s makes a session cookie). Attributes without a name are left out (validation
/// rejects them).
fn generated_cookie(name: &str, ttl: Duration, c: &HttpCookie) -> GeneratedCookie {
    let seconds = u64::try_from(ttl.as_nanos() / 1_000_000_000).unwrap_or(0);
    GeneratedCookie {
        name: name.into(),
        max_age: std::time::Duration::from_secs(seconds),
        path: c.path.as_deref().unwrap_or("").into(),
        attributes: c
            .attributes
            .iter()
            .flatten()
            .filter_map(|a| {
                let n = a.name.as_deref().filter(|n| !n.is_empty())?;
                Some((n.into(), a.value.as_deref().unwrap_or("").into()))
            })
            .collect(),
    }
}
