//! Version discovery and load balancing (`meshroute::registry`): endpoints loaded from real
//! EndpointSlice, Pod and Service objects, subsets discovered from Pod labels, every
//! DestinationRule load-balancing policy, health, and registry updates without recompiling.
//!
//! Randomness is pinned: draws come from fixed PCG seeds, so the distribution checks are exact
//! for a given implementation and cannot flake; their bounds (chi-squared at p = 0.001) say
//! what must hold for any correct implementation.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::atomic::{AtomicBool, AtomicU32};

use meshroute::Shared;
use meshroute::hash::{
    HashKey, Maglev, RingHash, cookie_hash, header_hash, query_hash, source_ip_hash,
};
use meshroute::registry::{
    Endpoint, EndpointPick, Pick, Policy, Registry, RegistryOptions, Router,
};
use meshroute::{CompileOptions, Config, Outcome, OwnedRequest, Severity, Table, compile};

const REVIEWS: &str = "reviews.default.svc.cluster.local";
const DETAILS: &str = "details.default.svc.cluster.local";

/// Bookinfo's routing (request routing for jason, 80/20 shifting between v1 and v3).
const ROUTES: &str = r#"
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews, namespace: default}
spec:
  host: reviews
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
  - {name: v3, labels: {version: v3}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews, namespace: default}
spec:
  hosts: [reviews]
  http:
  - name: jason
    match: [{headers: {end-user: {exact: jason}}}]
    route: [{destination: {host: reviews, subset: v2}}]
  - name: shift
    route:
    - {destination: {host: reviews, subset: v1}, weight: 80}
    - {destination: {host: reviews, subset: v3}, weight: 20}
"#;

/// What `kubectl get svc,endpointslice,pod -o yaml` prints for Bookinfo's reviews and details
/// (trimmed of some status noise, but with the fields real objects carry: managedFields,
/// ownerReferences, nulls, container statuses). `details` has no EndpointSlice here: its
/// endpoints come from its selector and the Pods.
const BOOKINFO_OBJECTS: &str = r#"
apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Service
  metadata:
    name: reviews
    namespace: default
    labels: {app: reviews, service: reviews}
    creationTimestamp: "2024-05-02T09:14:11Z"
    resourceVersion: "1021"
    uid: 4f0c3e39-71b3-4c54-9d0e-0b8b6d0c1a11
  spec:
    clusterIP: 10.96.113.82
    clusterIPs: [10.96.113.82]
    internalTrafficPolicy: Cluster
    ipFamilies: [IPv4]
    ipFamilyPolicy: SingleStack
    ports:
    - {name: http, port: 9080, protocol: TCP, targetPort: 9080}
    selector: {app: reviews}
    sessionAffinity: None
    type: ClusterIP
  status:
    loadBalancer: {}
- apiVersion: discovery.k8s.io/v1
  kind: EndpointSlice
  metadata:
    name: reviews-8xk2p
    namespace: default
    generateName: reviews-
    generation: 4
    creationTimestamp: "2024-05-02T09:14:11Z"
    labels:
      app: reviews
      service: reviews
      endpointslice.kubernetes.io/managed-by: endpointslice-controller.k8s.io
      kubernetes.io/service-name: reviews
    annotations:
      endpoints.kubernetes.io/last-change-trigger-time: "2024-05-02T09:15:02Z"
    ownerReferences:
    - apiVersion: v1
      blockOwnerDeletion: true
      controller: true
      kind: Service
      name: reviews
      uid: 4f0c3e39-71b3-4c54-9d0e-0b8b6d0c1a11
    managedFields:
    - apiVersion: discovery.k8s.io/v1
      fieldsType: FieldsV1
      manager: kube-controller-manager
      operation: Update
      time: "2024-05-02T09:15:02Z"
  addressType: IPv4
  endpoints:
  - addresses: [10.244.1.12]
    conditions: {ready: true, serving: true, terminating: false}
    nodeName: kind-worker
    zone: us-east-1a
    targetRef: {kind: Pod, name: reviews-v1-5b5d6494f4-2lqwz, namespace: default, uid: 7d7a4d55-0c1e-4c9e-9a57-0f63f0f2b1a1}
  - addresses: [10.244.2.9]
    conditions: {ready: true, serving: true, terminating: false}
    nodeName: kind-worker2
    zone: us-east-1b
    targetRef: {kind: Pod, name: reviews-v2-5d9c6b8bd-m7t4k, namespace: default, uid: 0b8e4a0e-5a6f-4e55-8d5d-2f7ad9e3c2b2}
  - addresses: [10.244.1.13]
    conditions: {ready: true, serving: true, terminating: false}
    nodeName: kind-worker
    zone: us-east-1a
    hints:
      forZones: [{name: us-east-1a}]
    targetRef: {kind: Pod, name: reviews-v3-7c7b5d9f9-x2x8d, namespace: default, uid: 3c1f7b1e-1e0b-4fd0-a1b8-5f8d6c7e9d33}
  ports:
  - {name: http, port: 9080, protocol: TCP, appProtocol: http}
- apiVersion: v1
  kind: Pod
  metadata:
    name: reviews-v1-5b5d6494f4-2lqwz
    namespace: default
    generateName: reviews-v1-5b5d6494f4-
    labels:
      app: reviews
      version: v1
      pod-template-hash: 5b5d6494f4
      security.istio.io/tlsMode: istio
      service.istio.io/canonical-name: reviews
      service.istio.io/canonical-revision: v1
    annotations:
      sidecar.istio.io/status: '{"initContainers":["istio-init"],"containers":["istio-proxy"]}'
    ownerReferences:
    - {apiVersion: apps/v1, kind: ReplicaSet, name: reviews-v1-5b5d6494f4, uid: 1, controller: true}
  spec:
    serviceAccountName: bookinfo-reviews
    nodeName: kind-worker
    containers:
    - name: reviews
      image: docker.io/istio/examples-bookinfo-reviews-v1:1.20.1
      imagePullPolicy: IfNotPresent
      env: [{name: LOG_DIR, value: /tmp/logs}]
      ports: [{containerPort: 9080, protocol: TCP}]
      resources: {}
      volumeMounts: [{mountPath: /tmp, name: tmp}]
    - name: istio-proxy
      image: docker.io/istio/proxyv2:1.22.0
      ports: [{containerPort: 15090, name: http-envoy-prom, protocol: TCP}]
    volumes: [{name: tmp, emptyDir: {}}]
  status:
    phase: Running
    hostIP: 172.18.0.3
    podIP: 10.244.1.12
    podIPs: [{ip: 10.244.1.12}]
    qosClass: BestEffort
    startTime: "2024-05-02T09:14:30Z"
    conditions:
    - {type: Initialized, status: "True", lastProbeTime: null, lastTransitionTime: "2024-05-02T09:14:40Z"}
    - {type: Ready, status: "True", lastProbeTime: null, lastTransitionTime: "2024-05-02T09:15:01Z"}
    containerStatuses:
    - name: reviews
      ready: true
      restartCount: 0
      started: true
      state: {running: {startedAt: "2024-05-02T09:14:55Z"}}
- apiVersion: v1
  kind: Pod
  metadata:
    name: reviews-v2-5d9c6b8bd-m7t4k
    namespace: default
    labels: {app: reviews, version: v2, pod-template-hash: 5d9c6b8bd}
  spec:
    containers:
    - {name: reviews, image: "docker.io/istio/examples-bookinfo-reviews-v2:1.20.1", ports: [{containerPort: 9080, protocol: TCP}]}
  status:
    phase: Running
    podIP: 10.244.2.9
    podIPs: [{ip: 10.244.2.9}]
    conditions: [{type: Ready, status: "True"}]
- apiVersion: v1
  kind: Pod
  metadata:
    name: reviews-v3-7c7b5d9f9-x2x8d
    namespace: default
    labels: {app: reviews, version: v3, pod-template-hash: 7c7b5d9f9}
  spec:
    containers:
    - {name: reviews, image: "docker.io/istio/examples-bookinfo-reviews-v3:1.20.1", ports: [{containerPort: 9080, protocol: TCP}]}
  status:
    phase: Running
    podIP: 10.244.1.13
    podIPs: [{ip: 10.244.1.13}]
    conditions: [{type: Ready, status: "True"}]
- apiVersion: v1
  kind: Service
  metadata:
    name: details
    namespace: default
    labels: {app: details, service: details}
  spec:
    ports: [{name: http, port: 9080, protocol: TCP, targetPort: http-details}]
    selector: {app: details}
- apiVersion: v1
  kind: Pod
  metadata:
    name: details-v1-65cfcf56f9-4p2fq
    namespace: default
    labels: {app: details, version: v1}
  spec:
    containers:
    - name: details
      image: docker.io/istio/examples-bookinfo-details-v1:1.20.1
      ports: [{name: http-details, containerPort: 9080, protocol: TCP}]
  status:
    phase: Running
    podIP: 10.244.2.4
    conditions: [{type: Ready, status: "True"}]
