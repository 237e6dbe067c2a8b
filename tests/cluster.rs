//! `meshroute::cluster` against a fake API server behind kube's mock service: a
//! `tower_test::mock::pair` handed to `kube::Client::new`, as kube-client's `test_mock` and
//! kube-runtime's watcher tests do. The fake answers lists (`kind: …List`, with a
//! `resourceVersion`), keeps watches open and streams `ADDED`/`MODIFIED`/`DELETED`/`BOOKMARK`
//! events as newline-delimited JSON, answers a watch from a compacted resource version with an
//! `ERROR` event of code 410 (apiserver `staging/src/k8s.io/apiserver/pkg/storage/cacher`,
//! "too old resource version"), and 404 for a resource it does not serve (a CRD that is not
//! installed). Each step asserts what the shared table decides and what the status says.
//!
//! k8s-openapi needs a Kubernetes version: `cargo test --features k8s-v1_33 --test cluster`
//! (`--all-features` includes it).

#![cfg(feature = "kube")]

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::pin::pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures::channel::mpsc;
use http::{Request, Response, StatusCode};
use http_body_util::StreamBody;
use hyper::body::Frame;
use meshroute::cluster::{ClusterOptions, ClusterSource, ClusterStatus, KindState};
use meshroute::{CompileOptions, OwnedRequest, ResourceId, Shared, Table};
use serde_json::{Value, json};

type Body = StreamBody<mpsc::UnboundedReceiver<Result<Frame<Bytes>, Infallible>>>;

/// A resource the fake serves: `group/version/plural`, as in its URL.
fn key(api_version: &str, plural: &str) -> String {
    format!("{api_version}/{plural}")
}

const VS: &str = "networking.istio.io/v1/virtualservices";
const DR: &str = "networking.istio.io/v1/destinationrules";

#[derive(Default)]
struct Kind {
    kind: String,
    api_version: String,
    /// (namespace, name) -> object.
    objects: BTreeMap<(String, String), Value>,
    /// Every change: (resourceVersion, namespace, event line).
    log: Vec<(u64, String, String)>,
    /// Watches from a resourceVersion at or below this get 410 Gone.
    compacted: u64,
    lists: usize,
    /// Open watches: namespace filter and the body's sender.
    watches: Vec<(Option<String>, Sender)>,
}

type Sender = mpsc::UnboundedSender<Result<Frame<Bytes>, Infallible>>;

#[derive(Default)]
struct State {
    rv: u64,
    kinds: BTreeMap<String, Kind>,
    /// Every request's method and URI, in order.
    requests: Vec<String>,
    /// Resources (`group/version/plural`) every request of which is answered 403 Forbidden.
    forbidden: Vec<String>,
}

/// The fake API server: its state, shared with the task that answers the mock's requests.
#[derive(Clone, Default)]
struct Fake(Arc<Mutex<State>>);

fn body(lines: &[String]) -> (Body, Sender) {
    let (tx, rx) = mpsc::unbounded();
    for line in lines {
        let _ = tx.unbounded_send(Ok(Frame::data(Bytes::from(format!("{line}\n")))));
    }
    (StreamBody::new(rx), tx)
}

fn status(code: u16, reason: &str, message: &str) -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
           "message": message, "reason": reason, "code": code})
}

impl Fake {
    fn serve(&self, kind: &str, api_version: &str, plural: &str) {
        let mut s = self.0.lock().unwrap();
        s.kinds.insert(
            key(api_version, plural),
            Kind {
                kind: kind.into(),
                api_version: api_version.into(),
                ..Kind::default()
            },
        );
    }

    /// Creates or replaces an object, as `kubectl apply` does, and streams the event.
    fn apply(&self, key: &str, mut object: Value) {
        let mut s = self.0.lock().unwrap();
        s.rv += 1;
        let rv = s.rv;
        let k = s.kinds.get_mut(key).expect("a served kind");
        object["apiVersion"] = json!(k.api_version);
        object["kind"] = json!(k.kind);
        object["metadata"]["resourceVersion"] = json!(rv.to_string());
        let ns = object["metadata"]["namespace"]
            .as_str()
            .unwrap_or("")
            .to_string();
        let name = object["metadata"]["name"].as_str().unwrap().to_string();
        let kind = if k.objects.contains_key(&(ns.clone(), name.clone())) {
            "MODIFIED"
        } else {
            "ADDED"
        };
        let line = json!({"type": kind, "object": object}).to_string();
        k.objects.insert((ns.clone(), name), object);
        k.emit(rv, &ns, line);
    }

    fn delete(&self, key: &str, ns: &str, name: &str) {
        let mut s = self.0.lock().unwrap();
        s.rv += 1;
        let rv = s.rv;
        let k = s.kinds.get_mut(key).expect("a served kind");
        let mut object = k
            .objects
            .remove(&(ns.to_string(), name.to_string()))
            .expect("an object to delete");
        object["metadata"]["resourceVersion"] = json!(rv.to_string());
        let line = json!({"type": "DELETED", "object": object}).to_string();
        k.emit(rv, ns, line);
    }

