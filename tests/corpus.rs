//! The configuration corpus contract (`../shared/corpus/INDEX.md`): every valid file loads and
//! compiles with no error; every invalid file is rejected with an error naming the field.
//! Skipped, with a message, where the corpus is absent.

use std::path::{Path, PathBuf};

use meshroute::config::Resource;
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

/// API groups whose kinds this version validates and compiles.
fn handled(api_version: &str) -> bool {
    api_version.starts_with("networking.istio.io/")
        || api_version.starts_with("gateway.networking.k8s.io/")
}

#[test]
fn every_valid_file_loads_and_compiles() {
    let Some(root) = corpus() else { return };
    let mut files = 0;
    let mut istio = 0;
    let mut gateway_api = 0;
    let mut mesh = 0;
    let mut l4 = 0;
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
        for res in &config.resources {
            match res {
                Resource::VirtualService(_)
                | Resource::DestinationRule(_)
                | Resource::Gateway(_) => istio += 1,
                Resource::KubeGateway(_) | Resource::HttpRoute(_) | Resource::GrpcRoute(_) => {
                    gateway_api += 1
                }
                // Read and routed too, beyond the corpus's routing kinds.
                Resource::ServiceEntry(_) | Resource::Sidecar(_) => mesh += 1,
                Resource::TlsRoute(_) | Resource::TcpRoute(_) => l4 += 1,
                _ => {}
            }
        }
        let compiled = compile(&config, &CompileOptions::default()).unwrap();
        failures.extend(compiled.errors().map(ToString::to_string));
    }
    assert!(
        files >= 302,
        "expected the corpus's 302 valid files, found {files}"
    );
    assert!(
        istio >= 227,
        "only {istio} of the corpus's 227 Istio routing resources loaded"
    );
    assert!(
        gateway_api >= 216,
        "only {gateway_api} of the corpus's 216 Gateway API routing resources loaded"
    );
    // istio/istio tests/testdata/config and the egress samples hold 19 ServiceEntries; the
    // Gateway API, Istio and Envoy Gateway examples 9 TLSRoutes and TCPRoutes.
    assert!(
        mesh >= 19,
        "only {mesh} of the corpus's 19 ServiceEntries loaded"
    );
    assert!(
        l4 >= 9,
        "only {l4} of the corpus's 9 TLSRoutes and TCPRoutes loaded"
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
    let mut checked_istio = 0;
    let mut checked_gateway_api = 0;
    let mut failures = Vec::new();
    for case in manifest["invalid"].as_array().unwrap() {
        let file = case["file"].as_str().unwrap();
        let expected = case["expected_field"].as_str().unwrap();
        let text = std::fs::read_to_string(root.join(file)).unwrap();
        let api_versions: Vec<&str> = text
            .lines()
            .filter_map(|l| l.trim_start().strip_prefix("apiVersion:"))
            .map(str::trim)
            .collect();
        if !api_versions.iter().any(|v| handled(v)) {
            continue;
        }
        if api_versions
            .iter()
            .any(|v| v.starts_with("gateway.networking.k8s.io/"))
        {
            checked_gateway_api += 1;
        } else {
            checked_istio += 1;
        }
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
        checked_istio >= 130,
        "expected the corpus's 130 Istio invalid cases, found {checked_istio}"
    );
    assert!(
        checked_gateway_api >= 53,
        "expected the corpus's 53 Gateway API invalid cases, found {checked_gateway_api}"
    );
    assert!(
        failures.is_empty(),
        "{} invalid files not rejected at their field:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
