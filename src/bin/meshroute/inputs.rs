//! What every subcommand reads: files, directories (recursively, `*.yaml`, `*.yml`, `*.json`)
//! and `-` for standard input, loaded into one [`Config`], with a [`Locator`] that finds the
//! line and column of a resource's field in the text it came from.

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use meshroute::{Config, Error, ResourceId};
use serde::Deserialize;
use serde::de::{self, MapAccess, SeqAccess, Visitor};
use serde_saphyr::{Location, Spanned};

/// One input as read: its name (the path as given, or `<stdin>`) and its text.
pub struct Source {
    pub name: String,
    pub text: String,
}

/// Why inputs could not be read: a path that does not exist or cannot be read. The commands
/// exit 2 on it, as on any other usage error.
pub struct Unreadable(pub String);

/// Every file the arguments name, in order: a directory is walked recursively in name order and
/// contributes its `*.yaml`, `*.yml` and `*.json` files; `-` is standard input (read once).
///
/// A file named twice (`dir/` and `dir/a.yaml`) is read once.
pub fn read(paths: &[PathBuf]) -> Result<Vec<Source>, Unreadable> {
    let mut out = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut once = |p: &Path| seen.insert(std::fs::canonicalize(p).unwrap_or_else(|_| p.into()));
    for p in paths {
        if p.as_os_str() == "-" {
            // Standard input can be read once: `-` given to two arguments (a PATH and
            // --endpoints) would leave one of them silently empty.
            if STDIN_TAKEN.swap(true, std::sync::atomic::Ordering::SeqCst) {
                return Err(Unreadable(
                    "standard input (-) can be read once; give - to one argument only".into(),
                ));
            }
            out.push(bounded("<stdin>", std::io::stdin())?);
        } else if p.is_dir() {
            let mut files = Vec::new();
            walk(p, &mut files)?;
            if files.is_empty() {
                return Err(Unreadable(format!(
                    "{}: no *.yaml, *.yml or *.json file in this directory",
                    p.display()
                )));
            }
            for f in files.iter().filter(|f| once(f)) {
                out.push(read_file(f)?);
            }
        } else if once(p) {
            out.push(read_file(p)?);
        }
    }
    Ok(out)
}

/// Whether `-` was read already.
static STDIN_TAKEN: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Marks standard input as taken by something else (decide's request stream).
pub fn take_stdin() {
    STDIN_TAKEN.store(true, std::sync::atomic::Ordering::SeqCst);
}

fn read_file(p: &Path) -> Result<Source, Unreadable> {
    let name = p.display().to_string();
    let file =
        std::fs::File::open(p).map_err(|e| Unreadable(format!("{name}: cannot read: {e}")))?;
    bounded(&name, file)
}

/// Reads at most one byte more than the loader's input limit (which then refuses it with its
/// own message), so `/dev/zero` or a huge file cannot exhaust memory.
fn bounded(name: &str, r: impl Read) -> Result<Source, Unreadable> {
    let mut bytes = Vec::new();
    r.take(meshroute::limits::MAX_INPUT_BYTES as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Unreadable(format!("{name}: cannot read: {e}")))?;
    let text =
        String::from_utf8(bytes).map_err(|_| Unreadable(format!("{name}: not UTF-8 text")))?;
    Ok(Source {
        name: name.to_string(),
        text,
    })
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), Unreadable> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| Unreadable(format!("{}: cannot read: {e}", dir.display())))?;
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    for p in paths {
        // Hidden directories (.git, .github) hold no manifests of the tree.
        let hidden = p
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with('.'));
        if p.is_dir() {
            if !hidden {
                walk(&p, out)?;
            }
        } else if p
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| matches!(e, "yaml" | "yml" | "json"))
        {
            out.push(p);
        }
    }
    Ok(())
}

/// The inputs loaded: the configuration, the errors of inputs that did not parse at all (each
/// names its source), and where each resource's fields are.
pub struct Loaded {
    pub config: Config,
    pub syntax_errors: Vec<Error>,
    pub locator: Locator,
    /// The names of the sources, in order (the cluster's, [`meshroute::cluster::SOURCE`]
    /// spelled out, first when `--cluster` is given).
    pub sources: Vec<String>,
    /// With `--cluster`: what was read (`context NAME, namespace NS`).
    pub cluster: Option<String>,
}

impl Loaded {
    /// Whether `name` is one of the sources read.
    pub fn is_source(&self, name: &str) -> bool {
        self.sources.iter().any(|s| s == name)
    }

    /// The source a resource was loaded from (the first, when it is given twice).
    pub fn source_of(&self, id: &ResourceId) -> Option<String> {
        let found = self
            .config
            .resources
            .iter()
            .find(|r| &r.id("default") == id);
        found.map(|r| r.source().to_string()).or_else(|| {
            let rejected = self.config.rejected.iter().find(|r| &r.resource == id)?;
            rejected
                .errors
                .iter()
                .find_map(|e| e.source_name().map(str::to_string))
        })
    }
}

