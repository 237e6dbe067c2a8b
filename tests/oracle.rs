//! Oracle property test: generated configurations (Istio and Gateway API) and requests drawn
//! from the configuration's own literals, decided by the compiled table and by the naive
//! evaluator in `oracle/mod.rs`; the two must agree on the outcome, the rule (and match
//! block), the destination picked for the draw, and the status.
//!
//! Configurations are written as YAML text, loaded with `Config::from_str` and compiled with
//! the default options, as users do. A run fails when more than a tenth of the generated
//! configurations are rejected, or when too few requests exercise a rule other than the first,
//! so that it cannot pass by deciding nothing. `PROPTEST_CASES` sets the number of cases
//! (default 256 per property).

#[path = "oracle/mod.rs"]
mod oracle;

use std::cell::Cell;
use std::fmt::Write as _;

use meshroute::{CompileOptions, Config, OwnedRequest, compile};
use proptest::prelude::*;
use proptest::test_runner::{Config as RunnerConfig, FileFailurePersistence, TestRunner};
use serde_json::{Value, json};

use oracle::Kind;

/// Requests decided per generated configuration.
const REQUESTS: usize = 16;

// ---------------------------------------------------------------------------------------------
// Literal pools: small, so that conditions and requests meet
// ---------------------------------------------------------------------------------------------

const PATHS: &[&str] = &[
    "/",
    "/api",
    "/api/v1",
    "/api/v1/users",
    "/api/v2",
    "/static",
    "/Static/app.js",
    "/health",
];
const HEADER_NAMES: &[&str] = &["x-tenant", "end-user", "x-canary", "x-version"];
const HEADER_VALUES: &[&str] = &["alpha", "beta", "Beta", "v1", "v1.2", "a,b", ""];
const QUERY_NAMES: &[&str] = &["q", "debug", "Page"];
const QUERY_VALUES: &[&str] = &["1", "true", "x y", "", "TRUE"];
const METHODS: &[&str] = &["GET", "POST", "PUT", "DELETE"];

fn pick<'a>(pool: &[&'a str], i: u8) -> &'a str {
    pool[usize::from(i) % pool.len()]
}

/// Regexes built from a literal, all in the syntax RE2 and the `regex` crate share.
fn regex_from(literal: &str, template: u8) -> String {
    let lit = regex::escape(literal);
    match template % 7 {
        0 => lit,
        1 => format!("{lit}(/.*)?"),
        2 => format!("(?i){lit}"),
        3 => format!("{lit}.*"),
        4 => format!(
            ".*{}",
            regex::escape(&literal[literal.len().saturating_sub(2)..])
        ),
        5 => format!(
            "[a-zA-Z0-9/.,]*{}",
            regex::escape(&literal[..literal.len().min(2)])
        ),
        _ => format!("{lit}|/health"),
    }
}

// ---------------------------------------------------------------------------------------------
// YAML text from JSON values (block style; every string quoted)
// ---------------------------------------------------------------------------------------------

fn yaml_doc(v: &Value) -> String {
    let mut out = String::new();
    emit(v, 0, &mut out);
    out
}

fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => serde_json::to_string(s).expect("strings serialize"),
        Value::Object(m) if m.is_empty() => "{}".into(),
        Value::Array(a) if a.is_empty() => "[]".into(),
        other => other.to_string(),
    }
}

fn is_block(v: &Value) -> bool {
    matches!(v, Value::Object(m) if !m.is_empty()) || matches!(v, Value::Array(a) if !a.is_empty())
}

fn emit(v: &Value, indent: usize, out: &mut String) {
    let pad = " ".repeat(indent);
    match v {
        Value::Object(m) if !m.is_empty() => {
            for (k, x) in m {
                let key = serde_json::to_string(k).expect("strings serialize");
                if is_block(x) {
                    writeln!(out, "{pad}{key}:").unwrap();
                    emit(x, indent + 2, out);
                } else {
                    writeln!(out, "{pad}{key}: {}", scalar(x)).unwrap();
                }
            }
        }
        Value::Array(a) if !a.is_empty() => {
            for x in a {
                if is_block(x) {
                    writeln!(out, "{pad}-").unwrap();
                    emit(x, indent + 2, out);
                } else {
                    writeln!(out, "{pad}- {}", scalar(x)).unwrap();
                }
            }
        }
        other => writeln!(out, "{pad}{}", scalar(other)).unwrap(),
    }
}

fn yaml_stream(docs: &[Value]) -> String {
    docs.iter().map(yaml_doc).collect::<Vec<_>>().join("---\n")
}

