//! Following a Kubernetes cluster (feature `kube`): [`ClusterSource`] watches every kind the
//! loader reads and keeps a [`Shared<Table>`] in step with the API server.
//!
//! - One kube-runtime [`watcher()`] per kind ([`KINDS`]), with bookmarks. The watcher re-lists
//!   by itself when the API server answers a watch with `410 Gone` (the resource version it
//!   resumed from was compacted), and resumes a watch that ended from the last resource
//!   version it saw; errors are retried with kube-runtime's default backoff.
//! - Each object an event brings is written back to JSON and read by
//!   [`Config::add_json_value`] at once: the same dispatch, schema and validation as a file, so
//!   a resource the cluster holds and a file holding the same resource compile alike. What is
//!   held per kind is what the loader read, not the API server's object (a reflector store of
//!   decoded resources: a Pod's `managedFields` and container statuses are not kept), and an
//!   object is read again only when its `resourceVersion` changed. A re-list keeps the held
//!   objects serving until it completes, and reads only the objects it changed.
//! - After a change, and once every kind has listed, the held resources are compiled in an
//!   order that does not depend on the order events came in (kind, namespace, name), exactly
//!   as [`snapshot`] reads them. A change to what compile does not read (an EndpointSlice; a
//!   Pod while no Sidecar is held) compiles nothing: the table stays, the status is brought up
//!   to date ([`ClusterStatus::compiles_skipped`]).
//! - The compile and the build hook ([`ClusterSource::on_build`]) run off the async workers,
//!   on tokio's blocking threads, one build at a time: the watches go on receiving and reading
//!   events while a build runs (about a second at 10,000 VirtualServices), and the status
//!   shows what they read. The changes that came during a build are built once it ends, from
//!   the objects held then: never one build per state that has since changed.
//! - Changes are debounced ([`ClusterOptions::debounce`]): a change after a quiet period, with
//!   no build under way, is built at once (with whatever has already arrived), and the changes
//!   that follow within the debounce window are gathered until it is quiet again
//!   ([`ClusterOptions::max_delay`] at most), so a burst of events compiles once or twice
//!   rather than per event. istiod's
//!   debounce (`pilot/pkg/xds/discovery.go`, `debounce`: `PILOT_DEBOUNCE_AFTER` 100 ms of
//!   quiet, `PILOT_DEBOUNCE_MAX` 10 s) waits for the quiet before the first push too; building
//!   the leading change at once is what keeps one change under 100 ms from event to table.
//! - A resource that does not validate is left out and reported (as for files, unless
//!   [`CompileOptions::strict`]); a compile that fails keeps the table that serves.
//! - [`ClusterStatus`] (from [`ClusterSource::status`]) says, per kind, whether it listed,
//!   how many objects it holds and the last error; and, per resource, what was rejected and
//!   why. A kind the cluster does not serve (its list answers 404: the CRD is not installed)
//!   is skipped, and the status says so; the others go on.
//! - A list or watch that fails otherwise (403 Forbidden when RBAC does not grant `list` or
//!   `watch`, 401 Unauthorized, a 5xx, no connection) is retried with kube-runtime's backoff
//!   (800 ms, doubling to 30 s, with jitter: client-go's reflector backoff), and
//!   [`KindStatus::last_error`] names the request, the HTTP code and the API server's message
//!   ([`KindError`]). A kind whose list has not yet succeeded holds the first table back, as
//!   istiod waits for every informer's cache sync before it serves
//!   (`pilot/pkg/bootstrap/server.go`, `waitForCacheSync`) while client-go logs each
//!   `failed to list` (`tools/cache/reflector.go`): a table without, say, the
//!   DestinationRules would route wrongly. [`snapshot`], one list per kind, fails instead
//!   ([`ListError`]), as `kubectl get` does.
//!
//! Istio resources are read at `networking.istio.io/v1`, Gateway API routes at the newest of
//! the versions their CRDs serve in the standard and experimental channels ([`KINDS`]): a kind
//! with older versions ([`WatchedKind::older`], TLSRoute and ReferenceGrant) is listed at each,
//! newest first, until one is served. The `istio`
//! ConfigMap (mesh config) is read from the root namespace
//! ([`MeshSettings::root_namespace`](crate::mesh::MeshSettings)).
//!
//! ```no_run
//! use meshroute::cluster::{ClusterOptions, ClusterSource};
//! use meshroute::OwnedRequest;
//!
//! # async fn f() -> Result<(), Box<dyn std::error::Error>> {
//! let client = kube::Client::try_default().await?;
//! let source = ClusterSource::new(client, ClusterOptions::default().namespace("shop"));
//! let tables = source.tables();
//! let mut status = source.status();
//! tokio::spawn(source.run());
//!
//! // Wait for the first table built from every kind's list.
//! status.wait_for(|s| s.builds > 0).await?;
//! let req = OwnedRequest::new("GET", "http://reviews/").from_namespace("shop");
//! let table = tables.load();
//! println!("{:?}", table.decide_with_draw(&req, 0).destination());
//! # Ok(())
//! # }
//! ```

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures::stream::BoxStream;
use futures::{FutureExt, StreamExt};
use kube::api::{Api, ApiResource, DynamicObject};
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher;
use serde_json::Value;
use tokio::sync::watch as signal;

use crate::compile::{CompileOptions, Compiled, Incremental, Read, compile, compile_with};
use crate::config::{Config, Rejected, Resource, mesh::MESH_CONFIG_MAP};
use crate::error::{Diagnostic, Errors, ResourceId};
use crate::reload::Shared;
use crate::table::Table;

/// The `source` of every resource read from the cluster, as errors and notes print it.
pub const SOURCE: &str = "cluster";

/// Where a kind is listed and watched.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Scope {
    /// In the watched namespace, or in all ([`ClusterOptions::namespace`]).
    Namespaced,
    /// Cluster-wide (Namespace).
    Cluster,
    /// Only the object named `istio` in the root namespace (the mesh config ConfigMap).
    MeshConfig,
}

/// A kind [`ClusterSource`] watches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct WatchedKind {
    /// API group, empty for the core group.
    pub group: &'static str,
    /// Version the kind is read at: the newest this crate reads, until the cluster is found
    /// not to serve it.
    pub version: &'static str,
    /// The versions read, newest first, when the cluster does not serve `version` (its list
    /// answers 404): Gateway API 1.5's standard channel serves TLSRoute only as `v1`, older
    /// releases and the experimental channel as `v1alpha2`/`v1alpha3`; ReferenceGrant is
    /// `v1beta1` before 1.6.
    pub older: &'static [&'static str],
    /// Kind.
    pub kind: &'static str,
    /// The resource's plural, as in its URL.
    pub plural: &'static str,
    /// Where it is watched.
    pub scope: Scope,
}

impl WatchedKind {
    const fn new(
        group: &'static str,
        version: &'static str,
        kind: &'static str,
        plural: &'static str,
        scope: Scope,
    ) -> WatchedKind {
        WatchedKind {
            group,
            version,
            older: &[],
            kind,
            plural,
            scope,
        }
    }

    /// This kind, read at `version` when the cluster does not serve the newer ones.
    const fn or_older(self, older: &'static [&'static str]) -> WatchedKind {
        WatchedKind { older, ..self }
    }

    /// This kind read at each of its versions, newest first.
    pub fn versions(&self) -> impl Iterator<Item = WatchedKind> + '_ {
        std::iter::once(self.version)
            .chain(self.older.iter().copied())
            .map(|version| WatchedKind {
                version,
                older: &[],
                ..*self
            })
    }

    /// `group/version`, or `version` for the core group.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// The kube [`ApiResource`] of this kind.
    pub fn api_resource(&self) -> ApiResource {
        ApiResource {
            group: self.group.to_string(),
            version: self.version.to_string(),
            api_version: self.api_version(),
            kind: self.kind.to_string(),
            plural: self.plural.to_string(),
        }
    }
}

const ISTIO: &str = "networking.istio.io";
const GATEWAY_API: &str = "gateway.networking.k8s.io";

/// Every kind [`ClusterSource`] watches: those the loader reads.
pub const KINDS: &[WatchedKind] = &[
    WatchedKind::new(
        ISTIO,
        "v1",
        "VirtualService",
        "virtualservices",
        Scope::Namespaced,
    ),
    WatchedKind::new(
        ISTIO,
        "v1",
        "DestinationRule",
        "destinationrules",
        Scope::Namespaced,
    ),
    WatchedKind::new(ISTIO, "v1", "Gateway", "gateways", Scope::Namespaced),
    WatchedKind::new(
        ISTIO,
        "v1",
        "ServiceEntry",
        "serviceentries",
        Scope::Namespaced,
    ),
    WatchedKind::new(ISTIO, "v1", "Sidecar", "sidecars", Scope::Namespaced),
    WatchedKind::new(
        ISTIO,
        "v1",
        "WorkloadEntry",
        "workloadentries",
        Scope::Namespaced,
    ),
    WatchedKind::new(GATEWAY_API, "v1", "Gateway", "gateways", Scope::Namespaced),
    WatchedKind::new(
        GATEWAY_API,
        "v1",
        "HTTPRoute",
        "httproutes",
        Scope::Namespaced,
    ),
    WatchedKind::new(
        GATEWAY_API,
        "v1",
        "GRPCRoute",
        "grpcroutes",
        Scope::Namespaced,
    ),
    WatchedKind::new(
        GATEWAY_API,
        "v1",
        "TLSRoute",
        "tlsroutes",
        Scope::Namespaced,
    )
    .or_older(&["v1alpha3", "v1alpha2"]),
    WatchedKind::new(
        GATEWAY_API,
        "v1alpha2",
        "TCPRoute",
        "tcproutes",
        Scope::Namespaced,
    ),
    WatchedKind::new(
        GATEWAY_API,
        "v1",
        "ReferenceGrant",
        "referencegrants",
        Scope::Namespaced,
    )
    .or_older(&["v1beta1"]),
    WatchedKind::new("", "v1", "Service", "services", Scope::Namespaced),
    WatchedKind::new(
        "discovery.k8s.io",
        "v1",
        "EndpointSlice",
        "endpointslices",
        Scope::Namespaced,
    ),
    WatchedKind::new("", "v1", "Pod", "pods", Scope::Namespaced),
    WatchedKind::new("", "v1", "Namespace", "namespaces", Scope::Cluster),
    WatchedKind::new("", "v1", "ConfigMap", "configmaps", Scope::MeshConfig),
];

