//! Configurations and requests shared by the route bench and the instruction counts.
//!
//! Rule `i` matches path prefix `/svc{i}` (or the regex `/svc{i}/api/v[0-9]+/.*`) and header
//! `x-tenant: t{i}`; requests are `GET http://web.example.com/svc{i}/api/v1/items?limit=10`
//! with 7 ordinary headers and then `x-tenant: t{i}`.

#![allow(dead_code)]

use std::fmt::Write as _;

use serde_json::json;

use meshroute::registry::{Endpoint, Registry};
use meshroute::{CompileOptions, Config, OwnedConnection, OwnedRequest, Table, compile};

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

/// Namespaces of the Sidecar scenarios.
pub const SIDECAR_NAMESPACES: usize = 50;
/// Services (each with a VirtualService) per namespace of the Sidecar scenarios.
pub const SIDECAR_SERVICES: usize = 4;

/// A mesh of [`SIDECAR_NAMESPACES`] namespaces `ns{n}`, each with [`SIDECAR_SERVICES`]
/// Services `svc{j}` (Service address `10.{n}.0.{j}`, port 80) and one VirtualService per
/// Service (one HTTP rule on header `x-tenant`, one TCP rule), plus as many Services `other{j}`
/// no VirtualService claims; each namespace has a default Sidecar importing its own namespace
/// and `istio-system`, and `istio-system` a root default Sidecar importing `./*`.
pub fn sidecar_mesh_yaml() -> Vec<String> {
    let mut texts = vec![String::from(
        "apiVersion: networking.istio.io/v1\nkind: Sidecar\n\
         metadata: {name: default, namespace: istio-system}\n\
         spec:\n  egress:\n  - hosts: [\"./*\", \"istio-system/*\"]\n",
    )];
    for n in 0..SIDECAR_NAMESPACES {
        let mut y = format!(
            "apiVersion: networking.istio.io/v1\nkind: Sidecar\n\
             metadata: {{name: default, namespace: ns{n}}}\n\
             spec:\n  egress:\n  - hosts: [\"./*\", \"istio-system/*\"]\n"
        );
        for j in 0..SIDECAR_SERVICES {
            writeln!(
                y,
                "---\napiVersion: v1\nkind: Service\nmetadata: {{name: svc{j}, namespace: ns{n}}}\n\
                 spec: {{clusterIP: 10.{n}.0.{j}, ports: [{{name: http, port: 80}}]}}\n\
                 ---\napiVersion: v1\nkind: Service\nmetadata: {{name: other{j}, namespace: ns{n}}}\n\
                 spec: {{clusterIP: 10.{n}.1.{j}, ports: [{{name: http, port: 80}}]}}\n\
                 ---\napiVersion: networking.istio.io/v1\nkind: VirtualService\n\
                 metadata: {{name: svc{j}, namespace: ns{n}}}\n\
                 spec:\n  hosts: [svc{j}]\n  http:\n  \
                 - match: [{{headers: {{x-tenant: {{exact: t{j}}}}}}}]\n    \
                 route: [{{destination: {{host: svc{j}}}}}]\n  tcp:\n  \
                 - route: [{{destination: {{host: svc{j}, port: {{number: 80}}}}}}]"
            )
            .unwrap();
        }
        texts.push(y);
    }
    texts
}

/// Requests from every namespace of [`sidecar_mesh_yaml`] to each of its Services named
/// `{prefix}{j}` by short name, in a scattered order.
pub fn sidecar_requests(prefix: &str) -> Vec<OwnedRequest> {
    let total = SIDECAR_NAMESPACES * SIDECAR_SERVICES;
    (0..VARYING)
        .map(|k| {
            let i = (k * 7919) % total;
            let (n, j) = (i / SIDECAR_SERVICES, i % SIDECAR_SERVICES);
            request(
                Mode::Istio,
                &format!("{prefix}{j}"),
                "/api/v1/items?limit=10",
                &format!("t{j}"),
            )
            .from_namespace(&format!("ns{n}"))
        })
        .collect()
}

/// TCP connections from every namespace of [`sidecar_mesh_yaml`] to its Services `svc{j}` by
/// Service address, in a scattered order.
pub fn sidecar_connections() -> Vec<OwnedConnection> {
    let total = SIDECAR_NAMESPACES * SIDECAR_SERVICES;
    (0..VARYING)
        .map(|k| {
            let i = (k * 7919) % total;
            let (n, j) = (i / SIDECAR_SERVICES, i % SIDECAR_SERVICES);
            let ip = std::net::Ipv4Addr::new(10, n as u8, 0, j as u8);
            OwnedConnection::tcp(80)
                .to_ip(ip.into())
                .from_namespace(&format!("ns{n}"))
        })
        .collect()
}

