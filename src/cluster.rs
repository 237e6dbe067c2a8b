//! Following a Kubernetes cluster (feature `kube`): [`ClusterSource`] watches every kind the
//! loader reads and keeps a [`Shared<Table>`] in step with the API server.
//!
//! - One kube-runtime [`watcher()`] per kind ([`KINDS`]), with bookmarks, each feeding a
//!   reflector store of [`DynamicObject`]s: no typed structs here. The watcher re-lists by
//!   itself when the API server answers a watch with `410 Gone` (the resource version it
//!   resumed from was compacted), and resumes a watch that ended from the last resource
//!   version it saw; errors are retried with kube-runtime's default backoff.
//! - After a change, and once every kind has listed, the stores' objects are written back to
//!   JSON and read by [`Config::add_json_value`]: the same dispatch, schema and validation
//!   as a file, so a resource the cluster holds and a file holding the same resource compile
//!   alike. Changes are debounced ([`ClusterOptions::debounce`]): a burst of events compiles
//!   once.
//! - A resource that does not validate is left out and reported (as for files, unless
//!   [`CompileOptions::strict`]); a compile that fails keeps the table that serves.
//! - [`ClusterStatus`] (from [`ClusterSource::status`]) says, per kind, whether it listed,
//!   how many objects it holds and the last error; and, per resource, what was rejected and
//!   why. A kind the cluster does not serve (its list answers 404: the CRD is not installed)
//!   is skipped, and the status says so; the others go on.
//!
//! Istio resources are read at `networking.istio.io/v1`, Gateway API routes at the versions
//! their CRDs serve in the standard and experimental channels ([`KINDS`]). The `istio`
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

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use futures::stream::BoxStream;
use kube::api::{Api, ApiResource, DynamicObject};
use kube::runtime::WatchStreamExt;
use kube::runtime::reflector::store::Writer;
use kube::runtime::watcher;
use serde_json::Value;
use tokio::sync::watch as signal;

use crate::compile::{CompileOptions, compile};
use crate::config::{Config, Rejected, mesh::MESH_CONFIG_MAP};
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
    /// Version the kind is read at.
    pub version: &'static str,
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
            kind,
            plural,
            scope,
        }
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
        "v1alpha2",
        "TLSRoute",
        "tlsroutes",
        Scope::Namespaced,
    ),
    WatchedKind::new(
        GATEWAY_API,
        "v1alpha2",
        "TCPRoute",
        "tcproutes",
        Scope::Namespaced,
    ),
    WatchedKind::new(
        GATEWAY_API,
        "v1beta1",
        "ReferenceGrant",
        "referencegrants",
        Scope::Namespaced,
    ),
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
    /// How long the stores must be quiet after a change before the table is rebuilt
    /// (default 100 ms).
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
    pub last_error: Option<String>,
}

/// What a [`ClusterSource`] has done: per kind, and of the table that serves.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct ClusterStatus {
    /// Every watched kind, in [`KINDS`] order.
    pub kinds: Vec<KindStatus>,
    /// Tables stored so far (0 until every kind has listed or been skipped).
    pub builds: u64,
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

    /// The status of `kind` read at `api_version` (`networking.istio.io/v1`, `v1`).
    pub fn kind(&self, api_version: &str, kind: &str) -> Option<&KindStatus> {
        self.kinds
            .iter()
            .find(|k| k.kind.kind == kind && k.kind.api_version() == api_version)
    }
}