// ---------------------------------------------------------------------------------------------
// Requests: seeds resolved against the configuration's literals
// ---------------------------------------------------------------------------------------------

/// What a configuration's conditions mention, for requests likely to meet them.
#[derive(Default, Debug)]
struct Literals {
    paths: Vec<String>,
    headers: Vec<(String, String)>,
    queries: Vec<(String, String)>,
    methods: Vec<String>,
    /// Authorities that address the configuration's hosts.
    hosts: Vec<String>,
}

impl Literals {
    fn path(&mut self, p: &str) {
        if !self.paths.iter().any(|x| x == p) {
            self.paths.push(p.to_string());
        }
    }
}

#[derive(Clone, Debug)]
struct RequestSeed {
    host: u8,
    host_mutation: u8,
    path: u8,
    path_mutations: u8,
    query: Vec<(u8, u8)>,
    headers: Vec<(u8, u8)>,
    method: u8,
    draw: u64,
}

fn request_seed() -> impl Strategy<Value = RequestSeed> {
    (
        (any::<u8>(), any::<u8>(), any::<u8>(), any::<u8>()),
        prop::collection::vec((any::<u8>(), any::<u8>()), 0..3),
        prop::collection::vec((any::<u8>(), any::<u8>()), 0..4),
        any::<u8>(),
        prop_oneof![0u64..8, any::<u64>()],
    )
        .prop_map(
            |((host, host_mutation, path, path_mutations), query, headers, method, draw)| {
                RequestSeed {
                    host,
                    host_mutation,
                    path,
                    path_mutations,
                    query,
                    headers,
                    method,
                    draw,
                }
            },
        )
}

/// Changes the ASCII case of every other letter.
fn mixed_case(s: &str) -> String {
    s.chars()
        .enumerate()
        .map(|(i, c)| {
            if i % 2 == 0 {
                c.to_ascii_uppercase()
            } else {
                c
            }
        })
        .collect()
}

fn build_request(lit: &Literals, seed: &RequestSeed) -> OwnedRequest {
    let mut req = OwnedRequest::new("GET", "/");
    req.source_namespace = Some("default".into());
    let base_host = lit.hosts[usize::from(seed.host) % lit.hosts.len()].clone();
    req.authority = match seed.host_mutation % 8 {
        0 => mixed_case(&base_host),
        1 => format!("{base_host}:80"),
        2 => "elsewhere.test".into(),
        _ => base_host,
    };
    req.method = if seed.method.is_multiple_of(4) {
        pick(METHODS, seed.method / 4).to_string()
    } else if lit.methods.is_empty() {
        "GET".into()
    } else {
        lit.methods[usize::from(seed.method) % lit.methods.len()].clone()
    };

    let m = seed.path_mutations;
    let mut path = if m & 0b111 == 0 || lit.paths.is_empty() {
        pick(PATHS, seed.path).to_string()
    } else {
        lit.paths[usize::from(seed.path) % lit.paths.len()].clone()
    };
    match (m >> 3) % 8 {
        0 => path = mixed_case(&path),
        1 => path.push_str("/extra"),
        2 => path.push('/'),
        3 => {
            path.pop();
        }
        4 => path.push('x'),
        5 => path = format!("{path}/./"),
        6 => path = format!("/zz/..{path}"),
        _ => {}
    }
    if !path.starts_with('/') {
        path.insert(0, '/');
    }
    let mut query = Vec::new();
    for (i, (which, mutation)) in seed.query.iter().enumerate() {
        let (k, v) = if lit.queries.is_empty() || mutation % 5 == 0 {
            (
                pick(QUERY_NAMES, *which).to_string(),
                pick(QUERY_VALUES, *mutation).to_string(),
            )
        } else {
            lit.queries[usize::from(*which) % lit.queries.len()].clone()
        };
        query.push(match mutation % 4 {
            0 if i == 0 => k,
            1 => format!("{k}={v}x"),
            _ => format!("{k}={v}"),
        });
    }
    // A fragment after the query, or (rarely sent, but possible) before it.
    match (m >> 6, query.is_empty()) {
        (3, true) => path.push_str("#frag"),
        (3, false) => path = format!("{path}?{}#frag", query.join("&")),
        // A `?` after `#` is part of the fragment, which is stripped before routing: such a
        // request has no query parameters. See `fragment_hides_the_query` below.
        (2, false) if seed.method % 8 == 1 => {
            path = format!("{path}#frag?{}", query.join("&"));
        }
        (_, false) => path = format!("{path}?{}", query.join("&")),
        (_, true) => {}
    }
    req.path = path;
    for (which, mutation) in &seed.headers {
        let (n, v) = if lit.headers.is_empty() || mutation % 6 == 0 {
            (
                pick(HEADER_NAMES, *which).to_string(),
                pick(HEADER_VALUES, *mutation).to_string(),
            )
        } else {
            lit.headers[usize::from(*which) % lit.headers.len()].clone()
        };
        match (mutation / 6) % 5 {
            0 => req.headers.push(&n.to_ascii_uppercase(), &v),
            1 => req.headers.push(&n, &format!("{v}-other")),
            2 => {
                req.headers.push(&n, &v);
                req.headers.push(&n, "second");
            }
            _ => req.headers.push(&n, &v),
        }
    }
    req
}

