//! Kubernetes Gateway API (`gateway.networking.k8s.io` v1, v1beta1): `Gateway`, `HTTPRoute`,
//! `GRPCRoute`, `ReferenceGrant`; and the core `Service` where a route's parent is a Service
//! (the GAMMA mesh model) or to check that a backend exists.
//!
//! Field for field with the Go types in kubernetes-sigs/gateway-api `apis/v1`; everything is
//! optional or defaulted so that validation sees what was written. Objects that do not change a
//! routing decision (gateway infrastructure, TLS certificates) are kept as raw values.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

/// `spec` of a Gateway API `Gateway`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[non_exhaustive]
pub struct GatewaySpec {
    /// The GatewayClass.
    pub gateway_class_name: Option<String>,
    /// Listeners.
    #[serde(default)]
    pub listeners: Vec<Listener>,
    /// Requested addresses.
    #[serde(default)]
    pub addresses: Vec<GatewayAddress>,
    /// Infrastructure labels and annotations (not routing).
    pub infrastructure: Option<Value>,
    /// Gateway-level TLS settings (not routing).
    pub tls: Option<Value>,
    /// Backend TLS (not routing).
    #[serde(rename = "backendTLS")]
    pub backend_tls: Option<Value>,
    /// ListenerSets allowed to attach (experimental).
    pub allowed_listeners: Option<Value>,
    /// Default scope (experimental).
    pub default_scope: Option<String>,
}

/// One listener.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[non_exhaustive]
pub struct Listener {
    /// Unique name (what `sectionName` refers to).
    pub name: Option<String>,
    /// Hostname (may be a `*.` wildcard); absent matches every host.
    pub hostname: Option<String>,
    /// Port.
    pub port: Option<i64>,
    /// `HTTP`, `HTTPS`, `TLS`, `TCP`, `UDP` or a domain-prefixed protocol.
    pub protocol: Option<String>,
    /// TLS configuration.
    pub tls: Option<ListenerTls>,
    /// Which routes may attach.
    pub allowed_routes: Option<AllowedRoutes>,
}

/// Listener TLS.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[non_exhaustive]
pub struct ListenerTls {
    /// `Terminate` (default) or `Passthrough`.
    pub mode: Option<String>,
    /// Certificates.
    #[serde(default)]
    pub certificate_refs: Vec<Value>,
    /// Client certificate validation.
    pub frontend_validation: Option<Value>,
    /// Implementation-specific options.
    #[serde(default)]
    pub options: BTreeMap<String, String>,
}

/// `allowedRoutes`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[non_exhaustive]
pub struct AllowedRoutes {
    /// Namespaces routes may come from.
    pub namespaces: Option<RouteNamespaces>,
    /// Route kinds.
    #[serde(default)]
    pub kinds: Vec<RouteGroupKind>,
}

/// `allowedRoutes.namespaces`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[non_exhaustive]
pub struct RouteNamespaces {
    /// `Same` (default), `All` or `Selector`.
    pub from: Option<String>,
    /// Namespace label selector for `Selector`.
    pub selector: Option<LabelSelector>,
}

/// A Kubernetes label selector.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[non_exhaustive]
pub struct LabelSelector {
    /// Labels that must all be present with these values.
    #[serde(default)]
    pub match_labels: BTreeMap<String, String>,
    /// Set-based requirements.
    #[serde(default)]
    pub match_expressions: Vec<LabelSelectorRequirement>,
}

/// `matchExpressions` entry.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[non_exhaustive]
pub struct LabelSelectorRequirement {
    /// Label key.
    pub key: String,
    /// `In`, `NotIn`, `Exists`, `DoesNotExist`.
    pub operator: String,
    /// Values.
    #[serde(default)]
    pub values: Vec<String>,
}

/// A route group and kind.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[non_exhaustive]
pub struct RouteGroupKind {
    /// Group (default `gateway.networking.k8s.io`).
    pub group: Option<String>,
    /// Kind.
    pub kind: Option<String>,
}

