//! Routing as tower middleware (feature `tower`): [`RouteLayer`] decides each `http::Request`
//! over a hot-swappable table ([`Shared`]) and answers itself what routing answers: a direct
//! response, a redirect with its composed `Location`, 404 when no route matches (Envoy's
//! `NR`), 400 for a path the table's normalization refuses, a fault abort (after the fault
//! delay, waited with a tokio timer), and 503 or 500 for a destination that cannot be used.
//! A request that is forwarded goes to the inner service with:
//!
//! - its [`Decided`] in the request's extensions: the decision, the table (or
//!   [`Router`]) that made it, and the draw, so the inner service
//!   picks the endpoint from the same snapshot even while a reload swaps the table;
//! - the path as routing read it (normalized) and rewritten as the rule says, the authority
//!   rewritten, `x-envoy-original-path` set when the path changed, and the request header
//!   operations of the destination and the rule applied (removals first, as Envoy does).
//!
//! Forwarding (picking the endpoint, connecting, retries, mirrors) stays the inner service's
//! job. The layer applies the rule's `timeout` around the inner service (504, `UT`), the
//! response header operations, and reports the status and latency to the table's counters
//! ([`Table::report`]). Every response carries [`Decided`] and the Envoy [`ResponseFlags`] in
//! its extensions, for an access log; the inner service adds its own flags (`UH`, `UF`, `URX`)
//! by putting `ResponseFlags` in its response's extensions.
//!
//! # CORS and session persistence
//!
//! The layer applies the rule's CORS answer ([`Decision::cors`]) and session answer
//! ([`Decision::session`]) as Envoy's filters do, in the order Istio chains them: the fault
//! filter, then the CORS filter, then the router.
//!
//! - A CORS preflight the filter answers ([`CorsAnswer::answered`](crate::cors::CorsAnswer)):
//!   200 with the answer's `Access-Control-*` headers and no body; the inner service is not
//!   called, the rule's timeout and response header operations do not apply (the router never
//!   runs), and the table's counters get the 200. An injected abort answers first: the CORS filter never sees the request
//!   (`Decision::cors` is `None`). An unmatched preflight is forwarded under
//!   `unmatchedPreflights: FORWARD`, answered with 200 without `Access-Control-Allow-Origin`
//!   under `IGNORE`.
//! - Any other request whose origin is allowed: the answer's headers (origin, credentials,
//!   expose list) are set, replacing any of the same name, on whatever response comes back
//!   through the filter, as Envoy's `CorsFilter::encodeHeaders` sets them on every response
//!   of a request whose `decodeHeaders` latched an allowed origin: the inner service's, and
//!   the local answers written after the CORS filter (the layer's 504 `UT`, 503/500 for a
//!   destination that cannot serve, the inner service's `UH`/`UF`/`UO`). Redirects and direct
//!   responses get none (Envoy's CORS filter skips a route without a route entry, and
//!   `Decision::cors` is `None` for them), nor do 404s, aborts and 400s.
//! - Session persistence: for a request forwarded on a rule with `sessionPersistence` whose
//!   session did not pin it, the `Set-Cookie` is appended to the response (Envoy's cookie
//!   session state adds one, keeping the upstream's own) or the session header is set (the
//!   header session state replaces it). As in Envoy's stateful session filter
//!   (`StatefulSession::encodeHeaders`), nothing is written when no upstream host was chosen:
//!   the layer's own answers, and inner responses flagged `UH` or `UO`. A pinned request gets
//!   nothing.
//!
//! On a forwarded response the route's response header operations come first, then the session
//! header, then the CORS headers (Envoy encodes from the router back through the filters).
//!
//! The decision itself allocates nothing. Around it the layer allocates as any tower middleware
//! does: the boxed response future, the `Decided` extension, the rewritten path and edited
//! headers of a forwarded request, the CORS and session headers to write, and the response of
//! an answer.
//!
//! # Example
//! ```
//! use std::sync::Arc;
//! use bytes::Bytes;
//! use http_body_util::{BodyExt, Empty};
//! use meshroute::tower::{Decided, RouteLayer};
//! use meshroute::{Shared, Table};
//! use tower::{Layer, ServiceExt, service_fn};
//!
//! let table = Table::from_yaml(r#"
//! apiVersion: networking.istio.io/v1
//! kind: VirtualService
//! metadata: {name: reviews}
//! spec:
//!   hosts: [reviews]
//!   http:
//!   - match: [{headers: {end-user: {exact: jason}}}]
//!     route: [{destination: {host: reviews, subset: v2}}]
//!   - match: [{uri: {prefix: /old}}]
//!     redirect: {uri: /new}
//!   - match: [{uri: {prefix: /r}}]
//!     route: [{destination: {host: reviews, subset: v1}}]
//! ---
//! apiVersion: networking.istio.io/v1
//! kind: DestinationRule
//! metadata: {name: reviews}
//! spec:
//!   host: reviews
//!   subsets:
//!   - {name: v1, labels: {version: v1}}
//!   - {name: v2, labels: {version: v2}}
//! "#)?;
//! let tables = Arc::new(Shared::new(table));
//! // The inner service forwards; here it answers with the subset routing chose.
//! let forward = service_fn(|req: http::Request<Empty<Bytes>>| async move {
//!     let decided = req.extensions().get::<Decided>().expect("forwarded requests carry it");
//!     let subset = decided.decision().destination().and_then(|d| d.subset.clone());
//!     let body = Bytes::from(subset.unwrap_or_default().to_string());
//!     Ok::<_, std::convert::Infallible>(http::Response::new(http_body_util::Full::new(body)))
//! });
//! let service = RouteLayer::new(Arc::clone(&tables)).layer(forward);
//!
//! let rt = tokio::runtime::Builder::new_current_thread().enable_time().build()?;
//! rt.block_on(async {
//!     let get = |path: &str, user: &str| {
//!         http::Request::get(path).header("host", "reviews").header("end-user", user)
//!             .body(Empty::<Bytes>::new()).unwrap()
//!     };
//!     let r = service.clone().oneshot(get("/r/1", "jason")).await.unwrap();
//!     assert_eq!(r.into_body().collect().await.unwrap().to_bytes(), "v2");
//!     let r = service.clone().oneshot(get("/old/x?id=1", "")).await.unwrap();
//!     assert_eq!(r.status(), 301);
//!     assert_eq!(r.headers()["location"], "http://reviews/new?id=1");
//!     let r = service.clone().oneshot(get("/nothing", "")).await.unwrap();
//!     assert_eq!(r.status(), 404);
//!     assert_eq!(r.extensions().get::<meshroute::tower::ResponseFlags>().unwrap().to_string(), "NR");
//! });
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::hash_map::RandomState;
use std::fmt;
use std::future::Future;
use std::hash::BuildHasher;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{HeaderMap, HeaderName, HeaderValue};
use http::{Request, Response, StatusCode};
use http_body::{Body, Frame, SizeHint};
use tower_layer::Layer;
use tower_service::Service;