- apiVersion: v1
  kind: Pod
  metadata:
    name: details-v1-65cfcf56f9-starting
    namespace: default
    labels: {app: details, version: v1}
  spec:
    containers:
    - name: details
      ports: [{name: http-details, containerPort: 9080}]
  status:
    phase: Running
    podIP: 10.244.1.20
    conditions: [{type: Ready, status: "False"}]
- apiVersion: v1
  kind: Pod
  metadata:
    name: details-v1-65cfcf56f9-pending
    namespace: default
    labels: {app: details, version: v1}
  spec:
    containers: [{name: details}]
  status:
    phase: Pending
"#;

fn bookinfo_config() -> Config {
    let mut config = Config::from_str(ROUTES, "routes.yaml").unwrap();
    config
        .add_str(BOOKINFO_OBJECTS, "bookinfo-objects.yaml")
        .unwrap();
    config
}

fn table_of(config: &Config) -> Table {
    let compiled = compile(config, &CompileOptions::default()).unwrap();
    assert_eq!(compiled.errors().count(), 0);
    compiled.table
}

fn req(url: &str) -> OwnedRequest {
    OwnedRequest::new("GET", url).from_namespace("default")
}

fn picked<'r>(pick: &Pick<'r>) -> EndpointPick<'r> {
    match pick {
        Pick::Endpoint(p) => *p,
        other => panic!("expected an endpoint, got {other:?}"),
    }
}

fn address(pick: &Pick<'_>) -> String {
    picked(pick).endpoint.address.to_string()
}

// ---------------------------------------------------------------------------------------------
// Loading
// ---------------------------------------------------------------------------------------------

#[test]
fn subsets_are_discovered_from_pod_labels() {
    let config = bookinfo_config();
    let (registry, diagnostics) = Registry::from_config(&config, &RegistryOptions::default());
    assert!(diagnostics.is_empty(), "{diagnostics:?}");

    let reviews = registry.endpoints(REVIEWS);
    let by_version: BTreeMap<&str, (&str, u16, Option<&str>)> = reviews
        .iter()
        .map(|e| {
            (
                e.labels["version"].as_str(),
                (&*e.address, e.port, e.locality.as_deref()),
            )
        })
        .collect();
    assert_eq!(
        by_version,
        BTreeMap::from([
            // The zone alone: the region is on the Node, not loaded.
            ("v1", ("10.244.1.12", 9080, Some("/us-east-1a"))),
            ("v2", ("10.244.2.9", 9080, Some("/us-east-1b"))),
            ("v3", ("10.244.1.13", 9080, Some("/us-east-1a"))),
        ])
    );
    // The slice's labels without Kubernetes' bookkeeping, overlaid with the Pod's.
    let v1 = reviews
        .iter()
        .find(|e| e.labels["version"] == "v1")
        .unwrap();
    let keys: Vec<&str> = v1.labels.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "app",
            "pod-template-hash",
            "security.istio.io/tlsMode",
            "service",
            "service.istio.io/canonical-name",
            "service.istio.io/canonical-revision",
            "version",
        ]
    );
    assert!(reviews.iter().all(|e| e.healthy && e.weight == 1));

    // The routes pick the discovered versions: jason → v2; the rest → v1 or v3.
    let table = table_of(&config);
    let router = Router::new(&table, &registry).unwrap();
    let jason = req("http://reviews/reviews/1").header("end-user", "jason");
    for draw in [0, 1, 79, 80, 99, u64::MAX] {
        let routed = router.decide_with_draw(&jason, draw);
        let p = picked(&routed.pick);
        assert_eq!(&*p.endpoint.address, "10.244.2.9");
        assert_eq!(p.cluster, "reviews.default.svc.cluster.local/v2");
        assert_eq!(p.policy, Policy::LeastRequest, "Istio's default");
        assert_eq!(routed.status(), 200);
    }
    let other = req("http://reviews/reviews/1");
    // The split's draw % 100: below 80 → v1, else v3.
    assert_eq!(
        address(&router.decide_with_draw(&other, 79).pick),
        "10.244.1.12"
    );
    assert_eq!(
        address(&router.decide_with_draw(&other, 80).pick),
        "10.244.1.13"
    );
}

#[test]
fn json_loads_like_yaml() {
    let json = r#"{"apiVersion": "v1", "kind": "List", "items": [
      {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
       "metadata": {"name": "reviews-8xk2p", "namespace": "default",
                    "labels": {"kubernetes.io/service-name": "reviews", "app": "reviews"}},
       "addressType": "IPv4",
       "endpoints": [{"addresses": ["10.244.2.9"], "conditions": {"ready": true},
                      "targetRef": {"kind": "Pod", "name": "reviews-v2", "namespace": "default"}}],
       "ports": [{"name": "http", "port": 9080, "protocol": "TCP"}]},
      {"apiVersion": "v1", "kind": "Pod",
       "metadata": {"name": "reviews-v2", "namespace": "default", "labels": {"app": "reviews", "version": "v2"}},
       "spec": {"containers": [{"name": "reviews"}]},
       "status": {"phase": "Running", "podIP": "10.244.2.9"}}]}"#;
    let config = Config::from_str(json, "objects.json").unwrap();
    assert!(config.rejected.is_empty(), "{:?}", config.rejected);
    let (registry, diagnostics) = Registry::from_config(&config, &RegistryOptions::default());
    assert!(diagnostics.is_empty());
    let expected = Endpoint::new("10.244.2.9", 9080)
        .label("app", "reviews")
        .label("version", "v2");
    assert_eq!(registry.endpoints(REVIEWS), [expected]);
}

#[test]
fn endpointslice_conditions_addresses_ports_and_nulls() {
    let yaml = r#"
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: web-1
  namespace: shop
  labels: {kubernetes.io/service-name: web, kubernetes.io/managed-by: me, app.kubernetes.io/name: web}
addressType: IPv6
endpoints:
- addresses: ["fd00::1", "fd00::2"]
  conditions: {ready: true}
- addresses: ["fd00::3"]
  conditions: {ready: false, serving: false}
- addresses: ["fd00::4"]
  conditions: {ready: false, serving: true, terminating: true}
- addresses: ["fd00::5"]
  conditions: {}
- addresses: ["fd00::6"]
- addresses: ["fd00::7"]
  conditions: null
  targetRef: {kind: Pod, name: not-loaded}
ports:
- {name: http, port: 8080}
- {name: metrics, port: 9090, protocol: TCP}
- {name: dns, port: 53, protocol: UDP}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: web-2
  namespace: shop
  labels: {kubernetes.io/service-name: web}
addressType: IPv6
endpoints:
- addresses: ["fd00::1"]
  conditions: {ready: false}
ports:
- {name: http, port: 8080}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: empty, namespace: shop, labels: {kubernetes.io/service-name: empty}}
addressType: IPv4
endpoints: null
ports: null
"#;
    let config = Config::from_str(yaml, "t.yaml").unwrap();
    assert!(config.rejected.is_empty(), "{:?}", config.rejected);
    let (registry, diagnostics) = Registry::from_config(&config, &RegistryOptions::default());
    assert!(diagnostics.is_empty(), "{diagnostics:?}");
    let host = "web.shop.svc.cluster.local";
    let got: Vec<(String, u16, bool)> = registry
        .endpoints(host)
        .iter()
        .map(|e| (e.address.to_string(), e.port, e.healthy))
        .collect();
    let expected: Vec<(String, u16, bool)> = [
        ("fd00::1", true),
        ("fd00::2", true),
        ("fd00::3", false),
        ("fd00::4", false),
        ("fd00::5", true),
        ("fd00::6", true),
        ("fd00::7", true),
    ]
    .iter()
    .flat_map(|&(a, h)| [(a.to_string(), 8080, h), (a.to_string(), 9090, h)])
    .collect();
    // fd00::1:8080 appears again in web-2 (unready): the first copy is kept.
    assert_eq!(got, expected);
    let e = &registry.endpoints(host)[0];
    assert_eq!(
        e.labels,
        BTreeMap::from([("app.kubernetes.io/name".into(), "web".into())])
    );
    assert_eq!(e.hash_key(), "[fd00::1]:8080");
    assert!(
        registry
            .endpoints("empty.shop.svc.cluster.local")
            .is_empty()
    );
}

