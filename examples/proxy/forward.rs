//! The inner service behind the route layer: picks the endpoint of the version routing chose
//! with the registry's load balancer, connects to its address and EndpointSlice port (as
//! kube-proxy would), retries as the library answers (`Decision::retry_after`, the next
//! endpoint from `Router::pick_retry`), sends mirrors, and gives
//! the answer back.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::header::{HOST, HeaderMap, HeaderValue};
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use meshroute::registry::{EndpointPick, Pick, Router};
use meshroute::retry::{RetryReason, UpstreamResult};
use meshroute::tower::{Decided, ResponseFlags};

/// Where the request went, in the response's extensions (for the access log and metrics).
#[derive(Clone, Debug)]
pub struct Upstream {
    /// `address:port` of the last endpoint tried.
    pub address: String,
    /// Envoy's cluster name, `outbound|PORT|subset|host`.
    pub cluster: String,
    /// The destination Service host.
    pub service: String,
    /// The endpoint's `version` label (`unknown` without one), Istio's `destination_version`.
    pub version: String,
    /// The endpoint's `app` label (`unknown` without one).
    pub app: String,
    /// Whether the last try got an answer from the endpoint.
    pub responded: bool,
    /// Tries made.
    pub tries: u32,
}

/// Counts a request in flight to an endpoint (least request) until it is dropped, also when
/// the try is abandoned (a timeout, a client gone).
struct InFlight<'r> {
    router: &'r Router,
    pick: EndpointPick<'r>,
}

impl<'r> InFlight<'r> {
    fn start(router: &'r Router, pick: EndpointPick<'r>) -> InFlight<'r> {
        router.started(&pick);
        InFlight { router, pick }
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.router.finished(&self.pick);
    }
}

/// Forwards decided requests.
#[derive(Clone)]
pub struct Forwarder {
    client: Client<HttpConnector, Full<Bytes>>,
    draws: Arc<AtomicU64>,
    /// The start of the clock that outlier detection's ejections are timed on.
    epoch: std::time::Instant,
}

/// The largest response body the proxy buffers.
const MAX_RESPONSE: usize = 64 << 20;

/// Headers that belong to one connection, never forwarded (RFC 9110 §7.6.1).
const HOP_BY_HOP: [&str; 7] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
];

impl Forwarder {
    /// A forwarder with a pooled HTTP/1.1 client.
    pub fn new(seed: Option<u64>) -> Forwarder {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(Duration::from_secs(5)));
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .build(connector);
        Forwarder {
            client,
            epoch: std::time::Instant::now(),
            draws: Arc::new(AtomicU64::new(seed.unwrap_or_else(|| {
                std::hash::BuildHasher::hash_one(
                    &std::collections::hash_map::RandomState::new(),
                    0x5eed_u64,
                )
            }))),
        }
    }

    /// A draw for a retry or a mirror (the first try uses the decision's own).
    fn draw(&self) -> u64 {
        let x = self
            .draws
            .fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed);
        let mut z = x;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = Result<T, Infallible>> + Send>>;

impl tower::Service<Request<Bytes>> for Forwarder {
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = BoxFuture<Self::Response>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<Bytes>) -> Self::Future {
        let this = self.clone();
        Box::pin(async move { Ok(this.forward(req).await) })
    }
}

/// How one try ended.
enum Try {
    Answered(Response<Full<Bytes>>),
    ConnectFailure,
    Reset,
    Timeout,
}