use crate::action::{Abort, Action, GRPC_STATUS_NAMES, HeaderEdits, HeaderOps, Unavailable};
use crate::cors::CorsAnswer;
use crate::decision::{Decision, Detached, Outcome, mix};
use crate::registry::Router;
use crate::reload::Shared;
use crate::table::Table;

/// What decides: a [`Table`], or a [`Router`] (a table bound to endpoints), whose table the
/// layer decides with.
pub trait Routes: Send + Sync + 'static {
    /// The table that decides.
    fn table(&self) -> &Table;
}

impl Routes for Table {
    fn table(&self) -> &Table {
        self
    }
}

impl Routes for Router {
    fn table(&self) -> &Table {
        Router::table(self)
    }
}

/// The decision for a request, in its extensions (and its response's): it holds the snapshot
/// that decided, so the decision stays valid after a reload swaps the table.
pub struct Decided<T = Table> {
    routes: Arc<T>,
    detached: Detached,
}

impl<T> Clone for Decided<T> {
    fn clone(&self) -> Self {
        Decided {
            routes: Arc::clone(&self.routes),
            detached: self.detached.clone(),
        }
    }
}

impl<T: Routes> Decided<T> {
    /// The decision.
    pub fn decision(&self) -> Decision<'_> {
        self.detached.attach(self.routes.table())
    }

    /// The table or router that decided (for a [`Router`]: pick the endpoint with
    /// [`Router::pick`] and [`Decided::draw`]).
    pub fn routes(&self) -> &T {
        &self.routes
    }

    /// The request's draw, which drove every random choice of the decision.
    pub fn draw(&self) -> u64 {
        self.decision().draw
    }
}

impl<T: Routes> fmt::Debug for Decided<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Decided")
            .field("decision", &self.decision())
            .finish()
    }
}

/// Envoy's response flags (`%RESPONSE_FLAGS%`) of one response: displayed as Envoy's access
/// log writes them, comma-separated short codes, or `-` for none.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct ResponseFlags(u16);

impl ResponseFlags {
    /// No healthy upstream host (`UH`).
    pub const NO_HEALTHY_UPSTREAM: ResponseFlags = ResponseFlags(1);
    /// Upstream request timeout (`UT`).
    pub const UPSTREAM_REQUEST_TIMEOUT: ResponseFlags = ResponseFlags(1 << 1);
    /// Upstream remote reset (`UR`).
    pub const UPSTREAM_REMOTE_RESET: ResponseFlags = ResponseFlags(1 << 2);
    /// Upstream connection failure (`UF`).
    pub const UPSTREAM_CONNECTION_FAILURE: ResponseFlags = ResponseFlags(1 << 3);
    /// No route found (`NR`).
    pub const NO_ROUTE_FOUND: ResponseFlags = ResponseFlags(1 << 4);
    /// The request was delayed by fault injection (`DI`).
    pub const DELAY_INJECTED: ResponseFlags = ResponseFlags(1 << 5);
    /// The request was aborted by fault injection (`FI`).
    pub const FAULT_INJECTED: ResponseFlags = ResponseFlags(1 << 6);
    /// Retries were exhausted and the last upstream answer was returned (`URX`).
    pub const UPSTREAM_RETRY_LIMIT_EXCEEDED: ResponseFlags = ResponseFlags(1 << 7);
    /// The cluster does not exist (`NC`), e.g. a subset no DestinationRule defines.
    pub const NO_CLUSTER_FOUND: ResponseFlags = ResponseFlags(1 << 8);
    /// The request was refused as malformed (`DPE`), e.g. a path normalization refuses.
    pub const DOWNSTREAM_PROTOCOL_ERROR: ResponseFlags = ResponseFlags(1 << 9);
    /// `UO`: the cluster's connection pool overflowed (circuit breaking).
    pub const UPSTREAM_OVERFLOW: ResponseFlags = ResponseFlags(1 << 10);