// ---------------------------------------------------------------------------------------------
// Istio
// ---------------------------------------------------------------------------------------------

const VS_HOSTS: &[&str] = &["web.example.com", "reviews"];
const DEST_SERVICES: &[&str] = &["reviews", "ratings", "details"];
const TIMESTAMPS: &[&str] = &["2024-01-01T00:00:00Z", "2024-06-01T00:00:00Z"];

/// One condition's operand, by kind and pool index.
#[derive(Clone, Debug)]
enum Cond {
    Exact(u8),
    Prefix(u8),
    Regex(u8, u8),
    /// `{}`
    Present,
    /// `regex: "*"`
    Star,
}

fn cond() -> impl Strategy<Value = Cond> {
    prop_oneof![
        4 => any::<u8>().prop_map(Cond::Exact),
        2 => any::<u8>().prop_map(Cond::Prefix),
        2 => (any::<u8>(), any::<u8>()).prop_map(|(a, b)| Cond::Regex(a, b)),
        1 => Just(Cond::Present),
        1 => Just(Cond::Star),
    ]
}

#[derive(Clone, Debug)]
struct IstioBlock {
    uri: Option<(u8, u8, u8)>,
    ignore_case: bool,
    method: Option<Cond>,
    authority: Option<u8>,
    headers: Vec<(u8, Cond)>,
    without: Vec<(u8, Cond)>,
    query: Vec<(u8, Cond)>,
}

fn istio_block() -> impl Strategy<Value = IstioBlock> {
    (
        prop::option::weighted(0.8, (any::<u8>(), any::<u8>(), any::<u8>())),
        prop::bool::weighted(0.2),
        prop::option::weighted(0.15, cond()),
        prop::option::weighted(0.1, any::<u8>()),
        prop::collection::vec((any::<u8>(), cond()), 0..3),
        prop::collection::vec((any::<u8>(), cond()), 0..2),
        prop::collection::vec((any::<u8>(), cond()), 0..2),
    )
        .prop_map(
            |(uri, ignore_case, method, authority, headers, without, query)| IstioBlock {
                uri,
                ignore_case,
                method,
                authority,
                headers,
                without,
                query,
            },
        )
}

#[derive(Clone, Debug)]
struct IstioRule {
    named: bool,
    blocks: Option<Vec<IstioBlock>>,
    /// (service, subset: 0 none, 1..=2 defined, 3 undefined, weight)
    dests: Vec<(u8, u8, Option<u8>)>,
}

fn istio_rule() -> impl Strategy<Value = IstioRule> {
    (
        any::<bool>(),
        prop::option::weighted(0.85, prop::collection::vec(istio_block(), 1..3)),
        prop::collection::vec(
            (any::<u8>(), 0u8..4, prop::option::weighted(0.85, 0u8..6)),
            1..4,
        ),
    )
        .prop_map(|(named, blocks, dests)| IstioRule {
            named,
            blocks,
            dests,
        })
}

#[derive(Clone, Debug)]
struct IstioVs {
    name: u8,
    timestamp: Option<u8>,
    hosts: u8,
    rules: Vec<IstioRule>,
}

#[derive(Clone, Debug)]
struct IstioCase {
    services: Vec<IstioVs>,
    requests: Vec<RequestSeed>,
}

fn istio_case() -> impl Strategy<Value = IstioCase> {
    let vs = (
        any::<u8>(),
        prop::option::of(0u8..2),
        1u8..4,
        prop::collection::vec(istio_rule(), 1..13),
    )
        .prop_map(|(name, timestamp, hosts, rules)| IstioVs {
            name,
            timestamp,
            hosts,
            rules,
        });
    (
        prop::collection::vec(vs, 1..4),
        prop::collection::vec(request_seed(), REQUESTS),
    )
        .prop_map(|(services, requests)| IstioCase { services, requests })
}

