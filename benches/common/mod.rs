//! Configurations and requests shared by the route bench and the instruction counts.
//!
//! Rule `i` matches path prefix `/svc{i}` (or the regex `/svc{i}/api/v[0-9]+/.*`) and header
//! `x-tenant: t{i}`; requests are `GET http://web.example.com/svc{i}/api/v1/items?limit=10`
//! with 7 ordinary headers and then `x-tenant: t{i}`.

#![allow(dead_code)]

use std::fmt::Write as _;

use serde_json::json;

use meshroute::{CompileOptions, Config, OwnedRequest, Table, compile};

pub const HOST: &str = "web.example.com";
/// Requests in a varying set.
pub const VARYING: usize = 1024;
/// Gateway API rules per HTTPRoute (the schema's maximum).
const GWAPI_RULES_PER_ROUTE: usize = 16;
/// VirtualServices per YAML input (one input is capped at `limits::MAX_NODES` nodes).
const HOSTS_PER_INPUT: usize = 2500;

#[derive(Clone, Copy, Debug)]
pub enum Uri {
    Prefix,
    Regex,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// One VirtualService of `n` rules; first match wins.
    Istio,
    /// HTTPRoutes of 16 rules each on one Gateway listener; most specific match wins.
    GatewayApi,
}

fn gwapi_path(uri: Uri, i: usize) -> String {
    match uri {
        Uri::Prefix => format!("path: {{type: PathPrefix, value: /svc{i}}}"),
        Uri::Regex => {
            format!("path: {{type: RegularExpression, value: \"/svc{i}/api/v[0-9]+/.*\"}}")
        }
    }
}

/// The configuration of `n` rules for [`HOST`], as YAML inputs.
pub fn one_host_yaml(mode: Mode, n: usize, uri: Uri) -> Vec<String> {
    match mode {
        Mode::Istio => {
            // JSON: one VirtualService of 10,000 rules is more YAML nodes than one YAML input
            // may hold (`limits::MAX_NODES`).
            let rules: Vec<serde_json::Value> = (0..n)
                .map(|i| {
                    let uri = match uri {
                        Uri::Prefix => json!({"prefix": format!("/svc{i}")}),
                        Uri::Regex => json!({"regex": format!("/svc{i}/api/v[0-9]+/.*")}),
                    };
                    let subset = if i % 2 == 0 { "v1" } else { "v2" };
                    json!({
                        "name": format!("r{i}"),
                        "match": [{"uri": uri, "headers": {"x-tenant": {"exact": format!("t{i}")}}}],
                        "route": [{"destination": {"host": HOST, "subset": subset}}],
                    })
                })
                .collect();
            let dr = json!({
                "apiVersion": "networking.istio.io/v1", "kind": "DestinationRule",
                "metadata": {"name": "web", "namespace": "default"},
                "spec": {"host": HOST, "subsets": [
                    {"name": "v1", "labels": {"version": "v1"}},
                    {"name": "v2", "labels": {"version": "v2"}},
                ]},
            });
            let vs = json!({
                "apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
                "metadata": {"name": "web", "namespace": "default"},
                "spec": {"hosts": [HOST], "http": rules},
            });
            vec![dr.to_string(), vs.to_string()]
        }
        Mode::GatewayApi => {
            let mut texts = vec![String::from(
                "apiVersion: gateway.networking.k8s.io/v1\nkind: Gateway\n\
                 metadata: {name: gw, namespace: default}\n\
                 spec:\n  gatewayClassName: bench\n  listeners:\n  \
                 - {name: http, port: 80, protocol: HTTP}\n",
            )];
            for (c, chunk) in (0..n)
                .collect::<Vec<_>>()
                .chunks(GWAPI_RULES_PER_ROUTE)
                .enumerate()
            {
                let mut y = format!(
                    "apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\n\
                     metadata: {{name: r{c:05}, namespace: default}}\n\
                     spec:\n  parentRefs: [{{name: gw}}]\n  hostnames: [web.example.com]\n  rules:\n"
                );
                for &i in chunk {
                    let backend = if i % 2 == 0 { "web-v1" } else { "web-v2" };
                    writeln!(
                        y,
                        "  - matches: [{{{}, headers: [{{name: x-tenant, value: t{i}}}]}}]\n    \
                         backendRefs: [{{name: {backend}, port: 80}}]",
                        gwapi_path(uri, i)
                    )
                    .unwrap();
                }
                texts.push(y);
            }
            texts
        }
    }
}