impl Forwarder {
    async fn forward(&self, req: Request<Bytes>) -> Response<Full<Bytes>> {
        let Some(decided) = req.extensions().get::<Decided<Router>>().cloned() else {
            return local(StatusCode::INTERNAL_SERVER_ERROR, "no decision", None);
        };
        let router = decided.routes();
        let decision = decided.decision();
        let forward = decision.forward();
        // The first try's timeout: the policy's per-try timeout (the mesh default route has
        // Istio's default policy), else the Gateway API's `backendRequest`; later tries take
        // theirs from the retry verdict.
        let mut per_try = decision
            .retries()
            .and_then(|r| r.per_try_timeout)
            .or(forward.and_then(|f| f.backend_timeout));

        let mirror_timeout = forward
            .and_then(|f| f.timeout)
            .unwrap_or(Duration::from_secs(15));
        for mirror in decision.mirrors() {
            if let Pick::Endpoint(p) =
                router.pick_destination(&mirror.destination, &req, self.draw())
            {
                let copy = upstream_request(&req, &p, true);
                let client = self.client.clone();
                tokio::spawn(async move {
                    // Fire and forget: the mirror's answer is read and dropped, within the
                    // route's timeout.
                    let _ = tokio::time::timeout(mirror_timeout, async move {
                        if let Ok(r) = client.request(copy).await {
                            let _ = r.into_body().collect().await;
                        }
                    })
                    .await;
                });
            }
        }

        let started = std::time::Instant::now();
        let first = router.pick(&decision, &req, decided.draw());
        let mut pick = match first {
            Pick::Endpoint(p) => p,
            Pick::Overflow => {
                return local(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "upstream connect error or disconnect/reset before headers. reset reason: overflow",
                    Some(ResponseFlags::UPSTREAM_OVERFLOW),
                );
            }
            _ => return no_healthy(),
        };
        let mut tried = Vec::new();
        let mut upstream;
        let mut last;
        let mut limit_exceeded = false;
        let mut attempt = 1;
        loop {
            tried.push(pick.endpoint);
            let mut up = describe(&pick, &decision);
            up.tries = attempt;
            let request = upstream_request(&req, &pick, false);
            let in_flight = InFlight::start(router, pick);
            // The per-try timeout covers the whole answer, body included.
            let call = async {
                match self.client.request(request).await {
                    Err(e) if e.is_connect() => Try::ConnectFailure,
                    Err(_) => Try::Reset,
                    Ok(r) => {
                        let (mut parts, body) = r.into_parts();
                        match http_body_util::Limited::new(body, MAX_RESPONSE)
                            .collect()
                            .await
                        {
                            Ok(body) => {
                                strip_hop_by_hop(&mut parts.headers);
                                Try::Answered(Response::from_parts(
                                    parts,
                                    Full::new(body.to_bytes()),
                                ))
                            }
                            Err(_) => Try::Reset,
                        }
                    }
                }
            };
            last = match per_try {
                Some(t) => tokio::time::timeout(t, call).await.unwrap_or(Try::Timeout),
                None => call.await,
            };
            drop(in_flight);
            // Outlier detection counts each try's result (a connect failure or reset as 503, a
            // timeout as 504, as Envoy maps them).
            let status = match &last {
                Try::Answered(r) => r.status().as_u16(),
                Try::ConnectFailure | Try::Reset => 503,
                Try::Timeout => 504,
            };
            router.report_status(&pick, status, self.epoch.elapsed());
            up.responded = matches!(last, Try::Answered(_));
            upstream = Some(up);
            // The library answers what Envoy's router does next: retry or not, the backoff,
            // the next try's timeout and which endpoints to avoid.
            let Some(verdict) =
                decision.retry_after(&result_of(&last), attempt, started.elapsed(), self.draw())
            else {
                break;
            };
            limit_exceeded = verdict.reason == RetryReason::RetryLimitExceeded;
            if !verdict.retry {
                break;
            }
            tokio::time::sleep(verdict.backoff).await;
            per_try = verdict.per_try_timeout;
            match router
                .pick_retry(&decision, &req, self.draw(), &verdict, &tried)
                .endpoint()
            {
                Some(p) => pick = p,
                None => break,
            }
            attempt += 1;
        }
        let mut response = match last {
            Try::Answered(mut r) => {
                // A consistent hash on a cookie with a `ttl` that the request lacked: the
                // cookie its pick was hashed by, so that the next request sticks (Envoy adds
                // it to the upstream's response).
                for cookie in router.set_cookies_for(&decision, &first, &req) {
                    if let Ok(v) = HeaderValue::from_str(&cookie) {
                        r.headers_mut().append(http::header::SET_COOKIE, v);
                    }
                }
                r
            }
            Try::ConnectFailure => local(
                StatusCode::SERVICE_UNAVAILABLE,
                "upstream connect error or disconnect/reset before headers. reset reason: connection failure",
                Some(ResponseFlags::UPSTREAM_CONNECTION_FAILURE),
            ),
            Try::Reset => local(
                StatusCode::SERVICE_UNAVAILABLE,
                "upstream connect error or disconnect/reset before headers. reset reason: connection termination",
                Some(ResponseFlags::UPSTREAM_REMOTE_RESET),
            ),
            Try::Timeout => local(
                StatusCode::GATEWAY_TIMEOUT,
                "upstream request timeout",
                Some(ResponseFlags::UPSTREAM_REQUEST_TIMEOUT),
            ),
        };
        if limit_exceeded {
            let flags = response
                .extensions()
                .get::<ResponseFlags>()
                .copied()
                .unwrap_or_default();
            response
                .extensions_mut()
                .insert(flags.union(ResponseFlags::UPSTREAM_RETRY_LIMIT_EXCEEDED));
        }
        if let Some(up) = upstream {
            response.extensions_mut().insert(up);
        }
        response
    }
}

