//! Reading text into document values within budgets: [`LoadOptions`], the YAML and JSON
//! readers, and the meter that bounds each resource and the input as a whole.
//!
//! YAML streams are read by serde-saphyr's streaming reader, whose budget is enforced per
//! document (its `EnforcingPolicy::PerDocument`): depth, aliases and anchors are bounded for
//! each document, so a dump of 100,000 documents is not refused for its length. What the parser
//! cannot bound per resource, because one `kind: List` document holds every resource of a
//! `kubectl get -o yaml` dump, is metered here while the values are built: nodes and scalar
//! bytes per resource (a document, or one element of its top-level `items`), and nodes, scalar
//! bytes and documents for the whole input. Each document is handed on as soon as it is read.
//!
//! A large YAML input is first offered to `pieces`, which reads its documents, and the items
//! of a List, on several threads when that is sure to give the serial reader's result; what
//! it declines is read here.

use std::cell::RefCell;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

use super::Config;
use super::limits;
use crate::error::{Error, ErrorKind};

mod pieces;

pub(crate) use pieces::{Tuning, read as read_in_pieces};

/// Budgets for one input as a whole (one [`Config::add_str_with`](crate::Config::add_str_with)
/// or [`Config::add_file_with`](crate::Config::add_file_with) call); the defaults admit a dump
/// of 100,000 resources.
///
/// The budgets of each resource and each YAML document (depth, nodes, aliases, anchors, scalar
/// bytes; see [`limits`](crate::limits)) are fixed: they bound what one object can cost
/// however large the input may be. The totals here bound the input; raise them to load larger
/// dumps, lower them to refuse large inputs early.
///
/// # Example
/// ```
/// use meshroute::{Config, LoadOptions};
///
/// let options = LoadOptions::new().max_input_bytes(1 << 30).max_total_nodes(100_000_000);
/// let mut config = Config::new();
/// let yaml = "apiVersion: networking.istio.io/v1\nkind: VirtualService\n\
///             metadata: {name: r, namespace: default}\nspec: {hosts: [r]}\n";
/// config.add_str_with(yaml, "inline", &options)?;
/// assert_eq!(config.resources.len(), 1);
/// # Ok::<(), meshroute::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LoadOptions {
    max_input_bytes: usize,
    max_total_nodes: usize,
    max_documents: usize,
}

impl Default for LoadOptions {
    fn default() -> LoadOptions {
        LoadOptions {
            max_input_bytes: limits::MAX_INPUT_BYTES,
            max_total_nodes: limits::MAX_TOTAL_NODES,
            max_documents: limits::MAX_DOCUMENTS,
        }
    }
}

impl LoadOptions {
    /// The defaults: [`limits::MAX_INPUT_BYTES`](crate::limits::MAX_INPUT_BYTES),
    /// [`limits::MAX_TOTAL_NODES`](crate::limits::MAX_TOTAL_NODES) and
    /// [`limits::MAX_DOCUMENTS`](crate::limits::MAX_DOCUMENTS).
    pub fn new() -> LoadOptions {
        LoadOptions::default()
    }

    /// Largest input, in bytes: text longer than this, or a file whose size is, is refused
    /// before it is parsed (a file before it is read). It also bounds the input's scalar
    /// bytes with aliases expanded.
    pub fn max_input_bytes(mut self, bytes: usize) -> LoadOptions {
        self.max_input_bytes = bytes;
        self
    }

    /// Most YAML or JSON nodes (mapping keys, values and list elements, with aliases expanded)
    /// in the whole input.
    pub fn max_total_nodes(mut self, nodes: usize) -> LoadOptions {
        self.max_total_nodes = nodes;
        self
    }

    /// Most documents in the input (YAML documents, JSON values; empty documents are not
    /// counted).
    pub fn max_documents(mut self, documents: usize) -> LoadOptions {
        self.max_documents = documents;
        self
    }

    /// The input size limit in bytes.
    pub fn get_max_input_bytes(&self) -> usize {
        self.max_input_bytes
    }

    /// The limit of nodes in the whole input.
    pub fn get_max_total_nodes(&self) -> usize {
        self.max_total_nodes
    }

    /// The limit of documents in the input.
    pub fn get_max_documents(&self) -> usize {
        self.max_documents
    }

