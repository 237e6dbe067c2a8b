//! `Table::explain` agrees with `Table::decide_with_draw` on every case of every fixture in
//! `tests/data/*.yaml` (same outcome, status, winner, destination, fault and mirror results),
//! and a few explanations are pinned word for word.

use std::path::Path;

mod common;
use common::request;

use meshroute::explain::{HostMatch, PortGroup, SplitBy, Verdict, WinnerAction};
use meshroute::{CompileOptions, Config, Decision, Explain, Outcome, OwnedRequest, Table, compile};
use serde_json::{Value, json};

fn outcome(d: &Decision<'_>) -> &'static str {
    match d.outcome {
        Outcome::Matched(_) => "matched",
        Outcome::NoRoute { .. } => "no_route",
        Outcome::Passthrough => "passthrough",
        Outcome::NoVirtualHost => "no_virtual_host",
        Outcome::BadRequest { .. } => "bad_request",
        Outcome::PassthroughCluster => "passthrough_cluster",
        Outcome::BlackHole => "black_hole",
        _ => "other",
    }
}

/// Every disagreement between the explanation and the decision.
fn disagreements(table: &Table, req: &OwnedRequest, d: &Decision<'_>, e: &Explain) -> Vec<String> {
    let mut out = Vec::new();
    let mut check = |what: &str, want: String, got: String| {
        if want != got {
            out.push(format!("{what}: decide says {want}, explain says {got}"));
        }
    };
    check("outcome", outcome(d).into(), e.outcome.into());
    // A preflight the CORS filter answers gets 200 whatever routing would answer.
    let cors = d.cors(req);
    let status = cors.and_then(|c| c.status()).unwrap_or_else(|| d.status());
    check("status", status.to_string(), e.status.to_string());
    let explained = e.winner.as_ref().and_then(|w| w.cors.as_ref());
    check(
        "cors",
        format!(
            "{:?}",
            cors.map(|c| (c.kind.as_str(), c.answered, c.response_headers().count()))
        ),
        format!(
            "{:?}",
            explained.map(|c| (c.request, c.answered, c.response_headers.len()))
        ),
    );
    check(
        "port",
        format!("{:?}", d.port),
        format!("{:?}", e.port.map(|p| p.number)),
    );
    check(
        "destination rule",
        format!(
            "{:?}",
            table
                .destination_rule(d, req)
                .map(|r| (r.host.to_string(), r.names.to_vec()))
        ),
        format!(
            "{:?}",
            e.destination_rule.as_ref().map(|r| (
                r.host.clone(),
                r.names
                    .iter()
                    .map(|n| Box::<str>::from(n.as_str()))
                    .collect::<Vec<_>>()
            ))
        ),
    );
    // A request on a TLS port is explained as its connection: no HTTP candidates, and the
    // connection's explanation names the rule and destination decide picked.
    if let Some(t) = &e.tls_port {
        check(
            "HTTP candidates",
            "[]".into(),
            format!("{:?}", e.candidates),
        );
        check(
            "connection outcome",
            e.outcome.into(),
            t.connection.outcome.into(),
        );
        check(
            "connection destination",
            format!(
                "{:?}",
                d.destination()
                    .map(|x| format!("{} port {}", x.host, d.port.unwrap_or(0)))
            ),
            format!("{:?}", t.connection.destination),
        );
        check(
            "connection rule",
            format!(
                "{:?}",
                d.matched().and_then(|m| m.connection).map(|c| c.path())
            ),
            format!(
                "{:?}",
                t.connection
                    .decided_by
                    .as_ref()
                    .and_then(|b| b.rsplit(' ').next())
            ),
        );
        return out;
    }
    let won: Vec<usize> = (e.candidates.iter().enumerate())
        .filter(|(_, c)| c.verdict == Verdict::Won)
        .map(|(i, _)| i)
        .collect();
    for c in &e.candidates {
        if let Verdict::Failed { field, seen } = &c.verdict {
            check(
                "failed field is under the entry",
                format!("{}.*", c.at),
                if field.starts_with(&format!("{}.", c.at)) {
                    format!("{}.*", c.at)
                } else {
                    field.clone()
                },
            );
            check(
                "seen is stated",
                "non-empty".into(),
                if seen.is_empty() {
                    "empty"
                } else {
                    "non-empty"
                }
                .into(),
            );
        }
    }
    let Some(m) = d.matched() else {
        check(
            "winner",
            "None".into(),
            format!("{:?}", e.winner.as_ref().map(|w| w.candidate)),
        );
        check("winning candidates", "[]".into(), format!("{won:?}"));
        return out;
    };
    let Some(w) = &e.winner else {
        out.push("explain has no winner".into());
        return out;
    };
    check(
        "winner is the last candidate",
        format!("[{}]", e.candidates.len() - 1),
        format!("{won:?}"),
    );
    check(
        "winner index",
        (e.candidates.len() - 1).to_string(),
        w.candidate.to_string(),
    );
    let c = &e.candidates[w.candidate];
    let src = table.source_of(m.rule);
    check(
        "rule",
        format!(
            "{} {}/{} #{} block {:?}",
            src.kind, src.namespace, src.name, m.rule.index, m.block
        ),
        format!("{} #{} block {:?}", c.resource, c.rule, c.block),
    );
    check("route name", m.route_name().into(), c.route_name.clone());
    let dest =
        |host: &str, subset: Option<&str>, port: Option<u16>| format!("{host} {subset:?} {port:?}");
    check(
        "destination",
        format!(
            "{:?}",
            d.destination()
                .map(|x| dest(&x.host, x.subset.as_deref(), x.port))
        ),
        format!(
            "{:?}",
            w.destination
                .as_ref()
                .map(|x| dest(&x.host, x.subset.as_deref(), x.port))
        ),
    );
    check(
        "unavailable",
        format!(
            "{:?}",
            d.matched().and_then(|m| m.unavailable).map(|u| u.reason())
        ),
        format!("{:?}", w.unavailable),
    );
    let hit = |kind: &str| w.faults.iter().any(|f| f.kind == kind && f.hit);
    check(
        "delay",
        m.delay.is_some().to_string(),
        hit("delay").to_string(),
    );
    check(
        "abort",
        m.abort.is_some().to_string(),
        hit("abort").to_string(),
    );
    let mirrored: Vec<String> = d
        .mirrors()
        .map(|x| x.destination.host.to_string())
        .collect();
    let explained: Vec<String> = (w.mirrors.iter())
        .filter(|x| x.hit)
        .map(|x| x.destination.host.clone())
        .collect();
    check("mirrors", format!("{mirrored:?}"), format!("{explained:?}"));
    if let WinnerAction::Forward(s) = &w.action {
        let picked = s.picked.map(|j| s.destinations[j].destination.clone());
        check(
            "picked entry is the destination",
            format!("{:?}", w.destination),
            format!("{picked:?}"),
        );
        if let (SplitBy::Draw { u }, Some(j)) = (&s.by, s.picked) {
            let e = &s.destinations[j];
            check(
                "u in the picked interval",
                "true".into(),
                (e.start <= *u && *u < e.end).to_string(),
            );
            check(
                "u = draw % total",
                (d.draw % s.total).to_string(),
                u.to_string(),
            );
        }
        check(
            "sticky hash",
            format!("{:?}", m.sticky_hash),
            format!(
                "{:?}",
                match s.by {
                    SplitBy::Sticky { hash } => Some(hash),
                    _ => None,
                }
            ),
        );
    }
    out
}

#[test]
fn explain_agrees_with_decide_on_every_fixture_case() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().and_then(|e| e.to_str()) == Some("yaml"))
        .collect();
    files.sort();
    let mut failures = Vec::new();
    let (mut cases, mut matched, mut failed_conditions) = (0, 0, 0);
    for file in &files {
        let name = file.file_name().unwrap().to_string_lossy().to_string();
        let text = std::fs::read_to_string(file).unwrap();
        let f: Value = serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
        let config = Config::from_str(f["config"].as_str().unwrap(), &name)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let table = compile(&config, &CompileOptions::default()).unwrap().table;
        for case in f["cases"].as_array().into_iter().flatten() {
            cases += 1;
            let label = format!(
                "{name}: {}",
                case["name"].as_str().unwrap_or("(unnamed case)")
            );
            let req = request(&case["request"]);
            // The fixture's draw, and a few more to exercise every split interval.
            let draws = [
                case["draw"].as_u64().unwrap_or(0),
                1,
                37,
                99,
                999_999,
                u64::MAX,
            ];
            for draw in draws {
                let d = table.decide_with_draw(&req, draw);
                let e = table.explain(&req, draw);
                matched += usize::from(d.matched().is_some());
                failed_conditions += e
                    .candidates
                    .iter()
                    .filter(|c| c.verdict != Verdict::Won)
                    .count();
                for problem in disagreements(&table, &req, &d, &e) {
                    failures.push(format!("{label} (draw {draw}): {problem}\n{e}"));
                }
                let j = e.to_json();
                if j["outcome"] != json!(e.outcome) || j["status"] != json!(e.status) {
                    failures.push(format!("{label}: JSON disagrees: {j}"));
                }
                assert!(!e.to_string().is_empty());
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} disagreements in {cases} cases:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(cases > 300, "only {cases} cases");
    assert!(matched > 0 && failed_conditions > 0);
}

const BOOKINFO: &str = include_str!("../examples/bookinfo.yaml");

#[test]
fn istio_header_miss_then_weighted_split_as_text() {
    let table = Table::from_yaml(BOOKINFO).unwrap();
    let req =
        OwnedRequest::new("GET", "http://reviews:9080/reviews/0?x=1").from_namespace("default");
    let e = table.explain(&req, 95);
    assert_eq!(
        e.to_string(),
        "\
request: GET reviews:9080 /reviews/0?x=1 (draw 95)
context: mesh, source namespace default
port group: all ports
host: \"reviews\": short name expanded to reviews.default.svc.cluster.local, virtual host reviews.default.svc.cluster.local
claim: VirtualService default/reviews (visible to every namespace), claim 1 of 1, 2 entries
candidates:
  1. VirtualService default/reviews spec.http[0].match[0] (route \"jason\"): failed at spec.http[0].match[0].headers[end-user]: end-user: absent
  2. VirtualService default/reviews spec.http[1] (route \"shift\"): won
outcome: matched, status 200
split: draw 95 % 100 = 95
  [0, 80) reviews.default.svc.cluster.local subset v1 weight 80
  [80, 100) reviews.default.svc.cluster.local subset v3 weight 20 <- picked
destination: reviews.default.svc.cluster.local subset v3
retries: 2 retries on connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes, backoff full jitter from 25 ms doubling to 250 ms, avoiding endpoints already tried (mesh default)
port: 9080 (the port the request was addressed to)
destination rule: default/reviews for host reviews.default.svc.cluster.local
"
    );
    assert_eq!(
        e.host.found_by,
        HostMatch::ShortName {
            expanded: "reviews.default.svc.cluster.local".into()
        }
    );
    assert_eq!(e.port_group, Some(PortGroup::AllPorts));
}

const SHOP: &str = r#"
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: edge, namespace: infra}
spec:
  gatewayClassName: example
  listeners: [{name: http, port: 80, protocol: HTTP}]
---
apiVersion: v1
kind: Service
metadata: {name: api-v1, namespace: infra}
spec: {ports: [{name: http, port: 8080}]}
---
apiVersion: v1
kind: Service
metadata: {name: api-v2, namespace: infra}
spec: {ports: [{name: http, port: 8080}]}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: shop, namespace: infra}
spec:
  parentRefs: [{name: edge}]
  hostnames: [shop.example.com]
  rules:
  - name: api
    matches:
    - path: {type: Exact, value: /health}
    - path: {type: PathPrefix, value: /api}
      method: POST
      headers:
      - {name: X-Tenant, value: acme}
      - {name: x-tenant, value: ignored}
      - {name: X-Build, type: RegularExpression, value: "v[0-9]+"}
      queryParams: [{name: page, value: "1"}]
    backendRefs:
    - {name: api-v1, port: 8080, weight: 3}
    - {name: api-v2, port: 8080, weight: 1}
"#;

fn at_edge(method: &str, url: &str) -> OwnedRequest {
    OwnedRequest::new(method, url)
        .at_gateway("infra", "edge")
        .with_port(80)
}

fn failures(e: &Explain) -> Vec<(String, String)> {
    e.candidates
        .iter()
        .filter_map(|c| match &c.verdict {
            Verdict::Failed { field, seen } => Some((field.clone(), seen.clone())),
            _ => None,
        })
        .collect()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

#[test]
fn gateway_api_failures_name_the_route_s_own_fields() {
    let table = Table::from_yaml(SHOP).unwrap();
    let api =
        || at_edge("POST", "http://shop.example.com/api/items?page=1").header("x-tenant", "acme");
    // `headers[2]`: the duplicate `x-tenant` at headers[1] is ignored, so the regex is the
    // second compiled condition but the third written one.
    let e = table.explain(&api().header("x-build", "dev"), 0);
    assert_eq!(
        failures(&e),
        pairs(&[
            (
                "spec.rules[0].matches[0].path",
                r#":path "/api/items" is not Exact "/health""#
            ),
            (
                "spec.rules[0].matches[1].headers[2]",
                r#"x-build "dev" is not RegularExpression "v[0-9]+""#
            ),
        ])
    );
    assert_eq!((e.outcome, e.status), ("no_route", 404));
    let e = table.explain(&at_edge("GET", "http://shop.example.com/api"), 0);
    assert_eq!(
        failures(&e)[1],
        (
            "spec.rules[0].matches[1].method".into(),
            r#":method "GET" is not Exact "POST""#.into()
        )
    );
    let e = table.explain(&at_edge("POST", "http://shop.example.com/apis"), 0);
    assert_eq!(
        failures(&e)[1],
        (
            "spec.rules[0].matches[1].path".into(),
            r#":path "/apis" is not PathPrefix "/api""#.into()
        )
    );
    let e = table.explain(&api().header("x-build", "v2").header("x-tenant", "x"), 0);
    assert_eq!(
        failures(&e)[1],
        (
            "spec.rules[0].matches[1].headers[0]".into(),
            r#"x-tenant "acme,x" is not Exact "acme""#.into()
        )
    );
    let e = table.explain(
        &at_edge("POST", "http://shop.example.com/api?page=2")
            .header("x-tenant", "acme")
            .header("x-build", "v1"),
        0,
    );
    assert_eq!(
        failures(&e)[1],
        (
            "spec.rules[0].matches[1].queryParams[0]".into(),
            r#"query parameter page "2" is not Exact "1""#.into()
        )
    );
    let e = table.explain(&api().header("x-build", "v2"), 7);
    assert_eq!(
        e.to_string(),
        r#"request: POST shop.example.com /api/items?page=1 (draw 7)
context: gateway infra/edge, source namespace default
port group: port 80
host: "shop.example.com": exact, virtual host shop.example.com
claim: HTTPRoute infra/shop (visible to every namespace), claim 1 of 1, 2 entries
candidates:
  1. HTTPRoute infra/shop spec.rules[0].matches[0] (route "api"): failed at spec.rules[0].matches[0].path: :path "/api/items" is not Exact "/health"
  2. HTTPRoute infra/shop spec.rules[0].matches[1] (route "api"): won
outcome: matched, status 200
split: draw 7 % 4 = 3
  [0, 3) api-v1.infra.svc.cluster.local port 8080 weight 3
  [3, 4) api-v2.infra.svc.cluster.local port 8080 weight 1 <- picked
destination: api-v2.infra.svc.cluster.local port 8080
retries: 2 retries on connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes, backoff full jitter from 25 ms doubling to 250 ms, avoiding endpoints already tried (mesh default)
port: 8080 (the destination's port)
"#
    );
    assert_eq!(e.port_group, Some(PortGroup::Port(80)));
}

#[test]
fn unknown_gateway_no_route_and_passthrough() {
    let table = Table::from_yaml(SHOP).unwrap();
    let e = table.explain(
        &OwnedRequest::new("GET", "http://shop.example.com/").at_gateway("infra", "nope"),
        3,
    );
    assert_eq!(
        e.to_string(),
        r#"request: GET shop.example.com / (draw 3)
context: gateway infra/nope (unknown gateway), source namespace default
host: "shop.example.com": no virtual host
  note: the table has no routes for this gateway
outcome: no_virtual_host, status 404
"#
    );
    assert!(!e.context_known && e.port_group.is_none() && e.winner.is_none());
    let e = table.explain(&at_edge("GET", "http://other.example.com/"), 0);
    assert_eq!((e.outcome, e.status), ("no_virtual_host", 404));
    assert_eq!(e.host.found_by, HostMatch::None);
    let table = Table::from_yaml(BOOKINFO).unwrap();
    // reviews from another namespace is that namespace's reviews: no VirtualService.
    let e = table.explain(
        &OwnedRequest::new("GET", "http://reviews/").from_namespace("other"),
        0,
    );
    assert_eq!((e.outcome, e.status), ("passthrough", 200));
    assert_eq!(e.port_group, Some(PortGroup::AllPorts));
}

#[test]
fn explain_as_json() {
    let table = Table::from_yaml(BOOKINFO).unwrap();
    let req =
        OwnedRequest::new("GET", "http://reviews:9080/reviews/0?x=1").from_namespace("default");
    let resource = json!({"kind": "VirtualService", "namespace": "default", "name": "reviews"});
    let reviews = |subset: &str| json!({"host": "reviews.default.svc.cluster.local", "subset": subset, "port": null});
    assert_eq!(
        table.explain(&req, 95).to_json(),
        json!({
            "method": "GET",
            "path": "/reviews/0?x=1",
            "draw": 95,
            "context": {"kind": "mesh"},
            "source_namespace": "default",
            "port_group": "all",
            "port": {"number": 9080, "from": "the port the request was addressed to"},
            "destination_rule": {
                "host": "reviews.default.svc.cluster.local",
                "namespace": "default",
                "names": ["default/reviews"],
            },
            "host": {
                "authority": "reviews:9080",
                "host": "reviews",
                "found_by": "short-name",
                "expanded": "reviews.default.svc.cluster.local",
                "virtual_host": "reviews.default.svc.cluster.local",
                "notes": [],
            },
            "claim": {"index": 0, "of": 1, "resources": [resource], "visible_to": null, "entries": 2},
            "candidates": [
                {
                    "resource": resource, "rule": 0, "rule_name": "jason", "match": 0,
                    "route_name": "jason", "at": "spec.http[0].match[0]", "verdict": "failed",
                    "field": "spec.http[0].match[0].headers[end-user]", "seen": "end-user: absent",
                },
                {
                    "resource": resource, "rule": 1, "rule_name": "shift", "match": null,
                    "route_name": "shift", "at": "spec.http[1]", "verdict": "won",
                },
            ],
            "not_evaluated": 0,
            "registry": null,
            "outcome": "matched",
            "status": 200,
            "winner": {
                "candidate": 1,
                "action": {
                    "kind": "forward",
                    "split": [
                        {"destination": reviews("v1"), "weight": 80, "interval": [0, 80]},
                        {"destination": reviews("v3"), "weight": 20, "interval": [80, 100]},
                    ],
                    "total": 100,
                    "by": {"kind": "draw", "draw": 95, "total": 100, "u": 95},
                    "sticky_key": null,
                    "picked": 1,
                },
                "destination": reviews("v3"),
                "unavailable": null,
                "faults": [],
                "mirrors": [],
                "retries": "2 retries on connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes, backoff full jitter from 25 ms doubling to 250 ms, avoiding endpoints already tried (mesh default)",
                "timeout_ms": null,
                "cors": null,
            },
        })
    );
}

#[test]
fn istio_conditions_faults_and_mirrors_as_text() {
    let table = Table::from_yaml(
        r#"
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: web, namespace: prod}
spec:
  hosts: [web.example.com]
  http:
  - name: static
    match:
    - {uri: {prefix: /Static}, ignoreUriCase: true}
    route: [{destination: {host: static}}]
  - name: canary
    match:
    - name: no-debug
      withoutHeaders: {x-debug: {}}
      sourceLabels: {app: web}
    fault:
      delay: {fixedDelay: 2s, percentage: {value: 0.1}}
      abort: {httpStatus: 503, percentage: {value: 50}}
    mirrors: [{destination: {host: shadow}, percentage: {value: 25}}]
    route: [{destination: {host: web}}]
"#,
    )
    .unwrap();
    let req = OwnedRequest::new("GET", "http://web.example.com/app")
        .from_namespace("prod")
        .source_label("app", "web");
    let e = table.explain(&req.clone().header("x-debug", "1"), 0);
    assert_eq!(
        failures(&e),
        pairs(&[
            (
                "spec.http[0].match[0].uri",
                r#":path "/app" is not prefix "/Static" (ignoreUriCase)"#
            ),
            (
                "spec.http[1].match[0].withoutHeaders[x-debug]",
                r#"x-debug "1" is present"#
            ),
        ])
    );
    assert_eq!(
        failures(&table.explain(&OwnedRequest::new("GET", "http://web.example.com/app"), 0))[1],
        (
            "spec.http[1].match[0].sourceLabels[app]".into(),
            "source label app: absent".into()
        )
    );
    let e = table.explain(&req, 200_000);
    let d = table.decide_with_draw(&req, 200_000);
    let m = d.matched().unwrap();
    let w = e.winner.as_ref().unwrap();
    let roll = |kind: &str| w.faults.iter().find(|f| f.kind == kind).unwrap().roll;
    let verdict = |hit: bool, share: u32| {
        if hit {
            format!("< {share} -> hit")
        } else {
            format!(">= {share} -> not hit")
        }
    };
    let text = e.to_string();
    let tail: Vec<&str> = text
        .lines()
        .skip_while(|l| !l.starts_with("outcome"))
        .collect();
    assert_eq!(
        tail,
        [
            format!("outcome: matched, status {}", d.status()),
            "split: one destination, takes every request".into(),
            "destination: web.prod.svc.cluster.local".into(),
            format!(
                "fault delay 2s for 0.1% of requests: roll {} {}",
                roll("delay"),
                verdict(m.delay.is_some(), 1_000)
            ),
            format!(
                "fault abort http 503 for 50% of requests: roll {} {}",
                roll("abort"),
                verdict(m.abort.is_some(), 500_000)
            ),
            "mirror shadow.prod.svc.cluster.local for 25% of requests: roll draw % 1000000 = \
             200000 < 250000 -> mirrored"
                .into(),
            "retries: 2 retries on connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes, backoff full jitter from 25 ms doubling to 250 ms, avoiding endpoints already tried (mesh default)"
                .into(),
            "port: 80 (the port the request was addressed to)".into(),
        ]
    );
}

#[test]
fn sticky_splits_show_the_key_hash() {
    let table = Table::from_yaml(
        r#"
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: cart
  namespace: shop
  annotations: {meshroute.io/sticky-split: "header:x-user"}
spec:
  hosts: [cart]
  http:
  - route:
    - {destination: {host: cart, subset: v1}, weight: 50}
    - {destination: {host: cart, subset: v2}, weight: 50}
"#,
    )
    .unwrap();
    let req = OwnedRequest::new("GET", "http://cart/").from_namespace("shop");
    let keyed = req.clone().header("x-user", "alice");
    let d = table.decide_with_draw(&keyed, 0);
    let e = table.explain(&keyed, 0);
    let Some(WinnerAction::Forward(s)) = e.winner.as_ref().map(|w| &w.action) else {
        panic!("forwarding rule: {e}");
    };
    assert_eq!(
        s.by,
        SplitBy::Sticky {
            hash: d.matched().unwrap().sticky_hash.unwrap()
        }
    );
    assert_eq!(s.sticky_key.as_deref(), Some("header:x-user"));
    assert!(e.to_string().contains("split: sticky hash 0x"));
    // Without the key, the draw picks.
    let e = table.explain(&req, 7);
    assert!(
        e.to_string()
            .contains("split: sticky key header:x-user absent, draw 7 % 100 = 7"),
        "{e}"
    );
}

#[test]
fn explaining_does_not_count() {
    let config = Config::from_str(BOOKINFO, "bookinfo.yaml").unwrap();
    let mut options = CompileOptions::default();
    options.counters = true;
    let table = compile(&config, &options).unwrap().table;
    let req = OwnedRequest::new("GET", "http://reviews/").from_namespace("default");
    let before = table.metrics();
    table.explain(&req, 0);
    assert_eq!(table.metrics(), before);
    table.decide_with_draw(&req, 0);
    assert_ne!(table.metrics(), before);
}

/// Explain says what a rule's session did (GEP-1619 session persistence): a cookie naming a
/// backend picks it instead of the draw; without one the split picks and the session is new.
#[test]
fn explain_says_what_the_session_did() {
    let table = Table::from_yaml(
        r#"
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: cart, namespace: shop}
spec:
  parentRefs: [{kind: Service, group: "", name: cart}]
  rules:
  - backendRefs: [{name: v1, port: 80, weight: 50}, {name: v2, port: 80, weight: 50}]
    sessionPersistence: {sessionName: sid}
"#,
    )
    .unwrap();
    let value = meshroute::session::encode_value("v1.shop.svc.cluster.local:80");
    let pinned = OwnedRequest::new("GET", "http://cart/x")
        .from_namespace("shop")
        .header("cookie", &format!("sid={value}"));
    let e = table.explain(&pinned, 99);
    let text = e.to_string();
    assert!(text.contains("split: the session picks"), "{text}");
    assert!(
        text.contains("session: cookie \"sid\" pins the request to its backend"),
        "{text}"
    );
    let j = e.to_json();
    assert_eq!(j["winner"]["action"]["by"], json!({"kind": "session"}));
    assert_eq!(
        j["winner"]["action"]["session"],
        json!({"type": "Cookie", "name": "sid", "state": "pinned"})
    );
    let fresh = OwnedRequest::new("GET", "http://cart/x").from_namespace("shop");
    let text = table.explain(&fresh, 99).to_string();
    assert!(
        text.contains("session: cookie \"sid\" is absent: a new session, placed by the split"),
        "{text}"
    );
}

/// Explain says what the CORS filter does: a preflight answered 200 even when routing would
/// answer 503 (an undefined subset), with the headers it writes; Istio `corsPolicy` lowered as
/// istiod's `TranslateCORSPolicy` writes it.
#[test]
fn cors_preflight_answered_by_the_filter_as_text_and_json() {
    let table = Table::from_yaml(
        r#"
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: api, namespace: default}
spec:
  hosts: [api]
  http:
  - corsPolicy:
      allowOrigins: [{prefix: "https://app."}]
      allowMethods: [GET]
      maxAge: 60s
    route: [{destination: {host: api, subset: missing}}]
"#,
    )
    .unwrap();
    let req = OwnedRequest::new("OPTIONS", "http://api/x")
        .header("origin", "https://app.example")
        .header("access-control-request-method", "GET");
    let d = table.decide_with_draw(&req, 0);
    assert_eq!(d.status(), 503, "routing alone: the subset is undefined");
    let e = table.explain(&req, 0);
    assert_eq!(e.status, 200);
    let text = e.to_string();
    assert!(
        text.contains(
            "cors: preflight from origin \"https://app.example\" allowed by prefix https://app. -> answered 200 by the CORS filter; the route's action does not run\n  access-control-allow-origin: https://app.example\n  access-control-allow-methods: GET\n  access-control-max-age: 60\n"
        ),
        "{text}"
    );
    let j = e.to_json();
    assert_eq!(j["status"], json!(200));
    assert_eq!(
        j["winner"]["cors"],
        json!({
            "request": "preflight",
            "origin": "https://app.example",
            "allowed_by": "prefix https://app.",
            "unmatched_preflights": "FORWARD",
            "answered": true,
            "response_headers": [
                ["access-control-allow-origin", "https://app.example"],
                ["access-control-allow-methods", "GET"],
                ["access-control-max-age", "60"],
            ],
        })
    );
    // Another origin: the preflight is forwarded (unmatchedPreflights FORWARD) and routing's
    // 503 stands.
    let other = OwnedRequest::new("OPTIONS", "http://api/x")
        .header("origin", "https://evil.example")
        .header("access-control-request-method", "GET");
    let e = table.explain(&other, 0);
    assert_eq!(e.status, 503);
    assert!(
        e.to_string().contains(
            "cors: preflight from origin \"https://evil.example\" not allowed -> forwarded (unmatchedPreflights FORWARD)\n"
        ),
        "{e}"
    );
}

