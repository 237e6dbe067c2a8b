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
//! The decision itself allocates nothing. Around it the layer allocates as any tower middleware
//! does: the boxed response future, the `Decided` extension, the rewritten path and edited
//! headers of a forwarded request, and the response of an answer.
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
    /// Forward, within the rule's timeout.
    Forward(Option<Duration>),
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
        let plan = plan(&decision, &req);
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
            let mut response = match plan {
                Plan::Answer(answer, f) => {
                    flags = flags.union(f);
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
            // The fault filter answers before the router: no route header operations.
            if !flags.contains(ResponseFlags::FAULT_INJECTED) {
                edit_response(&decision, response.headers_mut());
            }
            if let Some(handle) = decision.report_handle() {
                let table = decided.routes.table();
                table.report(handle, response.status().as_u16(), start.elapsed());
            }
            let theirs = response.extensions().get::<ResponseFlags>().copied();
            let flags = flags.union(theirs.unwrap_or_default());
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

/// What the layer does with `decision`: forward, or answer with what routing answers.
fn plan<B>(decision: &Decision<'_>, req: &Request<B>) -> Plan {
    let status = StatusCode::from_u16(decision.status()).unwrap_or(StatusCode::BAD_GATEWAY);
    let m = match &decision.outcome {
        Outcome::Passthrough => return Plan::Forward(None),
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
            (_, Some(w)) if w.destination.unavailable.is_none() => Plan::Forward(f.timeout),
            (_, w) => {
                let undefined =
                    w.and_then(|w| w.destination.unavailable) == Some(Unavailable::UndefinedSubset);
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
