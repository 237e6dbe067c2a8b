//! Istio `VirtualService` (networking.istio.io v1, v1beta1, v1alpha3), field for field.
//!
//! Every field is optional or defaulted so that presence is kept: Istio rejects some objects
//! that are present but empty (`fault: {}`, `rewrite: {}`), so absent and empty must differ.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::common::{Duration, Percent, StringMatch};

/// `spec` of a VirtualService.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[non_exhaustive]
pub struct VirtualServiceSpec {
    /// Destination hosts the rules apply to.
    #[serde(default)]
    pub hosts: Vec<String>,
    /// Gateways (and `mesh`) the rules apply to; empty means `mesh`.
    #[serde(default)]
    pub gateways: Vec<String>,
    /// HTTP rules, in order; the first match wins.
    #[serde(default)]
    pub http: Vec<Option<HttpRouteRule>>,
    /// TLS (SNI) rules, for connections ([`crate::Table::decide_connection`]).
    #[serde(default)]
    pub tls: Vec<Option<TlsRoute>>,
    /// TCP rules, for connections ([`crate::Table::decide_connection`]).
    #[serde(default)]
    pub tcp: Vec<Option<TcpRoute>>,
    /// Namespaces the resource is visible to.
    #[serde(default)]
    pub export_to: Vec<String>,
}

/// One entry of `spec.http`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[non_exhaustive]
pub struct HttpRouteRule {
    /// Name, used in route names and logs.
    pub name: Option<String>,
    /// Match blocks: OR across blocks, AND within one.
    #[serde(default, rename = "match")]
    pub matches: Vec<Option<HttpMatchRequest>>,
    /// Weighted destinations.
    pub route: Option<Vec<Option<HttpRouteDestination>>>,
    /// Redirect instead of forwarding.
    pub redirect: Option<Box<HttpRedirect>>,
    /// Fixed response instead of forwarding.
    pub direct_response: Option<Box<HttpDirectResponse>>,
    /// Delegation to another VirtualService.
    pub delegate: Option<Box<Delegate>>,
    /// Path and authority rewrite.
    pub rewrite: Option<Box<HttpRewrite>>,
    /// Request timeout.
    pub timeout: Option<Duration>,
    /// Retry policy.
    pub retries: Option<Box<HttpRetry>>,
    /// Fault injection.
    pub fault: Option<Box<HttpFaultInjection>>,
    /// A single mirror destination.
    pub mirror: Option<Box<Destination>>,
    /// Several mirrors, each with a percentage.
    pub mirrors: Option<Vec<Option<HttpMirrorPolicy>>>,
    /// Deprecated integer mirror percentage.
    pub mirror_percent: Option<i64>,
    /// Percentage of requests mirrored to `mirror`.
    pub mirror_percentage: Option<Percent>,
    /// CORS policy.
    pub cors_policy: Option<Box<CorsPolicy>>,
    /// Header operations.
    pub headers: Option<Box<Headers>>,
    /// Removed from the API (WebSocket upgrades are always allowed); accepted and ignored, as Istio does.
    pub websocket_upgrade: Option<bool>,
}

/// One match block (`spec.http[].match[]`).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[non_exhaustive]
pub struct HttpMatchRequest {
    /// Name appended to the route name.
    pub name: Option<String>,
    /// Path match (query and fragment stripped).
    pub uri: Option<StringMatch>,
    /// `:scheme` match.
    pub scheme: Option<Box<StringMatch>>,
    /// `:method` match.
    pub method: Option<Box<StringMatch>>,
    /// `:authority` match (raw Host value, port included).
    pub authority: Option<Box<StringMatch>>,
    /// Header matches; `{}` is a presence match.
    pub headers: Option<BTreeMap<String, Option<StringMatch>>>,
    /// Destination port.
    pub port: Option<i64>,
    /// Labels the source workload must carry.
    #[serde(default)]
    pub source_labels: BTreeMap<String, String>,
    /// Gateways this block applies to (overrides the top level).
    #[serde(default)]
    pub gateways: Vec<String>,
    /// Query parameter matches (first raw value).
    pub query_params: Option<BTreeMap<String, Option<StringMatch>>>,
    /// Case-insensitive `uri` exact/prefix.
    pub ignore_uri_case: Option<bool>,
    /// Header conditions that must not hold.
    pub without_headers: Option<BTreeMap<String, Option<StringMatch>>>,
    /// Namespace of the source workload.
    pub source_namespace: Option<String>,
    /// Envoy stat prefix.
    pub stat_prefix: Option<String>,
}