    const CODES: [&'static str; 11] = [
        "UH", "UT", "UR", "UF", "NR", "DI", "FI", "URX", "NC", "DPE", "UO",
    ];

    /// No flag.
    pub const fn empty() -> ResponseFlags {
        ResponseFlags(0)
    }

    /// Whether no flag is set.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Whether every flag of `other` is set.
    pub fn contains(self, other: ResponseFlags) -> bool {
        self.0 & other.0 == other.0
    }

    /// Both sets of flags.
    #[must_use]
    pub fn union(self, other: ResponseFlags) -> ResponseFlags {
        ResponseFlags(self.0 | other.0)
    }
}

impl fmt::Display for ResponseFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return f.write_str("-");
        }
        let mut first = true;
        for (i, code) in Self::CODES.iter().enumerate() {
            if self.0 & (1 << i) != 0 {
                if !first {
                    f.write_str(",")?;
                }
                f.write_str(code)?;
                first = false;
            }
        }
        Ok(())
    }
}

/// The source of draws: SplitMix64 over a counter seeded once, so concurrent requests never
/// wait on a lock for randomness.
#[derive(Debug)]
struct Draws(AtomicU64);

impl Draws {
    fn next(&self) -> u64 {
        mix(self.0.fetch_add(1, Ordering::Relaxed), 0x6d65_7368)
    }
}

/// Decides each request with the table in a [`Shared`]; see the [module docs](self).
#[derive(Debug)]
pub struct RouteLayer<T = Table> {
    routes: Arc<Shared<T>>,
    draws: Arc<Draws>,
}

impl<T> Clone for RouteLayer<T> {
    fn clone(&self) -> Self {
        RouteLayer {
            routes: Arc::clone(&self.routes),
            draws: Arc::clone(&self.draws),
        }
    }
}

impl<T: Routes> RouteLayer<T> {
    /// Decides with whatever `routes` holds when each request arrives; a store into it (a
    /// reload) applies to the next request, while requests in flight keep the snapshot they
    /// were decided with.
    pub fn new(routes: Arc<Shared<T>>) -> RouteLayer<T> {
        let seed = RandomState::new().hash_one(0x6d65_7368_u64);
        RouteLayer {
            routes,
            draws: Arc::new(Draws(AtomicU64::new(seed))),
        }
    }

    /// Draws from a sequence fixed by `seed`, for reproducible tests.
    #[must_use]
    pub fn seed(self, seed: u64) -> RouteLayer<T> {
        RouteLayer {
            draws: Arc::new(Draws(AtomicU64::new(seed))),
            ..self
        }
    }
}

impl<S, T> Layer<S> for RouteLayer<T> {
    type Service = RouteService<S, T>;

