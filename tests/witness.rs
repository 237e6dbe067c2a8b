//! Witnesses over every fixture of `tests/data/*.yaml`: every rule and match block gets a
//! request that the table routes to it, or is proven unreachable, or (a small share) is left
//! unknown; the rules the reachability analysis warns about never get a witness.

use std::collections::BTreeMap;
use std::path::Path;

use meshroute::witness::{Witness, decided_entry, witnesses};
use meshroute::{CompileOptions, Config, Table, compile};
use serde_json::Value;

struct Fixture {
    file: String,
    table: Table,
    /// `(resource name, rule index, block)` the compiler warns never match (`None` = the
    /// whole rule).
    dead: Vec<(String, String, u32, Option<u16>)>,
}

fn fixtures() -> Vec<Fixture> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().and_then(|e| e.to_str()) == Some("yaml"))
        .collect();
    files.sort();
    let mut out = Vec::new();
    for file in files {
        let name = file.file_name().unwrap().to_string_lossy().to_string();
        let text = std::fs::read_to_string(&file).unwrap();
        let fixture: Value =
            serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
        let Some(config_text) = fixture["config"].as_str() else {
            continue;
        };
        let Ok(config) = Config::from_str(config_text, &name) else {
            continue;
        };
        let compiled = compile(&config, &CompileOptions::default()).expect("lenient compile");
        let mut dead = Vec::new();
        for d in &compiled.diagnostics {
            if !matches!(
                d.code,
                "unreachable-rule" | "duplicate-match" | "shadowed-match"
            ) {
                continue;
            }
            let (Some(res), Some(rest)) = (&d.resource, d.path.strip_prefix("spec.http[")) else {
                continue;
            };
            let Some((rule, rest)) = rest.split_once(']') else {
                continue;
            };
            let block = rest
                .strip_prefix(".match[")
                .and_then(|b| b.strip_suffix(']'))
                .and_then(|b| b.parse().ok());
            if let Ok(rule) = rule.parse() {
                dead.push((res.namespace.clone(), res.name.clone(), rule, block));
            }
        }
        out.push(Fixture {
            file: name,
            table: compiled.table,
            dead,
        });
    }
    assert!(!out.is_empty());
    out
}

#[test]
fn every_witness_reaches_its_rule_and_few_are_unknown() {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    let mut unknown = Vec::new();
    let mut failures = Vec::new();
    for f in fixtures() {
        let t = &f.table;
        for w in witnesses(t) {
            let rule = &t.rules()[w.rule];
            let src = t.source_of(rule);
            let label = format!(
                "{}: {} {}/{} rule {} block {:?}",
                f.file, src.kind, src.namespace, src.name, rule.index, w.block
            );
            let warned = f.dead.iter().any(|(ns, name, i, b)| {
                **ns == *src.namespace
                    && **name == *src.name
                    && *i == rule.index
                    && (b.is_none() || *b == w.block)
            });
            match &w.result {
                Witness::Reaches(req) => {
                    *counts.entry("reaches").or_default() += 1;
                    let d = t.decide_with_draw(req, 0);
                    let got = decided_entry(t, &d);
                    if got.map(|e| (e.rule, e.block)) != Some((w.rule, w.block)) {
                        failures.push(format!("{label}: witness {req:?} decides {got:?}"));
                    }
                    if warned {
                        failures.push(format!(
                            "{label}: the compiler warns it is unreachable, yet {req:?} reaches it"
                        ));
                    }
                }
                Witness::Unreachable { .. } => *counts.entry("unreachable").or_default() += 1,
                Witness::Unknown => {
                    *counts.entry("unknown").or_default() += 1;
                    unknown.push(label);
                }
                _ => failures.push(format!("{label}: unexpected result")),
            }
        }
    }
    let total: usize = counts.values().sum();
    eprintln!("witnesses over the fixtures: {counts:?} of {total}");
    for u in &unknown {
        eprintln!("unknown: {u}");
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(total > 100, "{total} blocks");
    // The search is bounded; it may give up, but only rarely.
    assert!(
        unknown.len() * 20 <= total,
        "{} of {total} unknown",
        unknown.len()
    );
}

#[test]
fn known_unreachable_rules_are_not_reached() {
    let f = fixtures()
        .into_iter()
        .find(|f| f.file == "warnings-analyzers.yaml")
        .unwrap();
    let t = &f.table;
    let w = witnesses(t);
    let by_name = |name: &str, block: Option<u16>| {
        let i = t.rules().iter().position(|r| &*r.name == name).unwrap();
        w.iter()
            .find(|w| w.rule == i && w.block == block)
            .unwrap()
            .result
            .clone()
    };
    assert!(matches!(by_name("first", Some(0)), Witness::Reaches(_)));
    // Identical to first's block 0.
    assert!(matches!(
        by_name("first", Some(1)),
        Witness::Unreachable { by: Some(_) }
    ));
    assert!(matches!(
        by_name("second", Some(0)),
        Witness::Unreachable { by: Some(_) }
    ));
    assert!(matches!(by_name("catch-all", None), Witness::Reaches(_)));
    // After the match-less rule: not listed in any virtual host, or covered by it.
    assert!(matches!(
        by_name("dead", Some(0)),
        Witness::Unreachable { .. }
    ));
}

#[test]
fn a_regex_header_and_a_path_outside_an_earlier_prefix() {
    let t = Table::from_yaml(
        r#"
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: r, namespace: default}
spec:
  hosts: [r]
  http:
  - name: beta
    match: [{uri: {prefix: /api/v2}, headers: {x-user: {exact: beta}}}]
    route: [{destination: {host: beta}}]
  - name: api
    match: [{uri: {regex: "/api/v[0-9]+/items/[a-f0-9]{4}"}, headers: {x-user: {regex: "u-[0-9]+"}}}]
    route: [{destination: {host: api}}]
  - name: no-debug
    match: [{withoutHeaders: {x-debug: {}}, method: {exact: POST}}]
    route: [{destination: {host: nodebug}}]
  - name: rest
    route: [{destination: {host: rest}}]
"#,
    )
    .unwrap();
    for w in witnesses(&t) {
        let Witness::Reaches(req) = &w.result else {
            panic!("{w:?}")
        };
        let d = t.decide_with_draw(req, 0);
        assert_eq!(
            decided_entry(&t, &d).map(|e| (e.rule, e.block)),
            Some((w.rule, w.block))
        );
        if &*t.rules()[w.rule].name == "rest" {
            // POST without x-debug goes to no-debug: the witness adds the header or uses
            // another method.
            assert!(req.method != "POST" || req.headers.iter().any(|(n, _)| n == "x-debug"));
        }
    }
}