/// `n` mesh VirtualServices, each with one TLS rule for SNI `h{i}.example.com` (a ServiceEntry
/// defines the hosts).
pub fn tls_hosts_yaml(n: usize) -> Vec<String> {
    let mut y = String::from(
        "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\n\
         metadata: {name: example, namespace: default}\n\
         spec:\n  hosts: [\"*.example.com\"]\n  ports: [{number: 443, name: tls, protocol: TLS}]\n  \
         resolution: NONE\n  location: MESH_EXTERNAL\n",
    );
    for i in 0..n {
        writeln!(
            y,
            "---\napiVersion: networking.istio.io/v1\nkind: VirtualService\n\
             metadata: {{name: h{i}, namespace: default}}\n\
             spec:\n  hosts: [h{i}.example.com]\n  tls:\n  \
             - match: [{{port: 443, sniHosts: [h{i}.example.com]}}]\n    \
             route: [{{destination: {{host: h{i}.example.com, port: {{number: 443}}}}}}]"
        )
        .unwrap();
    }
    vec![y]
}

/// TLS connections to the hosts of [`tls_hosts_yaml`], in a scattered order.
pub fn tls_connections(n: usize) -> Vec<OwnedConnection> {
    (0..VARYING)
        .map(|k| {
            OwnedConnection::tls(&format!("h{}.example.com", (k * 7919) % n), 443)
                .from_namespace("default")
        })
        .collect()
}

/// Bookinfo's `reviews` in namespace `bookinfo`: a VirtualService splitting 50/50 between
/// subsets v1 and v2 of a DestinationRule that hashes on header `x-user`, beside
/// [`SIDECAR_NAMESPACES`] namespaces `ns{n}` each with a DestinationRule of its own for its
/// `svc0` and one exported to every namespace for `*.ns{n}.example.com`.
pub fn router_yaml() -> Vec<String> {
    let mut y = String::from(
        "apiVersion: networking.istio.io/v1\nkind: DestinationRule\n\
         metadata: {name: reviews, namespace: bookinfo}\n\
         spec:\n  host: reviews\n  trafficPolicy:\n    loadBalancer:\n      \
         consistentHash: {httpHeaderName: x-user}\n  subsets:\n  \
         - {name: v1, labels: {version: v1}}\n  - {name: v2, labels: {version: v2}}\n\
         ---\napiVersion: networking.istio.io/v1\nkind: VirtualService\n\
         metadata: {name: reviews, namespace: bookinfo}\n\
         spec:\n  hosts: [reviews]\n  http:\n  - route:\n    \
         - {destination: {host: reviews, subset: v1}, weight: 50}\n    \
         - {destination: {host: reviews, subset: v2}, weight: 50}\n",
    );
    for n in 0..SIDECAR_NAMESPACES {
        writeln!(
            y,
            "---\napiVersion: networking.istio.io/v1\nkind: DestinationRule\n\
             metadata: {{name: svc0, namespace: ns{n}}}\n\
             spec:\n  host: svc0\n  exportTo: [.]\n  subsets: [{{name: v1, labels: {{version: v1}}}}]\n\
             ---\napiVersion: networking.istio.io/v1\nkind: DestinationRule\n\
             metadata: {{name: wild, namespace: ns{n}}}\n\
             spec:\n  host: \"*.ns{n}.example.com\"\n  \
             trafficPolicy: {{loadBalancer: {{simple: ROUND_ROBIN}}}}"
        )
        .unwrap();
    }
    vec![y]
}

/// Endpoints of `reviews` for [`router_yaml`]: four of each version.
pub fn router_registry() -> Registry {
    let mut reg = Registry::new();
    for i in 0..8 {
        let version = if i % 2 == 0 { "v1" } else { "v2" };
        reg.add(
            "reviews.bookinfo.svc.cluster.local",
            Endpoint::new(&format!("10.0.0.{i}"), 9080).label("version", version),
        );
    }
    reg
}

/// Requests from `bookinfo` to `reviews`, each with its own `x-user`.
pub fn router_requests() -> Vec<OwnedRequest> {
    (0..VARYING)
        .map(|k| {
            OwnedRequest::new("GET", "http://reviews/reviews/1")
                .header("x-user", &format!("user-{k}"))
                .from_namespace("bookinfo")
        })
        .collect()
}
