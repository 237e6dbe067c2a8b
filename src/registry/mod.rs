//! Versions discovered, not hard-coded: endpoints fed by the embedder, grouped into the
//! (host, subset) clusters the table's destinations name by label selection (subset labels ⊆
//! endpoint labels), and load-balanced with the DestinationRule's policy.
//!
//! - [`Registry`]: the endpoints, per service host, as the embedder knows them (plain API, or
//!   Kubernetes `EndpointSlice`/`Service`/`Pod` resources through [`Registry::from_config`]).
//! - [`Router`]: a [`Table`](crate::Table) bound to a registry snapshot: every cluster's endpoints selected and
//!   its balancer built (Maglev and ring tables included), once. [`Router::decide`] routes a
//!   request to an endpoint without allocating. New endpoints make a new `Router` from the same
//!   table ([`Router::with_registry`]): routes are not recompiled.
//!
//! A `Router` (like a [`Table`](crate::Table)) is swapped whole under concurrent readers with
//! [`crate::Shared`].

use std::collections::BTreeMap;

pub use crate::balance::Policy;

mod cluster;
mod discovery;
mod health;
mod router;

pub use self::cluster::{EndpointPick, Pick};
pub use self::discovery::{RegistryOptions, SERVICE_NAME_LABEL};
pub use self::health::{Ejection, LOCALITY_LABEL, REGION_LABEL, SUBZONE_LABEL, ZONE_LABEL};
pub use self::router::{Routed, Router};

/// One endpoint of a service.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Endpoint {
    /// IP address (or host name).
    pub address: Box<str>,
    /// Port requests go to.
    pub port: u16,
    /// Labels (the pod's): subsets select endpoints by them.
    pub labels: BTreeMap<String, String>,
    /// Whether it may receive requests.
    pub healthy: bool,
    /// Load-balancing weight (default 1).
    pub weight: u32,
    /// Locality (`region/zone/subzone`; `/zone` when loaded from an EndpointSlice whose Pod
    /// names no region). With DestinationRule `localityLbSetting` (and, for failover,
    /// `outlierDetection`) it sets the endpoint's priority for each client, whose locality is
    /// its `istio-locality` source label or its `topology.kubernetes.io/region`/`zone` and
    /// `topology.istio.io/subzone` source labels.
    pub locality: Option<Box<str>>,
    /// The Service port this endpoint's port serves, when known: the Service port whose name
    /// is the EndpointSlice port's (kube-proxy's mapping), or the port a Pod endpoint was made
    /// for. A cluster at a Service port keeps only the endpoints serving it (and those for
    /// which it is unknown), so a multi-port Service sends each port's traffic to its own
    /// target port.
    pub service_port: Option<u16>,
}

impl Endpoint {
    /// A healthy endpoint of weight 1 without labels.
    pub fn new(address: &str, port: u16) -> Endpoint {
        Endpoint {
            address: address.into(),
            port,
            labels: BTreeMap::new(),
            healthy: true,
            weight: 1,
            locality: None,
            service_port: None,
        }
    }

    /// Adds a label.
    pub fn label(mut self, key: &str, value: &str) -> Endpoint {
        self.labels.insert(key.to_string(), value.to_string());
        self
    }

    /// Sets the weight.
    pub fn weight(mut self, weight: u32) -> Endpoint {
        self.weight = weight;
        self
    }

    /// Sets the health.
    pub fn healthy(mut self, healthy: bool) -> Endpoint {
        self.healthy = healthy;
        self
    }

    /// Sets the Service port the endpoint serves.
    pub fn service_port(mut self, port: u16) -> Endpoint {
        self.service_port = Some(port);
        self
    }

    /// Whether the endpoint can serve Service port `port`: it serves that port, or which port
    /// it serves is unknown.
    pub fn serves(&self, port: u16) -> bool {
        self.service_port.is_none_or(|p| p == port)
    }

    /// Sets the locality.
    pub fn locality(mut self, locality: &str) -> Endpoint {
        self.locality = Some(locality.into());
        self
    }

    /// The key consistent hashing places the endpoint by: `address:port` (Envoy's default).
    pub fn hash_key(&self) -> String {
        if self.address.contains(':') {
            format!("[{}]:{}", self.address, self.port)
        } else {
            format!("{}:{}", self.address, self.port)
        }
    }
}

/// The endpoints of every service, by fully qualified host. Cheap to clone and to update;
/// binding it to a table ([`Router::new`]) is what builds balancers.
#[derive(Clone, Debug, Default)]
pub struct Registry {
    services: BTreeMap<String, Vec<Endpoint>>,
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Registry {
        Registry::default()
    }

    /// Adds an endpoint to `host` (a fully qualified service name, e.g.
    /// `reviews.default.svc.cluster.local`).
    pub fn add(&mut self, host: &str, endpoint: Endpoint) -> &mut Registry {
        self.services
            .entry(host.to_ascii_lowercase())
            .or_default()
            .push(endpoint);
        self
    }

    /// Replaces every endpoint of `host`.
    pub fn set(&mut self, host: &str, endpoints: Vec<Endpoint>) -> &mut Registry {
        self.services.insert(host.to_ascii_lowercase(), endpoints);
        self
    }

    /// Removes `host` and its endpoints.
    pub fn remove(&mut self, host: &str) -> &mut Registry {
        self.services.remove(&host.to_ascii_lowercase());
        self
    }

    /// The endpoints of `host`.
    pub fn endpoints(&self, host: &str) -> &[Endpoint] {
        self.services
            .get(&host.to_ascii_lowercase())
            .map_or(&[], Vec::as_slice)
    }

    /// Every service host.
    pub fn hosts(&self) -> impl Iterator<Item = &str> {
        self.services.keys().map(String::as_str)
    }
}
