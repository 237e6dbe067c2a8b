//! Mesh-wide settings: what istiod reads from its mesh config (the `istio` ConfigMap in the
//! root namespace, key `mesh`; istio/api `mesh/v1alpha1/config.proto` `MeshConfig`), as far as
//! routing depends on them. [`crate::CompileOptions::mesh`] holds them; a loaded `istio`
//! ConfigMap in the root namespace overrides the fields it sets.

/// What a sidecar does with a request for a host no service in its view defines
/// (`MeshConfig.outboundTrafficPolicy.mode`, and a Sidecar's own `outboundTrafficPolicy`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum OutboundPolicy {
    /// `ALLOW_ANY` (Istio's default): forwarded to the address the client asked for, as Envoy's
    /// `PassthroughCluster`.
    #[default]
    AllowAny,
    /// `REGISTRY_ONLY`: refused, as Envoy's `BlackHoleCluster` (502).
    RegistryOnly,
}

impl OutboundPolicy {
    /// The mode as Istio spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            OutboundPolicy::AllowAny => "ALLOW_ANY",
            OutboundPolicy::RegistryOnly => "REGISTRY_ONLY",
        }
    }
}

/// The mesh-wide settings routing depends on.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct MeshSettings {
    /// `outboundTrafficPolicy.mode` (default `ALLOW_ANY`).
    pub outbound_traffic_policy: OutboundPolicy,
    /// `rootNamespace` (default `istio-system`): its Sidecar without a workload selector is the
    /// mesh's default Sidecar, and its `istio` ConfigMap is the mesh config.
    pub root_namespace: String,
    /// `defaultDestinationRuleExportTo`: the `exportTo` of a DestinationRule that writes none
    /// (empty: `*`). As istiod, only `.` changes anything (push_context.go
    /// `setDestinationRules`: "we only honor . and *").
    pub default_destination_rule_export_to: Vec<String>,
    /// `defaultVirtualServiceExportTo`: the `exportTo` of a VirtualService that writes none
    /// (empty: `*`).
    pub default_virtual_service_export_to: Vec<String>,
    /// `defaultServiceExportTo`: the `exportTo` of a Service that sets none (empty: `*`).
    pub default_service_export_to: Vec<String>,
    /// `defaultHttpRetryPolicy` as written (`None`: Istio's built-in default). As istiod, it
    /// is the policy of every HTTP route that writes no `retries` (VirtualService rules, and
    /// Gateway API rules without `retry`) and of the mesh default route, replacing the
    /// built-in default whole; `attempts` 0 (or `{}`) turns those routes' retries off. A
    /// route's own `retries` is not merged with it (route.go `applyHTTPRouteDestination`).
    pub default_http_retry_policy: Option<crate::config::virtual_service::HttpRetry>,
    /// Whether the proxies allocate addresses for ServiceEntries that have none: the mesh
    /// config's `defaultConfig.proxyMetadata` sets `ISTIO_META_DNS_CAPTURE` and
    /// `ISTIO_META_DNS_AUTO_ALLOCATE` (or `PILOT_ENABLE_IP_AUTOALLOCATE`) to `"true"` (default
    /// false). Routing does not depend on it; analyze does not ask such entries for
    /// `addresses` (istioctl's `serviceentry.ProtocolAddressesAnalyzer`, IST0134).
    pub dns_auto_allocate: bool,
}

impl Default for MeshSettings {
    fn default() -> MeshSettings {
        MeshSettings {
            outbound_traffic_policy: OutboundPolicy::AllowAny,
            root_namespace: "istio-system".into(),
            default_destination_rule_export_to: Vec::new(),
            default_virtual_service_export_to: Vec::new(),
            default_service_export_to: Vec::new(),
            default_http_retry_policy: None,
            dns_auto_allocate: false,
        }
    }
}
