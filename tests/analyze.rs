//! `meshroute::analyze` on fixture configs: one config per finding code under
//! `tests/data/analyze/<code>.yaml` that produces exactly that finding, and a clean one
//! (Bookinfo with its endpoints) that produces none.

use std::path::{Path, PathBuf};

use meshroute::analyze::{Analysis, Finding, Level, analyze};
use meshroute::registry::Registry;
use meshroute::{CompileOptions, Config, ResourceId};

fn data(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(file)
}

/// Analyzes the files, with the endpoints their EndpointSlice and Pod resources describe.
fn analyze_files(files: &[&str]) -> Analysis {
    let mut config = Config::new();
    for f in files {
        config.add_file(data(f)).expect("fixture loads");
    }
    let options = CompileOptions::default();
    let (registry, notes) = Registry::from_config(&config, &(&options).into());
    assert_eq!(notes, vec![], "fixture endpoints load cleanly");
    analyze(&config, &options, Some(&registry))
}

/// What one fixture must produce: its only finding.
struct Expect {
    code: &'static str,
    istio: Option<&'static str>,
    severity: Level,
    resource: (&'static str, &'static str, &'static str),
    path: &'static str,
    words: &'static [&'static str],
}

const fn warn(
    code: &'static str,
    istio: Option<&'static str>,
    resource: (&'static str, &'static str, &'static str),
    path: &'static str,
    words: &'static [&'static str],
) -> Expect {
    Expect {
        code,
        istio,
        severity: Level::Warning,
        resource,
        path,
        words,
    }
}

const CASES: &[Expect] = &[
    Expect {
        code: "invalid",
        istio: None,
        severity: Level::Error,
        resource: ("VirtualService", "default", "reviews"),
        path: "spec.http[0].route",
        words: &["total weight of 2 destinations is 0"],
    },
    warn(
        "unreachable-rule",
        Some("IST0130"),
        ("VirtualService", "default", "reviews"),
        "spec.http[1]",
        &["unreachable", "http[0]", "has no match"],
    ),
    warn(
        "shadowed-match",
        Some("IST0131"),
        ("VirtualService", "default", "reviews"),
        "spec.http[1].match[0]",
        &["never matches", "taken by http[0].match[0]"],
    ),
    warn(
        "duplicate-match",
        Some("IST0131"),
        ("VirtualService", "default", "reviews"),
        "spec.http[1].match[1]",
        &["identical to http[0].match[0]"],
    ),
    warn(
        "conflicting-host",
        Some("IST0109"),
        ("VirtualService", "default", "reviews-new"),
        "spec.hosts",
        &[
            "reviews.default.svc.cluster.local",
            "VirtualService default/reviews-old",
            "wins because it was created earlier (2024-01-01T10:00:00Z",
        ],
    ),
    warn(
        "duplicate-resource",
        None,
        ("VirtualService", "default", "reviews"),
        "metadata.name",
        &["given twice", "the copy loaded first serves"],
    ),
    warn(
        "undefined-subset",
        Some("IST0101"),
        ("VirtualService", "default", "reviews"),
        "spec.http[0].route[0].destination.subset",
        &["\"v9\"", "not defined", "503"],
    ),
    warn(
        "subset-no-endpoints",
        Some("IST0173"),
        ("DestinationRule", "default", "reviews"),
        "spec.subsets[1]",
        &["\"v4\"", "selects none of the 1 endpoint of", "version=v4"],
    ),
    warn(
        "subset-no-healthy-endpoints",
        None,
        ("DestinationRule", "default", "reviews"),
        "spec.subsets[1]",
        &["\"v2\"", "selects 1 endpoint of", "none of them healthy"],
    ),
    warn(
        "zero-weights",
        None,
        ("HTTPRoute", "infra", "shop"),
        "spec.rules[0].backendRefs",
        &["all 2 backendRefs have weight 0", "500"],
    ),
    warn(
        "not-attached",
        None,
        ("HTTPRoute", "infra", "shop"),
        "spec.parentRefs[0]",
        &["Gateway infra/gw", "NoMatchingListenerHostname"],
    ),
    warn(
        "hostname-no-listener",
        None,
        ("HTTPRoute", "infra", "shop"),
        "spec.hostnames[1]",
        &["\"shop.example.org\"", "Gateway infra/gw"],
    ),
    warn(
        "host-not-in-gateway",
        Some("IST0132"),
        ("VirtualService", "default", "shop"),
        "spec.hosts",
        &["\"shop.example.org\"", "Gateway default/public"],
    ),
    warn(
        "multiple-sidecars-without-selector",
        Some("IST0110"),
        ("Sidecar", "shop", "second"),
        "spec",
        &["namespace shop", "first (the oldest) applies"],
    ),
    warn(
        "conflicting-sidecar-selectors",
        Some("IST0111"),
        ("Sidecar", "shop", "by-version"),
        "spec.workloadSelector",
        &["Pod shop/cart-v1-0", "by-app"],
    ),
    warn(
        "unresolved-backend",
        None,
        ("HTTPRoute", "infra", "shop"),
        "spec.rules[0].backendRefs[0]",
        &["shop/shop", "RefNotPermitted"],
    ),
    warn(
        "destination-host-not-found",
        Some("IST0101"),
        ("VirtualService", "default", "egress"),
        "spec.http[2].route[0].destination.host",
        &[
            "\"httpbin.org\"",
            "no Service or ServiceEntry visible to namespace default",
        ],
    ),
    warn(
        "destination-port-required",
        Some("IST0112"),
        ("VirtualService", "default", "httpbin"),
        "spec.http[0].route[0].destination",
        &["ServiceEntry default/httpbin", "80, 8080"],
    ),
    warn(
        "service-entry-addresses-required",
        Some("IST0134"),
        ("ServiceEntry", "default", "address-missing-lowercase"),
        "spec.ports[0]",
        &["port 22 (\"tcp\") has protocol tcp", "no addresses"],
    ),
    warn(
        "conflicting-service-entry-protocol",
        Some("IST0177"),
        ("ServiceEntry", "default", "se-http"),
        "spec.ports[0].protocol",
        &[
            "host \"example.com\" port 13835 is HTTP here and HTTPS in ServiceEntry default/se-https (older)",
        ],
    ),
];

