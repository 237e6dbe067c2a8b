//! The configuration corpus contract (`../shared/corpus/INDEX.md`): every valid file loads and
//! compiles with no error; every invalid file is rejected with an error naming the field.
//! Skipped, with a message, where the corpus is absent.

use std::path::{Path, PathBuf};

use meshroute::{CompileOptions, Config, compile};
use serde_json::Value;

fn corpus() -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus");
    if p.join("MANIFEST.json").exists() {
        Some(p)
    } else {
        eprintln!(
            "corpus not found at {}: skipping the corpus contract",
            p.display()
        );
        None
    }
}

/// Kinds this version compiles (Gateway API kinds are skipped for now).
fn handled(api_version: &str) -> bool {
    api_version.starts_with("networking.istio.io/")
}

#[test]
fn every_valid_file_loads_and_compiles() {
    let Some(root) = corpus() else { return };
    let mut files = 0;
    let mut resources = 0;
    let mut failures = Vec::new();
    for entry in std::fs::read_dir(root.join("valid")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("yaml") {
            continue;
        }
        files += 1;
        let text = std::fs::read_to_string(&path).unwrap();
        let config = match Config::from_str(&text, &path.file_name().unwrap().to_string_lossy()) {
            Ok(c) => c,
            Err(e) => {
                failures.push(e.to_string());
                continue;
            }
        };
        resources += config.resources.len();
        let compiled = compile(&config, &CompileOptions::default()).unwrap();
        failures.extend(compiled.errors().map(ToString::to_string));
    }
    assert!(
        files >= 300,
        "expected the corpus's 302 valid files, found {files}"
    );
    assert!(
        resources >= 227,
        "only {resources} of the corpus's 227 Istio resources loaded"
    );
    assert!(
        failures.is_empty(),
        "{} valid files failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn every_invalid_file_is_rejected_at_its_field() {
    let Some(root) = corpus() else { return };
    let manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(root.join("MANIFEST.json")).unwrap())
            .unwrap();
    let mut checked = 0;
    let mut failures = Vec::new();
    for case in manifest["invalid"].as_array().unwrap() {
        let file = case["file"].as_str().unwrap();
        let expected = case["expected_field"].as_str().unwrap();
        let text = std::fs::read_to_string(root.join(file)).unwrap();
        let istio = text.lines().any(|l| {
            l.trim_start().starts_with("apiVersion:")
                && handled(l.split(':').nth(1).unwrap_or("").trim())
        });
        if !istio {
            continue;
        }
        checked += 1;
        let errors: Vec<meshroute::Error> = match Config::from_str(&text, file) {
            Err(e) => vec![e],
            Ok(config) => compile(&config, &CompileOptions::default())
                .unwrap()
                .errors()
                .cloned()
                .collect(),
        };
        if !errors.iter().any(|e| e.path().starts_with(expected)) {
            let got: Vec<String> = errors.iter().map(ToString::to_string).collect();
            failures.push(format!(
                "{file}: expected an error at {expected}, got {got:?}"
            ));
        }
    }
    assert!(
        checked >= 125,
        "expected the corpus's Istio invalid cases, found {checked}"
    );
    assert!(
        failures.is_empty(),
        "{} invalid files not rejected at their field:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
