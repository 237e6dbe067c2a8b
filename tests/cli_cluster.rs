//! `meshroute check|analyze|route|simulate --cluster` over the real binary, against a fake API
//! server: a plain HTTP/1.1 listener on 127.0.0.1 that answers the list requests the way the
//! API server does (a `…List` with `items`; a `Status` of code 404 for a resource it does not
//! serve, as when a CRD is not installed), named by a kubeconfig written for the test and
//! given in `KUBECONFIG`. The fake serves Istio's kinds (a VirtualService and a
//! DestinationRule in namespace `shop`), no Gateway API kind (404), and empty lists of the
//! core kinds.
//!
//! Needs the `cli-cluster` feature: `cargo test --features cli-cluster --test cli_cluster`.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_meshroute");

/// The fake API server: the objects it lists per plural (namespace `shop` only) and every
/// request path it was asked, in order.
struct Fake {
    port: u16,
    requests: Arc<Mutex<Vec<String>>>,
}

impl Fake {
    /// Starts answering on a free port; the listener lives as long as the test process.
    fn start(objects: Vec<(&'static str, Value)>) -> Fake {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a free port");
        let port = listener.local_addr().expect("a bound address").port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let objects = Arc::new(objects);
        let seen = Arc::clone(&requests);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (seen, objects) = (Arc::clone(&seen), Arc::clone(&objects));
                std::thread::spawn(move || serve(stream, &seen, &objects));
            }
        });
        Fake { port, requests }
    }

    fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }

    /// A kubeconfig naming this server: context `fake` (current, namespace `shop`), `plain`
    /// (no namespace) and `down` (a port nothing listens on).
    fn kubeconfig(&self, dir: &std::path::Path) -> PathBuf {
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

/// Answers one connection's requests (HTTP/1.1 keep-alive; the requests are GETs, no body).
fn serve(stream: TcpStream, seen: &Mutex<Vec<String>>, objects: &[(&str, Value)]) {
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
        seen.lock().unwrap().push(target.clone());
        let (status, body) = answer(&target, objects);
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

/// What the API server answers a list: 404 for Gateway API (its CRDs are not installed), the
/// objects of the plural in `shop` (or in all namespaces), an empty list otherwise.
fn answer(target: &str, objects: &[(&str, Value)]) -> (&'static str, Value) {
    let path = target.split('?').next().unwrap_or("");
    if path.starts_with("/apis/gateway.networking.k8s.io/") {
        return (
            "404 Not Found",
            json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                   "message": "the server could not find the requested resource",
                   "reason": "NotFound", "code": 404}),
        );
    }
    let segments: Vec<&str> = path.split('/').collect();
    let plural = segments.last().copied().unwrap_or("");
    let namespace = segments
        .iter()
        .position(|s| *s == "namespaces")
        .filter(|i| i + 2 < segments.len())
        .map(|i| segments[i + 1]);
    let items: Vec<Value> = objects
        .iter()
        .filter(|(p, o)| {
            *p == plural && namespace.is_none_or(|ns| o["metadata"]["namespace"] == ns)
        })
        .map(|(_, o)| o.clone())
        .collect();
    (
        "200 OK",
        json!({"kind": "List", "apiVersion": "v1", "metadata": {"resourceVersion": "7"},
               "items": items}),
    )
}

/// Jason's requests go to v2, the others to v1 (as in Istio's bookinfo).
fn bookinfo() -> Vec<(&'static str, Value)> {
    vec![
        (
            "virtualservices",
            json!({"apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
                   "metadata": {"name": "reviews", "namespace": "shop", "resourceVersion": "5"},
                   "spec": {"hosts": ["reviews"], "http": [
                       {"match": [{"headers": {"end-user": {"exact": "jason"}}}],
                        "route": [{"destination": {"host": "reviews", "subset": "v2"}}]},
                       {"route": [{"destination": {"host": "reviews", "subset": "v1"}}]}]}}),
        ),
        (
            "destinationrules",
            json!({"apiVersion": "networking.istio.io/v1", "kind": "DestinationRule",
                   "metadata": {"name": "reviews", "namespace": "shop", "resourceVersion": "6"},
                   "spec": {"host": "reviews", "subsets": [
                       {"name": "v1", "labels": {"version": "v1"}},
                       {"name": "v2", "labels": {"version": "v2"}}]}}),
        ),
    ]
}

/// A directory for one test's kubeconfig, removed when the test ends.
struct TempDir(PathBuf);