fn check(e: &Expect, f: &Finding) {
    let (kind, ns, name) = e.resource;
    assert_eq!(f.code, e.code);
    assert_eq!(f.istio_code, e.istio, "{}", e.code);
    assert_eq!(f.severity, e.severity, "{}", e.code);
    assert_eq!(
        f.resource,
        Some(ResourceId::new(kind, ns, name)),
        "{}",
        e.code
    );
    assert_eq!(f.path, e.path, "{}", e.code);
    for w in e.words {
        assert!(
            f.message.contains(w),
            "{}: {w:?} not in {:?}",
            e.code,
            f.message
        );
    }
    assert!(
        !f.message.contains("IST0"),
        "{}: the Istio code has its own field",
        e.code
    );
}

#[test]
fn each_fixture_produces_exactly_its_finding() {
    for e in CASES {
        let file = format!("tests/data/analyze/{}.yaml", e.code);
        let analysis = analyze_files(&[&file]);
        assert_eq!(
            analysis.findings().len(),
            1,
            "{file}: expected only {}, got:\n{}",
            e.code,
            analysis.to_text()
        );
        check(e, &analysis.findings()[0]);
        assert!(!analysis.is_clean());
        assert_eq!(analysis.worst(), Some(e.severity));
    }
}

/// Every code of the table in the module docs has a fixture here, and every fixture is in it.
#[test]
fn every_documented_code_has_a_fixture() {
    let source = std::fs::read_to_string(data("src/tools/analyze.rs")).expect("source readable");
    let documented: Vec<&str> = source
        .lines()
        .filter_map(|l| l.strip_prefix("//! | `"))
        .filter_map(|l| l.split('`').next())
        .collect();
    let tested: Vec<&str> = CASES.iter().map(|e| e.code).collect();
    assert_eq!(documented, tested);
    let mut files: Vec<String> = std::fs::read_dir(data("tests/data/analyze"))
        .expect("fixture directory")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    let mut expected: Vec<String> = tested.iter().map(|c| format!("{c}.yaml")).collect();
    expected.sort();
    assert_eq!(files, expected);
}

#[test]
fn bookinfo_with_its_endpoints_is_clean() {
    let analysis = analyze_files(&["examples/bookinfo.yaml", "examples/bookinfo-endpoints.yaml"]);
    assert_eq!(analysis.findings(), &[], "{}", analysis.to_text());
    assert!(analysis.is_clean());
    assert_eq!(analysis.to_text(), "no findings\n");
}

