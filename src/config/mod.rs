//! The configuration model: the real Kubernetes resources, 1:1 with their YAML, and their loading.
//!
//! Input is YAML (multi-document streams, `kind: List`, `kubectl get -o yaml` output) or JSON.
//! YAML is read by serde-saphyr with strict options and budgets ([`limits`]); duplicate keys are
//! errors in YAML and JSON alike. Each document is dispatched on its apiVersion *group* and kind;
//! kinds meshroute does not handle are skipped with a note. A document is rejected, as the API
//! server or kubectl would refuse it, when it has no `apiVersion`, `kind` or `metadata.name`,
//! when its name or namespace is not a DNS name, or when its kind or version does not exist in a
//! group meshroute reads (`networking.istio.io`, `gateway.networking.k8s.io`,
//! `discovery.k8s.io`; with a did-you-mean). A document whose `spec` does not fit the schema is
//! kept as a rejected resource (with the field path of the problem), so the other resources of
//! the stream still load.

pub mod common;
pub mod destination_rule;
pub mod discovery;
pub mod gateway;
pub mod gateway_api;
mod load;
pub mod mesh;
pub(crate) mod names;
pub mod service_entry;
pub mod sidecar;
pub mod virtual_service;

use std::collections::BTreeMap;

use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use self::names::{NameProblem, ObjectName, did_you_mean};
use crate::error::{Diagnostic, Error, ErrorKind, ResourceId, Severity};

pub use destination_rule::DestinationRuleSpec;
pub use gateway::IstioGatewaySpec;
pub use load::LoadOptions;
pub use service_entry::ServiceEntrySpec;
pub use virtual_service::VirtualServiceSpec;

/// Limits applied while reading configuration; exceeding one is an error naming the limit.
///
/// A *resource* here is a document, or one element of a document's top-level `items` list (a
/// `kind: List`, as `kubectl get -o yaml` writes) or of a top-level JSON array. The input's
/// totals are defaults of [`LoadOptions`], which can change them.
pub mod limits {
    /// Default largest input, in bytes, of one call ([`LoadOptions::max_input_bytes`]):
    /// 100,000 one-rule VirtualServices as `kubectl get -o yaml` prints them take 46 MB, or
    /// about 100 MB with `last-applied-configuration` annotations.
    ///
    /// [`LoadOptions::max_input_bytes`]: super::LoadOptions::max_input_bytes
    pub const MAX_INPUT_BYTES: usize = 256 << 20;
    /// Default most nodes in one input ([`LoadOptions::max_total_nodes`]): 200 per resource
    /// for 100,000 resources, where a one-rule VirtualService as `kubectl get -o yaml` prints
    /// it has about 50.
    ///
    /// [`LoadOptions::max_total_nodes`]: super::LoadOptions::max_total_nodes
    pub const MAX_TOTAL_NODES: usize = 20_000_000;
    /// Default most documents in one input ([`LoadOptions::max_documents`]).
    ///
    /// [`LoadOptions::max_documents`]: super::LoadOptions::max_documents
    pub const MAX_DOCUMENTS: usize = 1_000_000;
    /// Deepest YAML nesting in one document (JSON input is bounded by the JSON parser's own
    /// limit of 128).
    pub const MAX_DEPTH: usize = 32;
    /// Most nodes (keys, values, list elements; with YAML aliases expanded) in one resource.
    pub const MAX_NODES: usize = 1_000_000;
    /// Most YAML aliases in one document.
    pub const MAX_ALIASES: usize = 100;
    /// Most YAML anchors in one document.
    pub const MAX_ANCHORS: usize = 100;
    /// Most parser events (a node's start or end, a scalar) YAML aliases may replay in one
    /// input: what aliases stand for is bounded before the values are built.
    pub const MAX_ALIAS_REPLAY: usize = 100_000;
    /// Most scalar bytes (keys and values, with YAML aliases expanded) in one resource.
    pub const MAX_SCALAR_BYTES: usize = 4 << 20;
    /// Longest name, hostname, group or address, in bytes.
    pub const MAX_NAME_LEN: usize = 253;
    /// Longest namespace or kind, in bytes.
    pub const MAX_LABEL_LEN: usize = 63;
}

/// Kubernetes object metadata (the parts that matter for routing and messages).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Metadata {
    /// Name.
    #[serde(default)]
    pub name: String,
    /// Namespace; absent means the compile option's default namespace.
    pub namespace: Option<String>,
    /// Creation time (RFC 3339), used for precedence between resources.
    pub creation_timestamp: Option<String>,
    /// Labels.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// The annotations meshroute reads: those under [`ANNOTATION_PREFIX`], and
    /// [`EXPORT_TO_ANNOTATION`]. The others are
    /// checked (their values must be strings) and dropped when loading: nothing reads them, and
    /// `kubectl get -o yaml` output can carry large ones (`last-applied-configuration`).
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
}

/// The prefix of the annotations meshroute reads and keeps in [`Metadata::annotations`]
/// ([`STICKY_SPLIT_ANNOTATION`](crate::compile::STICKY_SPLIT_ANNOTATION)).
pub const ANNOTATION_PREFIX: &str = "meshroute.io/";

/// Istio's annotation on a Kubernetes Service that sets its `exportTo` (comma-separated, as
/// istio pkg/config/kube `ConvertService` reads it); also kept in [`Metadata::annotations`].
pub const EXPORT_TO_ANNOTATION: &str = "networking.istio.io/exportTo";

/// One loaded resource: metadata plus its typed spec.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Object<S> {
    /// `apiVersion` as written.
    pub api_version: String,
    /// Metadata.
    pub metadata: Metadata,
    /// The spec.
    pub spec: S,
    /// Where it was read from (file name or a caller-chosen label), for messages.
    pub source: String,
    /// Position in load order, used as a stable tie-breaker.
    pub order: usize,
}

