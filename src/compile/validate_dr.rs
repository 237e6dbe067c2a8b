//! Validation of an Istio `DestinationRule`, rule for rule as Istio's admission webhook
//! (`ValidateDestinationRule`, `validateTrafficPolicy`, `validateLoadBalancer`,
//! `validateConnectionPool`, `validateOutlierDetection`, `ValidateTLS`,
//! `ValidateLocalityLbSetting`) plus the checks of the CRD schema that the API server applies
//! first (one-ofs, required fields, ranges). See SEMANTICS.md §4.2.
//!
//! Two checks need the resource's namespace, which this function does not get: whether `.` and
//! the namespace's own name are duplicates in `exportTo`, and whether a `configmap://`
//! credential lives in the same namespace. Both are only checked as far as the spec alone
//! allows, so nothing Istio accepts is rejected.

use std::collections::{BTreeMap, HashMap, HashSet};

use super::report::Report;
use crate::config::common::Duration;
use crate::config::destination_rule::{
    ClientTlsSettings, ConnectionPoolSettings, ConsistentHashLb, DestinationRuleSpec, HttpCookie,
    LoadBalancerSettings, LocalityFailover, LocalityLbSetting, OutlierDetection, PortTrafficPolicy,
    Subset, TrafficPolicy, TunnelSettings, WorkloadSelector, ZoneAwareLbSetting,
};

/// Topology labels that `failoverPriority` may not name together with `failover`.
const TOPOLOGY_LABELS: [&str; 3] = [
    "topology.kubernetes.io/region",
    "topology.kubernetes.io/zone",
    "topology.istio.io/subzone",
];

/// Maglev table sizes must be below this (Envoy's limit).
const MAGLEV_TABLE_SIZE_LIMIT: u64 = 5_000_011;

/// The CRD's limit on `portLevelSettings` entries.
const MAX_PORT_LEVEL_SETTINGS: usize = 4096;

const ONE_MS: i128 = 1_000_000;

/// Validates the `spec` of a DestinationRule, recording every problem in `report` with its
/// field path (`spec.…`).
pub(crate) fn validate_destination_rule(spec: &DestinationRuleSpec, report: &mut Report) {
    match spec.host.as_deref() {
        None => report.error(
            "spec.host",
            "host is required; it names the service the rule applies to",
        ),
        Some(host) => {
            if let Err(message) = check_wildcard_domain(host) {
                report.error("spec.host", message);
            }
        }
    }
    if let Some(policy) = &spec.traffic_policy {
        traffic_policy(policy, "spec.trafficPolicy", report);
    }

    let mut names: HashSet<&str> = HashSet::new();
    for (i, subset) in spec.subsets.iter().enumerate() {
        let path = format!("spec.subsets[{i}]");
        let Some(subset) = subset else {
            report.error(&path, "subset is null; remove the entry or give it a name");
            continue;
        };
        if let Some(name) = subset.name.as_deref()
            && !name.is_empty()
            && !names.insert(name)
        {
            report.error(
                format!("{path}.name"),
                format!("duplicate subset name {name:?}; subset names must be unique"),
            );
        }
        validate_subset(subset, &path, report);
    }

    export_to(&spec.export_to, spec.workload_selector.is_some(), report);
    if let Some(selector) = &spec.workload_selector {
        workload_selector(selector, "spec.workloadSelector", report);
    }
}

fn validate_subset(subset: &Subset, path: &str, report: &mut Report) {
    let name_path = format!("{path}.name");
    match subset.name.as_deref() {
        None => report.error(&name_path, "subset name is required"),
        Some("") => report.error(
            &name_path,
            "subset name is empty; it must be a DNS-1123 label",
        ),
        Some(name) => {
            if !is_dns1123_label(name) {
                report.error(
                    &name_path,
                    format!(
                        "subset name {name:?} is not a DNS-1123 label (letters, digits and '-', \
                         starting and ending with a letter or digit, at most 63 characters)"
                    ),
                );
            }
        }
    }
    labels(&subset.labels, &format!("{path}.labels"), report);
    if let Some(policy) = &subset.traffic_policy {
        traffic_policy(policy, &format!("{path}.trafficPolicy"), report);
    }
}