#[test]
fn the_winner_of_a_host_conflict_is_named_with_the_reason() {
    // Equal creation times: the name decides.
    let yaml = "apiVersion: networking.istio.io/v1\nkind: VirtualService\n\
                metadata: {name: b, namespace: default}\n\
                spec: {hosts: [reviews], http: [{route: [{destination: {host: reviews}}]}]}\n---\n\
                apiVersion: networking.istio.io/v1\nkind: VirtualService\n\
                metadata: {name: a, namespace: default}\n\
                spec: {hosts: [reviews], http: [{route: [{destination: {host: reviews}}]}]}\n";
    let config = Config::from_str(yaml, "inline").expect("loads");
    let analysis = analyze(&config, &CompileOptions::default(), None);
    let f: Vec<_> = analysis.with_code("conflicting-host").collect();
    assert_eq!(f.len(), 1, "{}", analysis.to_text());
    assert_eq!(
        f[0].resource,
        Some(ResourceId::new("VirtualService", "default", "b"))
    );
    assert_eq!(
        f[0].message,
        "host \"reviews.default.svc.cluster.local\" is already claimed in the mesh by \
         VirtualService default/a, which wins because with equal creation times its name \"a\" \
         sorts before \"b\"; this one applies only where that one is not exported to, or to \
         clients it is exported to more narrowly (its own namespace first, then by name)"
    );
}

#[test]
fn findings_sort_by_resource_then_path() {
    let analysis = analyze_files(&[
        "tests/data/analyze/shadowed-match.yaml",
        "tests/data/analyze/unresolved-backend.yaml",
        "tests/data/analyze/unreachable-rule.yaml",
    ]);
    // unreachable-rule.yaml and shadowed-match.yaml define the same VirtualService: the second
    // is a duplicate; the HTTPRoute sorts before the VirtualService by kind.
    let keys: Vec<(String, &str)> = analysis
        .findings()
        .iter()
        .map(|f| {
            (
                f.resource
                    .as_ref()
                    .map(|r| r.kind.clone())
                    .unwrap_or_default(),
                f.path.as_str(),
            )
        })
        .collect();
    let mut sorted = keys.clone();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(keys, sorted);
    assert!(keys.iter().any(|(k, _)| k == "HTTPRoute"));
}

#[test]
fn json_shape() {
    let analysis = analyze_files(&["tests/data/analyze/shadowed-match.yaml"]);
    let json = analysis.to_json();
    assert_eq!(
        json,
        serde_json::json!({
            "findings": [{
                "code": "shadowed-match",
                "istio_code": "IST0131",
                "severity": "warning",
                "resource": {"kind": "VirtualService", "namespace": "default", "name": "reviews"},
                "path": "spec.http[1].match[0]",
                "message": analysis.findings()[0].message,
            }],
            "summary": {"errors": 0, "warnings": 1, "notes": 0},
        })
    );
}

#[test]
fn text_output() {
    let analysis = analyze_files(&["tests/data/analyze/unreachable-rule.yaml"]);
    assert_eq!(
        analysis.to_text(),
        "warning[unreachable-rule] (IST0130): VirtualService default/reviews: spec.http[1]: \
         rule is unreachable: http[0] before it has no match and takes every request\n\
         0 errors, 1 warning, 0 notes\n"
    );
}

/// istioctl's `DestinationHostAnalyzer` reports a ServiceEntry exported by name to the
/// VirtualService's namespace when the VirtualService is exported elsewhere (its lookup goes
/// by the VirtualService's `exportTo`); the entry is visible where the VirtualService lives,
/// so meshroute finds the host. Without any Service or ServiceEntry nothing is checked.
#[test]
fn a_service_entry_exported_to_the_virtual_service_namespace_is_found() {
    let yaml = r#"
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: egress, namespace: apps}
spec:
  hosts: [api.example.com]
  exportTo: ["*"]
  http:
  - route: [{destination: {host: api.example.com}}]
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: api, namespace: egress}
spec:
  hosts: [api.example.com]
  ports: [{number: 80, name: http, protocol: HTTP}]
  resolution: DNS
  exportTo: [apps, egress]
"#;
    let config = Config::from_str(yaml, "t.yaml").unwrap();
    let analysis = analyze(&config, &CompileOptions::default(), None);
    assert!(analysis.is_clean(), "{}", analysis.to_text());
    // The same VirtualService in another namespace does not see the entry.
    let moved = yaml.replacen("namespace: apps", "namespace: web", 1);
    let config = Config::from_str(&moved, "t.yaml").unwrap();
    let analysis = analyze(&config, &CompileOptions::default(), None);
    assert_eq!(
        analysis
            .with_code("destination-host-not-found")
            .map(|f| f.path.as_str())
            .collect::<Vec<_>>(),
        ["spec.http[0].route[0].destination.host"]
    );
    // No Service and no ServiceEntry: nothing to check against.
    let alone = Config::from_str(yaml.split("---").next().unwrap(), "t.yaml").unwrap();
    let analysis = analyze(&alone, &CompileOptions::default(), None);
    assert_eq!(analysis.with_code("destination-host-not-found").count(), 0);
}