#[test]
fn loading_problems_are_diagnostics() {
    let yaml = r#"
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: orphan-x1, namespace: shop, labels: {app: orphan}}
addressType: IPv4
endpoints: [{addresses: [10.0.0.1]}]
ports: [{port: 80}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: web-x2, labels: {kubernetes.io/service-name: web}}
addressType: IPv4
endpoints: [{addresses: [10.0.0.2]}, {addresses: []}]
ports: [{name: all}, {name: big, port: 70000}, {name: http, port: 80}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: noports-x3, namespace: shop, labels: {kubernetes.io/service-name: noports}}
addressType: IPv4
endpoints: [{addresses: [10.0.0.3]}]
ports: []
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: bad-x4, namespace: shop, labels: {kubernetes.io/service-name: bad}}
addressType: IPv4
endpoints: [{addresses: [10.0.0.4], conditions: {ready: "yes"}}]
---
apiVersion: discovery.k8s.io/v1beta1
kind: EndpointSlice
metadata: {name: old, namespace: shop}
"#;
    let config = Config::from_str(yaml, "t.yaml").unwrap();
    // A schema error rejects the resource with the field path as written (no `spec.`).
    assert_eq!(config.rejected.len(), 1);
    let e = &config.rejected[0].errors[0];
    assert_eq!(e.path(), "endpoints[0].conditions.ready");
    assert!(
        e.to_string()
            .starts_with("t.yaml: EndpointSlice shop/bad-x4: endpoints[0].conditions.ready: "),
        "{e}"
    );
    // discovery.k8s.io/v1beta1 (removed in Kubernetes 1.25) is skipped with a note.
    assert_eq!(config.notes.len(), 1);
    assert!(
        config.notes[0]
            .message
            .contains("discovery.k8s.io/v1beta1 EndpointSlice"),
        "{}",
        config.notes[0]
    );

    let (registry, diagnostics) = Registry::from_config(&config, &RegistryOptions::default());
    let lines: Vec<String> = diagnostics.iter().map(ToString::to_string).collect();
    assert_eq!(
        lines,
        [
            "warning[endpointslice-without-service]: EndpointSlice shop/orphan-x1: \
             metadata.labels: no kubernetes.io/service-name label: the slice belongs to no \
             Service, so its endpoints are not used",
            "warning[endpointslice-port]: EndpointSlice default/web-x2: ports[0].port: not set \
             (every port): there is no port to forward to, so the port is skipped",
            "warning[endpointslice-port]: EndpointSlice default/web-x2: ports[1].port: 70000 is \
             not a port number (1 to 65535); the port is skipped",
            "warning[endpointslice-endpoint]: EndpointSlice default/web-x2: \
             endpoints[1].addresses: no address; the endpoint is skipped",
            "warning[endpointslice-without-ports]: EndpointSlice shop/noports-x3: ports: no TCP \
             port with a number: the slice's endpoints are not used",
        ]
    );
    assert!(diagnostics.iter().all(|d| d.severity == Severity::Warning));
    // The usable part of web-x2 is loaded, in the default namespace.
    assert_eq!(
        registry.endpoints("web.default.svc.cluster.local"),
        [Endpoint::new("10.0.0.2", 80)]
    );
    assert_eq!(registry.hosts().count(), 1);
}

#[test]
fn a_service_without_slices_takes_the_pods_its_selector_matches() {
    let (registry, _) = Registry::from_config(&bookinfo_config(), &RegistryOptions::default());
    // The named targetPort resolves to the container port; the unready Pod is unhealthy; the
    // Pod without an IP is not an endpoint.
    let got: Vec<(&str, u16, bool, &str)> = registry
        .endpoints(DETAILS)
        .iter()
        .map(|e| (&*e.address, e.port, e.healthy, e.labels["version"].as_str()))
        .collect();
    assert_eq!(
        got,
        [
            ("10.244.2.4", 9080, true, "v1"),
            ("10.244.1.20", 9080, false, "v1")
        ]
    );
    // reviews has a slice: its endpoints come from the slice only (not twice).
    assert_eq!(registry.endpoints(REVIEWS).len(), 3);

    // A Service alone contributes nothing; numeric and absent targetPorts; other namespaces'
    // Pods are not selected.
    let yaml = r#"
apiVersion: v1
kind: Service
metadata: {name: lonely, namespace: a}
spec: {selector: {app: lonely}, ports: [{port: 80}]}
---
apiVersion: v1
kind: Service
metadata: {name: api, namespace: a}
spec:
  selector: {app: api}
  ports: [{name: http, port: 80, targetPort: 8080}, {name: admin, port: 9000}, {name: udp, port: 53, protocol: UDP}]
---
apiVersion: v1
kind: Pod
metadata: {name: api-1, namespace: a, labels: {app: api, track: stable}}
status: {podIPs: [{ip: 10.1.0.1}, {ip: "fd00::1"}]}
---
apiVersion: v1
kind: Pod
metadata: {name: api-2, namespace: b, labels: {app: api}}
status: {podIP: 10.2.0.1}
---
apiVersion: v1
kind: Pod
metadata: {name: api-3, namespace: a, labels: {app: api}}
status: {podIP: 10.1.0.3, phase: Succeeded}
"#;
    let config = Config::from_str(yaml, "t.yaml").unwrap();
    let (registry, diagnostics) = Registry::from_config(&config, &RegistryOptions::default());
    assert!(diagnostics.is_empty());
    assert!(registry.endpoints("lonely.a.svc.cluster.local").is_empty());
    let got: Vec<(&str, u16, bool)> = registry
        .endpoints("api.a.svc.cluster.local")
        .iter()
        .map(|e| (&*e.address, e.port, e.healthy))
        .collect();
    assert_eq!(
        got,
        [
            ("10.1.0.1", 8080, true),
            ("10.1.0.1", 9000, true),
            ("10.1.0.3", 8080, false),
            ("10.1.0.3", 9000, false),
        ]
    );
}

#[test]
fn the_cluster_domain_and_default_namespace_come_from_the_options() {
    let yaml = "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: s, labels: {kubernetes.io/service-name: Web}}\naddressType: IPv4\nendpoints: [{addresses: [10.0.0.1]}]\nports: [{port: 80}]\n";
    let config = Config::from_str(yaml, "t").unwrap();
    let mut options = CompileOptions::default();
    options.default_namespace = "prod".into();
    options.cluster_domain = "corp.internal".into();
    let (registry, _) = Registry::from_config(&config, &(&options).into());
    assert_eq!(
        registry.hosts().collect::<Vec<_>>(),
        ["web.prod.svc.corp.internal"]
    );
}

// ---------------------------------------------------------------------------------------------
// Policies
// ---------------------------------------------------------------------------------------------

/// One service `shop` in `default` with a DestinationRule `traffic_policy` (YAML flow text),
/// and a VirtualService sending everything to subset `all` (labels `app: shop`).
fn shop_table(load_balancer: &str) -> Table {
    Table::from_yaml(&format!(
        "apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {{name: shop, namespace: default}}
spec:
  host: shop
  trafficPolicy: {{loadBalancer: {load_balancer}}}
  subsets: [{{name: all, labels: {{app: shop}}}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: shop, namespace: default}}
spec:
  hosts: [shop]
  http: [{{route: [{{destination: {{host: shop, subset: all}}}}]}}]
"
    ))
    .unwrap()
}

const SHOP: &str = "shop.default.svc.cluster.local";

/// Endpoints `10.0.0.1..=n` of `shop`, labelled `app: shop`, with `weights`.
fn shop_registry(weights: &[u32]) -> Registry {
    let mut reg = Registry::new();
    for (i, &w) in weights.iter().enumerate() {
        reg.add(
            SHOP,
            Endpoint::new(&format!("10.0.0.{}", i + 1), 8080)
                .label("app", "shop")
                .weight(w),
        );
    }
    reg
}

/// Counts picks per address over `n` draws from a fixed PCG stream.
fn counts(router: &Router, r: &OwnedRequest, n: usize, seed: u64) -> BTreeMap<String, usize> {
    let mut rng = rand_pcg::Pcg64::new(u128::from(seed), 0xda3e_39cb_94b9_5bdb);
    let mut out = BTreeMap::new();
    for _ in 0..n {
        *out.entry(address(&router.decide(r, &mut rng).pick))
            .or_default() += 1;
    }
    out
}

/// Pearson's chi-squared statistic of `observed` against `expected` shares.
fn chi_squared(observed: &[usize], shares: &[f64]) -> f64 {
    let n: usize = observed.iter().sum();
    let total: f64 = shares.iter().sum();
    observed
        .iter()
        .zip(shares)
        .map(|(&o, &s)| {
            let e = n as f64 * s / total;
            (o as f64 - e).powi(2) / e
        })
        .sum()
}

/// Chi-squared critical values at p = 0.001 by degrees of freedom (1..=4).
const CHI2_999: [f64; 5] = [0.0, 10.83, 13.82, 16.27, 18.47];

#[test]
fn round_robin_is_weighted_and_exact_over_one_period() {
    let table = shop_table("{simple: ROUND_ROBIN}");
    // Weights 3, 1, 2 (endpoints are ordered by `address:port`).
    let router = Router::new(&table, &shop_registry(&[3, 1, 2])).unwrap();
    let r = req("http://shop/");
    let seq: Vec<String> = (0..12)
        .map(|i| {
            let routed = router.decide_with_draw(&r, i * 7919);
            assert_eq!(picked(&routed.pick).policy, Policy::RoundRobin);
            address(&routed.pick)
        })
        .map(|a| a.trim_start_matches("10.0.0.").to_string())
        .collect();
    // Smooth weighted round robin: a period of Σw = 6 picks, each endpoint its weight's
    // count, interleaved (1 3 1 2 3 1), repeating; the draw plays no part.
    assert_eq!(
        seq,
        ["1", "3", "1", "2", "3", "1", "1", "3", "1", "2", "3", "1"]
    );
}

