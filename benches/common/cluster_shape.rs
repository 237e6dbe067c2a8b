//! A cluster of the size issue 20 names, as the API server would list it: `namespaces` ×
//! `services` Services, each with a VirtualService (a header rule to `v2`, then a 90/10 split
//! over `v1`/`v2`), a DestinationRule defining the two subsets, one EndpointSlice of
//! `endpoints` endpoints and the Pods behind them. At 100 × 100 × 5: 10,000 VirtualServices,
//! 10,000 Services and 50,000 endpoints (and Pods), the shape of a mesh where each
//! Deployment has a Service, its routing and its pods.
//!
//! Objects carry what the API server writes beside the spec (`uid`, `resourceVersion`,
//! `creationTimestamp`, `managedFields`, the `last-applied-configuration` annotation on
//! objects people apply, pod `status`), so the stores hold what a real watch delivers.

#![allow(dead_code)]

use serde_json::{Value, json};

/// One object: the `apiVersion/kind` key of [`meshroute::cluster::KINDS`] and its JSON.
pub struct Object {
    pub api_version: &'static str,
    pub kind: &'static str,
    pub value: Value,
}

fn managed_fields(manager: &str) -> Value {
    json!([{"manager": manager, "operation": "Update", "apiVersion": "v1",
            "time": "2025-01-01T00:00:00Z", "fieldsType": "FieldsV1",
            "fieldsV1": {"f:metadata": {"f:labels": {".": {}, "f:app": {}}}}}])
}

fn metadata(ns: &str, name: &str, uid: usize, rv: u64) -> Value {
    json!({"name": name, "namespace": ns, "uid": format!("00000000-0000-0000-0000-{uid:012}"),
           "resourceVersion": rv.to_string(), "generation": 1,
           "creationTimestamp": "2025-01-01T00:00:00Z"})
}

/// The VirtualService of service `svc` in `ns`, with the given `v1` weight (`v2` gets the
/// rest of 100).
pub fn virtual_service(ns: &str, svc: &str, uid: usize, rv: u64, v1: i64) -> Value {
    let spec = json!({"hosts": [svc], "http": [
        {"name": "canary", "match": [{"headers": {"x-canary": {"exact": "1"}}}],
         "route": [{"destination": {"host": svc, "subset": "v2"}}]},
        {"name": "split", "route": [
            {"destination": {"host": svc, "subset": "v1"}, "weight": v1},
            {"destination": {"host": svc, "subset": "v2"}, "weight": 100 - v1}],
         "timeout": "5s", "retries": {"attempts": 2, "perTryTimeout": "2s"}}]});
    let mut meta = metadata(ns, svc, uid, rv);
    meta["annotations"] = json!({"kubectl.kubernetes.io/last-applied-configuration":
        json!({"apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
               "metadata": {"name": svc, "namespace": ns}, "spec": spec}).to_string()});
    meta["managedFields"] = managed_fields("kubectl-client-side-apply");
    json!({"apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
           "metadata": meta, "spec": spec})
}

fn destination_rule(ns: &str, svc: &str, uid: usize, rv: u64) -> Value {
    let mut meta = metadata(ns, svc, uid, rv);
    meta["managedFields"] = managed_fields("kubectl-client-side-apply");
    json!({"apiVersion": "networking.istio.io/v1", "kind": "DestinationRule", "metadata": meta,
           "spec": {"host": svc, "subsets": [
               {"name": "v1", "labels": {"version": "v1"}},
               {"name": "v2", "labels": {"version": "v2"}}]}})
}

fn service(ns: &str, svc: &str, uid: usize, rv: u64, ip: (usize, usize)) -> Value {
    let mut meta = metadata(ns, svc, uid, rv);
    meta["labels"] = json!({"app": svc});
    meta["managedFields"] = managed_fields("kubectl-client-side-apply");
    json!({"apiVersion": "v1", "kind": "Service", "metadata": meta, "spec": {
        "type": "ClusterIP", "clusterIP": format!("10.96.{}.{}", ip.0, ip.1),
        "clusterIPs": [format!("10.96.{}.{}", ip.0, ip.1)], "ipFamilies": ["IPv4"],
        "ipFamilyPolicy": "SingleStack", "sessionAffinity": "None",
        "internalTrafficPolicy": "Cluster", "selector": {"app": svc},
        "ports": [{"name": "http", "port": 80, "protocol": "TCP", "targetPort": 8080}]},
        "status": {"loadBalancer": {}}})
}

fn pod_ip(ns: usize, svc: usize, e: usize, endpoints: usize) -> String {
    let n = (svc * endpoints + e) % 65_536;
    format!("10.{}.{}.{}", 128 + ns % 128, n / 256, n % 256)
}

fn pod_name(svc: &str, e: usize) -> String {
    format!("{svc}-7d9f8b6c5-{e:05}")
}