impl<S> Object<S> {
    /// The namespace, or `default_namespace` when the resource names none.
    pub fn namespace<'a>(&'a self, default_namespace: &'a str) -> &'a str {
        self.metadata
            .namespace
            .as_deref()
            .unwrap_or(default_namespace)
    }
}

/// A resource meshroute handles. Each object is boxed: a dump holds many resources, and the
/// kinds differ a lot in size.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum Resource {
    /// networking.istio.io VirtualService.
    VirtualService(Box<Object<VirtualServiceSpec>>),
    /// networking.istio.io DestinationRule.
    DestinationRule(Box<Object<DestinationRuleSpec>>),
    /// networking.istio.io Gateway.
    Gateway(Box<Object<IstioGatewaySpec>>),
    /// gateway.networking.k8s.io Gateway.
    KubeGateway(Box<Object<gateway_api::GatewaySpec>>),
    /// gateway.networking.k8s.io HTTPRoute.
    HttpRoute(Box<Object<gateway_api::HttpRouteSpec>>),
    /// gateway.networking.k8s.io GRPCRoute.
    GrpcRoute(Box<Object<gateway_api::GrpcRouteSpec>>),
    /// gateway.networking.k8s.io TLSRoute.
    TlsRoute(Box<Object<gateway_api::TlsRouteSpec>>),
    /// gateway.networking.k8s.io TCPRoute.
    TcpRoute(Box<Object<gateway_api::TcpRouteSpec>>),
    /// gateway.networking.k8s.io ReferenceGrant.
    ReferenceGrant(Box<Object<gateway_api::ReferenceGrantSpec>>),
    /// Core Service (a GAMMA parent, or a backend that exists).
    Service(Box<Object<gateway_api::ServiceSpec>>),
    /// Core Namespace (labels, for `allowedRoutes` selectors).
    Namespace(Box<Object<()>>),
    /// discovery.k8s.io EndpointSlice (endpoints of a Service, for the registry). It has no
    /// `spec`: `Object::spec` holds its top-level fields.
    EndpointSlice(Box<Object<discovery::EndpointSlice>>),
    /// Core Pod (labels and IP, for the registry): `Object::spec` holds its `spec` and
    /// `status`.
    Pod(Box<Object<discovery::Pod>>),
    /// networking.istio.io Sidecar (a client workload's view of the mesh).
    Sidecar(Box<Object<sidecar::SidecarSpec>>),
    /// Core ConfigMap named `istio` (the mesh config, read from the root namespace's):
    /// `Object::spec` holds its `data`.
    ConfigMap(Box<Object<mesh::ConfigMapData>>),
    /// networking.istio.io ServiceEntry (a service of the registry: hosts, ports, endpoints).
    ServiceEntry(Box<Object<ServiceEntrySpec>>),
    /// networking.istio.io WorkloadEntry (a workload outside Kubernetes, such as a VM: an
    /// endpoint of the ServiceEntries whose `workloadSelector` selects it).
    WorkloadEntry(Box<Object<service_entry::WorkloadEntry>>),
}

/// Applies `$body` to the `Object` inside any variant.
macro_rules! with_object {
    ($res:expr, $o:ident => $body:expr) => {
        match $res {
            Resource::VirtualService($o) => $body,
            Resource::DestinationRule($o) => $body,
            Resource::Gateway($o) => $body,
            Resource::KubeGateway($o) => $body,
            Resource::HttpRoute($o) => $body,
            Resource::GrpcRoute($o) => $body,
            Resource::TlsRoute($o) => $body,
            Resource::TcpRoute($o) => $body,
            Resource::ReferenceGrant($o) => $body,
            Resource::Service($o) => $body,
            Resource::Namespace($o) => $body,
            Resource::EndpointSlice($o) => $body,
            Resource::Pod($o) => $body,
            Resource::Sidecar($o) => $body,
            Resource::ConfigMap($o) => $body,
            Resource::ServiceEntry($o) => $body,
            Resource::WorkloadEntry($o) => $body,
        }
    };
}

impl Resource {
    /// The resource's kind, namespace and name (`default_namespace` when it names none).
    pub fn id(&self, default_namespace: &str) -> ResourceId {
        let m = self.metadata();
        let ns = if matches!(self, Resource::Namespace(_)) {
            ""
        } else {
            m.namespace.as_deref().unwrap_or(default_namespace)
        };
        ResourceId::new(self.kind(), ns, &m.name)
    }

    /// The resource's kind as written (`Gateway` for both Gateway groups).
    pub fn kind(&self) -> &'static str {
        match self {
            Resource::VirtualService(_) => "VirtualService",
            Resource::DestinationRule(_) => "DestinationRule",
            Resource::Gateway(_) | Resource::KubeGateway(_) => "Gateway",
            Resource::HttpRoute(_) => "HTTPRoute",
            Resource::GrpcRoute(_) => "GRPCRoute",
            Resource::TlsRoute(_) => "TLSRoute",
            Resource::TcpRoute(_) => "TCPRoute",
            Resource::ReferenceGrant(_) => "ReferenceGrant",
            Resource::Service(_) => "Service",
            Resource::Namespace(_) => "Namespace",
            Resource::EndpointSlice(_) => "EndpointSlice",
            Resource::Pod(_) => "Pod",
            Resource::Sidecar(_) => "Sidecar",
            Resource::ConfigMap(_) => "ConfigMap",
            Resource::ServiceEntry(_) => "ServiceEntry",
            Resource::WorkloadEntry(_) => "WorkloadEntry",
        }
    }

    /// The resource's metadata.
    pub fn metadata(&self) -> &Metadata {
        with_object!(self, o => &o.metadata)
    }

    /// Where the resource was read from.
    pub fn source(&self) -> &str {
        with_object!(self, o => &o.source)
    }

    /// Its position in load order ([`Object::order`]).
    pub fn order(&self) -> usize {
        with_object!(self, o => o.order)
    }

    /// Sets its position in load order: a resource read alone and placed among others later
    /// (the cluster source's cache of decoded objects).
    #[cfg(feature = "kube")]
    pub(crate) fn set_order(&mut self, order: usize) {
        with_object!(self, o => o.order = order);
    }
}

