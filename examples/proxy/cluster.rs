//! `--cluster`: the proxy follows the live cluster of a kubeconfig context instead of files
//! (feature `kube`; `cargo run --example proxy --features k8s-v1_33 -- --cluster`).
//!
//! The kubeconfig is `KUBECONFIG` (a list of files, merged) or `~/.kube/config`, the context
//! `--context` or the kubeconfig's current one, as `meshroute --cluster` and kubectl read them.
//! The namespace watched is `-n`, else the context's, else `default`; `-A` watches every
//! namespace. The client's namespace (where the sidecar runs) is `-n`, else the context's.
//!
//! A [`ClusterSource`] watches every kind the loader reads; each table it compiles is bound,
//! in its build hook, to the endpoints of the same snapshot (its Services, EndpointSlices and
//! Pods) and swapped in as the router that serves. A resource that does not validate is left
//! out and said on stderr and on `/routes`; a table that does not compile, or a router that
//! cannot be built, keeps the one that serves.
//!
//! The proxy takes traffic once the first table is built from every kind's list: it binds its
//! traffic port only then, as Envoy starts its workers only once its clusters and its init
//! manager's targets (the first routes and listeners from xDS) are initialized (Envoy
//! `source/server/server.cc`, `RunHelper`: "We don't start serving worker traffic until
//! upstream clusters are initialized"). A proxy that answered 503 before would fail the
//! requests a client sends during a rollout; one that waits makes the client's connect wait or
//! fail fast. Its admin port, like Envoy's, is bound at start: until the first table `/routes`
//! answers 503 with the cluster's status (each kind listed, still listing with its last error,
//! or skipped), as Envoy's `/ready` answers 503 until then. Meanwhile it also says on stderr
//! what it waits for and every error the watches meet.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use meshroute::cluster::{ClusterOptions, ClusterSource, ClusterStatus, KindState};
use meshroute::registry::{Registry, Router};
use tokio::sync::watch;

use crate::app::{self, Options, Running, State};

/// Where `--cluster` reads: the flags.
#[derive(Clone, Debug, Default)]
pub struct Target {
    /// `--context`: the kubeconfig context, else its current one.
    pub context: Option<String>,
    /// `-n`: the namespace watched and the client's, else the context's.
    pub namespace: Option<String>,
    /// `-A`: watch every namespace.
    pub all_namespaces: bool,
}

/// A client of the context `target` names, what the log calls it (`context kind-shop,
/// namespace shop`), the namespace to watch (`None`: all) and the context's namespace.
async fn connect(
    target: &Target,
) -> Result<(kube::Client, String, Option<String>, String), String> {
    use kube::config::{KubeConfigOptions, Kubeconfig};

    let kubeconfig = Kubeconfig::read()
        .map_err(|e| format!("proxy: --cluster: cannot read the kubeconfig: {e}"))?;
    let context = target
        .context
        .clone()
        .or(kubeconfig.current_context.clone())
        .ok_or(
            "proxy: --cluster: the kubeconfig has no current context; name one with --context",
        )?;
    let options = KubeConfigOptions {
        context: Some(context.clone()),
        ..KubeConfigOptions::default()
    };
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &options)
        .await
        .map_err(|e| format!("proxy: --cluster: context {context}: {e}"))?;
    let server = config.cluster_url.to_string();
    let home = config.default_namespace.clone();
    let watched = match (&target.namespace, target.all_namespaces) {
        (_, true) => None,
        (Some(ns), false) => Some(ns.clone()),
        (None, false) => Some(home.clone()),
    };
    let described = match &watched {
        Some(ns) => format!("context {context}, namespace {ns}"),
        None => format!("context {context}, all namespaces"),
    };
    let client = kube::Client::try_from(config)
        .map_err(|e| format!("proxy: --cluster: context {context} ({server}): {e}"))?;
    Ok((client, described, watched, home))
}