fn endpoint_slice(ns: &str, svc: &str, uid: usize, rv: u64, ips: &[String]) -> Value {
    let mut meta = metadata(ns, &format!("{svc}-abcde"), uid, rv);
    meta["labels"] = json!({"kubernetes.io/service-name": svc,
        "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io"});
    meta["generateName"] = json!(format!("{svc}-"));
    meta["ownerReferences"] = json!([{"apiVersion": "v1", "kind": "Service", "name": svc,
        "uid": "0", "controller": true, "blockOwnerDeletion": true}]);
    meta["managedFields"] = managed_fields("endpointslice-controller.k8s.io");
    let endpoints: Vec<Value> = ips
        .iter()
        .enumerate()
        .map(|(e, ip)| {
            json!({"addresses": [ip], "conditions":
                {"ready": true, "serving": true, "terminating": false},
                "nodeName": format!("node-{}", e % 50), "zone": format!("zone-{}", e % 3),
                "targetRef": {"kind": "Pod", "namespace": ns, "name": pod_name(svc, e),
                              "uid": "0"}})
        })
        .collect();
    json!({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "metadata": meta,
           "addressType": "IPv4", "endpoints": endpoints,
           "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}]})
}

fn pod(ns: &str, svc: &str, e: usize, uid: usize, rv: u64, ip: &str) -> Value {
    let name = pod_name(svc, e);
    let version = if e % 10 == 9 { "v2" } else { "v1" };
    let mut meta = metadata(ns, &name, uid, rv);
    meta["labels"] = json!({"app": svc, "version": version, "pod-template-hash": "7d9f8b6c5"});
    meta["generateName"] = json!(format!("{svc}-7d9f8b6c5-"));
    meta["ownerReferences"] = json!([{"apiVersion": "apps/v1", "kind": "ReplicaSet",
        "name": format!("{svc}-7d9f8b6c5"), "uid": "0", "controller": true,
        "blockOwnerDeletion": true}]);
    meta["managedFields"] = managed_fields("kube-controller-manager");
    let condition = |t: &str| {
        json!({"type": t, "status": "True",
        "lastProbeTime": null, "lastTransitionTime": "2025-01-01T00:00:00Z"})
    };
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": meta,
        "spec": {"containers": [{"name": "app", "image": format!("registry.example/{svc}:1.0"),
            "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"}],
            "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}},
            "terminationMessagePath": "/dev/termination-log",
            "terminationMessagePolicy": "File", "imagePullPolicy": "IfNotPresent"}],
            "restartPolicy": "Always", "terminationGracePeriodSeconds": 30,
            "dnsPolicy": "ClusterFirst", "serviceAccountName": "default",
            "nodeName": format!("node-{}", e % 50), "schedulerName": "default-scheduler",
            "enableServiceLinks": true, "preemptionPolicy": "PreemptLowerPriority"},
        "status": {"phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}],
            "hostIP": "192.168.0.10", "qosClass": "Burstable",
            "startTime": "2025-01-01T00:00:00Z",
            "conditions": [condition("PodReadyToStartContainers"), condition("Initialized"),
                           condition("Ready"), condition("ContainersReady"),
                           condition("PodScheduled")],
            "containerStatuses": [{"name": "app", "ready": true, "started": true,
                "restartCount": 0, "image": format!("registry.example/{svc}:1.0"),
                "imageID": "registry.example/app@sha256:0",
                "containerID": "containerd://0",
                "state": {"running": {"startedAt": "2025-01-01T00:00:00Z"}}}]}})
}

/// Namespace `i`'s name.
pub fn namespace(i: usize) -> String {
    format!("team-{i:03}")
}

/// Service `j`'s name.
pub fn service_name(j: usize) -> String {
    format!("svc-{j:03}")
}

/// The whole cluster, every object at resourceVersion 1.
pub fn cluster(namespaces: usize, services: usize, endpoints: usize) -> Vec<Object> {
    let mut out = Vec::new();
    let mut uid = 0;
    let mut next = || {
        uid += 1;
        uid
    };
    let obj = |api_version, kind, value| Object {
        api_version,
        kind,
        value,
    };
    for i in 0..namespaces {
        let ns = namespace(i);
        out.push(obj(
            "v1",
            "Namespace",
            json!({"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": ns, "uid": next().to_string(), "resourceVersion": "1",
                         "labels": {"kubernetes.io/metadata.name": ns,
                                    "istio-injection": "enabled"}}}),
        ));
        for j in 0..services {
            let svc = service_name(j);
            out.push(obj(
                "networking.istio.io/v1",
                "VirtualService",
                virtual_service(&ns, &svc, next(), 1, 90),
            ));
            out.push(obj(
                "networking.istio.io/v1",
                "DestinationRule",
                destination_rule(&ns, &svc, next(), 1),
            ));
            out.push(obj("v1", "Service", service(&ns, &svc, next(), 1, (i, j))));
            let ips: Vec<String> = (0..endpoints).map(|e| pod_ip(i, j, e, endpoints)).collect();
            out.push(obj(
                "discovery.k8s.io/v1",
                "EndpointSlice",
                endpoint_slice(&ns, &svc, next(), 1, &ips),
            ));
            for (e, ip) in ips.iter().enumerate() {
                out.push(obj("v1", "Pod", pod(&ns, &svc, e, next(), 1, ip)));
            }
        }
    }
    out
}