    /// The error for an input of `len` bytes, when that is over the limit.
    pub(crate) fn check_size(&self, len: u64, what: &str) -> Result<(), Error> {
        if len <= self.max_input_bytes as u64 {
            return Ok(());
        }
        Err(Error::new(
            ErrorKind::Limit,
            "",
            format!(
                "{what} of {len} bytes exceeds the limit of {} bytes (LoadOptions::max_input_bytes)",
                self.max_input_bytes
            ),
        ))
    }
}

/// Reads `text` (JSON when it starts with `{` or `[`, else YAML) and hands each document to
/// `each` with its index, as soon as it is read. The size limit is the caller's to check.
///
/// The elements of a document's top-level `items` list (a `kind: List`, as `kubectl get -o
/// yaml` prints a cluster's resources) are not kept in the document's value: each is read into
/// a [`Config`] of its own as soon as it is parsed, so that a dump never holds all its values
/// at once, and that `Config` comes with the document (the document's `items` is then empty).
/// Whether the document is a List, and the staged resources are its, is the caller's call.
pub(crate) fn documents(
    text: &str,
    source: &str,
    options: &LoadOptions,
    mut each: impl FnMut(usize, Value, Config),
) -> Result<(), Error> {
    let _metering = Metering::start(options);
    let _staging = Staging::start(source);
    let mut n = 0;
    let mut next = |v: Value| {
        each(n, v, Staging::take(n + 1));
        n += 1;
    };
    let trimmed = text.trim_start_matches('\u{feff}').trim_start();
    if trimmed.starts_with('{') || trimmed.starts_with('[') {
        let stream = serde_json::Deserializer::from_str(trimmed).into_iter::<Strict>();
        for v in stream {
            let v = v.map_err(|e| {
                Error::new(
                    ErrorKind::Syntax,
                    format!("line {} column {}", e.line(), e.column()),
                    meter_breach().unwrap_or_else(|| e.to_string()),
                )
            })?;
            // A top-level JSON array is a list of documents.
            match v.0 {
                Value::Array(items) => items.into_iter().for_each(&mut next),
                other => next(other),
            }
        }
        return Ok(());
    }
    let mut reader = text.as_bytes();
    for doc in serde_saphyr::read_with_options::<_, Strict>(&mut reader, yaml_options(options)) {
        next(doc.map_err(yaml_error)?.0);
    }
    Ok(())
}

/// Strict parser options, and a budget enforced per document. The per-resource bounds on
/// nodes and scalar bytes are the meter's (a `kind: List` document holds many resources); the
/// parser's own node, event and scalar counters get the input's totals as a backstop.
fn yaml_options(options: &LoadOptions) -> serde_saphyr::Options {
    let mut budget = serde_saphyr::Budget::default();
    budget.max_reader_input_bytes = Some(options.max_input_bytes);
    budget.max_depth = limits::MAX_DEPTH;
    budget.max_aliases = limits::MAX_ALIASES;
    budget.max_anchors = limits::MAX_ANCHORS;
    budget.max_nodes = options.max_total_nodes;
    // Every event but a document's start and end opens or closes a node, or is an alias.
    budget.max_events = options
        .max_total_nodes
        .saturating_mul(2)
        .saturating_add(limits::MAX_ALIASES + 4);
    budget.max_total_scalar_bytes = options.max_input_bytes;
    let mut yaml = serde_saphyr::Options::default();
    yaml.budget = Some(budget);
    yaml.alias_limits.max_total_replayed_events = limits::MAX_ALIAS_REPLAY;
    yaml.duplicate_keys = serde_saphyr::DuplicateKeyPolicy::Error;
    yaml.strict_booleans = true;
    yaml.reject_unsupported_tags = true;
    yaml.merge_keys = serde_saphyr::MergeKeyPolicy::Error;
    yaml
}

/// The parser's error without its own position prefix and source snippet (the position goes in
/// the path, as for JSON), or the meter's when one of its budgets stopped the parse.
fn yaml_error(e: serde_saphyr::Error) -> Error {
    let position = e
        .location()
        .filter(|l| l.line() > 0)
        .map(|l| (format!("line {} column {}", l.line(), l.column()), l));
    let path = position.as_ref().map(|p| p.0.clone()).unwrap_or_default();
    if let Some(why) = meter_breach() {
        return Error::new(
            ErrorKind::Syntax,
            path,
            format!("not valid YAML within limits: {why}"),
        );
    }
    let text = e.to_string();
    let first = text.lines().next().unwrap_or_default();
    let first = first.strip_prefix("error: ").unwrap_or(first);
    let why = match &position {
        Some((_, l)) => {
            let prefix = format!("line {} column {}: ", l.line(), l.column());
            first.strip_prefix(&prefix).unwrap_or(first)
        }
        None => first,
    };
    // The streaming reader also ends some messages with the position.
    let why = match &position {
        Some((_, l)) => why
            .strip_suffix(&format!(" at line {}, column {}", l.line(), l.column()))
            .unwrap_or(why),
        None => why,
    };
    Error::new(
        ErrorKind::Syntax,
        path,
        format!("not valid YAML within limits: {}", budget_words(why)),
    )
}