/// `hosts` VirtualServices, each with one rule for `h{i}.example.com`.
pub fn many_hosts_yaml(hosts: usize) -> Vec<String> {
    (0..hosts)
        .collect::<Vec<_>>()
        .chunks(HOSTS_PER_INPUT)
        .map(|chunk| {
            let mut y = String::with_capacity(chunk.len() * 300);
            for &i in chunk {
                writeln!(
                    y,
                    "---\napiVersion: networking.istio.io/v1\nkind: VirtualService\n\
                     metadata: {{name: h{i}, namespace: default}}\n\
                     spec:\n  hosts: [h{i}.example.com]\n  http:\n  \
                     - name: r{i}\n    match: [{{headers: {{x-tenant: {{exact: t{i}}}}}}}]\n    \
                     route: [{{destination: {{host: h{i}.example.com}}}}]"
                )
                .unwrap();
            }
            y
        })
        .collect()
}

/// Loads and compiles `texts` (strict: every resource must compile).
pub fn table_with(texts: &[String], route_index: bool) -> Table {
    let mut config = Config::new();
    for t in texts {
        config.add_str(t, "bench.yaml").expect("bench config loads");
    }
    let mut options = CompileOptions::strict();
    options.route_index = route_index;
    compile(&config, &options)
        .expect("bench config compiles")
        .table
}

pub fn table(texts: &[String]) -> Table {
    table_with(texts, true)
}

/// `GET http://<host>/<path>` with 7 ordinary headers and `x-tenant: <tenant>` last.
pub fn request(mode: Mode, host: &str, path: &str, tenant: &str) -> OwnedRequest {
    let mut r = OwnedRequest::new("GET", &format!("http://{host}{path}"))
        .header(
            "user-agent",
            "Mozilla/5.0 (X11; Linux x86_64) meshroute-bench/1.0",
        )
        .header("accept", "application/json, text/plain, */*")
        .header("accept-encoding", "gzip, deflate, br")
        .header("accept-language", "en-US,en;q=0.9")
        .header("x-request-id", "3f8e2a1c-5b7d-4e9f-a0c2-1d6b8e4f7a93")
        .header("x-b3-traceid", "80f198ee56343ba864fe8b2a57d3eff7")
        .header("cookie", "session=abc123; theme=dark")
        .header("x-tenant", tenant)
        .from_namespace("default");
    if mode == Mode::GatewayApi {
        r.gateway = Some(("default".into(), "gw".into()));
        r.port = Some(80);
    }
    r
}

/// The request for rule `i`.
pub fn svc_request(mode: Mode, i: usize) -> OwnedRequest {
    request(
        mode,
        HOST,
        &format!("/svc{i}/api/v1/items?limit=10"),
        &format!("t{i}"),
    )
}

/// A request whose path matches no rule's and whose tenant no rule's header.
pub fn miss_request(mode: Mode) -> OwnedRequest {
    request(mode, HOST, "/other/api/v1/items?limit=10", "t-none")
}

/// Requests for rules `k * 7919 mod n`: scattered over the table, never in rule order.
pub fn varying_requests(mode: Mode, n: usize) -> Vec<OwnedRequest> {
    (0..VARYING)
        .map(|k| svc_request(mode, (k * 7919) % n))
        .collect()
}

/// The rule a request decides to, as the number `i` of the generator; `None` when no rule
/// matched.
pub fn rule_number(table: &Table, req: &OwnedRequest) -> Option<usize> {
    let d = table.decide_with_draw(req, 0);
    let m = d.matched()?;
    let source = &table.source_of(m.rule).name;
    Some(match source.strip_prefix('r') {
        // Gateway API: route r{c} holds rules 16c..16c+15.
        Some(c) => c.parse::<usize>().unwrap() * GWAPI_RULES_PER_ROUTE + m.rule.index as usize,
        None => m.rule.index as usize,
    })
}
