//! The proxy's server: loading and reloading the configuration, the listener, the access log.
//! Shared by `examples/proxy/main.rs` and the tests (`tests/proxy.rs`). The route layer
//! answers what routing and Envoy's CORS filter answer (redirects, direct responses, CORS
//! preflights, aborts) and writes the CORS and session response headers; the forwarder
//! (`forward.rs`) sends the rest.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use meshroute::registry::{Registry, RegistryOptions, Router};
use meshroute::tower::{Decided, ResponseFlags, RouteBody, RouteLayer};
use meshroute::{CompileOptions, Config, Shared, SourceInfo, Table};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tower::{Layer, ServiceExt};

use crate::admin::{Stats, routes_in_words};
use crate::forward::{Forwarder, Upstream};

/// The largest request body the proxy buffers (it keeps the body for retries and mirrors).
pub const MAX_BODY: usize = 16 << 20;

/// How the proxy runs.
#[derive(Clone, Debug)]
pub struct Options {
    /// Traffic address.
    pub listen: SocketAddr,
    /// Admin address.
    pub admin: SocketAddr,
    /// Configuration files and directories.
    pub configs: Vec<PathBuf>,
    /// The client's namespace.
    pub namespace: String,
    /// The client's labels.
    pub labels: BTreeMap<String, String>,
    /// The Gateway requests arrive at, `None` for a sidecar.
    pub gateway: Option<(String, String)>,
    /// Reload when the configuration files change.
    pub watch: bool,
    /// Write one access-log line per request to stderr.
    pub access_log: bool,
    /// Fixed draws, for reproducible tests.
    pub seed: Option<u64>,
}

/// What every connection shares.
pub struct State {
    /// The router in use; a reload stores a new one.
    pub routes: Arc<Shared<Router>>,
    /// The router in use and its endpoints, in words for `/routes` once asked for.
    pub words: Mutex<Arc<Words>>,
    /// Counters for `/metrics`.
    pub stats: Stats,
    /// How the proxy runs.
    pub options: Options,
    pub(crate) layer: RouteLayer<Router>,
    pub(crate) forwarder: Forwarder,
    /// The fingerprint of the files last read for a reload (one reload at a time).
    pub(crate) reloads: Mutex<Option<u64>>,
    /// What the configuration source says of itself, at the top of `/routes` (the cluster's
    /// status, with `--cluster`); unset for files.
    pub source_status: OnceLock<SourceStatus>,
}

/// What a configuration source says of itself: whether a table of its serves yet (until
/// then `/routes` answers 503), and its status in words.
pub type SourceStatus = Box<dyn Fn() -> (bool, String) + Send + Sync>;

/// A router and the endpoints it was bound to, in words (`/routes`): rendered when first
/// asked for, then kept with the router it describes, so that a table is put in words at
/// most once, and only when someone asks (a cluster's table can change every second, and
/// putting 10,000 rules in words finds a request for each).
pub struct Words {
    router: Arc<Router>,
    registry: Registry,
    text: OnceLock<Arc<String>>,
}

impl Words {
    /// The words of `router` bound to `registry`, not yet rendered.
    pub fn new(router: Arc<Router>, registry: Registry) -> Words {
        Words {
            router,
            registry,
            text: OnceLock::new(),
        }
    }

    /// The router and its endpoints in words, rendered on the first call.
    pub fn text(&self) -> Arc<String> {
        Arc::clone(
            self.text
                .get_or_init(|| Arc::new(routes_in_words(self.router.table(), &self.registry))),
        )
    }

    /// The words, if they have been rendered.
    #[allow(dead_code)] // tests/proxy.rs asks
    pub fn rendered(&self) -> Option<Arc<String>> {
        self.text.get().cloned()
    }
}

/// A running proxy; dropping it stops it.
pub struct Running {
    /// The traffic address (the port the OS chose for port 0).
    pub listen: SocketAddr,
    /// The admin address.
    pub admin: SocketAddr,
    /// The shared state.
    pub state: Arc<State>,
    tasks: Vec<JoinHandle<()>>,
    _watcher: Option<crate::admin::Watcher>,
}