fn traffic_policy(policy: &TrafficPolicy, path: &str, report: &mut Report) {
    if policy.load_balancer.is_none()
        && policy.connection_pool.is_none()
        && policy.outlier_detection.is_none()
        && policy.tls.is_none()
        && policy.port_level_settings.is_empty()
        && policy.tunnel.is_none()
        && policy.proxy_protocol.is_none()
        && policy.retry_budget.is_none()
    {
        report.error(
            path,
            "traffic policy is empty; set at least one of loadBalancer, connectionPool, \
             outlierDetection, tls, portLevelSettings, tunnel, proxyProtocol, retryBudget, or \
             remove it",
        );
        return;
    }
    if policy.tunnel.is_some() && policy.proxy_protocol.is_some() {
        report.error(
            format!("{path}.proxyProtocol"),
            "proxyProtocol cannot be set together with tunnel",
        );
    }
    let outlier = policy.outlier_detection.as_ref();
    if let Some(o) = outlier {
        outlier_detection(o, &format!("{path}.outlierDetection"), report);
    }
    if let Some(pool) = &policy.connection_pool {
        connection_pool(pool, &format!("{path}.connectionPool"), report);
    }
    if let Some(lb) = &policy.load_balancer {
        load_balancer(
            lb,
            outlier.is_some(),
            &format!("{path}.loadBalancer"),
            report,
        );
    }
    if let Some(tls) = &policy.tls {
        client_tls(tls, &format!("{path}.tls"), report);
    }
    port_level_settings(
        &policy.port_level_settings,
        &format!("{path}.portLevelSettings"),
        report,
    );
    if let Some(tunnel) = &policy.tunnel {
        tunnel_settings(tunnel, &format!("{path}.tunnel"), report);
    }
    if let Some(pp) = &policy.proxy_protocol {
        check_enum(
            report,
            &format!("{path}.proxyProtocol.version"),
            pp.version.as_deref(),
            "PROXY protocol version",
            &["V1", "V2"],
        );
    }
    if let Some(budget) = &policy.retry_budget
        && let Some(percent) = budget.percent
        && !(0.0..=100.0).contains(&percent)
    {
        report.error(
            format!("{path}.retryBudget.percent"),
            format!("percentage {percent} is not in range 0..100"),
        );
    }
}

fn port_level_settings(entries: &[Option<PortTrafficPolicy>], path: &str, report: &mut Report) {
    if entries.len() > MAX_PORT_LEVEL_SETTINGS {
        report.error(
            path,
            format!(
                "{} port level settings exceed the limit of {MAX_PORT_LEVEL_SETTINGS}",
                entries.len()
            ),
        );
    }
    for (i, entry) in entries.iter().enumerate() {
        let path = format!("{path}[{i}]");
        let Some(entry) = entry else {
            report.error(
                &path,
                "port traffic policy is null; remove the entry or fill it in",
            );
            continue;
        };
        match &entry.port {
            None => report.error(
                format!("{path}.port"),
                "port is required; a port traffic policy must name the port it applies to",
            ),
            Some(port) => {
                if let Some(n) = port.number
                    && !(0..=i64::from(u32::MAX)).contains(&n)
                {
                    report.error(
                        format!("{path}.port.number"),
                        format!("port number {n} is not in range 0..4294967295"),
                    );
                }
            }
        }
        if entry.load_balancer.is_none()
            && entry.connection_pool.is_none()
            && entry.outlier_detection.is_none()
            && entry.tls.is_none()
        {
            report.error(
                &path,
                "port traffic policy is empty; set at least one of loadBalancer, connectionPool, \
                 outlierDetection, tls",
            );
            continue;
        }
        let outlier = entry.outlier_detection.as_ref();
        if let Some(o) = outlier {
            outlier_detection(o, &format!("{path}.outlierDetection"), report);
        }
        if let Some(pool) = &entry.connection_pool {
            connection_pool(pool, &format!("{path}.connectionPool"), report);
        }
        if let Some(lb) = &entry.load_balancer {
            load_balancer(
                lb,
                outlier.is_some(),
                &format!("{path}.loadBalancer"),
                report,
            );
        }
        if let Some(tls) = &entry.tls {
            client_tls(tls, &format!("{path}.tls"), report);
        }
    }
}

fn tunnel_settings(tunnel: &TunnelSettings, path: &str, report: &mut Report) {
    if let Some(protocol) = tunnel.protocol.as_deref()
        && !matches!(protocol, "" | "CONNECT" | "POST")
    {
        report.error(
            format!("{path}.protocol"),
            format!("tunnel protocol {protocol:?} is not supported; use CONNECT or POST"),
        );
    }
    let host = tunnel.target_host.as_deref().unwrap_or("");
    if let Err(message) = check_fqdn(host)
        && !is_ip_address(host)
    {
        report.error(
            format!("{path}.targetHost"),
            format!("tunnel target host must be a DNS name or an IP address: {message}"),
        );
    }
    let port = tunnel.target_port.unwrap_or(0);
    if !(1..=65535).contains(&port) {
        report.error(
            format!("{path}.targetPort"),
            format!("port number {port} must be in the range 1..65535"),
        );
    }
}