/// A StringMatch for a header or query value (`values` is the pool of the condition).
fn istio_value(c: &Cond, values: &[&str], lit_value: &mut Option<String>) -> Value {
    match c {
        Cond::Exact(i) => {
            let v = pick(values, *i);
            *lit_value = Some(v.to_string());
            json!({"exact": v})
        }
        Cond::Prefix(i) => {
            // Istio refuses an empty prefix outside `uri`.
            let v = pick(values, *i);
            let v = if v.is_empty() {
                "a"
            } else {
                &v[..v.len().min(2)]
            };
            *lit_value = Some(v.to_string());
            json!({"prefix": v})
        }
        Cond::Regex(i, t) => {
            let v = pick(values, *i);
            *lit_value = Some(v.to_string());
            let v = if v.is_empty() { "x" } else { v };
            json!({"regex": regex_from(v, *t)})
        }
        Cond::Present => json!({}),
        Cond::Star => json!({"regex": "*"}),
    }
}

fn istio_config(case: &IstioCase) -> (String, Literals) {
    let mut lit = Literals::default();
    let mut docs = Vec::new();
    for svc in DEST_SERVICES {
        docs.push(json!({
            "apiVersion": "networking.istio.io/v1",
            "kind": "DestinationRule",
            "metadata": {"name": svc, "namespace": "default"},
            "spec": {"host": svc, "subsets": [
                {"name": "v1", "labels": {"version": "v1"}},
                {"name": "v2", "labels": {"version": "v2"}},
            ]},
        }));
    }
    let mut used_names = Vec::new();
    for (k, vs) in case.services.iter().enumerate() {
        let mut name = format!("vs-{}", (b'a' + vs.name % 4) as char);
        if used_names.contains(&name) {
            name = format!("{name}{k}");
        }
        used_names.push(name.clone());
        let hosts: Vec<&str> = VS_HOSTS
            .iter()
            .enumerate()
            .filter(|(i, _)| vs.hosts & (1 << i) != 0)
            .map(|(_, h)| *h)
            .collect();
        for h in &hosts {
            let forms = if h.contains('.') {
                vec![h.to_string()]
            } else {
                vec![
                    h.to_string(),
                    format!("{h}.default"),
                    format!("{h}.default.svc.cluster.local"),
                ]
            };
            for form in forms {
                if !lit.hosts.contains(&form) {
                    lit.hosts.push(form);
                }
            }
        }
        let mut http = Vec::new();
        for (i, r) in vs.rules.iter().enumerate() {
            let mut rule = serde_json::Map::new();
            if r.named {
                rule.insert("name".into(), json!(format!("r{i}")));
            }
            if let Some(blocks) = &r.blocks {
                let blocks: Vec<Value> = blocks
                    .iter()
                    .map(|b| istio_block_value(b, &hosts, &mut lit))
                    .collect();
                rule.insert("match".into(), Value::Array(blocks));
            }
            // Several destinations need a positive total: when none has one, the last gets 1.
            let mut weights: Vec<Option<u32>> =
                r.dests.iter().map(|(_, _, w)| w.map(u32::from)).collect();
            if weights.len() > 1 && weights.iter().all(|w| w.unwrap_or(0) == 0) {
                *weights.last_mut().expect("several") = Some(1);
            }
            let route: Vec<Value> = r
                .dests
                .iter()
                .zip(&weights)
                .map(|((s, subset, _), w)| {
                    let svc = pick(DEST_SERVICES, *s);
                    let host = if s % 2 == 0 {
                        svc.to_string()
                    } else {
                        format!("{svc}.default.svc.cluster.local")
                    };
                    let mut d = json!({"destination": {"host": host}});
                    if *subset > 0 {
                        d["destination"]["subset"] = json!(format!("v{subset}"));
                    }
                    if let Some(w) = w {
                        d["weight"] = json!(w);
                    }
                    d
                })
                .collect();
            rule.insert("route".into(), Value::Array(route));
            http.push(Value::Object(rule));
        }
        let mut meta = json!({"name": name, "namespace": "default"});
        if let Some(t) = vs.timestamp {
            meta["creationTimestamp"] = json!(TIMESTAMPS[usize::from(t)]);
        }
        docs.push(json!({
            "apiVersion": "networking.istio.io/v1",
            "kind": "VirtualService",
            "metadata": meta,
            "spec": {"hosts": hosts, "http": http},
        }));
    }
    (yaml_stream(&docs), lit)
}