/// A Gateway address.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[non_exhaustive]
pub struct GatewayAddress {
    /// `IPAddress`, `Hostname` or implementation-specific.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// The address.
    pub value: Option<String>,
}

/// `spec` of an `HTTPRoute`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[non_exhaustive]
pub struct HttpRouteSpec {
    /// Parents (Gateways or Services) the route attaches to.
    #[serde(default)]
    pub parent_refs: Vec<ParentRef>,
    /// Hostnames the route serves.
    #[serde(default)]
    pub hostnames: Vec<String>,
    /// Rules.
    #[serde(default)]
    pub rules: Vec<HttpRouteRuleSpec>,
}

/// A reference to a parent.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[non_exhaustive]
pub struct ParentRef {
    /// Group (default `gateway.networking.k8s.io`; `""` or `core` for a Service).
    pub group: Option<String>,
    /// Kind (default `Gateway`).
    pub kind: Option<String>,
    /// Namespace (default the route's).
    pub namespace: Option<String>,
    /// Name.
    #[serde(default)]
    pub name: String,
    /// Listener name (Gateway) or port name (Service).
    pub section_name: Option<String>,
    /// Port.
    pub port: Option<i64>,
}

/// One HTTPRoute rule.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[non_exhaustive]
pub struct HttpRouteRuleSpec {
    /// Rule name.
    pub name: Option<String>,
    /// Matches (OR); none means `PathPrefix /`.
    #[serde(default)]
    pub matches: Vec<HttpRouteMatch>,
    /// Filters.
    #[serde(default)]
    pub filters: Vec<HttpRouteFilter>,
    /// Backends.
    #[serde(default)]
    pub backend_refs: Vec<HttpBackendRef>,
    /// Timeouts.
    pub timeouts: Option<HttpRouteTimeouts>,
    /// Retries (experimental).
    pub retry: Option<HttpRouteRetry>,
    /// Session persistence (experimental).
    pub session_persistence: Option<SessionPersistence>,
}

/// `sessionPersistence` of an HTTPRoute or GRPCRoute rule (experimental channel): the Go type
/// `SessionPersistence` in kubernetes-sigs/gateway-api `apis/v1/shared_types.go`. Released
/// versions (v1.1 to v1.6) write `sessionName`, `absoluteTimeout`, `idleTimeout` (gone in
/// v1.6), `type` and `cookieConfig.lifetimeType`; the unreleased main branch replaces
/// `sessionName` and `cookieConfig` with the union members `cookie` (`name`, `path`,
/// `lifetimeType`) and `header` (`name`). Both forms are read; validation rejects a mix.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[non_exhaustive]
pub struct SessionPersistence {
    /// Name of the session cookie or header (at most 128 characters; released form).
    pub session_name: Option<String>,
    /// Absolute lifetime of the session (a GEP-2257 duration such as `1h`).
    pub absolute_timeout: Option<String>,
    /// Idle timeout of the session (released form, v1.1 to v1.5).
    pub idle_timeout: Option<String>,
    /// `Cookie` (default) or `Header`.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// Cookie settings (released form).
    pub cookie_config: Option<SessionCookieConfig>,
    /// Cookie settings (main-branch union form).
    pub cookie: Option<SessionCookie>,
    /// Header settings (main-branch union form).
    pub header: Option<SessionHeader>,
}

/// `cookieConfig` of a released-form `sessionPersistence`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[non_exhaustive]
pub struct SessionCookieConfig {
    /// `Session` (default) or `Permanent`.
    pub lifetime_type: Option<String>,
}

/// `cookie` of a main-branch `sessionPersistence`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[non_exhaustive]
pub struct SessionCookie {
    /// Cookie name.
    pub name: Option<String>,
    /// Cookie `Path` attribute (default `/`).
    pub path: Option<String>,
    /// `Session` (default) or `Permanent`.
    pub lifetime_type: Option<String>,
}