fn outlier_detection(outlier: &OutlierDetection, path: &str, report: &mut Report) {
    if let Some(d) = outlier.base_ejection_time {
        duration(d, &format!("{path}.baseEjectionTime"), report);
    }
    if let Some(n) = outlier.consecutive_errors
        && n != 0
    {
        report.warn(
            "deprecated-field",
            format!("{path}.consecutiveErrors"),
            "consecutiveErrors is deprecated; use consecutiveGatewayErrors or consecutive5xxErrors",
        );
    }
    if let Some(n) = outlier.consecutive_local_origin_failures
        && n > 0
        && outlier.split_external_local_origin_errors != Some(true)
    {
        report.error(
            format!("{path}.consecutiveLocalOriginFailures"),
            format!(
                "consecutiveLocalOriginFailures is {n} but splitExternalLocalOriginErrors is not \
                 true; local-origin failures are only counted when they are split"
            ),
        );
    }
    if let Some(d) = outlier.interval {
        duration(d, &format!("{path}.interval"), report);
    }
    for (field, value) in [
        ("maxEjectionPercent", outlier.max_ejection_percent),
        ("minHealthPercent", outlier.min_health_percent),
    ] {
        if let Some(v) = value
            && !(0..=100).contains(&v)
        {
            report.error(
                format!("{path}.{field}"),
                format!("percentage {v} is not in range 0..100"),
            );
        }
    }
    for (i, code) in outlier
        .outlier_detection_http_error_codes
        .iter()
        .enumerate()
    {
        if !(100..=599).contains(code) {
            report.error(
                format!("{path}.outlierDetectionHttpErrorCodes[{i}]"),
                format!("status code {code} is not in range 100..599"),
            );
        }
    }
}

fn connection_pool(pool: &ConnectionPoolSettings, path: &str, report: &mut Report) {
    if pool.tcp.is_none() && pool.http.is_none() {
        report.error(
            path,
            "connection pool is empty; set tcp or http, or remove it",
        );
        return;
    }
    if let Some(http) = &pool.http {
        let hp = format!("{path}.http");
        for (field, value) in [
            ("http1MaxPendingRequests", http.http1_max_pending_requests),
            ("http2MaxRequests", http.http2_max_requests),
            ("maxRequestsPerConnection", http.max_requests_per_connection),
            ("maxRetries", http.max_retries),
            ("maxConcurrentStreams", http.max_concurrent_streams),
        ] {
            non_negative(value, &hp, field, report);
        }
        if let Some(d) = http.idle_timeout {
            duration(d, &format!("{hp}.idleTimeout"), report);
        }
        let policy = check_enum(
            report,
            &format!("{hp}.h2UpgradePolicy"),
            http.h2_upgrade_policy.as_deref(),
            "h2 upgrade policy",
            &["DEFAULT", "DO_NOT_UPGRADE", "UPGRADE"],
        );
        if policy == Some("UPGRADE") && http.use_client_protocol == Some(true) {
            report.error(
                format!("{hp}.useClientProtocol"),
                "useClientProtocol cannot be true when h2UpgradePolicy is UPGRADE",
            );
        }
        if let Some(keepalive) = &http.http2_keep_alive {
            let kp = format!("{hp}.http2KeepAlive");
            for (field, value) in [
                ("interval", keepalive.interval),
                ("timeout", keepalive.timeout),
            ] {
                match value {
                    None => report.error(
                        format!("{kp}.{field}"),
                        format!("http2KeepAlive.{field} is required"),
                    ),
                    Some(d) => duration(d, &format!("{kp}.{field}"), report),
                }
            }
        }
    }
    if let Some(tcp) = &pool.tcp {
        let tp = format!("{path}.tcp");
        non_negative(tcp.max_connections, &tp, "maxConnections", report);
        if let Some(d) = tcp.connect_timeout {
            duration(d, &format!("{tp}.connectTimeout"), report);
        }
        if let Some(d) = tcp.max_connection_duration {
            duration(d, &format!("{tp}.maxConnectionDuration"), report);
        }
        // Istio skips the check when the timeout truncates to 0ms: `0s` disables it.
        if let Some(d) = tcp.idle_timeout
            && d.as_nanos() / ONE_MS != 0
        {
            duration(d, &format!("{tp}.idleTimeout"), report);
        }
        if let Some(keepalive) = &tcp.tcp_keepalive {
            if let Some(d) = keepalive.time {
                duration(d, &format!("{tp}.tcpKeepalive.time"), report);
            }
            if let Some(d) = keepalive.interval {
                duration(d, &format!("{tp}.tcpKeepalive.interval"), report);
            }
        }
    }
}

fn non_negative(value: Option<i32>, path: &str, field: &str, report: &mut Report) {
    if let Some(v) = value
        && v < 0
    {
        report.error(
            format!("{path}.{field}"),
            format!("{field} {v} is negative; it must be 0 or more"),
        );
    }
}

