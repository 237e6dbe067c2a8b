//! Loading and compiling a large dump, to measure time and memory (run it under
//! `/usr/bin/time -v` for the peak RSS).
//!
//! ```text
//! cargo run --release --example load_dump -- gen DIR N FILES [docs|list|json]
//!                                                  # N one-rule VirtualServices
//! cargo run --release --example load_dump -- regex DIR N       # N regex rules, 1,000 per VS
//! cargo run --release --example load_dump -- load PATH...      # files, or every file of DIR
//! cargo run --release --example load_dump -- load-only PATH... # load without compiling
//! ```
//!
//! `gen` writes N VirtualServices as `kubectl get -o yaml` prints them, split over FILES
//! files: YAML streams of documents (`docs`, the default), or in each file one `kind: List` as
//! `kubectl get -A -o yaml` prints it (`list`) or `-o json` (`json`); `load` reads every file with `Config::add_file_with`
//! (limits raised to fit any size) and compiles them, printing the time of each step.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Instant;

use meshroute::{CompileOptions, Config, LoadOptions, compile};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let num = |i: usize| -> usize { args[i].parse().expect("a number") };
    match args.first().map(String::as_str) {
        Some("gen") => {
            let layout = match args.get(4).map(String::as_str) {
                None | Some("docs") => Layout::Documents,
                Some("list") => Layout::YamlList,
                Some("json") => Layout::JsonList,
                Some(other) => panic!("layout {other:?}: docs, list or json"),
            };
            generate(&args[1], num(2), num(3), layout)
        }
        Some("regex") => regexes(&args[1], num(2)),
        Some("load") => load(&args[1..], true),
        Some("load-only") => load(&args[1..], false),
        _ => {
            eprintln!(
                "usage: load_dump gen DIR N FILES [docs|list|json] | regex DIR N | load[-only] PATH..."
            );
            std::process::exit(2);
        }
    }
}

/// The layouts `gen` writes: a YAML stream of documents, or one `kind: List` per file as
/// `kubectl get -A -o yaml` (or `-o json`) prints it.
#[derive(Clone, Copy, PartialEq)]
enum Layout {
    Documents,
    YamlList,
    JsonList,
}

fn generate(dir: &str, n: usize, files: usize, layout: Layout) {
    std::fs::create_dir_all(dir).unwrap();
    let per = n.div_ceil(files);
    for f in 0..files {
        let range = f * per..((f + 1) * per).min(n);
        let (out, ext) = match layout {
            Layout::Documents => (
                range.map(|i| format!("---\n{}", vs_yaml(i))).collect(),
                "yaml",
            ),
            Layout::YamlList => {
                let mut out = String::from("apiVersion: v1\nitems:\n");
                for i in range {
                    for (k, line) in vs_yaml(i).lines().enumerate() {
                        let lead = if k == 0 { "- " } else { "  " };
                        writeln!(out, "{lead}{line}").unwrap();
                    }
                }
                out.push_str("kind: List\nmetadata:\n  resourceVersion: \"\"\n");
                (out, "yaml")
            }
            Layout::JsonList => {
                let items: Vec<serde_json::Value> = range
                    .map(|i| serde_saphyr::from_str(&vs_yaml(i)).unwrap())
                    .collect();
                let list = serde_json::json!({
                    "apiVersion": "v1", "items": items, "kind": "List",
                    "metadata": {"resourceVersion": ""},
                });
                (serde_json::to_string_pretty(&list).unwrap(), "json")
            }
        };
        std::fs::write(format!("{dir}/vs-{f:03}.{ext}"), out).unwrap();
    }
}

/// VirtualService `i` as `kubectl get -o yaml` prints it.
fn vs_yaml(i: usize) -> String {
    let (team, ns) = (i % 50, i % 100);
    format!(
        "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata:\n  \
         annotations:\n    owner: team-{team}\n  creationTimestamp: \
         \"2025-01-01T00:00:00Z\"\n  generation: 1\n  name: vs{i}\n  namespace: ns{ns}\n  \
         resourceVersion: \"{i}\"\n  uid: 00000000-0000-0000-0000-{i:012}\nspec:\n  \
         hosts:\n  - svc{i}.ns{ns}.svc.cluster.local\n  http:\n  - match:\n    - uri:\n        \
         prefix: /api/{i}\n    route:\n    - destination:\n        \
         host: svc{i}.ns{ns}.svc.cluster.local\nstatus: {{}}\n"
    )
}

fn regexes(dir: &str, n: usize) {
    std::fs::create_dir_all(dir).unwrap();
    let mut out = String::new();
    for v in 0..n.div_ceil(1000) {
        write!(
            out,
            "---\napiVersion: networking.istio.io/v1\nkind: VirtualService\n\
             metadata: {{name: re{v}, namespace: default}}\nspec:\n  hosts: [re{v}]\n  http:\n"
        )
        .unwrap();
        for i in v * 1000..((v + 1) * 1000).min(n) {
            writeln!(
                out,
                "  - match: [{{uri: {{regex: '/v{i}/users/[0-9]+'}}}}]\n    \
                 route: [{{destination: {{host: b{i}}}}}]"
            )
            .unwrap();
        }
    }
    std::fs::write(format!("{dir}/regex.yaml"), out).unwrap();
}

fn load(paths: &[String], compile_too: bool) {
    let mut files: Vec<PathBuf> = Vec::new();
    for p in paths {
        let p = PathBuf::from(p);
        if p.is_dir() {
            let mut entries: Vec<PathBuf> = std::fs::read_dir(&p)
                .unwrap()
                .map(|e| e.unwrap().path())
                .collect();
            entries.sort();
            files.extend(entries);
        } else {
            files.push(p);
        }
    }
    let options = LoadOptions::new()
        .max_input_bytes(usize::MAX)
        .max_total_nodes(usize::MAX);
    let t = Instant::now();
    let mut config = Config::new();
    for f in &files {
        config
            .add_file_with(f, &options)
            .unwrap_or_else(|e| panic!("{e}"));
    }
    let loaded = t.elapsed();
    if !compile_too {
        println!(
            "{} files, {} resources ({} rejected): load {:.2} s",
            files.len(),
            config.resources.len(),
            config.rejected.len(),
            loaded.as_secs_f64()
        );
        return;
    }
    let t = Instant::now();
    let compiled = compile(&config, &CompileOptions::default()).expect("lenient compile");
    let compiled_in = t.elapsed();
    println!(
        "{} files, {} resources ({} rejected): load {:.2} s, compile {:.2} s, {} errors, {} rules",
        files.len(),
        config.resources.len(),
        config.rejected.len(),
        loaded.as_secs_f64(),
        compiled_in.as_secs_f64(),
        compiled.errors().count(),
        compiled.table.rules().len(),
    );
}