    /// Sends a BOOKMARK at the current resourceVersion to the kind's open watches.
    fn bookmark(&self, key: &str) -> u64 {
        let mut s = self.0.lock().unwrap();
        s.rv += 1;
        let rv = s.rv;
        let k = s.kinds.get_mut(key).expect("a served kind");
        let line = json!({"type": "BOOKMARK", "object": {
            "kind": k.kind, "apiVersion": k.api_version,
            "metadata": {"resourceVersion": rv.to_string()}}})
        .to_string();
        for (_, tx) in &k.watches {
            let _ = tx.unbounded_send(Ok(Frame::data(Bytes::from(line.clone() + "\n"))));
        }
        rv
    }

    /// Compacts the kind's history: open watches get an ERROR event with code 410 and are
    /// closed, and a watch from an older resourceVersion gets the same.
    fn expire(&self, key: &str) {
        let mut s = self.0.lock().unwrap();
        let rv = s.rv;
        let k = s.kinds.get_mut(key).expect("a served kind");
        k.compacted = rv;
        let line = gone(rv);
        for (_, tx) in k.watches.drain(..) {
            let _ = tx.unbounded_send(Ok(Frame::data(Bytes::from(line.clone() + "\n"))));
        }
    }

    /// Closes the kind's open watches without a word, as a dropped connection.
    fn drop_watches(&self, key: &str) {
        let mut s = self.0.lock().unwrap();
        s.kinds.get_mut(key).expect("a served kind").watches.clear();
    }

    fn requests(&self) -> Vec<String> {
        self.0.lock().unwrap().requests.clone()
    }

    /// Answers every list and watch of `key` with 403 Forbidden (or, `false`, no more), as the
    /// API server answers a user whose RBAC roles do not grant the verb.
    fn forbid(&self, key: &str, forbidden: bool) {
        let mut s = self.0.lock().unwrap();
        s.forbidden.retain(|k| k != key);
        if forbidden {
            s.forbidden.push(key.to_string());
        }
    }

    fn lists(&self, key: &str) -> usize {
        self.0.lock().unwrap().kinds[key].lists
    }

    fn open_watches(&self, key: &str) -> usize {
        self.0.lock().unwrap().kinds[key].watches.len()
    }

    /// Answers one request.
    fn answer(&self, req: &Request<kube::client::Body>) -> (StatusCode, Body) {
        let mut s = self.0.lock().unwrap();
        s.requests.push(format!("{} {}", req.method(), req.uri()));
        let segments: Vec<&str> = req.uri().path().split('/').skip(1).collect();
        let (api_version, rest) = match segments.first() {
            Some(&"api") => (segments[1].to_string(), &segments[2..]),
            _ => (format!("{}/{}", segments[1], segments[2]), &segments[3..]),
        };
        let (ns, plural) = match rest {
            ["namespaces", ns, plural] => (Some(ns.to_string()), *plural),
            [plural] => (None, *plural),
            _ => panic!("unexpected path {}", req.uri()),
        };
        let query: BTreeMap<String, String> = req
            .uri()
            .query()
            .unwrap_or("")
            .split('&')
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (k.to_string(), v.replace("%3D", "=")))
            .collect();
        let name = query
            .get("fieldSelector")
            .and_then(|f| f.strip_prefix("metadata.name="))
            .map(str::to_string);
        let current = s.rv;
        if s.forbidden.contains(&key(&api_version, plural)) {
            let group = api_version.split_once('/').map_or("", |(g, _)| g);
            let (b, _) = body(&[status(
                403,
                "Forbidden",
                &format!(
                    "{plural}.{group} is forbidden: User \"system:serviceaccount:default:proxy\" \
                     cannot list resource \"{plural}\" in API group \"{group}\" at the cluster scope"
                ),
            )
            .to_string()]);
            return (StatusCode::FORBIDDEN, b);
        }
        let Some(k) = s.kinds.get_mut(&key(&api_version, plural)) else {
            let (b, _) = body(&[status(
                404,
                "NotFound",
                "the server could not find the requested resource",
            )
            .to_string()]);
            return (StatusCode::NOT_FOUND, b);
        };
        let in_scope = |o_ns: &str, o_name: &str| {
            ns.as_deref().is_none_or(|n| n == o_ns) && name.as_deref().is_none_or(|n| n == o_name)
        };
        if query.get("watch").map(String::as_str) == Some("true") {
            let from: u64 = query["resourceVersion"].parse().unwrap();
            if from < k.compacted {
                let (b, _) = body(&[gone(current)]);
                return (StatusCode::OK, b);
            }
            let missed: Vec<String> = k
                .log
                .iter()
                .filter(|(rv, o_ns, _)| *rv > from && in_scope(o_ns, ""))
                .map(|(_, _, line)| line.clone())
                .collect();
            let (b, tx) = body(&missed);
            k.watches.push((ns, tx));
            return (StatusCode::OK, b);
        }
        k.lists += 1;
        // List items of the core kinds come without apiVersion and kind, as the API server
        // writes them; custom resources keep theirs.
        let core = !k.api_version.contains('/');
        let items: Vec<Value> = k
            .objects
            .iter()
            .filter(|((o_ns, o_name), _)| in_scope(o_ns, o_name))
            .map(|(_, o)| {
                let mut o = o.clone();
                if core && let Some(map) = o.as_object_mut() {
                    map.remove("apiVersion");
                    map.remove("kind");
                }
                o
            })
            .collect();
        let list = json!({
            "apiVersion": k.api_version,
            "kind": format!("{}List", k.kind),
            "metadata": {"resourceVersion": current.to_string()},
            "items": items,
        });
        let (b, _) = body(&[list.to_string()]);
        (StatusCode::OK, b)
    }

    /// A client whose requests this fake answers, on a task of its own.
    fn client(&self) -> kube::Client {
        let (service, handle) =
            tower_test::mock::pair::<Request<kube::client::Body>, Response<Body>>();
        let fake = self.clone();
        tokio::spawn(async move {
            let mut handle = pin!(handle);
            while let Some((req, send)) = handle.next_request().await {
                let (code, b) = fake.answer(&req);
                let mut resp = Response::new(b);
                *resp.status_mut() = code;
                send.send_response(resp);
            }
        });
        kube::Client::new(service, "default")
    }
}