fn load_balancer(lb: &LoadBalancerSettings, has_outlier: bool, path: &str, report: &mut Report) {
    if lb.simple.is_some() && lb.consistent_hash.is_some() {
        report.error(
            path,
            "simple and consistentHash are both set; only one load-balancing policy can be used",
        );
    }
    let simple = check_enum(
        report,
        &format!("{path}.simple"),
        lb.simple.as_deref(),
        "simple load balancer",
        &[
            "UNSPECIFIED",
            "LEAST_CONN",
            "RANDOM",
            "PASSTHROUGH",
            "ROUND_ROBIN",
            "LEAST_REQUEST",
        ],
    );
    if simple == Some("LEAST_CONN") {
        report.warn(
            "deprecated-field",
            format!("{path}.simple"),
            "LEAST_CONN is deprecated; use LEAST_REQUEST (the same algorithm)",
        );
    }
    if let Some(hash) = &lb.consistent_hash {
        consistent_hash(hash, &format!("{path}.consistentHash"), report);
    }
    if lb.locality_lb_setting.is_some() && lb.zone_aware_lb_setting.is_some() {
        report.error(
            path,
            "localityLbSetting and zoneAwareLbSetting are both set; only one of them can be used",
        );
    }
    if let Some(locality) = &lb.locality_lb_setting {
        locality_lb_setting(
            locality,
            has_outlier,
            &format!("{path}.localityLbSetting"),
            report,
        );
    }
    if let Some(zone) = &lb.zone_aware_lb_setting {
        zone_aware_lb_setting(
            zone,
            has_outlier,
            &format!("{path}.zoneAwareLbSetting"),
            report,
        );
    }
    if let Some(d) = lb.warmup_duration_secs {
        let wp = format!("{path}.warmupDurationSecs");
        report.warn(
            "deprecated-field",
            &wp,
            "warmupDurationSecs is deprecated; use warmup.duration",
        );
        if d.as_nanos() < ONE_MS {
            report.error(&wp, format!("duration {d} must be at least 1ms"));
        }
    }
    if let Some(warmup) = &lb.warmup {
        let wp = format!("{path}.warmup");
        match warmup.duration {
            None => report.error(format!("{wp}.duration"), "warmup duration is required"),
            Some(d) => duration(d, &format!("{wp}.duration"), report),
        }
        if let Some(p) = warmup.minimum_percent
            && !(0.0..=100.0).contains(&p)
        {
            report.error(
                format!("{wp}.minimumPercent"),
                format!("minimumPercent {p} is not in range 0..100"),
            );
        }
        if let Some(a) = warmup.aggression
            && (a.is_nan() || a <= 0.0)
        {
            report.error(
                format!("{wp}.aggression"),
                format!("aggression {a} must be greater than 0"),
            );
        }
    }
}

fn consistent_hash(hash: &ConsistentHashLb, path: &str, report: &mut Report) {
    let keys: Vec<&str> = [
        ("httpHeaderName", hash.http_header_name.is_some()),
        ("httpCookie", hash.http_cookie.is_some()),
        ("useSourceIp", hash.use_source_ip.is_some()),
        (
            "httpQueryParameterName",
            hash.http_query_parameter_name.is_some(),
        ),
    ]
    .into_iter()
    .filter_map(|(name, set)| set.then_some(name))
    .collect();
    if keys.len() > 1 {
        report.error(
            path,
            format!(
                "more than one hash key is set ({}); set only one",
                keys.join(", ")
            ),
        );
    }
    if hash.ring_hash.is_some() && hash.maglev.is_some() {
        report.error(
            path,
            "ringHash and maglev are both set; only one hash algorithm can be used",
        );
    }
    if let Some(cookie) = &hash.http_cookie {
        http_cookie(cookie, &format!("{path}.httpCookie"), report);
    }
    if let Some(size) = hash.minimum_ring_size
        && size != 0
    {
        let mp = format!("{path}.minimumRingSize");
        report.warn(
            "deprecated-field",
            &mp,
            "minimumRingSize is deprecated; use ringHash.minimumRingSize",
        );
        if hash.ring_hash.is_some() || hash.maglev.is_some() {
            report.error(
                &mp,
                "minimumRingSize cannot be set together with ringHash or maglev; use \
                 ringHash.minimumRingSize",
            );
        }
    }
    if let Some(maglev) = &hash.maglev {
        let tp = format!("{path}.maglev.tableSize");
        let size = maglev.table_size.unwrap_or(0);
        if size == 0 {
            report.error(
                &tp,
                "table size is not set; maglev needs a prime table size such as 65537",
            );
        } else if size >= MAGLEV_TABLE_SIZE_LIMIT {
            report.error(
                &tp,
                format!(
                    "table size {size} is too large; maglev table sizes must be less than \
                     {MAGLEV_TABLE_SIZE_LIMIT}"
                ),
            );
        } else if !is_prime(size) {
            report.error(
                &tp,
                format!("table size {size} is not prime; maglev needs a prime table size"),
            );
        }
    }
}

