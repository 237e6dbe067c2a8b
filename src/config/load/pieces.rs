//! Reading a large YAML input in pieces, on several threads, with the serial reader's result.
//!
//! A YAML stream splits at its `---` lines into documents that parse on their own, and a
//! `kind: List` document (what `kubectl get -A -o yaml` prints) splits at the `- ` lines of
//! its top-level `items:` block sequence into runs of items that parse on their own as a
//! sequence. Each piece is parsed and read into a [`Config`] of its own, on as many threads as
//! the machine has, and the configurations are joined in input order, so the resources, their
//! load order, the notes and the rejections are the serial reader's.
//!
//! Any doubt gives up, and the caller reads the input serially, so that every error is the
//! serial reader's, word for word: anchors, aliases, tags, directives, `...` and `---` lines
//! with content, a byte order mark, a document that reads as null, a List whose head or body
//! does not parse on its own, a piece that fails to parse or passes a budget, and totals
//! (nodes, scalar bytes) over the input's limits.
//!
//! Why a piece parses as its part of the whole does: each piece is parsed with the budgets of
//! the document it belongs to (a run of items one level shallower, so its depth budget is one
//! less), and a piece that parses on its own ends with every quoted scalar and flow collection
//! closed. A cut inside one leaves the piece before it unterminated, which fails and gives up.
//! So at every cut the serial parser is between nodes at column 0: a `---` line there starts a
//! document, a `- ` line the next item of the List, and the List's head (checked to parse on
//! its own too) ends before its `items:` key.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use serde::Deserialize;
use serde::de::{self, IgnoredAny};
use serde_json::Value;

use super::{
    Level, LoadOptions, METER, Metering, Staging, Strict, StrictVisitor, limits, yaml_options,
};
use crate::config::{Config, is_list};

/// Sizes that decide how an input is cut and shared out.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Tuning {
    /// Inputs shorter than this are read serially.
    pub(crate) min_input: usize,
    /// A List document is split when it is at least twice this long, into runs of items of at
    /// least this many bytes.
    pub(crate) piece: usize,
    /// Pieces are handed to the threads in batches of at least this many bytes.
    pub(crate) batch: usize,
    /// Most threads; the machine's parallelism bounds it too.
    pub(crate) threads: usize,
}

impl Default for Tuning {
    fn default() -> Tuning {
        Tuning {
            min_input: 64 << 10,
            piece: 64 << 10,
            batch: 256 << 10,
            threads: usize::MAX,
        }
    }
}

/// A part of the input that parses on its own.
#[derive(Debug, PartialEq)]
enum Piece<'a> {
    /// Document `index` (counting the documents that are not empty).
    Document { text: &'a str, index: usize },
    /// Items of the List that is document `index`, from item `first`: a block sequence.
    Items {
        text: &'a str,
        index: usize,
        first: usize,
    },
}

/// A document whose top-level `items` is cut into runs of items: read so when it turns out
/// to be a List, else whole.
#[derive(Debug, PartialEq)]
struct Split<'a> {
    /// The document's index.
    index: usize,
    /// The whole document.
    whole: &'a str,
    /// The text before the `items:` key.
    head: &'a str,
    /// The document with `items: []` in place of its items.
    skeleton: String,
    /// The runs of items.
    items: Vec<Piece<'a>>,
}

/// A part of the input: a document, or one that may be a List cut into its items.
#[derive(Debug, PartialEq)]
enum Part<'a> {
    Whole(Piece<'a>),
    Split(Split<'a>),
}

/// How an input is cut.
#[derive(Debug, Default, PartialEq)]
struct Plan<'a> {
    parts: Vec<Part<'a>>,
    documents: usize,
}

