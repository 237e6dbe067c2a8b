//! Endpoints from Kubernetes resources: EndpointSlices with the labels of the Pods they name,
//! the Pods of Services no slice covers, and the endpoints of Istio ServiceEntries (inline, or
//! the Pods and WorkloadEntries their `workloadSelector` selects) ([`Registry::from_config`]).

use std::collections::{BTreeMap, BTreeSet};

use super::{Endpoint, Registry};
use crate::config::discovery::{EndpointSlice, Pod, target_port};
use crate::config::gateway_api::ServiceSpec;
use crate::config::service_entry::WorkloadEntry;
use crate::config::{Config, Object, Resource};
use crate::error::{Diagnostic, ResourceId};
use crate::predicate::host::service_fqdn;

/// What reading endpoints from resources needs to know: where short names live and the
/// cluster's domain (the two settings of a compile that also apply here).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct RegistryOptions {
    /// Namespace of resources that name none.
    pub default_namespace: String,
    /// Kubernetes cluster domain service hosts are qualified with.
    pub cluster_domain: String,
}

impl Default for RegistryOptions {
    fn default() -> RegistryOptions {
        RegistryOptions {
            default_namespace: crate::DEFAULT_NAMESPACE.into(),
            cluster_domain: "cluster.local".into(),
        }
    }
}

