//! Istio `DestinationRule` (networking.istio.io v1, v1beta1, v1alpha3), field for field as in
//! istio/api `networking/v1alpha3/destination_rule.proto`.
//!
//! Every field is optional or defaulted so that presence is kept: Istio rejects some objects
//! that are present but empty (`trafficPolicy: {}`, `connectionPool: {}`), so absent and empty
//! must differ. Enumerations are kept as the strings written (`ROUND_ROBIN`) and checked by
//! validation, which names the field and the allowed values. Integers that Istio (or the CRD)
//! rejects when negative are signed so the value reaches validation.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::common::Duration;
use super::virtual_service::PortSelector;

/// `spec` of a DestinationRule: policies that apply to traffic for a service after routing.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[non_exhaustive]
pub struct DestinationRuleSpec {
    /// The service the rule applies to (short names are expanded with the rule's namespace).
    /// Required.
    pub host: Option<String>,
    /// Policies for the whole service (load balancing, connection pool, outlier detection, TLS).
    pub traffic_policy: Option<TrafficPolicy>,
    /// Named versions of the service, each a label selection of its endpoints.
    #[serde(default)]
    pub subsets: Vec<Option<Subset>>,
    /// Namespaces the rule is visible to (`.` own namespace, `*` all).
    #[serde(default)]
    pub export_to: Vec<String>,
    /// Workloads (client proxies) the rule applies to; absent means all in the namespace.
    pub workload_selector: Option<WorkloadSelector>,
}

/// `workloadSelector: {matchLabels: {...}}`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[non_exhaustive]
pub struct WorkloadSelector {
    /// Labels a workload must carry for the rule to apply to it.
    #[serde(default)]
    pub match_labels: BTreeMap<String, String>,
}

/// A subset (`spec.subsets[]`): a named version of the service.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[non_exhaustive]
pub struct Subset {
    /// The subset's name, as routes name it (a DNS-1123 label). Required.
    pub name: Option<String>,
    /// Endpoints whose labels include all of these belong to the subset; empty selects all.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Overrides of the top-level policy, applied when a route targets this subset.
    pub traffic_policy: Option<TrafficPolicy>,
}

/// `trafficPolicy`: load balancing, connection pool, outlier detection and TLS for a service.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[non_exhaustive]
pub struct TrafficPolicy {
    /// Load-balancing algorithm and hash key.
    pub load_balancer: Option<LoadBalancerSettings>,
    /// Connection and request limits.
    pub connection_pool: Option<ConnectionPoolSettings>,
    /// Ejection of failing endpoints.
    pub outlier_detection: Option<OutlierDetection>,
    /// TLS towards the service.
    pub tls: Option<ClientTlsSettings>,
    /// Per-port policies; an entry for a port replaces the top-level policy for that port.
    #[serde(default)]
    pub port_level_settings: Vec<Option<PortTrafficPolicy>>,
    /// Tunnelling of TCP over HTTP CONNECT or POST.
    pub tunnel: Option<TunnelSettings>,
    /// PROXY protocol towards the service.
    pub proxy_protocol: Option<ProxyProtocol>,
    /// Retry budget (limits concurrent retries relative to active requests).
    pub retry_budget: Option<RetryBudget>,
}

/// An entry of `portLevelSettings`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[non_exhaustive]
pub struct PortTrafficPolicy {
    /// The service port the entry applies to. Required.
    pub port: Option<PortSelector>,
    /// Load-balancing algorithm and hash key.
    pub load_balancer: Option<LoadBalancerSettings>,
    /// Connection and request limits.
    pub connection_pool: Option<ConnectionPoolSettings>,
    /// Ejection of failing endpoints.
    pub outlier_detection: Option<OutlierDetection>,
    /// TLS towards the service.
    pub tls: Option<ClientTlsSettings>,
}

/// `tunnel`: tunnel TCP over HTTP.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[non_exhaustive]
pub struct TunnelSettings {
    /// `CONNECT` (default) or `POST`.
    pub protocol: Option<String>,
    /// Host the connection is tunnelled to (FQDN or IP). Required.
    pub target_host: Option<String>,
    /// Port the connection is tunnelled to. Required.
    pub target_port: Option<i64>,
}

/// `proxyProtocol: {version: V1}`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[non_exhaustive]
pub struct ProxyProtocol {
    /// `V1` (default) or `V2`.
    pub version: Option<String>,
}

/// `retryBudget`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[non_exhaustive]
pub struct RetryBudget {
    /// Share of active requests that may be retries, 0..=100 (Envoy default 20).
    pub percent: Option<f64>,
    /// Retries always allowed regardless of the percentage (Envoy default 3).
    pub min_retry_concurrency: Option<u32>,
    /// Window over which retries are counted.
    pub budget_interval: Option<Duration>,
}