impl Kind {
    fn emit(&mut self, rv: u64, ns: &str, line: String) {
        for (filter, tx) in &self.watches {
            if filter.as_deref().is_none_or(|f| f == ns) {
                let _ = tx.unbounded_send(Ok(Frame::data(Bytes::from(line.clone() + "\n"))));
            }
        }
        self.log.push((rv, ns.to_string(), line));
    }
}

fn gone(rv: u64) -> String {
    json!({"type": "ERROR", "object": status(410, "Expired",
        &format!("too old resource version: 1 ({rv})"))})
    .to_string()
}

/// A fake serving every kind the source watches except TLSRoute and TCPRoute (their
/// experimental-channel CRDs are not installed).
fn cluster() -> Fake {
    let fake = Fake::default();
    for (kind, plural) in [
        ("VirtualService", "virtualservices"),
        ("DestinationRule", "destinationrules"),
        ("Gateway", "gateways"),
        ("ServiceEntry", "serviceentries"),
        ("Sidecar", "sidecars"),
        ("WorkloadEntry", "workloadentries"),
    ] {
        fake.serve(kind, "networking.istio.io/v1", plural);
    }
    for (kind, plural) in [
        ("Gateway", "gateways"),
        ("HTTPRoute", "httproutes"),
        ("GRPCRoute", "grpcroutes"),
    ] {
        fake.serve(kind, "gateway.networking.k8s.io/v1", plural);
    }
    fake.serve(
        "ReferenceGrant",
        "gateway.networking.k8s.io/v1beta1",
        "referencegrants",
    );
    fake.serve("Service", "v1", "services");
    fake.serve("Pod", "v1", "pods");
    fake.serve("Namespace", "v1", "namespaces");
    fake.serve("ConfigMap", "v1", "configmaps");
    fake.serve("EndpointSlice", "discovery.k8s.io/v1", "endpointslices");
    fake.apply("v1/namespaces", json!({"metadata": {"name": "default"}}));
    fake.apply(
        "v1/services",
        json!({"metadata": {"name": "reviews", "namespace": "default"},
               "spec": {"ports": [{"name": "http", "port": 9080}], "selector": {"app": "reviews"}}}),
    );
    fake.apply(DR, destination_rule());
    fake.apply(VS, virtual_service(90, 10));
    fake
}

fn virtual_service(v1: i64, v2: i64) -> Value {
    json!({"metadata": {"name": "reviews", "namespace": "default", "uid": "3f0e", "generation": 1,
                        "creationTimestamp": "2025-01-01T00:00:00Z",
                        "managedFields": [{"manager": "kubectl", "operation": "Apply"}]},
           "spec": {"hosts": ["reviews"], "http": [{"route": [
               {"destination": {"host": "reviews", "subset": "v1"}, "weight": v1},
               {"destination": {"host": "reviews", "subset": "v2"}, "weight": v2}]}]}})
}

fn destination_rule() -> Value {
    json!({"metadata": {"name": "reviews", "namespace": "default"},
           "spec": {"host": "reviews", "subsets": [
               {"name": "v1", "labels": {"version": "v1"}},
               {"name": "v2", "labels": {"version": "v2"}}]}})
}

/// The subset the table sends `GET http://reviews/` from `default` to, for a draw.
fn subset(tables: &Shared<Table>, draw: u64) -> Option<String> {
    let req = OwnedRequest::new("GET", "http://reviews/").from_namespace("default");
    let table = tables.load();
    table
        .decide_with_draw(&req, draw)
        .destination()
        .and_then(|d| d.subset.as_deref().map(str::to_string))
}

/// The HTTP status the table answers `GET http://reviews/` from `default` with.
fn http_status(tables: &Shared<Table>) -> u16 {
    let req = OwnedRequest::new("GET", "http://reviews/").from_namespace("default");
    tables.load().decide_with_draw(&req, 0).status()
}