/// `header` of a main-branch `sessionPersistence`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[non_exhaustive]
pub struct SessionHeader {
    /// Header name (required).
    pub name: Option<String>,
}

/// One match.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[non_exhaustive]
pub struct HttpRouteMatch {
    /// Path (default `PathPrefix /`).
    pub path: Option<HttpPathMatch>,
    /// Header matches.
    #[serde(default)]
    pub headers: Vec<NameValueMatch>,
    /// Query parameter matches.
    #[serde(default)]
    pub query_params: Vec<NameValueMatch>,
    /// Method.
    pub method: Option<String>,
}

/// Path match.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[non_exhaustive]
pub struct HttpPathMatch {
    /// `Exact`, `PathPrefix` (default) or `RegularExpression`.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// Value (default `/`).
    pub value: Option<String>,
}

/// Header or query parameter match.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[non_exhaustive]
pub struct NameValueMatch {
    /// `Exact` (default) or `RegularExpression`.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// Name.
    #[serde(default)]
    pub name: String,
    /// Value.
    #[serde(default)]
    pub value: String,
}

/// A filter.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[non_exhaustive]
pub struct HttpRouteFilter {
    /// Which filter.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// `RequestHeaderModifier`.
    pub request_header_modifier: Option<HeaderModifier>,
    /// `ResponseHeaderModifier`.
    pub response_header_modifier: Option<HeaderModifier>,
    /// `RequestMirror`.
    pub request_mirror: Option<RequestMirror>,
    /// `RequestRedirect`.
    pub request_redirect: Option<RequestRedirect>,
    /// `URLRewrite`.
    pub url_rewrite: Option<UrlRewrite>,
    /// `ExtensionRef`.
    pub extension_ref: Option<Value>,
    /// `CORS` (experimental).
    pub cors: Option<CorsFilter>,
    /// `ExternalAuth` (experimental).
    pub external_auth: Option<Value>,
}

/// Header modifier.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[non_exhaustive]
pub struct HeaderModifier {
    /// Overwrite.
    #[serde(default)]
    pub set: Vec<HeaderNameValue>,
    /// Append.
    #[serde(default)]
    pub add: Vec<HeaderNameValue>,
    /// Remove.
    #[serde(default)]
    pub remove: Vec<String>,
}

/// A header name and value.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[non_exhaustive]
pub struct HeaderNameValue {
    /// Name.
    #[serde(default)]
    pub name: String,
    /// Value.
    #[serde(default)]
    pub value: String,
}

/// `RequestMirror`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[non_exhaustive]
pub struct RequestMirror {
    /// Where copies go.
    pub backend_ref: Option<BackendObjectRef>,
    /// Share of requests, 0..=100.
    pub percent: Option<i64>,
    /// Share as a fraction.
    pub fraction: Option<Fraction>,
}

/// `numerator / denominator` (denominator default 100).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[non_exhaustive]
pub struct Fraction {
    /// Numerator.
    pub numerator: Option<i64>,
    /// Denominator (default 100).
    pub denominator: Option<i64>,
}

/// `RequestRedirect`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[non_exhaustive]
pub struct RequestRedirect {
    /// `http` or `https`.
    pub scheme: Option<String>,
    /// New host.
    pub hostname: Option<String>,
    /// Path modifier.
    pub path: Option<PathModifier>,
    /// New port.
    pub port: Option<i64>,
    /// 301 or 302 (default 302), also 303, 307, 308.
    pub status_code: Option<i64>,
}

/// `URLRewrite`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[non_exhaustive]
pub struct UrlRewrite {
    /// New host.
    pub hostname: Option<String>,
    /// Path modifier.
    pub path: Option<PathModifier>,
}

/// Path modifier of a redirect or rewrite.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[non_exhaustive]
pub struct PathModifier {
    /// `ReplaceFullPath` or `ReplacePrefixMatch`.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// New path.
    pub replace_full_path: Option<String>,
    /// Replacement for the matched prefix.
    pub replace_prefix_match: Option<String>,
}