/// What [`ClusterSource::on_build`] calls with each configuration and its table.
type BuildHook = Box<dyn Fn(&Config, &Table) + Send + Sync>;

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
    /// embedder derives from the same snapshot goes live with it. A proxy that picks
    /// endpoints binds each table to the endpoints of the same configuration
    /// ([`Registry::from_config`](crate::registry::Registry::from_config),
    /// [`Router::new`](crate::registry::Router::new)). The hook runs on the source's task:
    /// while it runs, events wait.
    pub fn on_build(mut self, hook: impl Fn(&Config, &Table) + Send + Sync + 'static) -> Self {
        self.on_build = Some(Box::new(hook));
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
    /// every kind is skipped. Spawn it on a tokio runtime; dropping it stops the watches.
    pub async fn run(self) {
        let mut writers: Vec<Writer<DynamicObject>> = KINDS
            .iter()
            .map(|k| Writer::new(k.api_resource()))
            .collect();
        let mut status = (**self.status.borrow()).clone();
        let mut streams =
            futures::stream::select_all(KINDS.iter().enumerate().map(|(i, k)| self.watch(i, k)));
        let mut dirty = false;
        loop {
            let Some((i, first)) = streams.next().await else {
                break;
            };
            dirty |= note_event(&mut writers[i], &mut status.kinds[i], first);
            let deadline = tokio::time::Instant::now() + self.options.max_delay;
            let mut ended = false;
            loop {
                let quiet = (tokio::time::Instant::now() + self.options.debounce).min(deadline);
                match tokio::time::timeout_at(quiet, streams.next()).await {
                    Ok(Some((i, event))) => {
                        dirty |= note_event(&mut writers[i], &mut status.kinds[i], event);
                    }
                    Ok(None) => {
                        ended = true;
                        break;
                    }
                    Err(_) => break,
                }
            }
            if dirty && status.synced() {
                dirty = false;
                self.rebuild(&writers, &mut status);
            }
            self.status.send_replace(Arc::new(status.clone()));
            if ended {
                break;
            }
        }
    }

    /// The watch of kind `i`: its events, ending after the list that says the cluster does
    /// not serve the kind.
    fn watch(
        &self,
        i: usize,
        kind: &WatchedKind,
    ) -> BoxStream<'static, (usize, watcher::Result<watcher::Event<DynamicObject>>)> {
        let (api, fields) = api(&self.client, kind, &self.options);
        let mut config = watcher::Config::default();
        if let Some(fields) = fields {
            config = config.fields(&fields);
        }
        watcher(api, config)
            .default_backoff()
            .scan(false, |done, event| {
                if *done {
                    return futures::future::ready(None);
                }
                *done = not_served(&event);
                futures::future::ready(Some(event))
            })
            .map(move |event| (i, event))
            .boxed()
    }

    /// Compiles the stores' objects and stores the table, or records why not.
    fn rebuild(&self, writers: &[Writer<DynamicObject>], status: &mut ClusterStatus) {
        let mut objects = Vec::new();
        for (i, writer) in writers.iter().enumerate() {
            objects.extend(writer.as_reader().state().into_iter().map(|o| (i, o)));
        }
        let config = config_of(objects);
        match compile(&config, &self.options.compile) {
            Ok(compiled) => {
                if let Some(hook) = &self.on_build {
                    hook(&config, &compiled.table);
                }
                self.tables.store(compiled.table);
                status.builds += 1;
                status.rejected = compiled.rejected;
                status.diagnostics = compiled.diagnostics;
                status.failed = None;
            }
            Err(errors) => status.failed = Some(errors),
        }
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
fn config_of<O: std::borrow::Borrow<DynamicObject>>(mut objects: Vec<(usize, O)>) -> Config {
    objects.sort_by(|(i, a), (j, b)| {
        let key = |o: &DynamicObject| (o.metadata.namespace.clone(), o.metadata.name.clone());
        (i, key(a.borrow())).cmp(&(j, key(b.borrow())))
    });
    let mut config = Config::new();
    for (i, object) in objects {
        config.add_json_value(to_json(&KINDS[i], object.borrow()), SOURCE);
    }
    config
}

/// Reads every kind once, a list each and no watch, into a [`Config`] (what a one-shot check
/// of the live cluster needs). A kind the cluster does not serve (404) is skipped with a note
/// in [`Config::notes`].
///
/// # Errors
/// The first list that fails otherwise (unreachable server, 403 Forbidden, …).
pub async fn snapshot(
    client: &kube::Client,
    options: &ClusterOptions,
) -> Result<Config, kube::Error> {
    let mut objects = Vec::new();
    let mut skipped = Vec::new();
    for (i, kind) in KINDS.iter().enumerate() {
        let (api, fields) = api(client, kind, options);
        let mut params = kube::api::ListParams::default().limit(500);
        if let Some(fields) = &fields {
            params = params.fields(fields);
        }
        loop {
            let list = match api.list(&params).await {
                Ok(list) => list,
                Err(kube::Error::Api(status)) if status.is_not_found() => {
                    skipped.push(*kind);
                    break;
                }
                Err(e) => return Err(e),
            };
            objects.extend(list.items.into_iter().map(|o| (i, o)));
            match list.metadata.continue_.filter(|c| !c.is_empty()) {
                Some(token) => params = params.continue_token(&token),
                None => break,
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
                "skipped {} {}: the cluster does not serve it (404 Not Found: is the CRD \
                 installed?)",
                kind.api_version(),
                kind.kind
            ),
        });
    }
    Ok(config)
}

/// The object as the API server writes it: with `apiVersion` and `kind`, which list items
/// of the core kinds leave out.
fn to_json(kind: &WatchedKind, object: &DynamicObject) -> Value {
    // Serializing an object that was deserialized cannot fail (string keys, no floats that
    // are not numbers); a null would be skipped by the loader.
    let mut value = serde_json::to_value(object).unwrap_or(Value::Null);
    if let Value::Object(map) = &mut value {
        map.insert("apiVersion".into(), Value::String(kind.api_version()));
        map.insert("kind".into(), Value::String(kind.kind.to_string()));
    }
    value
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

/// Applies one watcher event to the kind's store and status; whether the store's content
/// changed (a change, or a list completed).
fn note_event(
    writer: &mut Writer<DynamicObject>,
    status: &mut KindStatus,
    event: watcher::Result<watcher::Event<DynamicObject>>,
) -> bool {
    match event {
        Ok(event) => {
            writer.apply_watcher_event(&event);
            status.objects = writer.as_reader().len();
            match event {
                watcher::Event::Init => {
                    if status.state == KindState::Synced {
                        status.relists += 1;
                    }
                    false
                }
                watcher::Event::InitApply(_) => false,
                watcher::Event::InitDone => {
                    status.state = KindState::Synced;
                    status.last_error = None;
                    true
                }
                watcher::Event::Apply(_) | watcher::Event::Delete(_) => {
                    status.last_error = None;
                    true
                }
            }
        }
        Err(e) => {
            if !is_not_found(&e) {
                status.last_error = Some(e.to_string());
                false
            } else {
                status.state = KindState::Skipped(format!(
                    "the cluster does not serve {} {} (its list answered 404 Not Found: \
                     is the CRD installed?)",
                    status.kind.api_version(),
                    status.kind.kind
                ));
                status.last_error = Some(e.to_string());
                true
            }
        }
    }
}