impl Drop for Running {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// The configuration files as read: `(name, text)` in order, and a fingerprint of them.
pub struct Sources {
    files: Vec<(String, String)>,
    /// A hash of every file's name and text: equal fingerprints, the same configuration.
    pub fingerprint: u64,
}

/// Reads every configuration file (each file as given, each directory's YAML and JSON files).
pub fn read(paths: &[PathBuf]) -> Result<Sources, Vec<String>> {
    use std::hash::{Hash, Hasher};
    let mut errors = Vec::new();
    let mut out = Vec::new();
    for file in files(paths, &mut errors) {
        let name = file.display().to_string();
        match std::fs::read_to_string(&file) {
            Ok(text) => out.push((name, text)),
            Err(e) => errors.push(format!("{name}: cannot read: {e}")),
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let mut h = std::collections::hash_map::DefaultHasher::new();
    out.hash(&mut h);
    Ok(Sources {
        files: out,
        fingerprint: h.finish(),
    })
}

/// How the proxy compiles its tables: with the decision counters `/metrics` shows.
pub fn compile_options() -> CompileOptions {
    let mut options = CompileOptions::default();
    options.counters = true;
    options
}

/// Loads the configuration and builds the router: the table and the endpoints of the
/// Services, EndpointSlices and Pods (also returned, for `/routes`). Every error, each naming
/// its file, resource and field, when anything fails to load or compile (the caller keeps
/// its current router).
pub fn build(sources: &Sources) -> Result<(Router, Registry), Vec<String>> {
    let mut errors = Vec::new();
    let mut config = Config::new();
    for (name, text) in &sources.files {
        if let Err(e) = config.add_str(text, name) {
            errors.push(e.to_string());
        }
    }
    for r in &config.rejected {
        errors.extend(r.errors.iter().map(ToString::to_string));
    }
    let options = compile_options();
    let compiled = match meshroute::compile(&config, &options) {
        Ok(c) => c,
        Err(e) => {
            errors.extend(e.0.iter().map(ToString::to_string));
            return Err(errors);
        }
    };
    errors.extend(compiled.errors().map(ToString::to_string));
    if !errors.is_empty() {
        return Err(errors);
    }
    bind(&config, &compiled.table, &options).map_err(|e| vec![e])
}

/// The router of `table` over the endpoints `config` describes (its Services,
/// EndpointSlices, Pods, ServiceEntries and WorkloadEntries), and those endpoints.
///
/// # Errors
/// When the router cannot be built ([`Router::new`]).
pub fn bind(
    config: &Config,
    table: &Table,
    options: &CompileOptions,
) -> Result<(Router, Registry), String> {
    let (registry, _notes): (Registry, _) =
        Registry::from_config(config, &RegistryOptions::from(options));
    let router = Router::new(table, &registry)?;
    Ok((router, registry))
}

/// [`read`] and [`build`].
#[allow(dead_code)] // tests/proxy.rs reads a configuration at once
pub fn load(paths: &[PathBuf]) -> Result<(Router, Registry), Vec<String>> {
    build(&read(paths)?)
}

/// The files behind `paths`: each file as given, each directory's `*.yaml`, `*.yml` and
/// `*.json` files, recursively, in name order.
fn files(paths: &[PathBuf], errors: &mut Vec<String>) -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>, errors: &mut Vec<String>) {
        let entries = match std::fs::read_dir(dir) {
            Ok(e) => e,
            Err(e) => {
                errors.push(format!("{}: cannot read: {e}", dir.display()));
                return;
            }
        };
        let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        paths.sort();
        for p in paths {
            if p.is_dir() {
                walk(&p, out, errors);
            } else if matches!(
                p.extension().and_then(|e| e.to_str()),
                Some("yaml" | "yml" | "json")
            ) {
                out.push(p);
            }
        }
    }
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            walk(p, &mut out, errors);
        } else {
            out.push(p.clone());
        }
    }
    out
}

impl State {
    /// A state serving `router`, bound to the endpoints of `registry`; `fingerprint`, that
    /// of the files it was built from.
    pub fn new(
        options: Options,
        router: Router,
        registry: Registry,
        fingerprint: Option<u64>,
    ) -> State {
        let routes = Arc::new(Shared::new(router));
        let words = Words::new(routes.load(), registry);
        let mut layer = RouteLayer::new(Arc::clone(&routes));
        if let Some(seed) = options.seed {
            layer = layer.seed(seed);
        }
        State {
            routes,
            words: Mutex::new(Arc::new(words)),
            stats: Stats::default(),
            forwarder: Forwarder::new(options.seed),
            options,
            layer,
            reloads: Mutex::new(fingerprint),
            source_status: OnceLock::new(),
        }
    }