/// A resource that could not be read into its schema: its id and the errors.
#[derive(Clone, Debug)]
pub struct Rejected {
    /// The resource.
    pub resource: ResourceId,
    /// Why it was rejected.
    pub errors: Vec<Error>,
}

/// Configuration loaded from one or more inputs, not yet validated or compiled.
#[derive(Clone, Debug, Default)]
pub struct Config {
    /// Resources in load order.
    pub resources: Vec<Resource>,
    /// Resources whose spec did not fit the schema (kept out of `resources`).
    pub rejected: Vec<Rejected>,
    /// Notes, e.g. resources of other kinds that were skipped.
    pub notes: Vec<Diagnostic>,
}

impl Config {
    /// An empty configuration.
    pub fn new() -> Config {
        Config::default()
    }

    /// Reads YAML or JSON text (JSON when the first non-space character is `{` or `[`).
    ///
    /// # Errors
    /// When the text is not well-formed or exceeds a [`limits`] budget. Schema problems in a
    /// single resource do not fail the call: they land in [`Config::rejected`].
    ///
    /// # Example
    /// ```
    /// let yaml = "apiVersion: networking.istio.io/v1\nkind: VirtualService\n\
    ///             metadata: {name: r, namespace: default}\nspec: {hosts: [r], http: [{route: [{destination: {host: r}}]}]}\n";
    /// let config = meshroute::Config::from_str(yaml, "inline")?;
    /// assert_eq!(config.resources.len(), 1);
    /// # Ok::<(), meshroute::Error>(())
    /// ```
    #[allow(clippy::should_implement_trait)]
    pub fn from_str(text: &str, source: &str) -> Result<Config, Error> {
        let mut c = Config::new();
        c.add_str(text, source)?;
        Ok(c)
    }

    /// Reads a file (YAML or JSON) within the default [`LoadOptions`].
    ///
    /// # Errors
    /// As [`Config::add_file_with`].
    pub fn add_file(&mut self, path: impl AsRef<std::path::Path>) -> Result<(), Error> {
        self.add_file_with(path, &LoadOptions::default())
    }

    /// Reads a file (YAML or JSON) within `options`. Its size is checked before it is read.
    ///
    /// # Errors
    /// An [`ErrorKind::Limit`] error naming the file when it is larger than
    /// [`LoadOptions::max_input_bytes`]; an [`ErrorKind::Io`] error when it cannot be read or is
    /// not UTF-8; otherwise as [`Config::add_str_with`].
    ///
    /// # Example
    /// ```no_run
    /// use meshroute::{Config, LoadOptions};
    ///
    /// let mut config = Config::new();
    /// config.add_file_with("cluster-dump.yaml", &LoadOptions::new().max_input_bytes(1 << 30))?;
    /// # Ok::<(), meshroute::Error>(())
    /// ```
    pub fn add_file_with(
        &mut self,
        path: impl AsRef<std::path::Path>,
        options: &LoadOptions,
    ) -> Result<(), Error> {
        let path = path.as_ref();
        let name = path.display().to_string();
        let io = |e: std::io::Error| {
            Error::new(ErrorKind::Io, "", format!("cannot read: {e}")).with_source(&name)
        };
        let mut file = std::fs::File::open(path).map_err(io)?;
        let size = file.metadata().map_err(io)?.len();
        options
            .check_size(size, "file")
            .map_err(|e| e.with_source(&name))?;
        // The file may grow after the check: read one byte past the limit at most.
        let mut bytes = Vec::with_capacity(size as usize);
        std::io::Read::read_to_end(
            &mut std::io::Read::take(
                &mut file,
                (options.get_max_input_bytes() as u64).saturating_add(1),
            ),
            &mut bytes,
        )
        .map_err(io)?;
        let text = String::from_utf8(bytes).map_err(|e| {
            Error::new(
                ErrorKind::Io,
                "",
                format!("cannot read: not valid UTF-8 ({})", e.utf8_error()),
            )
            .with_source(&name)
        })?;
        self.add_str_with(&text, &name, options)
    }

    /// Adds the resources of YAML or JSON text to this configuration, within the default
    /// [`LoadOptions`].
    ///
    /// # Errors
    /// As [`Config::from_str`]; on error nothing of this text is added.
    pub fn add_str(&mut self, text: &str, source: &str) -> Result<(), Error> {
        self.add_str_with(text, source, &LoadOptions::default())
    }