#[test]
fn random_follows_the_weights() {
    let table = shop_table("{simple: RANDOM}");
    let router = Router::new(&table, &shop_registry(&[1, 2, 3])).unwrap();
    let r = req("http://shop/");
    assert_eq!(
        picked(&router.decide_with_draw(&r, 0).pick).policy,
        Policy::Random
    );
    let c = counts(&router, &r, 60_000, 1);
    let observed: Vec<usize> = c.values().copied().collect();
    assert_eq!(observed.len(), 3);
    let x2 = chi_squared(&observed, &[1.0, 2.0, 3.0]);
    assert!(x2 < CHI2_999[2], "chi² {x2} for {c:?}");
}

#[test]
fn least_request_is_uniform_when_idle_and_avoids_busy_endpoints() {
    let table = shop_table("{simple: LEAST_REQUEST}");
    let router = Router::new(&table, &shop_registry(&[1, 1, 1])).unwrap();
    let r = req("http://shop/");
    let idle = counts(&router, &r, 30_000, 2);
    let observed: Vec<usize> = idle.values().copied().collect();
    assert!(chi_squared(&observed, &[1.0; 3]) < CHI2_999[2], "{idle:?}");

    // 10.0.0.1 gets five requests in flight, reported back through the router.
    let busy = (0..)
        .map(|d| router.decide_with_draw(&r, d))
        .find(|routed| address(&routed.pick) == "10.0.0.1")
        .unwrap();
    let busy = picked(&busy.pick);
    for _ in 0..5 {
        router.started(&busy);
    }
    // Power of two choices: the busy endpoint wins only when both choices are it (1/9).
    let loaded = counts(&router, &r, 30_000, 2);
    let observed: Vec<usize> = loaded.values().copied().collect();
    assert!(
        chi_squared(&observed, &[1.0, 4.0, 4.0]) < CHI2_999[2],
        "{loaded:?}"
    );
    // Exactly: for every draw, the busy endpoint is picked only where the idle router picked
    // it too, and every draw that went elsewhere still does.
    let idle_router = router.with_registry(&shop_registry(&[1, 1, 1])).unwrap();
    let mut moved = 0;
    for draw in 0..3000u64 {
        let now = address(&router.decide_with_draw(&r, draw).pick);
        let before = address(&idle_router.decide_with_draw(&r, draw).pick);
        if before != "10.0.0.1" {
            assert_eq!(now, before, "draw {draw}");
        } else if now != before {
            moved += 1;
        }
    }
    assert!(moved > 500, "only {moved} draws avoided the busy endpoint");

    // Finished requests bring it back; the count never goes below zero.
    for _ in 0..7 {
        router.finished(&busy);
    }
    let after = counts(&router, &r, 30_000, 2);
    assert_eq!(after, idle);
    // A pick of another router is not counted here.
    let foreign = idle_router.decide_with_draw(&r, 0);
    router.started(&picked(&foreign.pick));
    assert_eq!(counts(&router, &r, 30_000, 2), idle);
}

/// The request keys of the four `consistentHash` sources, for `user`.
fn keyed(source: &str, user: &str) -> OwnedRequest {
    let mut r = match source {
        "header" => req("http://shop/cart").header("x-user", user),
        "cookie" => {
            req("http://shop/cart").header("cookie", &format!("theme=dark; session={user}"))
        }
        "query" => req(&format!("http://shop/cart?user={user}&page=2")),
        _ => req("http://shop/cart"),
    };
    if source == "source-ip" {
        let n = user.bytes().map(u32::from).sum::<u32>();
        r.source_ip = Some(IpAddr::from([192, 168, (n / 250) as u8, (n % 250) as u8]));
    }
    r
}

fn expected_hash(source: &str, r: &OwnedRequest) -> Option<u64> {
    match source {
        "header" => header_hash(r, "x-user"),
        "cookie" => cookie_hash(r, "session"),
        "query" => query_hash(r, "user"),
        _ => source_ip_hash(r),
    }
}

#[test]
fn consistent_hash_keys_pin_requests_to_endpoints() {
    let keys = [
        ("header", "{httpHeaderName: X-User}"),
        // No ttl: a request without the cookie is hashed without it (with a ttl a cookie is
        // generated, tests/hash_cookie.rs).
        ("cookie", "{httpCookie: {name: session}}"),
        ("query", "{httpQueryParameterName: user}"),
        ("source-ip", "{useSourceIp: true}"),
    ];
    let algorithms = [
        (
            "ring",
            "ringHash: {minimumRingSize: 2048}",
            Policy::RingHash,
        ),
        ("maglev", "maglev: {tableSize: 65537}", Policy::Maglev),
        ("default", "", Policy::RingHash),
    ];
    let registry = shop_registry(&[1, 1, 1, 2, 1]);
    // The balancer is built over the healthy endpoints ordered by `address:port`.
    let mut hash_keys: Vec<String> = registry
        .endpoints(SHOP)
        .iter()
        .map(Endpoint::hash_key)
        .collect();
    hash_keys.sort();
    let weights = [1, 1, 1, 2, 1];
    let weighted: Vec<(&str, u32)> = hash_keys.iter().map(String::as_str).zip(weights).collect();
    let ring = RingHash::with_ring_size(&weighted, 2048, RingHash::MAX_RING_SIZE).unwrap();
    let default_ring = RingHash::new(&weighted).unwrap();
    let maglev = Maglev::new(&weighted).unwrap();

    for (source, key) in keys {
        for (name, algorithm, policy) in algorithms {
            let lb = format!(
                "{{consistentHash: {}{}{algorithm}}}}}",
                &key[..key.len() - 1],
                if algorithm.is_empty() { "" } else { ", " }
            );
            let table = shop_table(&lb);
            let router = Router::new(&table, &registry).unwrap();
            let mut seen = BTreeSet::new();
            for u in 0..200 {
                let user = format!("user-{u}");
                let r = keyed(source, &user);
                let hash = expected_hash(source, &r).unwrap();
                let first = picked(&router.decide_with_draw(&r, 0).pick);
                assert_eq!(first.policy, policy, "{source} {name}");
                assert_eq!(
                    first.hash,
                    Some(hash),
                    "{source} {name}: the documented hash"
                );
                let index = match name {
                    "ring" => ring.pick(hash),
                    "maglev" => maglev.pick(hash),
                    _ => default_ring.pick(hash),
                };
                assert_eq!(
                    first.endpoint.hash_key(),
                    hash_keys[index],
                    "{source} {name}"
                );
                for draw in [1, 99, 12_345, u64::MAX] {
                    let again = picked(&router.decide_with_draw(&r, draw).pick);
                    assert_eq!(again.endpoint, first.endpoint, "{source} {name} {user}");
                }
                seen.insert(first.endpoint.address.clone());
            }
            assert_eq!(
                seen.len(),
                5,
                "{source} {name}: 200 keys reach every endpoint"
            );

            // Without the key there is no hash, and a random point picks.
            let bare = req("http://shop/cart");
            let spread: BTreeSet<_> = (0..64u64)
                .map(|d| {
                    let p = picked(&router.decide_with_draw(&bare, d).pick);
                    assert_eq!(p.hash, None);
                    p.endpoint.address.clone()
                })
                .collect();
            assert!(spread.len() > 1, "{source} {name}: no key, no stickiness");
        }
    }
}

#[test]
fn a_split_route_combines_the_hash_policies_of_its_destinations() {
    // Istio puts one hash policy per weighted destination on the route; Envoy combines them:
    // with the same header twice, h' = rotl(h, 1) ^ h, for whichever subset the split picks.
    let table = Table::from_yaml(
        "apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: shop, namespace: default}
spec:
  host: shop
  trafficPolicy: {loadBalancer: {consistentHash: {httpHeaderName: x-user}}}
  subsets:
  - {name: a, labels: {track: a}}
  - {name: b, labels: {track: b}, trafficPolicy: {loadBalancer: {consistentHash: {httpCookie: {name: session}, maglev: {tableSize: 251}}}}}
  - {name: c, labels: {track: c}, trafficPolicy: {loadBalancer: {simple: ROUND_ROBIN}}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: shop, namespace: default}
spec:
  hosts: [shop]
  http:
  - match: [{uri: {prefix: /aa}}]
    route:
    - {destination: {host: shop, subset: a}, weight: 50}
    - {destination: {host: shop, subset: a}, weight: 50}
  - match: [{uri: {prefix: /ab}}]
    route:
    - {destination: {host: shop, subset: a}, weight: 50}
    - {destination: {host: shop, subset: b}, weight: 50}
    - {destination: {host: shop, subset: c}, weight: 0}
  - match: [{uri: {prefix: /ac}}]
    route:
    - {destination: {host: shop, subset: a}, weight: 50}
    - {destination: {host: shop, subset: c}, weight: 50}
",
    )
    .unwrap();
    let mut reg = Registry::new();
    for (i, track) in ["a", "a", "b", "b", "c"].iter().enumerate() {
        reg.add(
            SHOP,
            Endpoint::new(&format!("10.0.1.{i}"), 80).label("track", track),
        );
    }
    let router = Router::new(&table, &reg).unwrap();
    let with = |path: &str| {
        req(&format!("http://shop{path}"))
            .header("x-user", "jason")
            .header("cookie", "session=s-1")
    };
    let h = header_hash(&with("/"), "x-user").unwrap();
    let c = cookie_hash(&with("/"), "session").unwrap();
    let mut clusters = BTreeSet::new();
    // The split's draw % 100: below 50 the first destination, else the second.
    for draw in (0..100u64).step_by(3) {
        let p = picked(&router.decide_with_draw(&with("/aa"), draw).pick);
        assert_eq!(p.hash, Some(h.rotate_left(1) ^ h));
        // Subset b's own key (the cookie) joins the header; the weight-0 destination adds
        // nothing. The policy is the picked subset's.
        let p = picked(&router.decide_with_draw(&with("/ab"), draw).pick);
        assert_eq!(p.hash, Some(h.rotate_left(1) ^ c), "{}", p.cluster);
        clusters.insert(p.cluster.to_string());
        let mut key = HashKey::new();
        key.add(Some(h));
        key.add(Some(c));
        assert_eq!(p.hash, key.hash());
        let expected = if p.cluster.ends_with("/a") {
            Policy::RingHash
        } else {
            Policy::Maglev
        };
        assert_eq!(p.policy, expected);
        // A destination without consistentHash contributes no policy: the hash is a's alone.
        let p = picked(&router.decide_with_draw(&with("/ac"), draw).pick);
        if p.cluster.ends_with("/a") {
            assert_eq!(p.hash, Some(h));
        } else {
            assert_eq!((p.policy, p.hash), (Policy::RoundRobin, None));
        }
        clusters.insert(p.cluster.to_string());
    }
    assert_eq!(
        clusters,
        BTreeSet::from(["a", "b", "c"].map(|s| format!("{SHOP}/{s}")))
    );
}