impl std::ops::Deref for TempDir {
    type Target = std::path::Path;
    fn deref(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn temp_dir(name: &str) -> TempDir {
    let dir = std::env::temp_dir().join(format!(
        "meshroute-cli-cluster-{}-{name}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    TempDir(dir)
}

fn run(kubeconfig: &std::path::Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env("KUBECONFIG", kubeconfig)
        .env("NO_COLOR", "1")
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/cli"))
        .output()
        .expect("meshroute runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// `check --cluster` lists every kind once in the context's namespace and compiles what it
/// holds; Gateway API kinds that are not served are notes (with -v), not errors.
#[test]
fn check_reads_the_context_namespace() {
    let fake = Fake::start(bookinfo());
    let dir = temp_dir("check");
    let kubeconfig = fake.kubeconfig(&dir);
    let out = run(&kubeconfig, &["check", "--cluster", "-v"]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    assert!(
        stdout.contains(
            "2 resources in the cluster (context fake, namespace shop): 0 errors, 0 warnings"
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains("skipped gateway.networking.k8s.io/v1 HTTPRoute"),
        "{stdout}"
    );
    let requests = fake.requests();
    assert!(
        requests
            .iter()
            .any(|r| r.starts_with("/apis/networking.istio.io/v1/namespaces/shop/virtualservices?")),
        "{requests:#?}"
    );
    // Namespaces are cluster-wide; the mesh config is read from the root namespace.
    let namespaced = |r: &&String| {
        r.contains("/namespaces/shop/")
            || r.starts_with("/api/v1/namespaces?")
            || r.contains("/configmaps?")
    };
    assert!(
        requests
            .iter()
            .all(|r| namespaced(&r) || r.contains("gateway.networking.k8s.io")),
        "{requests:#?}"
    );
    assert!(
        requests.iter().all(|r| !r.contains("watch=true")),
        "{requests:#?}"
    );
}

/// The files and the cluster together: the summary counts both.
#[test]
fn check_reads_files_and_the_cluster() {
    let fake = Fake::start(bookinfo());
    let dir = temp_dir("both");
    let kubeconfig = fake.kubeconfig(&dir);
    let out = run(
        &kubeconfig,
        &["check", "--cluster", "-n", "shop", "ramp.yaml"],
    );
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("in the cluster (context fake, namespace shop) and 1 file:"),
        "{stdout}{}",
        text(&out.stderr)
    );
}

/// An invalid resource in the cluster is an error located at `cluster`, and check fails.
#[test]
fn check_reports_an_invalid_cluster_resource() {
    let mut objects = bookinfo();
    objects.push((
        "virtualservices",
        json!({"apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
               "metadata": {"name": "bad", "namespace": "shop"},
               "spec": {"hosts": ["ratings"], "http": [
                   {"route": [{"destination": {"host": "ratings"}, "weight": -5}]}]}}),
    ));
    let fake = Fake::start(objects);
    let dir = temp_dir("bad");
    let kubeconfig = fake.kubeconfig(&dir);
    let out = run(&kubeconfig, &["check", "--cluster"]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}{}", text(&out.stderr));
    assert!(
        stdout.contains("cluster: error: VirtualService shop/bad: spec.http[0].route[0].weight"),
        "{stdout}"
    );
}

/// `route --cluster URL`: the request decided by what the cluster holds.
#[test]
fn route_decides_over_the_cluster() {
    let fake = Fake::start(bookinfo());
    let dir = temp_dir("route");
    let kubeconfig = fake.kubeconfig(&dir);
    let jason = run(
        &kubeconfig,
        &[
            "route",
            "--cluster",
            "http://reviews/",
            "-H",
            "end-user: jason",
            "--from",
            "shop",
            "-o",
            "json",
        ],
    );
    assert_eq!(jason.status.code(), Some(0), "{}", text(&jason.stderr));
    let answer: Value = serde_json::from_slice(&jason.stdout).expect("a JSON answer");
    assert_eq!(answer["destination"]["subset"], "v2", "{answer:#}");
    let other = run(
        &kubeconfig,
        &[
            "route",
            "--cluster",
            "http://reviews/",
            "--from",
            "shop",
            "-o",
            "json",
        ],
    );
    let answer: Value = serde_json::from_slice(&other.stdout).expect("a JSON answer");
    assert_eq!(answer["destination"]["subset"], "v1", "{answer:#}");
}

/// `--context plain` has no namespace: `default`, where the fake holds nothing; `-A` lists
/// every namespace.
#[test]
fn context_and_namespace_flags_choose_what_is_read() {
    let fake = Fake::start(bookinfo());
    let dir = temp_dir("flags");
    let kubeconfig = fake.kubeconfig(&dir);
    let out = run(&kubeconfig, &["check", "--cluster", "--context", "plain"]);
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("0 resources in the cluster (context plain, namespace default)"),
        "{stdout}{}",
        text(&out.stderr)
    );
    let out = run(
        &kubeconfig,
        &["check", "--cluster", "--context", "plain", "-A"],
    );
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("2 resources in the cluster (context plain, all namespaces)"),
        "{stdout}{}",
        text(&out.stderr)
    );
    let requests = fake.requests();
    assert!(
        requests
            .iter()
            .any(|r| r
                .starts_with("/apis/networking.istio.io/v1/namespaces/default/virtualservices?")),
        "{requests:#?}"
    );
    assert!(
        requests
            .iter()
            .any(|r| r.starts_with("/apis/networking.istio.io/v1/virtualservices?")),
        "{requests:#?}"
    );
}

/// analyze and simulate read the cluster the same way.
#[test]
fn analyze_and_simulate_read_the_cluster() {
    let fake = Fake::start(bookinfo());
    let dir = temp_dir("analyze");
    let kubeconfig = fake.kubeconfig(&dir);
    let out = run(&kubeconfig, &["analyze", "--cluster", "-o", "json"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let _: Value = serde_json::from_slice(&out.stdout).expect("analyze's JSON");
    let out = run(
        &kubeconfig,
        &["simulate", "--cluster", "--requests", "1000", "-o", "json"],
    );
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    assert!(stdout.contains("v2") && stdout.contains("v1"), "{stdout}");
}

/// No kubeconfig, an unknown context, a server that does not answer: exit 1, one line that
/// says which, never a panic.
#[test]
fn cluster_failures_exit_1_with_one_line() {
    let dir = temp_dir("fail");
    let missing = dir.join("no-such-kubeconfig");
    let out = run(&missing, &["check", "--cluster"]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.starts_with("meshroute: error: --cluster: cannot read the kubeconfig"),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");

    let fake = Fake::start(bookinfo());
    let kubeconfig = fake.kubeconfig(&dir);
    let out = run(&kubeconfig, &["check", "--cluster", "--context", "nope"]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(
            "context nope: the kubeconfig has no such context (it has: fake, plain, down)"
        ),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");

    let out = run(
        &kubeconfig,
        &["route", "--cluster", "--context", "down", "http://reviews/"],
    );
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("context down (http://127.0.0.1:"),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}
