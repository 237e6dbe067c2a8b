//! Service discovery: the Kubernetes resources endpoints are read from, `EndpointSlice`
//! (`discovery.k8s.io/v1`) and the core `Pod` (`v1`), 1:1 with their YAML. The core `Service`
//! is [`super::gateway_api::ServiceSpec`].
//!
//! Field for field with the Go types in kubernetes/api `discovery/v1/types.go` and
//! `core/v1/types.go`, reduced to what [`crate::registry::Registry::from_config`] reads plus
//! the fields beside them that describe an endpoint. These are objects the cluster writes
//! (`kubectl get -o yaml` output), not configuration people write, so unknown fields are
//! ignored rather than rejected, and a list Go leaves nil (`ports: null`, `endpoints: null`)
//! reads as empty.
//!
//! An EndpointSlice has no `spec`: its fields sit at the top level beside `metadata`, so the
//! loader reads the whole object (less `apiVersion`, `kind` and `metadata`) into
//! [`EndpointSlice`], and a Pod's `spec` and `status` into [`Pod`].

use serde::{Deserialize, Deserializer};
use serde_json::Value;

/// `null` or absent → the default (Go serializes a nil slice as `null`).
fn null_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Option::unwrap_or_default)
}

/// The body of a `discovery.k8s.io/v1` EndpointSlice: every top-level field but `apiVersion`,
/// `kind` and `metadata`. The Service it belongs to is the `kubernetes.io/service-name` label.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct EndpointSlice {
    /// `IPv4`, `IPv6` or `FQDN`.
    pub address_type: Option<String>,
    /// The endpoints.
    #[serde(default, deserialize_with = "null_default")]
    pub endpoints: Vec<SliceEndpoint>,
    /// The ports every endpoint of the slice exposes.
    #[serde(default, deserialize_with = "null_default")]
    pub ports: Vec<EndpointPort>,
}

/// One endpoint of an EndpointSlice (Kubernetes `discovery/v1.Endpoint`; renamed here because
/// [`crate::registry::Endpoint`] is the compiled type).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct SliceEndpoint {
    /// Addresses of the endpoint (1 to 100). Kubernetes calls them fungible: a consumer may
    /// use only the first.
    #[serde(default, deserialize_with = "null_default")]
    pub addresses: Vec<String>,
    /// Readiness, serving and termination.
    #[serde(default, deserialize_with = "null_default")]
    pub conditions: EndpointConditions,
    /// Host name (for DNS).
    pub hostname: Option<String>,
    /// The node hosting the endpoint.
    pub node_name: Option<String>,
    /// The zone the endpoint is in (`topology.kubernetes.io/zone`).
    pub zone: Option<String>,
    /// The object the endpoint stands for, usually a Pod.
    pub target_ref: Option<ObjectReference>,
    /// Topology-aware routing hints.
    pub hints: Option<EndpointHints>,
}

/// `conditions`: each absent value means unknown.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct EndpointConditions {
    /// Ready to receive traffic; absent means unknown, which consumers treat as ready. Never
    /// true for a terminating endpoint.
    pub ready: Option<bool>,
    /// Serving, regardless of termination.
    pub serving: Option<bool>,
    /// Terminating.
    pub terminating: Option<bool>,
}

/// A reference to another object (`targetRef`).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct ObjectReference {
    /// Kind, e.g. `Pod`.
    pub kind: Option<String>,
    /// Name.
    pub name: Option<String>,
    /// Namespace; absent means the slice's.
    pub namespace: Option<String>,
    /// UID.
    pub uid: Option<String>,
}

/// `hints`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct EndpointHints {
    /// Zones that should consume the endpoint.
    #[serde(default, deserialize_with = "null_default")]
    pub for_zones: Vec<ForZone>,
    /// Nodes that should consume the endpoint.
    #[serde(default, deserialize_with = "null_default")]
    pub for_nodes: Vec<ForZone>,
}

/// A zone or node named by a hint.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct ForZone {
    /// The zone or node name.
    pub name: Option<String>,
}

/// A port of an EndpointSlice.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct EndpointPort {
    /// Name: the Service port's name (empty or absent for a single unnamed port).
    pub name: Option<String>,
    /// Port number; absent means unrestricted (nothing meshroute can forward to).
    pub port: Option<i64>,
    /// `TCP` (default), `UDP` or `SCTP`.
    pub protocol: Option<String>,
    /// Application protocol, e.g. `http`, `kubernetes.io/h2c`.
    pub app_protocol: Option<String>,
}

/// The body of a core `v1` Pod: `spec` and `status` (its labels are in the metadata).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Pod {
    /// What the Pod runs: only container ports are read (to resolve a named `targetPort`).
    #[serde(default, deserialize_with = "null_default")]
    pub spec: PodSpec,
    /// Where it runs and whether it is ready.
    #[serde(default, deserialize_with = "null_default")]
    pub status: PodStatus,
}