/// Reads YAML `text` in pieces on several threads into a new configuration, as
/// [`Config::add_str_with`] would add it; `None` when the input is short, or the pieces are in
/// doubt, and the caller must read it serially (which also gives any error).
pub(crate) fn read(
    text: &str,
    source: &str,
    options: &LoadOptions,
    tuning: Tuning,
) -> Option<Config> {
    let trimmed = text.trim_start();
    if text.len() < tuning.min_input || trimmed.starts_with(['{', '[']) {
        // JSON is read by the JSON reader.
        return None;
    }
    let plan = plan(text, tuning.piece)?;
    if plan.documents > options.max_documents {
        return None;
    }
    let whole = yaml_options(options);
    let (mut nodes, mut bytes) = (0usize, 0usize);
    let mut pieces = Vec::new();
    {
        // The Lists' skeletons, read here: a List is read in its runs of items, another
        // document whole.
        let _metering = Metering::start(options);
        let _staging = Staging::start(source);
        for part in plan.parts {
            let split = match part {
                Part::Whole(p) => {
                    pieces.push(p);
                    continue;
                }
                Part::Split(split) => split,
            };
            if !head_parses(split.head, &whole) {
                return None;
            }
            let before = totals();
            start_piece(split.index, None);
            let doc = single::<Strict>(&split.skeleton, &whole)?.0;
            let list = doc.as_object().is_some_and(|map| {
                let field = |f: &str| map.get(f).and_then(Value::as_str).unwrap_or("");
                is_list(field("apiVersion"), field("kind"))
            });
            if !list {
                pieces.push(Piece::Document {
                    text: split.whole,
                    index: split.index,
                });
                continue;
            }
            if doc.get("items") != Some(&Value::Array(Vec::new())) {
                return None;
            }
            let after = totals();
            nodes += after.0 - before.0;
            bytes += after.1 - before.1;
            pieces.extend(split.items);
        }
    }
    if pieces.len() < 2 {
        return None;
    }
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(tuning.threads)
        .max(1);
    // At least four batches a thread, so that one slow batch does not hold the others up.
    let batches = batches(&pieces, tuning.batch.min(text.len() / (4 * threads)));
    let threads = threads.min(batches.len());
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let done: Vec<Mutex<Option<Config>>> = batches.iter().map(|_| Mutex::new(None)).collect();
    let work = || -> Option<(usize, usize)> {
        // The parser's options are not shared between threads.
        let whole = yaml_options(options);
        let mut items = yaml_options(options);
        if let Some(b) = items.budget.as_mut() {
            // A run of items is a sequence at the root: one level shallower than in its List.
            b.max_depth = limits::MAX_DEPTH - 1;
        }
        let _metering = Metering::start(options);
        let _staging = Staging::start(source);
        loop {
            let b = next.fetch_add(1, Ordering::Relaxed);
            if b >= batches.len() || failed.load(Ordering::Relaxed) {
                break;
            }
            match read_batch(batches[b], source, &whole, &items) {
                Some(config) => *done[b].lock().ok()? = Some(config),
                None => {
                    failed.store(true, Ordering::Relaxed);
                    return None;
                }
            }
        }
        Some(totals())
    };
    // This thread works too; a thread the system does not give leaves its share to the others.
    let counted: Vec<Option<(usize, usize)>> = std::thread::scope(|s| {
        let helpers: Vec<_> = (1..threads)
            .filter_map(|_| std::thread::Builder::new().spawn_scoped(s, work).ok())
            .collect();
        let mine = work();
        helpers
            .into_iter()
            .map(|h| h.join().ok().flatten())
            .chain([mine])
            .collect()
    });
    if failed.load(Ordering::Relaxed) {
        return None;
    }
    for (n, b) in counted.into_iter().collect::<Option<Vec<_>>>()? {
        nodes = nodes.saturating_add(n);
        bytes = bytes.saturating_add(b);
    }
    // Each run of items counted its sequence once more than the whole List does.
    let runs = pieces
        .iter()
        .filter(|p| matches!(p, Piece::Items { .. }))
        .count();
    if nodes.saturating_sub(runs) > options.max_total_nodes || bytes > options.max_input_bytes {
        return None;
    }
    let mut config = Config::new();
    for slot in done {
        config.append(slot.into_inner().ok()??);
    }
    Some(config)
}