    fn layer(&self, inner: S) -> RouteService<S, T> {
        RouteService {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service [`RouteLayer`] makes.
#[derive(Debug)]
pub struct RouteService<S, T = Table> {
    inner: S,
    layer: RouteLayer<T>,
}

impl<S: Clone, T> Clone for RouteService<S, T> {
    fn clone(&self) -> Self {
        RouteService {
            inner: self.inner.clone(),
            layer: self.layer.clone(),
        }
    }
}

/// The body of a [`RouteService`] response: the inner service's, or the one the layer
/// answered with.
#[derive(Debug)]
pub struct RouteBody<B> {
    kind: Kind<B>,
}

#[derive(Debug)]
enum Kind<B> {
    Inner(B),
    Full(Option<Bytes>),
}

impl<B> RouteBody<B> {
    /// A body of the layer's own.
    pub fn full(bytes: impl Into<Bytes>) -> RouteBody<B> {
        let bytes = bytes.into();
        RouteBody {
            kind: Kind::Full((!bytes.is_empty()).then_some(bytes)),
        }
    }

    /// The inner service's body.
    pub fn inner(body: B) -> RouteBody<B> {
        RouteBody {
            kind: Kind::Inner(body),
        }
    }
}

impl<B> Body for RouteBody<B>
where
    B: Body<Data = Bytes> + Unpin,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        match &mut self.get_mut().kind {
            Kind::Inner(b) => Pin::new(b).poll_frame(cx),
            Kind::Full(bytes) => Poll::Ready(bytes.take().map(|b| Ok(Frame::data(b)))),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Inner(b) => b.is_end_stream(),
            Kind::Full(bytes) => bytes.is_none(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Inner(b) => b.size_hint(),
            Kind::Full(bytes) => SizeHint::with_exact(bytes.as_ref().map_or(0, |b| b.len() as u64)),
        }
    }
}

/// What the layer does with a request it decided.
enum Plan {
    /// Answer without the inner service.
    Answer(Response<Bytes>, ResponseFlags),
    /// Answer a CORS preflight: the CORS filter answers before the router runs, so the route's
    /// response header operations do not apply.
    Preflight(Response<Bytes>),
    /// Forward, within the rule's timeout.
    Forward(Option<Duration>),
}

/// A response header the layer writes after the inner service (or its own answer) responded.
struct Write {
    name: HeaderName,
    value: HeaderValue,
    /// Appended (a `Set-Cookie` next to the upstream's own) rather than set.
    append: bool,
}

impl Write {
    fn apply(&self, headers: &mut HeaderMap) {
        if self.append {
            headers.append(self.name.clone(), self.value.clone());
        } else {
            headers.insert(self.name.clone(), self.value.clone());
        }
    }
}

/// The headers an actual CORS request's response gets (none for a request the filter
/// answers, or one that is not cross-origin or whose origin is not allowed).
fn cors_writes(answer: Option<&CorsAnswer<'_>>) -> Vec<Write> {
    let Some(answer) = answer.filter(|a| !a.answered) else {
        return Vec::new();
    };
    answer
        .response_headers()
        .filter_map(|(name, value)| {
            Some(Write {
                name: HeaderName::from_static(name),
                value: HeaderValue::from_bytes(value).ok()?,
                append: false,
            })
        })
        .collect()
}

/// The header a new session's response gets: the `Set-Cookie` (appended) or the session
/// header (set); `None` when the rule has no session persistence or the request was pinned.
fn session_write(decision: &Decision<'_>) -> Option<Write> {
    let answer = decision.session()?;
    if let Some(cookie) = answer.set_cookie {
        return Some(Write {
            name: http::header::SET_COOKIE,
            value: HeaderValue::try_from(cookie).ok()?,
            append: true,
        });
    }
    let (name, value) = answer.set_header?;
    Some(Write {
        name: HeaderName::try_from(name).ok()?,
        value: HeaderValue::try_from(value).ok()?,
        append: false,
    })
}

type BoxFuture<R, E> = Pin<Box<dyn Future<Output = Result<R, E>> + Send>>;

impl<S, T, B, RB> Service<Request<B>> for RouteService<S, T>
where
    S: Service<Request<B>, Response = Response<RB>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    B: Send + 'static,
    RB: Send + 'static,
    T: Routes,
{
    type Response = Response<RouteBody<RB>>;
    type Error = S::Error;
    type Future = BoxFuture<Self::Response, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        let start = Instant::now();
        let routes = self.layer.routes.load();
        let draw = self.layer.draws.next();
        let table = routes.table();
        let decision = table.decide_with_draw(&req, draw);
        let delay = decision.matched().and_then(|m| m.delay);
        let cors = decision.cors(&req);
        let plan = plan(&decision, &req, cors.as_ref());
        let cors = cors_writes(cors.as_ref());
        let session = match plan {
            Plan::Forward(_) => session_write(&decision),
            _ => None,
        };
        let decided = Detached::new(&decision, table).map(|detached| Decided {
            routes: Arc::clone(&routes),
            detached,
        });
        let Some(decided) = decided else {
            // Not reachable: the decision is the table's own.
            let answer = plain(StatusCode::INTERNAL_SERVER_ERROR, "");
            return Box::pin(async move { Ok(answer.map(RouteBody::full)) });
        };
        if matches!(plan, Plan::Forward(_)) {
            edit_request(&decision, &mut req);
            req.extensions_mut().insert(decided.clone());
        }
        // The inner service that was made ready takes this request; a clone waits for the next.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        Box::pin(async move {
            let mut flags = ResponseFlags::empty();
            if let Some(d) = delay {
                tokio::time::sleep(d).await;
                flags = flags.union(ResponseFlags::DELAY_INJECTED);
            }
            let mut router_ran = true;
            let mut response = match plan {
                Plan::Answer(answer, f) => {
                    flags = flags.union(f);
                    answer.map(RouteBody::full)
                }
                Plan::Preflight(answer) => {
                    router_ran = false;
                    answer.map(RouteBody::full)
                }
                Plan::Forward(timeout) => {
                    let call = inner.call(req);
                    let result = match timeout {
                        Some(t) => tokio::time::timeout(t, call).await.ok(),
                        None => Some(call.await),
                    };
                    match result {
                        Some(r) => r?.map(RouteBody::inner),
                        None => {
                            flags = flags.union(ResponseFlags::UPSTREAM_REQUEST_TIMEOUT);
                            plain(StatusCode::GATEWAY_TIMEOUT, "upstream request timeout")
                                .map(RouteBody::full)
                        }
                    }
                }
            };
            let decision = decided.decision();
            let theirs = response.extensions().get::<ResponseFlags>().copied();
            let flags = flags.union(theirs.unwrap_or_default());
            // The fault filter and the CORS filter answer before the router: no route header
            // operations.
            if router_ran && !flags.contains(ResponseFlags::FAULT_INJECTED) {
                edit_response(&decision, response.headers_mut());
            }
            // Envoy's stateful session filter writes the session only when an upstream host
            // was chosen.
            let no_host = flags.contains(ResponseFlags::NO_HEALTHY_UPSTREAM)
                || flags.contains(ResponseFlags::UPSTREAM_OVERFLOW);
            if let Some(w) = session.filter(|_| !no_host) {
                w.apply(response.headers_mut());
            }
            for w in &cors {
                w.apply(response.headers_mut());
            }
            if let Some(handle) = decision.report_handle() {
                let table = decided.routes.table();
                table.report(handle, response.status().as_u16(), start.elapsed());
            }
            response.extensions_mut().insert(flags);
            response.extensions_mut().insert(decided);
            Ok(response)
        })
    }
}

/// A response with `status` and a plain-text body (none when empty).
fn plain(status: StatusCode, body: &'static str) -> Response<Bytes> {
    let mut r = Response::new(Bytes::from_static(body.as_bytes()));
    *r.status_mut() = status;
    if !body.is_empty() {
        r.headers_mut().insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain"),
        );
    }
    r
}