#[test]
fn subset_policy_overrides_the_top_level_one() {
    let table = Table::from_yaml(
        "apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: shop, namespace: default}
spec:
  host: shop
  trafficPolicy: {loadBalancer: {simple: ROUND_ROBIN}, connectionPool: {tcp: {maxConnections: 10}}}
  subsets:
  - {name: plain, labels: {track: a}}
  - {name: random, labels: {track: a}, trafficPolicy: {loadBalancer: {simple: RANDOM}}}
  - {name: hashed, labels: {track: a}, trafficPolicy: {loadBalancer: {consistentHash: {httpHeaderName: x-user}}}}
  - {name: pool-only, labels: {track: a}, trafficPolicy: {connectionPool: {tcp: {maxConnections: 1}}}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: shop, namespace: default}
spec:
  hosts: [shop]
  http:
  - {match: [{uri: {prefix: /plain}}], route: [{destination: {host: shop, subset: plain}}]}
  - {match: [{uri: {prefix: /random}}], route: [{destination: {host: shop, subset: random}}]}
  - {match: [{uri: {prefix: /hashed}}], route: [{destination: {host: shop, subset: hashed}}]}
  - {match: [{uri: {prefix: /pool}}], route: [{destination: {host: shop, subset: pool-only}}]}
  - route: [{destination: {host: shop}}]
",
    )
    .unwrap();
    let mut reg = Registry::new();
    reg.add(SHOP, Endpoint::new("10.0.0.1", 80).label("track", "a"));
    reg.add(SHOP, Endpoint::new("10.0.0.2", 80).label("track", "a"));
    let router = Router::new(&table, &reg).unwrap();
    let policy = |path: &str| {
        let r = req(&format!("http://shop{path}")).header("x-user", "u");
        picked(&router.decide_with_draw(&r, 3).pick).policy
    };
    assert_eq!(policy("/plain"), Policy::RoundRobin, "top-level");
    assert_eq!(policy("/random"), Policy::Random, "subset over top-level");
    assert_eq!(policy("/hashed"), Policy::RingHash, "subset consistentHash");
    assert_eq!(
        policy("/pool"),
        Policy::RoundRobin,
        "a subset policy without loadBalancer keeps the top-level one"
    );
    assert_eq!(policy("/"), Policy::RoundRobin, "no subset: top-level");
}