impl Registry {
    /// The endpoints Kubernetes resources in `config` describe: `EndpointSlice`s, with the
    /// labels of the `Pod`s they name, and the `Service`s no slice covers through the Pods they
    /// select. Other resources are ignored; the routes are compiled from the same `config`
    /// separately ([`crate::compile()`]).
    ///
    /// From an EndpointSlice (`discovery.k8s.io/v1`):
    /// - The service is the slice's `kubernetes.io/service-name` label, its host
    ///   `<service>.<namespace>.svc.<cluster_domain>` (the namespace the slice's, else
    ///   [`RegistryOptions::default_namespace`]). A slice without the label is skipped with a
    ///   warning (`endpointslice-without-service`).
    /// - Each slice port serves the Service port of the same name (the lone port of a
    ///   one-port Service), when that Service is loaded ([`Endpoint::service_port`]): a
    ///   cluster at a Service port keeps only its endpoints, as kube-proxy forwards.
    /// - Every address × every port of every endpoint is one [`Endpoint`]: Kubernetes allows
    ///   up to 100 addresses per endpoint (calling them fungible), and each becomes an
    ///   endpoint of its own. Only TCP ports (protocol absent or `TCP`) with a number in
    ///   1..=65535 count; a port without a number or out of range is skipped with a warning
    ///   (`endpointslice-port`), and a slice with endpoints but no usable port gets a warning
    ///   (`endpointslice-without-ports`).
    /// - Labels: the slice's own labels except `kubernetes.io/*` and
    ///   `endpointslice.kubernetes.io/*` (the controller copies the Service's labels onto the
    ///   slice), overlaid with the labels of the Pod the endpoint's `targetRef` names (kind
    ///   `Pod`; namespace the slice's when absent) when that Pod is loaded. The Pod's labels
    ///   win on conflict: that is how `version: v2` is discovered.
    /// - Healthy: `conditions.ready` (absent means ready, as Kubernetes specifies) and not
    ///   `conditions.terminating`.
    /// - Locality, as istiod reads it: the Pod's `istio-locality` label (`region.zone.subzone`),
    ///   else `region/zone/subzone` from the Pod's `topology.kubernetes.io/region` label, the
    ///   endpoint's `zone` (else the Pod's `topology.kubernetes.io/zone` label) and the Pod's
    ///   `topology.istio.io/subzone` label, trailing empty parts left out; the region is on the
    ///   Node, which is not loaded, so a zone alone reads `/zone` (region unknown). Weight 1
    ///   (Kubernetes has no endpoint weights).
    /// - The same `address:port` of a host in several slices (Kubernetes allows transient
    ///   duplicates) is kept once: the first loaded.
    ///
    /// From a Service (core `v1`) that has a `selector`, is not `ExternalName`, and that no
    /// loaded EndpointSlice names: one endpoint per loaded Pod of its namespace whose labels
    /// include the selector and that has an IP (`status.podIP`, else the first of
    /// `status.podIPs`), per TCP Service port. The port is the `targetPort` when it is a
    /// number, the container port it names when it is a name (a Pod declaring no such port is
    /// skipped for that port, as Kubernetes does), else `port`. Labels are the Pod's; healthy
    /// is the Pod's readiness ([`Pod::ready`]). A Service alone, without Pods or slices,
    /// contributes no endpoints.
    ///
    /// From a Service with a `selector`, not `ExternalName` and not headless (`clusterIP:
    /// None`), whether or not slices name it: the loaded WorkloadEntry resources
    /// (`networking.istio.io`, VMs) of its namespace whose labels (`spec.labels` with
    /// `metadata.labels` over them) include the selector and whose address is an IP, one
    /// endpoint per TCP Service port: at the entry's `ports` value for the Service port's name
    /// when `targetPort` is a number (else that number); at the entry's port of that name
    /// when `targetPort` is a name (an entry without it does not serve the port); else at the
    /// Service port. Labels, weight and locality as below.
    ///
    /// From a ServiceEntry (`networking.istio.io`), for each exact host (lowercase, as written;
    /// wildcard hosts have no endpoints) and each port with a number in 1..=65535, serving
    /// that port ([`Endpoint::service_port`]), as istiod's ServiceEntry conversion does:
    /// - inline `endpoints` (resolution `STATIC`, `DNS` or `DNS_ROUND_ROBIN`): one endpoint per
    ///   entry, at its `ports` value for the port's name, else the port's `targetPort`, else its
    ///   number; with the entry's labels (subsets select them), weight (0 or absent: 1) and
    ///   locality (else its `istio-locality` label); healthy. `unix://` addresses and entries
    ///   without an address are skipped;
    /// - `workloadSelector`: the loaded Pods of the entry's namespace whose labels include the
    ///   selector, at their IP and the `targetPort` (else the number), with the Pod's labels
    ///   and readiness; then the loaded WorkloadEntry resources (`networking.istio.io`) of the
    ///   entry's namespace whose labels (`spec.labels` with `metadata.labels` over them)
    ///   include the selector, each an endpoint as an inline one, with those labels. A
    ///   WorkloadEntry whose address is a host name is selected only by entries of resolution
    ///   `DNS` or `DNS_ROUND_ROBIN`. Its health-check status (written by istiod when the
    ///   `proxy.istio.io/health-checks-enabled` annotation is set) is not read: it is healthy;
    /// - resolution `DNS` or `DNS_ROUND_ROBIN` without endpoints or selector: the host itself,
    ///   as a DNS name, at the `targetPort` (else the number);
    /// - resolution `NONE`: none (requests go to the address the client asked for).
    ///
    /// # Example
    /// ```
    /// use meshroute::registry::Registry;
    /// use meshroute::Config;
    /// use meshroute::registry::RegistryOptions;
    /// let config = Config::from_str(r#"
    /// apiVersion: discovery.k8s.io/v1
    /// kind: EndpointSlice
    /// metadata:
    ///   name: reviews-abc12
    ///   namespace: default
    ///   labels: {kubernetes.io/service-name: reviews, app: reviews}
    /// addressType: IPv4
    /// ports: [{name: http, port: 9080, protocol: TCP}]
    /// endpoints:
    /// - addresses: [10.1.0.7]
    ///   conditions: {ready: true}
    ///   targetRef: {kind: Pod, name: reviews-v2-7f8d, namespace: default}
    /// ---
    /// apiVersion: v1
    /// kind: Pod
    /// metadata: {name: reviews-v2-7f8d, namespace: default, labels: {app: reviews, version: v2}}
    /// status: {podIP: 10.1.0.7}
    /// "#, "inline")?;
    /// let (registry, diagnostics) = Registry::from_config(&config, &RegistryOptions::default());
    /// assert!(diagnostics.is_empty());
    /// let eps = registry.endpoints("reviews.default.svc.cluster.local");
    /// assert_eq!((&*eps[0].address, eps[0].port), ("10.1.0.7", 9080));
    /// assert_eq!(eps[0].labels["version"], "v2");
    /// # Ok::<(), meshroute::Error>(())
    /// ```
    pub fn from_config(config: &Config, options: &RegistryOptions) -> (Registry, Vec<Diagnostic>) {
        let ns_default = options.default_namespace.as_str();
        let mut d = Discovery {
            options,
            pods: by_name(config, ns_default, |r| match r {
                Resource::Pod(p) => Some(&**p),
                _ => None,
            }),
            workload_entries: by_name(config, ns_default, |r| match r {
                Resource::WorkloadEntry(w) => Some(&**w),
                _ => None,
            }),
            registry: Registry::new(),
            diagnostics: Vec::new(),
            seen: BTreeSet::new(),
            sliced: BTreeSet::new(),
            service_ports: service_ports(config, ns_default),
        };
        for r in &config.resources {
            if let Resource::EndpointSlice(slice) = r {
                d.add_slice(&r.id(ns_default), slice);
            }
        }
        for r in &config.resources {
            if let Resource::Service(svc) = r {
                d.add_service_pods(svc);
            }
        }
        for r in &config.resources {
            if let Resource::Service(svc) = r {
                d.add_service_workload_entries(svc);
            }
        }
        for r in &config.resources {
            if let Resource::ServiceEntry(se) = r {
                d.add_service_entry(se);
            }
        }
        (d.registry, d.diagnostics)
    }
}