/// Follows the cluster `target` names and serves from it once the first table is built.
pub async fn start(mut options: Options, target: Target) -> Result<Running, String> {
    let (client, described, watched, home) = connect(&target).await?;
    options.namespace = target.namespace.clone().unwrap_or(home);
    let compile = app::compile_options();
    // What serves until the first table: nothing (nothing is bound before it either).
    let empty = meshroute::compile(&meshroute::Config::new(), &compile)
        .map_err(|e| format!("proxy: {e}"))?
        .table;
    let router = Router::new(&empty, &Registry::new())?;
    let state = Arc::new(State::new(options, router, Registry::new(), None));

    let mut scope = ClusterOptions::default().compile(compile.clone());
    scope.namespace = watched;
    let first = AtomicBool::new(true);
    let hook_state = Arc::clone(&state);
    let source = ClusterSource::new(client, scope).on_build(move |config, table| {
        match app::bind(config, table, &compile) {
            Ok((router, registry)) => {
                hook_state.install(router, registry);
                if !first.swap(false, Ordering::Relaxed) {
                    hook_state.stats.reloads_ok.fetch_add(1, Ordering::Relaxed);
                    eprintln!("proxy: table rebuilt from the cluster");
                }
            }
            Err(e) => {
                hook_state
                    .stats
                    .reloads_error
                    .fetch_add(1, Ordering::Relaxed);
                eprintln!(
                    "proxy: the cluster's table has no router ({e}); still serving the previous one"
                );
            }
        }
    });
    let mut status = source.status();
    let _ = state.source_status.set({
        let status = status.clone();
        let described = described.clone();
        Box::new(move || {
            let now = status.borrow();
            (now.builds > 0, in_words(&described, &now))
        })
    });
    let source = tokio::spawn(source.run());
    let (admin, admin_task) = match app::serve_admin(&state).await {
        Ok(served) => served,
        Err(e) => {
            source.abort();
            return Err(e);
        }
    };
    eprintln!("proxy: admin on {admin}; /routes answers 503 until the first table");

    eprintln!("proxy: waiting for the first table from the cluster ({described})");
    let mut said = BTreeSet::new();
    loop {
        let now = Arc::clone(&status.borrow_and_update());
        if now.builds > 0 {
            break;
        }
        for k in &now.kinds {
            // Once per kind and error: the list is retried with backoff meanwhile.
            if let (KindState::Listing, Some(e)) = (&k.state, &k.last_error)
                && said.insert((k.kind.api_version(), k.kind.kind, e.clone()))
            {
                eprintln!(
                    "proxy: cluster: {} {}: {e} (retrying)",
                    k.kind.api_version(),
                    k.kind.kind
                );
            }
        }
        if status.changed().await.is_err() {
            source.abort();
            admin_task.abort();
            return Err("proxy: --cluster: every watch ended before the first table".into());
        }
    }
    let now = Arc::clone(&status.borrow());
    let listed = now
        .kinds
        .iter()
        .filter(|k| k.state == KindState::Synced)
        .count();
    let skipped: Vec<String> = now
        .kinds
        .iter()
        .filter(|k| matches!(k.state, KindState::Skipped(_)))
        .map(|k| format!("{} {}", k.kind.api_version(), k.kind.kind))
        .collect();
    eprintln!(
        "proxy: first table from the cluster: {listed} kinds listed{}",
        if skipped.is_empty() {
            String::new()
        } else {
            format!(", not served: {}", skipped.join(", "))
        }
    );
    let logger = tokio::spawn(log_changes(status));
    app::serve(state, vec![source, logger, admin_task], Some(admin)).await
}

/// Says on stderr what each new status changes: resources rejected, a compile that failed.
async fn log_changes(mut status: watch::Receiver<Arc<ClusterStatus>>) {
    let mut rejected = BTreeSet::new();
    let mut failed: Option<String> = None;
    loop {
        let now = Arc::clone(&status.borrow_and_update());
        let now_rejected: BTreeSet<String> = now
            .rejected
            .iter()
            .flat_map(|r| r.errors.iter().map(ToString::to_string))
            .collect();
        for e in now_rejected.difference(&rejected) {
            eprintln!("proxy: rejected {e}");
        }
        rejected = now_rejected;
        let now_failed = now.failed.as_ref().map(ToString::to_string);
        if now_failed != failed {
            if let Some(e) = &now_failed {
                eprintln!(
                    "proxy: the cluster's configuration does not compile; still serving the previous table: {e}"
                );
            }
            failed = now_failed;
        }
        if status.changed().await.is_err() {
            return;
        }
    }
}

/// The status in words, for the top of `/routes`: the source, each kind's watch, the
/// resources left out and why.
fn in_words(described: &str, s: &ClusterStatus) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "cluster ({described}): {} tables built", s.builds);
    for k in &s.kinds {
        let name = format!("{} {}", k.kind.api_version(), k.kind.kind);
        let _ = match &k.state {
            KindState::Synced => writeln!(
                out,
                "  listed    {name} ({} object{})",
                k.objects,
                if k.objects == 1 { "" } else { "s" }
            ),
            KindState::Listing => writeln!(
                out,
                "  listing   {name}{}",
                k.last_error
                    .as_ref()
                    .map_or(String::new(), |e| format!(" (last error: {e})"))
            ),
            KindState::Skipped(why) => writeln!(out, "  skipped   {why}"),
            _ => writeln!(out, "  {name}: {:?}", k.state),
        };
    }
    for r in &s.rejected {
        for e in &r.errors {
            let _ = writeln!(out, "  rejected  {e}");
        }
    }
    if let Some(e) = &s.failed {
        let _ = writeln!(
            out,
            "  failed    the last compile (the previous table serves): {e}"
        );
    }
    out
}