/// What the layer does with `decision`: forward, or answer with what routing (or the CORS
/// filter, for a preflight it answers) answers.
fn plan<B>(decision: &Decision<'_>, req: &Request<B>, cors: Option<&CorsAnswer<'_>>) -> Plan {
    let status = StatusCode::from_u16(decision.status()).unwrap_or(StatusCode::BAD_GATEWAY);
    let m = match &decision.outcome {
        // The mesh default route and `allow_any` to `PassthroughCluster` have no timeout.
        Outcome::Passthrough | Outcome::PassthroughCluster => return Plan::Forward(None),
        // `block_all`: a direct 502 (Envoy sets no response flag on a direct response).
        Outcome::BlackHole => return Plan::Answer(plain(status, ""), ResponseFlags::empty()),
        Outcome::NoRoute { .. } | Outcome::NoVirtualHost => {
            return Plan::Answer(plain(status, ""), ResponseFlags::NO_ROUTE_FOUND);
        }
        Outcome::BadRequest { .. } => {
            return Plan::Answer(
                plain(status, "Bad Request"),
                ResponseFlags::DOWNSTREAM_PROTOCOL_ERROR,
            );
        }
        Outcome::Matched(m) => m,
        #[allow(unreachable_patterns)] // Outcome is non-exhaustive for other crates
        _ => {
            return Plan::Answer(
                plain(StatusCode::INTERNAL_SERVER_ERROR, ""),
                ResponseFlags::empty(),
            );
        }
    };
    match &m.rule.action {
        Action::Redirect(_) => {
            let mut r = plain(status, "");
            if let Some(location) = decision
                .redirect_location(req)
                .and_then(|l| HeaderValue::try_from(l).ok())
            {
                r.headers_mut().insert(http::header::LOCATION, location);
            }
            Plan::Answer(r, ResponseFlags::empty())
        }
        Action::DirectResponse(d) => {
            let body = d.body.clone().map_or(Bytes::new(), Bytes::from);
            let mut r = Response::new(body);
            *r.status_mut() = status;
            if !r.body().is_empty() {
                r.headers_mut().insert(
                    http::header::CONTENT_TYPE,
                    HeaderValue::from_static("text/plain"),
                );
            }
            Plan::Answer(r, ResponseFlags::empty())
        }
        Action::Forward(f) => match (m.abort, m.destination) {
            (Some(Abort::Http(_)), _) => Plan::Answer(
                plain(status, "fault filter abort"),
                ResponseFlags::FAULT_INJECTED,
            ),
            (Some(Abort::Grpc(name)), _) => {
                // A gRPC abort is a trailers-only gRPC answer: HTTP 200 with `grpc-status`.
                let code = GRPC_STATUS_NAMES.iter().position(|n| **n == **name);
                let mut r = plain(StatusCode::OK, "");
                let h = r.headers_mut();
                h.insert(
                    http::header::CONTENT_TYPE,
                    HeaderValue::from_static("application/grpc"),
                );
                h.insert("grpc-status", HeaderValue::from(code.unwrap_or(2) as u32));
                h.insert(
                    "grpc-message",
                    HeaderValue::from_static("fault filter abort"),
                );
                Plan::Answer(r, ResponseFlags::FAULT_INJECTED)
            }
            // The CORS filter answers a preflight before the router looks at the destination.
            _ if cors.is_some_and(|c| c.answered) => {
                let mut r = plain(StatusCode::OK, "");
                if let Some(c) = cors {
                    for (name, value) in c.response_headers() {
                        if let Ok(v) = HeaderValue::from_bytes(value) {
                            r.headers_mut().insert(HeaderName::from_static(name), v);
                        }
                    }
                }
                Plan::Preflight(r)
            }
            (_, Some(_)) if m.unavailable.is_none() => Plan::Forward(f.timeout),
            (_, _) => {
                let undefined = m.unavailable == Some(Unavailable::UndefinedSubset);
                let flags = if undefined {
                    ResponseFlags::NO_CLUSTER_FOUND
                } else {
                    ResponseFlags::empty()
                };
                Plan::Answer(plain(status, ""), flags)
            }
        },
        #[allow(unreachable_patterns)] // Action is non-exhaustive for other crates
        _ => Plan::Answer(
            plain(StatusCode::INTERNAL_SERVER_ERROR, ""),
            ResponseFlags::empty(),
        ),
    }
}

/// Applies the decision's path (normalized, rewritten) and authority rewrite and the request
/// header operations to a request about to be forwarded.
fn edit_request<B>(decision: &Decision<'_>, req: &mut Request<B>) {
    let raw = req
        .uri()
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_string();
    let mut buf = [0u8; crate::predicate::normalize::MAX_PATH_LEN];
    if let Some((path, query)) = decision.forward_path(&raw, &mut buf) {
        let normalized = format!("{path}{query}");
        let new = match decision.rewritten_path(path) {
            Some(rewritten) => {
                // Envoy keeps the path it routed on when a route rewrites it.
                if let Ok(original) = HeaderValue::try_from(normalized.as_str()) {
                    req.headers_mut().insert("x-envoy-original-path", original);
                }
                format!("{rewritten}{query}")
            }
            None => normalized,
        };
        if new != raw {
            let mut parts = req.uri().clone().into_parts();
            if let Ok(pq) = http::uri::PathAndQuery::try_from(new) {
                parts.path_and_query = Some(pq);
                if let Ok(uri) = http::Uri::from_parts(parts) {
                    *req.uri_mut() = uri;
                }
            }
        }
    }
    let forward = decision.forward();
    if let Some(authority) = forward
        .and_then(|f| f.rewrite.as_ref())
        .and_then(|r| r.authority.as_deref())
    {
        set_authority(req, authority);
    }
    // A destination's `set` of `:authority` or `host` rewrites the host, as istiod makes it.
    header_operations(decision, |ops| &ops.request, req.headers_mut());
}