async fn wait(
    status: &mut tokio::sync::watch::Receiver<Arc<ClusterStatus>>,
    what: &str,
    f: impl FnMut(&Arc<ClusterStatus>) -> bool,
) -> Arc<ClusterStatus> {
    let got = match tokio::time::timeout(Duration::from_secs(20), status.wait_for(f)).await {
        Ok(Ok(s)) => Some(Arc::clone(&s)),
        _ => None,
    };
    got.unwrap_or_else(|| panic!("timed out waiting for {what}: {:#?}", status.borrow()))
}

/// Whether the request line's query has `name=value`.
fn has_param(request: &str, name: &str, value: &str) -> bool {
    request
        .split_once('?')
        .is_some_and(|(_, q)| q.split('&').any(|kv| kv == format!("{name}={value}")))
}

/// Polls `f` until it holds (the fake's side of the exchange).
async fn until(what: &str, mut f: impl FnMut() -> bool) {
    for _ in 0..400 {
        if f() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

fn options() -> ClusterOptions {
    ClusterOptions::default().debounce(Duration::from_millis(20))
}

/// List, watch events, a bookmark, a dropped connection, a 410 Gone that forces a re-list, a
/// resource that turns invalid and back, and a delete.
#[tokio::test]
async fn the_table_follows_the_api_server() {
    let fake = cluster();
    let source = ClusterSource::new(fake.client(), options());
    let tables = source.tables();
    let mut status = source.status();
    // Before every kind has listed, the table is the empty one.
    assert_eq!(subset(&tables, 0), None);
    tokio::spawn(source.run());

    // The lists: the first table.
    let s = wait(&mut status, "the first build", |s| s.builds >= 1).await;
    assert_eq!(subset(&tables, 0).as_deref(), Some("v1"));
    assert_eq!(subset(&tables, 95).as_deref(), Some("v2"));
    assert_eq!(http_status(&tables), 200);
    assert!(s.rejected.is_empty(), "{:?}", s.rejected);
    assert!(s.synced());
    let vs = s.kind("networking.istio.io/v1", "VirtualService").unwrap();
    assert_eq!((&vs.state, vs.objects), (&KindState::Synced, 1));
    // The CRDs that are not installed are skipped, and said so.
    for kind in ["TLSRoute", "TCPRoute"] {
        let k = s.kind("gateway.networking.k8s.io/v1alpha2", kind).unwrap();
        match &k.state {
            KindState::Skipped(why) => assert!(why.contains("404"), "{why}"),
            other => panic!("{kind}: {other:?}"),
        }
    }
    // Every kind was listed once, then watched from the list's resourceVersion with
    // bookmarks; the mesh config only by its name, in the root namespace.
    let requests = fake.requests();
    assert!(
        requests.iter().any(
            |r| r.contains("/api/v1/namespaces/istio-system/configmaps?")
                && has_param(r, "fieldSelector", "metadata.name%3Distio")
        ),
        "{requests:#?}"
    );
    let watch = requests
        .iter()
        .find(|r| r.contains("/virtualservices?") && r.contains("watch=true"))
        .expect("a watch of VirtualServices");
    assert!(has_param(watch, "allowWatchBookmarks", "true"), "{watch}");
    assert!(has_param(watch, "resourceVersion", "4"), "{watch}");
    assert_eq!(fake.lists(VS), 1);

    // MODIFIED: the weights move to v2.
    let builds = s.builds;
    until("the VirtualService watch", || fake.open_watches(VS) == 1).await;
    fake.apply(VS, virtual_service(0, 100));
    let s = wait(&mut status, "the weight change", |s| s.builds > builds).await;
    assert_eq!(subset(&tables, 0).as_deref(), Some("v2"));

    // A BOOKMARK changes nothing, and the next watch resumes from its resourceVersion after
    // the connection drops.
    let bookmark = fake.bookmark(VS);
    tokio::time::sleep(Duration::from_millis(200)).await;
    fake.drop_watches(VS);
    until("a watch from the bookmark", || {
        fake.requests().iter().any(|r| {
            r.contains("/virtualservices?")
                && r.contains("watch=true")
                && has_param(r, "resourceVersion", &bookmark.to_string())
        })
    })
    .await;
    until("the new watch", || fake.open_watches(VS) == 1).await;
    assert_eq!(fake.lists(VS), 1, "a dropped watch resumes without a list");
    assert_eq!(
        status.borrow().builds,
        s.builds,
        "a bookmark builds nothing"
    );

    // A change while the watch is gone (410): the re-list brings it.
    fake.expire(VS);
    fake.apply(VS, virtual_service(100, 0));
    let s = wait(&mut status, "the re-list", |s| {
        s.kind("networking.istio.io/v1", "VirtualService")
            .is_some_and(|k| k.relists == 1 && k.state == KindState::Synced)
            && s.builds > builds + 1
    })
    .await;
    assert_eq!(fake.lists(VS), 2);
    assert_eq!(subset(&tables, 95).as_deref(), Some("v1"));
    assert!(s.failed.is_none());

    // The VirtualService turns invalid: it is rejected, the rest still serves, and the
    // status says why.
    until("the watch after the re-list", || fake.open_watches(VS) == 1).await;
    let builds = s.builds;
    fake.apply(VS, virtual_service(-5, 100));
    let s = wait(&mut status, "the invalid weight", |s| s.builds > builds).await;
    let id = ResourceId::new("VirtualService", "default", "reviews");
    let rejected = s.rejection(&id).expect("the VirtualService is rejected");
    let why = rejected.errors[0].to_string();
    assert!(why.contains("weight") && why.contains("-5"), "{why}");
    assert!(why.starts_with("cluster: "), "{why}");
    assert_eq!(
        subset(&tables, 0),
        None,
        "no VirtualService routes to a subset"
    );

    // ... and back.
    let builds = s.builds;
    fake.apply(VS, virtual_service(50, 50));
    let s = wait(&mut status, "the fixed weight", |s| s.builds > builds).await;
    assert!(s.rejection(&id).is_none());
    assert_eq!(subset(&tables, 0).as_deref(), Some("v1"));
    assert_eq!(subset(&tables, 50).as_deref(), Some("v2"));

    // DELETED: the DestinationRule goes, and with it the subsets the route names.
    let builds = s.builds;
    fake.delete(DR, "default", "reviews");
    let s = wait(&mut status, "the delete", |s| s.builds > builds).await;
    assert_eq!(
        s.kind("networking.istio.io/v1", "DestinationRule")
            .unwrap()
            .objects,
        0
    );
    // Istio's IST0101: the route names subsets nothing defines, and requests get 503.
    assert_eq!(http_status(&tables), 503);
    assert!(
        s.diagnostics.iter().any(|d| d.code == "undefined-subset"),
        "{:#?}",
        s.diagnostics
    );
}

/// In strict mode a compile that fails keeps the table that serves, and the status says why.
#[tokio::test]
async fn a_failed_compile_keeps_the_last_good_table() {
    let fake = cluster();
    let options = options().compile(CompileOptions::strict());
    let source = ClusterSource::new(fake.client(), options);
    let tables = source.tables();
    let mut status = source.status();
    tokio::spawn(source.run());
    wait(&mut status, "the first build", |s| s.builds >= 1).await;
    assert_eq!(subset(&tables, 0).as_deref(), Some("v1"));

    until("the VirtualService watch", || fake.open_watches(VS) == 1).await;
    fake.apply(VS, virtual_service(-5, 100));
    let s = wait(&mut status, "the failed compile", |s| s.failed.is_some()).await;
    assert_eq!(s.builds, 1);
    let why = s.failed.as_ref().unwrap().to_string();
    assert!(why.contains("weight"), "{why}");
    assert_eq!(
        subset(&tables, 0).as_deref(),
        Some("v1"),
        "the last good table serves"
    );

    fake.apply(VS, virtual_service(0, 100));
    let s = wait(&mut status, "the good compile", |s| s.failed.is_none()).await;
    assert_eq!(s.builds, 2);
    assert_eq!(subset(&tables, 0).as_deref(), Some("v2"));
}

/// One namespace: the namespaced kinds are listed and watched there only; Namespaces
/// cluster-wide, the mesh config in the root namespace.
#[tokio::test]
async fn one_namespace_is_watched_in_that_namespace() {
    let fake = cluster();
    fake.apply(
        VS,
        json!({"metadata": {"name": "elsewhere", "namespace": "other"},
               "spec": {"hosts": ["reviews.default.svc.cluster.local"], "http": [{"route": [
                   {"destination": {"host": "reviews.default.svc.cluster.local", "subset": "v2"}}]}]}}),
    );
    let source = ClusterSource::new(fake.client(), options().namespace("default"));
    let mut status = source.status();
    tokio::spawn(source.run());
    let s = wait(&mut status, "the first build", |s| s.builds >= 1).await;
    let vs = s.kind("networking.istio.io/v1", "VirtualService").unwrap();
    assert_eq!(
        vs.objects, 1,
        "the VirtualService of namespace other is not read"
    );
    let requests = fake.requests();
    for r in &requests {
        let path = r.split('?').next().unwrap();
        let ok = path.contains("/namespaces/default/")
            || path.ends_with("/api/v1/namespaces")
            || path.contains("/namespaces/istio-system/configmaps");
        assert!(ok, "{r}");
    }
}

/// Against a real cluster, when `KUBECONFIG` names one: every kind lists (or is skipped) and a
/// table is built.
#[tokio::test]
async fn a_real_cluster_when_kubeconfig_is_set() {
    if std::env::var_os("KUBECONFIG").is_none() {
        eprintln!("skipped: KUBECONFIG is not set, so there is no cluster to follow");
        return;
    }
    let client = kube::Client::try_default()
        .await
        .expect("a client from KUBECONFIG");
    let source = ClusterSource::new(client, ClusterOptions::default());
    let mut status = source.status();
    tokio::spawn(source.run());
    let got = match tokio::time::timeout(Duration::from_secs(60), status.wait_for(|s| s.builds > 0))
        .await
    {
        Ok(Ok(s)) => Some(Arc::clone(&s)),
        _ => None,
    };
    let s = got.unwrap_or_else(|| panic!("no table within 60 s: {:#?}", status.borrow()));
    for k in &s.kinds {
        eprintln!(
            "{} {}: {:?}, {} objects",
            k.kind.api_version(),
            k.kind.kind,
            k.state,
            k.objects
        );
    }
    eprintln!("{} resources rejected", s.rejected.len());
}

/// One list per kind, no watch: the configuration a one-shot check of the cluster reads.
#[tokio::test]
async fn a_snapshot_lists_every_kind_once() {
    let fake = cluster();
    let config = meshroute::cluster::snapshot(&fake.client(), &ClusterOptions::default())
        .await
        .expect("the fake answers every list");
    let compiled = meshroute::compile(&config, &CompileOptions::default()).unwrap();
    let req = OwnedRequest::new("GET", "http://reviews/").from_namespace("default");
    let d = compiled.table.decide_with_draw(&req, 95);
    assert_eq!(
        d.destination().and_then(|d| d.subset.as_deref()),
        Some("v2")
    );
    let skipped: Vec<_> = config
        .notes
        .iter()
        .filter(|n| n.message.contains("does not serve"))
        .map(|n| n.message.as_str())
        .collect();
    assert_eq!(skipped.len(), 2, "{skipped:?}");
    assert!(skipped[0].contains("TLSRoute") && skipped[1].contains("TCPRoute"));
    // One list per kind, and one per older version tried where the newer answered 404.
    let requests = fake.requests();
    let versions: usize = meshroute::cluster::KINDS
        .iter()
        .map(|k| k.versions().count())
        .sum();
    assert_eq!(requests.len(), versions, "{requests:#?}");
    assert!(
        requests.iter().all(|r| !r.contains("watch=true")),
        "{requests:#?}"
    );
}

/// The build hook sees each configuration that compiled and its table before the table is
/// stored and the build counted: what an embedder derives from the same snapshot (a router
/// over its endpoints) goes live with it.
#[tokio::test]
async fn the_build_hook_sees_each_configuration_before_its_table_serves() {
    let fake = cluster();
    // Per call: the Services in the configuration, the subset its table decides at draw 0,
    // the subset the stored table decides then, and the builds counted then.
    type Call = (usize, Option<String>, Option<String>, u64);
    let calls: Arc<Mutex<Vec<Call>>> = Arc::default();
    let empty = meshroute::compile(&meshroute::Config::new(), &CompileOptions::default())
        .unwrap()
        .table;
    let tables = Arc::new(Shared::new(empty));
    let (seen, stored) = (Arc::clone(&calls), Arc::clone(&tables));
    let source = ClusterSource::with_tables(fake.client(), options(), Arc::clone(&tables));
    let counted = source.status();
    let source = source.on_build(move |config, table| {
        let services = config
            .resources
            .iter()
            .filter(|r| r.id("default").kind == "Service")
            .count();
        let req = OwnedRequest::new("GET", "http://reviews/").from_namespace("default");
        let decided = table
            .decide_with_draw(&req, 0)
            .destination()
            .and_then(|d| d.subset.as_deref().map(str::to_string));
        let builds = counted.borrow().builds;
        seen.lock()
            .unwrap()
            .push((services, decided, subset(&stored, 0), builds));
    });
    let mut status = source.status();
    tokio::spawn(source.run());
    wait(&mut status, "the first build", |s| s.builds >= 1).await;
    until("the VirtualService watch", || fake.open_watches(VS) == 1).await;
    fake.apply(VS, virtual_service(0, 100));
    wait(&mut status, "the second build", |s| s.builds >= 2).await;
    let calls = calls.lock().unwrap().clone();
    assert_eq!(
        calls,
        vec![
            (1, Some("v1".into()), None, 0),
            (1, Some("v2".into()), Some("v1".into()), 1),
        ]
    );
}

/// A change the table does not read (an EndpointSlice) compiles nothing, but the build hook
/// still hears of it, with the new configuration and the table that serves: a proxy binding
/// its endpoints in the hook gets the new endpoint without a compile.
#[tokio::test]
async fn the_build_hook_hears_of_endpoint_changes_that_compile_nothing() {
    const SLICES: &str = "discovery.k8s.io/v1/endpointslices";
    let fake = cluster();
    let slice = |ip: &str| {
        json!({"metadata": {"name": "reviews-x", "namespace": "default",
                            "labels": {"kubernetes.io/service-name": "reviews"}},
               "addressType": "IPv4",
               "ports": [{"name": "http", "port": 9080}],
               "endpoints": [{"addresses": [ip]}]})
    };
    fake.apply(SLICES, slice("10.0.0.1"));
    let calls = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&calls);
    let source = ClusterSource::new(fake.client(), options()).on_build(move |config, table| {
        let addresses: Vec<String> = config
            .resources
            .iter()
            .filter_map(|r| match r {
                meshroute::config::Resource::EndpointSlice(s) => Some(s),
                _ => None,
            })
            .flat_map(|s| s.spec.endpoints.iter().flat_map(|e| e.addresses.clone()))
            .collect();
        let req = OwnedRequest::new("GET", "http://reviews/").from_namespace("default");
        let routed = table.decide_with_draw(&req, 0).destination().is_some();
        seen.lock().unwrap().push((addresses, routed));
    });
    let mut status = source.status();
    tokio::spawn(source.run());
    wait(&mut status, "the first build", |s| s.builds >= 1).await;
    until("the EndpointSlice watch", || fake.open_watches(SLICES) == 1).await;
    fake.apply(SLICES, slice("10.0.0.2"));
    wait(&mut status, "the skipped compile", |s| {
        s.compiles_skipped >= 1
    })
    .await;
    assert_eq!(
        status.borrow().builds,
        1,
        "an EndpointSlice compiles nothing"
    );
    assert_eq!(
        calls.lock().unwrap().clone(),
        vec![
            (vec!["10.0.0.1".to_string()], true),
            (vec!["10.0.0.2".to_string()], true),
        ]
    );
}

/// Sends on drop: a build hook blocked on the receiver is let go even when the test fails.
struct Release(std::sync::mpsc::Sender<()>);

impl Drop for Release {
    fn drop(&mut self) {
        let _ = self.0.send(());
    }
}

/// The compile and the build hook run off the source's task: while one build runs (its hook
/// held here, as a compile of 10,000 VirtualServices holds it for a second), the watches go
/// on receiving events and the status shows what they read; once it ends, the changes that
/// came meanwhile are built once, from the newest objects (no build per stale state). As
/// istiod pushes from a debounced queue while its informers go on receiving
/// (`pilot/pkg/xds/discovery.go`, `debounce`: one push at a time, the requests that came
/// during it merged into the next).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_are_received_while_a_build_runs() {
    let fake = cluster();
    let (release, held) = std::sync::mpsc::channel::<()>();
    let held = Mutex::new(held);
    let release = Release(release);
    // Per call: the VirtualServices of the configuration, and the subset its table decides.
    type Call = (usize, Option<String>);
    let calls: Arc<Mutex<Vec<Call>>> = Arc::default();
    let seen = Arc::clone(&calls);
    let source = ClusterSource::new(fake.client(), options()).on_build(move |config, table| {
        let services = config
            .resources
            .iter()
            .filter(|r| r.id("default").kind == "VirtualService")
            .count();
        let req = OwnedRequest::new("GET", "http://reviews/").from_namespace("default");
        let decided = table
            .decide_with_draw(&req, 0)
            .destination()
            .and_then(|d| d.subset.as_deref().map(str::to_string));
        let call = {
            let mut calls = seen.lock().unwrap();
            calls.push((services, decided));
            calls.len()
        };
        if call == 2 {
            // The second build waits to be let go.
            let _ = held.lock().unwrap().recv_timeout(Duration::from_secs(30));
        }
    });
    let tables = source.tables();
    let mut status = source.status();
    tokio::spawn(source.run());
    wait(&mut status, "the first build", |s| s.builds >= 1).await;
    until("the VirtualService watch", || fake.open_watches(VS) == 1).await;

    fake.apply(VS, virtual_service(0, 100));
    until("the second build's hook", || {
        calls.lock().unwrap().len() == 2
    })
    .await;
    // While it runs: a new VirtualService, and the weights back to v1.
    fake.apply(
        VS,
        json!({"metadata": {"name": "ratings", "namespace": "default"},
               "spec": {"hosts": ["ratings"], "http": [{"route": [
                   {"destination": {"host": "ratings"}}]}]}}),
    );
    fake.apply(VS, virtual_service(100, 0));
    let read = tokio::time::timeout(
        Duration::from_secs(5),
        status.wait_for(|s| {
            s.kind("networking.istio.io/v1", "VirtualService")
                .is_some_and(|k| k.objects == 2)
        }),
    )
    .await
    .map(|s| s.map(|s| Arc::clone(&s)));
    let s = match read {
        Ok(Ok(s)) => s,
        _ => panic!(
            "the status did not show the new VirtualService while a build ran: {:#?}",
            status.borrow()
        ),
    };
    assert_eq!(s.builds, 1, "the second build has not ended");
    assert_eq!(
        subset(&tables, 0).as_deref(),
        Some("v1"),
        "the first table serves"
    );

    drop(release);
    wait(&mut status, "the third build", |s| s.builds >= 3).await;
    assert_eq!(subset(&tables, 0).as_deref(), Some("v1"));
    // Nothing more comes: the changes made during the second build were built once.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(status.borrow().builds, 3);
    assert_eq!(
        calls.lock().unwrap().clone(),
        vec![
            (1, Some("v1".into())),
            (1, Some("v2".into())),
            (2, Some("v1".into())),
        ]
    );
}