    /// Serves `router`, bound to the endpoints of `registry`, from now on (requests in
    /// flight finish with the one they started with); `/routes` puts it in words when asked.
    pub fn install(&self, router: Router, registry: Registry) {
        // Under the lock of the words: the router loaded is the one just stored.
        let mut words = self.words.lock().unwrap_or_else(|p| p.into_inner());
        self.routes.store(router);
        *words = Arc::new(Words::new(self.routes.load(), registry));
    }

    /// Reloads the configuration: a good one replaces the router (requests in flight finish
    /// with the one they started with); a bad one is logged, error by error, and counted, and
    /// the current router keeps serving. Files that did not change since the last reload (a
    /// save of the same text, a touch) are not reloaded. Returns whether the router changed.
    pub fn reload(&self) -> bool {
        let mut last = self.reloads.lock().unwrap_or_else(|p| p.into_inner());
        let built = read(&self.options.configs).and_then(|sources| {
            if Some(sources.fingerprint) == *last {
                return Ok(None);
            }
            *last = Some(sources.fingerprint);
            build(&sources).map(Some)
        });
        match built {
            Ok(None) => false,
            Ok(Some((router, registry))) => {
                self.install(router, registry);
                self.stats.reloads_ok.fetch_add(1, Ordering::Relaxed);
                eprintln!("proxy: configuration reloaded");
                true
            }
            Err(errors) => {
                for e in &errors {
                    eprintln!("proxy: reload refused: {e}");
                }
                eprintln!(
                    "proxy: {} error(s); still serving the previous configuration",
                    errors.len()
                );
                self.stats.reloads_error.fetch_add(1, Ordering::Relaxed);
                false
            }
        }
    }
}

/// Loads the configuration, binds both addresses and serves until the result is dropped.
pub async fn start(options: Options) -> Result<Running, String> {
    let sources = read(&options.configs);
    let fingerprint = sources.as_ref().ok().map(|s| s.fingerprint);
    let (router, registry) = sources.and_then(|s| build(&s)).map_err(|errors| {
        let mut text = String::from("proxy: the configuration does not load:");
        for e in errors {
            text.push_str("\n  ");
            text.push_str(&e);
        }
        text
    })?;
    serve(
        Arc::new(State::new(options, router, registry, fingerprint)),
        Vec::new(),
        None,
    )
    .await
}

/// Binds the admin address of `state`'s options and serves `/metrics` and `/routes` on it
/// until the task is stopped: its address and the task.
pub async fn serve_admin(state: &Arc<State>) -> Result<(SocketAddr, JoinHandle<()>), String> {
    let admin = TcpListener::bind(state.options.admin)
        .await
        .map_err(|e| format!("proxy: cannot listen on {}: {e}", state.options.admin))?;
    let addr = admin.local_addr().map_err(|e| e.to_string())?;
    Ok((
        addr,
        tokio::spawn(crate::admin::serve(admin, Arc::clone(state))),
    ))
}

/// Binds the addresses of `state`'s options and serves until the result is dropped, watching
/// the configuration files when the options say so; `tasks` (the configuration source's) are
/// stopped with it. `admin`: the admin address already served, by a task among `tasks`
/// ([`serve_admin`]).
pub async fn serve(
    state: Arc<State>,
    mut tasks: Vec<JoinHandle<()>>,
    admin: Option<SocketAddr>,
) -> Result<Running, String> {
    let options = &state.options;
    let listener = TcpListener::bind(options.listen)
        .await
        .map_err(|e| format!("proxy: cannot listen on {}: {e}", options.listen))?;
    let listen = listener.local_addr().map_err(|e| e.to_string())?;
    let admin_addr = match admin {
        Some(addr) => addr,
        None => {
            let (addr, task) = serve_admin(&state).await?;
            tasks.push(task);
            addr
        }
    };
    let watcher = if state.options.watch {
        Some(crate::admin::watch(&state)?)
    } else {
        None
    };
    tasks.push(tokio::spawn(serve_traffic(listener, Arc::clone(&state))));
    Ok(Running {
        listen,
        admin: admin_addr,
        state,
        tasks,
        _watcher: watcher,
    })
}