/// istio/istio pkg/config/analysis/analyzers/analyzers_test.go, "missing Addresses and Protocol
/// in Service Entry" over testdata/serviceentry-missing-addresses-protocol.yaml: IST0134 for
/// test-03 (protocol absent), test-04 (protocol "") and test-07 (TCP), none for HTTPS or an
/// entry with addresses; and none at all "with ISTIO_META_DNS_AUTO_ALLOCATE enabled"
/// (serviceentry-missing-addresses-protocol-mesh-cfg.yaml, here as the root namespace's `istio`
/// ConfigMap). DNS capture alone allocates nothing.
#[test]
fn service_entry_addresses_follow_the_mesh_config() {
    let entry = |n: u32, protocol: &str, addresses: &str| {
        format!(
            "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\n\
             metadata: {{name: service-entry-test-0{n}, namespace: default}}\n\
             spec:\n  hosts: ['istio.io']\n  {addresses}exportTo: ['.']\n\
             \x20 ports: [{{number: 443, name: https{protocol}}}]\n\
             \x20 location: MESH_EXTERNAL\n  resolution: DNS\n---\n"
        )
    };
    let entries = [
        entry(1, ", protocol: HTTPS", ""),
        entry(2, ", protocol: HTTPS", "addresses: [10.0.0.1]\n  "),
        entry(3, "", ""),
        entry(4, ", protocol: ''", ""),
        entry(5, ", protocol: HTTPS", ""),
        entry(6, ", protocol: TCP", "addresses: [10.0.0.1]\n  "),
        entry(7, ", protocol: TCP", ""),
    ]
    .concat();
    let flagged = |yaml: &str| -> Vec<String> {
        let config = Config::from_str(yaml, "t.yaml").unwrap();
        analyze(&config, &CompileOptions::default(), None)
            .with_code("service-entry-addresses-required")
            .map(|f| f.resource.as_ref().unwrap().name.clone())
            .collect()
    };
    assert_eq!(
        flagged(&entries),
        [
            "service-entry-test-03",
            "service-entry-test-04",
            "service-entry-test-07"
        ]
    );
    let mesh = |metadata: &str| {
        format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: istio, namespace: istio-system}}\n\
             data:\n  mesh: |-\n    defaultConfig:\n      proxyMetadata: {{{metadata}}}\n"
        )
    };
    let allocated = mesh("ISTIO_META_DNS_CAPTURE: 'true', ISTIO_META_DNS_AUTO_ALLOCATE: 'true'");
    assert_eq!(
        flagged(&format!("{entries}{allocated}")),
        Vec::<String>::new()
    );
    let capture_only = mesh("ISTIO_META_DNS_CAPTURE: 'true'");
    assert_eq!(flagged(&format!("{entries}{capture_only}")).len(), 3);
}

/// analyzers_test.go "ServiceEntry no conflict same protocol"
/// (serviceentry-no-conflict-protocol.yaml) and "no conflict non-overlapping exportTo scopes"
/// (serviceentry-conflicting-exportto.yaml) are clean; an entry exported everywhere meets one
/// exported to a namespace, and protocols compare case-insensitively.
#[test]
fn service_entry_protocol_conflicts_follow_export_to() {
    let entry = |name: &str, ns: &str, protocol: &str, export_to: &str| {
        format!(
            "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\n\
             metadata: {{name: {name}, namespace: {ns}}}\n\
             spec:\n  hosts: [example.com]\n  ports: [{{name: p-{name}, number: 443, protocol: {protocol}}}]\n\
             \x20 resolution: DNS\n  exportTo: {export_to}\n---\n"
        )
    };
    let conflicts = |yaml: String| -> Vec<String> {
        let config = Config::from_str(&yaml, "t.yaml").unwrap();
        analyze(&config, &CompileOptions::default(), None)
            .with_code("conflicting-service-entry-protocol")
            .map(|f| f.resource.as_ref().unwrap().to_string())
            .collect()
    };
    assert_eq!(
        conflicts(entry("a", "default", "HTTPS", "[]") + &entry("b", "default", "https", "[]")),
        Vec::<String>::new()
    );
    assert_eq!(
        conflicts(entry("a", "ns1", "HTTP", "['.']") + &entry("b", "ns2", "HTTPS", "['.']")),
        Vec::<String>::new()
    );
    assert_eq!(
        conflicts(entry("a", "ns1", "HTTP", "['*']") + &entry("b", "ns2", "HTTPS", "['.']")),
        ["ServiceEntry ns2/b"]
    );
    assert_eq!(
        conflicts(entry("a", "ns1", "HTTP", "[ns3]") + &entry("b", "ns2", "HTTPS", "[ns3]")),
        ["ServiceEntry ns2/b"]
    );
}