/// The resources `pick` takes (Pods, WorkloadEntries) by (namespace, name); the first loaded
/// wins.
fn by_name<'c, T>(
    config: &'c Config,
    ns_default: &'c str,
    pick: impl Fn(&'c Resource) -> Option<&'c Object<T>>,
) -> BTreeMap<(&'c str, &'c str), &'c Object<T>> {
    let mut out = BTreeMap::new();
    for o in config.resources.iter().filter_map(pick) {
        out.entry((o.namespace(ns_default), o.metadata.name.as_str()))
            .or_insert(o);
    }
    out
}

/// A registry being read from resources.
struct Discovery<'c> {
    options: &'c RegistryOptions,
    pods: BTreeMap<(&'c str, &'c str), &'c Object<Pod>>,
    workload_entries: BTreeMap<(&'c str, &'c str), &'c Object<WorkloadEntry>>,
    registry: Registry,
    diagnostics: Vec<Diagnostic>,
    /// (host, address, port) already added, to keep duplicates across slices once.
    seen: BTreeSet<(String, String, u16)>,
    /// Services (namespace, name) some slice names.
    sliced: BTreeSet<(&'c str, &'c str)>,
    /// The TCP ports of each loaded Service (namespace, name): number and name.
    service_ports: ServicePorts<'c>,
}

/// The TCP ports (number, name) of Services by (namespace, name).
type ServicePorts<'c> = BTreeMap<(&'c str, &'c str), Vec<(u16, Option<String>)>>;

/// The TCP ports of every loaded Service, by (namespace, name); the first loaded wins.
fn service_ports<'c>(config: &'c Config, ns_default: &'c str) -> ServicePorts<'c> {
    let mut out = BTreeMap::new();
    for r in &config.resources {
        if let Resource::Service(svc) = r {
            let ports = svc
                .spec
                .ports
                .iter()
                .filter(|p| is_tcp(p.protocol.as_deref()))
                .filter_map(|p| {
                    let n = p.port.filter(|n| (1..=65535).contains(n))?;
                    Some((n as u16, p.name.clone()))
                })
                .collect();
            out.entry((svc.namespace(ns_default), svc.metadata.name.as_str()))
                .or_insert(ports);
        }
    }
    out
}

impl<'c> Discovery<'c> {
    /// A warning about resource `id` at `path`.
    fn warn(&mut self, id: &ResourceId, code: &'static str, path: String, message: String) {
        self.diagnostics
            .push(Diagnostic::warning(id, code, path, message));
    }

    /// Adds `endpoint` to `host` unless that address and port are there already.
    fn add(&mut self, host: &str, endpoint: Endpoint) {
        if self.seen.insert((
            host.to_string(),
            endpoint.address.to_string(),
            endpoint.port,
        )) {
            self.registry.add(host, endpoint);
        }
    }