/// Reads the pieces of one batch into a configuration, in order.
fn read_batch(
    batch: &[Piece<'_>],
    source: &str,
    whole: &serde_saphyr::Options,
    items: &serde_saphyr::Options,
) -> Option<Config> {
    let mut config = Config::new();
    for piece in batch {
        match *piece {
            Piece::Document { text, index } => {
                start_piece(index, None);
                let doc = single::<Strict>(text, whole)?.0;
                let staged = Staging::take(index + 1);
                config.add_document(index, doc, staged, source);
            }
            Piece::Items { text, index, first } => {
                start_piece(index, Some(first));
                // Every element is staged as it is read, so an empty sequence remains.
                if single::<ItemsRoot>(text, items)?.0 != Value::Array(Vec::new()) {
                    return None;
                }
                config.append(Staging::take(index + 1));
            }
        }
    }
    Some(config)
}

/// The one document of `text`, or `None` when it fails or is not exactly one document.
fn single<T: for<'de> Deserialize<'de>>(text: &str, options: &serde_saphyr::Options) -> Option<T> {
    let mut docs = serde_saphyr::from_multiple_with_options::<T>(text, options.clone()).ok()?;
    match docs.len() {
        1 => docs.pop(),
        _ => None,
    }
}

/// Whether the text before a List's `items:` key parses on its own (so that nothing it opens
/// is still open at the key).
fn head_parses(head: &str, options: &serde_saphyr::Options) -> bool {
    serde_saphyr::from_multiple_with_options::<IgnoredAny>(head, options.clone()).is_ok()
}

/// Sets this thread's meter and stage to read a piece of document `index`: the document, or a
/// run of its items from item `first`.
fn start_piece(index: usize, first: Option<usize>) {
    METER.with(|cell| {
        if let Some(m) = cell.borrow_mut().as_mut() {
            // `Strict` starts a document (counting it); a run of items is inside one.
            m.documents = if first.is_none() { index } else { index + 1 };
            m.item = None;
            (m.nodes, m.bytes) = (0, 0);
        }
    });
    Staging::take(index);
    Staging::first_item(first.unwrap_or(0));
}

/// This thread's meter's totals: nodes and scalar bytes.
fn totals() -> (usize, usize) {
    METER.with(|cell| {
        cell.borrow()
            .as_ref()
            .map_or((0, 0), |m| (m.total_nodes, m.total_bytes))
    })
}

/// The root of a run of items: a sequence whose elements are staged as a List's items.
struct ItemsRoot(Value);

impl<'de> Deserialize<'de> for ItemsRoot {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<ItemsRoot, D::Error> {
        d.deserialize_any(StrictVisitor(Level::Items))
            .map(ItemsRoot)
    }
}

/// Consecutive pieces of at least `size` bytes each (the last may be shorter).
fn batches<'p, 'a>(pieces: &'p [Piece<'a>], size: usize) -> Vec<&'p [Piece<'a>]> {
    let mut out = Vec::new();
    let (mut start, mut bytes) = (0, 0);
    for (i, p) in pieces.iter().enumerate() {
        bytes += match p {
            Piece::Document { text, .. } | Piece::Items { text, .. } => text.len(),
        };
        if bytes >= size {
            out.push(&pieces[start..=i]);
            (start, bytes) = (i + 1, 0);
        }
    }
    if start < pieces.len() {
        out.push(&pieces[start..]);
    }
    out
}

/// Whether a byte that starts a node may start an anchor (`&`), an alias (`*`) or a tag (`!`)
/// here: after a space, a line break, a flow indicator or at the start. Plain text such as
/// `R&D` or `/v1/.*` is not in doubt.
fn properties_in_doubt(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.iter().enumerate().any(|(i, &b)| {
        matches!(b, b'&' | b'*' | b'!')
            && (i == 0
                || matches!(
                    bytes[i - 1],
                    b' ' | b'\t' | b'\n' | b'\r' | b'[' | b'{' | b','
                ))
    })
}