/// A weighted destination (`spec.http[].route[]`).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[non_exhaustive]
pub struct HttpRouteDestination {
    /// Where to send the request.
    pub destination: Option<Destination>,
    /// Relative weight.
    pub weight: Option<i64>,
    /// Header operations for this destination.
    pub headers: Option<Box<Headers>>,
}

/// A service (and subset and port).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[non_exhaustive]
pub struct Destination {
    /// Service name; short names are expanded with the resource's namespace.
    #[serde(default)]
    pub host: String,
    /// DestinationRule subset.
    pub subset: Option<String>,
    /// Port on the service.
    pub port: Option<PortSelector>,
}

/// `port: {number: 9080}`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[non_exhaustive]
pub struct PortSelector {
    /// Port number.
    pub number: Option<i64>,
}

/// Request and response header operations.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[non_exhaustive]
pub struct Headers {
    /// Operations on the request.
    pub request: Option<HeaderOperations>,
    /// Operations on the response.
    pub response: Option<HeaderOperations>,
}

/// `set`, `add`, `remove`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[non_exhaustive]
pub struct HeaderOperations {
    /// Overwrite.
    #[serde(default)]
    pub set: BTreeMap<String, String>,
    /// Append.
    #[serde(default)]
    pub add: BTreeMap<String, String>,
    /// Remove.
    #[serde(default)]
    pub remove: Vec<String>,
}

/// Redirect.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[non_exhaustive]
pub struct HttpRedirect {
    /// Replaces the whole path.
    pub uri: Option<String>,
    /// Replaces the matched prefix (protobuf JSON also accepts `prefix_rewrite`).
    #[serde(alias = "prefix_rewrite")]
    pub prefix_rewrite: Option<String>,
    /// Replaces the authority.
    pub authority: Option<String>,
    /// Port of the redirect URL.
    pub port: Option<i64>,
    /// `FROM_PROTOCOL_DEFAULT` or `FROM_REQUEST_PORT`.
    pub derive_port: Option<String>,
    /// Scheme of the redirect URL.
    pub scheme: Option<String>,
    /// Status code (default 301).
    pub redirect_code: Option<i64>,
}

/// Direct response.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[non_exhaustive]
pub struct HttpDirectResponse {
    /// Status code.
    pub status: Option<i64>,
    /// Body.
    pub body: Option<HttpBody>,
}

/// Body of a direct response.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[non_exhaustive]
pub struct HttpBody {
    /// Text body.
    pub string: Option<String>,
    /// Base64 body.
    pub bytes: Option<String>,
}

/// Delegation target.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[non_exhaustive]
pub struct Delegate {
    /// VirtualService name.
    pub name: Option<String>,
    /// VirtualService namespace.
    pub namespace: Option<String>,
}

/// Rewrite.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[non_exhaustive]
pub struct HttpRewrite {
    /// Replaces the matched prefix (or the whole path).
    pub uri: Option<String>,
    /// Replaces the authority.
    pub authority: Option<String>,
    /// Regex rewrite of the path.
    pub uri_regex_rewrite: Option<RegexRewrite>,
}

/// `uriRegexRewrite`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[non_exhaustive]
pub struct RegexRewrite {
    /// RE2 pattern.
    #[serde(rename = "match")]
    pub pattern: Option<String>,
    /// Replacement, `\1` for groups.
    pub rewrite: Option<String>,
}

/// Retries.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[non_exhaustive]
pub struct HttpRetry {
    /// Number of retries.
    pub attempts: Option<i64>,
    /// Timeout per try.
    pub per_try_timeout: Option<Duration>,
    /// Comma-separated retry conditions.
    pub retry_on: Option<String>,
    /// Retry in other localities.
    pub retry_remote_localities: Option<bool>,
    /// Avoid previously tried hosts.
    pub retry_ignore_previous_hosts: Option<bool>,
    /// Base interval between retries.
    pub backoff: Option<Duration>,
}