/// The parser's budget message in words: `budget breached: Depth { depth: 33 }` becomes
/// `the depth budget is exceeded (33; see meshroute::limits)`; other messages are kept.
fn budget_words(why: &str) -> String {
    let Some(rest) = why.strip_prefix("budget breached: ") else {
        return why.to_string();
    };
    let inner = rest
        .split_once('{')
        .and_then(|(_, r)| r.rsplit_once('}'))
        .map(|(fields, _)| fields.trim());
    match inner.and_then(|f| f.split_once(':')) {
        Some((field, value)) => format!(
            "the {} budget is exceeded ({}; see meshroute::limits)",
            field.trim().replace('_', " "),
            value.trim()
        ),
        None => format!("a parser budget is exceeded ({rest}; see meshroute::limits)"),
    }
}

// ---------------------------------------------------------------------------------------------
// The meter
// ---------------------------------------------------------------------------------------------

thread_local! {
    /// The meter of the read under way on this thread: the readers call `Strict`'s
    /// `Deserialize` impl, which has no other way to reach it.
    static METER: RefCell<Option<Meter>> = const { RefCell::new(None) };
}

/// Counts of the read under way, and the first budget it broke.
#[derive(Clone, Copy, Debug)]
struct Meter {
    options: LoadOptions,
    /// Documents started (the current one is `documents - 1`).
    documents: usize,
    /// The `items` (or top-level list) element being metered on its own, if any.
    item: Option<(Container, usize)>,
    /// Nodes and scalar bytes of the current resource.
    nodes: usize,
    bytes: usize,
    /// The document's own counts while one of its items is metered.
    saved: (usize, usize),
    total_nodes: usize,
    total_bytes: usize,
    breach: Option<Breach>,
}

#[derive(Clone, Copy, Debug)]
enum Container {
    Items,
    TopList,
}

/// A budget the meter saw exceeded, with the count that exceeded it.
#[derive(Clone, Copy, Debug)]
enum Breach {
    Nodes(usize),
    Bytes(usize),
    TotalNodes(usize),
    TotalBytes(usize),
    Documents(usize),
}

impl Breach {
    fn message(self, m: &Meter) -> String {
        let resource = || {
            let doc = m.documents.saturating_sub(1);
            match m.item {
                Some((Container::Items, i)) => format!("document {doc} items[{i}]"),
                Some((Container::TopList, i)) => format!("document {doc} [{i}]"),
                None => format!("document {doc}"),
            }
        };
        let o = &m.options;
        match self {
            Breach::Nodes(n) => format!(
                "{}: {n} nodes exceed the limit of {} nodes per resource (limits::MAX_NODES)",
                resource(),
                limits::MAX_NODES
            ),
            Breach::Bytes(n) => format!(
                "{}: {n} bytes of scalars exceed the limit of {} bytes per resource \
                 (limits::MAX_SCALAR_BYTES)",
                resource(),
                limits::MAX_SCALAR_BYTES
            ),
            Breach::TotalNodes(n) => format!(
                "{}: {n} nodes in the input exceed the limit of {} (LoadOptions::max_total_nodes)",
                resource(),
                o.max_total_nodes
            ),
            Breach::TotalBytes(n) => format!(
                "{}: {n} bytes of scalars with aliases expanded exceed the input limit of {} \
                 bytes (LoadOptions::max_input_bytes)",
                resource(),
                o.max_input_bytes
            ),
            Breach::Documents(n) => format!(
                "{n} documents exceed the limit of {} (LoadOptions::max_documents)",
                o.max_documents
            ),
        }
    }
}

/// The message of the budget the meter saw exceeded in the read under way, if any.
fn meter_breach() -> Option<String> {
    METER.with(|cell| {
        let guard = cell.borrow();
        let m = guard.as_ref()?;
        Some(m.breach?.message(m))
    })
}

/// Installs a fresh meter for one read and removes it when dropped.
struct Metering;