/// The lines of `text` with their byte offsets (each line without its `\n`).
fn lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    let mut at = 0;
    text.split_inclusive('\n').map(move |l| {
        let start = at;
        at += l.len();
        (start, l.strip_suffix('\n').unwrap_or(l))
    })
}

/// Whether a line holds nothing but white space or a comment.
fn blank(line: &str) -> bool {
    let t = line.trim_start_matches([' ', '\t', '\r']);
    t.is_empty() || t.starts_with('#')
}

/// Cuts `text` into pieces; `None` when anything is in doubt.
fn plan(text: &str, piece: usize) -> Option<Plan<'_>> {
    if text.starts_with('\u{feff}') || properties_in_doubt(text) {
        return None;
    }
    let mut documents: Vec<&str> = Vec::new();
    let mut start = 0;
    for (at, line) in lines(text) {
        if let Some(rest) = line.strip_prefix("---")
            && rest.trim_matches([' ', '\t', '\r']).is_empty()
        {
            documents.push(&text[start..at]);
            start = (at + line.len() + 1).min(text.len());
        } else if line.starts_with("---") || line.starts_with("...") || line.starts_with('%') {
            return None;
        }
    }
    documents.push(&text[start..]);
    let mut plan = Plan::default();
    for doc in documents {
        if lines(doc).all(|(_, l)| blank(l)) {
            continue;
        }
        let index = plan.documents;
        plan.documents += 1;
        let split = if doc.len() >= piece.saturating_mul(2) {
            split_list(doc, index, piece)
        } else {
            None
        };
        plan.parts.push(match split {
            Some(split) => Part::Split(split),
            None => Part::Whole(Piece::Document { text: doc, index }),
        });
    }
    Some(plan)
}

/// A document whose top-level `items:` key holds a block sequence at column 0 (as `kubectl get
/// -o yaml` prints a List), cut into its head, its skeleton and runs of items of at least
/// `piece` bytes; `None` when it has no such key or a line in the sequence is in doubt.
fn split_list(doc: &str, index: usize, piece: usize) -> Option<Split<'_>> {
    let (key, key_line) =
        lines(doc).find(|(_, l)| l.trim_end_matches([' ', '\t', '\r']) == "items:")?;
    let body = key + key_line.len() + 1;
    let mut starts: Vec<usize> = Vec::new();
    let mut end = doc.len();
    for (at, line) in lines(&doc[body.min(doc.len())..]) {
        let at = body + at;
        let bare = line.trim_end_matches([' ', '\t', '\r']);
        if bare.is_empty() || line.starts_with([' ', '\t']) {
            continue;
        }
        if line.starts_with("- ") || bare == "-" {
            starts.push(at);
            continue;
        }
        if line.starts_with('#') {
            return None;
        }
        end = at;
        break;
    }
    // The first line with content must start an item.
    let first = *starts.first()?;
    if !blank_lines(&doc[body.min(doc.len())..first]) {
        return None;
    }
    let mut pieces = Vec::new();
    let (mut from, mut first_item) = (body, 0);
    for (k, &s) in starts.iter().enumerate().skip(1) {
        if s - from >= piece {
            pieces.push(Piece::Items {
                text: &doc[from..s],
                index,
                first: first_item,
            });
            (from, first_item) = (s, k);
        }
    }
    pieces.push(Piece::Items {
        text: &doc[from..end],
        index,
        first: first_item,
    });
    let skeleton = format!("{}items: []\n{}", &doc[..key], &doc[end..]);
    Some(Split {
        index,
        whole: doc,
        head: &doc[..key],
        skeleton,
        items: pieces,
    })
}

/// Whether every line of `text` is blank or a comment indented (inside the sequence).
fn blank_lines(text: &str) -> bool {
    lines(text).all(|(_, l)| {
        l.trim_matches([' ', '\t', '\r']).is_empty() || (l.starts_with([' ', '\t']) && blank(l))
    })
}

