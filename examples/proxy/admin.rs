//! The admin side of the proxy: `/metrics` (Istio's `istio_requests_total`, the table's
//! decision counters, reloads), `/routes` (the configuration source's status when it has one,
//! then the compiled table in words, rendered once per table when first asked for; 503 with
//! the status alone while the source has no table yet), and the watcher that reloads the configuration when its
//! files change.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use meshroute::Table;
use meshroute::registry::{Registry, Router};
use meshroute::tower::{Decided, ResponseFlags};
use meshroute::witness::{Witness, witnesses};
use notify::{EventKind, RecommendedWatcher, RecursiveMode, Watcher as _};
use tokio::net::TcpListener;

use crate::app::{Counter, Options, State};
use crate::forward::Upstream;

/// The labels of one `istio_requests_total` series.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Series {
    destination_service: String,
    destination_app: String,
    destination_version: String,
    response_code: u16,
    response_flags: String,
}

/// The proxy's counters.
#[derive(Debug, Default)]
pub struct Stats {
    requests: Mutex<BTreeMap<Series, u64>>,
    /// Reloads that replaced the router.
    pub reloads_ok: Counter,
    /// Reloads refused: the previous router kept serving.
    pub reloads_error: Counter,
}

impl Stats {
    /// Counts one response, labelled as Istio's sidecar labels it (reporter `source`).
    pub fn record(
        &self,
        _options: &Options,
        decided: Option<&Decided<Router>>,
        upstream: Option<&Upstream>,
        status: u16,
        flags: ResponseFlags,
    ) {
        let service = match (upstream, decided) {
            (Some(u), _) => u.service.clone(),
            (None, Some(d)) => {
                let decision = d.decision();
                match (decision.destination(), decision.outcome.catch_all()) {
                    (Some(d), _) => d.host.to_string(),
                    // Istio reports the catch-all routes against their cluster.
                    (None, Some((_, cluster))) => cluster.to_string(),
                    (None, None) => "unknown".to_string(),
                }
            }
            (None, None) => "unknown".to_string(),
        };
        let series = Series {
            destination_service: service,
            destination_app: upstream.map_or_else(|| "unknown".into(), |u| u.app.clone()),
            destination_version: upstream.map_or_else(|| "unknown".into(), |u| u.version.clone()),
            response_code: status,
            response_flags: flags.to_string(),
        };
        let mut m = self.requests.lock().unwrap_or_else(|p| p.into_inner());
        *m.entry(series).or_default() += 1;
    }

    /// Every counter in Prometheus' text format.
    pub fn prometheus(&self, options: &Options, table: &Table) -> String {
        let mut out = String::new();
        let o = options;
        let source_app = o.labels.get("app").map_or("unknown", String::as_str);
        let source_version = o.labels.get("version").map_or("unknown", String::as_str);
        let _ = writeln!(
            out,
            "# HELP istio_requests_total Requests the proxy answered, by destination version and response code."
        );
        let _ = writeln!(out, "# TYPE istio_requests_total counter");
        let m = self.requests.lock().unwrap_or_else(|p| p.into_inner());
        for (s, n) in m.iter() {
            let mut parts = s.destination_service.splitn(3, '.');
            let name = parts.next().unwrap_or("unknown");
            let ns = parts.next().unwrap_or("unknown");
            let _ = writeln!(
                out,
                "istio_requests_total{{reporter=\"source\",source_workload=\"{sw}\",source_workload_namespace=\"{sns}\",source_app=\"{sa}\",source_version=\"{sv}\",source_canonical_service=\"{sa}\",source_canonical_revision=\"{sv}\",destination_service=\"{ds}\",destination_service_name=\"{dn}\",destination_service_namespace=\"{dns}\",destination_workload=\"{dw}\",destination_workload_namespace=\"{dwns}\",destination_app=\"{da}\",destination_version=\"{dv}\",destination_canonical_service=\"{da}\",destination_canonical_revision=\"{dv}\",request_protocol=\"http\",response_code=\"{code}\",grpc_response_status=\"\",response_flags=\"{flags}\",connection_security_policy=\"unknown\"}} {n}",
                sw = escape(source_app),
                sns = escape(&o.namespace),
                sa = escape(source_app),
                sv = escape(source_version),
                ds = escape(&s.destination_service),
                dn = escape(name),
                dns = escape(ns),
                dw = escape(&workload(&s.destination_app, &s.destination_version)),
                dwns = escape(if s.destination_app == "unknown" {
                    "unknown"
                } else {
                    ns
                }),
                da = escape(&s.destination_app),
                dv = escape(&s.destination_version),
                code = s.response_code,
                flags = escape(&s.response_flags),
            );
        }
        drop(m);
        let _ = writeln!(
            out,
            "# HELP meshroute_config_reloads_total Configuration reloads, by result."
        );
        let _ = writeln!(out, "# TYPE meshroute_config_reloads_total counter");
        for (result, n) in [("ok", &self.reloads_ok), ("error", &self.reloads_error)] {
            let _ = writeln!(
                out,
                "meshroute_config_reloads_total{{result=\"{result}\"}} {}",
                n.load(Ordering::Relaxed)
            );
        }
        if let Some(metrics) = table.metrics() {
            out.push_str(&metrics.decisions_prometheus());
        }
        out
    }
}