/// CORS filter (experimental).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[non_exhaustive]
pub struct CorsFilter {
    /// Allowed origins (`*` wildcards allowed).
    #[serde(default)]
    pub allow_origins: Vec<String>,
    /// Allow credentials.
    pub allow_credentials: Option<bool>,
    /// Allowed methods.
    #[serde(default)]
    pub allow_methods: Vec<String>,
    /// Allowed headers.
    #[serde(default)]
    pub allow_headers: Vec<String>,
    /// Exposed headers.
    #[serde(default)]
    pub expose_headers: Vec<String>,
    /// Preflight cache time in seconds.
    pub max_age: Option<i64>,
}

/// A reference to a backend object.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[non_exhaustive]
pub struct BackendObjectRef {
    /// Group (default core).
    pub group: Option<String>,
    /// Kind (default `Service`).
    pub kind: Option<String>,
    /// Name.
    #[serde(default)]
    pub name: String,
    /// Namespace (default the route's).
    pub namespace: Option<String>,
    /// Port (required for a Service).
    pub port: Option<i64>,
}

/// A weighted backend with its own filters.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[non_exhaustive]
pub struct HttpBackendRef {
    /// Group (default core).
    pub group: Option<String>,
    /// Kind (default `Service`).
    pub kind: Option<String>,
    /// Name.
    #[serde(default)]
    pub name: String,
    /// Namespace (default the route's).
    pub namespace: Option<String>,
    /// Port.
    pub port: Option<i64>,
    /// Relative weight (default 1).
    pub weight: Option<i64>,
    /// Filters for this backend.
    #[serde(default)]
    pub filters: Vec<HttpRouteFilter>,
}

/// Rule timeouts (Gateway API duration strings).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[non_exhaustive]
pub struct HttpRouteTimeouts {
    /// Whole request.
    pub request: Option<String>,
    /// Each backend request.
    pub backend_request: Option<String>,
}

/// Retries (experimental).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[non_exhaustive]
pub struct HttpRouteRetry {
    /// Status codes to retry.
    #[serde(default)]
    pub codes: Vec<i64>,
    /// Attempts.
    pub attempts: Option<i64>,
    /// Backoff duration.
    pub backoff: Option<String>,
}

/// `spec` of a `TLSRoute` (v1alpha2, v1alpha3, v1): connections routed by their SNI
/// (kubernetes-sigs/gateway-api `apis/v1alpha2/tlsroute_types.go`).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[non_exhaustive]
pub struct TlsRouteSpec {
    /// Gateways (listeners of protocol TLS) the route attaches to.
    #[serde(default)]
    pub parent_refs: Vec<ParentRef>,
    /// SNI names the route serves (exact or `*.` wildcard); none means every name the
    /// listener takes.
    #[serde(default)]
    pub hostnames: Vec<String>,
    /// Rules.
    #[serde(default)]
    pub rules: Vec<L4RouteRule>,
}

/// `spec` of a `TCPRoute` (v1alpha2, v1): connections on a TCP listener
/// (kubernetes-sigs/gateway-api `apis/v1alpha2/tcproute_types.go`).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[non_exhaustive]
pub struct TcpRouteSpec {
    /// Gateways (listeners of protocol TCP) the route attaches to.
    #[serde(default)]
    pub parent_refs: Vec<ParentRef>,
    /// Rules.
    #[serde(default)]
    pub rules: Vec<L4RouteRule>,
}

/// One rule of a `TLSRoute` or `TCPRoute`: the backends connections are split across.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[non_exhaustive]
pub struct L4RouteRule {
    /// Rule name.
    pub name: Option<String>,
    /// Weighted backends.
    #[serde(default)]
    pub backend_refs: Vec<L4BackendRef>,
}