    /// Adds the resources of YAML or JSON text to this configuration, within `options`.
    ///
    /// # Errors
    /// An [`ErrorKind::Limit`] error when the text is longer than
    /// [`LoadOptions::max_input_bytes`]; an [`ErrorKind::Syntax`] error when it is not
    /// well-formed or passes a budget of [`limits`] or of `options` (the message names the
    /// document and the limit). On error nothing of this text is added.
    ///
    /// A YAML input of 64 KiB or more is read on as many threads as
    /// [`std::thread::available_parallelism`] gives (its documents, and the items of a `kind:
    /// List`, parse independently); the result, errors included, is the serial reading's.
    ///
    /// # Example
    /// ```
    /// use meshroute::{Config, ErrorKind, LoadOptions};
    ///
    /// let yaml = "apiVersion: networking.istio.io/v1\nkind: VirtualService\n\
    ///             metadata: {name: r, namespace: default}\nspec: {hosts: [r]}\n";
    /// let mut config = Config::new();
    /// let e = config.add_str_with(yaml, "inline", &LoadOptions::new().max_input_bytes(64));
    /// assert_eq!(e.unwrap_err().kind(), ErrorKind::Limit);
    /// config.add_str_with(yaml, "inline", &LoadOptions::new())?;
    /// assert_eq!(config.resources.len(), 1);
    /// # Ok::<(), meshroute::Error>(())
    /// ```
    pub fn add_str_with(
        &mut self,
        text: &str,
        source: &str,
        options: &LoadOptions,
    ) -> Result<(), Error> {
        options
            .check_size(text.len() as u64, "input")
            .map_err(|e| e.with_source(source))?;
        // Resources are added as they are read (a List's items staged per document, then moved
        // in; a copy of the whole input would double the peak memory of a large dump) and
        // taken back out if the text turns out to be refused.
        self.add_str_tuned(text, source, options, load::Tuning::default())
    }

    /// [`Config::add_str_with`], with a large YAML input read in pieces on several threads
    /// as `tuning` says, when that gives the serial reader's result; otherwise serially.
    fn add_str_tuned(
        &mut self,
        text: &str,
        source: &str,
        options: &LoadOptions,
        tuning: load::Tuning,
    ) -> Result<(), Error> {
        if let Some(read) = load::read_in_pieces(text, source, options, tuning) {
            self.append(read);
            return Ok(());
        }
        let before = (self.resources.len(), self.rejected.len(), self.notes.len());
        load::documents(text, source, options, |i, doc, items| {
            self.add_document(i, doc, items, source)
        })
        .map_err(|e| {
            self.resources.truncate(before.0);
            self.rejected.truncate(before.1);
            self.notes.truncate(before.2);
            e.with_source(source)
        })
    }

    /// Adds document `i` of an input, with the resources staged from its `items` (added when
    /// the document is a List).
    fn add_document(&mut self, i: usize, doc: Value, items: Config, source: &str) {
        let list = doc.as_object().is_some_and(|map| {
            let field = |f: &str| map.get(f).and_then(Value::as_str).unwrap_or("");
            is_list(field("apiVersion"), field("kind"))
        });
        self.add_value(doc, source, &format!("document {i}"), 0);
        if list {
            self.append(items);
        }
    }

    /// Adds one resource, or a `kind: List` of them, already decoded as JSON: an object a
    /// Kubernetes client read from the API server, say. It goes through the same dispatch,
    /// schema and checks as a document of [`Config::add_str`]; the text budgets of
    /// [`LoadOptions`] do not apply (the value is built already). Nothing fails the call: a
    /// resource that does not fit lands in [`Config::rejected`], one of another kind is skipped
    /// with a note in [`Config::notes`].
    ///
    /// # Example
    /// ```
    /// let vs = serde_json::json!({
    ///     "apiVersion": "networking.istio.io/v1",
    ///     "kind": "VirtualService",
    ///     "metadata": {"name": "r", "namespace": "default", "resourceVersion": "7"},
    ///     "spec": {"hosts": ["r"], "http": [{"route": [{"destination": {"host": "r"}, "weight": -1}]}]},
    /// });
    /// let mut config = meshroute::Config::new();
    /// config.add_json_value(vs, "cluster");
    /// assert_eq!(config.resources.len(), 1);
    /// // Weights are checked by compile, as for a file.
    /// let compiled = meshroute::compile(&config, &meshroute::CompileOptions::default())?;
    /// assert_eq!(compiled.rejected.len(), 1);
    /// # Ok::<(), meshroute::Errors>(())
    /// ```
    pub fn add_json_value(&mut self, value: Value, source: &str) {
        self.add_value(value, source, "object", 0);
    }

    fn add_value(&mut self, doc: Value, source: &str, at: &str, depth: usize) {
        let Value::Object(mut map) = doc else {
            if !doc.is_null() {
                self.note(
                    source,
                    at,
                    "skipped: the document is not a mapping".to_string(),
                );
            }
            return;
        };
        let api_version = map
            .get("apiVersion")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let kind = map
            .get("kind")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        if is_list(&api_version, &kind) {
            if depth > 0 {
                self.note(source, at, "skipped: a List nested in a List".to_string());
                return;
            }
            if let Some(Value::Array(items)) = map.remove("items") {
                for (i, item) in items.into_iter().enumerate() {
                    self.add_value(item, source, &format!("{at} items[{i}]"), depth + 1);
                }
            }
            return;
        }
        let provisional = provisional_id(&map, &kind);
        if let Some((path, message)) = type_problem(&map, &api_version, &kind) {
            self.reject(
                &provisional,
                Error::new(ErrorKind::Invalid, path, message),
                source,
            );
            return;
        }
        // Of the ConfigMaps, only the mesh config's.
        let other_config_map = kind == "ConfigMap" && provisional.name != mesh::MESH_CONFIG_MAP;
        if other_config_map || !is_routed_kind(&api_version, &kind) {
            self.note(
                source,
                at,
                format!("skipped {api_version} {kind}: not a kind meshroute routes with"),
            );
            return;
        }
        let Some(metadata) = self.take_metadata(&mut map, &kind, source, &provisional) else {
            return;
        };
        let (spec, root) = take_spec(&mut map, &kind);
        self.push_object(api_version, kind, metadata, spec, root, source);
    }