#[cfg(test)]
mod tests {
    //! Differential tests: an input read in pieces (as small as they can be, on two threads)
    //! gives what the serial reader gives, resource for resource, note for note and error for
    //! error, and the pieces are taken wherever nothing is in doubt.

    use std::fmt::Write as _;
    use std::path::Path;

    use super::*;
    use crate::error::Error;

    /// Every piece as small as it can be, every batch one piece, two threads.
    const TINY: Tuning = Tuning {
        min_input: 0,
        piece: 1,
        batch: 1,
        threads: 2,
    };
    /// Never in pieces.
    const SERIAL: Tuning = Tuning {
        min_input: usize::MAX,
        piece: 1,
        batch: 1,
        threads: 1,
    };

    fn load(text: &str, options: &LoadOptions, tuning: Tuning) -> Result<String, Error> {
        let mut c = Config::new();
        // A resource loaded before, so that load orders are counted on from it.
        c.add_str_tuned(&vs(0, ""), "before.yaml", options, SERIAL)?;
        c.add_str_tuned(text, "t.yaml", options, tuning)?;
        Ok(format!("{c:#?}"))
    }

    /// Reads `text` both ways, asserts the same outcome, and says whether the pieces were
    /// taken (`read` gave a configuration).
    #[track_caller]
    fn same(text: &str, options: &LoadOptions) -> bool {
        let serial = load(text, options, SERIAL);
        let pieces = load(text, options, TINY);
        match (&serial, &pieces) {
            (Ok(a), Ok(b)) => assert!(a == b, "serial and pieces differ for:\n{text}"),
            (Err(a), Err(b)) => assert_eq!(format!("{a:?}"), format!("{b:?}"), "{text}"),
            _ => panic!("serial {serial:?}\npieces {pieces:?}\nfor:\n{text}"),
        }
        read(text, "t.yaml", options, TINY).is_some()
    }

    /// VirtualService `i`, as `kubectl get -o yaml` writes it, each line after `indent` (an
    /// item of a List takes `- ` on its first line, two spaces on the others).
    fn vs(i: usize, item: &str) -> String {
        let text = format!(
            "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata:\n  \
             annotations:\n    owner: team-{i}\n  creationTimestamp: \"2025-01-01T00:00:00Z\"\n  \
             name: vs{i}\n  namespace: ns{ns}\n  resourceVersion: \"{i}\"\nspec:\n  hosts:\n  \
             - svc{i}.ns{ns}.svc.cluster.local\n  http:\n  - match:\n    - uri:\n        \
             prefix: /api/{i}\n    route:\n    - destination:\n        host: svc{i}\n",
            ns = i % 3
        );
        indent(&text, item)
    }

    fn indent(text: &str, item: &str) -> String {
        if item.is_empty() {
            return text.to_string();
        }
        let mut out = String::new();
        for (k, line) in text.lines().enumerate() {
            let lead = if k == 0 { "- " } else { "  " };
            writeln!(out, "{lead}{line}").unwrap();
        }
        out
    }

    fn stream(docs: &[String]) -> String {
        docs.iter().map(|d| format!("---\n{d}")).collect()
    }

    fn list(items: &[String]) -> String {
        let items: String = items.iter().map(|d| indent(d, "- ")).collect();
        format!("apiVersion: v1\nitems:\n{items}kind: List\nmetadata:\n  resourceVersion: \"\"\n")
    }

    /// Resources of every outcome: loaded, rejected for their schema or their name, skipped
    /// with a note, warned about (an upper-case name).
    fn mixed(n: usize) -> Vec<String> {
        (0..n)
            .map(|i| match i % 5 {
                0 | 1 => vs(i, ""),
                2 => vs(i, "").replace("host: svc", "hosts: svc"),
                3 => format!("apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: d{i}}}\n"),
                _ => vs(i, "").replace("name: vs", "name: Vs"),
            })
            .collect()
    }