/// `loadBalancer`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[non_exhaustive]
pub struct LoadBalancerSettings {
    /// `UNSPECIFIED`, `LEAST_CONN` (deprecated), `RANDOM`, `PASSTHROUGH`, `ROUND_ROBIN` or
    /// `LEAST_REQUEST`. Exclusive with `consistentHash`.
    pub simple: Option<String>,
    /// Consistent-hash (sticky) balancing. Exclusive with `simple`.
    pub consistent_hash: Option<ConsistentHashLb>,
    /// Locality-weighted balancing and failover.
    pub locality_lb_setting: Option<LocalityLbSetting>,
    /// Zone-aware balancing. Exclusive with `localityLbSetting`.
    pub zone_aware_lb_setting: Option<ZoneAwareLbSetting>,
    /// Deprecated slow-start window; use `warmup`.
    pub warmup_duration_secs: Option<Duration>,
    /// Slow start for new endpoints.
    pub warmup: Option<WarmupConfiguration>,
}

/// `consistentHash`: one hash key and at most one algorithm.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[non_exhaustive]
pub struct ConsistentHashLb {
    /// Hash the value of this request header.
    pub http_header_name: Option<String>,
    /// Hash this cookie (generated when absent and `ttl` is set).
    pub http_cookie: Option<HttpCookie>,
    /// Hash the source IP address (ignored when `false`).
    pub use_source_ip: Option<bool>,
    /// Hash the first value of this query parameter.
    pub http_query_parameter_name: Option<String>,
    /// Ring-hash algorithm.
    pub ring_hash: Option<RingHash>,
    /// Maglev algorithm.
    pub maglev: Option<Maglev>,
    /// Deprecated ring size; use `ringHash.minimumRingSize`.
    pub minimum_ring_size: Option<u64>,
}

/// `ringHash: {minimumRingSize: 1024}`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[non_exhaustive]
pub struct RingHash {
    /// Minimum number of virtual nodes on the ring (0 means Envoy's default, 1024).
    pub minimum_ring_size: Option<u64>,
}

/// `maglev: {tableSize: 65537}`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[non_exhaustive]
pub struct Maglev {
    /// Lookup table size; must be a prime below 5000011.
    pub table_size: Option<u64>,
}

/// `httpCookie`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[non_exhaustive]
pub struct HttpCookie {
    /// Cookie name. Required.
    pub name: Option<String>,
    /// Path of a generated cookie.
    pub path: Option<String>,
    /// Lifetime of a generated cookie; without it no cookie is generated (0 = session cookie).
    pub ttl: Option<Duration>,
    /// Extra attributes of a generated cookie.
    #[serde(default)]
    pub attributes: Vec<Option<CookieAttribute>>,
}

/// An entry of `httpCookie.attributes`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[non_exhaustive]
pub struct CookieAttribute {
    /// Attribute name (e.g. `SameSite`). Required.
    pub name: Option<String>,
    /// Attribute value; absent for flag attributes such as `Secure`.
    pub value: Option<String>,
}

/// `localityLbSetting`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[non_exhaustive]
pub struct LocalityLbSetting {
    /// Weighted distribution from a source locality to destination localities.
    #[serde(default)]
    pub distribute: Vec<Option<LocalityDistribute>>,
    /// Region to region failover.
    #[serde(default)]
    pub failover: Vec<Option<LocalityFailover>>,
    /// Ordered labels used to prioritise endpoints (`key` or `key=value`).
    #[serde(default)]
    pub failover_priority: Vec<String>,
    /// Turns locality load balancing on or off (overrides the mesh setting).
    pub enabled: Option<bool>,
}

/// An entry of `localityLbSetting.distribute`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[non_exhaustive]
pub struct LocalityDistribute {
    /// Source locality, `region/zone/subzone`, optionally ending in `*`.
    pub from: Option<String>,
    /// Destination locality to weight (1..=100, summing to 100).
    #[serde(default)]
    pub to: BTreeMap<String, i64>,
}

/// An entry of `failover` (locality or zone-aware).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[non_exhaustive]
pub struct LocalityFailover {
    /// Source region.
    pub from: Option<String>,
    /// Region traffic fails over to when `from` has no healthy endpoints.
    pub to: Option<String>,
}

/// `zoneAwareLbSetting`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[non_exhaustive]
pub struct ZoneAwareLbSetting {
    /// Turns zone-aware balancing on or off.
    pub enabled: Option<bool>,
    /// Region to region failover.
    #[serde(default)]
    pub failover: Vec<Option<LocalityFailover>>,
    /// Ordered labels used to prioritise endpoints (no topology labels).
    #[serde(default)]
    pub failover_priority: Vec<String>,
    /// Minimum cluster size for zone-aware routing (at least 1).
    pub min_cluster_size: Option<i64>,
}

/// `warmup`: slow start for new endpoints.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[non_exhaustive]
pub struct WarmupConfiguration {
    /// Length of the warm-up window. Required.
    pub duration: Option<Duration>,
    /// Share of traffic a new endpoint starts with, 0..=100 (default 10).
    pub minimum_percent: Option<f64>,
    /// Speed of the ramp, greater than 0 (default 1.0, linear).
    pub aggression: Option<f64>,
}