/// The registry step (istio/istio pilot/pkg/networking/core/httproute.go
/// `buildCatchAllVirtualHost`): explain names the resource that defines an unclaimed host, or
/// the catch-all route and cluster for a host nothing defines; text and JSON.
#[test]
fn explain_says_what_the_registry_decided() {
    let config = Config::from_str(
        "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\n\
         metadata: {name: httpbin-ext, namespace: default}\n\
         spec: {hosts: [httpbin.org], ports: [{number: 80, name: http, protocol: HTTP}], resolution: DNS}\n",
        "t.yaml",
    )
    .unwrap();
    let mut options = CompileOptions::default();
    options.mesh.outbound_traffic_policy = meshroute::mesh::OutboundPolicy::RegistryOnly;
    let table = compile(&config, &options).unwrap().table;
    let e = table.explain(&OwnedRequest::new("GET", "http://httpbin.org/headers"), 0);
    assert_eq!((e.outcome, e.status), ("passthrough", 200));
    let r = e.registry.as_ref().unwrap();
    assert_eq!(
        r.defined_by.as_deref(),
        Some("ServiceEntry default/httpbin-ext")
    );
    assert!(
        e.to_string()
            .contains("registry: httpbin.org is defined by ServiceEntry default/httpbin-ext"),
        "{e}"
    );
    let e = table.explain(&OwnedRequest::new("GET", "http://edition.cnn.com/"), 0);
    assert_eq!((e.outcome, e.status), ("black_hole", 502));
    assert_eq!(e.port, None);
    let j = e.to_json();
    assert_eq!(j["registry"]["route"], json!("block_all"));
    assert_eq!(j["registry"]["cluster"], json!("BlackHoleCluster"));
    assert_eq!(j["registry"]["policy"], json!("REGISTRY_ONLY"));
    assert!(
        e.to_string()
            .contains("route block_all to BlackHoleCluster"),
        "{e}"
    );
}