/// Options of a [`ClusterSource`].
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ClusterOptions {
    /// Watch only this namespace (`None`, the default: all namespaces). Namespaces themselves
    /// and the mesh config are watched wherever they are.
    pub namespace: Option<String>,
    /// The quiet period (default 100 ms, istiod's `PILOT_DEBOUNCE_AFTER`): a change after this
    /// long without one is built at once; the changes that follow it within this window are
    /// gathered until the watches have been quiet this long.
    pub debounce: Duration,
    /// The longest a rebuild waits for quiet once a change came (default 1 s), so that a
    /// cluster that never stops changing still gets new tables.
    pub max_delay: Duration,
    /// How the tables are compiled.
    pub compile: CompileOptions,
}

impl Default for ClusterOptions {
    fn default() -> ClusterOptions {
        ClusterOptions {
            namespace: None,
            debounce: Duration::from_millis(100),
            max_delay: Duration::from_secs(1),
            compile: CompileOptions::default(),
        }
    }
}

impl ClusterOptions {
    /// Watches only `namespace` (as `kubectl -n`).
    pub fn namespace(mut self, namespace: impl Into<String>) -> ClusterOptions {
        self.namespace = Some(namespace.into());
        self
    }

    /// Watches all namespaces (as `kubectl -A`; the default).
    pub fn all_namespaces(mut self) -> ClusterOptions {
        self.namespace = None;
        self
    }

    /// Sets [`ClusterOptions::debounce`].
    pub fn debounce(mut self, quiet: Duration) -> ClusterOptions {
        self.debounce = quiet;
        self
    }

    /// Sets [`ClusterOptions::max_delay`].
    pub fn max_delay(mut self, delay: Duration) -> ClusterOptions {
        self.max_delay = delay;
        self
    }

    /// Sets [`ClusterOptions::compile`].
    pub fn compile(mut self, options: CompileOptions) -> ClusterOptions {
        self.compile = options;
        self
    }
}

/// Where a kind's watch stands.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum KindState {
    /// Listing: no complete list yet.
    Listing,
    /// Listed, and watching for changes. A re-list (after a `410 Gone`) keeps this state: the
    /// store keeps the last list until the new one completes ([`KindStatus::relists`]).
    Synced,
    /// Not watched: the reason (the cluster does not serve the kind).
    Skipped(String),
}

/// One watched kind's status.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct KindStatus {
    /// The kind.
    pub kind: WatchedKind,
    /// Where its watch stands.
    pub state: KindState,
    /// Objects in its store.
    pub objects: usize,
    /// Lists after the first one (a `410 Gone` forces one).
    pub relists: u64,
    /// The last error the watch met (retried with backoff), until it lists or watches again.
    pub last_error: Option<KindError>,
}

/// A list or watch of a kind that failed: what the API server answered (its HTTP code,
/// reason and message), or why there was no answer. Displayed as `list: 403 Forbidden:
/// virtualservices.networking.istio.io is forbidden: User "…" cannot list resource …`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[non_exhaustive]
pub struct KindError {
    /// The request that failed: `list` or `watch`.
    pub request: &'static str,
    /// The HTTP status code the API server answered (403, 401, 500, …); `None` when nothing
    /// answered (the connection failed) or the answer was not the API server's.
    pub code: Option<u16>,
    /// The API server's reason (`Forbidden`, `Unauthorized`), empty when it gave none.
    pub reason: String,
    /// The API server's message, or the client's error with its causes.
    pub message: String,
}

impl KindError {
    /// The error of a `request` (`list` or `watch`) through kube's client.
    fn of(request: &'static str, e: &kube::Error) -> KindError {
        match e {
            kube::Error::Api(status) => KindError::answered(request, status),
            e => KindError {
                request,
                code: None,
                reason: String::new(),
                message: chain(e),
            },
        }
    }

    /// The API server's answer to a `request`.
    fn answered(request: &'static str, status: &kube::core::Status) -> KindError {
        KindError {
            request,
            code: (status.code != 0).then_some(status.code),
            reason: status.reason.clone(),
            message: status.message.clone(),
        }
    }

    /// The error a watcher met.
    fn of_watch(e: &watcher::Error) -> KindError {
        match e {
            watcher::Error::InitialListFailed(e) => KindError::of("list", e),
            watcher::Error::WatchStartFailed(e) | watcher::Error::WatchFailed(e) => {
                KindError::of("watch", e)
            }
            watcher::Error::WatchError(status) => KindError::answered("watch", status),
            e => KindError {
                request: "watch",
                code: None,
                reason: String::new(),
                message: chain(e),
            },
        }
    }
}

impl std::fmt::Display for KindError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: ", self.request)?;
        match (self.code, self.reason.as_str()) {
            (Some(code), "") => write!(f, "{code}: ")?,
            (Some(code), reason) => write!(f, "{code} {reason}: ")?,
            (None, _) => {}
        }
        f.write_str(&self.message)
    }
}

/// An error and its causes on one line (`a: b: c`), a cause left out where the text already
/// says it.
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let said = s.to_string();
        if !text.contains(&said) {
            text.push_str(": ");
            text.push_str(&said);
        }
        source = s.source();
    }
    text.replace('\n', " ")
}

/// What a [`ClusterSource`] has done: per kind, and of the table that serves.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct ClusterStatus {
    /// Every watched kind, in [`KINDS`] order.
    pub kinds: Vec<KindStatus>,
    /// Tables stored so far (0 until every kind has listed or been skipped).
    pub builds: u64,
    /// Batches of changes that changed nothing the table reads (EndpointSlices; Pods while
    /// no Sidecar is held): the status was brought up to date and the table left as it was,
    /// with no compile.
    pub compiles_skipped: u64,
    /// Resources left out of the table that serves, each with why.
    pub rejected: Vec<Rejected>,
    /// Warnings and notes of the compile of the table that serves.
    pub diagnostics: Vec<Diagnostic>,
    /// The errors of the last compile when it failed: the previous table serves. `None` once
    /// a compile succeeds.
    pub failed: Option<Errors>,
}

impl ClusterStatus {
    /// Why the resource `id` is left out of the serving table, if it is.
    pub fn rejection(&self, id: &ResourceId) -> Option<&Rejected> {
        self.rejected.iter().find(|r| &r.resource == id)
    }

    /// Whether every kind has listed or been skipped.
    pub fn synced(&self) -> bool {
        self.kinds
            .iter()
            .all(|k| !matches!(k.state, KindState::Listing))
    }

    /// The status of `kind` read at `api_version` (`networking.istio.io/v1`, `v1`), or at any
    /// other version of it ([`WatchedKind::older`]).
    pub fn kind(&self, api_version: &str, kind: &str) -> Option<&KindStatus> {
        // `kinds` is in `KINDS` order; a kind is found by any of its versions.
        self.kinds
            .iter()
            .zip(KINDS)
            .find(|(_, w)| w.kind == kind && w.versions().any(|v| v.api_version() == api_version))
            .map(|(k, _)| k)
    }
}

/// What [`ClusterSource::on_build`] calls with each configuration and its table.
type BuildHook = Arc<dyn Fn(&Config, &Table) + Send + Sync>;

/// Watches a cluster and keeps a [`Shared<Table>`] current. See the [module docs](self).
pub struct ClusterSource {
    client: kube::Client,
    options: ClusterOptions,
    tables: Arc<Shared<Table>>,
    status: signal::Sender<Arc<ClusterStatus>>,
    on_build: Option<BuildHook>,
}

impl std::fmt::Debug for ClusterSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterSource")
            .field("options", &self.options)
            .field("status", &self.status.borrow())
            .finish_non_exhaustive()
    }
}

impl ClusterSource {
    /// A source reading through `client`; its tables start empty (every request gets no
    /// route) until every kind has listed.
    pub fn new(client: kube::Client, options: ClusterOptions) -> ClusterSource {
        let empty = compile(&Config::new(), &options.compile)
            .map(|c| c.table)
            .expect("an empty configuration compiles");
        ClusterSource::with_tables(client, options, Arc::new(Shared::new(empty)))
    }

    /// A source that stores its tables in `tables` (one a tower `RouteLayer` already serves
    /// from, say); what `tables` holds serves until every kind has listed.
    pub fn with_tables(
        client: kube::Client,
        options: ClusterOptions,
        tables: Arc<Shared<Table>>,
    ) -> ClusterSource {
        let kinds = KINDS
            .iter()
            .map(|&kind| KindStatus {
                kind,
                state: KindState::Listing,
                objects: 0,
                relists: 0,
                last_error: None,
            })
            .collect();
        let status = ClusterStatus {
            kinds,
            ..ClusterStatus::default()
        };
        ClusterSource {
            client,
            options,
            tables,
            status: signal::Sender::new(Arc::new(status)),
            on_build: None,
        }
    }

    /// Calls `hook` with every configuration read from the cluster that compiled, and its
    /// table, before the table is stored (and before the status counts the build): what an
    /// embedder derives from the same snapshot goes live with it. A change that the table
    /// does not read (EndpointSlices; Pods while no Sidecar is held) compiles nothing: the
    /// hook is called with the new configuration and the table that serves. A proxy that picks
    /// endpoints binds each table to the endpoints of the same configuration
    /// ([`Registry::from_config`](crate::registry::Registry::from_config),
    /// [`Router::new`](crate::registry::Router::new)). The hook runs with the compile, off
    /// the async workers (on tokio's blocking threads), one call at a time: the watches go on
    /// receiving events meanwhile, and the next build starts from what is held once this one
    /// has ended.
    pub fn on_build(mut self, hook: impl Fn(&Config, &Table) + Send + Sync + 'static) -> Self {
        self.on_build = Some(Arc::new(hook));
        self
    }