/// The source name of the resources `--cluster` reads (the library's `cluster::SOURCE`).
pub const CLUSTER: &str = "cluster";

/// Reads the PATH arguments and, with `--cluster`, the live cluster (its resources first, then
/// the files'), as every subcommand that reads configuration does. A path that cannot be read
/// or a cluster flag this build does not support is [`Exit::Usage`]; a kubeconfig or API
/// server that fails is printed and [`Exit::Failed`].
pub fn read_and_load(paths: &crate::Paths) -> Result<(Vec<Source>, Loaded), crate::Exit> {
    let sources = read(&paths.paths).map_err(|u| crate::Exit::Usage(u.0))?;
    if !paths.cluster.cluster {
        let loaded = load(&sources);
        return Ok((sources, loaded));
    }
    let snapshot = match crate::cluster::read(&paths.cluster) {
        Ok(s) => s,
        Err(crate::cluster::Failure::Usage(msg)) => return Err(crate::Exit::Usage(msg)),
        Err(crate::cluster::Failure::Cluster(msg)) => {
            crate::style::error_line(&msg);
            return Err(crate::Exit::Failed);
        }
    };
    let mut loaded = load_into(snapshot.config, &sources);
    loaded.sources.insert(0, CLUSTER.to_string());
    loaded.cluster = Some(snapshot.description);
    Ok((sources, loaded))
}

/// Loads every source; a source that does not parse is reported in `syntax_errors` and the
/// others still load.
pub fn load(sources: &[Source]) -> Loaded {
    load_into(Config::new(), sources)
}

/// [`load`] after what `config` holds already.
fn load_into(mut config: Config, sources: &[Source]) -> Loaded {
    let mut syntax_errors = Vec::new();
    let mut locator = Locator::default();
    for s in sources {
        match config.add_str(&s.text, &s.name) {
            Ok(()) => locator.add(&s.name, &s.text),
            Err(e) => syntax_errors.push(e),
        }
    }
    Loaded {
        config,
        syntax_errors,
        locator,
        sources: sources.iter().map(|s| s.name.clone()).collect(),
        cluster: None,
    }
}

/// A place in a source: file name, line and column (from 1; 0 when unknown).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Place {
    pub file: String,
    pub line: u64,
    pub column: u64,
}

/// Where each resource's fields are, by resource id: the file, and the line and column of every
/// field path (`spec.http[2].route[0].weight`). Best effort: a source the locator cannot read
/// gives its file alone.
#[derive(Default)]
pub struct Locator {
    resources: HashMap<ResourceId, Vec<Located>>,
}

struct Located {
    file: String,
    /// Field path → (line, column), in document order.
    fields: Vec<(String, u64, u64)>,
}

impl Locator {
    fn add(&mut self, file: &str, text: &str) {
        let Ok(docs) = serde_saphyr::from_multiple::<Option<Node>>(text) else {
            return;
        };
        for doc in docs.into_iter().flatten() {
            self.add_object(file, doc, 0);
        }
    }

    fn add_object(&mut self, file: &str, doc: Node, depth: usize) {
        let Node::Map(entries) = doc else { return };
        let text = |key: &str, entries: &[(Spanned<KeyText>, Spanned<Node>)]| {
            entries
                .iter()
                .find(|(k, _)| k.value.0 == key)
                .and_then(|(_, v)| match &v.value {
                    Node::Scalar(s) => Some(s.clone()),
                    _ => None,
                })
        };
        let kind = text("kind", &entries).unwrap_or_default();
        if depth == 0 && kind.ends_with("List") {
            if let Some((_, items)) = entries.into_iter().find(|(k, _)| k.value.0 == "items")
                && let Node::Seq(items) = items.value
            {
                for item in items {
                    self.add_object(file, item.value, depth + 1);
                }
            }
            return;
        }
        let (namespace, name) = match entries.iter().find(|(k, _)| k.value.0 == "metadata") {
            Some((_, m)) => match &m.value {
                Node::Map(m) => (text("namespace", m), text("name", m).unwrap_or_default()),
                _ => (None, String::new()),
            },
            None => (None, String::new()),
        };
        let namespace = namespace
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| "default".into());
        let mut fields = Vec::new();
        // EndpointSlice and Pod are read whole (their paths have no `spec.` root), as the loader
        // reads them.
        for (k, v) in entries {
            flatten(&k.value.0, k.referenced, v.value, &mut fields);
        }
        self.resources
            .entry(ResourceId::new(&kind, &namespace, &name))
            .or_default()
            .push(Located {
                file: file.to_string(),
                fields,
            });
    }

    /// Where `path` of resource `id` is: the deepest field on the path that the source holds
    /// (a missing field is reported where its parent is), or the resource's first line.
    /// With `source`, the copy read from that file (a name given in several files is several
    /// resources to the locator).
    pub fn place(&self, id: &ResourceId, path: &str, source: Option<&str>) -> Option<Place> {
        let copies = self.resources.get(id)?;
        let located = source
            .and_then(|s| copies.iter().find(|l| l.file == s))
            .or(copies.first())?;
        let path = path.split_once(": ").map_or(path, |(_, p)| p);
        let mut best: Option<&(String, u64, u64)> = None;
        for f in &located.fields {
            let is_prefix = path == f.0
                || path.starts_with(&f.0)
                    && matches!(path.as_bytes().get(f.0.len()), Some(b'.' | b'['));
            if is_prefix && best.is_none_or(|b| f.0.len() > b.0.len()) {
                best = Some(f);
            }
        }
        let (line, column) = best
            .or(located.fields.first())
            .map_or((0, 0), |f| (f.1, f.2));
        Some(Place {
            file: located.file.clone(),
            line,
            column,
        })
    }
}

