//! A fake Kubernetes API server for the tests that run a real program against a cluster
//! (`tests/cli_cluster.rs`, `tests/proxy_cluster.rs`): a plain HTTP/1.1 listener on 127.0.0.1
//! named by a kubeconfig written for the test. It answers lists the way the API server does (a
//! `…List` with `items` and the current `resourceVersion`; a `Status` of code 404 for a
//! resource it does not serve, as when a CRD is not installed) and keeps watches open,
//! streaming `ADDED`/`MODIFIED` events as newline-delimited JSON in a chunked body, as the API
//! server streams them (`?watch=true&resourceVersion=N`: every change after N, then each new
//! one). It serves no Gateway API kind (404) and empty lists of every kind it holds nothing of.
//!
//! Included with `#[path = "common/fake_api.rs"] mod fake_api;`.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};

use serde_json::{Value, json};

/// What the fake holds: each object with the plural it is listed under, the changes in order,
/// and every request target it was asked.
#[derive(Default)]
struct State {
    /// The last resourceVersion given out.
    rv: u64,
    /// (plural, object), in the order they were created.
    objects: Vec<(String, Value)>,
    /// Every change: (resourceVersion, plural, namespace, event line).
    log: Vec<(u64, String, String, String)>,
    requests: Vec<String>,
    /// Plurals every list and watch of which is answered 403 Forbidden.
    forbidden: Vec<String>,
}

/// The fake API server.
pub struct FakeApi {
    port: u16,
    state: Arc<(Mutex<State>, Condvar)>,
}

impl FakeApi {
    /// Starts answering on a free port with `objects` (`(plural, object)`); the listener and
    /// its watches live as long as the test process.
    pub fn start(objects: Vec<(&str, Value)>) -> FakeApi {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a free port");
        let port = listener.local_addr().expect("a bound address").port();
        let fake = FakeApi {
            port,
            state: Arc::new((Mutex::new(State::default()), Condvar::new())),
        };
        for (plural, object) in objects {
            fake.apply(plural, object);
        }
        let state = Arc::clone(&fake.state);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let state = Arc::clone(&state);
                std::thread::spawn(move || serve(stream, &state));
            }
        });
        fake
    }

    /// Every request target (path and query) the fake was asked, in order.
    pub fn requests(&self) -> Vec<String> {
        self.state.0.lock().unwrap().requests.clone()
    }

    /// Creates or replaces (by namespace and name) an object listed under `plural`, as
    /// `kubectl apply` does, with a new resourceVersion, and streams the event to the watches.
    pub fn apply(&self, plural: &str, mut object: Value) {
        let (lock, changed) = &*self.state;
        let mut s = lock.lock().unwrap();
        s.rv += 1;
        let rv = s.rv;
        object["metadata"]["resourceVersion"] = json!(rv.to_string());
        let id = |o: &Value| {
            (
                o["metadata"]["namespace"]
                    .as_str()
                    .unwrap_or("")
                    .to_string(),
                o["metadata"]["name"].as_str().unwrap_or("").to_string(),
            )
        };
        let (ns, name) = id(&object);
        let existing = s
            .objects
            .iter()
            .position(|(p, o)| p == plural && id(o) == (ns.clone(), name.clone()));
        let kind = match existing {
            Some(i) => {
                s.objects[i].1 = object.clone();
                "MODIFIED"
            }
            None => {
                s.objects.push((plural.to_string(), object.clone()));
                "ADDED"
            }
        };
        let line = json!({"type": kind, "object": object}).to_string();
        s.log.push((rv, plural.to_string(), ns, line));
        changed.notify_all();
    }

    /// Answers every list and watch of `plural` from now on with 403 Forbidden, as the API
    /// server answers a user whose RBAC roles do not grant the verb.
    pub fn forbid(&self, plural: &str) {
        self.state
            .0
            .lock()
            .unwrap()
            .forbidden
            .push(plural.to_string());
    }

    /// Answers the lists and watches of `plural` again (the role was granted).
    pub fn permit(&self, plural: &str) {
        self.state
            .0
            .lock()
            .unwrap()
            .forbidden
            .retain(|p| p != plural);
    }

    /// How many watches of `plural` were asked for.
    pub fn watches(&self, plural: &str) -> usize {
        let s = self.state.0.lock().unwrap();
        s.requests
            .iter()
            .filter(|r| param(r, "watch") == Some("true") && target_plural(r) == plural)
            .count()
    }

    /// A kubeconfig naming this server: context `fake` (current, namespace `shop`), `plain`
    /// (no namespace) and `down` (a port nothing listens on).
    pub fn kubeconfig(&self, dir: &Path) -> PathBuf {
        let closed = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let text = format!(
            "apiVersion: v1
kind: Config
current-context: fake
contexts:
- name: fake
  context: {{cluster: fake, user: fake, namespace: shop}}
- name: plain
  context: {{cluster: fake, user: fake}}
- name: down
  context: {{cluster: down, user: fake}}
clusters:
- name: fake
  cluster: {{server: 'http://127.0.0.1:{}'}}
- name: down
  cluster: {{server: 'http://127.0.0.1:{closed}'}}
users:
- name: fake
  user: {{token: not-checked}}
",
            self.port
        );
        let path = dir.join("kubeconfig");
        std::fs::write(&path, text).expect("the kubeconfig is written");
        path
    }
}

/// The plural a request target names (its path's last segment).
fn target_plural(target: &str) -> &str {
    let path = target.split('?').next().unwrap_or("");
    path.rsplit('/').next().unwrap_or("")
}