    /// The tables this source stores.
    pub fn tables(&self) -> Arc<Shared<Table>> {
        Arc::clone(&self.tables)
    }

    /// The status, updated after each batch of events; `wait_for` waits for a condition.
    pub fn status(&self) -> signal::Receiver<Arc<ClusterStatus>> {
        self.status.subscribe()
    }

    /// Watches until every watch has ended: in practice forever (errors are retried), unless
    /// every kind is skipped. Spawn it on a tokio runtime (with blocking threads: the builds
    /// run on them); dropping it stops the watches, and a build under way is not stored.
    ///
    /// # Panics
    /// When the build hook ([`ClusterSource::on_build`]) panics, with its panic.
    pub async fn run(self) {
        use tokio::time::Instant;

        let mut objects = Objects::new();
        let mut status = (**self.status.borrow()).clone();
        let mut streams =
            futures::stream::select_all(KINDS.iter().enumerate().map(|(i, k)| self.watch(i, k)));
        // What changed since the last build started.
        let mut batch = Batch::default();
        let mut builder = Builder::new(self.options.compile.clone());
        let (debounce, max_delay) = (self.options.debounce, self.options.max_delay);
        // The events not yet handled: when the first and the last came.
        let mut pending: Option<(Instant, Instant)> = None;
        // The batch is handled: it waits only for the build under way to end.
        let mut due = false;
        // The build under way, off the async workers.
        let mut running: Option<tokio::task::JoinHandle<Finished>> = None;
        // When the last batch was handled or the last build ended: a change after
        // `debounce` of quiet, with no build under way, is built at once.
        let mut quiet_since: Option<Instant> = None;
        let mut ended = false;
        loop {
            if due && running.is_none() {
                due = false;
                if batch.changed && status.synced() {
                    let table = std::mem::take(&mut batch).table;
                    let hook = self.on_build.is_some();
                    if let Some(job) = builder.plan(&mut objects, table, &mut status, hook) {
                        let options = self.options.compile.clone();
                        let hook = self.on_build.clone();
                        let tables = Arc::clone(&self.tables);
                        running = Some(tokio::task::spawn_blocking(move || {
                            job.run(&options, hook.as_ref().map(|h| (h, &*tables)))
                        }));
                    }
                }
                quiet_since = Some(Instant::now());
                self.status.send_replace(Arc::new(status.clone()));
            }
            if ended && running.is_none() && pending.is_none() {
                break;
            }
            let ready_at = pending.map(|(first, last)| (last + debounce).min(first + max_delay));
            tokio::select! {
                biased;
                done = async {
                    match running.as_mut() {
                        Some(build) => build.await,
                        None => std::future::pending().await,
                    }
                }, if running.is_some() => {
                    running = None;
                    let finished = match done {
                        Ok(finished) => finished,
                        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
                        // The runtime is shutting down.
                        Err(_) => return,
                    };
                    let replaced = builder
                        .finish(&mut objects, finished, &mut status)
                        .map(|table| self.tables.store(table));
                    quiet_since = Some(Instant::now());
                    self.status.send_replace(Arc::new(status.clone()));
                    // Freeing the table replaced (tens of milliseconds at 10,000
                    // VirtualServices, when no reader holds it) is no part of a change's way
                    // to the table: off the async workers, after the status.
                    if let Some(old) = replaced {
                        drop(tokio::task::spawn_blocking(move || drop(old)));
                    }
                }
                () = tokio::time::sleep_until(ready_at.unwrap_or_else(Instant::now)),
                    if ready_at.is_some() => {
                    // Quiet for `debounce`, or `max_delay` since the first change.
                    pending = None;
                    due = true;
                    if running.is_some() {
                        // What the watches read meanwhile shows before the build ends.
                        self.status.send_replace(Arc::new(status.clone()));
                    }
                }
                event = streams.next(), if !ended => {
                    let Some((i, version, event)) = event else {
                        ended = true;
                        if pending.take().is_some() {
                            due = true;
                        }
                        continue;
                    };
                    objects.read_at(i, version, &mut status.kinds[i]);
                    note_event(&mut objects, i, &mut status.kinds[i], event, &mut batch);
                    let now = Instant::now();
                    if let Some((_, last)) = &mut pending {
                        *last = now;
                        continue;
                    }
                    let idle = running.is_none()
                        && !due
                        && quiet_since.is_none_or(|t| now.duration_since(t) >= debounce);
                    if !idle {
                        pending = Some((now, now));
                        continue;
                    }
                    // The leading edge: what has already arrived joins, nothing is waited for.
                    let deadline = now + max_delay;
                    while Instant::now() < deadline {
                        match streams.next().now_or_never() {
                            Some(Some((i, version, event))) => {
                                objects.read_at(i, version, &mut status.kinds[i]);
                                note_event(&mut objects, i, &mut status.kinds[i], event, &mut batch)
                            }
                            Some(None) => {
                                ended = true;
                                break;
                            }
                            None => break,
                        }
                    }
                    due = true;
                }
                else => break,
            }
        }
    }

    /// The watch of kind `i`: its events, ending after the list that says the cluster does
    /// not serve the kind.
    /// The events of kind `i`, each with the version it was read at: the kind's first version
    /// the cluster serves, tried newest first; the stream ends after the 404 of the last.
    fn watch(&self, i: usize, kind: &WatchedKind) -> BoxStream<'static, Watched> {
        watch_versions(
            self.client.clone(),
            self.options.clone(),
            i,
            kind.versions().collect(),
        )
    }
}

/// One event of the kind at an index of [`KINDS`], with the version it was read at.
type Watched = (
    usize,
    &'static str,
    watcher::Result<watcher::Event<DynamicObject>>,
);

/// The watch of kind `i` at the first of `versions` the cluster serves.
fn watch_versions(
    client: kube::Client,
    options: ClusterOptions,
    i: usize,
    mut versions: Vec<WatchedKind>,
) -> BoxStream<'static, Watched> {
    if versions.is_empty() {
        return futures::stream::empty().boxed();
    }
    let kind = versions.remove(0);
    let (api, fields) = api(&client, &kind, &options);
    let mut config = watcher::Config::default();
    if let Some(fields) = fields {
        config = config.fields(&fields);
    }
    let events = watcher(api, config).default_backoff();
    if versions.is_empty() {
        // The last version: its 404 is reported (the kind is skipped), and the watch ends.
        return events
            .scan(false, |done, event| {
                if *done {
                    return futures::future::ready(None);
                }
                *done = not_served(&event);
                futures::future::ready(Some(event))
            })
            .map(move |event| (i, kind.version, event))
            .boxed();
    }
    // Not served at this version: the next one. A 404 answers the list, so nothing was read.
    events
        .take_while(|event| futures::future::ready(!not_served(event)))
        .map(move |event| (i, kind.version, event))
        .chain(
            futures::stream::once(async move { watch_versions(client, options, i, versions) })
                .flatten(),
        )
        .boxed()
}

/// Compiles the held objects into tables, keeping what the last compile added to the loader's
/// reports.
#[derive(Debug)]
struct Builder {
    options: CompileOptions,
    last: Option<Added>,
    /// What the last compile kept for the next ([`Incremental`]); lent to a job with the
    /// resources.
    cache: Incremental,
}

/// The loader's rejections and notes of every held object, then what the last compile added:
/// the status of a batch that needs no compile.
#[derive(Debug)]
struct Reports {
    rejected: Vec<Rejected>,
    diagnostics: Vec<Diagnostic>,
}

/// A build to run off the async workers ([`Job::run`]): the held resources lent as one
/// configuration, and whether it compiles them or only tells the hook of them.
#[derive(Debug)]
struct Job {
    config: Config,
    lent: Lent,
    cache: Incremental,
    /// `None`: compile. `Some`: the batch changed nothing the table reads; the table that
    /// serves stays, and the status gets these reports once the hook has heard of it.
    skipped: Option<Reports>,
}

/// What a [`Job`] did: the configuration to give back, and the compile's result.
#[derive(Debug)]
struct Finished {
    config: Config,
    lent: Lent,
    cache: Incremental,
    skipped: Option<Reports>,
    compiled: Option<Result<Compiled, Errors>>,
}

impl Job {
    /// Compiles (unless the compile is not needed) and calls `hook`
    /// ([`ClusterSource::on_build`]) with each compiled configuration and its table, or with
    /// a configuration whose compile was not needed and the table that serves (from the
    /// `Shared`). CPU work: [`ClusterSource::run`] calls it on a blocking thread.
    fn run(self, options: &CompileOptions, hook: Option<(&BuildHook, &Shared<Table>)>) -> Finished {
        let Job {
            config,
            lent,
            mut cache,
            skipped,
        } = self;
        let compiled = match skipped {
            Some(_) => None,
            None => Some(compile_with(&config, options, &mut cache)),
        };
        if let Some((hook, tables)) = hook {
            match &compiled {
                Some(Ok(compiled)) => hook(&config, &compiled.table),
                Some(Err(_)) => {}
                // The hook still hears of the change (new endpoints, say), with the table
                // that serves.
                None => hook(&config, &tables.load()),
            }
        }
        Finished {
            config,
            lent,
            cache,
            skipped,
            compiled,
        }
    }
}

impl Builder {
    fn new(options: CompileOptions) -> Builder {
        Builder {
            options,
            last: None,
            cache: Incremental::default(),
        }
    }