fn http_cookie(cookie: &HttpCookie, path: &str, report: &mut Report) {
    if cookie.name.as_deref().unwrap_or("").is_empty() {
        report.error(
            format!("{path}.name"),
            "cookie name is required for httpCookie",
        );
    }
    let mut seen: HashSet<&str> = HashSet::new();
    for (i, attribute) in cookie.attributes.iter().enumerate() {
        let ap = format!("{path}.attributes[{i}]");
        let name = attribute
            .as_ref()
            .and_then(|a| a.name.as_deref())
            .unwrap_or("");
        if name.is_empty() {
            report.error(format!("{ap}.name"), "cookie attribute name is empty");
        } else if !seen.insert(name) {
            report.error(
                format!("{ap}.name"),
                format!("duplicate cookie attribute name {name:?}; attribute names must be unique"),
            );
        }
    }
}

fn locality_lb_setting(lb: &LocalityLbSetting, has_outlier: bool, path: &str, report: &mut Report) {
    if !lb.distribute.is_empty() && !lb.failover.is_empty() {
        report.error(
            path,
            "distribute and failover are both set; only one of them can be used",
        );
        return;
    }
    if !lb.failover.is_empty() {
        for (i, label) in lb.failover_priority.iter().enumerate() {
            if TOPOLOGY_LABELS.contains(&label.as_str()) {
                report.error(
                    format!("{path}.failoverPriority[{i}]"),
                    format!(
                        "failoverPriority names the topology label {label:?} while failover is \
                         set; \
                         use one or the other"
                    ),
                );
                return;
            }
        }
    }
    let mut sources: Vec<(usize, &str)> = Vec::new();
    for (i, entry) in lb.distribute.iter().enumerate() {
        let dp = format!("{path}.distribute[{i}]");
        let Some(entry) = entry else {
            report.error(&dp, "distribute entry is null");
            return;
        };
        sources.push((i, entry.from.as_deref().unwrap_or("")));
        let mut total: i64 = 0;
        for (locality, weight) in &entry.to {
            if !(1..=100).contains(weight) {
                report.error(
                    format!("{dp}.to[{locality}]"),
                    format!("locality weight {weight} is not in range 1..100"),
                );
                return;
            }
            total += weight;
        }
        if total != 100 {
            report.error(
                format!("{dp}.to"),
                format!("locality weights sum to {total}; they must sum to 100"),
            );
            return;
        }
        if let Err((j, message)) = check_localities(entry.to.keys().map(String::as_str).enumerate())
        {
            let locality = entry.to.keys().nth(j).map(String::as_str).unwrap_or("");
            report.error(format!("{dp}.to[{locality}]"), message);
        }
    }
    if let Err((i, message)) = check_localities(sources.into_iter()) {
        report.error(format!("{path}.distribute[{i}].from"), message);
    }
    if (!lb.failover.is_empty() || !lb.failover_priority.is_empty()) && !has_outlier {
        report.warn(
            "failover-without-outlier-detection",
            path,
            "failover needs outlierDetection in the same traffic policy to take effect",
        );
    }
    failover_entries(
        &lb.failover,
        &format!("{path}.failover"),
        "locality",
        report,
    );
}

fn zone_aware_lb_setting(
    lb: &ZoneAwareLbSetting,
    has_outlier: bool,
    path: &str,
    report: &mut Report,
) {
    for (i, label) in lb.failover_priority.iter().enumerate() {
        if TOPOLOGY_LABELS.contains(&label.as_str()) {
            report.error(
                format!("{path}.failoverPriority[{i}]"),
                format!(
                    "failoverPriority for zone-aware balancing cannot name the topology label \
                     {label:?}; region and zone routing are automatic"
                ),
            );
        }
    }
    if (!lb.failover.is_empty() || !lb.failover_priority.is_empty()) && !has_outlier {
        report.warn(
            "failover-without-outlier-detection",
            path,
            "failover needs outlierDetection in the same traffic policy to take effect",
        );
    }
    failover_entries(
        &lb.failover,
        &format!("{path}.failover"),
        "zone-aware",
        report,
    );
    if let Some(n) = lb.min_cluster_size
        && n < 1
    {
        report.error(
            format!("{path}.minClusterSize"),
            format!("minClusterSize {n} must be at least 1"),
        );
    }
}

fn failover_entries(
    entries: &[Option<LocalityFailover>],
    path: &str,
    what: &str,
    report: &mut Report,
) {
    for (i, entry) in entries.iter().enumerate() {
        let fp = format!("{path}[{i}]");
        let (from, to) = match entry {
            Some(f) => (
                f.from.as_deref().unwrap_or(""),
                f.to.as_deref().unwrap_or(""),
            ),
            None => ("", ""),
        };
        if from == to {
            report.error(
                &fp,
                format!(
                    "{what} failover from {from:?} to {to:?} names the same region; they must \
                     differ"
                ),
            );
        }
        if from.contains('/') || to.contains('/') {
            report.error(
                &fp,
                format!(
                    "{what} failover from {from:?} to {to:?} names a zone or subzone; it takes \
                     regions only"
                ),
            );
        }
        if from.contains('*') || to.contains('*') {
            report.error(
                &fp,
                format!(
                    "{what} failover from {from:?} to {to:?} contains '*'; wildcards are not \
                     allowed"
                ),
            );
        }
    }
}