/// Istio validation takes `regex: "*"` as a presence match only under `withoutHeaders`;
/// elsewhere it is a regex that does not compile (SEMANTICS §4.1 rule 9), so the generator
/// writes `{}` there instead.
fn no_star(c: &Cond) -> &Cond {
    match c {
        Cond::Star => &Cond::Present,
        c => c,
    }
}

fn istio_block_value(b: &IstioBlock, hosts: &[&str], lit: &mut Literals) -> Value {
    let mut m = serde_json::Map::new();
    if let Some((kind, p, t)) = b.uri {
        let path = pick(PATHS, p);
        lit.path(path);
        let v = match kind % 3 {
            0 => json!({"exact": path}),
            1 => json!({"prefix": path}),
            _ => json!({"regex": regex_from(path, t)}),
        };
        m.insert("uri".into(), v);
        if b.ignore_case {
            m.insert("ignoreUriCase".into(), json!(true));
        }
    }
    if let Some(c) = &b.method {
        let mut seen = None;
        let v = match c {
            Cond::Present | Cond::Star => json!({"exact": "GET"}),
            c => istio_value(c, METHODS, &mut seen),
        };
        if let Some(s) = seen {
            lit.methods.push(s);
        }
        m.insert("method".into(), v);
    }
    if let Some(a) = b.authority {
        let h = pick(hosts, a);
        let v = match a % 3 {
            0 => json!({"exact": h}),
            1 => json!({"prefix": &h[..3]}),
            _ => json!({"regex": format!("{}(:[0-9]+)?", regex::escape(h))}),
        };
        m.insert("authority".into(), v);
    }
    let mut headers = serde_json::Map::new();
    for (n, c) in &b.headers {
        let name = pick(HEADER_NAMES, *n);
        if headers.contains_key(name) {
            continue;
        }
        let mut seen = None;
        headers.insert(
            name.into(),
            istio_value(no_star(c), HEADER_VALUES, &mut seen),
        );
        lit.headers
            .push((name.to_string(), seen.unwrap_or_else(|| "beta".into())));
    }
    if !headers.is_empty() {
        m.insert("headers".into(), Value::Object(headers));
    }
    let mut without = serde_json::Map::new();
    for (n, c) in &b.without {
        let name = pick(HEADER_NAMES, n.wrapping_add(1));
        if without.contains_key(name) {
            continue;
        }
        let mut seen = None;
        without.insert(name.into(), istio_value(c, HEADER_VALUES, &mut seen));
        lit.headers
            .push((name.to_string(), seen.unwrap_or_else(|| "v1".into())));
    }
    if !without.is_empty() {
        m.insert("withoutHeaders".into(), Value::Object(without));
    }
    let mut query = serde_json::Map::new();
    for (n, c) in &b.query {
        let name = pick(QUERY_NAMES, *n);
        if query.contains_key(name) {
            continue;
        }
        let mut seen = None;
        query.insert(
            name.into(),
            istio_value(no_star(c), QUERY_VALUES, &mut seen),
        );
        lit.queries
            .push((name.to_string(), seen.unwrap_or_else(|| "1".into())));
    }
    if !query.is_empty() {
        m.insert("queryParams".into(), Value::Object(query));
    }
    Value::Object(m)
}

// ---------------------------------------------------------------------------------------------
// Gateway API
// ---------------------------------------------------------------------------------------------

const ROUTE_HOSTNAMES: &[&str] = &["a.example.com", "b.example.com", "*.example.com"];
const ROUTE_NAMESPACES: &[&str] = &["app", "web"];
const BACKENDS: &[&str] = &["svc-a", "svc-b", "svc-c", "missing"];
/// Header values: the Gateway API refuses empty ones.
const GW_HEADER_VALUES: &[&str] = &["alpha", "beta", "Beta", "v1", "v1.2", "a,b"];
const GW_QUERY_VALUES: &[&str] = &["1", "true", "TRUE", "x y"];

#[derive(Clone, Debug)]
struct GwMatch {
    /// kind (0 none, 1 Exact, 2 PathPrefix, 3 PathPrefix with `/`, 4 RegularExpression), path,
    /// regex template
    path: (u8, u8, u8),
    /// (name, value, regex?, upper-case name?)
    headers: Vec<(u8, u8, bool, bool)>,
    query: Vec<(u8, u8, bool)>,
    method: Option<u8>,
}