impl Metering {
    fn start(options: &LoadOptions) -> Metering {
        METER.with(|m| {
            m.replace(Some(Meter {
                options: *options,
                documents: 0,
                item: None,
                nodes: 0,
                bytes: 0,
                saved: (0, 0),
                total_nodes: 0,
                total_bytes: 0,
                breach: None,
            }))
        });
        Metering
    }
}

impl Drop for Metering {
    fn drop(&mut self) {
        METER.with(|m| m.replace(None));
    }
}

/// Applies `f` to the meter, if a read is under way; an error when a budget is exceeded.
fn with_meter<E: de::Error>(f: impl FnOnce(&mut Meter) -> Option<Breach>) -> Result<(), E> {
    METER.with(|cell| {
        let mut guard = cell.borrow_mut();
        let Some(m) = guard.as_mut() else {
            return Ok(());
        };
        match f(m) {
            None => Ok(()),
            Some(b) => {
                m.breach.get_or_insert(b);
                Err(E::custom(b.message(m)))
            }
        }
    })
}

/// Charges one node carrying `bytes` of scalar text.
fn charge<E: de::Error>(bytes: usize) -> Result<(), E> {
    with_meter(|m| {
        m.nodes += 1;
        m.bytes = m.bytes.saturating_add(bytes);
        m.total_nodes += 1;
        m.total_bytes = m.total_bytes.saturating_add(bytes);
        if m.nodes > limits::MAX_NODES {
            Some(Breach::Nodes(m.nodes))
        } else if m.bytes > limits::MAX_SCALAR_BYTES {
            Some(Breach::Bytes(m.bytes))
        } else if m.total_nodes > m.options.max_total_nodes {
            Some(Breach::TotalNodes(m.total_nodes))
        } else if m.total_bytes > m.options.max_input_bytes {
            Some(Breach::TotalBytes(m.total_bytes))
        } else {
            None
        }
    })
}

fn begin_document<E: de::Error>() -> Result<(), E> {
    with_meter(|m| {
        m.documents += 1;
        m.item = None;
        (m.nodes, m.bytes) = (0, 0);
        (m.documents > m.options.max_documents).then_some(Breach::Documents(m.documents))
    })
}

fn begin_item(container: Container, i: usize) {
    let _ = with_meter::<de::value::Error>(|m| {
        if m.item.is_none() {
            m.saved = (m.nodes, m.bytes);
        }
        m.item = Some((container, i));
        (m.nodes, m.bytes) = (0, 0);
        None
    });
}

fn end_items() {
    let _ = with_meter::<de::value::Error>(|m| {
        if m.item.take().is_some() {
            (m.nodes, m.bytes) = m.saved;
        }
        None
    });
}

// ---------------------------------------------------------------------------------------------
// Staging a List's items
// ---------------------------------------------------------------------------------------------

thread_local! {
    /// Where the read under way on this thread stages the resources of each document's
    /// `items` as they are parsed (reached from `Strict`'s visitor, as the meter is).
    static STAGING: RefCell<Option<Stage>> = const { RefCell::new(None) };
}

struct Stage {
    source: String,
    /// The index of the document being read.
    document: usize,
    /// The index of the first item of the `items` list being read (a run of a List's items
    /// read on its own starts past 0).
    first_item: usize,
    items: Config,
}

/// Installs the staging of one read and removes it when dropped.
struct Staging;

impl Staging {
    fn start(source: &str) -> Staging {
        STAGING.with(|s| {
            s.replace(Some(Stage {
                source: source.to_string(),
                document: 0,
                first_item: 0,
                items: Config::new(),
            }))
        });
        Staging
    }

    /// The resources staged for the document just read; the next is document `next`.
    fn take(next: usize) -> Config {
        STAGING.with(|s| {
            let mut guard = s.borrow_mut();
            match guard.as_mut() {
                Some(stage) => {
                    stage.document = next;
                    std::mem::take(&mut stage.items)
                }
                None => Config::new(),
            }
        })
    }
}

impl Staging {
    /// Numbers the next `items` list read from `first`.
    fn first_item(first: usize) {
        STAGING.with(|s| {
            if let Some(stage) = s.borrow_mut().as_mut() {
                stage.first_item = first;
            }
        })
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        STAGING.with(|s| s.replace(None));
    }
}

/// Reads element `i` of the current document's `items` into the stage; gives it back when no
/// read is staging.
fn stage_item(i: usize, item: Value) -> Option<Value> {
    STAGING.with(|s| {
        let mut guard = s.borrow_mut();
        let Some(stage) = guard.as_mut() else {
            return Some(item);
        };
        let at = format!("document {} items[{i}]", stage.document);
        stage.items.add_value(item, &stage.source, &at, 1);
        None
    })
}