    /// Brings `status` up to date with `objects` at once ([`Builder::plan`],
    /// [`Job::run`], [`Builder::finish`] on the calling thread): the table compiled from
    /// them, or `None` when the compile failed (the status says why) or was not needed.
    #[cfg(test)]
    fn build(
        &mut self,
        objects: &mut Objects,
        table: bool,
        status: &mut ClusterStatus,
        hook: Option<(&BuildHook, &Shared<Table>)>,
    ) -> Option<Table> {
        let job = self.plan(objects, table, status, hook.is_some())?;
        let finished = job.run(&self.options, hook);
        self.finish(objects, finished, status)
    }

    /// What brings `status` up to date with `objects`. The compile is not needed when the
    /// batch changed nothing the table reads (`table` false) and the last compile succeeded:
    /// the table that serves stays, and the status gets the loader's rejections and notes of
    /// every object, then what that compile added. Then, and in strict mode when an object
    /// is rejected (as compile fails then), the status is brought up to date at once unless
    /// the hook (`hook`: there is one) must hear of the configuration: `None`. Otherwise the
    /// job to run ([`Job::run`]) with the held resources lent to it; [`Builder::finish`]
    /// takes its result.
    fn plan(
        &mut self,
        objects: &mut Objects,
        table: bool,
        status: &mut ClusterStatus,
        hook: bool,
    ) -> Option<Job> {
        if !table && let Some(added) = &self.last {
            let (mut rejected, mut diagnostics) = objects.reports();
            rejected.extend(added.rejected.iter().cloned());
            diagnostics.extend(added.diagnostics.iter().cloned());
            if self.options.strict && !rejected.is_empty() {
                // As compile fails in strict mode.
                status.failed = Some(Errors(
                    rejected.into_iter().flat_map(|r| r.errors).collect(),
                ));
                self.last = None;
                return None;
            }
            let reports = Reports {
                rejected,
                diagnostics,
            };
            if !hook {
                skipped(status, reports);
                return None;
            }
            let (config, lent) = objects.lend(true);
            return Some(Job {
                config,
                lent,
                cache: std::mem::take(&mut self.cache),
                skipped: Some(reports),
            });
        }
        // The hook hears of every object; a compile reads only the kinds that feed the table.
        let (config, lent) = objects.lend(hook);
        let mut cache = std::mem::take(&mut self.cache);
        cache.reads = lent.reads();
        Some(Job {
            config,
            lent,
            cache,
            skipped: None,
        })
    }

    /// Takes back what `finished` was lent, and brings `status` up to date with its result:
    /// the table compiled, or `None` when the compile failed (the status says why) or was
    /// not needed.
    fn finish(
        &mut self,
        objects: &mut Objects,
        finished: Finished,
        status: &mut ClusterStatus,
    ) -> Option<Table> {
        let Finished {
            mut config,
            lent,
            mut cache,
            skipped: reports,
            compiled,
        } = finished;
        objects.give_back(&lent, std::mem::take(&mut config.resources));
        cache.reads = Vec::new();
        self.cache = cache;
        match compiled {
            None => {
                if let Some(reports) = reports {
                    skipped(status, reports);
                }
                None
            }
            Some(Ok(compiled)) => {
                // Compile's reports start with the configuration's (its ledger only appends).
                self.last = Some(Added {
                    rejected: after(config.rejected.len(), &compiled.rejected),
                    diagnostics: after(config.notes.len(), &compiled.diagnostics),
                });
                status.builds += 1;
                status.rejected = compiled.rejected;
                status.diagnostics = compiled.diagnostics;
                status.failed = None;
                Some(compiled.table)
            }
            Some(Err(errors)) => {
                self.last = None;
                status.failed = Some(errors);
                None
            }
        }
    }
}

/// The status of a batch that needed no compile: the table that serves stays.
fn skipped(status: &mut ClusterStatus, reports: Reports) {
    status.rejected = reports.rejected;
    status.diagnostics = reports.diagnostics;
    status.failed = None;
    status.compiles_skipped += 1;
}

/// The elements of `all` after the first `n`.
fn after<T: Clone>(n: usize, all: &[T]) -> Vec<T> {
    all.get(n..).map_or_else(Vec::new, <[T]>::to_vec)
}

/// What one batch of events did.
#[derive(Debug, Default)]
struct Batch {
    /// Some object or list changed.
    changed: bool,
    /// Something the table reads changed ([`Objects::feeds_table`]).
    table: bool,
}

/// What a successful compile added to the loader's rejections and notes: kept, so that a
/// batch that changes nothing the table reads can report without compiling.
#[derive(Debug)]
struct Added {
    rejected: Vec<Rejected>,
    diagnostics: Vec<Diagnostic>,
}

/// Where an object is held: its namespace and name (the order [`config_of`] sorts by).
type Key = (Option<String>, Option<String>);

/// One object as the loader read it ([`Config::add_json_value`]), and the resourceVersion it
/// was read at: an event carrying the same version changes nothing, and only a changed
/// object is read again.
#[derive(Debug)]
struct Decoded {
    resource_version: Option<String>,
    /// Which read this is ([`Objects::apply`] numbers them): a resource lent to a build is
    /// given back only to the read it was lent from.
    serial: u64,
    /// The resource read (none when it was rejected or skipped), while not lent to a compile.
    resources: Vec<Resource>,
    rejected: Vec<Rejected>,
    notes: Vec<Diagnostic>,
}

impl Decoded {
    fn read(kind: &WatchedKind, object: DynamicObject) -> Decoded {
        let resource_version = object.metadata.resource_version.clone();
        let mut config = Config::new();
        config.add_json_value(into_json(kind, object), SOURCE);
        Decoded {
            resource_version,
            serial: 0,
            resources: config.resources,
            rejected: config.rejected,
            notes: config.notes,
        }
    }

    /// Whether `object` is the version read.
    fn is(&self, object: &DynamicObject) -> bool {
        self.resource_version.is_some() && self.resource_version == object.metadata.resource_version
    }
}

fn key(object: &DynamicObject) -> Key {
    (
        object.metadata.namespace.clone(),
        object.metadata.name.clone(),
    )
}

/// The objects of one kind, as the loader read them: the reflector store of the kind, holding
/// the decoded resources rather than the API server's objects.
#[derive(Debug, Default)]
struct Store {
    objects: BTreeMap<Key, Decoded>,
    /// While a list is under way: the objects it brought so far (`None`: the one held, of the
    /// same resourceVersion). The held objects serve until the list completes, as
    /// kube-runtime's reflector keeps its store.
    listing: Option<BTreeMap<Key, Option<Decoded>>>,
}

/// The objects of every kind, in [`KINDS`] order.
#[derive(Debug)]
struct Objects {
    stores: Vec<Store>,
    /// Each kind of [`KINDS`] at the version it is read at.
    kinds: Vec<WatchedKind>,
    /// The serial of the last read.
    reads: u64,
}

/// Where the resources [`Objects::lend`] moved out came from: which kinds were lent, and in
/// the order of the resources, the serial of each read (unique across kinds) and how many
/// resources it lent.
#[derive(Debug, Default)]
struct Lent {
    /// By kind, in [`KINDS`] order: whether its objects were lent.
    kinds: Vec<bool>,
    reads: Vec<(u64, usize)>,
}

impl Lent {
    /// The read of each resource lent, in their order ([`Incremental::reads`]).
    fn reads(&self) -> Vec<Read> {
        (self.reads.iter())
            .flat_map(|&(serial, n)| (0..n as u32).map(move |k| (serial, k)))
            .collect()
    }
}

/// The index in [`KINDS`] of a kind.
fn kind_index(kind: &str) -> usize {
    KINDS
        .iter()
        .position(|k| k.kind == kind)
        .expect("a kind of KINDS")
}

impl Objects {
    fn new() -> Objects {
        Objects {
            stores: KINDS.iter().map(|_| Store::default()).collect(),
            kinds: KINDS.to_vec(),
            reads: 0,
        }
    }

    /// Kind `i` is read at `version` from now on (the status says so too).
    fn read_at(&mut self, i: usize, version: &'static str, status: &mut KindStatus) {
        if self.kinds[i].version != version {
            self.kinds[i].version = version;
            status.kind.version = version;
        }
    }

    /// Reads `object` of kind `i`, numbered.
    fn read(&mut self, i: usize, object: DynamicObject) -> Decoded {
        self.reads += 1;
        let mut d = Decoded::read(&self.kinds[i], object);
        d.serial = self.reads;
        d
    }

    /// Applies one watcher event of kind `i`; whether what is held changed (a changed
    /// object, or a list completed).
    fn apply(&mut self, i: usize, event: watcher::Event<DynamicObject>) -> bool {
        match event {
            watcher::Event::Apply(object) => {
                let key = key(&object);
                if self.stores[i]
                    .objects
                    .get(&key)
                    .is_some_and(|d| d.is(&object))
                {
                    return false;
                }
                let read = self.read(i, object);
                self.stores[i].objects.insert(key, read);
                true
            }
            watcher::Event::InitApply(object) => {
                let key = key(&object);
                let read = match self.stores[i].objects.get(&key) {
                    Some(d) if d.is(&object) => None,
                    _ => Some(self.read(i, object)),
                };
                self.stores[i]
                    .listing
                    .get_or_insert_default()
                    .insert(key, read);
                false
            }
            event => self.apply_store(i, event),
        }
    }

    /// Applies an event that reads no object.
    fn apply_store(&mut self, i: usize, event: watcher::Event<DynamicObject>) -> bool {
        let store = &mut self.stores[i];
        match event {
            watcher::Event::Apply(_) | watcher::Event::InitApply(_) => {
                unreachable!("Objects::apply reads the objects of Apply and InitApply")
            }
            watcher::Event::Delete(object) => store.objects.remove(&key(&object)).is_some(),
            watcher::Event::Init => {
                store.listing = Some(BTreeMap::new());
                false
            }
            watcher::Event::InitDone => {
                let listed = store.listing.take().unwrap_or_default();
                let mut held = std::mem::take(&mut store.objects);
                store.objects = listed
                    .into_iter()
                    .filter_map(|(key, read)| {
                        let d = read.or_else(|| held.remove(&key))?;
                        Some((key, d))
                    })
                    .collect();
                true
            }
        }
    }

