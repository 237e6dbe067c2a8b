//! The proxy example's binary with `--cluster`, against the fake API server of
//! `tests/common/fake_api.rs` named by a kubeconfig in `KUBECONFIG`: the fake lists a
//! VirtualService, a DestinationRule, a Service, its EndpointSlices and Pods in namespace
//! `shop`, pointing at two real backends on 127.0.0.1 (reviews v1 and v2, each answering its
//! version); a real HTTP request goes through the proxy, then the VirtualService changes through
//! the fake's watch and the next requests follow it. Every socket is on 127.0.0.1 with a port the
//! OS picks.
//!
//! It runs the example binary cargo builds beside the tests (`cargo test --all-features` builds
//! every example first); alone: `cargo build --example proxy --features k8s-v1_33 && cargo test
//! --features k8s-v1_33 --test proxy_cluster`.

#[allow(dead_code)] // not every helper of the fake is used here
#[path = "common/fake_api.rs"]
mod fake_api;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use fake_api::FakeApi;
use serde_json::{Value, json};

/// The example binary: `target/<profile>/examples/proxy`, beside this test's `deps`.
fn proxy_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("the test's path");
    let profile = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("the test binary lives in target/<profile>/deps");
    let bin = profile
        .join("examples")
        .join(format!("proxy{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.exists(),
        "{} is not built: run `cargo build --example proxy --features k8s-v1_33` first (a \
         whole `cargo test --all-features` builds it)",
        bin.display()
    );
    bin
}

/// A backend answering every request with `version` (HTTP/1.1, keep-alive), on a thread.
fn backend(version: &'static str) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a free port");
    let addr = listener.local_addr().expect("a bound address");
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || answer_version(stream, version));
        }
    });
    addr
}

fn answer_version(stream: TcpStream, version: &str) {
    let mut reader = BufReader::new(stream.try_clone().expect("a second handle"));
    let mut writer = stream;
    loop {
        let mut length = 0usize;
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
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
            if let Some((name, value)) = header.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let response = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n{version}",
            version.len()
        );
        if writer.write_all(response.as_bytes()).is_err() {
            return;
        }
    }
}

/// `GET path` with `Host: host` on `addr`, one connection: the status and the body.
fn get(addr: SocketAddr, host: &str, path: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).expect("the proxy accepts");
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .expect("a timeout");
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .expect("the request is sent");
    let mut text = String::new();
    stream
        .read_to_string(&mut text)
        .unwrap_or_else(|e| panic!("GET {host}{path}: no whole answer: {e}\n{text}"));
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP answer: {text:?}"));
    let body = text
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_string();
    (status, body)
}