/// Checks a list of localities (`region[/zone[/subzone]]`, optionally ending in `*`) for bad
/// wildcards, empty parts and overlaps, as Istio's `validateLocalities`. On error, returns the
/// index (as given by the iterator) of the offending locality.
fn check_localities<'a>(
    localities: impl Iterator<Item = (usize, &'a str)>,
) -> Result<(), (usize, String)> {
    // region -> zone -> subzones; "*" marks "everything below".
    let mut seen: HashMap<&str, HashMap<&str, HashSet<&str>>> = HashMap::new();
    let overlap =
        |i: usize, l: &str| Err((i, format!("locality {l:?} overlaps with an earlier one")));
    for (i, locality) in localities {
        let stars = locality.matches('*').count();
        if stars > 1 || (stars == 1 && !locality.ends_with('*')) {
            return Err((
                i,
                format!("locality {locality:?} has a '*' that is not at the end, or more than one"),
            ));
        }
        if seen.contains_key("*") {
            return overlap(i, locality);
        }
        let parts: Vec<&str> = locality.splitn(3, '/').collect();
        if parts.iter().any(|p| p.is_empty()) {
            return Err((
                i,
                format!("locality {locality:?} has an empty region, zone or subzone"),
            ));
        }
        match parts[..] {
            [region] => {
                if seen.contains_key(region) {
                    return overlap(i, locality);
                }
                seen.insert(region, HashMap::from([("*", HashSet::from(["*"]))]));
            }
            [region, zone] => {
                let zones = seen.entry(region).or_default();
                if zones.contains_key("*") || zones.contains_key(zone) {
                    return overlap(i, locality);
                }
                zones.insert(zone, HashSet::from(["*"]));
            }
            [region, zone, subzone] => {
                let zones = seen.entry(region).or_default();
                if zones.contains_key("*") {
                    return overlap(i, locality);
                }
                let subzones = zones.entry(zone).or_default();
                if subzones.contains("*") || !subzones.insert(subzone) {
                    return overlap(i, locality);
                }
            }
            _ => unreachable!("splitn(3) yields one to three parts"),
        }
    }
    Ok(())
}

fn client_tls(tls: &ClientTlsSettings, path: &str, report: &mut Report) {
    let mode = check_enum(
        report,
        &format!("{path}.mode"),
        tls.mode.as_deref(),
        "TLS mode",
        &["DISABLE", "SIMPLE", "MUTUAL", "ISTIO_MUTUAL"],
    );
    let credential = tls.credential_name.as_deref().unwrap_or("");
    if let Some(rest) = credential.strip_prefix("configmap://") {
        let mut parts = rest.split('/');
        let (namespace, name) = (parts.next().unwrap_or(""), parts.next());
        let problem = match name {
            None => Some("a namespace and a name"),
            Some(_) if namespace.is_empty() => Some("a namespace"),
            Some("") => Some("a name"),
            Some(_) => None,
        };
        if let Some(missing) = problem {
            report.error(
                format!("{path}.credentialName"),
                format!(
                    "credentialName {credential:?} is not a valid configmap reference; \
                     configmap://NAMESPACE/NAME needs {missing}"
                ),
            );
        }
    }
    let ca = is_set(&tls.ca_certificates);
    let sans = !tls.subject_alt_names.is_empty();
    if tls.insecure_skip_verify == Some(true) {
        let skip_path = format!("{path}.insecureSkipVerify");
        if mode == Some("SIMPLE") && (ca || !credential.is_empty() || sans) {
            let found = set_names(&[
                ("caCertificates", ca),
                ("credentialName", !credential.is_empty()),
                ("subjectAltNames", sans),
            ]);
            report.error(
                &skip_path,
                format!(
                    "insecureSkipVerify is true, so caCertificates, credentialName and \
                     subjectAltNames cannot be set (found {found})"
                ),
            );
        }
        if mode == Some("MUTUAL") && (ca || sans) {
            let found = set_names(&[("caCertificates", ca), ("subjectAltNames", sans)]);
            report.error(
                &skip_path,
                format!(
                    "insecureSkipVerify is true, so caCertificates and subjectAltNames cannot be \
                     set (found {found})"
                ),
            );
        }
    }
    if matches!(mode, Some("SIMPLE" | "MUTUAL")) && !credential.is_empty() {
        let client_cert = is_set(&tls.client_certificate);
        let key = is_set(&tls.private_key);
        let crl = is_set(&tls.ca_crl);
        if client_cert || ca || key || crl {
            let found = set_names(&[
                ("clientCertificate", client_cert),
                ("privateKey", key),
                ("caCertificates", ca),
                ("caCrl", crl),
            ]);
            report.error(
                format!("{path}.credentialName"),
                format!(
                    "credentialName is set, so clientCertificate, privateKey, caCertificates and \
                     caCrl cannot be set (found {found})"
                ),
            );
        }
        return;
    }
    if mode == Some("MUTUAL") {
        if !is_set(&tls.client_certificate) {
            report.error(
                format!("{path}.clientCertificate"),
                "mode MUTUAL needs clientCertificate (or credentialName)",
            );
        }
        if !is_set(&tls.private_key) {
            report.error(
                format!("{path}.privateKey"),
                "mode MUTUAL needs privateKey (or credentialName)",
            );
        }
    }
}