/// A weighted backend of a `TLSRoute` or `TCPRoute` rule (`BackendRef`: no filters).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[non_exhaustive]
pub struct L4BackendRef {
    /// Group (default core).
    pub group: Option<String>,
    /// Kind (default `Service`).
    pub kind: Option<String>,
    /// Name.
    #[serde(default)]
    pub name: String,
    /// Namespace (default the route's).
    pub namespace: Option<String>,
    /// Port (required for a Service).
    pub port: Option<i64>,
    /// Relative weight (default 1).
    pub weight: Option<i64>,
}

/// `spec` of a `GRPCRoute`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[non_exhaustive]
pub struct GrpcRouteSpec {
    /// Parents.
    #[serde(default)]
    pub parent_refs: Vec<ParentRef>,
    /// Hostnames.
    #[serde(default)]
    pub hostnames: Vec<String>,
    /// Rules.
    #[serde(default)]
    pub rules: Vec<GrpcRouteRuleSpec>,
}

/// One GRPCRoute rule.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[non_exhaustive]
pub struct GrpcRouteRuleSpec {
    /// Rule name.
    pub name: Option<String>,
    /// Matches (OR); none matches every call.
    #[serde(default)]
    pub matches: Vec<GrpcRouteMatch>,
    /// Filters.
    #[serde(default)]
    pub filters: Vec<HttpRouteFilter>,
    /// Backends.
    #[serde(default)]
    pub backend_refs: Vec<HttpBackendRef>,
    /// Session persistence (experimental).
    pub session_persistence: Option<SessionPersistence>,
}

/// One GRPCRoute match.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[non_exhaustive]
pub struct GrpcRouteMatch {
    /// Service and method.
    pub method: Option<GrpcMethodMatch>,
    /// Header matches.
    #[serde(default)]
    pub headers: Vec<NameValueMatch>,
}

/// gRPC service/method match.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[non_exhaustive]
pub struct GrpcMethodMatch {
    /// `Exact` (default) or `RegularExpression`.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// Fully qualified service, e.g. `foo.bar.Echo`.
    pub service: Option<String>,
    /// Method, e.g. `Ping`.
    pub method: Option<String>,
}

/// `spec` of a `ReferenceGrant`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[non_exhaustive]
pub struct ReferenceGrantSpec {
    /// Who may refer.
    #[serde(default)]
    pub from: Vec<ReferenceGrantFrom>,
    /// What may be referred to.
    #[serde(default)]
    pub to: Vec<ReferenceGrantTo>,
}

/// `from` entry.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[non_exhaustive]
pub struct ReferenceGrantFrom {
    /// Group.
    #[serde(default)]
    pub group: String,
    /// Kind.
    #[serde(default)]
    pub kind: String,
    /// Namespace.
    #[serde(default)]
    pub namespace: String,
}

/// `to` entry.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[non_exhaustive]
pub struct ReferenceGrantTo {
    /// Group.
    #[serde(default)]
    pub group: String,
    /// Kind.
    #[serde(default)]
    pub kind: String,
    /// Name (absent: all).
    pub name: Option<String>,
}

/// `spec` of a core `Service` (the parts routing needs; other fields are ignored).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct ServiceSpec {
    /// Ports.
    #[serde(default)]
    pub ports: Vec<ServicePort>,
    /// Pod selector.
    #[serde(default)]
    pub selector: BTreeMap<String, String>,
    /// `ClusterIP`, `NodePort`, `LoadBalancer`, `ExternalName`.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// Cluster IP.
    #[serde(rename = "clusterIP")]
    pub cluster_ip: Option<String>,
}

/// A Service port.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct ServicePort {
    /// Name.
    pub name: Option<String>,
    /// Port.
    pub port: Option<i64>,
    /// Protocol.
    pub protocol: Option<String>,
    /// Application protocol.
    pub app_protocol: Option<String>,
    /// Target port (number or name).
    pub target_port: Option<Value>,
}