/// A list RBAC forbids (403) holds the first table back, as istiod waits for every
/// informer's cache sync before it serves (`pilot/pkg/bootstrap/server.go`,
/// `waitForCacheSync`, `cachesSynced`): a table without the DestinationRules would route
/// wrongly. Meanwhile the status names the kind, the request, the HTTP code and the API
/// server's message, and the list is retried with backoff, as client-go's reflector logs
/// `failed to list` and retries (`tools/cache/reflector.go`, `ListAndWatch`, `Run`): once
/// the role is granted, the list succeeds and the first table comes.
#[tokio::test]
async fn a_forbidden_list_is_reported_and_retried() {
    let fake = cluster();
    fake.forbid(DR, true);
    let source = ClusterSource::new(fake.client(), options());
    let tables = source.tables();
    let mut status = source.status();
    tokio::spawn(source.run());
    let s = wait(&mut status, "the list error", |s| {
        s.kind("networking.istio.io/v1", "DestinationRule")
            .is_some_and(|k| k.last_error.is_some())
    })
    .await;
    let dr = s.kind("networking.istio.io/v1", "DestinationRule").unwrap();
    assert_eq!(dr.state, KindState::Listing);
    let e = dr.last_error.as_ref().unwrap();
    assert_eq!(
        (e.request, e.code, e.reason.as_str()),
        ("list", Some(403), "Forbidden")
    );
    assert_eq!(
        e.to_string(),
        "list: 403 Forbidden: destinationrules.networking.istio.io is forbidden: User \
         \"system:serviceaccount:default:proxy\" cannot list resource \"destinationrules\" in \
         API group \"networking.istio.io\" at the cluster scope"
    );
    assert_eq!(s.builds, 0);
    assert!(!s.synced());
    // The other kinds listed; the empty table serves.
    let vs = s.kind("networking.istio.io/v1", "VirtualService").unwrap();
    assert_eq!(vs.state, KindState::Synced);
    assert_eq!(subset(&tables, 0), None);

    // Retried: a second list of DestinationRules, then the role is granted.
    until("a retry of the list", || {
        fake.requests()
            .iter()
            .filter(|r| r.contains("/destinationrules?") && !r.contains("watch=true"))
            .count()
            >= 2
    })
    .await;
    fake.forbid(DR, false);
    let s = wait(&mut status, "the first build", |s| s.builds >= 1).await;
    let dr = s.kind("networking.istio.io/v1", "DestinationRule").unwrap();
    assert_eq!((&dr.state, &dr.last_error), (&KindState::Synced, &None));
    assert_eq!(subset(&tables, 0).as_deref(), Some("v1"));
}