fn gw_match() -> impl Strategy<Value = GwMatch> {
    (
        (0u8..5, any::<u8>(), any::<u8>()),
        prop::collection::vec(
            (
                any::<u8>(),
                any::<u8>(),
                prop::bool::weighted(0.3),
                prop::bool::weighted(0.2),
            ),
            0..3,
        ),
        prop::collection::vec((any::<u8>(), any::<u8>(), prop::bool::weighted(0.3)), 0..2),
        prop::option::weighted(0.25, any::<u8>()),
    )
        .prop_map(|(path, headers, query, method)| GwMatch {
            path,
            headers,
            query,
            method,
        })
}

#[derive(Clone, Debug)]
struct GwRule {
    matches: Vec<GwMatch>,
    backends: Vec<(u8, Option<u8>)>,
}

fn gw_rule() -> impl Strategy<Value = GwRule> {
    (
        prop::collection::vec(gw_match(), 0..4),
        prop_oneof![
            1 => Just(Vec::new()),
            12 => prop::collection::vec(
                (any::<u8>(), prop::option::weighted(0.6, 0u8..6)),
                1..4
            ),
        ],
    )
        .prop_map(|(matches, backends)| GwRule { matches, backends })
}

#[derive(Clone, Debug)]
struct GwRoute {
    name: u8,
    namespace: u8,
    timestamp: u8,
    hostnames: u8,
    rules: Vec<GwRule>,
}

#[derive(Clone, Debug)]
struct GwCase {
    same_namespace_only: bool,
    routes: Vec<GwRoute>,
    requests: Vec<RequestSeed>,
}

fn gw_case() -> impl Strategy<Value = GwCase> {
    let route = (
        any::<u8>(),
        any::<u8>(),
        0u8..3,
        0u8..8,
        prop::collection::vec(gw_rule(), 1..7),
    )
        .prop_map(|(name, namespace, timestamp, hostnames, rules)| GwRoute {
            name,
            namespace,
            timestamp,
            hostnames,
            rules,
        });
    (
        prop::bool::weighted(0.1),
        prop::collection::vec(route, 1..4),
        prop::collection::vec(request_seed(), REQUESTS),
    )
        .prop_map(|(same_namespace_only, routes, requests)| GwCase {
            same_namespace_only,
            routes,
            requests,
        })
}

fn gw_config(case: &GwCase) -> (String, Literals) {
    let mut lit = Literals {
        hosts: vec![
            "a.example.com".into(),
            "b.example.com".into(),
            "c.example.com".into(),
            "other.test".into(),
        ],
        ..Literals::default()
    };
    let from = if case.same_namespace_only {
        "Same"
    } else {
        "All"
    };
    let mut docs = vec![json!({
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "Gateway",
        "metadata": {"name": "gw", "namespace": "infra"},
        "spec": {"gatewayClassName": "example", "listeners": [
            {"name": "http", "port": 80, "protocol": "HTTP",
             "allowedRoutes": {"namespaces": {"from": from}}},
        ]},
    })];
    for ns in ROUTE_NAMESPACES.iter().chain(["infra"].iter()) {
        for b in &BACKENDS[..3] {
            docs.push(json!({
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": b, "namespace": ns},
                "spec": {"ports": [{"port": 8080}]},
            }));
        }
    }
    let mut used = Vec::new();
    for (k, r) in case.routes.iter().enumerate() {
        let ns = if r.namespace % 5 == 0 {
            "infra"
        } else {
            pick(ROUTE_NAMESPACES, r.namespace)
        };
        let mut name = format!("route-{}", (b'a' + r.name % 4) as char);
        if used.contains(&(ns, name.clone())) {
            name = format!("{name}{k}");
        }
        used.push((ns, name.clone()));
        let hostnames: Vec<&str> = ROUTE_HOSTNAMES
            .iter()
            .enumerate()
            .filter(|(i, _)| r.hostnames & (1 << i) != 0)
            .map(|(_, h)| *h)
            .collect();
        let rules: Vec<Value> = r
            .rules
            .iter()
            .map(|rule| gw_rule_value(rule, &mut lit))
            .collect();
        docs.push(json!({
            "apiVersion": "gateway.networking.k8s.io/v1",
            "kind": "HTTPRoute",
            "metadata": {"name": name, "namespace": ns,
                         "creationTimestamp": TIMESTAMPS[usize::from(r.timestamp) % 2]},
            "spec": {"parentRefs": [{"name": "gw", "namespace": "infra"}],
                     "hostnames": hostnames, "rules": rules},
        }));
    }
    (yaml_stream(&docs), lit)
}

