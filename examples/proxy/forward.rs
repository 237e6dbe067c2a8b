//! The inner service behind the route layer: picks the endpoint of the version routing chose
//! with the registry's load balancer, connects to its address and EndpointSlice port (as
//! kube-proxy would), retries as the rule says on another endpoint, sends mirrors, and gives
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
use meshroute::action::Retries;
use meshroute::registry::{EndpointPick, Pick, Router};
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
        // The mesh default route carries Istio's default retry policy too.
        let passthrough_retries;
        let retries: Option<&Retries> = match decision.outcome {
            meshroute::Outcome::Passthrough => {
                passthrough_retries = Retries::mesh_default();
                Some(&passthrough_retries)
            }
            _ => forward.and_then(|f| f.retries.as_deref()),
        };
        let per_try = retries
            .and_then(|r| r.per_try_timeout)
            .or(forward.and_then(|f| f.backend_timeout));
        let attempts = 1 + retries.map_or(0, |r| r.attempts);
        let avoid_previous = retries.is_some_and(|r| r.retry_ignore_previous_hosts);

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

        let mut tried: Vec<(Box<str>, u16)> = Vec::new();
        let mut upstream = None;
        let mut last = Try::ConnectFailure;
        for attempt in 0..attempts {
            if attempt > 0 {
                tokio::time::sleep(backoff(retries, attempt, self.draw())).await;
            }
            let Some(pick) = self.pick(router, &decided, &req, attempt, avoid_previous, &tried)
            else {
                return no_healthy();
            };
            tried.push((pick.endpoint.address.clone(), pick.endpoint.port));
            let mut up = describe(&pick, &decision);
            up.tries = attempt + 1;
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
            up.responded = matches!(last, Try::Answered(_));
            upstream = Some(up);
            let more = attempt + 1 < attempts;
            if !(more && retriable(retries, &last)) {
                break;
            }
        }
        let retried = attempts > 1 && retriable(retries, &last);
        let mut response = match last {
            Try::Answered(r) => r,
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
        if retried {
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

    /// The endpoint for try `attempt`: the decision's own pick first; on a retry a new draw,
    /// and, when the policy avoids previous hosts, up to 5 picks (Istio's
    /// `HostSelectionRetryMaxAttempts`) for one not tried yet.
    fn pick<'r>(
        &self,
        router: &'r Router,
        decided: &'r Decided<Router>,
        req: &Request<Bytes>,
        attempt: u32,
        avoid_previous: bool,
        tried: &[(Box<str>, u16)],
    ) -> Option<EndpointPick<'r>> {
        let decision = decided.decision();
        let mut found = None;
        for i in 0..5 {
            let draw = if attempt == 0 && i == 0 {
                decided.draw()
            } else {
                self.draw()
            };
            let pick = router.pick(&decision, req, draw).endpoint()?;
            let seen = tried
                .iter()
                .any(|(a, p)| **a == *pick.endpoint.address && *p == pick.endpoint.port);
            found = Some(pick);
            if !(avoid_previous && seen) {
                break;
            }
        }
        found
    }
}

/// Whether the policy retries after `last`, as Envoy's `RetryStateImpl` decides: a reset
/// (connection failures included) under `reset`, `5xx` or `gateway-error`, a connection
/// failure also under `connect-failure`, a per-try timeout under the same three, and an answer
/// by its status or `grpc-status`.
fn retriable(retries: Option<&Retries>, last: &Try) -> bool {
    let Some(r) = retries else {
        return false;
    };
    let on = |cond: &str| r.retry_on.split(',').any(|c| c.trim() == cond);
    let reset = on("reset") || on("5xx") || on("gateway-error");
    match last {
        Try::ConnectFailure => reset || on("connect-failure"),
        Try::Reset | Try::Timeout => reset,
        Try::Answered(resp) => {
            let code = resp.status().as_u16();
            // Envoy's `retriable_status_codes` under `retriable-status-codes`; a code written in
            // `retry_on` itself (the Gateway API's `retry.codes`) counts as listed.
            let listed = (on("retriable-status-codes") && r.retriable_status_codes.contains(&code))
                || r.retry_on.split(',').any(|c| c.trim().parse() == Ok(code));
            (on("5xx") && code >= 500)
                || (on("gateway-error") && matches!(code, 502..=504))
                || (on("retriable-4xx") && code == 409)
                || listed
                || grpc_retriable(resp.headers(), &on)
        }
    }
}

/// gRPC conditions: the answer's `grpc-status` is one `retry_on` names.
fn grpc_retriable(headers: &HeaderMap, on: &dyn Fn(&str) -> bool) -> bool {
    let status = headers
        .get("grpc-status")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u8>().ok());
    match status {
        Some(1) => on("cancelled"),
        Some(4) => on("deadline-exceeded"),
        Some(8) => on("resource-exhausted"),
        Some(13) => on("internal"),
        Some(14) => on("unavailable"),
        _ => false,
    }
}

/// Envoy's fully jittered exponential back-off: a random wait in `[0, (2^n - 1) × base]`,
/// base 25 ms unless the policy sets one, capped at ten times the base.
fn backoff(retries: Option<&Retries>, attempt: u32, draw: u64) -> Duration {
    let base = retries
        .and_then(|r| r.backoff)
        .unwrap_or(Duration::from_millis(25));
    let span = base
        .saturating_mul((1u32 << attempt.min(16)) - 1)
        .min(base * 10);
    let micros = span.as_micros() as u64;
    Duration::from_micros(if micros == 0 { 0 } else { draw % micros })
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
