//! The mesh config as istiod reads it: the `istio` ConfigMap (`kubectl get cm istio -n
//! istio-system -o yaml`), whose `data.mesh` is a YAML string of istio/api
//! `mesh/v1alpha1/config.proto` `MeshConfig`. Only the fields routing depends on are read;
//! the others (a big proto) are accepted and ignored.

use serde::Deserialize;

use super::virtual_service::HttpRetry;

/// The name of the ConfigMap that holds the mesh config, as istiod reads it.
pub const MESH_CONFIG_MAP: &str = "istio";

/// `data` of the `istio` ConfigMap: the keys meshroute reads.
#[derive(Clone, Debug, Default, Deserialize)]
#[non_exhaustive]
pub struct ConfigMapData {
    /// `mesh`: the MeshConfig, as a YAML string.
    pub mesh: Option<String>,
}

/// The fields of `MeshConfig` routing depends on, as written.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct MeshConfig {
    /// `outboundTrafficPolicy`.
    pub outbound_traffic_policy: Option<OutboundTrafficPolicy>,
    /// `rootNamespace`.
    pub root_namespace: Option<String>,
    /// `defaultDestinationRuleExportTo`.
    pub default_destination_rule_export_to: Option<Vec<String>>,
    /// `defaultVirtualServiceExportTo`.
    pub default_virtual_service_export_to: Option<Vec<String>>,
    /// `defaultServiceExportTo`.
    pub default_service_export_to: Option<Vec<String>>,
    /// `defaultHttpRetryPolicy`.
    pub default_http_retry_policy: Option<HttpRetry>,
    /// `pathNormalization`.
    pub path_normalization: Option<ProxyPathNormalization>,
    /// `defaultConfig`: the proxies' default `ProxyConfig`.
    pub default_config: Option<ProxyConfig>,
}

/// `defaultConfig` (istio/api `mesh/v1alpha1/proxy.proto` `ProxyConfig`): the field meshroute
/// reads.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct ProxyConfig {
    /// `proxyMetadata`: environment variables of every proxy (strings; another value is kept
    /// and counts as unset).
    #[serde(default)]
    pub proxy_metadata: std::collections::BTreeMap<String, serde_json::Value>,
}

/// `outboundTrafficPolicy`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct OutboundTrafficPolicy {
    /// `mode`: `ALLOW_ANY` or `REGISTRY_ONLY`.
    pub mode: Option<String>,
}

/// `pathNormalization`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct ProxyPathNormalization {
    /// `normalization`: `DEFAULT`, `NONE`, `BASE`, `MERGE_SLASHES` or
    /// `DECODE_AND_MERGE_SLASHES`.
    pub normalization: Option<String>,
}