    #[test]
    fn streams_and_lists_read_in_pieces_as_serially() {
        let o = LoadOptions::new();
        let docs = mixed(23);
        assert!(same(&stream(&docs), &o));
        assert!(same(&list(&docs), &o));
        // Without a leading `---`, with comments, blank documents, trailing spaces and CRLF.
        let text = format!(
            "# dump\n{}---  \n# nothing\n---\n{}",
            docs[0],
            stream(&docs[1..])
        );
        assert!(same(&text, &o));
        assert!(same(&text.replace('\n', "\r\n"), &o));
        // A List among documents, a List in a List, a document that is not a List but has
        // items (they are not its resources), a List with items before and after its head.
        let mut text = stream(&docs[..3]);
        text.push_str(&format!("---\n{}", list(&docs[3..9])));
        text.push_str(&format!(
            "---\n{}",
            list(&[list(&docs[9..11]), docs[11].clone()])
        ));
        text.push_str(&format!(
            "---\n{}items:\n{}",
            docs[12],
            indent(&docs[13], "- ")
        ));
        text.push_str(&format!(
            "---\nkind: List\nitems:\n{}apiVersion: v1\nmetadata: {{}}\n",
            indent(&docs[14], "- ")
        ));
        assert!(same(&text, &o));
        // Lines an item's block scalar or a `-` line alone holds.
        let odd = "- apiVersion: v1\n  kind: ConfigMap\n  metadata: {name: c}\n  data:\n    \
                   script: |\n      - not an item\n\n      ---\n-\n  apiVersion: v1\n  \
                   kind: Namespace\n  metadata: {name: n}\n";
        let text = format!(
            "apiVersion: v1\nkind: List\nitems:\n{odd}{}",
            indent(&docs[0], "- ")
        );
        assert!(same(&text, &o));
    }

    /// What is in doubt is read serially, with the same result.
    #[test]
    fn doubt_reads_serially() {
        let o = LoadOptions::new();
        let docs = mixed(4);
        let anchored = format!("{}---\na: &x 1\nb: *x\n", stream(&docs));
        let tagged = format!("{}---\na: !!str 1\n", stream(&docs));
        let directive = format!("%YAML 1.2\n{}", stream(&docs));
        let ended = format!("{}...\n", stream(&docs));
        let null = format!("{}---\n~\n", stream(&docs));
        let comment = list(&docs).replacen("\n- ", "\n# c\n- ", 2);
        let bom = format!("\u{feff}{}", stream(&docs));
        for text in [anchored, tagged, directive, ended, null, comment, bom] {
            assert!(!same(&text, &o), "read in pieces:\n{text}");
        }
        // A quoted scalar over a cut: the piece before it does not parse.
        let quoted = format!("{}---\na: \"x\n---\ny\"\n", stream(&docs));
        same(&quoted, &o);
        let head = list(&docs).replace("apiVersion: v1\n", "apiVersion: v1\nx: \"a\n");
        let head = head.replace("kind: List\n", "kind: List\n\"\n");
        assert!(!same(&head, &o));
        // JSON is the JSON reader's.
        assert!(!same("[{\"a\": 1},\n{\"b\": 2}]", &o));
    }