/// Sets the request's authority: the `host` header, and the URI's authority when it has one.
fn set_authority<B>(req: &mut Request<B>, authority: &str) {
    if let Ok(v) = HeaderValue::try_from(authority) {
        req.headers_mut().insert(http::header::HOST, v);
    }
    let mut parts = req.uri().clone().into_parts();
    if parts.authority.is_some()
        && let Ok(a) = http::uri::Authority::try_from(authority)
    {
        parts.authority = Some(a);
        if let Ok(uri) = http::Uri::from_parts(parts) {
            *req.uri_mut() = uri;
        }
    }
}

/// Applies the header operations of the rule and the picked destination in Envoy's order. istiod
/// writes a lone destination's operations after the rule's into the route's one list, which
/// Envoy evaluates as all removals, then every `set` and `add` in order; for a split the
/// destination's are the weighted cluster's own list, evaluated before the route's.
fn header_operations(
    decision: &Decision<'_>,
    side: impl Fn(&HeaderOps) -> &HeaderEdits,
    headers: &mut HeaderMap,
) {
    let rule = decision.matched().map(|m| side(&m.rule.headers));
    let destination = decision.destination().map(|d| side(&d.headers));
    let lone = decision
        .forward()
        .is_some_and(|f| f.destinations.len() == 1);
    if lone {
        for e in [rule, destination].into_iter().flatten() {
            remove(e, headers);
        }
        for e in [rule, destination].into_iter().flatten() {
            set_and_add(e, headers);
        }
    } else {
        for e in [destination, rule].into_iter().flatten() {
            apply(e, headers);
        }
    }
}

/// Applies the response header operations of the destination and the rule.
fn edit_response(decision: &Decision<'_>, headers: &mut HeaderMap) {
    header_operations(decision, |ops| &ops.response, headers);
}

/// Header edits as Envoy applies them: removals, then `set` (overwrite), then `add` (append).
/// A name or value that is not a valid header is skipped (validation refuses them at compile);
/// `:authority` stands for `host`.
pub fn apply(edits: &HeaderEdits, headers: &mut HeaderMap) {
    remove(edits, headers);
    set_and_add(edits, headers);
}

fn remove(edits: &HeaderEdits, headers: &mut HeaderMap) {
    for name in &edits.remove {
        headers.remove(&**name);
    }
}

fn set_and_add(edits: &HeaderEdits, headers: &mut HeaderMap) {
    let parse = |(k, v): &(Box<str>, Box<str>)| {
        let name = if k.eq_ignore_ascii_case(":authority") {
            http::header::HOST
        } else {
            HeaderName::try_from(&**k).ok()?
        };
        Some((name, HeaderValue::try_from(&**v).ok()?))
    };
    for (k, v) in edits.set.iter().filter_map(parse) {
        headers.insert(k, v);
    }
    for (k, v) in edits.add.iter().filter_map(parse) {
        headers.append(k, v);
    }
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;
    use std::sync::atomic::AtomicUsize;

    use http_body_util::{BodyExt, Empty, Full};
    use tower::{ServiceExt, service_fn};

    use super::*;

    /// A CORS rule (Envoy `cors_filter_integration_test.cc`'s `/cors-route-config` and
    /// `/cors-credentials-allowed` routes, as an Istio `corsPolicy`), an IGNORE rule, an abort
    /// in front of a CORS policy, a subset no DestinationRule defines, and a Gateway API route
    /// with cookie and header sessions.
    const CONFIG: &str = r#"
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: api, namespace: default}
spec:
  hosts: [api]
  http:
  - name: chaos
    match: [{headers: {x-chaos: {exact: abort}}}]
    fault: {abort: {httpStatus: 555, percentage: {value: 100}}}
    corsPolicy: {allowOrigins: [{exact: test-origin-1}], allowMethods: [POST]}
    route: [{destination: {host: api}}]
  - name: missing
    match: [{uri: {prefix: /missing}}]
    corsPolicy: {allowOrigins: [{exact: test-origin-1}]}
    route: [{destination: {host: api, subset: nowhere}}]
  - name: ignore
    match: [{uri: {prefix: /ignore}}]
    corsPolicy: {allowOrigins: [{exact: test-origin-1}], allowMethods: [POST], unmatchedPreflights: IGNORE}
    route: [{destination: {host: api}}]
  - name: cors
    corsPolicy:
      allowOrigins: [{exact: test-origin-1}, {exact: test-host-2}]
      allowMethods: [POST]
      allowHeaders: [content-type]
      exposeHeaders: [x-request-id]
      maxAge: 100s
      allowCredentials: true
    headers: {response: {set: {x-route: cors}}}
    route: [{destination: {host: api}}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: shop, namespace: default}
