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

use std::collections::{HashMap, HashSet};
use std::fmt::Display;

use crate::compile::names::{
    check_export_to, check_labels, is_dns1123_label, is_ip_literal, is_valid_fqdn,
    is_valid_wildcard_domain,
};
use crate::compile::report::Report;
use crate::compile::values::{check_duration_at, check_enum, check_length, is_set, limit};
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
            if let Err(message) = is_valid_wildcard_domain(host) {
                report.error("spec.host", message);
            }
        }
    }
    if let Some(policy) = &spec.traffic_policy {
        traffic_policy(policy, &"spec.trafficPolicy", report);
    }

    let mut names: HashSet<&str> = HashSet::new();
    for (i, subset) in spec.subsets.iter().enumerate() {
        let path = format_args!("spec.subsets[{i}]");
        let Some(subset) = subset else {
            report.error(path, "subset is null; remove the entry or give it a name");
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
        workload_selector(selector, &"spec.workloadSelector", report);
    }
}

fn validate_subset(subset: &Subset, path: &dyn Display, report: &mut Report) {
    let name_path = format_args!("{path}.name");
    match subset.name.as_deref() {
        None => report.error(name_path, "subset name is required"),
        Some("") => report.error(
            name_path,
            "subset name is empty; it must be a DNS-1123 label",
        ),
        Some(name) => {
            if !is_dns1123_label(name) {
                report.error(
                    name_path,
                    format!(
                        "subset name {name:?} is not a DNS-1123 label (letters, digits and '-', \
                         starting and ending with a letter or digit, at most 63 characters)"
                    ),
                );
            }
        }
    }
    check_labels(&subset.labels, &format_args!("{path}.labels"), report);
    if let Some(policy) = &subset.traffic_policy {
        traffic_policy(policy, &format_args!("{path}.trafficPolicy"), report);
    }
}