/// The proxy process, killed when the test ends; its stderr lines arrive on `lines`.
struct Proxy {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
    listen: SocketAddr,
    admin: SocketAddr,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Proxy {
    /// Runs the proxy and waits until it says where it listens.
    fn start(kubeconfig: &std::path::Path, args: &[&str]) -> Proxy {
        let mut proxy = Proxy::spawn(kubeconfig, args);
        proxy.wait_for_listening();
        proxy
    }

    /// Runs the proxy.
    fn spawn(kubeconfig: &std::path::Path, args: &[&str]) -> Proxy {
        let mut child = Command::new(proxy_binary())
            .args([
                "--listen",
                "127.0.0.1:0",
                "--admin",
                "127.0.0.1:0",
                "--quiet",
            ])
            .args(args)
            .env("KUBECONFIG", kubeconfig)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the proxy example runs");
        let stderr = child.stderr.take().expect("a piped stderr");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { return };
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        Proxy {
            child,
            lines,
            seen: Vec::new(),
            listen: "127.0.0.1:0".parse().unwrap(),
            admin: "127.0.0.1:0".parse().unwrap(),
        }
    }

    /// Waits until the proxy says where it listens (once the first table is built).
    fn wait_for_listening(&mut self) {
        let line = self.wait_for_line("listening on");
        let addrs: Vec<SocketAddr> = line
            .split([' ', ','])
            .filter_map(|w| w.parse().ok())
            .collect();
        assert_eq!(addrs.len(), 2, "{line}");
        (self.listen, self.admin) = (addrs[0], addrs[1]);
    }

    /// The first stderr line (from the start) that contains `text`, waiting up to 30 s.
    fn wait_for_line(&mut self, text: &str) -> String {
        if let Some(line) = self.seen.iter().find(|l| l.contains(text)) {
            return line.clone();
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if line.contains(text) {
                        return line;
                    }
                }
                Err(_) => panic!(
                    "the proxy never said {text:?}; it said:\n{}",
                    self.seen.join("\n")
                ),
            }
        }
    }

    /// Polls `GET http://reviews/` until its body is `want` (20 s at most).
    fn until_reviews_answers(&mut self, want: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut last = (0, String::new());
        while Instant::now() < deadline {
            last = get(self.listen, "reviews", "/");
            if last == (200, want.to_string()) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        while let Ok(line) = self.lines.try_recv() {
            self.seen.push(line);
        }
        panic!(
            "reviews never answered {want:?} (last {last:?}); the proxy said:\n{}",
            self.seen.join("\n")
        );
    }
}

/// Everything goes to `version`.
fn virtual_service(version: &str) -> Value {
    json!({"apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
           "metadata": {"name": "reviews", "namespace": "shop"},
           "spec": {"hosts": ["reviews"], "http": [
               {"route": [{"destination": {"host": "reviews", "subset": version}}]}]}})
}

/// The routing resources, the Service `reviews` (port 9080), and per backend an
/// EndpointSlice (its own port, named as the Service's) and the Pod that labels it.
fn cluster(backends: &[(&str, SocketAddr)]) -> Vec<(&'static str, Value)> {
    let mut objects = vec![
        ("virtualservices", virtual_service("v1")),
        (
            "destinationrules",
            json!({"apiVersion": "networking.istio.io/v1", "kind": "DestinationRule",
                   "metadata": {"name": "reviews", "namespace": "shop"},
                   "spec": {"host": "reviews", "subsets": [
                       {"name": "v1", "labels": {"version": "v1"}},
                       {"name": "v2", "labels": {"version": "v2"}}]}}),
        ),
        (
            "services",
            json!({"metadata": {"name": "reviews", "namespace": "shop"},
                   "spec": {"selector": {"app": "reviews"},
                            "ports": [{"name": "http", "port": 9080}]}}),
        ),
    ];
    for (version, addr) in backends {
        let pod = format!("reviews-{version}");
        objects.push((
            "endpointslices",
            json!({"metadata": {"name": pod, "namespace": "shop",
                                "labels": {"kubernetes.io/service-name": "reviews"}},
                   "addressType": "IPv4",
                   "ports": [{"name": "http", "port": addr.port(), "protocol": "TCP"}],
                   "endpoints": [{"addresses": [addr.ip().to_string()],
                                  "conditions": {"ready": true},
                                  "targetRef": {"kind": "Pod", "name": pod, "namespace": "shop"}}]}),
        ));
        objects.push((
            "pods",
            json!({"metadata": {"name": pod, "namespace": "shop",
                                "labels": {"app": "reviews", "version": version}},
                   "status": {"podIP": addr.ip().to_string()}}),
        ));
    }
    objects
}