/// Fault injection.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[non_exhaustive]
pub struct HttpFaultInjection {
    /// Delay.
    pub delay: Option<FaultDelay>,
    /// Abort.
    pub abort: Option<FaultAbort>,
}

/// Fault delay.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[non_exhaustive]
pub struct FaultDelay {
    /// Fixed delay.
    pub fixed_delay: Option<Duration>,
    /// Exponential delay (rejected, as Istio does).
    pub exponential_delay: Option<Duration>,
    /// Share of requests delayed.
    pub percentage: Option<Percent>,
    /// Deprecated integer percentage.
    pub percent: Option<i64>,
}

/// Fault abort.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[non_exhaustive]
pub struct FaultAbort {
    /// HTTP status to answer.
    pub http_status: Option<i64>,
    /// gRPC status name to answer.
    pub grpc_status: Option<String>,
    /// HTTP/2 error (rejected, as Istio does).
    pub http2_error: Option<String>,
    /// Share of requests aborted.
    pub percentage: Option<Percent>,
}

/// One of `mirrors`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[non_exhaustive]
pub struct HttpMirrorPolicy {
    /// Mirror destination.
    pub destination: Option<Destination>,
    /// Share of requests mirrored (absent means 100).
    pub percentage: Option<Percent>,
}

/// CORS policy.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[non_exhaustive]
pub struct CorsPolicy {
    /// Deprecated exact origins.
    #[serde(default)]
    pub allow_origin: Vec<String>,
    /// Allowed origins.
    #[serde(default)]
    pub allow_origins: Vec<Option<StringMatch>>,
    /// Allowed methods.
    #[serde(default)]
    pub allow_methods: Vec<String>,
    /// Allowed request headers.
    #[serde(default)]
    pub allow_headers: Vec<String>,
    /// Exposed response headers.
    #[serde(default)]
    pub expose_headers: Vec<String>,
    /// Preflight cache time.
    pub max_age: Option<Duration>,
    /// Allow credentials.
    pub allow_credentials: Option<bool>,
    /// `FORWARD` or `IGNORE`.
    pub unmatched_preflights: Option<String>,
}

/// A TLS route (`spec.tls[]`).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[non_exhaustive]
pub struct TlsRoute {
    /// SNI matches.
    #[serde(default, rename = "match")]
    pub matches: Vec<Option<TlsMatchAttributes>>,
    /// Destinations.
    #[serde(default)]
    pub route: Vec<Option<RouteDestination>>,
}

/// A TLS match.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[non_exhaustive]
pub struct TlsMatchAttributes {
    /// SNI values.
    #[serde(default)]
    pub sni_hosts: Vec<String>,
    /// Destination subnets.
    #[serde(default)]
    pub destination_subnets: Vec<String>,
    /// Port.
    pub port: Option<i64>,
    /// Source labels.
    #[serde(default)]
    pub source_labels: BTreeMap<String, String>,
    /// Gateways.
    #[serde(default)]
    pub gateways: Vec<String>,
    /// Source namespace.
    pub source_namespace: Option<String>,
}

/// A TCP route (`spec.tcp[]`).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[non_exhaustive]
pub struct TcpRoute {
    /// L4 matches.
    #[serde(default, rename = "match")]
    pub matches: Vec<Option<L4MatchAttributes>>,
    /// Destinations.
    #[serde(default)]
    pub route: Vec<Option<RouteDestination>>,
}

/// An L4 match.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[non_exhaustive]
pub struct L4MatchAttributes {
    /// Destination subnets.
    #[serde(default)]
    pub destination_subnets: Vec<String>,
    /// Port.
    pub port: Option<i64>,
    /// Source subnet.
    pub source_subnet: Option<String>,
    /// Source labels.
    #[serde(default)]
    pub source_labels: BTreeMap<String, String>,
    /// Gateways.
    #[serde(default)]
    pub gateways: Vec<String>,
    /// Source namespace.
    pub source_namespace: Option<String>,
}

/// A TCP/TLS destination.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[non_exhaustive]
pub struct RouteDestination {
    /// Destination.
    pub destination: Option<Destination>,
    /// Relative weight.
    pub weight: Option<i64>,
}