#[test]
fn destination_rules_for_one_host_merge_and_exact_beats_wildcard() {
    let table = Table::from_yaml(
        "apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: all, namespace: default}
spec:
  host: '*.svc.cluster.local'
  trafficPolicy: {loadBalancer: {simple: RANDOM}}
  subsets: [{name: v1, labels: {version: wildcard}}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: shop-subsets, namespace: default}
spec:
  host: shop
  subsets: [{name: v1, labels: {version: v1}}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: shop-policy, namespace: default}
spec:
  host: shop
  trafficPolicy: {loadBalancer: {simple: ROUND_ROBIN}}
  subsets: [{name: v2, labels: {version: v2}, trafficPolicy: {loadBalancer: {simple: LEAST_REQUEST}}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: shop, namespace: default}
spec:
  hosts: [shop]
  http:
  - {match: [{uri: {prefix: /v2}}], route: [{destination: {host: shop, subset: v2}}]}
  - route: [{destination: {host: shop, subset: v1}}]
",
    )
    .unwrap();
    let mut reg = Registry::new();
    reg.add(SHOP, Endpoint::new("10.0.0.1", 80).label("version", "v1"));
    reg.add(SHOP, Endpoint::new("10.0.0.2", 80).label("version", "v2"));
    reg.add(
        SHOP,
        Endpoint::new("10.0.0.3", 80).label("version", "wildcard"),
    );
    reg.add(DETAILS, Endpoint::new("10.0.9.1", 80));
    let router = Router::new(&table, &reg).unwrap();
    // v1 from the exact-host rule (not the wildcard's v1); the top-level policy from the
    // second rule for the host, the first that has one.
    let v1 = picked(&router.decide_with_draw(&req("http://shop/"), 0).pick);
    assert_eq!(
        (&*v1.endpoint.address, v1.policy),
        ("10.0.0.1", Policy::RoundRobin)
    );
    let v2 = picked(&router.decide_with_draw(&req("http://shop/v2"), 0).pick);
    assert_eq!(
        (&*v2.endpoint.address, v2.policy),
        ("10.0.0.2", Policy::LeastRequest)
    );
    // Another host falls to the wildcard rule.
    let d = picked(&router.decide_with_draw(&req("http://details/"), 0).pick);
    assert_eq!(d.policy, Policy::Random);
}

// ---------------------------------------------------------------------------------------------
// Health
// ---------------------------------------------------------------------------------------------

#[test]
fn unhealthy_endpoints_are_never_picked() {
    let policies = [
        "{simple: ROUND_ROBIN}",
        "{simple: RANDOM}",
        "{simple: LEAST_REQUEST}",
        "{consistentHash: {httpHeaderName: x-user}}",
        "{consistentHash: {httpHeaderName: x-user, maglev: {tableSize: 65537}}}",
    ];
    let mut reg = shop_registry(&[1, 1, 1, 1]);
    let mut eps = reg.endpoints(SHOP).to_vec();
    eps[1] = eps[1].clone().healthy(false);
    eps[3] = eps[3].clone().healthy(false);
    reg.set(SHOP, eps);
    for lb in policies {
        let router = Router::new(&shop_table(lb), &reg).unwrap();
        let mut seen = BTreeSet::new();
        for d in 0..400u64 {
            let r = req("http://shop/").header("x-user", &format!("u{d}"));
            seen.insert(address(&router.decide_with_draw(&r, d).pick));
        }
        assert_eq!(
            seen,
            BTreeSet::from(["10.0.0.1".to_string(), "10.0.0.3".to_string()]),
            "{lb}"
        );
    }
}

#[test]
fn no_healthy_endpoint_is_503_uh() {
    let table = shop_table("{simple: ROUND_ROBIN}");
    let mut reg = Registry::new();
    reg.add(
        SHOP,
        Endpoint::new("10.0.0.1", 80)
            .label("app", "shop")
            .healthy(false),
    );
    reg.add(SHOP, Endpoint::new("10.0.0.2", 80).label("app", "other"));
    let router = Router::new(&table, &reg).unwrap();
    let routed = router.decide_with_draw(&req("http://shop/"), 0);
    assert!(
        matches!(routed.pick, Pick::NoHealthyEndpoint),
        "{:?}",
        routed.pick
    );
    assert_eq!(routed.decision.status(), 200, "routing itself succeeded");
    assert_eq!(routed.status(), 503);
    assert_eq!(routed.pick.response_flag(), Some("UH"));

    // No endpoint at all for the subset, or for the service.
    let mut reg = Registry::new();
    reg.add(SHOP, Endpoint::new("10.0.0.2", 80).label("app", "other"));
    for reg in [reg, Registry::new()] {
        let router = Router::new(&table, &reg).unwrap();
        let routed = router.decide_with_draw(&req("http://shop/"), 0);
        assert!(
            matches!(routed.pick, Pick::NoEndpoints),
            "{:?}",
            routed.pick
        );
        assert_eq!(routed.status(), 503);
        assert_eq!(routed.pick.response_flag(), Some("UH"));
    }
}

#[test]
fn decisions_that_do_not_forward_pick_nothing() {
    let table = Table::from_yaml(
        "apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: shop, namespace: default}
spec:
  hosts: [shop]
  http:
  - {match: [{uri: {prefix: /old}}], redirect: {uri: /new}}
  - {match: [{uri: {prefix: /abort}}], fault: {abort: {httpStatus: 418, percentage: {value: 100}}}, route: [{destination: {host: shop}}]}
  - {match: [{uri: {prefix: /grpc}}], fault: {abort: {grpcStatus: UNAVAILABLE, percentage: {value: 100}}}, route: [{destination: {host: shop}}]}
  - {match: [{uri: {prefix: /gone}}], route: [{destination: {host: shop, subset: nowhere}}]}
  - {match: [{uri: {prefix: /ok}}], route: [{destination: {host: shop}}]}
",
    )
    .unwrap();
    let router = Router::new(&table, &shop_registry(&[1])).unwrap();
    for (path, status) in [
        ("/old", 301),
        ("/abort", 418),
        ("/grpc", 200),
        ("/gone", 503),
        ("/x", 404),
    ] {
        let routed = router.decide_with_draw(&req(&format!("http://shop{path}")), 0);
        assert!(
            matches!(routed.pick, Pick::NotForwarded),
            "{path}: {:?}",
            routed.pick
        );
        assert_eq!(routed.status(), status, "{path}");
        assert_eq!(routed.pick.response_flag(), None);
    }
    let ok = router.decide_with_draw(&req("http://shop/ok"), 0);
    assert_eq!(address(&ok.pick), "10.0.0.1");
}

// ---------------------------------------------------------------------------------------------
// Updates, sharing, passthrough
// ---------------------------------------------------------------------------------------------

#[test]
fn new_endpoints_do_not_recompile_routes() {
    let config = bookinfo_config();
    let table = table_of(&config);
    let (registry, _) = Registry::from_config(&config, &RegistryOptions::default());
    let router = Router::new(&table, &registry).unwrap();
    let jason = req("http://reviews/").header("end-user", "jason");
    assert_eq!(
        address(&router.decide_with_draw(&jason, 0).pick),
        "10.244.2.9"
    );

    // reviews-v2 is rescheduled to a new IP; a second v2 Pod appears.
    let mut next = registry.clone();
    let mut eps: Vec<Endpoint> = next
        .endpoints(REVIEWS)
        .iter()
        .filter(|e| e.labels["version"] != "v2")
        .cloned()
        .collect();
    eps.push(Endpoint::new("10.244.3.30", 9080).label("version", "v2"));
    eps.push(Endpoint::new("10.244.3.31", 9080).label("version", "v2"));
    next.set(REVIEWS, eps);
    let updated = router.with_registry(&next).unwrap();

    // The same compiled table: the rules are the very same objects.
    assert!(std::ptr::eq(
        router.table().rules().as_ptr(),
        updated.table().rules().as_ptr()
    ));
    let v2: BTreeSet<String> = (0..200)
        .map(|d| address(&updated.decide_with_draw(&jason, d).pick))
        .collect();
    assert_eq!(
        v2,
        BTreeSet::from(["10.244.3.30".to_string(), "10.244.3.31".to_string()])
    );
    // The old router still answers with the old endpoints.
    assert_eq!(
        address(&router.decide_with_draw(&jason, 0).pick),
        "10.244.2.9"
    );
}

#[test]
fn shared_swaps_are_seen_whole_by_concurrent_readers() {
    let table = shop_table("{simple: ROUND_ROBIN}");
    let blue = shop_registry(&[1, 1, 1]);
    let mut green = Registry::new();
    for i in 1..=4 {
        green.add(
            SHOP,
            Endpoint::new(&format!("10.9.0.{i}"), 8080).label("app", "shop"),
        );
    }
    let blue_set: BTreeSet<String> = (1..=3).map(|i| format!("10.0.0.{i}")).collect();
    let green_set: BTreeSet<String> = (1..=4).map(|i| format!("10.9.0.{i}")).collect();
    let shared = Shared::new(Router::new(&table, &blue).unwrap());
    let stop = AtomicBool::new(false);
    // How many reader passes saw each set: the writer keeps swapping until both are common.
    let (blues, greens) = (AtomicU32::new(0), AtomicU32::new(0));
    let r = req("http://shop/");

    std::thread::scope(|s| {
        let readers: Vec<_> = (0..4)
            .map(|t| {
                let (shared, stop, r) = (&shared, &stop, &r);
                let (blue_set, green_set, blues, greens) = (&blue_set, &green_set, &blues, &greens);
                s.spawn(move || {
                    let mut rng = rand_pcg::Pcg64::new(t, 7);
                    while !stop.load(Relaxed) {
                        let router = shared.load();
                        // Enough decisions to visit every endpoint of either set.
                        let seen: BTreeSet<String> = (0..8)
                            .map(|_| address(&router.decide(r, &mut rng).pick))
                            .collect();
                        if seen.is_subset(blue_set) {
                            blues.fetch_add(1, Relaxed);
                        } else if seen.is_subset(green_set) {
                            greens.fetch_add(1, Relaxed);
                        } else {
                            stop.store(true, Relaxed);
                            panic!("a mix of endpoint sets: {seen:?}");
                        }
                    }
                })
            })
            .collect();
        let start = std::time::Instant::now();
        let mut swaps = 0u32;
        while swaps < 400 || blues.load(Relaxed) < 50 || greens.load(Relaxed) < 50 {
            assert!(
                start.elapsed() < std::time::Duration::from_secs(60) && !stop.load(Relaxed),
                "readers stalled or failed"
            );
            let next = if swaps.is_multiple_of(2) {
                &green
            } else {
                &blue
            };
            let router = shared.load().with_registry(next).unwrap();
            shared.store(router);
            swaps += 1;
            std::thread::yield_now();
        }
        // End on blue.
        if !swaps.is_multiple_of(2) {
            shared.store(shared.load().with_registry(&blue).unwrap());
        }
        stop.store(true, Relaxed);
        for h in readers {
            h.join().unwrap();
        }
    });
    // The last store put blue back.
    let last: BTreeSet<String> = (0..6)
        .map(|d| address(&shared.load().decide_with_draw(&r, d).pick))
        .collect();
    assert!(last.is_subset(&blue_set), "{last:?}");
}

#[test]
fn passthrough_picks_from_the_services_endpoints() {
    let config = bookinfo_config();
    let table = table_of(&config);
    let (registry, _) = Registry::from_config(&config, &RegistryOptions::default());
    let router = Router::new(&table, &registry).unwrap();
    // No VirtualService for details: the mesh default route to the service's endpoints, the
    // unready Pod skipped; short, namespaced and qualified names with a port all resolve.
    for url in [
        "http://details/details/0",
        "http://details.default:9080/details/0",
        "http://DETAILS.default.svc.cluster.local/details/0",
    ] {
        for draw in 0..50 {
            let routed = router.decide_with_draw(&req(url), draw);
            assert!(matches!(routed.decision.outcome, Outcome::Passthrough));
            let p = picked(&routed.pick);
            assert_eq!(&*p.endpoint.address, "10.244.2.4", "{url}");
            assert_eq!(p.cluster, DETAILS);
            assert_eq!(routed.status(), 200);
        }
    }
    // A host no loaded Service defines: Istio's `allow_any` catch-all to PassthroughCluster
    // (pilot/pkg/networking/core/httproute.go `buildCatchAllVirtualHost`), the address the
    // client asked for rather than a registry endpoint.
    let routed = router.decide_with_draw(&req("http://ratings/"), 0);
    assert!(matches!(
        routed.decision.outcome,
        Outcome::PassthroughCluster
    ));
    assert!(matches!(routed.pick, Pick::OriginalDestination));
}

#[test]
fn router_and_shared_are_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<Router>();
    check::<Shared<Router>>();
    check::<Registry>();
}