fn export_to(entries: &[String], has_selector: bool, report: &mut Report) {
    let mut seen: HashSet<&str> = HashSet::new();
    for (i, entry) in entries.iter().enumerate() {
        let path = format!("spec.exportTo[{i}]");
        if !seen.insert(entry.as_str()) {
            report.error(&path, format!("duplicate exportTo entry {entry:?}"));
            continue;
        }
        match entry.as_str() {
            "." | "*" => {}
            "~" => report.error(
                &path,
                "exportTo \"~\" (none) is not allowed for DestinationRules",
            ),
            ns => {
                if !is_dns1123_label(ns) {
                    report.error(
                        &path,
                        format!(
                            "exportTo entry {ns:?} is not \".\", \"*\" or a namespace name \
                             (DNS-1123 label)"
                        ),
                    );
                }
            }
        }
    }
    if seen.contains("*") && entries.len() > 1 {
        report.error(
            "spec.exportTo",
            "exportTo has \"*\" and other entries; \"*\" (all namespaces) must be alone",
        );
    }
    // With a workload selector only the rule's own namespace is allowed. Without the namespace
    // at hand, reject what can never be it: "*", or two or more distinct entries.
    if has_selector && (seen.contains("*") || seen.len() > 1) {
        report.error(
            "spec.exportTo",
            "a DestinationRule with a workloadSelector can only be exported to its own \
             namespace (\".\")",
        );
    }
}

fn workload_selector(selector: &WorkloadSelector, path: &str, report: &mut Report) {
    if selector.match_labels.is_empty() {
        report.warn(
            "empty-selector",
            path,
            "workloadSelector has no labels; the rule applies to every workload in the namespace",
        );
    }
    for (key, value) in &selector.match_labels {
        let lp = format!("{path}.matchLabels[{key}]");
        if key.is_empty() {
            report.error(
                &lp,
                format!("selector label key is empty (value {value:?})"),
            );
        }
        if key.contains('*') || value.contains('*') {
            report.error(
                &lp,
                format!("selector label {key}={value} contains '*'; wildcards are not supported"),
            );
        }
        if value.len() > 63 {
            report.error(
                &lp,
                format!(
                    "selector label value is {} characters long; the limit is 63",
                    value.len()
                ),
            );
        }
    }
}

fn labels(labels: &BTreeMap<String, String>, path: &str, report: &mut Report) {
    for (key, value) in labels {
        let lp = format!("{path}[{key}]");
        if let Err(message) = check_label_key(key) {
            report.error(&lp, message);
        }
        if !value.is_empty() && !is_qualified_name(value) {
            report.error(
                &lp,
                format!(
                    "label value {value:?} is invalid; it must be empty or letters, digits, '-', \
                     '_' \
                     and '.', starting and ending with a letter or digit"
                ),
            );
        }
    }
}

/// Reports `duration` errors as Istio's `ValidateDuration`: at least 1ms, whole milliseconds.
fn duration(d: Duration, path: &str, report: &mut Report) {
    if let Err(message) = check_duration(d) {
        report.error(path, message);
    }
}

/// Istio's `ValidateDuration`: at least 1ms and a whole number of milliseconds.
pub(super) fn check_duration(d: Duration) -> Result<(), String> {
    let nanos = d.as_nanos();
    if nanos < ONE_MS {
        Err(format!("duration {d} must be at least 1ms"))
    } else if nanos % ONE_MS != 0 {
        Err(format!(
            "duration {d} has a sub-millisecond part; only millisecond precision is supported"
        ))
    } else {
        Ok(())
    }
}

/// Checks `value` against the names of a protobuf enum and reports it when it is not one of
/// them; returns it when it is.
pub(super) fn check_enum<'a>(
    report: &mut Report,
    path: &str,
    value: Option<&'a str>,
    what: &str,
    allowed: &[&str],
) -> Option<&'a str> {
    let value = value?;
    if allowed.contains(&value) {
        Some(value)
    } else {
        report.error(
            path,
            format!(
                "{value:?} is not a known {what}; expected one of {}",
                allowed.join(", ")
            ),
        );
        None
    }
}

/// Whether an optional string field is set to a non-empty value (proto3 semantics).
pub(super) fn is_set(value: &Option<String>) -> bool {
    value.as_deref().is_some_and(|s| !s.is_empty())
}

fn set_names(fields: &[(&str, bool)]) -> String {
    fields
        .iter()
        .filter(|(_, set)| *set)
        .map(|(name, _)| *name)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Envoy's (and Istio's) primality test: trial division; 1, 2 and 3 count as prime.