    /// Whether a change to an object of kind `i` can change the table: every kind but
    /// EndpointSlice, which compile does not read, and Pod, which it reads only to warn of
    /// Sidecars selecting the same Pod (IST0111), so only while a Sidecar is held.
    fn feeds_table(&self, i: usize) -> bool {
        match KINDS[i].kind {
            "EndpointSlice" => false,
            "Pod" => !self.stores[kind_index("Sidecar")].objects.is_empty(),
            _ => true,
        }
    }

    fn len(&self, i: usize) -> usize {
        self.stores[i].objects.len()
    }

    fn held(&mut self) -> impl Iterator<Item = &mut Decoded> {
        self.stores.iter_mut().flat_map(|s| s.objects.values_mut())
    }

    /// Every held object as one configuration, as [`config_of`] reads them from scratch: the
    /// resources are moved out (and numbered in that order), the rejections and notes copied.
    /// [`Objects::give_back`] returns the resources; meanwhile events may change what is
    /// held (a build runs while the watches go on). Unless `all`, the resources of a kind
    /// that does not feed the table ([`Objects::feeds_table`]) stay held and out of the
    /// configuration: the others keep their order, which is all that compile reads of it
    /// (the rejections and notes of every kind are copied all the same).
    fn lend(&mut self, all: bool) -> (Config, Lent) {
        let kinds: Vec<bool> = (0..self.stores.len())
            .map(|i| all || self.feeds_table(i))
            .collect();
        let mut config = Config::new();
        let held = (self.stores.iter().zip(&kinds))
            .filter(|(_, lent)| **lent)
            .map(|(s, _)| s.objects.len())
            .sum();
        config.resources.reserve_exact(held);
        let mut reads = Vec::with_capacity(held);
        for (store, &lend) in self.stores.iter_mut().zip(&kinds) {
            for d in store.objects.values_mut() {
                let order = config.resources.len() + config.rejected.len();
                config.rejected.extend(d.rejected.iter().cloned());
                config.notes.extend(d.notes.iter().cloned());
                if !lend {
                    continue;
                }
                if !d.resources.is_empty() {
                    reads.push((d.serial, d.resources.len()));
                }
                for (k, mut r) in d.resources.drain(..).enumerate() {
                    r.set_order(order + k);
                    config.resources.push(r);
                }
            }
        }
        (config, Lent { kinds, reads })
    }

    /// Takes back the resources [`Objects::lend`] moved out (`resources`, in the order
    /// `lent` says where they came from), each to the read it came from while that read is
    /// still held; those of an object changed or deleted since are dropped.
    fn give_back(&mut self, lent: &Lent, resources: Vec<Resource>) {
        // The reads held now, by serial: those of objects changed or deleted during the build
        // are gone, and those read meanwhile were not lent.
        let mut held: std::collections::HashMap<u64, &mut Decoded> = (self.stores.iter_mut())
            .zip(&lent.kinds)
            .filter(|(_, lent)| **lent)
            .flat_map(|(s, _)| s.objects.values_mut())
            .map(|d| (d.serial, d))
            .collect();
        assert_eq!(
            resources.len(),
            lent.reads.iter().map(|(_, n)| n).sum::<usize>(),
            "compile leaves the lent resources as they were"
        );
        let mut resources = resources.into_iter();
        for (serial, count) in &lent.reads {
            match held.remove(serial) {
                // Into the list the resources were drained from, which kept its room.
                Some(d) => d.resources.extend(resources.by_ref().take(*count)),
                None => resources.by_ref().take(*count).for_each(drop),
            }
        }
    }

    /// The loader's rejections and notes of every held object, in the order of [`lend`].
    ///
    /// [`lend`]: Objects::lend
    fn reports(&mut self) -> (Vec<Rejected>, Vec<Diagnostic>) {
        let (mut rejected, mut notes) = (Vec::new(), Vec::new());
        for d in self.held() {
            rejected.extend(d.rejected.iter().cloned());
            notes.extend(d.notes.iter().cloned());
        }
        (rejected, notes)
    }
}

/// The API of `kind` within `options`' scope, and the field selector its lists need.
fn api(
    client: &kube::Client,
    kind: &WatchedKind,
    options: &ClusterOptions,
) -> (Api<DynamicObject>, Option<String>) {
    let resource = kind.api_resource();
    let client = client.clone();
    match (kind.scope, &options.namespace) {
        (Scope::Cluster, _) | (Scope::Namespaced, None) => (Api::all_with(client, &resource), None),
        (Scope::Namespaced, Some(ns)) => (Api::namespaced_with(client, ns, &resource), None),
        (Scope::MeshConfig, _) => {
            let root = &options.compile.mesh.root_namespace;
            (
                Api::namespaced_with(client, root, &resource),
                Some(format!("metadata.name={MESH_CONFIG_MAP}")),
            )
        }
    }
}

/// The configuration of `objects` (each with its index in [`KINDS`]), in an order that does
/// not depend on the order they came in: load order breaks precedence ties.
fn config_of(mut objects: Vec<(usize, WatchedKind, DynamicObject)>) -> Config {
    objects.sort_by_cached_key(|(i, _, o)| (*i, key(o)));
    let mut config = Config::new();
    for (_, kind, object) in objects {
        config.add_json_value(into_json(&kind, object), SOURCE);
    }
    config
}

/// A list of [`snapshot`] that failed: which kind, where, and what the API server answered.
/// Displayed as `cannot list networking.istio.io/v1 VirtualService in namespace shop: 403
/// Forbidden: virtualservices.networking.istio.io is forbidden: User "…" cannot list …`.
#[derive(Debug)]
pub struct ListError {
    kind: WatchedKind,
    scope: String,
    error: KindError,
    source: kube::Error,
}

impl ListError {
    /// The kind whose list failed.
    pub fn kind(&self) -> &WatchedKind {
        &self.kind
    }

    /// What the API server answered (its code and message), or why nothing answered.
    pub fn error(&self) -> &KindError {
        &self.error
    }
}

impl std::fmt::Display for ListError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "cannot list {} {}{}: ",
            self.kind.api_version(),
            self.kind.kind,
            self.scope
        )?;
        match (self.error.code, self.error.reason.as_str()) {
            (Some(code), "") => write!(f, "{code}: ")?,
            (Some(code), reason) => write!(f, "{code} {reason}: ")?,
            (None, _) => {}
        }
        f.write_str(&self.error.message)
    }
}

impl std::error::Error for ListError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

/// Where `kind` is listed within `options`, as an error says it (` in namespace shop`).
fn scope_words(kind: &WatchedKind, options: &ClusterOptions) -> String {
    match (kind.scope, &options.namespace) {
        (Scope::Cluster, _) => String::new(),
        (Scope::Namespaced, None) => " in all namespaces".to_string(),
        (Scope::Namespaced, Some(ns)) => format!(" in namespace {ns}"),
        (Scope::MeshConfig, _) => format!(
            " {MESH_CONFIG_MAP} in namespace {}",
            options.compile.mesh.root_namespace
        ),
    }
}

/// Reads every kind once, a list each and no watch, into a [`Config`] (what a one-shot check
/// of the live cluster needs). A kind the cluster does not serve (404) is skipped with a note
/// in [`Config::notes`].
///
/// # Errors
/// The first list that fails otherwise (unreachable server, 403 Forbidden, 401
/// Unauthorized, …): a view of the cluster without that kind would check and route wrongly,
/// so there is no configuration, as `kubectl get` fails.
pub async fn snapshot(
    client: &kube::Client,
    options: &ClusterOptions,
) -> Result<Config, ListError> {
    let mut objects = Vec::new();
    let mut skipped = Vec::new();
    for (i, kind) in KINDS.iter().enumerate() {
        let mut versions = kind.versions().peekable();
        while let Some(kind) = versions.next() {
            match list_kind(client, &kind, options).await {
                Ok(items) => {
                    objects.extend(items.into_iter().map(|o| (i, kind, o)));
                    break;
                }
                Err(e) if is_api_not_found(&e) && versions.peek().is_some() => continue,
                Err(e) if is_api_not_found(&e) => skipped.push(KINDS[i]),
                Err(e) => {
                    return Err(ListError {
                        kind,
                        scope: scope_words(&kind, options),
                        error: KindError::of("list", &e),
                        source: e,
                    });
                }
            }
        }
    }
    let mut config = config_of(objects);
    for kind in skipped {
        config.notes.push(Diagnostic {
            severity: crate::error::Severity::Note,
            code: "skipped",
            resource: None,
            path: SOURCE.to_string(),
            message: format!(
                "skipped {}: the cluster does not serve it (404 Not Found: is the CRD \
                 installed?)",
                served_words(&kind)
            ),
        });
    }
    Ok(config)
}

/// `group/version Kind`, or for a kind read at several versions all of them
/// (`gateway.networking.k8s.io/v1, v1alpha3 or v1alpha2 TLSRoute`).
fn served_words(kind: &WatchedKind) -> String {
    let mut versions = kind.api_version();
    for (k, v) in kind.older.iter().enumerate() {
        versions.push_str(if k + 1 == kind.older.len() {
            " or "
        } else {
            ", "
        });
        versions.push_str(v);
    }
    format!("{versions} {}", kind.kind)
}

fn is_api_not_found(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(status) if status.is_not_found())
}