spec:
  parentRefs: [{kind: Service, group: "", name: shop}]
  rules:
  - matches: [{path: {type: PathPrefix, value: /cart}}]
    backendRefs: [{name: v1, port: 80, weight: 50}, {name: v2, port: 80, weight: 50}]
    sessionPersistence: {sessionName: cart, type: Cookie, absoluteTimeout: 1h, cookieConfig: {lifetimeType: Permanent}}
  - matches: [{path: {type: PathPrefix, value: /api}}]
    backendRefs: [{name: v1, port: 80, weight: 50}, {name: v2, port: 80, weight: 50}]
    sessionPersistence: {sessionName: x-session, type: Header}
"#;

    type Answer = (StatusCode, HeaderMap, String);

    /// Runs `requests` through a layer whose inner service answers 200 with the destination
    /// host (and its own `set-cookie`), or with the flags of `inner_flags`; returns the
    /// answers and how often the inner service was called.
    fn run(
        requests: Vec<Request<Empty<Bytes>>>,
        inner_flags: Option<ResponseFlags>,
    ) -> (Vec<Answer>, usize) {
        let table = Table::from_yaml(CONFIG).expect("the test config compiles");
        let calls = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&calls);
        let inner = service_fn(move |req: Request<Empty<Bytes>>| {
            counted.fetch_add(1, Ordering::Relaxed);
            let decided = req.extensions().get::<Decided>().cloned();
            async move {
                let host = decided
                    .and_then(|d| d.decision().destination().map(|d| d.host.to_string()))
                    .unwrap_or_default();
                let mut r = Response::new(Full::new(Bytes::from(host)));
                r.headers_mut()
                    .insert("set-cookie", HeaderValue::from_static("theirs=1"));
                if let Some(f) = inner_flags {
                    *r.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
                    r.extensions_mut().insert(f);
                }
                Ok::<_, Infallible>(r)
            }
        });
        let service = RouteLayer::new(Arc::new(Shared::new(table)))
            .seed(1)
            .layer(inner);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("a runtime");
        let answers = rt.block_on(async {
            let mut out = Vec::new();
            for req in requests {
                let r = service.clone().oneshot(req).await.expect("infallible");
                let (parts, body) = r.into_parts();
                let body = body.collect().await.expect("a body").to_bytes();
                out.push((
                    parts.status,
                    parts.headers,
                    String::from_utf8_lossy(&body).into_owned(),
                ));
            }
            out
        });
        (answers, calls.load(Ordering::Relaxed))
    }

    fn request(
        method: &str,
        host: &str,
        path: &str,
        headers: &[(&str, &str)],
    ) -> Request<Empty<Bytes>> {
        let mut b = Request::builder()
            .method(method)
            .uri(path)
            .header("host", host);
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.body(Empty::new()).expect("a valid request")
    }

    fn preflight(path: &str, origin: &str) -> Request<Empty<Bytes>> {
        request(
            "OPTIONS",
            "api",
            path,
            &[
                ("origin", origin),
                ("access-control-request-method", "POST"),
            ],
        )
    }

    fn header<'h>(h: &'h HeaderMap, name: &str) -> Option<&'h str> {
        h.get(name).and_then(|v| v.to_str().ok())
    }

    /// Envoy `cors_filter_integration_test.cc` `TestRouteConfigSuccess`: the CORS filter
    /// answers an allowed preflight itself with 200 and the `Access-Control-*` headers, before
    /// the router: the inner service is not called and the route's response header
    /// operations do not apply.
    #[test]
    fn an_allowed_preflight_is_answered_without_the_inner_service() {
        let (answers, calls) = run(vec![preflight("/items", "test-origin-1")], None);
        let (status, h, body) = &answers[0];
        assert_eq!(*status, StatusCode::OK);
        assert_eq!(calls, 0, "the preflight reached the inner service");
        assert_eq!(body, "");
        assert_eq!(
            header(h, "access-control-allow-origin"),
            Some("test-origin-1")
        );
        assert_eq!(header(h, "access-control-allow-methods"), Some("POST"));
        assert_eq!(
            header(h, "access-control-allow-headers"),
            Some("content-type")
        );
        assert_eq!(header(h, "access-control-max-age"), Some("100"));
        assert_eq!(header(h, "access-control-allow-credentials"), Some("true"));
        assert_eq!(
            header(h, "access-control-expose-headers"),
            Some("x-request-id")
        );
        assert_eq!(header(h, "x-route"), None, "the router does not run");
    }

    /// Envoy `TestEncodeHeadersCredentialsAllowed`, `TestExposeHeaders` (`CorsFilter::
    /// encodeHeaders`): an actual request with an allowed origin gets origin, credentials and
    /// the expose list on the upstream's response, after the route's own response headers;
    /// `TestRouteConfigBadOrigin`: a preflight whose origin is not allowed is forwarded
    /// (`unmatchedPreflights` FORWARD, Istio's default) and its response gets nothing.
    #[test]
    fn an_actual_request_gets_the_cors_headers_on_the_inner_response() {
        let (answers, calls) = run(
            vec![
                request("GET", "api", "/items", &[("origin", "test-host-2")]),
                preflight("/items", "elsewhere"),
                request("GET", "api", "/items", &[("origin", "elsewhere")]),
            ],
            None,
        );
        assert_eq!(calls, 3);
        let (status, h, body) = &answers[0];
        assert_eq!(
            (*status, body.as_str()),
            (StatusCode::OK, "api.default.svc.cluster.local")
        );
        assert_eq!(
            header(h, "access-control-allow-origin"),
            Some("test-host-2")
        );
        assert_eq!(header(h, "access-control-allow-credentials"), Some("true"));
        assert_eq!(
            header(h, "access-control-expose-headers"),
            Some("x-request-id")
        );
        assert_eq!(header(h, "access-control-allow-methods"), None);
        assert_eq!(header(h, "x-route"), Some("cors"));
        for (_, h, _) in &answers[1..] {
            assert_eq!(header(h, "access-control-allow-origin"), None);
            assert_eq!(header(h, "x-route"), Some("cors"));
        }
    }

    /// `forward_not_matching_preflights: false` (Istio `unmatchedPreflights: IGNORE`,
    /// `CorsFilter::decodeHeaders`): a preflight whose origin is not allowed is answered with
    /// 200 and no `Access-Control-Allow-Origin`; the inner service is not called.
    #[test]
    fn an_ignored_unmatched_preflight_is_answered_without_the_origin() {
        let (answers, calls) = run(vec![preflight("/ignore", "elsewhere")], None);
        let (status, h, _) = &answers[0];
        assert_eq!((*status, calls), (StatusCode::OK, 0));
        assert_eq!(header(h, "access-control-allow-origin"), None);
        assert_eq!(header(h, "access-control-allow-methods"), Some("POST"));
    }

    /// Istio chains the fault filter before the CORS filter: an injected abort answers the
    /// preflight (and any request) first, without CORS headers. The router's own local answer
    /// for a cluster that does not exist (`NC`) passes back through the CORS filter's encoder
    /// and gets them.
    #[test]
    fn an_abort_answers_first_and_a_router_answer_gets_the_cors_headers() {
        let (answers, calls) = run(
            vec![
                request(
                    "OPTIONS",
                    "api",
                    "/items",
                    &[
                        ("origin", "test-origin-1"),
                        ("access-control-request-method", "POST"),
                        ("x-chaos", "abort"),
                    ],
                ),
                request("GET", "api", "/missing", &[("origin", "test-origin-1")]),
            ],
            None,
        );
        assert_eq!(calls, 0);
        let (status, h, _) = &answers[0];
        assert_eq!(status.as_u16(), 555);
        assert_eq!(header(h, "access-control-allow-origin"), None);
        let (status, h, _) = &answers[1];
        assert_eq!(*status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            header(h, "access-control-allow-origin"),
            Some("test-origin-1")
        );
    }

    /// The cookie a new session's response gets (Envoy cookie session state `onUpdate`:
    /// appended next to the upstream's own `Set-Cookie`) pins the next request to the same
    /// backend whatever its draw, and a pinned request gets no cookie.
    #[test]
    fn a_new_session_gets_its_cookie_and_the_next_request_sticks() {
        let (first, _) = run(vec![request("GET", "shop", "/cart/1", &[])], None);
        let (_, h, backend) = &first[0];
        let cookies: Vec<&str> = h
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        assert_eq!(cookies.len(), 2, "{cookies:?}");
        assert_eq!(cookies[0], "theirs=1");
        let ours = cookies[1];
        assert!(ours.starts_with("cart=\""), "{ours}");
        assert!(
            ours.ends_with("; Max-Age=3600; Path=/cart; HttpOnly"),
            "{ours}"
        );
        let value = ours
            .strip_prefix("cart=")
            .and_then(|v| v.split(';').next())
            .expect("name=value");
        let cookie = format!("cart={value}");
        let next: Vec<_> = (0..20)
            .map(|_| request("GET", "shop", "/cart/2", &[("cookie", cookie.as_str())]))
            .collect();
        let (answers, _) = run(next, None);
        for (status, h, body) in &answers {
            assert_eq!((*status, body), (StatusCode::OK, backend));
            let cookies: Vec<_> = h.get_all("set-cookie").iter().collect();
            assert_eq!(cookies, [HeaderValue::from_static("theirs=1")]);
        }
        // Without the cookie the 20 requests are split (seeded draws), so sticking is the pin.
        let fresh: Vec<_> = (0..20)
            .map(|_| request("GET", "shop", "/cart/2", &[]))
            .collect();
        let (answers, _) = run(fresh, None);
        assert!(answers.iter().any(|(_, _, b)| b != backend));
    }

    /// Envoy's header session state sets the session header on the response (`setCopy`).
    /// Envoy `stateful_session_test.cc` `NoUpstreamHost`: without an upstream host (`UH`)
    /// nothing is written.
    #[test]
    fn a_header_session_is_set_and_nothing_without_an_upstream_host() {
        let (answers, _) = run(vec![request("GET", "shop", "/api/x", &[])], None);
        let (_, h, backend) = &answers[0];
        let value = header(h, "x-session").expect("the session header");
        let mut buf = [0u8; crate::session::MAX_SESSION_VALUE];
        let address = crate::session::decode_address(value.as_bytes(), &mut buf)
            .map(|a| String::from_utf8_lossy(a).into_owned());
        assert_eq!(address, Some(format!("{backend}:80")));
        let (answers, _) = run(
            vec![request("GET", "shop", "/cart/1", &[])],
            Some(ResponseFlags::NO_HEALTHY_UPSTREAM),
        );
        let (status, h, _) = &answers[0];
        assert_eq!(*status, StatusCode::SERVICE_UNAVAILABLE);
        let cookies: Vec<_> = h.get_all("set-cookie").iter().collect();
        assert_eq!(cookies, [HeaderValue::from_static("theirs=1")]);
    }
}