    /// Files `e` as the rejection of the resource `id`.
    fn reject(&mut self, id: &ResourceId, e: Error, source: &str) {
        self.rejected.push(Rejected {
            resource: id.clone(),
            errors: vec![e.with_resource(id).with_source(source)],
        });
    }

    /// Reads the object's `metadata` (no metadata reads as empty metadata, so that the missing
    /// name is what is reported) and checks its name and namespace; a rejected object is filed
    /// and gives `None`.
    fn take_metadata(
        &mut self,
        map: &mut serde_json::Map<String, Value>,
        kind: &str,
        source: &str,
        provisional: &ResourceId,
    ) -> Option<Metadata> {
        let metadata_value = match map.remove("metadata") {
            None | Some(Value::Null) => Value::Object(Default::default()),
            Some(m) => m,
        };
        let generate_name = metadata_value
            .get("generateName")
            .and_then(Value::as_str)
            .map(str::to_string);
        let mut metadata: Metadata = match typed::<Metadata>(metadata_value, "metadata") {
            Ok(m) => m,
            Err(e) => {
                self.reject(&ResourceId::new(kind, "", ""), e, source);
                return None;
            }
        };
        // An empty namespace is the default one, as for kubectl.
        if metadata.namespace.as_deref() == Some("") {
            metadata.namespace = None;
        }
        // Collected anew, so that a map left empty holds no allocation.
        metadata.annotations = std::mem::take(&mut metadata.annotations)
            .into_iter()
            .filter(|(k, _)| k.starts_with(ANNOTATION_PREFIX) || k == EXPORT_TO_ANNOTATION)
            .collect();
        if let Some((path, message)) = self.check_identity(kind, &metadata, generate_name, source) {
            self.reject(
                provisional,
                Error::new(ErrorKind::Invalid, path, message),
                source,
            );
            return None;
        }
        Some(metadata)
    }

    /// Reads `spec` into the resource type of `kind` and adds the resource, or files the
    /// rejection of one that does not read.
    fn push_object(
        &mut self,
        api_version: String,
        kind: String,
        metadata: Metadata,
        spec: Value,
        root: &str,
        source: &str,
    ) {
        let id = ResourceId::new(
            &kind,
            metadata.namespace.as_deref().unwrap_or("default"),
            &metadata.name,
        );
        let istio = is_istio_api(&api_version);
        let order = self.resources.len() + self.rejected.len();
        macro_rules! object {
            ($variant:ident) => {
                match typed(spec, root) {
                    Ok(spec) => self.resources.push(Resource::$variant(Box::new(Object {
                        api_version,
                        metadata,
                        spec,
                        source: source.to_string(),
                        order,
                    }))),
                    Err(e) => self.reject(&id, e, source),
                }
            };
        }
        match kind.as_str() {
            "VirtualService" => object!(VirtualService),
            "DestinationRule" => object!(DestinationRule),
            "Gateway" if istio => object!(Gateway),
            "Gateway" => object!(KubeGateway),
            "HTTPRoute" => object!(HttpRoute),
            "GRPCRoute" => object!(GrpcRoute),
            "TLSRoute" => object!(TlsRoute),
            "TCPRoute" => object!(TcpRoute),
            "ReferenceGrant" => object!(ReferenceGrant),
            "Service" => object!(Service),
            "EndpointSlice" => object!(EndpointSlice),
            "Pod" => object!(Pod),
            "Sidecar" => object!(Sidecar),
            "ConfigMap" => object!(ConfigMap),
            "ServiceEntry" => object!(ServiceEntry),
            "WorkloadEntry" => object!(WorkloadEntry),
            _ => self.resources.push(Resource::Namespace(Box::new(Object {
                api_version,
                metadata,
                spec: (),
                source: source.to_string(),
                order,
            }))),
        }
    }

    /// The API server's rules for `metadata.name` and `metadata.namespace` (apimachinery
    /// `pkg/api/validation/objectmeta.go`, `ValidateObjectMetaAccessor`): the first broken one as
    /// `(field path, message)`. A name or namespace that is valid once lower-cased is a warning:
    /// Istio reads it as written.
    fn check_identity(
        &mut self,
        kind: &str,
        metadata: &Metadata,
        generate_name: Option<String>,
        source: &str,
    ) -> Option<(&'static str, String)> {
        if metadata.name.is_empty() {
            let message = match generate_name.filter(|g| !g.is_empty()) {
                Some(g) => format!(
                    "name is required; generateName {g:?} names the object only when the API \
                     server creates it, so nothing can refer to it"
                ),
                None => "name is required".to_string(),
            };
            return Some(("metadata.name", message));
        }
        let name_rule = match kind {
            "Service" => ObjectName::Dns1035Label,
            "Namespace" => ObjectName::Label,
            _ => ObjectName::Subdomain,
        };
        let id = ResourceId::new(
            kind,
            metadata.namespace.as_deref().unwrap_or("default"),
            &metadata.name,
        );
        let namespace = metadata
            .namespace
            .as_deref()
            .filter(|_| kind != "Namespace");
        let checks = [
            ("metadata.name", name_rule.check("name", &metadata.name)),
            (
                "metadata.namespace",
                namespace.map_or(Ok(()), |ns| ObjectName::Label.check("namespace", ns)),
            ),
        ];
        for (path, checked) in checks {
            match checked {
                Ok(()) => {}
                Err(NameProblem::Invalid(message)) => return Some((path, message)),
                Err(NameProblem::UpperCase(message)) => self.notes.push(Diagnostic {
                    severity: Severity::Warning,
                    code: "name-case",
                    resource: Some(id.clone()),
                    path: format!("{source}: {path}"),
                    message,
                }),
            }
        }
        None
    }