fn is_prime(x: u64) -> bool {
    if x != 0 && x < 4 {
        return true;
    }
    if x & 1 == 0 {
        return false;
    }
    let mut factor = 3u64;
    while factor.saturating_mul(factor) <= x {
        if x.is_multiple_of(factor) {
            return false;
        }
        factor += 2;
    }
    true
}

/// A DNS-1123 label as Istio checks it: 1..=63 ASCII letters (either case), digits and `-`,
/// starting and ending with a letter or digit.
pub(super) fn is_dns1123_label(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
}

/// A first label that may carry a wildcard: `*`, `*label`, `*-label` or a plain label.
fn is_wildcard_dns1123_label(s: &str) -> bool {
    if s.len() > 63 {
        return false;
    }
    s == "*"
        || is_dns1123_label(s)
        || s.strip_prefix('*').is_some_and(is_dns1123_label)
        || s.strip_prefix("*-").is_some_and(is_dns1123_label)
}

/// Istio's `ValidateWildcardDomain`: a DNS name whose first label may be a wildcard.
pub(super) fn check_wildcard_domain(domain: &str) -> Result<(), String> {
    check_domain_length(domain)?;
    let (first, rest) = match domain.split_once('.') {
        Some((first, rest)) => (first, Some(rest)),
        None => (domain, None),
    };
    if !is_wildcard_dns1123_label(first) {
        return Err(format!(
            "domain name {domain:?} has an invalid first label {first:?}; it must be a DNS-1123 \
             label, \"*\", or a label after \"*\" or \"*-\""
        ));
    }
    match rest {
        Some(rest) => check_dns1123_labels(domain, rest),
        None => Ok(()),
    }
}

/// Istio's `ValidateFQDN`: a DNS name without wildcards.
fn check_fqdn(name: &str) -> Result<(), String> {
    check_domain_length(name)?;
    check_dns1123_labels(name, name)
}

fn check_domain_length(domain: &str) -> Result<(), String> {
    if domain.is_empty() {
        Err("domain name is empty".to_string())
    } else if domain.len() > 255 {
        Err(format!(
            "domain name is {} characters long; the limit is 255",
            domain.len()
        ))
    } else {
        Ok(())
    }
}

/// Istio's `ValidateDNS1123Labels` on `labels` (a suffix of `domain`, named in messages).
fn check_dns1123_labels(domain: &str, labels: &str) -> Result<(), String> {
    let parts: Vec<&str> = labels.split('.').collect();
    let tld = parts[parts.len() - 1];
    let digits = tld.strip_prefix(['+', '-']).unwrap_or(tld);
    if !digits.is_empty() && digits.bytes().all(|c| c.is_ascii_digit()) {
        return Err(format!(
            "domain name {domain:?} has an all-numeric top-level domain {tld:?}"
        ));
    }
    for (i, label) in parts.iter().enumerate() {
        // The last label may be empty: `istio.io.` is a fully qualified name.
        if i == parts.len() - 1 && label.is_empty() {
            return Ok(());
        }
        if !is_dns1123_label(label) {
            return Err(format!(
                "domain name {domain:?} has an invalid label {label:?}; labels are letters, digits \
                 and '-', start and end with a letter or digit, at most 63 characters"
            ));
        }
    }
    Ok(())
}

/// Go's `netip.ParseAddr`: an IPv4 or IPv6 address (IPv6 may carry a `%zone`).
pub(super) fn is_ip_address(s: &str) -> bool {
    if s.parse::<std::net::IpAddr>().is_ok() {
        return true;
    }
    match s.split_once('%') {
        Some((addr, zone)) => !zone.is_empty() && addr.parse::<std::net::Ipv6Addr>().is_ok(),
        None => false,
    }
}

/// `(?:[A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]`: a Kubernetes qualified name (no length limit).
fn is_qualified_name(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
}

/// A label key: optional `dns.prefix/` (≤ 253 characters) then a qualified name (≤ 63).
fn check_label_key(key: &str) -> Result<(), String> {
    let (prefix, name) = match key.split_once('/') {
        Some((prefix, name)) => (Some(prefix), name),
        None => (None, key),
    };
    let bad = || {
        format!(
            "label key {key:?} is invalid; it must be an optional DNS prefix and '/', then \
             letters, \
             digits, '-', '_' and '.', starting and ending with a letter or digit"
        )
    };
    if let Some(prefix) = prefix {
        if !prefix.split('.').all(is_dns1123_label) {
            return Err(bad());
        }
        if prefix.len() > 253 {
            return Err(format!(
                "label key {key:?} has a prefix longer than 253 characters"
            ));
        }
    }
    if !is_qualified_name(name) {
        return Err(bad());
    }
    if name.len() > 63 {
        return Err(format!(
            "label key {key:?} has a name longer than 63 characters"
        ));
    }
    Ok(())
}