fn gw_rule_value(rule: &GwRule, lit: &mut Literals) -> Value {
    let mut matches = Vec::new();
    for m in &rule.matches {
        let mut x = serde_json::Map::new();
        let (kind, p, t) = m.path;
        // Half the paths from a few nested ones, so that prefixes of one path meet often.
        let path = if p & 0x80 != 0 {
            pick(&PATHS[1..4], p)
        } else {
            pick(PATHS, p)
        };
        if kind > 0 {
            lit.path(path);
        }
        match kind {
            1 => {
                x.insert("path".into(), json!({"type": "Exact", "value": path}));
            }
            2 => {
                x.insert("path".into(), json!({"type": "PathPrefix", "value": path}));
            }
            3 => {
                let v = if path.ends_with('/') {
                    path.to_string()
                } else {
                    format!("{path}/")
                };
                x.insert("path".into(), json!({"type": "PathPrefix", "value": v}));
            }
            4 => {
                x.insert(
                    "path".into(),
                    json!({"type": "RegularExpression", "value": regex_from(path, t)}),
                );
            }
            _ => {}
        }
        let mut headers = Vec::new();
        let mut names: Vec<String> = Vec::new();
        for (n, v, re, upper) in &m.headers {
            let name = pick(HEADER_NAMES, *n);
            let value = pick(GW_HEADER_VALUES, *v);
            lit.headers.push((name.to_string(), value.to_string()));
            let name = if *upper {
                name.to_ascii_uppercase()
            } else {
                name.to_string()
            };
            // An exact duplicate name is refused; one that differs in case is kept (and
            // ignored, as the specification says).
            if names.contains(&name) {
                continue;
            }
            names.push(name.clone());
            headers.push(if *re {
                json!({"type": "RegularExpression", "name": name, "value": regex_from(value, *v)})
            } else if v % 2 == 0 {
                json!({"name": name, "value": value})
            } else {
                json!({"type": "Exact", "name": name, "value": value})
            });
        }
        if !headers.is_empty() {
            x.insert("headers".into(), Value::Array(headers));
        }
        let mut query = Vec::new();
        let mut qnames: Vec<&str> = Vec::new();
        for (n, v, re) in &m.query {
            let name = pick(QUERY_NAMES, *n);
            if qnames.contains(&name) {
                continue;
            }
            qnames.push(name);
            let value = pick(GW_QUERY_VALUES, *v);
            lit.queries.push((name.to_string(), value.to_string()));
            query.push(if *re {
                json!({"type": "RegularExpression", "name": name, "value": regex_from(value, *v)})
            } else {
                json!({"type": "Exact", "name": name, "value": value})
            });
        }
        if !query.is_empty() {
            x.insert("queryParams".into(), Value::Array(query));
        }
        if let Some(mm) = m.method {
            let method = pick(METHODS, mm);
            lit.methods.push(method.to_string());
            x.insert("method".into(), json!(method));
        }
        matches.push(Value::Object(x));
    }
    let backends: Vec<Value> = rule
        .backends
        .iter()
        .map(|(b, w)| {
            let mut v = json!({"name": pick(BACKENDS, *b), "port": 8080});
            if let Some(w) = w {
                v["weight"] = json!(w);
            }
            v
        })
        .collect();
    let mut r = serde_json::Map::new();
    if !matches.is_empty() {
        r.insert("matches".into(), Value::Array(matches));
    }
    r.insert("backendRefs".into(), Value::Array(backends));
    Value::Object(r)
}

// ---------------------------------------------------------------------------------------------
// The comparison
// ---------------------------------------------------------------------------------------------

/// What a run saw, to rule out a vacuous pass.
#[derive(Default)]
struct Tally {
    cases: Cell<u32>,
    rejected: Cell<u32>,
    requests: Cell<u32>,
    matched: Cell<u32>,
    later_rule: Cell<u32>,
    no_route: Cell<u32>,
}

fn bump(c: &Cell<u32>) {
    c.set(c.get() + 1);
}