    /// Moves what `other` holds to the end of this configuration (taking its lists whole
    /// where this one's are empty, so that a large List is not copied), its resources' load
    /// order counted on from this configuration's.
    fn append(&mut self, mut other: Config) {
        fn join<T>(to: &mut Vec<T>, mut from: Vec<T>) {
            if to.is_empty() {
                *to = from;
            } else {
                to.append(&mut from);
            }
        }
        let base = self.resources.len() + self.rejected.len();
        if base > 0 {
            for r in &mut other.resources {
                with_object!(r, o => o.order += base);
            }
        }
        join(&mut self.resources, other.resources);
        join(&mut self.rejected, other.rejected);
        join(&mut self.notes, other.notes);
    }

    fn note(&mut self, source: &str, at: &str, message: String) {
        self.notes.push(Diagnostic {
            severity: Severity::Note,
            code: "skipped",
            resource: None,
            path: format!("{source}: {at}"),
            message,
        });
    }
}

/// A group meshroute reads, with every version it serves and every kind it defines (served by
/// any of those versions). A kind or version outside these is an error, as for kubectl.
struct KnownGroup {
    group: &'static str,
    versions: &'static [&'static str],
    kinds: &'static [&'static str],
}

/// From istio/api `networking/{v1,v1beta1,v1alpha3}/*.proto`, kubernetes-sigs/gateway-api
/// `apis/` and `config/crd/{standard,experimental}`, and Kubernetes `discovery.k8s.io`.
const KNOWN_GROUPS: &[KnownGroup] = &[
    KnownGroup {
        group: "networking.istio.io",
        versions: &["v1", "v1beta1", "v1alpha3"],
        kinds: &[
            "VirtualService",
            "DestinationRule",
            "Gateway",
            "ServiceEntry",
            "Sidecar",
            "WorkloadEntry",
            "WorkloadGroup",
            "EnvoyFilter",
            "ProxyConfig",
        ],
    },
    KnownGroup {
        group: "gateway.networking.k8s.io",
        versions: &["v1", "v1beta1", "v1alpha2", "v1alpha3"],
        kinds: &[
            "Gateway",
            "GatewayClass",
            "HTTPRoute",
            "GRPCRoute",
            "TLSRoute",
            "TCPRoute",
            "UDPRoute",
            "ReferenceGrant",
            "ReferencePolicy",
            "BackendTLSPolicy",
            "BackendLBPolicy",
            "BackendTrafficPolicy",
            "ListenerSet",
        ],
    },
    KnownGroup {
        group: "discovery.k8s.io",
        versions: &["v1", "v1beta1"],
        kinds: &["EndpointSlice"],
    },
];

/// Reads the `mesh` key of the `istio` ConfigMap (a YAML or JSON string) with the loader's
/// budgets: one document, read into [`mesh::MeshConfig`].
///
/// # Errors
/// The syntax error, a budget passed, or the first field that does not read, as
/// `(path inside the MeshConfig, message)`.
pub(crate) fn read_mesh_config(text: &str) -> Result<mesh::MeshConfig, (String, String)> {
    let mut first = None;
    load::documents(text, "", &LoadOptions::default(), |_, doc, _| {
        if first.is_none() && !doc.is_null() {
            first = Some(doc);
        }
    })
    .map_err(|e| (e.path().to_string(), e.message().to_string()))?;
    match first {
        None => Ok(mesh::MeshConfig::default()),
        Some(v) => typed(v, "").map_err(|e| (e.path().to_string(), e.message().to_string())),
    }
}

/// Deserializes `value` into `T`, naming the field path (prefixed with `root`) on error.
fn typed<T: DeserializeOwned>(value: Value, root: &str) -> Result<T, Error> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let inner = e.path().to_string();
        let path = if inner == "." || inner.is_empty() {
            root.to_string()
        } else if root.is_empty() {
            inner
        } else {
            format!("{root}.{inner}")
        };
        let path = path.replace(".[", "[");
        let message = e.into_inner().to_string();
        let message = match unknown_field_hint(&message) {
            Some(hint) => format!("{message}; did you mean `{hint}`?"),
            None => message,
        };
        Error::new(ErrorKind::Schema, path, message)
    })
}

/// For serde's "unknown field `destnation`, expected one of `destination`, `weight`, ..." (or
/// "expected `a` or `b`"): the expected field nearest to the one written, when one is near.
fn unknown_field_hint(message: &str) -> Option<&str> {
    let rest = message.strip_prefix("unknown field `")?;
    let (field, expected) = rest.split_once('`')?;
    let candidates: Vec<&str> = expected
        .split('`')
        .skip(1)
        .step_by(2)
        .filter(|c| !c.is_empty())
        .collect();
    names::did_you_mean(field, &candidates)
}

/// `kind: List` (kubectl), and `<Kind>List` as the API server answers a list request
/// (`v1 ServiceList`, `networking.istio.io/v1 VirtualServiceList`).
fn is_list(api_version: &str, kind: &str) -> bool {
    let typed_list = kind.strip_suffix("List").is_some_and(|item| {
        api_version == "v1"
            || KNOWN_GROUPS.iter().any(|g| {
                api_version.rsplit_once('/').map(|(group, _)| group) == Some(g.group)
                    && g.kinds.contains(&item)
            })
    });
    kind == "List" || typed_list
}