/// Every object of `kind` (at its version), listed in pages.
async fn list_kind(
    client: &kube::Client,
    kind: &WatchedKind,
    options: &ClusterOptions,
) -> Result<Vec<DynamicObject>, kube::Error> {
    let mut objects = Vec::new();
    {
        let (api, fields) = api(client, kind, options);
        let mut params = kube::api::ListParams::default().limit(500);
        if let Some(fields) = &fields {
            params = params.fields(fields);
        }
        loop {
            let list = api.list(&params).await?;
            objects.extend(list.items);
            match list.metadata.continue_.filter(|c| !c.is_empty()) {
                Some(token) => params = params.continue_token(&token),
                None => break,
            }
        }
    }
    Ok(objects)
}
/// The object as the API server writes it: with `apiVersion` and `kind`, which list items
/// of the core kinds leave out. Its fields besides `metadata` are moved, not copied; the
/// `managedFields` of its metadata, which nothing reads, are left out.
fn into_json(kind: &WatchedKind, object: DynamicObject) -> Value {
    let DynamicObject {
        mut metadata, data, ..
    } = object;
    metadata.managed_fields = None;
    let mut map = match data {
        Value::Object(map) => map,
        _ => serde_json::Map::new(),
    };
    map.insert("apiVersion".into(), Value::String(kind.api_version()));
    map.insert("kind".into(), Value::String(kind.kind.to_string()));
    // Serializing metadata that was deserialized cannot fail (string keys); a null reads as
    // no metadata, and the missing name is what is reported.
    map.insert(
        "metadata".into(),
        serde_json::to_value(metadata).unwrap_or(Value::Null),
    );
    Value::Object(map)
}

/// Whether the event is the list failing because the cluster does not serve the kind.
fn not_served(event: &watcher::Result<watcher::Event<DynamicObject>>) -> bool {
    event.as_ref().err().is_some_and(is_not_found)
}

fn is_not_found(e: &watcher::Error) -> bool {
    matches!(
        e,
        watcher::Error::InitialListFailed(kube::Error::Api(status)) if status.is_not_found()
    )
}