/// The workload name as Bookinfo's Deployments are named (`reviews-v2`): the pods' owner is
/// not in the configuration, so it is made from the `app` and `version` labels.
fn workload(app: &str, version: &str) -> String {
    match (app, version) {
        ("unknown", _) => "unknown".to_string(),
        (app, "unknown") => app.to_string(),
        (app, version) => format!("{app}-{version}"),
    }
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The compiled table in words: each rule, where it is written, a request that reaches it
/// (or why none does), and what it does; then each cluster and its endpoints.
pub fn routes_in_words(table: &Table, registry: &Registry) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} rules from {} resources",
        table.rules().len(),
        table.sources().len()
    );
    for w in witnesses(table) {
        let rule = &table.rules()[w.rule];
        let source = table.source_of(rule);
        let at = rule.route_name(w.block);
        let _ = writeln!(
            out,
            "\n{} {}/{} rule {}{}",
            source.kind,
            source.namespace,
            source.name,
            rule.index,
            if at.is_empty() {
                String::new()
            } else {
                format!(" ({at})")
            }
        );
        match &w.result {
            Witness::Reaches(req) => {
                let _ = writeln!(out, "  when   {}", meshroute::diff::request_line(req));
                let d = table.decide_with_draw(req, 0);
                let effect = meshroute::diff::effect(&d, req);
                let _ = writeln!(out, "  then   {}", effect.outcome);
                for s in &effect.destinations {
                    let _ = writeln!(
                        out,
                        "         {}{}{} {}{}",
                        s.host,
                        s.subset
                            .as_deref()
                            .map_or(String::new(), |x| format!(" subset {x}")),
                        s.port.map_or(String::new(), |p| format!(" port {p}")),
                        s.percent(),
                        s.unavailable.map_or(String::new(), |u| format!(" ({u})")),
                    );
                }
                for a in &effect.actions {
                    let _ = writeln!(out, "         {a}");
                }
            }
            other => {
                let _ = writeln!(out, "  never reached: {other:?}");
            }
        }
    }
    let _ = writeln!(out, "\nendpoints");
    for host in registry.hosts() {
        for e in registry.endpoints(host) {
            let labels: Vec<String> = e.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
            let _ = writeln!(
                out,
                "  {host}  {}:{}  {}{}",
                e.address,
                e.port,
                labels.join(","),
                if e.healthy { "" } else { "  (not ready)" }
            );
        }
    }
    out
}