/// Connections: the service bound and how, each rule's verdict (static conditions as Istio's
/// `matchTLS`/`matchTCP`, then the subnet and the SNI Envoy's filter chain match reads), and
/// the rule that decided (istio/istio pilot/pkg/networking/core/tls.go).
#[test]
fn a_connection_explains_its_binding_and_every_rule() {
    use meshroute::OwnedConnection;
    let table = meshroute::Table::from_yaml(
        r#"
apiVersion: v1
kind: Service
metadata: {name: db, namespace: default}
spec: {clusterIP: 10.96.0.10, ports: [{port: 5432}]}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: db, namespace: default}
spec:
  hosts: [db]
  tcp:
  - match: [{destinationSubnets: [10.1.0.0/16]}]
    route: [{destination: {host: db, subset: narrow}}]
  - match: [{port: 5433}]
    route: [{destination: {host: db, subset: other-port}}]
  - route: [{destination: {host: db, subset: v1}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: egress, namespace: default}
spec:
  hosts: ["*.example.com"]
  tls:
  - match: [{sniHosts: [api.example.com]}]
    route: [{destination: {host: api.example.com, port: {number: 443}}}]
"#,
    )
    .unwrap();
    let conn = OwnedConnection::tcp(5432).to_ip("10.96.0.10".parse().unwrap());
    let e = table.explain_connection(&conn, 0);
    assert_eq!(
        e.bound,
        Some((
            "db.default.svc.cluster.local".to_string(),
            "destination address"
        ))
    );
    let verdicts: Vec<(&str, &str)> = e
        .candidates
        .iter()
        .map(|c| (c.path.as_str(), c.verdict.as_str()))
        .collect();
    assert_eq!(
        verdicts,
        [
            (
                "spec.tcp[0].match[0]",
                "destination 10.96.0.10 is outside 10.1.0.0/16"
            ),
            ("spec.tcp[1].match[0]", "port 5432 is not 5433"),
            ("spec.tcp[2]", "decided"),
        ]
    );
    assert_eq!(
        e.decided_by.as_deref(),
        Some("VirtualService default/db spec.tcp[2]")
    );
    assert_eq!(e.outcome, "matched");
    let text = e.to_string();
    assert!(
        text.contains("decided by: VirtualService default/db spec.tcp[2]"),
        "{text}"
    );

    let tls = OwnedConnection::tls("www.example.com", 443);
    let e = table.explain_connection(&tls, 0);
    assert_eq!(e.outcome, "no_route");
    assert_eq!(e.bound, Some(("www.example.com".to_string(), "sni")));
    assert_eq!(
        e.candidates[0].verdict,
        "SNI \"www.example.com\" is not one of api.example.com"
    );
    assert_eq!(e.to_json()["decided_by"], serde_json::Value::Null);
}

