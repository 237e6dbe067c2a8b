//! `meshroute check|analyze|route|simulate --cluster` over the real binary, against a fake API
//! server (`tests/common/fake_api.rs`): a plain HTTP/1.1 listener on 127.0.0.1 that answers the
//! list requests the way the API server does (a `…List` with `items`; a `Status` of code 404
//! for a resource it does not serve, as when a CRD is not installed), named by a kubeconfig
//! written for the test and given in `KUBECONFIG`. The fake serves Istio's kinds (a VirtualService and a
//! DestinationRule in namespace `shop`), no Gateway API kind (404), and empty lists of the
//! core kinds.
//!
//! Needs the `cli-cluster` feature: `cargo test --features cli-cluster --test cli_cluster`.

#[allow(dead_code)] // not every helper of the fake is used here
#[path = "common/fake_api.rs"]
mod fake_api;

use std::path::PathBuf;
use std::process::{Command, Output};

use fake_api::FakeApi as Fake;
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_meshroute");

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

/// A list RBAC forbids (403): the one-shot commands fail at once with exit 1 and one line
/// naming the kind, the HTTP code and the API server's message, as `kubectl get` fails
/// (`Error from server (Forbidden): virtualservices.networking.istio.io is forbidden: …`,
/// kubectl `staging/src/k8s.io/kubectl/pkg/cmd/util/helpers.go`, `StandardErrorMessage`):
/// a partial view of the cluster would check and route wrongly.
#[test]
fn a_forbidden_list_fails_with_the_api_servers_message() {
    let fake = Fake::start(bookinfo());
    fake.forbid("destinationrules");
    let dir = temp_dir("forbidden");
    let kubeconfig = fake.kubeconfig(&dir);
    for args in [
        &["check", "--cluster"][..],
        &["route", "--cluster", "http://reviews/", "--from", "shop"][..],
    ] {
        let started = std::time::Instant::now();
        let out = run(&kubeconfig, args);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(
            started.elapsed() < std::time::Duration::from_secs(10),
            "{args:?}: no retry"
        );
        let port = kubeconfig_port(&kubeconfig);
        assert_eq!(
            stderr,
            format!(
                "meshroute: error: --cluster: context fake (http://127.0.0.1:{port}/): cannot \
                 list networking.istio.io/v1 DestinationRule in namespace shop: 403 Forbidden: \
                 destinationrules.networking.istio.io is forbidden: User \
                 \"system:serviceaccount:shop:proxy\" cannot list resource \"destinationrules\" \
                 in API group \"networking.istio.io\" in the namespace \"shop\"\n"
            ),
            "{args:?}"
        );
    }
}

/// The port of the current context's server in a kubeconfig the fake wrote.
fn kubeconfig_port(kubeconfig: &std::path::Path) -> u16 {
    let text = std::fs::read_to_string(kubeconfig).expect("the kubeconfig");
    text.split("http://127.0.0.1:")
        .nth(1)
        .and_then(|rest| rest.split('\'').next())
        .and_then(|p| p.parse().ok())
        .expect("the fake's port")
}
