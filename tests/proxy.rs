//! The proxy example over real sockets: real hyper backends for reviews v1 and v2 that answer
//! their version, the proxy (examples/proxy) in front of them, and a real HTTP client. Every
//! socket is on 127.0.0.1 with a port the OS picks; every test sends a bounded number of
//! requests and stops by itself.

#[allow(dead_code)]
#[path = "../examples/proxy/admin.rs"]
mod admin;
#[allow(dead_code)]
#[path = "../examples/proxy/app.rs"]
mod app;
#[allow(dead_code)]
#[path = "../examples/proxy/forward.rs"]
mod forward;

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;

/// A backend: answers every request with its version (or with 503 when it is told to fail),
/// after an optional delay, and counts what it saw.
struct Backend {
    addr: SocketAddr,
    seen: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Backend {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn backend(version: &'static str, status: u16, delay: Duration) -> Backend {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(AtomicU64::new(0));
    let counter = Arc::clone(&seen);
    let task = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let counter = Arc::clone(&counter);
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                    let counter = Arc::clone(&counter);
                    async move {
                        counter.fetch_add(1, Ordering::Relaxed);
                        if !delay.is_zero() {
                            tokio::time::sleep(delay).await;
                        }
                        let routed_by = req
                            .headers()
                            .get("x-routed-by")
                            .map_or("", |v| v.to_str().unwrap_or(""))
                            .to_string();
                        let mut r = Response::new(Full::new(Bytes::from(version)));
                        *r.status_mut() = StatusCode::from_u16(status).unwrap();
                        r.headers_mut()
                            .insert("x-seen-routed-by", routed_by.parse().unwrap());
                        Ok::<_, Infallible>(r)
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Backend { addr, seen, task }
}

/// The routing resources: jason to v2, a redirect, a direct response, a fault abort, and
/// the rest split `v1_weight`/`100 - v1_weight`, with retries on 5xx.
fn routes(v1_weight: u32) -> String {
    format!(
        r#"apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: reviews, namespace: default}}
spec:
  hosts: [reviews]
  http:
  - name: jason
    match: [{{headers: {{end-user: {{exact: jason}}}}}}]
    route: [{{destination: {{host: reviews, subset: v2}}}}]
  - name: moved
    match: [{{uri: {{prefix: /old}}}}]
    redirect: {{uri: /new, authority: shop.example.com}}
  - name: health
    match: [{{uri: {{exact: /healthz}}}}]
    directResponse: {{status: 418, body: {{string: "short and stout"}}}}
  - name: chaos
    match: [{{headers: {{x-chaos: {{exact: abort}}}}}}]
    fault: {{abort: {{httpStatus: 555, percentage: {{value: 100}}}}}}
    route: [{{destination: {{host: reviews, subset: v1}}}}]
  - name: canary
    retries: {{attempts: 2, retryOn: 5xx}}
    headers: {{request: {{set: {{x-routed-by: meshroute}}}}}}
    route:
    - {{destination: {{host: reviews, subset: v1}}, weight: {v1_weight}}}
    - {{destination: {{host: reviews, subset: v2}}, weight: {}}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {{name: reviews, namespace: default}}
spec:
  host: reviews
  trafficPolicy: {{loadBalancer: {{simple: ROUND_ROBIN}}}}
  subsets:
  - {{name: v1, labels: {{version: v1}}}}
  - {{name: v2, labels: {{version: v2}}}}
"#,
        100 - v1_weight
    )
}

/// The endpoints: one EndpointSlice per backend (each has its own port), labelled by Pods.
fn endpoints(backends: &[(&str, &str, SocketAddr)]) -> String {
    service_endpoints("reviews", backends)
}

/// Service `service` (port 9080) with one EndpointSlice per backend, labelled by Pods.
fn service_endpoints(service: &str, backends: &[(&str, &str, SocketAddr)]) -> String {
    let mut out = format!(
        "apiVersion: v1\nkind: Service\nmetadata: {{name: {service}, namespace: default}}\n\
         spec: {{selector: {{app: {service}}}, ports: [{{name: http, port: 9080}}]}}\n",
    );
    for (pod, version, addr) in backends {
        out.push_str(&format!(
            "---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n\
             metadata: {{name: {pod}-slice, namespace: default, labels: {{kubernetes.io/service-name: {service}}}}}\n\
             addressType: IPv4\nports: [{{name: http, port: {port}, protocol: TCP}}]\n\
             endpoints:\n- addresses: [\"{ip}\"]\n  conditions: {{ready: true}}\n  targetRef: {{kind: Pod, name: {pod}, namespace: default}}\n\
             ---\napiVersion: v1\nkind: Pod\n\
             metadata: {{name: {pod}, namespace: default, labels: {{app: {service}, version: {version}}}}}\n\
             status: {{podIP: {ip}}}\n",
            port = addr.port(),
            ip = addr.ip(),
        ));
    }
    out
}

/// A directory of its own for one test's configuration, removed at the end.
struct Dir(PathBuf);

impl Dir {
    fn new(name: &str) -> Dir {
        let dir =
            std::env::temp_dir().join(format!("meshroute-proxy-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Dir(dir)
    }

    /// Writes `file` whole: written aside, then renamed, so the watcher never reads half.
    fn write(&self, file: &str, text: &str) -> PathBuf {
        let path = self.0.join(file);
        let aside = self.0.join(format!(".{file}.new"));
        std::fs::write(&aside, text).unwrap();
        std::fs::rename(&aside, &path).unwrap();
        path
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

async fn proxy(configs: Vec<PathBuf>, watch: bool) -> app::Running {
    app::start(app::Options {
        listen: "127.0.0.1:0".parse().unwrap(),
        admin: "127.0.0.1:0".parse().unwrap(),
        configs,
        namespace: "default".into(),
        labels: BTreeMap::from([("app".to_string(), "productpage".to_string())]),
        gateway: None,
        watch,
        access_log: false,
        seed: Some(7),
    })
    .await
    .unwrap()
}

type HttpClient = Client<HttpConnector, Empty<Bytes>>;

fn client() -> HttpClient {
    Client::builder(TokioExecutor::new()).build_http()
}

struct Answer {
    status: StatusCode,
    headers: http::HeaderMap,
    body: String,
}

async fn get(
    client: &HttpClient,
    proxy: SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
) -> Answer {
    send(client, proxy, "GET", "reviews", path, headers).await
}

async fn send(
    client: &HttpClient,
    proxy: SocketAddr,
    method: &str,
    host: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> Answer {
    let mut req = Request::builder()
        .method(method)
        .uri(format!("http://{proxy}{path}"))
        .header("host", host);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    // Every request is bounded: a proxy that hangs fails the test instead of stalling it.
    let (status, headers, body) = tokio::time::timeout(Duration::from_secs(20), async {
        let r = client
            .request(req.body(Empty::new()).unwrap())
            .await
            .unwrap();
        let status = r.status();
        let headers = r.headers().clone();
        (
            status,
            headers,
            r.into_body().collect().await.unwrap().to_bytes(),
        )
    })
    .await
    .unwrap_or_else(|_| panic!("{method} {path} got no answer within 20 s"));
    Answer {
        status,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

/// Sends `n` requests, `concurrency` at a time, and counts the answers by body; every answer
/// must be a 200.
async fn shares(
    client: &HttpClient,
    proxy: SocketAddr,
    n: usize,
    concurrency: usize,
) -> BTreeMap<String, u64> {
    let next = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let client = client.clone();
        let next = Arc::clone(&next);
        tasks.push(tokio::spawn(async move {
            let mut counts = BTreeMap::<String, u64>::new();
            while (next.fetch_add(1, Ordering::Relaxed) as usize) < n {
                let a = get(&client, proxy, "/reviews/1", &[]).await;
                assert_eq!(a.status, StatusCode::OK, "{}", a.body);
                *counts.entry(a.body).or_default() += 1;
            }
            counts
        }));
    }
    let mut total = BTreeMap::new();
    for t in tasks {
        for (k, v) in t.await.unwrap() {
            *total.entry(k).or_default() += v;
        }
    }
    total
}

/// Whether `k` successes of `n` at probability `p` are within the two-sided 0.1 % band of the
/// binomial distribution (normal approximation: |k - np| ≤ 3.29 σ).
fn within_binomial(k: u64, n: u64, p: f64) -> bool {
    let mean = n as f64 * p;
    let sigma = (n as f64 * p * (1.0 - p)).sqrt();
    (k as f64 - mean).abs() <= 3.29 * sigma
}

async fn metrics(client: &HttpClient, admin: SocketAddr) -> prometheus_parse::Scrape {
    let r = client
        .request(
            Request::get(format!("http://{admin}/metrics"))
                .body(Empty::new())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let text = r.into_body().collect().await.unwrap().to_bytes();
    let text = String::from_utf8(text.to_vec()).unwrap();
    prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_string()))).unwrap()
}

fn counter(scrape: &prometheus_parse::Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
    scrape
        .samples
        .iter()
        .filter(|s| s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(v)))
        .map(|s| match s.value {
            prometheus_parse::Value::Counter(v) | prometheus_parse::Value::Untyped(v) => v,
            _ => 0.0,
        })
        .sum()
}

/// The share of v1, in percent, of the split the proxy serves now (draws 0..100 of the
/// canary rule: the split picks by `draw % 100`).
fn serving_v1(p: &app::Running) -> usize {
    let router = p.state.routes.load();
    let req = meshroute::OwnedRequest::new("GET", "http://reviews/reviews/1");
    (0..100)
        .filter(|&draw| {
            let d = router.table().decide_with_draw(&req, draw);
            d.destination().and_then(|d| d.subset.as_deref()) == Some("v1")
        })
        .count()
}

async fn wait_for(what: &str, cond: impl Fn() -> bool) {
    for _ in 0..200 {
        if cond() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routes_real_traffic_to_versions_and_answers_itself() {
    let v1 = backend("v1", 200, Duration::ZERO).await;
    let v2 = backend("v2", 200, Duration::ZERO).await;
    let dir = Dir::new("traffic");
    let config = dir.write("routes.yaml", &routes(90));
    let eps = dir.write(
        "endpoints.yaml",
        &endpoints(&[("reviews-v1", "v1", v1.addr), ("reviews-v2", "v2", v2.addr)]),
    );
    let p = proxy(vec![config, eps], false).await;
    let c = client();

    // The header rule: jason always gets v2.
    for _ in 0..50 {
        let a = get(&c, p.listen, "/reviews/1", &[("end-user", "jason")]).await;
        assert_eq!((a.status, a.body.as_str()), (StatusCode::OK, "v2"));
    }

    // 10,000 requests over the 90/10 split, within the binomial tolerance; the backend sees
    // the rule's request header.
    let counts = shares(&c, p.listen, 10_000, 16).await;
    let (n1, n2) = (
        counts.get("v1").copied().unwrap_or(0),
        counts.get("v2").copied().unwrap_or(0),
    );
    assert_eq!(n1 + n2, 10_000, "{counts:?}");
    assert!(
        within_binomial(n2, 10_000, 0.10),
        "v2 got {n2} of 10000: {counts:?}"
    );
    let a = get(&c, p.listen, "/reviews/2", &[]).await;
    assert_eq!(a.headers["x-seen-routed-by"], "meshroute");

    // What the proxy answers itself never reaches a backend.
    let before = v1.seen.load(Ordering::Relaxed) + v2.seen.load(Ordering::Relaxed);
    let a = get(&c, p.listen, "/old/cart?id=7", &[]).await;
    assert_eq!(a.status, StatusCode::MOVED_PERMANENTLY);
    assert_eq!(a.headers["location"], "http://shop.example.com/new?id=7");
    let a = get(&c, p.listen, "/healthz", &[]).await;
    assert_eq!(
        (a.status.as_u16(), a.body.as_str()),
        (418, "short and stout")
    );
    let a = get(&c, p.listen, "/reviews/1", &[("x-chaos", "abort")]).await;
    assert_eq!(
        (a.status.as_u16(), a.body.as_str()),
        (555, "fault filter abort")
    );
    let after = v1.seen.load(Ordering::Relaxed) + v2.seen.load(Ordering::Relaxed);
    assert_eq!(before, after, "answers of the proxy reached a backend");

    // /metrics parses, and its per-version counts of 200s are what the backends saw.
    let m = metrics(&c, p.admin).await;
    for (version, b) in [("v1", &v1), ("v2", &v2)] {
        let counted = counter(
            &m,
            "istio_requests_total",
            &[("destination_version", version), ("response_code", "200")],
        );
        assert_eq!(counted as u64, b.seen.load(Ordering::Relaxed), "{version}");
    }
    assert_eq!(
        counter(
            &m,
            "istio_requests_total",
            &[("response_code", "555"), ("response_flags", "FI")]
        ),
        1.0
    );
    assert_eq!(
        counter(
            &m,
            "istio_requests_total",
            &[
                ("destination_service_name", "reviews"),
                ("source_app", "productpage")
            ]
        ) as u64,
        10_000 + 50 + 1 + 1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_reaches_another_endpoint_when_the_first_answers_503() {
    let bad = backend("v1-bad", 503, Duration::ZERO).await;
    let good = backend("v1", 200, Duration::ZERO).await;
    let v2 = backend("v2", 200, Duration::ZERO).await;
    let dir = Dir::new("retry");
    let config = dir.write("routes.yaml", &routes(100));
    let eps = dir.write(
        "endpoints.yaml",
        &endpoints(&[
            ("reviews-v1-a", "v1", bad.addr),
            ("reviews-v1-b", "v1", good.addr),
            ("reviews-v2", "v2", v2.addr),
        ]),
    );
    let p = proxy(vec![config, eps], false).await;
    let c = client();
    for _ in 0..40 {
        let a = get(&c, p.listen, "/reviews/1", &[]).await;
        assert_eq!((a.status, a.body.as_str()), (StatusCode::OK, "v1"));
    }
    let bad_seen = bad.seen.load(Ordering::Relaxed);
    assert!(bad_seen > 0, "round robin never tried the failing endpoint");
    assert_eq!(good.seen.load(Ordering::Relaxed), 40);
    assert_eq!(v2.seen.load(Ordering::Relaxed), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_retry_avoids_the_endpoint_already_tried() {
    // Random balancing and a single retry: a retry that could land on the failing endpoint
    // again would fail about one request in four. Istio's default policy keeps
    // `retryIgnorePreviousHosts`, so the retry goes elsewhere.
    let bad = backend("v1-bad", 503, Duration::ZERO).await;
    let good = backend("v1", 200, Duration::ZERO).await;
    let dir = Dir::new("previous-hosts");
    let config = dir.write(
        "routes.yaml",
        &routes(100)
            .replace("attempts: 2", "attempts: 1")
            .replace("ROUND_ROBIN", "RANDOM"),
    );
    let eps = dir.write(
        "endpoints.yaml",
        &endpoints(&[
            ("reviews-v1-a", "v1", bad.addr),
            ("reviews-v1-b", "v1", good.addr),
        ]),
    );
    let p = proxy(vec![config, eps], false).await;
    let c = client();
    for _ in 0..40 {
        let a = get(&c, p.listen, "/reviews/1", &[]).await;
        assert_eq!((a.status, a.body.as_str()), (StatusCode::OK, "v1"));
    }
    assert!(bad.seen.load(Ordering::Relaxed) > 0);
    assert_eq!(good.seen.load(Ordering::Relaxed), 40);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reloads_swap_the_split_in_flight_and_a_broken_file_keeps_the_old_one() {
    // A delay keeps requests in flight while the table is swapped.
    let v1 = backend("v1", 200, Duration::from_millis(2)).await;
    let v2 = backend("v2", 200, Duration::from_millis(2)).await;
    let dir = Dir::new("reload");
    let config = dir.write("routes.yaml", &routes(90));
    let eps = dir.write(
        "endpoints.yaml",
        &endpoints(&[("reviews-v1", "v1", v1.addr), ("reviews-v2", "v2", v2.addr)]),
    );
    let p = proxy(vec![config, eps], true).await;
    let c = client();
    let stats = &p.state.stats;

    // Requests keep flowing while the file changes to 50/50; none fails (shares() asserts
    // every answer is a 200).
    let background = {
        let c = c.clone();
        let listen = p.listen;
        tokio::spawn(async move { shares(&c, listen, 3_000, 8).await })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    dir.write("routes.yaml", &routes(50));
    wait_for("the reload", || serving_v1(&p) == 50).await;
    let during = background.await.unwrap();
    assert_eq!(during.values().sum::<u64>(), 3_000, "{during:?}");
    let after = shares(&c, p.listen, 2_000, 8).await;
    let n2 = after.get("v2").copied().unwrap_or(0);
    assert!(
        within_binomial(n2, 2_000, 0.5),
        "after the reload v2 got {n2} of 2000"
    );

    // Back to 90/10, then a broken file: the error is counted and 90/10 keeps serving.
    dir.write("routes.yaml", &routes(90));
    wait_for("the second reload", || serving_v1(&p) == 90).await;
    let ok = stats.reloads_ok.load(Ordering::Relaxed);
    dir.write(
        "routes.yaml",
        &routes(90).replace("weight: 90", "weight: -5"),
    );
    wait_for("the refused reload", || {
        stats.reloads_error.load(Ordering::Relaxed) >= 1
    })
    .await;
    assert_eq!(serving_v1(&p), 90);
    assert_eq!(stats.reloads_ok.load(Ordering::Relaxed), ok);
    let kept = shares(&c, p.listen, 2_000, 8).await;
    let n2 = kept.get("v2").copied().unwrap_or(0);
    assert!(
        within_binomial(n2, 2_000, 0.10),
        "after the broken reload v2 got {n2} of 2000"
    );
    // Once the files are quiet, nothing reloads (the proxy's own reads are no change).
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    assert_eq!(stats.reloads_ok.load(Ordering::Relaxed), ok);
    let errors = stats.reloads_error.load(Ordering::Relaxed);
    assert_eq!(errors, 1, "the broken file was reported {errors} times");
    let m = metrics(&c, p.admin).await;
    assert_eq!(
        counter(&m, "meshroute_config_reloads_total", &[("result", "error")]),
        1.0
    );
    assert_eq!(
        counter(&m, "meshroute_config_reloads_total", &[("result", "ok")]),
        ok as f64
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routes_page_and_a_config_that_does_not_load() {
    let v1 = backend("v1", 200, Duration::ZERO).await;
    let dir = Dir::new("words");
    let config = dir.write("routes.yaml", &routes(100));
    let eps = dir.write(
        "endpoints.yaml",
        &endpoints(&[("reviews-v1", "v1", v1.addr)]),
    );
    let p = proxy(vec![config.clone(), eps], false).await;
    // The table is put in words only when /routes asks, once: not at each (re)load.
    let held = Arc::clone(&p.state.words.lock().unwrap());
    assert!(held.rendered().is_none(), "rendered before /routes asked");
    let c = client();
    let mut pages = Vec::new();
    for _ in 0..2 {
        let r = c
            .request(
                Request::get(format!("http://{}/routes", p.admin))
                    .body(Empty::new())
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        pages.push(
            String::from_utf8(r.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap(),
        );
    }
    let rendered = held.rendered().expect("rendered for /routes");
    assert_eq!(pages[0], *rendered);
    assert_eq!(pages[1], pages[0]);
    let words = pages.remove(0);
    assert!(
        words.contains("VirtualService default/reviews rule 0 (jason)"),
        "{words}"
    );
    assert!(
        words.contains("reviews.default.svc.cluster.local subset v1"),
        "{words}"
    );
    assert!(words.contains(&format!("{}", v1.addr)), "{words}");

    // A broken configuration at start: every error names its file and field.
    let broken = dir.write(
        "broken.yaml",
        &routes(90).replace("weight: 90", "weight: -5"),
    );
    let err = match app::load(&[broken]) {
        Err(errors) => errors.join("\n"),
        Ok(_) => panic!("a negative weight loaded"),
    };
    assert!(err.contains("broken.yaml"), "{err}");
    assert!(err.contains("spec.http[4].route[0].weight"), "{err}");
    let _ = Path::new(&config);
}

/// A Gateway API route in the mesh (GAMMA: `parentRefs` the Service `cart`) splitting 50/50
/// over the Services `cart-v1` and `cart-v2`, with the Gateway API's session persistence
/// example (GEP-1619 "API").
const CART_ROUTE: &str = r#"apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: cart, namespace: default}
spec:
  parentRefs: [{kind: Service, group: "", name: cart}]
  rules:
  - matches: [{path: {type: PathPrefix, value: /cart}}]
    backendRefs: [{name: cart-v1, port: 9080, weight: 50}, {name: cart-v2, port: 9080, weight: 50}]
    sessionPersistence:
      sessionName: Session-A
      type: Cookie
      absoluteTimeout: 1h
      cookieConfig: {lifetimeType: Permanent}
"#;

/// The proxy applies the CORS answer over real HTTP: an allowed preflight is answered by the
/// proxy (Envoy `cors_filter_integration_test.cc` `TestRouteConfigSuccess`) and reaches no
/// backend; an actual request's response from the backend carries
/// `Access-Control-Allow-Origin` and credentials (`TestEncodeHeadersCredentialsAllowed`); a
/// preflight from another origin is forwarded (`TestRouteConfigBadOrigin`, Istio's default
/// `unmatchedPreflights: FORWARD`) and its response gets no CORS header.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_cors_preflights_and_adds_the_headers_to_actual_requests() {
    let v1 = backend("v1", 200, Duration::ZERO).await;
    let dir = Dir::new("cors");
    let config = dir.write(
        "routes.yaml",
        &routes(100).replace(
            "  - name: canary\n",
            "  - name: canary\n    corsPolicy: {allowOrigins: [{regex: \"https://.*\\\\.example\\\\.com\"}], \
             allowMethods: [GET, POST], maxAge: 24h, allowCredentials: true}\n",
        ),
    );
    let eps = dir.write(
        "endpoints.yaml",
        &endpoints(&[("reviews-v1", "v1", v1.addr)]),
    );
    let p = proxy(vec![config, eps], false).await;
    let c = client();
    let origin = ("origin", "https://app.example.com");

    let a = send(
        &c,
        p.listen,
        "OPTIONS",
        "reviews",
        "/reviews/1",
        &[origin, ("access-control-request-method", "POST")],
    )
    .await;
    assert_eq!((a.status, a.body.as_str()), (StatusCode::OK, ""));
    assert_eq!(
        a.headers["access-control-allow-origin"],
        "https://app.example.com"
    );
    assert_eq!(a.headers["access-control-allow-methods"], "GET,POST");
    assert_eq!(a.headers["access-control-max-age"], "86400");
    assert_eq!(a.headers["access-control-allow-credentials"], "true");
    assert_eq!(
        v1.seen.load(Ordering::Relaxed),
        0,
        "the preflight reached the backend"
    );

    let a = get(&c, p.listen, "/reviews/1", &[origin]).await;
    assert_eq!((a.status, a.body.as_str()), (StatusCode::OK, "v1"));
    assert_eq!(
        a.headers["access-control-allow-origin"],
        "https://app.example.com"
    );
    assert_eq!(a.headers["access-control-allow-credentials"], "true");
    assert!(!a.headers.contains_key("access-control-allow-methods"));
    assert_eq!(v1.seen.load(Ordering::Relaxed), 1);

    let a = send(
        &c,
        p.listen,
        "OPTIONS",
        "reviews",
        "/reviews/1",
        &[
            ("origin", "https://app.example.org"),
            ("access-control-request-method", "POST"),
        ],
    )
    .await;
    assert_eq!((a.status, a.body.as_str()), (StatusCode::OK, "v1"));
    assert!(!a.headers.contains_key("access-control-allow-origin"));
    assert_eq!(v1.seen.load(Ordering::Relaxed), 2);
}

/// The proxy applies the session answer over real HTTP: a new session's response carries the
/// `Set-Cookie` Envoy's cookie session state writes (GEP-1619: `Max-Age` from a `Permanent`
/// cookie's `absoluteTimeout`, `Path` from the rule's prefix), and every later request with
/// that cookie reaches the same backend, while requests without it are split; a pinned
/// request gets no new cookie (Envoy writes one only for another host).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_cookie_keeps_requests_on_one_backend() {
    let v1 = backend("v1", 200, Duration::ZERO).await;
    let v2 = backend("v2", 200, Duration::ZERO).await;
    let dir = Dir::new("session");
    let config = dir.write("routes.yaml", CART_ROUTE);
    let mut eps = String::from(
        "apiVersion: v1\nkind: Service\nmetadata: {name: cart, namespace: default}\n\
         spec: {selector: {app: cart}, ports: [{name: http, port: 9080}]}\n---\n",
    );
    eps.push_str(&service_endpoints("cart-v1", &[("cart-v1", "v1", v1.addr)]));
    eps.push_str("---\n");
    eps.push_str(&service_endpoints("cart-v2", &[("cart-v2", "v2", v2.addr)]));
    let eps = dir.write("endpoints.yaml", &eps);
    let p = proxy(vec![config, eps], false).await;
    let c = client();

    let first = send(&c, p.listen, "GET", "cart", "/cart/items", &[]).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    let set_cookie = first.headers["set-cookie"].to_str().unwrap().to_string();
    assert!(set_cookie.starts_with("Session-A=\""), "{set_cookie}");
    assert!(
        set_cookie.ends_with("; Max-Age=3600; Path=/cart; HttpOnly"),
        "{set_cookie}"
    );
    let value = set_cookie
        .strip_prefix("Session-A=")
        .and_then(|v| v.split(';').next())
        .unwrap();
    let cookie = format!("Session-A={value}");
    let pinned = first.body.clone();
    for _ in 0..30 {
        let a = send(
            &c,
            p.listen,
            "GET",
            "cart",
            "/cart/items",
            &[("cookie", &cookie)],
        )
        .await;
        assert_eq!((a.status, &a.body), (StatusCode::OK, &pinned));
        assert!(
            !a.headers.contains_key("set-cookie"),
            "a pinned request got a new cookie"
        );
    }
    // Without the cookie the split sends requests to both backends.
    let mut bodies = std::collections::BTreeSet::new();
    for _ in 0..30 {
        let a = send(&c, p.listen, "GET", "cart", "/cart/items", &[]).await;
        assert!(a.headers.contains_key("set-cookie"));
        bodies.insert(a.body);
    }
    assert_eq!(bodies.len(), 2, "{bodies:?}");
}

/// DestinationRule `consistentHash.httpCookie` with a `ttl`: a request without the cookie is
/// placed by the hash of a generated one, and the upstream's answer carries it as
/// `Set-Cookie` (Envoy router.cc `addDownstreamSetCookie`, hash_policy.cc `CookieHashMethod`);
/// every later request with that cookie reaches the same endpoint, and gets no new cookie.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hash_cookie_with_a_ttl_is_set_and_pins_the_endpoint() {
    let v1 = backend("v1", 200, Duration::ZERO).await;
    let v2 = backend("v2", 200, Duration::ZERO).await;
    let dir = Dir::new("hash-cookie");
    let config = dir.write(
        "routes.yaml",
        "apiVersion: networking.istio.io/v1\nkind: DestinationRule\n\
         metadata: {name: ratings, namespace: default}\n\
         spec:\n  host: ratings\n  trafficPolicy:\n    loadBalancer:\n      consistentHash:\n        \
         httpCookie: {name: user, path: /, ttl: 60s}\n",
    );
    let eps = dir.write(
        "endpoints.yaml",
        &service_endpoints(
            "ratings",
            &[("ratings-a", "v1", v1.addr), ("ratings-b", "v2", v2.addr)],
        ),
    );
    let p = proxy(vec![config, eps], false).await;
    let c = client();
    let first = send(&c, p.listen, "GET", "ratings", "/r", &[]).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    let set_cookie = first.headers["set-cookie"].to_str().unwrap().to_string();
    assert!(set_cookie.starts_with("user=\""), "{set_cookie}");
    assert!(
        set_cookie.ends_with("; Max-Age=60; Path=/; HttpOnly"),
        "{set_cookie}"
    );
    let value = set_cookie.split(';').next().unwrap().to_string();
    for _ in 0..20 {
        let a = send(&c, p.listen, "GET", "ratings", "/r", &[("cookie", &value)]).await;
        assert_eq!((a.status, &a.body), (StatusCode::OK, &first.body));
        assert!(!a.headers.contains_key("set-cookie"));
    }
    // Without the cookie each request gets a cookie of its own, and both endpoints serve.
    let mut bodies = std::collections::BTreeSet::new();
    for _ in 0..40 {
        let a = send(&c, p.listen, "GET", "ratings", "/r", &[]).await;
        assert!(a.headers.contains_key("set-cookie"));
        bodies.insert(a.body);
    }
    assert_eq!(bodies.len(), 2, "{bodies:?}");
}