// ---------------------------------------------------------------------------------------------
// Values
// ---------------------------------------------------------------------------------------------

/// A document value that rejects what JSON values cannot carry faithfully: non-finite numbers
/// and duplicate keys (a JSON object with a repeated key is ambiguous). Read as a document's
/// root: it starts a document on the meter.
struct Strict(Value);

impl<'de> Deserialize<'de> for Strict {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Strict, D::Error> {
        begin_document()?;
        d.deserialize_any(StrictVisitor(Level::Root)).map(Strict)
    }
}

/// Where a value sits: a document's root, the value of the root's `items` key, or deeper. The
/// elements of a list at the first two are metered as resources of their own.
#[derive(Clone, Copy, PartialEq)]
enum Level {
    Root,
    Items,
    Inner,
}

impl<'de> DeserializeSeed<'de> for Level {
    type Value = Value;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(StrictVisitor(self))
    }
}

struct StrictVisitor(Level);

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a YAML or JSON value")
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        charge(0)?;
        Ok(Value::Bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        charge(0)?;
        Ok(Value::from(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        charge(0)?;
        Ok(Value::from(v))
    }
    fn visit_i128<E: de::Error>(self, v: i128) -> Result<Value, E> {
        charge(0)?;
        i64::try_from(v)
            .map(Value::from)
            .map_err(|_| E::custom(format!("integer {v} is out of range")))
    }
    fn visit_u128<E: de::Error>(self, v: u128) -> Result<Value, E> {
        charge(0)?;
        u64::try_from(v)
            .map(Value::from)
            .map_err(|_| E::custom(format!("integer {v} is out of range")))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        charge(0)?;
        serde_json::Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| E::custom(format!("number {v} is not finite")))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        charge(v.len())?;
        Ok(Value::String(v.to_string()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
        charge(v.len())?;
        Ok(Value::String(v))
    }
    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Value, E> {
        charge(v.len())?;
        String::from_utf8(v.to_vec())
            .map(Value::String)
            .map_err(|_| E::custom("binary value is not UTF-8"))
    }
    fn visit_none<E: de::Error>(self) -> Result<Value, E> {
        charge(0)?;
        Ok(Value::Null)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        charge(0)?;
        Ok(Value::Null)
    }
    fn visit_some<D: de::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        self.0.deserialize(d)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        charge(0)?;
        let container = match self.0 {
            Level::Root => Some(Container::TopList),
            Level::Items => Some(Container::Items),
            Level::Inner => None,
        };
        let mut out = Vec::new();
        // A piece of a List's items read on its own numbers its items from its first.
        let first = match container {
            Some(Container::Items) => {
                STAGING.with(|s| s.borrow().as_ref().map_or(0, |s| s.first_item))
            }
            _ => 0,
        };
        for i in first.. {
            if let Some(c) = container {
                begin_item(c, i);
            }
            let Some(v) = seq.next_element_seed(Level::Inner)? else {
                break;
            };
            let kept = match container {
                Some(Container::Items) => stage_item(i, v),
                _ => Some(v),
            };
            out.extend(kept);
        }
        if container.is_some() {
            end_items();
        }
        Ok(Value::Array(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        charge(0)?;
        let mut out = serde_json::Map::new();
        while let Some(key) = map.next_key::<KeyString>()? {
            let level = if self.0 == Level::Root && key.0 == "items" {
                Level::Items
            } else {
                Level::Inner
            };
            let v = map.next_value_seed(level)?;
            if out.contains_key(&key.0) {
                return Err(de::Error::custom(format!("duplicate key {:?}", key.0)));
            }
            out.insert(key.0, v);
        }
        Ok(Value::Object(out))
    }
}

/// A mapping key: strings, and scalars (numbers, booleans) as their text.
struct KeyString(String);

impl<'de> Deserialize<'de> for KeyString {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<KeyString, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = String;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a mapping key")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<String, E> {
                charge(v.len())?;
                Ok(v.to_string())
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<String, E> {
                charge(v.len())?;
                Ok(v)
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<String, E> {
                charge(0)?;
                Ok(v.to_string())
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<String, E> {
                charge(0)?;
                Ok(v.to_string())
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<String, E> {
                charge(0)?;
                Ok(v.to_string())
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<String, E> {
                charge(0)?;
                Ok(v.to_string())
            }
        }
        d.deserialize_any(V).map(KeyString)
    }
}