async fn serve_traffic(listener: TcpListener, state: Arc<State>) {
    loop {
        let Ok((stream, remote)) = listener.accept().await else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        let local = stream.local_addr().unwrap_or(remote);
        let state = Arc::clone(&state);
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                let state = Arc::clone(&state);
                async move { Ok::<_, Infallible>(handle(&state, req, local, remote).await) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// The response body the proxy sends.
pub type ProxyBody = RouteBody<Full<Bytes>>;

/// One request: read its body, say where it comes from, decide and forward it through the
/// route layer, then log and count it.
async fn handle(
    state: &State,
    req: Request<Incoming>,
    local: SocketAddr,
    remote: SocketAddr,
) -> Response<ProxyBody> {
    let start = Instant::now();
    let started_at = SystemTime::now();
    let (mut parts, body) = req.into_parts();
    let log = LogRequest::of(&parts, local, remote);
    let (body, received) = match Limited::new(body, MAX_BODY).collect().await {
        Ok(b) => {
            let b = b.to_bytes();
            let n = b.len();
            (Some(b), n)
        }
        Err(_) => (None, 0),
    };
    // The port the request is addressed to: the Host header's, else the listener's.
    let host_port = parts
        .headers
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.rsplit_once(':'))
        .and_then(|(_, p)| p.parse::<u16>().ok());
    let o = &state.options;
    parts.extensions.insert(SourceInfo {
        port: Some(host_port.unwrap_or(local.port())),
        labels: o.labels.clone(),
        namespace: Some(o.namespace.clone()),
        ip: Some(remote.ip()),
        gateway: o.gateway.clone(),
    });
    let response = match body {
        Some(body) => {
            let service = state.layer.layer(state.forwarder.clone());
            match service.oneshot(Request::from_parts(parts, body)).await {
                Ok(r) => r,
                Err(never) => match never {},
            }
        }
        None => {
            // Over MAX_BODY, or the client stopped sending: answered before routing.
            let mut r = Response::new(RouteBody::full("request body too large or cut short"));
            *r.status_mut() = StatusCode::PAYLOAD_TOO_LARGE;
            r.extensions_mut()
                .insert(ResponseFlags::DOWNSTREAM_PROTOCOL_ERROR);
            r
        }
    };
    let elapsed = start.elapsed();
    let flags = response
        .extensions()
        .get::<ResponseFlags>()
        .copied()
        .unwrap_or_default();
    let upstream = response.extensions().get::<Upstream>();
    let decided = response.extensions().get::<Decided<Router>>();
    let route_name = decided.and_then(|d| {
        let decision = d.decision();
        let route = match decision.matched() {
            Some(m) => m.route_name(),
            // The catch-all routes, `allow_any` and `block_all`.
            None => decision.outcome.catch_all()?.0,
        };
        Some(route.to_string()).filter(|n| !n.is_empty())
    });
    state
        .stats
        .record(o, decided, upstream, response.status().as_u16(), flags);
    if o.access_log {
        let sent = http_body::Body::size_hint(response.body())
            .exact()
            .unwrap_or(0);
        eprintln!(
            "{}",
            log.line(LogResponse {
                started_at,
                status: response.status().as_u16(),
                flags,
                received,
                sent,
                elapsed,
                upstream,
                route_name: route_name.as_deref(),
                details: details(flags, upstream, decided, response.status()),
            })
        );
    }
    response
}

/// Envoy's `%RESPONSE_CODE_DETAILS%` for the response.
fn details(
    flags: ResponseFlags,
    upstream: Option<&Upstream>,
    decided: Option<&Decided<Router>>,
    status: StatusCode,
) -> &'static str {
    let has = |f| flags.contains(f);
    if has(ResponseFlags::NO_ROUTE_FOUND) {
        "route_not_found"
    } else if has(ResponseFlags::FAULT_INJECTED) {
        "fault_filter_abort"
    } else if has(ResponseFlags::UPSTREAM_REQUEST_TIMEOUT) {
        "upstream_response_timeout"
    } else if has(ResponseFlags::NO_HEALTHY_UPSTREAM) {
        "no_healthy_upstream"
    } else if has(ResponseFlags::NO_CLUSTER_FOUND) {
        "cluster_not_found"
    } else if has(ResponseFlags::UPSTREAM_CONNECTION_FAILURE) {
        "upstream_reset_before_response_started{connection_failure}"
    } else if has(ResponseFlags::UPSTREAM_REMOTE_RESET) {
        "upstream_reset_before_response_started{connection_termination}"
    } else if has(ResponseFlags::DOWNSTREAM_PROTOCOL_ERROR) {
        if decided.is_some() {
            "path_normalization_failed"
        } else {
            "request_payload_too_large"
        }
    } else if upstream.is_some_and(|u| u.responded) {
        "via_upstream"
    } else if status == StatusCode::OK && decided.is_some_and(|d| d.decision().forward().is_some())
    {
        // A forwarding rule answered 200 without an upstream: the route layer answered a CORS
        // preflight, as Envoy's CORS filter does (`cors_response`).
        "cors_response"
    } else if decided.is_some() {
        "direct_response"
    } else {
        "-"
    }
}

/// What the access log needs from the request, taken before it is consumed.
struct LogRequest {
    method: String,
    path: String,
    protocol: &'static str,
    forwarded_for: String,
    user_agent: String,
    request_id: String,
    authority: String,
    local: SocketAddr,
    remote: SocketAddr,
}

struct LogResponse<'a> {
    started_at: SystemTime,
    status: u16,
    flags: ResponseFlags,
    received: usize,
    sent: u64,
    elapsed: Duration,
    upstream: Option<&'a Upstream>,
    route_name: Option<&'a str>,
    details: &'static str,
}