/// Serves `/metrics` and `/routes`.
pub async fn serve(listener: TcpListener, state: Arc<State>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let state = Arc::clone(&state);
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                let state = Arc::clone(&state);
                async move { Ok::<_, Infallible>(answer(&state, req.uri().path()).await) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

async fn answer(state: &State, path: &str) -> Response<Full<Bytes>> {
    let (status, content_type, body) = match path {
        "/metrics" => {
            let router = state.routes.load();
            (
                StatusCode::OK,
                "text/plain; version=0.0.4",
                state.stats.prometheus(&state.options, router.table()),
            )
        }
        "/routes" => {
            // The source's own word first (with --cluster: what each kind's watch has read,
            // and what was rejected and why).
            let source = state.source_status.get().map(|status| status());
            match source {
                // No table of the source's yet: its status alone, and 503, as Envoy's admin
                // `/ready` answers 503 until its init manager's targets (the first routes) are
                // initialized (Envoy `source/server/admin/server_info_handler.cc`,
                // `handlerReady`).
                Some((false, status)) => (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "text/plain",
                    format!(
                        "{status}\nno table yet: the proxy serves once every kind has listed\n"
                    ),
                ),
                source => {
                    let words = Arc::clone(&state.words.lock().unwrap_or_else(|p| p.into_inner()));
                    // Put in words once per table, off the async workers (a witness request
                    // per rule).
                    let words = tokio::task::spawn_blocking(move || words.text())
                        .await
                        .unwrap_or_else(|e| Arc::new(format!("the routes in words failed: {e}\n")));
                    let text = match source {
                        Some((_, status)) => format!("{status}\n{words}"),
                        None => words.to_string(),
                    };
                    (StatusCode::OK, "text/plain", text)
                }
            }
        }
        _ => (
            StatusCode::NOT_FOUND,
            "text/plain",
            "not found: try /metrics or /routes\n".to_string(),
        ),
    };
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    if let Ok(v) = http::HeaderValue::try_from(content_type) {
        r.headers_mut().insert(http::header::CONTENT_TYPE, v);
    }
    r
}

/// Watches the configuration while it lives.
pub struct Watcher {
    _watcher: RecommendedWatcher,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Watcher {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// How long the files must stay quiet after a change before they are reloaded.
pub const DEBOUNCE: Duration = Duration::from_millis(200);

/// Reloads `state` once the configuration files have been quiet for [`DEBOUNCE`] after a
/// change. A file is watched through its directory, so an editor's replace-by-rename is seen;
/// reads (the reload's own among them) are not changes.
pub fn watch(state: &Arc<State>) -> Result<Watcher, String> {
    let configs: Vec<PathBuf> = state.options.configs.clone();
    let wanted = configs.clone();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<()>();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        let Ok(event) = event else {
            return;
        };
        if matches!(event.kind, EventKind::Access(_)) {
            return;
        }
        if event
            .paths
            .iter()
            .any(|p| wanted.iter().any(|c| p.starts_with(c) || same_file(p, c)))
        {
            let _ = tx.send(());
        }
    })
    .map_err(|e| format!("proxy: cannot watch the configuration: {e}"))?;
    for c in &configs {
        let (path, mode) = if c.is_dir() {
            (c.clone(), RecursiveMode::Recursive)
        } else {
            let parent = c
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .map_or_else(|| PathBuf::from("."), PathBuf::from);
            (parent, RecursiveMode::NonRecursive)
        };
        watcher
            .watch(&path, mode)
            .map_err(|e| format!("proxy: cannot watch {}: {e}", path.display()))?;
    }
    let weak = Arc::downgrade(state);
    let task = tokio::spawn(async move {
        while rx.recv().await.is_some() {
            // Debounce: every change within DEBOUNCE of the last one is the same reload.
            loop {
                match tokio::time::timeout(DEBOUNCE, rx.recv()).await {
                    Ok(Some(())) => continue,
                    Ok(None) => return,
                    Err(_) => break,
                }
            }
            let Some(state) = weak.upgrade() else {
                return;
            };
            // Compiling is CPU work: off the async workers.
            let _ = tokio::task::spawn_blocking(move || state.reload()).await;
        }
    });
    Ok(Watcher {
        _watcher: watcher,
        task,
    })
}

/// Whether the changed path `event` is the configuration file `config` (by name, and by
/// identity when both still exist).
fn same_file(event: &std::path::Path, config: &std::path::Path) -> bool {
    let canon = |p: &std::path::Path| std::fs::canonicalize(p).ok();
    event.file_name() == config.file_name()
        && match (canon(event), canon(config)) {
            (Some(a), Some(b)) => a == b,
            _ => true,
        }
}
