//! The admin side of the proxy: `/metrics` (Istio's `istio_requests_total`, the table's
//! decision counters, reloads), `/routes` (the compiled table in words), and the watcher that
//! reloads the configuration when its files change.

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
use notify_debouncer_mini::notify::RecursiveMode;
use notify_debouncer_mini::{DebounceEventResult, Debouncer, new_debouncer};
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
            (None, Some(d)) => d
                .decision()
                .destination()
                .map_or_else(|| "unknown".to_string(), |d| d.host.to_string()),
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
                "istio_requests_total{{reporter=\"source\",source_workload=\"{}\",source_workload_namespace=\"{}\",source_app=\"{}\",source_version=\"{}\",destination_service=\"{}\",destination_service_name=\"{}\",destination_service_namespace=\"{}\",destination_app=\"{}\",destination_version=\"{}\",request_protocol=\"http\",response_code=\"{}\",response_flags=\"{}\"}} {n}",
                escape(source_app),
                escape(&o.namespace),
                escape(source_app),
                escape(source_version),
                escape(&s.destination_service),
                escape(name),
                escape(ns),
                escape(&s.destination_app),
                escape(&s.destination_version),
                s.response_code,
                escape(&s.response_flags),
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
        let at = match w.block {
            Some(b) => rule.blocks[b as usize].route_name.to_string(),
            None => rule.name.to_string(),
        };
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
                async move { Ok::<_, Infallible>(answer(&state, req.uri().path())) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

fn answer(state: &State, path: &str) -> Response<Full<Bytes>> {
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
            let words = state
                .words
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone();
            (StatusCode::OK, "text/plain", words.to_string())
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

/// Watches the configuration; holds the watch while it lives.
pub type Watcher = Debouncer<notify_debouncer_mini::notify::RecommendedWatcher>;

/// Reloads `state` (debounced by 200 ms) whenever a configuration file or directory changes.
/// A file is watched through its directory, so an editor's replace-by-rename is seen too.
pub fn watch(state: &Arc<State>) -> Result<Watcher, String> {
    let weak = Arc::downgrade(state);
    let runtime = tokio::runtime::Handle::current();
    let configs: Vec<PathBuf> = state.options.configs.clone();
    let wanted = configs.clone();
    let mut debouncer = new_debouncer(
        Duration::from_millis(200),
        move |events: DebounceEventResult| {
            let Ok(events) = events else {
                return;
            };
            let relevant = events.iter().any(|e| {
                wanted
                    .iter()
                    .any(|c| e.path.starts_with(c) || same_file(&e.path, c))
            });
            if !relevant {
                return;
            }
            if let Some(state) = weak.upgrade() {
                // Compiling is CPU work: off the async workers.
                runtime.spawn_blocking(move || {
                    state.reload();
                });
            }
        },
    )
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
        debouncer
            .watcher()
            .watch(&path, mode)
            .map_err(|e| format!("proxy: cannot watch {}: {e}", path.display()))?;
    }
    Ok(debouncer)
}

fn same_file(event: &std::path::Path, config: &std::path::Path) -> bool {
    let canon = |p: &std::path::Path| std::fs::canonicalize(p).ok();
    event.file_name() == config.file_name()
        && (canon(event) == canon(config) || canon(event).is_none())
}