    /// Errors, and budgets at their limits, come out as the serial reader's.
    #[test]
    fn errors_and_budgets_are_the_serial_readers() {
        let docs = mixed(6);
        let o = LoadOptions::new();
        // A syntax error in a document, in an item, and a duplicate key in a List's head.
        assert!(!same(&format!("{}---\n[: bad\n", stream(&docs)), &o));
        let mut broken = docs.clone();
        broken[4].push_str("  x: [\n");
        assert!(!same(&list(&broken), &o));
        assert!(!same(
            &list(&docs).replace("kind: List", "kind: List\nkind: List"),
            &o
        ));
        // Depth: an item as deep as a document may be is read in pieces; one level more is the
        // serial reader's error.
        let nested = |levels: usize| {
            let mut data = String::from("a: 1\n");
            for _ in 0..levels {
                data = format!("a:\n{}", indent_by(&data, 2));
            }
            format!(
                "apiVersion: v1\nkind: Secret\nmetadata: {{name: s}}\ndata:\n{}",
                indent_by(&data, 2)
            )
        };
        // The List (1), its items (2), the item (3), `data` (4) and its levels.
        let deepest = limits::MAX_DEPTH - 4;
        let mut items = docs.clone();
        items.push(nested(deepest));
        assert!(same(&list(&items), &o));
        items.push(nested(deepest + 1));
        assert!(!same(&list(&items), &o));
        // Totals: at the limits, and one under them.
        let text = list(&docs);
        let serial = |o: &LoadOptions| {
            let mut c = Config::new();
            c.add_str_tuned(&text, "t", o, SERIAL).is_ok()
        };
        let fits = (1..100_000)
            .find(|&n| serial(&LoadOptions::new().max_total_nodes(n)))
            .unwrap();
        assert!(same(&text, &LoadOptions::new().max_total_nodes(fits)));
        assert!(!same(&text, &LoadOptions::new().max_total_nodes(fits - 1)));
        let text = stream(&docs);
        assert!(same(&text, &LoadOptions::new().max_documents(6)));
        assert!(!same(&text, &LoadOptions::new().max_documents(5)));
    }

    fn indent_by(text: &str, n: usize) -> String {
        text.lines().map(|l| format!("{:n$}{l}\n", "")).collect()
    }

    /// The corpus (`../shared/corpus`): every file, valid or not, reads the same in pieces,
    /// and so does the stream of all of them.
    #[test]
    fn the_corpus_reads_in_pieces_as_serially() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus");
        if !root.is_dir() {
            eprintln!("corpus not found at {}: skipping", root.display());
            return;
        }
        let mut files = Vec::new();
        let mut dirs = vec![root];
        while let Some(d) = dirs.pop() {
            for e in std::fs::read_dir(d).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    dirs.push(p);
                } else if p.extension().is_some_and(|x| x == "yaml" || x == "yml") {
                    files.push(p);
                }
            }
        }
        files.sort();
        assert!(files.len() > 100, "{} corpus files", files.len());
        let o = LoadOptions::new();
        let mut all = String::new();
        let mut in_pieces = 0;
        for f in &files {
            let text = std::fs::read_to_string(f).unwrap();
            in_pieces += usize::from(same(&text, &o));
            all.push_str("---\n");
            all.push_str(&text);
            all.push('\n');
        }
        assert!(in_pieces >= 50, "{in_pieces} of {}", files.len());
        same(&all, &o);
    }

    #[test]
    fn plans_cut_at_documents_and_items() {
        let docs = [vs(1, ""), vs(2, "")];
        let text = stream(&docs);
        let p = plan(&text, 1).unwrap();
        assert_eq!(p.documents, 2);
        let whole = |text, index| Part::Whole(Piece::Document { text, index });
        assert_eq!(p.parts, [whole(&docs[0], 0), whole(&docs[1], 1)]);
        let text = list(&docs);
        let Part::Split(split) = &plan(&text, 1).unwrap().parts[0] else {
            panic!("not split")
        };
        assert_eq!(
            split.skeleton,
            "apiVersion: v1\nitems: []\nkind: List\nmetadata:\n  resourceVersion: \"\"\n"
        );
        assert_eq!(split.head, "apiVersion: v1\n");
        let first = indent(&docs[0], "- ");
        let second = indent(&docs[1], "- ");
        let items = |text, first| Piece::Items {
            text,
            index: 0,
            first,
        };
        assert_eq!(split.items, [items(&first, 0), items(&second, 1)]);
        // Runs of items of at least the piece's size.
        let Part::Split(split) = &plan(&text, first.len() + 1).unwrap().parts[0] else {
            panic!("not split")
        };
        assert_eq!(split.items.len(), 1);
    }
}