/// At an Istio gateway, explain_connection names the server that took the connection and what
/// it does with it (gateway.go `createGatewayTCPFilterChainOpts`), or says no server did; the
/// fixture tests/data/gateway-server-tls-modes.yaml holds the decisions.
#[test]
fn explain_connection_names_the_gateway_server() {
    use meshroute::OwnedConnection;
    let fixture = include_str!("data/gateway-server-tls-modes.yaml");
    let fixture: Value = serde_saphyr::from_str(fixture).unwrap();
    let table = Table::from_yaml(fixture["config"].as_str().unwrap()).unwrap();
    let at =
        |c: OwnedConnection| table.explain_connection(&c.at_gateway("default", "mygateway"), 0);
    let e = at(OwnedConnection::tls("db.example.com", 9443));
    assert_eq!(
        e.server.as_deref(),
        Some(
            "Gateway default/mygateway spec.servers[2] (port 9443 TLS, tls mode SIMPLE): \
             terminates TLS: tcp rules apply to the decrypted stream"
        )
    );
    let verdicts: Vec<(&str, &str, &str)> = (e.candidates.iter())
        .map(|c| (c.resource.as_str(), c.path.as_str(), c.verdict.as_str()))
        .collect();
    assert_eq!(
        verdicts,
        [
            (
                "VirtualService default/db",
                "spec.tcp[0].match[0]",
                "decided"
            ),
            (
                "VirtualService default/elsewhere",
                "spec.tcp[0].match[0]",
                "port 9443 is not 5000"
            ),
            (
                "VirtualService default/elsewhere",
                "spec.tcp[1].match[0]",
                "port 9443 is not 443"
            ),
            (
                "VirtualService default/tcp-echo",
                "spec.tcp[0].match[0]",
                "port 9443 is not 31400"
            )
        ],
        "only tcp rules are candidates: {e}"
    );
    assert!(
        e.to_string()
            .contains("server: Gateway default/mygateway spec.servers[2]")
    );
    assert_eq!(e.to_json()["server"], json!(e.server));

    let e = at(OwnedConnection::tls("web.example.com", 8443));
    assert_eq!(e.outcome, "no_virtual_host");
    assert!(e.candidates.is_empty(), "{e}");
    assert!(e.reason.contains("carries HTTP"), "{e}");

    let e = at(OwnedConnection::tcp(5000));
    assert_eq!(
        e.server.as_deref(),
        Some("no server of Gateway default/mygateway on port 5000 takes this connection")
    );
}