/// Every node's path and position (a mapping entry's is its key's; a sequence item's its
/// own): mappings by key (`a.b`), sequences by index (`a[2]`).
fn flatten(path: &str, at: Location, node: Node, out: &mut Vec<(String, u64, u64)>) {
    out.push((path.to_string(), at.line(), at.column()));
    match node {
        Node::Map(entries) => {
            for (k, v) in entries {
                flatten(&format!("{path}.{}", k.value.0), k.referenced, v.value, out);
            }
        }
        Node::Seq(items) => {
            for (i, v) in items.into_iter().enumerate() {
                flatten(&format!("{path}[{i}]"), v.referenced, v.value, out);
            }
        }
        Node::Scalar(_) => {}
    }
}

/// A YAML (or JSON) tree with the position of every value.
enum Node {
    /// Entries with the key's position (where an editor puts the cursor for a field).
    Map(Vec<(Spanned<KeyText>, Spanned<Node>)>),
    Seq(Vec<Spanned<Node>>),
    Scalar(String),
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Node, D::Error> {
        d.deserialize_any(NodeVisitor)
    }
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("any YAML value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Node, E> {
        Ok(Node::Scalar(v.to_string()))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Node, E> {
        Ok(Node::Scalar(v.to_string()))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Node, E> {
        Ok(Node::Scalar(v.to_string()))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Node, E> {
        Ok(Node::Scalar(v.to_string()))
    }
    fn visit_str<E>(self, v: &str) -> Result<Node, E> {
        Ok(Node::Scalar(v.to_string()))
    }
    fn visit_unit<E>(self) -> Result<Node, E> {
        Ok(Node::Scalar(String::new()))
    }
    fn visit_none<E>(self) -> Result<Node, E> {
        Ok(Node::Scalar(String::new()))
    }
    fn visit_some<D: de::Deserializer<'de>>(self, d: D) -> Result<Node, D::Error> {
        Node::deserialize(d)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        let mut items = Vec::new();
        while let Some(v) = seq.next_element::<Spanned<Node>>()? {
            items.push(v);
        }
        Ok(Node::Seq(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let mut entries = Vec::new();
        while let Some(k) = map.next_key::<Spanned<KeyText>>()? {
            entries.push((k, map.next_value::<Spanned<Node>>()?));
        }
        Ok(Node::Map(entries))
    }
}

/// A mapping key as text, whatever its YAML type.
struct KeyText(String);

impl<'de> Deserialize<'de> for KeyText {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<KeyText, D::Error> {
        match Node::deserialize(d)? {
            Node::Scalar(s) => Ok(KeyText(s)),
            _ => Ok(KeyText(String::new())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_found_at_their_line_and_column() {
        let text = "\
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: reviews
spec:
  hosts: [reviews]
  http:
  - route:
    - destination: {host: reviews}
      weight: -5
---
kind: List
items:
- kind: DestinationRule
  metadata: {name: reviews, namespace: shop}
  spec:
    host: reviews
";
        let mut l = Locator::default();
        l.add("f.yaml", text);
        let vs = ResourceId::new("VirtualService", "default", "reviews");
        let at = |id: &ResourceId, p: &str| l.place(id, p, None).map(|p| (p.line, p.column));
        assert_eq!(at(&vs, "spec.http[0].route[0].weight"), Some((10, 7)));
        // A field that is not there is reported where its parent is.
        assert_eq!(
            at(&vs, "spec.http[0].route[0].destination.subset"),
            Some((9, 7))
        );
        assert_eq!(at(&vs, "spec.hosts[0]"), Some((6, 11)));
        let dr = ResourceId::new("DestinationRule", "shop", "reviews");
        assert_eq!(at(&dr, "spec.host"), Some((17, 5)));
        assert_eq!(at(&dr, "spec.trafficPolicy"), Some((16, 3)));
    }
}