/// The id a rejection of the object is filed under before its metadata is read.
fn provisional_id(map: &serde_json::Map<String, Value>, kind: &str) -> ResourceId {
    let raw_metadata = map.get("metadata").and_then(Value::as_object);
    let raw = |field: &str| {
        raw_metadata
            .and_then(|m| m.get(field))
            .and_then(Value::as_str)
            .unwrap_or("")
    };
    ResourceId::new(
        if kind.is_empty() { "(no kind)" } else { kind },
        Some(raw("namespace"))
            .filter(|ns| !ns.is_empty())
            .unwrap_or("default"),
        raw("name"),
    )
}

/// The `apiVersion` and `kind` of an object the API server would refuse, as `(field path,
/// message)`.
fn type_problem(
    map: &serde_json::Map<String, Value>,
    api_version: &str,
    kind: &str,
) -> Option<(&'static str, String)> {
    // The API server refuses an object without apiVersion or kind ("apiVersion not set",
    // "kind not set"), whatever else it holds.
    for (field, value) in [("apiVersion", api_version), ("kind", kind)] {
        if value.is_empty() {
            let message = match map.get(field) {
                None | Some(Value::Null) => format!("{field} is required"),
                Some(Value::String(_)) => format!("{field} is empty"),
                Some(other) => format!("{field} must be a string, not {other}"),
            };
            return Some((field, message));
        }
    }
    let (group, version) = group_version(api_version);
    // Inside a group meshroute reads, a version or kind that does not exist is an error, as
    // kubectl's "no matches for kind" is; real kinds meshroute does not route with are
    // skipped.
    let known = KNOWN_GROUPS.iter().find(|g| g.group == group)?;
    if !known.versions.contains(&version) {
        let versions = known.versions.join(", ");
        return Some((
            "apiVersion",
            format!(
                "no matches for kind {kind:?} in version {api_version:?}; {group} serves \
                 versions {versions}"
            ),
        ));
    }
    if !known.kinds.contains(&kind) {
        let hint = match did_you_mean(kind, known.kinds) {
            Some(k) => format!("; did you mean {k}?"),
            None => format!("; the kinds of {group} are {}", known.kinds.join(", ")),
        };
        return Some((
            "kind",
            format!("no matches for kind {kind:?} in version {api_version:?}{hint}"),
        ));
    }
    None
}

/// `apiVersion` as (group, version); the core group is `""`.
fn group_version(api_version: &str) -> (&str, &str) {
    api_version.rsplit_once('/').unwrap_or(("", api_version))
}

/// Whether `api_version` is one of Istio's networking versions.
fn is_istio_api(api_version: &str) -> bool {
    let (group, version) = group_version(api_version);
    group == "networking.istio.io" && matches!(version, "v1" | "v1beta1" | "v1alpha3")
}

/// Whether meshroute routes with objects of `kind` in `api_version`.
fn is_routed_kind(api_version: &str, kind: &str) -> bool {
    let (group, version) = group_version(api_version);
    let istio = is_istio_api(api_version);
    let gateway_api = group == "gateway.networking.k8s.io" && matches!(version, "v1" | "v1beta1");
    let core = api_version == "v1";
    match kind {
        "VirtualService" | "DestinationRule" | "Sidecar" | "ServiceEntry" | "WorkloadEntry" => {
            istio
        }
        "Gateway" => istio || gateway_api,
        "HTTPRoute" | "GRPCRoute" | "ReferenceGrant" => gateway_api,
        // TLSRoute: v1alpha2, v1alpha3 and v1; TCPRoute: v1alpha2 and v1 (where CRDs serve it).
        "TLSRoute" | "TCPRoute" => {
            group == "gateway.networking.k8s.io"
                && matches!(version, "v1alpha2" | "v1alpha3" | "v1")
        }
        "Service" | "Namespace" | "Pod" | "ConfigMap" => core,
        "EndpointSlice" => api_version == "discovery.k8s.io/v1",
        _ => false,
    }
}

