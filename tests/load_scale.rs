//! Loading at scale: a cluster's dump of many small VirtualServices, as a multi-document
//! stream and as a `kind: List` (what `kubectl get virtualservices -A -o yaml` writes), loads
//! and compiles; the input's totals of `LoadOptions` and the per-resource budgets of
//! `meshroute::limits` still refuse what is over them, naming the document and the limit, and
//! a file over the size limit is refused before it is read.
//!
//! The plain tests load 2,000 resources (a debug build parses about 1,000 a second); the
//! `#[ignore]`d ones load 100,000 and print the time (`cargo test --release --test load_scale
//! -- --ignored --nocapture`).

use std::fmt::Write as _;
use std::time::Instant;

use meshroute::{CompileOptions, Config, ErrorKind, LoadOptions, compile, limits};

/// The YAML of one small VirtualService `vs{i}` for host `svc{i}`, as `kubectl get -o yaml`
/// writes it (annotations, creation time, uid, an empty status): a document, or an `item` of a
/// list.
fn vs(out: &mut String, i: usize, item: bool) {
    let (p, q) = if item { ("- ", "  ") } else { ("", "") };
    write!(
        out,
        "{p}apiVersion: networking.istio.io/v1\n\
         {q}kind: VirtualService\n\
         {q}metadata:\n\
         {q}  annotations:\n\
         {q}    owner: team-{team}\n\
         {q}  creationTimestamp: \"2025-01-01T00:00:00Z\"\n\
         {q}  generation: 1\n\
         {q}  name: vs{i}\n\
         {q}  namespace: ns{ns}\n\
         {q}  resourceVersion: \"{i}\"\n\
         {q}  uid: 00000000-0000-0000-0000-{i:012}\n\
         {q}spec:\n\
         {q}  hosts:\n\
         {q}  - svc{i}.ns{ns}.svc.cluster.local\n\
         {q}  http:\n\
         {q}  - match:\n\
         {q}    - uri:\n\
         {q}        prefix: /api/{i}\n\
         {q}    route:\n\
         {q}    - destination:\n\
         {q}        host: svc{i}.ns{ns}.svc.cluster.local\n\
         {q}status: {{}}\n",
        team = i % 50,
        ns = i % 100,
    )
    .unwrap();
}

/// `n` VirtualServices from `start` as a multi-document stream.
fn stream(start: usize, n: usize) -> String {
    let mut out = String::with_capacity(n * 620);
    for i in start..start + n {
        out.push_str("---\n");
        vs(&mut out, i, false);
    }
    out
}

/// `n` VirtualServices as one `kind: List` document.
fn list(n: usize) -> String {
    let mut out = String::with_capacity(n * 700);
    out.push_str("apiVersion: v1\nitems:\n");
    for i in 0..n {
        vs(&mut out, i, true);
    }
    out.push_str("kind: List\nmetadata:\n  resourceVersion: \"\"\n");
    out
}

/// Loads `text` with the default options and compiles it; the time of each step.
fn load_and_compile(text: &str, expect: usize) -> (f64, f64) {
    let t = Instant::now();
    let config = Config::from_str(text, "dump.yaml").expect("the dump loads");
    let load = t.elapsed().as_secs_f64();
    assert_eq!(config.resources.len(), expect);
    assert!(config.rejected.is_empty());
    let t = Instant::now();
    let compiled = compile(&config, &CompileOptions::default()).expect("the dump compiles");
    let took = t.elapsed().as_secs_f64();
    assert_eq!(compiled.errors().count(), 0);
    (load, took)
}

#[test]
fn a_stream_of_2_000_documents_loads() {
    let text = stream(0, 2_000);
    load_and_compile(&text, 2_000);
}

#[test]
fn a_list_of_2_000_items_loads() {
    let text = list(2_000);
    load_and_compile(&text, 2_000);
}

#[test]
#[ignore = "100,000 resources: run in release"]
fn a_stream_of_100_000_documents_loads() {
    let text = stream(0, 100_000);
    let (load, compile) = load_and_compile(&text, 100_000);
    println!(
        "stream of 100,000 VirtualServices ({} bytes): load {load:.2} s, compile {compile:.2} s",
        text.len()
    );
}

#[test]
#[ignore = "100,000 resources: run in release"]
fn a_list_of_100_000_items_loads() {
    let text = list(100_000);
    let (load, compile) = load_and_compile(&text, 100_000);
    println!(
        "List of 100,000 VirtualServices ({} bytes): load {load:.2} s, compile {compile:.2} s",
        text.len()
    );
}

/// A document with a label map of `n` entries (two nodes each) after a small VirtualService.
fn labels(name: &str, n: usize) -> String {
    let mut out = format!(
        "apiVersion: networking.istio.io/v1\nkind: VirtualService\n\
         metadata:\n  name: {name}\n  labels:\n"
    );
    for i in 0..n {
        writeln!(out, "    k{i}: v").unwrap();
    }
    out.push_str("spec: {hosts: [a]}\n");
    out
}