#[test]
fn port_level_settings_replace_the_policy_they_sit_in() {
    // SEMANTICS §2.2: a portLevelSettings entry for the destination's port replaces the
    // top-level policy wholesale; a subset's port-level entry replaces the subset's.
    let table = Table::from_yaml(
        "apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: shop, namespace: default}
spec:
  host: shop
  trafficPolicy:
    loadBalancer: {simple: ROUND_ROBIN}
    portLevelSettings:
    - {port: {number: 8080}, loadBalancer: {simple: RANDOM}}
    - {port: {number: 9090}, connectionPool: {tcp: {maxConnections: 5}}}
  subsets:
  - name: hashed
    labels: {track: a}
    trafficPolicy:
      loadBalancer: {consistentHash: {httpHeaderName: x-user}}
      portLevelSettings:
      - {port: {number: 7070}, loadBalancer: {consistentHash: {maglev: {tableSize: 65537}, httpHeaderName: x-user}}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: shop, namespace: default}
spec:
  hosts: [shop]
  http:
  - {match: [{uri: {exact: /p80}}], route: [{destination: {host: shop, port: {number: 80}}}]}
  - {match: [{uri: {exact: /p8080}}], route: [{destination: {host: shop, port: {number: 8080}}}]}
  - {match: [{uri: {exact: /p9090}}], route: [{destination: {host: shop, port: {number: 9090}}}]}
  - {match: [{uri: {exact: /sub80}}], route: [{destination: {host: shop, subset: hashed, port: {number: 80}}}]}
  - {match: [{uri: {exact: /sub8080}}], route: [{destination: {host: shop, subset: hashed, port: {number: 8080}}}]}
  - {match: [{uri: {exact: /sub7070}}], route: [{destination: {host: shop, subset: hashed, port: {number: 7070}}}]}
",
    )
    .unwrap();
    let mut reg = Registry::new();
    reg.add(SHOP, Endpoint::new("10.0.0.1", 80).label("track", "a"));
    reg.add(SHOP, Endpoint::new("10.0.0.2", 80).label("track", "a"));
    let router = Router::new(&table, &reg).unwrap();
    let policy = |path: &str| {
        let r = req(&format!("http://shop{path}")).header("x-user", "u");
        picked(&router.decide_with_draw(&r, 3).pick).policy
    };
    assert_eq!(
        policy("/p80"),
        Policy::RoundRobin,
        "no port-level entry: top-level"
    );
    assert_eq!(
        policy("/p8080"),
        Policy::Random,
        "port-level entry replaces the top level"
    );
    assert_eq!(
        policy("/p9090"),
        Policy::LeastRequest,
        "an entry without a balancer means the default"
    );
    assert_eq!(policy("/sub80"), Policy::RingHash, "subset over top-level");
    assert_eq!(
        policy("/sub8080"),
        Policy::RingHash,
        "the subset's own policy beats the top-level port entry"
    );
    assert_eq!(
        policy("/sub7070"),
        Policy::Maglev,
        "the subset's port-level entry wins"
    );
}

#[test]
fn a_port_from_the_request_selects_port_level_settings() {
    // istio/istio pilot/pkg/networking/core/route/route.go `GetDestinationCluster`: a
    // destination without `port` goes to `outbound|<listener port>|subset|host`, and
    // pilot/pkg/networking/core/cluster_traffic_policy.go (via `MergeTrafficPolicy` in
    // pilot/pkg/networking/util/util.go) builds that cluster with the port-level entry for its
    // port. The route's hash policy is `HashForHTTPDestination` in route.go, which reads a
    // port-level `consistentHash` only when the destination writes its port
    // (`portLevelSettingsConsistentHash` checks `dst.Port`), so the top-level key hashes here.
    // The mesh default route (`hashForService`) uses the port-level key of the addressed port.
    let table = Table::from_yaml(
        r#"# YAML in flow style
{apiVersion: networking.istio.io/v1, kind: DestinationRule, metadata: {name: shop, namespace: default},
 spec: {host: shop, subsets: [{name: a, labels: {track: a}}], trafficPolicy: {
   loadBalancer: {consistentHash: {httpHeaderName: x-top}},
   portLevelSettings: [{port: {number: 8080}, loadBalancer: {simple: RANDOM}}, {port: {number: 7070},
     loadBalancer: {consistentHash: {maglev: {tableSize: 65537}, httpHeaderName: x-port}}}]}}}
---
{apiVersion: networking.istio.io/v1, kind: DestinationRule, metadata: {name: cart, namespace: default},
 spec: {host: cart, trafficPolicy: {loadBalancer: {simple: ROUND_ROBIN}, portLevelSettings: [{port:
   {number: 7070}, loadBalancer: {consistentHash: {maglev: {tableSize: 65537}, httpHeaderName: x-port}}}]}}}
---
{apiVersion: networking.istio.io/v1, kind: VirtualService, metadata: {name: shop, namespace: default},
 spec: {hosts: [shop], http: [{route: [{destination: {host: shop, subset: a}}]}]}}
"#,
    )
    .unwrap();
    const CART: &str = "cart.default.svc.cluster.local";
    let mut reg = Registry::new();
    for host in [SHOP, CART] {
        reg.add(host, Endpoint::new("10.0.0.1", 80).label("track", "a"));
        reg.add(host, Endpoint::new("10.0.0.2", 80).label("track", "a"));
    }
    let router = Router::new(&table, &reg).unwrap();
    let at = |url: &str, port: u16| {
        let r = req(url)
            .with_port(port)
            .header("x-top", "t")
            .header("x-port", "p");
        let routed = router.decide_with_draw(&r, 3);
        assert_eq!(routed.decision.port, Some(port), "{url}");
        let p = picked(&routed.pick);
        (p.policy, p.hash)
    };
    let keys = req("http://shop/")
        .header("x-top", "t")
        .header("x-port", "p");
    let top = header_hash(&keys, "x-top");
    let port = header_hash(&keys, "x-port");
    assert_ne!(top, port);
    assert_eq!(
        at("http://shop/", 80),
        (Policy::RingHash, top),
        "no entry for 80"
    );
    assert_eq!(
        at("http://shop/", 8080),
        (Policy::Random, None),
        "8080's entry"
    );
    assert_eq!(
        at("http://shop/", 7070),
        (Policy::Maglev, top),
        "7070's balancer, the route's top-level hash key"
    );
    // No VirtualService: the mesh default route to the addressed port's cluster.
    assert_eq!(at("http://cart/", 80), (Policy::RoundRobin, None));
    assert_eq!(at("http://cart/", 7070), (Policy::Maglev, port));
    // The port-level clusters are clusters of their own, and their picks are counted.
    let counted: u64 = router
        .endpoint_counts()
        .iter()
        .filter(|(c, _, _)| *c == CART)
        .map(|(_, _, n)| n)
        .sum();
    assert_eq!(counted, 2);
}

#[test]
fn destination_rules_for_one_host_merge_oldest_first() {
    // istio/istio pilot/pkg/model/push_context.go `setDestinationRules`: the rules are sorted by
    // `sortConfigBySelectorAndCreationTime` before `mergeDestinationRule`, so the older rule's
    // top-level policy and its definition of a subset name win, whatever the load order.
    let table = Table::from_yaml(
        r#"# YAML in flow style; the newer rule is loaded first
{apiVersion: networking.istio.io/v1, kind: DestinationRule,
 metadata: {name: newer, namespace: default, creationTimestamp: "2024-02-01T00:00:00Z"},
 spec: {host: shop, trafficPolicy: {loadBalancer: {simple: ROUND_ROBIN}},
   subsets: [{name: a, labels: {track: b}}]}}
---
{apiVersion: networking.istio.io/v1, kind: DestinationRule,
 metadata: {name: older, namespace: default, creationTimestamp: "2024-01-01T00:00:00Z"},
 spec: {host: shop, trafficPolicy: {loadBalancer: {simple: RANDOM}},
   subsets: [{name: a, labels: {track: a}}]}}
---
{apiVersion: networking.istio.io/v1, kind: VirtualService, metadata: {name: shop, namespace: default},
 spec: {hosts: [shop], http: [{route: [{destination: {host: shop, subset: a}}]}]}}
"#,
    )
    .unwrap();
    let mut reg = Registry::new();
    reg.add(SHOP, Endpoint::new("10.0.0.1", 80).label("track", "a"));
    reg.add(SHOP, Endpoint::new("10.0.0.2", 80).label("track", "b"));
    let router = Router::new(&table, &reg).unwrap();
    for draw in 0..20 {
        let p = picked(&router.decide_with_draw(&req("http://shop/"), draw).pick);
        assert_eq!(p.policy, Policy::Random, "the older rule's policy");
        assert_eq!(&*p.endpoint.address, "10.0.0.1", "the older rule's subset");
    }
}

/// A Service with two ports and the EndpointSlice of its Pods, which lists them in another
/// order.
const SHOP_PORTS: &str = r#"
apiVersion: v1
kind: Service
metadata: {name: shop, namespace: default}
spec:
  selector: {app: shop}
  ports:
  - {name: http, port: 80, targetPort: 8080}
  - {name: metrics, port: 9090, targetPort: 15090}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: shop-1, namespace: default, labels: {kubernetes.io/service-name: shop}}
addressType: IPv4
ports: [{name: metrics, port: 15090}, {name: http, port: 8080}]
endpoints:
- addresses: [10.0.0.1]
- addresses: [10.0.0.2]
"#;

const SHOP_ROUTES: &str = r#"
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: shop, namespace: default}
spec:
  hosts: [shop]
  http:
  - match: [{uri: {prefix: /scrape}}]
    route: [{destination: {host: shop, port: {number: 9090}}}]
  - match: [{uri: {prefix: /api}}]
    route: [{destination: {host: shop, port: {number: 80}}}]
  - route: [{destination: {host: shop}}]
"#;

