//! Conformance as data: every `tests/data/*.yaml` holds a configuration, requests and the
//! decisions expected for them. One harness reads them all; a case names the spec rule it pins.
//!
//! Fixture format:
//! ```yaml
//! config: |            # the resources, as a user writes them
//!   apiVersion: ...
//! options: {outbound_traffic_policy: REGISTRY_ONLY}   # optional: the mesh's
//!                                    # outboundTrafficPolicy (default ALLOW_ANY)
//! rejected:                          # optional: errors expected from compile, as
//! - "VirtualService ns/name: spec.http[0].route"   # prefixes of the error text
//! warnings: [unreachable-rule]       # optional: diagnostic codes that must appear
//! cases:
//! - name: what the case pins
//!   request: {method, scheme, authority, path, headers: {k: v or [v...]}, port,
//!             source_labels, source_namespace, gateway: ns/name}
//!   # or, for a connection (Table::decide_connection), instead of `request`:
//!   connection: {protocol: tls|tcp, sni, host, destination_ip, port, source_labels,
//!                source_namespace, gateway: ns/name}
//!   draw: 0                          # optional, default 0
//!   expect:
//!     outcome: matched | no-route | passthrough | no-virtual-host | passthrough-cluster |
//!              black-hole            # the last two: a mesh host no Service or ServiceEntry
//!                                    # defines, under ALLOW_ANY / REGISTRY_ONLY
//!     cluster: PassthroughCluster | BlackHoleCluster   # Outcome::catch_all's cluster, or null
//!     route: name/index              # "<resource name>/<rule index>"
//!     route_name: ...
//!     match: 0                       # match block index, null for a rule without blocks
//!     status: 200
//!     destination: {host, subset, port} or null   # only the keys given are compared; port
//!                                    # is the port forwarded to (Decision::port)
//!     delay_ms: 7000 or null
//!     abort: 503 or null
//!     mirrored: [host, ...]
//!     rewrite: {path, authority}   # the path this request is rewritten to
//!     retries: {attempts, retry_on} or null   # Decision::retries (the mesh default route's
//!                                    # too); retriable_status_codes, per_try_timeout_ms and
//!                                    # default (the table's default policy) compared when given
//!     timeout_ms: 1000 or null
//!     destination_rule: [ns/name, ...] or null   # Table::destination_rule: the rules merged
//!                                    # into the one the client sees for the destination
//!     redirect_code: 301             # the redirect's code
//!     location: https://host/path    # the redirect's Location, or null
//!     session: {state, address, set_cookie, set_header} or null   # Decision::session, only
//!                                    # the keys given compared: state absent | unrecognized |
//!                                    # pinned; set_header as [name, value] or null
//!     l4_match: spec.tcp[0].match[1]  # a connection's rule or match path (Matched::connection),
//!                                    # or null
//!     cors: {request: none|preflight|simple, origin_allowed, answered, status: 200 or null,
//!            headers: [[name, value], ...]} or null   # Decision::cors; only the keys given
//!                                    # are compared; null: the CORS filter does nothing
//!     endpoint: "1.1.1.1:8080"       # requests only: the endpoint a Router picks with the
//!                                    # draw, the registry read from the config
//!                                    # (Registry::from_config); or no-endpoints |
//!                                    # no-healthy-endpoint | not-forwarded | overflow |
//!                                    # original-destination
//! ```

use std::path::Path;

mod common;
use common::request;

use meshroute::action::{Abort, Action};
use meshroute::registry::{Pick, Registry, Router};
use meshroute::{
    CompileOptions, Config, Decision, Outcome, OwnedConnection, OwnedRequest, Table, compile,
};
use serde_json::Value;