/// A try's end as the library reads it: an answer by its status, `grpc-status` and
/// `x-envoy-ratelimited`; a failed connection; a reset after the request was sent; a per-try
/// timeout.
fn result_of(last: &Try) -> UpstreamResult {
    match last {
        Try::Answered(resp) => UpstreamResult::Response {
            status: resp.status().as_u16(),
            grpc_status: grpc_status(resp.headers()),
            rate_limited: resp.headers().contains_key("x-envoy-ratelimited"),
        },
        Try::ConnectFailure => UpstreamResult::ConnectFailure,
        Try::Reset => UpstreamResult::reset(true),
        Try::Timeout => UpstreamResult::PerTryTimeout,
    }
}

/// The answer's `grpc-status`, when it carries one.
fn grpc_status(headers: &HeaderMap) -> Option<u32> {
    headers
        .get("grpc-status")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
}

/// The request sent to `pick`'s endpoint: same method, path and headers (the route layer has
/// applied the rewrites and header operations), to the endpoint's address and port. A
/// mirror's copy gets `-shadow` appended to its host, as Envoy marks shadow traffic.
fn upstream_request(
    req: &Request<Bytes>,
    pick: &EndpointPick<'_>,
    shadow: bool,
) -> Request<Full<Bytes>> {
    let e = pick.endpoint;
    let address = if e.address.contains(':') {
        format!("[{}]:{}", e.address, e.port)
    } else {
        format!("{}:{}", e.address, e.port)
    };
    let pq = req.uri().path_and_query().map_or("/", |p| p.as_str());
    let uri = format!("http://{address}{pq}");
    let mut builder = Request::builder()
        .method(req.method().clone())
        .uri(uri)
        .version(http::Version::HTTP_11);
    if let Some(h) = builder.headers_mut() {
        h.clone_from(req.headers());
        strip_hop_by_hop(h);
        h.insert("x-forwarded-proto", HeaderValue::from_static("http"));
        if shadow && let Some(host) = h.get(HOST).and_then(|v| v.to_str().ok()) {
            let shadowed = match host.rsplit_once(':') {
                Some((name, port)) if port.parse::<u16>().is_ok() => {
                    format!("{name}-shadow:{port}")
                }
                _ => format!("{host}-shadow"),
            };
            if let Ok(v) = HeaderValue::try_from(shadowed) {
                h.insert(HOST, v);
            }
        }
    }
    builder
        .body(Full::new(req.body().clone()))
        .unwrap_or_else(|_| Request::new(Full::new(Bytes::new())))
}

fn strip_hop_by_hop(headers: &mut HeaderMap) {
    for name in HOP_BY_HOP {
        headers.remove(name);
    }
}

/// The upstream as the access log and metrics name it.
fn describe(pick: &EndpointPick<'_>, decision: &meshroute::Decision<'_>) -> Upstream {
    let e = pick.endpoint;
    let (host, subset) = match pick.cluster.split_once('/') {
        Some((h, s)) => (h, s),
        None => (pick.cluster, ""),
    };
    let port = decision.port.unwrap_or(e.port);
    let label = |k: &str| e.labels.get(k).cloned().unwrap_or_else(|| "unknown".into());
    Upstream {
        address: format!("{}:{}", e.address, e.port),
        cluster: format!("outbound|{port}|{subset}|{host}"),
        service: host.to_string(),
        version: label("version"),
        app: label("app"),
        responded: false,
        tries: 1,
    }
}

/// 503 with Envoy's `no healthy upstream`, flag `UH`.
fn no_healthy() -> Response<Full<Bytes>> {
    local(
        StatusCode::SERVICE_UNAVAILABLE,
        "no healthy upstream",
        Some(ResponseFlags::NO_HEALTHY_UPSTREAM),
    )
}

/// A response of the proxy's own, with its flags.
fn local(
    status: StatusCode,
    body: &'static str,
    flags: Option<ResponseFlags>,
) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *r.status_mut() = status;
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain"),
    );
    if let Some(f) = flags {
        r.extensions_mut().insert(f);
    }
    r
}