/// The object's spec and the path its fields are reported under. An EndpointSlice keeps its
/// fields at the top level; a Pod is read from its `spec` and `status`. Both are read whole,
/// with the field paths as written.
fn take_spec(map: &mut serde_json::Map<String, Value>, kind: &str) -> (Value, &'static str) {
    if kind == "ConfigMap" {
        return (
            map.remove("data")
                .unwrap_or(Value::Object(Default::default())),
            "data",
        );
    }
    if matches!(kind, "EndpointSlice" | "Pod") {
        map.remove("apiVersion");
        map.remove("kind");
        (Value::Object(std::mem::take(map)), "")
    } else {
        (
            map.remove("spec")
                .unwrap_or(Value::Object(Default::default())),
            "spec",
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skips_other_kinds_with_a_note_and_reads_lists() {
        let yaml = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: s}\n---\n---\napiVersion: v1\nkind: List\nitems:\n- apiVersion: networking.istio.io/v1alpha3\n  kind: DestinationRule\n  metadata: {name: d, namespace: x}\n  spec: {host: d}\n";
        let c = Config::from_str(yaml, "t.yaml").unwrap();
        assert_eq!(c.resources.len(), 1);
        assert_eq!(c.notes.len(), 1);
        assert!(
            c.notes[0].message.contains("apps/v1 Deployment"),
            "{}",
            c.notes[0]
        );
    }

    /// A VirtualService `name` in namespace `x`, as an item of a YAML List.
    fn list_item(name: &str) -> String {
        format!(
            "- apiVersion: networking.istio.io/v1\n  kind: VirtualService\n  \
             metadata: {{name: {name}, namespace: x}}\n  spec: {{hosts: [{name}]}}\n"
        )
    }

    /// A List's items are read as they are parsed (the List is never held whole); what they
    /// give is the List's only when the document turns out to be a List, in order, with each
    /// item named by its place.
    #[test]
    fn list_items_are_read_in_order_and_only_for_a_list() {
        let bad = "- apiVersion: networking.istio.io/v1\n  kind: VirtualService\n  \
                   metadata: {name: bad, namespace: x}\n  spec: {hosts: 7}\n";
        let nested = "- {apiVersion: v1, kind: List, items: []}\n";
        // `items` comes before `kind`, as kubectl writes it; the second document is not a List.
        let yaml = format!(
            "apiVersion: v1\nitems:\n{}{bad}{nested}{}kind: List\n---\n\
             apiVersion: networking.istio.io/v1\nkind: VirtualService\n\
             metadata: {{name: c, namespace: x}}\nspec: {{hosts: [c]}}\nitems:\n{}",
            list_item("a"),
            list_item("b"),
            list_item("ghost"),
        );
        let c = Config::from_str(&yaml, "t.yaml").unwrap();
        let names: Vec<String> = c
            .resources
            .iter()
            .map(|r| r.metadata().name.clone())
            .collect();
        assert_eq!(names, ["a", "b", "c"]);
        assert_eq!(c.rejected.len(), 1);
        assert_eq!(c.rejected[0].errors[0].path(), "spec.hosts");
        assert_eq!(c.notes.len(), 1);
        assert_eq!(c.notes[0].path, "t.yaml: document 0 items[2]");
        assert!(c.notes[0].message.contains("nested"), "{}", c.notes[0]);
        // The same as JSON, and an error later in the text keeps nothing of it.
        let json = serde_json::to_string(&serde_saphyr::from_multiple::<Value>(&yaml).unwrap()[0])
            .unwrap();
        let j = Config::from_str(&json, "t.json").unwrap();
        assert_eq!(j.resources.len(), 2);
        assert_eq!(j.notes[0].path, "t.json: document 0 items[2]");
        let mut kept = Config::new();
        assert!(
            kept.add_str(&format!("{yaml}---\n[: bad"), "t.yaml")
                .is_err()
        );
        assert!(kept.resources.is_empty() && kept.rejected.is_empty() && kept.notes.is_empty());
    }

    /// A List's items count their load order on from what was loaded before them (the
    /// tie-breaker between copies of one resource: the copy loaded first wins).
    #[test]
    fn list_items_keep_their_load_order_across_inputs() {
        let list = |items: &[&str]| {
            let items: String = items.iter().map(|n| list_item(n)).collect();
            format!("apiVersion: v1\nkind: List\nitems:\n{items}")
        };
        let mut c = Config::new();
        c.add_str(&list(&["x", "vs"]), "a.yaml").unwrap();
        c.add_str(&list(&["vs"]), "b.yaml").unwrap();
        let orders: Vec<usize> = c.resources.iter().map(|r| r.order()).collect();
        assert_eq!(orders, [0, 1, 2]);
    }

    #[test]
    fn json_and_duplicate_keys() {
        let json = r#"{"apiVersion":"networking.istio.io/v1","kind":"VirtualService","metadata":{"name":"a"},"spec":{"hosts":["a"],"hosts":["b"]}}"#;
        let e = Config::from_str(json, "t.json").unwrap_err();
        assert!(e.to_string().contains("duplicate key \"hosts\""), "{e}");
        let yaml = "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: a}\nspec:\n  http:\n  - match:\n    - headers: {x-user: {exact: alice}, x-user: {exact: admin}}\n";
        assert!(Config::from_str(yaml, "t.yaml").is_err());
    }

    #[test]
    fn schema_errors_name_the_field_and_keep_other_resources() {
        let yaml = "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: bad, namespace: ns}\nspec:\n  hosts: [a]\n  http:\n  - route:\n    - destination: {host: a}\n      weight: \"ten\"\n---\napiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: good}\nspec: {hosts: [b]}\n";
        let c = Config::from_str(yaml, "t.yaml").unwrap();
        assert_eq!(c.resources.len(), 1);
        assert_eq!(c.rejected.len(), 1);
        let e = &c.rejected[0].errors[0];
        assert_eq!(e.path(), "spec.http[0].route[0].weight");
        assert!(
            e.to_string().starts_with(
                "t.yaml: VirtualService ns/bad: spec.http[0].route[0].weight: invalid type"
            ),
            "{e}"
        );
    }

    #[test]
    fn only_meshroute_annotations_are_kept_and_all_are_checked() {
        assert!(crate::compile::STICKY_SPLIT_ANNOTATION.starts_with(ANNOTATION_PREFIX));
        let yaml = "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata:\n  name: a\n  annotations: {owner: team-1, meshroute.io/sticky-split: source-ip}\nspec: {hosts: [a]}\n---\napiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata:\n  name: b\n  annotations: {owner: 1}\nspec: {hosts: [b]}\n";
        let c = Config::from_str(yaml, "t").unwrap();
        let kept: Vec<_> = c.resources[0].metadata().annotations.keys().collect();
        assert_eq!(kept, ["meshroute.io/sticky-split"]);
        assert_eq!(c.rejected[0].errors[0].path(), "metadata.annotations.owner");
    }

    #[test]
    fn non_finite_numbers_and_yaml_11_booleans_are_not_values() {
        let yaml = "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: a}\nspec:\n  http:\n  - route:\n    - destination: {host: a}\n      weight: .inf\n";
        assert!(Config::from_str(yaml, "t").is_err());
        let yaml = "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: a}\nspec:\n  http:\n  - match: [{ignoreUriCase: yes}]\n";
        let c = Config::from_str(yaml, "t").unwrap();
        assert_eq!(
            c.rejected[0].errors[0].path(),
            "spec.http[0].match[0].ignoreUriCase"
        );
    }
}