/// A multi-port Service: kube-proxy sends each Service port to the EndpointSlice port of the
/// same name, so a cluster at one Service port keeps only the endpoints of that port.
#[test]
fn each_service_port_reaches_the_slice_port_of_its_name() {
    let mut config = Config::from_str(SHOP_PORTS, "shop.yaml").unwrap();
    config.add_str(SHOP_ROUTES, "routes.yaml").unwrap();
    let table = table_of(&config);
    let (registry, diagnostics) = Registry::from_config(&config, &RegistryOptions::default());
    assert!(diagnostics.is_empty(), "{diagnostics:?}");
    let eps = registry.endpoints("shop.default.svc.cluster.local");
    assert_eq!(eps.len(), 4);
    for e in eps {
        let expected = if e.port == 8080 { 80 } else { 9090 };
        assert_eq!(e.service_port, Some(expected), "{e:?}");
    }
    let router = Router::new(&table, &registry).unwrap();
    let ports = |url: &str| -> BTreeSet<u16> {
        (0..64)
            .map(|draw| {
                picked(&router.decide_with_draw(&req(url), draw).pick)
                    .endpoint
                    .port
            })
            .collect()
    };
    // A written destination port.
    assert_eq!(ports("http://shop/scrape"), BTreeSet::from([15090]));
    assert_eq!(ports("http://shop/api"), BTreeSet::from([8080]));
    // The port the request is addressed to.
    assert_eq!(ports("http://shop:9090/other"), BTreeSet::from([15090]));
    assert_eq!(ports("http://shop:80/other"), BTreeSet::from([8080]));

    // Without a VirtualService (the mesh default route) the same mapping holds.
    let services_only = Config::from_str(SHOP_PORTS, "shop.yaml").unwrap();
    let table = table_of(&services_only);
    let (registry, _) = Registry::from_config(&services_only, &RegistryOptions::default());
    let router = Router::new(&table, &registry).unwrap();
    for (url, port) in [("http://shop:9090/", 15090), ("http://shop/", 8080)] {
        let routed = router.decide_with_draw(&req(url), 3);
        assert!(matches!(routed.decision.outcome, Outcome::Passthrough));
        assert_eq!(picked(&routed.pick).endpoint.port, port, "{url}");
    }
}

/// istiod retry.go `ConvertPolicy(policy, consistentHash)`: a route to a single destination
/// whose DestinationRule hashes gets no previous-hosts predicate unless the rule writes
/// `retryIgnorePreviousHosts` (SEMANTICS §1.2 `retries`), so its retry goes to the endpoint
/// the hash names; written `true` it moves on, and a split keeps the default predicate.
#[test]
fn a_hashed_single_destination_retries_on_its_endpoint_unless_told_otherwise() {
    let yaml = |retries: &str, second: &str| {
        format!(
            "apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {{name: ratings, namespace: default}}
spec:
  host: ratings
  trafficPolicy: {{loadBalancer: {{consistentHash: {{httpHeaderName: x-user}}}}}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: ratings, namespace: default}}
spec:
  hosts: [ratings]
  http:
  - route:
    - {{destination: {{host: ratings}}, weight: 100}}
{second}    retries: {retries}
"
        )
    };
    let mut reg = Registry::new();
    for i in 1..=4 {
        reg.add(
            "ratings.default.svc.cluster.local",
            Endpoint::new(&format!("10.0.0.{i}"), 9080),
        );
    }
    let req = req("http://ratings/").header("x-user", "jason");
    let split = "    - {destination: {host: ratings}, weight: 0}\n";
    for (retries, second, avoids) in [
        ("{attempts: 2, retryOn: 5xx}", "", false),
        (
            "{attempts: 2, retryOn: 5xx, retryIgnorePreviousHosts: true}",
            "",
            true,
        ),
        ("{attempts: 2, retryOn: 5xx}", split, true),
    ] {
        let table = Table::from_yaml(&yaml(retries, second)).unwrap();
        let router = Router::new(&table, &reg).unwrap();
        let routed = router.decide_with_draw(&req, 3);
        let first = picked(&routed.pick).endpoint;
        let result = meshroute::retry::UpstreamResult::status(503);
        let v = routed
            .decision
            .retry_after(&result, 1, std::time::Duration::ZERO, 3)
            .unwrap();
        assert!(v.retry && v.avoid_previous_hosts, "{retries}");
        let v = router.retry_verdict(&routed.decision, &req, v);
        assert_eq!(v.avoid_previous_hosts, avoids, "{retries} {second}");
        let next = router.pick_retry(&routed.decision, &req, 4, &v, &[first]);
        let same = picked(&next).endpoint.address == first.address;
        assert_eq!(same, !avoids, "{retries} {second}");
    }
}

/// A Pod selected by a Service without slices has its locality from its labels, as one named
/// by an EndpointSlice does (istiod reads the Pod's `istio-locality` label, dots as slashes;
/// the Istio docs task "Locality failover" labels its Pods so).
#[test]
fn pods_selected_without_slices_carry_their_locality() {
    let yaml = r#"
apiVersion: v1
kind: Service
metadata: {name: helloworld, namespace: sample}
spec: {selector: {app: helloworld}, ports: [{port: 5000}]}
---
apiVersion: v1
kind: Pod
metadata: {name: hw-1, namespace: sample, labels: {app: helloworld, istio-locality: region1.zone1.sub1}}
status: {podIP: 10.0.0.1}
---
apiVersion: v1
kind: Pod
metadata: {name: hw-2, namespace: sample, labels: {app: helloworld}}
status: {podIP: 10.0.0.2}
"#;
    let config = Config::from_str(yaml, "pods.yaml").unwrap();
    let (registry, _) = Registry::from_config(&config, &RegistryOptions::default());
    let got: Vec<(&str, Option<&str>)> = registry
        .endpoints("helloworld.sample.svc.cluster.local")
        .iter()
        .map(|e| (&*e.address, e.locality.as_deref()))
        .collect();
    assert_eq!(
        got,
        [("10.0.0.1", Some("region1/zone1/sub1")), ("10.0.0.2", None)]
    );
}

/// DestinationRule `workloadSelector` and `exportTo` pick the rule a client's clusters are
/// built with (istio push_context.go `setDestinationRules`/`destinationRule`, sidecar.go
/// `SidecarScope.DestinationRule`): a workload the selector selects gets its rule's subset
/// labels and load balancer; the other workloads of the namespace get the namespace-wide
/// rule's; a namespace the namespace-wide rule is not exported to gets no rule, so the subset
/// does not exist for it and nothing is picked. The same for the mesh default route's
/// balancer.
#[test]
fn the_destination_rule_a_client_sees_shapes_its_clusters() {
    let rules = r#"
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: canary-clients, namespace: default}
spec:
  host: reviews
  workloadSelector: {matchLabels: {app: canary}}
  trafficPolicy: {loadBalancer: {simple: ROUND_ROBIN}}
  subsets:
  - {name: stable, labels: {version: v2}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews, namespace: default}
spec:
  host: reviews
  exportTo: [".", shop]
  trafficPolicy: {loadBalancer: {simple: RANDOM}}
  subsets:
  - {name: stable, labels: {version: v1}}
"#;
    let routes = r#"
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews, namespace: default}
spec:
  hosts: [reviews.default.svc.cluster.local]
  http:
  - route: [{destination: {host: reviews, subset: stable}}]
"#;
    let table = Table::from_yaml(&format!("{rules}---{routes}")).unwrap();
    let mut reg = Registry::new();
    reg.add(
        REVIEWS,
        Endpoint::new("10.0.0.1", 9080).label("version", "v1"),
    );
    reg.add(
        REVIEWS,
        Endpoint::new("10.0.0.2", 9080).label("version", "v2"),
    );
    let router = Router::new(&table, &reg).unwrap();
    let from = |ns: &str, app: &str, path: &str| {
        req(&format!("http://reviews.default.svc.cluster.local{path}"))
            .from_namespace(ns)
            .source_label("app", app)
    };
    for draw in 0..8 {
        let canary = router.decide_with_draw(&from("default", "canary", "/"), draw);
        let p = picked(&canary.pick);
        assert_eq!(
            (&*p.endpoint.address, p.policy),
            ("10.0.0.2", Policy::RoundRobin)
        );
        let web = router.decide_with_draw(&from("default", "web", "/"), draw);
        let p = picked(&web.pick);
        assert_eq!(
            (&*p.endpoint.address, p.policy),
            ("10.0.0.1", Policy::Random)
        );
        let shop = router.decide_with_draw(&from("shop", "canary", "/"), draw);
        let p = picked(&shop.pick);
        assert_eq!(
            (&*p.endpoint.address, p.policy),
            ("10.0.0.1", Policy::Random)
        );
        // Not exported to `other`: no rule, no subset (503 NC), nothing picked.
        let other = router.decide_with_draw(&from("other", "canary", "/"), draw);
        assert_eq!(other.decision.status(), 503);
        assert!(matches!(other.pick, Pick::NotForwarded), "{:?}", other.pick);
    }
    // The mesh default route (no VirtualService): the service's balancer under the rule the
    // client sees.
    let router = Router::new(&Table::from_yaml(rules).unwrap(), &reg).unwrap();
    let policy =
        |ns: &str, app: &str| picked(&router.decide_with_draw(&from(ns, app, "/"), 1).pick).policy;
    assert_eq!(policy("other", "web"), Policy::LeastRequest);
    assert_eq!(policy("default", "web"), Policy::Random);
    assert_eq!(policy("default", "canary"), Policy::RoundRobin);
}