/// Compiles `text` and checks every request against the oracle.
fn check_case(
    text: &str,
    requests: &[OwnedRequest],
    draws: &[u64],
    tally: &Tally,
) -> Result<(), TestCaseError> {
    bump(&tally.cases);
    let config = Config::from_str(text, "generated")
        .map_err(|e| TestCaseError::fail(format!("does not load: {e}\n{text}")))?;
    let compiled = compile(&config, &CompileOptions::default())
        .map_err(|e| TestCaseError::fail(format!("lenient compile failed: {e}")))?;
    if !config.rejected.is_empty() || !compiled.rejected.is_empty() {
        bump(&tally.rejected);
        if std::env::var("ORACLE_SHOW_REJECTED").is_ok() {
            for e in compiled.errors() {
                eprintln!("rejected: {e}");
            }
        }
        return Ok(());
    }
    for (req, &draw) in requests.iter().zip(draws) {
        bump(&tally.requests);
        let expected = match oracle::decide(&config, req, draw) {
            Ok(a) => a,
            Err(oracle::Unsupported(what)) => {
                return Err(TestCaseError::fail(format!(
                    "the oracle does not model {what}\n{text}"
                )));
            }
        };
        let d = compiled.table.decide_with_draw(req, draw);
        let got = oracle::observe(&compiled.table, &d);
        prop_assert_eq!(
            &got,
            &expected,
            "table (left) and oracle (right) disagree\nrequest: {:?}\ndraw: {}\nconfig:\n{}",
            req,
            draw,
            text
        );
        match got.outcome {
            Kind::Matched => {
                bump(&tally.matched);
                let r = got.rule.as_ref().expect("matched answers name the rule");
                if r.index > 0 {
                    bump(&tally.later_rule);
                }
            }
            Kind::NoRoute => bump(&tally.no_route),
            _ => {}
        }
    }
    Ok(())
}

fn runner() -> TestRunner {
    TestRunner::new(RunnerConfig {
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource(
            "proptest-regressions",
        ))),
        source_file: Some(file!()),
        ..RunnerConfig::default()
    })
}

fn assert_not_vacuous(name: &str, t: &Tally) {
    let (cases, rejected, requests) = (t.cases.get(), t.rejected.get(), t.requests.get());
    eprintln!(
        "{name}: {cases} configurations ({rejected} rejected), {requests} requests: {} matched, \
         {} by a rule other than the first, {} no route",
        t.matched.get(),
        t.later_rule.get(),
        t.no_route.get()
    );
    assert!(
        rejected * 10 <= cases,
        "{rejected} of {cases} generated configurations were rejected"
    );
    assert!(requests > 0);
    assert!(
        t.matched.get() * 4 >= requests,
        "only {} of {requests} requests matched a rule",
        t.matched.get()
    );
    assert!(
        t.later_rule.get() * 10 >= requests,
        "only {} of {requests} requests matched a rule other than the first",
        t.later_rule.get()
    );
    assert!(t.no_route.get() > 0, "no request went unmatched");
}

#[test]
fn istio_table_agrees_with_the_oracle() {
    let tally = Tally::default();
    let result = runner().run(&istio_case(), |case| {
        let (text, lit) = istio_config(&case);
        let requests: Vec<OwnedRequest> = case
            .requests
            .iter()
            .map(|s| build_request(&lit, s))
            .collect();
        let draws: Vec<u64> = case.requests.iter().map(|s| s.draw).collect();
        check_case(&text, &requests, &draws, &tally)
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    assert_not_vacuous("istio", &tally);
}

#[test]
fn gateway_api_table_agrees_with_the_oracle() {
    let tally = Tally::default();
    let result = runner().run(&gw_case(), |case| {
        let (text, lit) = gw_config(&case);
        let requests: Vec<OwnedRequest> = case
            .requests
            .iter()
            .map(|s| {
                let mut r = build_request(&lit, s);
                r.source_namespace = None;
                r.gateway = Some(("infra".into(), "gw".into()));
                r.port = Some(if s.host_mutation % 16 == 15 { 8080 } else { 80 });
                r
            })
            .collect();
        let draws: Vec<u64> = case.requests.iter().map(|s| s.draw).collect();
        check_case(&text, &requests, &draws, &tally)
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    assert_not_vacuous("gateway-api", &tally);
}

/// The fragment is stripped from `:path` before routing (Istio's setting; RFC 3986 §3.5: the
/// query ends where the fragment begins), so in `/#frag?q=1` there is no query parameter `q`.
#[test]
fn fragment_hides_the_query() {
    let text = "\
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: web, namespace: default}
spec:
  hosts: [web.example.com]
  http:
  - match: [{queryParams: {q: {exact: \"1\"}}}]
    route: [{destination: {host: reviews}}]
";
    let config = Config::from_str(text, "inline").unwrap();
    let compiled = compile(&config, &CompileOptions::default()).unwrap();
    assert!(compiled.rejected.is_empty());
    let req = OwnedRequest::new("GET", "http://web.example.com/#frag?q=1");
    let expected = oracle::decide(&config, &req, 0).unwrap();
    assert_eq!(expected.outcome, Kind::NoRoute);
    let got = oracle::observe(&compiled.table, &compiled.table.decide_with_draw(&req, 0));
    assert_eq!(got, expected);
}