/// A directory for one test's kubeconfig, removed when the test ends.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn temp_dir(name: &str) -> TempDir {
    let dir = std::env::temp_dir().join(format!(
        "meshroute-proxy-cluster-{}-{name}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    TempDir(dir)
}

/// The proxy serves from what the cluster holds, follows a VirtualService change through the
/// watch, keeps serving when a resource turns invalid, and says on `/routes` what each kind's
/// watch read and what was rejected and why.
#[test]
fn follows_the_cluster_and_routes_real_requests() {
    let v1 = backend("v1");
    let v2 = backend("v2");
    let fake = FakeApi::start(cluster(&[("v1", v1), ("v2", v2)]));
    let dir = temp_dir("follow");
    let kubeconfig = fake.kubeconfig(&dir.0);
    let mut proxy = Proxy::start(&kubeconfig, &["--cluster"]);
    // It waited for the first table, and says from where (the context's namespace).
    proxy.wait_for_line(
        "waiting for the first table from the cluster (context fake, namespace shop)",
    );
    proxy.wait_for_line("first table from the cluster");

    // A real request through the proxy reaches the endpoint of the EndpointSlice the Pod
    // labels v1.
    assert_eq!(get(proxy.listen, "reviews", "/"), (200, "v1".into()));

    // Namespaced kinds are listed and watched in shop; the watch is how the change arrives.
    let requests = fake.requests();
    assert!(
        requests.iter().any(|r| r
            .starts_with("/apis/networking.istio.io/v1/namespaces/shop/virtualservices?")
            && r.contains("watch=true")),
        "{requests:#?}"
    );

    // The VirtualService moves to v2 through the watch: the next requests follow.
    fake.apply("virtualservices", virtual_service("v2"));
    proxy.until_reviews_answers("v2");
    proxy.wait_for_line("table rebuilt from the cluster");

    // An invalid VirtualService is left out and said why; the rest still serves.
    fake.apply(
        "virtualservices",
        json!({"apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
               "metadata": {"name": "bad", "namespace": "shop"},
               "spec": {"hosts": ["ratings"], "http": [
                   {"route": [{"destination": {"host": "ratings"}, "weight": -5}]}]}}),
    );
    let rejected = proxy.wait_for_line("proxy: rejected cluster: VirtualService shop/bad");
    assert!(
        rejected.contains("spec.http[0].route[0].weight"),
        "{rejected}"
    );
    assert_eq!(get(proxy.listen, "reviews", "/"), (200, "v2".into()));

    // /routes: the cluster's status first, then the table and the endpoints.
    let (status, routes) = get(proxy.admin, "admin", "/routes");
    assert_eq!(status, 200, "{routes}");
    for want in [
        "cluster (context fake, namespace shop)",
        "listed    networking.istio.io/v1 VirtualService (2 objects)",
        "listed    networking.istio.io/v1 DestinationRule (1 object)",
        "listed    discovery.k8s.io/v1 EndpointSlice (2 objects)",
        "skipped   the cluster does not serve gateway.networking.k8s.io/v1 HTTPRoute",
        "rejected  cluster: VirtualService shop/bad: spec.http[0].route[0].weight",
        &format!("reviews.shop.svc.cluster.local  {v2}  app=reviews,version=v2"),
    ] {
        assert!(routes.contains(want), "{want:?} not in\n{routes}");
    }
}

/// `--cluster` and CONFIG files together are a usage error (exit 2), as is `-A` without
/// `--cluster`.
#[test]
fn cluster_and_files_are_a_usage_error() {
    for (args, want) in [
        (
            &["--cluster", "examples/proxy.yaml"][..],
            "the argument '--cluster' cannot be used with '[CONFIG]...'",
        ),
        (
            &["-A", "examples/proxy.yaml"][..],
            "--context and -A (--all-namespaces) need --cluster",
        ),
    ] {
        let mut child = Command::new(proxy_binary())
            .args(["--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0"])
            .args(args)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the proxy example runs");
        // A proxy that takes the arguments serves until it is stopped: fail, not hang.
        let deadline = Instant::now() + Duration::from_secs(10);
        while child.try_wait().expect("the proxy's status").is_none() {
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("{args:?} was not refused");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let out = child.wait_with_output().expect("the proxy's output");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(want), "{args:?}: {stderr}");
    }
}

/// A list RBAC forbids (403): the proxy takes no traffic, as istiod waits for every
/// informer's cache sync (`pilot/pkg/bootstrap/server.go`, `waitForCacheSync`), and says on
/// stderr, while it waits, which kind failed, the HTTP code and the API server's message, as
/// client-go's reflector logs `failed to list` (`tools/cache/reflector.go`). Once the role is
/// granted, the retried list succeeds and the proxy serves.
#[test]
fn a_forbidden_list_is_logged_while_the_proxy_waits() {
    let v1 = backend("v1");
    let fake = FakeApi::start(cluster(&[("v1", v1)]));
    fake.forbid("destinationrules");
    let dir = temp_dir("forbidden");
    let kubeconfig = fake.kubeconfig(&dir.0);
    let mut proxy = Proxy::spawn(&kubeconfig, &["--cluster"]);
    let line = proxy.wait_for_line("DestinationRule");
    assert_eq!(
        line,
        "proxy: cluster: networking.istio.io/v1 DestinationRule: list: 403 Forbidden: \
         destinationrules.networking.istio.io is forbidden: User \
         \"system:serviceaccount:shop:proxy\" cannot list resource \"destinationrules\" in API \
         group \"networking.istio.io\" in the namespace \"shop\" (retrying)"
    );
    assert!(
        !proxy
            .seen
            .iter()
            .any(|l| l.contains("first table from the cluster:")),
        "{:#?}",
        proxy.seen
    );
    fake.permit("destinationrules");
    proxy.wait_for_listening();
    assert_eq!(get(proxy.listen, "reviews", "/"), (200, "v1".into()));
}

/// The admin port is bound at start, as Envoy's is: until the first table `/routes` answers
/// 503 with the cluster's status (what has listed, what has not and its last error, what is
/// not served), as Envoy's `/ready` answers 503 until its first routes are initialized
/// (Envoy `source/server/admin/server_info_handler.cc`, `handlerReady`); then 200 with the
/// status and the table.
#[test]
fn the_admin_port_answers_503_with_the_status_until_the_first_table() {
    let v1 = backend("v1");
    let fake = FakeApi::start(cluster(&[("v1", v1)]));
    fake.forbid("destinationrules");
    let dir = temp_dir("admin");
    let kubeconfig = fake.kubeconfig(&dir.0);
    let mut proxy = Proxy::spawn(&kubeconfig, &["--cluster"]);
    let line = proxy.wait_for_line("admin on");
    let admin: SocketAddr = line
        .split([' ', ';'])
        .find_map(|w| w.parse().ok())
        .unwrap_or_else(|| panic!("no address in {line:?}"));
    proxy.wait_for_line("DestinationRule: list: 403 Forbidden");
    let (status, routes) = get(admin, "admin", "/routes");
    assert_eq!(status, 503, "{routes}");
    for want in [
        "cluster (context fake, namespace shop): 0 tables built",
        "listed    networking.istio.io/v1 VirtualService (1 object)",
        "listing   networking.istio.io/v1 DestinationRule (last error: list: 403 Forbidden: \
         destinationrules.networking.istio.io is forbidden: User",
        "skipped   the cluster does not serve gateway.networking.k8s.io/v1 HTTPRoute",
        "no table yet",
    ] {
        assert!(routes.contains(want), "{want:?} not in\n{routes}");
    }
    let (status, _) = get(admin, "admin", "/metrics");
    assert_eq!(status, 200);

    fake.permit("destinationrules");
    proxy.wait_for_listening();
    assert_eq!(proxy.admin, admin, "the same admin port");
    let (status, routes) = get(admin, "admin", "/routes");
    assert_eq!(status, 200, "{routes}");
    for want in [
        "cluster (context fake, namespace shop): 1 tables built",
        "listed    networking.istio.io/v1 DestinationRule (1 object)",
        "VirtualService shop/reviews rule 0",
    ] {
        assert!(routes.contains(want), "{want:?} not in\n{routes}");
    }
}