#[test]
fn fixtures() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().and_then(|e| e.to_str()) == Some("yaml"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no fixtures in {}", dir.display());
    let mut failures = Vec::new();
    let mut cases = 0;
    for file in &files {
        let name = file.file_name().unwrap().to_string_lossy().to_string();
        let text = std::fs::read_to_string(file).unwrap();
        let fixture: Value =
            serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
        cases += run_fixture(&name, &fixture, &mut failures);
    }
    assert!(
        failures.is_empty(),
        "{} failures in {cases} cases:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(cases > 0);
}

fn run_fixture(file: &str, f: &Value, failures: &mut Vec<String>) -> usize {
    let config_text = f["config"]
        .as_str()
        .unwrap_or_else(|| panic!("{file}: no config"));
    let config = match Config::from_str(config_text, file) {
        Ok(c) => c,
        Err(e) => {
            failures.push(format!("{file}: config does not load: {e}"));
            return 0;
        }
    };
    let mut options = CompileOptions::default();
    match f["options"]["outbound_traffic_policy"].as_str() {
        None | Some("ALLOW_ANY") => {}
        Some("REGISTRY_ONLY") => {
            options.mesh.outbound_traffic_policy = meshroute::mesh::OutboundPolicy::RegistryOnly
        }
        Some(other) => panic!("{file}: unknown outbound_traffic_policy {other:?}"),
    }
    let compiled = compile(&config, &options).expect("lenient compile does not fail");
    let errors: Vec<String> = compiled
        .errors()
        .map(|e| format!("{}: {}: {}", e.resource().unwrap(), e.path(), e.message()))
        .collect();
    let expected_rejections: Vec<&str> = f["rejected"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    for want in &expected_rejections {
        if !errors.iter().any(|e| e.starts_with(want)) {
            failures.push(format!(
                "{file}: expected an error starting with {want:?}, got {errors:?}"
            ));
        }
    }
    if expected_rejections.is_empty() && !errors.is_empty() {
        failures.push(format!("{file}: unexpected errors: {errors:?}"));
    }
    for code in f["warnings"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        if !compiled.diagnostics.iter().any(|d| d.code == code) {
            let got: Vec<String> = compiled
                .diagnostics
                .iter()
                .map(ToString::to_string)
                .collect();
            failures.push(format!("{file}: expected a warning {code}, got {got:?}"));
        }
    }
    let table = compiled.table;
    // The endpoints the config's own resources describe, when a case asks for one.
    let router = f["cases"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|c| c["expect"].get("endpoint").is_some())
        .then(|| {
            let (registry, _) = Registry::from_config(&config, &(&options).into());
            Router::new(&table, &registry).expect("the fixture's router builds")
        });
    let mut n = 0;
    for case in f["cases"].as_array().into_iter().flatten() {
        n += 1;
        let label = format!(
            "{file}: {}",
            case["name"].as_str().unwrap_or("(unnamed case)")
        );
        let draw = case["draw"].as_u64().unwrap_or(0);
        if case.get("connection").is_some() {
            let conn = connection(&case["connection"]);
            let d = table.decide_connection_with_draw(&conn, draw);
            check(
                &label,
                &table,
                &OwnedRequest::default(),
                &d,
                &case["expect"],
                failures,
            );
            if case["expect"].get("endpoint").is_some() {
                failures.push(format!(
                    "{label}: `endpoint` is not checked for a connection (no endpoint is picked)"
                ));
            }
            continue;
        }
        let req = request(&case["request"]);
        let d = table.decide_with_draw(&req, draw);
        check(&label, &table, &req, &d, &case["expect"], failures);
        if let (Some(want), Some(router)) = (case["expect"].get("endpoint"), &router) {
            let got = match router.decide_with_draw(&req, draw).pick {
                Pick::Endpoint(p) => format!("{}:{}", p.endpoint.address, p.endpoint.port),
                Pick::NoEndpoints => "no-endpoints".into(),
                Pick::NoHealthyEndpoint => "no-healthy-endpoint".into(),
                Pick::NotForwarded => "not-forwarded".into(),
                Pick::Overflow => "overflow".into(),
                Pick::OriginalDestination => "original-destination".into(),
                other => format!("{other:?}"),
            };
            if want != &Value::from(got.as_str()) {
                failures.push(format!("{label}: endpoint: expected {want}, got {got:?}"));
            }
        }
    }
    n
}

/// A fixture's `connection`.
fn connection(c: &Value) -> OwnedConnection {
    let port = c["port"].as_u64().expect("a connection has a port") as u16;
    let mut conn = match c["protocol"].as_str() {
        Some("tls") => OwnedConnection::tls(c["sni"].as_str().unwrap_or(""), port),
        Some("tcp") => OwnedConnection::tcp(port),
        p => panic!("connection protocol {p:?}: tls or tcp"),
    };
    if c["protocol"] == "tls" && c["sni"].is_null() {
        conn.sni = None;
    }
    conn.host = c["host"].as_str().map(String::from);
    conn.destination_ip = c["destination_ip"]
        .as_str()
        .map(|ip| ip.parse().expect("destination_ip is an IP address"));
    conn.source_namespace = c["source_namespace"].as_str().map(String::from);
    for (k, v) in c["source_labels"].as_object().into_iter().flatten() {
        conn.source_labels
            .insert(k.clone(), v.as_str().unwrap().into());
    }
    if let Some(g) = c["gateway"].as_str() {
        let (ns, name) = g.split_once('/').expect("gateway as ns/name");
        conn.gateway = Some((ns.into(), name.into()));
    }
    conn
}

fn check(
    label: &str,
    table: &Table,
    req: &OwnedRequest,
    d: &Decision<'_>,
    expect: &Value,
    failures: &mut Vec<String>,
) {
    let mut fail = |what: &str, want: &Value, got: Value| {
        if want != &got {
            failures.push(format!("{label}: {what}: expected {want}, got {got}"));
        }
    };
    let m = d.matched();
    let outcome = match d.outcome {
        Outcome::Matched(_) => "matched",
        Outcome::NoRoute { .. } => "no-route",
        Outcome::Passthrough => "passthrough",
        Outcome::NoVirtualHost => "no-virtual-host",
        Outcome::BadRequest { .. } => "bad-request",
        Outcome::PassthroughCluster => "passthrough-cluster",
        Outcome::BlackHole => "black-hole",
        _ => "other",
    };
    let Some(e) = expect.as_object() else {
        fail("expect", &Value::from("an object"), expect.clone());
        return;
    };
    for (key, want) in e {
        match key.as_str() {
            "outcome" => fail(key, want, Value::from(outcome)),
            "cluster" => fail(
                key,
                want,
                d.outcome
                    .catch_all()
                    .map_or(Value::Null, |(_, c)| Value::from(c)),
            ),
            "route" => fail(
                key,
                want,
                m.map_or(Value::Null, |m| {
                    format!("{}/{}", table.source_of(m.rule).name, m.rule.index).into()
                }),
            ),
            "route_name" => fail(key, want, m.map_or(Value::Null, |m| m.route_name().into())),
            "match" => fail(
                key,
                want,
                m.and_then(|m| m.block).map_or(Value::Null, Value::from),
            ),
            "status" => fail(key, want, d.status().into()),
            "l4_match" => fail(
                key,
                want,
                m.and_then(|m| m.connection)
                    .map_or(Value::Null, |c| c.path().into()),
            ),
            "destination" => {
                let got = d.destination();
                match (want, got) {
                    (Value::Null, None) => {}
                    (Value::Object(w), Some(g)) => {
                        for (k, v) in w {
                            let gv = match k.as_str() {
                                "host" => Value::from(&*g.host),
                                "subset" => g.subset.as_deref().map_or(Value::Null, Value::from),
                                // The port Envoy sends to (`outbound|PORT|subset|host`).
                                "port" => d.port.map_or(Value::Null, Value::from),
                                _ => Value::from("unknown key"),
                            };
                            fail(&format!("destination.{k}"), v, gv);
                        }
                    }
                    (w, g) => fail(key, w, g.map_or(Value::Null, |g| format!("{g:?}").into())),
                }
            }
            "delay_ms" => fail(
                key,
                want,
                m.and_then(|m| m.delay)
                    .map_or(Value::Null, |x| (x.as_millis() as u64).into()),
            ),
            "abort" => fail(
                key,
                want,
                m.and_then(|m| m.abort).map_or(Value::Null, |a| match a {
                    Abort::Http(c) => Value::from(*c),
                    Abort::Grpc(g) => Value::from(&**g),
                    _ => Value::Null,
                }),
            ),
            "mirrored" => fail(
                key,
                want,
                d.mirrors()
                    .map(|x| Value::from(&*x.destination.host))
                    .collect(),
            ),
            "rewrite" => {
                let rw = d.forward().and_then(|f| f.rewrite.as_ref());
                let path = meshroute::predicate::path::strip_query(&req.path);
                let got = rw.map_or(Value::Null, |r| {
                    serde_json::json!({"path": d.rewritten_path(path), "authority": r.authority.as_deref()})
                });
                fail(key, want, got);
            }
            "retries" => {
                let got = d.retries().map_or(Value::Null, |r| {
                    let mut got =
                        serde_json::json!({"attempts": r.attempts, "retry_on": &*r.retry_on});
                    if want.get("retriable_status_codes").is_some() {
                        got["retriable_status_codes"] = r.retriable_status_codes.clone().into();
                    }
                    if want.get("per_try_timeout_ms").is_some() {
                        got["per_try_timeout_ms"] = r
                            .per_try_timeout
                            .map_or(Value::Null, |t| (t.as_millis() as u64).into());
                    }
                    if want.get("default").is_some() {
                        got["default"] = r.is_default.into();
                    }
                    got
                });
                fail(key, want, got);
            }
            "destination_rule" => fail(
                key,
                want,
                table
                    .destination_rule(d, req)
                    .map_or(Value::Null, |r| r.names.iter().map(|n| &**n).collect()),
            ),
            "timeout_ms" => fail(
                key,
                want,
                d.forward()
                    .and_then(|f| f.timeout)
                    .map_or(Value::Null, |t| (t.as_millis() as u64).into()),
            ),
            "redirect_code" => fail(
                key,
                want,
                m.and_then(|m| match &m.rule.action {
                    Action::Redirect(r) => Some(Value::from(r.code)),
                    _ => None,
                })
                .unwrap_or(Value::Null),
            ),
            "location" => fail(
                key,
                want,
                d.redirect_location(req).map_or(Value::Null, Value::from),
            ),
            "session" => {
                let got = d.session().map_or(Value::Null, |a| {
                    serde_json::json!({
                        "state": a.state.label(),
                        "address": a.address,
                        "set_cookie": a.set_cookie,
                        "set_header": a.set_header.map(|(n, v)| vec![n.to_string(), v]),
                    })
                });
                match (want, &got) {
                    (Value::Object(w), Value::Object(g)) => {
                        for (k, v) in w {
                            fail(
                                &format!("session.{k}"),
                                v,
                                g.get(k).cloned().unwrap_or(Value::from("unknown key")),
                            );
                        }
                    }
                    _ => fail(key, want, got),
                }
            }
            "cors" => {
                // Only the keys given are compared; null: the CORS filter does nothing.
                let got = d.cors(req).map_or(Value::Null, |a| {
                    let keys = want.as_object().map(|w| w.keys().collect::<Vec<_>>());
                    let mut g = serde_json::Map::new();
                    for k in keys.into_iter().flatten() {
                        let v = match k.as_str() {
                            "request" => Value::from(a.kind.as_str()),
                            "origin_allowed" => Value::from(a.origin_allowed),
                            "answered" => Value::from(a.answered),
                            "status" => a.status().map_or(Value::Null, Value::from),
                            "headers" => a
                                .response_headers()
                                .map(|(n, v)| serde_json::json!([n, String::from_utf8_lossy(v)]))
                                .collect(),
                            _ => Value::from("unknown key"),
                        };
                        g.insert(k.clone(), v);
                    }
                    Value::Object(g)
                });
                fail(key, want, got);
            }
            // Checked with the fixture's router (run_fixture).
            "endpoint" => {}
            other => fail("unknown expectation", &Value::Null, Value::from(other)),
        }
    }
}