/// explain names the DestinationRule the client sees for the destination, merged as istiod
/// merges a namespace's rules for one host (destination_rule.go `mergeDestinationRule`: the
/// later rule's subsets added to the earlier one's), in text and JSON; a client that sees no
/// rule (push_context.go `destinationRule`: a private rule of another namespace) gets none.
#[test]
fn explain_names_the_destination_rule_the_client_sees() {
    let table = Table::from_yaml(
        r#"
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews-base, namespace: shop, creationTimestamp: "2024-01-01T00:00:00Z"}
spec:
  host: reviews.shop.svc.cluster.local
  exportTo: ["."]
  subsets: [{name: v1, labels: {version: v1}}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: reviews-canary, namespace: shop, creationTimestamp: "2024-01-02T00:00:00Z"}
spec:
  host: reviews.shop.svc.cluster.local
  exportTo: ["."]
  subsets: [{name: v2, labels: {version: v2}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews, namespace: shop}
spec:
  hosts: [reviews.shop.svc.cluster.local]
  http:
  - route: [{destination: {host: reviews.shop.svc.cluster.local, subset: v2}}]
"#,
    )
    .unwrap();
    let url = "http://reviews.shop.svc.cluster.local/";
    let e = table.explain(&OwnedRequest::new("GET", url).from_namespace("shop"), 0);
    let r = e.destination_rule.as_ref().expect("shop sees its rules");
    assert_eq!(r.names, ["shop/reviews-base", "shop/reviews-canary"]);
    assert_eq!(
        (r.host.as_str(), r.namespace.as_str()),
        ("reviews.shop.svc.cluster.local", "shop")
    );
    assert!(
        e.to_string().ends_with(
            "destination rule: shop/reviews-base, shop/reviews-canary (merged) for host reviews.shop.svc.cluster.local\n"
        ),
        "{e}"
    );
    assert_eq!(
        e.to_json()["destination_rule"],
        json!({
            "host": "reviews.shop.svc.cluster.local",
            "namespace": "shop",
            "names": ["shop/reviews-base", "shop/reviews-canary"],
        })
    );
    // Another namespace sees neither private rule: v2 is undefined for it (503).
    let e = table.explain(&OwnedRequest::new("GET", url).from_namespace("web"), 0);
    assert_eq!((e.status, &e.destination_rule), (503, &None));
    assert!(e.to_json().get("destination_rule").is_none());
    assert!(!e.to_string().contains("destination rule:"), "{e}");
}