/// `connectionPool`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[non_exhaustive]
pub struct ConnectionPoolSettings {
    /// TCP (and HTTP) connection settings.
    pub tcp: Option<TcpSettings>,
    /// HTTP request settings.
    pub http: Option<HttpSettings>,
}

/// `connectionPool.tcp`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[non_exhaustive]
pub struct TcpSettings {
    /// Maximum connections to a destination host.
    pub max_connections: Option<i32>,
    /// TCP connect timeout.
    pub connect_timeout: Option<Duration>,
    /// TCP keepalive probes.
    pub tcp_keepalive: Option<TcpKeepalive>,
    /// Maximum lifetime of a connection.
    pub max_connection_duration: Option<Duration>,
    /// Idle timeout of a connection (`0s` disables it).
    pub idle_timeout: Option<Duration>,
}

/// `connectionPool.tcp.tcpKeepalive`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[non_exhaustive]
pub struct TcpKeepalive {
    /// Unanswered probes before the connection is dropped.
    pub probes: Option<u32>,
    /// Idle time before probes start.
    pub time: Option<Duration>,
    /// Time between probes.
    pub interval: Option<Duration>,
}

/// `connectionPool.http`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[non_exhaustive]
pub struct HttpSettings {
    /// Maximum queued requests waiting for a connection.
    #[serde(rename = "http1MaxPendingRequests")]
    pub http1_max_pending_requests: Option<i32>,
    /// Maximum active requests to a destination.
    #[serde(rename = "http2MaxRequests")]
    pub http2_max_requests: Option<i32>,
    /// Maximum requests per connection (0 = unlimited, 1 disables keep-alive).
    pub max_requests_per_connection: Option<i32>,
    /// Maximum outstanding retries to all hosts.
    pub max_retries: Option<i32>,
    /// Idle timeout of upstream connections.
    pub idle_timeout: Option<Duration>,
    /// `DEFAULT`, `DO_NOT_UPGRADE` or `UPGRADE`.
    #[serde(rename = "h2UpgradePolicy")]
    pub h2_upgrade_policy: Option<String>,
    /// Use the downstream protocol upstream.
    pub use_client_protocol: Option<bool>,
    /// Maximum concurrent streams per HTTP/2 connection.
    pub max_concurrent_streams: Option<i32>,
    /// HTTP/2 PING keepalive.
    #[serde(rename = "http2KeepAlive")]
    pub http2_keep_alive: Option<ConnectionKeepalive>,
}

/// `connectionPool.http.http2KeepAlive`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[non_exhaustive]
pub struct ConnectionKeepalive {
    /// Interval between PINGs. Required.
    pub interval: Option<Duration>,
    /// Time to wait for a PING response. Required.
    pub timeout: Option<Duration>,
}

/// `outlierDetection`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[non_exhaustive]
pub struct OutlierDetection {
    /// Deprecated: use `consecutiveGatewayErrors` or `consecutive5xxErrors`.
    pub consecutive_errors: Option<i32>,
    /// Count local-origin failures (connect errors, timeouts) separately.
    pub split_external_local_origin_errors: Option<bool>,
    /// Local-origin failures before ejection (needs `splitExternalLocalOriginErrors`).
    pub consecutive_local_origin_failures: Option<u32>,
    /// 502/503/504 and connect errors before ejection.
    pub consecutive_gateway_errors: Option<u32>,
    /// 5xx responses before ejection (0 disables).
    #[serde(rename = "consecutive5xxErrors")]
    pub consecutive_5xx_errors: Option<u32>,
    /// Time between ejection sweeps.
    pub interval: Option<Duration>,
    /// Minimum ejection duration (multiplied by the times ejected).
    pub base_ejection_time: Option<Duration>,
    /// Maximum share of endpoints ejected, 0..=100.
    pub max_ejection_percent: Option<i32>,
    /// Outlier detection stops when fewer endpoints are healthy, 0..=100.
    pub min_health_percent: Option<i32>,
    /// Only these status codes count as errors.
    #[serde(default)]
    pub outlier_detection_http_error_codes: Vec<i64>,
}

/// `tls` towards the service (client side of the connection).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[non_exhaustive]
pub struct ClientTlsSettings {
    /// `DISABLE` (default), `SIMPLE`, `MUTUAL` or `ISTIO_MUTUAL`.
    pub mode: Option<String>,
    /// Client certificate file (`MUTUAL`).
    pub client_certificate: Option<String>,
    /// Client private key file (`MUTUAL`).
    pub private_key: Option<String>,
    /// CA bundle used to verify the server.
    pub ca_certificates: Option<String>,
    /// Secret holding the client certificate, key and CA.
    pub credential_name: Option<String>,
    /// Names the server certificate must carry.
    #[serde(default)]
    pub subject_alt_names: Vec<String>,
    /// SNI sent to the server.
    pub sni: Option<String>,
    /// Skip verification of the server certificate.
    pub insecure_skip_verify: Option<bool>,
    /// Certificate revocation list file.
    pub ca_crl: Option<String>,
}