/// Applies one watcher event of kind `i` to the held objects and the kind's status, noting in
/// `batch` what it changed.
fn note_event(
    objects: &mut Objects,
    i: usize,
    status: &mut KindStatus,
    event: watcher::Result<watcher::Event<DynamicObject>>,
    batch: &mut Batch,
) {
    match event {
        Ok(event) => {
            match &event {
                watcher::Event::Init => {
                    if status.state == KindState::Synced {
                        status.relists += 1;
                    }
                }
                watcher::Event::InitApply(_) => {}
                watcher::Event::InitDone => {
                    status.state = KindState::Synced;
                    status.last_error = None;
                    // A list can change anything: the next build compiles.
                    batch.table = true;
                }
                watcher::Event::Apply(_) | watcher::Event::Delete(_) => {
                    status.last_error = None;
                }
            }
            // Before the change: a Pod deleted with the last Sidecar still counts.
            let feeds = objects.feeds_table(i);
            if objects.apply(i, event) {
                batch.changed = true;
                batch.table |= feeds || objects.feeds_table(i);
            }
            status.objects = objects.len(i);
        }
        Err(e) => {
            if !is_not_found(&e) {
                // Retried with backoff; the kind stays as it was (a kind still listing holds
                // the first table back, as istiod waits for every informer's sync).
                status.last_error = Some(KindError::of_watch(&e));
            } else {
                status.state = KindState::Skipped(format!(
                    "the cluster does not serve {} (its list answered 404 Not Found: \
                     is the CRD installed?)",
                    served_words(&KINDS[i])
                ));
                status.last_error = Some(KindError::of_watch(&e));
                batch.changed = true;
                batch.table = true;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diff::diff;
    use crate::{CompileOptions, OwnedRequest};
    use serde_json::json;

    /// A cluster driven by watcher events: the held objects and builder of a source, and the
    /// objects the API server holds, from which each step also compiles from scratch.
    struct Follow {
        objects: Objects,
        builder: Builder,
        status: ClusterStatus,
        /// The table that serves.
        table: Option<Table>,
        /// What the API server holds, by kind and key.
        server: BTreeMap<(usize, Key), DynamicObject>,
        rv: u64,
        options: CompileOptions,
    }

    fn index(api_version: &str, kind: &str) -> usize {
        KINDS
            .iter()
            .position(|k| k.api_version() == api_version && k.kind == kind)
            .unwrap()
    }

    impl Follow {
        fn new(options: CompileOptions) -> Follow {
            Follow {
                objects: Objects::new(),
                builder: Builder::new(options.clone()),
                status: ClusterStatus::default(),
                table: None,
                server: BTreeMap::new(),
                rv: 0,
                options,
            }
        }

        /// The object as the API server stores it, at a new resourceVersion.
        fn stored(&mut self, mut value: Value) -> (usize, DynamicObject) {
            self.rv += 1;
            value["metadata"]["resourceVersion"] = json!(self.rv.to_string());
            let i = index(
                value["apiVersion"].as_str().unwrap(),
                value["kind"].as_str().unwrap(),
            );
            let object: DynamicObject = serde_json::from_value(value).unwrap();
            self.server.insert((i, key(&object)), object.clone());
            (i, object)
        }

        /// Applies one batch of events and builds, as `ClusterSource::run` does.
        fn batch(&mut self, events: Vec<(usize, watcher::Event<DynamicObject>)>) -> &mut Self {
            let mut batch = Batch::default();
            let mut kind = KindStatus {
                kind: KINDS[0],
                state: KindState::Synced,
                objects: 0,
                relists: 0,
                last_error: None,
            };
            for (i, event) in events {
                note_event(&mut self.objects, i, &mut kind, Ok(event), &mut batch);
            }
            if batch.changed
                && let Some(table) =
                    self.builder
                        .build(&mut self.objects, batch.table, &mut self.status, None)
            {
                self.table = Some(table);
            }
            self
        }

        /// Applies `events` while a build of what was held before them runs, as
        /// `ClusterSource::run` goes on receiving events during a build: that build's table
        /// is stored when it ends, then the batch of `events` is built.
        fn during_build(
            &mut self,
            events: Vec<(usize, watcher::Event<DynamicObject>)>,
        ) -> &mut Self {
            let job = self
                .builder
                .plan(&mut self.objects, true, &mut self.status, false)
                .expect("a compile");
            let mut batch = Batch::default();
            let mut kind = KindStatus {
                kind: KINDS[0],
                state: KindState::Synced,
                objects: 0,
                relists: 0,
                last_error: None,
            };
            for (i, event) in events {
                note_event(&mut self.objects, i, &mut kind, Ok(event), &mut batch);
            }
            let finished = job.run(&self.options, None);
            if let Some(table) = self
                .builder
                .finish(&mut self.objects, finished, &mut self.status)
            {
                self.table = Some(table);
            }
            if batch.changed
                && let Some(table) =
                    self.builder
                        .build(&mut self.objects, batch.table, &mut self.status, None)
            {
                self.table = Some(table);
            }
            self
        }

        fn apply(&mut self, values: Vec<Value>) -> &mut Self {
            let events = values
                .into_iter()
                .map(|v| {
                    let (i, o) = self.stored(v);
                    (i, watcher::Event::Apply(o))
                })
                .collect();
            self.batch(events)
        }

        fn delete(&mut self, api_version: &str, kind: &str, ns: &str, name: &str) -> &mut Self {
            let i = index(api_version, kind);
            let object = self
                .server
                .remove(&(i, (Some(ns.to_string()), Some(name.to_string()))))
                .unwrap();
            self.batch(vec![(i, watcher::Event::Delete(object))])
        }

        /// A list of kind `i` (the first, or one after a 410 Gone): every object the server
        /// holds of it.
        fn list(&mut self, i: usize) -> &mut Self {
            let mut events = vec![(i, watcher::Event::Init)];
            events.extend(
                self.server
                    .iter()
                    .filter(|((k, _), _)| *k == i)
                    .map(|(_, o)| (i, watcher::Event::InitApply(o.clone()))),
            );
            events.push((i, watcher::Event::InitDone));
            self.batch(events)
        }

        /// The serving table and status are what a compile from scratch of the server's
        /// objects gives: the same rules, sources, subsets and clusters, no request whose
        /// decision differs, the same rejections, diagnostics and failure.
        fn check(&self, step: &str) {
            let objects: Vec<(usize, WatchedKind, DynamicObject)> = self
                .server
                .iter()
                .map(|((i, _), o)| (*i, KINDS[*i], o.clone()))
                .collect();
            let fresh = compile(&config_of(objects), &self.options);
            let dbg = |x: &dyn std::fmt::Debug| format!("{x:?}");
            match fresh {
                Err(errors) => {
                    assert_eq!(dbg(&self.status.failed), dbg(&Some(errors)), "{step}");
                }
                Ok(fresh) => {
                    assert!(
                        self.status.failed.is_none(),
                        "{step}: {:?}",
                        self.status.failed
                    );
                    let table = self.table.as_ref().expect("a table");
                    assert_eq!(dbg(&table.rules()), dbg(&fresh.table.rules()), "{step}");
                    assert_eq!(dbg(&table.sources()), dbg(&fresh.table.sources()), "{step}");
                    assert_eq!(dbg(&table.subsets()), dbg(&fresh.table.subsets()), "{step}");
                    assert_eq!(
                        dbg(&table.clusters()),
                        dbg(&fresh.table.clusters()),
                        "{step}"
                    );
                    let d = diff(table, &fresh.table);
                    assert!(d.is_empty(), "{step}: {:#?}", d.to_json());
                    assert_eq!(dbg(&self.status.rejected), dbg(&fresh.rejected), "{step}");
                    assert_eq!(
                        dbg(&self.status.diagnostics),
                        dbg(&fresh.diagnostics),
                        "{step}"
                    );
                }
            }
        }

        fn counts(&self) -> (u64, u64) {
            (self.status.builds, self.status.compiles_skipped)
        }

        /// The subset `GET http://reviews/` from `default` goes to at `draw`.
        fn subset(&self, draw: u64) -> Option<String> {
            let req = OwnedRequest::new("GET", "http://reviews/").from_namespace("default");
            let d = self.table.as_ref()?.decide_with_draw(&req, draw);
            d.destination()
                .and_then(|d| d.subset.as_deref().map(str::to_string))
        }
    }

    const VS: (&str, &str) = ("networking.istio.io/v1", "VirtualService");

    fn virtual_service(name: &str, v1: i64) -> Value {
        json!({"apiVersion": VS.0, "kind": VS.1,
               "metadata": {"name": name, "namespace": "default",
                            "managedFields": [{"manager": "kubectl", "operation": "Apply"}]},
               "spec": {"hosts": ["reviews"], "http": [
                   {"match": [{"headers": {"x-canary": {"exact": "1"}}}],
                    "route": [{"destination": {"host": "reviews", "subset": "v2"}}]},
                   {"route": [
                       {"destination": {"host": "reviews", "subset": "v1"}, "weight": v1},
                       {"destination": {"host": "reviews", "subset": "v2"}, "weight": 100 - v1}]}]}})
    }

    fn destination_rule() -> Value {
        json!({"apiVersion": "networking.istio.io/v1", "kind": "DestinationRule",
               "metadata": {"name": "reviews", "namespace": "default"},
               "spec": {"host": "reviews", "subsets": [
                   {"name": "v1", "labels": {"version": "v1"}},
                   {"name": "v2", "labels": {"version": "v2"}}]}})
    }

    fn endpoint_slice(ip: &str) -> Value {
        json!({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
               "metadata": {"name": "reviews-abc", "namespace": "default",
                            "labels": {"kubernetes.io/service-name": "reviews"}},
               "addressType": "IPv4",
               "endpoints": [{"addresses": [ip], "conditions": {"ready": true}}],
               "ports": [{"name": "http", "port": 9080}]})
    }

    fn pod(name: &str, version: &str) -> Value {
        json!({"apiVersion": "v1", "kind": "Pod",
               "metadata": {"name": name, "namespace": "default",
                            "labels": {"app": "reviews", "version": version}},
               "spec": {"containers": [{"name": "app"}]},
               "status": {"phase": "Running", "podIP": "10.0.0.9"}})
    }

    fn sidecar(name: &str, version: &str) -> Value {
        json!({"apiVersion": "networking.istio.io/v1", "kind": "Sidecar",
               "metadata": {"name": name, "namespace": "default"},
               "spec": {"workloadSelector": {"labels": {"version": version}},
                        "egress": [{"hosts": ["./*"]}]}})
    }

    /// The first lists of every kind.
    fn listed(options: CompileOptions) -> Follow {
        let mut f = Follow::new(options);
        for v in [
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "default"}}),
            json!({"apiVersion": "v1", "kind": "Service",
                   "metadata": {"name": "reviews", "namespace": "default"},
                   "spec": {"ports": [{"name": "http", "port": 9080}],
                            "selector": {"app": "reviews"}}}),
            destination_rule(),
            virtual_service("reviews", 90),
            // Valid once lower-cased: a name-case note of the loader.
            {
                let mut old = virtual_service("Reviews-Old", 10);
                old["spec"]["hosts"] = json!(["ratings"]);
                old
            },
            endpoint_slice("10.0.0.1"),
            pod("reviews-1", "v1"),
        ] {
            f.stored(v);
        }
        for i in 0..KINDS.len() {
            f.list(i);
        }
        f
    }

    /// After each change the table decides, and the status reports, exactly as a compile from
    /// scratch of the same objects: changed objects read again, the others reused, a re-list
    /// that keeps some, drops some and changes some, and the changes that skip the compile.
    #[test]
    fn each_step_matches_a_compile_from_scratch() {
        let mut f = listed(CompileOptions::default());
        f.check("the first lists");
        assert_eq!(f.subset(0).as_deref(), Some("v1"));

        f.apply(vec![virtual_service("reviews", 0)])
            .check("weights moved");
        assert_eq!(f.subset(0).as_deref(), Some("v2"));

        f.apply(vec![virtual_service("reviews", -5)])
            .check("a weight turned invalid");
        assert!(!f.status.rejected.is_empty());
        f.apply(vec![virtual_service("reviews", 50)])
            .check("and back");

        // Only an EndpointSlice: no compile, the status follows.
        let (builds, skipped) = f.counts();
        f.apply(vec![endpoint_slice("10.0.0.2")])
            .check("an endpoint moved");
        assert_eq!(f.counts(), (builds, skipped + 1));
        let mut broken = endpoint_slice("10.0.0.3");
        broken["endpoints"] = json!("none");
        f.apply(vec![broken])
            .check("an EndpointSlice the loader rejects");
        assert_eq!(f.counts(), (builds, skipped + 2));
        assert!(
            f.status
                .rejection(&ResourceId::new("EndpointSlice", "default", "reviews-abc"))
                .is_some()
        );
        f.apply(vec![endpoint_slice("10.0.0.4")])
            .check("the EndpointSlice fixed");

        // A Pod while no Sidecar is held: no compile either.
        let (builds, skipped) = f.counts();
        f.apply(vec![pod("reviews-1", "v2")])
            .check("a Pod relabelled");
        assert_eq!(f.counts(), (builds, skipped + 1));

        // Two Sidecars selecting the same Pods (IST0111): now a Pod change compiles.
        f.apply(vec![sidecar("a", "v2"), sidecar("b", "v2")])
            .check("two Sidecars selecting v2");
        assert!(
            f.status
                .diagnostics
                .iter()
                .any(|d| d.code == "conflicting-sidecar-selectors")
        );
        let (builds, _) = f.counts();
        f.apply(vec![pod("reviews-1", "v1")])
            .check("the Pod out of their selection");
        assert_eq!(f.counts().0, builds + 1);
        f.apply(vec![pod("reviews-2", "v2")])
            .check("a Pod they both select");
        f.delete("networking.istio.io/v1", "Sidecar", "default", "a")
            .delete("networking.istio.io/v1", "Sidecar", "default", "b")
            .check("the Sidecars gone");

        // Both at once: the one that feeds the table compiles the batch.
        f.apply(vec![
            endpoint_slice("10.0.0.5"),
            virtual_service("reviews", 100),
        ])
        .check("an EndpointSlice and a VirtualService together");
        assert_eq!(f.subset(99).as_deref(), Some("v1"));

        // A re-list after 410 Gone: one VirtualService changed meanwhile, one deleted, one
        // created, the DestinationRule unchanged.
        let vs = index(VS.0, VS.1);
        f.stored(virtual_service("reviews", 20));
        f.server
            .remove(&(vs, (Some("default".into()), Some("Reviews-Old".into()))));
        f.stored(virtual_service("reviews-new", 70));
        f.list(vs).check("the re-list");
        assert_eq!(f.objects.len(vs), 2);

        f.delete(
            "networking.istio.io/v1",
            "DestinationRule",
            "default",
            "reviews",
        )
        .check("the DestinationRule deleted");
        assert!(
            f.status
                .diagnostics
                .iter()
                .any(|d| d.code == "undefined-subset")
        );
    }

    /// Events that come while a build has the held resources lent (an object changed, one
    /// deleted, one created, a re-list that keeps one and changes one): each resource goes
    /// back to the read it was lent from, or is dropped when that read is gone, and the next
    /// build equals a compile from scratch.
    #[test]
    fn events_during_a_build_leave_the_held_objects_whole() {
        let mut f = listed(CompileOptions::default());
        let vs = index(VS.0, VS.1);
        let dr = index("networking.istio.io/v1", "DestinationRule");
        let (_, changed) = f.stored(virtual_service("reviews", 0));
        let (_, created) = f.stored(virtual_service("reviews-new", 70));
        let deleted = f
            .server
            .remove(&(dr, (Some("default".into()), Some("reviews".into()))))
            .unwrap();
        f.during_build(vec![
            (vs, watcher::Event::Apply(changed)),
            (vs, watcher::Event::Apply(created)),
            (dr, watcher::Event::Delete(deleted)),
        ])
        .check("changed, created and deleted during a build");
        assert_eq!(f.objects.len(vs), 3);

        // A re-list during a build: Reviews-Old unchanged (kept, given back), reviews
        // changed, reviews-new deleted.
        f.stored(virtual_service("reviews", 30));
        f.server
            .remove(&(vs, (Some("default".into()), Some("reviews-new".into()))));
        let mut events = vec![(vs, watcher::Event::Init)];
        events.extend(
            f.server
                .iter()
                .filter(|((k, _), _)| *k == vs)
                .map(|(_, o)| (vs, watcher::Event::InitApply(o.clone()))),
        );
        events.push((vs, watcher::Event::InitDone));
        f.during_build(events).check("a re-list during a build");
        assert_eq!(f.objects.len(vs), 2);
        f.apply(vec![destination_rule()])
            .check("every held object compiles again");
        assert_eq!(f.subset(50).as_deref(), Some("v2"));
    }

    /// An event of the version held reads nothing again and builds nothing.
    #[test]
    fn an_event_of_the_version_held_changes_nothing() {
        let mut f = listed(CompileOptions::default());
        let before = f.counts();
        let vs = index(VS.0, VS.1);
        let held = f.server[&(vs, (Some("default".into()), Some("reviews".into())))].clone();
        f.batch(vec![(vs, watcher::Event::Apply(held))]);
        assert_eq!(f.counts(), before);
    }

    /// A DestinationRule that the routes of several VirtualServices read (their subsets, and
    /// the clusters numbered from them): a subset dropped warns for each route that names it
    /// (IST0101), a port-level policy changes the clusters' DestinationRule, and the rule
    /// restored, then deleted, leaves each table as a compile from scratch of the same objects.
    #[test]
    fn a_destination_rule_several_routes_read() {
        let mut f = listed(CompileOptions::default());
        let mut ratings = virtual_service("ratings", 60);
        ratings["spec"]["hosts"] = json!(["ratings"]);
        let mut details = virtual_service("details", 30);
        details["spec"]["hosts"] = json!(["details"]);
        f.apply(vec![ratings, details])
            .check("three VirtualServices route to the subsets of one rule");

        let mut only_v1 = destination_rule();
        only_v1["spec"]["subsets"] = json!([{"name": "v1", "labels": {"version": "v1"}}]);
        f.apply(vec![only_v1]).check("subset v2 dropped");
        let undefined = |f: &Follow| {
            f.status
                .diagnostics
                .iter()
                .filter(|d| d.code == "undefined-subset")
                .count()
        };
        assert!(undefined(&f) >= 3, "{:#?}", f.status.diagnostics);

        let mut policy = destination_rule();
        policy["spec"]["trafficPolicy"] = json!({"loadBalancer": {"simple": "LEAST_REQUEST"}});
        f.apply(vec![policy]).check("v2 back, with a policy");
        assert_eq!(undefined(&f), 0);

        f.delete(
            "networking.istio.io/v1",
            "DestinationRule",
            "default",
            "reviews",
        )
        .check("the rule deleted");
        assert!(undefined(&f) >= 6, "{:#?}", f.status.diagnostics);
    }

    /// In strict mode an object the loader rejects fails the build whether or not it feeds
    /// the table, and the table that serves stays.
    #[test]
    fn strict_mode_fails_without_a_compile_too() {
        let mut f = listed(CompileOptions::strict());
        // The name-case note is no error; the first lists compile.
        f.check("the first lists");
        let mut broken = endpoint_slice("10.0.0.3");
        broken["endpoints"] = json!("none");
        f.apply(vec![broken])
            .check("an EndpointSlice the loader rejects");
        assert!(f.status.failed.is_some());
        assert_eq!(
            f.subset(0).as_deref(),
            Some("v1"),
            "the last good table serves"
        );
        f.apply(vec![endpoint_slice("10.0.0.4")]).check("fixed");
        assert!(f.status.failed.is_none());
    }

    /// A VirtualService for `reviews` with a `uri` regex match, which validation checks
    /// against the compile's regex budget (so its report is not kept across compiles).
    fn regex_service(pattern: &str) -> Value {
        json!({"apiVersion": VS.0, "kind": VS.1,
               "metadata": {"name": "by-path", "namespace": "default"},
               "spec": {"hosts": ["ratings"], "http": [
                   {"match": [{"uri": {"regex": pattern}}],
                    "route": [{"destination": {"host": "reviews", "subset": "v2"}}]},
                   {"route": [{"destination": {"host": "reviews", "subset": "v1"}}]}]}})
    }

    /// The DestinationRule of `reviews` with the subsets named.
    fn rule_with(subsets: &[&str]) -> Value {
        let mut rule = destination_rule();
        rule["spec"]["subsets"] = subsets
            .iter()
            .map(|s| json!({"name": s, "labels": {"version": s}}))
            .collect();
        rule
    }

    /// A sequence of changes, each compared with a compile from scratch of the same objects
    /// ([`Follow::check`]: rules, clusters, decisions, rejections, diagnostics), while only
    /// the changed resources are validated again: a VirtualService edited, turned invalid
    /// and back; a DestinationRule losing and regaining the subset a VirtualService names
    /// (the warning comes and goes, though neither resource's own report changed); a regex
    /// VirtualService, validated afresh at every compile; a delete; the same
    /// VirtualService moved to another namespace.
    #[test]
    fn incremental_builds_match_a_compile_from_scratch() {
        let mut f = listed(CompileOptions::default());
        f.check("the first lists");
        let afresh = |f: &Follow| f.builder.cache.validated_afresh;
        let lowered = |f: &Follow| f.builder.cache.lowerings.afresh;
        // Each kind is listed in turn, a build each: the last list (Pods) has nothing to
        // validate, and the VirtualServices' and the DestinationRule's reports are reused.
        assert_eq!(afresh(&f), 0);

        f.apply(vec![virtual_service("reviews", 30)])
            .check("edited");
        assert_eq!(afresh(&f), 1, "the others' reports are reused");
        assert_eq!(lowered(&f), 1, "and the other's lowering");

        f.apply(vec![virtual_service("reviews", 130)])
            .check("turned invalid");
        assert_eq!(f.status.rejected.len(), 1);
        assert_eq!(afresh(&f), 1);
        f.apply(vec![virtual_service("reviews", 30)])
            .check("and back");
        assert!(f.status.rejected.is_empty());

        let subset_warnings = |f: &Follow| {
            (f.status.diagnostics.iter())
                .filter(|d| d.message.contains("v2"))
                .count()
        };
        assert_eq!(subset_warnings(&f), 0);
        f.apply(vec![rule_with(&["v1"])]).check("subset v2 removed");
        assert_eq!(afresh(&f), 1, "only the rule is validated again");
        assert_eq!(lowered(&f), 2, "both services route to v2: lowered again");
        assert!(subset_warnings(&f) > 0, "{:#?}", f.status.diagnostics);
        f.apply(vec![rule_with(&["v1", "v2", "v3"])])
            .check("subset v2 back, v3 added");
        assert_eq!(subset_warnings(&f), 0);

        f.apply(vec![regex_service("/r/[0-9]+")]).check("a regex");
        f.apply(vec![rule_with(&["v1", "v2"])])
            .check("the rule again");
        assert_eq!(afresh(&f), 2, "the regex VirtualService and the rule");
        // Neither service asked about v3: both kept; the regex one is lowered again.
        assert_eq!(lowered(&f), 1);
        f.apply(vec![regex_service("/r/(")]).check("a bad regex");
        assert_eq!(f.status.rejected.len(), 1);
        f.apply(vec![rule_with(&["v1", "v2", "v3"])])
            .check("still rejected when validated again");
        assert_eq!(f.status.rejected.len(), 1);

        f.delete(VS.0, VS.1, "default", "by-path")
            .check("the regex service deleted");
        f.delete(VS.0, VS.1, "default", "reviews")
            .check("the service deleted");
        assert_eq!(f.subset(0), None);

        let mut moved = virtual_service("reviews", 0);
        moved["metadata"]["namespace"] = json!("other");
        f.apply(vec![
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "other"}}),
            moved,
        ])
        .check("the service in another namespace");
        assert_eq!(afresh(&f), 1);
        f.apply(vec![virtual_service("reviews", 100)])
            .check("and in its own again");
    }

    /// In strict mode a VirtualService turned invalid fails the build, also when its report
    /// is reused by the next build.
    #[test]
    fn incremental_builds_in_strict_mode() {
        let mut f = listed(CompileOptions::strict());
        f.check("the first lists");
        f.apply(vec![virtual_service("reviews", -5)])
            .check("turned invalid");
        assert!(f.status.failed.is_some());
        f.apply(vec![rule_with(&["v1", "v2", "v3"])])
            .check("another change, the invalid one's report reused");
        assert!(f.status.failed.is_some());
        assert_eq!(f.builder.cache.validated_afresh, 1);
        f.apply(vec![virtual_service("reviews", 5)]).check("fixed");
        assert!(f.status.failed.is_none());
    }

    /// One change of a random sequence.
    #[derive(Clone, Debug)]
    enum Change {
        Weight(i64),
        Subsets(Vec<&'static str>),
        Regex(&'static str),
        DeleteService,
        DeleteRule,
        Sidecar(&'static str),
        Endpoint(u8),
    }

    fn change() -> impl proptest::strategy::Strategy<Value = Change> {
        use proptest::prelude::*;
        prop_oneof![
            (-10i64..110).prop_map(Change::Weight),
            proptest::sample::subsequence(vec!["v1", "v2", "v3"], 0..=3).prop_map(Change::Subsets),
            proptest::sample::select(vec!["/a/[0-9]+", "/b/.*", "/c/("]).prop_map(Change::Regex),
            Just(Change::DeleteService),
            Just(Change::DeleteRule),
            proptest::sample::select(vec!["v1", "v2"]).prop_map(Change::Sidecar),
            any::<u8>().prop_map(Change::Endpoint),
        ]
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(48))]

        /// Any sequence of changes (applied one per build, or two per build) leaves the table
        /// and status those of a compile from scratch of the same objects.
        #[test]
        fn random_changes_match_a_compile_from_scratch(
            changes in proptest::collection::vec(change(), 1..10),
            strict in proptest::prelude::any::<bool>(),
            pairs in proptest::prelude::any::<bool>(),
        ) {
            let options = if strict { CompileOptions::strict() } else { CompileOptions::default() };
            let mut f = listed(options);
            for (k, chunk) in changes.chunks(if pairs { 2 } else { 1 }).enumerate() {
                let mut values = Vec::new();
                for c in chunk {
                    let delete = |f: &mut Follow, kind: (&str, &str), name: &str| {
                        let i = index(kind.0, kind.1);
                        let key = (Some("default".to_string()), Some(name.to_string()));
                        if f.server.contains_key(&(i, key)) {
                            f.delete(kind.0, kind.1, "default", name);
                        }
                    };
                    match c {
                        Change::Weight(w) => values.push(virtual_service("reviews", *w)),
                        Change::Subsets(s) => values.push(rule_with(s)),
                        Change::Regex(p) => values.push(regex_service(p)),
                        Change::DeleteService => delete(&mut f, VS, "reviews"),
                        Change::DeleteRule => {
                            delete(&mut f, ("networking.istio.io/v1", "DestinationRule"), "reviews")
                        }
                        Change::Sidecar(v) => values.push(sidecar(&format!("sc-{v}"), v)),
                        Change::Endpoint(n) => values.push(endpoint_slice(&format!("10.1.0.{n}"))),
                    }
                }
                if !values.is_empty() {
                    f.apply(values);
                }
                f.check(&format!("step {k}: {chunk:?}"));
            }
        }
    }
}