/// A kind is read at the newest version the cluster serves: Gateway API 1.5's standard channel
/// serves TLSRoute only as `v1` (kubernetes-sigs/gateway-api#4439), an older release or the
/// experimental channel as `v1alpha2`; before 1.6 ReferenceGrant is `v1beta1` only. The
/// versions are tried newest first, each a list that answers 404 before the next, as
/// linkerd's policy controller negotiates TLSRoute (linkerd/linkerd2#15584).
#[tokio::test]
async fn a_kind_is_read_at_the_newest_version_the_cluster_serves() {
    let fake = cluster();
    fake.serve(
        "TLSRoute",
        "gateway.networking.k8s.io/v1alpha2",
        "tlsroutes",
    );
    fake.apply(
        "gateway.networking.k8s.io/v1alpha2/tlsroutes",
        json!({"metadata": {"name": "tls", "namespace": "default"},
               "spec": {"parentRefs": [{"name": "gw"}], "hostnames": ["a.example.com"],
                        "rules": [{"backendRefs": [{"name": "reviews", "port": 9080}]}]}}),
    );
    let source = ClusterSource::new(fake.client(), options());
    let mut status = source.status();
    tokio::spawn(source.run());
    let s = wait(&mut status, "the first build", |s| s.builds >= 1).await;
    // Found by any of its versions; read at the one served.
    let tls = s.kind("gateway.networking.k8s.io/v1", "TLSRoute").unwrap();
    assert_eq!((&tls.state, tls.objects), (&KindState::Synced, 1));
    assert_eq!(tls.kind.version, "v1alpha2");
    let grants = s
        .kind("gateway.networking.k8s.io/v1", "ReferenceGrant")
        .unwrap();
    assert_eq!(
        (&grants.state, grants.kind.version),
        (&KindState::Synced, "v1beta1")
    );
    // TCPRoute, served at no version, is skipped and said so.
    let tcp = s
        .kind("gateway.networking.k8s.io/v1alpha2", "TCPRoute")
        .unwrap();
    assert!(matches!(&tcp.state, KindState::Skipped(why) if why.contains("404")));
    // Each version was asked for, newest first, before the one served.
    let requests = fake.requests();
    let lists = |v: &str| {
        requests
            .iter()
            .position(|r| r.contains(&format!("/apis/gateway.networking.k8s.io/{v}/tlsroutes")))
    };
    let (v1, v1alpha3, v1alpha2) = (lists("v1"), lists("v1alpha3"), lists("v1alpha2"));
    assert!(
        v1 < v1alpha3 && v1alpha3 < v1alpha2 && v1.is_some(),
        "{requests:#?}"
    );
}