#[test]
fn a_document_over_the_node_budget_is_refused_by_name() {
    // 16 nodes besides the labels: the document's map, `apiVersion`, `kind`, `metadata` and
    // `name` with their values, `labels` and its map, `spec` and its map, `hosts`, its list and
    // the one host.
    let fits = (limits::MAX_NODES - 16) / 2;
    let text = format!("{}---\n{}", stream(0, 1), labels("big", fits));
    let c = Config::from_str(&text, "t.yaml").expect("at the limit");
    assert_eq!(c.resources.len(), 2);
    let text = format!("{}---\n{}", stream(0, 1), labels("big", fits + 1));
    let e = Config::from_str(&text, "t.yaml").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Syntax);
    assert_eq!(
        e.message(),
        format!(
            "not valid YAML within limits: document 1: {} nodes exceed the limit of {} \
             nodes per resource (limits::MAX_NODES)",
            limits::MAX_NODES + 1,
            limits::MAX_NODES
        )
    );
    assert_eq!(e.source_name(), Some("t.yaml"));
}

#[test]
fn a_list_item_over_the_node_budget_is_refused_by_name() {
    let mut text = String::from("apiVersion: v1\nkind: List\nitems:\n");
    vs(&mut text, 0, true);
    for line in labels("big", limits::MAX_NODES / 2).lines() {
        let first = if line.starts_with("apiVersion") {
            "- "
        } else {
            "  "
        };
        writeln!(text, "{first}{line}").unwrap();
    }
    let e = Config::from_str(&text, "t.yaml").unwrap_err();
    let expected = format!(
        "not valid YAML within limits: document 0 items[1]: {} nodes exceed the limit of {} \
         nodes per resource (limits::MAX_NODES)",
        limits::MAX_NODES + 1,
        limits::MAX_NODES
    );
    assert!(e.message().starts_with(&expected), "{e}");
}

#[test]
fn the_input_totals_are_options() {
    let text = stream(0, 100);
    // 47 nodes per VirtualService.
    let nodes = 100 * 47;
    let documents = LoadOptions::new().max_documents(99);
    let e = Config::new()
        .add_str_with(&text, "t.yaml", &documents)
        .unwrap_err();
    assert_eq!(
        e.message(),
        "not valid YAML within limits: 100 documents exceed the limit of 99 \
         (LoadOptions::max_documents)"
    );
    let mut c = Config::new();
    c.add_str_with(&text, "t.yaml", &LoadOptions::new().max_total_nodes(nodes))
        .expect("at the limit");
    assert_eq!(c.resources.len(), 100);
    let e = Config::new()
        .add_str_with(
            &text,
            "t.yaml",
            &LoadOptions::new().max_total_nodes(nodes - 1),
        )
        .unwrap_err();
    assert_eq!(
        e.message(),
        format!(
            "not valid YAML within limits: document 99: {nodes} nodes in the input exceed the \
             limit of {} (LoadOptions::max_total_nodes)",
            nodes - 1
        )
    );
    let e = Config::new()
        .add_str_with(
            &text,
            "t.yaml",
            &LoadOptions::new().max_input_bytes(text.len() - 1),
        )
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Limit);
    assert_eq!(
        e.message(),
        format!(
            "input of {} bytes exceeds the limit of {} bytes (LoadOptions::max_input_bytes)",
            text.len(),
            text.len() - 1
        )
    );
}

#[test]
fn a_file_over_the_limit_is_refused_before_it_is_read() {
    let dir = std::env::temp_dir().join(format!("meshroute-load-scale-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // A sparse file one byte over the default limit: reading it would take 256 MiB.
    let big = dir.join("big.yaml");
    let file = std::fs::File::create(&big).unwrap();
    file.set_len(limits::MAX_INPUT_BYTES as u64 + 1).unwrap();
    drop(file);
    // The file's size is read from its metadata: the error names the file's size, which a
    // check on the bytes read would not know past the limit.
    let e = Config::new().add_file(&big).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Limit);
    assert_eq!(
        e.to_string(),
        format!(
            "{}: file of 268435457 bytes exceeds the limit of 268435456 bytes \
             (LoadOptions::max_input_bytes)",
            big.display()
        )
    );
    // Within a caller's lower limit, as a file like any other.
    let small = dir.join("small.yaml");
    std::fs::write(&small, stream(0, 10)).unwrap();
    let size = std::fs::metadata(&small).unwrap().len() as usize;
    let mut c = Config::new();
    c.add_file_with(&small, &LoadOptions::new().max_input_bytes(size))
        .unwrap();
    assert_eq!(c.resources.len(), 10);
    let e = c
        .add_file_with(&small, &LoadOptions::new().max_input_bytes(size - 1))
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Limit);
    std::fs::remove_dir_all(&dir).unwrap();
}
