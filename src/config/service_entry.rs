//! Istio `ServiceEntry` (networking.istio.io v1, v1beta1, v1alpha3), field for field as in
//! istio/api `networking/v1alpha3/service_entry.proto`, with its inline endpoints as
//! `networking/v1alpha3/workload_entry.proto` `WorkloadEntry` and its workload selector as
//! `networking/v1alpha3/sidecar.proto` `WorkloadSelector`.
//!
//! Every field is optional or defaulted so that presence is kept. Enumerations are kept as the
//! strings written (`MESH_EXTERNAL`, `DNS`) and checked by validation, which names the field and
//! the allowed values. Numbers are signed so that a negative or oversized value reaches
//! validation.

use std::collections::BTreeMap;

use serde::Deserialize;

/// `spec` of a ServiceEntry: a service added to the mesh's registry.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[non_exhaustive]
pub struct ServiceEntrySpec {
    /// The service's host names (a wildcard allowed in the first label). Required.
    #[serde(default)]
    pub hosts: Vec<String>,
    /// Virtual IPs (or CIDR blocks) of the service.
    #[serde(default)]
    pub addresses: Vec<String>,
    /// The service's ports.
    #[serde(default)]
    pub ports: Vec<Option<ServiceEntryPort>>,
    /// `MESH_EXTERNAL` (default) or `MESH_INTERNAL`.
    pub location: Option<String>,
    /// `NONE` (default), `STATIC`, `DNS`, `DNS_ROUND_ROBIN` or `DYNAMIC_DNS`.
    pub resolution: Option<String>,
    /// Inline endpoints.
    pub endpoints: Option<Vec<Option<WorkloadEntry>>>,
    /// Pods (and WorkloadEntries) whose labels include these are the service's endpoints.
    pub workload_selector: Option<WorkloadSelector>,
    /// Namespaces the service is visible to (`.` own namespace, `*` all, `~` none).
    #[serde(default)]
    pub export_to: Vec<String>,
    /// Subject alternative names the service's certificates may carry (not used in routing).
    #[serde(default)]
    pub subject_alt_names: Vec<String>,
}

/// `spec.ports[]`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[non_exhaustive]
pub struct ServiceEntryPort {
    /// Port number, 1..=65535. Required.
    pub number: Option<i64>,
    /// `HTTP`, `HTTPS`, `GRPC`, `HTTP2`, `MONGO`, `TCP`, `TLS`, ... (case-insensitive; empty
    /// means protocol sniffing).
    pub protocol: Option<String>,
    /// Port name (a DNS-1123 label), unique within the entry. Required.
    pub name: Option<String>,
    /// The endpoints' port, when it differs from `number` (0 or absent: the same).
    pub target_port: Option<i64>,
}

/// A `WorkloadEntry`: one inline endpoint of a ServiceEntry (`spec.endpoints[]`), and the
/// `spec` of a WorkloadEntry resource (istio/api `networking/v1alpha3/workload_entry.proto`,
/// the same message), which the ServiceEntries of its namespace select by its labels.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[non_exhaustive]
pub struct WorkloadEntry {
    /// IP address, host name (DNS resolution) or `unix://` socket path.
    pub address: Option<String>,
    /// Port by service port name: where this endpoint serves that port.
    #[serde(default)]
    pub ports: BTreeMap<String, i64>,
    /// Labels (subsets select endpoints by them). Of a WorkloadEntry resource, its
    /// `metadata.labels` count too, winning on conflict (as istiod merges them).
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Network the endpoint is on.
    pub network: Option<String>,
    /// Locality, `region/zone/subzone`.
    pub locality: Option<String>,
    /// Load-balancing weight (0 or absent: 1).
    pub weight: Option<i64>,
    /// Service account of the workload.
    pub service_account: Option<String>,
}

/// `spec.workloadSelector: {labels: {...}}`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[non_exhaustive]
pub struct WorkloadSelector {
    /// Labels a workload must carry to be an endpoint of the service.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}