    /// Every address × port of every endpoint of one EndpointSlice, labelled with the slice's
    /// labels and its Pod's.
    fn add_slice(&mut self, id: &ResourceId, slice: &'c Object<EndpointSlice>) {
        let ns = slice.namespace(&self.options.default_namespace);
        let Some(service) = slice
            .metadata
            .labels
            .get(SERVICE_NAME_LABEL)
            .filter(|s| !s.is_empty())
        else {
            self.warn(
                id,
                "endpointslice-without-service",
                "metadata.labels".into(),
                format!(
                    "no {SERVICE_NAME_LABEL} label: the slice belongs to no Service, so \
                     its endpoints are not used"
                ),
            );
            return;
        };
        self.sliced.insert((ns, service.as_str()));
        let host = service_fqdn(service, ns, &self.options.cluster_domain);
        let base: BTreeMap<String, String> = slice
            .metadata
            .labels
            .iter()
            .filter(|(k, _)| !is_kubernetes_label(k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let numbered = self.slice_ports(id, slice);
        let service_ports = self.service_ports.get(&(ns, service.as_str()));
        let ports: Vec<(u16, Option<u16>)> = numbered
            .into_iter()
            .map(|(number, name)| {
                // kube-proxy: the Service port of the same name (a lone port has no name to
                // match).
                let serves = service_ports.and_then(|sp| match sp.as_slice() {
                    [(only, _)] => Some(*only),
                    many => many
                        .iter()
                        .find(|(_, n)| n.as_deref() == name)
                        .map(|(p, _)| *p),
                });
                (number, serves)
            })
            .collect();
        if ports.is_empty() && !slice.spec.endpoints.is_empty() {
            self.warn(
                id,
                "endpointslice-without-ports",
                "ports".into(),
                "no TCP port with a number: the slice's endpoints are not used".into(),
            );
            return;
        }
        for (i, ep) in slice.spec.endpoints.iter().enumerate() {
            if ep.addresses.is_empty() {
                self.warn(
                    id,
                    "endpointslice-endpoint",
                    format!("endpoints[{i}].addresses"),
                    "no address; the endpoint is skipped".into(),
                );
                continue;
            }
            let healthy =
                ep.conditions.ready.unwrap_or(true) && !ep.conditions.terminating.unwrap_or(false);
            let mut labels = base.clone();
            let pod = ep.target_ref.as_ref().and_then(|t| {
                if t.kind.as_deref().is_some_and(|k| k != "Pod") {
                    return None;
                }
                let pod_ns = t.namespace.as_deref().unwrap_or(ns);
                self.pods.get(&(pod_ns, t.name.as_deref()?))
            });
            if let Some(pod) = pod {
                for (k, v) in &pod.metadata.labels {
                    labels.insert(k.clone(), v.clone());
                }
            }
            for address in &ep.addresses {
                for &(port, serves) in &ports {
                    let mut e = Endpoint::new(address, port).healthy(healthy);
                    e.labels = labels.clone();
                    e.locality = locality(&labels, ep.zone.as_deref());
                    e.service_port = serves;
                    self.add(&host, e);
                }
            }
        }
    }

    /// The slice's TCP ports with a number in 1..=65535; the others are skipped with a
    /// warning.
    fn slice_ports(
        &mut self,
        id: &ResourceId,
        slice: &'c Object<EndpointSlice>,
    ) -> Vec<(u16, Option<&'c str>)> {
        let mut ports = Vec::new();
        for (j, p) in slice.spec.ports.iter().enumerate() {
            if !is_tcp(p.protocol.as_deref()) {
                continue;
            }
            match p.port {
                Some(n) if (1..=65535).contains(&n) => ports.push((n as u16, p.name.as_deref())),
                Some(n) => self.warn(
                    id,
                    "endpointslice-port",
                    format!("ports[{j}].port"),
                    format!("{n} is not a port number (1 to 65535); the port is skipped"),
                ),
                None => self.warn(
                    id,
                    "endpointslice-port",
                    format!("ports[{j}].port"),
                    "not set (every port): there is no port to forward to, so the port \
                     is skipped"
                        .into(),
                ),
            }
        }
        ports
    }

    /// For a Service with a selector that no slice names (and not `ExternalName`): one
    /// endpoint per selected Pod with an IP, per TCP Service port.
    fn add_service_pods(&mut self, svc: &Object<ServiceSpec>) {
        let ns = svc.namespace(&self.options.default_namespace);
        let name = svc.metadata.name.as_str();
        let spec = &svc.spec;
        if spec.selector.is_empty()
            || spec.kind.as_deref() == Some("ExternalName")
            || self.sliced.contains(&(ns, name))
        {
            return;
        }
        let host = service_fqdn(name, ns, &self.options.cluster_domain);
        let selected: Vec<&Object<Pod>> = self
            .pods
            .range((ns, "")..)
            .take_while(|((pns, _), _)| *pns == ns)
            .map(|(_, p)| *p)
            .filter(|p| {
                spec.selector
                    .iter()
                    .all(|(k, v)| p.metadata.labels.get(k) == Some(v))
            })
            .collect();
        for pod in selected {
            let Some(ip) = pod.spec.ip() else {
                continue;
            };
            for port in &spec.ports {
                if !is_tcp(port.protocol.as_deref()) {
                    continue;
                }
                let number = match target_port(port.target_port.as_ref()) {
                    Some(Ok(n)) => Some(n),
                    Some(Err(name)) => pod.spec.named_port(name),
                    None => port.port,
                };
                let Some(number) = number.filter(|n| (1..=65535).contains(n)) else {
                    continue;
                };
                let mut e = Endpoint::new(ip, number as u16).healthy(pod.spec.ready());
                e.labels = pod.metadata.labels.clone();
                e.locality = locality(&e.labels, None);
                e.service_port = port
                    .port
                    .filter(|n| (1..=65535).contains(n))
                    .map(|n| n as u16);
                self.add(&host, e);
            }
        }
    }
}

impl Discovery<'_> {
    /// For a Service with a selector, not `ExternalName` and not headless: the WorkloadEntries
    /// of its namespace whose labels include the selector and whose address is an IP, as
    /// istiod's Kubernetes controller adds them to the Service's endpoints beside its slices'
    /// (controller.go `serviceInstancesFromWorkloadInstances`,
    /// `serviceInstanceFromWorkloadInstance`, util.go `findServiceTargetPort`).
    fn add_service_workload_entries(&mut self, svc: &Object<ServiceSpec>) {
        let ns = svc.namespace(&self.options.default_namespace);
        let spec = &svc.spec;
        if spec.selector.is_empty()
            || spec.kind.as_deref() == Some("ExternalName")
            || spec.cluster_ip.as_deref() == Some("None")
        {
            return;
        }
        let host = service_fqdn(&svc.metadata.name, ns, &self.options.cluster_domain);
        let entries: Vec<(&WorkloadEntry, BTreeMap<String, String>)> = self
            .workload_entries
            .range((ns, "")..)
            .take_while(|((wns, _), _)| *wns == ns)
            .map(|(_, w)| (&w.spec, workload_entry_labels(w)))
            .filter(|(w, labels)| {
                spec.selector.iter().all(|(k, v)| labels.get(k) == Some(v))
                    && w.address.as_deref().is_some_and(is_ip_address)
            })
            .collect();
        for (e, labels) in entries {
            for port in spec.ports.iter().filter(|p| is_tcp(p.protocol.as_deref())) {
                let Some(number) = port_number(port.port) else {
                    continue;
                };
                // A number: the entry's port for the Service port's name, else that number. A
                // name: the entry's port of that name, else the entry does not serve the port.
                // None: the Service port.
                let (name, target) = match target_port(port.target_port.as_ref()) {
                    Some(Ok(n)) => (port.name.as_deref(), port_number(Some(n)).unwrap_or(number)),
                    Some(Err(name)) => match port_number(e.ports.get(name).copied()) {
                        Some(n) => (None, n),
                        None => continue,
                    },
                    None => (None, number),
                };
                if let Some(mut ep) = workload_endpoint(e, labels.clone(), name, target) {
                    ep.service_port = Some(number);
                    self.add(&host, ep);
                }
            }
        }
    }

    /// The endpoints of one ServiceEntry (see [`Registry::from_config`]).
    fn add_service_entry(&mut self, se: &Object<crate::config::ServiceEntrySpec>) {
        let ns = se.namespace(&self.options.default_namespace);
        let spec = &se.spec;
        let resolution = spec.resolution.as_deref().unwrap_or("NONE");
        let dns = matches!(resolution, "DNS" | "DNS_ROUND_ROBIN");
        let ports: Vec<(u16, u16, &str)> = spec
            .ports
            .iter()
            .flatten()
            .filter_map(|p| {
                let number = port_number(p.number)?;
                let target = port_number(p.target_port).unwrap_or(number);
                Some((number, target, p.name.as_deref().unwrap_or("")))
            })
            .collect();
        // What the selector selects, as istiod orders it (conversion.go `services`: by kind,
        // Pods before WorkloadEntries, then by name). No selector selects nothing.
        let selects = |labels: &BTreeMap<String, String>| {
            spec.workload_selector
                .as_ref()
                .is_some_and(|sel| sel.labels.iter().all(|(k, v)| labels.get(k) == Some(v)))
        };
        let pods: Vec<&Object<Pod>> = self
            .pods
            .range((ns, "")..)
            .take_while(|((pns, _), _)| *pns == ns)
            .map(|(_, p)| *p)
            .filter(|p| selects(&p.metadata.labels))
            .collect();
        let entries: Vec<(&WorkloadEntry, BTreeMap<String, String>)> = self
            .workload_entries
            .range((ns, "")..)
            .take_while(|((wns, _), _)| *wns == ns)
            .map(|(_, w)| (&w.spec, workload_entry_labels(w)))
            .filter(|(w, labels)| {
                // A host name address serves DNS entries only (`DNSServiceEntryOnly`).
                selects(labels) && (dns || w.address.as_deref().is_some_and(is_ip_address))
            })
            .collect();
        for host in spec.hosts.iter().filter(|h| !h.contains('*')) {
            let host = host.to_ascii_lowercase();
            for &(number, target, name) in &ports {
                let mut made = Vec::new();
                for e in spec.endpoints.iter().flatten().flatten() {
                    made.extend(workload_endpoint(e, e.labels.clone(), Some(name), target));
                }
                for pod in &pods {
                    let Some(ip) = pod.spec.ip() else { continue };
                    let mut ep = Endpoint::new(ip, target).healthy(pod.spec.ready());
                    ep.labels = pod.metadata.labels.clone();
                    ep.locality = locality(&ep.labels, None);
                    made.push(ep);
                }
                for (e, labels) in &entries {
                    made.extend(workload_endpoint(e, labels.clone(), Some(name), target));
                }
                if made.is_empty()
                    && dns
                    && spec.endpoints.is_none()
                    && spec.workload_selector.is_none()
                {
                    made.push(Endpoint::new(&host, target));
                }
                for mut ep in made {
                    ep.service_port = Some(number);
                    self.add(&host, ep);
                }
            }
        }
    }
}

/// A port number in 1..=65535.
fn port_number(n: Option<i64>) -> Option<u16> {
    n.filter(|n| (1..=65535).contains(n))
        .and_then(|n| u16::try_from(n).ok())
}

/// Whether `address` is an IP address (not a host name or a `unix://` socket).
fn is_ip_address(address: &str) -> bool {
    address.parse::<std::net::IpAddr>().is_ok()
}

/// A WorkloadEntry resource's labels: its `spec.labels` with its `metadata.labels` over them
/// (conversion.go `ConvertWorkloadEntry`: "precedence to the metadata").
fn workload_entry_labels(w: &Object<WorkloadEntry>) -> BTreeMap<String, String> {
    let mut labels = w.spec.labels.clone();
    labels.extend(
        w.metadata
            .labels
            .iter()
            .map(|(k, v)| (k.clone(), v.clone())),
    );
    labels
}

/// The endpoint a `WorkloadEntry` (inline in a ServiceEntry, or a resource a selector
/// selects) is for a service port: at the entry's `ports` value for `port_name`, else at
/// `target`, as istiod's conversion.go `convertEndpoint` and
/// `convertWorkloadInstanceToServiceInstance` make it for a ServiceEntry port (`port_name` its
/// name, `target` its `targetPort`, else its number); with `labels`, the weight (0 or absent: 1) and the
/// locality (`locality`, else the `istio-locality` label); healthy. None for an entry without
/// an address (reachable only through its network's gateway) or at a `unix://` socket.
fn workload_endpoint(
    e: &WorkloadEntry,
    labels: BTreeMap<String, String>,
    port_name: Option<&str>,
    target: u16,
) -> Option<Endpoint> {
    let address = e.address.as_deref().filter(|a| !a.is_empty())?;
    if address.starts_with("unix://") {
        return None;
    }
    let own = port_name.and_then(|n| port_number(e.ports.get(n).copied()));
    let port = own.unwrap_or(target);
    let mut ep = Endpoint::new(address, port);
    ep.weight = e
        .weight
        .and_then(|w| u32::try_from(w).ok())
        .filter(|&w| w > 0)
        .unwrap_or(1);
    ep.locality = match e.locality.as_deref().filter(|l| !l.is_empty()) {
        Some(l) => Some(l.into()),
        None => labels
            .get(super::LOCALITY_LABEL)
            .filter(|l| !l.is_empty())
            .map(|l| l.replace('.', "/").into()),
    };
    ep.labels = labels;
    Some(ep)
}

/// An endpoint's locality from its labels and its slice `zone` (see [`Registry::from_config`]).
fn locality(labels: &BTreeMap<String, String>, zone: Option<&str>) -> Option<Box<str>> {
    use super::{LOCALITY_LABEL, REGION_LABEL, SUBZONE_LABEL, ZONE_LABEL};
    if let Some(l) = labels.get(LOCALITY_LABEL).filter(|l| !l.is_empty()) {
        return Some(if l.contains('/') {
            l.as_str().into()
        } else {
            l.replace('.', "/").into()
        });
    }
    let get = |k: &str| labels.get(k).map_or("", String::as_str);
    let zone = zone.unwrap_or_else(|| get(ZONE_LABEL));
    let parts = [get(REGION_LABEL), zone, get(SUBZONE_LABEL)];
    let n = parts.iter().rposition(|p| !p.is_empty())? + 1;
    Some(parts[..n].join("/").into())
}

/// The label naming an EndpointSlice's Service.
pub const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";

/// `kubernetes.io/*` and `endpointslice.kubernetes.io/*` labels: Kubernetes' bookkeeping on a
/// slice, not labels of its endpoints.
fn is_kubernetes_label(key: &str) -> bool {
    key.split_once('/').is_some_and(|(prefix, _)| {
        matches!(prefix, "kubernetes.io" | "endpointslice.kubernetes.io")
    })
}

fn is_tcp(protocol: Option<&str>) -> bool {
    protocol.is_none_or(|p| p == "TCP")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn registry(yaml: &str) -> Registry {
        let config = Config::from_str(yaml, "t.yaml").expect("test YAML loads");
        let (r, notes) = Registry::from_config(&config, &RegistryOptions::default());
        assert_eq!(notes, vec![]);
        r
    }

    /// Istio's ServiceEntry docs (istio/api `networking/v1alpha3/service_entry.proto`, the
    /// STATIC example with inline endpoints and the `workloadSelector` example): inline
    /// endpoints carry their labels and port overrides; selected Pods become endpoints.
    #[test]
    fn service_entry_endpoints() {
        let r = registry(
            "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\n\
             metadata: {name: ext-svc-https, namespace: mesh}\n\
             spec:\n  hosts: [api.dropboxapi.com]\n  ports: [{number: 443, name: https, protocol: TLS}]\n\
             \x20 resolution: STATIC\n  endpoints:\n\
             \x20 - {address: 2.2.2.2, labels: {version: v1}}\n\
             \x20 - {address: 3.3.3.3, ports: {https: 8443}, weight: 3}\n---\n\
             apiVersion: networking.istio.io/v1\nkind: ServiceEntry\n\
             metadata: {name: vm, namespace: mesh}\n\
             spec:\n  hosts: [details.bookinfo.com]\n  location: MESH_INTERNAL\n\
             \x20 ports: [{number: 80, name: http, protocol: HTTP, targetPort: 8080}]\n\
             \x20 resolution: STATIC\n  workloadSelector: {labels: {app: details}}\n---\n\
             apiVersion: v1\nkind: Pod\nmetadata: {name: d1, namespace: mesh, labels: {app: details, version: v2}}\n\
             status: {podIP: 10.0.0.9}\n---\n\
             apiVersion: networking.istio.io/v1\nkind: ServiceEntry\n\
             metadata: {name: httpbin, namespace: mesh}\n\
             spec:\n  hosts: [httpbin.org]\n  ports: [{number: 80, name: http, protocol: HTTP}]\n\
             \x20 resolution: DNS\n",
        );
        let eps = r.endpoints("api.dropboxapi.com");
        let got: Vec<_> = eps
            .iter()
            .map(|e| (&*e.address, e.port, e.weight, e.service_port))
            .collect();
        assert_eq!(
            got,
            [
                ("2.2.2.2", 443, 1, Some(443)),
                ("3.3.3.3", 8443, 3, Some(443))
            ]
        );
        assert_eq!(eps[0].labels["version"], "v1");
        let vm = r.endpoints("details.bookinfo.com");
        assert_eq!((&*vm[0].address, vm[0].port), ("10.0.0.9", 8080));
        assert_eq!(vm[0].labels["version"], "v2");
        let dns = r.endpoints("httpbin.org");
        assert_eq!((&*dns[0].address, dns[0].port), ("httpbin.org", 80));
    }

    /// istiod's ServiceEntry controller (istio/istio pilot/pkg/serviceregistry/serviceentry
    /// conversion.go `ConvertWorkloadEntry`, `convertWorkloadEntryToWorkloadInstance`,
    /// `convertWorkloadInstanceToServiceInstance`, and `services`' selection), on the
    /// WorkloadEntry reference's example (istio/api `networking/v1alpha3/workload_entry.proto`:
    /// `details-svc`, a VM at 2.2.2.2 and the ServiceEntry selecting `app: details-legacy`): the
    /// selected entries of the namespace become endpoints after the Pods, each with its
    /// labels (the metadata's winning), its `ports` value for the port's name, its weight and
    /// locality; a host name address only for a DNS entry.
    #[test]
    fn workload_entries_selected_by_a_service_entry() {
        let r = registry(
            "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\n\
             metadata: {name: details-svc, namespace: bookinfo}\n\
             spec:\n  hosts: [details.bookinfo.com]\n  location: MESH_INTERNAL\n\
             \x20 ports: [{number: 80, name: http, protocol: HTTP, targetPort: 8080}]\n\
             \x20 resolution: STATIC\n  workloadSelector: {labels: {app: details-legacy}}\n---\n\
             apiVersion: networking.istio.io/v1\nkind: WorkloadEntry\n\
             metadata: {name: vm-b, namespace: bookinfo, labels: {version: v2}}\n\
             spec:\n  serviceAccount: details-legacy\n  address: 2.2.2.2\n\
             \x20 labels: {app: details-legacy, version: v1, istio-locality: us-east1.b}\n\
             \x20 ports: {http: 9080}\n  weight: 3\n---\n\
             apiVersion: networking.istio.io/v1\nkind: WorkloadEntry\n\
             metadata: {name: vm-a, namespace: bookinfo}\n\
             spec: {address: 1.1.1.1, labels: {app: details-legacy, version: v1}, locality: us-east1/a}\n---\n\
             apiVersion: networking.istio.io/v1\nkind: WorkloadEntry\n\
             metadata: {name: vm-dns, namespace: bookinfo}\n\
             spec: {address: vm.example.com, labels: {app: details-legacy}}\n---\n\
             apiVersion: networking.istio.io/v1\nkind: WorkloadEntry\n\
             metadata: {name: vm-other, namespace: other}\n\
             spec: {address: 3.3.3.3, labels: {app: details-legacy}}\n---\n\
             apiVersion: v1\nkind: Pod\nmetadata: {name: z-pod, namespace: bookinfo, labels: {app: details-legacy}}\n\
             status: {podIP: 10.0.0.9}\n---\n\
             apiVersion: networking.istio.io/v1\nkind: ServiceEntry\n\
             metadata: {name: dns, namespace: bookinfo}\n\
             spec:\n  hosts: [vm.bookinfo.com]\n  ports: [{number: 80, name: http}]\n\
             \x20 resolution: DNS\n  workloadSelector: {labels: {app: details-legacy}}\n",
        );
        let eps = r.endpoints("details.bookinfo.com");
        let got: Vec<_> = eps
            .iter()
            .map(|e| {
                (
                    &*e.address,
                    e.port,
                    e.weight,
                    e.labels.get("version").map(String::as_str),
                    e.locality.as_deref(),
                    e.service_port,
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                ("10.0.0.9", 8080, 1, None, None, Some(80)),
                ("1.1.1.1", 8080, 1, Some("v1"), Some("us-east1/a"), Some(80)),
                ("2.2.2.2", 9080, 3, Some("v2"), Some("us-east1/b"), Some(80)),
            ]
        );
        let dns: Vec<_> = r
            .endpoints("vm.bookinfo.com")
            .iter()
            .map(|e| (&*e.address, e.port))
            .collect();
        assert_eq!(
            dns,
            [
                ("10.0.0.9", 80),
                ("1.1.1.1", 80),
                ("2.2.2.2", 9080),
                ("vm.example.com", 80)
            ]
        );
    }

    /// istio/istio pilot/pkg/serviceregistry/kube/controller/controller_test.go
    /// `TestEndpoints_WorkloadInstances`: a Service whose `targetPort` is the name `http`
    /// selects the WorkloadEntries of its namespace; an entry without an `http` port serves
    /// nothing, the others serve at their `http` port, both kept though they share an IP. A
    /// numeric `targetPort` takes the entry's port for the Service port's name, else the
    /// number (util.go `findServiceTargetPort`); a headless Service selects none, nor does any
    /// Service select an entry addressed by host name.
    #[test]
    fn workload_entries_selected_by_a_kubernetes_service() {
        let we = |name: &str, address: &str, ports: &str| {
            format!(
                "apiVersion: networking.istio.io/v1\nkind: WorkloadEntry\n\
                 metadata: {{name: {name}, namespace: bookinfo-ratings}}\n\
                 spec: {{address: {address}, labels: {{app: ratings}}, ports: {{{ports}}}}}\n---\n"
            )
        };
        let svc = |name: &str, target: &str, extra: &str| {
            format!(
                "apiVersion: v1\nkind: Service\nmetadata: {{name: {name}, namespace: bookinfo-ratings}}\n\
                 spec: {{{extra}selector: {{app: ratings}}, ports: [{{name: http-port, port: 8080, \
                 protocol: TCP, targetPort: {target}}}]}}\n---\n"
            )
        };
        let yaml = [
            svc("ratings", "http", ""),
            svc("by-number", "9080", ""),
            svc("headless", "9080", "clusterIP: None, "),
            we("ratings-1", "2.2.2.2", ""),
            we("ratings-2", "2.2.2.2", "http: 8082"),
            we("ratings-3", "2.2.2.2", "http: 8083, http-port: 7070"),
            we("ratings-dns", "vm.example.com", "http: 8084"),
        ]
        .concat();
        let r = registry(&yaml);
        let at = |host: &str| -> Vec<String> {
            r.endpoints(host)
                .iter()
                .map(|e| format!("{}:{}", e.address, e.port))
                .collect()
        };
        assert_eq!(
            at("ratings.bookinfo-ratings.svc.cluster.local"),
            ["2.2.2.2:8082", "2.2.2.2:8083"]
        );
        assert_eq!(
            at("by-number.bookinfo-ratings.svc.cluster.local"),
            ["2.2.2.2:9080", "2.2.2.2:7070"]
        );
        assert_eq!(
            at("headless.bookinfo-ratings.svc.cluster.local"),
            Vec::<String>::new()
        );
        let e = &r.endpoints("ratings.bookinfo-ratings.svc.cluster.local")[0];
        assert_eq!(
            (e.service_port, e.labels["app"].as_str()),
            (Some(8080), "ratings")
        );
    }
}
