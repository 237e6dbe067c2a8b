//! DestinationRule load balancing, lowered: one [`HostPolicy`] per DestinationRule host, with
//! Istio's merge of several rules for one host already applied, so that the router builds its
//! balancers from compiled types only.

use crate::balance::{HostPolicy, Level, LoadBalancer, Policy};
use crate::compile::CompileOptions;
use crate::config::destination_rule::{LoadBalancerSettings, TrafficPolicy};
use crate::config::{DestinationRuleSpec, Object, Resource};
use crate::hash::KeySource;

use super::lower::expand_host;

/// The load-balancing policy of every host the valid DestinationRules name, in the order the
/// hosts first appear.
pub(crate) fn lower_policies(valid: &[&Resource], options: &CompileOptions) -> Vec<HostPolicy> {
    let mut policies: Vec<HostPolicy> = Vec::new();
    for o in in_precedence_order(valid, &options.default_namespace) {
        let host = rule_host(o, options);
        let i = match policies.iter().position(|p| *p.host == *host) {
            Some(i) => i,
            None => {
                policies.push(HostPolicy {
                    host: host.into(),
                    top: None,
                    subsets: Vec::new(),
                });
                policies.len() - 1
            }
        };
        let policy = &mut policies[i];
        // The top-level policy of the first rule that has one.
        if policy.top.is_none() {
            policy.top = o.spec.traffic_policy.as_ref().map(level);
        }
        // Subsets by name, the first definition winning.
        for s in o.spec.subsets.iter().flatten() {
            let name = s.name.as_deref().unwrap_or("");
            if !policy.subsets.iter().any(|(n, _)| **n == *name) {
                policy
                    .subsets
                    .push((name.into(), s.traffic_policy.as_ref().map(level)));
            }
        }
    }
    policies
}

/// The valid DestinationRules in the order Istio merges them: oldest first, then by name, then
/// by namespace (istio/istio pilot/pkg/model/push_context.go `setDestinationRules` sorts with
/// `sortConfigBySelectorAndCreationTime` before `mergeDestinationRule`), then load order. So
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
    super::in_creation_order(valid, pick, ns_default)
}

/// A DestinationRule's `host`, fully qualified in the rule's namespace.
pub(crate) fn rule_host(o: &Object<DestinationRuleSpec>, options: &CompileOptions) -> String {
    expand_host(
        o.spec.host.as_deref().unwrap_or(""),
        o.namespace(&options.default_namespace),
        &options.cluster_domain,
    )
}

/// One traffic-policy level: its `loadBalancer` and its `portLevelSettings` entries (an entry
/// for a port outside 1..=65535 can never apply and is left out).
fn level(t: &TrafficPolicy) -> Level {
    Level {
        balancer: t.load_balancer.as_ref().map(load_balancer),
        ports: t
            .port_level_settings
            .iter()
            .flatten()
            .filter_map(|pl| {
                let port = u16::try_from(pl.port.as_ref()?.number?).ok()?;
                Some((port, pl.load_balancer.as_ref().map(load_balancer)))
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
            hash_keys: Vec::new(),
            table_size: None,
        };
    };
    let mut hash_keys = Vec::new();
    if let Some(h) = &ch.http_header_name {
        hash_keys.push(KeySource::Header(h.to_ascii_lowercase().into()));
    }
    if let Some(c) = ch.http_cookie.as_ref().and_then(|c| c.name.as_deref()) {
        hash_keys.push(KeySource::Cookie(c.into()));
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
        hash_keys,
        table_size,
    }
}