impl LogRequest {
    fn of(parts: &http::request::Parts, local: SocketAddr, remote: SocketAddr) -> LogRequest {
        let header = |name: &str| {
            parts
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("-")
                .to_string()
        };
        LogRequest {
            method: parts.method.to_string(),
            path: parts
                .uri
                .path_and_query()
                .map_or("/", |p| p.as_str())
                .to_string(),
            protocol: match parts.version {
                http::Version::HTTP_10 => "HTTP/1.0",
                http::Version::HTTP_2 => "HTTP/2",
                _ => "HTTP/1.1",
            },
            forwarded_for: header("x-forwarded-for"),
            user_agent: header("user-agent"),
            request_id: header("x-request-id"),
            authority: header("host"),
            local,
            remote,
        }
    }

    /// Envoy's default access-log format, as Istio's sidecars write it.
    fn line(&self, r: LogResponse<'_>) -> String {
        let (host, cluster) = match r.upstream {
            Some(u) => (u.address.as_str(), u.cluster.as_str()),
            None => ("-", "-"),
        };
        format!(
            "[{}] \"{} {} {}\" {} {} {} - \"-\" {} {} {} - \"{}\" \"{}\" \"{}\" \"{}\" \"{}\" {} - {} {} - {}",
            rfc3339(r.started_at),
            self.method,
            self.path,
            self.protocol,
            r.status,
            r.flags,
            r.details,
            r.received,
            r.sent,
            r.elapsed.as_millis(),
            self.forwarded_for,
            self.user_agent,
            self.request_id,
            self.authority,
            host,
            cluster,
            self.local,
            self.remote,
            r.route_name.unwrap_or("-"),
        )
    }
}

/// `2026-12-07T10:00:00.123Z`.
fn rfc3339(t: SystemTime) -> String {
    let d = t.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        d.subsec_millis()
    )
}

/// A counter that is read and bumped without a lock.
pub type Counter = AtomicU64;

/// Answers for every endpoint of the configuration on its own address and port, with its
/// `app` and `version` labels (`reviews v2`), so the example config serves real traffic on
/// one machine. The endpoints must be local addresses (127.0.0.0/8 on Linux).
pub async fn demo_backends(state: &State) -> Result<Vec<JoinHandle<()>>, String> {
    let router = state.routes.load();
    let mut seen = std::collections::BTreeSet::new();
    let mut tasks = Vec::new();
    for (_, e, _) in router.endpoint_counts() {
        let addr = format!("{}:{}", e.address, e.port);
        if !seen.insert(addr.clone()) {
            continue;
        }
        let label = |k: &str| e.labels.get(k).cloned().unwrap_or_else(|| "unknown".into());
        let text = format!("{} {}\n", label("app"), label("version"));
        let listener = TcpListener::bind(&addr)
            .await
            .map_err(|err| format!("proxy: cannot serve the demo backend {addr}: {err}"))?;
        eprintln!("proxy: demo backend {addr} answers {:?}", text.trim_end());
        tasks.push(tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let text = text.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |_req: Request<Incoming>| {
                        let body = Full::new(Bytes::from(text.clone()));
                        async move { Ok::<_, Infallible>(Response::new(body)) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        }));
    }
    Ok(tasks)
}