fn traffic_policy(policy: &TrafficPolicy, path: &dyn Display, report: &mut Report) {
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
    policy_settings(
        policy.outlier_detection.as_ref(),
        policy.connection_pool.as_ref(),
        policy.load_balancer.as_ref(),
        policy.tls.as_ref(),
        path,
        report,
    );
    port_level_settings(
        &policy.port_level_settings,
        &format_args!("{path}.portLevelSettings"),
        report,
    );
    if let Some(tunnel) = &policy.tunnel {
        tunnel_settings(tunnel, &format_args!("{path}.tunnel"), report);
    }
    if let Some(pp) = &policy.proxy_protocol {
        check_enum(
            report,
            &format_args!("{path}.proxyProtocol.version"),
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

fn port_level_settings(
    entries: &[Option<PortTrafficPolicy>],
    path: &dyn Display,
    report: &mut Report,
) {
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
        let path = format_args!("{path}[{i}]");
        let Some(entry) = entry else {
            report.error(
                path,
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
                path,
                "port traffic policy is empty; set at least one of loadBalancer, connectionPool, \
                 outlierDetection, tls",
            );
            continue;
        }
        policy_settings(
            entry.outlier_detection.as_ref(),
            entry.connection_pool.as_ref(),
            entry.load_balancer.as_ref(),
            entry.tls.as_ref(),
            &path,
            report,
        );
    }
}

/// The settings a traffic policy and a port-level one share: outlier detection, connection
/// pool, load balancer (which reads whether outlier detection is set) and client TLS.
fn policy_settings(
    outlier: Option<&OutlierDetection>,
    pool: Option<&ConnectionPoolSettings>,
    lb: Option<&LoadBalancerSettings>,
    tls: Option<&ClientTlsSettings>,
    path: &dyn Display,
    report: &mut Report,
) {
    if let Some(o) = outlier {
        outlier_detection(o, &format_args!("{path}.outlierDetection"), report);
    }
    if let Some(pool) = pool {
        connection_pool(pool, &format_args!("{path}.connectionPool"), report);
    }
    if let Some(lb) = lb {
        load_balancer(
            lb,
            outlier.is_some(),
            &format_args!("{path}.loadBalancer"),
            report,
        );
    }
    if let Some(tls) = tls {
        client_tls(tls, &format_args!("{path}.tls"), report);
    }
}

fn tunnel_settings(tunnel: &TunnelSettings, path: &dyn Display, report: &mut Report) {
    if let Some(protocol) = tunnel.protocol.as_deref()
        && !matches!(protocol, "" | "CONNECT" | "POST")
    {
        report.error(
            format!("{path}.protocol"),
            format!("tunnel protocol {protocol:?} is not supported; use CONNECT or POST"),
        );
    }
    let host = tunnel.target_host.as_deref().unwrap_or("");
    if host.is_empty() {
        report.error(
            format!("{path}.targetHost"),
            "tunnel targetHost is required",
        );
    } else if let Err(message) = is_valid_fqdn(host)
        && !is_ip_literal(host)
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

fn outlier_detection(outlier: &OutlierDetection, path: &dyn Display, report: &mut Report) {
    if let Some(d) = outlier.base_ejection_time {
        check_duration_at(d, &format_args!("{path}.baseEjectionTime"), report);
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
        check_duration_at(d, &format_args!("{path}.interval"), report);
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

fn connection_pool(pool: &ConnectionPoolSettings, path: &dyn Display, report: &mut Report) {
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
            check_duration_at(d, &format_args!("{hp}.idleTimeout"), report);
        }
        let policy = check_enum(
            report,
            &format_args!("{hp}.h2UpgradePolicy"),
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
                    Some(d) => check_duration_at(d, &format_args!("{kp}.{field}"), report),
                }
            }
        }
    }
    if let Some(tcp) = &pool.tcp {
        let tp = format!("{path}.tcp");
        non_negative(tcp.max_connections, &tp, "maxConnections", report);
        if let Some(d) = tcp.connect_timeout {
            check_duration_at(d, &format_args!("{tp}.connectTimeout"), report);
        }
        if let Some(d) = tcp.max_connection_duration {
            check_duration_at(d, &format_args!("{tp}.maxConnectionDuration"), report);
        }
        // Istio skips the check when the timeout truncates to 0ms: `0s` disables it.
        if let Some(d) = tcp.idle_timeout
            && d.as_nanos() / ONE_MS != 0
        {
            check_duration_at(d, &format_args!("{tp}.idleTimeout"), report);
        }
        if let Some(keepalive) = &tcp.tcp_keepalive {
            if let Some(d) = keepalive.time {
                check_duration_at(d, &format_args!("{tp}.tcpKeepalive.time"), report);
            }
            if let Some(d) = keepalive.interval {
                check_duration_at(d, &format_args!("{tp}.tcpKeepalive.interval"), report);
            }
        }
    }
}

fn non_negative(value: Option<i32>, path: &dyn Display, field: &str, report: &mut Report) {
    if let Some(v) = value
        && v < 0
    {
        report.error(
            format!("{path}.{field}"),
            format!("{field} {v} is negative; it must be 0 or more"),
        );
    }
}

fn load_balancer(
    lb: &LoadBalancerSettings,
    has_outlier: bool,
    path: &dyn Display,
    report: &mut Report,
) {
    if lb.simple.is_some() && lb.consistent_hash.is_some() {
        report.error(
            path,
            "simple and consistentHash are both set; only one load-balancing policy can be used",
        );
    }
    let simple = check_enum(
        report,
        &format_args!("{path}.simple"),
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
        consistent_hash(hash, &format_args!("{path}.consistentHash"), report);
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
            &format_args!("{path}.localityLbSetting"),
            report,
        );
    }
    if let Some(zone) = &lb.zone_aware_lb_setting {
        zone_aware_lb_setting(
            zone,
            has_outlier,
            &format_args!("{path}.zoneAwareLbSetting"),
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
            Some(d) => check_duration_at(d, &format_args!("{wp}.duration"), report),
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

fn consistent_hash(hash: &ConsistentHashLb, path: &dyn Display, report: &mut Report) {
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
        http_cookie(cookie, &format_args!("{path}.httpCookie"), report);
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
    // Istio leaves Envoy's maximum ring size at its default, which is also the largest allowed,
    // so a minimum above it cannot be built.
    let (max_ring, max_ring_name) = limit!(MAX_RING_SIZE);
    for (field, size) in [
        (
            "ringHash.minimumRingSize",
            hash.ring_hash.as_ref().and_then(|r| r.minimum_ring_size),
        ),
        ("minimumRingSize", hash.minimum_ring_size),
    ] {
        if let Some(size) = size.filter(|&s| s > max_ring) {
            report.error(
                format!("{path}.{field}"),
                format!(
                    "minimum ring size {size} exceeds the limit of {max_ring} ({max_ring_name}), \
                     the largest ring Envoy builds"
                ),
            );
        }
    }
    if let Some(name) = &hash.http_header_name {
        check_length(
            name.len(),
            limit!(MAX_HEADER_NAME_LEN),
            "header name",
            &format_args!("{path}.httpHeaderName"),
            report,
        );
    }
    if let Some(maglev) = &hash.maglev {
        let (limit, limit_name) = limit!(MAGLEV_TABLE_SIZE_LIMIT);
        let tp = format!("{path}.maglev.tableSize");
        let size = maglev.table_size.unwrap_or(0);
        if size == 0 {
            report.error(
                &tp,
                "table size is not set; maglev needs a prime table size such as 65537",
            );
        } else if size >= limit {
            report.error(
                &tp,
                format!(
                    "table size {size} is too large; maglev table sizes must be less than \
                     {limit} ({limit_name})"
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

fn http_cookie(cookie: &HttpCookie, path: &dyn Display, report: &mut Report) {
    if cookie.name.as_deref().unwrap_or("").is_empty() {
        report.error(
            format!("{path}.name"),
            "cookie name is required for httpCookie",
        );
    }
    // Envoy would write a negative `Max-Age` (the cookie expires at once); 0s is the
    // session cookie.
    if let Some(ttl) = cookie.ttl
        && ttl.as_nanos() < 0
    {
        report.error(
            format!("{path}.ttl"),
            format!("ttl {ttl} is negative; write 0s for a session cookie or a positive lifetime"),
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

fn locality_lb_setting(
    lb: &LocalityLbSetting,
    has_outlier: bool,
    path: &dyn Display,
    report: &mut Report,
) {
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
                         set; use one or the other"
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
        &format_args!("{path}.failover"),
        "locality",
        report,
    );
}

fn zone_aware_lb_setting(
    lb: &ZoneAwareLbSetting,
    has_outlier: bool,
    path: &dyn Display,
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
        &format_args!("{path}.failover"),
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
    path: &dyn Display,
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

fn client_tls(tls: &ClientTlsSettings, path: &dyn Display, report: &mut Report) {
    let mode = check_enum(
        report,
        &format_args!("{path}.mode"),
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
        let skip_path = format_args!("{path}.insecureSkipVerify");
        if mode == Some("SIMPLE") && (ca || !credential.is_empty() || sans) {
            let found = set_names(&[
                ("caCertificates", ca),
                ("credentialName", !credential.is_empty()),
                ("subjectAltNames", sans),
            ]);
            report.error(
                skip_path,
                format!(
                    "insecureSkipVerify is true, so caCertificates, credentialName and \
                     subjectAltNames cannot be set (found {found})"
                ),
            );
        }
        if mode == Some("MUTUAL") && (ca || sans) {
            let found = set_names(&[("caCertificates", ca), ("subjectAltNames", sans)]);
            report.error(
                skip_path,
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

/// `exportTo` as for every Istio resource, plus the workload-selector rule: such a rule can only
/// be exported to its own namespace. Without the namespace at hand, reject what can never be it:
/// `*`, or two or more distinct entries.
fn export_to(entries: &[String], has_selector: bool, report: &mut Report) {
    check_export_to(entries, &"spec.exportTo", report);
    let distinct: HashSet<&str> = entries.iter().map(String::as_str).collect();
    if has_selector && (distinct.contains("*") || distinct.len() > 1) {
        report.error(
            "spec.exportTo",
            "a DestinationRule with a workloadSelector can only be exported to its own \
             namespace (\".\")",
        );
    }
}

fn workload_selector(selector: &WorkloadSelector, path: &dyn Display, report: &mut Report) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compile::report::validate_yaml;

    fn validate(yaml: &str) -> Report {
        validate_yaml(yaml, validate_destination_rule)
    }

    fn errors(yaml: &str) -> Vec<(String, String)> {
        validate(yaml).errors
    }

    /// The single error of `yaml`, as `(path, message)`.
    fn error(yaml: &str) -> (String, String) {
        let errors = errors(yaml);
        assert_eq!(errors.len(), 1, "expected one error, got {errors:#?}");
        errors.into_iter().next().expect("one error")
    }

    /// A spec with host `r` and the given top-level traffic policy (flow-style YAML).
    fn policy(traffic_policy: &str) -> String {
        format!("{{host: r, trafficPolicy: {traffic_policy}}}")
    }

    fn pair(path: &str, message: &str) -> (String, String) {
        (path.to_string(), message.to_string())
    }

    /// Asserts that `yaml` has a single error, at `path`, whose message names `value`. Used
    /// where the message comes from a helper shared with the VirtualService validator.
    fn assert_error_names(yaml: &str, path: &str, value: &str) {
        let (at, message) = error(yaml);
        assert_eq!(at, path, "{message}");
        assert!(
            message.contains(value),
            "{message:?} does not name {value:?}"
        );
    }

    #[test]
    fn full_rule_is_valid() {
        let report = validate(
            r#"
host: reviews.prod.svc.cluster.local
trafficPolicy:
  loadBalancer:
    consistentHash:
      httpCookie:
        name: user
        ttl: 0s
        path: /
        attributes: [{name: SameSite, value: Lax}, {name: Secure}]
      maglev: {tableSize: 65537}
    localityLbSetting:
      distribute:
      - from: us-west/zone1/*
        to: {"us-west/zone1/*": 80, "us-west/zone2/*": 20}
    warmup: {duration: 60s, minimumPercent: 10, aggression: 1.5}
  connectionPool:
    tcp:
      maxConnections: 100
      connectTimeout: 30ms
      idleTimeout: 0s
      tcpKeepalive: {time: 7200s, interval: 75s, probes: 9}
    http:
      http1MaxPendingRequests: 10
      http2MaxRequests: 1000
      maxRequestsPerConnection: 10
      maxRetries: 3
      idleTimeout: 1s
      h2UpgradePolicy: UPGRADE
      http2KeepAlive: {interval: 10s, timeout: 5s}
  outlierDetection:
    consecutive5xxErrors: 7
    interval: 5m
    baseEjectionTime: 15m
    maxEjectionPercent: 50
    minHealthPercent: 0
    outlierDetectionHttpErrorCodes: [500, 503]
  tls: {mode: ISTIO_MUTUAL, sni: reviews.example.com}
  portLevelSettings:
  - port: {number: 9080}
    loadBalancer: {simple: ROUND_ROBIN}
  retryBudget: {percent: 20, minRetryConcurrency: 3, budgetInterval: 10s}
subsets:
- name: v1
  labels: {version: v1, app.kubernetes.io/name: reviews}
- name: v2
  labels: {version: v2}
  trafficPolicy:
    loadBalancer: {simple: LEAST_REQUEST}
exportTo: [".", istio-system]
"#,
        );
        assert_eq!(report.errors, vec![]);
        assert!(report.warnings.is_empty(), "{:?}", report.warnings);
    }

    #[test]
    fn host_is_a_wildcard_domain() {
        assert_eq!(errors("host: '*'"), vec![]);
        assert_eq!(errors("host: '*.example.com'"), vec![]);
        assert_eq!(errors("host: reviews."), vec![]);
        assert_error_names("host: ''", "spec.host", "empty");
        assert_eq!(
            error("subsets: []"),
            pair(
                "spec.host",
                "host is required; it names the service the rule applies to"
            )
        );
        assert_error_names("host: foo.*.com", "spec.host", "foo.*.com");
        assert_error_names("host: a.123", "spec.host", "123");
    }

    #[test]
    fn empty_traffic_policy_is_rejected() {
        assert_eq!(
            error(&policy("{}")),
            pair(
                "spec.trafficPolicy",
                "traffic policy is empty; set at least one of loadBalancer, connectionPool, \
                 outlierDetection, tls, portLevelSettings, tunnel, proxyProtocol, retryBudget, or \
                 remove it"
            )
        );
    }

    #[test]
    fn empty_connection_pool_is_rejected_in_subsets_too() {
        assert_eq!(
            error("{host: r, subsets: [{name: v1, trafficPolicy: {connectionPool: {}}}]}"),
            pair(
                "spec.subsets[0].trafficPolicy.connectionPool",
                "connection pool is empty; set tcp or http, or remove it"
            )
        );
    }

    #[test]
    fn subset_names_are_unique_dns_labels() {
        assert_eq!(
            error("{host: r, subsets: [{name: foo}, {name: foo}]}"),
            pair(
                "spec.subsets[1].name",
                "duplicate subset name \"foo\"; subset names must be unique"
            )
        );
        assert_eq!(
            error("{host: r, subsets: [{name: ''}]}"),
            pair(
                "spec.subsets[0].name",
                "subset name is empty; it must be a DNS-1123 label"
            )
        );
        assert_eq!(
            error("{host: r, subsets: [{labels: {a: b}}]}"),
            pair("spec.subsets[0].name", "subset name is required")
        );
        assert_eq!(
            error("{host: r, subsets: [{name: v_1}]}"),
            pair(
                "spec.subsets[0].name",
                "subset name \"v_1\" is not a DNS-1123 label (letters, digits and '-', starting \
                 and ending with a letter or digit, at most 63 characters)"
            )
        );
        assert_eq!(
            error("{host: r, subsets: [null]}"),
            pair(
                "spec.subsets[0]",
                "subset is null; remove the entry or give it a name"
            )
        );
    }

    #[test]
    fn subset_labels_are_kubernetes_labels() {
        assert_error_names(
            "{host: r, subsets: [{name: v1, labels: {'-bad': x}}]}",
            "spec.subsets[0].labels[-bad]",
            "-bad",
        );
        assert_error_names(
            "{host: r, subsets: [{name: v1, labels: {version: 'v 1'}}]}",
            "spec.subsets[0].labels[version]",
            "v 1",
        );
        assert_eq!(
            errors("{host: r, subsets: [{name: v1, labels: {k: ''}}]}"),
            vec![]
        );
    }

    #[test]
    fn durations_need_whole_milliseconds() {
        let pool = "spec.trafficPolicy.connectionPool";
        assert_error_names(
            &policy("{connectionPool: {tcp: {maxConnectionDuration: 999ns}}}"),
            &format!("{pool}.tcp.maxConnectionDuration"),
            "999ns",
        );
        assert_error_names(
            &policy("{outlierDetection: {interval: 2.000000005s}}"),
            "spec.trafficPolicy.outlierDetection.interval",
            "2000000005ns",
        );
        // A tcp idle timeout that truncates to 0ms disables it and is not checked.
        assert_eq!(
            errors(&policy("{connectionPool: {tcp: {idleTimeout: 0s}}}")),
            vec![]
        );
        assert_eq!(
            errors(&policy("{connectionPool: {tcp: {idleTimeout: 0.5ms}}}")),
            vec![]
        );
        assert_error_names(
            &policy("{connectionPool: {tcp: {idleTimeout: 1.5ms}}}"),
            &format!("{pool}.tcp.idleTimeout"),
            "1500us",
        );
        assert_error_names(
            &policy("{connectionPool: {http: {idleTimeout: 0s}}}"),
            &format!("{pool}.http.idleTimeout"),
            "0s",
        );
    }

    #[test]
    fn connection_pool_counts_are_not_negative() {
        assert_eq!(
            error(&policy("{connectionPool: {tcp: {maxConnections: -1}}}")),
            pair(
                "spec.trafficPolicy.connectionPool.tcp.maxConnections",
                "maxConnections -1 is negative; it must be 0 or more"
            )
        );
        assert_eq!(
            error(&policy(
                "{connectionPool: {http: {maxConcurrentStreams: -2}}}"
            )),
            pair(
                "spec.trafficPolicy.connectionPool.http.maxConcurrentStreams",
                "maxConcurrentStreams -2 is negative; it must be 0 or more"
            )
        );
    }

    #[test]
    fn http_settings_rules() {
        assert_eq!(
            error(
                "{host: r, trafficPolicy: {connectionPool: {http: {h2UpgradePolicy: UPGRADE, \
                 useClientProtocol: true}}}}"
            ),
            pair(
                "spec.trafficPolicy.connectionPool.http.useClientProtocol",
                "useClientProtocol cannot be true when h2UpgradePolicy is UPGRADE"
            )
        );
        assert_eq!(
            error(&policy(
                "{connectionPool: {http: {http2KeepAlive: {timeout: 5s}}}}"
            )),
            pair(
                "spec.trafficPolicy.connectionPool.http.http2KeepAlive.interval",
                "http2KeepAlive.interval is required"
            )
        );
        assert_eq!(
            error(&policy(
                "{connectionPool: {http: {h2UpgradePolicy: upgrade}}}"
            )),
            pair(
                "spec.trafficPolicy.connectionPool.http.h2UpgradePolicy",
                "\"upgrade\" is not a known h2 upgrade policy; expected one of DEFAULT, \
                 DO_NOT_UPGRADE, UPGRADE"
            )
        );
    }

    #[test]
    fn outlier_detection_rules() {
        assert_eq!(
            error(&policy("{outlierDetection: {maxEjectionPercent: 105}}")),
            pair(
                "spec.trafficPolicy.outlierDetection.maxEjectionPercent",
                "percentage 105 is not in range 0..100"
            )
        );
        assert_eq!(
            error(&policy(
                "{outlierDetection: {consecutiveLocalOriginFailures: 10}}"
            )),
            pair(
                "spec.trafficPolicy.outlierDetection.consecutiveLocalOriginFailures",
                "consecutiveLocalOriginFailures is 10 but splitExternalLocalOriginErrors is not \
                 true; local-origin failures are only counted when they are split"
            )
        );
        assert_eq!(
            errors(
                "{host: r, trafficPolicy: {outlierDetection: {consecutiveLocalOriginFailures: 10, \
                 splitExternalLocalOriginErrors: true}}}"
            ),
            vec![]
        );
        assert_eq!(
            error(&policy(
                "{outlierDetection: {outlierDetectionHttpErrorCodes: [500, 600]}}"
            )),
            pair(
                "spec.trafficPolicy.outlierDetection.outlierDetectionHttpErrorCodes[1]",
                "status code 600 is not in range 100..599"
            )
        );
        let report = validate(&policy("{outlierDetection: {consecutiveErrors: 5}}"));
        assert_eq!(report.errors, vec![]);
        assert_eq!(
            report.warnings,
            vec![(
                "deprecated-field",
                "spec.trafficPolicy.outlierDetection.consecutiveErrors".to_string(),
                "consecutiveErrors is deprecated; use consecutiveGatewayErrors or \
                 consecutive5xxErrors"
                    .to_string()
            )]
        );
    }

    #[test]
    fn maglev_table_size_is_a_prime_below_the_limit() {
        let lb = |size: &str| {
            errors(&format!(
                "{{host: r, trafficPolicy: {{loadBalancer: {{consistentHash: {{httpHeaderName: x, \
                 maglev: {size}}}}}}}}}"
            ))
        };
        let path = "spec.trafficPolicy.loadBalancer.consistentHash.maglev.tableSize";
        assert_eq!(lb("{tableSize: 65537}"), vec![]);
        assert_eq!(
            lb("{tableSize: 65536}"),
            vec![pair(
                path,
                "table size 65536 is not prime; maglev needs a prime table size"
            )]
        );
        assert_eq!(
            lb("{}"),
            vec![pair(
                path,
                "table size is not set; maglev needs a prime table size such as 65537"
            )]
        );
        assert_eq!(
            lb("{tableSize: 5000011}"),
            vec![pair(
                path,
                "table size 5000011 is too large; maglev table sizes must be less than 5000011 \
                 (limits::MAGLEV_TABLE_SIZE_LIMIT)"
            )]
        );
    }

    #[test]
    fn primality_matches_envoy() {
        let primes: Vec<u64> = (0..30).filter(|&x| is_prime(x)).collect();
        assert_eq!(primes, vec![1, 2, 3, 5, 7, 11, 13, 17, 19, 23, 29]);
        assert!(is_prime(65537));
        assert_eq!(is_prime(4_999_999), (2..2237).all(|f| 4_999_999 % f != 0));
        assert!(!is_prime(25));
    }

    #[test]
    fn consistent_hash_one_ofs() {
        assert_eq!(
            error(
                "{host: r, trafficPolicy: {loadBalancer: {consistentHash: {httpHeaderName: x, \
                 useSourceIp: true}}}}"
            ),
            pair(
                "spec.trafficPolicy.loadBalancer.consistentHash",
                "more than one hash key is set (httpHeaderName, useSourceIp); set only one"
            )
        );
        assert_eq!(
            error(
                "{host: r, trafficPolicy: {loadBalancer: {simple: RANDOM, consistentHash: \
                 {useSourceIp: true}}}}"
            ),
            pair(
                "spec.trafficPolicy.loadBalancer",
                "simple and consistentHash are both set; only one load-balancing policy can be used"
            )
        );
        assert_eq!(
            error(
                "{host: r, trafficPolicy: {loadBalancer: {consistentHash: {ringHash: {}, maglev: \
                 {tableSize: 7}}}}}"
            ),
            pair(
                "spec.trafficPolicy.loadBalancer.consistentHash",
                "ringHash and maglev are both set; only one hash algorithm can be used"
            )
        );
    }

    #[test]
    fn deprecated_minimum_ring_size() {
        let report = validate(
            "{host: r, trafficPolicy: {loadBalancer: {consistentHash: {useSourceIp: true, \
             minimumRingSize: 1024, ringHash: {minimumRingSize: 1024}}}}}",
        );
        let path = "spec.trafficPolicy.loadBalancer.consistentHash.minimumRingSize";
        assert_eq!(
            report.errors,
            vec![pair(
                path,
                "minimumRingSize cannot be set together with ringHash or maglev; use \
                 ringHash.minimumRingSize"
            )]
        );
        assert_eq!(report.warnings.len(), 1);
        assert_eq!(report.warnings[0].1, path);
    }

    #[test]
    fn cookie_rules() {
        let path = "spec.trafficPolicy.loadBalancer.consistentHash.httpCookie";
        assert_eq!(
            error(&policy(
                "{loadBalancer: {consistentHash: {httpCookie: {ttl: 1s}}}}"
            )),
            pair(
                &format!("{path}.name"),
                "cookie name is required for httpCookie"
            )
        );
        assert_eq!(
            errors(
                "{host: r, trafficPolicy: {loadBalancer: {consistentHash: {httpCookie: {name: c, \
                 attributes: [{name: SameSite}, {name: ''}, {name: SameSite, value: Lax}]}}}}}"
            ),
            vec![
                pair(
                    &format!("{path}.attributes[1].name"),
                    "cookie attribute name is empty"
                ),
                pair(
                    &format!("{path}.attributes[2].name"),
                    "duplicate cookie attribute name \"SameSite\"; attribute names must be unique"
                ),
            ]
        );
        // A negative ttl would be a negative Max-Age; 0s (a session cookie) is fine.
        assert_eq!(
            error(&policy(
                "{loadBalancer: {consistentHash: {httpCookie: {name: c, ttl: -5s}}}}"
            )),
            pair(
                &format!("{path}.ttl"),
                "ttl -5s is negative; write 0s for a session cookie or a positive lifetime"
            )
        );
        assert_eq!(
            errors(
                "{host: r, trafficPolicy: {loadBalancer: {consistentHash: {httpCookie: {name: c, \
                 ttl: 0s}}}}}"
            ),
            vec![]
        );
    }

    #[test]
    fn simple_load_balancer_names() {
        assert_eq!(
            error(&policy("{loadBalancer: {simple: round_robin}}")),
            pair(
                "spec.trafficPolicy.loadBalancer.simple",
                "\"round_robin\" is not a known simple load balancer; expected one of UNSPECIFIED, \
                 LEAST_CONN, RANDOM, PASSTHROUGH, ROUND_ROBIN, LEAST_REQUEST"
            )
        );
        let report = validate(&policy("{loadBalancer: {simple: LEAST_CONN}}"));
        assert_eq!(report.errors, vec![]);
        assert_eq!(report.warnings[0].0, "deprecated-field");
    }

    #[test]
    fn locality_settings() {
        let lb = |setting: &str| {
            validate(&format!(
                "{{host: r, trafficPolicy: {{outlierDetection: {{consecutive5xxErrors: 1}}, \
                 loadBalancer: {{localityLbSetting: {setting}}}}}}}"
            ))
            .errors
        };
        let path = "spec.trafficPolicy.loadBalancer.localityLbSetting";
        assert_eq!(
            lb("{enabled: true, failover: [{from: us-east, to: eu-west}]}"),
            vec![]
        );
        assert_eq!(
            lb("{distribute: [{from: a/*, to: {b/*: 60, c/*: 30}}]}"),
            vec![pair(
                &format!("{path}.distribute[0].to"),
                "locality weights sum to 90; they must sum to 100"
            )]
        );
        assert_eq!(
            lb("{distribute: [{from: a/*, to: {b/*: 0, c/*: 100}}]}"),
            vec![pair(
                &format!("{path}.distribute[0].to[b/*]"),
                "locality weight 0 is not in range 1..100"
            )]
        );
        assert_eq!(
            lb("{distribute: [{from: a/*, to: {b: 100}}], failover: [{from: a, to: b}]}"),
            vec![pair(
                path,
                "distribute and failover are both set; only one of them can be used"
            )]
        );
        assert_eq!(
            lb("{distribute: [{from: a/*, to: {b: 50, b/z: 50}}]}"),
            vec![pair(
                &format!("{path}.distribute[0].to[b/z]"),
                "locality \"b/z\" overlaps with an earlier one"
            )]
        );
        assert_eq!(
            lb("{distribute: [{from: a/*, to: {b: 100}}, {from: a/z1, to: {b: 100}}]}"),
            vec![pair(
                &format!("{path}.distribute[1].from"),
                "locality \"a/z1\" overlaps with an earlier one"
            )]
        );
        assert_eq!(
            lb("{distribute: [{from: 'a/*/z', to: {b: 100}}]}"),
            vec![pair(
                &format!("{path}.distribute[0].from"),
                "locality \"a/*/z\" has a '*' that is not at the end, or more than one"
            )]
        );
        assert_eq!(
            lb("{failover: [{from: us-east, to: us-east}]}"),
            vec![pair(
                &format!("{path}.failover[0]"),
                "locality failover from \"us-east\" to \"us-east\" names the same region; they \
                 must differ"
            )]
        );
        assert_eq!(
            lb("{failover: [{from: us-east, to: eu}], \
                 failoverPriority: [topology.kubernetes.io/zone]}"),
            vec![pair(
                &format!("{path}.failoverPriority[0]"),
                "failoverPriority names the topology label \"topology.kubernetes.io/zone\" while \
                 failover is set; use one or the other"
            )]
        );
    }

    #[test]
    fn failover_without_outlier_detection_warns() {
        let report = validate(&policy(
            "{loadBalancer: {localityLbSetting: {failover: [{from: a, to: b}]}}}",
        ));
        assert_eq!(report.errors, vec![]);
        assert_eq!(
            report.warnings,
            vec![(
                "failover-without-outlier-detection",
                "spec.trafficPolicy.loadBalancer.localityLbSetting".to_string(),
                "failover needs outlierDetection in the same traffic policy to take effect"
                    .to_string()
            )]
        );
    }

    #[test]
    fn locality_and_zone_aware_are_exclusive() {
        assert_eq!(
            error(&policy(
                "{loadBalancer: {localityLbSetting: {}, zoneAwareLbSetting: {}}}"
            )),
            pair(
                "spec.trafficPolicy.loadBalancer",
                "localityLbSetting and zoneAwareLbSetting are both set; only one of them can be \
                 used"
            )
        );
    }

    #[test]
    fn warmup_rules() {
        let path = "spec.trafficPolicy.loadBalancer.warmup";
        assert_eq!(
            error(&policy("{loadBalancer: {warmup: {minimumPercent: 5}}}")),
            pair(&format!("{path}.duration"), "warmup duration is required")
        );
        assert_eq!(
            error(&policy(
                "{loadBalancer: {warmup: {duration: 1s, minimumPercent: 150.0}}}"
            )),
            pair(
                &format!("{path}.minimumPercent"),
                "minimumPercent 150 is not in range 0..100"
            )
        );
        assert_eq!(
            error(&policy(
                "{loadBalancer: {warmup: {duration: 1s, aggression: -0.1}}}"
            )),
            pair(
                &format!("{path}.aggression"),
                "aggression -0.1 must be greater than 0"
            )
        );
    }

    #[test]
    fn client_tls_rules() {
        let path = "spec.trafficPolicy.tls";
        assert_eq!(
            error(
                "{host: r, trafficPolicy: {tls: {mode: SIMPLE, subjectAltNames: [a], \
                 insecureSkipVerify: true}}}"
            ),
            pair(
                &format!("{path}.insecureSkipVerify"),
                "insecureSkipVerify is true, so caCertificates, credentialName and \
                 subjectAltNames cannot be set (found subjectAltNames)"
            )
        );
        assert_eq!(
            errors(&policy("{tls: {mode: MUTUAL}}")),
            vec![
                pair(
                    &format!("{path}.clientCertificate"),
                    "mode MUTUAL needs clientCertificate (or credentialName)"
                ),
                pair(
                    &format!("{path}.privateKey"),
                    "mode MUTUAL needs privateKey (or credentialName)"
                ),
            ]
        );
        assert_eq!(
            error(&policy(
                "{tls: {mode: MUTUAL, credentialName: c, privateKey: k}}"
            )),
            pair(
                &format!("{path}.credentialName"),
                "credentialName is set, so clientCertificate, privateKey, caCertificates and \
                 caCrl cannot be set (found privateKey)"
            )
        );
        assert_eq!(
            error(&policy(
                "{tls: {mode: SIMPLE, credentialName: 'configmap://ca'}}"
            )),
            pair(
                &format!("{path}.credentialName"),
                "credentialName \"configmap://ca\" is not a valid configmap reference; \
                 configmap://NAMESPACE/NAME needs a namespace and a name"
            )
        );
        assert_eq!(
            error(&policy("{tls: {mode: STRICT}}")),
            pair(
                &format!("{path}.mode"),
                "\"STRICT\" is not a known TLS mode; expected one of DISABLE, SIMPLE, MUTUAL, \
                 ISTIO_MUTUAL"
            )
        );
    }

    #[test]
    fn port_level_settings_rules() {
        let path = "spec.trafficPolicy.portLevelSettings";
        assert_eq!(
            error(&policy(
                "{portLevelSettings: [{loadBalancer: {simple: RANDOM}}]}"
            )),
            pair(
                &format!("{path}[0].port"),
                "port is required; a port traffic policy must name the port it applies to"
            )
        );
        assert_eq!(
            error(&policy("{portLevelSettings: [{port: {number: 80}}]}")),
            pair(
                &format!("{path}[0]"),
                "port traffic policy is empty; set at least one of loadBalancer, connectionPool, \
                 outlierDetection, tls"
            )
        );
        assert_eq!(
            error(&policy("{portLevelSettings: [null]}")),
            pair(
                &format!("{path}[0]"),
                "port traffic policy is null; remove the entry or fill it in"
            )
        );
        assert_eq!(
            error(
                "{host: r, trafficPolicy: {portLevelSettings: [{port: {number: 80}, \
                 connectionPool: {}}]}}"
            ),
            pair(
                &format!("{path}[0].connectionPool"),
                "connection pool is empty; set tcp or http, or remove it"
            )
        );
    }

    #[test]
    fn tunnel_and_proxy_protocol() {
        assert_eq!(
            error(
                "{host: r, trafficPolicy: {tunnel: {targetHost: example.com, targetPort: 8443}, \
                 proxyProtocol: {version: V2}}}"
            ),
            pair(
                "spec.trafficPolicy.proxyProtocol",
                "proxyProtocol cannot be set together with tunnel"
            )
        );
        assert_eq!(
            errors(&policy("{tunnel: {protocol: GET, targetPort: 0}}")),
            vec![
                pair(
                    "spec.trafficPolicy.tunnel.protocol",
                    "tunnel protocol \"GET\" is not supported; use CONNECT or POST"
                ),
                pair(
                    "spec.trafficPolicy.tunnel.targetHost",
                    "tunnel targetHost is required"
                ),
                pair(
                    "spec.trafficPolicy.tunnel.targetPort",
                    "port number 0 must be in the range 1..65535"
                ),
            ]
        );
        assert_eq!(
            errors(&policy(
                "{tunnel: {protocol: POST, targetHost: 10.0.0.1, targetPort: 80}}"
            )),
            vec![]
        );
        assert_eq!(
            error(&policy("{proxyProtocol: {version: V3}}")),
            pair(
                "spec.trafficPolicy.proxyProtocol.version",
                "\"V3\" is not a known PROXY protocol version; expected one of V1, V2"
            )
        );
    }

    #[test]
    fn export_to_rules() {
        assert_error_names("{host: r, exportTo: [a, a]}", "spec.exportTo[1]", "\"a\"");
        assert_error_names("{host: r, exportTo: ['~']}", "spec.exportTo[0]", "~");
        assert_error_names("{host: r, exportTo: ['*', a]}", "spec.exportTo", "*");
        assert_eq!(
            error("{host: r, exportTo: ['*'], workloadSelector: {matchLabels: {app: a}}}"),
            pair(
                "spec.exportTo",
                "a DestinationRule with a workloadSelector can only be exported to its own \
                 namespace (\".\")"
            )
        );
        assert_eq!(
            error("{host: r, exportTo: [a, b], workloadSelector: {matchLabels: {app: a}}}").0,
            "spec.exportTo"
        );
        assert_eq!(
            errors("{host: r, exportTo: ['.'], workloadSelector: {matchLabels: {app: a}}}"),
            vec![]
        );
    }

    #[test]
    fn workload_selector_rules() {
        assert_eq!(
            error("{host: r, workloadSelector: {matchLabels: {app: 'a*'}}}"),
            pair(
                "spec.workloadSelector.matchLabels[app]",
                "selector label app=a* contains '*'; wildcards are not supported"
            )
        );
        let report = validate("{host: r, workloadSelector: {}}");
        assert_eq!(report.errors, vec![]);
        assert_eq!(report.warnings[0].0, "empty-selector");
    }

    #[test]
    fn schema_errors_name_the_field() {
        let value: serde_json::Value =
            serde_saphyr::from_str(&policy("{loadBalancer: {simpel: RANDOM}}"))
                .expect("test YAML parses");
        let err = serde_path_to_error::deserialize::<_, DestinationRuleSpec>(value)
            .expect_err("unknown field");
        assert_eq!(err.path().to_string(), "trafficPolicy.loadBalancer.simpel");
    }
}