/// The namespace a request target names, `None` for all namespaces (or a cluster-wide kind).
fn target_namespace(target: &str) -> Option<&str> {
    let path = target.split('?').next().unwrap_or("");
    let segments: Vec<&str> = path.split('/').collect();
    segments
        .iter()
        .position(|s| *s == "namespaces")
        .filter(|i| i + 2 < segments.len())
        .map(|i| segments[i + 1])
}

/// The value of `name` in the target's query.
fn param<'t>(target: &'t str, name: &str) -> Option<&'t str> {
    let (_, query) = target.split_once('?')?;
    query
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// Answers one connection's requests (HTTP/1.1 keep-alive; the requests are GETs, no body).
/// A watch holds the connection until the client goes away.
fn serve(stream: TcpStream, state: &(Mutex<State>, Condvar)) {
    let mut reader = BufReader::new(stream.try_clone().expect("a second handle"));
    let mut writer = stream;
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
            return;
        }
        loop {
            let mut header = String::new();
            if reader.read_line(&mut header).unwrap_or(0) == 0 {
                return;
            }
            if header == "\r\n" || header == "\n" {
                break;
            }
        }
        let target = request_line
            .split_whitespace()
            .nth(1)
            .unwrap_or("")
            .to_string();
        let forbidden = {
            let mut s = state.0.lock().unwrap();
            s.requests.push(target.clone());
            s.forbidden.iter().any(|p| p == target_plural(&target))
        };
        if forbidden {
            let body = forbidden_status(&target).to_string();
            let response = format!(
                "HTTP/1.1 403 Forbidden\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            );
            if writer.write_all(response.as_bytes()).is_err() {
                return;
            }
            continue;
        }
        if param(&target, "watch") == Some("true") && !gateway_api(&target) {
            watch(&mut writer, &target, state);
            return;
        }
        let (status, body) = answer(&target, &state.0.lock().unwrap());
        let body = body.to_string();
        let response = format!(
            "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        if writer.write_all(response.as_bytes()).is_err() {
            return;
        }
    }
}

/// The `Status` the API server answers a request RBAC does not allow (apiserver
/// `staging/src/k8s.io/apiserver/pkg/endpoints/handlers/responsewriters/errors.go`,
/// `ForbiddenStatusError`), for the fake's user `system:serviceaccount:shop:proxy`.
fn forbidden_status(target: &str) -> Value {
    let plural = target_plural(target);
    let path = target.split('?').next().unwrap_or("");
    let group = path
        .strip_prefix("/apis/")
        .and_then(|p| p.split('/').next())
        .unwrap_or("");
    let verb = if param(target, "watch") == Some("true") {
        "watch"
    } else {
        "list"
    };
    let scope = match target_namespace(target) {
        Some(ns) => format!("in the namespace \"{ns}\""),
        None => "at the cluster scope".to_string(),
    };
    let resource = if group.is_empty() {
        plural.to_string()
    } else {
        format!("{plural}.{group}")
    };
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
           "message": format!("{resource} is forbidden: User \"system:serviceaccount:shop:proxy\" \
                               cannot {verb} resource \"{plural}\" in API group \"{group}\" {scope}"),
           "reason": "Forbidden",
           "details": {"group": group, "kind": plural}, "code": 403})
}

fn gateway_api(target: &str) -> bool {
    target.starts_with("/apis/gateway.networking.k8s.io/")
}

/// Streams the changes of the target's plural (in its namespace) after its resourceVersion,
/// one chunk per event, until the client goes away.
fn watch(writer: &mut TcpStream, target: &str, state: &(Mutex<State>, Condvar)) {
    let head =
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n";
    if writer.write_all(head.as_bytes()).is_err() {
        return;
    }
    let plural = target_plural(target);
    let namespace = target_namespace(target);
    let mut from: u64 = param(target, "resourceVersion")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let (lock, changed) = state;
    loop {
        let lines: Vec<String> = {
            let mut s = lock.lock().unwrap();
            while s.rv <= from {
                s = changed.wait(s).unwrap();
            }
            let lines = s
                .log
                .iter()
                .filter(|(rv, p, ns, _)| {
                    *rv > from && p == plural && namespace.is_none_or(|n| n == ns)
                })
                .map(|(_, _, _, line)| line.clone())
                .collect();
            from = s.rv;
            lines
        };
        for line in lines {
            let chunk = format!("{:x}\r\n{line}\n\r\n", line.len() + 1);
            if writer.write_all(chunk.as_bytes()).is_err() {
                return;
            }
        }
    }
}

/// What the API server answers a list: 404 for Gateway API (its CRDs are not installed), the
/// objects of the plural in the target's namespace (or in all), an empty list otherwise.
fn answer(target: &str, s: &State) -> (&'static str, Value) {
    if gateway_api(target) {
        return (
            "404 Not Found",
            json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                   "message": "the server could not find the requested resource",
                   "reason": "NotFound", "code": 404}),
        );
    }
    let plural = target_plural(target);
    let namespace = target_namespace(target);
    let items: Vec<Value> = s
        .objects
        .iter()
        .filter(|(p, o)| p == plural && namespace.is_none_or(|ns| o["metadata"]["namespace"] == ns))
        .map(|(_, o)| o.clone())
        .collect();
    (
        "200 OK",
        json!({"kind": "List", "apiVersion": "v1",
               "metadata": {"resourceVersion": s.rv.to_string()}, "items": items}),
    )
}
