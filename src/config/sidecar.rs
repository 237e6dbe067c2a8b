//! Istio `Sidecar` (networking.istio.io v1, v1beta1, v1alpha3), field for field as in istio/api
//! `networking/v1alpha3/sidecar.proto`. Routing reads the workload selector, the egress
//! listeners and the outbound traffic policy; the ingress listeners and connection pools are
//! read whole (so that a real Sidecar loads) and not interpreted.

use std::collections::BTreeMap;

use serde::Deserialize;

/// `spec` of a Sidecar: what a client workload's proxy sees of the mesh.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[non_exhaustive]
pub struct SidecarSpec {
    /// The workloads the Sidecar applies to; absent means every workload of its namespace (and,
    /// in the root namespace, of every namespace without a Sidecar of its own).
    pub workload_selector: Option<SidecarSelector>,
    /// Inbound listeners (not interpreted).
    #[serde(default)]
    pub ingress: Vec<Option<serde_json::Value>>,
    /// Outbound listeners: which services and VirtualServices the workload sees, per port.
    #[serde(default)]
    pub egress: Vec<Option<EgressListener>>,
    /// What the workload's proxy does with a host outside its view.
    pub outbound_traffic_policy: Option<OutboundTrafficPolicy>,
    /// Inbound connection pool (not interpreted).
    pub inbound_connection_pool: Option<serde_json::Value>,
}

/// `workloadSelector: {labels: {...}}` (networking v1alpha3 `WorkloadSelector`).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[non_exhaustive]
pub struct SidecarSelector {
    /// Labels a workload must carry.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

/// One `spec.egress[]` listener.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[non_exhaustive]
pub struct EgressListener {
    /// The port the listener is bound to; absent for the catch-all listener (the last one).
    pub port: Option<SidecarPort>,
    /// The address or Unix socket the listener binds.
    pub bind: Option<String>,
    /// `DEFAULT`, `IPTABLES` or `NONE`.
    pub capture_mode: Option<String>,
    /// `namespace/dnsName` entries: `*/`, `./`, `~/` or a namespace, then `*`, `*.suffix` or a
    /// name.
    #[serde(default)]
    pub hosts: Vec<String>,
}

/// `SidecarPort`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[non_exhaustive]
pub struct SidecarPort {
    /// Port number (0 with a Unix socket `bind`).
    pub number: Option<i64>,
    /// Protocol (`HTTP`, `TCP`, ...).
    pub protocol: Option<String>,
    /// Port name.
    pub name: Option<String>,
    /// Deprecated; has no effect on Sidecars.
    pub target_port: Option<i64>,
}

/// `outboundTrafficPolicy`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[non_exhaustive]
pub struct OutboundTrafficPolicy {
    /// `ALLOW_ANY` or `REGISTRY_ONLY`; absent is `REGISTRY_ONLY`, the proto's zero value.
    pub mode: Option<String>,
    /// Where ALLOW_ANY traffic goes instead of its own address (not interpreted).
    pub egress_proxy: Option<serde_json::Value>,
}