/// `spec` of a Pod, reduced to its containers' ports.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct PodSpec {
    /// Containers.
    #[serde(default, deserialize_with = "null_default")]
    pub containers: Vec<Container>,
    /// The node the Pod is scheduled on.
    pub node_name: Option<String>,
}

/// A container, reduced to its name and ports.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Container {
    /// Name.
    pub name: Option<String>,
    /// Ports.
    #[serde(default, deserialize_with = "null_default")]
    pub ports: Vec<ContainerPort>,
}

/// A container port.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct ContainerPort {
    /// Name (what a Service's named `targetPort` refers to).
    pub name: Option<String>,
    /// Port number.
    pub container_port: Option<i64>,
    /// `TCP` (default), `UDP` or `SCTP`.
    pub protocol: Option<String>,
}

/// `status` of a Pod.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct PodStatus {
    /// `Pending`, `Running`, `Succeeded`, `Failed` or `Unknown`.
    pub phase: Option<String>,
    /// The primary IP.
    #[serde(rename = "podIP")]
    pub pod_ip: Option<String>,
    /// Every IP (at most one per family), the primary first.
    #[serde(rename = "podIPs", default, deserialize_with = "null_default")]
    pub pod_ips: Vec<PodIp>,
    /// Conditions, among them `Ready`.
    #[serde(default, deserialize_with = "null_default")]
    pub conditions: Vec<PodCondition>,
}

/// One of `podIPs`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct PodIp {
    /// The address.
    pub ip: Option<String>,
}

/// A Pod condition.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct PodCondition {
    /// `Ready`, `ContainersReady`, `PodScheduled`, ...
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// `True`, `False` or `Unknown`.
    pub status: Option<String>,
}

impl Pod {
    /// The Pod's primary IP: `status.podIP`, else the first of `status.podIPs`.
    pub fn ip(&self) -> Option<&str> {
        self.status
            .pod_ip
            .as_deref()
            .filter(|s| !s.is_empty())
            .or_else(|| {
                self.status
                    .pod_ips
                    .iter()
                    .find_map(|p| p.ip.as_deref().filter(|s| !s.is_empty()))
            })
    }

    /// Whether the Pod is ready: its `Ready` condition is `True`, or it reports no `Ready`
    /// condition and has not finished (phase not `Succeeded` or `Failed`).
    pub fn ready(&self) -> bool {
        if matches!(self.status.phase.as_deref(), Some("Succeeded" | "Failed")) {
            return false;
        }
        match self
            .status
            .conditions
            .iter()
            .find(|c| c.kind.as_deref() == Some("Ready"))
        {
            Some(c) => c.status.as_deref() == Some("True"),
            None => true,
        }
    }

    /// The number of the container port named `name` (TCP), if a container declares it.
    pub fn named_port(&self, name: &str) -> Option<i64> {
        self.spec
            .containers
            .iter()
            .flat_map(|c| &c.ports)
            .find(|p| {
                p.name.as_deref() == Some(name) && p.protocol.as_deref().is_none_or(|x| x == "TCP")
            })
            .and_then(|p| p.container_port)
    }
}

/// A Service's `targetPort`: a number, or the name of a container port.
pub(crate) fn target_port(value: Option<&Value>) -> Option<Result<i64, &str>> {
    match value? {
        Value::Number(n) => n.as_i64().map(Ok),
        Value::String(s) => Some(s.parse::<i64>().map_err(|_| s.as_str())),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(json: &str) -> Pod {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn pod_ip_readiness_and_named_ports() {
        let p = pod(r#"{"spec": {"containers": [{"name": "app", "ports": [
                 {"name": "http", "containerPort": 8080},
                 {"name": "dns", "containerPort": 53, "protocol": "UDP"}]}]},
               "status": {"phase": "Running", "podIP": "", "podIPs": [{"ip": "10.0.0.9"}],
                          "conditions": [{"type": "Ready", "status": "False"}]}}"#);
        assert_eq!(p.ip(), Some("10.0.0.9"));
        assert!(!p.ready());
        assert_eq!(p.named_port("http"), Some(8080));
        assert_eq!(p.named_port("dns"), None, "TCP ports only");
        let p = pod(r#"{"spec": null, "status": {"podIPs": null, "phase": "Running"}}"#);
        assert_eq!(p.ip(), None);
        assert!(p.ready(), "no Ready condition: ready unless finished");
        assert!(!pod(r#"{"status": {"phase": "Failed"}}"#).ready());
    }

    #[test]
    fn target_ports() {
        let v = |s: &str| serde_json::from_str::<Value>(s).unwrap();
        assert_eq!(target_port(Some(&v("8080"))), Some(Ok(8080)));
        assert_eq!(target_port(Some(&v("\"8080\""))), Some(Ok(8080)));
        assert_eq!(target_port(Some(&v("\"http\""))), Some(Err("http")));
        assert_eq!(target_port(None), None);
    }
}
